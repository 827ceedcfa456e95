//! A private 128-bit-significand floating-point type used as the internal
//! precision of the transcendental instructions (about 126 correct bits,
//! i.e. 62 bits more than the register format). Each operation truncates
//! and jams any discarded non-zero bits into the last bit ("round to odd"),
//! so the final rounding to 64 bits sees on which side of a representable
//! value or midpoint the exact result lies.

use crate::round::Unpacked;
use crate::types::BIAS;

/// Significand bits of the Intel x87's internal format, as measured: its
/// transcendentals reproduce bit for bit far more often when constants and
/// certain intermediates are truncated to 67 bits (and less often at 66 or
/// 68 bits).
pub(crate) const INTEL_BITS: u32 = 67;

/// `(-1)^neg × sig × 2^(exp − 127)`; `sig` has bit 127 set, or is 0.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Xf {
    pub neg: bool,
    pub exp: i32,
    pub sig: u128,
}

/// High 128 bits of a 128×128-bit product.
fn mul_hi(a: u128, b: u128) -> (u128, u128) {
    let (a1, a0) = (a >> 64, a & u64::MAX as u128);
    let (b1, b0) = (b >> 64, b & u64::MAX as u128);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & u64::MAX as u128) + (p10 & u64::MAX as u128);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    let lo = (mid << 64) | (p00 & u64::MAX as u128);
    (hi, lo)
}

impl Xf {
    pub(crate) const ZERO: Xf = Xf {
        neg: false,
        exp: 0,
        sig: 0,
    };
    pub(crate) const ONE: Xf = Xf {
        neg: false,
        exp: 0,
        sig: 1 << 127,
    };

    /// Normalize an arbitrary `sig × 2^(exp − 127)`.
    pub(crate) fn new(neg: bool, exp: i32, sig: u128) -> Xf {
        if sig == 0 {
            return Xf {
                neg,
                exp: 0,
                sig: 0,
            };
        }
        let lz = sig.leading_zeros();
        Xf {
            neg,
            exp: exp - lz as i32,
            sig: sig << lz,
        }
    }

    /// Exact conversion of an unpacked finite register value.
    pub(crate) fn from_unpacked(u: Unpacked) -> Xf {
        Xf::new(u.sign, u.exp - BIAS, (u.sig as u128) << 64)
    }

    pub(crate) fn is_zero(self) -> bool {
        self.sig == 0
    }

    pub(crate) fn neg(self) -> Xf {
        Xf {
            neg: !self.neg,
            ..self
        }
    }

    pub(crate) fn abs(self) -> Xf {
        Xf { neg: false, ..self }
    }

    /// Multiply by 2^n.
    pub(crate) fn scale(self, n: i32) -> Xf {
        if self.is_zero() {
            return self;
        }
        Xf {
            exp: self.exp + n,
            ..self
        }
    }

    pub(crate) fn mul(self, o: Xf) -> Xf {
        if self.is_zero() || o.is_zero() {
            return Xf::ZERO;
        }
        let (hi, lo) = mul_hi(self.sig, o.sig);
        // hi >= 2^126; the discarded half is jammed into the last bit.
        Xf::new(
            self.neg ^ o.neg,
            self.exp + o.exp + 1,
            hi | (lo != 0) as u128,
        )
    }

    pub(crate) fn add(self, o: Xf) -> Xf {
        if self.is_zero() {
            return o;
        }
        if o.is_zero() {
            return self;
        }
        let (a, b) = if (self.exp, self.sig) >= (o.exp, o.sig) {
            (self, o)
        } else {
            (o, self)
        };
        let d = (a.exp - b.exp) as u32;
        // One guard bit of headroom: significands at bit 126.
        let asig = a.sig >> 1;
        let bsig = crate::round::shr_sticky(b.sig >> 1 | (b.sig & 1), d);
        if a.neg == b.neg {
            Xf::new(a.neg, a.exp + 1, asig + bsig)
        } else {
            Xf::new(a.neg, a.exp + 1, asig - bsig)
        }
    }

    pub(crate) fn sub(self, o: Xf) -> Xf {
        self.add(o.neg())
    }

    /// Quotient, about 127 correct bits (truncated).
    pub(crate) fn div(self, o: Xf) -> Xf {
        if self.is_zero() || o.is_zero() {
            return Xf::ZERO;
        }
        let d = o.sig;
        let mut r = self.sig;
        let mut q: u128 = 0;
        let mut big = false;
        let mut i = 0;
        while i < 128 {
            q <<= 1;
            if big || r >= d {
                r = r.wrapping_sub(d);
                q |= 1;
            }
            big = r >> 127 != 0;
            r <<= 1;
            i += 1;
        }
        // q = sig_a/sig_b × 2^127, remainder jammed into the last bit.
        Xf::new(
            self.neg ^ o.neg,
            self.exp - o.exp,
            q | (r != 0 || big) as u128,
        )
    }

    /// Quotient by a small positive integer.
    pub(crate) fn div_u64(self, n: u64) -> Xf {
        if self.is_zero() {
            return self;
        }
        let n = n as u128;
        let hi = self.sig >> 64;
        let lo = self.sig & u64::MAX as u128;
        let q1 = hi / n;
        let r1 = hi % n;
        let x = (r1 << 64) | lo;
        let q0 = x / n;
        let r0 = x % n;
        let q2 = (r0 << 64) / n;
        let r2 = (r0 << 64) % n;
        // (q1:q0:q2) = sig/n × 2^64 ; keep the top 128 bits after normalizing.
        let lz = q1.leading_zeros() as i32 - 64; // q1 < 2^64
        let full_hi = (q1 << 64) | q0; // sig/n
        let (v, lost) = if lz > 0 {
            ((full_hi << lz) | (q2 >> (64 - lz)), q2 << (64 + lz) != 0)
        } else {
            (full_hi, q2 != 0)
        };
        let v = v | (lost || r2 != 0) as u128;
        Xf::new(self.neg, self.exp - lz, v)
    }

    /// The value as Intel's x87 holds it internally: the significand
    /// truncated to [`INTEL_BITS`]. Applied to the constants (π of the
    /// argument reduction, ln 2, π/2...) and to the intermediate values where
    /// measurements showed Intel truncating (its 66-bit π fits, the next bit
    /// being 0).
    pub(crate) const fn to_intel(self) -> Xf {
        self.truncated(INTEL_BITS)
    }

    /// The value with its significand truncated (toward zero) to `bits`.
    pub(crate) const fn truncated(self, bits: u32) -> Xf {
        Xf {
            sig: self.sig & !((1u128 << (128 - bits)) - 1),
            ..self
        }
    }

    /// Compare magnitudes.
    pub(crate) fn mag_lt(self, o: Xf) -> bool {
        if self.is_zero() {
            return !o.is_zero();
        }
        if o.is_zero() {
            return false;
        }
        (self.exp, self.sig) < (o.exp, o.sig)
    }
}

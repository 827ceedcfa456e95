//! Bit-exact IEEE 754 binary32/binary64 arithmetic as SSE/SSE2 performs it: MXCSR
//! rounding control, FTZ and DAZ, the six exception flags with x86's rules
//! (tininess detected after rounding, first-source NaN propagation, the QNaN
//! "real indefinite" default NaN, integer indefinite 0x80000000), computed with
//! exact integer arithmetic so no host floating point is involved.
//!
//! Values travel as raw bit patterns in a `u64`; `d` selects binary64 (`true`) or
//! binary32 (`false`).

/// MXCSR exception flag bits (and, shifted left by 7, their mask bits).
pub mod mx {
    /// Invalid operation.
    pub const IE: u32 = 1 << 0;
    /// Denormal operand.
    pub const DE: u32 = 1 << 1;
    /// Divide by zero.
    pub const ZE: u32 = 1 << 2;
    /// Overflow.
    pub const OE: u32 = 1 << 3;
    /// Underflow.
    pub const UE: u32 = 1 << 4;
    /// Precision (inexact).
    pub const PE: u32 = 1 << 5;
    /// Denormals are zeros (inputs).
    pub const DAZ: u32 = 1 << 6;
    /// Shift of the exception mask bits.
    pub const MASK_SHIFT: u32 = 7;
    /// Shift of the rounding-control field.
    pub const RC_SHIFT: u32 = 13;
    /// Flush to zero (tiny results when UE is masked).
    pub const FTZ: u32 = 1 << 15;
}

use mx::*;

/// Rounding modes as encoded in MXCSR.RC.
const RN: u32 = 0;
const RD: u32 = 1;
const RU: u32 = 2;

/// Format parameters: fraction bits, exponent bias, sign bit, exponent mask.
#[inline(always)]
const fn frac_bits(d: bool) -> u32 {
    if d {
        52
    } else {
        23
    }
}
#[inline(always)]
const fn bias(d: bool) -> i32 {
    if d {
        1023
    } else {
        127
    }
}
#[inline(always)]
const fn sign_bit(d: bool) -> u64 {
    1 << if d { 63 } else { 31 }
}
#[inline(always)]
const fn exp_mask(d: bool) -> u64 {
    if d {
        0x7FF0_0000_0000_0000
    } else {
        0x7F80_0000
    }
}
#[inline(always)]
const fn frac_mask(d: bool) -> u64 {
    (1 << frac_bits(d)) - 1
}
#[inline(always)]
const fn quiet_bit(d: bool) -> u64 {
    1 << (frac_bits(d) - 1)
}

/// The QNaN floating-point indefinite.
pub const fn default_nan(d: bool) -> u64 {
    sign_bit(d) | exp_mask(d) | quiet_bit(d)
}

/// Whether `x` is a NaN.
#[inline]
pub fn is_nan(x: u64, d: bool) -> bool {
    x & exp_mask(d) == exp_mask(d) && x & frac_mask(d) != 0
}
/// Whether `x` is a signalling NaN.
#[inline]
pub fn is_snan(x: u64, d: bool) -> bool {
    is_nan(x, d) && x & quiet_bit(d) == 0
}
/// Whether `x` is a denormal (non-zero with a zero exponent).
#[inline]
pub fn is_denormal(x: u64, d: bool) -> bool {
    x & exp_mask(d) == 0 && x & frac_mask(d) != 0
}
#[inline]
fn is_inf(x: u64, d: bool) -> bool {
    x & !sign_bit(d) == exp_mask(d)
}
#[inline]
fn is_zero(x: u64, d: bool) -> bool {
    x & !sign_bit(d) == 0
}
#[inline]
fn neg(x: u64, d: bool) -> bool {
    x & sign_bit(d) != 0
}

/// A finite non-zero value as sign, significand normalized to bit 63, and the
/// exponent of bit 0: value = m * 2^e.
#[derive(Clone, Copy)]
struct Fin {
    s: bool,
    e: i32,
    m: u64,
}

fn unpack(x: u64, d: bool) -> Fin {
    let fb = frac_bits(d);
    let be = ((x & exp_mask(d)) >> fb) as i32;
    let (m, e) = if be == 0 {
        (x & frac_mask(d), 1 - bias(d) - fb as i32)
    } else {
        (x & frac_mask(d) | 1 << fb, be - bias(d) - fb as i32)
    };
    let lz = m.leading_zeros();
    Fin {
        s: neg(x, d),
        e: e - lz as i32,
        m: m << lz,
    }
}

/// The floating-point environment of one instruction: MXCSR in, flags out.
pub struct Env {
    /// MXCSR at the start of the instruction.
    pub mxcsr: u32,
    /// Exception flags raised so far (MXCSR bits 0-5).
    pub flags: u32,
}

impl Env {
    /// An environment with no flags raised yet.
    pub fn new(mxcsr: u32) -> Self {
        Env { mxcsr, flags: 0 }
    }

    fn rc(&self) -> u32 {
        (self.mxcsr >> RC_SHIFT) & 3
    }

    /// Applies DAZ to a source operand: a denormal becomes a zero of the same sign.
    #[inline]
    pub fn daz(&self, x: u64, d: bool) -> u64 {
        if self.mxcsr & DAZ != 0 && is_denormal(x, d) {
            x & sign_bit(d)
        } else {
            x
        }
    }

    /// Raises DE if `x` (after DAZ) is a denormal.
    #[inline]
    fn den(&mut self, x: u64, d: bool) {
        if is_denormal(x, d) {
            self.flags |= DE;
        }
    }

    /// Result for a two-operand op with a NaN input: IE for an SNaN, then the first
    /// source quietened if it is a NaN, else the second.
    fn nan2(&mut self, a: u64, b: u64, d: bool) -> u64 {
        if is_snan(a, d) || is_snan(b, d) {
            self.flags |= IE;
        }
        if is_nan(a, d) {
            a | quiet_bit(d)
        } else {
            b | quiet_bit(d)
        }
    }

    fn invalid(&mut self, d: bool) -> u64 {
        self.flags |= IE;
        default_nan(d)
    }

    /// Whether to add one unit in the last place after dropping `rem` of `half*2`.
    fn round_up(&self, s: bool, q: u128, rem: u128, half: u128) -> bool {
        match self.rc() {
            RN => rem > half || (rem == half && q & 1 != 0),
            RD => s && rem != 0,
            RU => !s && rem != 0,
            _ => false,
        }
    }

    /// Rounds `m * 2^e` (m non-zero, its bit 0 may be a sticky bit) into format `d`,
    /// raising OE/UE/PE and honouring FTZ.
    fn round_pack(&mut self, d: bool, s: bool, e: i32, m: u128) -> u64 {
        let sign = if s { sign_bit(d) } else { 0 };
        let lz = m.leading_zeros();
        let m = m << lz;
        let e = e - lz as i32;
        // Exponent of the leading bit.
        let le = e + 127;
        let p = frac_bits(d) + 1;
        let emin = 1 - bias(d);
        let emax = bias(d);
        let base_drop = 128 - p;
        let split = |drop: u32| -> (u128, u128, u128) {
            match drop {
                0..=127 => (m >> drop, m & ((1u128 << drop) - 1), 1u128 << (drop - 1)),
                128 => (0, m, 1u128 << 127),
                // Below half of the least denormal: only a sticky bit remains.
                _ => (0, 1, 2),
            }
        };
        if le >= emin {
            let (mut q, rem, half) = split(base_drop);
            if self.round_up(s, q, rem, half) {
                q += 1;
            }
            let mut le = le;
            if q >> p != 0 {
                q >>= 1;
                le += 1;
            }
            if rem != 0 {
                self.flags |= PE;
            }
            if le > emax {
                return self.overflow(d, s);
            }
            let be = (le + bias(d)) as u64;
            return sign | be << frac_bits(d) | (q as u64 & frac_mask(d));
        }
        // Tiny before rounding; after rounding to p bits with an unbounded exponent
        // it is still tiny unless it reaches 2^emin.
        let (q2, rem2, half2) = split(base_drop);
        let carries = self.round_up(s, q2, rem2, half2) && (q2 + 1) >> p != 0;
        let tiny = !(le == emin - 1 && carries);
        let drop = base_drop as i64 + (emin - le) as i64;
        let (mut q, rem, half) = split(drop.min(129) as u32);
        if self.round_up(s, q, rem, half) {
            q += 1;
        }
        let inexact = rem != 0;
        let ue_masked = self.mxcsr & (UE << MASK_SHIFT) != 0;
        if tiny {
            if !ue_masked {
                self.flags |= UE;
            } else if self.mxcsr & FTZ != 0 {
                self.flags |= UE | PE;
                return sign;
            } else if inexact {
                self.flags |= UE;
            }
        }
        if inexact {
            self.flags |= PE;
        }
        sign | q as u64
    }

    /// An exact result `x` that needs no rounding: a denormal is still tiny, so it
    /// raises UE when UE is unmasked and is flushed (UE and PE) under FTZ.
    fn tiny_exact(&mut self, x: u64, d: bool) -> u64 {
        if is_denormal(x, d) {
            if self.mxcsr & (UE << MASK_SHIFT) == 0 {
                self.flags |= UE;
            } else if self.mxcsr & FTZ != 0 {
                self.flags |= UE | PE;
                return x & sign_bit(d);
            }
        }
        x
    }

    fn overflow(&mut self, d: bool, s: bool) -> u64 {
        self.flags |= OE | PE;
        let sign = if s { sign_bit(d) } else { 0 };
        let inf = sign | exp_mask(d);
        let max = sign | (exp_mask(d) - (1 << frac_bits(d))) | frac_mask(d);
        match self.rc() {
            RN => inf,
            RD => {
                if s {
                    inf
                } else {
                    max
                }
            }
            RU => {
                if s {
                    max
                } else {
                    inf
                }
            }
            _ => max,
        }
    }

    /// An exact zero result of a sum: +0, or -0 when rounding down.
    fn exact_zero(&self, d: bool) -> u64 {
        if self.rc() == RD {
            sign_bit(d)
        } else {
            0
        }
    }

    /// ADDSS/ADDSD (and SUB with `b` negated by the caller).
    pub fn add(&mut self, a: u64, b: u64, d: bool) -> u64 {
        let (a, b) = (self.daz(a, d), self.daz(b, d));
        if is_nan(a, d) || is_nan(b, d) {
            return self.nan2(a, b, d);
        }
        self.den(a, d);
        self.den(b, d);
        match (is_inf(a, d), is_inf(b, d)) {
            (true, true) => {
                return if neg(a, d) == neg(b, d) {
                    a
                } else {
                    self.invalid(d)
                }
            }
            (true, false) => return a,
            (false, true) => return b,
            _ => {}
        }
        match (is_zero(a, d), is_zero(b, d)) {
            (true, true) => {
                return if neg(a, d) == neg(b, d) {
                    a
                } else {
                    self.exact_zero(d)
                }
            }
            (true, false) => return self.tiny_exact(b, d),
            (false, true) => return self.tiny_exact(a, d),
            _ => {}
        }
        let (mut x, mut y) = (unpack(a, d), unpack(b, d));
        if (y.e, y.m) > (x.e, x.m) {
            core::mem::swap(&mut x, &mut y);
        }
        let sh = (x.e - y.e) as u32;
        let mx = (x.m as u128) << 62;
        let my = (y.m as u128) << 62;
        let my = if sh >= 126 {
            1
        } else {
            (my >> sh) | ((my & ((1u128 << sh) - 1) != 0) as u128)
        };
        let r = if x.s == y.s { mx + my } else { mx - my };
        if r == 0 {
            return self.exact_zero(d);
        }
        self.round_pack(d, x.s, x.e - 62, r)
    }

    /// SUBSS/SUBSD: a - b.
    pub fn sub(&mut self, a: u64, b: u64, d: bool) -> u64 {
        let b2 = self.daz(b, d);
        if is_nan(b2, d) {
            return self.add(a, b, d);
        }
        self.add(a, b2 ^ sign_bit(d), d)
    }

    /// MULSS/MULSD.
    pub fn mul(&mut self, a: u64, b: u64, d: bool) -> u64 {
        let (a, b) = (self.daz(a, d), self.daz(b, d));
        if is_nan(a, d) || is_nan(b, d) {
            return self.nan2(a, b, d);
        }
        let s = neg(a, d) != neg(b, d);
        let sign = if s { sign_bit(d) } else { 0 };
        if (is_inf(a, d) && is_zero(b, d)) || (is_zero(a, d) && is_inf(b, d)) {
            return self.invalid(d);
        }
        self.den(a, d);
        self.den(b, d);
        if is_inf(a, d) || is_inf(b, d) {
            return sign | exp_mask(d);
        }
        if is_zero(a, d) || is_zero(b, d) {
            return sign;
        }
        let (x, y) = (unpack(a, d), unpack(b, d));
        self.round_pack(d, s, x.e + y.e, x.m as u128 * y.m as u128)
    }

    /// DIVSS/DIVSD: a / b.
    pub fn div(&mut self, a: u64, b: u64, d: bool) -> u64 {
        let (a, b) = (self.daz(a, d), self.daz(b, d));
        if is_nan(a, d) || is_nan(b, d) {
            return self.nan2(a, b, d);
        }
        let s = neg(a, d) != neg(b, d);
        let sign = if s { sign_bit(d) } else { 0 };
        if (is_inf(a, d) && is_inf(b, d)) || (is_zero(a, d) && is_zero(b, d)) {
            return self.invalid(d);
        }
        if is_zero(b, d) {
            // Divide-by-zero takes priority over the denormal operand; an infinite
            // dividend is no exception at all.
            if !is_inf(a, d) {
                self.flags |= ZE;
            }
            return sign | exp_mask(d);
        }
        self.den(a, d);
        self.den(b, d);
        if is_inf(a, d) {
            return sign | exp_mask(d);
        }
        if is_inf(b, d) || is_zero(a, d) {
            return sign;
        }
        let (x, y) = (unpack(a, d), unpack(b, d));
        let n = (x.m as u128) << 64;
        let q = n / y.m as u128;
        let sticky = !n.is_multiple_of(y.m as u128) as u128;
        self.round_pack(d, s, x.e - y.e - 65, q << 1 | sticky)
    }

    /// SQRTSS/SQRTSD.
    pub fn sqrt(&mut self, a: u64, d: bool) -> u64 {
        let a = self.daz(a, d);
        if is_nan(a, d) {
            return self.nan2(a, a, d);
        }
        if is_zero(a, d) {
            return a;
        }
        if neg(a, d) {
            return self.invalid(d);
        }
        self.den(a, d);
        if is_inf(a, d) {
            return a;
        }
        let x = unpack(a, d);
        let (mut m, mut e) = (x.m as u128, x.e);
        if e & 1 != 0 {
            m <<= 1;
            e -= 1;
        }
        let n = m << 62;
        let r = isqrt(n);
        let sticky = (r * r != n) as u128;
        self.round_pack(d, false, (e - 62) / 2 - 1, r << 1 | sticky)
    }

    /// MINSS/MAXSS (`max`): any NaN raises IE and returns the second source, as does
    /// a pair of zeros or equal values.
    pub fn minmax(&mut self, a: u64, b: u64, d: bool, max: bool) -> u64 {
        let (a, b) = (self.daz(a, d), self.daz(b, d));
        if is_nan(a, d) || is_nan(b, d) {
            self.flags |= IE;
            return b;
        }
        self.den(a, d);
        self.den(b, d);
        let (ka, kb) = (key(a, d), key(b, d));
        if (max && ka > kb) || (!max && ka < kb) {
            a
        } else {
            b
        }
    }

    /// Ordered comparison: `None` if unordered. IE for an SNaN, or for any NaN when
    /// `signalling` (LT/LE/NLT/NLE, COMISS).
    pub fn compare(
        &mut self,
        a: u64,
        b: u64,
        d: bool,
        signalling: bool,
    ) -> Option<core::cmp::Ordering> {
        let (a, b) = (self.daz(a, d), self.daz(b, d));
        if is_nan(a, d) || is_nan(b, d) {
            if signalling || is_snan(a, d) || is_snan(b, d) {
                self.flags |= IE;
            }
            return None;
        }
        self.den(a, d);
        self.den(b, d);
        Some(key(a, d).cmp(&key(b, d)))
    }

    /// CVTSS2SD / CVTSD2SS: converts from format `from` to the other one.
    pub fn convert(&mut self, a: u64, from_d: bool) -> u64 {
        let to = !from_d;
        let a = self.daz(a, from_d);
        let sign = if neg(a, from_d) { sign_bit(to) } else { 0 };
        if is_nan(a, from_d) {
            if is_snan(a, from_d) {
                self.flags |= IE;
            }
            let payload = (a & frac_mask(from_d)) | quiet_bit(from_d);
            let p = if from_d { payload >> 29 } else { payload << 29 };
            return sign | exp_mask(to) | p;
        }
        if is_inf(a, from_d) {
            return sign | exp_mask(to);
        }
        if is_zero(a, from_d) {
            return sign;
        }
        self.den(a, from_d);
        let x = unpack(a, from_d);
        self.round_pack(to, x.s, x.e, x.m as u128)
    }

    /// CVTSI2SS/CVTSI2SD: a signed 32-bit integer to format `d`.
    pub fn from_i32(&mut self, v: i32, d: bool) -> u64 {
        if v == 0 {
            return 0;
        }
        self.round_pack(d, v < 0, 0, v.unsigned_abs() as u128)
    }

    /// CVT(T)SS2SI/CVT(T)SD2SI: to a signed 32-bit integer, rounding per MXCSR or
    /// truncating; NaN and out-of-range give the integer indefinite with IE.
    pub fn to_i32(&mut self, a: u64, d: bool, truncate: bool) -> u32 {
        let a = self.daz(a, d);
        if is_nan(a, d) || is_inf(a, d) {
            self.flags |= IE;
            return 0x8000_0000;
        }
        if is_zero(a, d) {
            return 0;
        }
        let x = unpack(a, d);
        let mag: u128 = if x.e >= 0 {
            if x.e > 40 {
                self.flags |= IE;
                return 0x8000_0000;
            }
            (x.m as u128) << x.e
        } else {
            let sh = (-x.e) as u32;
            let (q, rem, half) = if sh >= 128 {
                (0u128, 1u128, 2u128)
            } else {
                let m = x.m as u128;
                (m >> sh, m & ((1u128 << sh) - 1), 1u128 << (sh - 1))
            };
            let up = if truncate {
                false
            } else {
                self.round_up(x.s, q, rem, half)
            };
            if rem != 0 {
                // PE only if the result is representable (checked below).
                let r = q + up as u128;
                if r > 0x8000_0000 || (r == 0x8000_0000 && !x.s) {
                    self.flags |= IE;
                    return 0x8000_0000;
                }
                self.flags |= PE;
                r
            } else {
                q
            }
        };
        if mag > 0x8000_0000 || (mag == 0x8000_0000 && !x.s) {
            self.flags |= IE;
            return 0x8000_0000;
        }
        let v = mag as u32;
        if x.s {
            v.wrapping_neg()
        } else {
            v
        }
    }
}

/// A total order key for non-NaN values with +0 == -0.
fn key(x: u64, d: bool) -> i128 {
    let mag = (x & !sign_bit(d)) as i128;
    if neg(x, d) {
        -mag
    } else {
        mag
    }
}

/// Integer square root (floor) of a 128-bit value.
fn isqrt(n: u128) -> u128 {
    let mut r: u128 = 0;
    let mut bit: u128 = 1 << 126;
    let mut n = n;
    while bit > n {
        bit >>= 2;
    }
    while bit != 0 {
        if n >= r + bit {
            n -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
        bit >>= 2;
    }
    r
}

/// Approximate reciprocal (RCPSS/RCPPS) of a binary32, as an Intel CPU computes it:
/// a table lookup on the top 11 fraction bits (|relative error| < 2^-11.5, the SDM's
/// bound). Denormal inputs count as zero (infinity out); results too small for a
/// normal flush to zero.
pub fn rcp(a: u32) -> u32 {
    approx(a, false)
}

/// Approximate reciprocal square root (RSQRTSS/RSQRTPS) of a binary32, as an Intel
/// CPU computes it: a table lookup on the exponent's parity and the top 10 fraction
/// bits; see [`rcp`].
pub fn rsqrt(a: u32) -> u32 {
    approx(a, true)
}

fn approx(a: u32, root: bool) -> u32 {
    use super::approx_tables::{RCP, RSQRT};
    let sign = a & 0x8000_0000;
    let (exp, frac) = ((a >> 23) & 0xFF, a & 0x007F_FFFF);
    match exp {
        0xFF if frac != 0 => return a | 0x0040_0000,
        0 => return sign | 0x7F80_0000,
        _ if root && sign != 0 => return 0xFFC0_0000,
        0xFF => return sign,
        _ => {}
    }
    // Every table entry is a significand in [1, 2) scaled to 0.5 * (1 + entry/4096),
    // the value for an input in [1, 2) (or [2, 4) for odd exponents under the root);
    // the input's remaining power of two only moves the exponent.
    let e = exp as i32 - 127;
    let (re, entry) = if root {
        let odd = e & 1;
        (
            126 - (e - odd) / 2,
            RSQRT[(odd << 10) as usize | (frac >> 13) as usize],
        )
    } else {
        (126 - e, RCP[(frac >> 12) as usize])
    };
    if re <= 0 {
        return sign;
    }
    sign | (re as u32) << 23 | (entry as u32) << 11
}

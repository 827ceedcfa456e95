//! Conversions between the register format and the memory formats:
//! integers (`FILD`/`FIST`/`FISTP`/`FISTTP`), single/double precision
//! (`FLD`/`FST m32fp/m64fp`) and 18-digit packed BCD (`FBLD`/`FBSTP`).

use crate::round::{operand, round_bits, round_pack, shr_sticky, Format, Operand};
use crate::types::{Control, Exceptions, Flags, Rounding, BIAS, F80};

/// Exact conversion of a 64-bit signed integer (`FILD`; never inexact).
pub const fn from_i64_exact(i: i64) -> F80 {
    if i == 0 {
        return F80::ZERO;
    }
    let m = i.unsigned_abs();
    let lz = m.leading_zeros();
    F80::new(i < 0, (BIAS + 63 - lz as i32) as u16, m << lz)
}

/// `FILD m16int`.
pub const fn from_i16(i: i16) -> F80 {
    from_i64_exact(i as i64)
}

/// `FILD m32int`.
pub const fn from_i32(i: i32) -> F80 {
    from_i64_exact(i as i64)
}

/// `FILD m64int`.
pub const fn from_i64(i: i64) -> F80 {
    from_i64_exact(i)
}

/// Round a register value to an integer of `bits` width (16/32/64) with
/// the given rounding; returns the two's-complement bit pattern (integer
/// indefinite 100…0b on #IA) in the low `bits` bits.
fn to_int(a: F80, bits: u32, rc: Rounding, masks: Exceptions) -> (u64, Flags) {
    let indefinite = 1u64 << (bits - 1);
    let inv = |ex: Exceptions| {
        (
            indefinite,
            Flags {
                ex: ex | Exceptions::IE,
                c1: false,
                suppressed: !masks.contains(Exceptions::IE),
            },
        )
    };
    let u = match operand(a) {
        Operand::Unsupported | Operand::NaN | Operand::Inf(_) => return inv(Exceptions::NONE),
        Operand::Zero(_) => return (0, Flags::default()),
        Operand::Finite(u, _) => u,
    };
    let mut ex = Exceptions::NONE;
    if u.exp >= BIAS + 64 {
        return inv(ex);
    }
    // value = sig × 2^(exp − BIAS − 63); t = sig << 64 has fb fraction bits.
    let fb = (BIAS + 127 - u.exp) as u32; // >= 64
    let mut t = (u.sig as u128) << 64;
    let mut fbu = fb;
    if fbu > 126 {
        t = shr_sticky(t, fbu - 126);
        fbu = 126;
    }
    let (v, carry, inexact, up) = round_bits(t, fbu, rc, u.sign);
    let mag: u128 = if carry {
        1u128 << (128 - fbu)
    } else {
        v >> fbu
    };
    let limit = if u.sign {
        1u128 << (bits - 1)
    } else {
        (1u128 << (bits - 1)) - 1
    };
    if mag > limit {
        return inv(ex);
    }
    if inexact {
        ex |= Exceptions::PE;
    }
    let m = mag as u64;
    let r = if u.sign { m.wrapping_neg() } else { m };
    let mask = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    (
        r & mask,
        Flags {
            ex,
            c1: up,
            suppressed: false,
        },
    )
}

/// `FIST/FISTP m16int`: round per RC; out of range, NaN, ∞ or unsupported →
/// #IA and the integer indefinite 8000h. #P/C1 when inexact.
pub fn to_i16(a: F80, ctl: Control) -> (i16, Flags) {
    let (v, f) = to_int(a, 16, ctl.rounding, ctl.masks);
    (v as u16 as i16, f)
}

/// `FIST/FISTP m32int` (indefinite 8000_0000h).
pub fn to_i32(a: F80, ctl: Control) -> (i32, Flags) {
    let (v, f) = to_int(a, 32, ctl.rounding, ctl.masks);
    (v as u32 as i32, f)
}

/// `FISTP m64int` (indefinite 8000_0000_0000_0000h).
pub fn to_i64(a: F80, ctl: Control) -> (i64, Flags) {
    let (v, f) = to_int(a, 64, ctl.rounding, ctl.masks);
    (v as i64, f)
}

/// `FISTTP m16int`: like [`to_i16`] but always truncating toward zero.
pub fn to_i16_trunc(a: F80, ctl: Control) -> (i16, Flags) {
    let (v, f) = to_int(a, 16, Rounding::TowardZero, ctl.masks);
    (v as u16 as i16, f)
}

/// `FISTTP m32int`: truncating.
pub fn to_i32_trunc(a: F80, ctl: Control) -> (i32, Flags) {
    let (v, f) = to_int(a, 32, Rounding::TowardZero, ctl.masks);
    (v as u32 as i32, f)
}

/// `FISTTP m64int`: truncating.
pub fn to_i64_trunc(a: F80, ctl: Control) -> (i64, Flags) {
    let (v, f) = to_int(a, 64, Rounding::TowardZero, ctl.masks);
    (v as i64, f)
}

/// Layout of an IEEE binary interchange format in memory.
#[derive(Clone, Copy)]
struct Ieee {
    /// Fraction bits (23 or 52).
    frac: u32,
    /// Exponent bits (8 or 11).
    expb: u32,
}

impl Ieee {
    const fn bias(self) -> i32 {
        (1 << (self.expb - 1)) - 1
    }
    const fn emax_field(self) -> u64 {
        (1 << self.expb) - 1
    }
}

const SINGLE: Ieee = Ieee { frac: 23, expb: 8 };
const DOUBLE: Ieee = Ieee { frac: 52, expb: 11 };

/// Exact widening of an IEEE bit pattern to the register format with no
/// side effects: NaNs keep their signaling/quiet status, denormals are
/// normalized and reported through the second tuple element.
fn widen_ieee(bits: u64, f: Ieee) -> (F80, bool) {
    let sign = bits >> (f.frac + f.expb) & 1 != 0;
    let e = (bits >> f.frac) & f.emax_field();
    let frac = bits & ((1u64 << f.frac) - 1);
    let shift = 63 - f.frac;
    if e == f.emax_field() {
        let s = if frac == 0 {
            1 << 63
        } else {
            (1 << 63) | (frac << shift)
        };
        return (F80::new(sign, 0x7FFF, s), false);
    }
    if e == 0 {
        if frac == 0 {
            return (F80::ZERO.with_sign(sign), false);
        }
        let lz = frac.leading_zeros();
        let exp = BIAS + 1 - f.bias() - f.frac as i32 + 63 - lz as i32;
        return (F80::new(sign, exp as u16, frac << lz), true);
    }
    let exp = e as i32 - f.bias() + BIAS;
    (
        F80::new(sign, exp as u16, (1 << 63) | (frac << shift)),
        false,
    )
}

/// [`widen_ieee`] for single precision.
pub(crate) fn widen_f32(bits: u32) -> (F80, bool) {
    widen_ieee(bits as u64, SINGLE)
}

/// [`widen_ieee`] for double precision.
pub(crate) fn widen_f64(bits: u64) -> (F80, bool) {
    widen_ieee(bits, DOUBLE)
}

fn load_ieee(bits: u64, f: Ieee, masks: Exceptions) -> (F80, Flags) {
    let sign = bits >> (f.frac + f.expb) & 1 != 0;
    let e = (bits >> f.frac) & f.emax_field();
    let frac = bits & ((1u64 << f.frac) - 1);
    let shift = 63 - f.frac;
    // Only an unmasked #IA prevents the load; an unmasked #D (denormal
    // source) still loads the value (observed on hardware).
    let flags = |ex: Exceptions| Flags {
        ex,
        c1: false,
        suppressed: ex.0 & !masks.0 & Exceptions::IE.0 != 0,
    };
    if e == f.emax_field() {
        if frac == 0 {
            return (F80::INFINITY.with_sign(sign), Flags::default());
        }
        let v = F80::new(sign, 0x7FFF, (1 << 63) | (frac << shift));
        let ex = if v.is_snan() {
            Exceptions::IE
        } else {
            Exceptions::NONE
        };
        return (v.quieted(), flags(ex));
    }
    if e == 0 {
        if frac == 0 {
            return (F80::ZERO.with_sign(sign), Flags::default());
        }
        let lz = frac.leading_zeros();
        // value = frac × 2^(1 − bias − frac_bits)
        let exp = BIAS + 1 - f.bias() - f.frac as i32 + 63 - lz as i32;
        return (
            F80::new(sign, exp as u16, frac << lz),
            flags(Exceptions::DE),
        );
    }
    let exp = e as i32 - f.bias() + BIAS;
    (
        F80::new(sign, exp as u16, (1 << 63) | (frac << shift)),
        Flags::default(),
    )
}

fn store_ieee(a: F80, f: Ieee, ctl: Control) -> (u64, Flags) {
    let sign_bit = 1u64 << (f.frac + f.expb);
    let inf = f.emax_field() << f.frac;
    let qbit = 1u64 << (f.frac - 1);
    let indefinite = sign_bit | inf | qbit;
    let sbit = if a.sign() { sign_bit } else { 0 };
    let inv = Flags {
        ex: Exceptions::IE,
        c1: false,
        suppressed: !ctl.masked(Exceptions::IE),
    };
    match operand(a) {
        Operand::Unsupported => (indefinite, inv),
        Operand::NaN => {
            let payload = (a.signif << 1) >> (64 - f.frac);
            let v = sbit | inf | qbit | payload;
            if a.is_snan() {
                (v, inv)
            } else {
                (v, Flags::default())
            }
        }
        Operand::Inf(_) => (sbit | inf, Flags::default()),
        Operand::Zero(_) => (sbit, Flags::default()),
        Operand::Finite(u, _) => {
            // A denormal register operand does not raise #D on a store.
            let ex = Exceptions::NONE;
            let fmt = Format {
                prec: f.frac + 1,
                emax: f.emax_field() as i32 - 1,
                reg: false,
                force_inexact: false,
            };
            let e = u.exp - BIAS + f.bias();
            let r = round_pack(u.sign, e, (u.sig as u128) << 64, fmt, ctl, ex);
            let frac = (r.sig << 1) >> (64 - f.frac);
            let v = sbit | ((r.exp as u64) << f.frac) | frac;
            (v, r.flags)
        }
    }
}

/// `FLD m32fp`: exact widening of a single-precision bit pattern. An SNaN
/// raises #IA and is quieted (payload kept); a denormal raises #D and is
/// normalized.
pub fn from_f32_bits(bits: u32, masks: Exceptions) -> (F80, Flags) {
    load_ieee(bits as u64, SINGLE, masks)
}

/// `FLD m64fp`: exact widening of a double-precision bit pattern.
pub fn from_f64_bits(bits: u64, masks: Exceptions) -> (F80, Flags) {
    load_ieee(bits, DOUBLE, masks)
}

/// `FST/FSTP m32fp`: round to single precision per RC (precision control
/// does not apply). Produces denormals, #U/#O/#P per the masks (an unmasked
/// #O/#U stores nothing: `Flags::suppressed`); NaNs keep the upper payload
/// bits and SNaNs are quieted with #IA; unsupported → #IA, indefinite.
pub fn to_f32_bits(a: F80, ctl: Control) -> (u32, Flags) {
    let (v, f) = store_ieee(a, SINGLE, ctl);
    (v as u32, f)
}

/// `FST/FSTP m64fp`: round to double precision; see [`to_f32_bits`].
pub fn to_f64_bits(a: F80, ctl: Control) -> (u64, Flags) {
    store_ieee(a, DOUBLE, ctl)
}

/// The packed-BCD indefinite stored by `FBSTP` on #IA (masked):
/// FFFF_C000_0000_0000_0000h.
pub const BCD_INDEFINITE: [u8; 10] = [0, 0, 0, 0, 0, 0, 0, 0xC0, 0xFF, 0xFF];

/// `FBLD`: load an 18-digit packed BCD integer (bytes 0..8 hold the digits,
/// least significant first; bit 7 of byte 9 is the sign). Exact. Invalid
/// digit nibbles (A..F) are accumulated with weight 10 like valid ones.
pub fn from_bcd(b: [u8; 10]) -> F80 {
    let mut v: u64 = 0;
    let mut i = 9;
    while i > 0 {
        i -= 1;
        let hi = (b[i] >> 4) as u64;
        let lo = (b[i] & 15) as u64;
        v = v.wrapping_mul(10).wrapping_add(hi);
        v = v.wrapping_mul(10).wrapping_add(lo);
    }
    let sign = b[9] & 0x80 != 0;
    if v == 0 {
        return F80::ZERO.with_sign(sign);
    }
    let lz = v.leading_zeros();
    F80::new(sign, (BIAS + 63 - lz as i32) as u16, v << lz)
}

/// `FBSTP`: round per RC to an integer and store as 18-digit packed BCD.
/// Magnitudes above 999 999 999 999 999 999, NaNs, ∞ and unsupported
/// encodings raise #IA and store the BCD indefinite (when masked).
pub fn to_bcd(a: F80, ctl: Control) -> ([u8; 10], Flags) {
    let inv = Flags {
        ex: Exceptions::IE,
        c1: false,
        suppressed: !ctl.masked(Exceptions::IE),
    };
    let sign = a.sign();
    let (mag, flags) = match operand(a) {
        Operand::Unsupported | Operand::NaN | Operand::Inf(_) => return (BCD_INDEFINITE, inv),
        Operand::Zero(_) => (0u64, Flags::default()),
        Operand::Finite(u, _) => {
            // Reuse the 64-bit integer conversion on the magnitude.
            let (v, f) = to_int(a.abs(), 64, directed_abs(ctl.rounding, u.sign), ctl.masks);
            if f.ex.contains(Exceptions::IE) || v > 999_999_999_999_999_999 {
                return (BCD_INDEFINITE, inv);
            }
            (v, f)
        }
    };
    let mut out = [0u8; 10];
    let mut m = mag;
    for byte in out.iter_mut().take(9) {
        let lo = (m % 10) as u8;
        m /= 10;
        let hi = (m % 10) as u8;
        m /= 10;
        *byte = (hi << 4) | lo;
    }
    out[9] = if sign { 0x80 } else { 0 };
    (out, flags)
}

/// Rounding mode that, applied to |x|, gives the same magnitude as `rc`
/// applied to x.
fn directed_abs(rc: Rounding, neg: bool) -> Rounding {
    match (rc, neg) {
        (Rounding::Up, true) => Rounding::Down,
        (Rounding::Down, true) => Rounding::Up,
        (r, _) => r,
    }
}

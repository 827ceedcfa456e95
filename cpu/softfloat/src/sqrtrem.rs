//! `FSQRT`, `FPREM` and `FPREM1` (SDM vol. 2).

use crate::round::{
    exact, invalid, nan_prologue, operand, passthrough, pre_unmasked, propagate1, round_reg,
    round_reg64, suppressed, Operand,
};
use crate::types::{CondCodes, Control, Exceptions, Flags, BIAS, F80};

/// `FSQRT`: square root of `a`, rounded per precision and rounding control.
///
/// −0 gives −0; a negative non-zero operand (−∞ included) raises #IA;
/// a denormal operand raises #D. The result never overflows or underflows.
pub fn sqrt(a: F80, ctl: Control) -> (F80, Flags) {
    match operand(a) {
        Operand::Unsupported => invalid(ctl, Exceptions::NONE),
        Operand::NaN => propagate1(a, ctl),
        Operand::Zero(_) => exact(a, ctl, Exceptions::NONE),
        Operand::Inf(false) => exact(a, ctl, Exceptions::NONE),
        Operand::Inf(true) => invalid(ctl, Exceptions::NONE),
        Operand::Finite(u, den) => {
            let ex = if den {
                Exceptions::DE
            } else {
                Exceptions::NONE
            };
            if u.sign {
                return invalid(ctl, Exceptions::NONE);
            }
            if pre_unmasked(ex, ctl) {
                return suppressed(ex);
            }
            let (e, root, sticky) = sqrt_parts(u.exp, u.sig);
            round_reg(false, e, root | sticky as u128, ctl, ex)
        }
    }
}

/// Square root of `sig × 2^(exp − 16383 − 63)` (sig normalized): returns the
/// biased exponent and a 128-bit root (value = root × 2^(e − 16383 − 127))
/// with 100 significant bits, and whether the remainder is non-zero.
pub(crate) fn sqrt_parts(exp: i32, sig: u64) -> (i32, u128, bool) {
    let u = exp - BIAS;
    // value = (m / 2^63) × 2^u2 with u2 even, m/2^63 in [1, 4).
    let (m, u2) = if u & 1 != 0 {
        ((sig as u128) << 1, u - 1)
    } else {
        (sig as u128, u)
    };
    // Digit-by-digit root of N = m × 2^(2L − 63), L = 99: root has L+1 bits.
    // M = m << 1 holds the bit pairs of N above bit 134.
    let mm = m << 1;
    let mut rem: u128 = 0;
    let mut root: u128 = 0;
    let mut j: i32 = 99;
    while j >= 0 {
        let pair = if 2 * j >= 134 {
            (mm >> (2 * j - 134)) & 3
        } else {
            0
        };
        rem = (rem << 2) | pair;
        let trial = (root << 2) | 1;
        if rem >= trial {
            rem -= trial;
            root = (root << 1) | 1;
        } else {
            root <<= 1;
        }
        j -= 1;
    }
    // root = sqrt(m/2^63) × 2^99, 100 bits; place at bit 127.
    (BIAS + u2 / 2, root << 28, rem != 0)
}

/// `FPREM` (`nearest == false`, quotient truncated toward zero, the 8087
/// partial remainder) or `FPREM1` (`nearest == true`, IEEE 754 remainder):
/// partial remainder of `a` (ST(0)) by `b` (ST(1)).
///
/// When the exponent difference is 64 or more, only a partial reduction by
/// 2^(32..63) is done and C2 is set (software loops until C2 = 0). Otherwise
/// C2 = 0 and the three low quotient bits are reported as Q2→C0, Q1→C3,
/// Q0→C1. ∞ dividend or zero divisor raise #IA.
pub(crate) fn prem(a: F80, b: F80, nearest: bool, ctl: Control) -> (F80, Flags, CondCodes) {
    let cc0 = CondCodes {
        c0: false,
        c1: false,
        c2: false,
        c3: false,
    };
    if let Some(r) = nan_prologue(a, b, ctl) {
        return (r.0, r.1, cc0);
    }
    let (oa, ob) = (operand(a), operand(b));
    let mut ex = Exceptions::NONE;
    if matches!(oa, Operand::Inf(_)) || matches!(ob, Operand::Zero(_)) {
        let (v, f) = invalid(ctl, ex);
        return (v, f, cc0);
    }
    if oa.is_denormal() || ob.is_denormal() {
        ex |= Exceptions::DE;
    }
    let (x, y) = match (oa, ob) {
        (Operand::Finite(x, _), Operand::Finite(y, _)) => (x, y),
        (Operand::Finite(_, _), Operand::Inf(_)) => {
            // Finite rem ∞: the dividend itself (a denormal stays one, with no
            // #U even when unmasked; a pseudo-denormal is made canonical).
            let (v, f) = passthrough(a, ctl, ex);
            return (v, f, cc0);
        }
        _ => {
            // 0 rem finite/∞: the dividend is the result.
            let (v, f) = exact(a, ctl, ex);
            return (v, f, cc0);
        }
    };
    if pre_unmasked(ex, ctl) {
        let (v, f) = suppressed(ex);
        return (v, f, cc0);
    }
    let d = x.exp - y.exp;
    let mut sign = x.sign;
    if d >= 64 {
        let n = ((d & 31) | 32) as u32;
        let num = (x.sig as u128) << n;
        let r = num % (y.sig as u128);
        let (v, f) = round_reg64(sign, x.exp - n as i32, r << 64, ctl, ex);
        return (
            v,
            f,
            CondCodes {
                c0: false,
                c1: false,
                c2: true,
                c3: false,
            },
        );
    }
    let lim = if nearest { -1 } else { 0 };
    if d < lim {
        let (v, f) = round_reg64(sign, x.exp, (x.sig as u128) << 64, ctl, ex);
        return (v, f, cc0);
    }
    // num / den at scale `e`: remainder r = num − q·den, value r × 2^(e−16383−63).
    let (num, den, e) = if d >= 0 {
        ((x.sig as u128) << d, y.sig as u128, y.exp)
    } else {
        (x.sig as u128, (y.sig as u128) << 1, x.exp)
    };
    let mut q = num / den;
    let mut r = num % den;
    if nearest && (2 * r > den || (2 * r == den && q & 1 == 1)) {
        q += 1;
        r = den - r;
        sign = !sign;
    }
    let (mut v, f) = round_reg64(sign, e, r << 64, ctl, ex);
    if r == 0 {
        v = F80::ZERO.with_sign(x.sign);
    }
    let cc = CondCodes {
        c0: q & 4 != 0,
        c1: q & 1 != 0,
        c2: false,
        c3: q & 2 != 0,
    };
    (v, f, cc)
}

/// `FPREM`: partial remainder of ST(0) = `a` by ST(1) = `b` with the
/// quotient truncated toward zero (C2 = incomplete,
/// Q2→C0, Q1→C3, Q0→C1).
pub fn fprem(a: F80, b: F80, ctl: Control) -> (F80, Flags, CondCodes) {
    prem(a, b, false, ctl)
}

/// `FPREM1`: IEEE 754 partial remainder (quotient rounded to nearest even).
pub fn fprem1(a: F80, b: F80, ctl: Control) -> (F80, Flags, CondCodes) {
    prem(a, b, true, ctl)
}

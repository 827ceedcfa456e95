//! `FADD`/`FSUB`/`FSUBR` (SDM vol. 2, FADD and FSUB; vol. 1 table 4-7).

use crate::round::{
    exact, invalid, nan_prologue, operand_d, pre_unmasked, round_reg, shr_sticky, suppressed,
    Operand, Unpacked,
};
use crate::types::{Control, Exceptions, Flags, Rounding, F80};

/// `FADD`: `a + b`, rounded per precision and rounding control.
///
/// Raises #IA for SNaN/unsupported operands and ∞ + (−∞), #D for denormal
/// operands, #O, #U and #P per the result.
pub fn add(a: F80, b: F80, ctl: Control) -> (F80, Flags) {
    add_sub(a, b, false, (false, false), ctl)
}

/// `FSUB`: `a − b` (use `sub(b, a)` for `FSUBR`).
pub fn sub(a: F80, b: F80, ctl: Control) -> (F80, Flags) {
    add_sub(a, b, true, (false, false), ctl)
}

/// Addition or subtraction; `den` marks operands that were denormal in their
/// memory format.
pub(crate) fn add_sub(
    a: F80,
    b: F80,
    negate_b: bool,
    den: (bool, bool),
    ctl: Control,
) -> (F80, Flags) {
    if let Some(r) = nan_prologue(a, b, ctl) {
        return r;
    }
    let (oa, mut ob) = (operand_d(a, den.0), operand_d(b, den.1));
    if negate_b {
        ob = match ob {
            Operand::Zero(s) => Operand::Zero(!s),
            Operand::Inf(s) => Operand::Inf(!s),
            Operand::Finite(u, d) => Operand::Finite(Unpacked { sign: !u.sign, ..u }, d),
            o => o,
        };
    }
    let mut ex = Exceptions::NONE;
    if oa.is_denormal() || ob.is_denormal() {
        ex |= Exceptions::DE;
    }
    match (oa, ob) {
        (Operand::Inf(sa), Operand::Inf(sb)) => {
            if sa != sb {
                return invalid(ctl, ex);
            }
            exact(F80::INFINITY.with_sign(sa), ctl, ex)
        }
        (Operand::Inf(s), _) | (_, Operand::Inf(s)) => exact(F80::INFINITY.with_sign(s), ctl, ex),
        (Operand::Zero(sa), Operand::Zero(sb)) => {
            let s = if sa == sb {
                sa
            } else {
                ctl.rounding == Rounding::Down
            };
            exact(F80::ZERO.with_sign(s), ctl, ex)
        }
        (Operand::Zero(_), Operand::Finite(u, _)) | (Operand::Finite(u, _), Operand::Zero(_)) => {
            if pre_unmasked(ex, ctl) {
                return suppressed(ex);
            }
            round_reg(u.sign, u.exp, (u.sig as u128) << 64, ctl, ex)
        }
        (Operand::Finite(x, _), Operand::Finite(y, _)) => {
            if pre_unmasked(ex, ctl) {
                return suppressed(ex);
            }
            add_finite(x, y, ctl, ex)
        }
        _ => invalid(ctl, ex),
    }
}

/// Exact sum of two finite non-zero operands, then rounded.
pub(crate) fn add_finite(x: Unpacked, y: Unpacked, ctl: Control, ex: Exceptions) -> (F80, Flags) {
    // Order by magnitude so that the difference of significands is >= 0.
    let (big, small) = if (x.exp, x.sig) >= (y.exp, y.sig) {
        (x, y)
    } else {
        (y, x)
    };
    let d = (big.exp - small.exp) as u32;
    // Significands at bits 126..63, leaving one bit of headroom for a carry.
    let bs = (big.sig as u128) << 63;
    let ss = shr_sticky((small.sig as u128) << 63, d);
    // Exponent convention: value = sig × 2^(e − 16383 − 127); with the
    // significand at bit 126 the exponent is big.exp + 1.
    let e = big.exp + 1;
    if big.sign == small.sign {
        round_reg(big.sign, e, bs + ss, ctl, ex)
    } else {
        let diff = bs - ss;
        if diff == 0 {
            let s = ctl.rounding == Rounding::Down;
            return (F80::ZERO.with_sign(s), Flags::of(ex));
        }
        round_reg(big.sign, e, diff, ctl, ex)
    }
}

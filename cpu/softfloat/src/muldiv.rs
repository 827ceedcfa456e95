//! `FMUL` and `FDIV`/`FDIVR` (SDM vol. 2, FMUL and FDIV).

use crate::round::{
    exact, invalid, nan_prologue, operand_d, pre_unmasked, round_reg, suppressed, Operand,
};
use crate::types::{Control, Exceptions, Flags, BIAS, F80};

/// `FMUL`: `a × b`, rounded per precision and rounding control.
///
/// 0 × ∞ raises #IA (real indefinite when masked); denormal operands raise
/// #D; #O/#U/#P per the result.
pub fn mul(a: F80, b: F80, ctl: Control) -> (F80, Flags) {
    mul_d(a, b, (false, false), ctl)
}

/// `FMUL` with operands flagged as denormal in their memory format.
pub(crate) fn mul_d(a: F80, b: F80, den: (bool, bool), ctl: Control) -> (F80, Flags) {
    if let Some(r) = nan_prologue(a, b, ctl) {
        return r;
    }
    let (oa, ob) = (operand_d(a, den.0), operand_d(b, den.1));
    let sign = a.sign() ^ b.sign();
    let mut ex = Exceptions::NONE;
    match (oa, ob) {
        (Operand::Inf(_), Operand::Zero(_)) | (Operand::Zero(_), Operand::Inf(_)) => {
            invalid(ctl, ex)
        }
        (Operand::Inf(_), o) | (o, Operand::Inf(_)) => {
            if o.is_denormal() {
                ex |= Exceptions::DE;
            }
            exact(F80::INFINITY.with_sign(sign), ctl, ex)
        }
        (Operand::Zero(_), o) | (o, Operand::Zero(_)) => {
            if o.is_denormal() {
                ex |= Exceptions::DE;
            }
            exact(F80::ZERO.with_sign(sign), ctl, ex)
        }
        (Operand::Finite(x, dx), Operand::Finite(y, dy)) => {
            if dx || dy {
                ex |= Exceptions::DE;
            }
            if pre_unmasked(ex, ctl) {
                return suppressed(ex);
            }
            let p = (x.sig as u128) * (y.sig as u128);
            round_reg(sign, x.exp + y.exp - BIAS + 1, p, ctl, ex)
        }
        _ => invalid(ctl, ex),
    }
}

/// `FDIV`: `a / b` (use `div(b, a)` for `FDIVR`).
///
/// 0/0 and ∞/∞ raise #IA; finite non-zero / 0 raises #Z (∞ when masked);
/// denormal operands raise #D; #O/#U/#P per the result.
pub fn div(a: F80, b: F80, ctl: Control) -> (F80, Flags) {
    div_d(a, b, (false, false), ctl)
}

/// `FDIV` with operands flagged as denormal in their memory format.
pub(crate) fn div_d(a: F80, b: F80, den: (bool, bool), ctl: Control) -> (F80, Flags) {
    if let Some(r) = nan_prologue(a, b, ctl) {
        return r;
    }
    let (oa, ob) = (operand_d(a, den.0), operand_d(b, den.1));
    let sign = a.sign() ^ b.sign();
    let mut ex = Exceptions::NONE;
    if oa.is_denormal() || ob.is_denormal() {
        ex |= Exceptions::DE;
    }
    match (oa, ob) {
        (Operand::Inf(_), Operand::Inf(_)) | (Operand::Zero(_), Operand::Zero(_)) => {
            invalid(ctl, ex)
        }
        (Operand::Inf(_), _) => exact(F80::INFINITY.with_sign(sign), ctl, ex),
        (_, Operand::Inf(_)) => exact(F80::ZERO.with_sign(sign), ctl, ex),
        (Operand::Zero(_), _) => exact(F80::ZERO.with_sign(sign), ctl, ex),
        (_, Operand::Zero(_)) => {
            // #Z has priority over #D (SDM vol. 1, 4.9.2).
            ex = Exceptions::ZE;
            exact(F80::INFINITY.with_sign(sign), ctl, ex)
        }
        (Operand::Finite(x, _), Operand::Finite(y, _)) => {
            if pre_unmasked(ex, ctl) {
                return suppressed(ex);
            }
            let (q, sticky) = div_sig(x.sig, y.sig);
            round_reg(sign, x.exp - y.exp + BIAS, q | sticky as u128, ctl, ex)
        }
        _ => invalid(ctl, ex),
    }
}

/// Divide two normalized 64-bit significands: returns `q ≈ a/b × 2^127`
/// truncated (126 or 127 significant bits) and whether a remainder is left.
pub(crate) fn div_sig(a: u64, b: u64) -> (u128, bool) {
    let b128 = b as u128;
    let n1 = (a as u128) << 63;
    let q1 = n1 / b128;
    let r1 = n1 % b128;
    let n2 = r1 << 64;
    let q2 = n2 / b128;
    let r2 = n2 % b128;
    ((q1 << 64) | q2, r2 != 0)
}

//! `FRNDINT`, `FSCALE` and `FXTRACT` (SDM vol. 2).

use crate::convert::from_i64_exact;
use crate::round::{
    exact, invalid, nan_prologue, operand, passthrough, pre_unmasked, propagate1, round_bits,
    round_pack, round_reg64, shr_sticky, suppressed, Format, Operand,
};
use crate::types::{Control, Exceptions, Flags, BIAS, F80};

/// `FRNDINT`: round ST(0) to an integral value per the rounding control.
///
/// Precision control is ignored (the integer is exact). #P (with C1 =
/// rounded up) if the value changed; #D for a denormal operand.
pub fn frndint(a: F80, ctl: Control) -> (F80, Flags) {
    match operand(a) {
        Operand::Unsupported => invalid(ctl, Exceptions::NONE),
        Operand::NaN => propagate1(a, ctl),
        Operand::Zero(_) | Operand::Inf(_) => exact(a, ctl, Exceptions::NONE),
        Operand::Finite(u, den) => {
            let ex = if den {
                Exceptions::DE
            } else {
                Exceptions::NONE
            };
            if pre_unmasked(ex, ctl) {
                return suppressed(ex);
            }
            // Fraction bits below the units position of t = sig << 64.
            let fb = BIAS + 127 - u.exp;
            if fb <= 64 {
                // Already an integer (ulp >= 1).
                return round_reg64(u.sign, u.exp, (u.sig as u128) << 64, ctl, ex);
            }
            let mut t = (u.sig as u128) << 64;
            let mut fbu = fb as u32;
            let mut e = u.exp;
            if fbu > 126 {
                t = shr_sticky(t, fbu - 126);
                e += (fbu - 126) as i32;
                fbu = 126;
            }
            let (v, carry, inexact, up) = round_bits(t, fbu, ctl.rounding, u.sign);
            if carry {
                e += 1;
            }
            let mut ex = ex;
            if inexact {
                ex |= Exceptions::PE;
            }
            if v == 0 {
                return (
                    F80::ZERO.with_sign(u.sign),
                    Flags {
                        ex,
                        c1: false,
                        suppressed: false,
                    },
                );
            }
            let (r, mut f) = round_reg64(u.sign, e, v, ctl, ex);
            f.c1 = up;
            (r, f)
        }
    }
}

/// `FSCALE`: ST(0) = `a` × 2^trunc(ST(1) = `b`).
///
/// The scale factor is truncated toward zero. A zero factor (±0) returns
/// the operand itself (no rounding, no #U for a denormal even when unmasked;
/// a pseudo-denormal comes back canonical), as on Intel. Other results,
/// including factors that truncate to 0, are rounded to the
/// 64-bit significand (precision control does not apply), with #O/#U/#P
/// per the result. ∞ × 2^−∞ and 0 × 2^+∞ raise #IA.
pub fn fscale(a: F80, b: F80, ctl: Control) -> (F80, Flags) {
    if let Some(r) = nan_prologue(a, b, ctl) {
        return r;
    }
    let (oa, ob) = (operand(a), operand(b));
    let mut ex = Exceptions::NONE;
    if oa.is_denormal() || ob.is_denormal() {
        ex |= Exceptions::DE;
    }
    match (oa, ob) {
        (Operand::Inf(_), Operand::Inf(true)) | (Operand::Zero(_), Operand::Inf(false)) => {
            invalid(ctl, ex)
        }
        (Operand::Inf(_), _) | (Operand::Zero(_), _) => exact(a, ctl, ex),
        (Operand::Finite(x, _), Operand::Inf(s)) => {
            let r = if s { F80::ZERO } else { F80::INFINITY };
            exact(r.with_sign(x.sign), ctl, ex)
        }
        (Operand::Finite(_, _), Operand::Zero(_)) => passthrough(a, ctl, ex),
        (Operand::Finite(x, _), Operand::Finite(y, _)) => {
            if pre_unmasked(ex, ctl) {
                return suppressed(ex);
            }
            let scale: i32 = if y.exp < BIAS {
                // |scale| < 1 truncates to 0 (unlike a zero factor, the
                // result still goes through rounding and the #U check).
                0
            } else if y.exp > BIAS + 15 {
                // Far beyond the exponent range: saturate.
                if y.sign {
                    -0x10000
                } else {
                    0x10000
                }
            } else {
                let m = (y.sig >> (63 - (y.exp - BIAS))) as i32;
                if y.sign {
                    -m
                } else {
                    m
                }
            };
            round_pack(
                x.sign,
                x.exp + scale,
                (x.sig as u128) << 64,
                Format::reg(64),
                ctl,
                ex,
            )
            .to_f80()
        }
        _ => invalid(ctl, ex),
    }
}

/// `FXTRACT`: split ST(0) into `(exponent, significand)`: the unbiased
/// exponent as a floating-point integer (to become ST(1)) and the
/// significand with exponent 3FFFh and the operand's sign (ST(0)).
///
/// ±0 raises #Z and gives (−∞, ±0); ±∞ gives (+∞, ±∞); denormals raise #D
/// and are normalized first.
pub fn fxtract(a: F80, ctl: Control) -> (F80, F80, Flags) {
    match operand(a) {
        Operand::Unsupported => {
            let (v, f) = invalid(ctl, Exceptions::NONE);
            (v, v, f)
        }
        Operand::NaN => {
            let (v, f) = propagate1(a, ctl);
            (v, v, f)
        }
        Operand::Zero(_) => {
            let (_, f) = exact(a, ctl, Exceptions::ZE);
            (F80::INFINITY.chs(), a, f)
        }
        Operand::Inf(_) => {
            let (v, f) = exact(a, ctl, Exceptions::NONE);
            (F80::INFINITY, v, f)
        }
        Operand::Finite(u, den) => {
            let ex = if den {
                Exceptions::DE
            } else {
                Exceptions::NONE
            };
            let (_, f) = exact(a, ctl, ex);
            (
                from_i64_exact((u.exp - BIAS) as i64),
                F80::new(u.sign, BIAS as u16, u.sig),
                f,
            )
        }
    }
}

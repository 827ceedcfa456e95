//! Rounding and packing of exact intermediate results (SDM vol. 1, 4.8.4 and
//! 4.9.1.4/4.9.1.5), operand unpacking and NaN propagation (table 4-7).

use crate::types::{Control, Exceptions, Flags, Rounding, F80};

/// Exponent bias adjustment applied to the delivered result on an unmasked
/// numeric overflow (subtracted) or underflow (added) when the destination is
/// a register (SDM vol. 1, 4.9.1.4 and 4.9.1.5).
pub const UNMASKED_BIAS_ADJUST: i32 = 24576;

/// Destination of a rounding step.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Format {
    /// Significand bits kept (24, 53 or 64).
    pub prec: u32,
    /// Largest biased exponent of a finite value in the destination format.
    pub emax: i32,
    /// True when the destination is a register (unmasked #O/#U deliver a
    /// bias-adjusted result); false for a memory destination (no store).
    pub reg: bool,
    /// Treat the result as inexact even if it is representable (the x87
    /// transcendental instructions always report #P, and #U for tiny
    /// results).
    pub force_inexact: bool,
}

impl Format {
    /// The double extended-precision register format with precision control.
    pub(crate) const fn reg(prec: u32) -> Format {
        Format {
            prec,
            emax: 0x7FFE,
            reg: true,
            force_inexact: false,
        }
    }
}

/// A rounded result: sign, biased exponent in the destination format, and a
/// 64-bit significand laid out as in the extended format (explicit integer
/// bit 63; for a 24/53-bit destination the low bits are zero). A denormal has
/// exponent 0 and bit 63 clear.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Rounded {
    pub sign: bool,
    pub exp: i32,
    pub sig: u64,
    pub flags: Flags,
}

impl Rounded {
    pub(crate) fn to_f80(self) -> (F80, Flags) {
        (F80::new(self.sign, self.exp as u16, self.sig), self.flags)
    }
}

/// Round `sig` (only its bits above `sh` kept) per `rc`. Returns the
/// truncated-or-incremented value, whether it carried out of bit 127 (then
/// the value is 2^127 and the caller must bump the exponent), inexactness and
/// whether the magnitude was increased.
#[inline]
pub(crate) fn round_bits(sig: u128, sh: u32, rc: Rounding, sign: bool) -> (u128, bool, bool, bool) {
    let mask = (1u128 << sh) - 1;
    let rem = sig & mask;
    let trunc = sig & !mask;
    if rem == 0 {
        return (trunc, false, false, false);
    }
    let half = 1u128 << (sh - 1);
    let inc = match rc {
        Rounding::Nearest => rem > half || (rem == half && (trunc >> sh) & 1 == 1),
        Rounding::TowardZero => false,
        Rounding::Up => !sign,
        Rounding::Down => sign,
    };
    if inc {
        match trunc.checked_add(1u128 << sh) {
            Some(v) => (v, false, true, true),
            None => (1u128 << 127, true, true, true),
        }
    } else {
        (trunc, false, true, false)
    }
}

/// Shift right by `n` keeping a sticky bit in bit 0.
#[inline]
pub(crate) fn shr_sticky(x: u128, n: u32) -> u128 {
    if n == 0 {
        x
    } else if n >= 128 {
        (x != 0) as u128
    } else {
        (x >> n) | ((x & ((1u128 << n) - 1) != 0) as u128)
    }
}

/// The largest finite magnitude of `fmt` (all `prec` significand bits set).
fn max_finite(sign: bool, fmt: Format) -> (i32, u64) {
    let _ = sign;
    (fmt.emax, u64::MAX << (64 - fmt.prec))
}

/// Round and pack an exact intermediate result
/// `value = (-1)^sign × sig × 2^(e − 16383 − 127)` (with `e` expressed in the
/// destination's biased exponent) into the destination format.
///
/// Implements the x87 rules: precision control rounds the significand at a
/// fixed bit position of the 64-bit field (also for denormals), tininess is
/// detected after rounding, masked underflow delivers a denormal (and flags
/// #U only if inexact), unmasked underflow/overflow flag #U/#O and deliver the
/// result with the exponent adjusted by ±24576 for a register destination,
/// masked overflow delivers ∞ or the largest finite value per RC.
pub(crate) fn round_pack(
    sign: bool,
    mut e: i32,
    mut sig: u128,
    fmt: Format,
    ctl: Control,
    mut ex: Exceptions,
) -> Rounded {
    let rc = ctl.rounding;
    if sig == 0 {
        if fmt.force_inexact {
            ex |= Exceptions::PE;
        }
        return Rounded {
            sign,
            exp: 0,
            sig: 0,
            flags: Flags::of(ex),
        };
    }
    let lz = sig.leading_zeros();
    sig <<= lz;
    e -= lz as i32;
    let sh = 128 - fmt.prec;

    if e < 1 {
        // Tininess after rounding: the result rounded to `prec` bits with an
        // unbounded exponent is below the smallest normal.
        let (_, carry, inexact_n, up_n) = round_bits(sig, sh, rc, sign);
        let tiny = e < 0 || !carry;
        let um = ctl.masked(Exceptions::UE);
        if !um && tiny {
            ex |= Exceptions::UE;
            if !fmt.reg {
                return Rounded {
                    sign,
                    exp: 0,
                    sig: 0,
                    flags: Flags {
                        ex,
                        c1: false,
                        suppressed: true,
                    },
                };
            }
            // Deliver the normalized rounded result with exponent + 24576.
            let (v, carry, inexact, up) = round_bits(sig, sh, rc, sign);
            let inexact = inexact || fmt.force_inexact;
            let _ = (inexact_n, up_n);
            let mut e2 = e + UNMASKED_BIAS_ADJUST;
            if carry {
                e2 += 1;
            }
            if inexact {
                ex |= Exceptions::PE;
            }
            if e2 < 1 {
                // Still too small after the adjustment (only FSCALE can get
                // here): a signed zero is delivered.
                return Rounded {
                    sign,
                    exp: 0,
                    sig: 0,
                    flags: Flags {
                        ex: ex | Exceptions::PE,
                        c1: false,
                        suppressed: false,
                    },
                };
            }
            return Rounded {
                sign,
                exp: e2,
                sig: (v >> 64) as u64,
                flags: Flags {
                    ex,
                    c1: up,
                    suppressed: false,
                },
            };
        }
        // Masked response: denormalize, then round at the same bit position.
        let d = shr_sticky(sig, (1 - e) as u32);
        let (v, _carry, inexact, up) = round_bits(d, sh, rc, sign);
        let inexact = inexact || fmt.force_inexact;
        if inexact {
            ex |= Exceptions::PE;
            if tiny {
                ex |= Exceptions::UE;
            }
        }
        // `v` cannot carry out of bit 127 after a shift of at least 1.
        let s = (v >> 64) as u64;
        let exp = (s >> 63) as i32; // rounding up into the J-bit makes it normal
        return Rounded {
            sign,
            exp,
            sig: s,
            flags: Flags {
                ex,
                c1: up,
                suppressed: false,
            },
        };
    }

    let (v, carry, inexact, up) = round_bits(sig, sh, rc, sign);
    let inexact = inexact || fmt.force_inexact;
    if carry {
        e += 1;
    }
    if inexact {
        ex |= Exceptions::PE;
    }
    let s = (v >> 64) as u64;
    if e > fmt.emax {
        ex |= Exceptions::OE;
        if !ctl.masked(Exceptions::OE) {
            if !fmt.reg {
                // Nothing is stored, and #P is not reported.
                return Rounded {
                    sign,
                    exp: 0,
                    sig: 0,
                    flags: Flags {
                        ex: ex.without(Exceptions::PE),
                        c1: false,
                        suppressed: true,
                    },
                };
            }
            let e2 = e - UNMASKED_BIAS_ADJUST;
            if e2 <= fmt.emax {
                return Rounded {
                    sign,
                    exp: e2,
                    sig: s,
                    flags: Flags {
                        ex,
                        c1: up,
                        suppressed: false,
                    },
                };
            }
            // Still out of range after the adjustment (only FSCALE can get
            // here): ∞ is delivered whatever the rounding mode.
            return Rounded {
                sign,
                exp: fmt.emax + 1,
                sig: 1 << 63,
                flags: Flags {
                    ex: ex | Exceptions::PE,
                    c1: true,
                    suppressed: false,
                },
            };
        }
        ex |= Exceptions::PE;
        let to_inf = match rc {
            Rounding::Nearest => true,
            Rounding::TowardZero => false,
            Rounding::Up => !sign,
            Rounding::Down => sign,
        };
        let (exp, sig) = if to_inf {
            (fmt.emax + 1, 1u64 << 63)
        } else {
            max_finite(sign, fmt)
        };
        return Rounded {
            sign,
            exp,
            sig,
            flags: Flags {
                ex,
                c1: to_inf,
                suppressed: false,
            },
        };
    }
    Rounded {
        sign,
        exp: e,
        sig: s,
        flags: Flags {
            ex,
            c1: up,
            suppressed: false,
        },
    }
}

/// Round an exact intermediate into the register format under the current
/// precision control; see [`round_pack`].
pub(crate) fn round_reg(
    sign: bool,
    e: i32,
    sig: u128,
    ctl: Control,
    ex: Exceptions,
) -> (F80, Flags) {
    round_pack(sign, e, sig, Format::reg(ctl.precision.bits()), ctl, ex).to_f80()
}

/// Round into the register format at 64-bit precision, reporting the result
/// as inexact (#P, and #U if tiny) even when it is exact, as the x87
/// transcendental instructions do.
pub(crate) fn round_trans(
    sign: bool,
    e: i32,
    sig: u128,
    ctl: Control,
    ex: Exceptions,
) -> (F80, Flags) {
    let fmt = Format {
        force_inexact: true,
        ..Format::reg(64)
    };
    round_pack(sign, e, sig, fmt, ctl, ex).to_f80()
}

/// Round into the register format at full 64-bit precision regardless of PC.
pub(crate) fn round_reg64(
    sign: bool,
    e: i32,
    sig: u128,
    ctl: Control,
    ex: Exceptions,
) -> (F80, Flags) {
    round_pack(sign, e, sig, Format::reg(64), ctl, ex).to_f80()
}

/// A finite non-zero operand with a normalized significand:
/// `value = (-1)^sign × sig × 2^(exp − 16383 − 63)`, bit 63 of `sig` set.
/// `exp` may be below 1 for (normalized) denormals.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Unpacked {
    pub sign: bool,
    pub exp: i32,
    pub sig: u64,
}

/// An operand as the arithmetic instructions see it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Operand {
    /// ±0
    Zero(bool),
    /// Finite non-zero; `denormal` is set for denormals and pseudo-denormals.
    Finite(Unpacked, bool),
    /// ±∞
    Inf(bool),
    /// QNaN or SNaN (the original encoding).
    NaN,
    /// Pseudo-NaN, pseudo-infinity or unnormal.
    Unsupported,
}

impl Operand {
    pub(crate) fn is_denormal(self) -> bool {
        matches!(self, Operand::Finite(_, true))
    }
}

/// Unpack an operand, additionally marking it as a denormal operand when
/// `den` is set (a single/double memory operand that was denormal in its own
/// format is widened to a normal extended value but still raises #D).
pub(crate) fn operand_d(x: F80, den: bool) -> Operand {
    match operand(x) {
        Operand::Finite(u, d) => Operand::Finite(u, d || den),
        o => o,
    }
}

/// Unpack an operand, normalizing denormals and pseudo-denormals.
pub(crate) fn operand(x: F80) -> Operand {
    let sign = x.sign();
    let e = x.exp() as i32;
    let s = x.signif;
    let j = s >> 63 != 0;
    match e {
        0 => {
            if s == 0 {
                Operand::Zero(sign)
            } else {
                let lz = s.leading_zeros();
                Operand::Finite(
                    Unpacked {
                        sign,
                        exp: 1 - lz as i32,
                        sig: s << lz,
                    },
                    true,
                )
            }
        }
        0x7FFF => {
            if !j {
                Operand::Unsupported
            } else if s << 1 == 0 {
                Operand::Inf(sign)
            } else {
                Operand::NaN
            }
        }
        _ => {
            if j {
                Operand::Finite(
                    Unpacked {
                        sign,
                        exp: e,
                        sig: s,
                    },
                    false,
                )
            } else {
                Operand::Unsupported
            }
        }
    }
}

/// `x` as the x87 delivers an operand it passes through unchanged (FSCALE
/// by a factor that truncates to 0, FPREM/FPREM1 of a finite value by ∞):
/// the same value without rounding or an underflow check, so a denormal
/// stays a denormal even with #U unmasked (only #D is reported); a
/// pseudo-denormal becomes its canonical form with exponent 1.
pub(crate) fn passthrough(x: F80, ctl: Control, ex: Exceptions) -> (F80, Flags) {
    let v = if x.exp() == 0 && x.signif >> 63 != 0 {
        F80::new(x.sign(), 1, x.signif)
    } else {
        x
    };
    exact(v, ctl, ex)
}

/// The masked or unmasked response to an invalid operation producing a
/// floating-point result: real indefinite, or suppression if #IA unmasked.
pub(crate) fn invalid(ctl: Control, ex: Exceptions) -> (F80, Flags) {
    (
        F80::INDEFINITE,
        Flags {
            ex: ex | Exceptions::IE,
            c1: false,
            suppressed: !ctl.masked(Exceptions::IE),
        },
    )
}

/// Result for an exact (unrounded) special value with accumulated flags;
/// suppressed if any of the pre-computation exceptions is unmasked.
pub(crate) fn exact(v: F80, ctl: Control, ex: Exceptions) -> (F80, Flags) {
    let pre = Exceptions(ex.0 & (Exceptions::IE.0 | Exceptions::DE.0 | Exceptions::ZE.0));
    (
        v,
        Flags {
            ex,
            c1: false,
            suppressed: pre.0 & !ctl.masks.0 != 0,
        },
    )
}

/// One NaN operand: quiet it, #IA if it was signaling.
pub(crate) fn propagate1(a: F80, ctl: Control) -> (F80, Flags) {
    let ex = if a.is_snan() {
        Exceptions::IE
    } else {
        Exceptions::NONE
    };
    exact(a.quieted(), ctl, ex)
}

/// NaN propagation for two operands per SDM vol. 1 table 4-7 (x87 rules):
/// an SNaN is quieted and raises #IA; SNaN with QNaN → the QNaN; two NaNs of
/// the same kind → the one with the larger significand (on a tie the one
/// with the positive sign).
pub(crate) fn propagate2(a: F80, b: F80, ctl: Control) -> (F80, Flags) {
    let (an, bn) = (a.is_nan(), b.is_nan());
    let (asn, bsn) = (a.is_snan(), b.is_snan());
    let ex = if asn || bsn {
        Exceptions::IE
    } else {
        Exceptions::NONE
    };
    let larger = |a: F80, b: F80| {
        let (qa, qb) = (a.quieted(), b.quieted());
        if qa.signif > qb.signif {
            qa
        } else if qb.signif > qa.signif {
            qb
        } else if qa.sign_exp <= qb.sign_exp {
            qa
        } else {
            qb
        }
    };
    let r = if an && bn {
        if asn == bsn {
            larger(a, b)
        } else if asn {
            b
        } else {
            a
        }
    } else if an {
        a.quieted()
    } else {
        b.quieted()
    };
    exact(r, ctl, ex)
}

/// Common prologue of a two-operand arithmetic instruction: unsupported
/// encodings → #IA / indefinite, NaNs → propagation. Returns `None` when both
/// operands are numbers (zero, finite, infinity).
pub(crate) fn nan_prologue(a: F80, b: F80, ctl: Control) -> Option<(F80, Flags)> {
    let (oa, ob) = (operand(a), operand(b));
    if oa == Operand::Unsupported || ob == Operand::Unsupported {
        return Some(invalid(ctl, Exceptions::NONE));
    }
    if oa == Operand::NaN || ob == Operand::NaN {
        return Some(propagate2(a, b, ctl));
    }
    None
}

/// True if the pre-computation exceptions in `ex` include an unmasked one
/// (the instruction must then not compute a result).
pub(crate) fn pre_unmasked(ex: Exceptions, ctl: Control) -> bool {
    ex.0 & (Exceptions::IE.0 | Exceptions::DE.0 | Exceptions::ZE.0) & !ctl.masks.0 != 0
}

/// Suppressed result carrying only the detected exceptions.
pub(crate) fn suppressed(ex: Exceptions) -> (F80, Flags) {
    (
        F80::INDEFINITE,
        Flags {
            ex,
            c1: false,
            suppressed: true,
        },
    )
}

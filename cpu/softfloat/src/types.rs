//! The double extended-precision register format, the control word fields
//! that influence arithmetic and the exception / condition-code results.

/// An x87 80-bit double extended-precision value, exactly as held in a data
/// register or stored by `FSTP m80fp` (Intel SDM vol. 1, 4.2.2 and 8.2).
///
/// Unlike single and double precision, the integer bit (J-bit, bit 63 of
/// `signif`) is explicit, which makes a number of encodings possible that the
/// x87 does not generate itself (pseudo-NaNs, pseudo-infinities, unnormals,
/// pseudo-denormals, SDM table 8-3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct F80 {
    /// Significand including the explicit integer bit (bit 63).
    pub signif: u64,
    /// Sign (bit 15) and biased exponent (bits 14..0, bias 16383).
    pub sign_exp: u16,
}

impl core::fmt::Debug for F80 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "F80({:04X}_{:016X})", self.sign_exp, self.signif)
    }
}

/// The exponent bias of the double extended-precision format.
pub const BIAS: i32 = 16383;

/// Classification of an 80-bit register value, following the encodings of
/// SDM vol. 1 table 8-3 and the categories `FXAM` reports.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Class {
    /// ±0 (exponent 0, significand 0).
    Zero,
    /// Denormal: exponent 0, J-bit clear, significand non-zero.
    Denormal,
    /// Pseudo-denormal: exponent 0 with the J-bit set. The x87 accepts it as an
    /// operand (raising #D) and treats it as if the exponent were 1.
    PseudoDenormal,
    /// Normalized finite value.
    Normal,
    /// ±∞ (exponent all ones, significand 8000_0000_0000_0000).
    Infinity,
    /// Quiet NaN (J-bit and bit 62 set).
    QNaN,
    /// Signaling NaN (J-bit set, bit 62 clear, fraction non-zero).
    SNaN,
    /// Unsupported encoding: pseudo-NaN, pseudo-infinity (exponent all ones
    /// with J-bit clear) or unnormal (exponent non-zero, J-bit clear). These
    /// raise the invalid-operation exception when used as arithmetic operands.
    Unsupported,
}

impl F80 {
    /// +0.0
    pub const ZERO: F80 = F80::new(false, 0, 0);
    /// +1.0
    pub const ONE: F80 = F80::new(false, 0x3FFF, 1 << 63);
    /// +∞
    pub const INFINITY: F80 = F80::new(false, 0x7FFF, 1 << 63);
    /// The *real indefinite* QNaN (FFFF_C000_0000_0000_0000), the masked
    /// response to an invalid operation (SDM vol. 1, 4.8.3.7).
    pub const INDEFINITE: F80 = F80::new(true, 0x7FFF, 0xC000_0000_0000_0000);

    /// Build a value from sign, 15-bit biased exponent and 64-bit significand.
    pub const fn new(sign: bool, exp: u16, signif: u64) -> F80 {
        F80 {
            signif,
            sign_exp: ((sign as u16) << 15) | (exp & 0x7FFF),
        }
    }

    /// Decode the 10-byte little-endian memory image (`m80fp`).
    pub const fn from_le_bytes(b: [u8; 10]) -> F80 {
        let signif = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        F80 {
            signif,
            sign_exp: u16::from_le_bytes([b[8], b[9]]),
        }
    }

    /// Encode as the 10-byte little-endian memory image (`m80fp`).
    pub const fn to_le_bytes(self) -> [u8; 10] {
        let s = self.signif.to_le_bytes();
        let e = self.sign_exp.to_le_bytes();
        [s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], e[0], e[1]]
    }

    /// Sign bit.
    pub const fn sign(self) -> bool {
        self.sign_exp & 0x8000 != 0
    }

    /// Biased exponent (0..=0x7FFF).
    pub const fn exp(self) -> u16 {
        self.sign_exp & 0x7FFF
    }

    /// Classify the encoding (SDM vol. 1 table 8-3).
    pub const fn class(self) -> Class {
        let j = self.signif >> 63 != 0;
        match self.exp() {
            0 => {
                if self.signif == 0 {
                    Class::Zero
                } else if j {
                    Class::PseudoDenormal
                } else {
                    Class::Denormal
                }
            }
            0x7FFF => {
                if !j {
                    Class::Unsupported
                } else if self.signif << 1 == 0 {
                    Class::Infinity
                } else if self.signif & (1 << 62) != 0 {
                    Class::QNaN
                } else {
                    Class::SNaN
                }
            }
            _ => {
                if j {
                    Class::Normal
                } else {
                    Class::Unsupported
                }
            }
        }
    }

    /// True for QNaN and SNaN (not for pseudo-NaNs, which are unsupported).
    pub const fn is_nan(self) -> bool {
        matches!(self.class(), Class::QNaN | Class::SNaN)
    }

    /// True for a signaling NaN.
    pub const fn is_snan(self) -> bool {
        matches!(self.class(), Class::SNaN)
    }

    /// True for ±0.
    pub const fn is_zero(self) -> bool {
        self.exp() == 0 && self.signif == 0
    }

    /// `FABS`: clear the sign bit. Never raises an exception, operates on the
    /// encoding (NaNs and unsupported encodings included).
    pub const fn abs(self) -> F80 {
        F80 {
            signif: self.signif,
            sign_exp: self.sign_exp & 0x7FFF,
        }
    }

    /// `FCHS`: complement the sign bit. Never raises an exception.
    pub const fn chs(self) -> F80 {
        F80 {
            signif: self.signif,
            sign_exp: self.sign_exp ^ 0x8000,
        }
    }

    /// The value with its sign replaced.
    pub const fn with_sign(self, sign: bool) -> F80 {
        F80::new(sign, self.exp(), self.signif)
    }

    /// Quiet a NaN by setting significand bit 62 (the x87 response to an
    /// SNaN operand when #IA is masked).
    pub const fn quieted(self) -> F80 {
        F80 {
            signif: self.signif | (1 << 62),
            sign_exp: self.sign_exp,
        }
    }
}

/// Condition codes C0..C3 as set by `FXAM`, `FPREM`/`FPREM1` and the
/// compare instructions (SDM vol. 1, 8.1.3).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CondCodes {
    /// C0
    pub c0: bool,
    /// C1 (sign of ST(0))
    pub c1: bool,
    /// C2
    pub c2: bool,
    /// C3
    pub c3: bool,
}

impl CondCodes {
    /// The condition-code bits positioned as in the FPU status word
    /// (C0 bit 8, C1 bit 9, C2 bit 10, C3 bit 14).
    pub const fn status_bits(self) -> u16 {
        ((self.c0 as u16) << 8)
            | ((self.c1 as u16) << 9)
            | ((self.c2 as u16) << 10)
            | ((self.c3 as u16) << 14)
    }
}

/// `FXAM` for a non-empty register: C3,C2,C0 = 000 unsupported, 001 NaN,
/// 010 normal, 011 infinity, 100 zero, 110 denormal (pseudo-denormals
/// included); C1 = sign. An empty register (101) is the caller's business.
pub const fn fxam(x: F80) -> CondCodes {
    let (c3, c2, c0) = match x.class() {
        Class::Unsupported => (false, false, false),
        Class::QNaN | Class::SNaN => (false, false, true),
        Class::Normal => (false, true, false),
        Class::Infinity => (false, true, true),
        Class::Zero => (true, false, false),
        Class::Denormal | Class::PseudoDenormal => (true, true, false),
    };
    CondCodes {
        c0,
        c1: x.sign(),
        c2,
        c3,
    }
}

/// Precision control (FPU control word bits 9..8, SDM vol. 1, 8.1.5.2).
/// It rounds the significand of arithmetic results only; the exponent range
/// stays that of the double extended-precision format.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Precision {
    /// PC=00: 24-bit significand.
    Single,
    /// PC=10: 53-bit significand.
    Double,
    /// PC=11 (and the reserved PC=01, treated likewise here): 64-bit.
    Extended,
}

impl Precision {
    /// Number of significand bits kept.
    pub const fn bits(self) -> u32 {
        match self {
            Precision::Single => 24,
            Precision::Double => 53,
            Precision::Extended => 64,
        }
    }
}

/// Rounding control (FPU control word bits 11..10, SDM vol. 1, 4.8.4).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Rounding {
    /// RC=00: round to nearest (even).
    Nearest,
    /// RC=01: round down, toward −∞.
    Down,
    /// RC=10: round up, toward +∞.
    Up,
    /// RC=11: round toward zero (truncate).
    TowardZero,
}

/// A set of x87 floating-point exception flags, with the same bit positions
/// as in the status word (and as the mask bits in the control word):
/// IE=bit 0, DE=1, ZE=2, OE=3, UE=4, PE=5.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Exceptions(pub u8);

impl Exceptions {
    /// No exception.
    pub const NONE: Exceptions = Exceptions(0);
    /// Invalid operation (#I; #IA for arithmetic operands).
    pub const IE: Exceptions = Exceptions(1);
    /// Denormal operand (#D).
    pub const DE: Exceptions = Exceptions(2);
    /// Divide by zero (#Z).
    pub const ZE: Exceptions = Exceptions(4);
    /// Numeric overflow (#O).
    pub const OE: Exceptions = Exceptions(8);
    /// Numeric underflow (#U).
    pub const UE: Exceptions = Exceptions(16);
    /// Inexact result / precision (#P).
    pub const PE: Exceptions = Exceptions(32);
    /// All six exceptions.
    pub const ALL: Exceptions = Exceptions(63);

    /// True if all flags of `other` are set in `self`.
    pub const fn contains(self, other: Exceptions) -> bool {
        self.0 & other.0 == other.0
    }

    /// True if any flag of `other` is set in `self`.
    pub const fn intersects(self, other: Exceptions) -> bool {
        self.0 & other.0 != 0
    }

    /// Set union.
    pub const fn union(self, other: Exceptions) -> Exceptions {
        Exceptions(self.0 | other.0)
    }

    /// Set difference.
    pub const fn without(self, other: Exceptions) -> Exceptions {
        Exceptions(self.0 & !other.0)
    }

    /// The raw bits (status word bits 5..0).
    pub const fn bits(self) -> u8 {
        self.0
    }
}

impl core::ops::BitOr for Exceptions {
    type Output = Exceptions;
    fn bitor(self, rhs: Exceptions) -> Exceptions {
        Exceptions(self.0 | rhs.0)
    }
}

impl core::ops::BitOrAssign for Exceptions {
    fn bitor_assign(&mut self, rhs: Exceptions) {
        self.0 |= rhs.0;
    }
}

impl core::fmt::Debug for Exceptions {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let names = ["IE", "DE", "ZE", "OE", "UE", "PE"];
        let mut first = true;
        write!(f, "[")?;
        for (i, n) in names.iter().enumerate() {
            if self.0 & (1 << i) != 0 {
                if !first {
                    write!(f, "|")?;
                }
                write!(f, "{n}")?;
                first = false;
            }
        }
        write!(f, "]")
    }
}

/// The arithmetic-relevant part of the FPU control word: precision control,
/// rounding control and the six exception masks (SDM vol. 1, 8.1.5).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Control {
    /// Precision control (PC).
    pub precision: Precision,
    /// Rounding control (RC).
    pub rounding: Rounding,
    /// Exception masks (IM, DM, ZM, OM, UM, PM): a set bit masks the
    /// exception, so the x87 delivers its default (masked) response.
    pub masks: Exceptions,
}

impl Default for Control {
    fn default() -> Control {
        Control::from_fcw(0x037F)
    }
}

impl Control {
    /// The state after `FNINIT`: control word 037Fh (64-bit precision, round
    /// to nearest, all exceptions masked).
    pub const FNINIT: Control = Control::from_fcw(0x037F);

    /// Decode a 16-bit FPU control word.
    pub const fn from_fcw(cw: u16) -> Control {
        let precision = match (cw >> 8) & 3 {
            0 => Precision::Single,
            2 => Precision::Double,
            _ => Precision::Extended,
        };
        let rounding = match (cw >> 10) & 3 {
            0 => Rounding::Nearest,
            1 => Rounding::Down,
            2 => Rounding::Up,
            _ => Rounding::TowardZero,
        };
        Control {
            precision,
            rounding,
            masks: Exceptions((cw & 0x3F) as u8),
        }
    }

    /// Encode as a control word (reserved bit 6 set, as `FNSTCW` shows it).
    pub const fn to_fcw(self) -> u16 {
        let pc = match self.precision {
            Precision::Single => 0,
            Precision::Double => 2,
            Precision::Extended => 3,
        };
        let rc = match self.rounding {
            Rounding::Nearest => 0,
            Rounding::Down => 1,
            Rounding::Up => 2,
            Rounding::TowardZero => 3,
        };
        0x40 | (self.masks.0 as u16 & 0x3F) | (pc << 8) | (rc << 10)
    }

    /// The same control with a different rounding mode.
    pub const fn with_rounding(self, rounding: Rounding) -> Control {
        Control {
            precision: self.precision,
            rounding,
            masks: self.masks,
        }
    }

    /// The same control with a different precision.
    pub const fn with_precision(self, precision: Precision) -> Control {
        Control {
            precision,
            rounding: self.rounding,
            masks: self.masks,
        }
    }

    /// True if exception `e` is masked.
    pub const fn masked(self, e: Exceptions) -> bool {
        self.masks.contains(e)
    }
}

/// Status information produced by an operation: the exception flags it
/// raised and the condition code C1, which after an arithmetic instruction
/// means "the result was rounded up" (magnitude increased, SDM vol. 1 8.1.3.1).
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct Flags {
    /// Exceptions detected (to be ORed into the status word's sticky flags).
    pub ex: Exceptions,
    /// C1: set when the inexact result was rounded up in magnitude.
    pub c1: bool,
    /// True when the destination must be left unchanged: an unmasked #I,
    /// #D or #Z was detected (the operation is not performed, SDM vol. 1
    /// 8.5), or an unmasked #O/#U occurred on a store to memory.
    pub suppressed: bool,
}

impl Flags {
    /// Flags holding just `ex`.
    pub const fn of(ex: Exceptions) -> Flags {
        Flags {
            ex,
            c1: false,
            suppressed: false,
        }
    }

    /// The raised exceptions that are not masked by `ctl` — if non-empty,
    /// the CPU must signal #MF / FERR# at the next waiting instruction.
    pub const fn unmasked(self, ctl: Control) -> Exceptions {
        Exceptions(self.ex.0 & !ctl.masks.0 & 0x3F)
    }
}

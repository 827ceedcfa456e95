//! Lazily evaluated arithmetic flags.
//!
//! Most flag results are overwritten before anything reads them, so ALU instructions
//! record their operands and result and the six status flags are computed only when
//! a Jcc, SETcc, PUSHF or similar asks. Shifts, multiplies and the rarer instructions
//! write EFLAGS directly (`op == NONE`).

use crate::ops::mask;
use crate::state::{fl, CpuState};

/// Kinds of pending flag computations (`LazyFlags::op` low byte).
pub mod lf {
    /// Flags are materialized in EFLAGS.
    pub const NONE: u32 = 0;
    /// ADD (and XADD).
    pub const ADD: u32 = 1;
    /// ADC with `cin` as the carry in.
    pub const ADC: u32 = 2;
    /// SUB, CMP, CMPXCHG.
    pub const SUB: u32 = 3;
    /// SBB with `cin` as the borrow in.
    pub const SBB: u32 = 4;
    /// AND, OR, XOR, TEST: CF=OF=AF=0.
    pub const LOGIC: u32 = 5;
    /// INC: like ADD 1, CF kept in EFLAGS.
    pub const INC: u32 = 6;
    /// DEC: like SUB 1, CF kept in EFLAGS.
    pub const DEC: u32 = 7;
    /// NEG: 0 - b.
    pub const NEG: u32 = 8;
    /// Operand size field: 8-bit.
    pub const B8: u32 = 0 << 8;
    /// Operand size field: 16-bit.
    pub const B16: u32 = 1 << 8;
    /// Operand size field: 32-bit.
    pub const B32: u32 = 2 << 8;
}

/// Producers only generated code records (`LazyFlags::op & 0xFF >= jk::FIRST`).
/// They never reach the interpreter: a module's epilogue materializes them into
/// EFLAGS (`lf::NONE`) before it stores the state. They let shifts and multiplies
/// record their operands instead of computing six flags that the next ALU
/// instruction usually overwrites. Their flags are described by [`formula`] with
/// the others.
pub mod jk {
    /// First private kind.
    pub const FIRST: u32 = 0x10;
    /// SHL/SAL: `a` the operand (masked to the size), `b` the count (1..=31), `res` the result.
    pub const SHL: u32 = 0x10;
    /// SHR: as SHL.
    pub const SHR: u32 = 0x11;
    /// SAR: as SHL, `a` masked (not sign-extended).
    pub const SAR: u32 = 0x12;
    /// MUL/IMUL: `res` the low half, `b` non-zero when the product did not fit
    /// (CF = OF = `b != 0`, SF and PF from `res`, ZF = AF = 0 as on Intel).
    pub const MUL: u32 = 0x13;
    /// SHLD/SHRD (32-bit): `res` the result, `b` CF in bit 0 and OF in bit 11
    /// (their EFLAGS position), SF, ZF and PF from `res`, AF = 0.
    pub const DBL: u32 = 0x14;
}

/// A value a producer recorded ([`LazyFlags`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Src {
    /// The result.
    Res,
    /// The first operand.
    A,
    /// The second operand.
    B,
}

/// How one status flag follows from a recorded producer: the one description of
/// lazy flags, evaluated by the interpreter ([`CpuState::cf`] and the others) and
/// compiled by the JIT (`jit::flags`). "On the size" means masked to the
/// producer's operand size (its mask, or its sign bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Formula {
    /// As EFLAGS holds it (flags materialized, or kept across the producer, as
    /// INC and DEC keep CF).
    Kept,
    /// Always this value.
    Const(bool),
    /// Carry or borrow out: `x < y` on the size, or `x <= y` when `cin` and the
    /// recorded carry-in is set (ADC, SBB).
    Below {
        /// Left side.
        x: Src,
        /// Right side.
        y: Src,
        /// The carry-in turns `<` into `<=`.
        cin: bool,
    },
    /// The value is not zero on the size.
    NonZero(Src),
    /// The value is zero on the size.
    Zero(Src),
    /// The value's sign bit on the size.
    Sign(Src),
    /// Even parity of the value's low byte.
    Parity(Src),
    /// Bit `bit` of the XOR of the values (AF: the carry into bit 4).
    XorBit(&'static [Src], u32),
    /// The sign bit of `(a ^ res) & (b ^ res)`: signed overflow of an addition.
    AddOverflow,
    /// The sign bit of `(a ^ b) & (a ^ res)`: signed overflow of a subtraction.
    SubOverflow,
    /// The value on the size is exactly its sign bit (NEG of the most negative number).
    MostNegative(Src),
    /// SHL's CF: bit `width` of `a << b` computed in 64 bits.
    ShlOut,
    /// SHR's and SAR's CF: bit `b - 1` of `a`, sign-extended from the size when `arith`.
    ShrOut {
        /// SAR: shift in copies of the sign bit.
        arith: bool,
    },
    /// SHL's OF as Intel computes it for any count: `MSB(a) ^ MSB-1(a)`.
    ShlOverflow,
}

/// The status flags [`formula`] describes, by their EFLAGS bit.
pub const STATUS_FLAGS: [u32; 6] = [fl::CF, fl::PF, fl::AF, fl::ZF, fl::SF, fl::OF];

/// How status flag `flag` (an `fl::` bit of [`STATUS_FLAGS`]) follows from a
/// producer of `kind` (`lf::` or `jk::`).
#[inline(always)]
pub const fn formula(kind: u32, flag: u32) -> Formula {
    use Formula::*;
    use Src::*;
    if kind == lf::NONE {
        return Kept;
    }
    match flag {
        fl::CF => match kind {
            lf::ADD => Below {
                x: Res,
                y: A,
                cin: false,
            },
            lf::ADC => Below {
                x: Res,
                y: A,
                cin: true,
            },
            lf::SUB => Below {
                x: A,
                y: B,
                cin: false,
            },
            lf::SBB => Below {
                x: A,
                y: B,
                cin: true,
            },
            lf::NEG | jk::MUL => NonZero(B),
            lf::INC | lf::DEC => Kept,
            jk::SHL => ShlOut,
            jk::SHR => ShrOut { arith: false },
            jk::SAR => ShrOut { arith: true },
            jk::DBL => XorBit(&[B], 0),
            _ => Const(false),
        },
        fl::ZF => match kind {
            jk::MUL => Const(false),
            _ => Zero(Res),
        },
        fl::SF => Sign(Res),
        fl::PF => Parity(Res),
        fl::AF => match kind {
            lf::ADD | lf::ADC | lf::SUB | lf::SBB | lf::INC | lf::DEC => XorBit(&[A, B, Res], 4),
            lf::NEG => XorBit(&[B, Res], 4),
            _ => Const(false),
        },
        _ => match kind {
            lf::ADD | lf::ADC | lf::INC => AddOverflow,
            lf::SUB | lf::SBB | lf::DEC => SubOverflow,
            lf::NEG => MostNegative(Res),
            jk::MUL => NonZero(B),
            jk::SHL => ShlOverflow,
            jk::SHR => Sign(A),
            jk::DBL => XorBit(&[B], 11),
            _ => Const(false),
        },
    }
}

/// The pending flag computation: `op` (kind | size), operands `a`, `b`, carry-in and result.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LazyFlags {
    /// Kind in the low byte, operand size in bits 8-9 (see [`lf`]).
    pub op: u32,
    /// The result, unmasked.
    pub res: u32,
    /// First operand (destination before the operation).
    pub a: u32,
    /// Second operand.
    pub b: u32,
    /// Carry or borrow in for ADC/SBB.
    pub cin: u32,
}

/// Operand sizes in the encoding the flag helpers use: 0 = 8, 1 = 16, 2 = 32 bits.
pub type SizeCode = u32;

fn parity(v: u32) -> bool {
    (v as u8).count_ones() & 1 == 0
}

impl CpuState {
    /// Records a flag-setting operation for later evaluation.
    #[inline(always)]
    pub fn set_lazy(&mut self, op: u32, a: u32, b: u32, res: u32) {
        self.lazy = LazyFlags {
            op,
            res,
            a,
            b,
            cin: 0,
        };
    }

    /// Records ADC/SBB with its carry-in.
    #[inline(always)]
    pub fn set_lazy_carry(&mut self, op: u32, a: u32, b: u32, cin: u32, res: u32) {
        self.lazy = LazyFlags { op, res, a, b, cin };
    }

    /// INC/DEC: the carry flag survives, so it is pinned into EFLAGS first.
    #[inline(always)]
    pub fn set_lazy_keep_cf(&mut self, op: u32, a: u32, res: u32) {
        let cf = self.cf();
        self.eflags = (self.eflags & !fl::CF) | cf as u32;
        self.lazy = LazyFlags {
            op,
            res,
            a,
            b: 1,
            cin: 0,
        };
    }

    /// A recorded value.
    #[inline(always)]
    fn src(&self, v: Src) -> u32 {
        match v {
            Src::Res => self.lazy.res,
            Src::A => self.lazy.a,
            Src::B => self.lazy.b,
        }
    }

    /// Evaluates status flag `flag` of the pending producer by its [`formula`].
    #[inline(always)]
    fn eval(&self, flag: u32) -> bool {
        let kind = self.lazy.op & 0xFF;
        let bytes = 1 << ((self.lazy.op >> 8) & 3).min(2);
        let (m, sign) = (mask(bytes), crate::ops::sign(bytes));
        let l = &self.lazy;
        match formula(kind, flag) {
            Formula::Kept => self.eflags & flag != 0,
            Formula::Const(v) => v,
            Formula::Below { x, y, cin } => {
                let (x, y) = (self.src(x) & m, self.src(y) & m);
                if cin && l.cin != 0 {
                    x <= y
                } else {
                    x < y
                }
            }
            Formula::NonZero(v) => self.src(v) & m != 0,
            Formula::Zero(v) => self.src(v) & m == 0,
            Formula::Sign(v) => self.src(v) & sign != 0,
            Formula::Parity(v) => parity(self.src(v)),
            Formula::XorBit(vs, bit) => {
                let mut x = 0;
                for &v in vs {
                    x ^= self.src(v);
                }
                x >> bit & 1 != 0
            }
            Formula::AddOverflow => (l.a ^ l.res) & (l.b ^ l.res) & sign != 0,
            Formula::SubOverflow => (l.a ^ l.b) & (l.a ^ l.res) & sign != 0,
            Formula::MostNegative(v) => self.src(v) & m == sign,
            Formula::ShlOut => (u64::from(l.a) << (l.b & 63)) >> (8 * bytes) & 1 != 0,
            Formula::ShrOut { arith } => {
                let a = if arith {
                    crate::ops::sext(l.a, bytes)
                } else {
                    l.a
                };
                let n = l.b.wrapping_sub(1) & 31;
                (if arith {
                    (a as i32 >> n) as u32
                } else {
                    a >> n
                }) & 1
                    != 0
            }
            Formula::ShlOverflow => (l.a ^ l.a << 1) & sign != 0,
        }
    }

    /// Carry flag.
    #[inline]
    pub fn cf(&self) -> bool {
        self.eval(fl::CF)
    }

    /// Zero flag.
    #[inline]
    pub fn zf(&self) -> bool {
        self.eval(fl::ZF)
    }

    /// Sign flag.
    #[inline]
    pub fn sf(&self) -> bool {
        self.eval(fl::SF)
    }

    /// Parity flag (even parity of the low byte).
    #[inline]
    pub fn pf(&self) -> bool {
        self.eval(fl::PF)
    }

    /// Auxiliary-carry flag.
    #[inline]
    pub fn af(&self) -> bool {
        self.eval(fl::AF)
    }

    /// Overflow flag.
    #[inline]
    pub fn of(&self) -> bool {
        self.eval(fl::OF)
    }

    /// The full EFLAGS value with pending flags evaluated.
    pub fn flags(&self) -> u32 {
        if self.lazy.op & 0xFF == lf::NONE {
            return self.eflags;
        }
        let mut f = self.eflags & !fl::ARITH;
        let bit = |on: bool, b: u32| if on { b } else { 0 };
        f |= bit(self.cf(), fl::CF)
            | bit(self.pf(), fl::PF)
            | bit(self.af(), fl::AF)
            | bit(self.zf(), fl::ZF)
            | bit(self.sf(), fl::SF)
            | bit(self.of(), fl::OF);
        f
    }

    /// Evaluates pending flags into EFLAGS so they can be edited bit by bit.
    #[inline]
    pub fn materialize_flags(&mut self) {
        if self.lazy.op & 0xFF != lf::NONE {
            self.eflags = self.flags();
            self.lazy.op = lf::NONE;
        }
    }

    /// Sets the six status flags from `value`, leaving the others.
    #[inline]
    pub fn set_arith_flags(&mut self, value: u32) {
        self.eflags = (self.eflags & !fl::ARITH) | (value & fl::ARITH);
        self.lazy.op = lf::NONE;
    }

    /// Sets one status flag (materializing the rest first).
    #[inline]
    pub fn set_flag(&mut self, bit: u32, on: bool) {
        self.materialize_flags();
        if on {
            self.eflags |= bit;
        } else {
            self.eflags &= !bit;
        }
    }

    /// SF, ZF and PF of a result of `size`, as the logic and shift instructions set them.
    #[inline]
    pub fn szp(res: u32, size: SizeCode) -> u32 {
        let bytes = 1 << size.min(2);
        let mut f = 0;
        if res & mask(bytes) == 0 {
            f |= fl::ZF;
        }
        if res & crate::ops::sign(bytes) != 0 {
            f |= fl::SF;
        }
        if parity(res) {
            f |= fl::PF;
        }
        f
    }

    /// Evaluates condition code `cc` (the low nibble of Jcc/SETcc/CMOVcc opcodes).
    #[inline]
    pub fn cond(&self, cc: u8) -> bool {
        let r = match cc >> 1 {
            0 => self.of(),
            1 => self.cf(),
            2 => self.zf(),
            3 => self.cf() || self.zf(),
            4 => self.sf(),
            5 => self.pf(),
            6 => self.sf() != self.of(),
            _ => self.zf() || self.sf() != self.of(),
        };
        r != (cc & 1 != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st() -> CpuState {
        CpuState::reset()
    }

    #[test]
    fn add_and_sub_flags() {
        let mut s = st();
        s.set_lazy(lf::ADD | lf::B8, 0xFF, 0x01, 0x100);
        assert_eq!(s.flags() & fl::ARITH, fl::CF | fl::ZF | fl::AF | fl::PF);
        s.set_lazy(lf::ADD | lf::B8, 0x7F, 0x01, 0x80);
        assert_eq!(s.flags() & fl::ARITH, fl::OF | fl::SF | fl::AF);
        s.set_lazy(lf::SUB | lf::B32, 1, 2, 1u32.wrapping_sub(2));
        assert_eq!(s.flags() & fl::ARITH, fl::CF | fl::SF | fl::AF | fl::PF);
        assert!(s.cond(0x2) && s.cond(0xC) && !s.cond(0x7));
    }

    #[test]
    fn inc_keeps_carry_and_adc_uses_carry_in() {
        let mut s = st();
        s.set_lazy(lf::SUB | lf::B16, 0, 1, 0xFFFF_FFFF);
        assert!(s.cf());
        s.set_lazy_keep_cf(lf::INC | lf::B16, 0xFFFF, 0x1_0000);
        assert!(s.cf() && s.zf());
        s.set_lazy_carry(lf::ADC | lf::B8, 0xFF, 0xFF, 1, 0x1FF);
        assert!(s.cf() && !s.zf() && s.af());
        s.set_lazy_carry(lf::SBB | lf::B8, 0, 0, 1, 0xFFFF_FFFF);
        assert!(s.cf() && s.sf() && !s.of());
    }

    #[test]
    fn neg_overflow_and_carry() {
        let mut s = st();
        s.set_lazy(lf::NEG | lf::B8, 0, 0x80, 0x80);
        assert!(s.of() && s.cf());
        s.set_lazy(lf::NEG | lf::B8, 0, 0, 0);
        assert!(!s.cf() && s.zf());
    }
}

//! Lazily evaluated arithmetic flags.
//!
//! Most flag results are overwritten before anything reads them, so ALU instructions
//! record their operands and result and the six status flags are computed only when
//! a Jcc, SETcc, PUSHF or similar asks. Shifts, multiplies and the rarer instructions
//! write EFLAGS directly (`op == NONE`).

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

const MASK: [u32; 4] = [0xFF, 0xFFFF, 0xFFFF_FFFF, 0xFFFF_FFFF];
const SIGN: [u32; 4] = [0x80, 0x8000, 0x8000_0000, 0x8000_0000];

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

    #[inline(always)]
    fn lz(&self) -> (u32, usize) {
        (self.lazy.op & 0xFF, (self.lazy.op >> 8) as usize & 3)
    }

    /// Carry flag.
    #[inline]
    pub fn cf(&self) -> bool {
        let (k, s) = self.lz();
        let m = MASK[s];
        let l = &self.lazy;
        match k {
            lf::NONE | lf::INC | lf::DEC => self.eflags & fl::CF != 0,
            lf::ADD => l.res & m < l.a & m,
            lf::ADC => {
                if l.cin != 0 {
                    l.res & m <= l.a & m
                } else {
                    l.res & m < l.a & m
                }
            }
            lf::SUB => l.a & m < l.b & m,
            lf::SBB => {
                if l.cin != 0 {
                    l.a & m <= l.b & m
                } else {
                    l.a & m < l.b & m
                }
            }
            lf::NEG => l.b & m != 0,
            _ => false,
        }
    }

    /// Zero flag.
    #[inline]
    pub fn zf(&self) -> bool {
        let (k, s) = self.lz();
        if k == lf::NONE {
            self.eflags & fl::ZF != 0
        } else {
            self.lazy.res & MASK[s] == 0
        }
    }

    /// Sign flag.
    #[inline]
    pub fn sf(&self) -> bool {
        let (k, s) = self.lz();
        if k == lf::NONE {
            self.eflags & fl::SF != 0
        } else {
            self.lazy.res & SIGN[s] != 0
        }
    }

    /// Parity flag (even parity of the low byte).
    #[inline]
    pub fn pf(&self) -> bool {
        if self.lazy.op & 0xFF == lf::NONE {
            self.eflags & fl::PF != 0
        } else {
            parity(self.lazy.res)
        }
    }

    /// Auxiliary-carry flag.
    #[inline]
    pub fn af(&self) -> bool {
        let l = &self.lazy;
        match l.op & 0xFF {
            lf::NONE => self.eflags & fl::AF != 0,
            lf::LOGIC => false,
            lf::NEG => (l.b ^ l.res) & 0x10 != 0,
            _ => (l.a ^ l.b ^ l.res) & 0x10 != 0,
        }
    }

    /// Overflow flag.
    #[inline]
    pub fn of(&self) -> bool {
        let (k, s) = self.lz();
        let l = &self.lazy;
        let sign = SIGN[s];
        match k {
            lf::NONE => self.eflags & fl::OF != 0,
            lf::ADD | lf::ADC | lf::INC => (l.a ^ l.res) & (l.b ^ l.res) & sign != 0,
            lf::SUB | lf::SBB | lf::DEC => (l.a ^ l.b) & (l.a ^ l.res) & sign != 0,
            lf::NEG => l.res & MASK[s] == sign,
            _ => false,
        }
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
        let s = size as usize;
        let mut f = 0;
        if res & MASK[s] == 0 {
            f |= fl::ZF;
        }
        if res & SIGN[s] != 0 {
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

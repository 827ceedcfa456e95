//! Operand access for handlers: effective addresses, registers by size, and
//! read-modify-write of the destination with all checks done before the write.

use crate::decode::{kind, Op, NO_REG};
use crate::fault::Result;
use crate::mem::Priv;
use crate::state::Segment;
use crate::Cpu;
use tab86_mmu::Bus;

/// Where a read-modify-write destination lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loc {
    /// A general register (number).
    Reg(u8),
    /// A checked linear address.
    Lin(u32),
}

impl Cpu {
    /// The effective address (offset in `op.seg`) of the memory operand.
    #[inline(always)]
    pub fn ea(&self, op: &Op) -> u32 {
        let g = &self.state.gpr;
        let mut a = op.disp;
        if op.base != NO_REG {
            a = a.wrapping_add(g[op.base as usize & 7]);
        }
        if op.index != NO_REG {
            a = a.wrapping_add(g[op.index as usize & 7] << (op.scale & 3));
        }
        if op.addr16 {
            a & 0xFFFF
        } else {
            a
        }
    }

    /// A general register of `size` bytes (8-bit numbers are AL..BH).
    #[inline(always)]
    pub fn reg(&self, n: u8, size: u32) -> u32 {
        match size {
            1 => self.state.r8(n) as u32,
            2 => self.state.r16(n) as u32,
            _ => self.state.gpr[n as usize & 7],
        }
    }

    /// Writes a general register of `size` bytes.
    #[inline(always)]
    pub fn set_reg(&mut self, n: u8, size: u32, v: u32) {
        match size {
            1 => self.state.set_r8(n, v as u8),
            2 => self.state.set_r16(n, v as u16),
            _ => self.state.gpr[n as usize & 7] = v,
        }
    }

    /// Reads operand `n` (register, memory or immediate) of `size` bytes.
    #[inline(always)]
    pub fn read_op(&mut self, bus: &mut dyn Bus, op: &Op, n: usize, size: u32) -> Result<u32> {
        match op.kind[n] {
            kind::REG => Ok(self.reg(op.r[n], size)),
            kind::MEM => {
                let ea = self.ea(op);
                self.read_sz(bus, op.seg as usize, ea, size)
            }
            _ => Ok(op.imm),
        }
    }

    /// Writes operand `n` (register or memory) of `size` bytes.
    #[inline(always)]
    pub fn write_op(
        &mut self,
        bus: &mut dyn Bus,
        op: &Op,
        n: usize,
        size: u32,
        v: u32,
    ) -> Result<()> {
        if op.kind[n] == kind::MEM {
            let ea = self.ea(op);
            self.write_sz(bus, op.seg as usize, ea, size, v)
        } else {
            self.set_reg(op.r[n], size, v);
            Ok(())
        }
    }

    /// Starts a read-modify-write of operand 0: checks write access and reads it.
    #[inline(always)]
    pub fn rmw_begin(&mut self, bus: &mut dyn Bus, op: &Op, size: u32) -> Result<(u32, Loc)> {
        if op.kind[0] == kind::MEM {
            let ea = self.ea(op);
            let lin = self.seg_addr(op.seg as usize, ea, size, Segment::WRITE)?;
            let v = self.read_lin(bus, lin, size, Priv::Cpl)?;
            Ok((v, Loc::Lin(lin)))
        } else {
            Ok((self.reg(op.r[0], size), Loc::Reg(op.r[0])))
        }
    }

    /// Finishes a read-modify-write.
    #[inline(always)]
    pub fn rmw_end(&mut self, bus: &mut dyn Bus, loc: Loc, size: u32, v: u32) -> Result<()> {
        match loc {
            Loc::Reg(n) => {
                self.set_reg(n, size, v);
                Ok(())
            }
            Loc::Lin(lin) => self.write_lin(bus, lin, size, v, Priv::Cpl),
        }
    }

    /// Operand size of the instruction in bytes, from the register width or code.
    /// Branch handlers use it to wrap EIP at 16 bits.
    #[inline(always)]
    pub fn branch_to(&mut self, target: u32, size16: bool) {
        self.next_eip = if size16 { target & 0xFFFF } else { target };
    }
}

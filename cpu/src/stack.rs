//! Stack pushes and pops through SS with the stack-size (B bit) rules, plus a staged
//! frame writer for pushes onto a stack that is not yet loaded (privilege changes).

use crate::fault::{Fault, Result};
use crate::mem::Priv;
use crate::state::{reg, sreg, Segment};
use crate::Cpu;
use tab86_mmu::Bus;

/// A stack being built before it becomes SS:ESP: pushes are checked against `seg`
/// and written, and the caller commits `esp` only when the whole frame succeeded.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    /// The stack segment.
    pub seg: Segment,
    /// The stack pointer after the pushes so far.
    pub esp: u32,
    /// Error code for a limit violation (#SS).
    pub err: u32,
    /// Privilege of the writes.
    pub who: Priv,
}

impl Cpu {
    /// Current stack pointer as an offset (SP or ESP by SS.B).
    #[inline(always)]
    pub fn sp(&self) -> u32 {
        let esp = self.state.gpr[reg::ESP];
        if self.state.stack32() {
            esp
        } else {
            esp & 0xFFFF
        }
    }

    /// Moves the stack pointer by `delta` respecting the stack size.
    #[inline(always)]
    pub fn add_sp(&mut self, delta: u32) {
        let esp = &mut self.state.gpr[reg::ESP];
        if self.state.seg[sreg::SS].big() {
            *esp = esp.wrapping_add(delta);
        } else {
            *esp = (*esp & 0xFFFF_0000) | (esp.wrapping_add(delta) & 0xFFFF);
        }
    }

    /// Pushes `size` (2 or 4) bytes.
    #[inline(always)]
    pub fn push(&mut self, bus: &mut dyn Bus, size: u32, v: u32) -> Result<()> {
        let off = self.sp().wrapping_sub(size);
        let off = if self.state.stack32() {
            off
        } else {
            off & 0xFFFF
        };
        self.write_sz(bus, sreg::SS, off, size, v)?;
        self.add_sp(size.wrapping_neg());
        Ok(())
    }

    /// Pops `size` (2 or 4) bytes.
    #[inline(always)]
    pub fn pop(&mut self, bus: &mut dyn Bus, size: u32) -> Result<u32> {
        let v = self.read_sz(bus, sreg::SS, self.sp(), size)?;
        self.add_sp(size);
        Ok(v)
    }

    /// Reads `size` bytes at stack offset `sp + k` without popping.
    #[inline(always)]
    pub fn stack_peek(&mut self, bus: &mut dyn Bus, k: u32, size: u32) -> Result<u32> {
        let off = self.sp().wrapping_add(k);
        let off = if self.state.stack32() {
            off
        } else {
            off & 0xFFFF
        };
        self.read_sz(bus, sreg::SS, off, size)
    }

    /// A frame on the current stack.
    pub fn current_frame(&self) -> Frame {
        Frame {
            seg: self.state.seg[sreg::SS],
            esp: self.state.gpr[reg::ESP],
            err: 0,
            who: Priv::Cpl,
        }
    }

    /// Pushes onto a staged frame.
    pub fn frame_push(
        &mut self,
        bus: &mut dyn Bus,
        f: &mut Frame,
        size: u32,
        v: u32,
    ) -> Result<()> {
        let big = f.seg.big();
        let esp = f.esp.wrapping_sub(size);
        let off = if big { esp } else { esp & 0xFFFF };
        if f.seg.rights & Segment::WRITE == 0
            || off < f.seg.lo
            || off as u64 + size as u64 - 1 > f.seg.hi as u64
        {
            return Err(Fault::ss(f.err));
        }
        self.write_lin(bus, f.seg.base.wrapping_add(off), size, v, f.who)?;
        f.esp = if big {
            esp
        } else {
            (f.esp & 0xFFFF_0000) | (esp & 0xFFFF)
        };
        Ok(())
    }
}

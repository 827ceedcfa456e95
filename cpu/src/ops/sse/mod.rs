//! MMX, SSE and SSE2: the availability checks (CR0.EM/TS, CR4.OSFXSR), 64- and
//! 128-bit operand access with the legacy-SSE 16-byte alignment rule, SIMD
//! floating-point exception delivery (#XM or #UD per CR4.OSXMMEXCPT), and the
//! dispatch of the instruction groups in the sibling files.
//!
//! XMM/MXCSR state lives in [`crate::simd::SimdState`] (`cpu.simd`). MM0-7 are
//! the significands of the x87 physical registers R0-R7 (`cpu.fpu`): every access
//! goes through [`Cpu::mm`]/[`Cpu::set_mm`] and the x87 unit's MMX accessors, and
//! every instruction touching an MM register performs the x87-to-MMX transition
//! (TOP = 0, all tags valid) when it completes, after the pending-#MF check of
//! [`Unit::Mmx`]/[`Unit::SseMm`].

mod approx_tables;
mod convert;
mod float;
pub mod fp;
mod integer;
mod misc;
mod moves;
mod shuffle;

use crate::decode::{kind, prefix, Handler, Op};
use crate::fault::{vector, Fault, Result};
use crate::mem::Priv;
use crate::ops::x87::x87_pending_mf;
use crate::state::{cr, Segment};
use crate::Cpu;
use iced_x86::Code;
use tab86_mmu::Bus;

/// Handlers for this group.
pub fn lookup(code: Code) -> Option<Handler> {
    moves::lookup(code)
        .or_else(|| integer::lookup(code))
        .or_else(|| float::lookup(code))
        .or_else(|| convert::lookup(code))
        .or_else(|| shuffle::lookup(code))
        .or_else(|| misc::lookup(code))
}

/// Which availability rules an instruction follows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    /// MMX register forms (MMX and the SSE integer additions on MM registers):
    /// #UD if CR0.EM, #NM if CR0.TS.
    Mmx,
    /// SSE/SSE2 on XMM registers: #UD if CR0.EM or !CR4.OSFXSR, #NM if CR0.TS.
    Sse,
    /// SSE/SSE2 instructions with an MM operand (CVTPI2PS, CVTPS2PI, MOVQ2DQ, ...):
    /// the SSE rules, then #MF for a pending x87 exception like MMX.
    SseMm,
}

impl Cpu {
    /// Raises the #UD/#NM an instruction of `unit` gets from CR0/CR4 and LOCK, then,
    /// for instructions touching MM registers, the #MF of a pending unmasked x87
    /// exception (SDM vol. 2, "Exception Conditions for Legacy SIMD/MMX
    /// Instructions"; with CR0.NE = 0 FERR# is asserted instead).
    #[inline(always)]
    pub(crate) fn simd_check(&mut self, op: &Op, unit: Unit) -> Result<()> {
        let s = &self.state;
        if op.prefix & prefix::LOCK != 0 || s.cr0 & cr::EM != 0 {
            return Err(Fault::ud());
        }
        if unit != Unit::Mmx && s.cr4 & cr::OSFXSR == 0 {
            return Err(Fault::ud());
        }
        if s.cr0 & cr::TS != 0 {
            return Err(Fault::nm());
        }
        if unit != Unit::Sse {
            x87_pending_mf(self)?;
        }
        Ok(())
    }

    /// Linear address of a `size`-byte SIMD memory operand at `off`, with the segment
    /// check and, when `align`, the 16-byte alignment check (#GP(0)).
    pub(crate) fn simd_lin(
        &self,
        seg: usize,
        off: u32,
        size: u32,
        need: u16,
        align: bool,
    ) -> Result<u32> {
        let lin = self.seg_addr(seg, off, size, need)?;
        if align && lin & 15 != 0 {
            return Err(Fault::gp(0));
        }
        Ok(lin)
    }

    /// Reads `size` (2, 4, 8 or 16) bytes of the memory operand, zero-extended.
    pub(crate) fn simd_read(
        &mut self,
        bus: &mut dyn Bus,
        op: &Op,
        size: u32,
        align: bool,
    ) -> Result<u128> {
        let ea = self.ea(op);
        let lin = self.simd_lin(op.seg as usize, ea, size, Segment::READ, align)?;
        if size <= 4 {
            return Ok(self.read_lin(bus, lin, size, Priv::Cpl)? as u128);
        }
        let mut v = 0u128;
        for i in 0..size / 4 {
            let d = self.read_lin(bus, lin.wrapping_add(4 * i), 4, Priv::Cpl)?;
            v |= (d as u128) << (32 * i);
        }
        Ok(v)
    }

    /// Writes `size` (4, 8 or 16) bytes to the memory operand; every page is checked
    /// before the first byte is written.
    pub(crate) fn simd_write(
        &mut self,
        bus: &mut dyn Bus,
        op: &Op,
        size: u32,
        align: bool,
        v: u128,
    ) -> Result<()> {
        let ea = self.ea(op);
        let lin = self.simd_lin(op.seg as usize, ea, size, Segment::WRITE, align)?;
        self.simd_write_lin(bus, lin, size, v)
    }

    /// Writes `size` bytes at a checked linear address (pages probed first).
    pub(crate) fn simd_write_lin(
        &mut self,
        bus: &mut dyn Bus,
        lin: u32,
        size: u32,
        v: u128,
    ) -> Result<()> {
        if size <= 4 {
            return self.write_lin(bus, lin, size, v as u32, Priv::Cpl);
        }
        self.probe_write(bus, lin, size, Priv::Cpl)?;
        for i in 0..size / 4 {
            let d = (v >> (32 * i)) as u32;
            self.write_lin(bus, lin.wrapping_add(4 * i), 4, d, Priv::Cpl)?;
        }
        Ok(())
    }

    /// Operand `n` as an XMM register or `size` bytes of memory (zero-extended).
    pub(crate) fn xmm_src(
        &mut self,
        bus: &mut dyn Bus,
        op: &Op,
        n: usize,
        size: u32,
        align: bool,
    ) -> Result<u128> {
        if op.kind[n] == kind::MEM {
            self.simd_read(bus, op, size, align)
        } else {
            Ok(self.simd.xmm[op.r[n] as usize & 7])
        }
    }

    /// Operand `n` as an MM register or `size` bytes of memory.
    pub(crate) fn mm_src(
        &mut self,
        bus: &mut dyn Bus,
        op: &Op,
        n: usize,
        size: u32,
    ) -> Result<u64> {
        if op.kind[n] == kind::MEM {
            Ok(self.simd_read(bus, op, size, false)? as u64)
        } else {
            Ok(self.mm(op.r[n]))
        }
    }

    /// Writes XMMn.
    #[inline]
    pub(crate) fn set_xmm(&mut self, n: u8, v: u128) {
        self.simd.xmm[n as usize & 7] = v;
    }

    /// Reads MMn: the significand of x87 physical register Rn.
    #[inline]
    pub(crate) fn mm(&self, n: u8) -> u64 {
        self.fpu.mmx_read(n as usize)
    }

    /// Writes MMn as an MMX instruction: the x87-to-MMX transition (TOP = 0, all
    /// tags valid), then Rn = significand `v` with sign/exponent FFFFh.
    #[inline]
    pub(crate) fn set_mm(&mut self, n: u8, v: u64) {
        self.fpu.mmx_enter();
        self.fpu.mmx_write(n as usize, v);
    }

    /// Ends a SIMD floating-point instruction: unmasked exceptions leave the
    /// destination untouched and raise #XM (CR4.OSXMMEXCPT) or #UD; otherwise the
    /// flags are accumulated into MXCSR and the caller commits its result.
    pub(crate) fn fp_commit(&mut self, env: &fp::Env) -> Result<()> {
        self.simd.mxcsr |= env.flags;
        if !self.simd.masked(env.flags) {
            return Err(if self.state.cr4 & cr::OSXMMEXCPT != 0 {
                Fault::new(vector::XM)
            } else {
                Fault::ud()
            });
        }
        Ok(())
    }
}

/// Applies `f` to each `w`-byte lane of the low `n` bytes of `a` and `b`.
#[inline(always)]
pub(crate) fn map2(a: u128, b: u128, n: u32, w: u32, f: impl Fn(u64, u64) -> u64) -> u128 {
    let bits = w * 8;
    let m = if w == 8 { u64::MAX } else { (1u64 << bits) - 1 };
    let mut r = 0u128;
    for i in 0..n / w {
        let x = (a >> (i * bits)) as u64 & m;
        let y = (b >> (i * bits)) as u64 & m;
        r |= ((f(x, y) & m) as u128) << (i * bits);
    }
    r
}

/// Lane `i` of width `w` bytes.
#[inline(always)]
pub(crate) fn lane(v: u128, w: u32, i: u32) -> u64 {
    let bits = w * 8;
    let m = if w == 8 { u64::MAX } else { (1u64 << bits) - 1 };
    (v >> (i * bits)) as u64 & m
}

/// `v` with lane `i` of width `w` bytes replaced by `x`.
#[inline(always)]
pub(crate) fn with_lane(v: u128, w: u32, i: u32, x: u64) -> u128 {
    let bits = w * 8;
    let m: u128 = if w == 8 {
        u64::MAX as u128
    } else {
        (1u128 << bits) - 1
    };
    (v & !(m << (i * bits))) | ((x as u128 & m) << (i * bits))
}

#[cfg(all(test, target_arch = "x86_64"))]
use float::predicate as float_predicate;
#[cfg(all(test, target_arch = "x86_64"))]
mod host_tests;
#[cfg(test)]
mod tests;

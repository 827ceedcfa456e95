//! The x87 FPU (Intel SDM vol. 1 ch. 8): register stack, tag word, control and
//! status words, instruction/data pointers and every x87 instruction iced decodes
//! in 16/32-bit mode. The arithmetic itself is the bit-exact `tab86-softfloat`.
//!
//! Files: this one holds the state, the stack/exception helpers and the dispatch
//! table; `arith` (FADD.. FSQRT, FPREM, FSCALE, transcendentals), `ldst` (loads,
//! stores, constants, FXCH, FCMOVcc, FFREE, FINCSTP), `compare` (FCOM.., FTST,
//! FXAM), `env` (FNINIT.. FNSAVE/FRSTOR, FXSAVE/FXRSTOR, WAIT) and `simd`
//! (the SSE unit's part of FXSAVE/FXRSTOR).
//!
//! Exception delivery: an unmasked exception sets ES and B. The next *waiting*
//! x87 instruction (all but FNINIT, FNCLEX, FNSTSW, FNSTCW, FNSTENV, FNSAVE,
//! FXSAVE, FXRSTOR) or WAIT then raises #MF when CR0.NE = 1; when CR0.NE = 0 it
//! asserts FERR# instead ([`Fpu::ferr`]) and continues (as QEMU does, rather than
//! freezing until the interrupt). The board wires FERR# to IRQ 13 of the PIC and
//! clears it with [`Fpu::clear_ferr`] on a write to port 0xF0.

use crate::decode::{kind, Handler, Op};
use crate::fault::{vector, Fault, Result};
use crate::mem::Priv;
use crate::state::{cr, Segment};
use crate::Cpu;
use iced_x86::Code as C;
use tab86_mmu::Bus;
use tab86_softfloat::{Control, Exceptions, Flags, F80};

mod arith;
mod compare;
mod env;
mod ldst;
pub mod simd;

pub use env::{fxrstor, fxsave};

/// FPU status word bits (SDM vol. 1, 8.1.3).
pub mod sw {
    /// Invalid operation.
    pub const IE: u16 = 1 << 0;
    /// Denormal operand.
    pub const DE: u16 = 1 << 1;
    /// Divide by zero.
    pub const ZE: u16 = 1 << 2;
    /// Overflow.
    pub const OE: u16 = 1 << 3;
    /// Underflow.
    pub const UE: u16 = 1 << 4;
    /// Precision (inexact).
    pub const PE: u16 = 1 << 5;
    /// Stack fault (with IE).
    pub const SF: u16 = 1 << 6;
    /// Error summary: an unmasked exception is pending.
    pub const ES: u16 = 1 << 7;
    /// Condition code C0.
    pub const C0: u16 = 1 << 8;
    /// Condition code C1.
    pub const C1: u16 = 1 << 9;
    /// Condition code C2.
    pub const C2: u16 = 1 << 10;
    /// TOP field (bits 13..11).
    pub const TOP: u16 = 7 << 11;
    /// Condition code C3.
    pub const C3: u16 = 1 << 14;
    /// Busy (mirrors ES on the 387 and later).
    pub const B: u16 = 1 << 15;
    /// All four condition codes.
    pub const CC: u16 = C0 | C1 | C2 | C3;
}

/// The x87 register file and its control registers.
///
/// Registers are kept by physical number; ST(i) is `regs[(TOP + i) & 7]`. As on
/// P6 and later, the unit keeps only an empty/non-empty bit per register
/// (`tags`, the FXSAVE "abridged" tag); the full two-bit tag word of
/// FNSTENV/FNSAVE is computed from the contents ([`Fpu::ftw`]).
#[derive(Debug, Clone)]
pub struct Fpu {
    /// Control word (FCW).
    pub fcw: u16,
    /// Status word (FSW) including TOP in bits 13..11.
    pub fsw: u16,
    /// Abridged tags: bit i set = physical register i is non-empty.
    pub tags: u8,
    /// Physical data registers R0-R7.
    pub regs: [F80; 8],
    /// Last instruction pointer: offset (FIP).
    pub fip: u32,
    /// Last instruction pointer: CS selector (FCS).
    pub fcs: u16,
    /// Last opcode (FOP, 11 bits: low 3 bits of the first opcode byte, ModR/M).
    pub fop: u16,
    /// Last data pointer: offset (FDP).
    pub fdp: u32,
    /// Last data pointer: segment selector (FDS).
    pub fds: u16,
    /// FERR# latch (CR0.NE = 0 error reporting), see [`Fpu::ferr`].
    pub ferr: bool,
}

impl Default for Fpu {
    /// The power-up state (SDM vol. 3, table 9-1): FCW 0040H, FSW 0, FTW 5555H
    /// (every register holds +0.0 and is tagged non-empty).
    fn default() -> Self {
        Fpu {
            fcw: 0x0040,
            fsw: 0,
            tags: 0xFF,
            regs: [F80::ZERO; 8],
            fip: 0,
            fcs: 0,
            fop: 0,
            fdp: 0,
            fds: 0,
            ferr: false,
        }
    }
}

/// The two-bit tag FNSTENV reports for a non-empty register: 00 valid,
/// 01 zero, 10 special (NaN, ∞, denormal, unsupported encodings).
pub fn tag_of(v: F80) -> u16 {
    match v.exp() {
        0x7FFF => 2,
        0 if v.signif == 0 => 1,
        0 => 2,
        _ if v.signif >> 63 == 0 => 2,
        _ => 0,
    }
}

impl Fpu {
    /// FNINIT/FINIT: FCW 037FH, FSW 0 (TOP 0), all registers empty, pointers and
    /// opcode cleared. The register contents are kept.
    pub fn init(&mut self) {
        self.fcw = 0x037F;
        self.fsw = 0;
        self.tags = 0;
        self.fip = 0;
        self.fcs = 0;
        self.fop = 0;
        self.fdp = 0;
        self.fds = 0;
    }

    /// TOP, the physical number of ST(0).
    #[inline]
    pub fn top(&self) -> usize {
        (self.fsw >> 11) as usize & 7
    }

    /// Sets TOP.
    #[inline]
    pub fn set_top(&mut self, t: usize) {
        self.fsw = (self.fsw & !sw::TOP) | ((t as u16 & 7) << 11);
    }

    /// Physical register number of ST(i).
    #[inline]
    pub fn phys(&self, i: u8) -> usize {
        (self.top() + i as usize) & 7
    }

    /// ST(i) (whatever it holds, empty or not).
    #[inline]
    pub fn st(&self, i: u8) -> F80 {
        self.regs[self.phys(i)]
    }

    /// Whether ST(i) is empty.
    #[inline]
    pub fn empty(&self, i: u8) -> bool {
        self.tags & (1 << self.phys(i)) == 0
    }

    /// Writes ST(i) and tags it non-empty.
    #[inline]
    pub fn set_st(&mut self, i: u8, v: F80) {
        let p = self.phys(i);
        self.regs[p] = v;
        self.tags |= 1 << p;
    }

    /// Decrements TOP and writes the new ST(0) (no overflow check).
    pub fn push(&mut self, v: F80) {
        let t = (self.top() + 7) & 7;
        self.set_top(t);
        self.set_st(0, v);
    }

    /// Tags ST(0) empty and increments TOP.
    pub fn pop(&mut self) {
        self.tags &= !(1 << self.top());
        self.set_top(self.top() + 1);
    }

    /// The full tag word (two bits per physical register, 11 = empty).
    pub fn ftw(&self) -> u16 {
        (0..8).fold(0, |w, p| {
            let t = if self.tags & (1 << p) == 0 {
                3
            } else {
                tag_of(self.regs[p])
            };
            w | t << (2 * p)
        })
    }

    /// Loads a full tag word: only "empty" (11) versus anything else matters; the
    /// other tags are recomputed from the contents, as on P6 and later.
    pub fn set_ftw(&mut self, w: u16) {
        self.tags = (0..8).fold(0, |t, p| {
            if (w >> (2 * p)) & 3 == 3 {
                t
            } else {
                t | 1 << p
            }
        });
    }

    /// The FXSAVE abridged tag byte (bit per physical register, 1 = non-empty).
    pub fn abridged_tags(&self) -> u8 {
        self.tags
    }

    /// The arithmetic controls (PC, RC, masks) of the current FCW.
    #[inline]
    pub fn ctl(&self) -> Control {
        Control::from_fcw(self.fcw)
    }

    /// Sets or clears condition code C1.
    #[inline]
    pub fn set_c1(&mut self, on: bool) {
        self.fsw = (self.fsw & !sw::C1) | if on { sw::C1 } else { 0 };
    }

    /// Writes C0..C3 from a status-word image (`bits` positioned as in FSW).
    #[inline]
    pub fn set_cc(&mut self, bits: u16) {
        self.fsw = (self.fsw & !sw::CC) | (bits & sw::CC);
    }

    /// Recomputes ES and B from the sticky flags and the masks (after FLDCW,
    /// FLDENV, FRSTOR, FXRSTOR and whenever an exception is recorded).
    pub fn update_es(&mut self) {
        if self.fsw & !self.fcw & 0x3F != 0 {
            self.fsw |= sw::ES | sw::B;
        } else {
            self.fsw &= !(sw::ES | sw::B);
        }
    }

    /// Records exception flags in the status word; an unmasked one sets ES and B.
    pub fn signal(&mut self, ex: Exceptions) {
        self.fsw |= ex.bits() as u16 & 0x3F;
        if ex.bits() as u16 & !self.fcw & 0x3F != 0 {
            self.fsw |= sw::ES | sw::B;
        }
    }

    /// Applies an operation's [`Flags`]: exceptions and C1 ("rounded up").
    pub fn apply(&mut self, f: Flags) {
        self.set_c1(f.c1);
        self.signal(f.ex);
    }

    /// Stack fault #IS: IE and SF, C1 = `over` (1 overflow, 0 underflow). Returns
    /// true when IM masks it, i.e. the caller delivers the real indefinite.
    pub fn stack_fault(&mut self, over: bool) -> bool {
        self.fsw |= sw::SF;
        self.set_c1(over);
        self.signal(Exceptions::IE);
        self.fcw & 1 != 0
    }

    /// Checks that ST(0) can be pushed onto (ST(7) empty); on overflow records
    /// #IS and returns whether the masked response (push the indefinite) applies:
    /// `Ok(())` = free, `Err(true)` = masked overflow, `Err(false)` = unmasked.
    pub fn check_push(&mut self) -> core::result::Result<(), bool> {
        if self.empty(7) {
            Ok(())
        } else {
            Err(self.stack_fault(true))
        }
    }

    /// The FERR# output: an unmasked x87 exception was reported while CR0.NE = 0.
    /// The board raises IRQ 13 while it is set and calls [`Fpu::clear_ferr`] when
    /// software writes port 0xF0.
    pub fn ferr(&self) -> bool {
        self.ferr
    }

    /// Deasserts FERR# (the board's port 0xF0 write).
    pub fn clear_ferr(&mut self) {
        self.ferr = false;
    }

    /// MMX: MMi is the low 64 bits (significand) of physical register i.
    pub fn mmx_read(&self, i: usize) -> u64 {
        self.regs[i & 7].signif
    }

    /// MMX write of MMi: significand = `v`, sign and exponent all ones (FFFFh),
    /// tag valid. Every MMX instruction also sets TOP = 0 ([`Fpu::mmx_enter`]).
    pub fn mmx_write(&mut self, i: usize, v: u64) {
        self.regs[i & 7] = F80 {
            signif: v,
            sign_exp: 0xFFFF,
        };
        self.tags |= 1 << (i & 7);
        self.set_top(0);
    }

    /// Executed by every MMX instruction except EMMS: TOP = 0, all tags valid
    /// (SDM vol. 1, 9.5.1). The MMX unit handles #NM (CR0.TS/EM) and pending #MF
    /// itself; [`x87_pending_mf`] gives the #MF check.
    pub fn mmx_enter(&mut self) {
        self.set_top(0);
        self.tags = 0xFF;
    }

    /// EMMS: all registers empty.
    pub fn emms(&mut self) {
        self.tags = 0;
    }
}

/// #MF check shared with the MMX unit: if an unmasked x87 exception is pending,
/// raises #MF (CR0.NE = 1) or asserts FERR# and continues (CR0.NE = 0).
pub fn x87_pending_mf(cpu: &mut Cpu) -> Result<()> {
    if cpu.fpu.fsw & sw::ES != 0 {
        if cpu.state.cr0 & cr::NE != 0 {
            return Err(Fault::new(vector::MF));
        }
        cpu.fpu.ferr = true;
    }
    Ok(())
}

/// Entry checks of a waiting x87 instruction: #NM if CR0.EM or CR0.TS, then a
/// pending unmasked exception.
#[inline]
pub(crate) fn enter(cpu: &mut Cpu) -> Result<()> {
    if cpu.state.cr0 & (cr::EM | cr::TS) != 0 {
        return Err(Fault::nm());
    }
    x87_pending_mf(cpu)
}

/// Entry check of a no-wait control instruction (FNINIT, FNSTSW, ...): #NM only.
#[inline]
pub(crate) fn enter_nowait(cpu: &mut Cpu) -> Result<()> {
    if cpu.state.cr0 & (cr::EM | cr::TS) != 0 {
        return Err(Fault::nm());
    }
    Ok(())
}

/// Records the pointers of a completed non-control instruction: FIP/FCS/FOP,
/// and FDP/FDS when it has a memory operand (otherwise they keep their value).
#[inline]
pub(crate) fn note(cpu: &mut Cpu, op: &Op) {
    if op.kind[0] == kind::MEM {
        cpu.fpu.fdp = cpu.ea(op);
        cpu.fpu.fds = cpu.state.seg[op.seg as usize].selector;
    }
    let f = &mut cpu.fpu;
    f.fip = cpu.state.eip;
    f.fcs = cpu.state.seg[crate::state::sreg::CS].selector;
    f.fop = op.imm2 as u16 & 0x7FF;
}

/// FOP of an instruction from its bytes: the low three bits of the first
/// opcode byte (D8h..DFh, after any prefixes) and the ModR/M byte. The decoder
/// stores it in `Op::imm2` of x87 instructions (they have no immediates).
pub fn fop_of(bytes: &[u8]) -> Option<u16> {
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            0x26 | 0x2E | 0x36 | 0x3E | 0x64 | 0x65 | 0x66 | 0x67 | 0xF0 | 0xF2 | 0xF3 => i += 1,
            0xD8..=0xDF => {
                let m = *bytes.get(i + 1)?;
                return Some(((b as u16 & 7) << 8) | m as u16);
            }
            _ => return None,
        }
        if i >= 15 {
            return None;
        }
    }
    None
}

/// Reads `buf.len()` bytes of the memory operand at `off` bytes into it.
pub(crate) fn read_mem(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
    off: u32,
    buf: &mut [u8],
) -> Result<()> {
    let ea = cpu.ea(op).wrapping_add(off);
    let lin = cpu.seg_addr(op.seg as usize, ea, buf.len() as u32, Segment::READ)?;
    let mut i = 0;
    while i < buf.len() {
        let n = (buf.len() - i).min(4);
        let n = if n == 3 { 2 } else { n };
        let v = cpu.read_lin(bus, lin.wrapping_add(i as u32), n as u32, Priv::Cpl)?;
        buf[i..i + n].copy_from_slice(&v.to_le_bytes()[..n]);
        i += n;
    }
    Ok(())
}

/// Linear address of the memory operand after checking `len` bytes of it for
/// writing (segment and every page), so a following [`write_lin_bytes`] cannot fault.
pub(crate) fn check_write(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op, len: u32) -> Result<u32> {
    let ea = cpu.ea(op);
    let lin = cpu.seg_addr(op.seg as usize, ea, len, Segment::WRITE)?;
    cpu.probe_write(bus, lin, len, Priv::Cpl)?;
    Ok(lin)
}

/// Writes bytes at a linear address checked by [`check_write`].
pub(crate) fn write_lin_bytes(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    lin: u32,
    data: &[u8],
) -> Result<()> {
    let mut i = 0;
    while i < data.len() {
        let n = (data.len() - i).min(4);
        let n = if n == 3 { 2 } else { n };
        let mut w = [0u8; 4];
        w[..n].copy_from_slice(&data[i..i + n]);
        cpu.write_lin(
            bus,
            lin.wrapping_add(i as u32),
            n as u32,
            u32::from_le_bytes(w),
            Priv::Cpl,
        )?;
        i += n;
    }
    Ok(())
}

/// FNOP and the 8087/287 leftovers the 387 and later execute as no-ops
/// (FNENI, FNDISI, FNSETPM and their waiting forms).
fn fnop(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    enter(cpu)?;
    note(cpu, op);
    Ok(())
}

fn legacy_nop(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    if matches!(op.code, C::Feni | C::Fdisi | C::Fsetpm) {
        env::wait_part(cpu)?;
    }
    enter_nowait(cpu)
}

/// Handlers for the x87 group.
pub fn lookup(code: C) -> Option<Handler> {
    if let Some(h) = arith::lookup(code)
        .or_else(|| ldst::lookup(code))
        .or_else(|| compare::lookup(code))
        .or_else(|| env::lookup(code))
    {
        return Some(h);
    }
    Some(match code {
        C::Fnop => fnop,
        C::Fneni | C::Feni | C::Fndisi | C::Fdisi | C::Fnsetpm | C::Fsetpm => legacy_nop,
        _ => return None,
    })
}

#[cfg(test)]
mod tests;

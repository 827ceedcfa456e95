//! MXCSR and state instructions: LDMXCSR, STMXCSR, EMMS, FXSAVE/FXRSTOR, and the
//! cache-control no-ops PREFETCHh, SFENCE, LFENCE, MFENCE, CLFLUSH (which keep
//! their exceptions: CLFLUSH faults like a byte read, LOCK is #UD).

use super::Unit;
use crate::decode::{prefix, Handler, Op};
use crate::fault::{Fault, Result};
use crate::mem::Priv;
use crate::simd::MXCSR_MASK;
use crate::state::Segment;
use crate::Cpu;
use iced_x86::Code as C;
use tab86_mmu::Bus;

fn ldmxcsr(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    cpu.simd_check(op, Unit::Sse)?;
    let v = cpu.simd_read(bus, op, 4, false)? as u32;
    if v & !MXCSR_MASK != 0 {
        return Err(Fault::gp(0));
    }
    cpu.simd.mxcsr = v;
    Ok(())
}

fn stmxcsr(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    cpu.simd_check(op, Unit::Sse)?;
    let v = cpu.simd.mxcsr;
    cpu.simd_write(bus, op, 4, false, v as u128)
}

fn emms(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    cpu.simd_check(op, Unit::Mmx)?;
    cpu.fpu.emms();
    Ok(())
}

/// SFENCE/LFENCE/MFENCE/PREFETCHh: no-ops for an in-order interpreter with no
/// cache model; prefetches never fault.
fn fence(_: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    if op.prefix & prefix::LOCK != 0 {
        return Err(Fault::ud());
    }
    Ok(())
}

/// CLFLUSH m8: nothing to flush, but the address is checked like a byte read.
fn clflush(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    if op.prefix & prefix::LOCK != 0 {
        return Err(Fault::ud());
    }
    let ea = cpu.ea(op);
    let lin = cpu.seg_addr(op.seg as usize, ea, 1, Segment::READ)?;
    cpu.translate(bus, lin, false, Priv::Cpl)?;
    Ok(())
}

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    Some(match code {
        C::Ldmxcsr_m32 => ldmxcsr,
        C::Stmxcsr_m32 => stmxcsr,
        C::Emms => emms,
        C::Clflush_m8 => clflush,
        C::Prefetchnta_m8
        | C::Prefetcht0_m8
        | C::Prefetcht1_m8
        | C::Prefetcht2_m8
        | C::Sfence
        | C::Sfence_F9
        | C::Sfence_FA
        | C::Sfence_FB
        | C::Sfence_FC
        | C::Sfence_FD
        | C::Sfence_FE
        | C::Sfence_FF
        | C::Lfence
        | C::Lfence_E9
        | C::Lfence_EA
        | C::Lfence_EB
        | C::Lfence_EC
        | C::Lfence_ED
        | C::Lfence_EE
        | C::Lfence_EF
        | C::Mfence
        | C::Mfence_F1
        | C::Mfence_F2
        | C::Mfence_F3
        | C::Mfence_F4
        | C::Mfence_F5
        | C::Mfence_F6
        | C::Mfence_F7 => fence,
        _ => return None,
    })
}

//! MXCSR and state instructions: LDMXCSR, STMXCSR, EMMS, FXSAVE/FXRSTOR, and the
//! cache-control no-ops PREFETCHh, SFENCE, LFENCE, MFENCE, CLFLUSH (which keep
//! their exceptions: CLFLUSH faults like a byte read, LOCK is #UD).

use super::Unit;
use crate::decode::{prefix, Handler, Op};
use crate::fault::{Fault, Result};
use crate::mem::Priv;
use crate::simd::MXCSR_MASK;
use crate::state::{cr, Segment};
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
    cpu.simd.emms();
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

/// The x87 part of an FXSAVE image from what this crate models today: FCW, FSW,
/// the abridged tag byte and MM0-7 in the register slots (exponent 0xFFFF after an
/// MMX write). Integration point: the x87 unit replaces this with its full state.
fn fxsave_x87(cpu: &Cpu, area: &mut [u8; 512]) {
    area[0..2].copy_from_slice(&cpu.fpu.fcw.to_le_bytes());
    area[2..4].copy_from_slice(&cpu.fpu.fsw.to_le_bytes());
    area[4] = if cpu.simd.mmx_active { 0xFF } else { 0 };
    for i in 0..8u8 {
        let o = 32 + 16 * i as usize;
        area[o..o + 8].copy_from_slice(&cpu.simd.mm(i).to_le_bytes());
        if cpu.simd.mm_exp_ones & (1 << i) != 0 {
            area[o + 8..o + 10].copy_from_slice(&[0xFF, 0xFF]);
        }
    }
}

/// The inverse of [`fxsave_x87`] (integration point, as above).
fn fxrstor_x87(cpu: &mut Cpu, area: &[u8; 512]) {
    cpu.fpu.fcw = u16::from_le_bytes([area[0], area[1]]);
    cpu.fpu.fsw = u16::from_le_bytes([area[2], area[3]]);
    cpu.simd.mmx_active = area[4] == 0xFF;
    for i in 0..8u8 {
        let o = 32 + 16 * i as usize;
        let mut b = [0u8; 8];
        b.copy_from_slice(&area[o..o + 8]);
        cpu.simd.set_mm_raw(i, u64::from_le_bytes(b));
        if area[o + 8..o + 10] == [0xFF, 0xFF] {
            cpu.simd.mm_exp_ones |= 1 << i;
        }
    }
}

/// FXSAVE/FXRSTOR `m512byte`: 16-byte aligned; the whole area is checked first.
fn fxsave<const RESTORE: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    if op.prefix & prefix::LOCK != 0 || cpu.state.cr0 & cr::EM != 0 {
        return Err(Fault::ud());
    }
    if cpu.state.cr0 & cr::TS != 0 {
        return Err(Fault::nm());
    }
    let ea = cpu.ea(op);
    let need = if RESTORE {
        Segment::READ
    } else {
        Segment::WRITE
    };
    let lin = cpu.simd_lin(op.seg as usize, ea, 512, need, true)?;
    let mut area = [0u8; 512];
    if RESTORE {
        for i in 0..128u32 {
            let d = cpu.read_lin(bus, lin.wrapping_add(4 * i), 4, Priv::Cpl)?;
            area[4 * i as usize..4 * i as usize + 4].copy_from_slice(&d.to_le_bytes());
        }
        cpu.simd.fxrstor_simd(&area)?;
        fxrstor_x87(cpu, &area);
        return Ok(());
    }
    fxsave_x87(cpu, &mut area);
    cpu.simd.fxsave_simd(&mut area);
    cpu.probe_write(bus, lin, 512, Priv::Cpl)?;
    for i in 0..128usize {
        let d = u32::from_le_bytes([
            area[4 * i],
            area[4 * i + 1],
            area[4 * i + 2],
            area[4 * i + 3],
        ]);
        cpu.write_lin(bus, lin.wrapping_add(4 * i as u32), 4, d, Priv::Cpl)?;
    }
    Ok(())
}

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    Some(match code {
        C::Ldmxcsr_m32 => ldmxcsr,
        C::Stmxcsr_m32 => stmxcsr,
        C::Emms => emms,
        C::Fxsave_m512byte => fxsave::<false>,
        C::Fxrstor_m512byte => fxsave::<true>,
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

//! Data movement between XMM/MM registers, GPRs and memory: MOVAPS/MOVUPS/
//! MOVAPD/MOVUPD/MOVDQA/MOVDQU, MOVSS/MOVSD, MOVLPS/MOVHPS/MOVLPD/MOVHPD,
//! MOVLHPS/MOVHLPS, MOVD/MOVQ, MOVQ2DQ/MOVDQ2Q, MOVMSKPS/MOVMSKPD/PMOVMSKB, the
//! non-temporal stores (MOVNTPS/MOVNTPD/MOVNTDQ/MOVNTQ/MOVNTI) and MASKMOVQ/
//! MASKMOVDQU.

use super::{kind, lane, Unit};
use crate::decode::{Handler, Op};
use crate::fault::{Fault, Result};
use crate::state::{reg, Segment};
use crate::Cpu;
use iced_x86::Code as C;
use tab86_mmu::Bus;

const LOW64: u128 = u64::MAX as u128;

/// Full 128-bit move in either direction; `A`: the memory operand must be aligned.
fn mov128<const A: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    cpu.simd_check(op, Unit::Sse)?;
    let v = cpu.xmm_src(bus, op, 1, 16, A)?;
    if op.kind[0] == kind::MEM {
        cpu.simd_write(bus, op, 16, A, v)
    } else {
        cpu.set_xmm(op.r[0], v);
        Ok(())
    }
}

/// MOVSS/MOVSD (`S` = 4 or 8 bytes): register to register merges the low lane, a
/// load zeroes the rest, a store writes the low lane.
fn movs<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    cpu.simd_check(op, Unit::Sse)?;
    let m: u128 = (1u128 << (S * 8)) - 1;
    if op.kind[0] == kind::MEM {
        let v = cpu.simd.xmm[op.r[1] as usize & 7] & m;
        return cpu.simd_write(bus, op, S, false, v);
    }
    if op.kind[1] == kind::MEM {
        let v = cpu.simd_read(bus, op, S, false)?;
        cpu.set_xmm(op.r[0], v);
    } else {
        let d = cpu.simd.xmm[op.r[0] as usize & 7];
        let s = cpu.simd.xmm[op.r[1] as usize & 7];
        cpu.set_xmm(op.r[0], (d & !m) | (s & m));
    }
    Ok(())
}

/// MOVLPS/MOVLPD (`HI` = false) and MOVHPS/MOVHPD: one 64-bit half to or from m64.
fn movhl<const HI: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    cpu.simd_check(op, Unit::Sse)?;
    let sh = if HI { 64 } else { 0 };
    if op.kind[0] == kind::MEM {
        let v = (cpu.simd.xmm[op.r[1] as usize & 7] >> sh) & LOW64;
        return cpu.simd_write(bus, op, 8, false, v);
    }
    let v = cpu.simd_read(bus, op, 8, false)?;
    let d = cpu.simd.xmm[op.r[0] as usize & 7];
    cpu.set_xmm(op.r[0], (d & !(LOW64 << sh)) | v << sh);
    Ok(())
}

/// MOVHLPS (`HI` = false: low half from the source's high half) and MOVLHPS.
fn movhlps<const LH: bool>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    cpu.simd_check(op, Unit::Sse)?;
    let d = cpu.simd.xmm[op.r[0] as usize & 7];
    let s = cpu.simd.xmm[op.r[1] as usize & 7];
    let v = if LH {
        (d & LOW64) | (s & LOW64) << 64
    } else {
        (d & !LOW64) | s >> 64
    };
    cpu.set_xmm(op.r[0], v);
    Ok(())
}

/// MOVMSKPS/MOVMSKPD (`W` = lane bytes) and PMOVMSKB (`W` = 1) into a GPR.
fn movmsk<const W: u32, const MM: bool>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    let (v, n) = if MM {
        cpu.simd_check(op, Unit::Mmx)?;
        cpu.fpu.mmx_enter();
        (cpu.mm(op.r[1]) as u128, 8)
    } else {
        cpu.simd_check(op, Unit::Sse)?;
        (cpu.simd.xmm[op.r[1] as usize & 7], 16)
    };
    let mut r = 0;
    for i in 0..n / W {
        r |= ((lane(v, W, i) >> (W * 8 - 1)) as u32 & 1) << i;
    }
    cpu.set_reg(op.r[0], 4, r);
    Ok(())
}

/// MOVD/MOVQ with an MM register on either side (`S` = 4 or 8 bytes moved).
fn movmm<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    cpu.simd_check(op, Unit::Mmx)?;
    let mm_dst = matches!(op.code, C::Movd_mm_rm32 | C::Movq_mm_mmm64);
    let v: u64 = if mm_dst {
        match (S, op.kind[1]) {
            (4, kind::REG) => cpu.state.gpr[op.r[1] as usize & 7] as u64,
            _ => cpu.mm_src(bus, op, 1, S)?,
        }
    } else {
        let m = cpu.mm(op.r[1]);
        if S == 4 {
            m & 0xFFFF_FFFF
        } else {
            m
        }
    };
    if mm_dst {
        cpu.set_mm(op.r[0], v);
    } else if op.kind[0] == kind::MEM {
        cpu.simd_write(bus, op, S, false, v as u128)?;
        cpu.fpu.mmx_enter();
    } else if S == 4 {
        cpu.set_reg(op.r[0], 4, v as u32);
        cpu.fpu.mmx_enter();
    } else {
        cpu.set_mm(op.r[0], v);
    }
    Ok(())
}

/// MOVD xmm, r/m32 and MOVQ xmm, xmm/m64 (zero-extending loads), and the stores
/// MOVD r/m32, xmm and MOVQ xmm/m64, xmm (a register destination is zero-extended).
fn movdq<const S: u32, const LOAD: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    cpu.simd_check(op, Unit::Sse)?;
    let m: u128 = (1u128 << (S * 8)) - 1;
    if LOAD {
        let v = match (S, op.kind[1]) {
            (4, kind::REG) => cpu.state.gpr[op.r[1] as usize & 7] as u128,
            _ => cpu.xmm_src(bus, op, 1, S, false)? & m,
        };
        cpu.set_xmm(op.r[0], v);
        return Ok(());
    }
    let v = cpu.simd.xmm[op.r[1] as usize & 7] & m;
    match (S, op.kind[0]) {
        (_, kind::MEM) => cpu.simd_write(bus, op, S, false, v),
        (4, _) => {
            cpu.set_reg(op.r[0], 4, v as u32);
            Ok(())
        }
        _ => {
            cpu.set_xmm(op.r[0], v);
            Ok(())
        }
    }
}

/// MOVQ2DQ xmm, mm (zero-extended) and MOVDQ2Q mm, xmm (low half).
fn movq2dq<const TO_XMM: bool>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    cpu.simd_check(op, Unit::SseMm)?;
    if TO_XMM {
        let v = cpu.mm(op.r[1]);
        cpu.fpu.mmx_enter();
        cpu.set_xmm(op.r[0], v as u128);
    } else {
        let v = cpu.simd.xmm[op.r[1] as usize & 7] as u64;
        cpu.set_mm(op.r[0], v);
    }
    Ok(())
}

/// MOVNTI m32, r32: a plain store (no SSE enable checks).
fn movnti(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    if op.prefix & crate::decode::prefix::LOCK != 0 || op.kind[0] != kind::MEM {
        return Err(Fault::ud());
    }
    let v = cpu.state.gpr[op.r[1] as usize & 7];
    cpu.write_op(bus, op, 0, 4, v)
}

/// MOVNTQ m64, mm.
fn movntq(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    cpu.simd_check(op, Unit::Mmx)?;
    let v = cpu.mm(op.r[1]);
    cpu.simd_write(bus, op, 8, false, v as u128)?;
    cpu.fpu.mmx_enter();
    Ok(())
}

/// MASKMOVQ/MASKMOVDQU: stores the bytes of operand 1 whose mask byte (operand 2)
/// has its top bit set to DS:(E)DI (segment overridable). Every selected byte is
/// checked before any is written; unselected bytes are not accessed.
fn maskmov<const N: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let (v, m) = if N == 8 {
        cpu.simd_check(op, Unit::Mmx)?;
        (cpu.mm(op.r[1]) as u128, cpu.mm(op.r[2]) as u128)
    } else {
        cpu.simd_check(op, Unit::Sse)?;
        (
            cpu.simd.xmm[op.r[1] as usize & 7],
            cpu.simd.xmm[op.r[2] as usize & 7],
        )
    };
    let mut di = cpu.state.gpr[reg::EDI];
    if op.addr16 {
        di &= 0xFFFF;
    }
    let mut lins = [0u32; 16];
    for i in 0..N {
        if lane(m, 1, i) & 0x80 != 0 {
            let off = di.wrapping_add(i);
            let lin = cpu.seg_addr(op.seg as usize, off, 1, Segment::WRITE)?;
            cpu.probe_write(bus, lin, 1, crate::mem::Priv::Cpl)?;
            lins[i as usize] = lin;
        }
    }
    for i in 0..N {
        if lane(m, 1, i) & 0x80 != 0 {
            let b = lane(v, 1, i) as u32;
            cpu.write_lin(bus, lins[i as usize], 1, b, crate::mem::Priv::Cpl)?;
        }
    }
    if N == 8 {
        cpu.fpu.mmx_enter();
    }
    Ok(())
}

/// A store-only form (MOVNTPS/MOVNTPD/MOVNTDQ) requires a memory operand.
fn movnt128(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    mov128::<true>(cpu, bus, op)
}

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    Some(match code {
        C::Movaps_xmm_xmmm128
        | C::Movaps_xmmm128_xmm
        | C::Movapd_xmm_xmmm128
        | C::Movapd_xmmm128_xmm
        | C::Movdqa_xmm_xmmm128
        | C::Movdqa_xmmm128_xmm => mov128::<true>,
        C::Movups_xmm_xmmm128
        | C::Movups_xmmm128_xmm
        | C::Movupd_xmm_xmmm128
        | C::Movupd_xmmm128_xmm
        | C::Movdqu_xmm_xmmm128
        | C::Movdqu_xmmm128_xmm => mov128::<false>,
        C::Movntps_m128_xmm | C::Movntpd_m128_xmm | C::Movntdq_m128_xmm => movnt128,
        C::Movss_xmm_xmmm32 | C::Movss_xmmm32_xmm => movs::<4>,
        C::Movsd_xmm_xmmm64 | C::Movsd_xmmm64_xmm => movs::<8>,
        C::Movlps_xmm_m64 | C::Movlps_m64_xmm | C::Movlpd_xmm_m64 | C::Movlpd_m64_xmm => {
            movhl::<false>
        }
        C::Movhps_xmm_m64 | C::Movhps_m64_xmm | C::Movhpd_xmm_m64 | C::Movhpd_m64_xmm => {
            movhl::<true>
        }
        C::Movhlps_xmm_xmm => movhlps::<false>,
        C::Movlhps_xmm_xmm => movhlps::<true>,
        C::Movmskps_r32_xmm => movmsk::<4, false>,
        C::Movmskpd_r32_xmm => movmsk::<8, false>,
        C::Pmovmskb_r32_xmm => movmsk::<1, false>,
        C::Pmovmskb_r32_mm => movmsk::<1, true>,
        C::Movd_mm_rm32 | C::Movd_rm32_mm => movmm::<4>,
        C::Movq_mm_mmm64 | C::Movq_mmm64_mm => movmm::<8>,
        C::Movd_xmm_rm32 => movdq::<4, true>,
        C::Movd_rm32_xmm => movdq::<4, false>,
        C::Movq_xmm_xmmm64 => movdq::<8, true>,
        C::Movq_xmmm64_xmm => movdq::<8, false>,
        C::Movq2dq_xmm_mm => movq2dq::<true>,
        C::Movdq2q_mm_xmm => movq2dq::<false>,
        C::Movnti_m32_r32 => movnti,
        C::Movntq_m64_mm => movntq,
        C::Maskmovq_rDI_mm_mm => maskmov::<8>,
        C::Maskmovdqu_rDI_xmm_xmm => maskmov::<16>,
        _ => return None,
    })
}

//! Shuffles and word insert/extract: SHUFPS, SHUFPD, PSHUFD, PSHUFHW, PSHUFLW,
//! PSHUFW, PEXTRW, PINSRW.

use super::{kind, lane, with_lane, Unit};
use crate::decode::{Handler, Op};
use crate::fault::Result;
use crate::Cpu;
use iced_x86::Code as C;
use tab86_mmu::Bus;

const SHUFPS: u8 = 0;
const SHUFPD: u8 = 1;
const PSHUFD: u8 = 2;
const PSHUFHW: u8 = 3;
const PSHUFLW: u8 = 4;

/// `xmm, xmm/m128, imm8` shuffles.
fn shuf<const K: u8>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    cpu.simd_check(op, Unit::Sse)?;
    let s = cpu.xmm_src(bus, op, 1, 16, true)?;
    let d = cpu.simd.xmm[op.r[0] as usize & 7];
    let imm = op.imm;
    let sel = |i: u32| (imm >> (2 * i)) & 3;
    let mut r = 0u128;
    match K {
        SHUFPS => {
            for i in 0..4 {
                let src = if i < 2 { d } else { s };
                r = with_lane(r, 4, i, lane(src, 4, sel(i)));
            }
        }
        SHUFPD => {
            r = with_lane(r, 8, 0, lane(d, 8, imm & 1));
            r = with_lane(r, 8, 1, lane(s, 8, (imm >> 1) & 1));
        }
        PSHUFD => {
            for i in 0..4 {
                r = with_lane(r, 4, i, lane(s, 4, sel(i)));
            }
        }
        PSHUFHW => {
            r = s & u64::MAX as u128;
            for i in 0..4 {
                r = with_lane(r, 2, 4 + i, lane(s, 2, 4 + sel(i)));
            }
        }
        _ => {
            r = s & !(u64::MAX as u128);
            for i in 0..4 {
                r = with_lane(r, 2, i, lane(s, 2, sel(i)));
            }
        }
    }
    cpu.set_xmm(op.r[0], r);
    Ok(())
}

/// PSHUFW mm, mm/m64, imm8.
fn pshufw(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    cpu.simd_check(op, Unit::Mmx)?;
    let s = cpu.mm_src(bus, op, 1, 8)? as u128;
    let mut r = 0u128;
    for i in 0..4 {
        r = with_lane(r, 2, i, lane(s, 2, (op.imm >> (2 * i)) & 3));
    }
    cpu.set_mm(op.r[0], r as u64);
    Ok(())
}

/// PEXTRW r32, mm/xmm, imm8 (zero-extended word).
fn pextrw<const X: bool>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    let v = if X {
        cpu.simd_check(op, Unit::Sse)?;
        lane(cpu.simd.xmm[op.r[1] as usize & 7], 2, op.imm & 7)
    } else {
        cpu.simd_check(op, Unit::Mmx)?;
        cpu.fpu.mmx_enter();
        lane(cpu.mm(op.r[1]) as u128, 2, op.imm & 3)
    };
    cpu.set_reg(op.r[0], 4, v as u32);
    Ok(())
}

/// PINSRW mm/xmm, r32/m16, imm8.
fn pinsrw<const X: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    cpu.simd_check(op, if X { Unit::Sse } else { Unit::Mmx })?;
    let w = if op.kind[1] == kind::MEM {
        cpu.simd_read(bus, op, 2, false)? as u64
    } else {
        cpu.state.gpr[op.r[1] as usize & 7] as u64 & 0xFFFF
    };
    if X {
        let d = cpu.simd.xmm[op.r[0] as usize & 7];
        cpu.set_xmm(op.r[0], with_lane(d, 2, op.imm & 7, w));
    } else {
        let d = cpu.mm(op.r[0]) as u128;
        cpu.set_mm(op.r[0], with_lane(d, 2, op.imm & 3, w) as u64);
    }
    Ok(())
}

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    Some(match code {
        C::Shufps_xmm_xmmm128_imm8 => shuf::<SHUFPS>,
        C::Shufpd_xmm_xmmm128_imm8 => shuf::<SHUFPD>,
        C::Pshufd_xmm_xmmm128_imm8 => shuf::<PSHUFD>,
        C::Pshufhw_xmm_xmmm128_imm8 => shuf::<PSHUFHW>,
        C::Pshuflw_xmm_xmmm128_imm8 => shuf::<PSHUFLW>,
        C::Pshufw_mm_mmm64_imm8 => pshufw,
        C::Pextrw_r32_mm_imm8 => pextrw::<false>,
        C::Pextrw_r32_xmm_imm8 => pextrw::<true>,
        C::Pinsrw_mm_r32m16_imm8 => pinsrw::<false>,
        C::Pinsrw_xmm_r32m16_imm8 => pinsrw::<true>,
        _ => return None,
    })
}

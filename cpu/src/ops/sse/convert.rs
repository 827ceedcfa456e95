//! SSE/SSE2 conversions (CVT*): between single, double, 32-bit integers in GPRs,
//! MM and XMM registers, rounding per MXCSR.RC or truncating (CVTT*), with the
//! integer indefinite 0x80000000 for NaN and out-of-range values.
//!
//! Forms that read or write an MM register perform the x87-to-MMX transition;
//! reading an MM operand from memory does not.

use super::fp::Env;
use super::{kind, lane, with_lane, Unit};
use crate::decode::{Handler, Op};
use crate::fault::Result;
use crate::Cpu;
use iced_x86::Code as C;
use tab86_mmu::Bus;

/// Source kinds: how many lanes of which format are read from where.
const PS: u8 = 0; // single lanes
const PD: u8 = 1; // double lanes
const DQ: u8 = 2; // int32 lanes

/// Converts `n` lanes from `from` to `to`, truncating integer results when `t`.
fn lanes(env: &mut Env, src: u128, n: u32, from: u8, to: u8, t: bool) -> u128 {
    let mut r = 0u128;
    let (wf, wt) = (width(from), width(to));
    for i in 0..n {
        let x = lane(src, wf, i);
        let y = match (from, to) {
            (PS, PD) => env.convert(x, false),
            (PD, PS) => env.convert(x, true),
            (DQ, PS) => env.from_i32(x as i32, false),
            (DQ, PD) => env.from_i32(x as i32, true),
            (PS, DQ) => env.to_i32(x, false, t) as u64,
            (PD, DQ) => env.to_i32(x, true, t) as u64,
            _ => x,
        };
        r = with_lane(r, wt, i, y);
    }
    r
}

const fn width(k: u8) -> u32 {
    if k == PD {
        8
    } else {
        4
    }
}

/// `CVTxx2yy xmm, xmm/mem`: `N` lanes from a source of `SZ` bytes (16 = aligned
/// m128); the lanes above the result are zeroed (`ZERO`) or kept.
fn cvt_xmm<
    const FROM: u8,
    const TO: u8,
    const N: u32,
    const SZ: u32,
    const T: bool,
    const KEEP: bool,
>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    cpu.simd_check(op, Unit::Sse)?;
    let src = cpu.xmm_src(bus, op, 1, SZ, SZ == 16)?;
    let mut env = Env::new(cpu.simd.mxcsr);
    let r = lanes(&mut env, src, N, FROM, TO, T);
    cpu.fp_commit(&env)?;
    let bits = N * width(TO) * 8;
    let v = if KEEP && bits < 128 {
        let old = cpu.simd.xmm[op.r[0] as usize & 7];
        (old & !((1u128 << bits) - 1)) | r
    } else {
        r
    };
    cpu.set_xmm(op.r[0], v);
    Ok(())
}

/// CVTPI2PS/CVTPI2PD `xmm, mm/m64`: two int32 lanes; CVTPI2PS keeps the upper half.
/// Per the SDM, CVTPI2PS always takes pending x87 exceptions and enters MMX state;
/// CVTPI2PD does both only with an MM source (`xmm, m64` does neither).
fn cvt_pi2<const TO: u8>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let mmx = TO == PS || op.kind[1] == kind::REG;
    cpu.simd_check(op, if mmx { Unit::SseMm } else { Unit::Sse })?;
    let src = cpu.mm_src(bus, op, 1, 8)?;
    let mut env = Env::new(cpu.simd.mxcsr);
    let r = lanes(&mut env, src as u128, 2, DQ, TO, false);
    cpu.fp_commit(&env)?;
    if mmx {
        cpu.fpu.mmx_enter();
    }
    let v = if TO == PS {
        let old = cpu.simd.xmm[op.r[0] as usize & 7];
        (old & !(u64::MAX as u128)) | r
    } else {
        r
    };
    cpu.set_xmm(op.r[0], v);
    Ok(())
}

/// CVT(T)PS2PI `mm, xmm/m64` and CVT(T)PD2PI `mm, xmm/m128`.
fn cvt_2pi<const FROM: u8, const T: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    cpu.simd_check(op, Unit::SseMm)?;
    let sz = if FROM == PD { 16 } else { 8 };
    let src = cpu.xmm_src(bus, op, 1, sz, sz == 16)?;
    let mut env = Env::new(cpu.simd.mxcsr);
    let r = lanes(&mut env, src, 2, FROM, DQ, T);
    cpu.fp_commit(&env)?;
    cpu.set_mm(op.r[0], r as u64);
    Ok(())
}

/// CVTSI2SS/CVTSI2SD `xmm, r/m32`.
fn cvt_si2<const TO: u8>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    cpu.simd_check(op, Unit::Sse)?;
    let v = cpu.read_op(bus, op, 1, 4)?;
    let mut env = Env::new(cpu.simd.mxcsr);
    let r = lanes(&mut env, v as u128, 1, DQ, TO, false);
    cpu.fp_commit(&env)?;
    let old = cpu.simd.xmm[op.r[0] as usize & 7];
    cpu.set_xmm(op.r[0], with_lane(old, width(TO), 0, r as u64));
    Ok(())
}

/// CVT(T)SS2SI/CVT(T)SD2SI `r32, xmm/m32|m64`.
fn cvt_2si<const FROM: u8, const T: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    cpu.simd_check(op, Unit::Sse)?;
    let src = cpu.xmm_src(bus, op, 1, width(FROM), false)?;
    let mut env = Env::new(cpu.simd.mxcsr);
    let r = lanes(&mut env, src, 1, FROM, DQ, T);
    cpu.fp_commit(&env)?;
    cpu.set_reg(op.r[0], 4, r as u32);
    Ok(())
}

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    Some(match code {
        C::Cvtps2pd_xmm_xmmm64 => cvt_xmm::<PS, PD, 2, 8, false, false>,
        C::Cvtpd2ps_xmm_xmmm128 => cvt_xmm::<PD, PS, 2, 16, false, false>,
        C::Cvtss2sd_xmm_xmmm32 => cvt_xmm::<PS, PD, 1, 4, false, true>,
        C::Cvtsd2ss_xmm_xmmm64 => cvt_xmm::<PD, PS, 1, 8, false, true>,
        C::Cvtdq2ps_xmm_xmmm128 => cvt_xmm::<DQ, PS, 4, 16, false, false>,
        C::Cvtdq2pd_xmm_xmmm64 => cvt_xmm::<DQ, PD, 2, 8, false, false>,
        C::Cvtps2dq_xmm_xmmm128 => cvt_xmm::<PS, DQ, 4, 16, false, false>,
        C::Cvttps2dq_xmm_xmmm128 => cvt_xmm::<PS, DQ, 4, 16, true, false>,
        C::Cvtpd2dq_xmm_xmmm128 => cvt_xmm::<PD, DQ, 2, 16, false, false>,
        C::Cvttpd2dq_xmm_xmmm128 => cvt_xmm::<PD, DQ, 2, 16, true, false>,
        C::Cvtpi2ps_xmm_mmm64 => cvt_pi2::<PS>,
        C::Cvtpi2pd_xmm_mmm64 => cvt_pi2::<PD>,
        C::Cvtps2pi_mm_xmmm64 => cvt_2pi::<PS, false>,
        C::Cvttps2pi_mm_xmmm64 => cvt_2pi::<PS, true>,
        C::Cvtpd2pi_mm_xmmm128 => cvt_2pi::<PD, false>,
        C::Cvttpd2pi_mm_xmmm128 => cvt_2pi::<PD, true>,
        C::Cvtsi2ss_xmm_rm32 => cvt_si2::<PS>,
        C::Cvtsi2sd_xmm_rm32 => cvt_si2::<PD>,
        C::Cvtss2si_r32_xmmm32 => cvt_2si::<PS, false>,
        C::Cvttss2si_r32_xmmm32 => cvt_2si::<PS, true>,
        C::Cvtsd2si_r32_xmmm64 => cvt_2si::<PD, false>,
        C::Cvttsd2si_r32_xmmm64 => cvt_2si::<PD, true>,
        _ => return None,
    })
}

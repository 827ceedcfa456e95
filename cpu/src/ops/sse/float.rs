//! SSE/SSE2 floating-point arithmetic and compares: ADD/SUB/MUL/DIV/SQRT/MIN/MAX
//! (packed and scalar, single and double), RCP/RSQRT, CMPPS/CMPSS/CMPPD/CMPSD with
//! the eight predicates, and COMISS/UCOMISS/COMISD/UCOMISD setting EFLAGS.
//!
//! Scalar forms keep the upper lanes of the destination; a scalar memory operand
//! is 4 or 8 bytes with no alignment requirement, a packed one 16 aligned bytes.

use super::fp::{self, Env};
use super::{lane, with_lane, Unit};
use crate::decode::{Handler, Op};
use crate::fault::Result;
use crate::state::fl;
use crate::Cpu;
use core::cmp::Ordering;
use iced_x86::Code as C;
use tab86_mmu::Bus;

const ADD: u8 = 0;
const SUB: u8 = 1;
const MUL: u8 = 2;
const DIV: u8 = 3;
const MIN: u8 = 4;
const MAX: u8 = 5;
const SQRT: u8 = 6;
const RCP: u8 = 7;
const RSQRT: u8 = 8;
const CMP: u8 = 9;

/// Lane width in bytes for double (`D`) or single precision.
const fn w(d: bool) -> u32 {
    if d {
        8
    } else {
        4
    }
}

/// Reads the source operand (operand 1) of a packed (`P`) or scalar op.
fn source<const D: bool, const P: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<u128> {
    cpu.simd_check(op, Unit::Sse)?;
    if P {
        cpu.xmm_src(bus, op, 1, 16, true)
    } else {
        cpu.xmm_src(bus, op, 1, w(D), false)
    }
}

/// Compare predicate `p` (imm8 bits 2:0) on an ordering (`None` = unordered).
pub(super) fn predicate(p: u32, o: Option<Ordering>) -> bool {
    match p & 7 {
        0 => o == Some(Ordering::Equal),
        1 => o == Some(Ordering::Less),
        2 => matches!(o, Some(Ordering::Less | Ordering::Equal)),
        3 => o.is_none(),
        4 => o != Some(Ordering::Equal),
        5 => !matches!(o, Some(Ordering::Less)),
        6 => !matches!(o, Some(Ordering::Less | Ordering::Equal)),
        _ => o.is_some(),
    }
}

/// One lane of operation `K` (`imm` is the compare predicate).
fn lane_op<const K: u8, const D: bool>(env: &mut Env, a: u64, b: u64, imm: u32) -> u64 {
    match K {
        ADD => env.add(a, b, D),
        SUB => env.sub(a, b, D),
        MUL => env.mul(a, b, D),
        DIV => env.div(a, b, D),
        MIN => env.minmax(a, b, D, false),
        MAX => env.minmax(a, b, D, true),
        SQRT => env.sqrt(b, D),
        RCP => fp::rcp(b as u32) as u64,
        RSQRT => fp::rsqrt(b as u32) as u64,
        _ => {
            // LT, LE, NLT, NLE signal on QNaNs; the others only on SNaNs.
            let signalling = matches!(imm & 3, 1 | 2);
            let o = env.compare(a, b, D, signalling);
            if predicate(imm, o) {
                u64::MAX
            } else {
                0
            }
        }
    }
}

/// `OPps/OPpd/OPss/OPsd xmm, xmm/mem` for operation `K`.
fn arith<const K: u8, const D: bool, const P: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    let b = source::<D, P>(cpu, bus, op)?;
    let mut a = cpu.simd.xmm[op.r[0] as usize & 7];
    let mut env = Env::new(cpu.simd.mxcsr);
    let n = if P { 16 / w(D) } else { 1 };
    for i in 0..n {
        let r = lane_op::<K, D>(&mut env, lane(a, w(D), i), lane(b, w(D), i), op.imm);
        a = with_lane(a, w(D), i, r);
    }
    cpu.fp_commit(&env)?;
    cpu.set_xmm(op.r[0], a);
    Ok(())
}

/// COMISS/UCOMISS/COMISD/UCOMISD: ZF, PF, CF from the comparison (all three set
/// when unordered); OF, SF and AF cleared.
fn comis<const D: bool, const SIGNAL: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    let b = source::<D, false>(cpu, bus, op)?;
    let a = cpu.simd.xmm[op.r[0] as usize & 7];
    let mut env = Env::new(cpu.simd.mxcsr);
    let o = env.compare(lane(a, w(D), 0), lane(b, w(D), 0), D, SIGNAL);
    cpu.fp_commit(&env)?;
    let f = match o {
        None => fl::ZF | fl::PF | fl::CF,
        Some(Ordering::Greater) => 0,
        Some(Ordering::Less) => fl::CF,
        Some(Ordering::Equal) => fl::ZF,
    };
    cpu.state.set_arith_flags(f);
    Ok(())
}

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    Some(match code {
        C::Addps_xmm_xmmm128 => arith::<ADD, false, true>,
        C::Addpd_xmm_xmmm128 => arith::<ADD, true, true>,
        C::Addss_xmm_xmmm32 => arith::<ADD, false, false>,
        C::Addsd_xmm_xmmm64 => arith::<ADD, true, false>,
        C::Subps_xmm_xmmm128 => arith::<SUB, false, true>,
        C::Subpd_xmm_xmmm128 => arith::<SUB, true, true>,
        C::Subss_xmm_xmmm32 => arith::<SUB, false, false>,
        C::Subsd_xmm_xmmm64 => arith::<SUB, true, false>,
        C::Mulps_xmm_xmmm128 => arith::<MUL, false, true>,
        C::Mulpd_xmm_xmmm128 => arith::<MUL, true, true>,
        C::Mulss_xmm_xmmm32 => arith::<MUL, false, false>,
        C::Mulsd_xmm_xmmm64 => arith::<MUL, true, false>,
        C::Divps_xmm_xmmm128 => arith::<DIV, false, true>,
        C::Divpd_xmm_xmmm128 => arith::<DIV, true, true>,
        C::Divss_xmm_xmmm32 => arith::<DIV, false, false>,
        C::Divsd_xmm_xmmm64 => arith::<DIV, true, false>,
        C::Minps_xmm_xmmm128 => arith::<MIN, false, true>,
        C::Minpd_xmm_xmmm128 => arith::<MIN, true, true>,
        C::Minss_xmm_xmmm32 => arith::<MIN, false, false>,
        C::Minsd_xmm_xmmm64 => arith::<MIN, true, false>,
        C::Maxps_xmm_xmmm128 => arith::<MAX, false, true>,
        C::Maxpd_xmm_xmmm128 => arith::<MAX, true, true>,
        C::Maxss_xmm_xmmm32 => arith::<MAX, false, false>,
        C::Maxsd_xmm_xmmm64 => arith::<MAX, true, false>,
        C::Sqrtps_xmm_xmmm128 => arith::<SQRT, false, true>,
        C::Sqrtpd_xmm_xmmm128 => arith::<SQRT, true, true>,
        C::Sqrtss_xmm_xmmm32 => arith::<SQRT, false, false>,
        C::Sqrtsd_xmm_xmmm64 => arith::<SQRT, true, false>,
        C::Rcpps_xmm_xmmm128 => arith::<RCP, false, true>,
        C::Rcpss_xmm_xmmm32 => arith::<RCP, false, false>,
        C::Rsqrtps_xmm_xmmm128 => arith::<RSQRT, false, true>,
        C::Rsqrtss_xmm_xmmm32 => arith::<RSQRT, false, false>,
        C::Cmpps_xmm_xmmm128_imm8 => arith::<CMP, false, true>,
        C::Cmppd_xmm_xmmm128_imm8 => arith::<CMP, true, true>,
        C::Cmpss_xmm_xmmm32_imm8 => arith::<CMP, false, false>,
        C::Cmpsd_xmm_xmmm64_imm8 => arith::<CMP, true, false>,
        C::Comiss_xmm_xmmm32 => comis::<false, true>,
        C::Ucomiss_xmm_xmmm32 => comis::<false, false>,
        C::Comisd_xmm_xmmm64 => comis::<true, true>,
        C::Ucomisd_xmm_xmmm64 => comis::<true, false>,
        _ => return None,
    })
}

//! Comparisons: FCOM/FCOMP/FCOMPP, FUCOM/FUCOMP/FUCOMPP, FICOM/FICOMP,
//! FCOMI/FCOMIP/FUCOMI/FUCOMIP (to EFLAGS), FTST and FXAM.

use super::arith::mem_operand;
use super::{enter, note, sw};
use crate::decode::{Handler, Op};
use crate::fault::Result;
use crate::state::fl;
use crate::Cpu;
use iced_x86::Code as C;
use tab86_mmu::Bus;
use tab86_softfloat as sf;
use tab86_softfloat::{Flags, Relation, F80};

/// Where the compared operand comes from (const generic `S`).
const M32: u8 = 0;
const M64: u8 = 1;
const I16: u8 = 2;
const I32: u8 = 3;
/// ST(i) (operand 1).
const STI: u8 = 4;
/// ST(1) (FCOMPP/FUCOMPP).
const ST1: u8 = 5;

/// Writes the result of a compare: C3/C2/C0 (or ZF/PF/CF when `EFL`), C1 = 0.
fn put(cpu: &mut Cpu, rel: Relation, efl: bool) {
    let cc = rel.cond_codes();
    cpu.fpu.set_c1(false);
    if efl {
        let st = &mut cpu.state;
        st.materialize_flags();
        let mut f = st.eflags & !fl::ARITH;
        f |= if cc.c3 { fl::ZF } else { 0 };
        f |= if cc.c2 { fl::PF } else { 0 };
        f |= if cc.c0 { fl::CF } else { 0 };
        st.set_arith_flags(f);
    } else {
        cpu.fpu.set_cc(cc.status_bits());
    }
}

/// The compare family. `S` = source, `QUIET` = FUCOM (only SNaNs are invalid),
/// `POPS` = number of pops, `EFL` = FCOMI form (result in EFLAGS).
fn fcom<const S: u8, const QUIET: bool, const POPS: u8, const EFL: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    enter(cpu)?;
    let masks = cpu.fpu.ctl().masks;
    let m = if S < STI {
        Some(mem_operand(cpu, bus, op, S)?)
    } else {
        None
    };
    let si = match S {
        STI => op.r[1],
        ST1 => 1,
        _ => 0,
    };
    let done = if cpu.fpu.empty(0) || (m.is_none() && cpu.fpu.empty(si)) {
        // The condition codes (or EFLAGS) say "unordered" even when #IS is
        // unmasked (observed on hardware, like the #IA case below); the pops are
        // skipped then.
        let masked = cpu.fpu.stack_fault(false);
        put(cpu, Relation::Unordered, EFL);
        masked
    } else {
        let a = cpu.fpu.st(0);
        let (rel, f) = match m {
            Some(m) => sf::compare_mem(a, m, QUIET, masks),
            None => sf::compare(a, cpu.fpu.st(si), QUIET, masks),
        };
        put(cpu, rel, EFL);
        cpu.fpu.signal(f.ex);
        f.unmasked(cpu.fpu.ctl()).bits() == 0
    };
    if done {
        for _ in 0..POPS {
            cpu.fpu.pop();
        }
    }
    note(cpu, op);
    Ok(())
}

/// FTST: compare ST(0) with +0.0.
fn ftst(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    enter(cpu)?;
    if cpu.fpu.empty(0) {
        cpu.fpu.stack_fault(false);
        put(cpu, Relation::Unordered, false);
    } else {
        let (rel, f): (Relation, Flags) = sf::ftst(cpu.fpu.st(0), cpu.fpu.ctl().masks);
        put(cpu, rel, false);
        cpu.fpu.signal(f.ex);
    }
    note(cpu, op);
    Ok(())
}

/// FXAM: classify ST(0); empty is C3,C2,C0 = 101. C1 is the sign bit either way.
fn fxam(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    enter(cpu)?;
    let v: F80 = cpu.fpu.st(0);
    let bits = if cpu.fpu.empty(0) {
        sw::C3 | sw::C0 | if v.sign() { sw::C1 } else { 0 }
    } else {
        sf::fxam(v).status_bits()
    };
    cpu.fpu.set_cc(bits);
    note(cpu, op);
    Ok(())
}

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    let h: Handler = match code {
        C::Fcom_m32fp => fcom::<M32, false, 0, false>,
        C::Fcom_m64fp => fcom::<M64, false, 0, false>,
        C::Fcomp_m32fp => fcom::<M32, false, 1, false>,
        C::Fcomp_m64fp => fcom::<M64, false, 1, false>,
        C::Ficom_m16int => fcom::<I16, false, 0, false>,
        C::Ficom_m32int => fcom::<I32, false, 0, false>,
        C::Ficomp_m16int => fcom::<I16, false, 1, false>,
        C::Ficomp_m32int => fcom::<I32, false, 1, false>,
        C::Fcom_st0_sti | C::Fcom_st0_sti_DCD0 => fcom::<STI, false, 0, false>,
        C::Fcomp_st0_sti | C::Fcomp_st0_sti_DCD8 | C::Fcomp_st0_sti_DED0 => {
            fcom::<STI, false, 1, false>
        }
        C::Fcompp => fcom::<ST1, false, 2, false>,
        C::Fucom_st0_sti => fcom::<STI, true, 0, false>,
        C::Fucomp_st0_sti => fcom::<STI, true, 1, false>,
        C::Fucompp => fcom::<ST1, true, 2, false>,
        C::Fcomi_st0_sti => fcom::<STI, false, 0, true>,
        C::Fcomip_st0_sti => fcom::<STI, false, 1, true>,
        C::Fucomi_st0_sti => fcom::<STI, true, 0, true>,
        C::Fucomip_st0_sti => fcom::<STI, true, 1, true>,
        C::Ftst => ftst,
        C::Fxam => fxam,
        _ => return None,
    };
    Some(h)
}

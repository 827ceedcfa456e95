//! Loads and stores: FLD/FST/FSTP (m32/m64/m80/ST(i)), FILD/FIST/FISTP/FISTTP,
//! FBLD/FBSTP, the FLD constants, FXCH, FCMOVcc, FFREE/FFREEP, FINCSTP/FDECSTP.

use super::{check_write, enter, note, read_mem, write_lin_bytes};
use crate::decode::{Handler, Op};
use crate::fault::Result;
use crate::Cpu;
use iced_x86::Code as C;
use tab86_mmu::Bus;
use tab86_softfloat as sf;
use tab86_softfloat::{Const, Flags, F80};

/// Memory formats for the const generic `M`.
const F32: u8 = 0;
const F64: u8 = 1;
const F80M: u8 = 2;
const I16: u8 = 3;
const I32: u8 = 4;
const I64: u8 = 5;
const BCD: u8 = 6;

/// Size in bytes of memory format `m`.
const fn size(m: u8) -> usize {
    match m {
        F32 | I32 => 4,
        F64 | I64 => 8,
        I16 => 2,
        _ => 10,
    }
}

/// Pushes `v` unless the push overflows; on overflow applies the #IS response
/// (masked: push the indefinite). Returns false when `v` was not pushed.
fn push_checked(cpu: &mut Cpu, v: F80, f: Flags) -> bool {
    match cpu.fpu.check_push() {
        Ok(()) => {
            cpu.fpu.apply(f);
            if f.suppressed {
                return false;
            }
            cpu.fpu.push(v);
            true
        }
        Err(masked) => {
            if masked {
                cpu.fpu.push(F80::INDEFINITE);
            }
            false
        }
    }
}

/// FLD m32fp/m64fp/m80fp, FILD m16/m32/m64int, FBLD m80bcd.
fn load<const M: u8>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    enter(cpu)?;
    let mut b = [0u8; 10];
    read_mem(cpu, bus, op, 0, &mut b[..size(M)])?;
    let masks = cpu.fpu.ctl().masks;
    let q = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    let (v, f) = match M {
        F32 => sf::from_f32_bits(q as u32, masks),
        F64 => sf::from_f64_bits(q, masks),
        F80M => (F80::from_le_bytes(b), Flags::default()),
        I16 => (sf::from_i16(q as i16), Flags::default()),
        I32 => (sf::from_i32(q as i32), Flags::default()),
        I64 => (sf::from_i64(q as i64), Flags::default()),
        _ => (sf::from_bcd(b), Flags::default()),
    };
    push_checked(cpu, v, f);
    note(cpu, op);
    Ok(())
}

/// FLD ST(i).
fn fld_sti(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    enter(cpu)?;
    let i = op.r[0];
    if cpu.fpu.empty(i) {
        if cpu.fpu.stack_fault(false) {
            cpu.fpu.push(F80::INDEFINITE);
        }
    } else {
        let v = cpu.fpu.st(i);
        push_checked(cpu, v, Flags::default());
    }
    note(cpu, op);
    Ok(())
}

/// The FLD constants.
fn fld_const<const K: u8>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    enter(cpu)?;
    let c = match K {
        0 => Const::One,
        1 => Const::L2T,
        2 => Const::L2E,
        3 => Const::Pi,
        4 => Const::LG2,
        5 => Const::LN2,
        _ => Const::Zero,
    };
    let v = sf::load_const(c, cpu.fpu.ctl().rounding);
    push_checked(cpu, v, Flags::default());
    note(cpu, op);
    Ok(())
}

/// The memory image stored for an empty ST(0) under a masked stack underflow.
fn indefinite_image(m: u8) -> [u8; 10] {
    let mut b = [0u8; 10];
    match m {
        F32 => b[..4].copy_from_slice(&0xFFC0_0000u32.to_le_bytes()),
        F64 => b[..8].copy_from_slice(&0xFFF8_0000_0000_0000u64.to_le_bytes()),
        F80M => b = F80::INDEFINITE.to_le_bytes(),
        I16 => b[1] = 0x80,
        I32 => b[3] = 0x80,
        I64 => b[7] = 0x80,
        _ => b = sf::BCD_INDEFINITE,
    }
    b
}

/// FST/FSTP m32fp/m64fp/m80fp, FIST/FISTP/FISTTP m16/m32/m64int, FBSTP m80bcd.
/// `POP` pops after a completed store; `TRUNC` is FISTTP (truncating).
fn store<const M: u8, const POP: bool, const TRUNC: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    enter(cpu)?;
    let n = size(M);
    let lin = check_write(cpu, bus, op, n as u32)?;
    let image = if cpu.fpu.empty(0) {
        if cpu.fpu.stack_fault(false) {
            Some(indefinite_image(M))
        } else {
            None
        }
    } else {
        let a = cpu.fpu.st(0);
        let ctl = cpu.fpu.ctl();
        let mut b = [0u8; 10];
        let f = match M {
            F32 => {
                let (v, f) = sf::to_f32_bits(a, ctl);
                b[..4].copy_from_slice(&v.to_le_bytes());
                f
            }
            F64 => {
                let (v, f) = sf::to_f64_bits(a, ctl);
                b[..8].copy_from_slice(&v.to_le_bytes());
                f
            }
            F80M => {
                b = a.to_le_bytes();
                Flags::default()
            }
            I16 => {
                let (v, f) = if TRUNC {
                    sf::to_i16_trunc(a, ctl)
                } else {
                    sf::to_i16(a, ctl)
                };
                b[..2].copy_from_slice(&v.to_le_bytes());
                f
            }
            I32 => {
                let (v, f) = if TRUNC {
                    sf::to_i32_trunc(a, ctl)
                } else {
                    sf::to_i32(a, ctl)
                };
                b[..4].copy_from_slice(&v.to_le_bytes());
                f
            }
            I64 => {
                let (v, f) = if TRUNC {
                    sf::to_i64_trunc(a, ctl)
                } else {
                    sf::to_i64(a, ctl)
                };
                b[..8].copy_from_slice(&v.to_le_bytes());
                f
            }
            _ => {
                let (v, f) = sf::to_bcd(a, ctl);
                b = v;
                f
            }
        };
        cpu.fpu.apply(f);
        (!f.suppressed).then_some(b)
    };
    if let Some(b) = image {
        write_lin_bytes(cpu, bus, lin, &b[..n])?;
        if POP {
            cpu.fpu.pop();
        }
    }
    note(cpu, op);
    Ok(())
}

/// FST/FSTP ST(i) (and the undocumented FSTP1/FSTP8/FSTP9 aliases): a plain copy,
/// no exception for NaNs or unsupported encodings.
fn fst_sti<const POP: bool>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    enter(cpu)?;
    let i = op.r[0];
    let done = if cpu.fpu.empty(0) {
        let masked = cpu.fpu.stack_fault(false);
        if masked {
            cpu.fpu.set_st(i, F80::INDEFINITE);
        }
        masked
    } else {
        let v = cpu.fpu.st(0);
        cpu.fpu.set_st(i, v);
        cpu.fpu.set_c1(false);
        true
    };
    if POP && done {
        cpu.fpu.pop();
    }
    note(cpu, op);
    Ok(())
}

/// FXCH ST(i): an empty register takes part as the indefinite (masked #IS).
fn fxch(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    enter(cpu)?;
    let i = op.r[1];
    let (e0, ei) = (cpu.fpu.empty(0), cpu.fpu.empty(i));
    let ok = if e0 || ei {
        cpu.fpu.stack_fault(false)
    } else {
        cpu.fpu.set_c1(false);
        true
    };
    if ok {
        let pick = |e: bool, v: F80| if e { F80::INDEFINITE } else { v };
        let a = pick(e0, cpu.fpu.st(0));
        let b = pick(ei, cpu.fpu.st(i));
        cpu.fpu.set_st(0, b);
        cpu.fpu.set_st(i, a);
    }
    note(cpu, op);
    Ok(())
}

/// FCMOVcc ST(0), ST(i) with `CC` a Jcc condition code (B, E, BE, U and negations).
fn fcmov<const CC: u8>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    enter(cpu)?;
    let i = op.r[1];
    if cpu.fpu.empty(0) || cpu.fpu.empty(i) {
        if cpu.fpu.stack_fault(false) {
            cpu.fpu.set_st(0, F80::INDEFINITE);
        }
    } else {
        if cpu.state.cond(CC) {
            let v = cpu.fpu.st(i);
            cpu.fpu.set_st(0, v);
        }
        cpu.fpu.set_c1(false);
    }
    note(cpu, op);
    Ok(())
}

/// FFREE ST(i) / FFREEP ST(i): tag it empty (and pop).
fn ffree<const POP: bool>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    enter(cpu)?;
    let p = cpu.fpu.phys(op.r[0]);
    cpu.fpu.tags &= !(1 << p);
    if POP {
        cpu.fpu.pop();
    }
    note(cpu, op);
    Ok(())
}

/// FINCSTP / FDECSTP: rotate TOP without touching tags; C1 = 0.
fn fstp_rot<const INC: bool>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    enter(cpu)?;
    let t = cpu.fpu.top() + if INC { 1 } else { 7 };
    cpu.fpu.set_top(t);
    cpu.fpu.set_c1(false);
    note(cpu, op);
    Ok(())
}

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    let h: Handler = match code {
        C::Fld_m32fp => load::<F32>,
        C::Fld_m64fp => load::<F64>,
        C::Fld_m80fp => load::<F80M>,
        C::Fild_m16int => load::<I16>,
        C::Fild_m32int => load::<I32>,
        C::Fild_m64int => load::<I64>,
        C::Fbld_m80bcd => load::<BCD>,
        C::Fld_sti => fld_sti,
        C::Fld1 => fld_const::<0>,
        C::Fldl2t => fld_const::<1>,
        C::Fldl2e => fld_const::<2>,
        C::Fldpi => fld_const::<3>,
        C::Fldlg2 => fld_const::<4>,
        C::Fldln2 => fld_const::<5>,
        C::Fldz => fld_const::<6>,
        C::Fst_m32fp => store::<F32, false, false>,
        C::Fstp_m32fp => store::<F32, true, false>,
        C::Fst_m64fp => store::<F64, false, false>,
        C::Fstp_m64fp => store::<F64, true, false>,
        C::Fstp_m80fp => store::<F80M, true, false>,
        C::Fist_m16int => store::<I16, false, false>,
        C::Fistp_m16int => store::<I16, true, false>,
        C::Fist_m32int => store::<I32, false, false>,
        C::Fistp_m32int => store::<I32, true, false>,
        C::Fistp_m64int => store::<I64, true, false>,
        C::Fisttp_m16int => store::<I16, true, true>,
        C::Fisttp_m32int => store::<I32, true, true>,
        C::Fisttp_m64int => store::<I64, true, true>,
        C::Fbstp_m80bcd => store::<BCD, true, false>,
        C::Fst_sti => fst_sti::<false>,
        C::Fstp_sti | C::Fstpnce_sti | C::Fstp_sti_DFD0 | C::Fstp_sti_DFD8 => fst_sti::<true>,
        C::Fxch_st0_sti | C::Fxch_st0_sti_DDC8 | C::Fxch_st0_sti_DFC8 => fxch,
        C::Fcmovb_st0_sti => fcmov::<0x2>,
        C::Fcmovnb_st0_sti => fcmov::<0x3>,
        C::Fcmove_st0_sti => fcmov::<0x4>,
        C::Fcmovne_st0_sti => fcmov::<0x5>,
        C::Fcmovbe_st0_sti => fcmov::<0x6>,
        C::Fcmovnbe_st0_sti => fcmov::<0x7>,
        C::Fcmovu_st0_sti => fcmov::<0xA>,
        C::Fcmovnu_st0_sti => fcmov::<0xB>,
        C::Ffree_sti => ffree::<false>,
        C::Ffreep_sti => ffree::<true>,
        C::Fincstp => fstp_rot::<true>,
        C::Fdecstp => fstp_rot::<false>,
        _ => return None,
    };
    Some(h)
}

//! Arithmetic: FADD/FSUB/FSUBR/FMUL/FDIV/FDIVR in every form, FIADD.. (m16/m32
//! int), FCHS, FABS, FSQRT, FRNDINT, FSCALE, FXTRACT, FPREM, FPREM1 and the
//! transcendentals F2XM1, FYL2X, FYL2XP1, FPATAN, FSIN, FCOS, FSINCOS, FPTAN.

use super::{enter, note, read_mem, sw};
use crate::decode::{Handler, Op};
use crate::fault::Result;
use crate::Cpu;
use iced_x86::Code as C;
use tab86_mmu::Bus;
use tab86_softfloat as sf;
use tab86_softfloat::{BinOp, Control, Flags, MemOperand, F80};

/// Operation numbers for the const generic `OP`.
const ADD: u8 = 0;
const SUB: u8 = 1;
const SUBR: u8 = 2;
const MUL: u8 = 3;
const DIV: u8 = 4;
const DIVR: u8 = 5;

/// Operand forms for the const generic `F`.
const M32: u8 = 0;
const M64: u8 = 1;
const I16: u8 = 2;
const I32: u8 = 3;
/// ST(0) ← ST(0) op ST(i).
const ST0_STI: u8 = 4;
/// ST(i) ← ST(i) op ST(0).
const STI_ST0: u8 = 5;
/// ST(i) ← ST(i) op ST(0), then pop.
const STI_ST0_POP: u8 = 6;

fn binop(op: u8) -> BinOp {
    match op {
        ADD => BinOp::Add,
        SUB => BinOp::Sub,
        SUBR => BinOp::SubR,
        MUL => BinOp::Mul,
        DIV => BinOp::Div,
        _ => BinOp::DivR,
    }
}

/// `d op s` with the operands in instruction order (d = destination).
fn reg_op(op: u8, d: F80, s: F80, ctl: Control) -> (F80, Flags) {
    match op {
        ADD => sf::add(d, s, ctl),
        SUB => sf::sub(d, s, ctl),
        SUBR => sf::sub(s, d, ctl),
        MUL => sf::mul(d, s, ctl),
        DIV => sf::div(d, s, ctl),
        _ => sf::div(s, d, ctl),
    }
}

/// Reads the memory source of an arithmetic/compare form `F`.
pub(super) fn mem_operand(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
    form: u8,
) -> Result<MemOperand> {
    let mut b = [0u8; 8];
    Ok(match form {
        M32 => {
            read_mem(cpu, bus, op, 0, &mut b[..4])?;
            MemOperand::F32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        }
        M64 => {
            read_mem(cpu, bus, op, 0, &mut b)?;
            MemOperand::F64(u64::from_le_bytes(b))
        }
        I16 => {
            read_mem(cpu, bus, op, 0, &mut b[..2])?;
            MemOperand::I16(i16::from_le_bytes([b[0], b[1]]))
        }
        _ => {
            read_mem(cpu, bus, op, 0, &mut b[..4])?;
            MemOperand::I32(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        }
    })
}

/// The two-operand arithmetic instructions.
fn arith<const OP: u8, const F: u8>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    enter(cpu)?;
    let ctl = cpu.fpu.ctl();
    if F <= I32 {
        let m = mem_operand(cpu, bus, op, F)?;
        if cpu.fpu.empty(0) {
            if cpu.fpu.stack_fault(false) {
                cpu.fpu.set_st(0, F80::INDEFINITE);
            }
        } else {
            let (v, f) = sf::arith_mem(binop(OP), cpu.fpu.st(0), m, ctl);
            cpu.fpu.apply(f);
            if !f.suppressed {
                cpu.fpu.set_st(0, v);
            }
        }
    } else {
        let i = if F == ST0_STI { op.r[1] } else { op.r[0] };
        let (di, si) = if F == ST0_STI { (0, i) } else { (i, 0) };
        let mut done = true;
        if cpu.fpu.empty(di) || cpu.fpu.empty(si) {
            if cpu.fpu.stack_fault(false) {
                cpu.fpu.set_st(di, F80::INDEFINITE);
            } else {
                done = false;
            }
        } else {
            let (v, f) = reg_op(OP, cpu.fpu.st(di), cpu.fpu.st(si), ctl);
            cpu.fpu.apply(f);
            if f.suppressed {
                done = false;
            } else {
                cpu.fpu.set_st(di, v);
            }
        }
        if F == STI_ST0_POP && done {
            cpu.fpu.pop();
        }
    }
    note(cpu, op);
    Ok(())
}

/// Shared shape of the one-operand instructions on ST(0): `f` gets ST(0) and
/// returns the new value (unless suppressed) and the flags.
fn unary(cpu: &mut Cpu, op: &Op, f: impl Fn(F80, Control) -> (F80, Flags)) -> Result<()> {
    enter(cpu)?;
    if cpu.fpu.empty(0) {
        if cpu.fpu.stack_fault(false) {
            cpu.fpu.set_st(0, F80::INDEFINITE);
        }
    } else {
        let (v, fl) = f(cpu.fpu.st(0), cpu.fpu.ctl());
        cpu.fpu.apply(fl);
        if !fl.suppressed {
            cpu.fpu.set_st(0, v);
        }
    }
    note(cpu, op);
    Ok(())
}

fn fchs(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    unary(cpu, op, |a, _| (a.chs(), Flags::default()))
}

fn fabs(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    unary(cpu, op, |a, _| (a.abs(), Flags::default()))
}

fn fsqrt(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    unary(cpu, op, sf::sqrt)
}

fn frndint(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    unary(cpu, op, sf::frndint)
}

fn f2xm1(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    unary(cpu, op, sf::f2xm1)
}

/// FSIN/FCOS: C2 = 1 (operand out of range, ST(0) unchanged) for |x| >= 2^63.
fn trig<const COS: bool>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    enter(cpu)?;
    if cpu.fpu.empty(0) {
        cpu.fpu.fsw &= !sw::C2;
        if cpu.fpu.stack_fault(false) {
            cpu.fpu.set_st(0, F80::INDEFINITE);
        }
    } else {
        let a = cpu.fpu.st(0);
        let ctl = cpu.fpu.ctl();
        let (v, f, c2) = if COS {
            sf::fcos(a, ctl)
        } else {
            sf::fsin(a, ctl)
        };
        cpu.fpu.apply(f);
        set_c2(cpu, c2);
        if !f.suppressed && !c2 {
            cpu.fpu.set_st(0, v);
        }
    }
    note(cpu, op);
    Ok(())
}

fn set_c2(cpu: &mut Cpu, on: bool) {
    cpu.fpu.fsw = (cpu.fpu.fsw & !sw::C2) | if on { sw::C2 } else { 0 };
}

/// FPTAN: ST(0) ← tan ST(0), then push +1.0 (nothing pushed when C2 = 1).
/// FSINCOS: ST(0) ← sin, then push cos.
fn push_pair<const SINCOS: bool>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    enter(cpu)?;
    if cpu.fpu.empty(0) || !cpu.fpu.empty(7) {
        // #IS: underflow if ST(0) is empty, otherwise overflow.
        let over = !cpu.fpu.empty(0);
        cpu.fpu.fsw &= !sw::C2;
        if cpu.fpu.stack_fault(over) {
            cpu.fpu.set_st(0, F80::INDEFINITE);
            cpu.fpu.push(F80::INDEFINITE);
        }
    } else {
        let a = cpu.fpu.st(0);
        let ctl = cpu.fpu.ctl();
        let (v0, v1, f, c2) = if SINCOS {
            sf::fsincos(a, ctl)
        } else {
            // A NaN result (NaN, ∞ or unsupported operand) is pushed instead of
            // the +1.0, as on hardware.
            let (t, f, c2) = sf::fptan(a, ctl);
            (t, if t.is_nan() { t } else { F80::ONE }, f, c2)
        };
        cpu.fpu.apply(f);
        set_c2(cpu, c2);
        if !f.suppressed && !c2 {
            cpu.fpu.set_st(0, v0);
            cpu.fpu.push(v1);
        }
    }
    note(cpu, op);
    Ok(())
}

/// The two-operand instructions on ST(0) and ST(1): FSCALE writes ST(0);
/// FYL2X/FYL2XP1/FPATAN (`to_st1`) write ST(1) and pop.
fn st01(
    cpu: &mut Cpu,
    op: &Op,
    to_st1: bool,
    f: impl Fn(F80, F80, Control) -> (F80, Flags),
) -> Result<()> {
    enter(cpu)?;
    let d = if to_st1 { 1 } else { 0 };
    let mut done = true;
    if cpu.fpu.empty(0) || cpu.fpu.empty(1) {
        if cpu.fpu.stack_fault(false) {
            cpu.fpu.set_st(d, F80::INDEFINITE);
        } else {
            done = false;
        }
    } else {
        let (v, fl) = f(cpu.fpu.st(0), cpu.fpu.st(1), cpu.fpu.ctl());
        cpu.fpu.apply(fl);
        if fl.suppressed {
            done = false;
        } else {
            cpu.fpu.set_st(d, v);
        }
    }
    if to_st1 && done {
        cpu.fpu.pop();
    }
    note(cpu, op);
    Ok(())
}

fn fscale(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    st01(cpu, op, false, sf::fscale)
}

fn fyl2x(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    st01(cpu, op, true, sf::fyl2x)
}

fn fyl2xp1(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    st01(cpu, op, true, sf::fyl2xp1)
}

fn fpatan(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    st01(cpu, op, true, |x, y, c| sf::fpatan(y, x, c))
}

/// FPREM/FPREM1: ST(0) ← remainder of ST(0) / ST(1); C0, C3, C1 = quotient
/// bits Q2, Q1, Q0 and C2 = incomplete reduction.
fn fprem<const IEEE: bool>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    enter(cpu)?;
    if cpu.fpu.empty(0) || cpu.fpu.empty(1) {
        cpu.fpu.fsw &= !sw::C2;
        if cpu.fpu.stack_fault(false) {
            cpu.fpu.set_st(0, F80::INDEFINITE);
        }
    } else {
        let (a, b, ctl) = (cpu.fpu.st(0), cpu.fpu.st(1), cpu.fpu.ctl());
        let (v, f, cc) = if IEEE {
            sf::fprem1(a, b, ctl)
        } else {
            sf::fprem(a, b, ctl)
        };
        cpu.fpu.signal(f.ex);
        cpu.fpu.set_cc(cc.status_bits());
        if !f.suppressed {
            cpu.fpu.set_st(0, v);
        }
    }
    note(cpu, op);
    Ok(())
}

/// FXTRACT: ST(0) ← exponent, then push the significand.
fn fxtract(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    enter(cpu)?;
    if cpu.fpu.empty(0) || !cpu.fpu.empty(7) {
        let over = !cpu.fpu.empty(0);
        if cpu.fpu.stack_fault(over) {
            cpu.fpu.set_st(0, F80::INDEFINITE);
            cpu.fpu.push(F80::INDEFINITE);
        }
    } else {
        let (e, s, f) = sf::fxtract(cpu.fpu.st(0), cpu.fpu.ctl());
        cpu.fpu.apply(f);
        if !f.suppressed {
            cpu.fpu.set_st(0, e);
            cpu.fpu.push(s);
        }
    }
    note(cpu, op);
    Ok(())
}

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    macro_rules! ops {
        ($($name:ident => $op:expr),* $(,)?) => {
            match code {
                $(C::$name => Some($op as Handler),)*
                _ => None,
            }
        };
    }
    ops! {
        Fadd_m32fp => arith::<ADD, M32>, Fadd_m64fp => arith::<ADD, M64>,
        Fiadd_m16int => arith::<ADD, I16>, Fiadd_m32int => arith::<ADD, I32>,
        Fadd_st0_sti => arith::<ADD, ST0_STI>, Fadd_sti_st0 => arith::<ADD, STI_ST0>,
        Faddp_sti_st0 => arith::<ADD, STI_ST0_POP>,
        Fsub_m32fp => arith::<SUB, M32>, Fsub_m64fp => arith::<SUB, M64>,
        Fisub_m16int => arith::<SUB, I16>, Fisub_m32int => arith::<SUB, I32>,
        Fsub_st0_sti => arith::<SUB, ST0_STI>, Fsub_sti_st0 => arith::<SUB, STI_ST0>,
        Fsubp_sti_st0 => arith::<SUB, STI_ST0_POP>,
        Fsubr_m32fp => arith::<SUBR, M32>, Fsubr_m64fp => arith::<SUBR, M64>,
        Fisubr_m16int => arith::<SUBR, I16>, Fisubr_m32int => arith::<SUBR, I32>,
        Fsubr_st0_sti => arith::<SUBR, ST0_STI>, Fsubr_sti_st0 => arith::<SUBR, STI_ST0>,
        Fsubrp_sti_st0 => arith::<SUBR, STI_ST0_POP>,
        Fmul_m32fp => arith::<MUL, M32>, Fmul_m64fp => arith::<MUL, M64>,
        Fimul_m16int => arith::<MUL, I16>, Fimul_m32int => arith::<MUL, I32>,
        Fmul_st0_sti => arith::<MUL, ST0_STI>, Fmul_sti_st0 => arith::<MUL, STI_ST0>,
        Fmulp_sti_st0 => arith::<MUL, STI_ST0_POP>,
        Fdiv_m32fp => arith::<DIV, M32>, Fdiv_m64fp => arith::<DIV, M64>,
        Fidiv_m16int => arith::<DIV, I16>, Fidiv_m32int => arith::<DIV, I32>,
        Fdiv_st0_sti => arith::<DIV, ST0_STI>, Fdiv_sti_st0 => arith::<DIV, STI_ST0>,
        Fdivp_sti_st0 => arith::<DIV, STI_ST0_POP>,
        Fdivr_m32fp => arith::<DIVR, M32>, Fdivr_m64fp => arith::<DIVR, M64>,
        Fidivr_m16int => arith::<DIVR, I16>, Fidivr_m32int => arith::<DIVR, I32>,
        Fdivr_st0_sti => arith::<DIVR, ST0_STI>, Fdivr_sti_st0 => arith::<DIVR, STI_ST0>,
        Fdivrp_sti_st0 => arith::<DIVR, STI_ST0_POP>,
        Fchs => fchs, Fabs => fabs, Fsqrt => fsqrt, Frndint => frndint,
        Fscale => fscale, Fxtract => fxtract,
        Fprem => fprem::<false>, Fprem1 => fprem::<true>,
        F2xm1 => f2xm1, Fyl2x => fyl2x, Fyl2xp1 => fyl2xp1, Fpatan => fpatan,
        Fsin => trig::<false>, Fcos => trig::<true>,
        Fsincos => push_pair::<true>, Fptan => push_pair::<false>,
    }
}

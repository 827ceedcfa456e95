//! Integer arithmetic and logic: ADD, OR, ADC, SBB, AND, SUB, XOR, CMP, TEST, INC,
//! DEC, NEG, NOT. Flags are recorded lazily (see `flags.rs`).

use super::size_code;
use crate::decode::{kind, Handler, Op};
use crate::fault::Result;
use crate::flags::lf;
use crate::state::CpuState;
use crate::Cpu;
use iced_x86::Code as C;
use tab86_mmu::Bus;

const ADD: u8 = 0;
const OR: u8 = 1;
const ADC: u8 = 2;
const SBB: u8 = 3;
const AND: u8 = 4;
const SUB: u8 = 5;
const XOR: u8 = 6;
const CMP: u8 = 7;
const TEST: u8 = 8;

/// The result of ALU operation `K` (CF is the carry-in of ADC and SBB).
#[inline(always)]
fn alu_result<const K: u8>(s: &CpuState, a: u32, b: u32) -> u32 {
    match K {
        ADD => a.wrapping_add(b),
        OR => a | b,
        AND | TEST => a & b,
        SUB | CMP => a.wrapping_sub(b),
        XOR => a ^ b,
        ADC => a.wrapping_add(b).wrapping_add(s.cf() as u32),
        _ => a.wrapping_sub(b).wrapping_sub(s.cf() as u32),
    }
}

/// Records the lazy flags of ALU operation `K` whose result is `r`; called after
/// the destination write, the last thing that can fault (CF is still the carry-in).
#[inline(always)]
fn alu_flags<const K: u8>(s: &mut CpuState, sz: u32, a: u32, b: u32, r: u32) {
    match K {
        ADD => s.set_lazy(lf::ADD | sz, a, b, r),
        SUB | CMP => s.set_lazy(lf::SUB | sz, a, b, r),
        ADC => {
            let c = s.cf() as u32;
            s.set_lazy_carry(lf::ADC | sz, a, b, c, r)
        }
        SBB => {
            let c = s.cf() as u32;
            s.set_lazy_carry(lf::SBB | sz, a, b, c, r)
        }
        _ => s.set_lazy(lf::LOGIC | sz, a, b, r),
    }
}

/// `dst = dst OP src` for the eight classic ALU operations (and TEST). `F` is the
/// operand form chosen at decode time: [`kind::NONE`] for any form, or the
/// source's kind (`REG`, `MEM`, `IMM`) when the destination is a register.
fn alu<const K: u8, const S: u32, const F: u8>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    let sz = size_code(S);
    if F != kind::NONE {
        let b = match F {
            kind::REG => cpu.reg(op.r[1], S),
            kind::IMM => op.imm,
            _ => {
                let ea = cpu.ea(op);
                cpu.read_sz(bus, op.seg as usize, ea, S)?
            }
        };
        let a = cpu.reg(op.r[0], S);
        let r = alu_result::<K>(&cpu.state, a, b);
        alu_flags::<K>(&mut cpu.state, sz, a, b, r);
        if K != CMP && K != TEST {
            cpu.set_reg(op.r[0], S, r);
        }
        return Ok(());
    }
    let b = cpu.read_op(bus, op, 1, S)?;
    if K == CMP || K == TEST {
        let a = cpu.read_op(bus, op, 0, S)?;
        if K == CMP {
            cpu.state.set_lazy(lf::SUB | sz, a, b, a.wrapping_sub(b));
        } else {
            cpu.state.set_lazy(lf::LOGIC | sz, a, b, a & b);
        }
        return Ok(());
    }
    let (a, loc) = cpu.rmw_begin(bus, op, S)?;
    let r = alu_result::<K>(&cpu.state, a, b);
    cpu.rmw_end(bus, loc, S, r)?;
    alu_flags::<K>(&mut cpu.state, sz, a, b, r);
    Ok(())
}

/// INC/DEC/NEG/NOT read-modify-write of operand 0 (`R` when it is a register):
/// writes `f(a)` and returns `(a, f(a))` so the caller sets flags after the
/// write, which is the last thing that can fault.
#[inline(always)]
fn unary<const S: u32, const R: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
    f: impl FnOnce(u32) -> u32,
) -> Result<(u32, u32)> {
    if R {
        let a = cpu.reg(op.r[0], S);
        let r = f(a);
        cpu.set_reg(op.r[0], S, r);
        return Ok((a, r));
    }
    let (a, loc) = cpu.rmw_begin(bus, op, S)?;
    let r = f(a);
    cpu.rmw_end(bus, loc, S, r)?;
    Ok((a, r))
}

fn inc<const S: u32, const R: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let (a, r) = unary::<S, R>(cpu, bus, op, |a| a.wrapping_add(1))?;
    cpu.state.set_lazy_keep_cf(lf::INC | size_code(S), a, r);
    Ok(())
}

fn dec<const S: u32, const R: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let (a, r) = unary::<S, R>(cpu, bus, op, |a| a.wrapping_sub(1))?;
    cpu.state.set_lazy_keep_cf(lf::DEC | size_code(S), a, r);
    Ok(())
}

fn neg<const S: u32, const R: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let (a, r) = unary::<S, R>(cpu, bus, op, |a| 0u32.wrapping_sub(a))?;
    cpu.state.set_lazy(lf::NEG | size_code(S), 0, a, r);
    Ok(())
}

fn not<const S: u32, const R: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    unary::<S, R>(cpu, bus, op, |a| !a).map(|_| ())
}

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    table::<{ kind::NONE }, false>(code)
}

/// The handler for the form of `op` when a faster one than [`lookup`]'s exists:
/// register destinations with a register, immediate or memory source.
pub fn specialize(op: &Op) -> Option<Handler> {
    if op.kind[0] != kind::REG {
        return None;
    }
    match op.kind[1] {
        kind::REG => table::<{ kind::REG }, true>(op.code),
        kind::IMM => table::<{ kind::IMM }, true>(op.code),
        kind::MEM => table::<{ kind::MEM }, true>(op.code),
        kind::NONE => table::<{ kind::NONE }, true>(op.code),
        _ => None,
    }
}

/// The dispatch table, instantiated for one operand form: `F` for the binary
/// operations (see [`alu`]), `R` (register operand 0) for the unary ones.
fn table<const F: u8, const R: bool>(code: C) -> Option<Handler> {
    macro_rules! alu_table {
        ($($k:ident: [$($c8:ident)*] [$($c16:ident)*] [$($c32:ident)*];)*) => {
            match code {
                $(
                    $(C::$c8)|* => Some(alu::<$k, 1, F> as Handler),
                    $(C::$c16)|* => Some(alu::<$k, 2, F> as Handler),
                    $(C::$c32)|* => Some(alu::<$k, 4, F> as Handler),
                )*
                _ => None,
            }
        };
    }
    let h = alu_table! {
        ADD: [Add_rm8_r8 Add_r8_rm8 Add_AL_imm8 Add_rm8_imm8 Add_rm8_imm8_82]
             [Add_rm16_r16 Add_r16_rm16 Add_AX_imm16 Add_rm16_imm16 Add_rm16_imm8]
             [Add_rm32_r32 Add_r32_rm32 Add_EAX_imm32 Add_rm32_imm32 Add_rm32_imm8];
        OR:  [Or_rm8_r8 Or_r8_rm8 Or_AL_imm8 Or_rm8_imm8 Or_rm8_imm8_82]
             [Or_rm16_r16 Or_r16_rm16 Or_AX_imm16 Or_rm16_imm16 Or_rm16_imm8]
             [Or_rm32_r32 Or_r32_rm32 Or_EAX_imm32 Or_rm32_imm32 Or_rm32_imm8];
        ADC: [Adc_rm8_r8 Adc_r8_rm8 Adc_AL_imm8 Adc_rm8_imm8 Adc_rm8_imm8_82]
             [Adc_rm16_r16 Adc_r16_rm16 Adc_AX_imm16 Adc_rm16_imm16 Adc_rm16_imm8]
             [Adc_rm32_r32 Adc_r32_rm32 Adc_EAX_imm32 Adc_rm32_imm32 Adc_rm32_imm8];
        SBB: [Sbb_rm8_r8 Sbb_r8_rm8 Sbb_AL_imm8 Sbb_rm8_imm8 Sbb_rm8_imm8_82]
             [Sbb_rm16_r16 Sbb_r16_rm16 Sbb_AX_imm16 Sbb_rm16_imm16 Sbb_rm16_imm8]
             [Sbb_rm32_r32 Sbb_r32_rm32 Sbb_EAX_imm32 Sbb_rm32_imm32 Sbb_rm32_imm8];
        AND: [And_rm8_r8 And_r8_rm8 And_AL_imm8 And_rm8_imm8 And_rm8_imm8_82]
             [And_rm16_r16 And_r16_rm16 And_AX_imm16 And_rm16_imm16 And_rm16_imm8]
             [And_rm32_r32 And_r32_rm32 And_EAX_imm32 And_rm32_imm32 And_rm32_imm8];
        SUB: [Sub_rm8_r8 Sub_r8_rm8 Sub_AL_imm8 Sub_rm8_imm8 Sub_rm8_imm8_82]
             [Sub_rm16_r16 Sub_r16_rm16 Sub_AX_imm16 Sub_rm16_imm16 Sub_rm16_imm8]
             [Sub_rm32_r32 Sub_r32_rm32 Sub_EAX_imm32 Sub_rm32_imm32 Sub_rm32_imm8];
        XOR: [Xor_rm8_r8 Xor_r8_rm8 Xor_AL_imm8 Xor_rm8_imm8 Xor_rm8_imm8_82]
             [Xor_rm16_r16 Xor_r16_rm16 Xor_AX_imm16 Xor_rm16_imm16 Xor_rm16_imm8]
             [Xor_rm32_r32 Xor_r32_rm32 Xor_EAX_imm32 Xor_rm32_imm32 Xor_rm32_imm8];
        CMP: [Cmp_rm8_r8 Cmp_r8_rm8 Cmp_AL_imm8 Cmp_rm8_imm8 Cmp_rm8_imm8_82]
             [Cmp_rm16_r16 Cmp_r16_rm16 Cmp_AX_imm16 Cmp_rm16_imm16 Cmp_rm16_imm8]
             [Cmp_rm32_r32 Cmp_r32_rm32 Cmp_EAX_imm32 Cmp_rm32_imm32 Cmp_rm32_imm8];
        TEST: [Test_rm8_r8 Test_AL_imm8 Test_rm8_imm8 Test_rm8_imm8_F6r1]
              [Test_rm16_r16 Test_AX_imm16 Test_rm16_imm16 Test_rm16_imm16_F7r1]
              [Test_rm32_r32 Test_EAX_imm32 Test_rm32_imm32 Test_rm32_imm32_F7r1];
    };
    if F != kind::NONE {
        return h;
    }
    h.or(match code {
        C::Inc_rm8 => Some(inc::<1, R> as Handler),
        C::Inc_rm16 | C::Inc_r16 => Some(inc::<2, R>),
        C::Inc_rm32 | C::Inc_r32 => Some(inc::<4, R>),
        C::Dec_rm8 => Some(dec::<1, R>),
        C::Dec_rm16 | C::Dec_r16 => Some(dec::<2, R>),
        C::Dec_rm32 | C::Dec_r32 => Some(dec::<4, R>),
        C::Neg_rm8 => Some(neg::<1, R>),
        C::Neg_rm16 => Some(neg::<2, R>),
        C::Neg_rm32 => Some(neg::<4, R>),
        C::Not_rm8 => Some(not::<1, R>),
        C::Not_rm16 => Some(not::<2, R>),
        C::Not_rm32 => Some(not::<4, R>),
        _ => None,
    })
}

//! Integer arithmetic and logic: ADD, OR, ADC, SBB, AND, SUB, XOR, CMP, TEST, INC,
//! DEC, NEG, NOT. Flags are recorded lazily (see `flags.rs`).

use super::size_code;
use crate::decode::{Handler, Op};
use crate::fault::Result;
use crate::flags::lf;
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

/// `dst = dst OP src` for the eight classic ALU operations (and TEST).
fn alu<const K: u8, const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let b = cpu.read_op(bus, op, 1, S)?;
    let sz = size_code(S);
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
    let s = &mut cpu.state;
    let r = match K {
        ADD => a.wrapping_add(b),
        OR => a | b,
        AND => a & b,
        SUB => a.wrapping_sub(b),
        XOR => a ^ b,
        ADC => a.wrapping_add(b).wrapping_add(s.cf() as u32),
        _ => a.wrapping_sub(b).wrapping_sub(s.cf() as u32),
    };
    cpu.rmw_end(bus, loc, S, r)?;
    let s = &mut cpu.state;
    match K {
        ADD => s.set_lazy(lf::ADD | sz, a, b, r),
        SUB => s.set_lazy(lf::SUB | sz, a, b, r),
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
    Ok(())
}

fn inc<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let (a, loc) = cpu.rmw_begin(bus, op, S)?;
    let r = a.wrapping_add(1);
    cpu.rmw_end(bus, loc, S, r)?;
    cpu.state.set_lazy_keep_cf(lf::INC | size_code(S), a, r);
    Ok(())
}

fn dec<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let (a, loc) = cpu.rmw_begin(bus, op, S)?;
    let r = a.wrapping_sub(1);
    cpu.rmw_end(bus, loc, S, r)?;
    cpu.state.set_lazy_keep_cf(lf::DEC | size_code(S), a, r);
    Ok(())
}

fn neg<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let (a, loc) = cpu.rmw_begin(bus, op, S)?;
    let r = 0u32.wrapping_sub(a);
    cpu.rmw_end(bus, loc, S, r)?;
    cpu.state.set_lazy(lf::NEG | size_code(S), 0, a, r);
    Ok(())
}

fn not<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let (a, loc) = cpu.rmw_begin(bus, op, S)?;
    cpu.rmw_end(bus, loc, S, !a)
}

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    macro_rules! alu_table {
        ($($k:ident: [$($c8:ident)*] [$($c16:ident)*] [$($c32:ident)*];)*) => {
            match code {
                $(
                    $(C::$c8)|* => Some(alu::<$k, 1> as Handler),
                    $(C::$c16)|* => Some(alu::<$k, 2> as Handler),
                    $(C::$c32)|* => Some(alu::<$k, 4> as Handler),
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
    h.or(match code {
        C::Inc_rm8 => Some(inc::<1> as Handler),
        C::Inc_rm16 | C::Inc_r16 => Some(inc::<2>),
        C::Inc_rm32 | C::Inc_r32 => Some(inc::<4>),
        C::Dec_rm8 => Some(dec::<1>),
        C::Dec_rm16 | C::Dec_r16 => Some(dec::<2>),
        C::Dec_rm32 | C::Dec_r32 => Some(dec::<4>),
        C::Neg_rm8 => Some(neg::<1>),
        C::Neg_rm16 => Some(neg::<2>),
        C::Neg_rm32 => Some(neg::<4>),
        C::Not_rm8 => Some(not::<1>),
        C::Not_rm16 => Some(not::<2>),
        C::Not_rm32 => Some(not::<4>),
        _ => None,
    })
}

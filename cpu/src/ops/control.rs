//! Near control transfers: JMP, Jcc, CALL, RET, LOOP/LOOPcc, JCXZ/JECXZ, and the
//! software interrupts INT n, INT3, INTO, INT1, and HLT.

use crate::decode::{Handler, Op};
use crate::fault::{vector, Fault, Result};
use crate::interrupt::IntKind;
use crate::state::reg;
use crate::Cpu;
use iced_x86::Code as C;
use tab86_mmu::Bus;

/// JMP rel; W16 wraps the target to 16 bits (16-bit operand size).
fn jmp_rel<const W16: bool>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    let t = cpu.next_eip.wrapping_add(op.imm);
    cpu.branch_to(t, W16);
    Ok(())
}

fn jcc<const CC: u8, const W16: bool>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    if cpu.state.cond(CC) {
        let t = cpu.next_eip.wrapping_add(op.imm);
        cpu.branch_to(t, W16);
    }
    Ok(())
}

/// Checks a near branch target against the CS limit (#GP(0) as on hardware).
fn check_target(cpu: &Cpu, t: u32) -> Result<()> {
    if t > cpu.state.seg[crate::state::sreg::CS].hi {
        return Err(Fault::gp(0));
    }
    Ok(())
}

fn jmp_rm<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let t = cpu.read_op(bus, op, 0, S)?;
    check_target(cpu, t)?;
    cpu.next_eip = t;
    Ok(())
}

fn call_rel<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let ret = cpu.next_eip;
    let t = ret.wrapping_add(op.imm);
    let t = if S == 2 { t & 0xFFFF } else { t };
    check_target(cpu, t)?;
    cpu.push(bus, S, ret)?;
    cpu.next_eip = t;
    Ok(())
}

fn call_rm<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let t = cpu.read_op(bus, op, 0, S)?;
    check_target(cpu, t)?;
    let ret = cpu.next_eip;
    cpu.push(bus, S, ret)?;
    cpu.next_eip = t;
    Ok(())
}

fn ret<const S: u32, const IMM: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let t = cpu.stack_peek(bus, 0, S)?;
    check_target(cpu, t)?;
    cpu.add_sp(S + if IMM { op.imm & 0xFFFF } else { 0 });
    cpu.next_eip = t;
    Ok(())
}

/// LOOP/LOOPE/LOOPNE (K = 0, 1, 2) and JCXZ (K = 3); A16 uses CX, W16 wraps the target.
fn loop_<const K: u8, const A16: bool, const W16: bool>(
    cpu: &mut Cpu,
    _: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    let s = &mut cpu.state;
    let count = if K == 3 {
        if A16 {
            s.gpr[reg::ECX] & 0xFFFF
        } else {
            s.gpr[reg::ECX]
        }
    } else if A16 {
        let c = s.r16(reg::ECX as u8).wrapping_sub(1);
        s.set_r16(reg::ECX as u8, c);
        c as u32
    } else {
        s.gpr[reg::ECX] = s.gpr[reg::ECX].wrapping_sub(1);
        s.gpr[reg::ECX]
    };
    let take = match K {
        0 => count != 0,
        1 => count != 0 && s.zf(),
        2 => count != 0 && !s.zf(),
        _ => count == 0,
    };
    if take {
        let t = cpu.next_eip.wrapping_add(op.imm);
        cpu.branch_to(t, W16);
    }
    Ok(())
}

fn int_n(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let ret = cpu.next_eip;
    cpu.interrupt(bus, op.imm as u8, IntKind::Software, None, ret)?;
    cpu.next_eip = cpu.state.eip;
    Ok(())
}

/// INT3 and INTO are "software exceptions": the gate's DPL is checked like INT n,
/// but in virtual-8086 mode they are not IOPL-sensitive (SDM vol. 3, 20.3.1).
fn int3(cpu: &mut Cpu, bus: &mut dyn Bus, _: &Op) -> Result<()> {
    let ret = cpu.next_eip;
    cpu.interrupt(bus, vector::BP, IntKind::SoftException, None, ret)?;
    cpu.next_eip = cpu.state.eip;
    Ok(())
}

fn into(cpu: &mut Cpu, bus: &mut dyn Bus, _: &Op) -> Result<()> {
    if cpu.state.of() {
        let ret = cpu.next_eip;
        cpu.interrupt(bus, vector::OF, IntKind::SoftException, None, ret)?;
        cpu.next_eip = cpu.state.eip;
    }
    Ok(())
}

fn int1(cpu: &mut Cpu, bus: &mut dyn Bus, _: &Op) -> Result<()> {
    let ret = cpu.next_eip;
    cpu.interrupt(bus, vector::DB, IntKind::Exception, None, ret)?;
    cpu.next_eip = cpu.state.eip;
    Ok(())
}

fn hlt(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    if cpu.state.protected() && cpu.state.cpl != 0 {
        return Err(Fault::gp(0));
    }
    cpu.state.halted = true;
    cpu.stop = true;
    Ok(())
}

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    macro_rules! jcc_table {
        ($($cc:literal: $a:ident $b:ident $c:ident $d:ident;)*) => {
            match code {
                $(
                    C::$a | C::$c => return Some(jcc::<$cc, true>),
                    C::$b | C::$d => return Some(jcc::<$cc, false>),
                )*
                _ => {}
            }
        };
    }
    jcc_table! {
        0: Jo_rel8_16 Jo_rel8_32 Jo_rel16 Jo_rel32_32;
        1: Jno_rel8_16 Jno_rel8_32 Jno_rel16 Jno_rel32_32;
        2: Jb_rel8_16 Jb_rel8_32 Jb_rel16 Jb_rel32_32;
        3: Jae_rel8_16 Jae_rel8_32 Jae_rel16 Jae_rel32_32;
        4: Je_rel8_16 Je_rel8_32 Je_rel16 Je_rel32_32;
        5: Jne_rel8_16 Jne_rel8_32 Jne_rel16 Jne_rel32_32;
        6: Jbe_rel8_16 Jbe_rel8_32 Jbe_rel16 Jbe_rel32_32;
        7: Ja_rel8_16 Ja_rel8_32 Ja_rel16 Ja_rel32_32;
        8: Js_rel8_16 Js_rel8_32 Js_rel16 Js_rel32_32;
        9: Jns_rel8_16 Jns_rel8_32 Jns_rel16 Jns_rel32_32;
        10: Jp_rel8_16 Jp_rel8_32 Jp_rel16 Jp_rel32_32;
        11: Jnp_rel8_16 Jnp_rel8_32 Jnp_rel16 Jnp_rel32_32;
        12: Jl_rel8_16 Jl_rel8_32 Jl_rel16 Jl_rel32_32;
        13: Jge_rel8_16 Jge_rel8_32 Jge_rel16 Jge_rel32_32;
        14: Jle_rel8_16 Jle_rel8_32 Jle_rel16 Jle_rel32_32;
        15: Jg_rel8_16 Jg_rel8_32 Jg_rel16 Jg_rel32_32;
    }
    Some(match code {
        C::Jmp_rel8_16 | C::Jmp_rel16 => jmp_rel::<true>,
        C::Jmp_rel8_32 | C::Jmp_rel32_32 => jmp_rel::<false>,
        C::Jmp_rm16 => jmp_rm::<2>,
        C::Jmp_rm32 => jmp_rm::<4>,
        C::Call_rel16 => call_rel::<2>,
        C::Call_rel32_32 => call_rel::<4>,
        C::Call_rm16 => call_rm::<2>,
        C::Call_rm32 => call_rm::<4>,
        C::Retnw => ret::<2, false>,
        C::Retnd => ret::<4, false>,
        C::Retnw_imm16 => ret::<2, true>,
        C::Retnd_imm16 => ret::<4, true>,
        C::Loop_rel8_16_CX => loop_::<0, true, true>,
        C::Loop_rel8_32_CX => loop_::<0, true, false>,
        C::Loop_rel8_16_ECX => loop_::<0, false, true>,
        C::Loop_rel8_32_ECX => loop_::<0, false, false>,
        C::Loope_rel8_16_CX => loop_::<1, true, true>,
        C::Loope_rel8_32_CX => loop_::<1, true, false>,
        C::Loope_rel8_16_ECX => loop_::<1, false, true>,
        C::Loope_rel8_32_ECX => loop_::<1, false, false>,
        C::Loopne_rel8_16_CX => loop_::<2, true, true>,
        C::Loopne_rel8_32_CX => loop_::<2, true, false>,
        C::Loopne_rel8_16_ECX => loop_::<2, false, true>,
        C::Loopne_rel8_32_ECX => loop_::<2, false, false>,
        C::Jcxz_rel8_16 => loop_::<3, true, true>,
        C::Jcxz_rel8_32 => loop_::<3, true, false>,
        C::Jecxz_rel8_16 => loop_::<3, false, true>,
        C::Jecxz_rel8_32 => loop_::<3, false, false>,
        C::Int_imm8 => int_n,
        C::Int3 => int3,
        C::Into => into,
        C::Int1 => int1,
        C::Hlt => hlt,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use crate::decode::convert;
    use crate::fault::{Fault, Result};
    use crate::state::{cr, fl};
    use crate::{Cpu, NullBus, PhysMem};
    use iced_x86::{Decoder, DecoderOptions};

    fn exec(c: &mut Cpu, bytes: &[u8]) -> Result<()> {
        let mut d = Decoder::new(16, bytes, DecoderOptions::NONE);
        let op = convert(&d.decode());
        c.next_eip = c.state.eip.wrapping_add(op.len as u32);
        (op.handler)(c, &mut NullBus, &op)
    }

    /// Virtual-8086 mode with IOPL 0 and an IDT covering vectors 0-2 only: INT n
    /// faults on IOPL (#GP(0)) before the IDT is read, INT3/INTO reach the IDT
    /// check (#GP(vector * 8 + 2), EXT = 0).
    #[test]
    fn int3_into_are_not_iopl_sensitive_in_vm86() {
        let mut c = Cpu::new(PhysMem::new(1 << 20));
        c.state.cr0 |= cr::PE;
        c.state.eflags = (c.state.eflags & !fl::IOPL) | fl::VM;
        c.state.idtr.limit = 3 * 8 - 1;
        assert_eq!(exec(&mut c, &[0xCD, 0x03]), Err(Fault::gp(0)));
        assert_eq!(exec(&mut c, &[0xCC]), Err(Fault::gp(3 * 8 + 2)));
        c.state.eflags |= fl::OF;
        assert_eq!(exec(&mut c, &[0xCE]), Err(Fault::gp(4 * 8 + 2)));
        c.state.eflags &= !fl::OF;
        assert_eq!(exec(&mut c, &[0xCE]), Ok(()));
    }

    /// Protected mode at CPL 3: INT3 through a DPL 0 gate is #GP(vector * 8 + 2).
    #[test]
    fn int3_checks_gate_dpl() {
        let mut c = Cpu::new(PhysMem::new(1 << 20));
        c.state.cr0 |= cr::PE;
        c.state.cpl = 3;
        c.state.idtr.base = 0x1000;
        c.state.idtr.limit = 0x7FF;
        // Vector 3: 32-bit interrupt gate, present, DPL 0, selector 8.
        c.mem.write_bytes(0x1018, &[0, 0, 8, 0, 0, 0x8E, 0, 0]);
        assert_eq!(exec(&mut c, &[0xCC]), Err(Fault::gp(3 * 8 + 2)));
    }
}

//! Stack instructions: PUSH/POP of registers, memory, immediates and segment
//! registers, PUSHF/POPF, PUSHA/POPA, ENTER/LEAVE.

use crate::decode::{Handler, Op};
use crate::fault::{Fault, Result};
use crate::state::{fl, reg, sreg};
use crate::Cpu;
use iced_x86::Code as C;
use tab86_mmu::Bus;

fn push<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    // PUSH ESP pushes the value before the decrement, which read_op gives.
    let v = cpu.read_op(bus, op, 0, S)?;
    cpu.push(bus, S, v)
}

fn pop<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let v = cpu.stack_peek(bus, 0, S)?;
    let esp = cpu.state.gpr[reg::ESP];
    // POP [ESP+x] computes the address with ESP already incremented.
    cpu.add_sp(S);
    if let Err(f) = cpu.write_op(bus, op, 0, S, v) {
        cpu.state.gpr[reg::ESP] = esp;
        return Err(f);
    }
    Ok(())
}

fn push_sreg<const S: u32, const SEG: usize>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    _: &Op,
) -> Result<()> {
    let v = cpu.state.seg[SEG].selector as u32;
    if S == 4 {
        // A 32-bit push of a segment register writes only the low word on P6.
        let off = cpu.sp().wrapping_sub(4);
        let off = if cpu.state.stack32() {
            off
        } else {
            off & 0xFFFF
        };
        cpu.write16(bus, sreg::SS, off, v as u16)?;
        cpu.add_sp(4u32.wrapping_neg());
        return Ok(());
    }
    cpu.push(bus, S, v)
}

/// POP Sreg. ESP is only committed after the load (a #GP/#SS/#NP leaves it as it
/// was), but computed with the stack size before it.
fn pop_sreg<const S: u32, const SEG: usize>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    _: &Op,
) -> Result<()> {
    let v = cpu.stack_peek(bus, 0, S)? as u16;
    // The increment follows the stack size in force when the selector was read: a
    // POP SS that loads a segment with another B bit must not apply the new one
    // (SS.B = 0 at ESP 0x0002FFFC with a 32-bit pop gives 0x00020000, not 0x00030000).
    let esp = cpu.state.gpr[reg::ESP];
    cpu.add_sp(S);
    let popped = cpu.state.gpr[reg::ESP];
    cpu.state.gpr[reg::ESP] = esp;
    cpu.load_seg(bus, SEG, v)?;
    cpu.state.gpr[reg::ESP] = popped;
    if SEG == sreg::SS {
        cpu.ss_shadow();
    }
    Ok(())
}

/// PUSHF: in virtual-8086 mode with IOPL < 3 it faults (VME aside); VM and RF read as 0.
fn pushf<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, _: &Op) -> Result<()> {
    let s = &cpu.state;
    let mut f = s.flags() & !(fl::VM | fl::RF);
    if s.vm86() && s.iopl() < 3 {
        if S == 2 && s.cr4 & crate::state::cr::VME != 0 {
            f = (f & !fl::IF) | if s.eflags & fl::VIF != 0 { fl::IF } else { 0 } | fl::IOPL;
        } else {
            return Err(Fault::gp(0));
        }
    }
    cpu.push(bus, S, f)
}

/// POPF: which bits may change depends on CPL and IOPL (SDM POPF operation table).
fn popf<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, _: &Op) -> Result<()> {
    let v = cpu.stack_peek(bus, 0, S)?;
    let s2 = &cpu.state;
    let mut mask = fl::ARITH | fl::TF | fl::DF | fl::NT | fl::AC | fl::ID;
    if !s2.protected() {
        mask |= fl::IF | fl::IOPL;
    } else if s2.vm86() {
        if s2.iopl() < 3 {
            if S == 2 && s2.cr4 & crate::state::cr::VME != 0 {
                if v & fl::TF != 0 || (v & fl::IF != 0 && s2.eflags & fl::VIP != 0) {
                    return Err(Fault::gp(0));
                }
                let vif = if v & fl::IF != 0 { fl::VIF } else { 0 };
                cpu.add_sp(S);
                let m = mask & 0xFFFF;
                cpu.write_flags(v, m);
                cpu.state.eflags = (cpu.state.eflags & !fl::VIF) | vif;
                return Ok(());
            }
            return Err(Fault::gp(0));
        }
        mask |= fl::IF;
    } else {
        if s2.cpl == 0 {
            mask |= fl::IOPL;
        }
        if s2.cpl <= s2.iopl() {
            mask |= fl::IF;
        }
    }
    if S == 2 {
        mask &= 0xFFFF;
    }
    cpu.add_sp(S);
    cpu.write_flags(v, mask);
    Ok(())
}

fn leave<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, _: &Op) -> Result<()> {
    let bp = cpu.state.gpr[reg::EBP];
    let off = if cpu.state.stack32() { bp } else { bp & 0xFFFF };
    let v = cpu.read_sz(bus, sreg::SS, off, S)?;
    if cpu.state.stack32() {
        cpu.state.gpr[reg::ESP] = bp;
    } else {
        cpu.state.set_r16(reg::ESP as u8, bp as u16);
    }
    cpu.add_sp(S);
    cpu.set_reg(reg::EBP as u8, S, v);
    Ok(())
}

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    Some(match code {
        C::Push_r16 | C::Push_rm16 | C::Push_imm16 | C::Pushw_imm8 => push::<2>,
        C::Push_r32 | C::Push_rm32 | C::Pushd_imm32 | C::Pushd_imm8 => push::<4>,
        C::Pop_r16 | C::Pop_rm16 => pop::<2>,
        C::Pop_r32 | C::Pop_rm32 => pop::<4>,
        C::Pushw_ES => push_sreg::<2, { sreg::ES }>,
        C::Pushd_ES => push_sreg::<4, { sreg::ES }>,
        C::Pushw_CS => push_sreg::<2, { sreg::CS }>,
        C::Pushd_CS => push_sreg::<4, { sreg::CS }>,
        C::Pushw_SS => push_sreg::<2, { sreg::SS }>,
        C::Pushd_SS => push_sreg::<4, { sreg::SS }>,
        C::Pushw_DS => push_sreg::<2, { sreg::DS }>,
        C::Pushd_DS => push_sreg::<4, { sreg::DS }>,
        C::Pushw_FS => push_sreg::<2, { sreg::FS }>,
        C::Pushd_FS => push_sreg::<4, { sreg::FS }>,
        C::Pushw_GS => push_sreg::<2, { sreg::GS }>,
        C::Pushd_GS => push_sreg::<4, { sreg::GS }>,
        C::Popw_ES => pop_sreg::<2, { sreg::ES }>,
        C::Popd_ES => pop_sreg::<4, { sreg::ES }>,
        C::Popw_SS => pop_sreg::<2, { sreg::SS }>,
        C::Popd_SS => pop_sreg::<4, { sreg::SS }>,
        C::Popw_DS => pop_sreg::<2, { sreg::DS }>,
        C::Popd_DS => pop_sreg::<4, { sreg::DS }>,
        C::Popw_FS => pop_sreg::<2, { sreg::FS }>,
        C::Popd_FS => pop_sreg::<4, { sreg::FS }>,
        C::Popw_GS => pop_sreg::<2, { sreg::GS }>,
        C::Popd_GS => pop_sreg::<4, { sreg::GS }>,
        C::Pushfw => pushf::<2>,
        C::Pushfd => pushf::<4>,
        C::Popfw => popf::<2>,
        C::Popfd => popf::<4>,
        C::Leavew => leave::<2>,
        C::Leaved => leave::<4>,
        _ => return None,
    })
}

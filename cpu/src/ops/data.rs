//! Data movement: MOV (including segment registers), MOVZX, MOVSX, LEA, XCHG, the
//! accumulator conversions, LAHF/SAHF, XLAT, far-pointer loads and flag bit operations.

use super::sext;
use crate::decode::{kind, Handler, Op};
use crate::fault::{Fault, Result};
use crate::state::{fl, reg, sreg};
use crate::Cpu;
use iced_x86::Code as C;
use tab86_mmu::Bus;

/// MOV forms chosen at decode time by [`specialize`]: the source's [`kind`] in
/// the low nibble, [`MEM_DST`] for a memory destination; 0 for any form.
const MEM_DST: u8 = 0x10;

fn mov<const S: u32, const F: u8>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    if F == kind::NONE {
        let v = cpu.read_op(bus, op, 1, S)?;
        return cpu.write_op(bus, op, 0, S, v);
    }
    let v = match F & 0xF {
        kind::REG => cpu.reg(op.r[1], S),
        kind::IMM => op.imm,
        _ => {
            let ea = cpu.ea(op);
            cpu.read_sz(bus, op.seg as usize, ea, S)?
        }
    };
    if F & MEM_DST != 0 {
        let ea = cpu.ea(op);
        cpu.write_sz(bus, op.seg as usize, ea, S, v)
    } else {
        cpu.set_reg(op.r[0], S, v);
        Ok(())
    }
}

/// The faster MOV handler for the operand form of `op` (register or memory
/// destination; register, immediate or memory source).
pub fn specialize(op: &Op) -> Option<Handler> {
    macro_rules! forms {
        ($s:literal) => {
            match (op.kind[0], op.kind[1]) {
                (kind::REG, kind::REG) => Some(mov::<$s, { kind::REG }> as Handler),
                (kind::REG, kind::IMM) => Some(mov::<$s, { kind::IMM }>),
                (kind::REG, kind::MEM) => Some(mov::<$s, { kind::MEM }>),
                (kind::MEM, kind::REG) => Some(mov::<$s, { MEM_DST | kind::REG }>),
                (kind::MEM, kind::IMM) => Some(mov::<$s, { MEM_DST | kind::IMM }>),
                _ => None,
            }
        };
    }
    match op.code {
        C::Mov_rm8_r8
        | C::Mov_r8_rm8
        | C::Mov_AL_moffs8
        | C::Mov_moffs8_AL
        | C::Mov_r8_imm8
        | C::Mov_rm8_imm8 => forms!(1),
        C::Mov_rm16_r16
        | C::Mov_r16_rm16
        | C::Mov_AX_moffs16
        | C::Mov_moffs16_AX
        | C::Mov_r16_imm16
        | C::Mov_rm16_imm16 => forms!(2),
        C::Mov_rm32_r32
        | C::Mov_r32_rm32
        | C::Mov_EAX_moffs32
        | C::Mov_moffs32_EAX
        | C::Mov_r32_imm32
        | C::Mov_rm32_imm32 => forms!(4),
        _ => None,
    }
}

/// MOVZX/MOVSX: destination size D, source size S, sign-extend when X.
fn movx<const D: u32, const S: u32, const X: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    let v = cpu.read_op(bus, op, 1, S)?;
    let v = if X { sext(v, S) } else { v };
    cpu.set_reg(op.r[0], D, v);
    Ok(())
}

fn lea<const S: u32>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    let a = cpu.ea(op);
    cpu.set_reg(op.r[0], S, a);
    Ok(())
}

fn xchg<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let b = cpu.read_op(bus, op, 1, S)?;
    let (a, loc) = cpu.rmw_begin(bus, op, S)?;
    cpu.rmw_end(bus, loc, S, b)?;
    cpu.write_op(bus, op, 1, S, a)
}

fn nop(_: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    Ok(())
}

/// MOV r/m16, Sreg (a 32-bit register destination gets the selector zero-extended).
fn mov_from_sreg(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let v = cpu.state.seg[op.r[1] as usize].selector as u32;
    if op.kind[0] == kind::REG && op.code == C::Mov_r32m16_Sreg {
        cpu.set_reg(op.r[0], 4, v);
        Ok(())
    } else {
        cpu.write_op(bus, op, 0, 2, v)
    }
}

fn mov_to_sreg(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let s = op.r[0] as usize;
    if s == sreg::CS || s > sreg::GS {
        return Err(Fault::ud());
    }
    let v = cpu.read_op(bus, op, 1, 2)? as u16;
    cpu.load_seg(bus, s, v)?;
    if s == sreg::SS {
        cpu.ss_shadow();
    }
    Ok(())
}

/// LDS/LES/LSS/LFS/LGS: offset then selector from memory.
fn load_far<const S: u32, const SEG: usize>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    if op.kind[1] != kind::MEM {
        return Err(Fault::ud());
    }
    let ea = cpu.ea(op);
    let off = cpu.read_sz(bus, op.seg as usize, ea, S)?;
    // The selector follows the offset; with 16-bit addressing its offset wraps at 64 KiB.
    let sel_off = if op.addr16 {
        ea.wrapping_add(S) & 0xFFFF
    } else {
        ea.wrapping_add(S)
    };
    let sel = cpu.read16(bus, op.seg as usize, sel_off)?;
    cpu.load_seg(bus, SEG, sel)?;
    cpu.set_reg(op.r[0], S, off);
    Ok(())
}

fn cbw(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    let al = cpu.state.r8(0) as i8 as u16;
    cpu.state.set_r16(0, al);
    Ok(())
}
fn cwde(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    cpu.state.gpr[reg::EAX] = cpu.state.gpr[reg::EAX] as u16 as i16 as i32 as u32;
    Ok(())
}
fn cwd(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    let hi = if cpu.state.r16(0) & 0x8000 != 0 {
        0xFFFF
    } else {
        0
    };
    cpu.state.set_r16(reg::EDX as u8, hi);
    Ok(())
}
fn cdq(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    cpu.state.gpr[reg::EDX] = ((cpu.state.gpr[reg::EAX] as i32) >> 31) as u32;
    Ok(())
}

fn lahf(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    let f = cpu.state.flags() as u8;
    cpu.state.set_r8(4, f);
    Ok(())
}
fn sahf(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    let ah = cpu.state.r8(4) as u32;
    let mask = fl::SF | fl::ZF | fl::AF | fl::PF | fl::CF;
    cpu.state.materialize_flags();
    cpu.state.eflags = (cpu.state.eflags & !mask) | (ah & mask);
    Ok(())
}

fn xlat(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let mut a = cpu.state.gpr[reg::EBX].wrapping_add(cpu.state.r8(0) as u32);
    if op.addr16 {
        a &= 0xFFFF;
    }
    let v = cpu.read8(bus, op.seg as usize, a)?;
    cpu.state.set_r8(0, v);
    Ok(())
}

fn flag_op<const K: u8>(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    let s = &mut cpu.state;
    match K {
        0 => s.set_flag(fl::CF, false),
        1 => s.set_flag(fl::CF, true),
        2 => {
            let c = s.cf();
            s.set_flag(fl::CF, !c)
        }
        3 => s.eflags &= !fl::DF,
        _ => s.eflags |= fl::DF,
    }
    Ok(())
}

/// CLI/STI with the IOPL (and VME/PVI virtual-interrupt) rules.
fn cli_sti<const SET: bool>(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    let s = &mut cpu.state;
    let allowed = !s.protected() || s.iopl() >= if s.vm86() { 3 } else { s.cpl };
    if allowed {
        if SET {
            if s.eflags & fl::IF == 0 {
                s.int_shadow = true;
            }
            s.eflags |= fl::IF;
        } else {
            s.eflags &= !fl::IF;
        }
        cpu.stop = true;
        return Ok(());
    }
    let vme = if s.vm86() {
        s.cr4 & crate::state::cr::VME != 0
    } else {
        s.cpl == 3 && s.cr4 & crate::state::cr::PVI != 0
    };
    if vme {
        if SET {
            if s.eflags & fl::VIP != 0 {
                return Err(Fault::gp(0));
            }
            s.eflags |= fl::VIF;
        } else {
            s.eflags &= !fl::VIF;
        }
        return Ok(());
    }
    Err(Fault::gp(0))
}

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    Some(match code {
        C::Mov_rm8_r8
        | C::Mov_r8_rm8
        | C::Mov_AL_moffs8
        | C::Mov_moffs8_AL
        | C::Mov_r8_imm8
        | C::Mov_rm8_imm8 => mov::<1, { kind::NONE }>,
        C::Mov_rm16_r16
        | C::Mov_r16_rm16
        | C::Mov_AX_moffs16
        | C::Mov_moffs16_AX
        | C::Mov_r16_imm16
        | C::Mov_rm16_imm16 => mov::<2, { kind::NONE }>,
        C::Mov_rm32_r32
        | C::Mov_r32_rm32
        | C::Mov_EAX_moffs32
        | C::Mov_moffs32_EAX
        | C::Mov_r32_imm32
        | C::Mov_rm32_imm32 => mov::<4, { kind::NONE }>,
        C::Movzx_r16_rm8 => movx::<2, 1, false>,
        C::Movzx_r32_rm8 => movx::<4, 1, false>,
        C::Movzx_r16_rm16 => movx::<2, 2, false>,
        C::Movzx_r32_rm16 => movx::<4, 2, false>,
        C::Movsx_r16_rm8 => movx::<2, 1, true>,
        C::Movsx_r32_rm8 => movx::<4, 1, true>,
        C::Movsx_r16_rm16 => movx::<2, 2, true>,
        C::Movsx_r32_rm16 => movx::<4, 2, true>,
        C::Lea_r16_m => lea::<2>,
        C::Lea_r32_m => lea::<4>,
        C::Xchg_rm8_r8 => xchg::<1>,
        C::Xchg_rm16_r16 | C::Xchg_r16_AX => xchg::<2>,
        C::Xchg_rm32_r32 | C::Xchg_r32_EAX => xchg::<4>,
        C::Nopw | C::Nopd | C::Nop_rm16 | C::Nop_rm32 | C::Pause => nop,
        // 0F 0D and 0F 18-1F are hint NOPs on P6; iced names the CET encodings among them.
        C::Reservednop_rm16_r16_0F0D
        | C::Reservednop_rm32_r32_0F0D
        | C::Reservednop_rm16_r16_0F18
        | C::Reservednop_rm32_r32_0F18
        | C::Reservednop_rm16_r16_0F19
        | C::Reservednop_rm32_r32_0F19
        | C::Reservednop_rm16_r16_0F1A
        | C::Reservednop_rm32_r32_0F1A
        | C::Reservednop_rm16_r16_0F1B
        | C::Reservednop_rm32_r32_0F1B
        | C::Reservednop_rm16_r16_0F1C
        | C::Reservednop_rm32_r32_0F1C
        | C::Reservednop_rm16_r16_0F1D
        | C::Reservednop_rm32_r32_0F1D
        | C::Reservednop_rm16_r16_0F1E
        | C::Reservednop_rm32_r32_0F1E
        | C::Reservednop_rm16_r16_0F1F
        | C::Reservednop_rm32_r32_0F1F
        | C::Endbr32
        | C::Endbr64
        | C::Rdsspd_r32
        | C::Incsspd_r32 => nop,
        C::Mov_rm16_Sreg | C::Mov_r32m16_Sreg => mov_from_sreg,
        C::Mov_Sreg_rm16 | C::Mov_Sreg_r32m16 => mov_to_sreg,
        C::Lds_r16_m1616 => load_far::<2, { sreg::DS }>,
        C::Lds_r32_m1632 => load_far::<4, { sreg::DS }>,
        C::Les_r16_m1616 => load_far::<2, { sreg::ES }>,
        C::Les_r32_m1632 => load_far::<4, { sreg::ES }>,
        C::Lss_r16_m1616 => load_far::<2, { sreg::SS }>,
        C::Lss_r32_m1632 => load_far::<4, { sreg::SS }>,
        C::Lfs_r16_m1616 => load_far::<2, { sreg::FS }>,
        C::Lfs_r32_m1632 => load_far::<4, { sreg::FS }>,
        C::Lgs_r16_m1616 => load_far::<2, { sreg::GS }>,
        C::Lgs_r32_m1632 => load_far::<4, { sreg::GS }>,
        C::Cbw => cbw,
        C::Cwde => cwde,
        C::Cwd => cwd,
        C::Cdq => cdq,
        C::Lahf => lahf,
        C::Sahf => sahf,
        C::Xlat_m8 => xlat,
        C::Clc => flag_op::<0>,
        C::Stc => flag_op::<1>,
        C::Cmc => flag_op::<2>,
        C::Cld => flag_op::<3>,
        C::Std => flag_op::<4>,
        C::Cli => cli_sti::<false>,
        C::Sti => cli_sti::<true>,
        _ => return None,
    })
}

//! The x87 unit's state and, for now, only what lets an OS find and manage the FPU:
//! FNINIT, FNSTSW, FNSTCW, FLDCW, FNCLEX and WAIT/FWAIT, with the CR0.EM/TS/MP rules
//! for #NM (SDM vol. 3, 2.5 and table 2-2).
//!
//! TODO(FPU issue): the full x87 (register stack, arithmetic through `softfloat`,
//! FSAVE/FRSTOR, #MF) comes with the FPU work. Until then every other x87 opcode
//! raises #NM when CR0.EM or CR0.TS is set and #UD otherwise, so Linux's
//! `check_fpu()` arithmetic after the FNINIT/FNSTSW/FNSTCW probe does not run yet.

use crate::decode::{kind, Handler, Op};
use crate::fault::{Fault, Result};
use crate::state::cr;
use crate::Cpu;
use iced_x86::{Code as C, CpuidFeature};
use tab86_mmu::Bus;

/// x87 register state (grown by the FPU work).
#[derive(Debug, Clone)]
pub struct Fpu {
    /// Control word.
    pub fcw: u16,
    /// Status word.
    pub fsw: u16,
    /// Tag word (two bits per register, 3 = empty).
    pub ftw: u16,
}

impl Default for Fpu {
    /// The power-up state (SDM vol. 3, table 9-1): FCW 0040H, FSW 0, FTW 5555H.
    fn default() -> Self {
        Fpu {
            fcw: 0x0040,
            fsw: 0,
            ftw: 0x5555,
        }
    }
}

impl Fpu {
    /// FNINIT/FINIT: FCW 037FH (all exceptions masked, extended precision, round to
    /// nearest), FSW 0, all registers empty.
    pub fn init(&mut self) {
        self.fcw = 0x037F;
        self.fsw = 0;
        self.ftw = 0xFFFF;
    }
}

/// #NM when the x87 is emulated (CR0.EM) or its state belongs to another task (CR0.TS).
fn check_nm(cpu: &Cpu) -> Result<()> {
    if cpu.state.cr0 & (cr::EM | cr::TS) != 0 {
        return Err(Fault::nm());
    }
    Ok(())
}

fn fninit(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    check_nm(cpu)?;
    cpu.fpu.init();
    Ok(())
}

fn fnclex(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    check_nm(cpu)?;
    // Clears PE, UE, OE, ZE, DE, IE, SF, ES and B.
    cpu.fpu.fsw &= !0x80FF;
    Ok(())
}

fn fnstsw(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    check_nm(cpu)?;
    let v = cpu.fpu.fsw as u32;
    if op.kind[0] == kind::MEM {
        cpu.write_op(bus, op, 0, 2, v)
    } else {
        cpu.set_reg(0, 2, v);
        Ok(())
    }
}

fn fnstcw(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    check_nm(cpu)?;
    let v = cpu.fpu.fcw as u32;
    cpu.write_op(bus, op, 0, 2, v)
}

fn fldcw(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    check_nm(cpu)?;
    let v = cpu.read_op(bus, op, 0, 2)?;
    // Bit 6 reads as 1 and bits 13-15 as 0 on P6.
    cpu.fpu.fcw = (v as u16 & 0x1F3F) | 0x40;
    Ok(())
}

/// WAIT/FWAIT: #NM only when both CR0.MP and CR0.TS are set. No unmasked x87
/// exception can be pending yet, so there is nothing to report via #MF.
fn wait(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    if cpu.state.cr0 & (cr::MP | cr::TS) == cr::MP | cr::TS {
        return Err(Fault::nm());
    }
    Ok(())
}

/// Any other x87 opcode until the FPU lands: #NM if EM or TS, else #UD.
fn unimplemented(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    check_nm(cpu)?;
    Err(Fault::ud())
}

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    Some(match code {
        C::Fninit => fninit,
        C::Fnclex => fnclex,
        C::Fnstsw_AX | C::Fnstsw_m2byte => fnstsw,
        C::Fnstcw_m2byte => fnstcw,
        C::Fldcw_m2byte => fldcw,
        C::Wait => wait,
        _ if code.cpuid_features().iter().any(|f| {
            matches!(
                f,
                CpuidFeature::FPU | CpuidFeature::FPU287 | CpuidFeature::FPU387
            )
        }) =>
        {
            unimplemented
        }
        _ => return None,
    })
}

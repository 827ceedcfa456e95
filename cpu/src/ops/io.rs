//! Port I/O: IN and OUT, and the protected-mode permission check (IOPL, then the
//! TSS I/O permission bitmap) that INS/OUTS share.

use crate::decode::{kind, Handler, Op};
use crate::fault::{Fault, Result};
use crate::state::reg;
use crate::Cpu;
use iced_x86::Code as C;
use tab86_mmu::Bus;

impl Cpu {
    /// Checks that `size` bytes at `port` may be accessed: always in real mode, when
    /// CPL <= IOPL in protected mode, otherwise only if the TSS I/O bitmap allows it.
    pub fn check_io(&mut self, bus: &mut dyn Bus, port: u16, size: u32) -> Result<()> {
        let s = &self.state;
        if !s.protected() || (!s.vm86() && s.cpl <= s.iopl()) {
            return Ok(());
        }
        let tr = s.tr;
        let tss32 = matches!(tr.attr & 0xF, 0x9 | 0xB);
        if !tss32 || tr.limit < 0x67 {
            return Err(Fault::gp(0));
        }
        let base = self.sys_read16(bus, tr.base.wrapping_add(0x66))? as u32;
        let off = base + port as u32 / 8;
        if off + 1 > tr.limit {
            return Err(Fault::gp(0));
        }
        let bits = self.sys_read16(bus, tr.base.wrapping_add(off))? as u32;
        let mask = ((1u32 << size) - 1) << (port & 7);
        if bits & mask != 0 {
            return Err(Fault::gp(0));
        }
        Ok(())
    }

    /// IN after the permission check; ends the block so a raised interrupt is seen.
    pub fn port_in(&mut self, bus: &mut dyn Bus, port: u16, size: u32) -> Result<u32> {
        self.check_io(bus, port, size)?;
        self.stop = true;
        bus.set_icount(self.state.icount);
        Ok(bus.io_read(port, size as u8))
    }

    /// OUT after the permission check; ends the block so a raised interrupt is seen.
    pub fn port_out(&mut self, bus: &mut dyn Bus, port: u16, size: u32, v: u32) -> Result<()> {
        self.check_io(bus, port, size)?;
        self.stop = true;
        bus.set_icount(self.state.icount);
        bus.io_write(port, size as u8, v);
        if bus.end_slice() {
            self.end_slice();
        }
        Ok(())
    }
}

fn port_of(cpu: &Cpu, op: &Op, n: usize) -> u16 {
    if op.kind[n] == kind::IMM {
        op.imm as u16
    } else {
        cpu.state.gpr[reg::EDX] as u16
    }
}

fn in_<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let port = port_of(cpu, op, 1);
    let v = cpu.port_in(bus, port, S)?;
    cpu.set_reg(0, S, v);
    Ok(())
}

fn out<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let port = port_of(cpu, op, 0);
    let v = cpu.reg(0, S);
    cpu.port_out(bus, port, S, v)
}

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    Some(match code {
        C::In_AL_imm8 | C::In_AL_DX => in_::<1>,
        C::In_AX_imm8 | C::In_AX_DX => in_::<2>,
        C::In_EAX_imm8 | C::In_EAX_DX => in_::<4>,
        C::Out_imm8_AL | C::Out_DX_AL => out::<1>,
        C::Out_imm8_AX | C::Out_DX_AX => out::<2>,
        C::Out_imm8_EAX | C::Out_DX_EAX => out::<4>,
        _ => return None,
    })
}

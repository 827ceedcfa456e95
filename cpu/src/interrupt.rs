//! Interrupt and exception delivery: the real-mode IVT and the protected-mode IDT
//! (interrupt, trap and task gates, privilege changes with a stack switch from the
//! TSS, and the virtual-8086 frame).

use crate::fault::{Fault, Result};
use crate::mem::Priv;
use crate::stack::Frame;
use crate::state::{fl, reg, sreg, Segment};
use crate::Cpu;
use tab86_mmu::Bus;

/// Where an interrupt comes from; decides the DPL check, the EXT bit of error
/// codes and the return address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntKind {
    /// An external interrupt (INTR line).
    Hardware,
    /// A processor exception.
    Exception,
    /// INT n: the gate's DPL must be >= CPL; IOPL-sensitive in virtual-8086 mode.
    Software,
    /// INT3 or INTO: the gate's DPL must be >= CPL, but not IOPL-sensitive in
    /// virtual-8086 mode (SDM vol. 3, 20.3.1).
    SoftException,
}

impl Cpu {
    /// Delivers interrupt `vector`. `ret_eip` is the EIP saved in the frame.
    pub fn interrupt(
        &mut self,
        bus: &mut dyn Bus,
        vector: u8,
        kind: IntKind,
        code: Option<u32>,
        ret_eip: u32,
    ) -> Result<()> {
        if self.trace.is_some() {
            self.trace_int(vector, kind, code);
        }
        self.stop = true;
        self.state.halted = false;
        if self.state.protected() {
            self.int_protected(bus, vector, kind, code, ret_eip)
        } else {
            self.int_real(bus, vector, ret_eip)
        }
    }

    fn int_real(&mut self, bus: &mut dyn Bus, vector: u8, ret_eip: u32) -> Result<()> {
        let idt = self.state.idtr;
        let off = vector as u32 * 4;
        if off + 3 > idt.limit {
            return Err(Fault::gp(vector as u32 * 8 + 2));
        }
        let ip = self.read_lin(bus, idt.base.wrapping_add(off), 2, Priv::Sys)?;
        let cs = self.read_lin(bus, idt.base.wrapping_add(off + 2), 2, Priv::Sys)?;
        let esp = self.state.gpr[reg::ESP];
        let flags = self.state.flags();
        let old_cs = self.state.seg[sreg::CS].selector as u32;
        let r = self
            .push(bus, 2, flags)
            .and_then(|_| self.push(bus, 2, old_cs))
            .and_then(|_| self.push(bus, 2, ret_eip & 0xFFFF));
        if let Err(f) = r {
            self.state.gpr[reg::ESP] = esp;
            return Err(f);
        }
        self.state.eflags = flags & !(fl::IF | fl::TF | fl::AC | fl::RF);
        self.state.lazy.op = 0;
        self.set_cs_real(cs as u16);
        self.state.eip = ip;
        Ok(())
    }

    fn int_protected(
        &mut self,
        bus: &mut dyn Bus,
        vector: u8,
        kind: IntKind,
        code: Option<u32>,
        ret_eip: u32,
    ) -> Result<()> {
        let soft = matches!(kind, IntKind::Software | IntKind::SoftException);
        let ext = !soft as u32;
        // Without VME, INT n in virtual-8086 mode needs IOPL 3 before the IDT is read.
        if self.state.vm86() && kind == IntKind::Software && self.state.iopl() < 3 {
            return Err(Fault::gp(0));
        }
        let idt_err = vector as u32 * 8 + 2 + ext;
        let idt = self.state.idtr;
        if vector as u32 * 8 + 7 > idt.limit {
            return Err(Fault::gp(idt_err));
        }
        let lo = self.sys_read32(bus, idt.base.wrapping_add(vector as u32 * 8))?;
        let hi = self.sys_read32(bus, idt.base.wrapping_add(vector as u32 * 8 + 4))?;
        let ty = hi >> 8 & 0x1F;
        let gate32 = match ty {
            0x05 => false,
            0x06 | 0x07 => false,
            0x0E | 0x0F => true,
            _ => return Err(Fault::gp(idt_err)),
        };
        let gate_dpl = hi >> 13 & 3;
        if soft && gate_dpl < self.state.cpl {
            return Err(Fault::gp(idt_err));
        }
        if hi & 0x8000 == 0 {
            return Err(Fault::np(idt_err));
        }
        let sel = (lo >> 16) as u16;
        if ty == 0x05 {
            return self.task_gate_interrupt(bus, sel, ext != 0, code, ret_eip);
        }
        let offset = if gate32 {
            (lo & 0xFFFF) | (hi & 0xFFFF_0000)
        } else {
            lo & 0xFFFF
        };
        let trap = ty & 1 != 0;
        if sel & !3 == 0 {
            return Err(Fault::gp(ext));
        }
        let sel_err = (sel as u32 & 0xFFFC) + ext;
        let (dlo, dhi) = self
            .read_descriptor(bus, sel)
            .map_err(|_| Fault::gp(sel_err))?;
        let cs = Segment::from_descriptor(sel, dlo, dhi);
        let cpl = self.state.cpl;
        if cs.attr & 0x18 != 0x18 || cs.dpl() as u32 > cpl {
            return Err(Fault::gp(sel_err));
        }
        if !cs.present() {
            return Err(Fault::np(sel_err));
        }
        if offset > cs.limit {
            return Err(Fault::gp(0));
        }
        let conforming = cs.attr & 4 != 0;
        let vm = self.state.vm86();
        let flags = self.state.flags();
        let size = if gate32 { 4 } else { 2 };
        let new_cpl;
        let mut frame;
        let old_ss = self.state.seg[sreg::SS].selector as u32;
        let old_esp = self.state.gpr[reg::ESP];
        let old_cs = self.state.seg[sreg::CS].selector as u32;
        let mut new_ss = None;
        if !conforming && (cs.dpl() as u32) < cpl {
            new_cpl = cs.dpl() as u32;
            if vm && new_cpl != 0 {
                return Err(Fault::gp(sel_err));
            }
            let (ss_sel, esp) = self.tss_stack(bus, new_cpl)?;
            let ss = self.check_new_ss(bus, ss_sel, new_cpl, ext)?;
            frame = Frame {
                seg: ss,
                esp,
                err: (ss_sel as u32 & 0xFFFC) + ext,
                who: Priv::Sys,
            };
            if vm {
                for s in [sreg::GS, sreg::FS, sreg::DS, sreg::ES] {
                    let v = self.state.seg[s].selector as u32;
                    self.frame_push(bus, &mut frame, size, v)?;
                }
            }
            self.frame_push(bus, &mut frame, size, old_ss)?;
            self.frame_push(bus, &mut frame, size, old_esp)?;
            new_ss = Some(ss);
        } else if conforming || cs.dpl() as u32 == cpl {
            if vm {
                return Err(Fault::gp(sel_err));
            }
            new_cpl = cpl;
            frame = self.current_frame();
            frame.who = Priv::Sys;
        } else {
            return Err(Fault::gp(sel_err));
        }
        self.frame_push(bus, &mut frame, size, flags)?;
        self.frame_push(bus, &mut frame, size, old_cs)?;
        self.frame_push(bus, &mut frame, size, ret_eip)?;
        if let Some(c) = code {
            self.frame_push(bus, &mut frame, size, c)?;
        }
        self.set_accessed(bus, sel, dhi)?;
        // Commit: nothing below can fault.
        if let Some(ss) = new_ss {
            self.state.seg[sreg::SS] = ss;
            self.state.gpr[reg::ESP] = frame.esp;
        } else if frame.seg.big() {
            self.state.gpr[reg::ESP] = frame.esp;
        } else {
            self.state.gpr[reg::ESP] = (old_esp & 0xFFFF_0000) | (frame.esp & 0xFFFF);
        }
        let mut new_cs = cs;
        new_cs.selector = (sel & !3) | new_cpl as u16;
        let mut nf = flags & !(fl::TF | fl::NT | fl::RF | fl::VM);
        if !trap {
            nf &= !fl::IF;
        }
        self.state.eflags = nf;
        self.state.lazy.op = 0;
        if vm {
            for s in [sreg::GS, sreg::FS, sreg::DS, sreg::ES] {
                self.state.seg[s] = Segment::default();
            }
        }
        self.set_cs(new_cs, new_cpl);
        if vm {
            self.refresh_segments();
        }
        self.state.eip = offset;
        Ok(())
    }

    /// The inner-level SS:ESP for privilege level `pl` from the current TSS.
    pub fn tss_stack(&mut self, bus: &mut dyn Bus, pl: u32) -> Result<(u16, u32)> {
        let tr = self.state.tr;
        let tss32 = tr.attr & 0xF == 0x9 || tr.attr & 0xF == 0xB;
        if tss32 {
            let off = 4 + pl * 8;
            if off + 7 > tr.limit {
                return Err(Fault::ts(tr.selector as u32 & 0xFFFC));
            }
            let esp = self.sys_read32(bus, tr.base.wrapping_add(off))?;
            let ss = self.sys_read16(bus, tr.base.wrapping_add(off + 4))?;
            Ok((ss, esp))
        } else {
            let off = 2 + pl * 4;
            if off + 3 > tr.limit {
                return Err(Fault::ts(tr.selector as u32 & 0xFFFC));
            }
            let sp = self.sys_read16(bus, tr.base.wrapping_add(off))? as u32;
            let ss = self.sys_read16(bus, tr.base.wrapping_add(off + 2))?;
            Ok((ss, sp))
        }
    }

    /// Validates a stack segment loaded from the TSS for privilege level `pl` (#TS/#SS).
    pub fn check_new_ss(
        &mut self,
        bus: &mut dyn Bus,
        sel: u16,
        pl: u32,
        ext: u32,
    ) -> Result<Segment> {
        let err = (sel as u32 & 0xFFFC) + ext;
        if sel & !3 == 0 {
            return Err(Fault::ts(ext));
        }
        let (lo, hi) = self.read_descriptor(bus, sel).map_err(|_| Fault::ts(err))?;
        let ss = Segment::from_descriptor(sel, lo, hi);
        let writable_data = ss.attr & 0x1A == 0x12;
        if sel as u32 & 3 != pl || ss.dpl() as u32 != pl || !writable_data {
            return Err(Fault::ts(err));
        }
        if !ss.present() {
            return Err(Fault::ss(err));
        }
        self.set_accessed(bus, sel, hi)?;
        Ok(ss)
    }
}

//! Far control transfers (SDM vol. 2 JMP, CALL, RET, IRET; vol. 3 5.8): JMP/CALL far
//! to code segments, call gates, task gates and TSSs; RETF to the same or an outer
//! level; IRET in real, virtual-8086 and protected mode, including the return to
//! virtual-8086 mode and the nested-task return through the TSS back link.

use crate::decode::{Handler, Op};
use crate::fault::{Fault, Result};
use crate::mem::Priv;
use crate::stack::Frame;
use crate::state::{fl, reg, sreg, Segment};
use crate::task::Switch;
use crate::Cpu;
use iced_x86::Code as C;
use tab86_mmu::Bus;

/// Descriptor high-dword helpers shared with the task switch.
pub(crate) mod desc {
    /// Code or data (S = 1) descriptor.
    pub fn is_seg(hi: u32) -> bool {
        hi & 0x1000 != 0
    }
    /// Code segment.
    pub fn is_code(hi: u32) -> bool {
        hi & 0x1800 == 0x1800
    }
    /// Conforming code segment.
    pub fn conforming(hi: u32) -> bool {
        is_code(hi) && hi & 0x400 != 0
    }
    /// Writable data segment.
    pub fn writable_data(hi: u32) -> bool {
        hi & 0x1A00 == 0x1200
    }
    /// Descriptor privilege level.
    pub fn dpl(hi: u32) -> u32 {
        hi >> 13 & 3
    }
    /// Present bit.
    pub fn present(hi: u32) -> bool {
        hi & 0x8000 != 0
    }
    /// System descriptor type (4 bits).
    pub fn sys_type(hi: u32) -> u32 {
        hi >> 8 & 0xF
    }
}

/// How a far transfer was requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Far {
    Jmp,
    Call,
}

impl Cpu {
    /// Pushes CS and the return EIP (`size` bytes each) on the current stack, all
    /// checks first; returns the new ESP without committing it.
    fn push_return(&mut self, bus: &mut dyn Bus, size: u32, cs: u16, eip: u32) -> Result<u32> {
        let mut f = self.current_frame();
        self.frame_push(bus, &mut f, size, cs as u32)?;
        self.frame_push(bus, &mut f, size, eip)?;
        Ok(f.esp)
    }

    /// JMP/CALL far to `sel:off` with operand size `size`.
    fn far_transfer(
        &mut self,
        bus: &mut dyn Bus,
        sel: u16,
        off: u32,
        size: u32,
        how: Far,
    ) -> Result<()> {
        let off = if size == 2 { off & 0xFFFF } else { off };
        let ret = self.next_eip;
        if !self.state.protected() || self.state.vm86() {
            if off > self.state.seg[sreg::CS].limit {
                return Err(Fault::gp(0));
            }
            if how == Far::Call {
                let cs = self.state.seg[sreg::CS].selector;
                let esp = self.push_return(bus, size, cs, ret)?;
                self.state.gpr[reg::ESP] = esp;
            }
            self.set_cs_real(sel);
            self.next_eip = off;
            return Ok(());
        }
        if sel & !3 == 0 {
            return Err(Fault::gp(0));
        }
        let (lo, hi) = self.read_descriptor(bus, sel)?;
        let err = sel as u32 & 0xFFFC;
        let cpl = self.state.cpl;
        let rpl = sel as u32 & 3;
        let dpl = desc::dpl(hi);
        if desc::is_seg(hi) {
            if !desc::is_code(hi) {
                return Err(Fault::gp(err));
            }
            if desc::conforming(hi) {
                if dpl > cpl {
                    return Err(Fault::gp(err));
                }
            } else if rpl > cpl || dpl != cpl {
                return Err(Fault::gp(err));
            }
            if !desc::present(hi) {
                return Err(Fault::np(err));
            }
            let mut cs = Segment::from_descriptor(sel, lo, hi);
            if off > cs.limit {
                return Err(Fault::gp(0));
            }
            if how == Far::Call {
                let old = self.state.seg[sreg::CS].selector;
                let esp = self.push_return(bus, size, old, ret)?;
                self.state.gpr[reg::ESP] = esp;
            }
            self.set_accessed(bus, sel, hi)?;
            cs.selector = (sel & !3) | cpl as u16;
            self.set_cs(cs, cpl);
            self.next_eip = off;
            return Ok(());
        }
        match desc::sys_type(hi) {
            0x4 | 0xC => self.call_gate(bus, sel, lo, hi, how),
            0x5 => {
                if dpl < cpl || dpl < rpl {
                    return Err(Fault::gp(err));
                }
                if !desc::present(hi) {
                    return Err(Fault::np(err));
                }
                let tss = (lo >> 16) as u16;
                let terr = tss as u32 & 0xFFFC;
                if tss & 4 != 0 {
                    return Err(Fault::gp(terr));
                }
                let (tlo, thi) = self.read_descriptor(bus, tss)?;
                if desc::is_seg(thi) || !matches!(desc::sys_type(thi), 0x1 | 0x9) {
                    return Err(Fault::gp(terr));
                }
                if !desc::present(thi) {
                    return Err(Fault::np(terr));
                }
                self.far_task(bus, tss, tlo, thi, how)
            }
            0x1 | 0x9 => {
                if dpl < cpl || dpl < rpl {
                    return Err(Fault::gp(err));
                }
                if !desc::present(hi) {
                    return Err(Fault::np(err));
                }
                self.far_task(bus, sel, lo, hi, how)
            }
            _ => Err(Fault::gp(err)),
        }
    }

    fn far_task(&mut self, bus: &mut dyn Bus, sel: u16, lo: u32, hi: u32, how: Far) -> Result<()> {
        let why = if how == Far::Call {
            Switch::Call
        } else {
            Switch::Jmp
        };
        let ret = self.next_eip;
        self.task_switch(bus, sel, lo, hi, why, false, ret)?;
        self.check_task_eip()?;
        self.next_eip = self.state.eip;
        Ok(())
    }

    /// JMP/CALL through a 286 (type 4) or 386 (type 12) call gate.
    fn call_gate(&mut self, bus: &mut dyn Bus, sel: u16, lo: u32, hi: u32, how: Far) -> Result<()> {
        let err = sel as u32 & 0xFFFC;
        let cpl = self.state.cpl;
        let gdpl = desc::dpl(hi);
        if gdpl < cpl || gdpl < sel as u32 & 3 {
            return Err(Fault::gp(err));
        }
        if !desc::present(hi) {
            return Err(Fault::np(err));
        }
        let gate32 = desc::sys_type(hi) == 0xC;
        let gsize = if gate32 { 4 } else { 2 };
        let tsel = (lo >> 16) as u16;
        let target = if gate32 {
            (lo & 0xFFFF) | (hi & 0xFFFF_0000)
        } else {
            lo & 0xFFFF
        };
        let count = hi & 0x1F;
        if tsel & !3 == 0 {
            return Err(Fault::gp(0));
        }
        let (clo, chi) = self.read_descriptor(bus, tsel)?;
        let terr = tsel as u32 & 0xFFFC;
        let dpl = desc::dpl(chi);
        if !desc::is_code(chi) || dpl > cpl {
            return Err(Fault::gp(terr));
        }
        if !desc::present(chi) {
            return Err(Fault::np(terr));
        }
        let mut cs = Segment::from_descriptor(tsel, clo, chi);
        let conforming = desc::conforming(chi);
        let ret = self.next_eip;
        let old_cs = self.state.seg[sreg::CS].selector;
        if how == Far::Jmp {
            if !conforming && dpl != cpl {
                return Err(Fault::gp(terr));
            }
            if target > cs.limit {
                return Err(Fault::gp(0));
            }
        } else if !conforming && dpl < cpl {
            // More privilege: switch to the inner stack from the TSS and copy `count`
            // parameters from the caller's stack.
            let (ss_sel, esp) = self.tss_stack(bus, dpl)?;
            let ss = self.check_new_ss(bus, ss_sel, dpl, 0)?;
            let mut f = Frame {
                seg: ss,
                esp,
                err: ss_sel as u32 & 0xFFFC,
                who: Priv::Sys,
            };
            let old_ss = self.state.seg[sreg::SS].selector as u32;
            let old_esp = self.state.gpr[reg::ESP];
            self.frame_push(bus, &mut f, gsize, old_ss)?;
            self.frame_push(bus, &mut f, gsize, old_esp)?;
            for i in (0..count).rev() {
                let v = self.stack_peek(bus, i * gsize, gsize)?;
                self.frame_push(bus, &mut f, gsize, v)?;
            }
            self.frame_push(bus, &mut f, gsize, old_cs as u32)?;
            self.frame_push(bus, &mut f, gsize, ret)?;
            if target > cs.limit {
                return Err(Fault::gp(0));
            }
            self.set_accessed(bus, tsel, chi)?;
            self.state.seg[sreg::SS] = ss;
            self.state.gpr[reg::ESP] = f.esp;
            self.state.int_shadow = false;
            cs.selector = (tsel & !3) | dpl as u16;
            self.set_cs(cs, dpl);
            self.next_eip = target;
            return Ok(());
        } else {
            let esp = self.push_return(bus, gsize, old_cs, ret)?;
            if target > cs.limit {
                return Err(Fault::gp(0));
            }
            self.state.gpr[reg::ESP] = esp;
        }
        self.set_accessed(bus, tsel, chi)?;
        cs.selector = (tsel & !3) | cpl as u16;
        self.set_cs(cs, cpl);
        self.next_eip = target;
        Ok(())
    }

    /// Checks the code segment `sel` that RETF/IRET return to (SDM RET, IRET):
    /// returns the descriptor's cache and raw high dword.
    fn return_cs(&mut self, bus: &mut dyn Bus, sel: u16) -> Result<(Segment, u32)> {
        if sel & !3 == 0 {
            return Err(Fault::gp(0));
        }
        let (lo, hi) = self.read_descriptor(bus, sel)?;
        let err = sel as u32 & 0xFFFC;
        let rpl = sel as u32 & 3;
        let dpl = desc::dpl(hi);
        if !desc::is_code(hi) || rpl < self.state.cpl {
            return Err(Fault::gp(err));
        }
        if desc::conforming(hi) {
            if dpl > rpl {
                return Err(Fault::gp(err));
            }
        } else if dpl != rpl {
            return Err(Fault::gp(err));
        }
        if !desc::present(hi) {
            return Err(Fault::np(err));
        }
        Ok((Segment::from_descriptor(sel, lo, hi), hi))
    }

    /// Checks the stack segment `sel` for a return to privilege level `rpl`.
    fn return_ss(&mut self, bus: &mut dyn Bus, sel: u16, rpl: u32) -> Result<(Segment, u32)> {
        if sel & !3 == 0 {
            return Err(Fault::gp(0));
        }
        let (lo, hi) = self.read_descriptor(bus, sel)?;
        let err = sel as u32 & 0xFFFC;
        if sel as u32 & 3 != rpl || !desc::writable_data(hi) || desc::dpl(hi) != rpl {
            return Err(Fault::gp(err));
        }
        if !desc::present(hi) {
            return Err(Fault::ss(err));
        }
        Ok((Segment::from_descriptor(sel, lo, hi), hi))
    }

    /// After a return to an outer level: data segment registers that the new CPL may
    /// not use (data or non-conforming code with DPL < CPL) become null.
    fn null_outer_segments(&mut self) {
        let cpl = self.state.cpl;
        for s in [sreg::ES, sreg::DS, sreg::FS, sreg::GS] {
            let seg = &self.state.seg[s];
            let conforming_code = seg.attr & 0x1C == 0x1C;
            if (seg.dpl() as u32) < cpl && !conforming_code {
                self.state.seg[s] = Segment::default();
            }
        }
    }

    /// Commits a return to an outer privilege level: CS, CPL, SS:ESP, null segments.
    ///
    /// `esp` is the popped (E)SP, zero-extended for a 16-bit operand size. The new
    /// stack's size decides how much of ESP it replaces: all of it when the new SS.B
    /// is 1, only SP when it is 0 (ESP's upper half keeps the inner stack's bits, as
    /// on hardware, the leak that Linux's espfix hides).
    fn commit_outer(&mut self, cs: Segment, ss: Segment, esp: u32) {
        let cpl = cs.selector as u32 & 3;
        self.state.seg[sreg::SS] = ss;
        self.state.gpr[reg::ESP] = if ss.big() {
            esp
        } else {
            (self.state.gpr[reg::ESP] & 0xFFFF_0000) | (esp & 0xFFFF)
        };
        self.set_cs(cs, cpl);
        self.null_outer_segments();
    }

    /// RETF with `imm` extra bytes released after popping CS:EIP.
    fn far_return(&mut self, bus: &mut dyn Bus, size: u32, imm: u32) -> Result<()> {
        let eip = self.stack_peek(bus, 0, size)?;
        let sel = self.stack_peek(bus, size, size)? as u16;
        if !self.state.protected() || self.state.vm86() {
            if eip > self.state.seg[sreg::CS].limit {
                return Err(Fault::gp(0));
            }
            self.add_sp(2 * size + imm);
            self.set_cs_real(sel);
            self.next_eip = eip;
            return Ok(());
        }
        let (cs, chi) = self.return_cs(bus, sel)?;
        let rpl = sel as u32 & 3;
        if rpl == self.state.cpl {
            if eip > cs.limit {
                return Err(Fault::gp(0));
            }
            self.set_accessed(bus, sel, chi)?;
            self.add_sp(2 * size + imm);
            self.set_cs(cs, rpl);
            self.next_eip = eip;
            return Ok(());
        }
        let esp = self.stack_peek(bus, 2 * size + imm, size)?;
        let ss_sel = self.stack_peek(bus, 3 * size + imm, size)? as u16;
        let (ss, shi) = self.return_ss(bus, ss_sel, rpl)?;
        if eip > cs.limit {
            return Err(Fault::gp(0));
        }
        self.set_accessed(bus, sel, chi)?;
        self.set_accessed(bus, ss_sel, shi)?;
        self.commit_outer(cs, ss, esp);
        self.add_sp(imm);
        self.next_eip = eip;
        Ok(())
    }

    /// IRET/IRETD (SDM vol. 2 IRET operation).
    fn iret(&mut self, bus: &mut dyn Bus, size: u32) -> Result<()> {
        self.stop = true;
        // IRET ends NMI blocking, even when it then faults (SDM vol. 3, 6.7.1).
        self.state.nmi_blocked = false;
        let s = &self.state;
        if !s.protected() {
            let eip = self.stack_peek(bus, 0, size)?;
            let sel = self.stack_peek(bus, size, size)? as u16;
            let flags = self.stack_peek(bus, 2 * size, size)?;
            if eip > self.state.seg[sreg::CS].limit {
                return Err(Fault::gp(0));
            }
            self.add_sp(3 * size);
            self.set_cs_real(sel);
            let mask = if size == 4 { 0x0025_7FD5 } else { 0xFFFF };
            self.write_flags(flags, mask);
            self.next_eip = eip;
            return Ok(());
        }
        if s.vm86() {
            // Without VME, IRET in virtual-8086 mode needs IOPL 3.
            if s.iopl() < 3 {
                return Err(Fault::gp(0));
            }
            let eip = self.stack_peek(bus, 0, size)?;
            let sel = self.stack_peek(bus, size, size)? as u16;
            let flags = self.stack_peek(bus, 2 * size, size)?;
            if eip > self.state.seg[sreg::CS].limit {
                return Err(Fault::gp(0));
            }
            self.add_sp(3 * size);
            self.set_cs_real(sel);
            let keep = fl::VM | fl::IOPL | fl::VIP | fl::VIF;
            let mask = if size == 4 { !keep } else { 0xFFFF & !keep };
            self.write_flags(flags, mask & 0x003F_7FD5);
            self.next_eip = eip;
            return Ok(());
        }
        if s.eflags & fl::NT != 0 {
            return self.iret_task(bus);
        }
        let eip = self.stack_peek(bus, 0, size)?;
        let sel = self.stack_peek(bus, size, size)? as u16;
        let flags = self.stack_peek(bus, 2 * size, size)?;
        let cpl = self.state.cpl;
        if size == 4 && flags & fl::VM != 0 && cpl == 0 {
            return self.iret_to_vm86(bus, eip, sel, flags);
        }
        let (cs, chi) = self.return_cs(bus, sel)?;
        let rpl = sel as u32 & 3;
        let iopl = self.state.iopl();
        let mut mask = fl::ARITH | fl::TF | fl::DF | fl::NT;
        if size == 4 {
            mask |= fl::RF | fl::AC | fl::ID;
        }
        if cpl <= iopl {
            mask |= fl::IF;
        }
        if cpl == 0 {
            mask |= fl::IOPL;
            if size == 4 {
                mask |= fl::VIF | fl::VIP;
            }
        }
        if rpl == cpl {
            if eip > cs.limit {
                return Err(Fault::gp(0));
            }
            self.set_accessed(bus, sel, chi)?;
            self.add_sp(3 * size);
            self.set_cs(cs, rpl);
            self.write_flags(flags, mask);
            self.next_eip = eip;
            return Ok(());
        }
        let esp = self.stack_peek(bus, 3 * size, size)?;
        let ss_sel = self.stack_peek(bus, 4 * size, size)? as u16;
        let (ss, shi) = self.return_ss(bus, ss_sel, rpl)?;
        if eip > cs.limit {
            return Err(Fault::gp(0));
        }
        self.set_accessed(bus, sel, chi)?;
        self.set_accessed(bus, ss_sel, shi)?;
        self.write_flags(flags, mask);
        self.commit_outer(cs, ss, esp);
        self.next_eip = eip;
        Ok(())
    }

    /// IRETD at CPL 0 with VM set in the popped EFLAGS: pops ESP, SS, ES, DS, FS, GS
    /// and resumes in virtual-8086 mode at CPL 3.
    fn iret_to_vm86(&mut self, bus: &mut dyn Bus, eip: u32, cs: u16, flags: u32) -> Result<()> {
        let mut v = [0u32; 6];
        for (i, x) in v.iter_mut().enumerate() {
            *x = self.stack_peek(bus, 12 + 4 * i as u32, 4)?;
        }
        if eip > 0xFFFF {
            return Err(Fault::gp(0));
        }
        let [esp, ss, es, ds, fs, gs] = v;
        self.write_flags(flags, 0x003F_7FD5);
        for (s, sel) in [
            (sreg::SS, ss),
            (sreg::ES, es),
            (sreg::DS, ds),
            (sreg::FS, fs),
            (sreg::GS, gs),
        ] {
            self.state.seg[s] = Segment {
                attr: 0xF3,
                ..Segment::real(sel as u16)
            };
        }
        self.state.gpr[reg::ESP] = esp;
        self.set_cs_real(cs);
        self.next_eip = eip;
        Ok(())
    }

    /// IRET with NT set: return to the task named by the current TSS's back link.
    fn iret_task(&mut self, bus: &mut dyn Bus) -> Result<()> {
        let link = self.sys_read16(bus, self.state.tr.base)?;
        let err = link as u32 & 0xFFFC;
        if link & 4 != 0 || link & !3 == 0 {
            return Err(Fault::ts(err));
        }
        let (lo, hi) = self
            .read_descriptor(bus, link)
            .map_err(|_| Fault::ts(err))?;
        if desc::is_seg(hi) || !matches!(desc::sys_type(hi), 0x3 | 0xB) {
            return Err(Fault::ts(err));
        }
        if !desc::present(hi) {
            return Err(Fault::np(err));
        }
        let ret = self.next_eip;
        self.task_switch(bus, link, lo, hi, Switch::Iret, false, ret)?;
        self.check_task_eip()?;
        self.next_eip = self.state.eip;
        Ok(())
    }
}

/// JMP ptr16:16 / ptr16:32.
fn jmp_ptr<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    cpu.far_transfer(bus, op.imm2 as u16, op.imm, S, Far::Jmp)
}

/// CALL ptr16:16 / ptr16:32.
fn call_ptr<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    cpu.far_transfer(bus, op.imm2 as u16, op.imm, S, Far::Call)
}

/// Reads an m16:16 / m16:32 far pointer (offset first, then selector).
fn far_ptr<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<(u16, u32)> {
    let ea = cpu.ea(op);
    let off = cpu.read_sz(bus, op.seg as usize, ea, S)?;
    // The selector follows the offset; with 16-bit addressing its offset wraps at 64 KiB.
    let sel_off = if op.addr16 {
        ea.wrapping_add(S) & 0xFFFF
    } else {
        ea.wrapping_add(S)
    };
    let sel = cpu.read16(bus, op.seg as usize, sel_off)?;
    Ok((sel, off))
}

/// JMP m16:16 / m16:32.
fn jmp_m<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let (sel, off) = far_ptr::<S>(cpu, bus, op)?;
    cpu.far_transfer(bus, sel, off, S, Far::Jmp)
}

/// CALL m16:16 / m16:32.
fn call_m<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let (sel, off) = far_ptr::<S>(cpu, bus, op)?;
    cpu.far_transfer(bus, sel, off, S, Far::Call)
}

/// RETF and RETF imm16.
fn retf<const S: u32, const IMM: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let imm = if IMM { op.imm & 0xFFFF } else { 0 };
    cpu.far_return(bus, S, imm)
}

/// IRET / IRETD.
fn iret<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, _: &Op) -> Result<()> {
    cpu.iret(bus, S)
}

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    Some(match code {
        C::Jmp_ptr1616 => jmp_ptr::<2>,
        C::Jmp_ptr1632 => jmp_ptr::<4>,
        C::Call_ptr1616 => call_ptr::<2>,
        C::Call_ptr1632 => call_ptr::<4>,
        C::Jmp_m1616 => jmp_m::<2>,
        C::Jmp_m1632 => jmp_m::<4>,
        C::Call_m1616 => call_m::<2>,
        C::Call_m1632 => call_m::<4>,
        C::Retfw => retf::<2, false>,
        C::Retfd => retf::<4, false>,
        C::Retfw_imm16 => retf::<2, true>,
        C::Retfd_imm16 => retf::<4, true>,
        C::Iretw => iret::<2>,
        C::Iretd => iret::<4>,
        _ => return None,
    })
}

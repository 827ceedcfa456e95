//! Hardware task switching (SDM vol. 3, chapter 7): 32- and 16-bit TSSs, busy bits,
//! the back link and NT, CR3/LDTR reloads, and the segment checks of the new task.
//!
//! The new TSS is read and the old one probed before anything changes; faults after
//! that commit point (bad selectors in the new TSS) are raised in the new task's
//! context, as on hardware. The TSS T (debug trap) bit is not acted on.

use crate::fault::{Fault, Result};
use crate::mem::Priv;
use crate::ops::far::desc;
use crate::state::{cr, fl, reg, sreg, Segment};
use crate::Cpu;
use tab86_mmu::Bus;

/// Why a task switch happens: decides the busy bits, NT and the back link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Switch {
    /// JMP to a TSS or task gate: old task not busy, no link.
    Jmp,
    /// CALL to a TSS or task gate: nested, back link written.
    Call,
    /// IRET with NT: returns to the linked task, old task not busy.
    Iret,
    /// Interrupt or exception through a task gate: nested like CALL.
    Int,
}

/// The state image read from the new TSS before the commit point.
struct Image {
    cr3: Option<u32>,
    eip: u32,
    eflags: u32,
    gpr: [u32; 8],
    seg: [u16; 6],
    ldt: u16,
}

impl Cpu {
    fn read_image(&mut self, bus: &mut dyn Bus, base: u32, is32: bool) -> Result<Image> {
        let mut img = Image {
            cr3: None,
            eip: 0,
            eflags: 0,
            gpr: [0; 8],
            seg: [0; 6],
            ldt: 0,
        };
        if is32 {
            img.cr3 = Some(self.sys_read32(bus, base.wrapping_add(0x1C))?);
            img.eip = self.sys_read32(bus, base.wrapping_add(0x20))?;
            img.eflags = self.sys_read32(bus, base.wrapping_add(0x24))?;
            for i in 0..8 {
                img.gpr[i] = self.sys_read32(bus, base.wrapping_add(0x28 + 4 * i as u32))?;
            }
            for i in 0..6 {
                img.seg[i] = self.sys_read16(bus, base.wrapping_add(0x48 + 4 * i as u32))?;
            }
            img.ldt = self.sys_read16(bus, base.wrapping_add(0x60))?;
        } else {
            // A 16-bit TSS leaves the upper register halves at 0xFFFF and FS/GS null,
            // as P6 processors do.
            img.eip = self.sys_read16(bus, base.wrapping_add(14))? as u32;
            img.eflags = self.sys_read16(bus, base.wrapping_add(16))? as u32;
            for i in 0..8 {
                img.gpr[i] = 0xFFFF_0000
                    | self.sys_read16(bus, base.wrapping_add(18 + 2 * i as u32))? as u32;
            }
            for i in 0..4 {
                img.seg[i] = self.sys_read16(bus, base.wrapping_add(34 + 2 * i as u32))?;
            }
            img.ldt = self.sys_read16(bus, base.wrapping_add(42))?;
        }
        Ok(img)
    }

    fn save_state(&mut self, bus: &mut dyn Bus, why: Switch, ret_eip: u32) -> Result<()> {
        let tr = self.state.tr;
        let base = tr.base;
        let mut flags = self.state.flags();
        if why == Switch::Iret {
            flags &= !fl::NT;
        }
        let gpr = self.state.gpr;
        let seg = self.state.seg.map(|s| s.selector);
        if matches!(tr.attr & 0xF, 0x9 | 0xB) {
            self.sys_write32(bus, base.wrapping_add(0x20), ret_eip)?;
            self.sys_write32(bus, base.wrapping_add(0x24), flags)?;
            for (i, v) in gpr.iter().enumerate() {
                self.sys_write32(bus, base.wrapping_add(0x28 + 4 * i as u32), *v)?;
            }
            for (i, v) in seg.iter().enumerate() {
                self.sys_write16(bus, base.wrapping_add(0x48 + 4 * i as u32), *v)?;
            }
        } else {
            self.sys_write16(bus, base.wrapping_add(14), ret_eip as u16)?;
            self.sys_write16(bus, base.wrapping_add(16), flags as u16)?;
            for (i, v) in gpr.iter().enumerate() {
                self.sys_write16(bus, base.wrapping_add(18 + 2 * i as u32), *v as u16)?;
            }
            for (i, v) in seg.iter().take(4).enumerate() {
                self.sys_write16(bus, base.wrapping_add(34 + 2 * i as u32), *v)?;
            }
        }
        Ok(())
    }

    /// Sets or clears the busy bit of the TSS descriptor `sel` in the GDT.
    fn set_busy(&mut self, bus: &mut dyn Bus, sel: u16, busy: bool) -> Result<()> {
        let addr = self.state.gdtr.base.wrapping_add((sel & !7) as u32 + 4);
        let hi = self.sys_read32(bus, addr)?;
        let hi = if busy { hi | 0x200 } else { hi & !0x200 };
        self.sys_write32(bus, addr, hi)
    }

    /// Switches to the task whose TSS descriptor (`lo`, `hi`) `sel` names; the
    /// caller has done the privilege, type and present checks. `ret_eip` is saved as
    /// the old task's EIP; `ext` sets the EXT bit of error codes.
    pub(crate) fn task_switch(
        &mut self,
        bus: &mut dyn Bus,
        sel: u16,
        lo: u32,
        hi: u32,
        why: Switch,
        ext: bool,
        ret_eip: u32,
    ) -> Result<()> {
        self.stop = true;
        let ext = ext as u32;
        let new = Segment::from_descriptor(sel, lo, hi | 0x200);
        let new32 = desc::sys_type(hi) & 8 != 0;
        if new.limit < if new32 { 0x67 } else { 0x2B } {
            return Err(Fault::ts((sel as u32 & 0xFFFC) + ext));
        }
        let old = self.state.tr;
        let old32 = matches!(old.attr & 0xF, 0x9 | 0xB);
        if old.limit < if old32 { 0x5F } else { 0x29 } {
            return Err(Fault::ts((old.selector as u32 & 0xFFFC) + ext));
        }
        let img = self.read_image(bus, new.base, new32)?;
        let (first, last) = if old32 { (0x20, 0x5D) } else { (14, 41) };
        self.probe_write(
            bus,
            old.base.wrapping_add(first),
            last - first + 2,
            Priv::Sys,
        )?;
        if matches!(why, Switch::Call | Switch::Int) {
            self.probe_write(bus, new.base, 2, Priv::Sys)?;
        }

        // Commit point: the old task is saved and the new one becomes current.
        if matches!(why, Switch::Jmp | Switch::Iret) {
            self.set_busy(bus, old.selector, false)?;
        }
        self.save_state(bus, why, ret_eip)?;
        let mut eflags = img.eflags;
        if matches!(why, Switch::Call | Switch::Int) {
            self.sys_write16(bus, new.base, old.selector)?;
            eflags |= fl::NT;
        }
        if why != Switch::Iret {
            self.set_busy(bus, sel, true)?;
        }
        self.state.tr = new;
        self.state.cr0 |= cr::TS;
        if let Some(cr3) = img.cr3 {
            if self.state.cr0 & cr::PG != 0 {
                self.set_cr3(cr3)?;
            }
        }
        self.state.eip = img.eip;
        self.state.gpr = img.gpr;
        self.state.eflags = (eflags & 0x003F_7FD5) | fl::FIXED;
        self.state.lazy.op = crate::flags::lf::NONE;
        // Selectors are loaded with unusable caches first, then checked in turn.
        self.state.ldtr = Segment {
            selector: img.ldt,
            ..Segment::default()
        };
        for (s, v) in self.state.seg.iter_mut().zip(img.seg) {
            *s = Segment {
                selector: v,
                ..Segment::default()
            };
        }
        self.load_task_segments(bus, &img, ext)
    }

    /// The checks of step 14 (SDM 7.3): LDTR, then CS, SS, and the data segments.
    fn load_task_segments(&mut self, bus: &mut dyn Bus, img: &Image, ext: u32) -> Result<()> {
        let ts = |sel: u16| Fault::ts((sel as u32 & 0xFFFC) + ext);
        if img.ldt & !3 != 0 {
            if img.ldt & 4 != 0 {
                return Err(ts(img.ldt));
            }
            let (lo, hi) = self
                .read_descriptor(bus, img.ldt)
                .map_err(|_| ts(img.ldt))?;
            if desc::is_seg(hi) || desc::sys_type(hi) != 2 || !desc::present(hi) {
                return Err(ts(img.ldt));
            }
            self.state.ldtr = Segment::from_descriptor(img.ldt, lo, hi);
        }
        if self.state.eflags & fl::VM != 0 {
            for (s, v) in img.seg.iter().enumerate() {
                self.state.seg[s] = Segment {
                    attr: if s == sreg::CS { 0xFB } else { 0xF3 },
                    ..Segment::real(*v)
                };
            }
            self.state.cpl = 3;
            self.refresh_segments();
            return Ok(());
        }
        // CS decides the new CPL.
        let cs_sel = img.seg[sreg::CS];
        if cs_sel & !3 == 0 {
            return Err(ts(cs_sel));
        }
        let (lo, hi) = self.read_descriptor(bus, cs_sel).map_err(|_| ts(cs_sel))?;
        let rpl = cs_sel as u32 & 3;
        let dpl = desc::dpl(hi);
        let bad_priv = if desc::conforming(hi) {
            dpl > rpl
        } else {
            dpl != rpl
        };
        if !desc::is_code(hi) || bad_priv {
            return Err(ts(cs_sel));
        }
        if !desc::present(hi) {
            return Err(Fault::np((cs_sel as u32 & 0xFFFC) + ext));
        }
        let cs = Segment::from_descriptor(cs_sel, lo, hi);
        let cpl = rpl;
        self.set_accessed(bus, cs_sel, hi)?;
        self.set_cs(cs, cpl);
        // SS.
        let ss_sel = img.seg[sreg::SS];
        if ss_sel & !3 == 0 {
            return Err(ts(ss_sel));
        }
        let (lo, hi) = self.read_descriptor(bus, ss_sel).map_err(|_| ts(ss_sel))?;
        if ss_sel as u32 & 3 != cpl || desc::dpl(hi) != cpl || !desc::writable_data(hi) {
            return Err(ts(ss_sel));
        }
        if !desc::present(hi) {
            return Err(Fault::ss((ss_sel as u32 & 0xFFFC) + ext));
        }
        self.set_accessed(bus, ss_sel, hi)?;
        self.state.seg[sreg::SS] = Segment::from_descriptor(ss_sel, lo, hi);
        // DS, ES, FS, GS.
        for s in [sreg::DS, sreg::ES, sreg::FS, sreg::GS] {
            let sel = img.seg[s];
            if sel & !3 == 0 {
                continue;
            }
            let (lo, hi) = self.read_descriptor(bus, sel).map_err(|_| ts(sel))?;
            let readable = desc::is_seg(hi) && (!desc::is_code(hi) || hi & 0x200 != 0);
            let checked = !desc::conforming(hi);
            if !readable || (checked && desc::dpl(hi) < cpl.max(sel as u32 & 3)) {
                return Err(ts(sel));
            }
            if !desc::present(hi) {
                return Err(Fault::np((sel as u32 & 0xFFFC) + ext));
            }
            self.set_accessed(bus, sel, hi)?;
            self.state.seg[s] = Segment::from_descriptor(sel, lo, hi);
        }
        Ok(())
    }

    /// After a task switch: the new EIP must lie within the new CS limit.
    pub(crate) fn check_task_eip(&self) -> Result<()> {
        if self.state.eip > self.state.seg[sreg::CS].limit && !self.state.vm86() {
            return Err(Fault::gp(0));
        }
        Ok(())
    }

    /// Interrupt or exception through a task gate: switches to the task named by
    /// `sel` and pushes the error code, if any, on the new task's stack.
    pub(crate) fn task_gate_interrupt(
        &mut self,
        bus: &mut dyn Bus,
        sel: u16,
        ext: bool,
        code: Option<u32>,
        ret_eip: u32,
    ) -> Result<()> {
        let err = (sel as u32 & 0xFFFC) + ext as u32;
        if sel & 4 != 0 {
            return Err(Fault::gp(err));
        }
        let (lo, hi) = self.read_descriptor(bus, sel).map_err(|_| Fault::gp(err))?;
        if desc::is_seg(hi) || !matches!(desc::sys_type(hi), 0x1 | 0x9) {
            return Err(Fault::gp(err));
        }
        if !desc::present(hi) {
            return Err(Fault::np(err));
        }
        self.task_switch(bus, sel, lo, hi, Switch::Int, ext, ret_eip)?;
        if let Some(c) = code {
            let size = if desc::sys_type(hi) & 8 != 0 { 4 } else { 2 };
            let esp = self.state.gpr[reg::ESP];
            if let Err(f) = self.push(bus, size, c) {
                self.state.gpr[reg::ESP] = esp;
                return Err(f);
            }
        }
        self.check_task_eip()
    }
}

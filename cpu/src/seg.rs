//! Descriptor-table access and segment-register loads with the protected-mode checks.

use crate::fault::{Fault, Result};
use crate::state::{cr, fl, sreg, Segment};
use crate::Cpu;
use tab86_mmu::Bus;

impl Cpu {
    /// Reads the 8-byte descriptor for `sel` from the GDT or LDT. A selector beyond the
    /// table limit raises #GP(selector).
    pub fn read_descriptor(&mut self, bus: &mut dyn Bus, sel: u16) -> Result<(u32, u32)> {
        let (base, limit) = if sel & 4 != 0 {
            let l = &self.state.ldtr;
            if l.selector & !3 == 0 || !l.present() {
                return Err(Fault::gp(sel as u32 & 0xFFFC));
            }
            (l.base, l.limit)
        } else {
            (self.state.gdtr.base, self.state.gdtr.limit)
        };
        let off = (sel & !7) as u32;
        if off + 7 > limit {
            return Err(Fault::gp(sel as u32 & 0xFFFC));
        }
        let lo = self.sys_read32(bus, base.wrapping_add(off))?;
        let hi = self.sys_read32(bus, base.wrapping_add(off + 4))?;
        Ok((lo, hi))
    }

    /// Sets the accessed bit of a code/data descriptor in its table, as the CPU does on load.
    pub fn set_accessed(&mut self, bus: &mut dyn Bus, sel: u16, hi: u32) -> Result<()> {
        if hi & 0x100 != 0 || hi & 0x1000 == 0 {
            return Ok(());
        }
        let base = if sel & 4 != 0 {
            self.state.ldtr.base
        } else {
            self.state.gdtr.base
        };
        let addr = base.wrapping_add((sel & !7) as u32 + 4);
        self.sys_write32(bus, addr, hi | 0x100)
    }

    /// MOV/POP/LDS-style load of a data or stack segment register (not CS).
    /// Loading SS ends the block; MOV SS and POP SS then open the shadow with
    /// [`Cpu::ss_shadow`].
    pub fn load_seg(&mut self, bus: &mut dyn Bus, seg: usize, sel: u16) -> Result<()> {
        let s = &self.state;
        if !s.protected() || s.vm86() {
            let attr = if s.vm86() {
                0xF3
            } else {
                self.state.seg[seg].attr
            };
            let old = self.state.seg[seg];
            let mut new = Segment {
                selector: sel,
                base: (sel as u32) << 4,
                attr,
                ..old
            };
            if s.vm86() {
                new.limit = 0xFFFF;
                new.lo = 0;
                new.hi = 0xFFFF;
                new.rights = Segment::READ | Segment::WRITE | Segment::EXEC;
            }
            self.state.seg[seg] = new;
            if seg == sreg::SS {
                self.stop = true;
            }
            return Ok(());
        }
        let cpl = s.cpl;
        let rpl = (sel & 3) as u32;
        if sel & !3 == 0 {
            if seg == sreg::SS {
                return Err(Fault::gp(0));
            }
            // A null selector loads an unusable segment: any access raises #GP(0).
            self.state.seg[seg] = Segment {
                selector: sel,
                rights: 0,
                attr: 0,
                ..Default::default()
            };
            return Ok(());
        }
        let (lo, hi) = self.read_descriptor(bus, sel)?;
        let d = Segment::from_descriptor(sel, lo, hi);
        let err = sel as u32 & 0xFFFC;
        let is_code = d.attr & 0x18 == 0x18;
        let is_data = d.attr & 0x18 == 0x10;
        let dpl = d.dpl() as u32;
        if seg == sreg::SS {
            let writable = is_data && d.attr & 2 != 0;
            if rpl != cpl || dpl != cpl || !writable {
                return Err(Fault::gp(err));
            }
            if !d.present() {
                return Err(Fault::ss(err));
            }
        } else {
            let readable_code = is_code && d.attr & 2 != 0;
            if !(is_data || readable_code) {
                return Err(Fault::gp(err));
            }
            let conforming = is_code && d.attr & 4 != 0;
            if !conforming && dpl < cpl.max(rpl) {
                return Err(Fault::gp(err));
            }
            if !d.present() {
                return Err(Fault::np(err));
            }
        }
        self.set_accessed(bus, sel, hi)?;
        self.state.seg[seg] = d;
        if seg == sreg::SS {
            // The stack size may change: end the block. The interrupt shadow is the
            // caller's (MOV SS and POP SS open one, LSS does not).
            self.stop = true;
        }
        Ok(())
    }

    /// Opens the shadow of a MOV SS or POP SS (SDM vol. 3, 6.8.3): maskable
    /// interrupts and the single-step trap (TF) are held until the next instruction
    /// has completed, so that a `mov ss` / `mov esp` pair is never split by an event
    /// that would push on a half-switched stack. (Data breakpoints, which the SDM
    /// holds too, are not modelled: only DR7.GD is.)
    ///
    /// Of consecutive SS loads only the first is guaranteed to open a shadow (SDM);
    /// here an SS load that runs in a MOV SS / POP SS shadow opens none, so the
    /// events held after the first are taken after the second.
    pub fn ss_shadow(&mut self) {
        self.stop = true;
        if !self.in_ss_shadow {
            self.state.int_shadow = true;
            self.state.ss_shadow = true;
        }
    }

    /// Loads CS (after the caller's privilege checks) and sets CPL; ends the block
    /// since the code size may change.
    pub fn set_cs(&mut self, cs: Segment, cpl: u32) {
        self.state.seg[sreg::CS] = cs;
        if self.state.cpl != cpl {
            self.state.cpl = cpl;
            self.update_masks();
        }
        self.stop = true;
    }

    /// Loads CS in real or virtual-8086 mode.
    pub fn set_cs_real(&mut self, sel: u16) {
        let old = self.state.seg[sreg::CS];
        let mut cs = Segment {
            selector: sel,
            base: (sel as u32) << 4,
            ..old
        };
        let cpl = if self.state.vm86() {
            cs = Segment {
                attr: 0xFB,
                ..Segment::real(sel)
            };
            3
        } else if self.state.protected() {
            self.state.cpl
        } else {
            0
        };
        self.set_cs(cs, cpl);
    }

    /// Recomputes cached segment rights after CR0.PE or EFLAGS.VM changes.
    pub fn refresh_segments(&mut self) {
        let real = !self.state.protected() || self.state.vm86();
        for s in self.state.seg.iter_mut() {
            if real {
                s.rights = Segment::READ | Segment::WRITE | Segment::EXEC;
                if s.attr & 0x4 == 0 {
                    s.lo = 0;
                    s.hi = s.limit;
                }
            } else if s.selector & !3 != 0 || s.attr != 0 {
                s.update_rights();
                // Segments loaded in real mode remain usable after entering protected
                // mode until reloaded, whatever their cached type.
                if s.rights == 0 && s.attr & 0x10 != 0 && s.present() {
                    s.rights = Segment::READ | Segment::WRITE;
                }
            }
        }
        let cs = &mut self.state.seg[sreg::CS];
        cs.rights |= Segment::EXEC | Segment::READ;
        if self.state.vm86() {
            self.state.cpl = 3;
        } else if !self.state.protected() {
            self.state.cpl = 0;
        }
        self.update_masks();
        self.stop = true;
    }

    /// Writes CR0, handling paging, protection and TLB consequences.
    pub fn set_cr0(&mut self, v: u32) -> Result<()> {
        let v = v | cr::ET;
        if v & cr::PG != 0 && v & cr::PE == 0 {
            return Err(Fault::gp(0));
        }
        if v & cr::NW != 0 && v & cr::CD == 0 {
            return Err(Fault::gp(0));
        }
        let old = self.state.cr0;
        // With PAE paging on afterwards, a MOV to CR0 that changes PG, CD or NW
        // loads the PDPTEs (SDM vol. 3, 4.4.1), and #GP(0) leaves CR0 unchanged.
        if v & cr::PG != 0
            && self.state.cr4 & cr::PAE != 0
            && (old ^ v) & (cr::PG | cr::CD | cr::NW) != 0
        {
            self.load_pdptes(self.state.cr3)?;
        }
        self.state.cr0 = v;
        if (old ^ v) & (cr::PG | cr::WP | cr::PE) != 0 {
            self.flush_tlb(false);
        }
        if (old ^ v) & cr::PE != 0 {
            self.refresh_segments();
        }
        self.stop = true;
        Ok(())
    }

    /// Writes CR3 (flushes non-global TLB entries). With PAE paging on it also
    /// loads the four PDPTEs from the 32-byte table CR3 points to; a present PDPTE
    /// with reserved bits set raises #GP(0) and leaves CR3 unchanged.
    pub fn set_cr3(&mut self, v: u32) -> Result<()> {
        let v = v & 0xFFFF_FFF8;
        if self.state.cr0 & cr::PG != 0 && self.state.cr4 & cr::PAE != 0 {
            self.load_pdptes(v)?;
        }
        self.state.cr3 = v;
        self.flush_tlb(true);
        Ok(())
    }

    /// Loads the PDPTE registers from the physical table at `cr3` bits 31:5, or
    /// raises #GP(0) (changing nothing) when a present one has reserved bits set.
    fn load_pdptes(&mut self, cr3: u32) -> Result<()> {
        let base = cr3 & 0xFFFF_FFE0;
        let mut pdpte = [0u64; 4];
        for (i, e) in pdpte.iter_mut().enumerate() {
            let a = base + 8 * i as u32;
            let lo = self.mem.read(a, 4, &mut tab86_mmu::NullBus) as u64;
            let hi = self.mem.read(a + 4, 4, &mut tab86_mmu::NullBus) as u64;
            *e = hi << 32 | lo;
            if tab86_mmu::pdpte_invalid(*e) {
                return Err(Fault::gp(0));
            }
        }
        // The callers flush the TLB as the write requires (global entries
        // survive a CR3 load with PGE, as on hardware).
        self.state.pdpte = pdpte;
        Ok(())
    }

    /// Writes CR4; unknown bits raise #GP(0). With PAE paging on afterwards, a
    /// change of PAE, PSE or PGE loads the PDPTEs (#GP(0) leaves CR4 unchanged).
    pub fn set_cr4(&mut self, v: u32) -> Result<()> {
        let supported = cr::VME
            | cr::PVI
            | cr::TSD
            | cr::DE
            | cr::PSE
            | cr::MCE
            | cr::PAE
            | cr::PGE
            | cr::PCE
            | cr::OSFXSR
            | cr::OSXMMEXCPT;
        if v & !supported != 0 {
            return Err(Fault::gp(0));
        }
        let old = self.state.cr4;
        if self.state.cr0 & cr::PG != 0
            && v & cr::PAE != 0
            && (old ^ v) & (cr::PAE | cr::PSE | cr::PGE) != 0
        {
            self.load_pdptes(self.state.cr3)?;
        }
        self.state.cr4 = v;
        if (old ^ v) & (cr::PSE | cr::PGE | cr::PAE) != 0 {
            self.flush_tlb(false);
        }
        Ok(())
    }

    /// Writes EFLAGS under the privilege rules of POPF/IRET: `mask` is the set of bits
    /// the instruction may change at this CPL/IOPL.
    pub fn write_flags(&mut self, v: u32, mask: u32) {
        let old = self.state.flags();
        let new = (old & !mask) | (v & mask);
        self.state.eflags = (new & !(1 << 3 | 1 << 5 | 1 << 15)) | fl::FIXED;
        self.state.lazy.op = crate::flags::lf::NONE;
        if (old ^ new) & fl::VM != 0 {
            self.refresh_segments();
        }
        self.stop = true;
    }
}

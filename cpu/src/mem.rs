//! Segmented and linear memory access: segment limit and rights checks, the TLB fast
//! path into the RAM buffer, and the slow path (page walk, page-crossing, ROM, MMIO).

use crate::fault::{vector, Fault, Result};
use crate::state::{cr, sreg, Segment};
use crate::Cpu;
use tab86_mmu::{walk, Access, Bus, PagingMode, Tlb};

/// Who performs an access: the current CPL, or an implicit supervisor access
/// (descriptor tables, TSS, inner-level stacks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priv {
    /// As the current privilege level (user if CPL = 3).
    Cpl,
    /// Always supervisor.
    Sys,
}

/// TLB lookup masks for one privilege kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct TlbMasks {
    /// Mask for reads.
    pub rmask: u32,
    /// Wanted bits for reads.
    pub rwant: u32,
    /// Mask for writes.
    pub wmask: u32,
    /// Wanted bits for writes.
    pub wwant: u32,
    /// Mask for instruction fetches: like reads, but ROM frames qualify too
    /// (blocks are decoded from the frame, never read through the RAM fast path),
    /// and [`Tlb::NO_EXEC`] entries (XD pages) do not.
    pub xmask: u32,
    /// Wanted bits for instruction fetches.
    pub xwant: u32,
}

impl TlbMasks {
    /// Masks for user (CPL 3) or supervisor accesses.
    pub fn new(user: bool) -> Self {
        let base = 0xFFFF_F000 | Tlb::VALID | Tlb::RAM;
        let base_want = Tlb::VALID | Tlb::RAM;
        if user {
            TlbMasks {
                rmask: base | Tlb::USER,
                rwant: base_want | Tlb::USER,
                wmask: base | Tlb::WRITE_USER,
                wwant: base_want | Tlb::WRITE_USER,
                xmask: 0xFFFF_F000 | Tlb::VALID | Tlb::USER | Tlb::NO_EXEC,
                xwant: Tlb::VALID | Tlb::USER,
            }
        } else {
            TlbMasks {
                rmask: base,
                rwant: base_want,
                wmask: base | Tlb::WRITE_SUP,
                wwant: base_want | Tlb::WRITE_SUP,
                xmask: 0xFFFF_F000 | Tlb::VALID | Tlb::NO_EXEC,
                xwant: Tlb::VALID,
            }
        }
    }
}

impl Cpu {
    /// Recomputes the TLB masks after a CPL change.
    #[inline]
    pub(crate) fn update_masks(&mut self) {
        self.masks = TlbMasks::new(self.state.cpl == 3);
    }

    fn seg_fault(seg: usize) -> Fault {
        if seg == sreg::SS {
            Fault::ss(0)
        } else {
            Fault::gp(0)
        }
    }

    /// Checks an access of `size` bytes at `off` in segment `seg` and returns the linear address.
    #[inline(always)]
    pub fn seg_addr(&self, seg: usize, off: u32, size: u32, need: u16) -> Result<u32> {
        let s: &Segment = &self.state.seg[seg];
        if s.rights & need == 0 || off < s.lo || off as u64 + (size as u64 - 1) > s.hi as u64 {
            return Err(Self::seg_fault(seg));
        }
        Ok(s.base.wrapping_add(off))
    }

    /// Translates a linear address for an access, filling the TLB; sets CR2 on #PF.
    pub fn translate(
        &mut self,
        bus: &mut dyn Bus,
        lin: u32,
        write: bool,
        who: Priv,
    ) -> Result<u32> {
        self.translate_as(bus, lin, write, false, who)
    }

    /// Translates a linear address for an instruction fetch at the current CPL
    /// (faults on XD pages), filling the TLB; sets CR2 on #PF.
    pub fn translate_fetch(&mut self, bus: &mut dyn Bus, lin: u32) -> Result<u32> {
        self.translate_as(bus, lin, false, true, Priv::Cpl)
    }

    /// Reads one code byte at a linear address (instructions crossing a page).
    pub(crate) fn fetch_lin8(&mut self, bus: &mut dyn Bus, lin: u32) -> Result<u8> {
        let p = match self.tlb.lookup(lin, self.masks.xmask, self.masks.xwant) {
            Some(frame) => frame | (lin & 0xFFF),
            None => self.translate_fetch(bus, lin)?,
        };
        self.note_mmio(p, bus);
        Ok(self.mem.read(p, 1, bus) as u8)
    }

    fn translate_as(
        &mut self,
        bus: &mut dyn Bus,
        lin: u32,
        write: bool,
        fetch: bool,
        who: Priv,
    ) -> Result<u32> {
        let user = who == Priv::Cpl && self.state.cpl == 3;
        let s = &self.state;
        let a20 = self.mem.a20_mask();
        if s.cr0 & cr::PG == 0 {
            let phys = lin & a20;
            let ram = if self.mem.page_is_ram(phys & !0xFFF)
                && !(self.data_bp_armed && self.data_bp_page(lin))
            {
                Tlb::RAM
            } else {
                0
            };
            self.tlb.insert(
                lin,
                phys & !0xFFF,
                ram | Tlb::USER | Tlb::WRITE_SUP | Tlb::WRITE_USER,
            );
            return Ok(phys);
        }
        let mode = PagingMode {
            cr0: s.cr0,
            cr3: s.cr3,
            cr4: s.cr4,
            pdpte: s.pdpte,
            nxe: s.efer & crate::msr::EFER_NXE != 0,
        };
        let access = Access { write, user, fetch };
        match walk(&mut self.mem, bus, mode, lin, access) {
            Ok(t) => {
                let frame = t.frame & a20;
                let mut flags = 0;
                // A page an armed data breakpoint watches stays off the fast paths.
                if self.mem.page_is_ram(frame) && !(self.data_bp_armed && self.data_bp_page(lin)) {
                    flags |= Tlb::RAM;
                }
                if t.user {
                    flags |= Tlb::USER;
                }
                if t.dirty && (t.writable || s.cr0 & cr::WP == 0) {
                    flags |= Tlb::WRITE_SUP;
                }
                if t.dirty && t.writable && t.user {
                    flags |= Tlb::WRITE_USER;
                }
                if t.global {
                    flags |= Tlb::GLOBAL;
                }
                if t.no_exec {
                    flags |= Tlb::NO_EXEC;
                }
                if t.large {
                    flags |= Tlb::LARGE;
                }
                self.tlb.insert(lin, frame, flags);
                Ok(frame | (lin & 0xFFF))
            }
            Err(pf) => {
                self.state.cr2 = lin;
                Err(Fault::with_code(vector::PF, pf.error_code))
            }
        }
    }

    /// Reads `size` bytes at a linear address.
    #[inline(always)]
    pub fn read_lin(&mut self, bus: &mut dyn Bus, lin: u32, size: u32, who: Priv) -> Result<u32> {
        if who == Priv::Cpl && lin & 0xFFF <= 0x1000 - size {
            if let Some(frame) = self.tlb.lookup(lin, self.masks.rmask, self.masks.rwant) {
                let p = (frame | (lin & 0xFFF)) as usize;
                let ram = self.mem.ram();
                return Ok(match size {
                    1 => ram[p] as u32,
                    2 => u16::from_le_bytes([ram[p], ram[p + 1]]) as u32,
                    _ => u32::from_le_bytes([ram[p], ram[p + 1], ram[p + 2], ram[p + 3]]),
                });
            }
        }
        self.read_lin_slow(bus, lin, size, who)
    }

    #[inline(never)]
    fn read_lin_slow(&mut self, bus: &mut dyn Bus, lin: u32, size: u32, who: Priv) -> Result<u32> {
        if self.data_bp_armed {
            self.data_bp_check(lin, size, false);
        }
        if lin & 0xFFF > 0x1000 - size {
            // Crosses a page: translate both pages before reading either.
            let first = 0x1000 - (lin & 0xFFF);
            let p1 = self.translate(bus, lin, false, who)?;
            let p2 = self.translate(bus, lin.wrapping_add(first), false, who)?;
            let mut v = 0;
            for i in 0..size {
                let p = if i < first { p1 + i } else { p2 + (i - first) };
                v |= self.mem.read(p, 1, bus) << (8 * i);
            }
            self.note_mmio(p1, bus);
            return Ok(v);
        }
        // ROM (and MMIO) pages never pass the RAM fast path, but their TLB entry
        // still answers with the fetch masks (the same rights as a read), so a
        // guest reading constants from ROM does not walk the page tables each time.
        let p = match self.tlb.lookup(lin, self.masks.xmask, self.masks.xwant) {
            Some(frame) if who == Priv::Cpl => frame | (lin & 0xFFF),
            _ => self.translate(bus, lin, false, who)?,
        };
        self.note_mmio(p, bus);
        Ok(self.mem.read(p, size as u8, bus))
    }

    /// Writes `size` bytes at a linear address.
    #[inline(always)]
    pub fn write_lin(
        &mut self,
        bus: &mut dyn Bus,
        lin: u32,
        size: u32,
        v: u32,
        who: Priv,
    ) -> Result<()> {
        if who == Priv::Cpl && lin & 0xFFF <= 0x1000 - size {
            if let Some(frame) = self.tlb.lookup(lin, self.masks.wmask, self.masks.wwant) {
                if !self.mem.is_code(frame) {
                    let p = (frame | (lin & 0xFFF)) as usize;
                    let ram = self.mem.ram_mut();
                    match size {
                        1 => ram[p] = v as u8,
                        2 => ram[p..p + 2].copy_from_slice(&(v as u16).to_le_bytes()),
                        _ => ram[p..p + 4].copy_from_slice(&v.to_le_bytes()),
                    }
                    return Ok(());
                }
            }
        }
        self.write_lin_slow(bus, lin, size, v, who)
    }

    #[inline(never)]
    fn write_lin_slow(
        &mut self,
        bus: &mut dyn Bus,
        lin: u32,
        size: u32,
        v: u32,
        who: Priv,
    ) -> Result<()> {
        if self.data_bp_armed {
            self.data_bp_check(lin, size, true);
        }
        if lin & 0xFFF > 0x1000 - size {
            let first = 0x1000 - (lin & 0xFFF);
            let p1 = self.translate(bus, lin, true, who)?;
            let p2 = self.translate(bus, lin.wrapping_add(first), true, who)?;
            for i in 0..size {
                let p = if i < first { p1 + i } else { p2 + (i - first) };
                self.mem.write(p, 1, v >> (8 * i) & 0xFF, bus);
            }
            self.note_mmio(p1, bus);
            return Ok(());
        }
        let p = self.translate(bus, lin, true, who)?;
        self.note_mmio(p, bus);
        self.mem.write(p, size as u8, v, bus);
        Ok(())
    }

    /// Checks that `size` bytes at `lin` are writable (translating them) without writing.
    pub fn probe_write(&mut self, bus: &mut dyn Bus, lin: u32, size: u32, who: Priv) -> Result<()> {
        self.translate(bus, lin, true, who)?;
        let last = lin.wrapping_add(size - 1);
        if last & !0xFFF != lin & !0xFFF {
            self.translate(bus, last, true, who)?;
        }
        Ok(())
    }

    #[inline]
    fn note_mmio(&mut self, phys: u32, bus: &mut dyn Bus) {
        // ROM reads have no side effects; only MMIO ends the block.
        if matches!(self.mem.region(phys), tab86_mmu::Region::Mmio) {
            self.stop = true;
            bus.set_icount(self.state.icount);
        }
    }

    /// Reads a byte at `seg:off`.
    #[inline(always)]
    pub fn read8(&mut self, bus: &mut dyn Bus, seg: usize, off: u32) -> Result<u8> {
        let lin = self.seg_addr(seg, off, 1, Segment::READ)?;
        Ok(self.read_lin(bus, lin, 1, Priv::Cpl)? as u8)
    }
    /// Reads a word at `seg:off`.
    #[inline(always)]
    pub fn read16(&mut self, bus: &mut dyn Bus, seg: usize, off: u32) -> Result<u16> {
        let lin = self.seg_addr(seg, off, 2, Segment::READ)?;
        Ok(self.read_lin(bus, lin, 2, Priv::Cpl)? as u16)
    }
    /// Reads a dword at `seg:off`.
    #[inline(always)]
    pub fn read32(&mut self, bus: &mut dyn Bus, seg: usize, off: u32) -> Result<u32> {
        let lin = self.seg_addr(seg, off, 4, Segment::READ)?;
        self.read_lin(bus, lin, 4, Priv::Cpl)
    }
    /// Reads `size` (1, 2, 4) bytes at `seg:off`.
    #[inline(always)]
    pub fn read_sz(&mut self, bus: &mut dyn Bus, seg: usize, off: u32, size: u32) -> Result<u32> {
        let lin = self.seg_addr(seg, off, size, Segment::READ)?;
        self.read_lin(bus, lin, size, Priv::Cpl)
    }
    /// Writes a byte at `seg:off`.
    #[inline(always)]
    pub fn write8(&mut self, bus: &mut dyn Bus, seg: usize, off: u32, v: u8) -> Result<()> {
        let lin = self.seg_addr(seg, off, 1, Segment::WRITE)?;
        self.write_lin(bus, lin, 1, v as u32, Priv::Cpl)
    }
    /// Writes a word at `seg:off`.
    #[inline(always)]
    pub fn write16(&mut self, bus: &mut dyn Bus, seg: usize, off: u32, v: u16) -> Result<()> {
        let lin = self.seg_addr(seg, off, 2, Segment::WRITE)?;
        self.write_lin(bus, lin, 2, v as u32, Priv::Cpl)
    }
    /// Writes a dword at `seg:off`.
    #[inline(always)]
    pub fn write32(&mut self, bus: &mut dyn Bus, seg: usize, off: u32, v: u32) -> Result<()> {
        let lin = self.seg_addr(seg, off, 4, Segment::WRITE)?;
        self.write_lin(bus, lin, 4, v, Priv::Cpl)
    }
    /// Writes `size` (1, 2, 4) bytes at `seg:off`.
    #[inline(always)]
    pub fn write_sz(
        &mut self,
        bus: &mut dyn Bus,
        seg: usize,
        off: u32,
        size: u32,
        v: u32,
    ) -> Result<()> {
        let lin = self.seg_addr(seg, off, size, Segment::WRITE)?;
        self.write_lin(bus, lin, size, v, Priv::Cpl)
    }

    /// Supervisor read of a dword at a linear address (descriptor tables, TSS).
    pub fn sys_read32(&mut self, bus: &mut dyn Bus, lin: u32) -> Result<u32> {
        self.read_lin(bus, lin, 4, Priv::Sys)
    }
    /// Supervisor read of a word at a linear address.
    pub fn sys_read16(&mut self, bus: &mut dyn Bus, lin: u32) -> Result<u16> {
        Ok(self.read_lin(bus, lin, 2, Priv::Sys)? as u16)
    }
    /// Supervisor write of a dword at a linear address.
    pub fn sys_write32(&mut self, bus: &mut dyn Bus, lin: u32, v: u32) -> Result<()> {
        self.write_lin(bus, lin, 4, v, Priv::Sys)
    }
    /// Supervisor write of a word at a linear address.
    pub fn sys_write16(&mut self, bus: &mut dyn Bus, lin: u32, v: u16) -> Result<()> {
        self.write_lin(bus, lin, 2, v as u32, Priv::Sys)
    }

    /// Drops all cached translations (CR3 load keeps global pages when CR4.PGE is set).
    pub fn flush_tlb(&mut self, keep_global: bool) {
        self.tlb.flush(keep_global && self.state.cr4 & cr::PGE != 0);
    }
}

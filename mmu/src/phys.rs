//! The physical address space of the PC: RAM, the legacy holes, and the firmware ROM.

use crate::arena::Arena;
use crate::Bus;
use std::sync::Arc;

/// What a physical address decodes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    /// Plain guest RAM (offset into the RAM buffer is the address itself).
    Ram,
    /// Firmware ROM; the value is the offset into the ROM image.
    Rom(u32),
    /// Anything else: the board's MMIO bus (VGA window, PCI BARs, unpopulated space).
    Mmio,
}

/// Start of the legacy VGA window that is never RAM on a PC.
pub const VGA_START: u32 = 0xA0000;
/// End of the legacy region below 1 MiB (adapter ROMs and the system BIOS).
pub const LOW_END: u32 = 0x10_0000;

/// Guest physical memory: one contiguous RAM buffer, an optional ROM image, and a
/// bitmap of the RAM pages that hold decoded (or compiled) code, so that a write
/// to such a page can invalidate it. RAM and the bitmap live in the [`Arena`], where
/// generated code reaches them too.
pub struct PhysMem {
    arena: Arc<Arena>,
    ram: *mut u8,
    code_pages: *mut u64,
    code_words: usize,
    ram_size: u32,
    rom: Box<[u8]>,
    rom_low_base: u32,
    rom_high_base: u32,
    a20_mask: u32,
    invalidated: Vec<u32>,
}

impl PhysMem {
    /// Creates `ram_size` bytes of zeroed RAM (rounded down to 4 KiB), no ROM, A20 enabled.
    pub fn new(ram_size: u32) -> Self {
        let ram_size = ram_size & !0xFFF;
        let arena = Arc::new(Arena::new(ram_size));
        let l = *arena.layout();
        PhysMem {
            ram: arena.at(l.ram),
            code_pages: arena.at(l.code_bits) as *mut u64,
            code_words: l.code_words(),
            arena,
            ram_size,
            rom: Box::new([]),
            rom_low_base: LOW_END,
            rom_high_base: 0,
            a20_mask: !0,
            invalidated: Vec::new(),
        }
    }

    /// Maps a firmware image ending at 1 MiB and aliased at the top of the 4 GiB space,
    /// as the PC's chipset does for the reset vector at F000:FFF0.
    pub fn map_rom(&mut self, image: &[u8]) {
        self.rom = image.to_vec().into_boxed_slice();
        let len = image.len() as u32;
        self.rom_low_base = LOW_END - len.min(LOW_END - 0xC0000);
        self.rom_high_base = 0u32.wrapping_sub(len);
    }

    /// RAM size in bytes.
    pub fn ram_size(&self) -> u32 {
        self.ram_size
    }

    /// The arena that holds RAM, the code-page bitmap, the TLB and the JIT window.
    pub fn arena(&self) -> &Arc<Arena> {
        &self.arena
    }

    /// The whole RAM buffer (guest physical address = index).
    #[inline(always)]
    pub fn ram(&self) -> &[u8] {
        // SAFETY: `ram` points at `ram_size` (+4 padding) bytes inside the arena,
        // which `self.arena` keeps alive; `&self` excludes writers through `self`.
        unsafe { std::slice::from_raw_parts(self.ram, self.ram_size as usize) }
    }

    /// The whole RAM buffer, mutable. Writers that bypass [`PhysMem::write`] must call
    /// [`PhysMem::note_write`] for code invalidation.
    #[inline(always)]
    pub fn ram_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `ram`, with `&mut self` for exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ram, self.ram_size as usize) }
    }

    /// Raw pointer to RAM, for generated code and the CPU's fast paths.
    pub fn ram_ptr(&mut self) -> *mut u8 {
        self.ram
    }

    #[inline(always)]
    fn code_words(&self) -> &[u64] {
        // SAFETY: `code_words` words inside the arena, kept alive by `self.arena`.
        unsafe { std::slice::from_raw_parts(self.code_pages, self.code_words) }
    }

    #[inline(always)]
    fn code_words_mut(&mut self) -> &mut [u64] {
        // SAFETY: as in `code_words`, with `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.code_pages, self.code_words) }
    }

    /// Sets the A20 gate; when off, physical address bit 20 is forced to zero.
    pub fn set_a20(&mut self, enabled: bool) {
        self.a20_mask = if enabled { !0 } else { !(1 << 20) };
    }

    /// Whether A20 is enabled.
    pub fn a20(&self) -> bool {
        self.a20_mask == !0
    }

    /// Applies the A20 gate to an address.
    #[inline]
    pub fn a20_mask(&self) -> u32 {
        self.a20_mask
    }

    /// Decodes a physical address.
    #[inline]
    pub fn region(&self, addr: u32) -> Region {
        if addr < VGA_START {
            if addr < self.ram_size {
                return Region::Ram;
            }
            return Region::Mmio;
        }
        if addr < LOW_END {
            if addr >= self.rom_low_base {
                return Region::Rom(addr - self.rom_low_base);
            }
            if addr >= 0xC0000 && addr < self.ram_size {
                return Region::Ram;
            }
            return Region::Mmio;
        }
        if addr < self.ram_size {
            return Region::Ram;
        }
        if !self.rom.is_empty() && addr >= self.rom_high_base {
            return Region::Rom(addr - self.rom_high_base);
        }
        Region::Mmio
    }

    /// Whether the whole 4 KiB page at `page_addr` is plain RAM (eligible for fast paths).
    #[inline]
    pub fn page_is_ram(&self, page_addr: u32) -> bool {
        matches!(self.region(page_addr), Region::Ram)
            && matches!(self.region(page_addr | 0xFFF), Region::Ram)
    }

    /// Reads `size` bytes (1, 2 or 4) little-endian at a physical address.
    pub fn read(&self, addr: u32, size: u8, bus: &mut dyn Bus) -> u32 {
        let addr = addr & self.a20_mask;
        match self.region(addr) {
            Region::Ram if addr as u64 + size as u64 <= self.ram_size as u64 => {
                let a = addr as usize;
                let mut b = [0u8; 4];
                b[..size as usize].copy_from_slice(&self.ram()[a..a + size as usize]);
                u32::from_le_bytes(b)
            }
            Region::Rom(off) if off as usize + size as usize <= self.rom.len() => {
                let a = off as usize;
                let mut b = [0u8; 4];
                b[..size as usize].copy_from_slice(&self.rom[a..a + size as usize]);
                u32::from_le_bytes(b)
            }
            Region::Mmio if size == 1 || self.region(addr + size as u32 - 1) == Region::Mmio => {
                bus.mmio_read(addr, size)
            }
            _ => {
                // Straddles a region boundary: assemble bytewise.
                let mut v = 0;
                for i in 0..size as u32 {
                    v |= self.read(addr.wrapping_add(i), 1, bus) << (8 * i);
                }
                v
            }
        }
    }

    /// Writes `size` bytes (1, 2 or 4) little-endian at a physical address.
    /// Writes to ROM are ignored, as on a PC with write-protected shadow.
    pub fn write(&mut self, addr: u32, size: u8, value: u32, bus: &mut dyn Bus) {
        let addr = addr & self.a20_mask;
        match self.region(addr) {
            Region::Ram if addr as u64 + size as u64 <= self.ram_size as u64 => {
                let a = addr as usize;
                self.ram_mut()[a..a + size as usize]
                    .copy_from_slice(&value.to_le_bytes()[..size as usize]);
                self.note_write(addr, size as u32);
            }
            Region::Rom(_) if size == 1 => {}
            Region::Mmio if size == 1 || self.region(addr + size as u32 - 1) == Region::Mmio => {
                bus.mmio_write(addr, size, value)
            }
            _ => {
                for i in 0..size as u32 {
                    self.write(addr.wrapping_add(i), 1, value >> (8 * i) & 0xFF, bus);
                }
            }
        }
    }

    /// Copies bytes into RAM (loaders, DMA); parts outside RAM are dropped.
    pub fn write_bytes(&mut self, addr: u32, data: &[u8]) {
        let start = addr as usize;
        let end = (start + data.len()).min(self.ram_size as usize);
        if start < end {
            self.ram_mut()[start..end].copy_from_slice(&data[..end - start]);
            self.note_write(addr, (end - start) as u32);
        }
    }

    /// Copies bytes out of RAM; parts outside RAM read as zero.
    pub fn read_bytes(&self, addr: u32, out: &mut [u8]) {
        let ram = self.ram();
        for (i, b) in out.iter_mut().enumerate() {
            let a = addr as usize + i;
            *b = if a < ram.len() { ram[a] } else { 0 };
        }
    }

    /// Marks the RAM page of `addr` as holding cached code.
    #[inline]
    pub fn mark_code(&mut self, addr: u32) {
        let p = (addr >> 12) as usize;
        if let Some(w) = self.code_words_mut().get_mut(p / 64) {
            *w |= 1 << (p % 64);
        }
    }

    /// Whether the RAM page of `addr` holds cached code.
    #[inline]
    pub fn is_code(&self, addr: u32) -> bool {
        let p = (addr >> 12) as usize;
        self.code_words()
            .get(p / 64)
            .is_some_and(|w| w >> (p % 64) & 1 != 0)
    }

    /// Records a write of `len` bytes at `addr`: pages holding code are unmarked and
    /// queued for the CPU to drop their cached translations.
    #[inline]
    pub fn note_write(&mut self, addr: u32, len: u32) {
        if len == 0 {
            return;
        }
        let first = addr >> 12;
        let last = addr.saturating_add(len - 1) >> 12;
        for page in first..=last {
            let p = page as usize;
            if let Some(w) = self.code_words_mut().get_mut(p / 64) {
                if *w >> (p % 64) & 1 != 0 {
                    *w &= !(1 << (p % 64));
                    self.invalidated.push(page << 12);
                }
            }
        }
    }

    /// Whether writes have invalidated code pages that the CPU has not yet dropped.
    #[inline]
    pub fn has_invalidated(&self) -> bool {
        !self.invalidated.is_empty()
    }

    /// Takes the list of page addresses whose cached code must be dropped.
    pub fn take_invalidated(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.invalidated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NullBus;

    #[test]
    fn map_of_a_pc() {
        let mut m = PhysMem::new(16 << 20);
        m.map_rom(&[0xAA; 0x10000]);
        assert_eq!(m.region(0), Region::Ram);
        assert_eq!(m.region(0xA0000), Region::Mmio);
        assert_eq!(m.region(0xC0000), Region::Ram);
        assert_eq!(m.region(0xF0000), Region::Rom(0));
        assert_eq!(m.region(0xFFFF0), Region::Rom(0xFFF0));
        assert_eq!(m.region(0x100000), Region::Ram);
        assert_eq!(m.region(16 << 20), Region::Mmio);
        assert_eq!(m.region(0xFFFF_FFF0), Region::Rom(0xFFF0));
        assert_eq!(m.read(0xFFFF_FFF0, 4, &mut NullBus), 0xAAAA_AAAA);
    }

    #[test]
    fn rom_ignores_writes_and_a20_wraps() {
        let mut m = PhysMem::new(4 << 20);
        m.map_rom(&[0x11; 0x10000]);
        m.write(0xF0000, 4, 0, &mut NullBus);
        assert_eq!(m.read(0xF0000, 4, &mut NullBus), 0x1111_1111);
        m.write(0x100010, 1, 0x5A, &mut NullBus);
        m.set_a20(false);
        assert_eq!(m.read(0x100010, 1, &mut NullBus), 0);
        m.write(0x000010, 1, 0x77, &mut NullBus);
        m.set_a20(true);
        assert_eq!(m.read(0x100010, 1, &mut NullBus), 0x5A);
        assert_eq!(m.read(0x10, 1, &mut NullBus), 0x77);
    }

    #[test]
    fn writes_to_code_pages_are_reported_once() {
        let mut m = PhysMem::new(1 << 20);
        m.mark_code(0x3000);
        assert!(m.is_code(0x3FFF));
        m.write(0x2FFE, 4, 0xDEAD_BEEF, &mut NullBus);
        assert!(!m.is_code(0x3000));
        assert_eq!(m.take_invalidated(), vec![0x3000]);
        m.write(0x3000, 4, 1, &mut NullBus);
        assert!(!m.has_invalidated());
    }
}

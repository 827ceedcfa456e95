//! The PC physical memory map (BIOS INT 15h E820 format).
//!
//! One builder, [`pc_e820_map`], produces the map of tab86's PC board; the
//! board uses it for its own E820 service and the loaders copy it into
//! `boot_params` / the Multiboot information, so the guest sees the same
//! map whichever way it boots.

use crate::BootError;

/// Start of the Extended BIOS Data Area, i.e. the end of conventional RAM
/// the guest may use (639 KiB).
pub const EBDA_START: u32 = 0x9_FC00;
/// End of conventional memory (start of the VGA hole).
pub const CONVENTIONAL_END: u32 = 0xA_0000;
/// Start of the 64 KiB system BIOS area below 1 MiB.
pub const BIOS_AREA_START: u32 = 0xF_0000;
/// Start of extended memory.
pub const HIGH_MEMORY_START: u32 = 0x10_0000;
/// Base of the reserved BIOS ROM alias below 4 GiB (128 KiB, enough for
/// either supported ROM size).
pub const HIGH_ROM_BASE: u32 = 0xFFFE_0000;
/// Smallest RAM size the board map supports (something must exist above
/// 1 MiB for a kernel to load).
pub const MIN_RAM_SIZE: u32 = 2 << 20;
/// Largest RAM size the board map supports: RAM stays below 3.5 GiB so the
/// PCI/APIC/ROM window at the top of the 32-bit space is never covered.
pub const MAX_RAM_SIZE: u32 = 0xE000_0000;
/// Most entries Linux accepts in `boot_params.e820_table`.
pub const MAX_E820_ENTRIES: usize = 128;

/// Type of an E820 region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum E820Type {
    /// Usable RAM.
    Ram = 1,
    /// Reserved (ROM, EBDA, MMIO): the OS must not use it.
    Reserved = 2,
    /// ACPI tables, reclaimable after they are read.
    Acpi = 3,
    /// ACPI non-volatile storage.
    Nvs = 4,
    /// Defective RAM.
    Unusable = 5,
}

/// One region of the physical memory map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct E820Entry {
    /// First byte of the region.
    pub addr: u64,
    /// Length of the region in bytes.
    pub size: u64,
    /// What the region is.
    pub kind: E820Type,
}

impl E820Entry {
    /// Size in bytes of one entry in the BIOS/`boot_params` encoding.
    pub const ENCODED_SIZE: usize = 20;

    /// Creates an entry.
    pub const fn new(addr: u64, size: u64, kind: E820Type) -> Self {
        Self { addr, size, kind }
    }

    /// First byte past the region (saturating, so a bogus entry cannot
    /// overflow).
    pub fn end(&self) -> u64 {
        self.addr.saturating_add(self.size)
    }

    /// The 20-byte little-endian encoding used by INT 15h E820 and
    /// `boot_params.e820_table`: base (u64), length (u64), type (u32).
    pub fn to_bytes(&self) -> [u8; Self::ENCODED_SIZE] {
        let mut b = [0u8; Self::ENCODED_SIZE];
        b[0..8].copy_from_slice(&self.addr.to_le_bytes());
        b[8..16].copy_from_slice(&self.size.to_le_bytes());
        b[16..20].copy_from_slice(&(self.kind as u32).to_le_bytes());
        b
    }
}

/// Builds the memory map of the tab86 PC board with `ram_size` bytes of RAM:
///
/// | range                      | type     | why                      |
/// |----------------------------|----------|--------------------------|
/// | 0 – 0x9FC00                | RAM      | conventional memory      |
/// | 0x9FC00 – 0xA0000          | reserved | EBDA                     |
/// | 0xF0000 – 0x100000         | reserved | system BIOS ROM          |
/// | 0x100000 – `ram_size`      | RAM      | extended memory          |
/// | 0xFFFE0000 – 4 GiB         | reserved | BIOS ROM alias           |
///
/// The VGA/option-ROM hole 0xA0000–0xF0000 is left out (not RAM).
///
/// # Errors
/// [`BootError::InvalidRamSize`] if `ram_size` is below [`MIN_RAM_SIZE`],
/// above [`MAX_RAM_SIZE`] or not a multiple of 4 KiB.
pub fn pc_e820_map(ram_size: u32) -> Result<Vec<E820Entry>, BootError> {
    let size = u64::from(ram_size);
    if ram_size < MIN_RAM_SIZE {
        return Err(BootError::InvalidRamSize {
            size,
            reason: "at least 2 MiB of RAM is required",
        });
    }
    if ram_size > MAX_RAM_SIZE {
        return Err(BootError::InvalidRamSize {
            size,
            reason: "RAM must end below 3.5 GiB (0xE0000000)",
        });
    }
    if !ram_size.is_multiple_of(4096) {
        return Err(BootError::InvalidRamSize {
            size,
            reason: "RAM size must be a multiple of 4 KiB",
        });
    }
    let hi = u64::from(HIGH_MEMORY_START);
    Ok(vec![
        E820Entry::new(0, u64::from(EBDA_START), E820Type::Ram),
        E820Entry::new(
            u64::from(EBDA_START),
            u64::from(CONVENTIONAL_END - EBDA_START),
            E820Type::Reserved,
        ),
        E820Entry::new(
            u64::from(BIOS_AREA_START),
            hi - u64::from(BIOS_AREA_START),
            E820Type::Reserved,
        ),
        E820Entry::new(hi, size - hi, E820Type::Ram),
        E820Entry::new(
            u64::from(HIGH_ROM_BASE),
            (1u64 << 32) - u64::from(HIGH_ROM_BASE),
            E820Type::Reserved,
        ),
    ])
}

/// Returns the usable RAM region `[start, end)` that contains `addr`,
/// merging adjacent or overlapping RAM entries, or `None` if `addr` is not
/// usable RAM.
pub fn usable_region_containing(map: &[E820Entry], addr: u64) -> Option<(u64, u64)> {
    let ram = |e: &&E820Entry| e.kind == E820Type::Ram && e.size > 0;
    let first = map
        .iter()
        .find(|e| ram(e) && e.addr <= addr && addr < e.end())?;
    let (mut start, mut end) = (first.addr, first.end());
    // Grow in both directions until no RAM entry touches the region.
    loop {
        let mut grew = false;
        for e in map.iter().filter(ram) {
            if e.addr <= end && e.end() >= start && (e.addr < start || e.end() > end) {
                start = start.min(e.addr);
                end = end.max(e.end());
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }
    // Reserved entries win over RAM: clip the region at the nearest
    // non-RAM entry on either side of `addr`.
    for e in map.iter().filter(|e| e.kind != E820Type::Ram && e.size > 0) {
        if e.addr <= addr && addr < e.end() {
            return None;
        }
        if e.addr > addr && e.addr < end {
            end = e.addr;
        }
        if e.end() <= addr && e.end() > start {
            start = e.end();
        }
    }
    Some((start, end))
}

/// Checks the caller's map before a loader relies on it: it must fit the
/// `boot_params` table, have no overflowing entries, keep all RAM inside
/// guest memory of `mem_size` bytes, and have usable RAM at 1 MiB.
pub(crate) fn validate_map(map: &[E820Entry], mem_size: u32) -> Result<(), BootError> {
    if map.len() > MAX_E820_ENTRIES {
        return Err(BootError::InvalidMemoryMap("more than 128 entries"));
    }
    for e in map {
        if e.addr.checked_add(e.size).is_none_or(|end| end > 1 << 32) {
            return Err(BootError::InvalidMemoryMap(
                "an entry extends past 4 GiB (32-bit guest)",
            ));
        }
        if e.kind == E820Type::Ram && e.end() > u64::from(mem_size) {
            return Err(BootError::InvalidMemoryMap(
                "usable RAM extends past the end of guest memory",
            ));
        }
    }
    if usable_region_containing(map, u64::from(HIGH_MEMORY_START)).is_none() {
        return Err(BootError::InvalidMemoryMap("no usable RAM at 1 MiB"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn board_map_256m() {
        let map = pc_e820_map(256 << 20).unwrap();
        assert_eq!(
            map,
            vec![
                E820Entry::new(0, 0x9FC00, E820Type::Ram),
                E820Entry::new(0x9FC00, 0x400, E820Type::Reserved),
                E820Entry::new(0xF0000, 0x10000, E820Type::Reserved),
                E820Entry::new(0x100000, (256 << 20) - 0x100000, E820Type::Ram),
                E820Entry::new(0xFFFE0000, 0x20000, E820Type::Reserved),
            ]
        );
        validate_map(&map, 256 << 20).unwrap();
    }

    #[test]
    fn bad_ram_sizes() {
        for size in [
            0,
            1 << 20,
            MIN_RAM_SIZE - 4096,
            MAX_RAM_SIZE + 4096,
            (4 << 20) + 1,
        ] {
            assert!(
                matches!(pc_e820_map(size), Err(BootError::InvalidRamSize { .. })),
                "{size:#x}"
            );
        }
        assert!(pc_e820_map(MIN_RAM_SIZE).is_ok());
        assert!(pc_e820_map(MAX_RAM_SIZE).is_ok());
    }

    #[test]
    fn encoding() {
        let e = E820Entry::new(0x1_0000_0000, 0x20, E820Type::Acpi);
        assert_eq!(
            e.to_bytes(),
            [0, 0, 0, 0, 1, 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0]
        );
    }

    #[test]
    fn region_lookup() {
        let map = pc_e820_map(64 << 20).unwrap();
        assert_eq!(usable_region_containing(&map, 0x500), Some((0, 0x9FC00)));
        assert_eq!(usable_region_containing(&map, 0x9FC00), None);
        assert_eq!(usable_region_containing(&map, 0xB8000), None);
        assert_eq!(
            usable_region_containing(&map, 0x200000),
            Some((0x100000, 64 << 20))
        );
        // Adjacent RAM entries merge; an overlapping reserved entry clips.
        let map = [
            E820Entry::new(0x100000, 0x100000, E820Type::Ram),
            E820Entry::new(0x200000, 0x200000, E820Type::Ram),
            E820Entry::new(0x380000, 0x1000, E820Type::Reserved),
        ];
        assert_eq!(
            usable_region_containing(&map, 0x100000),
            Some((0x100000, 0x380000))
        );
        assert_eq!(usable_region_containing(&map, 0x380000), None);
    }

    #[test]
    fn validate_rejects() {
        let mut map = pc_e820_map(64 << 20).unwrap();
        assert!(validate_map(&map, 32 << 20).is_err());
        map[3].size = u64::MAX;
        assert!(validate_map(&map, 64 << 20).is_err());
        let many = vec![E820Entry::new(0, 1, E820Type::Reserved); 129];
        assert!(validate_map(&many, 64 << 20).is_err());
        let no_high = [E820Entry::new(0, 0x9FC00, E820Type::Ram)];
        assert_eq!(
            validate_map(&no_high, 64 << 20),
            Err(BootError::InvalidMemoryMap("no usable RAM at 1 MiB"))
        );
    }
}

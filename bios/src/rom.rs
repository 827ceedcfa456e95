//! BIOS ROM image validation.
//!
//! A PC BIOS ROM is mapped twice: ending at 1 MiB (the legacy F/E segment
//! window) and ending at 4 GiB, where the CPU's reset vector 0xFFFFFFF0
//! lands. This module only checks the file and computes both bases; the
//! memory crate does the mapping.

use crate::BootError;

/// Size of a 64 KiB ROM (maps at 0xF0000 and 0xFFFF0000).
pub const ROM_SIZE_64K: usize = 64 << 10;
/// Size of a 128 KiB ROM (maps at 0xE0000 and 0xFFFE0000).
pub const ROM_SIZE_128K: usize = 128 << 10;

/// Where a validated BIOS ROM is mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RomMapping {
    /// ROM size in bytes.
    pub size: u32,
    /// Base of the copy ending at 1 MiB.
    pub low_base: u32,
    /// Base of the alias ending at 4 GiB.
    pub high_base: u32,
}

impl RomMapping {
    /// Physical address of the reset vector (always 0xFFFFFFF0), which lies
    /// in the high alias.
    pub const fn reset_vector(&self) -> u32 {
        0xFFFF_FFF0
    }
}

/// Checks that `rom` is a 64 KiB or 128 KiB image and returns its bases.
///
/// # Errors
/// [`BootError::InvalidRomSize`] for any other size.
pub fn validate_bios_rom(rom: &[u8]) -> Result<RomMapping, BootError> {
    let size = match rom.len() {
        ROM_SIZE_64K => ROM_SIZE_64K as u32,
        ROM_SIZE_128K => ROM_SIZE_128K as u32,
        n => return Err(BootError::InvalidRomSize { size: n as u64 }),
    };
    Ok(RomMapping {
        size,
        low_base: 0x10_0000 - size,
        high_base: 0u32.wrapping_sub(size),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rom_sizes() {
        assert_eq!(
            validate_bios_rom(&vec![0; 65536]),
            Ok(RomMapping {
                size: 0x10000,
                low_base: 0xF0000,
                high_base: 0xFFFF_0000
            })
        );
        let m = validate_bios_rom(&vec![0; 131072]).unwrap();
        assert_eq!((m.low_base, m.high_base), (0xE0000, 0xFFFE_0000));
        assert_eq!(m.reset_vector(), 0xFFFF_FFF0);
        for n in [0, 1, 65535, 65537, 98304, 262144] {
            assert_eq!(
                validate_bios_rom(&vec![0; n]),
                Err(BootError::InvalidRomSize { size: n as u64 })
            );
        }
    }
}

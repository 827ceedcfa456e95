//! Guest physical memory as seen by the loaders.
//!
//! The loaders only need to copy bytes into (and, for tests, out of) guest
//! RAM, so they talk to this tiny trait instead of depending on the CPU or
//! memory crates. The board implements it over its RAM backing store.

use crate::BootError;

/// Guest physical RAM that the boot loaders write the kernel, initrd and
/// boot information into.
///
/// Addresses are guest physical addresses starting at 0; RAM is assumed to
/// be contiguous from 0 to [`size`](GuestMemory::size) (the memory map
/// passed to the loaders says which parts of it the guest may use).
/// Implementations must reject, not wrap or truncate, accesses that do not
/// fit.
pub trait GuestMemory {
    /// Size of guest RAM in bytes.
    fn size(&self) -> u32;

    /// Copies `data` to guest physical address `addr`.
    ///
    /// # Errors
    /// [`BootError::GuestMemory`] if `addr..addr + data.len()` is not inside
    /// RAM.
    fn write(&mut self, addr: u32, data: &[u8]) -> Result<(), BootError>;

    /// Fills `buf` from guest physical address `addr`.
    ///
    /// # Errors
    /// [`BootError::GuestMemory`] if `addr..addr + buf.len()` is not inside
    /// RAM.
    fn read(&self, addr: u32, buf: &mut [u8]) -> Result<(), BootError>;

    /// Sets `len` bytes at `addr` to zero (ELF bss, cleared structures).
    ///
    /// The default implementation writes a zero buffer in chunks;
    /// implementations with direct access to their storage may override it.
    ///
    /// # Errors
    /// [`BootError::GuestMemory`] if the range is not inside RAM.
    fn zero(&mut self, addr: u32, len: u32) -> Result<(), BootError> {
        check_range(self.size(), addr, u64::from(len))?;
        const CHUNK: u32 = 4096;
        let zeros = [0u8; CHUNK as usize];
        let mut done = 0u32;
        while done < len {
            let n = (len - done).min(CHUNK);
            self.write(addr + done, &zeros[..n as usize])?;
            done += n;
        }
        Ok(())
    }
}

/// Checks that `addr..addr + len` lies inside a RAM of `size` bytes and
/// returns the range as `usize` indices.
pub(crate) fn check_range(
    size: u32,
    addr: u32,
    len: u64,
) -> Result<std::ops::Range<usize>, BootError> {
    let end = u64::from(addr) + len;
    if end > u64::from(size) {
        return Err(BootError::GuestMemory { addr, len, size });
    }
    // Both fit in u32 here, hence in usize on every supported target.
    Ok(addr as usize..end as usize)
}

/// Byte slices act as guest RAM starting at address 0 (tests, simple boards).
impl GuestMemory for [u8] {
    fn size(&self) -> u32 {
        u32::try_from(self.len()).unwrap_or(u32::MAX)
    }

    fn write(&mut self, addr: u32, data: &[u8]) -> Result<(), BootError> {
        let size = GuestMemory::size(self);
        let range = check_range(size, addr, data.len() as u64)?;
        self[range].copy_from_slice(data);
        Ok(())
    }

    fn read(&self, addr: u32, buf: &mut [u8]) -> Result<(), BootError> {
        let range = check_range(GuestMemory::size(self), addr, buf.len() as u64)?;
        buf.copy_from_slice(&self[range]);
        Ok(())
    }

    fn zero(&mut self, addr: u32, len: u32) -> Result<(), BootError> {
        let range = check_range(GuestMemory::size(self), addr, u64::from(len))?;
        self[range].fill(0);
        Ok(())
    }
}

/// A `Vec<u8>` is guest RAM of its current length (it is never resized).
impl GuestMemory for Vec<u8> {
    fn size(&self) -> u32 {
        GuestMemory::size(self.as_slice())
    }

    fn write(&mut self, addr: u32, data: &[u8]) -> Result<(), BootError> {
        GuestMemory::write(self.as_mut_slice(), addr, data)
    }

    fn read(&self, addr: u32, buf: &mut [u8]) -> Result<(), BootError> {
        GuestMemory::read(self.as_slice(), addr, buf)
    }

    fn zero(&mut self, addr: u32, len: u32) -> Result<(), BootError> {
        GuestMemory::zero(self.as_mut_slice(), addr, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_memory_bounds() {
        let mut ram = vec![0u8; 16];
        ram.write(12, &[1, 2, 3, 4]).unwrap();
        assert_eq!(
            ram.write(13, &[1, 2, 3, 4]),
            Err(BootError::GuestMemory {
                addr: 13,
                len: 4,
                size: 16
            })
        );
        assert!(ram.write(u32::MAX, &[1]).is_err());
        let mut buf = [0u8; 4];
        ram.read(12, &mut buf).unwrap();
        assert_eq!(buf, [1, 2, 3, 4]);
        ram.zero(13, 2).unwrap();
        assert_eq!(&ram[12..16], &[1, 0, 0, 4]);
        assert!(ram.zero(15, 2).is_err());
    }

    /// A memory that only implements the required methods, to exercise the
    /// default `zero`.
    struct Minimal(Vec<u8>);
    impl GuestMemory for Minimal {
        fn size(&self) -> u32 {
            self.0.len() as u32
        }
        fn write(&mut self, addr: u32, data: &[u8]) -> Result<(), BootError> {
            self.0.write(addr, data)
        }
        fn read(&self, addr: u32, buf: &mut [u8]) -> Result<(), BootError> {
            self.0.read(addr, buf)
        }
    }

    #[test]
    fn default_zero_chunks() {
        let mut m = Minimal(vec![0xAA; 10_000]);
        m.zero(1, 9_000).unwrap();
        assert_eq!(m.0[0], 0xAA);
        assert!(m.0[1..9_001].iter().all(|&b| b == 0));
        assert_eq!(m.0[9_001], 0xAA);
        assert!(m.zero(9_999, 2).is_err());
    }
}

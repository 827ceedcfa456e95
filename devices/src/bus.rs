//! Port I/O and memory-mapped I/O addressing: the one bus of the board.
//!
//! Devices see register offsets, never port numbers or physical addresses (as in
//! rust-vmm's vm-superio). A [`PortBus`] maps [`PioRange`]s to device keys chosen
//! by the board and answers "which device and which offset" for a port through a
//! flat 64K-entry table; an [`MmioBus`] does the same for [`MmioRange`]s of the
//! physical address space (the local APIC, the IO-APIC), with the same checked,
//! non-overlapping registration. The board answers every port and every
//! physical address that is neither RAM nor ROM through these two maps.

use crate::error::{Error, Result};

/// A port number in the 64K x86 I/O space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PioAddress(pub u16);

/// Width of one port access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IoSize {
    /// `in al`/`out al`.
    Byte,
    /// `in ax`/`out ax`.
    Word,
    /// `in eax`/`out eax`.
    Dword,
}

impl IoSize {
    /// Width in bytes (1, 2 or 4).
    pub fn bytes(self) -> u16 {
        match self {
            IoSize::Byte => 1,
            IoSize::Word => 2,
            IoSize::Dword => 4,
        }
    }

    /// Mask of the value bits this width carries.
    pub fn mask(self) -> u32 {
        match self {
            IoSize::Byte => 0xFF,
            IoSize::Word => 0xFFFF,
            IoSize::Dword => 0xFFFF_FFFF,
        }
    }

    /// The width with this many bytes, if it is 1, 2 or 4.
    pub fn from_bytes(n: u32) -> Option<Self> {
        match n {
            1 => Some(IoSize::Byte),
            2 => Some(IoSize::Word),
            4 => Some(IoSize::Dword),
            _ => None,
        }
    }
}

/// A non-empty run of consecutive ports that does not wrap past 0xFFFF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PioRange {
    base: u16,
    len: u32,
}

impl PioRange {
    /// `len` ports starting at `base`; refuses empty ranges and ranges past 0xFFFF.
    pub fn new(base: u16, len: u32) -> Result<Self> {
        if len == 0 {
            return Err(Error::EmptyRange { base });
        }
        if u32::from(base) + len > 0x1_0000 {
            return Err(Error::RangeOverflow { base, len });
        }
        Ok(Self { base, len })
    }

    /// First port.
    pub fn base(&self) -> PioAddress {
        PioAddress(self.base)
    }

    /// Number of ports (at least 1).
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Always false: empty ranges cannot be built.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Last port in the range.
    pub fn last(&self) -> PioAddress {
        PioAddress((u32::from(self.base) + self.len - 1) as u16)
    }

    /// Whether `port` lies in the range.
    pub fn contains(&self, port: PioAddress) -> bool {
        port.0 >= self.base && u32::from(port.0) < u32::from(self.base) + self.len
    }

    /// Whether the two ranges share a port.
    pub fn overlaps(&self, other: &PioRange) -> bool {
        self.contains(other.base()) || other.contains(self.base())
    }
}

/// A device the board reaches through port I/O at full access width (for devices
/// that are not built into [`crate::chipset::Chipset`], e.g. a PCI function's I/O BAR).
pub trait PioDevice {
    /// Read `size` bytes at register `offset`.
    fn pio_read(&mut self, offset: u16, size: IoSize, now_ns: u64) -> u32;

    /// Write the low `size` bytes of `value` at register `offset`.
    fn pio_write(&mut self, offset: u16, size: IoSize, value: u32, now_ns: u64);

    /// Exact virtual time of the device's next timed event, if it has one.
    fn next_deadline(&self) -> Option<u64> {
        None
    }

    /// Bring the device's timed behaviour up to `now_ns`.
    fn advance(&mut self, _now_ns: u64) {}
}

const UNMAPPED: u16 = u16::MAX;

#[derive(Debug, Clone, Copy)]
struct Mapping<K> {
    range: PioRange,
    key: K,
    first_offset: u16,
}

/// Maps port ranges to board-chosen device keys `K` (typically a small `Copy` enum).
///
/// `lookup` is one table load plus one vector index. Unmapped ports resolve to
/// `None`; by PC convention the board then reads all ones and ignores writes.
#[derive(Debug, Clone)]
pub struct PortBus<K> {
    table: Box<[u16]>,
    slots: Vec<Option<Mapping<K>>>,
}

impl<K: Copy> Default for PortBus<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Copy> PortBus<K> {
    /// An empty bus.
    pub fn new() -> Self {
        Self {
            table: vec![UNMAPPED; 0x1_0000].into_boxed_slice(),
            slots: Vec::new(),
        }
    }

    /// Map `range` to `key`; the range's first port is offset 0.
    pub fn insert(&mut self, range: PioRange, key: K) -> Result<()> {
        self.insert_with_offset(range, key, 0)
    }

    /// Map `range` to `key`; the range's first port is offset `first_offset`
    /// (lets one device own non-adjacent ports, e.g. the i8042 at 0x60 and 0x64).
    pub fn insert_with_offset(&mut self, range: PioRange, key: K, first_offset: u16) -> Result<()> {
        if let Some(m) = self
            .slots
            .iter()
            .flatten()
            .find(|m| m.range.overlaps(&range))
        {
            return Err(Error::Overlap {
                base: range.base,
                existing: m.range.base,
            });
        }
        let slot = match self.slots.iter().position(Option::is_none) {
            Some(i) => i,
            None if self.slots.len() < usize::from(UNMAPPED) => {
                self.slots.push(None);
                self.slots.len() - 1
            }
            None => return Err(Error::BusFull),
        };
        self.slots[slot] = Some(Mapping {
            range,
            key,
            first_offset,
        });
        let start = usize::from(range.base);
        self.table[start..start + range.len as usize].fill(slot as u16);
        Ok(())
    }

    /// Unmap the range that starts at `base`, returning it and its key.
    pub fn remove(&mut self, base: PioAddress) -> Result<(PioRange, K)> {
        let slot = self.table[usize::from(base.0)];
        let m = match self.slots.get(usize::from(slot)).copied().flatten() {
            Some(m) if m.range.base == base.0 => m,
            _ => return Err(Error::NotMapped { base: base.0 }),
        };
        self.slots[usize::from(slot)] = None;
        let start = usize::from(m.range.base);
        self.table[start..start + m.range.len as usize].fill(UNMAPPED);
        Ok((m.range, m.key))
    }

    /// The device key and register offset that answer `port`.
    #[inline]
    pub fn lookup(&self, port: u16) -> Option<(K, u16)> {
        let slot = self.table[usize::from(port)];
        if slot == UNMAPPED {
            return None;
        }
        let m = self.slots[usize::from(slot)].as_ref()?;
        Some((m.key, m.first_offset.wrapping_add(port - m.range.base)))
    }

    /// All mappings, in slot order.
    pub fn ranges(&self) -> impl Iterator<Item = (PioRange, K)> + '_ {
        self.slots.iter().flatten().map(|m| (m.range, m.key))
    }
}

/// A non-empty run of physical addresses that does not wrap past 4 GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MmioRange {
    base: u32,
    len: u64,
}

impl MmioRange {
    /// `len` bytes starting at `base`; refuses empty ranges and ranges past 4 GiB.
    pub fn new(base: u32, len: u64) -> Result<Self> {
        if len == 0 || u64::from(base) + len > 1 << 32 {
            return Err(Error::BadMmioRange { base, len });
        }
        Ok(Self { base, len })
    }

    /// First address.
    pub fn base(&self) -> u32 {
        self.base
    }

    /// Length in bytes (at least 1).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Always false: empty ranges cannot be built.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether `addr` lies in the range.
    pub fn contains(&self, addr: u32) -> bool {
        addr >= self.base && u64::from(addr) < u64::from(self.base) + self.len
    }

    /// Whether the two ranges share an address.
    pub fn overlaps(&self, other: &MmioRange) -> bool {
        self.contains(other.base) || other.contains(self.base)
    }
}

/// Maps physical-address ranges to board-chosen device keys `K`.
///
/// A board has a handful of MMIO devices, so the ranges live in a vector sorted
/// by base and `lookup` is a binary search. Unmapped addresses resolve to `None`;
/// the board then reads all ones and ignores writes (an open bus).
#[derive(Debug, Clone)]
pub struct MmioBus<K> {
    maps: Vec<(MmioRange, K)>,
}

impl<K: Copy> Default for MmioBus<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Copy> MmioBus<K> {
    /// An empty bus.
    pub fn new() -> Self {
        Self { maps: Vec::new() }
    }

    /// Map `range` to `key`; the range's first byte is offset 0. Refuses overlaps.
    pub fn insert(&mut self, range: MmioRange, key: K) -> Result<()> {
        if let Some((m, _)) = self.maps.iter().find(|(m, _)| m.overlaps(&range)) {
            return Err(Error::MmioOverlap {
                base: range.base,
                existing: m.base,
            });
        }
        let at = self.maps.partition_point(|(m, _)| m.base < range.base);
        self.maps.insert(at, (range, key));
        Ok(())
    }

    /// Unmap the range that starts at `base`, returning it and its key.
    pub fn remove(&mut self, base: u32) -> Result<(MmioRange, K)> {
        match self.maps.iter().position(|(m, _)| m.base == base) {
            Some(i) => Ok(self.maps.remove(i)),
            None => Err(Error::MmioNotMapped { base }),
        }
    }

    /// The device key and register offset that answer `addr`.
    #[inline]
    pub fn lookup(&self, addr: u32) -> Option<(K, u32)> {
        let i = self.maps.partition_point(|(m, _)| m.base <= addr);
        let (m, k) = self.maps.get(i.checked_sub(1)?)?;
        m.contains(addr).then(|| (*k, addr - m.base))
    }

    /// All mappings, by base address.
    pub fn ranges(&self) -> impl Iterator<Item = (MmioRange, K)> + '_ {
        self.maps.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mmio_ranges_are_checked_and_looked_up() {
        assert_eq!(
            MmioRange::new(0xFEE0_0000, 0),
            Err(Error::BadMmioRange {
                base: 0xFEE0_0000,
                len: 0
            })
        );
        assert!(MmioRange::new(0xFFFF_F000, 0x1000).is_ok());
        assert!(MmioRange::new(0xFFFF_F000, 0x1001).is_err());
        let mut bus = MmioBus::new();
        bus.insert(MmioRange::new(0xFEE0_0000, 0x1000).unwrap(), 'l')
            .unwrap();
        bus.insert(MmioRange::new(0xFEC0_0000, 0x20).unwrap(), 'i')
            .unwrap();
        assert_eq!(bus.lookup(0xFEC0_0010), Some(('i', 0x10)));
        assert_eq!(bus.lookup(0xFEC0_0020), None);
        assert_eq!(bus.lookup(0xFEE0_0FFF), Some(('l', 0xFFF)));
        assert_eq!(bus.lookup(0xFEE0_1000), None);
        assert_eq!(bus.lookup(0), None);
        assert_eq!(
            bus.insert(MmioRange::new(0xFEDF_F000, 0x1001).unwrap(), 'x'),
            Err(Error::MmioOverlap {
                base: 0xFEDF_F000,
                existing: 0xFEE0_0000
            })
        );
        assert_eq!(
            bus.lookup(0xFEDF_F000),
            None,
            "a refused insert maps nothing"
        );
        // Relocation: remove and map elsewhere.
        let (r, k) = bus.remove(0xFEE0_0000).unwrap();
        assert_eq!((r.len(), k), (0x1000, 'l'));
        assert_eq!(
            bus.remove(0xFEE0_0000),
            Err(Error::MmioNotMapped { base: 0xFEE0_0000 })
        );
        bus.insert(MmioRange::new(0xFED0_0000, 0x1000).unwrap(), 'l')
            .unwrap();
        assert_eq!(bus.lookup(0xFED0_0030), Some(('l', 0x30)));
        assert_eq!(bus.lookup(0xFEE0_0030), None);
        assert_eq!(bus.ranges().count(), 2);
    }

    #[test]
    fn ranges_are_checked() {
        assert_eq!(
            PioRange::new(0x3F8, 0),
            Err(Error::EmptyRange { base: 0x3F8 })
        );
        assert!(PioRange::new(0xFFFF, 1).is_ok());
        assert_eq!(
            PioRange::new(0xFFFF, 2),
            Err(Error::RangeOverflow {
                base: 0xFFFF,
                len: 2
            })
        );
        let r = PioRange::new(0x3F8, 8).unwrap();
        assert_eq!(r.last(), PioAddress(0x3FF));
        assert!(r.contains(PioAddress(0x3FF)) && !r.contains(PioAddress(0x400)));
        assert!(r.overlaps(&PioRange::new(0x3FF, 4).unwrap()));
        assert!(!r.overlaps(&PioRange::new(0x400, 4).unwrap()));
        assert!(PioRange::new(0, 0x1_0000).is_ok());
    }

    #[test]
    fn lookup_returns_key_and_offset_and_refuses_overlap() {
        let mut bus = PortBus::new();
        bus.insert(PioRange::new(0x3F8, 8).unwrap(), 'u').unwrap();
        bus.insert_with_offset(PioRange::new(0x64, 1).unwrap(), 'k', 4)
            .unwrap();
        assert_eq!(bus.lookup(0x3F8), Some(('u', 0)));
        assert_eq!(bus.lookup(0x3FD), Some(('u', 5)));
        assert_eq!(bus.lookup(0x64), Some(('k', 4)));
        assert_eq!(bus.lookup(0x3F7), None);
        assert_eq!(bus.lookup(0x400), None);
        assert_eq!(
            bus.insert(PioRange::new(0x3F0, 9).unwrap(), 'x'),
            Err(Error::Overlap {
                base: 0x3F0,
                existing: 0x3F8
            })
        );
        assert_eq!(bus.lookup(0x3F0), None, "a refused insert maps nothing");
    }

    #[test]
    fn remove_frees_ports_and_slot() {
        let mut bus = PortBus::new();
        let r = PioRange::new(0xC000, 0x40).unwrap();
        bus.insert(r, 1u8).unwrap();
        assert_eq!(
            bus.remove(PioAddress(0xC001)),
            Err(Error::NotMapped { base: 0xC001 })
        );
        assert_eq!(bus.remove(PioAddress(0xC000)), Ok((r, 1)));
        assert_eq!(bus.lookup(0xC010), None);
        bus.insert(PioRange::new(0xC020, 0x40).unwrap(), 2).unwrap();
        assert_eq!(bus.lookup(0xC05F), Some((2, 0x3F)));
        assert_eq!(bus.ranges().count(), 1);
    }
}

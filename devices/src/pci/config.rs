//! A type 0 PCI configuration space with per-bit write masks, write-1-to-clear
//! status bits and BARs that report their size the standard way (write all ones,
//! read back the size mask).

use core::ops::RangeInclusive;

/// Address space a BAR decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BarKind {
    /// I/O ports (BAR bit 0 = 1).
    Io,
    /// 32-bit memory (BAR bits 2:1 = 00), optionally prefetchable (bit 3).
    Mem32 {
        /// Prefetchable bit.
        prefetchable: bool,
    },
}

/// A base address register: kind and size (a power of two, at least 4 bytes of
/// I/O or 16 bytes of memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bar {
    /// Address space.
    pub kind: BarKind,
    /// Size in bytes.
    pub size: u32,
}

impl Bar {
    fn type_bits(&self) -> u32 {
        match self.kind {
            BarKind::Io => 0x1,
            BarKind::Mem32 { prefetchable } => u32::from(prefetchable) << 3,
        }
    }

    fn address_mask(&self) -> u32 {
        let low = match self.kind {
            BarKind::Io => 0x3,
            BarKind::Mem32 { .. } => 0xF,
        };
        !(self.size - 1) & !low
    }
}

/// Offsets of the standard type 0 header fields.
pub mod reg {
    /// Vendor ID (16 bits).
    pub const VENDOR_ID: u8 = 0x00;
    /// Device ID (16 bits).
    pub const DEVICE_ID: u8 = 0x02;
    /// Command register (16 bits).
    pub const COMMAND: u8 = 0x04;
    /// Status register (16 bits).
    pub const STATUS: u8 = 0x06;
    /// Revision ID.
    pub const REVISION: u8 = 0x08;
    /// Class code (24 bits: prog-if, subclass, class).
    pub const CLASS: u8 = 0x09;
    /// Cache line size.
    pub const CACHE_LINE: u8 = 0x0C;
    /// Latency timer.
    pub const LATENCY: u8 = 0x0D;
    /// Header type (bit 7 = multi-function).
    pub const HEADER_TYPE: u8 = 0x0E;
    /// First of six BARs.
    pub const BAR0: u8 = 0x10;
    /// Subsystem vendor ID.
    pub const SUBSYSTEM_VENDOR: u8 = 0x2C;
    /// Expansion ROM base address.
    pub const ROM: u8 = 0x30;
    /// Interrupt line (written by firmware/OS).
    pub const INTERRUPT_LINE: u8 = 0x3C;
    /// Interrupt pin (1-4 = INTA#-INTD#).
    pub const INTERRUPT_PIN: u8 = 0x3D;
}

/// 256 bytes of configuration space with write masks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSpace {
    data: [u8; 256],
    wmask: [u8; 256],
    w1c: [u8; 256],
    bars: [Option<Bar>; 6],
}

impl ConfigSpace {
    /// A header with these IDs, class code (0xCCSSPP), revision and header type;
    /// command, cache line, latency timer and interrupt line are writable.
    pub fn new(vendor: u16, device: u16, class: u32, revision: u8, header_type: u8) -> Self {
        let mut c = Self {
            data: [0; 256],
            wmask: [0; 256],
            w1c: [0; 256],
            bars: [None; 6],
        };
        c.set_u16(reg::VENDOR_ID, vendor);
        c.set_u16(reg::DEVICE_ID, device);
        c.set_u8(reg::REVISION, revision);
        c.set_u8(reg::CLASS, class as u8);
        c.set_u16(reg::CLASS + 1, (class >> 8) as u16);
        c.set_u8(reg::HEADER_TYPE, header_type);
        // IO, MEM, bus master, parity, SERR, INTx disable.
        c.wmask[0x04] = 0x47;
        c.wmask[0x05] = 0x05;
        // Status error bits are write-one-to-clear.
        c.w1c[0x06] = 0x00;
        c.w1c[0x07] = 0xF9;
        c.wmask[usize::from(reg::CACHE_LINE)] = 0xFF;
        c.wmask[usize::from(reg::LATENCY)] = 0xFF;
        c.wmask[usize::from(reg::INTERRUPT_LINE)] = 0xFF;
        c
    }

    /// Declare BAR `index` (0-5). Returns false (and changes nothing) for a bad
    /// index or a size that is not a power of two of at least 4 (I/O) / 16 (memory).
    pub fn set_bar(&mut self, index: usize, bar: Bar) -> bool {
        let min = match bar.kind {
            BarKind::Io => 4,
            BarKind::Mem32 { .. } => 16,
        };
        if index >= 6 || !bar.size.is_power_of_two() || bar.size < min {
            return false;
        }
        self.bars[index] = Some(bar);
        let off = usize::from(reg::BAR0) + 4 * index;
        let mask = bar.address_mask();
        self.wmask[off..off + 4].copy_from_slice(&mask.to_le_bytes());
        self.data[off..off + 4].copy_from_slice(&bar.type_bits().to_le_bytes());
        true
    }

    /// BAR `index` as declared.
    pub fn bar(&self, index: usize) -> Option<Bar> {
        self.bars.get(index).copied().flatten()
    }

    /// Base address currently programmed into BAR `index`.
    pub fn bar_address(&self, index: usize) -> Option<u32> {
        let bar = self.bar(index)?;
        Some(self.u32(reg::BAR0 + 4 * index as u8) & bar.address_mask())
    }

    /// Interrupt pin (1 = INTA# ... 4 = INTD#, 0 = none).
    pub fn set_interrupt_pin(&mut self, pin: u8) {
        self.set_u8(reg::INTERRUPT_PIN, pin.min(4));
    }

    /// Make bytes in `range` writable by the guest through `mask`.
    pub fn set_writable(&mut self, range: RangeInclusive<u8>, mask: u8) {
        for i in range {
            self.wmask[usize::from(i)] = mask;
        }
    }

    /// The command register.
    pub fn command(&self) -> u16 {
        self.u16(reg::COMMAND)
    }

    /// Guest-side dword read at `offset & 0xFC`.
    pub fn read(&self, offset: u8) -> u32 {
        self.u32(offset & 0xFC)
    }

    /// Guest-side write of the bytes of the dword at `offset & 0xFC` selected by
    /// `byte_enable`, honouring write masks and write-one-to-clear bits.
    pub fn write(&mut self, offset: u8, value: u32, byte_enable: u8) {
        let base = usize::from(offset & 0xFC);
        for (i, v) in value.to_le_bytes().into_iter().enumerate() {
            if byte_enable & (1 << i) == 0 {
                continue;
            }
            let at = base + i;
            let (m, c) = (self.wmask[at], self.w1c[at]);
            self.data[at] = ((self.data[at] & !m) | (v & m)) & !(v & c);
        }
    }

    /// Byte at `offset`.
    pub fn u8(&self, offset: u8) -> u8 {
        self.data[usize::from(offset)]
    }

    /// Little-endian word at `offset` (wrapping past 0xFF).
    pub fn u16(&self, offset: u8) -> u16 {
        u16::from_le_bytes([self.u8(offset), self.u8(offset.wrapping_add(1))])
    }

    /// Little-endian dword at `offset` (wrapping past 0xFF).
    pub fn u32(&self, offset: u8) -> u32 {
        u32::from_le_bytes([0, 1, 2, 3].map(|i| self.u8(offset.wrapping_add(i))))
    }

    /// Device-side byte store, ignoring write masks.
    pub fn set_u8(&mut self, offset: u8, v: u8) {
        self.data[usize::from(offset)] = v;
    }

    /// Device-side word store, ignoring write masks.
    pub fn set_u16(&mut self, offset: u8, v: u16) {
        for (i, b) in v.to_le_bytes().into_iter().enumerate() {
            self.set_u8(offset.wrapping_add(i as u8), b);
        }
    }

    /// Device-side dword store, ignoring write masks.
    pub fn set_u32(&mut self, offset: u8, v: u32) {
        for (i, b) in v.to_le_bytes().into_iter().enumerate() {
            self.set_u8(offset.wrapping_add(i as u8), b);
        }
    }

    /// The raw 256 bytes (for save/restore).
    pub fn bytes(&self) -> &[u8; 256] {
        &self.data
    }

    /// Restore the raw 256 bytes (masks and BARs stay as declared).
    pub fn restore_bytes(&mut self, data: &[u8; 256]) {
        self.data = *data;
    }
}

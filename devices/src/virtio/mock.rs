//! Driver-side test doubles (feature `test-utils`): guest RAM as a `Vec<u8>` and
//! a split virtqueue as a driver builds it, including malformed chains.

use super::queue::{DESC_F_INDIRECT, DESC_F_NEXT, DESC_F_WRITE};
use super::{GuestMemory, MemError};

/// Guest RAM of a fixed size starting at address 0.
#[derive(Debug, Clone)]
pub struct MockMemory {
    data: Vec<u8>,
}

impl MockMemory {
    /// `size` bytes of zeroed RAM.
    pub fn new(size: usize) -> Self {
        Self {
            data: vec![0; size],
        }
    }

    /// All of RAM.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// `len` bytes at `addr` (panics outside RAM: test code only).
    pub fn slice(&self, addr: u64, len: usize) -> &[u8] {
        &self.data[addr as usize..addr as usize + len]
    }

    /// Store `data` at `addr` (panics outside RAM: test code only).
    pub fn put(&mut self, addr: u64, data: &[u8]) {
        self.data[addr as usize..addr as usize + data.len()].copy_from_slice(data);
    }

    /// Little-endian u16 at `addr`.
    pub fn u16(&self, addr: u64) -> u16 {
        u16::from_le_bytes(self.slice(addr, 2).try_into().unwrap())
    }

    /// Little-endian u32 at `addr`.
    pub fn u32(&self, addr: u64) -> u32 {
        u32::from_le_bytes(self.slice(addr, 4).try_into().unwrap())
    }

    fn range(&self, addr: u64, len: usize) -> Result<core::ops::Range<usize>, MemError> {
        let end = addr
            .checked_add(len as u64)
            .filter(|&e| e <= self.data.len() as u64)
            .ok_or(MemError { addr, len })?;
        Ok(addr as usize..end as usize)
    }
}

impl GuestMemory for MockMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
        let r = self.range(addr, buf.len())?;
        buf.copy_from_slice(&self.data[r]);
        Ok(())
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), MemError> {
        let r = self.range(addr, data.len())?;
        self.data[r].copy_from_slice(data);
        Ok(())
    }
}

/// One buffer of a chain the driver offers: address, length, device-writable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buf {
    /// Guest address.
    pub addr: u64,
    /// Length in bytes.
    pub len: u32,
    /// The device writes it.
    pub write: bool,
}

impl Buf {
    /// A device-readable buffer.
    pub fn r(addr: u64, len: u32) -> Self {
        Self {
            addr,
            len,
            write: false,
        }
    }

    /// A device-writable buffer.
    pub fn w(addr: u64, len: u32) -> Self {
        Self {
            addr,
            len,
            write: true,
        }
    }
}

/// The driver's view of a split virtqueue laid out at fixed addresses.
#[derive(Debug, Clone)]
pub struct DriverQueue {
    /// Entries.
    pub size: u16,
    /// Descriptor table address.
    pub desc: u64,
    /// Available ring address.
    pub avail: u64,
    /// Used ring address.
    pub used: u64,
    next_desc: u16,
    avail_idx: u16,
    last_used: u16,
}

impl DriverQueue {
    /// A queue of `size` entries with its three areas from `base` on (page aligned
    /// used ring, as legacy drivers lay it out).
    pub fn new(base: u64, size: u16) -> Self {
        let desc = base;
        let avail = desc + 16 * u64::from(size);
        let used = (avail + 6 + 2 * u64::from(size) + 4095) & !4095;
        Self {
            size,
            desc,
            avail,
            used,
            next_desc: 0,
            avail_idx: 0,
            last_used: 0,
        }
    }

    /// Bytes from `base` the three areas span.
    pub fn footprint(&self) -> u64 {
        self.used + 6 + 8 * u64::from(self.size) - self.desc
    }

    /// Write descriptor `i` as given (for building malformed chains).
    pub fn write_desc(
        &self,
        mem: &mut MockMemory,
        i: u16,
        addr: u64,
        len: u32,
        flags: u16,
        next: u16,
    ) {
        let mut d = [0u8; 16];
        d[0..8].copy_from_slice(&addr.to_le_bytes());
        d[8..12].copy_from_slice(&len.to_le_bytes());
        d[12..14].copy_from_slice(&flags.to_le_bytes());
        d[14..16].copy_from_slice(&next.to_le_bytes());
        mem.put(self.desc + 16 * u64::from(i), &d);
    }

    fn alloc(&mut self, n: u16) -> u16 {
        let first = self.next_desc;
        self.next_desc = (self.next_desc + n) % self.size;
        first
    }

    /// Write `bufs` as a chain of consecutive descriptors and return its head
    /// (not yet published).
    pub fn chain(&mut self, mem: &mut MockMemory, bufs: &[Buf]) -> u16 {
        let head = self.alloc(bufs.len() as u16);
        for (k, b) in bufs.iter().enumerate() {
            let i = (head + k as u16) % self.size;
            let last = k + 1 == bufs.len();
            let flags = if b.write { DESC_F_WRITE } else { 0 } | if last { 0 } else { DESC_F_NEXT };
            self.write_desc(mem, i, b.addr, b.len, flags, (i + 1) % self.size);
        }
        head
    }

    /// Write `bufs` as an indirect table at `table` and one descriptor pointing at
    /// it; returns the head (not yet published).
    pub fn indirect(&mut self, mem: &mut MockMemory, table: u64, bufs: &[Buf]) -> u16 {
        for (k, b) in bufs.iter().enumerate() {
            let last = k + 1 == bufs.len();
            let flags = if b.write { DESC_F_WRITE } else { 0 } | if last { 0 } else { DESC_F_NEXT };
            let mut d = [0u8; 16];
            d[0..8].copy_from_slice(&b.addr.to_le_bytes());
            d[8..12].copy_from_slice(&b.len.to_le_bytes());
            d[12..14].copy_from_slice(&flags.to_le_bytes());
            d[14..16].copy_from_slice(&(k as u16 + 1).to_le_bytes());
            mem.put(table + 16 * k as u64, &d);
        }
        let head = self.alloc(1);
        let len = 16 * bufs.len() as u32;
        self.write_desc(mem, head, table, len, DESC_F_INDIRECT, 0);
        head
    }

    /// Put `head` in the available ring and bump avail idx.
    pub fn publish(&mut self, mem: &mut MockMemory, head: u16) {
        let slot = u64::from(self.avail_idx % self.size);
        mem.put(self.avail + 4 + 2 * slot, &head.to_le_bytes());
        self.avail_idx = self.avail_idx.wrapping_add(1);
        mem.put(self.avail + 2, &self.avail_idx.to_le_bytes());
    }

    /// Set avail idx directly (for overrun tests).
    pub fn set_avail_idx(&mut self, mem: &mut MockMemory, idx: u16) {
        self.avail_idx = idx;
        mem.put(self.avail + 2, &idx.to_le_bytes());
    }

    /// Set the available ring's flags (bit 0: no interrupts).
    pub fn set_avail_flags(&self, mem: &mut MockMemory, flags: u16) {
        mem.put(self.avail, &flags.to_le_bytes());
    }

    /// Set used_event (EVENT_IDX: interrupt once used idx passes it).
    pub fn set_used_event(&self, mem: &mut MockMemory, idx: u16) {
        mem.put(
            self.avail + 4 + 2 * u64::from(self.size),
            &idx.to_le_bytes(),
        );
    }

    /// avail_event as the device last wrote it.
    pub fn avail_event(&self, mem: &MockMemory) -> u16 {
        mem.u16(self.used + 4 + 8 * u64::from(self.size))
    }

    /// Used entries (id, len) the device added since the last call.
    pub fn take_used(&mut self, mem: &MockMemory) -> Vec<(u32, u32)> {
        let idx = mem.u16(self.used + 2);
        let mut out = Vec::new();
        while self.last_used != idx {
            let slot = u64::from(self.last_used % self.size);
            let e = self.used + 4 + 8 * slot;
            out.push((mem.u32(e), mem.u32(e + 4)));
            self.last_used = self.last_used.wrapping_add(1);
        }
        out
    }
}

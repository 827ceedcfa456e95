//! The device side of a split virtqueue (virtio 1.1, 2.6).
//!
//! Layout in guest memory, for a queue of `size` entries:
//! - descriptor table: `size` x {addr u64, len u32, flags u16, next u16};
//! - available ring (driver area): flags u16, idx u16, ring\[size\] u16, used_event u16;
//! - used ring (device area): flags u16, idx u16, ring\[size\] {id u32, len u32},
//!   avail_event u16.
//!
//! Everything the driver wrote is untrusted: chains are walked with a bound on
//! their length, indices are checked against the table size, and any failure is a
//! [`QueueError`] (the transport then reports DEVICE_NEEDS_RESET); nothing panics
//! or loops forever.

use super::{read_u16, write_u16, GuestMemory, MemError};

/// Descriptor flag: the chain continues at `next`.
pub const DESC_F_NEXT: u16 = 1;
/// Descriptor flag: the device writes this buffer (otherwise it reads it).
pub const DESC_F_WRITE: u16 = 2;
/// Descriptor flag: the buffer is a table of descriptors.
pub const DESC_F_INDIRECT: u16 = 4;
/// Available ring flag: the driver does not want interrupts (without EVENT_IDX).
pub const AVAIL_F_NO_INTERRUPT: u16 = 1;
/// Largest queue the transport offers (the spec allows 32768).
pub const MAX_QUEUE_SIZE: u16 = 32768;
/// Largest indirect table accepted, in descriptors.
pub const MAX_INDIRECT: u32 = 4096;

/// `base + off`, or an error for a driver address that would wrap past 2^64.
fn at(base: u64, off: u64) -> Result<u64, QueueError> {
    base.checked_add(off)
        .ok_or(QueueError::Memory(MemError { addr: base, len: 0 }))
}

/// One guest buffer of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Guest physical address.
    pub addr: u64,
    /// Length in bytes.
    pub len: u32,
}

/// A descriptor chain taken from the available ring: the buffers the device reads
/// (first, in order) and those it writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescChain {
    /// Index of the head descriptor (what goes back in the used ring).
    pub head: u16,
    /// Device-readable buffers in chain order.
    pub readable: Vec<Segment>,
    /// Device-writable buffers in chain order.
    pub writable: Vec<Segment>,
}

impl DescChain {
    /// Total bytes of the readable buffers.
    pub fn readable_len(&self) -> u64 {
        self.readable.iter().map(|s| u64::from(s.len)).sum()
    }

    /// Total bytes of the writable buffers.
    pub fn writable_len(&self) -> u64 {
        self.writable.iter().map(|s| u64::from(s.len)).sum()
    }
}

/// A driver error in a queue's structures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueError {
    /// A ring or descriptor lies outside guest RAM.
    Memory(MemError),
    /// The available index ran more than the queue size ahead of the device.
    AvailOverrun {
        /// The driver's avail idx.
        avail: u16,
        /// The device's next index to take.
        last: u16,
    },
    /// A descriptor index past the (direct or indirect) table.
    BadIndex(u32),
    /// A chain longer than its table: a loop.
    ChainTooLong,
    /// An indirect descriptor that is nested, has NEXT set, or a bad length.
    BadIndirect,
    /// A device-readable descriptor after a device-writable one.
    ReadableAfterWritable,
    /// The queue was used while not enabled or with an invalid size.
    NotReady,
}

impl From<MemError> for QueueError {
    fn from(e: MemError) -> Self {
        QueueError::Memory(e)
    }
}

impl core::fmt::Display for QueueError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            QueueError::Memory(e) => write!(f, "{e}"),
            QueueError::AvailOverrun { avail, last } => {
                write!(f, "avail idx {avail} is more than a queue ahead of {last}")
            }
            QueueError::BadIndex(i) => write!(f, "descriptor index {i} out of range"),
            QueueError::ChainTooLong => write!(f, "descriptor chain loops"),
            QueueError::BadIndirect => write!(f, "malformed indirect descriptor"),
            QueueError::ReadableAfterWritable => {
                write!(f, "device-readable descriptor after a writable one")
            }
            QueueError::NotReady => write!(f, "queue used before it was enabled"),
        }
    }
}

/// A split virtqueue as the transport configures it and the device uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Virtqueue {
    /// Largest size the device accepts (what queue_size reads before the driver writes it).
    pub max_size: u16,
    /// Negotiated size (a power of two, at most `max_size`).
    pub size: u16,
    /// queue_enable.
    pub ready: bool,
    /// Guest address of the descriptor table.
    pub desc: u64,
    /// Guest address of the available ring.
    pub avail: u64,
    /// Guest address of the used ring.
    pub used: u64,
    /// VIRTIO_F_EVENT_IDX was negotiated.
    pub event_idx: bool,
    /// VIRTIO_F_INDIRECT_DESC was negotiated.
    pub indirect: bool,
    pub(crate) last_avail: u16,
    pub(crate) used_idx: u16,
    pub(crate) signalled: u16,
}

impl Virtqueue {
    /// A disabled queue offering `max_size` entries (a power of two).
    pub fn new(max_size: u16) -> Self {
        let max_size = max_size.clamp(1, MAX_QUEUE_SIZE);
        Self {
            max_size,
            size: max_size,
            ready: false,
            desc: 0,
            avail: 0,
            used: 0,
            event_idx: false,
            indirect: false,
            last_avail: 0,
            used_idx: 0,
            signalled: 0,
        }
    }

    /// Back to the power-on state (device reset).
    pub fn reset(&mut self) {
        *self = Self::new(self.max_size);
    }

    /// The driver writes queue_size: accepted if a power of two within the maximum.
    pub fn set_size(&mut self, size: u16) {
        if size.is_power_of_two() && size <= self.max_size && !self.ready {
            self.size = size;
        }
    }

    /// Index of the next used ring entry the device will fill.
    pub fn used_idx(&self) -> u16 {
        self.used_idx
    }

    /// Index of the next available ring entry the device will take.
    pub fn last_avail(&self) -> u16 {
        self.last_avail
    }

    fn check_ready(&self) -> Result<(), QueueError> {
        if self.ready && self.size.is_power_of_two() {
            Ok(())
        } else {
            Err(QueueError::NotReady)
        }
    }

    /// Take the next chain from the available ring, if the driver made one
    /// available. With EVENT_IDX, a drained ring asks the driver to notify on the
    /// next buffer (avail_event = our position).
    pub fn pop(&mut self, mem: &mut dyn GuestMemory) -> Result<Option<DescChain>, QueueError> {
        self.check_ready()?;
        let avail_idx = read_u16(mem, at(self.avail, 2)?)?;
        let pending = avail_idx.wrapping_sub(self.last_avail);
        if pending == 0 {
            if self.event_idx {
                let a = at(self.used, 4 + 8 * u64::from(self.size))?;
                write_u16(mem, a, self.last_avail)?;
            }
            return Ok(None);
        }
        if pending > self.size {
            return Err(QueueError::AvailOverrun {
                avail: avail_idx,
                last: self.last_avail,
            });
        }
        let slot = u64::from(self.last_avail % self.size);
        let head = read_u16(mem, at(self.avail, 4 + 2 * slot)?)?;
        self.last_avail = self.last_avail.wrapping_add(1);
        self.walk(mem, head).map(Some)
    }

    fn walk(&self, mem: &dyn GuestMemory, head: u16) -> Result<DescChain, QueueError> {
        let mut chain = DescChain {
            head,
            ..DescChain::default()
        };
        let (mut table, mut entries) = (self.desc, u32::from(self.size));
        let mut index = u32::from(head);
        let mut seen = 0u32;
        let mut in_indirect = false;
        loop {
            if index >= entries {
                return Err(QueueError::BadIndex(index));
            }
            seen += 1;
            if seen > entries {
                return Err(QueueError::ChainTooLong);
            }
            let mut d = [0u8; 16];
            mem.read(at(table, 16 * u64::from(index))?, &mut d)?;
            let addr = u64::from_le_bytes(d[0..8].try_into().unwrap_or_default());
            let len = u32::from_le_bytes(d[8..12].try_into().unwrap_or_default());
            let flags = u16::from_le_bytes([d[12], d[13]]);
            let next = u16::from_le_bytes([d[14], d[15]]);
            if flags & DESC_F_INDIRECT != 0 {
                if !self.indirect
                    || in_indirect
                    || flags & DESC_F_NEXT != 0
                    || len == 0
                    || !len.is_multiple_of(16)
                    || len / 16 > MAX_INDIRECT
                {
                    return Err(QueueError::BadIndirect);
                }
                (table, entries) = (addr, len / 16);
                index = 0;
                seen = 0;
                in_indirect = true;
                continue;
            }
            at(addr, u64::from(len))?;
            let seg = Segment { addr, len };
            if flags & DESC_F_WRITE != 0 {
                chain.writable.push(seg);
            } else if chain.writable.is_empty() {
                chain.readable.push(seg);
            } else {
                return Err(QueueError::ReadableAfterWritable);
            }
            if flags & DESC_F_NEXT == 0 {
                return Ok(chain);
            }
            index = u32::from(next);
        }
    }

    /// Return chain `head` to the driver, `written` bytes having been written to its
    /// writable buffers.
    pub fn push_used(
        &mut self,
        mem: &mut dyn GuestMemory,
        head: u16,
        written: u32,
    ) -> Result<(), QueueError> {
        self.check_ready()?;
        let slot = u64::from(self.used_idx % self.size);
        let mut e = [0u8; 8];
        e[..4].copy_from_slice(&u32::from(head).to_le_bytes());
        e[4..].copy_from_slice(&written.to_le_bytes());
        mem.write(at(self.used, 4 + 8 * slot)?, &e)?;
        self.used_idx = self.used_idx.wrapping_add(1);
        write_u16(mem, at(self.used, 2)?, self.used_idx)?;
        Ok(())
    }

    /// Whether the driver wants an interrupt for the entries used since the last
    /// time this returned (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX).
    pub fn should_notify(&mut self, mem: &dyn GuestMemory) -> Result<bool, QueueError> {
        if !self.ready || self.used_idx == self.signalled {
            return Ok(false);
        }
        let old = self.signalled;
        self.signalled = self.used_idx;
        if self.event_idx {
            let used_event = read_u16(mem, at(self.avail, 4 + 2 * u64::from(self.size))?)?;
            // Notify if used_event lies in (old, new]: the spec's vring_need_event.
            let new = self.used_idx;
            Ok(new.wrapping_sub(used_event).wrapping_sub(1) < new.wrapping_sub(old))
        } else {
            Ok(read_u16(mem, self.avail)? & AVAIL_F_NO_INTERRUPT == 0)
        }
    }
}

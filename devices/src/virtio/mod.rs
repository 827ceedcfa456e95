//! virtio 1.x devices over PCI (virtio spec 1.1, "split" virtqueues).
//!
//! - [`queue`]: the device side of a split virtqueue (descriptor table, available
//!   and used rings, indirect descriptors, event-index suppression), hardened
//!   against a driver that builds loops or points outside RAM.
//! - [`pci`]: the modern virtio-pci transport: configuration space with the vendor
//!   capabilities, one I/O BAR holding the common, notify, ISR and device areas,
//!   and INTx# through the PIIX3 router.
//! - [`blk`]: virtio-blk on top of a [`crate::block::BlockBackend`].
//!
//! Guest memory is reached through the small [`GuestMemory`] trait, which the
//! machine implements over its physical memory. A driver's register writes only
//! record work ("queue 0 was notified"); the machine then calls
//! [`pci::VirtioPci::process`] between CPU slices, with guest memory at hand.

pub mod blk;
#[cfg(any(test, feature = "test-utils"))]
pub mod mock;
pub mod pci;
pub mod queue;
#[cfg(test)]
mod tests;

pub use blk::VirtioBlk;
pub use pci::{VirtioPci, VirtioPciFunction, VirtioPciIo, VirtioPciState, VirtqueueState};
pub use queue::{DescChain, QueueError, Segment, Virtqueue};

/// PCI vendor ID of virtio devices.
pub const VIRTIO_PCI_VENDOR: u16 = 0x1AF4;
/// Modern (non-transitional) PCI device IDs are this plus the virtio device type.
pub const VIRTIO_PCI_DEVICE_BASE: u16 = 0x1040;
/// virtio device type of a block device.
pub const VIRTIO_ID_BLOCK: u16 = 2;

/// Device status bits (virtio 1.1, 2.1).
pub mod status {
    /// The guest noticed the device.
    pub const ACKNOWLEDGE: u8 = 1;
    /// The guest has a driver for it.
    pub const DRIVER: u8 = 2;
    /// The driver is ready: the device may use the queues.
    pub const DRIVER_OK: u8 = 4;
    /// Feature negotiation is complete (the device clears it if it refuses).
    pub const FEATURES_OK: u8 = 8;
    /// The device hit an error it cannot recover from without a reset.
    pub const DEVICE_NEEDS_RESET: u8 = 0x40;
    /// The driver gave up on the device.
    pub const FAILED: u8 = 0x80;
}

/// Transport feature bits (virtio 1.1, 6).
pub mod feature {
    /// Descriptors may point at tables of descriptors.
    pub const INDIRECT_DESC: u64 = 1 << 28;
    /// used_event / avail_event notification suppression.
    pub const EVENT_IDX: u64 = 1 << 29;
    /// The device conforms to virtio 1.x (mandatory for the modern transport).
    pub const VERSION_1: u64 = 1 << 32;
}

/// A guest physical memory access that fell outside RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemError {
    /// Guest physical address of the access.
    pub addr: u64,
    /// Its length in bytes.
    pub len: usize,
}

impl core::fmt::Display for MemError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "guest access {:#x}+{} is outside RAM",
            self.addr, self.len
        )
    }
}

impl std::error::Error for MemError {}

/// What a device's DMA sees: guest RAM by physical address. Accesses that are
/// not wholly inside RAM fail and change nothing.
pub trait GuestMemory {
    /// Copy `buf.len()` bytes at `addr` into `buf`.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError>;
    /// Copy `data` to `addr` (and drop any code the CPU cached from those pages).
    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), MemError>;
}

pub(crate) fn read_u16(mem: &dyn GuestMemory, addr: u64) -> Result<u16, MemError> {
    let mut b = [0; 2];
    mem.read(addr, &mut b)?;
    Ok(u16::from_le_bytes(b))
}

pub(crate) fn write_u16(mem: &mut dyn GuestMemory, addr: u64, v: u16) -> Result<(), MemError> {
    mem.write(addr, &v.to_le_bytes())
}

/// A virtio device model behind a transport: its identity, features, configuration
/// area and queue processing. The transport owns the queues and the interrupt.
pub trait VirtioDevice {
    /// virtio device type (2 = block).
    fn device_type(&self) -> u16;
    /// Device-specific feature bits offered (the transport adds its own).
    fn features(&self) -> u64;
    /// Maximum size of each of the device's queues (their count is the length).
    fn queue_max_sizes(&self) -> Vec<u16>;
    /// Size of the device-specific configuration area in bytes.
    fn config_len(&self) -> usize;
    /// Read the configuration area at `offset` (bytes past the end read as 0).
    fn read_config(&self, offset: usize, data: &mut [u8]);
    /// The driver wrote the configuration area (ignored by default).
    fn write_config(&mut self, _offset: usize, _data: &[u8]) {}
    /// The driver set DRIVER_OK having accepted `features`.
    fn activate(&mut self, features: u64);
    /// Device reset: forget every request (completions of requests still at the
    /// backend must then be dropped).
    fn reset(&mut self);
    /// Take new buffers from the queues the driver notified (bit n = queue n) and
    /// deliver finished requests into the used rings.
    fn process(
        &mut self,
        queues: &mut [Virtqueue],
        notified: u64,
        mem: &mut dyn GuestMemory,
    ) -> Result<(), QueueError>;
    /// Requests handed to a backend and not yet delivered.
    fn in_flight(&self) -> usize;
    /// The backend's flush generation, if it counts them (see
    /// [`crate::BlockBackend::generation`]).
    fn generation(&self) -> Option<u64> {
        None
    }
    /// Block for at most `timeout_ns` until a backend has a completion ready.
    fn wait(&mut self, _timeout_ns: u64) {}
    /// Passes a completion waker to the backend (see
    /// [`crate::BlockBackend::set_waker`]); whether it will call it.
    fn set_waker(&mut self, _waker: crate::Waker) -> bool {
        false
    }
}

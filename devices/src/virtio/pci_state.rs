//! The saved state of a virtio-pci function: its configuration space, the common
//! configuration registers, and each virtqueue's addresses and ring indices.
//!
//! Saved only at a quiescent point (no request in flight at the backend): the
//! device's requests are then all delivered, so the indices say everything. The
//! backend, the INTx# line and the kick flag are host connections, kept from the
//! function the state is restored into.

use super::{status, VirtioPci};
use crate::virtio::Virtqueue;

/// One virtqueue as the driver configured it and the device advanced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VirtqueueState {
    /// Negotiated size.
    pub size: u16,
    /// queue_enable.
    pub ready: bool,
    /// Descriptor table address.
    pub desc: u64,
    /// Available ring address.
    pub avail: u64,
    /// Used ring address.
    pub used: u64,
    /// VIRTIO_F_EVENT_IDX negotiated.
    pub event_idx: bool,
    /// VIRTIO_F_INDIRECT_DESC negotiated.
    pub indirect: bool,
    /// Next available-ring index the device takes.
    pub last_avail: u16,
    /// Next used-ring index the device fills.
    pub used_idx: u16,
    /// Used index at the last interrupt (event-index suppression).
    pub signalled: u16,
}

/// A virtio-pci function's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtioPciState {
    /// The 256-byte PCI configuration space (BAR, command, interrupt line).
    pub config: Vec<u8>,
    /// device_status.
    pub status: u8,
    /// device_feature_select.
    pub device_feature_select: u32,
    /// driver_feature_select.
    pub driver_feature_select: u32,
    /// Features the driver accepted.
    pub driver_features: u64,
    /// queue_select.
    pub queue_select: u16,
    /// ISR status (bit 0 queue interrupt, bit 1 configuration change).
    pub isr: u8,
    /// Queues notified and not yet processed (bit n = queue n).
    pub notified: u64,
    /// Every queue.
    pub queues: Vec<VirtqueueState>,
}

impl VirtioPci {
    /// The function's state (take it when [`VirtioPci::in_flight`] is 0).
    pub fn state(&self) -> VirtioPciState {
        VirtioPciState {
            config: self.cfg.bytes().to_vec(),
            status: self.status,
            device_feature_select: self.device_feature_select,
            driver_feature_select: self.driver_feature_select,
            driver_features: self.driver_features,
            queue_select: self.queue_select,
            isr: self.isr,
            notified: self.notified,
            queues: self
                .queues
                .iter()
                .map(|q| VirtqueueState {
                    size: q.size,
                    ready: q.ready,
                    desc: q.desc,
                    avail: q.avail,
                    used: q.used,
                    event_idx: q.event_idx,
                    indirect: q.indirect,
                    last_avail: q.last_avail,
                    used_idx: q.used_idx,
                    signalled: q.signalled,
                })
                .collect(),
        }
    }

    /// Continue from `s` (the device is re-activated with the driver's features
    /// if the driver had set DRIVER_OK, and INTx# re-driven). Queues beyond the
    /// device's count and a configuration space of the wrong size are ignored;
    /// queue sizes are clamped to what the device accepts.
    pub fn restore(&mut self, s: &VirtioPciState) {
        self.device.reset();
        if let Ok(bytes) = <&[u8; 256]>::try_from(s.config.as_slice()) {
            self.cfg.restore_bytes(bytes);
        }
        self.status = s.status;
        self.device_feature_select = s.device_feature_select;
        self.driver_feature_select = s.driver_feature_select;
        self.driver_features = s.driver_features;
        self.queue_select = s.queue_select;
        self.isr = s.isr;
        self.notified = s.notified;
        for (q, qs) in self.queues.iter_mut().zip(&s.queues) {
            *q = Virtqueue {
                size: qs.size.min(q.max_size),
                ready: qs.ready,
                desc: qs.desc,
                avail: qs.avail,
                used: qs.used,
                event_idx: qs.event_idx,
                indirect: qs.indirect,
                last_avail: qs.last_avail,
                used_idx: qs.used_idx,
                signalled: qs.signalled,
                ..*q
            };
        }
        if self.status & status::DRIVER_OK != 0 {
            self.device.activate(self.driver_features);
        }
        self.last_error = None;
        self.update_irq();
    }
}

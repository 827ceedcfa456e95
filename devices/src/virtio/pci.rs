//! The modern virtio-pci transport (virtio 1.1, 4.1) with everything in one I/O BAR.
//!
//! BAR0 (I/O, [`VirtioPci::bar_size`] ports):
//!
//! | offset | area | capability |
//! |---|---|---|
//! | 0x00-0x37 | common configuration | VIRTIO_PCI_CAP_COMMON_CFG |
//! | 0x38-0x39 | queue notify (multiplier 0: one address, the queue index is written) | VIRTIO_PCI_CAP_NOTIFY_CFG |
//! | 0x3C | ISR status, read to clear | VIRTIO_PCI_CAP_ISR_CFG |
//! | 0x40- | device-specific configuration | VIRTIO_PCI_CAP_DEVICE_CFG |
//!
//! An I/O BAR rather than a memory BAR: Linux's virtio_pci_modern maps either kind,
//! port accesses already end the CPU's block (so a notify is seen at once), and the
//! board's port bus can move it when the guest reprograms the BAR. The
//! VIRTIO_PCI_CAP_PCI_CFG window (config space access to the BAR) is provided too.
//!
//! There is no MSI-X: interrupts are INTx# (level, shared), raised while the ISR is
//! non-zero. Three handles share one [`VirtioPci`]: [`VirtioPciFunction`] for the
//! PCI bus, [`VirtioPciIo`] for the port bus, and the machine's, which calls
//! [`VirtioPci::process`] between CPU slices.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::queue::{QueueError, Virtqueue};
use super::{
    feature, status, GuestMemory, VirtioDevice, VIRTIO_PCI_DEVICE_BASE, VIRTIO_PCI_VENDOR,
};
use crate::bus::{IoSize, PioDevice};
use crate::irq::InterruptLine;

#[path = "pci_state.rs"]
mod state;
use crate::pci::{reg, Bar, BarKind, ConfigSpace, PciFunction};
pub use state::{VirtioPciState, VirtqueueState};

/// Offset of the common configuration structure in the BAR.
pub const COMMON_OFFSET: u16 = 0x00;
/// Length of the common configuration structure.
pub const COMMON_LEN: u16 = 0x38;
/// Offset of the notify register.
pub const NOTIFY_OFFSET: u16 = 0x38;
/// Offset of the ISR status register.
pub const ISR_OFFSET: u16 = 0x3C;
/// Offset of the device-specific configuration.
pub const DEVICE_OFFSET: u16 = 0x40;

/// ISR bit: a used ring was updated.
pub const ISR_QUEUE: u8 = 1;
/// ISR bit: the configuration changed (or the device needs a reset).
pub const ISR_CONFIG: u8 = 2;

/// Where the capability list starts in configuration space.
const CAP_START: u8 = 0x40;
/// Offset of pci_cfg_data in the VIRTIO_PCI_CAP_PCI_CFG capability.
const PCI_CFG_CAP: u8 = 0x84;
const PCI_CFG_DATA: u8 = PCI_CFG_CAP + 16;
/// The "no MSI-X vector" value of msix_config / queue_msix_vector.
const NO_VECTOR: u16 = 0xFFFF;
/// Command register bit 10: INTx# disabled.
const COMMAND_INTX_DISABLE: u16 = 1 << 10;
/// Status register bit 3: INTx# asserted.
const STATUS_INTERRUPT: u8 = 1 << 3;

/// The transport state of one virtio-pci function and its device.
pub struct VirtioPci {
    cfg: ConfigSpace,
    device: Box<dyn VirtioDevice>,
    queues: Vec<Virtqueue>,
    status: u8,
    device_feature_select: u32,
    driver_feature_select: u32,
    driver_features: u64,
    queue_select: u16,
    isr: u8,
    notified: u64,
    intx: Box<dyn InterruptLine>,
    kick: Rc<Cell<bool>>,
    bar_size: u16,
    last_error: Option<QueueError>,
}

impl core::fmt::Debug for VirtioPci {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VirtioPci")
            .field("type", &self.device.device_type())
            .field("status", &self.status)
            .field("isr", &self.isr)
            .finish_non_exhaustive()
    }
}

impl VirtioPci {
    /// A function presenting `device`, interrupting through `intx` (INTA#), and
    /// setting `kick` when the driver notifies a queue (the board then ends the CPU
    /// slice so the machine processes it).
    pub fn new(
        device: Box<dyn VirtioDevice>,
        intx: Box<dyn InterruptLine>,
        kick: Rc<Cell<bool>>,
    ) -> Self {
        let ty = device.device_type();
        let class = match ty {
            super::VIRTIO_ID_BLOCK => 0x01_80_00,
            _ => 0xFF_00_00,
        };
        let mut cfg = ConfigSpace::new(
            VIRTIO_PCI_VENDOR,
            VIRTIO_PCI_DEVICE_BASE + ty,
            class,
            0x01,
            0x00,
        );
        let end = u32::from(DEVICE_OFFSET) + device.config_len() as u32;
        let bar_size = end.next_power_of_two().clamp(0x80, 0x100) as u16;
        cfg.set_bar(
            0,
            Bar {
                kind: BarKind::Io,
                size: u32::from(bar_size),
            },
        );
        cfg.set_u16(reg::SUBSYSTEM_VENDOR, VIRTIO_PCI_VENDOR);
        cfg.set_u16(reg::SUBSYSTEM_VENDOR + 2, 0x1100);
        cfg.set_u16(reg::STATUS, 0x0010); // capabilities list
        cfg.set_u8(0x34, CAP_START);
        cfg.set_interrupt_pin(1);
        let dev_len = (end - u32::from(DEVICE_OFFSET)).max(4);
        let caps: [(u8, u8, u16, u32); 4] = [
            (1, 16, COMMON_OFFSET, u32::from(COMMON_LEN)),
            (2, 20, NOTIFY_OFFSET, 2),
            (3, 16, ISR_OFFSET, 1),
            (4, 16, DEVICE_OFFSET, dev_len),
        ];
        let mut at = CAP_START;
        for (ty, len, offset, length) in caps {
            let next = at + 0x10 + if len > 16 { 4 } else { 0 };
            write_cap(&mut cfg, at, next, len, ty, u32::from(offset), length);
            at = next;
        }
        debug_assert_eq!(at, PCI_CFG_CAP);
        // VIRTIO_PCI_CAP_PCI_CFG: bar, offset, length and data are the driver's.
        write_cap(&mut cfg, PCI_CFG_CAP, 0, 20, 5, 0, 0);
        cfg.set_writable(PCI_CFG_CAP + 4..=PCI_CFG_CAP + 4, 0xFF);
        cfg.set_writable(PCI_CFG_CAP + 8..=PCI_CFG_CAP + 15, 0xFF);
        let queues = device
            .queue_max_sizes()
            .into_iter()
            .take(64)
            .map(Virtqueue::new)
            .collect();
        Self {
            cfg,
            device,
            queues,
            status: 0,
            device_feature_select: 0,
            driver_feature_select: 0,
            driver_features: 0,
            queue_select: 0,
            isr: 0,
            notified: 0,
            intx,
            kick,
            bar_size,
            last_error: None,
        }
    }

    /// Ports BAR0 spans.
    pub fn bar_size(&self) -> u16 {
        self.bar_size
    }

    /// The configuration space (firmware reads and writes go through
    /// [`PciFunction`] like the guest's).
    pub fn config(&self) -> &ConfigSpace {
        &self.cfg
    }

    /// The port range BAR0 decodes now: I/O decoding enabled and a base below 64K.
    pub fn io_window(&self) -> Option<u16> {
        let base = self.cfg.bar_address(0)?;
        let size = u32::from(self.bar_size);
        let enabled = self.cfg.command() & 1 != 0;
        (enabled && base != 0 && base + size <= 0x1_0000).then_some(base as u16)
    }

    /// Device status as the driver last set it (plus DEVICE_NEEDS_RESET).
    pub fn status(&self) -> u8 {
        self.status
    }

    /// Features the driver accepted.
    pub fn driver_features(&self) -> u64 {
        self.driver_features
    }

    /// The driver error that set DEVICE_NEEDS_RESET, if any.
    pub fn last_error(&self) -> Option<QueueError> {
        self.last_error
    }

    /// The queues (for inspection).
    pub fn queues(&self) -> &[Virtqueue] {
        &self.queues
    }

    /// Everything offered: the device's bits and the transport's.
    pub fn offered_features(&self) -> u64 {
        self.device.features() | feature::VERSION_1 | feature::INDIRECT_DESC | feature::EVENT_IDX
    }

    fn live(&self) -> bool {
        self.status & status::DRIVER_OK != 0 && self.status & status::DEVICE_NEEDS_RESET == 0
    }

    /// The device's backend flush generation (see [`VirtioDevice::generation`]).
    pub fn generation(&self) -> Option<u64> {
        self.device.generation()
    }

    /// Passes a completion waker to the device's backend; whether it will call it.
    pub fn set_waker(&mut self, waker: crate::Waker) -> bool {
        self.device.set_waker(waker)
    }

    /// Requests the device has outstanding at its backend (0 unless the driver is live).
    pub fn in_flight(&self) -> usize {
        if self.live() {
            self.device.in_flight()
        } else {
            0
        }
    }

    /// Block for at most `timeout_ns` until a backend has a completion ready.
    pub fn wait(&mut self, timeout_ns: u64) {
        if self.live() {
            self.device.wait(timeout_ns);
        }
    }

    /// Do the work the driver asked for: take new buffers from notified queues,
    /// deliver finished requests, and raise INTx# if the driver wants to know.
    /// A malformed queue sets DEVICE_NEEDS_RESET (with a configuration interrupt).
    pub fn process(&mut self, mem: &mut dyn GuestMemory) {
        let notified = core::mem::take(&mut self.notified);
        if !self.live() {
            return;
        }
        if let Err(e) = self.device.process(&mut self.queues, notified, mem) {
            self.fail(e);
            return;
        }
        for i in 0..self.queues.len() {
            match self.queues[i].should_notify(mem) {
                Ok(true) => self.isr |= ISR_QUEUE,
                Ok(false) => {}
                Err(e) => {
                    self.fail(e);
                    return;
                }
            }
        }
        self.update_irq();
    }

    fn fail(&mut self, e: QueueError) {
        self.last_error = Some(e);
        self.status |= status::DEVICE_NEEDS_RESET;
        self.isr |= ISR_CONFIG;
        self.update_irq();
    }

    fn update_irq(&mut self) {
        let level = self.isr != 0 && self.cfg.command() & COMMAND_INTX_DISABLE == 0;
        let st = self.cfg.u8(reg::STATUS);
        let st = if self.isr != 0 {
            st | STATUS_INTERRUPT
        } else {
            st & !STATUS_INTERRUPT
        };
        self.cfg.set_u8(reg::STATUS, st);
        self.intx.set_level(level);
    }

    fn reset(&mut self) {
        self.status = 0;
        self.device_feature_select = 0;
        self.driver_feature_select = 0;
        self.driver_features = 0;
        self.queue_select = 0;
        self.isr = 0;
        self.notified = 0;
        self.last_error = None;
        for q in &mut self.queues {
            q.reset();
        }
        self.device.reset();
        self.update_irq();
    }

    fn set_status(&mut self, v: u8) {
        if v == 0 {
            self.reset();
            return;
        }
        let old = self.status;
        let mut new = (v & !status::DEVICE_NEEDS_RESET) | (old & status::DEVICE_NEEDS_RESET);
        if new & status::FEATURES_OK != 0 && old & status::FEATURES_OK == 0 {
            let f = self.driver_features;
            if f & !self.offered_features() != 0 || f & feature::VERSION_1 == 0 {
                new &= !status::FEATURES_OK;
            } else {
                for q in &mut self.queues {
                    q.event_idx = f & feature::EVENT_IDX != 0;
                    q.indirect = f & feature::INDIRECT_DESC != 0;
                }
            }
        }
        if new & status::DRIVER_OK != 0 && old & status::DRIVER_OK == 0 {
            if new & status::FEATURES_OK == 0 {
                // DRIVER_OK without a feature agreement: refuse to go live.
                new &= !status::DRIVER_OK;
            } else {
                self.device.activate(self.driver_features);
            }
        }
        self.status = new;
    }

    fn queue(&self) -> Option<&Virtqueue> {
        self.queues.get(usize::from(self.queue_select))
    }

    fn common_image(&self) -> [u8; COMMON_LEN as usize] {
        let mut b = [0u8; COMMON_LEN as usize];
        let put = |b: &mut [u8], at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
        let feat = |f: u64, sel: u32| match sel {
            0 => f as u32,
            1 => (f >> 32) as u32,
            _ => 0,
        };
        put(&mut b, 0x00, &self.device_feature_select.to_le_bytes());
        let df = feat(self.offered_features(), self.device_feature_select);
        put(&mut b, 0x04, &df.to_le_bytes());
        put(&mut b, 0x08, &self.driver_feature_select.to_le_bytes());
        let gf = feat(self.driver_features, self.driver_feature_select);
        put(&mut b, 0x0C, &gf.to_le_bytes());
        put(&mut b, 0x10, &NO_VECTOR.to_le_bytes());
        put(&mut b, 0x12, &(self.queues.len() as u16).to_le_bytes());
        b[0x14] = self.status;
        b[0x15] = 0; // config_generation: the configuration never changes under the driver
        put(&mut b, 0x16, &self.queue_select.to_le_bytes());
        if let Some(q) = self.queue() {
            put(&mut b, 0x18, &q.size.to_le_bytes());
            put(&mut b, 0x1A, &NO_VECTOR.to_le_bytes());
            put(&mut b, 0x1C, &u16::from(q.ready).to_le_bytes());
            put(&mut b, 0x1E, &self.queue_select.to_le_bytes());
            put(&mut b, 0x20, &q.desc.to_le_bytes());
            put(&mut b, 0x28, &q.avail.to_le_bytes());
            put(&mut b, 0x30, &q.used.to_le_bytes());
        } else {
            put(&mut b, 0x1A, &NO_VECTOR.to_le_bytes());
        }
        b
    }

    fn common_write(&mut self, off: u16, size: IoSize, v: u32) {
        let features_ok = self.status & status::FEATURES_OK != 0;
        match (off, size) {
            (0x00, IoSize::Dword) => self.device_feature_select = v,
            (0x08, IoSize::Dword) => self.driver_feature_select = v,
            (0x0C, IoSize::Dword) if !features_ok => match self.driver_feature_select {
                0 => self.driver_features = (self.driver_features & !0xFFFF_FFFF) | u64::from(v),
                1 => {
                    self.driver_features = (self.driver_features & 0xFFFF_FFFF) | u64::from(v) << 32
                }
                _ => {}
            },
            (0x14, IoSize::Byte) => self.set_status(v as u8),
            (0x16, IoSize::Word) => self.queue_select = v as u16,
            _ => {
                let live = self.status & status::DRIVER_OK != 0;
                let Some(q) = self.queues.get_mut(usize::from(self.queue_select)) else {
                    return;
                };
                let half = |old: u64, hi: bool| {
                    if hi {
                        (old & 0xFFFF_FFFF) | u64::from(v) << 32
                    } else {
                        (old & !0xFFFF_FFFF) | u64::from(v)
                    }
                };
                match (off, size) {
                    (0x18, IoSize::Word) => q.set_size(v as u16),
                    (0x1C, IoSize::Word) if v == 1 && !live => q.ready = true,
                    (0x20 | 0x24, IoSize::Dword) if !q.ready => q.desc = half(q.desc, off == 0x24),
                    (0x28 | 0x2C, IoSize::Dword) if !q.ready => {
                        q.avail = half(q.avail, off == 0x2C)
                    }
                    (0x30 | 0x34, IoSize::Dword) if !q.ready => q.used = half(q.used, off == 0x34),
                    _ => {}
                }
            }
        }
    }

    /// Read `size` bytes at BAR offset `off`.
    pub fn bar_read(&mut self, off: u16, size: IoSize) -> u32 {
        let n = usize::from(size.bytes());
        let bytes = |src: &[u8], at: usize| {
            let mut v = [0u8; 4];
            for (i, b) in v.iter_mut().take(n).enumerate() {
                *b = src.get(at + i).copied().unwrap_or(0);
            }
            u32::from_le_bytes(v)
        };
        match off {
            _ if off < COMMON_OFFSET + COMMON_LEN => bytes(&self.common_image(), usize::from(off)),
            ISR_OFFSET => {
                let v = core::mem::take(&mut self.isr);
                self.update_irq();
                u32::from(v)
            }
            _ if off >= DEVICE_OFFSET => {
                let mut buf = [0u8; 4];
                self.device
                    .read_config(usize::from(off - DEVICE_OFFSET), &mut buf[..n]);
                u32::from_le_bytes(buf)
            }
            _ => 0,
        }
    }

    /// Write the low `size` bytes of `v` at BAR offset `off`.
    pub fn bar_write(&mut self, off: u16, size: IoSize, v: u32) {
        let v = v & size.mask();
        match off {
            _ if off < COMMON_OFFSET + COMMON_LEN => self.common_write(off, size, v),
            NOTIFY_OFFSET if usize::from(v as u16) < self.queues.len() => {
                self.notified |= 1 << (v as u16);
                self.kick.set(true);
            }
            _ if off >= DEVICE_OFFSET => {
                let n = usize::from(size.bytes());
                self.device
                    .write_config(usize::from(off - DEVICE_OFFSET), &v.to_le_bytes()[..n]);
            }
            _ => {}
        }
    }

    /// The BAR access that the VIRTIO_PCI_CAP_PCI_CFG window selects, if valid.
    fn window(&self) -> Option<(u16, IoSize)> {
        let bar = self.cfg.u8(PCI_CFG_CAP + 4);
        let offset = self.cfg.u32(PCI_CFG_CAP + 8);
        let size = IoSize::from_bytes(self.cfg.u32(PCI_CFG_CAP + 12))?;
        let fits = offset.checked_add(u32::from(size.bytes()))? <= u32::from(self.bar_size);
        (bar == 0 && fits).then_some((offset as u16, size))
    }
}

fn write_cap(cfg: &mut ConfigSpace, at: u8, next: u8, len: u8, ty: u8, offset: u32, length: u32) {
    cfg.set_u8(at, 0x09); // vendor-specific
    cfg.set_u8(at + 1, next);
    cfg.set_u8(at + 2, len);
    cfg.set_u8(at + 3, ty);
    cfg.set_u8(at + 4, 0); // BAR0
    cfg.set_u32(at + 8, offset);
    cfg.set_u32(at + 12, length);
    if len == 20 {
        cfg.set_u32(at + 16, 0); // notify_off_multiplier / pci_cfg_data
    }
}

/// The PCI bus's handle on a shared [`VirtioPci`].
#[derive(Debug, Clone)]
pub struct VirtioPciFunction(pub Rc<RefCell<VirtioPci>>);

impl PciFunction for VirtioPciFunction {
    fn config_read(&mut self, offset: u8) -> u32 {
        let mut t = self.0.borrow_mut();
        if offset == PCI_CFG_DATA {
            return match t.window() {
                Some((off, size)) => t.bar_read(off, size),
                None => 0,
            };
        }
        t.cfg.read(offset)
    }

    fn config_write(&mut self, offset: u8, value: u32, byte_enable: u8) {
        let mut t = self.0.borrow_mut();
        if offset == PCI_CFG_DATA {
            if let Some((off, size)) = t.window() {
                t.bar_write(off, size, value);
            }
            return;
        }
        t.cfg.write(offset, value, byte_enable);
        if offset == reg::COMMAND {
            t.update_irq();
        }
    }
}

/// The port bus's handle on a shared [`VirtioPci`]: BAR0.
#[derive(Debug, Clone)]
pub struct VirtioPciIo(pub Rc<RefCell<VirtioPci>>);

impl PioDevice for VirtioPciIo {
    fn pio_read(&mut self, offset: u16, size: IoSize, _now_ns: u64) -> u32 {
        self.0.borrow_mut().bar_read(offset, size)
    }

    fn pio_write(&mut self, offset: u16, size: IoSize, value: u32, _now_ns: u64) {
        self.0.borrow_mut().bar_write(offset, size, value)
    }
}

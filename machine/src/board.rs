//! The board side of the CPU's bus: the chipset's ports and interrupt line, at the
//! virtual time of the instruction that touches them.

use std::cell::Cell;
use std::rc::Rc;

use crate::disks::{self, VirtioSlot};
use tab86_cpu::msr::TimeBase;
use tab86_devices::chipset::Chipset;
use tab86_devices::{IoSize, IrqLine};
use tab86_mmu::Bus;

/// Chipset plus the clock mapping used to time port accesses.
pub struct Board {
    /// The legacy devices.
    pub chipset: Chipset,
    /// Same mapping as the CPU's, so devices and the TSC agree.
    pub time: TimeBase,
    icount: u64,
    /// IRQ 13: the x87 FERR# output when CR0.NE = 0.
    pub ferr: IrqLine,
    /// The guest wrote port 0xF0 (clear the x87 FERR# latch).
    pub ferr_clear: bool,
    /// virtio functions on the PCI bus (their I/O BARs follow the guest's programming).
    pub virtio: Vec<VirtioSlot>,
    /// Set by a virtio queue notify: end the CPU slice so the machine services it.
    pub kick: Rc<Cell<bool>>,
}

impl Board {
    /// Wraps a chipset.
    pub fn new(chipset: Chipset) -> Self {
        let ferr = chipset.irq_lines().line(13);
        Board {
            chipset,
            time: TimeBase::default(),
            icount: 0,
            ferr,
            ferr_clear: false,
            virtio: Vec::new(),
            kick: Rc::new(Cell::new(false)),
        }
    }

    fn now(&self) -> u64 {
        self.time.now_ns(self.icount)
    }
}

fn size(bytes: u8) -> IoSize {
    IoSize::from_bytes(bytes as u32).unwrap_or(IoSize::Byte)
}

impl Bus for Board {
    fn io_read(&mut self, port: u16, bytes: u8) -> u32 {
        let now = self.now();
        self.chipset.io_read(port, size(bytes), now)
    }
    fn io_write(&mut self, port: u16, bytes: u8, value: u32) {
        if port == 0xF0 {
            self.ferr_clear = true;
        }
        let now = self.now();
        self.chipset.io_write(port, size(bytes), value, now);
        if (0xCF8..=0xCFF).contains(&port) && !self.virtio.is_empty() {
            // A BAR or the command register may have changed.
            disks::sync_bars(&mut self.chipset, &mut self.virtio);
        }
    }
    fn mmio_read(&mut self, _addr: u32, bytes: u8) -> u32 {
        match bytes {
            1 => 0xFF,
            2 => 0xFFFF,
            _ => 0xFFFF_FFFF,
        }
    }
    fn mmio_write(&mut self, _addr: u32, _bytes: u8, _value: u32) {}
    fn intr_pending(&mut self) -> bool {
        self.chipset.intr_pending()
    }
    fn intr_ack(&mut self) -> u8 {
        self.chipset.acknowledge()
    }
    fn set_icount(&mut self, icount: u64) {
        self.icount = icount;
    }
    fn end_slice(&mut self) -> bool {
        self.kick.replace(false)
    }
}

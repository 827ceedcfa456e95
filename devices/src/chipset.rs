//! The legacy half of a PC board, wired the standard way: the devices of this
//! crate behind one port bus, their interrupt outputs on the PIC pair's inputs,
//! and their board requests on one queue.
//!
//! | ports | device | IRQ |
//! |---|---|---|
//! | 0x20-0x21, 0xA0-0xA1, 0x4D0-0x4D1 | 8259A pair, ELCR | (INTR) |
//! | 0x40-0x43, 0x61 | 8254 PIT, port B | 0 |
//! | 0x60, 0x64 / 0x92 | i8042 / port A | 1, 12 |
//! | 0x70-0x71 | MC146818 RTC | 8 |
//! | 0x80 | POST code | |
//! | 0x3F8, 0x2F8, 0x3E8, 0x2E8 (+8) | 16550A COM1-4 | 4, 3, 4, 3 |
//! | 0xCF8-0xCFF | PCI mechanism #1, 0xCF9 reset | PIRQ routed |
//! | configurable (0x600 for kernel boots) | ACPI PM1 + PM timer | 9 (SCI) |
//! | configurable | isa-debug-exit, debugcon | |
//!
//! The CPU side is [`Chipset::intr_pending`]/[`Chipset::acknowledge`] and
//! [`Chipset::io_read`]/[`Chipset::io_write`]; the machine loop calls
//! [`Chipset::advance`], sleeps to [`Chipset::next_deadline`] when halted, and
//! drains [`Chipset::drain_requests`].

mod state;
#[cfg(test)]
mod tests;

pub use state::ChipsetState;

use std::io::Write;

use crate::acpi_pm::{AcpiPm, PM_BLOCK_LEN};
use crate::bus::{IoSize, PioDevice, PioRange, PortBus};
use crate::debug::{DebugCon, DebugExit, ReadBack};
use crate::error::{Error, Result};
use crate::irq::IrqLines;
use crate::kbc::{Port92, I8042};
use crate::pci::{I440fx, PciBus, Piix3, PirqRouter, FIRMWARE_PIRQ_IRQS};
use crate::pic::{Pic, PicSelect};
use crate::pit::{Pit, PortB};
use crate::request::{A20Gate, BoardRequest, BoardRequests};
use crate::rtc::Rtc;
use crate::uart::{Uart, COM_IRQS, COM_PORTS};

/// What to build.
pub struct ChipsetConfig {
    /// Wall-clock time the RTC shows at virtual time 0 (seconds since 1970, UTC).
    pub rtc_epoch_secs: u64,
    /// Guest RAM size, for the CMOS memory-size fields.
    pub ram_bytes: u64,
    /// Output sinks of COM1-COM4; `None` leaves that port empty (reads 0xFF).
    pub serial: [Option<Box<dyn Write>>; 4],
    /// debugcon ports and their sinks (0xE9 is the usual one; 0x80 gives the POST
    /// code register a sink).
    pub debugcon: Vec<(u16, Box<dyn Write>)>,
    /// isa-debug-exit port (QEMU's default is 0xF4), if wanted.
    pub debug_exit_port: Option<u16>,
    /// Base of the ACPI PM block (announced by the FADT), if ACPI is offered.
    pub acpi_pm_base: Option<u16>,
}

impl Default for ChipsetConfig {
    /// No serial ports, no debug ports, RTC at 1970, no RAM in CMOS.
    fn default() -> Self {
        Self {
            rtc_epoch_secs: 0,
            ram_bytes: 0,
            serial: [None, None, None, None],
            debugcon: Vec::new(),
            debug_exit_port: None,
            acpi_pm_base: None,
        }
    }
}

/// Which device a port belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    PicMaster,
    PicSlave,
    Elcr,
    Pit,
    PortB,
    Kbc,
    Port92,
    Rtc,
    Post,
    Uart(u8),
    Pci,
    AcpiPm,
    DebugExit,
    DebugCon(u16),
    Ext(u16),
}

impl Slot {
    /// Devices that take a whole access at once rather than byte by byte.
    fn wide(self) -> bool {
        matches!(
            self,
            Slot::Pci | Slot::AcpiPm | Slot::DebugExit | Slot::Ext(_)
        )
    }
}

/// The legacy PC devices, wired together.
pub struct Chipset {
    /// The 8259A pair (and ELCR).
    pub pic: Pic,
    /// The 8254.
    pub pit: Pit,
    /// Port 0x61.
    pub port_b: PortB,
    /// COM1-COM4.
    pub uarts: [Option<Uart>; 4],
    /// The RTC/CMOS.
    pub rtc: Rtc,
    /// The keyboard controller.
    pub kbc: I8042,
    /// Port 0x92.
    pub port92: Port92,
    /// The POST code register at 0x80.
    pub post: DebugCon,
    /// PCI bus 0 with the i440FX and PIIX3.
    pub pci: PciBus,
    /// PIIX3's interrupt router; PCI devices get their INTx# from it.
    pub pirq: PirqRouter,
    /// ACPI PM1 registers and PM timer (present when configured).
    pub acpi_pm: Option<AcpiPm>,
    /// isa-debug-exit.
    pub debug_exit: DebugExit,
    /// debugcon ports, in configuration order.
    pub debugcons: Vec<DebugCon>,
    ext: Vec<(Option<PioRange>, Box<dyn PioDevice>)>,
    ports: PortBus<Slot>,
    lines: IrqLines,
    requests: BoardRequests,
    a20: A20Gate,
}

impl core::fmt::Debug for Chipset {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Chipset")
            .field("pic", &self.pic)
            .field("pit", &self.pit)
            .field("rtc", &self.rtc)
            .finish_non_exhaustive()
    }
}

fn range(base: u16, len: u32) -> Result<PioRange> {
    PioRange::new(base, len)
}

impl Chipset {
    /// Build and wire everything; fails only if configured ports collide.
    pub fn new(config: ChipsetConfig) -> Result<Self> {
        let lines = IrqLines::new();
        let requests = BoardRequests::new();
        let a20 = A20Gate::new(requests.clone(), true);
        let pirq = PirqRouter::new(lines.clone());
        let mut pci = PciBus::new(requests.clone());
        pci.add(0, 0, Box::new(I440fx::new()))?;
        pci.add(1, 0, Box::new(Piix3::new(pirq.clone())))?;
        let mut rtc = Rtc::new(config.rtc_epoch_secs, Box::new(lines.line(8)));
        rtc.set_memory_size(config.ram_bytes);

        let mut ports = PortBus::new();
        ports.insert(range(0x20, 2)?, Slot::PicMaster)?;
        ports.insert(range(0xA0, 2)?, Slot::PicSlave)?;
        ports.insert(range(0x4D0, 2)?, Slot::Elcr)?;
        ports.insert(range(0x40, 4)?, Slot::Pit)?;
        ports.insert(range(0x61, 1)?, Slot::PortB)?;
        ports.insert(range(0x60, 1)?, Slot::Kbc)?;
        ports.insert_with_offset(range(0x64, 1)?, Slot::Kbc, 4)?;
        ports.insert(range(0x92, 1)?, Slot::Port92)?;
        ports.insert(range(0x70, 2)?, Slot::Rtc)?;
        ports.insert(range(0x80, 1)?, Slot::Post)?;
        ports.insert(range(0xCF8, 8)?, Slot::Pci)?;

        let mut uarts: [Option<Uart>; 4] = [None, None, None, None];
        for (i, sink) in config.serial.into_iter().enumerate() {
            if let Some(sink) = sink {
                ports.insert(range(COM_PORTS[i], 8)?, Slot::Uart(i as u8))?;
                uarts[i] = Some(Uart::new(Box::new(lines.line(COM_IRQS[i])), sink));
            }
        }
        let mut acpi_pm = None;
        if let Some(base) = config.acpi_pm_base {
            ports.insert(range(base, PM_BLOCK_LEN)?, Slot::AcpiPm)?;
            acpi_pm = Some(AcpiPm::new(Box::new(lines.line(9)), requests.clone()));
        }
        if let Some(port) = config.debug_exit_port {
            ports.insert(range(port, 1)?, Slot::DebugExit)?;
        }
        let mut post = DebugCon::post_code();
        let mut debugcons = Vec::new();
        for (port, sink) in config.debugcon {
            if port == 0x80 {
                post = DebugCon::new(sink, ReadBack::LastWritten);
                continue;
            }
            ports.insert(range(port, 1)?, Slot::DebugCon(debugcons.len() as u16))?;
            debugcons.push(DebugCon::new(sink, ReadBack::Fixed(0xE9)));
        }

        Ok(Self {
            pic: Pic::new(lines.clone()),
            pit: Pit::new(Box::new(lines.line(0))),
            port_b: PortB::new(),
            uarts,
            rtc,
            kbc: I8042::new(
                Box::new(lines.line(1)),
                Box::new(lines.line(12)),
                a20.clone(),
                requests.clone(),
            ),
            port92: Port92::new(a20.clone(), requests.clone()),
            post,
            pci,
            pirq,
            acpi_pm,
            debug_exit: DebugExit::new(requests.clone()),
            debugcons,
            ext: Vec::new(),
            ports,
            lines,
            requests,
            a20,
        })
    }

    /// Do what PC firmware does before an OS starts: route PIRQA#-PIRQD# to
    /// [`FIRMWARE_PIRQ_IRQS`] in the PIIX3 and mark those IRQs level-triggered in
    /// the ELCR (PCI interrupts are shared, active-low levels).
    pub fn route_pci_interrupts(&mut self) {
        let mut elcr = [self.pic.read_elcr(0), self.pic.read_elcr(1)];
        let routes = FIRMWARE_PIRQ_IRQS
            .iter()
            .rev()
            .fold(0, |v, &irq| v << 8 | u32::from(irq));
        self.pci.config_write(1, 0, 0x60, routes, 0x0F);
        for &irq in &FIRMWARE_PIRQ_IRQS {
            elcr[usize::from(irq >> 3)] |= 1 << (irq & 7);
        }
        self.pic.write_elcr(0, elcr[0]);
        self.pic.write_elcr(1, elcr[1]);
    }

    /// The ISA interrupt inputs (for wiring further devices to the PIC).
    pub fn irq_lines(&self) -> &IrqLines {
        &self.lines
    }

    /// The board request queue (for further devices to report into).
    pub fn requests(&self) -> &BoardRequests {
        &self.requests
    }

    /// Pending board requests, oldest first.
    pub fn drain_requests(&mut self) -> Vec<BoardRequest> {
        self.requests.drain()
    }

    /// Whether A20 is enabled (i8042 output port OR port 0x92).
    pub fn a20_enabled(&self) -> bool {
        self.a20.enabled()
    }

    /// The INTR pin.
    pub fn intr_pending(&self) -> bool {
        self.pic.intr_pending()
    }

    /// INTA: the vector to deliver.
    pub fn acknowledge(&mut self) -> u8 {
        self.pic.acknowledge()
    }

    /// Host bytes for COM`index + 1`.
    pub fn serial_receive(&mut self, index: usize, bytes: &[u8]) -> Result<()> {
        match self.uarts.get_mut(index).and_then(Option::as_mut) {
            Some(u) => {
                u.receive(bytes);
                self.pic.sync();
                Ok(())
            }
            None => Err(Error::NoSuchDevice { index }),
        }
    }

    /// Map an extra device at `range`; returns its id for [`Chipset::remap_pio_device`].
    pub fn add_pio_device(&mut self, range: PioRange, dev: Box<dyn PioDevice>) -> Result<usize> {
        let id = self.ext.len();
        let slot = Slot::Ext(u16::try_from(id).map_err(|_| Error::BusFull)?);
        self.ports.insert(range, slot)?;
        self.ext.push((Some(range), dev));
        Ok(id)
    }

    /// Move extra device `id` to `range`, or unmap it with `None` (a BAR being
    /// reprogrammed or disabled).
    pub fn remap_pio_device(&mut self, id: usize, range: Option<PioRange>) -> Result<()> {
        let slot = Slot::Ext(u16::try_from(id).map_err(|_| Error::NoSuchDevice { index: id })?);
        let old = match self.ext.get(id) {
            Some((old, _)) => *old,
            None => return Err(Error::NoSuchDevice { index: id }),
        };
        if let Some(old) = old {
            self.ports.remove(old.base())?;
        }
        if let Some(new) = range {
            if let Err(e) = self.ports.insert(new, slot) {
                if let Some(old) = old {
                    self.ports.insert(old, slot)?;
                }
                return Err(e);
            }
        }
        self.ext[id].0 = range;
        Ok(())
    }

    /// Exact virtual time of the earliest device event (IRQ 0, IRQ 8, a UART
    /// character timeout, or an extra device's).
    pub fn next_deadline(&self) -> Option<u64> {
        let uarts = self.uarts.iter().flatten().filter_map(Uart::next_deadline);
        let ext = self.ext.iter().filter_map(|(_, d)| d.next_deadline());
        let pm = self.acpi_pm.as_ref().and_then(AcpiPm::next_deadline);
        [self.pit.next_deadline(), self.rtc.next_deadline(), pm]
            .into_iter()
            .flatten()
            .chain(uarts)
            .chain(ext)
            .min()
    }

    /// Bring every timed device up to `now_ns`. Call it at least at every
    /// [`Chipset::next_deadline`]: an advance over several PIT periods delivers one
    /// IRQ 0 edge, as a PIC that was not looking would have latched.
    pub fn advance(&mut self, now_ns: u64) {
        self.pit.advance(now_ns);
        self.rtc.advance(now_ns);
        for u in self.uarts.iter_mut().flatten() {
            u.advance(now_ns);
        }
        if let Some(pm) = &mut self.acpi_pm {
            pm.advance(now_ns);
        }
        for (_, d) in &mut self.ext {
            d.advance(now_ns);
        }
        self.pic.sync();
    }

    /// `in` of `size` at `port`. Unmapped ports read as all ones. Accesses wider
    /// than a byte to byte-wide devices are split into byte accesses to
    /// consecutive ports, as the ISA bus does.
    pub fn io_read(&mut self, port: u16, size: IoSize, now_ns: u64) -> u32 {
        let v = match self.ports.lookup(port) {
            Some((slot, off)) if slot.wide() => {
                self.wide_read(slot, off, size, now_ns) & size.mask()
            }
            _ => (0..size.bytes()).fold(0, |v, i| {
                v | u32::from(self.byte_read(port.wrapping_add(i), now_ns)) << (8 * i)
            }),
        };
        // Reads have side effects too (RBR, IIR, register C, i8042 data).
        self.pic.sync();
        v
    }

    /// `out` of `size` at `port`. Writes to unmapped ports are ignored.
    pub fn io_write(&mut self, port: u16, size: IoSize, value: u32, now_ns: u64) {
        match self.ports.lookup(port) {
            Some((slot, off)) if slot.wide() => {
                self.wide_write(slot, off, size, value & size.mask(), now_ns)
            }
            _ => {
                for i in 0..size.bytes() {
                    self.byte_write(port.wrapping_add(i), (value >> (8 * i)) as u8, now_ns);
                }
            }
        }
        self.pic.sync();
    }

    fn wide_read(&mut self, slot: Slot, off: u16, size: IoSize, now: u64) -> u32 {
        match slot {
            Slot::Pci => self.pci.read(off, size),
            Slot::Ext(i) => match self.ext.get_mut(usize::from(i)) {
                Some((_, d)) => d.pio_read(off, size, now),
                None => 0xFFFF_FFFF,
            },
            Slot::AcpiPm => match &mut self.acpi_pm {
                Some(pm) => pm.read(off, size, now),
                None => 0xFFFF_FFFF,
            },
            Slot::DebugExit => self.debug_exit.read(),
            _ => u32::from(self.byte_read_slot(slot, off, now)),
        }
    }

    fn wide_write(&mut self, slot: Slot, off: u16, size: IoSize, value: u32, now: u64) {
        match slot {
            Slot::Pci => self.pci.write(off, size, value),
            Slot::Ext(i) => {
                if let Some((_, d)) = self.ext.get_mut(usize::from(i)) {
                    d.pio_write(off, size, value, now);
                }
            }
            Slot::AcpiPm => {
                if let Some(pm) = &mut self.acpi_pm {
                    pm.write(off, size, value, now);
                }
            }
            Slot::DebugExit => self.debug_exit.write(value),
            _ => self.byte_write_slot(slot, off, value as u8, now),
        }
    }

    fn byte_read(&mut self, port: u16, now: u64) -> u8 {
        match self.ports.lookup(port) {
            Some((slot, off)) if slot.wide() => self.wide_read(slot, off, IoSize::Byte, now) as u8,
            Some((slot, off)) => self.byte_read_slot(slot, off, now),
            None => 0xFF,
        }
    }

    fn byte_write(&mut self, port: u16, value: u8, now: u64) {
        match self.ports.lookup(port) {
            Some((slot, off)) if slot.wide() => {
                self.wide_write(slot, off, IoSize::Byte, u32::from(value), now)
            }
            Some((slot, off)) => self.byte_write_slot(slot, off, value, now),
            None => {}
        }
    }

    fn byte_read_slot(&mut self, slot: Slot, off: u16, now: u64) -> u8 {
        match slot {
            Slot::PicMaster => self.pic.read(PicSelect::Master, off),
            Slot::PicSlave => self.pic.read(PicSelect::Slave, off),
            Slot::Elcr => self.pic.read_elcr(off),
            Slot::Pit => self.pit.read(off, now),
            Slot::PortB => self.port_b.read(&self.pit, now),
            Slot::Kbc => self.kbc.read(off),
            Slot::Port92 => self.port92.read(),
            Slot::Rtc => self.rtc.read(off, now),
            Slot::Post => self.post.read(),
            Slot::Uart(i) => match self.uarts.get_mut(usize::from(i)).and_then(Option::as_mut) {
                Some(u) => u.read(off, now),
                None => 0xFF,
            },
            Slot::DebugCon(i) => self
                .debugcons
                .get(usize::from(i))
                .map_or(0xFF, DebugCon::read),
            Slot::Pci | Slot::AcpiPm | Slot::DebugExit | Slot::Ext(_) => {
                self.wide_read(slot, off, IoSize::Byte, now) as u8
            }
        }
    }

    fn byte_write_slot(&mut self, slot: Slot, off: u16, value: u8, now: u64) {
        match slot {
            Slot::PicMaster => self.pic.write(PicSelect::Master, off, value),
            Slot::PicSlave => self.pic.write(PicSelect::Slave, off, value),
            Slot::Elcr => self.pic.write_elcr(off, value),
            Slot::Pit => self.pit.write(off, value, now),
            Slot::PortB => self.port_b.write(&mut self.pit, value, now),
            Slot::Kbc => self.kbc.write(off, value),
            Slot::Port92 => self.port92.write(value),
            Slot::Rtc => self.rtc.write(off, value, now),
            Slot::Post => self.post.write(value),
            Slot::Uart(i) => {
                if let Some(u) = self.uarts.get_mut(usize::from(i)).and_then(Option::as_mut) {
                    u.write(off, value, now);
                }
            }
            Slot::DebugCon(i) => {
                if let Some(d) = self.debugcons.get_mut(usize::from(i)) {
                    d.write(value);
                }
            }
            Slot::Pci | Slot::AcpiPm | Slot::DebugExit | Slot::Ext(_) => {
                self.wide_write(slot, off, IoSize::Byte, u32::from(value), now)
            }
        }
    }
}

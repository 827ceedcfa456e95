//! The board side of the CPU's bus: the chipset's ports, the memory-mapped
//! interrupt controllers, and the interrupt pins, at the virtual time of the
//! instruction that touches them.
//!
//! Two boards share this code: the PIC-only board (the 8259A pair drives INTR
//! directly, as on a uniprocessor PC of the 486 era) and the APIC board (a local
//! APIC at its IA32_APIC_BASE address and an IO-APIC at 0xFEC00000; the 8259A's
//! INTR reaches the CPU through LINT0 as ExtINT, ISA and PCI interrupts reach the
//! IO-APIC too). Both implement the CPU's [`InterruptController`].

use std::cell::Cell;
use std::rc::Rc;

use crate::disks::{self, VirtioSlot};
use tab86_cpu::msr::TimeBase;
use tab86_devices::apic::{IoApic, IoApicState, LocalApic, LocalApicState, IOAPIC_BASE};
use tab86_devices::chipset::Chipset;
use tab86_devices::{IoSize, IrqLine, MmioBus, MmioRange};
use tab86_mmu::{Bus, InterruptController};

/// Size of each APIC's register window.
const APIC_WINDOW: u64 = 0x1000;

/// Which device an MMIO address belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MmioSlot {
    LocalApic,
    IoApic,
}

/// The APIC board's interrupt controllers.
pub struct Apics {
    /// The CPU's local APIC.
    pub lapic: LocalApic,
    /// The IO-APIC on the ISA/PCI interrupt wires.
    pub ioapic: IoApic,
}

/// What the board itself holds besides the chipset, for snapshots.
#[derive(Debug, Clone, PartialEq)]
pub struct BoardState {
    /// The local APIC's and IO-APIC's states (`None`: the PIC-only board).
    pub apics: Option<(LocalApicState, IoApicState)>,
    /// Rising ISA edges the IO-APIC has not sampled yet, bit n = IRQ n.
    pub ioapic_edges: u16,
    /// An NMI latched for the CPU outside the local APIC.
    pub nmi: bool,
}

/// Chipset plus the clock mapping used to time port accesses.
pub struct Board {
    /// The legacy devices.
    pub chipset: Chipset,
    /// The local APIC and IO-APIC (`None`: the PIC-only board).
    pub apic: Option<Apics>,
    /// Memory-mapped registers (the APICs' windows).
    mmio: MmioBus<MmioSlot>,
    /// An NMI latched for the CPU on the PIC-only board (or with the local
    /// APIC hardware-disabled).
    nmi: bool,
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
    /// Wraps a chipset; `apic` adds the local APIC and IO-APIC (IO-APIC ID 1;
    /// `active_low_wires`: IO-APIC pins wired active-low, see [`IoApic`]).
    pub fn new(chipset: Chipset, apic: bool, active_low_wires: u32) -> Self {
        let ferr = chipset.irq_lines().line(13);
        let mut b = Board {
            chipset,
            apic: None,
            mmio: MmioBus::new(),
            nmi: false,
            time: TimeBase::default(),
            icount: 0,
            ferr,
            ferr_clear: false,
            virtio: Vec::new(),
            kick: Rc::new(Cell::new(false)),
        };
        if apic {
            b.apic = Some(Apics {
                lapic: LocalApic::new(0),
                ioapic: IoApic::new(1, active_low_wires),
            });
            if let Ok(r) = MmioRange::new(IOAPIC_BASE, APIC_WINDOW) {
                // The bus is empty: this cannot overlap.
                let _ = b.mmio.insert(r, MmioSlot::IoApic);
            }
            b.map_lapic();
        }
        b
    }

    fn now(&self) -> u64 {
        self.time.now_ns(self.icount)
    }

    /// (Re)maps the local APIC's window where IA32_APIC_BASE says, or not at all
    /// when it is hardware-disabled.
    fn map_lapic(&mut self) {
        let old = self
            .mmio
            .ranges()
            .find(|&(_, k)| k == MmioSlot::LocalApic)
            .map(|(r, _)| r.base());
        if let Some(base) = old {
            let _ = self.mmio.remove(base);
        }
        if let Some(a) = &self.apic {
            if a.lapic.hw_enabled() {
                if let Ok(r) = MmioRange::new(a.lapic.mmio_base(), APIC_WINDOW) {
                    // A base on top of the IO-APIC leaves the local APIC unreachable
                    // rather than shadowing it.
                    let _ = self.mmio.insert(r, MmioSlot::LocalApic);
                }
            }
        }
    }

    /// The IA32_APIC_BASE value the CPU should report at power-on.
    pub fn apic_base_msr(&self) -> Option<u64> {
        self.apic.as_ref().map(|a| a.lapic.base_msr())
    }

    /// Leaves the local APIC as firmware does before an OS starts: enabled at
    /// 0xFEE00000 in virtual-wire mode (LINT0 ExtINT, LINT1 NMI). The CPU's
    /// IA32_APIC_BASE must then read [`Board::apic_base_msr`].
    pub fn set_virtual_wire(&mut self) {
        if let Some(a) = &mut self.apic {
            a.lapic.set_virtual_wire();
        }
        self.map_lapic();
    }

    /// The board's own state (the APICs, the IO-APIC's edge latch, a latched NMI).
    pub fn state(&self) -> BoardState {
        BoardState {
            apics: self
                .apic
                .as_ref()
                .map(|a| (a.lapic.state(), a.ioapic.state())),
            ioapic_edges: self.chipset.irq_lines().pending_ioapic_edges(),
            nmi: self.nmi,
        }
    }

    /// Puts back a saved [`BoardState`], after the chipset's restore (which
    /// re-drives the interrupt wires). Refused when the saved board had other
    /// interrupt controllers than this one.
    pub fn restore(&mut self, s: &BoardState) -> Result<(), String> {
        match (&mut self.apic, &s.apics) {
            (Some(a), Some((lapic, ioapic))) => {
                a.lapic = LocalApic::from_state(*lapic);
                a.ioapic = IoApic::from_state(*ioapic, a.ioapic.active_low_wires());
            }
            (None, None) => {}
            (Some(_), None) => return Err("the snapshot is of the PIC-only board".into()),
            (None, Some(_)) => return Err("the snapshot is of the APIC board".into()),
        }
        self.chipset
            .irq_lines()
            .restore_ioapic_edges(s.ioapic_edges);
        self.nmi = s.nmi;
        self.map_lapic();
        Ok(())
    }

    /// RESET of the processor: the local APIC returns to its reset state.
    pub fn reset_apic(&mut self) {
        if let Some(a) = &mut self.apic {
            a.lapic.reset();
        }
        self.map_lapic();
    }

    /// The board's NMI source (a front panel button, IOCHK): LINT1 on the APIC
    /// board, straight to the CPU when there is no enabled local APIC.
    pub fn raise_nmi(&mut self) {
        match &mut self.apic {
            Some(a) if a.lapic.hw_enabled() => a.lapic.lint1_edge(),
            _ => self.nmi = true,
        }
    }

    /// Lets the interrupt controllers see the wires after devices changed them:
    /// the PIC samples, the IO-APIC sends its messages to the local APIC.
    pub fn sync_irqs(&mut self) {
        self.chipset.pic.sync();
        if let Some(Apics { lapic, ioapic }) = &mut self.apic {
            ioapic.sync(self.chipset.irq_lines(), &mut |m| lapic.receive(m));
        }
    }

    /// Exact virtual time of the earliest device event, the local APIC timer included.
    pub fn next_deadline(&self) -> Option<u64> {
        let lapic = self.apic.as_ref().and_then(|a| a.lapic.next_deadline());
        match (self.chipset.next_deadline(), lapic) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Brings every timed device up to `now_ns` and delivers what they raised.
    pub fn advance(&mut self, now_ns: u64) {
        self.chipset.advance(now_ns);
        if let Some(a) = &mut self.apic {
            a.lapic.advance(now_ns);
        }
        self.sync_irqs();
    }

    /// Whether something would wake a halted CPU now (INTR or NMI).
    pub fn wake_pending(&mut self) -> bool {
        self.nmi_pending() || self.intr_pending()
    }

    /// Whether the 8259A's INTR reaches the CPU: no APIC board, an enabled local
    /// APIC with LINT0 as ExtINT (or a disabled one, bypassed), or the IO-APIC's
    /// pin 0 as an ExtINT entry aimed at the local APIC.
    fn pic_through(&self) -> bool {
        match &self.apic {
            None => true,
            Some(a) => {
                a.lapic.extint_enabled()
                    || a.ioapic
                        .extint_route()
                        .is_some_and(|(dest, logical)| a.lapic.accepts(dest, logical))
            }
        }
    }
}

fn size(bytes: u8) -> IoSize {
    IoSize::from_bytes(bytes as u32).unwrap_or(IoSize::Byte)
}

impl InterruptController for Board {
    fn intr_pending(&mut self) -> bool {
        (self.pic_through() && self.chipset.intr_pending())
            || self.apic.as_ref().is_some_and(|a| a.lapic.intr_pending())
    }
    fn intr_ack(&mut self) -> u8 {
        // ExtINT outranks the local APIC's fixed interrupts.
        if self.pic_through() && self.chipset.intr_pending() {
            return self.chipset.acknowledge();
        }
        match &mut self.apic {
            Some(a) => a.lapic.acknowledge(),
            None => self.chipset.acknowledge(),
        }
    }
    fn nmi_pending(&mut self) -> bool {
        self.nmi || self.apic.as_ref().is_some_and(|a| a.lapic.nmi_pending())
    }
    fn nmi_ack(&mut self) {
        if !std::mem::take(&mut self.nmi) {
            if let Some(a) = &mut self.apic {
                a.lapic.take_nmi();
            }
        }
    }
    fn apic_base_written(&mut self, value: u64) {
        if let Some(a) = &mut self.apic {
            a.lapic.set_base_msr(value);
            self.map_lapic();
        }
    }
}

impl Bus for Board {
    fn io_read(&mut self, port: u16, bytes: u8) -> u32 {
        let now = self.now();
        let v = self.chipset.io_read(port, size(bytes), now);
        if self.apic.is_some() {
            self.sync_irqs();
        }
        v
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
        if self.apic.is_some() {
            self.sync_irqs();
        }
    }
    fn mmio_read(&mut self, addr: u32, bytes: u8) -> u32 {
        let now = self.now();
        let size = size(bytes);
        match (self.mmio.lookup(addr), &mut self.apic) {
            (Some((MmioSlot::LocalApic, off)), Some(a)) => a.lapic.read(off, size, now),
            (Some((MmioSlot::IoApic, off)), Some(a)) => a.ioapic.read(off, size),
            _ => size.mask(),
        }
    }
    fn mmio_write(&mut self, addr: u32, bytes: u8, value: u32) {
        let now = self.now();
        let size = size(bytes);
        let Some(Apics { lapic, ioapic }) = &mut self.apic else {
            return;
        };
        match self.mmio.lookup(addr) {
            Some((MmioSlot::LocalApic, off)) => {
                lapic.write(off, size, value, now);
                if matches!(off, 0x320 | 0x380 | 0x3E0) {
                    // The timer's deadline moved: end the slice so the machine
                    // sizes the next one to it.
                    self.kick.set(true);
                }
                if let Some(v) = lapic.take_eoi_broadcast() {
                    ioapic.eoi(v, &mut |m| lapic.receive(m));
                }
            }
            Some((MmioSlot::IoApic, off)) => {
                ioapic.write(off, size, value, &mut |m| lapic.receive(m))
            }
            None => {}
        }
    }
    fn set_icount(&mut self, icount: u64) {
        self.icount = icount;
    }
    fn end_slice(&mut self) -> bool {
        self.kick.replace(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tab86_devices::{ChipsetConfig, InterruptLine};

    fn board(apic: bool) -> Board {
        Board::new(Chipset::new(ChipsetConfig::default()).unwrap(), apic, 0)
    }

    /// Programs the 8259A pair (vectors 0x08/0x70, only IRQ 1 unmasked).
    fn init_pic(b: &mut Board) {
        for (port, v) in [
            (0x20, 0x11),
            (0x21, 0x08),
            (0x21, 0x04),
            (0x21, 0x01),
            (0xA0, 0x11),
            (0xA1, 0x70),
            (0xA1, 0x02),
            (0xA1, 0x01),
            (0x21, 0xFD),
            (0xA1, 0xFF),
        ] {
            b.io_write(port, 1, v);
        }
    }

    #[test]
    fn the_8259a_reaches_the_cpu_through_lint0_only_when_it_is_extint() {
        for apic in [false, true] {
            let mut b = board(apic);
            b.set_virtual_wire();
            init_pic(&mut b);
            let kbd = b.chipset.irq_lines().line(1);
            kbd.set_level(true);
            b.sync_irqs();
            assert!(b.intr_pending(), "apic={apic}");
            if apic {
                // Mask LINT0: the PIC's INTR no longer reaches the CPU.
                b.mmio_write(0xFEE0_0350, 4, 0x1_0700);
                assert!(!b.intr_pending());
                b.mmio_write(0xFEE0_0350, 4, 0x700);
            }
            assert_eq!(b.intr_ack(), 0x09, "apic={apic}");
        }
    }

    #[test]
    fn the_boards_nmi_goes_through_lint1_on_the_apic_board() {
        let mut b = board(false);
        b.raise_nmi();
        assert!(b.nmi_pending(), "PIC board: straight to the CPU");
        b.nmi_ack();
        assert!(!b.nmi_pending());

        let mut b = board(true);
        b.set_virtual_wire();
        b.raise_nmi();
        assert!(b.nmi_pending(), "LINT1 programmed NMI");
        b.nmi_ack();
        assert!(!b.nmi_pending());
        b.mmio_write(0xFEE0_0360, 4, 0x1_0400);
        b.raise_nmi();
        assert!(!b.nmi_pending(), "LINT1 masked");
    }

    #[test]
    fn apic_base_moves_the_register_window_and_the_pic_board_has_none() {
        let mut b = board(true);
        assert_eq!(b.mmio_read(0xFEE0_0030, 4), 0x0005_0014);
        assert_eq!(b.mmio_read(0xFEC0_0000, 4), 0, "IOREGSEL");
        b.apic_base_written(0xFED0_0000 | 1 << 11);
        assert_eq!(b.mmio_read(0xFED0_0030, 4), 0x0005_0014);
        assert_eq!(b.mmio_read(0xFEE0_0030, 4), 0xFFFF_FFFF);
        // On top of the IO-APIC: refused, the IO-APIC keeps its window.
        b.apic_base_written(0xFEC0_0000 | 1 << 11);
        assert_eq!(b.mmio_read(0xFEC0_0030, 4), 0);
        b.apic_base_written(0xFEE0_0000);
        assert_eq!(b.mmio_read(0xFEE0_0030, 4), 0xFFFF_FFFF, "disabled");

        let mut b = board(false);
        assert_eq!(b.apic_base_msr(), None);
        assert_eq!(b.mmio_read(0xFEE0_0030, 4), 0xFFFF_FFFF);
        assert_eq!(b.mmio_read(0xFEC0_0000, 1), 0xFF);
        b.apic_base_written(0xFED0_0000 | 1 << 11);
        assert_eq!(b.mmio_read(0xFED0_0030, 4), 0xFFFF_FFFF);
    }

    #[test]
    fn the_local_apic_timer_is_a_board_deadline() {
        let mut b = board(true);
        b.set_virtual_wire();
        init_pic(&mut b); // an unprogrammed 8259A may pass on anything
        b.mmio_write(0xFEE0_03E0, 4, 0xB);
        b.mmio_write(0xFEE0_0320, 4, 0x40);
        b.mmio_write(0xFEE0_0380, 4, 5000);
        assert!(b.end_slice(), "programming the timer ends the CPU's slice");
        let d = b.next_deadline().unwrap();
        assert!(d <= 5000, "{d}");
        b.advance(d);
        assert!(b.intr_pending());
        assert_eq!(b.intr_ack(), 0x40);
    }
}

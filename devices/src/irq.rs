//! Interrupt lines between devices and the interrupt controllers (the 8259A PIC
//! pair, and on the APIC board the IO-APIC too, which sees the same wires).
//!
//! Single-threaded by design: an [`IrqLines`] handle is an `Rc` around the levels of
//! the sixteen ISA IRQ inputs. Each device gets its own [`IrqLine`] for one input;
//! several sources on one input are wired-OR (the input is high while any source
//! drives it high), which is what shared PCI INTx and the COM1/COM3 pair need.
//! Rising edges are latched until the PIC samples them, so a pulse that is over
//! before the PIC looks (PIT mode 2 between two samples) is not lost; the IO-APIC
//! has its own latch, so each controller sees every edge once.

use std::cell::Cell;
use std::rc::Rc;

/// Something a device drives to signal an interrupt: one output wire.
pub trait InterruptLine {
    /// Drive the wire high (`true`, asserted) or low.
    fn set_level(&self, high: bool);
}

/// A line that goes nowhere (a UART whose IRQ is not connected, for example).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoIrq;

impl InterruptLine for NoIrq {
    fn set_level(&self, _high: bool) {}
}

#[derive(Debug, Default)]
struct Shared {
    /// Current level of each ISA IRQ input (bit n = IRQ n).
    levels: Cell<u16>,
    /// Inputs that rose since the PIC last sampled.
    edges: Cell<u16>,
    /// Inputs that rose since the IO-APIC last sampled.
    ioapic_edges: Cell<u16>,
    /// Number of sources currently driving each input high.
    drivers: [Cell<u16>; 16],
}

/// Shared handle on the sixteen ISA IRQ inputs of the PIC pair. Cheap to clone;
/// every clone sees the same wires. One per machine (no global state).
#[derive(Debug, Clone, Default)]
pub struct IrqLines(Rc<Shared>);

impl IrqLines {
    /// Sixteen idle (low) inputs.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new source driving ISA input `irq & 15`, initially low.
    pub fn line(&self, irq: u8) -> IrqLine {
        IrqLine {
            shared: self.0.clone(),
            irq: irq & 15,
            asserted: Cell::new(false),
        }
    }

    /// Current levels, bit n = IRQ n.
    pub fn levels(&self) -> u16 {
        self.0.levels.get()
    }

    /// Rising edges not yet sampled by the PIC, bit n = IRQ n.
    pub fn pending_edges(&self) -> u16 {
        self.0.edges.get()
    }

    /// Replace the latch of rising edges not yet sampled (restoring a snapshot,
    /// after every source has been re-driven to its saved level).
    pub fn restore_edges(&self, edges: u16) {
        self.0.edges.set(edges);
    }

    /// Rising edges not yet sampled by the IO-APIC, bit n = IRQ n.
    pub fn pending_ioapic_edges(&self) -> u16 {
        self.0.ioapic_edges.get()
    }

    /// Replace the IO-APIC's latch of rising edges not yet sampled (restoring a
    /// snapshot, after every source has been re-driven to its saved level).
    pub fn restore_ioapic_edges(&self, edges: u16) {
        self.0.ioapic_edges.set(edges);
    }

    /// Levels plus the edges latched since the last call, clearing the latch (PIC side).
    pub(crate) fn take(&self) -> (u16, u16) {
        let edges = self.0.edges.replace(0);
        (self.0.levels.get(), edges)
    }

    /// Levels plus the edges latched since the IO-APIC last sampled, clearing that
    /// latch (the PIC's is untouched).
    pub(crate) fn take_for_ioapic(&self) -> (u16, u16) {
        let edges = self.0.ioapic_edges.replace(0);
        (self.0.levels.get(), edges)
    }

    fn drive(&self, irq: u8, high: bool) {
        let i = usize::from(irq & 15);
        let bit = 1u16 << i;
        let n = &self.0.drivers[i];
        n.set(if high {
            n.get().saturating_add(1)
        } else {
            n.get().saturating_sub(1)
        });
        let old = self.0.levels.get();
        let new = if n.get() > 0 { old | bit } else { old & !bit };
        if new & !old != 0 {
            self.0.edges.set(self.0.edges.get() | bit);
            self.0.ioapic_edges.set(self.0.ioapic_edges.get() | bit);
        }
        self.0.levels.set(new);
    }
}

/// One source on one ISA IRQ input. Dropping it releases the input.
#[derive(Debug)]
pub struct IrqLine {
    shared: Rc<Shared>,
    irq: u8,
    asserted: Cell<bool>,
}

impl IrqLine {
    /// The ISA IRQ number this source drives.
    pub fn irq(&self) -> u8 {
        self.irq
    }

    /// Whether this source currently drives its input high.
    pub fn is_asserted(&self) -> bool {
        self.asserted.get()
    }
}

impl InterruptLine for IrqLine {
    fn set_level(&self, high: bool) {
        if self.asserted.replace(high) != high {
            IrqLines(self.shared.clone()).drive(self.irq, high);
        }
    }
}

impl Drop for IrqLine {
    fn drop(&mut self) {
        self.set_level(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_on_one_input_are_wired_or() {
        let lines = IrqLines::new();
        let a = lines.line(4);
        let b = lines.line(4);
        a.set_level(true);
        b.set_level(true);
        a.set_level(false);
        assert_eq!(lines.levels(), 1 << 4, "b still drives IRQ4");
        b.set_level(false);
        assert_eq!(lines.levels(), 0);
        // Repeated lows from one source must not release another source's drive.
        a.set_level(true);
        b.set_level(false);
        b.set_level(false);
        assert_eq!(lines.levels(), 1 << 4);
        drop(a);
        assert_eq!(lines.levels(), 0, "dropping a source releases the input");
    }

    #[test]
    fn pulses_are_latched_until_taken() {
        let lines = IrqLines::new();
        let pit = lines.line(0);
        pit.set_level(true);
        pit.set_level(false);
        assert_eq!(lines.levels(), 0);
        assert_eq!(lines.take(), (0, 1));
        assert_eq!(lines.take(), (0, 0), "edge latch cleared by take");
        pit.set_level(true);
        pit.set_level(true);
        assert_eq!(lines.take(), (1, 1), "holding high is one edge");
        assert_eq!(
            lines.take_for_ioapic(),
            (1, 1),
            "the IO-APIC's latch is its own: the PIC's takes did not clear it"
        );
        assert_eq!(lines.take_for_ioapic(), (1, 0));
    }
}

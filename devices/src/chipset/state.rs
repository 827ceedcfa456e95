//! The chipset's saved state: every built-in device's state value, and the latch
//! of interrupt edges the PIC has not sampled yet.
//!
//! Restoring works on a chipset built from the same [`ChipsetConfig`]
//! (`super::ChipsetConfig`): the host connections (serial sinks, interrupt
//! lines, request queue, A20 gate) stay those of the new chipset, and each device
//! is rebuilt from its state with them, which re-drives its interrupt output to the
//! saved level. Nothing host-side is part of the state.

use super::Chipset;
use crate::acpi_pm::AcpiPmState;
use crate::debug::DebugConState;
use crate::error::{Error, Result};
use crate::kbc::{I8042State, Port92State};
use crate::pci::PciBusState;
use crate::pic::PicState;
use crate::pit::{PitState, PortBState};
use crate::rtc::RtcState;
use crate::uart::UartState;

/// Everything a [`Chipset`] needs to continue where it was saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipsetState {
    /// The 8259A pair and ELCR.
    pub pic: PicState,
    /// The 8254.
    pub pit: PitState,
    /// Port 0x61.
    pub port_b: PortBState,
    /// COM1-COM4 (`None` where no port is fitted).
    pub uarts: [Option<UartState>; 4],
    /// The RTC and CMOS RAM.
    pub rtc: RtcState,
    /// The i8042 and its keyboard.
    pub kbc: I8042State,
    /// Port 0x92.
    pub port92: Port92State,
    /// The POST code register.
    pub post: DebugConState,
    /// PCI configuration mechanism and every function's configuration space.
    pub pci: PciBusState,
    /// The ACPI PM block, when the board has one.
    pub acpi_pm: Option<AcpiPmState>,
    /// Rising edges on the ISA IRQ inputs the PIC has not sampled yet (bit n = IRQ n).
    pub irq_edges: u16,
}

impl Chipset {
    /// The state of every built-in device (PCI functions plugged in from outside,
    /// such as virtio, save their configuration space here too; their transport
    /// state is saved by their owner).
    pub fn state(&self) -> ChipsetState {
        ChipsetState {
            pic: self.pic.state(),
            pit: self.pit.state(),
            port_b: self.port_b.state(),
            uarts: [0, 1, 2, 3].map(|i| self.uarts[i].as_ref().map(|u| u.state())),
            rtc: self.rtc.state(),
            kbc: self.kbc.state(),
            port92: self.port92.state(),
            post: self.post.state(),
            pci: self.pci.state(),
            acpi_pm: self.acpi_pm.as_ref().map(|a| a.state()),
            irq_edges: self.lines.pending_edges(),
        }
    }

    /// Put every device into `state`. Refuses (changing nothing) a state whose
    /// set of serial ports, ACPI block or PCI functions differs from this board's.
    pub fn restore(&mut self, state: &ChipsetState) -> Result<()> {
        let ports_match = (0..4).all(|i| self.uarts[i].is_some() == state.uarts[i].is_some());
        let present = self.pci.state().functions;
        let pci_match = present.len() == state.pci.functions.len()
            && present
                .iter()
                .zip(&state.pci.functions)
                .all(|(a, b)| a.0 == b.0 && a.1.len() == b.1.len());
        if !ports_match || self.acpi_pm.is_some() != state.acpi_pm.is_some() || !pci_match {
            return Err(Error::StateMismatch);
        }
        self.pit.restore(state.pit);
        self.port_b.restore(state.port_b);
        for (u, s) in self.uarts.iter_mut().zip(&state.uarts) {
            if let (Some(u), Some(s)) = (u, s) {
                u.restore(s.clone());
            }
        }
        self.rtc.restore(state.rtc.clone());
        self.kbc.restore(state.kbc.clone());
        self.port92.restore(state.port92);
        self.post.restore(state.post);
        self.pci.restore(&state.pci);
        if let (Some(a), Some(s)) = (self.acpi_pm.as_mut(), state.acpi_pm) {
            a.from_state(s);
        }
        // Every source now drives its saved level; the edges re-driving latched
        // are not the guest's, the saved ones are.
        self.lines.restore_edges(state.irq_edges);
        self.pic.restore(state.pic);
        self.requests.drain();
        Ok(())
    }
}

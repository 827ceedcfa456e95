//! System Control Port B (NMI Status and Control, port 0x61 on PIIX3).
//!
//! Bit 0 drives PIT counter 2's GATE, bit 1 enables the speaker, bits 2-3 are NMI
//! enables; reads add bit 4 (refresh toggle, flipping every 18 PIT clocks, about
//! 15 us) and bit 5 (counter 2 OUT). Linux's TSC calibration polls bit 5.

use super::Pit;
use crate::time::{ticks_at, PIT_HZ};

/// PIT clocks per half period of the refresh toggle (15.085 us).
const REFRESH_TICKS: u64 = 18;

/// Saved state of port 0x61.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortBState {
    /// Bits 3:0 as last written.
    pub value: u8,
}

/// Port 0x61; it owns only its writable bits and reaches the PIT for the rest.
#[derive(Debug, Clone, Default)]
pub struct PortB {
    value: u8,
}

impl PortB {
    /// Power-on state: counter 2 gated off, speaker off.
    pub fn new() -> Self {
        Self::default()
    }

    /// Snapshot for save/restore.
    pub fn state(&self) -> PortBState {
        PortBState { value: self.value }
    }

    /// Rebuild from a snapshot (the PIT keeps its own copy of counter 2's GATE).
    pub fn from_state(state: PortBState) -> Self {
        Self {
            value: state.value & 0x0F,
        }
    }

    /// Replace the state in place.
    pub fn restore(&mut self, state: PortBState) {
        *self = Self::from_state(state);
    }

    /// Read the port.
    pub fn read(&self, pit: &Pit, now_ns: u64) -> u8 {
        let refresh = (ticks_at(now_ns, PIT_HZ) / REFRESH_TICKS) & 1 == 1;
        self.value | u8::from(refresh) << 4 | u8::from(pit.out(2, now_ns)) << 5
    }

    /// Write the port: bit 0 becomes counter 2's GATE.
    pub fn write(&mut self, pit: &mut Pit, value: u8, now_ns: u64) {
        self.value = value & 0x0F;
        pit.set_gate(2, value & 1 != 0, now_ns);
    }

    /// Whether the speaker is sounding counter 2's output (bits 0 and 1 set).
    pub fn speaker_on(&self) -> bool {
        self.value & 3 == 3
    }
}

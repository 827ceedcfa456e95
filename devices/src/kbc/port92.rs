//! System Control Port A at 0x92 (PIIX3 "Port 92"): bit 1 is the fast A20 gate,
//! a 0-to-1 transition of bit 0 (ALT_RST) requests a CPU reset.

use crate::request::{A20Gate, BoardRequest, BoardRequests};

/// Saved state of port 0x92.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Port92State {
    /// Register value as last written (bit 1 mirrors the fast A20 gate).
    pub value: u8,
}

/// Port 0x92.
#[derive(Debug, Clone)]
pub struct Port92 {
    value: u8,
    a20: A20Gate,
    requests: BoardRequests,
}

impl Port92 {
    /// Power-on state: all bits clear.
    pub fn new(a20: A20Gate, requests: BoardRequests) -> Self {
        Self::from_state(Port92State::default(), a20, requests)
    }

    /// Snapshot for save/restore.
    pub fn state(&self) -> Port92State {
        Port92State { value: self.value }
    }

    /// Rebuild from a snapshot; sets the fast A20 gate silently.
    pub fn from_state(state: Port92State, a20: A20Gate, requests: BoardRequests) -> Self {
        a20.restore_fast(state.value & 2 != 0);
        Self {
            value: state.value,
            a20,
            requests,
        }
    }

    /// Replace the state in place (the fast A20 gate is set silently).
    pub fn restore(&mut self, state: Port92State) {
        *self = Self::from_state(state, self.a20.clone(), self.requests.clone());
    }

    /// Read the port.
    pub fn read(&self) -> u8 {
        (self.value & !2) | (u8::from(self.a20.fast()) << 1)
    }

    /// Write the port.
    pub fn write(&mut self, value: u8) {
        let old = self.value;
        self.value = value;
        self.a20.set_fast(value & 2 != 0);
        if value & 1 != 0 && old & 1 == 0 {
            self.requests.push(BoardRequest::Reset);
        }
    }
}

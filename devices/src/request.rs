//! Requests from devices to the board: reset, exit, A20 changes.
//!
//! Devices never act on the machine directly; they push a [`BoardRequest`] onto a
//! shared [`BoardRequests`] queue that the board drains between CPU slices.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

/// Something only the board can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoardRequest {
    /// Reset the CPU (i8042 pulse 0xFE, port 0x92 bit 0, PIIX3 0xCF9).
    Reset,
    /// Stop the machine with this process exit status (isa-debug-exit: `(v << 1) | 1`).
    Exit(u32),
    /// Power the machine off (ACPI SLP_EN with the S5 sleep type).
    Poweroff,
    /// The A20 address line is now enabled (`true`) or masked (`false`).
    A20(bool),
}

/// Upper bound on queued requests; a guest hammering reset ports while the board
/// does not drain must not grow host memory without bound.
const MAX_QUEUED: usize = 1024;

/// Shared FIFO of [`BoardRequest`]s. Cheap to clone; all clones share one queue.
#[derive(Debug, Clone, Default)]
pub struct BoardRequests(Rc<RefCell<VecDeque<BoardRequest>>>);

impl BoardRequests {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queue a request (dropped if the queue already holds 1024).
    pub fn push(&self, request: BoardRequest) {
        let mut q = self.0.borrow_mut();
        if q.len() < MAX_QUEUED {
            q.push_back(request);
        }
    }

    /// Oldest pending request.
    pub fn pop(&self) -> Option<BoardRequest> {
        self.0.borrow_mut().pop_front()
    }

    /// All pending requests, oldest first, leaving the queue empty.
    pub fn drain(&self) -> Vec<BoardRequest> {
        self.0.borrow_mut().drain(..).collect()
    }

    /// Number of pending requests.
    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }
}

const KBD_GATE: u8 = 1;
const FAST_GATE: u8 = 2;

/// The A20 gate, shared by the i8042 output port (bit 1) and System Control Port A
/// (0x92 bit 1). As on PIIX3, A20 is enabled when either gate is set; every change of
/// the combined state is reported once as [`BoardRequest::A20`].
#[derive(Debug, Clone)]
pub struct A20Gate {
    bits: Rc<Cell<u8>>,
    requests: BoardRequests,
}

impl A20Gate {
    /// A gate reporting to `requests`; `enabled` sets the keyboard-controller gate
    /// (PCs leave A20 enabled once the firmware has run).
    pub fn new(requests: BoardRequests, enabled: bool) -> Self {
        Self {
            bits: Rc::new(Cell::new(if enabled { KBD_GATE } else { 0 })),
            requests,
        }
    }

    /// Whether A20 is currently enabled.
    pub fn enabled(&self) -> bool {
        self.bits.get() != 0
    }

    /// The i8042 output-port gate.
    pub fn kbd(&self) -> bool {
        self.bits.get() & KBD_GATE != 0
    }

    /// The port 0x92 "fast A20" gate.
    pub fn fast(&self) -> bool {
        self.bits.get() & FAST_GATE != 0
    }

    /// Set the i8042 output-port gate.
    pub fn set_kbd(&self, on: bool) {
        self.set(KBD_GATE, on, true);
    }

    /// Set the port 0x92 gate.
    pub fn set_fast(&self, on: bool) {
        self.set(FAST_GATE, on, true);
    }

    /// Set a gate without reporting (restoring saved state).
    pub fn restore_kbd(&self, on: bool) {
        self.set(KBD_GATE, on, false);
    }

    /// Set a gate without reporting (restoring saved state).
    pub fn restore_fast(&self, on: bool) {
        self.set(FAST_GATE, on, false);
    }

    fn set(&self, bit: u8, on: bool, report: bool) {
        let old = self.bits.get();
        let new = if on { old | bit } else { old & !bit };
        self.bits.set(new);
        if report && (old != 0) != (new != 0) {
            self.requests.push(BoardRequest::A20(new != 0));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a20_reports_only_changes_of_the_combined_gate() {
        let q = BoardRequests::new();
        let a20 = A20Gate::new(q.clone(), false);
        a20.set_fast(true);
        a20.set_kbd(true); // still enabled: no report
        a20.set_fast(false); // still enabled through the kbd gate
        a20.set_kbd(false);
        assert_eq!(
            q.drain(),
            vec![BoardRequest::A20(true), BoardRequest::A20(false)]
        );
        assert!(q.is_empty());
    }

    #[test]
    fn queue_is_bounded() {
        let q = BoardRequests::new();
        for _ in 0..5000 {
            q.push(BoardRequest::Reset);
        }
        assert_eq!(q.len(), MAX_QUEUED);
        assert_eq!(q.pop(), Some(BoardRequest::Reset));
    }
}

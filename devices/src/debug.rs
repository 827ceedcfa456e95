//! QEMU-compatible debug ports: isa-debug-exit (port 0xF4 by convention) and
//! debugcon (port 0xE9 text, or a POST code register such as 0x80).

use std::io::Write;

use crate::request::{BoardRequest, BoardRequests};

/// isa-debug-exit: a guest write of `v` asks the board to exit with status
/// `(v << 1) | 1`, exactly as QEMU's device does (so 0 never means success).
#[derive(Debug, Clone)]
pub struct DebugExit {
    requests: BoardRequests,
}

impl DebugExit {
    /// A device reporting to `requests`.
    pub fn new(requests: BoardRequests) -> Self {
        Self { requests }
    }

    /// Reads return all ones (the device has no readable register).
    pub fn read(&self) -> u32 {
        0xFFFF_FFFF
    }

    /// A write of the full access width.
    pub fn write(&mut self, value: u32) {
        self.requests
            .push(BoardRequest::Exit(value.wrapping_shl(1) | 1));
    }
}

/// What a debugcon read returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadBack {
    /// A fixed value (QEMU's debugcon returns 0xE9 so guests can detect it).
    Fixed(u8),
    /// The last byte written (a POST code register such as port 0x80).
    LastWritten,
}

/// Saved state of a debugcon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebugConState {
    /// Last byte written.
    pub last: u8,
}

/// debugcon: every byte written goes to an output sink.
pub struct DebugCon {
    out: Box<dyn Write>,
    readback: ReadBack,
    last: u8,
}

impl core::fmt::Debug for DebugCon {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DebugCon")
            .field("readback", &self.readback)
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

impl DebugCon {
    /// A debugcon writing into `out`.
    pub fn new(out: Box<dyn Write>, readback: ReadBack) -> Self {
        Self {
            out,
            readback,
            last: 0,
        }
    }

    /// The PC POST code register: latches the last byte, readable, output discarded
    /// (Linux writes port 0x80 as an I/O delay all the time).
    pub fn post_code() -> Self {
        Self::new(Box::new(std::io::sink()), ReadBack::LastWritten)
    }

    /// Snapshot for save/restore.
    pub fn state(&self) -> DebugConState {
        DebugConState { last: self.last }
    }

    /// Rebuild from a snapshot.
    pub fn from_state(state: DebugConState, out: Box<dyn Write>, readback: ReadBack) -> Self {
        Self {
            out,
            readback,
            last: state.last,
        }
    }

    /// Replace the state in place, keeping the sink.
    pub fn restore(&mut self, state: DebugConState) {
        self.last = state.last;
    }

    /// Last byte written (the POST code).
    pub fn last(&self) -> u8 {
        self.last
    }

    /// Read the port.
    pub fn read(&self) -> u8 {
        match self.readback {
            ReadBack::Fixed(v) => v,
            ReadBack::LastWritten => self.last,
        }
    }

    /// Write a byte: latched and appended to the sink (sink errors are dropped;
    /// the guest cannot be told).
    pub fn write(&mut self, value: u8) {
        self.last = value;
        let _ = self.out.write_all(&[value]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_utils::VecSink;

    #[test]
    fn debug_exit_status_matches_qemu() {
        let q = BoardRequests::new();
        let mut dev = DebugExit::new(q.clone());
        dev.write(0x10);
        dev.write(0);
        dev.write(0xFFFF_FFFF);
        assert_eq!(
            q.drain(),
            vec![
                BoardRequest::Exit(0x21),
                BoardRequest::Exit(1),
                BoardRequest::Exit(0xFFFF_FFFF)
            ]
        );
    }

    #[test]
    fn debugcon_appends_text_and_reads_back() {
        let sink = VecSink::new();
        let mut con = DebugCon::new(Box::new(sink.clone()), ReadBack::Fixed(0xE9));
        for &b in b"boot ok\n" {
            con.write(b);
        }
        assert_eq!(sink.text(), "boot ok\n");
        assert_eq!(con.read(), 0xE9);
        let mut post = DebugCon::post_code();
        post.write(0x42);
        assert_eq!((post.read(), post.last()), (0x42, 0x42));
        let copy = DebugCon::from_state(
            post.state(),
            Box::new(std::io::sink()),
            ReadBack::LastWritten,
        );
        assert_eq!(copy.read(), 0x42);
    }
}

//! Test doubles shared with other crates' tests (feature `test-utils`).

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;

use crate::irq::InterruptLine;

#[derive(Debug, Default)]
struct Recording {
    level: Cell<bool>,
    history: RefCell<Vec<bool>>,
}

/// An interrupt line that records every level it is driven to. Clones share the record,
/// so keep one clone and hand the other to the device.
#[derive(Debug, Clone, Default)]
pub struct RecordingIrq(Rc<Recording>);

impl RecordingIrq {
    /// A line that starts low with an empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Current level.
    pub fn level(&self) -> bool {
        self.0.level.get()
    }

    /// Every level set so far, in order (including repeats).
    pub fn history(&self) -> Vec<bool> {
        self.0.history.borrow().clone()
    }

    /// Number of low-to-high transitions so far.
    pub fn rising_edges(&self) -> usize {
        let h = self.0.history.borrow();
        let mut prev = false;
        h.iter()
            .filter(|&&l| {
                let rise = l && !prev;
                prev = l;
                rise
            })
            .count()
    }

    /// Forget the history (the level stays).
    pub fn clear(&self) {
        self.0.history.borrow_mut().clear();
    }
}

impl InterruptLine for RecordingIrq {
    fn set_level(&self, high: bool) {
        self.0.level.set(high);
        self.0.history.borrow_mut().push(high);
    }
}

/// An output sink collecting bytes into a shared `Vec<u8>`. Clones share the buffer.
#[derive(Debug, Clone, Default)]
pub struct VecSink(Rc<RefCell<Vec<u8>>>);

impl VecSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything written so far.
    pub fn contents(&self) -> Vec<u8> {
        self.0.borrow().clone()
    }

    /// Everything written so far, lossily as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.borrow()).into_owned()
    }

    /// Empty the buffer, returning what it held.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

impl io::Write for VecSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

//! The x87 unit's state and instructions.

use crate::decode::Handler;
use iced_x86::Code as C;

/// x87 register state (grown by the FPU work).
#[derive(Debug, Clone, Default)]
pub struct Fpu {
    /// Control word.
    pub fcw: u16,
    /// Status word.
    pub fsw: u16,
}

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    let _ = code;
    None
}

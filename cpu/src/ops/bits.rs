//! Instruction group `bits` (handlers to be added).

use crate::decode::Handler;
use iced_x86::Code as C;

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    let _ = code;
    None
}

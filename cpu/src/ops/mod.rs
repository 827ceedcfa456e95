//! Instruction handlers, one file per instruction group. Each group exposes
//! `lookup(Code) -> Option<Handler>`; [`handler_for`] asks them in turn, so the
//! mapping from iced-x86's `Code` to a handler is the single dispatch table that the
//! decoder (and later the JIT front end) shares.

use crate::decode::{Handler, Op};
use crate::fault::{Fault, Result};
use crate::Cpu;
use iced_x86::Code;
use tab86_mmu::Bus;

pub mod alu;
pub mod bcd;
pub mod bits;
pub mod control;
pub mod data;
pub mod far;
pub mod io;
pub mod muldiv;
mod operand;
pub mod shift;
pub mod sse;
pub mod stack;
pub mod stack2;
pub mod string;
pub mod system;
pub mod x87;

pub use operand::Loc;

/// The handler for an instruction form; undefined or unimplemented forms raise #UD.
pub fn handler_for(code: Code) -> Handler {
    alu::lookup(code)
        .or_else(|| data::lookup(code))
        .or_else(|| control::lookup(code))
        .or_else(|| stack::lookup(code))
        .or_else(|| stack2::lookup(code))
        .or_else(|| string::lookup(code))
        .or_else(|| shift::lookup(code))
        .or_else(|| muldiv::lookup(code))
        .or_else(|| bcd::lookup(code))
        .or_else(|| bits::lookup(code))
        .or_else(|| io::lookup(code))
        .or_else(|| far::lookup(code))
        .or_else(|| system::lookup(code))
        .or_else(|| sse::lookup(code))
        .or_else(|| x87::lookup(code))
        .unwrap_or(undefined)
}

/// A handler specialised for the operand form of `op` (register or memory
/// operands, known at decode time), when one exists; it must behave exactly like
/// [`handler_for`]'s handler for that form.
pub fn specialize(op: &Op) -> Option<Handler> {
    alu::specialize(op)
        .or_else(|| data::specialize(op))
        .or_else(|| shift::specialize(op))
}

/// #UD for opcodes this CPU does not implement.
pub fn undefined(_: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    Err(Fault::ud())
}

/// Operand-size code for lazy flags from a size in bytes (1, 2, 4).
#[inline(always)]
pub const fn size_code(s: u32) -> u32 {
    (s >> 1) << 8
}

/// All-ones mask for a size in bytes.
#[inline(always)]
pub const fn mask(s: u32) -> u32 {
    match s {
        1 => 0xFF,
        2 => 0xFFFF,
        _ => 0xFFFF_FFFF,
    }
}

/// Sign-bit for a size in bytes.
#[inline(always)]
pub const fn sign(s: u32) -> u32 {
    match s {
        1 => 0x80,
        2 => 0x8000,
        _ => 0x8000_0000,
    }
}

/// Sign-extends a value of size `s` bytes to 32 bits.
#[inline(always)]
pub const fn sext(v: u32, s: u32) -> u32 {
    match s {
        1 => v as u8 as i8 as i32 as u32,
        2 => v as u16 as i16 as i32 as u32,
        _ => v,
    }
}

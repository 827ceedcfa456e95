//! The i386 CPU of tab86: real, protected and virtual-8086 mode, segmentation,
//! paging through `tab86-mmu`, exceptions, and a decode-once interpreter.
//!
//! The CPU reaches devices only through the [`Bus`] it is handed on each call, so
//! two machines can live in one process and tests can use a fake bus.
#![deny(missing_docs)]

pub mod cpuid;
mod debug;
pub mod decode;
mod exec;
pub mod fault;
pub mod flags;
mod interrupt;
pub mod jit;
pub mod mem;
pub mod msr;
pub mod ops;
mod seg;
pub mod simd;
pub mod snapshot;
mod stack;
pub mod state;
mod task;
pub mod trace;

pub use exec::{Cpu, Exit};
pub use fault::{Fault, Result};
pub use interrupt::IntKind;
pub use stack::Frame;
pub use state::CpuState;
pub use tab86_mmu::{Bus, InterruptController, NullBus, PhysMem};

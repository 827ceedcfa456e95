//! Integration test support for tab86.

pub mod guest;
pub mod native;
pub mod syskernel;
pub mod vectors;
pub mod x87_intel;

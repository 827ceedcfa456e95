//! Integration test support for tab86.

pub mod fuzz;
pub mod guest;
pub mod int_intel;
pub mod native;
pub mod syskernel;
pub mod vectors;
pub mod x87_intel;

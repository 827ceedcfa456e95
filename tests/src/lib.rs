//! Integration test support for tab86.

pub mod native;
pub mod syskernel;
pub mod vectors;

//! Integration test support for tab86.
pub mod vectors;

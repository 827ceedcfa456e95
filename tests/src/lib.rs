//! Integration test support for tab86.

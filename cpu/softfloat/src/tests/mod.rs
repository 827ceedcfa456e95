//! Differential tests against the host x87, when the host is an Intel CPU.
//!
//! These tests execute the same instruction on the same operand bits on the
//! host's real x87 and compare result bits, exception flags and condition
//! codes exactly (transcendentals: see `transc`). tab86 reports a
//! GenuineIntel P6 and this crate models Intel's x87, so the host is ground
//! truth only when its CPUID vendor is GenuineIntel ([`hw::intel_host`]); on
//! other vendors (e.g. AMD, whose x87 differs in implementation-specific
//! corners) every comparison is skipped with a note. Intel's recorded
//! answers are checked on every host by `tests/tests/x87_intel.rs`.

mod arith;
mod conv;
mod gen;
mod hw;
mod memop;
mod misc;
mod transc;

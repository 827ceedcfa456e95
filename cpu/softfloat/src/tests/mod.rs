//! Differential tests against the host x87 (the ground truth).
//!
//! The host of the development machine is an x86-64 CPU with a real x87;
//! these tests execute the same instruction on the same operand bits and
//! compare result bits, exception flags and condition codes exactly.

mod arith;
mod conv;
mod gen;
mod hw;
mod memop;
mod misc;
mod transc;

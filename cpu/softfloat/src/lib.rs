//! # tab86-softfloat
//!
//! A bit-exact software model of the x87 FPU's arithmetic on the 80-bit
//! double extended-precision format (Intel SDM vol. 1, chapters 4.8–4.9 and
//! 8), written with integer arithmetic only so that it behaves identically on
//! every host (including `wasm32`).
//!
//! Every operation is a pure function of its operand bit patterns and a
//! [`Control`] (precision control, rounding control and the exception masks of
//! the FPU control word). It returns the result together with [`Flags`]: the
//! exception flags to OR into the status word (IE, DE, ZE, OE, UE, PE),
//! condition code C1 ("rounded up") and whether the destination must be left
//! unchanged because an unmasked exception suppressed the operation. Masked
//! exceptions produce the SDM's default responses (real indefinite, ∞, the
//! largest finite value, denormals, …); unmasked numeric overflow/underflow
//! deliver the result with its exponent adjusted by ∓24576 as the x87 does.
//!
//! Register-stack management, tag words, FSAVE/FSTENV images and #MF
//! delivery are the CPU's business; this crate models the datapath only.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

mod addsub;
mod compare;
mod consts;
mod convert;
mod mem;
mod misc;
mod muldiv;
mod round;
mod sqrtrem;
mod trans;
mod types;
mod xf;

#[cfg(test)]
mod fuzz;
#[cfg(all(test, target_arch = "x86_64"))]
mod tests;

pub use addsub::{add, sub};
pub use compare::{compare, ftst, Relation};
pub use consts::{load_const, Const};
pub use convert::{
    from_bcd, from_f32_bits, from_f64_bits, from_i16, from_i32, from_i64, to_bcd, to_f32_bits,
    to_f64_bits, to_i16, to_i16_trunc, to_i32, to_i32_trunc, to_i64, to_i64_trunc, BCD_INDEFINITE,
};
pub use mem::{arith_mem, compare_mem, BinOp, MemOperand};
pub use misc::{frndint, fscale, fxtract};
pub use muldiv::{div, mul};
pub use round::UNMASKED_BIAS_ADJUST;
pub use sqrtrem::{fprem, fprem1, sqrt};
pub use trans::{f2xm1, fcos, fpatan, fptan, fsin, fsincos, fyl2x, fyl2xp1};
pub use types::{
    fxam, Class, CondCodes, Control, Exceptions, Flags, Precision, Rounding, BIAS, F80,
};

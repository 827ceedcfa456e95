//! # tab86-softfloat
//!
//! A bit-exact software model of the x87 FPU datapath on the 80-bit double
//! extended-precision format (Intel SDM vol. 1, 4.8–4.9 and chapter 8),
//! written with integer arithmetic only (no host floating point, no global
//! state, no panics for any input bits), so it behaves identically on every
//! host including `wasm32`.
//!
//! ## Model
//!
//! Every operation is a pure function of operand bit patterns ([`F80`], or
//! memory images) and a [`Control`] (PC, RC and the six exception masks of
//! the FPU control word). It returns the result and [`Flags`]: the exception
//! flags to OR into the status word (IE, DE, ZE, OE, UE, PE), condition code
//! C1 ("rounded up"), and `suppressed`, which tells the caller to leave the
//! destination unchanged (unmasked #IA/#D/#Z, or unmasked #O/#U on a store to
//! memory). Masked exceptions give the SDM's default responses (real/integer/
//! BCD indefinite, ∞ or the largest finite value per RC, denormals with
//! tininess detected *after* rounding); unmasked #O/#U with a register
//! destination deliver the rounded result with the exponent adjusted by
//! ∓24576 (∞/0 when even that does not fit, as FSCALE can produce).
//! Operations that raise an exception return it even when it is unmasked;
//! signalling #MF / FERR# is the CPU's job ([`Flags::unmasked`]).
//!
//! Precision control applies to FADD/FSUB/FMUL/FDIV(R)/FSQRT only (also in
//! the denormal range, at a fixed significand bit); FRNDINT, FSCALE, FPREM,
//! conversions and transcendentals use the full 64 bits.
//!
//! ## Verification
//!
//! tab86 reports a GenuineIntel P6, so Intel's x87 is the ground truth.
//! Under `cfg(all(test, target_arch = "x86_64"))`, on a GenuineIntel host,
//! the tests run the real x87 instructions of the host with `asm!` (FNINIT,
//! FLDCW, FLD m80, op, FNSTSW, FNCLEX, FSTP m80) on special-value tables
//! (zeros, denormals, pseudo-denormals, unnormals, pseudo-NaN/∞, SNaN/QNaN
//! payloads, rounding ties, integers near 2^63) in all 16 PC/RC combinations,
//! masked and unmasked, plus biased random operands with fixed xorshift
//! seeds, and compare result bits, IE..PE, C0..C3 exactly; on other vendors
//! they are skipped with a note. All non-transcendental operations match
//! with zero differences. Transcendentals are within 1 ulp everywhere
//! tested, with identical flags except C1; see the `trans` module for rates.
//! `intel_rules` checks the Intel-specific rules on any host, and the
//! `x87_intel` test of the tests crate runs 136,000 instructions recorded on
//! an Intel Xeon through the emulated CPU.
//!
//! Intel-specific choices modelled here (AMD differs in several): compares
//! write C3/C2/C0 even when #IA is unmasked; FLD m32fp/m64fp of a denormal
//! loads even with #D unmasked; FSCALE by ±0 and FPREM/FPREM1 by ∞ return
//! the operand itself (no #U for a denormal, pseudo-denormals made
//! canonical); the small-argument paths, out-of-domain results and last-bit
//! behaviour of the transcendentals (see `trans`).
//!
//! ## What the CPU side still has to provide
//!
//! Register stack (TOP, physical registers), tag word (empty/valid/zero/
//! special, stack overflow/underflow → #IS with C1 and the indefinite),
//! status/control word storage, FSTENV/FSAVE/FRSTOR/FXSAVE images and the
//! FIP/FDP/FOP pointers, FINIT/FCLEX, FCOMI/FUCOMI EFLAGS mapping (same
//! pattern as [`Relation::cond_codes`]), pushing the +1.0 of FPTAN / the
//! second result of FSINCOS and FXTRACT, and #MF/FERR#/IGNNE# delivery.
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
#[cfg(test)]
mod intel_rules;
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

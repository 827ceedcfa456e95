//! Arithmetic and compare instructions with a memory source operand
//! (`FADD/FSUB/FSUBR/FMUL/FDIV/FDIVR m32fp|m64fp|m16int|m32int`,
//! `FCOM/FCOMP m32fp|m64fp`, `FICOM m16int|m32int`).
//!
//! The memory operand is widened exactly to the register format first, but
//! unlike `FLD` it keeps its SNaN status for the NaN-propagation rules of
//! SDM table 4-7, and a single/double denormal still counts as a denormal
//! operand (#D), with the usual priority of #IA/#Z over #D.

use crate::addsub::add_sub;
use crate::compare::{compare_d, Relation};
use crate::convert::{from_i64, widen_f32, widen_f64};
use crate::muldiv::{div_d, mul_d};
use crate::types::{Control, Exceptions, Flags, F80};

/// A memory source operand.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MemOperand {
    /// `m32fp` bit pattern.
    F32(u32),
    /// `m64fp` bit pattern.
    F64(u64),
    /// `m16int`.
    I16(i16),
    /// `m32int`.
    I32(i32),
}

impl MemOperand {
    fn widen(self) -> (F80, bool) {
        match self {
            MemOperand::F32(b) => widen_f32(b),
            MemOperand::F64(b) => widen_f64(b),
            MemOperand::I16(i) => (from_i64(i as i64), false),
            MemOperand::I32(i) => (from_i64(i as i64), false),
        }
    }
}

/// The two-operand arithmetic instructions. With a memory operand `m`,
/// `Sub` computes ST(0) − m and `SubR` m − ST(0); likewise `Div`/`DivR`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BinOp {
    /// FADD/FIADD
    Add,
    /// FSUB/FISUB
    Sub,
    /// FSUBR/FISUBR
    SubR,
    /// FMUL/FIMUL
    Mul,
    /// FDIV/FIDIV
    Div,
    /// FDIVR/FIDIVR
    DivR,
}

/// ST(0) ← ST(0) `op` m. Returns the new ST(0) and the flags (leave ST(0)
/// unchanged when `Flags::suppressed`).
pub fn arith_mem(op: BinOp, st0: F80, m: MemOperand, ctl: Control) -> (F80, Flags) {
    let (b, den) = m.widen();
    match op {
        BinOp::Add => add_sub(st0, b, false, (false, den), ctl),
        BinOp::Sub => add_sub(st0, b, true, (false, den), ctl),
        BinOp::SubR => add_sub(b, st0, true, (den, false), ctl),
        BinOp::Mul => mul_d(st0, b, (false, den), ctl),
        BinOp::Div => div_d(st0, b, (false, den), ctl),
        BinOp::DivR => div_d(b, st0, (den, false), ctl),
    }
}

/// `FCOM m32fp/m64fp` (`quiet == false`) and `FICOM m16int/m32int`:
/// compare ST(0) with the memory operand.
pub fn compare_mem(st0: F80, m: MemOperand, quiet: bool, masks: Exceptions) -> (Relation, Flags) {
    let (b, den) = m.widen();
    compare_d(st0, b, (false, den), quiet, masks)
}

//! Lazy flags in generated code: the same representation as the interpreter's
//! (`crate::flags`), evaluated with the operation kind known at compile time when
//! the producer is in the same block, or by a helper function in the module.
//! What each flag is comes from the interpreter's description
//! ([`crate::flags::formula`]); this module only turns each formula into wasm.

use crate::flags::{formula, lf, Formula, Src};
use crate::state::fl;
use wasm_encoder::{Function, Instruction as I};

/// The locals that hold the lazy flags and EFLAGS.
#[derive(Clone, Copy)]
pub struct FlagLocals {
    /// EFLAGS.
    pub efl: u32,
    /// Lazy op (kind | size).
    pub op: u32,
    /// Lazy result.
    pub res: u32,
    /// Lazy first operand.
    pub a: u32,
    /// Lazy second operand.
    pub b: u32,
    /// Lazy carry-in.
    pub cin: u32,
}

pub use crate::flags::jk;

/// The operand-size tables of the interpreter (`ops::mask`, `ops::sign`) by the
/// lazy flags' size code (0, 1, 2 for 1, 2, 4 bytes).
const fn mask(size_code: u32) -> u32 {
    crate::ops::mask(1 << size_code)
}

const fn sign(size_code: u32) -> u32 {
    crate::ops::sign(1 << size_code)
}

/// A flag producer known at compile time: kind and size code (0, 1, 2).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Known {
    /// `lf::*` kind.
    pub kind: u32,
    /// Size code.
    pub size: u32,
}

fn masked(f: &mut Function, local: u32, s: u32) {
    f.instruction(&I::LocalGet(local));
    if s < 2 {
        f.instruction(&I::I32Const(mask(s) as i32));
        f.instruction(&I::I32And);
    }
}

fn efl_bit(f: &mut Function, l: &FlagLocals, bit: u32) {
    f.instruction(&I::LocalGet(l.efl));
    f.instruction(&I::I32Const(bit.trailing_zeros() as i32));
    f.instruction(&I::I32ShrU);
    f.instruction(&I::I32Const(1));
    f.instruction(&I::I32And);
}

/// Pushes `x < y` (masked to size `s`), or with a carry in `x <= y` when `cin`
/// is non-zero (ADD: `res < a`; SUB: `a < b`). `select` picks its first operand
/// when the condition is non-zero, so the carry-in form goes first.
fn carry(f: &mut Function, l: &FlagLocals, s: u32, (x, y): (u32, u32), with_cin: bool) {
    if with_cin {
        masked(f, x, s);
        masked(f, y, s);
        f.instruction(&I::I32LeU);
    }
    masked(f, x, s);
    masked(f, y, s);
    f.instruction(&I::I32LtU);
    if with_cin {
        f.instruction(&I::LocalGet(l.cin));
        f.instruction(&I::Select);
    }
}

/// Pushes a recorded value.
fn src(f: &mut Function, l: &FlagLocals, v: Src) {
    f.instruction(&I::LocalGet(match v {
        Src::Res => l.res,
        Src::A => l.a,
        Src::B => l.b,
    }));
}

/// Pushes status flag `flag` (0 or 1) of a known producer, by its formula.
fn emit(f: &mut Function, l: &FlagLocals, k: Known, flag: u32) {
    let s = k.size;
    let local = |v: Src| match v {
        Src::Res => l.res,
        Src::A => l.a,
        Src::B => l.b,
    };
    let sign_shift = sign(s).trailing_zeros() as i32;
    match formula(k.kind, flag) {
        Formula::Kept => efl_bit(f, l, flag),
        Formula::Const(v) => {
            f.instruction(&I::I32Const(v as i32));
        }
        Formula::Below { x, y, cin } => carry(f, l, s, (local(x), local(y)), cin),
        Formula::NonZero(v) => {
            masked(f, local(v), s);
            f.instruction(&I::I32Const(0));
            f.instruction(&I::I32Ne);
        }
        Formula::Zero(v) => {
            masked(f, local(v), s);
            f.instruction(&I::I32Eqz);
        }
        Formula::Sign(v) => {
            src(f, l, v);
            bit(f, sign_shift);
        }
        Formula::Parity(v) => {
            src(f, l, v);
            f.instruction(&I::I32Const(0xFF));
            f.instruction(&I::I32And);
            f.instruction(&I::I32Popcnt);
            f.instruction(&I::I32Const(1));
            f.instruction(&I::I32And);
            f.instruction(&I::I32Eqz);
        }
        Formula::XorBit(vs, b) => {
            for (i, &v) in vs.iter().enumerate() {
                src(f, l, v);
                if i > 0 {
                    f.instruction(&I::I32Xor);
                }
            }
            bit(f, b as i32);
        }
        Formula::AddOverflow => {
            xor(f, l.a, l.res);
            xor(f, l.b, l.res);
            f.instruction(&I::I32And);
            bit(f, sign_shift);
        }
        Formula::SubOverflow => {
            xor(f, l.a, l.b);
            xor(f, l.a, l.res);
            f.instruction(&I::I32And);
            bit(f, sign_shift);
        }
        Formula::MostNegative(v) => {
            masked(f, local(v), s);
            f.instruction(&I::I32Const(sign(s) as i32));
            f.instruction(&I::I32Eq);
        }
        Formula::ShlOut => {
            f.instruction(&I::LocalGet(l.a));
            f.instruction(&I::I64ExtendI32U);
            f.instruction(&I::LocalGet(l.b));
            f.instruction(&I::I64ExtendI32U);
            f.instruction(&I::I64Shl);
            f.instruction(&I::I64Const(8 << s));
            f.instruction(&I::I64ShrU);
            f.instruction(&I::I32WrapI64);
            f.instruction(&I::I32Const(1));
            f.instruction(&I::I32And);
        }
        Formula::ShrOut { arith } => {
            f.instruction(&I::LocalGet(l.a));
            if arith && s < 2 {
                f.instruction(if s == 0 {
                    &I::I32Extend8S
                } else {
                    &I::I32Extend16S
                });
            }
            f.instruction(&I::LocalGet(l.b));
            f.instruction(&I::I32Const(1));
            f.instruction(&I::I32Sub);
            f.instruction(if arith { &I::I32ShrS } else { &I::I32ShrU });
            f.instruction(&I::I32Const(1));
            f.instruction(&I::I32And);
        }
        Formula::ShlOverflow => {
            f.instruction(&I::LocalGet(l.a));
            f.instruction(&I::LocalGet(l.a));
            f.instruction(&I::I32Const(1));
            f.instruction(&I::I32Shl);
            f.instruction(&I::I32Xor);
            bit(f, sign_shift);
        }
    }
}

/// Pushes CF (0 or 1) for a known producer.
pub fn cf(f: &mut Function, l: &FlagLocals, k: Known) {
    emit(f, l, k, fl::CF)
}

/// Pushes ZF.
pub fn zf(f: &mut Function, l: &FlagLocals, k: Known) {
    emit(f, l, k, fl::ZF)
}

/// Pushes SF.
pub fn sf(f: &mut Function, l: &FlagLocals, k: Known) {
    emit(f, l, k, fl::SF)
}

/// Pushes PF (even parity of the low byte).
pub fn pf(f: &mut Function, l: &FlagLocals, k: Known) {
    emit(f, l, k, fl::PF)
}

/// Pushes AF.
pub fn af(f: &mut Function, l: &FlagLocals, k: Known) {
    emit(f, l, k, fl::AF)
}

/// Pushes OF.
pub fn of(f: &mut Function, l: &FlagLocals, k: Known) {
    emit(f, l, k, fl::OF)
}

/// Shifts the value on the stack right by `n` and keeps bit 0 (one flag bit).
fn bit(f: &mut Function, n: i32) {
    if n != 0 {
        f.instruction(&I::I32Const(n));
        f.instruction(&I::I32ShrU);
    }
    f.instruction(&I::I32Const(1));
    f.instruction(&I::I32And);
}

/// Pushes `x ^ y` of two locals.
fn xor(f: &mut Function, x: u32, y: u32) {
    f.instruction(&I::LocalGet(x));
    f.instruction(&I::LocalGet(y));
    f.instruction(&I::I32Xor);
}

/// Emits the code that pushes one flag.
type FlagEmitter = fn(&mut Function, &FlagLocals, Known);

/// Pushes the full EFLAGS value for a known producer (`CpuState::flags`).
pub fn materialize(f: &mut Function, l: &FlagLocals, k: Known) {
    f.instruction(&I::LocalGet(l.efl));
    if k.kind == lf::NONE {
        return;
    }
    f.instruction(&I::I32Const(!fl::ARITH as i32));
    f.instruction(&I::I32And);
    let parts: [(FlagEmitter, u32); 6] = [
        (cf, fl::CF),
        (pf, fl::PF),
        (af, fl::AF),
        (zf, fl::ZF),
        (sf, fl::SF),
        (of, fl::OF),
    ];
    for (g, bit) in parts {
        g(f, l, k);
        let sh = bit.trailing_zeros() as i32;
        if sh != 0 {
            f.instruction(&I::I32Const(sh));
            f.instruction(&I::I32Shl);
        }
        f.instruction(&I::I32Or);
    }
}

/// All producers the interpreter records (kind, size code).
pub fn all_known() -> impl Iterator<Item = Known> {
    [
        lf::ADD,
        lf::ADC,
        lf::SUB,
        lf::SBB,
        lf::LOGIC,
        lf::INC,
        lf::DEC,
        lf::NEG,
    ]
    .into_iter()
    .flat_map(|kind| (0..3).map(move |size| Known { kind, size }))
}

/// The private producers generated code records (kind, size code).
pub fn all_private() -> impl Iterator<Item = Known> {
    [jk::SHL, jk::SHR, jk::SAR]
        .into_iter()
        .flat_map(|kind| (0..3).map(move |size| Known { kind, size }))
        .chain([jk::MUL, jk::DBL].map(|kind| Known { kind, size: 2 }))
}

/// The body of the module's `flags(op, res, a, b, cin, eflags) -> eflags` helper,
/// which evaluates a lazy state whose producer is only known at run time.
pub fn helper_body() -> Function {
    let mut f = Function::new([]);
    let l = FlagLocals {
        op: 0,
        res: 1,
        a: 2,
        b: 3,
        cin: 4,
        efl: 5,
    };
    for k in all_known().chain(all_private()) {
        f.instruction(&I::LocalGet(l.op));
        f.instruction(&I::I32Const((k.kind | k.size << 8) as i32));
        f.instruction(&I::I32Eq);
        f.instruction(&I::If(wasm_encoder::BlockType::Empty));
        materialize(&mut f, &l, k);
        f.instruction(&I::Return);
        f.instruction(&I::End);
    }
    f.instruction(&I::LocalGet(l.efl));
    f.instruction(&I::End);
    f
}

/// Pushes condition `cc` (0-15, the low nibble of Jcc) as 0/1.
pub fn cond(f: &mut Function, l: &FlagLocals, k: Option<Known>, cc: u8, helper: u32) {
    let Some(k) = k else {
        // Producer unknown here: evaluate the flags through the helper and test bits.
        for x in [l.op, l.res, l.a, l.b, l.cin, l.efl] {
            f.instruction(&I::LocalGet(x));
        }
        f.instruction(&I::Call(helper));
        f.instruction(&I::LocalSet(l.efl));
        f.instruction(&I::I32Const(lf::NONE as i32));
        f.instruction(&I::LocalSet(l.op));
        return cond(
            f,
            l,
            Some(Known {
                kind: lf::NONE,
                size: 2,
            }),
            cc,
            helper,
        );
    };
    // Direct comparisons for 32-bit SUB/CMP, the common producer of branches.
    if k.kind == lf::SUB
        && k.size == 2
        && cc >> 1 != 0
        && cc >> 1 != 2
        && cc >> 1 != 4
        && cc >> 1 != 5
    {
        f.instruction(&I::LocalGet(l.a));
        f.instruction(&I::LocalGet(l.b));
        let ins = match cc {
            0x2 => I::I32LtU,
            0x3 => I::I32GeU,
            0x6 => I::I32LeU,
            0x7 => I::I32GtU,
            0xC => I::I32LtS,
            0xD => I::I32GeS,
            0xE => I::I32LeS,
            _ => I::I32GtS,
        };
        f.instruction(&ins);
        return;
    }
    match cc >> 1 {
        0 => of(f, l, k),
        1 => cf(f, l, k),
        2 => zf(f, l, k),
        3 => {
            cf(f, l, k);
            zf(f, l, k);
            f.instruction(&I::I32Or);
        }
        4 => sf(f, l, k),
        5 => pf(f, l, k),
        6 => {
            sf(f, l, k);
            of(f, l, k);
            f.instruction(&I::I32Xor);
        }
        _ => {
            zf(f, l, k);
            sf(f, l, k);
            of(f, l, k);
            f.instruction(&I::I32Xor);
            f.instruction(&I::I32Or);
        }
    }
    if cc & 1 != 0 {
        f.instruction(&I::I32Eqz);
    }
}

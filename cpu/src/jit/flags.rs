//! Lazy flags in generated code: the same representation as the interpreter's
//! (`crate::flags`), evaluated with the operation kind known at compile time when
//! the producer is in the same block, or by a helper function in the module.

use crate::flags::lf;
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

/// Producers only generated code records. They never reach the state window: the
/// module's epilogue materializes them into EFLAGS (`lf::NONE`) before storing, so
/// the interpreter sees exactly the flags it would have computed itself. They let
/// shifts and multiplies record their operands instead of computing six flags that
/// the next ALU instruction usually overwrites.
pub mod jk {
    /// First private kind: `op & 0xFF >= FIRST` is private.
    pub const FIRST: u32 = 0x10;
    /// SHL/SAL: `a` the operand (masked to the size), `b` the count (1..=31), `res` the result.
    pub const SHL: u32 = 0x10;
    /// SHR: as SHL.
    pub const SHR: u32 = 0x11;
    /// SAR: as SHL, `a` masked (not sign-extended).
    pub const SAR: u32 = 0x12;
    /// MUL/IMUL: `res` the low half, `b` non-zero when the product did not fit
    /// (CF = OF = `b != 0`, SF and PF from `res`, ZF = AF = 0 as on Intel).
    pub const MUL: u32 = 0x13;
    /// SHLD/SHRD (32-bit): `res` the result, `b` CF in bit 0 and OF in bit 11
    /// (their EFLAGS position), SF, ZF and PF from `res`, AF = 0.
    pub const DBL: u32 = 0x14;
}

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

/// Pushes CF (0 or 1) for a known producer.
pub fn cf(f: &mut Function, l: &FlagLocals, k: Known) {
    let s = k.size;
    match k.kind {
        lf::ADD | lf::ADC => carry(f, l, s, (l.res, l.a), k.kind == lf::ADC),
        lf::SUB | lf::SBB => carry(f, l, s, (l.a, l.b), k.kind == lf::SBB),
        lf::NEG => {
            masked(f, l.b, s);
            f.instruction(&I::I32Const(0));
            f.instruction(&I::I32Ne);
        }
        lf::LOGIC => {
            f.instruction(&I::I32Const(0));
        }
        jk::SHL => {
            // Bit `width` of the operand shifted left by the count (0 past the width).
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
        jk::SHR | jk::SAR => {
            // The last bit shifted out: bit `count - 1` of the (sign-extended) operand.
            f.instruction(&I::LocalGet(l.a));
            if k.kind == jk::SAR && s < 2 {
                f.instruction(if s == 0 {
                    &I::I32Extend8S
                } else {
                    &I::I32Extend16S
                });
            }
            f.instruction(&I::LocalGet(l.b));
            f.instruction(&I::I32Const(1));
            f.instruction(&I::I32Sub);
            f.instruction(if k.kind == jk::SAR {
                &I::I32ShrS
            } else {
                &I::I32ShrU
            });
            f.instruction(&I::I32Const(1));
            f.instruction(&I::I32And);
        }
        jk::MUL => {
            f.instruction(&I::LocalGet(l.b));
            f.instruction(&I::I32Const(0));
            f.instruction(&I::I32Ne);
        }
        jk::DBL => {
            f.instruction(&I::LocalGet(l.b));
            f.instruction(&I::I32Const(1));
            f.instruction(&I::I32And);
        }
        _ => efl_bit(f, l, fl::CF),
    }
}

/// Pushes ZF.
pub fn zf(f: &mut Function, l: &FlagLocals, k: Known) {
    if k.kind == lf::NONE {
        return efl_bit(f, l, fl::ZF);
    }
    if k.kind == jk::MUL {
        // Intel clears ZF after a multiply, even for a zero product.
        f.instruction(&I::I32Const(0));
        return;
    }
    masked(f, l.res, k.size);
    f.instruction(&I::I32Eqz);
}

/// Pushes SF.
pub fn sf(f: &mut Function, l: &FlagLocals, k: Known) {
    if k.kind == lf::NONE {
        return efl_bit(f, l, fl::SF);
    }
    f.instruction(&I::LocalGet(l.res));
    f.instruction(&I::I32Const((sign(k.size).trailing_zeros()) as i32));
    f.instruction(&I::I32ShrU);
    f.instruction(&I::I32Const(1));
    f.instruction(&I::I32And);
}

/// Pushes PF (even parity of the low byte).
pub fn pf(f: &mut Function, l: &FlagLocals, k: Known) {
    if k.kind == lf::NONE {
        return efl_bit(f, l, fl::PF);
    }
    f.instruction(&I::LocalGet(l.res));
    f.instruction(&I::I32Const(0xFF));
    f.instruction(&I::I32And);
    f.instruction(&I::I32Popcnt);
    f.instruction(&I::I32Const(1));
    f.instruction(&I::I32And);
    f.instruction(&I::I32Eqz);
}

/// Pushes AF.
pub fn af(f: &mut Function, l: &FlagLocals, k: Known) {
    match k.kind {
        lf::NONE => efl_bit(f, l, fl::AF),
        lf::LOGIC | jk::SHL | jk::SHR | jk::SAR | jk::MUL | jk::DBL => {
            f.instruction(&I::I32Const(0));
        }
        _ => {
            if k.kind != lf::NEG {
                f.instruction(&I::LocalGet(l.a));
            }
            f.instruction(&I::LocalGet(l.b));
            if k.kind != lf::NEG {
                f.instruction(&I::I32Xor);
            }
            f.instruction(&I::LocalGet(l.res));
            f.instruction(&I::I32Xor);
            bit(f, 4);
        }
    }
}

/// Shifts the value on the stack right by `n` and keeps bit 0 (one flag bit).
fn bit(f: &mut Function, n: i32) {
    f.instruction(&I::I32Const(n));
    f.instruction(&I::I32ShrU);
    f.instruction(&I::I32Const(1));
    f.instruction(&I::I32And);
}

/// Pushes `x ^ y` of two locals.
fn xor(f: &mut Function, x: u32, y: u32) {
    f.instruction(&I::LocalGet(x));
    f.instruction(&I::LocalGet(y));
    f.instruction(&I::I32Xor);
}

/// Pushes OF.
pub fn of(f: &mut Function, l: &FlagLocals, k: Known) {
    let sign = sign(k.size);
    let shift = sign.trailing_zeros() as i32;
    match k.kind {
        lf::ADD | lf::ADC | lf::INC => {
            // (a ^ res) & (b ^ res) & sign
            xor(f, l.a, l.res);
            xor(f, l.b, l.res);
            f.instruction(&I::I32And);
            bit(f, shift);
        }
        lf::SUB | lf::SBB | lf::DEC => {
            // (a ^ b) & (a ^ res) & sign
            xor(f, l.a, l.b);
            xor(f, l.a, l.res);
            f.instruction(&I::I32And);
            bit(f, shift);
        }
        lf::NEG => {
            masked(f, l.res, k.size);
            f.instruction(&I::I32Const(sign as i32));
            f.instruction(&I::I32Eq);
        }
        lf::LOGIC | jk::SAR => {
            f.instruction(&I::I32Const(0));
        }
        jk::SHL => {
            // The first one-bit step's OF, whatever the count (as Intel computes
            // it, `ops::shift`): MSB(a) ^ MSB-1(a) of the operand.
            f.instruction(&I::LocalGet(l.a));
            f.instruction(&I::LocalGet(l.a));
            f.instruction(&I::I32Const(1));
            f.instruction(&I::I32Shl);
            f.instruction(&I::I32Xor);
            bit(f, shift);
        }
        jk::SHR => {
            // The first one-bit step's OF: MSB(a) of the operand.
            f.instruction(&I::LocalGet(l.a));
            bit(f, shift);
        }
        jk::MUL => {
            f.instruction(&I::LocalGet(l.b));
            f.instruction(&I::I32Const(0));
            f.instruction(&I::I32Ne);
        }
        jk::DBL => {
            f.instruction(&I::LocalGet(l.b));
            bit(f, fl::OF.trailing_zeros() as i32);
        }
        _ => efl_bit(f, l, fl::OF),
    }
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

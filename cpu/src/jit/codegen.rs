//! Translation of the decoded blocks of one physical page into one wasm module.
//!
//! The module's `run` function loads the registers from the state window into
//! locals, then loops: a `br_table` on the page offset of EIP selects the compiled
//! block (a "case"); each case checks the instruction budget, runs its instructions
//! and either branches back to the dispatch loop (targets in the page) or leaves
//! (targets elsewhere, returns, anything the code cannot do here). Leaving stores the
//! locals back. Control flow stays structured and the wasm stack bounded: a jump is
//! a `br`, never a call.
//!
//! Generated code never faults itself. An instruction it does not compile is run by
//! the interpreter through the imported helper (`"e" "h"`, see
//! [`super::JitHost`]): the module writes its registers and flags to the state
//! window, calls the helper with the instruction's index in
//! [`Compiled::helper_ops`], reloads them and carries on, or leaves right away when
//! the helper says so (a fault, a branch, a code write, a mode change). Before a
//! compiled instruction that would need the slow memory path — a TLB miss, a
//! page-crossing access, MMIO, a write to a page holding code — the module leaves
//! with EIP at that instruction, which the interpreter then executes. The
//! preconditions the caller checks (flat 32-bit segments, no single-stepping) make
//! every other instruction compiled here fault-free.

use super::flags::{self as fx, FlagLocals, Known};
use super::window::off;
use crate::decode::{kind, prefix, Op, NO_REG};
use crate::flags::lf;
use crate::state::{fl, sreg};
use iced_x86::{Code, ConditionCode, Mnemonic};
use std::borrow::Cow;
use tab86_mmu::ArenaLayout;
use wasm_encoder::{
    BlockType, CodeSection, EntityType, ExportKind, ExportSection, Function, FunctionSection,
    ImportSection, Instruction as I, MemArg, MemoryType, Module, RefType, TableType, TypeSection,
    ValType,
};

// Locals of `run`.
const EFL: u32 = 8;
const LOP: u32 = 9;
const LRES: u32 = 10;
const LA: u32 = 11;
const LB: u32 = 12;
const LCIN: u32 = 13;
const BUDGET: u32 = 14;
const EIPHI: u32 = 15;
const OFF: u32 = 16;
const OUTEIP: u32 = 17;
const RMASK: u32 = 18;
const RWANT: u32 = 19;
const WMASK: u32 = 20;
const WWANT: u32 = 21;
const LIN: u32 = 22;
const ADDR: u32 = 23;
const T0: u32 = 24;
const T1: u32 = 25;
const T2: u32 = 26;
/// FS and GS bases, and which may be used (`off::SEGOK`).
const FSB: u32 = 27;
const GSB: u32 = 28;
const SEGOK: u32 = 29;
/// Translation groups: `GROUPS` pairs of (ok, delta) locals, see [`Gen::mem_access`].
const G0: u32 = 30;
const GROUPS: u32 = 8;
/// Set (1) when the module leaves for another page: the epilogue then looks for
/// a linked entry there (see [`super::JitHost::link`]).
const CHAIN: u32 = G0 + 2 * GROUPS;
const N_I32_LOCALS: u32 = CHAIN + 1;
const W0: u32 = N_I32_LOCALS; // i64
const WE: u32 = N_I32_LOCALS + 1; // i64: a TLB entry
const N_I64_LOCALS: u32 = 2;

const fn gok(slot: u32) -> u32 {
    G0 + 2 * slot
}

const fn gdelta(slot: u32) -> u32 {
    G0 + 2 * slot + 1
}

/// Mask of a TLB slot's byte offset in the TLB array.
const SLOT_MASK: u32 = ((tab86_mmu::TLB_ENTRIES - 1) * 8) as u32;

const FLAG_LOCALS: FlagLocals = FlagLocals {
    efl: EFL,
    op: LOP,
    res: LRES,
    a: LA,
    b: LB,
    cin: LCIN,
};

/// Index of the imported interpreter helper (`"e" "h"`, `[i32] -> [i32]`).
const INTERP: u32 = 0;
/// Index of the exported `run` function.
const RUN: u32 = 1;
/// Index of the flags helper function.
const HELPER: u32 = 2;

/// Where a module runs: the arena, and what identifies the page to the host.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    /// The arena's layout.
    pub layout: &'a ArenaLayout,
    /// The arena's address in the wasm memory ([`super::JitHost::arena_base`]).
    pub base: u32,
    /// The physical page address compiled (its helper calls pass it).
    pub page: u32,
    /// Elements of the entry table the module imports (0: none, the module
    /// returns at every page change; see [`super::JitHost::link_slots`]).
    pub link_slots: u32,
}

/// Most instructions a module may call the interpreter for (their index is the
/// low 12 bits of the helper's argument, the page address the rest).
const MAX_HELPER_OPS: usize = 4096;

/// One block of the page to compile: its offset in the page and its instructions.
pub struct PageBlock<'a> {
    /// Offset of the first instruction in the page.
    pub offset: u32,
    /// The decoded instructions.
    pub ops: &'a [Op],
}

/// A compiled page.
pub struct Compiled {
    /// The module bytes.
    pub wasm: Vec<u8>,
    /// Page offsets that have a compiled entry.
    pub entries: Vec<u32>,
    /// Instructions compiled (over all entries).
    pub instructions: usize,
    /// The instructions the module calls the interpreter for (`Form::Interp`),
    /// by the index it passes to the helper import.
    pub helper_ops: Vec<Op>,
}

/// ALU operations in the interpreter's numbering.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Alu {
    Add,
    Or,
    Adc,
    Sbb,
    And,
    Sub,
    Xor,
    Cmp,
    Test,
}

/// What generated code knows how to do with an instruction.
#[derive(Clone, Copy)]
enum Form {
    Mov(u32),
    Movzx(u32),
    Movsx(u32),
    Lea,
    Alu(Alu, u32),
    Inc(u32),
    Dec(u32),
    Neg(u32),
    Not(u32),
    Shift(u8, u32),
    /// ROL (0) or ROR (1) of an operand of the given size.
    Rot(u8, u32),
    /// BSWAP r32.
    Bswap,
    /// RDTSC, from the time base terms in the window (`window::tsc_terms`).
    Rdtsc,
    /// SHLD (true) or SHRD r/m32, r32 by imm8 or CL.
    Shd(bool),
    /// CALL r/m32 (near, absolute indirect).
    CallRm,
    /// CLD (false) or STD (true): EFLAGS.DF.
    Df(bool),
    /// CMPXCHG r/m32, r32 (LOCK allowed on memory).
    Cmpxchg,
    /// XCHG r/m32, r32 and XCHG r32, EAX.
    Xchg,
    /// BT (0), BTS (1), BTR (2) or BTC (3) r/m32 by imm8, or r32 by r32.
    Bt(u8),
    /// MUL/IMUL r/m32 into EDX:EAX (signed when true).
    Mul1(bool),
    /// DIV/IDIV r/m32 of EDX:EAX (signed when true).
    Div(bool),
    Imul,
    Jcc(u8),
    Jmp,
    JmpRm,
    Call,
    Ret,
    Push,
    Pop,
    PushImm,
    /// PUSH r/m32.
    PushRm,
    /// LEAVE (32-bit stack and operand size).
    Leave,
    Setcc(u8),
    Cmov(u8),
    Cdq,
    Nop,
    /// Not compiled: generated code calls the interpreter's handler through the
    /// helper import with this index into [`Compiled::helper_ops`].
    Interp(u32),
}

/// SETcc mnemonics.
fn is_setcc(m: Mnemonic) -> bool {
    use Mnemonic::*;
    matches!(
        m,
        Seto | Setno
            | Setb
            | Setae
            | Sete
            | Setne
            | Setbe
            | Seta
            | Sets
            | Setns
            | Setp
            | Setnp
            | Setl
            | Setge
            | Setle
            | Setg
    )
}

/// CMOVcc mnemonics.
fn is_cmovcc(m: Mnemonic) -> bool {
    use Mnemonic::*;
    matches!(
        m,
        Cmovo
            | Cmovno
            | Cmovb
            | Cmovae
            | Cmove
            | Cmovne
            | Cmovbe
            | Cmova
            | Cmovs
            | Cmovns
            | Cmovp
            | Cmovnp
            | Cmovl
            | Cmovge
            | Cmovle
            | Cmovg
    )
}

fn cc_of(code: Code) -> Option<u8> {
    let c = code.condition_code();
    let n = match c {
        ConditionCode::o => 0,
        ConditionCode::no => 1,
        ConditionCode::b => 2,
        ConditionCode::ae => 3,
        ConditionCode::e => 4,
        ConditionCode::ne => 5,
        ConditionCode::be => 6,
        ConditionCode::a => 7,
        ConditionCode::s => 8,
        ConditionCode::ns => 9,
        ConditionCode::p => 10,
        ConditionCode::np => 11,
        ConditionCode::l => 12,
        ConditionCode::ge => 13,
        ConditionCode::le => 14,
        ConditionCode::g => 15,
        _ => return None,
    };
    Some(n)
}

/// Classifies `op` for generated code; `None` leaves it to the interpreter.
fn form(op: &Op) -> Option<Form> {
    match op.code {
        // PAUSE (F3 90) only hints a spin loop; the fences order nothing in an
        // in-order machine (with LOCK they are #UD, left to the interpreter).
        Code::Pause => return Some(Form::Nop),
        Code::Lfence | Code::Mfence | Code::Sfence if op.prefix == 0 => return Some(Form::Nop),
        _ => {}
    }
    if op.addr16 || op.prefix & !prefix::LOCK != 0 {
        return None;
    }
    // LOCK (valid as iced decoded it) changes nothing on one CPU; only the
    // read-modify-write forms with a memory destination take it here.
    let locked = op.prefix & prefix::LOCK != 0;
    // Memory operands are in a flat segment (ES, CS, SS, DS; checked at entry) or
    // in FS or GS (their base added, checked where used).
    if op.kind.contains(&kind::MEM) && op.seg as usize > sreg::GS {
        return None;
    }
    if op.kind.contains(&kind::STR) {
        return None;
    }
    let code = op.code;
    let mnem = code.mnemonic();
    // The operand size decode recorded (of the first operand).
    let size = matches!(op.size, 1 | 2 | 4).then_some(op.size as u32);
    use Mnemonic as M;
    let f = match (mnem, code) {
        (_, Code::Movzx_r32_rm8) => Form::Movzx(1),
        (_, Code::Movzx_r32_rm16) => Form::Movzx(2),
        (_, Code::Movsx_r32_rm8) => Form::Movsx(1),
        (_, Code::Movsx_r32_rm16) => Form::Movsx(2),
        (_, Code::Lea_r32_m) => Form::Lea,
        (_, Code::Imul_r32_rm32 | Code::Imul_r32_rm32_imm8 | Code::Imul_r32_rm32_imm32) => {
            Form::Imul
        }
        (_, Code::Jmp_rel8_32 | Code::Jmp_rel32_32) => Form::Jmp,
        (_, Code::Jmp_rm32) => Form::JmpRm,
        (_, Code::Call_rel32_32) => Form::Call,
        (_, Code::Retnd) => Form::Ret,
        (_, Code::Push_r32) => Form::Push,
        (_, Code::Pop_r32) if op.r[0] != 4 => Form::Pop,
        (_, Code::Pushd_imm8 | Code::Pushd_imm32) => Form::PushImm,
        (_, Code::Push_rm32) => Form::PushRm,
        (_, Code::Leaved) => Form::Leave,
        (_, Code::Cdq) => Form::Cdq,
        (_, Code::Nopd | Code::Nopw | Code::Nop_rm32 | Code::Nop_rm16) => Form::Nop,
        (
            _,
            Code::Mov_rm8_r8
            | Code::Mov_rm16_r16
            | Code::Mov_rm32_r32
            | Code::Mov_r8_rm8
            | Code::Mov_r16_rm16
            | Code::Mov_r32_rm32
            | Code::Mov_r8_imm8
            | Code::Mov_r32_imm32
            | Code::Mov_rm8_imm8
            | Code::Mov_rm16_imm16
            | Code::Mov_rm32_imm32
            | Code::Mov_AL_moffs8
            | Code::Mov_EAX_moffs32
            | Code::Mov_moffs8_AL
            | Code::Mov_moffs32_EAX,
        ) => Form::Mov(size?),
        (M::Add | M::Or | M::Adc | M::Sbb | M::And | M::Sub | M::Xor | M::Cmp | M::Test, _) => {
            let k = match mnem {
                M::Add => Alu::Add,
                M::Or => Alu::Or,
                M::Adc => Alu::Adc,
                M::Sbb => Alu::Sbb,
                M::And => Alu::And,
                M::Sub => Alu::Sub,
                M::Xor => Alu::Xor,
                M::Cmp => Alu::Cmp,
                _ => Alu::Test,
            };
            Form::Alu(k, size?)
        }
        (M::Inc, _) => Form::Inc(size?),
        (M::Dec, _) => Form::Dec(size?),
        (M::Neg, _) => Form::Neg(size?),
        (M::Not, _) => Form::Not(size?),
        (M::Rol, _) => Form::Rot(0, size?),
        (M::Ror, _) => Form::Rot(1, size?),
        (_, Code::Bswap_r32) => Form::Bswap,
        (_, Code::Rdtsc) => Form::Rdtsc,
        (_, Code::Call_rm32) => Form::CallRm,
        (_, Code::Cld) => Form::Df(false),
        (_, Code::Std) => Form::Df(true),
        (_, Code::Cmpxchg_rm32_r32) => Form::Cmpxchg,
        (_, Code::Shld_rm32_r32_imm8 | Code::Shld_rm32_r32_CL) => Form::Shd(true),
        (_, Code::Shrd_rm32_r32_imm8 | Code::Shrd_rm32_r32_CL) => Form::Shd(false),
        (_, Code::Xchg_rm32_r32 | Code::Xchg_r32_EAX) => Form::Xchg,
        (_, Code::Bt_rm32_imm8) => Form::Bt(0),
        (_, Code::Bts_rm32_imm8) => Form::Bt(1),
        (_, Code::Btr_rm32_imm8) => Form::Bt(2),
        (_, Code::Btc_rm32_imm8) => Form::Bt(3),
        // With a register bit offset only on a register: in memory the offset
        // also selects the dword.
        (_, Code::Bt_rm32_r32) if op.kind[0] == kind::REG => Form::Bt(0),
        (_, Code::Bts_rm32_r32) if op.kind[0] == kind::REG => Form::Bt(1),
        (_, Code::Btr_rm32_r32) if op.kind[0] == kind::REG => Form::Bt(2),
        (_, Code::Btc_rm32_r32) if op.kind[0] == kind::REG => Form::Bt(3),
        (M::Shl | M::Sal, _) => Form::Shift(4, size?),
        (M::Shr, _) => Form::Shift(5, size?),
        (M::Sar, _) => Form::Shift(7, size?),
        (_, Code::Mul_rm32) => Form::Mul1(false),
        (_, Code::Div_rm32) => Form::Div(false),
        (_, Code::Idiv_rm32) => Form::Div(true),
        (_, Code::Imul_rm32) => Form::Mul1(true),
        _ if code.is_jcc_short_or_near() && size == Some(4) => Form::Jcc(cc_of(code)?),
        (m, _) if is_setcc(m) && op.kind[0] == kind::REG => Form::Setcc(cc_of(code)?),
        (m, _) if is_cmovcc(m) && size == Some(4) => Form::Cmov(cc_of(code)?),
        _ => return None,
    };
    // Sizes and operand kinds the emitters handle.
    match f {
        _ if op.kind[0] == kind::MEM && op.seg as usize == sreg::CS => None,
        Form::Alu(Alu::Cmp | Alu::Test, _) if locked => None,
        Form::Alu(..)
        | Form::Inc(_)
        | Form::Dec(_)
        | Form::Neg(_)
        | Form::Not(_)
        | Form::Cmpxchg
            if locked && op.kind[0] != kind::MEM =>
        {
            None
        }
        _ if locked
            && !matches!(
                f,
                Form::Alu(..)
                    | Form::Inc(_)
                    | Form::Dec(_)
                    | Form::Neg(_)
                    | Form::Not(_)
                    | Form::Cmpxchg
            ) =>
        {
            None
        }
        Form::Shift(..) | Form::Rot(..) if op.kind[1] == kind::REG && op.r[1] != 1 => None,
        _ => Some(f),
    }
}

/// Whether generated code can run `op` (used by tests and statistics).
pub fn supported(op: &Op) -> bool {
    form(op).is_some()
}

/// The code generator for one module.
struct Gen {
    f: Function,
    /// Base of the arena in the wasm memory, plus the layout offsets.
    state: u64,
    tlb: u64,
    bits: u64,
    ram: u64,
    /// Nesting inside the current case (extra blocks/ifs).
    depth: u32,
    /// Depth of `$out` and `$disp` from the case's top level.
    out_depth: u32,
    disp_depth: u32,
    /// The flag producer known at this point of the case.
    known: Option<Known>,
    /// Translation groups of the current case and the group of each instruction.
    groups: Vec<Group>,
    plan: Vec<Option<Member>>,
    /// Index of the instruction being emitted in its case.
    cur: usize,
    /// Page offset of the current case, and of the case laid out after it (which
    /// a jump there at the case's top level reaches by falling through).
    case_off: u32,
    next_case: Option<u32>,
    /// The case is wrapped in a `loop` that jumps to its own start branch to.
    self_loop: bool,
    /// The page's physical address (added to helper indices).
    page: u32,
}

/// Accesses of one case through the same address registers, checked together.
#[derive(Clone, Copy, Debug)]
struct Group {
    /// Locals pair in use.
    slot: u32,
    /// Lowest byte, relative to the first member's displacement.
    lo: i32,
    /// Bytes from `lo` to the end of the highest access.
    span: u32,
    /// Some member writes (a write entry serves reads too).
    write: bool,
}

/// An instruction's place in a group.
#[derive(Clone, Copy, Debug)]
struct Member {
    group: usize,
    first: bool,
    size: u32,
    write: bool,
}

/// The access an instruction makes through its memory operand (`Gen::mem_access`):
/// size and whether it writes.
fn access_of(op: &Op, f: Form) -> Option<(u32, bool)> {
    if !op.kind.contains(&kind::MEM) {
        return None;
    }
    let dst = op.kind[0] == kind::MEM;
    match f {
        Form::Mov(s) => Some((s, dst)),
        Form::Movzx(s) | Form::Movsx(s) => Some((s, false)),
        Form::Alu(k, s) => Some((s, dst && !matches!(k, Alu::Cmp | Alu::Test))),
        Form::Inc(s)
        | Form::Dec(s)
        | Form::Neg(s)
        | Form::Not(s)
        | Form::Shift(_, s)
        | Form::Rot(_, s) => Some((s, true)),
        Form::Shd(_) | Form::Cmpxchg => Some((4, true)),
        Form::CallRm => Some((4, false)),
        Form::Bt(k) => Some((4, k != 0)),
        Form::Xchg => Some((4, true)),
        Form::Imul | Form::Mul1(_) | Form::Div(_) | Form::Cmov(_) | Form::JmpRm | Form::PushRm => {
            Some((4, false))
        }
        _ => None,
    }
}

/// The general registers an instruction may write (a superset: bit n = register n).
fn writes(op: &Op, f: Form) -> u8 {
    let mut w = 0u8;
    if op.kind[0] == kind::REG && !matches!(f, Form::Alu(Alu::Cmp | Alu::Test, _)) {
        // Byte registers AH..BH live in registers 0-3.
        w |= 1 << (op.r[0] & 7) | 1 << (op.r[0] & 3);
    }
    match f {
        Form::Mul1(_) | Form::Div(_) | Form::Rdtsc => w |= 1 << 0 | 1 << 2,
        Form::Cdq => w |= 1 << 2,
        Form::Cmpxchg => w |= 1 << 0,
        Form::Push
        | Form::Pop
        | Form::PushImm
        | Form::PushRm
        | Form::Call
        | Form::CallRm
        | Form::Ret => w |= 1 << 4,
        Form::Leave => w |= 1 << 4 | 1 << 5,
        Form::Xchg => w |= 1 << (op.r[1] & 7),
        Form::Interp(_) => w = 0xFF,
        _ => {}
    }
    w
}

/// Widest distance of a group member's displacement from the first member's.
const GROUP_REACH: i32 = 1024;

/// Finds the translation groups of a case: accesses through the same base, index
/// and scale with no write to those registers in between, displacements within
/// [`GROUP_REACH`] of the first. Groups of one access are dropped; at most
/// [`GROUPS`] groups per case.
fn plan_groups(ops: &[(&Op, Form)]) -> (Vec<Group>, Vec<Option<Member>>) {
    struct Open {
        key: (u8, u8, u8, u8),
        first: u32,
        lo: i32,
        hi: i32,
        write: bool,
        members: Vec<(usize, u32, bool)>,
    }
    let mut all: Vec<Open> = Vec::new();
    // Open groups by key (index into `all`).
    let mut active: Vec<usize> = Vec::new();
    for (j, (op, f)) in ops.iter().enumerate() {
        if let Some((size, write)) = access_of(op, *f) {
            let key = (op.base, op.index, op.scale, op.seg.max(sreg::DS as u8));
            let rel = |g: &Open| op.disp.wrapping_sub(g.first) as i32;
            let hit = active
                .iter()
                .copied()
                .find(|&g| all[g].key == key && rel(&all[g]).abs() <= GROUP_REACH);
            match hit {
                Some(g) => {
                    let r = rel(&all[g]);
                    let o = &mut all[g];
                    o.lo = o.lo.min(r);
                    o.hi = o.hi.max(r + size as i32);
                    o.write |= write;
                    o.members.push((j, size, write));
                }
                None => {
                    active.retain(|&g| all[g].key != key);
                    active.push(all.len());
                    all.push(Open {
                        key,
                        first: op.disp,
                        lo: 0,
                        hi: size as i32,
                        write,
                        members: vec![(j, size, write)],
                    });
                }
            }
        }
        if let Form::Interp(_) = f {
            // The interpreter may change mappings, rights or code bits: no group
            // spans a helper call.
            active.clear();
        }
        let w = writes(op, *f);
        let uses = |r: u8| r != NO_REG && w & (1 << (r & 7)) != 0;
        active.retain(|&g| !uses(all[g].key.0) && !uses(all[g].key.1));
    }
    let mut groups = Vec::new();
    let mut plan = vec![None; ops.len()];
    for o in all.iter().filter(|o| o.members.len() > 1) {
        if groups.len() as u32 == GROUPS {
            break;
        }
        let group = groups.len();
        groups.push(Group {
            slot: group as u32,
            lo: o.lo,
            span: (o.hi - o.lo) as u32,
            write: o.write,
        });
        for (n, &(j, size, write)) in o.members.iter().enumerate() {
            plan[j] = Some(Member {
                group,
                first: n == 0,
                size,
                write,
            });
        }
    }
    (groups, plan)
}

fn memarg(offset: u64, align: u32) -> MemArg {
    MemArg {
        offset,
        align,
        target: wasm_encoder::MemArgTarget::Memory(0),
        ordering: None,
    }
}

impl Gen {
    fn i(&mut self, ins: I) {
        self.f.instruction(&ins);
    }

    fn get(&mut self, l: u32) {
        self.i(I::LocalGet(l));
    }

    fn set(&mut self, l: u32) {
        self.i(I::LocalSet(l));
    }

    fn c(&mut self, v: u32) {
        self.i(I::I32Const(v as i32));
    }

    fn if_(&mut self) {
        self.i(I::If(BlockType::Empty));
        self.depth += 1;
    }

    fn end(&mut self) {
        self.i(I::End);
        self.depth -= 1;
    }

    /// Leaves `run` with EIP at page offset `at` (relative to the page, may be
    /// outside it) and `back` unexecuted instructions returned to the budget.
    fn exit_to(&mut self, at: u32, back: u32) {
        self.get(EIPHI);
        self.c(at);
        self.i(I::I32Add);
        self.set(OUTEIP);
        if back != 0 {
            self.get(BUDGET);
            self.c(back);
            self.i(I::I32Add);
            self.set(BUDGET);
        }
        self.i(I::Br(self.out_depth + self.depth));
    }

    /// Continues at page offset `t` (in the page: through the dispatch loop).
    fn goto(&mut self, t: i64) {
        if self.self_loop && t == self.case_off as i64 {
            // The case's own `loop` is its outermost label.
            self.i(I::Br(self.depth - 1));
            return;
        }
        let top = if self.self_loop { 1 } else { 0 };
        if self.depth == top && self.next_case.is_some_and(|n| n as i64 == t) {
            // The next case follows this one's code.
            return;
        }
        if (0..4096).contains(&t) {
            self.c(t as u32);
            self.set(OFF);
            self.i(I::Br(self.disp_depth + self.depth));
        } else {
            self.c(1);
            self.set(CHAIN);
            self.exit_to(t as u32, 0);
        }
    }

    /// Continues at the linear EIP on the stack (in the page through dispatch).
    fn goto_dynamic(&mut self) {
        self.set(T0);
        self.get(T0);
        self.c(0xFFFF_F000);
        self.i(I::I32And);
        self.get(EIPHI);
        self.i(I::I32Eq);
        self.if_();
        self.get(T0);
        self.c(0xFFF);
        self.i(I::I32And);
        self.set(OFF);
        self.i(I::Br(self.disp_depth + self.depth));
        self.end();
        self.get(T0);
        self.set(OUTEIP);
        self.c(1);
        self.set(CHAIN);
        self.i(I::Br(self.out_depth + self.depth));
    }

    fn reg(&mut self, n: u8, size: u32) {
        match size {
            1 => {
                self.get((n & 3) as u32);
                if n & 4 != 0 {
                    self.c(8);
                    self.i(I::I32ShrU);
                }
                self.c(0xFF);
                self.i(I::I32And);
            }
            2 => {
                self.get((n & 7) as u32);
                self.c(0xFFFF);
                self.i(I::I32And);
            }
            _ => self.get((n & 7) as u32),
        }
    }

    /// Writes the value on the stack to register `n` of `size`.
    fn set_reg(&mut self, n: u8, size: u32) {
        match size {
            1 => {
                let r = (n & 3) as u32;
                let sh = if n & 4 != 0 { 8 } else { 0 };
                self.c(0xFF);
                self.i(I::I32And);
                if sh != 0 {
                    self.c(sh);
                    self.i(I::I32Shl);
                }
                self.get(r);
                self.c(!(0xFFu32 << sh));
                self.i(I::I32And);
                self.i(I::I32Or);
                self.set(r);
            }
            2 => {
                let r = (n & 7) as u32;
                self.c(0xFFFF);
                self.i(I::I32And);
                self.get(r);
                self.c(0xFFFF_0000);
                self.i(I::I32And);
                self.i(I::I32Or);
                self.set(r);
            }
            _ => self.set((n & 7) as u32),
        }
    }

    /// Computes the offset (effective address) of the memory operand into `LIN`
    /// (for LEA; accesses use [`Gen::lin_disp`]).
    fn ea(&mut self, op: &Op) {
        self.ea_disp(op, op.disp);
    }

    /// Computes the offset of the memory operand with displacement `disp`.
    fn ea_disp(&mut self, op: &Op, disp: u32) {
        self.c(disp);
        if op.base != NO_REG {
            self.get((op.base & 7) as u32);
            self.i(I::I32Add);
        }
        if op.index != NO_REG {
            self.get((op.index & 7) as u32);
            if op.scale != 0 {
                self.c(op.scale as u32);
                self.i(I::I32Shl);
            }
            self.i(I::I32Add);
        }
        self.set(LIN);
    }

    /// Computes the linear address of the memory operand with displacement `disp`
    /// into `LIN`: the offset plus the FS or GS base when the operand is there
    /// (other segments are flat here).
    fn lin_disp(&mut self, op: &Op, disp: u32) {
        self.ea_disp(op, disp);
        let b = match op.seg as usize {
            sreg::FS => FSB,
            sreg::GS => GSB,
            _ => return,
        };
        self.get(LIN);
        self.get(b);
        self.i(I::I32Add);
        self.set(LIN);
    }

    /// Leaves before instruction `at` unless the FS or GS of its memory operand
    /// may be used here (see `window::seg_bases`).
    fn seg_check(&mut self, op: &Op, at: u32, back: u32) {
        let bit = match op.seg as usize {
            sreg::FS => 1,
            sreg::GS => 2,
            _ => return,
        };
        self.get(SEGOK);
        self.c(bit);
        self.i(I::I32And);
        self.i(I::I32Eqz);
        self.if_();
        self.exit_to(at, back);
        self.end();
    }

    /// Loads the TLB entry of `LIN`'s slot into `WE` (tag in the low half, frame in
    /// the high half).
    fn tlb_entry(&mut self) {
        self.get(LIN);
        self.c(9);
        self.i(I::I32ShrU);
        self.c(SLOT_MASK);
        self.i(I::I32And);
        self.i(I::I64Load(memarg(self.tlb, 3)));
        self.set(WE);
    }

    /// Pushes whether the entry in `WE` misses for bytes `LIN..=LIN + last` with the
    /// rights of a read or a write. The slot of `LIN`'s page never holds the next
    /// page, so an access crossing the page misses too.
    fn tlb_miss(&mut self, last: u32, write: bool) {
        self.get(WE);
        self.i(I::I32WrapI64);
        self.get(if write { WMASK } else { RMASK });
        self.i(I::I32And);
        self.get(LIN);
        if last != 0 {
            self.c(last);
            self.i(I::I32Add);
        }
        self.c(0xFFFF_F000);
        self.i(I::I32And);
        self.get(if write { WWANT } else { RWANT });
        self.i(I::I32Or);
        self.i(I::I32Ne);
    }

    /// Pushes the frame of the entry in `WE`.
    fn tlb_frame(&mut self) {
        self.get(WE);
        self.i(I::I64Const(32));
        self.i(I::I64ShrU);
        self.i(I::I32WrapI64);
    }

    /// Pushes whether the frame in `local` holds code (its code bit).
    fn code_bit(&mut self, local: u32) {
        self.get(local);
        self.c(15);
        self.i(I::I32ShrU);
        self.i(I::I32Load8U(memarg(self.bits, 0)));
        self.get(local);
        self.c(12);
        self.i(I::I32ShrU);
        self.c(7);
        self.i(I::I32And);
        self.i(I::I32ShrU);
        self.c(1);
        self.i(I::I32And);
    }

    /// Translates `LIN` for an access of `size` bytes through the TLB into `ADDR`
    /// (an offset from the RAM base), or leaves before instruction `at`.
    fn check(&mut self, size: u32, write: bool, at: u32, back: u32) {
        self.tlb_entry();
        self.tlb_miss(size - 1, write);
        self.if_();
        self.exit_to(at, back);
        self.end();
        self.tlb_frame();
        self.set(T1);
        if write {
            // A write to a page that holds code goes through the interpreter, which
            // invalidates what was decoded or compiled from it.
            self.code_bit(T1);
            self.if_();
            self.exit_to(at, back);
            self.end();
        }
        // ADDR = frame | (lin & 0xFFF)
        self.get(T1);
        self.get(LIN);
        self.c(0xFFF);
        self.i(I::I32And);
        self.i(I::I32Or);
        self.set(ADDR);
    }

    /// Computes the address of the memory operand of `op` (the current instruction)
    /// into `LIN` and translates it into `ADDR` for an access of `size` bytes, or
    /// leaves before instruction `at`.
    ///
    /// Accesses of one case through the same base and index registers, while those
    /// stay unchanged, form a group (see [`plan_groups`]): its first member checks
    /// the TLB once for the bytes of all members (one page, all rights needed) and
    /// records the page's frame; every member then adds that delta to its address.
    /// When the group check fails (a miss, a page boundary inside the range, a code
    /// page) each member takes the full check.
    fn mem_access(&mut self, op: &Op, size: u32, write: bool, at: u32, back: u32) {
        self.seg_check(op, at, back);
        let m = self.plan.get(self.cur).copied().flatten();
        if let Some(m) = m.filter(|m| m.first) {
            let g = self.groups[m.group];
            self.group_check(op, &g);
        }
        // (The plan is made with `access_of`, so the access always matches it.)
        let Some(m) = m.filter(|m| m.size == size && m.write == write) else {
            self.lin_disp(op, op.disp);
            self.check(size, write, at, back);
            return;
        };
        let g = self.groups[m.group];
        self.lin_disp(op, op.disp);
        self.get(gok(g.slot));
        self.if_();
        self.get(LIN);
        self.get(gdelta(g.slot));
        self.i(I::I32Add);
        self.set(ADDR);
        self.i(I::Else);
        self.check(size, write, at, back);
        self.end();
    }

    /// The check of a translation group: sets its ok and delta locals.
    fn group_check(&mut self, op: &Op, g: &Group) {
        self.lin_disp(op, op.disp.wrapping_add(g.lo as u32));
        self.tlb_entry();
        self.tlb_miss(g.span - 1, g.write);
        self.i(I::I32Eqz);
        self.set(gok(g.slot));
        self.get(gok(g.slot));
        self.if_();
        self.tlb_frame();
        self.set(T1);
        self.get(T1);
        self.get(LIN);
        self.c(0xFFFF_F000);
        self.i(I::I32And);
        self.i(I::I32Sub);
        self.set(gdelta(g.slot));
        if g.write {
            self.code_bit(T1);
            self.i(I::I32Eqz);
            self.set(gok(g.slot));
        }
        self.end();
    }

    fn load(&mut self, size: u32) {
        self.get(ADDR);
        let m = memarg(self.ram, 0);
        self.i(match size {
            1 => I::I32Load8U(m),
            2 => I::I32Load16U(m),
            _ => I::I32Load(m),
        });
    }

    /// Stores the value in `T2` at `ADDR`.
    fn store_t2(&mut self, size: u32) {
        self.get(ADDR);
        self.get(T2);
        let m = memarg(self.ram, 0);
        self.i(match size {
            1 => I::I32Store8(m),
            2 => I::I32Store16(m),
            _ => I::I32Store(m),
        });
    }

    /// Pushes operand `n` (register, immediate, or the memory operand already
    /// checked into `ADDR`).
    fn operand(&mut self, op: &Op, n: usize, size: u32) {
        match op.kind[n] {
            kind::REG => self.reg(op.r[n], size),
            kind::MEM => self.load(size),
            _ => self.c(op.imm),
        }
    }

    /// Records a lazy flag producer (the interpreter's `set_lazy`).
    fn lazy(&mut self, kind_: u32, size: u32, a: u32, b: u32, res: u32, cin: Option<u32>) {
        let sc = size_code(size);
        self.c(kind_ | sc << 8);
        self.set(LOP);
        self.get(a);
        self.set(LA);
        self.get(b);
        self.set(LB);
        self.get(res);
        self.set(LRES);
        match cin {
            Some(c) => self.get(c),
            None => self.c(0),
        }
        self.set(LCIN);
        self.known = Some(Known {
            kind: kind_,
            size: sc,
        });
    }

    /// Pushes CF as the interpreter's `cf()` sees it now.
    fn cf(&mut self) {
        match self.known {
            Some(k) => fx::cf(&mut self.f, &FLAG_LOCALS, k),
            None => {
                self.materialize_dynamic();
                fx::cf(&mut self.f, &FLAG_LOCALS, self.known.unwrap_or(NONE));
            }
        }
    }

    /// Evaluates an unknown lazy state into EFLAGS through the helper.
    fn materialize_dynamic(&mut self) {
        for x in [LOP, LRES, LA, LB, LCIN, EFL] {
            self.get(x);
        }
        self.i(I::Call(HELPER));
        self.set(EFL);
        self.c(lf::NONE);
        self.set(LOP);
        self.known = Some(NONE);
    }

    fn cond(&mut self, cc: u8) {
        let k = self.known;
        fx::cond(&mut self.f, &FLAG_LOCALS, k, cc, HELPER);
        if k.is_none() {
            self.known = Some(NONE);
        }
    }

    /// Emits instruction `op` at page offset `at`, the `idx`-th of `n` in its case.
    /// Returns false when the instruction ended the case (a branch).
    fn insn(&mut self, op: &Op, form: Form, at: u32, back: u32) -> bool {
        let next = at as i64 + op.len as i64;
        let mem = op.kind.contains(&kind::MEM);
        match form {
            Form::Nop => {}
            Form::Interp(idx) => self.interp(idx, at, back),
            Form::Rot(k, s) => self.rotate(op, k, s, at, back),
            Form::Shd(left) => self.shift_double(op, left, at, back),
            Form::Rdtsc => self.rdtsc(at, back),
            Form::Df(set) => {
                self.get(EFL);
                self.c(!fl::DF);
                self.i(I::I32And);
                if set {
                    self.c(fl::DF);
                    self.i(I::I32Or);
                }
                self.set(EFL);
            }
            Form::Cmpxchg => self.cmpxchg(op, at, back),
            Form::CallRm => {
                // The target is read (with ESP before the push) and the stack
                // slot checked before anything is written.
                if mem {
                    self.mem_access(op, 4, false, at, back);
                }
                self.operand(op, 0, 4);
                self.set(T0);
                self.get(4);
                self.c(4);
                self.i(I::I32Sub);
                self.set(LIN);
                self.check(4, true, at, back);
                self.get(EIPHI);
                self.c(next as u32);
                self.i(I::I32Add);
                self.set(T2);
                self.store_t2(4);
                self.get(LIN);
                self.set(4);
                self.get(T0);
                self.goto_dynamic();
                return false;
            }
            Form::Bt(k) => self.bt(op, k, at, back),
            Form::Xchg => {
                // (The memory form's implicit lock changes nothing on one CPU.)
                if mem {
                    self.mem_access(op, 4, true, at, back);
                }
                self.operand(op, 0, 4);
                self.set(T0);
                self.reg(op.r[1], 4);
                self.set(T2);
                if mem {
                    self.store_t2(4);
                } else {
                    self.get(T2);
                    self.set_reg(op.r[0], 4);
                }
                self.get(T0);
                self.set_reg(op.r[1], 4);
            }
            Form::Bswap => {
                // (x rotl 8) & 0x00FF00FF | (x rotr 8) & 0xFF00FF00
                let r = (op.r[0] & 7) as u32;
                self.get(r);
                self.c(8);
                self.i(I::I32Rotl);
                self.c(0x00FF_00FF);
                self.i(I::I32And);
                self.get(r);
                self.c(8);
                self.i(I::I32Rotr);
                self.c(0xFF00_FF00);
                self.i(I::I32And);
                self.i(I::I32Or);
                self.set(r);
            }
            Form::Mov(s) => {
                if op.kind[0] == kind::MEM {
                    self.mem_access(op, s, true, at, back);
                    self.operand(op, 1, s);
                    self.set(T2);
                    self.store_t2(s);
                } else {
                    if mem {
                        self.mem_access(op, s, false, at, back);
                    }
                    self.operand(op, 1, s);
                    self.set_reg(op.r[0], s);
                }
            }
            Form::Movzx(s) | Form::Movsx(s) => {
                if mem {
                    self.mem_access(op, s, false, at, back);
                }
                self.operand(op, 1, s);
                if let Form::Movsx(_) = form {
                    self.i(if s == 1 {
                        I::I32Extend8S
                    } else {
                        I::I32Extend16S
                    });
                }
                self.set_reg(op.r[0], 4);
            }
            Form::Lea => {
                self.ea(op);
                self.get(LIN);
                self.set_reg(op.r[0], 4);
            }
            Form::Alu(k, s) => self.alu(op, k, s, at, back),
            Form::Inc(s) | Form::Dec(s) | Form::Neg(s) | Form::Not(s) => {
                if mem {
                    self.mem_access(op, s, true, at, back);
                }
                // CF of the previous producer survives INC/DEC: pin it first.
                if let Form::Inc(_) | Form::Dec(_) = form {
                    // CF first: evaluating it may materialize EFLAGS.
                    self.cf();
                    self.set(T1);
                    self.get(EFL);
                    self.c(!fl::CF);
                    self.i(I::I32And);
                    self.get(T1);
                    self.i(I::I32Or);
                    self.set(EFL);
                }
                self.operand(op, 0, s);
                self.set(T0);
                match form {
                    Form::Inc(_) => {
                        self.get(T0);
                        self.c(1);
                        self.i(I::I32Add);
                    }
                    Form::Dec(_) => {
                        self.get(T0);
                        self.c(1);
                        self.i(I::I32Sub);
                    }
                    Form::Neg(_) => {
                        self.c(0);
                        self.get(T0);
                        self.i(I::I32Sub);
                    }
                    _ => {
                        self.get(T0);
                        self.c(u32::MAX);
                        self.i(I::I32Xor);
                    }
                }
                self.set(T2);
                if op.kind[0] == kind::MEM {
                    self.store_t2(s);
                } else {
                    self.get(T2);
                    self.set_reg(op.r[0], s);
                }
                match form {
                    Form::Inc(_) => {
                        self.c(1);
                        self.set(T1);
                        self.lazy(lf::INC, s, T0, T1, T2, None);
                    }
                    Form::Dec(_) => {
                        self.c(1);
                        self.set(T1);
                        self.lazy(lf::DEC, s, T0, T1, T2, None);
                    }
                    Form::Neg(_) => {
                        self.c(0);
                        self.set(T1);
                        self.lazy(lf::NEG, s, T1, T0, T2, None);
                    }
                    _ => {}
                }
            }
            Form::Shift(k, s) => self.shift(op, k, s, at, back),
            Form::Imul => {
                if mem {
                    self.mem_access(op, 4, false, at, back);
                }
                self.operand(op, 1, 4);
                self.i(I::I64ExtendI32S);
                if op.code == Code::Imul_r32_rm32 {
                    self.reg(op.r[0], 4);
                } else {
                    // Immediate forms: op.imm (iced gives the sign-extended value).
                    self.c(op.imm);
                }
                self.i(I::I64ExtendI32S);
                self.i(I::I64Mul);
                self.i(I::LocalTee(W0));
                self.i(I::I32WrapI64);
                self.set(T2);
                self.get(T2);
                self.set_reg(op.r[0], 4);
                // CF = OF = the product did not fit: its high half is not the sign
                // extension of the low half.
                self.get(W0);
                self.i(I::I64Const(32));
                self.i(I::I64ShrS);
                self.i(I::I32WrapI64);
                self.get(T2);
                self.c(31);
                self.i(I::I32ShrS);
                self.i(I::I32Xor);
                self.set(T1);
                self.lazy(fx::jk::MUL, 4, T0, T1, T2, None);
            }
            Form::Div(signed) => self.div(op, signed, at, back),
            Form::Mul1(signed) => {
                if mem {
                    self.mem_access(op, 4, false, at, back);
                }
                self.operand(op, 0, 4);
                self.i(if signed {
                    I::I64ExtendI32S
                } else {
                    I::I64ExtendI32U
                });
                self.get(0);
                self.i(if signed {
                    I::I64ExtendI32S
                } else {
                    I::I64ExtendI32U
                });
                self.i(I::I64Mul);
                self.i(I::LocalTee(W0));
                self.i(I::I32WrapI64);
                self.set(0);
                self.get(W0);
                self.i(I::I64Const(32));
                self.i(I::I64ShrU);
                self.i(I::I32WrapI64);
                self.set(2);
                // MUL: the high half is not zero; IMUL: it is not the sign of the low.
                self.get(2);
                if signed {
                    self.get(0);
                    self.c(31);
                    self.i(I::I32ShrS);
                    self.i(I::I32Xor);
                }
                self.set(T1);
                self.lazy(fx::jk::MUL, 4, T0, T1, 0, None);
            }
            Form::Jcc(cc) => {
                self.cond(cc);
                self.if_();
                self.goto(next + op.imm as i32 as i64);
                self.end();
                self.goto(next);
                return false;
            }
            Form::Jmp => {
                self.goto(next + op.imm as i32 as i64);
                return false;
            }
            Form::JmpRm => {
                if mem {
                    self.mem_access(op, 4, false, at, back);
                }
                self.operand(op, 0, 4);
                self.goto_dynamic();
                return false;
            }
            Form::Call => {
                self.get(4);
                self.c(4);
                self.i(I::I32Sub);
                self.set(LIN);
                self.check(4, true, at, back);
                self.get(EIPHI);
                self.c(next as u32);
                self.i(I::I32Add);
                self.set(T2);
                self.store_t2(4);
                self.get(LIN);
                self.set(4);
                self.goto(next + op.imm as i32 as i64);
                return false;
            }
            Form::Ret => {
                self.get(4);
                self.set(LIN);
                self.check(4, false, at, back);
                self.get(4);
                self.c(4);
                self.i(I::I32Add);
                self.set(4);
                self.load(4);
                self.goto_dynamic();
                return false;
            }
            Form::Push | Form::PushImm => {
                self.get(4);
                self.c(4);
                self.i(I::I32Sub);
                self.set(LIN);
                self.check(4, true, at, back);
                if let Form::Push = form {
                    self.reg(op.r[0], 4);
                } else {
                    self.c(op.imm);
                }
                self.set(T2);
                self.store_t2(4);
                self.get(LIN);
                self.set(4);
            }
            Form::PushRm => {
                // The operand is read first (with ESP before the push), and both
                // accesses are checked before anything is written.
                if mem {
                    self.mem_access(op, 4, false, at, back);
                }
                self.operand(op, 0, 4);
                self.set(T2);
                self.get(4);
                self.c(4);
                self.i(I::I32Sub);
                self.set(LIN);
                self.check(4, true, at, back);
                self.store_t2(4);
                self.get(LIN);
                self.set(4);
            }
            Form::Leave => {
                // EBP = [EBP]; ESP = old EBP + 4.
                self.get(5);
                self.set(LIN);
                self.check(4, false, at, back);
                self.load(4);
                self.set(T2);
                self.get(5);
                self.c(4);
                self.i(I::I32Add);
                self.set(4);
                self.get(T2);
                self.set(5);
            }
            Form::Pop => {
                self.get(4);
                self.set(LIN);
                self.check(4, false, at, back);
                self.load(4);
                self.set(T2);
                self.get(4);
                self.c(4);
                self.i(I::I32Add);
                self.set(4);
                self.get(T2);
                self.set_reg(op.r[0], 4);
            }
            Form::Setcc(cc) => {
                self.cond(cc);
                self.set_reg(op.r[0], 1);
            }
            Form::Cmov(cc) => {
                if mem {
                    self.mem_access(op, 4, false, at, back);
                }
                self.operand(op, 1, 4);
                self.set(T2);
                self.cond(cc);
                self.if_();
                self.get(T2);
                self.set_reg(op.r[0], 4);
                self.end();
            }
            Form::Cdq => {
                self.get(0);
                self.c(31);
                self.i(I::I32ShrS);
                self.set(2);
            }
        }
        true
    }

    /// DIV/IDIV r/m32: EDX:EAX divided by the operand, the quotient to EAX and the
    /// remainder to EDX (truncated toward zero for IDIV, the remainder with the
    /// dividend's sign); flags unchanged (as the interpreter leaves them). A
    /// divide error (zero divisor, quotient too wide) leaves before the
    /// instruction, for the interpreter to raise #DE; so does IDIV by -1.
    fn div(&mut self, op: &Op, signed: bool, at: u32, back: u32) {
        if op.kind[0] == kind::MEM {
            self.mem_access(op, 4, false, at, back);
        }
        self.operand(op, 0, 4);
        self.set(T1);
        // The dividend EDX:EAX in W0.
        self.get(2);
        self.i(I::I64ExtendI32U);
        self.i(I::I64Const(32));
        self.i(I::I64Shl);
        self.get(0);
        self.i(I::I64ExtendI32U);
        self.i(I::I64Or);
        self.i(I::LocalSet(W0));
        if signed {
            // Divisors 0 and -1 go to the interpreter (-1 may overflow the wasm
            // division itself).
            self.get(T1);
            self.c(1);
            self.i(I::I32Add);
            self.c(1);
            self.i(I::I32LeU);
            self.if_();
            self.exit_to(at, back);
            self.end();
            // q = n / d, which must fit in 32 bits signed.
            self.i(I::LocalGet(W0));
            self.get(T1);
            self.i(I::I64ExtendI32S);
            self.i(I::I64DivS);
            self.i(I::LocalSet(WE));
            self.i(I::LocalGet(WE));
            self.i(I::LocalGet(WE));
            self.i(I::I32WrapI64);
            self.i(I::I64ExtendI32S);
            self.i(I::I64Ne);
            self.if_();
            self.exit_to(at, back);
            self.end();
            self.i(I::LocalGet(W0));
            self.get(T1);
            self.i(I::I64ExtendI32S);
            self.i(I::I64RemS);
        } else {
            // The quotient fits in 32 bits iff EDX < divisor (which also rules
            // out a zero divisor).
            self.get(2);
            self.get(T1);
            self.i(I::I32GeU);
            self.if_();
            self.exit_to(at, back);
            self.end();
            self.i(I::LocalGet(W0));
            self.get(T1);
            self.i(I::I64ExtendI32U);
            self.i(I::I64DivU);
            self.i(I::LocalSet(WE));
            self.i(I::LocalGet(W0));
            self.get(T1);
            self.i(I::I64ExtendI32U);
            self.i(I::I64RemU);
        }
        self.i(I::I32WrapI64);
        self.set(2);
        self.i(I::LocalGet(WE));
        self.i(I::I32WrapI64);
        self.set(0);
    }

    /// Calls the interpreter for the instruction at page offset `at` (helper
    /// index `idx`, `back` instructions of the case not retired including it):
    /// the registers and flags go to the state window with EIP at the instruction
    /// and the budget before it, and come back after the call. When the helper
    /// says so (a fault, a branch, a code write, a mode change...) the module
    /// leaves right after with the window's EIP and budget.
    fn interp(&mut self, idx: u32, at: u32, back: u32) {
        // The interpreter knows only its own lazy flag kinds.
        match self.known {
            Some(k) if k.kind < fx::jk::FIRST => {}
            Some(_) => self.materialize_dynamic(),
            None => {
                self.private_lazy();
                self.if_();
                self.materialize_dynamic();
                self.end();
            }
        }
        self.known = None;
        let st = self.state;
        let store = |g: &mut Gen, at: u32, l: u32| {
            g.c(0);
            g.get(l);
            g.i(I::I32Store(memarg(st + at as u64, 2)));
        };
        for r in 0..8 {
            store(self, off::GPR + 4 * r, r);
        }
        store(self, off::EFLAGS, EFL);
        store(self, off::LOP, LOP);
        store(self, off::LRES, LRES);
        store(self, off::LA, LA);
        store(self, off::LB, LB);
        store(self, off::LCIN, LCIN);
        self.c(0);
        self.get(EIPHI);
        self.c(at);
        self.i(I::I32Add);
        self.i(I::I32Store(memarg(st + off::EIP as u64, 2)));
        self.c(0);
        self.get(BUDGET);
        self.c(back);
        self.i(I::I32Add);
        self.i(I::I32Store(memarg(st + off::BUDGET as u64, 2)));
        self.c(self.page | idx);
        self.i(I::Call(INTERP));
        self.set(T0);
        let load = |g: &mut Gen, at: u32, l: u32| {
            g.c(0);
            g.i(I::I32Load(memarg(st + at as u64, 2)));
            g.set(l);
        };
        for r in 0..8 {
            load(self, off::GPR + 4 * r, r);
        }
        load(self, off::EFLAGS, EFL);
        load(self, off::LOP, LOP);
        load(self, off::LRES, LRES);
        load(self, off::LA, LA);
        load(self, off::LB, LB);
        load(self, off::LCIN, LCIN);
        self.get(T0);
        self.if_();
        load(self, off::EIP, OUTEIP);
        load(self, off::BUDGET, BUDGET);
        self.i(I::Br(self.out_depth + self.depth));
        self.end();
    }

    /// Pushes whether the lazy flags hold a private producer (one the
    /// interpreter does not know: `LOP & 0xFF >= jk::FIRST`).
    fn private_lazy(&mut self) {
        self.get(LOP);
        self.c(0xFF);
        self.i(I::I32And);
        self.c(fx::jk::FIRST);
        self.i(I::I32GeU);
    }

    /// The end of the epilogue (the window written) when the module left for
    /// another page: if the TLB translates the new EIP for a fetch at this CPL to
    /// a frame below `slots`, and budget is left, continue in the entry table's
    /// element for that frame (a linked module's `run`, or a function that just
    /// returns) as a tail call, counting it in the window. The run loop would go
    /// there next anyway: it polls interrupts after a module only when an
    /// instruction stopped the block, and such a stop never ends a module this way.
    fn link_out(&mut self, slots: u32) {
        let st = self.state;
        self.get(CHAIN);
        self.if_();
        self.get(OUTEIP);
        self.c(9);
        self.i(I::I32ShrU);
        self.c(SLOT_MASK);
        self.i(I::I32And);
        self.i(I::I64Load(memarg(self.tlb, 3)));
        self.set(WE);
        self.get(WE);
        self.i(I::I32WrapI64);
        self.c(0);
        self.i(I::I32Load(memarg(st + off::XMASK as u64, 2)));
        self.i(I::I32And);
        self.get(OUTEIP);
        self.c(0xFFFF_F000);
        self.i(I::I32And);
        self.c(0);
        self.i(I::I32Load(memarg(st + off::XWANT as u64, 2)));
        self.i(I::I32Or);
        self.i(I::I32Eq);
        self.if_();
        // The frame number.
        self.get(WE);
        self.i(I::I64Const(44));
        self.i(I::I64ShrU);
        self.i(I::I32WrapI64);
        self.set(T0);
        self.get(T0);
        self.c(slots);
        self.i(I::I32LtU);
        self.get(BUDGET);
        self.i(I::I32Const(0));
        self.i(I::I32Ne);
        self.i(I::I32And);
        self.if_();
        self.c(0);
        self.c(0);
        self.i(I::I32Load(memarg(st + off::LINKS as u64, 2)));
        self.c(1);
        self.i(I::I32Add);
        self.i(I::I32Store(memarg(st + off::LINKS as u64, 2)));
        self.get(T0);
        self.i(I::ReturnCallIndirect {
            type_index: 0,
            table_index: 0,
        });
        self.end();
        self.end();
        self.end();
    }

    fn alu(&mut self, op: &Op, k: Alu, s: u32, at: u32, back: u32) {
        let dst_mem = op.kind[0] == kind::MEM;
        let writes = !matches!(k, Alu::Cmp | Alu::Test);
        if op.kind.contains(&kind::MEM) {
            self.mem_access(op, s, dst_mem && writes, at, back);
        }
        // T0 = a, T1 = b, T2 = result
        self.operand(op, 0, s);
        self.set(T0);
        self.operand(op, 1, s);
        self.set(T1);
        let carry = matches!(k, Alu::Adc | Alu::Sbb);
        if carry {
            // The carry in (CF of the previous producer), kept for the lazy record.
            self.cf();
            self.set(LCIN);
        }
        self.get(T0);
        self.get(T1);
        self.i(match k {
            Alu::Add | Alu::Adc => I::I32Add,
            Alu::Or => I::I32Or,
            Alu::And | Alu::Test => I::I32And,
            Alu::Xor => I::I32Xor,
            _ => I::I32Sub,
        });
        if carry {
            self.get(LCIN);
            self.i(if k == Alu::Adc { I::I32Add } else { I::I32Sub });
        }
        self.set(T2);
        if writes {
            if dst_mem {
                self.store_t2(s);
            } else {
                self.get(T2);
                self.set_reg(op.r[0], s);
            }
        }
        let kind_ = match k {
            Alu::Add => lf::ADD,
            Alu::Adc => lf::ADC,
            Alu::Sub | Alu::Cmp => lf::SUB,
            Alu::Sbb => lf::SBB,
            _ => lf::LOGIC,
        };
        if carry {
            // LCIN already holds the carry in.
            self.c(kind_ | size_code(s) << 8);
            self.set(LOP);
            self.get(T0);
            self.set(LA);
            self.get(T1);
            self.set(LB);
            self.get(T2);
            self.set(LRES);
            self.known = Some(Known {
                kind: kind_,
                size: size_code(s),
            });
        } else {
            self.lazy(kind_, s, T0, T1, T2, None);
        }
    }

    /// ROL (`k` 0) or ROR (1) of an operand of `s` bytes by 1, CL or imm8
    /// (`ops::shift::compute`): a masked count of 0 changes nothing; otherwise CF
    /// and OF are written into EFLAGS (OF from the operand's first one-bit step,
    /// as P6 sets it) and SF, ZF, AF and PF are kept, so the lazy flags are
    /// evaluated first.
    fn rotate(&mut self, op: &Op, k: u8, s: u32, at: u32, back: u32) {
        let mem = op.kind[0] == kind::MEM;
        if mem {
            self.mem_access(op, s, true, at, back);
        }
        let Some(maybe_zero) = self.count_begin(op, 1) else {
            return;
        };
        self.operand(op, 0, s);
        self.set(T0);
        let w = s * 8;
        if s == 4 {
            self.get(T0);
            self.get(T1);
            self.i(if k == 0 { I::I32Rotl } else { I::I32Rotr });
        } else {
            // r = count % w; (a << r | a >> (w - r)) & mask (ROL), mirrored for ROR;
            // with r = 0 the shift by w drops out under the mask or to zero.
            self.get(T1);
            self.c(w - 1);
            self.i(I::I32And);
            self.set(T1);
            let (first, second) = if k == 0 {
                (I::I32Shl, I::I32ShrU)
            } else {
                (I::I32ShrU, I::I32Shl)
            };
            self.get(T0);
            self.get(T1);
            self.i(first);
            self.get(T0);
            self.c(w);
            self.get(T1);
            self.i(I::I32Sub);
            self.i(second);
            self.i(I::I32Or);
            self.c(crate::ops::mask(s));
            self.i(I::I32And);
        }
        self.set(T2);
        if mem {
            self.store_t2(s);
        } else {
            self.get(T2);
            self.set_reg(op.r[0], s);
        }
        if self.known.is_none_or(|k| k.kind != lf::NONE) {
            self.materialize_dynamic();
        }
        // EFLAGS = EFLAGS & !(CF | OF) | CF | OF
        self.get(EFL);
        self.c(!(fl::CF | fl::OF));
        self.i(I::I32And);
        // CF: ROL the result's bit 0, ROR its top bit.
        self.get(T2);
        if k != 0 {
            self.c(w - 1);
            self.i(I::I32ShrU);
        }
        self.c(1);
        self.i(I::I32And);
        self.i(I::I32Or);
        // OF: ROL a[w-1] ^ a[w-2], ROR a[w-1] ^ a[0]; moved to bit 11.
        self.get(T0);
        self.get(T0);
        if k == 0 {
            self.c(1);
            self.i(I::I32Shl);
        } else {
            self.c(w - 1);
            self.i(I::I32Shl);
        }
        self.i(I::I32Xor);
        self.c(w - 1);
        self.i(I::I32ShrU);
        self.c(1);
        self.i(I::I32And);
        self.c(11);
        self.i(I::I32Shl);
        self.i(I::I32Or);
        self.set(EFL);
        self.known = Some(NONE);
        self.count_end(maybe_zero);
    }

    /// BT (`k` 0), BTS (1), BTR (2), BTC (3) of a dword by a bit offset modulo 32
    /// (`ops::bits::bt`): CF is the bit before the change, the other flags keep
    /// their values (as P6 leaves them), so the lazy flags are evaluated first.
    fn bt(&mut self, op: &Op, k: u8, at: u32, back: u32) {
        let mem = op.kind[0] == kind::MEM;
        if mem {
            self.mem_access(op, 4, k != 0, at, back);
        }
        match op.kind[1] {
            kind::REG => self.reg(op.r[1], 4),
            _ => self.c(op.imm),
        }
        self.c(31);
        self.i(I::I32And);
        self.set(T1);
        self.operand(op, 0, 4);
        self.set(T0);
        if k != 0 {
            self.get(T0);
            self.c(1);
            self.get(T1);
            self.i(I::I32Shl);
            match k {
                1 => self.i(I::I32Or),
                2 => {
                    self.c(u32::MAX);
                    self.i(I::I32Xor);
                    self.i(I::I32And);
                }
                _ => self.i(I::I32Xor),
            }
            self.set(T2);
            if mem {
                self.store_t2(4);
            } else {
                self.get(T2);
                self.set_reg(op.r[0], 4);
            }
        }
        if self.known.is_none_or(|k| k.kind != lf::NONE) {
            self.materialize_dynamic();
        }
        self.get(EFL);
        self.c(!fl::CF);
        self.i(I::I32And);
        self.get(T0);
        self.get(T1);
        self.i(I::I32ShrU);
        self.c(1);
        self.i(I::I32And);
        self.i(I::I32Or);
        self.set(EFL);
        self.known = Some(NONE);
    }

    /// RDTSC (`Cpu::tsc`): EDX:EAX = TSCB + (TSCE - budget before it) * TSCK /
    /// 1000, or leave before it when the window says the interpreter must run it.
    fn rdtsc(&mut self, at: u32, back: u32) {
        let st = self.state;
        self.c(0);
        self.i(I::I32Load(memarg(st + off::TSCOK as u64, 2)));
        self.i(I::I32Eqz);
        self.if_();
        self.exit_to(at, back);
        self.end();
        self.c(0);
        self.i(I::I64Load(memarg(st + off::TSCE as u64, 3)));
        self.get(BUDGET);
        self.c(back);
        self.i(I::I32Add);
        self.i(I::I64ExtendI32U);
        self.i(I::I64Sub);
        self.c(0);
        self.i(I::I64Load32U(memarg(st + off::TSCK as u64, 2)));
        self.i(I::I64Mul);
        self.i(I::I64Const(1000));
        self.i(I::I64DivU);
        self.c(0);
        self.i(I::I64Load(memarg(st + off::TSCB as u64, 3)));
        self.i(I::I64Add);
        self.i(I::LocalTee(W0));
        self.i(I::I32WrapI64);
        self.set(0);
        self.get(W0);
        self.i(I::I64Const(32));
        self.i(I::I64ShrU);
        self.i(I::I32WrapI64);
        self.set(2);
    }

    /// CMPXCHG r/m32, r32 (`ops::bits::cmpxchg`): EAX compared with the
    /// destination (flags of CMP EAX, dest); equal: the source is written to the
    /// destination, else EAX gets the destination (written back unchanged).
    fn cmpxchg(&mut self, op: &Op, at: u32, back: u32) {
        let mem = op.kind[0] == kind::MEM;
        if mem {
            self.mem_access(op, 4, true, at, back);
        }
        self.operand(op, 0, 4);
        self.set(T1);
        self.get(0);
        self.set(T0);
        self.get(T0);
        self.get(T1);
        self.i(I::I32Eq);
        self.if_();
        self.reg(op.r[1], 4);
        self.set(T2);
        if mem {
            self.store_t2(4);
        } else {
            self.get(T2);
            self.set_reg(op.r[0], 4);
        }
        self.i(I::Else);
        self.get(T1);
        self.set(0);
        self.end();
        self.get(T0);
        self.get(T1);
        self.i(I::I32Sub);
        self.set(T2);
        self.lazy(lf::SUB, 4, T0, T1, T2, None);
    }

    /// Pushes the masked count of a shift or rotate (by 1, CL or imm8) into
    /// `T1`. Returns `None` when the count is an immediate that masks to 0 (the
    /// instruction changes nothing), else whether it may be 0 at run time (CL),
    /// in which case an `if` on it is open, which [`Gen::count_end`] closes.
    fn count_begin(&mut self, op: &Op, n: usize) -> Option<bool> {
        match op.kind[n] {
            kind::REG => {
                self.get(1);
                self.c(0x1F);
                self.i(I::I32And);
            }
            kind::IMM if op.imm & 0x1F == 0 => return None,
            kind::IMM => self.c(op.imm & 0x1F),
            _ => self.c(1),
        }
        self.set(T1);
        let maybe_zero = op.kind[n] == kind::REG;
        if maybe_zero {
            self.get(T1);
            self.if_();
        }
        Some(maybe_zero)
    }

    /// Closes what [`Gen::count_begin`] opened: after a count of 0 the flags are
    /// as they were (maybe not evaluated).
    fn count_end(&mut self, maybe_zero: bool) {
        if maybe_zero {
            self.end();
            self.known = None;
        }
    }

    /// SHLD (`left`) or SHRD r/m32, r32 by imm8 or CL (`ops::shift::double`):
    /// the 64-bit value of the two operands shifted; CF the last bit out, OF the
    /// first one-bit step's (SHLD: MSB ^ MSB-1 of the destination, SHRD: MSB of
    /// the destination ^ bit 0 of the source), SF, ZF, PF from the result, AF 0:
    /// recorded as the private producer `jk::DBL`.
    fn shift_double(&mut self, op: &Op, left: bool, at: u32, back: u32) {
        let mem = op.kind[0] == kind::MEM;
        if mem {
            self.mem_access(op, 4, true, at, back);
        }
        let Some(maybe_zero) = self.count_begin(op, 2) else {
            return;
        };
        self.operand(op, 0, 4);
        self.set(T0);
        // W0 = dst:src (SHLD) or src:dst (SHRD).
        let (hi, lo) = if left {
            (None, Some(op.r[1]))
        } else {
            (Some(op.r[1]), None)
        };
        match hi {
            Some(r) => self.reg(r, 4),
            None => self.get(T0),
        }
        self.i(I::I64ExtendI32U);
        self.i(I::I64Const(32));
        self.i(I::I64Shl);
        match lo {
            Some(r) => self.reg(r, 4),
            None => self.get(T0),
        }
        self.i(I::I64ExtendI32U);
        self.i(I::I64Or);
        self.i(I::LocalSet(W0));
        // The result: SHLD (W0 << c) >> 32, SHRD W0 >> c.
        self.i(I::LocalGet(W0));
        self.get(T1);
        self.i(I::I64ExtendI32U);
        if left {
            self.i(I::I64Shl);
            self.i(I::I64Const(32));
        }
        self.i(I::I64ShrU);
        self.i(I::I32WrapI64);
        self.set(T2);
        // CF (bit 0) and OF (bit 11) into LB, before the register is written
        // (the source may be the destination).
        self.i(I::LocalGet(W0));
        if left {
            self.i(I::I64Const(64));
            self.get(T1);
            self.i(I::I64ExtendI32U);
            self.i(I::I64Sub);
        } else {
            self.get(T1);
            self.c(1);
            self.i(I::I32Sub);
            self.i(I::I64ExtendI32U);
        }
        self.i(I::I64ShrU);
        self.i(I::I32WrapI64);
        self.c(1);
        self.i(I::I32And);
        self.get(T0);
        if left {
            self.get(T0);
            self.c(1);
            self.i(I::I32Shl);
        } else {
            self.reg(op.r[1], 4);
            self.c(31);
            self.i(I::I32Shl);
        }
        self.i(I::I32Xor);
        self.c(31);
        self.i(I::I32ShrU);
        self.c(11);
        self.i(I::I32Shl);
        self.i(I::I32Or);
        self.set(LB);
        if mem {
            self.store_t2(4);
        } else {
            self.get(T2);
            self.set_reg(op.r[0], 4);
        }
        self.lazy(fx::jk::DBL, 4, T0, LB, T2, None);
        self.count_end(maybe_zero);
    }

    /// SHL/SHR/SAR of an operand of `s` bytes by 1, CL or imm8
    /// (`ops::shift::compute`); the flags are recorded as a private lazy producer.
    fn shift(&mut self, op: &Op, k: u8, s: u32, at: u32, back: u32) {
        let mem = op.kind[0] == kind::MEM;
        if mem {
            self.mem_access(op, s, true, at, back);
        }
        // Count in T1.
        let Some(maybe_zero) = self.count_begin(op, 1) else {
            return;
        };
        // The operand, zero-extended to the size, in T0.
        self.operand(op, 0, s);
        self.set(T0);
        // Result in T2.
        match k {
            4 => {
                self.get(T0);
                self.get(T1);
                self.i(I::I32Shl);
            }
            5 => {
                self.get(T0);
                self.get(T1);
                self.i(I::I32ShrU);
            }
            _ => {
                self.get(T0);
                match s {
                    1 => self.i(I::I32Extend8S),
                    2 => self.i(I::I32Extend16S),
                    _ => {}
                }
                self.get(T1);
                self.i(I::I32ShrS);
            }
        }
        if s < 4 {
            self.c(crate::ops::mask(s));
            self.i(I::I32And);
        }
        self.set(T2);
        if mem {
            self.store_t2(s);
        } else {
            self.get(T2);
            self.set_reg(op.r[0], s);
        }
        let kind_ = match k {
            4 => fx::jk::SHL,
            5 => fx::jk::SHR,
            _ => fx::jk::SAR,
        };
        self.lazy(kind_, s, T0, T1, T2, None);
        self.count_end(maybe_zero);
    }
}

const NONE: Known = Known {
    kind: lf::NONE,
    size: 2,
};

fn size_code(size: u32) -> u32 {
    size >> 1
}

/// Compiles the blocks of one page for `target`. Returns `None` when no block has
/// a compilable first instruction.
pub fn compile(blocks: &[PageBlock], target: &Target) -> Option<Compiled> {
    let (layout, base) = (target.layout, target.base);
    // Each block's runs of instructions the module runs (natively or through the
    // helper): the first starts at the block, another right after an instruction
    // the module cannot even call the interpreter for, so that after running
    // that one instruction the interpreter can come back in.
    let mut cases: Vec<(u32, Vec<(&Op, Form)>)> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut helper_ops: Vec<Op> = Vec::new();
    for b in blocks {
        let mut at = b.offset;
        let mut v = Vec::new();
        let mut start = at;
        for op in b.ops {
            // An instruction not compiled is run by the interpreter through the
            // helper import, unless its bytes reach into the next page (whose
            // writes do not drop this module).
            let f = form(op).or_else(|| {
                (at + op.len as u32 <= 4096 && helper_ops.len() < MAX_HELPER_OPS).then(|| {
                    helper_ops.push(*op);
                    Form::Interp(helper_ops.len() as u32 - 1)
                })
            });
            match f {
                Some(f) => v.push((op, f)),
                None => {
                    if !v.is_empty() && start < 4096 && seen.insert(start) {
                        cases.push((start, std::mem::take(&mut v)));
                    }
                    v.clear();
                    start = at + op.len as u32;
                }
            }
            at += op.len as u32;
        }
        if !v.is_empty() && start < 4096 && seen.insert(start) {
            cases.push((start, v));
        }
    }
    if cases.is_empty() {
        return None;
    }
    // In page order, so a case's fall-through is often the next case's code.
    cases.sort_by_key(|c| c.0);
    let n = cases.len() as u32;
    let base = base as u64;
    let mut g = Gen {
        f: Function::new([(N_I32_LOCALS, ValType::I32), (N_I64_LOCALS, ValType::I64)]),
        state: base + layout.state as u64,
        tlb: base + layout.tlb as u64,
        bits: base + layout.code_bits as u64,
        ram: base + layout.ram as u64,
        depth: 0,
        out_depth: 0,
        disp_depth: 0,
        known: None,
        groups: Vec::new(),
        plan: Vec::new(),
        cur: 0,
        case_off: 0,
        next_case: None,
        self_loop: false,
        page: target.page & !0xFFF,
    };
    // Prologue: window -> locals.
    let st = g.state;
    let load = |g: &mut Gen, at: u32, l: u32| {
        g.c(0);
        g.i(I::I32Load(memarg(st + at as u64, 2)));
        g.set(l);
    };
    for r in 0..8 {
        load(&mut g, off::GPR + 4 * r, r);
    }
    load(&mut g, off::EFLAGS, EFL);
    load(&mut g, off::LOP, LOP);
    load(&mut g, off::LRES, LRES);
    load(&mut g, off::LA, LA);
    load(&mut g, off::LB, LB);
    load(&mut g, off::LCIN, LCIN);
    load(&mut g, off::BUDGET, BUDGET);
    load(&mut g, off::RMASK, RMASK);
    load(&mut g, off::RWANT, RWANT);
    load(&mut g, off::WMASK, WMASK);
    load(&mut g, off::WWANT, WWANT);
    load(&mut g, off::FSBASE, FSB);
    load(&mut g, off::GSBASE, GSB);
    load(&mut g, off::SEGOK, SEGOK);
    load(&mut g, off::EIP, T0);
    g.get(T0);
    g.c(0xFFFF_F000);
    g.i(I::I32And);
    g.set(EIPHI);
    g.get(T0);
    g.c(0xFFF);
    g.i(I::I32And);
    g.set(OFF);
    // block $out; loop $disp; block $c_{n-1} ... block $c_0; block $default
    g.i(I::Block(BlockType::Empty));
    g.i(I::Loop(BlockType::Empty));
    for _ in 0..n {
        g.i(I::Block(BlockType::Empty));
    }
    g.i(I::Block(BlockType::Empty));
    // The table spans the compiled offsets only; others take the default.
    let lo = cases.iter().map(|(o, _)| *o).min().unwrap_or(0);
    let hi = cases.iter().map(|(o, _)| *o).max().unwrap_or(0);
    let mut table = vec![0u32; (hi - lo + 1) as usize];
    for (i, (o, _)) in cases.iter().enumerate() {
        table[(*o - lo) as usize] = 1 + i as u32;
    }
    g.get(OFF);
    g.c(lo);
    g.i(I::I32Sub);
    g.i(I::BrTable(Cow::Owned(table), 0));
    g.i(I::End);
    // $default: not compiled here.
    g.get(EIPHI);
    g.get(OFF);
    g.i(I::I32Or);
    g.set(OUTEIP);
    g.i(I::Br(n + 1));
    let mut compiled = 0;
    for (i, (o, ops)) in cases.iter().enumerate() {
        g.i(I::End); // end of $c_i: case i starts here
        let i = i as u32;
        g.depth = 0;
        g.out_depth = n - i;
        g.disp_depth = n - 1 - i;
        g.known = None;
        (g.groups, g.plan) = plan_groups(ops);
        g.case_off = *o;
        g.next_case = cases.get(i as usize + 1).map(|c| c.0);
        // A branch back to the case's own start (a one-block loop) continues its
        // `loop` instead of going through the dispatch table.
        let mut end = *o as i64;
        g.self_loop = ops.iter().any(|(op, f)| {
            end += op.len as i64;
            matches!(f, Form::Jcc(_) | Form::Jmp) && end + op.imm as i32 as i64 == *o as i64
        });
        if g.self_loop {
            g.i(I::Loop(BlockType::Empty));
            g.depth = 1;
        }
        let k = ops.len() as u32;
        compiled += ops.len();
        // Budget.
        g.get(BUDGET);
        g.c(k);
        g.i(I::I32LtU);
        g.if_();
        g.exit_to(*o, 0);
        g.end();
        g.get(BUDGET);
        g.c(k);
        g.i(I::I32Sub);
        g.set(BUDGET);
        let mut at = *o;
        let mut open = true;
        for (j, (op, f)) in ops.iter().enumerate() {
            let back = k - j as u32;
            g.cur = j;
            open = g.insn(op, *f, at, back);
            at += op.len as u32;
            if !open {
                break;
            }
        }
        if open {
            // Fell off the compiled prefix: continue at the next instruction.
            g.goto(at as i64);
        }
        if g.self_loop {
            g.end();
        }
    }
    g.i(I::End); // loop
    g.i(I::End); // $out
                 // Epilogue: locals -> window, private lazy producers materialized.
    g.private_lazy();
    g.if_();
    g.materialize_dynamic();
    g.end();
    let store = |g: &mut Gen, at: u32, l: u32| {
        g.c(0);
        g.get(l);
        g.i(I::I32Store(memarg(st + at as u64, 2)));
    };
    for r in 0..8 {
        store(&mut g, off::GPR + 4 * r, r);
    }
    store(&mut g, off::EIP, OUTEIP);
    store(&mut g, off::EFLAGS, EFL);
    store(&mut g, off::LOP, LOP);
    store(&mut g, off::LRES, LRES);
    store(&mut g, off::LA, LA);
    store(&mut g, off::LB, LB);
    store(&mut g, off::LCIN, LCIN);
    store(&mut g, off::BUDGET, BUDGET);
    if target.link_slots != 0 {
        g.link_out(target.link_slots);
    }
    g.c(0);
    g.i(I::End);

    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]);
    types.ty().function([ValType::I32; 6], [ValType::I32]);
    types.ty().function([ValType::I32], [ValType::I32]);
    let mut imports = ImportSection::new();
    let pages = (layout.len as u64).div_ceil(64 << 10);
    imports.import(
        "e",
        "m",
        EntityType::Memory(MemoryType {
            minimum: pages,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        }),
    );
    imports.import("e", "h", EntityType::Function(2));
    if target.link_slots != 0 {
        imports.import(
            "e",
            "t",
            EntityType::Table(TableType {
                element_type: RefType::FUNCREF,
                table64: false,
                minimum: target.link_slots as u64,
                maximum: None,
                shared: false,
            }),
        );
    }
    let mut funcs = FunctionSection::new();
    funcs.function(0);
    funcs.function(1);
    let mut exports = ExportSection::new();
    exports.export("run", ExportKind::Func, RUN);
    let mut code = CodeSection::new();
    code.function(&g.f);
    code.function(&fx::helper_body());
    let mut m = Module::new();
    m.section(&types)
        .section(&imports)
        .section(&funcs)
        .section(&exports)
        .section(&code);
    Some(Compiled {
        wasm: m.finish(),
        entries: cases.iter().map(|(o, _)| *o).collect(),
        instructions: compiled,
        helper_ops,
    })
}

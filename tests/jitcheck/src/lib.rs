//! The JIT against the interpreter, for any JIT host: each check runs the same
//! program twice from the same state, once interpreted and once with the JIT
//! attached through a caller-given host (hotness threshold 3, so every loop
//! compiles), and compares registers, flags, EIP, instruction count and memory.
//!
//! One copy of the programs and the checks, run natively with wasmtime as
//! separate tests (tests/tests/jit.rs) and inside V8 by the web package's
//! `jit_selftest` (frontend/web/src/selftest.rs): so both engines run exactly the
//! same programs against the same assertions. Builds for wasm32-unknown-unknown
//! (no clock, no threads: the caller's `stop` closure bounds a timed fuzz run).
//!
//! Every check returns a one-line summary of what ran, or the first difference
//! as an error message.
//!
//! - [`random_sequences`]: random straight-line sequences of instruction forms
//!   the JIT compiles (ALU, shifts and ROL/ROR in all sizes, IMUL, MUL/IMUL into
//!   EDX:EAX, DIV/IDIV, MOVZX/MOVSX, SETcc, CMOVcc, Jcc, PUSH/POP, PUSH r/m32,
//!   LEAVE, BSWAP, XCHG, BT/BTS/BTR/BTC, SHLD/SHRD, RDTSC (with an odd time base),
//!   CLD/STD, CMPXCHG (LOCKed too), PAUSE, LFENCE, LOCK ADD, memory operands in
//!   all sizes, FS/GS overrides with non-zero bases, one wrapping around 4 GiB
//!   and sometimes with a limit) and of forms it hands to the interpreter through
//!   its helper (RCL/RCR, SHLD/SHRD of words, string instructions with and
//!   without REP, POP r/m32, CLI, STI, x87, XADD) in a hot loop, once with the
//!   data in one page and once, with paging on, straddling two pages whose
//!   frames are apart;
//! - [`self_modifying_loop`], [`self_modifying_nested_loop`]: self-modifying code
//!   in a hot loop drops the compiled page and still computes what the
//!   interpreter computes;
//! - [`grouped_writes_to_a_code_page`]: grouped accesses whose page turns out to
//!   hold compiled code still write through the interpreter;
//! - [`helper_calls_that_fault_or_write_their_own_code`], [`helper_branch`]: an
//!   instruction run through the helper that faults, branches or writes to its
//!   own code page makes generated code leave with the interpreter's state;
//! - [`linked_pages`]: calls (relative, through memory and a register), jumps
//!   and returns between three compiled pages go from module to module through
//!   the entry table, and a write to the called page unlinks its module;
//! - [`bounded_modules`]: with a bound on loaded modules below the hot pages,
//!   installing one evicts the least recently entered, and the result stays
//!   exact.

use tab86_cpu::jit::{JitHost, JitStats};
use tab86_cpu::state::{cr, reg, sreg, Segment, TableReg};
use tab86_cpu::{Cpu, Exit, NullBus, PhysMem};

/// Makes the JIT host for a CPU (whose arena the host's modules address).
pub type Host = dyn Fn(&Cpu) -> Result<Box<dyn JitHost>, String>;

/// Guest RAM of [`flat_cpu`].
pub const RAM: u32 = 32 << 20;
const GDT: u32 = 0x1000;
const IDT: u32 = 0x2000;
/// A HLT for each vector `v` at `STUBS + v`: the IDT's gates lead there.
pub const STUBS: u32 = 0x3000;
const STACK_TOP: u32 = RAM - 0x10_0000;
/// Where the programs start.
pub const CODE: u32 = 0x20_0000;
/// The data area (EBX points there when the programs start).
pub const DATA: u32 = 0x30_0000;
/// Where paging puts the linear page after `DATA`'s (see [`page_scrambled`]).
pub const FAR: u32 = 0x38_0000;

/// A CPU in flat 32-bit ring-0 protected mode with `code` at [`CODE`], EIP
/// there, ESP near the top of RAM, and an IDT whose gate `v` leads to a HLT at
/// [`STUBS`]` + v`.
pub fn flat_cpu(code: &[u8]) -> Result<Cpu, String> {
    let mut mem = PhysMem::new(RAM);
    let mut gdt = vec![0u8; 8];
    for hi in [0x00CF_9A00u32, 0x00CF_9200] {
        gdt.extend_from_slice(&0xFFFFu32.to_le_bytes());
        gdt.extend_from_slice(&hi.to_le_bytes());
    }
    mem.write_bytes(GDT, &gdt);
    for v in 0..256u32 {
        let target = STUBS + v;
        mem.write_bytes(
            IDT + v * 8,
            &((0x08 << 16) | (target & 0xFFFF)).to_le_bytes(),
        );
        mem.write_bytes(
            IDT + v * 8 + 4,
            &((target & 0xFFFF_0000) | 0x8E00).to_le_bytes(),
        );
    }
    mem.write_bytes(STUBS, &[0xF4; 256]);
    mem.write_bytes(CODE, code);
    let mut cpu = Cpu::new(mem);
    cpu.state.gdtr = TableReg {
        base: GDT,
        limit: 3 * 8 - 1,
    };
    cpu.state.idtr = TableReg {
        base: IDT,
        limit: 256 * 8 - 1,
    };
    cpu.set_cr0(cr::PE).map_err(|f| format!("CR0: {f:?}"))?;
    cpu.set_cs(Segment::from_descriptor(0x08, 0xFFFF, 0x00CF_9A00), 0);
    for s in [sreg::SS, sreg::DS, sreg::ES, sreg::FS, sreg::GS] {
        cpu.load_seg(&mut NullBus, s, 0x10)
            .map_err(|f| format!("segment load: {f:?}"))?;
    }
    cpu.state.gpr = [0; 8];
    cpu.state.gpr[reg::ESP] = STACK_TOP;
    cpu.state.eflags = 0x2;
    cpu.state.eip = CODE;
    cpu.invalidate_all();
    Ok(cpu)
}

/// The physical address of linear `lin` under [`page_scrambled`].
pub fn scrambled(lin: u32) -> u32 {
    if lin >> 12 == (DATA >> 12) + 1 {
        FAR | (lin & 0xFFF)
    } else {
        lin
    }
}

/// Turns paging on: linear = physical for [`RAM`], except the page after
/// `DATA`'s, mapped to `FAR`. Code that took consecutive linear pages for
/// consecutive frames then touches the wrong memory.
pub fn page_scrambled(cpu: &mut Cpu) -> Result<(), String> {
    const PD: u32 = 0x8_0000;
    let mut pd = Vec::new();
    let mut pt = Vec::new();
    for t in 0..8u32 {
        pd.extend_from_slice(&((PD + 0x1000 * (t + 1)) | 7).to_le_bytes());
        for i in 0..1024u32 {
            pt.extend_from_slice(&(scrambled((t << 22) | (i << 12)) | 7).to_le_bytes());
        }
    }
    cpu.mem.write_bytes(PD, &pd);
    cpu.mem.write_bytes(PD + 0x1000, &pt);
    cpu.set_cr3(PD).map_err(|f| format!("CR3: {f:?}"))?;
    cpu.set_cr0(cpu.state.cr0 | cr::PG)
        .map_err(|f| format!("CR0.PG: {f:?}"))
}

/// Attaches the JIT with a host from `host`, every block hot after 3 runs.
pub fn attach(cpu: &mut Cpu, host: &Host) -> Result<(), String> {
    let h = host(cpu)?;
    cpu.set_jit(h, None);
    cpu.set_jit_threshold(3);
    Ok(())
}

/// Runs `cpu` to a HLT (an error after 10 million instructions or on another exit).
pub fn run_to_halt(cpu: &mut Cpu, what: &str) -> Result<(), String> {
    match cpu.run(&mut NullBus, 10_000_000) {
        Exit::Halted | Exit::HaltedNoWake => Ok(()),
        e => Err(format!("{what}: {e:?} at {:#x}", cpu.state.eip)),
    }
}

/// Runs `code` from [`flat_cpu`] with EBX = [`DATA`] to its HLT, with the JIT
/// from `host` when given (and at most `max_modules` modules when given).
pub fn run(code: &[u8], host: Option<&Host>, max_modules: Option<usize>) -> Result<Cpu, String> {
    let mut cpu = flat_cpu(code)?;
    cpu.state.gpr[reg::EBX] = DATA;
    if let Some(h) = host {
        attach(&mut cpu, h)?;
        if let Some(n) = max_modules {
            cpu.set_jit_max_modules(n);
        }
    }
    run_to_halt(&mut cpu, &format!("jit {}", host.is_some()))?;
    Ok(cpu)
}

/// `Ok` when `i == j`, else an error naming both (`ctx` says what differs).
fn same<T: PartialEq + std::fmt::Debug>(
    i: &T,
    j: &T,
    ctx: impl Fn() -> String,
) -> Result<(), String> {
    if i == j {
        Ok(())
    } else {
        Err(format!(
            "{}\n  interpreter (or expected): {i:x?}\n  jit: {j:x?}",
            ctx()
        ))
    }
}

/// `Ok` when `ok`, else an error with the statistics.
fn holds(ok: bool, what: &str, st: &JitStats) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("{what}: {st:?}"))
    }
}

/// The JIT's counters of a CPU that had a JIT attached.
fn stats(cpu: &Cpu) -> Result<JitStats, String> {
    cpu.jit_stats().ok_or_else(|| "no JIT stats".to_string())
}

/// Runs `code` interpreted and with the JIT; registers must be equal (and the
/// instruction count when `icount`). Returns both CPUs.
fn both(code: &[u8], host: &Host, what: &str, icount: bool) -> Result<(Cpu, Cpu), String> {
    let i = run(code, None, None)?;
    let j = run(code, Some(host), None)?;
    same(&i.state.gpr, &j.state.gpr, || format!("{what}: registers"))?;
    if icount {
        same(&i.state.icount, &j.state.icount, || {
            format!("{what}: instruction count")
        })?;
    }
    Ok((i, j))
}

/// A small deterministic generator (xorshift).
struct Rng(u64);
impl Rng {
    /// The next 32 random bits.
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 16) as u32
    }
    /// A number below `n` (not 0).
    fn below(&mut self, n: u32) -> u32 {
        self.next() % n
    }
}

/// Registers random code may write: not ESP (4) or EBX (3, the data pointer).
const DST: [u8; 6] = [0, 1, 2, 5, 6, 7];

/// A ModRM byte: mode `md`, `reg` and `rm` fields.
fn modrm(md: u8, reg: u8, rm: u8) -> u8 {
    md << 6 | (reg & 7) << 3 | (rm & 7)
}

/// Appends one random instruction to `out`; memory operands are `[ebx + disp8]`
/// in the data area (below the loop counter at `[ebx + 0x7C]`), FS and GS
/// overrides expect the bases [`random_sequences`] gives them.
fn random_insn(r: &mut Rng, out: &mut Vec<u8>) {
    let d = DST[r.below(6) as usize];
    let s = r.below(8) as u8;
    let mem = r.below(3) == 0;
    let disp = (r.below(30) * 4) as u8;
    // r/m operand: a register (any of the eight for reads) or memory.
    let rm = |out: &mut Vec<u8>, reg: u8, rm_reg: u8| {
        if mem {
            out.push(modrm(1, reg, 3));
            out.push(disp);
        } else {
            out.push(modrm(3, reg, rm_reg));
        }
    };
    // A shift or rotate (group 2, `/ext`) of r/m8 or, when `wide`, r/m16/32:
    // by 1, by CL or by a random imm8 below 40 (`form` 0, 1, 2).
    let shift = |out: &mut Vec<u8>, r: &mut Rng, form: u32, wide: u8, ext: u8, dst: u8| {
        out.push([0xD0, 0xD2, 0xC0][form as usize] | wide);
        rm(out, ext, dst);
        if form == 2 {
            out.push(r.below(40) as u8);
        }
    };
    // Maps a random number below 3 to a `form` in the order imm8, 1, CL.
    const IMM_ONE_CL: [u32; 3] = [2, 0, 1];
    match r.below(30) {
        0 => {
            // ALU r/m32, r32 (memory destinations too).
            out.push((r.below(8) as u8) << 3 | 1);
            rm(out, s, d);
        }
        1 => {
            // ALU r32, r/m32.
            out.push((r.below(8) as u8) << 3 | 3);
            rm(out, d, s);
        }
        2 => {
            // ALU r/m32, imm8 (sign-extended).
            out.push(0x83);
            rm(out, r.below(8) as u8, d);
            out.push(r.next() as u8);
        }
        3 => {
            // ALU r/m8, r8 / r8, r/m8 (AH..BH included).
            // Byte registers other than BL/BH (EBX is the data pointer).
            let b8 = [0, 1, 2, 4, 5, 6];
            out.push((r.below(8) as u8) << 3 | if r.below(2) == 0 { 0 } else { 2 });
            rm(out, b8[r.below(6) as usize], b8[r.below(6) as usize]);
        }
        4 => {
            // INC/DEC r32 (0x40/0x48 + r) or INC/DEC/NEG/NOT r/m32.
            if r.below(2) == 0 {
                out.push(if r.below(2) == 0 { 0x40 } else { 0x48 } + d);
            } else {
                let (op, ext) = [(0xFF, 0), (0xFF, 1), (0xF7, 3), (0xF7, 2)][r.below(4) as usize];
                out.push(op);
                rm(out, ext, d);
            }
        }
        5 => {
            // SHL/SHR/SAR r/m32 by imm8, 1 or CL.
            let ext = [4, 5, 7][r.below(3) as usize];
            let form = IMM_ONE_CL[r.below(3) as usize];
            shift(out, r, form, 1, ext, d);
        }
        6 => {
            // IMUL r32, r/m32 [, imm8].
            if r.below(2) == 0 {
                out.extend_from_slice(&[0x0F, 0xAF]);
                rm(out, d, s);
            } else {
                out.push(0x6B);
                rm(out, d, s);
                out.push(r.next() as u8);
            }
        }
        7 => {
            // MOVZX/MOVSX r32, r/m8 or r/m16.
            out.push(0x0F);
            out.push([0xB6, 0xB7, 0xBE, 0xBF][r.below(4) as usize]);
            rm(out, d, s);
        }
        8 => {
            // SETcc r8 (AL, CL, DL, AH, CH, DH).
            out.extend_from_slice(&[0x0F, 0x90 + r.below(16) as u8]);
            out.push(modrm(3, 0, [0, 1, 2, 4, 5, 6][r.below(6) as usize]));
        }
        9 => {
            // CMOVcc r32, r/m32.
            out.extend_from_slice(&[0x0F, 0x40 + r.below(16) as u8]);
            rm(out, d, s);
        }
        10 => {
            // Jcc over the next 2-byte instruction (MOV r32, r32).
            out.push(0x70 + r.below(16) as u8);
            out.push(2);
            out.push(0x89);
            out.push(modrm(3, s, d));
        }
        11 => {
            // MOV r/m32, r32 / r32, r/m32 / r/m8, imm8 / r32, imm32.
            match r.below(4) {
                0 => {
                    out.push(0x89);
                    rm(out, s, d);
                }
                1 => {
                    out.push(0x8B);
                    rm(out, d, s);
                }
                2 => {
                    out.push(0xC6);
                    rm(out, 0, [0, 1, 2][r.below(3) as usize]);
                    out.push(r.next() as u8);
                }
                _ => {
                    out.push(0xB8 + d);
                    out.extend_from_slice(&r.next().to_le_bytes());
                }
            }
        }
        12 => {
            // ADC/SBB r32, r/m32 right after a flag producer.
            out.push(0x01);
            out.push(modrm(3, s, d));
            out.push(if r.below(2) == 0 { 0x13 } else { 0x1B });
            rm(out, d, s);
        }
        13 => {
            // PUSH r32 / POP r32 pair, PUSH imm8 / POP.
            if r.below(2) == 0 {
                out.push(0x50 + s);
            } else {
                out.push(0x6A);
                out.push(r.next() as u8);
            }
            out.push(0x58 + d);
        }
        14 => {
            // LEA r32, [ebx + disp8]; CDQ.
            out.push(0x8D);
            out.push(modrm(1, d, 3));
            out.push(disp);
            out.push(0x99);
        }
        15 => {
            // ALU r/m16, r16 or r16, r/m16; SAL (SHL's /6 alias) r/m32 by imm8.
            match r.below(3) {
                0 => {
                    out.extend_from_slice(&[0x66, (r.below(8) as u8) << 3 | 1]);
                    rm(out, s, d);
                }
                1 => {
                    out.extend_from_slice(&[0x66, (r.below(8) as u8) << 3 | 3]);
                    rm(out, d, s);
                }
                _ => shift(out, r, 2, 1, 6, d),
            }
        }
        16 => {
            // SHL/SHR/SAR r/m8 or r/m16 by imm8, 1 or CL.
            let ext = [4, 5, 7][r.below(3) as usize];
            let word = r.below(2) == 0;
            if word {
                out.push(0x66);
            }
            let b8 = [0, 1, 2, 4, 5, 6];
            let dst = if word { d } else { b8[r.below(6) as usize] };
            let w = if word { 1 } else { 0 };
            let form = IMM_ONE_CL[r.below(3) as usize];
            shift(out, r, form, w, ext, dst);
        }
        17 => {
            // MUL/IMUL r/m32 into EDX:EAX.
            out.push(0xF7);
            rm(out, if r.below(2) == 0 { 4 } else { 5 }, s);
        }
        18 => {
            // DIV/IDIV r/m32 by an odd divisor, EDX cleared or the sign of EAX
            // (IDIV 0x80000000 by -1 faults: to the HLT stub, both ways).
            let dv = [0u8, 1, 5, 6, 7][r.below(5) as usize];
            let ext = if r.below(2) == 0 { 6 } else { 7 };
            if mem {
                out.extend_from_slice(&[0x83, modrm(1, 1, 3), disp, 1]);
            } else {
                out.extend_from_slice(&[0x83, modrm(3, 1, dv), 1]);
            }
            out.extend_from_slice(if ext == 6 { &[0x31, 0xD2] } else { &[0x99] });
            out.push(0xF7);
            rm(out, ext, dv);
        }
        19 => {
            // ROL/ROR/RCL/RCR r/m by 1, CL or imm8, in all sizes.
            let k = r.below(4) as u8;
            let size = r.below(3);
            if size == 1 {
                out.push(0x66);
            }
            let wide = (size != 0) as u8;
            // Byte registers other than BL/BH (EBX is the data pointer).
            let d = if wide == 0 {
                [0, 1, 2, 4, 5, 6][r.below(6) as usize]
            } else {
                d
            };
            let form = r.below(3);
            shift(out, r, form, wide, k, d);
        }
        20 => {
            // BSWAP r32, or XCHG EAX, r32 / XCHG r/m32, r32.
            match r.below(3) {
                0 => out.extend_from_slice(&[0x0F, 0xC8 + d]),
                1 => out.push(0x90 + DST[1 + r.below(5) as usize]),
                _ => {
                    out.push(0x87);
                    rm(out, DST[r.below(6) as usize], d);
                }
            }
        }
        21 => {
            // BT/BTS/BTR/BTC r/m32, imm8, or r32, r32.
            let k = r.below(4) as u8;
            if r.below(2) == 0 {
                out.extend_from_slice(&[0x0F, 0xBA]);
                rm(out, 4 + k, d);
                out.push(r.next() as u8);
            } else {
                out.extend_from_slice(&[0x0F, 0xA3 | k << 3, modrm(3, s, d)]);
            }
        }
        22 => {
            // A string instruction, maybe REP, on the data area (ESI/EDI set first,
            // writes below the loop counter at +0x7C).
            let src = (r.below(30) * 4) as u8;
            let dst = (r.below(12) * 4) as u8;
            out.extend_from_slice(&[0x8D, 0x73, src, 0x8D, 0x7B, dst]);
            let ops: [&[u8]; 10] = [
                &[0xAC],
                &[0xAD],
                &[0xAA],
                &[0xAB],
                &[0xA4],
                &[0xA5],
                &[0xAF],
                &[0xA6],
                &[0x66, 0xA5],
                &[0x66, 0xAD],
            ];
            let op = ops[r.below(10) as usize];
            if r.below(2) == 0 && op != [0xAC] && op != [0xAD] {
                // mov ecx, count; rep (REPE for the compares).
                out.push(0xB9);
                out.extend_from_slice(&r.below(9).to_le_bytes());
                out.push(0xF3);
            }
            out.extend_from_slice(op);
        }
        23 => {
            // PUSH/POP r/m32, LEAVE, PUSH r/m32 + POP r/m32 through memory.
            match r.below(3) {
                0 => out.extend_from_slice(&[0xFF, modrm(3, 6, s), 0x8F, modrm(3, 0, d)]),
                1 => out.extend_from_slice(&[0x55, 0x89, 0xE5, 0xC9]),
                _ => {
                    let d2 = (r.below(30) * 4) as u8;
                    out.extend_from_slice(&[0xFF, modrm(1, 6, 3), disp, 0x8F, modrm(1, 0, 3), d2]);
                }
            }
        }
        24 => {
            // RDTSC (the count of instructions so far decides it), PAUSE, LFENCE,
            // CLI, STI (an interrupt shadow: generated code leaves after it).
            // CLD, STD (later string instructions go down).
            match r.below(7) {
                0 => out.extend_from_slice(&[0x0F, 0x31]),
                1 => out.extend_from_slice(&[0xF3, 0x90]),
                2 => out.extend_from_slice(&[0x0F, 0xAE, 0xE8]),
                3 => out.push(0xFA),
                4 => out.push(0xFC),
                5 => out.push(0xFD),
                _ => out.push(0xFB),
            }
        }
        25 => {
            // x87: fild two dwords, faddp, fistp.
            let a = (r.below(30) * 4) as u8;
            let b = (r.below(30) * 4) as u8;
            let c = (r.below(30) * 4) as u8;
            out.extend_from_slice(&[0xDB, 0x43, a, 0xDB, 0x43, b, 0xDE, 0xC1, 0xDB, 0x5B, c]);
        }
        26 => {
            // LOCK ADD m32, r32; XADD r/m32, r32; [LOCK] CMPXCHG r/m32, r32.
            match r.below(4) {
                0 => out.extend_from_slice(&[0xF0, 0x01, modrm(1, s, 3), disp]),
                1 => out.extend_from_slice(&[0xF0, 0x0F, 0xB1, modrm(1, s, 3), disp]),
                2 => {
                    out.extend_from_slice(&[0x0F, 0xC1]);
                    rm(out, d, DST[r.below(6) as usize]);
                }
                _ => {
                    out.extend_from_slice(&[0x0F, 0xB1]);
                    rm(out, d, DST[r.below(6) as usize]);
                }
            }
        }
        27 => {
            // MOV, ADD, INC through FS (base +0x40) or GS (base -0x40): the
            // accesses land in the data area below the loop counter.
            let gs = r.below(2) == 0;
            out.push(if gs { 0x65 } else { 0x64 });
            let disp = if gs {
                0x40 + (r.below(16) * 4) as u8
            } else {
                (r.below(15) * 4) as u8
            };
            let (opc, reg) = match r.below(4) {
                0 => (0x8B, d),
                1 => (0x89, s),
                2 => (0x01, s),
                _ => (0xFF, 0),
            };
            out.extend_from_slice(&[opc, modrm(1, reg, 3), disp]);
        }
        28 => {
            // SHLD/SHRD r/m32 (or r/m16, through the helper), r32 by imm8 or CL.
            if r.below(4) == 0 {
                out.push(0x66);
            }
            let opc = [0xA4, 0xA5, 0xAC, 0xAD][r.below(4) as usize];
            out.extend_from_slice(&[0x0F, opc]);
            rm(out, DST[r.below(6) as usize], d);
            if opc & 1 == 0 {
                out.push(r.below(40) as u8);
            }
        }
        _ => {
            // MOV r16, r/m16 and MOV r/m16, r16 (operand-size prefix).
            out.push(0x66);
            if r.below(2) == 0 {
                out.push(0x89);
                rm(out, s, d);
            } else {
                out.push(0x8B);
                rm(out, d, s);
            }
        }
    }
}

/// How many random sequences [`random_sequences`] runs, and which.
pub struct Fuzz<'a> {
    /// Sequence `k` (from 1) uses seed `first_seed + k`.
    pub first_seed: u64,
    /// At most this many sequences.
    pub count: u64,
    /// Random instructions per sequence.
    pub insns: u32,
    /// Asked before each sequence; `true` ends the run early (a time limit).
    pub stop: &'a dyn Fn() -> bool,
}

impl Fuzz<'_> {
    /// `count` sequences from seed 1 on, of 12 instructions each, not stopped early.
    pub fn fixed(count: u64) -> Fuzz<'static> {
        Fuzz {
            first_seed: 0,
            count,
            insns: 12,
            stop: &|| false,
        }
    }
}

/// What [`random_sequences`] ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FuzzSummary {
    /// Sequences run (each twice: data in one page, then straddling two).
    pub sequences: u64,
    /// Guest instructions retired by generated code.
    pub jit_instructions: u64,
    /// Calls of generated code into the interpreter's helper.
    pub helper_calls: u64,
}

/// The differential fuzzer: each sequence is [`random_insn`]s in a loop of 40
/// turns after registers set from the seed, over a data area filled from the
/// generator, run once with the data in one page and once straddling a page
/// boundary with paging on (accesses through EBX then span two pages, some cross
/// it, and the second page's frame is far from the first's). FS has base 0x40, GS
/// base -0x40 (wrapping around 4 GiB), with a limit for seeds divisible by 5;
/// seeds divisible by 3 give RDTSC an odd time base and TSC offset. With 10
/// sequences or more, generated code must have run over 10 000 instructions and
/// called the helper over 1 000 times.
pub fn random_sequences(host: &Host, fuzz: &Fuzz) -> Result<FuzzSummary, String> {
    let mut sum = FuzzSummary::default();
    for seed in (1..=fuzz.count).map(|i| fuzz.first_seed.wrapping_add(i)) {
        if (fuzz.stop)() {
            break;
        }
        sum.sequences += 1;
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut code = Vec::new();
        // Registers from the seed; the data area from the generator.
        for d in DST {
            code.push(0xB8 + d);
            code.extend_from_slice(&r.next().to_le_bytes());
        }
        // mov dword [ebx+0x7C], 40: the loop counter.
        code.extend_from_slice(&[0xC7, 0x43, 0x7C, 40, 0, 0, 0]);
        let top = code.len();
        for _ in 0..fuzz.insns {
            random_insn(&mut r, &mut code);
        }
        // dec dword [ebx+0x7C]; jnz top; hlt
        code.extend_from_slice(&[0xFF, 0x4B, 0x7C]);
        let rel = top as i64 - (code.len() as i64 + 6);
        code.extend_from_slice(&[0x0F, 0x85]);
        code.extend_from_slice(&(rel as i32).to_le_bytes());
        code.push(0xF4);
        let init: Vec<u8> = (0..0x7C).map(|_| r.next() as u8).collect();
        for (data, paged) in [(DATA, false), (DATA + 0x1000 - 0x3E, true)] {
            let read = |cpu: &Cpu| -> Vec<u8> {
                (0..0x80u32)
                    .map(|k| {
                        let mut b = [0u8];
                        cpu.mem.read_bytes(scrambled(data + k), &mut b);
                        b[0]
                    })
                    .collect()
            };
            let prep = |jit: bool| -> Result<Cpu, String> {
                let mut cpu = flat_cpu(&code)?;
                if paged {
                    page_scrambled(&mut cpu)?;
                }
                for (k, b) in init.iter().enumerate() {
                    cpu.mem.write_bytes(scrambled(data + k as u32), &[*b]);
                }
                cpu.state.gpr[reg::EBX] = data;
                cpu.state.seg[sreg::FS].base = 0x40;
                cpu.state.seg[sreg::GS].base = 0xFFFF_FFC0;
                if seed % 5 == 0 {
                    // A limit (not reached): generated code leaves GS accesses
                    // to the interpreter.
                    cpu.state.seg[sreg::GS].hi = 0x7FFF_FFFF;
                }
                if seed % 3 == 0 {
                    // RDTSC from an odd time base and a TSC offset (as a WRMSR
                    // leaves it), whose rounding generated code must match.
                    cpu.time.base_ns = 0x1_2345_6789 + seed;
                    cpu.time.ns_per_kinstr = 2517;
                    cpu.state.tsc_offset = 0xFFFF_FFF0_0000_0000 | seed;
                }
                if jit {
                    attach(&mut cpu, host)?;
                }
                run_to_halt(&mut cpu, &format!("seed {seed} (jit {jit})"))?;
                Ok(cpu)
            };
            let i = prep(false)?;
            let j = prep(true)?;
            let ctx = |what: &str| {
                format!(
                    "seed {seed}, data at {data:#x}: {what} differs; code {}",
                    code.iter().map(|b| format!("{b:02x}")).collect::<String>()
                )
            };
            same(&i.state.gpr, &j.state.gpr, || ctx("registers"))?;
            same(&i.state.flags(), &j.state.flags(), || ctx("flags"))?;
            same(&i.state.eip, &j.state.eip, || ctx("EIP"))?;
            same(&i.state.icount, &j.state.icount, || {
                ctx("instruction count")
            })?;
            same(&read(&i), &read(&j), || ctx("memory"))?;
            let st = stats(&j)?;
            holds(st.traps == 0, &ctx("trap count"), &st)?;
            sum.jit_instructions += st.instructions;
            sum.helper_calls += st.helper_calls;
        }
    }
    if sum.sequences >= 10 && (sum.jit_instructions <= 10_000 || sum.helper_calls <= 1_000) {
        return Err(format!(
            "random sequences: generated code ran only {} instructions and called the interpreter {} times",
            sum.jit_instructions, sum.helper_calls
        ));
    }
    Ok(sum)
}

/// A loop whose ADD immediate the loop itself increments every turn: the sum is
/// still the interpreter's (1 + 2 + ... + 300). Written every turn, the page
/// does not become hot (the summary's module count says so; the JIT compiles
/// nothing here today): [`self_modifying_nested_loop`] is the one whose
/// compiled page is dropped at each patch.
pub fn self_modifying_loop(host: &Host) -> Result<String, String> {
    // ecx = 300; loop: add eax, imm32 (patched); inc dword [imm32 operand]; dec ecx; jnz loop; hlt
    let mut code = vec![0xB9, 0x2C, 0x01, 0, 0, 0x31, 0xC0];
    let top = code.len() as u32;
    code.extend_from_slice(&[0x05, 1, 0, 0, 0]); // add eax, 1
    let imm_at = CODE + top + 1;
    code.extend_from_slice(&[0xFF, 0x05]); // inc dword [imm_at]
    code.extend_from_slice(&imm_at.to_le_bytes());
    code.push(0x49); // dec ecx
    let rel = top as i64 - (code.len() as i64 + 2);
    code.extend_from_slice(&[0x75, rel as i8 as u8, 0xF4]);
    let (_, j) = both(&code, host, "self-modifying loop", false)?;
    same(&(300 * 301 / 2), &j.state.gpr[reg::EAX], || {
        "self-modifying loop: the sum".into()
    })?;
    let st = stats(&j)?;
    holds(st.traps == 0, "self-modifying loop", &st)?;
    Ok(format!(
        "self-modifying loop: ok ({} modules, {} invalidated)",
        st.modules, st.invalidations
    ))
}

/// A hot inner loop whose immediate the outer loop patches: the compiled page is
/// dropped at each patch, and the sum is still the interpreter's.
pub fn self_modifying_nested_loop(host: &Host) -> Result<String, String> {
    // mov ecx, 20; xor eax, eax
    // outer: mov edx, 50
    // inner: add eax, imm32 (patched); dec edx; jnz inner
    //        inc dword [imm32's address]; dec ecx; jnz outer; hlt
    let mut code = vec![0xB9, 20, 0, 0, 0, 0x31, 0xC0];
    let outer = code.len() as i64;
    code.extend_from_slice(&[0xBA, 50, 0, 0, 0]);
    let inner = code.len() as i64;
    code.extend_from_slice(&[0x05, 1, 0, 0, 0, 0x4A]);
    let imm_at = CODE + inner as u32 + 1;
    code.extend_from_slice(&[0x75, (inner - (code.len() as i64 + 2)) as i8 as u8]);
    code.extend_from_slice(&[0xFF, 0x05]);
    code.extend_from_slice(&imm_at.to_le_bytes());
    code.push(0x49);
    code.extend_from_slice(&[0x75, (outer - (code.len() as i64 + 2)) as i8 as u8, 0xF4]);
    let (_, j) = both(&code, host, "nested self-modifying loop", false)?;
    same(&(50 * 210), &j.state.gpr[reg::EAX], || {
        "nested self-modifying loop: the sum".into()
    })?;
    let st = stats(&j)?;
    holds(
        st.traps == 0 && st.modules > 0 && st.invalidations > 0 && st.instructions >= 500,
        "nested self-modifying loop",
        &st,
    )?;
    Ok(format!(
        "nested self-modifying loop: ok ({} modules, {} invalidated)",
        st.modules, st.invalidations
    ))
}

/// A read and a write through ESI form one translation group; once the page is
/// compiled, ESI moves to the code itself: the group's writes must then go
/// through the interpreter, which drops the stale compiled immediate.
pub fn grouped_writes_to_a_code_page(host: &Host) -> Result<String, String> {
    // ecx = 300; ebx = 0; esi = DATA;
    // top:  add ebx, imm32 (imm 1, patched later)
    //       mov eax, [esi]; add eax, 1; mov [esi], eax
    //       cmp ecx, 100; jne skip; mov esi, <address of the imm32>
    // skip: dec ecx; jnz top; hlt
    let mut code = vec![0xB9, 0x2C, 0x01, 0, 0, 0x31, 0xDB, 0xBE];
    code.extend_from_slice(&DATA.to_le_bytes());
    let top = code.len() as u32;
    let imm_at = CODE + top + 2;
    code.extend_from_slice(&[0x81, 0xC3, 1, 0, 0, 0]); // add ebx, 1
    code.extend_from_slice(&[0x8B, 0x06, 0x83, 0xC0, 0x01, 0x89, 0x06]);
    code.extend_from_slice(&[0x83, 0xF9, 100, 0x75, 5, 0xBE]); // cmp ecx, 100; jne +5; mov esi,
    code.extend_from_slice(&imm_at.to_le_bytes());
    code.push(0x49); // dec ecx
    let rel = top as i64 - (code.len() as i64 + 2);
    code.extend_from_slice(&[0x75, rel as i8 as u8, 0xF4]);
    let (_, j) = both(&code, host, "grouped writes", false)?;
    // 201 iterations add 1, then the immediate counts up from 1 to 99.
    same(
        &(201 + (1..=99).sum::<u32>()),
        &j.state.gpr[reg::EBX],
        || "grouped writes: the sum".into(),
    )?;
    let st = stats(&j)?;
    holds(
        st.traps == 0 && st.instructions > 500,
        "grouped writes",
        &st,
    )?;
    Ok(format!(
        "grouped writes to a code page: ok ({} invalidated)",
        st.invalidations
    ))
}

/// An instruction the helper runs that faults (a DIV by zero, to the HLT stub of
/// vector 0 with the DIV's EIP pushed), and one that writes the loop's own
/// immediate (XADD): generated code must leave with the interpreter's state.
pub fn helper_calls_that_fault_or_write_their_own_code(host: &Host) -> Result<String, String> {
    // ecx = 300; esi = 0; edi = 0
    // top: add esi, 1; mov eax, 1000; xor edx, edx
    //      div cx               (the helper; #DE once CX is 0)
    //      add edi, eax; dec ecx; jns top; hlt
    let mut code = vec![0xB9, 0x2C, 0x01, 0, 0, 0x31, 0xF6, 0x31, 0xFF];
    let top = code.len();
    code.extend_from_slice(&[0x83, 0xC6, 0x01, 0xB8, 0xE8, 0x03, 0, 0, 0x31, 0xD2]);
    code.extend_from_slice(&[0x66, 0xF7, 0xF1, 0x01, 0xC7, 0x49]);
    let rel = top as i64 - (code.len() as i64 + 2);
    code.extend_from_slice(&[0x79, rel as i8 as u8, 0xF4]);
    let what = "helper call that faults";
    let (i, j) = both(&code, host, what, true)?;
    let frame = |c: &Cpu| {
        let mut b = [0u8; 12];
        c.mem.read_bytes(c.state.gpr[reg::ESP], &mut b);
        b
    };
    let ctx = |x: &str| format!("{what}: {x}");
    same(&i.state.eip, &j.state.eip, || ctx("EIP"))?;
    same(&i.state.flags(), &j.state.flags(), || ctx("flags"))?;
    same(&frame(&i), &frame(&j), || ctx("interrupt frame"))?;
    same(&301, &j.state.gpr[reg::ESI], || ctx("turns"))?;
    let div_at = CODE + top as u32 + 10;
    same(
        &div_at.to_le_bytes(),
        &frame(&j)[..4].try_into().unwrap(),
        || ctx("the EIP pushed"),
    )?;
    let st = stats(&j)?;
    holds(
        st.traps == 0 && st.helper_calls > 200 && st.helper_exits >= 1,
        what,
        &st,
    )?;
    let fault_calls = st.helper_calls;

    // ecx = 300; eax = 0; esi = DATA
    // top: mov edx, 1
    //      xadd [esi], edx      (the helper; writes the immediate below once ESI
    //                            points there)
    //      add eax, imm32       (compiled with the immediate it had)
    //      cmp ecx, 100; jne skip; mov esi, <address of the imm32>
    // skip: dec ecx; jnz top; hlt
    let mut code = vec![0xB9, 0x2C, 0x01, 0, 0, 0x31, 0xC0, 0xBE];
    code.extend_from_slice(&DATA.to_le_bytes());
    let top = code.len();
    let imm_at = CODE + top as u32 + 5 + 3 + 1;
    code.extend_from_slice(&[0xBA, 1, 0, 0, 0, 0x0F, 0xC1, 0x16]);
    code.extend_from_slice(&[0x05, 1, 0, 0, 0]);
    code.extend_from_slice(&[0x83, 0xF9, 100, 0x75, 5, 0xBE]);
    code.extend_from_slice(&imm_at.to_le_bytes());
    code.push(0x49);
    let rel = top as i64 - (code.len() as i64 + 2);
    code.extend_from_slice(&[0x75, rel as i8 as u8, 0xF4]);
    let what = "helper call that writes its own code";
    let (_, j) = both(&code, host, what, true)?;
    // 201 iterations add 1, then the immediate counts up from 2 to 100.
    same(
        &(201 + (2..=100).sum::<u32>()),
        &j.state.gpr[reg::EAX],
        || format!("{what}: the sum"),
    )?;
    let st = stats(&j)?;
    holds(
        st.traps == 0 && st.invalidations > 0 && st.helper_exits > 0,
        what,
        &st,
    )?;
    Ok(format!(
        "helper calls that fault or write their code: ok ({fault_calls} and {} helper calls)",
        st.helper_calls
    ))
}

/// A hot loop around instructions the helper runs that generated code must leave
/// after: a near return with an immediate (a branch; `CALL r/m32` itself is
/// compiled), and a STOSD that patches the loop's own immediate (a write to its
/// own code page).
pub fn helper_branch(host: &Host) -> Result<String, String> {
    // mov ecx, 60; xor eax, eax; mov esi, SUB; mov edx, 1
    // top:  call esi; add eax, imm32 (patched); inc edx
    //       test cl, 15; jnz skip
    //       mov edi, imm32's address; push eax; mov eax, edx; stosd; pop eax
    // skip: dec ecx; jnz top; hlt
    // SUB:  add eax, 3; ret 0
    let sub = CODE + 0x100;
    let mut code = vec![0xB9, 60, 0, 0, 0, 0x31, 0xC0, 0xBE];
    code.extend_from_slice(&sub.to_le_bytes());
    code.extend_from_slice(&[0xBA, 1, 0, 0, 0]);
    let top = code.len() as i64;
    code.extend_from_slice(&[0xFF, 0xD6, 0x05, 0, 0, 0, 0]);
    let imm_at = CODE + code.len() as u32 - 4;
    code.extend_from_slice(&[0x42, 0xF6, 0xC1, 15, 0x75, 10, 0xBF]);
    code.extend_from_slice(&imm_at.to_le_bytes());
    code.extend_from_slice(&[0x50, 0x89, 0xD0, 0xAB, 0x58, 0x49]);
    code.extend_from_slice(&[0x75, (top - (code.len() as i64 + 2)) as i8 as u8, 0xF4]);
    code.resize(0x100, 0x90);
    code.extend_from_slice(&[0x83, 0xC0, 3, 0xC2, 0, 0]);
    let (_, j) = both(&code, host, "helper branch", true)?;
    // 60 calls of +3, and the immediate, EDX when ECX was a multiple of 16.
    let (mut want, mut imm, mut edx) = (0u32, 0u32, 1u32);
    for ecx in (1..=60u32).rev() {
        want += 3 + imm;
        edx += 1;
        if ecx % 16 == 0 {
            imm = edx;
        }
    }
    same(&want, &j.state.gpr[reg::EAX], || {
        "helper branch: the sum".into()
    })?;
    let st = stats(&j)?;
    holds(
        st.traps == 0 && st.modules > 0 && st.helper_exits > 0,
        "helper branch",
        &st,
    )?;
    Ok(format!(
        "helper branch: ok ({} helper calls, {} left after)",
        st.helper_calls, st.helper_exits
    ))
}

/// A loop that calls across three pages (relative, through memory, through a
/// register; the register's target a half page away), jumps between them and
/// returns, and halfway through patches the called page's code.
pub fn linked_pages_program() -> Vec<u8> {
    let f = CODE + 0x1000;
    let g = CODE + 0x2000;
    let mut code = vec![0xF4u8; 0x2010];
    let mut at = 0usize;
    let put = |code: &mut Vec<u8>, at: &mut usize, bytes: &[u8]| {
        code[*at..*at + bytes.len()].copy_from_slice(bytes);
        *at += bytes.len();
    };
    // mov ecx, 300; xor eax, eax; xor edx, edx
    put(
        &mut code,
        &mut at,
        &[0xB9, 0x2C, 0x01, 0, 0, 0x31, 0xC0, 0x31, 0xD2],
    );
    // mov dword [ebx], f; mov edi, h
    let h = CODE + 0x800;
    put(&mut code, &mut at, &[0xC7, 0x03]);
    put(&mut code, &mut at, &f.to_le_bytes());
    put(&mut code, &mut at, &[0xBF]);
    put(&mut code, &mut at, &h.to_le_bytes());
    let top = at;
    // call f (relative), then through [ebx]
    let rel = f as i64 - (CODE as i64 + at as i64 + 5);
    put(&mut code, &mut at, &[0xE8]);
    put(&mut code, &mut at, &(rel as i32).to_le_bytes());
    put(&mut code, &mut at, &[0xFF, 0x53, 0x00]);
    // cmp ecx, 150; jne skip; mov dword [f+1], 5 (patches f's ADD)
    put(
        &mut code,
        &mut at,
        &[0x81, 0xF9, 150, 0, 0, 0, 0x75, 10, 0xC7, 0x05],
    );
    put(&mut code, &mut at, &(f + 1).to_le_bytes());
    put(&mut code, &mut at, &[5, 0, 0, 0]);
    // dec ecx; jnz top; hlt
    put(&mut code, &mut at, &[0x49, 0x0F, 0x85]);
    let rel = top as i64 - (at as i64 + 4);
    put(&mut code, &mut at, &(rel as i32).to_le_bytes());
    put(&mut code, &mut at, &[0xF4]);
    // f: add eax, 1; jmp g
    let mut at = 0x1000;
    put(&mut code, &mut at, &[0x05, 1, 0, 0, 0, 0xE9]);
    let rel = g as i64 - (CODE as i64 + at as i64 + 4);
    put(&mut code, &mut at, &(rel as i32).to_le_bytes());
    // g: add edx, eax; call edi (h); ret
    let mut at = 0x2000;
    put(&mut code, &mut at, &[0x01, 0xC2, 0xFF, 0xD7, 0xC3]);
    // h: inc esi; ret
    let mut at = 0x800;
    put(&mut code, &mut at, &[0x46, 0xC3]);
    code
}

/// [`linked_pages_program`]: calls, jumps and returns across the compiled pages
/// go from module to module through the entry table (when `linking`: the host
/// has one; else none may be counted); the write to the called page halfway
/// drops its module (and its element) and the new code is what runs. The same
/// result as the interpreter's either way, and no module evicted.
pub fn linked_pages(host: &Host, linking: bool) -> Result<String, String> {
    let code = linked_pages_program();
    let (i, j) = both(&code, host, "linked pages", true)?;
    let ctx = |what: &str| format!("linked pages: {what}");
    same(&i.state.flags(), &j.state.flags(), || ctx("flags"))?;
    same(&i.state.eip, &j.state.eip, || ctx("EIP"))?;
    // 302 calls before the patch add 1 (two a turn), 298 after it add 5.
    same(&(302 + 298 * 5), &j.state.gpr[reg::EAX], || ctx("the sum"))?;
    same(&600, &j.state.gpr[reg::ESI], || ctx("calls of h"))?;
    let st = stats(&j)?;
    // Most page changes go module to module (each turn makes six of them).
    let linked_ok = if linking {
        st.links > 600 && st.calls * 10 < st.links
    } else {
        st.links == 0
    };
    holds(
        st.traps == 0 && st.invalidations >= 1 && linked_ok && st.evictions == 0,
        "linked pages",
        &st,
    )?;
    Ok(format!(
        "linked pages: ok ({} calls, {} linked jumps, {} invalidated)",
        st.calls, st.links, st.invalidations
    ))
}

/// [`linked_pages_program`] with room for fewer modules than its three hot
/// pages (each of `bounds`): installing one drops the least recently entered
/// (and its links); those pages run interpreted, become hot again and compile
/// again (more modules than pages), and the results stay the interpreter's.
pub fn bounded_modules(host: &Host, bounds: &[usize]) -> Result<String, String> {
    let code = linked_pages_program();
    let i = run(&code, None, None)?;
    let mut evicted = Vec::new();
    for &bound in bounds {
        let j = run(&code, Some(host), Some(bound))?;
        let ctx = |what: &str| format!("linked pages, {bound} modules at most: {what}");
        same(&i.state.gpr, &j.state.gpr, || ctx("registers"))?;
        same(&i.state.icount, &j.state.icount, || {
            ctx("instruction count")
        })?;
        same(&i.state.flags(), &j.state.flags(), || ctx("flags"))?;
        let st = stats(&j)?;
        holds(
            st.evictions >= 2 && st.modules > 3 && st.instructions > 0 && st.traps == 0,
            &ctx("counters"),
            &st,
        )?;
        evicted.push(format!("{bound}: {} evicted", st.evictions));
    }
    Ok(format!("bounded modules: ok ({})", evicted.join(", ")))
}

/// Every check above but [`random_sequences`], in order; the summaries joined
/// by "; ". `linking`: the host has an entry table (see [`linked_pages`]).
pub fn fixed_programs(host: &Host, linking: bool) -> Result<String, String> {
    let checks: [&dyn Fn() -> Result<String, String>; 7] = [
        &|| self_modifying_loop(host),
        &|| self_modifying_nested_loop(host),
        &|| grouped_writes_to_a_code_page(host),
        &|| helper_calls_that_fault_or_write_their_own_code(host),
        &|| helper_branch(host),
        &|| linked_pages(host, linking),
        &|| bounded_modules(host, &[1, 2]),
    ];
    let mut out = Vec::new();
    for c in checks {
        out.push(c()?);
    }
    Ok(out.join("; "))
}

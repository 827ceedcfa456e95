//! The WebAssembly JIT against the interpreter: the same programs run both ways
//! (generated code natively through wasmtime) and must end in the same state.
//!
//! - the native ground-truth programs (`tests/native/`), compiled after 2 runs of a
//!   block, must print exactly what the interpreter prints;
//! - random straight-line sequences of instruction forms the JIT compiles (ALU,
//!   shifts and ROL/ROR in all sizes, IMUL, MUL/IMUL into EDX:EAX, DIV/IDIV,
//!   MOVZX/MOVSX, SETcc, CMOVcc, Jcc, PUSH/POP, PUSH r/m32, LEAVE, BSWAP, XCHG,
//!   BT/BTS/BTR/BTC, SHLD/SHRD, RDTSC (with an odd time base), CLD/STD, CMPXCHG
//!   (LOCKed too), PAUSE, LFENCE, LOCK ADD, memory operands in all sizes, FS/GS
//!   overrides with non-zero bases, one wrapping around 4 GiB and sometimes with a
//!   limit) and of forms it hands to the interpreter through its helper (RCL/RCR,
//!   SHLD/SHRD of words, string instructions with and without REP, POP r/m32,
//!   CLI, STI, x87, XADD) run in a hot loop and
//!   must leave the same registers, flags and memory, once with the data in one
//!   page and once, with paging on, straddling two pages whose frames are apart;
//! - grouped accesses whose page turns out to hold compiled code still write
//!   through the interpreter;
//! - self-modifying code in a hot loop drops the compiled page and still computes
//!   what the interpreter computes;
//! - a hot loop with STI or MOV SS holds a pending interrupt for exactly one
//!   instruction after them, as the interpreter does;
//! - an instruction run through the helper that faults, or that writes to its own
//!   code page, makes generated code leave with the interpreter's state.
//! - calls (relative, through memory and a register), jumps and returns between
//!   three compiled pages go from module to module through the entry table, and
//!   a write to the called page unlinks its module;
//! - with PAE paging and NXE, a hot page called from a compiled loop faults with
//!   #PF(P|I/D) once its PTE has XD (after INVLPG), even with a TLB entry left by
//!   a data read of that page, as in the interpreter.

use tab86_cpu::state::{reg, sreg};
use tab86_cpu::{Cpu, Exit, NullBus};
use tab86_jit_wasmtime::WasmtimeHost;

fn attach(cpu: &mut Cpu, hot: u32) {
    let a = cpu.mem.arena().clone();
    let host = WasmtimeHost::new(a.ptr(), a.len(), a.clone()).expect("wasmtime host");
    cpu.set_jit(Box::new(host), None);
    cpu.set_jit_threshold(hot);
}

#[test]
fn native_programs_match_the_interpreter() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("native");
    let mut jitted = 0;
    for name in [
        "alu", "muldiv", "bits", "stack", "stack16", "misc", "shift", "bcd", "string",
    ] {
        let img = match tab86_tests::native::built_image(&dir, name) {
            Ok(i) => i,
            Err(e) if std::env::var_os("CI").is_none() => {
                eprintln!("\n!!!!! SKIPPING jit native test: {e}\n");
                return;
            }
            Err(e) => panic!("native suite cannot be built in CI: {e}"),
        };
        let want = tab86_tests::native::run_elf(&img, 200_000_000);
        let got = tab86_tests::native::run_elf_with(&img, 200_000_000, &mut |c| attach(c, 2));
        let stats = got.jit.expect("jit stats");
        eprintln!("jit {name}: {stats:?}");
        assert_eq!(got.error, want.error, "{name}");
        assert_eq!(got.exit, want.exit, "{name}");
        let (w, g) = (
            String::from_utf8_lossy(&want.stdout),
            String::from_utf8_lossy(&got.stdout),
        );
        for (a, b) in w.lines().zip(g.lines()) {
            assert_eq!(a, b, "{name}: first differing line");
        }
        assert_eq!(w.lines().count(), g.lines().count(), "{name}");
        assert_eq!(stats.traps, 0, "{name}");
        jitted += stats.instructions;
    }
    assert!(
        jitted > 1_000_000,
        "generated code ran only {jitted} instructions"
    );
}

/// A small deterministic generator (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 16) as u32
    }
    fn below(&mut self, n: u32) -> u32 {
        self.next() % n
    }
}

/// Registers random code may write: not ESP (4) or EBX (3, the data pointer).
const DST: [u8; 6] = [0, 1, 2, 5, 6, 7];

fn modrm(md: u8, reg: u8, rm: u8) -> u8 {
    md << 6 | (reg & 7) << 3 | (rm & 7)
}

/// One random instruction; memory operands are `[ebx + disp8]` in the data area.
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
            match r.below(3) {
                0 => {
                    out.push(0xC1);
                    rm(out, ext, d);
                    out.push(r.below(40) as u8);
                }
                1 => {
                    out.push(0xD1);
                    rm(out, ext, d);
                }
                _ => {
                    out.push(0xD3);
                    rm(out, ext, d);
                }
            }
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
            match r.below(3) {
                0 => {
                    out.push(0xC0 | w);
                    rm(out, ext, dst);
                    out.push(r.below(40) as u8);
                }
                1 => {
                    out.push(0xD0 | w);
                    rm(out, ext, dst);
                }
                _ => {
                    out.push(0xD2 | w);
                    rm(out, ext, dst);
                }
            }
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
            match r.below(3) {
                0 => {
                    out.push(0xD0 | wide);
                    rm(out, k, d);
                }
                1 => {
                    out.push(0xD2 | wide);
                    rm(out, k, d);
                }
                _ => {
                    out.push(0xC0 | wide);
                    rm(out, k, d);
                    out.push(r.below(40) as u8);
                }
            }
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

const CODE: u32 = 0x20_0000;
const DATA: u32 = 0x30_0000;
/// Where paging puts the linear page after `DATA`'s (see [`page_scrambled`]).
const FAR: u32 = 0x38_0000;

/// The physical address of linear `lin` under [`page_scrambled`].
fn scrambled(lin: u32) -> u32 {
    if lin >> 12 == (DATA >> 12) + 1 {
        FAR | (lin & 0xFFF)
    } else {
        lin
    }
}

/// Turns paging on: linear = physical for the harness's 32 MiB, except the page
/// after `DATA`'s, mapped to `FAR`. Code that took consecutive linear pages for
/// consecutive frames then touches the wrong memory.
fn page_scrambled(cpu: &mut Cpu) {
    const PD: u32 = 0x8_0000;
    let mut pd = Vec::new();
    let mut pt = Vec::new();
    for t in 0..8u32 {
        pd.extend_from_slice(&((PD + 0x1000 * (t + 1)) | 7).to_le_bytes());
        for i in 0..1024u32 {
            let lin = (t << 22) | (i << 12);
            pt.extend_from_slice(&(scrambled(lin) | 7).to_le_bytes());
        }
    }
    cpu.mem.write_bytes(PD, &pd);
    cpu.mem.write_bytes(PD + 0x1000, &pt);
    cpu.set_cr3(PD).expect("CR3");
    cpu.set_cr0(cpu.state.cr0 | tab86_cpu::state::cr::PG)
        .expect("paging on");
}

/// Runs `code` (ending in HLT) to completion and returns the CPU.
fn run(code: &[u8], jit: bool) -> Cpu {
    run_bounded(code, jit, None)
}

/// [`run`], with at most `max_modules` modules loaded when given.
fn run_bounded(code: &[u8], jit: bool, max_modules: Option<usize>) -> Cpu {
    let mut cpu = tab86_tests::native::flat_cpu(code, CODE).expect("flat cpu");
    cpu.state.gpr[reg::EBX] = DATA;
    if jit {
        attach(&mut cpu, 3);
        if let Some(n) = max_modules {
            cpu.set_jit_max_modules(n);
        }
    }
    match cpu.run(&mut NullBus, 10_000_000) {
        Exit::Halted | Exit::HaltedNoWake => {}
        e => panic!("{e:?} at {:#x}", cpu.state.eip),
    }
    cpu
}

#[test]
fn random_sequences_match_the_interpreter() {
    // The differential fuzzer: 60 sequences by default (seeds 1-60, the same on
    // every run); with TAB86_FUZZ_SECS, as many as fit in that time, from the
    // printed TAB86_FUZZ_SEED (or the clock). JS and JN set the sequence count
    // and the instructions per sequence.
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let deadline = env("TAB86_FUZZ_SECS")
        .map(|s| std::time::Instant::now() + std::time::Duration::from_secs(s));
    let base = match deadline {
        Some(_) => env("TAB86_FUZZ_SEED").unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        }),
        None => 0,
    };
    let count = env("JS").unwrap_or(if deadline.is_some() { u64::MAX } else { 60 });
    let mut total_jit = 0;
    let mut total_helper = 0;
    let mut sequences = 0u64;
    for seed in (1..=count).map(|i| base.wrapping_add(i)) {
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            break;
        }
        sequences += 1;
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
        for _ in 0..std::env::var("JN")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(12)
        {
            random_insn(&mut r, &mut code);
        }
        // dec dword [ebx+0x7C]; jnz top; hlt
        code.extend_from_slice(&[0xFF, 0x4B, 0x7C]);
        let rel = top as i64 - (code.len() as i64 + 6);
        code.extend_from_slice(&[0x0F, 0x85]);
        code.extend_from_slice(&(rel as i32).to_le_bytes());
        code.push(0xF4);
        let init: Vec<u8> = (0..0x7C).map(|_| r.next() as u8).collect();
        // The data area in one page, then straddling a page boundary with paging on
        // (accesses through EBX then span two pages, some cross it, and the second
        // page's frame is far from the first's).
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
            let prep = |jit: bool| {
                let mut cpu = tab86_tests::native::flat_cpu(&code, CODE).expect("flat cpu");
                if paged {
                    page_scrambled(&mut cpu);
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
                    attach(&mut cpu, 3);
                }
                match cpu.run(&mut NullBus, 10_000_000) {
                    Exit::Halted | Exit::HaltedNoWake => {}
                    e => panic!("seed {seed} (jit {jit}): {e:?} at {:#x}", cpu.state.eip),
                }
                cpu
            };
            let i = prep(false);
            let j = prep(true);
            let (mi, mj) = (read(&i), read(&j));
            let ctx = || {
                format!(
                    "seed {seed}, data at {data:#x}: code {}",
                    code.iter().map(|b| format!("{b:02x}")).collect::<String>()
                )
            };
            assert_eq!(i.state.gpr, j.state.gpr, "{}", ctx());
            assert_eq!(i.state.flags(), j.state.flags(), "{}", ctx());
            assert_eq!(i.state.eip, j.state.eip, "{}", ctx());
            assert_eq!(i.state.icount, j.state.icount, "{}", ctx());
            assert_eq!(mi, mj, "{}", ctx());
            let st = j.jit_stats().unwrap();
            assert_eq!(st.traps, 0);
            total_jit += st.instructions;
            total_helper += st.helper_calls;
        }
    }
    assert!(
        total_jit > 10_000,
        "generated code ran only {total_jit} instructions"
    );
    assert!(
        total_helper > 1_000,
        "generated code called the interpreter only {total_helper} times"
    );
    eprintln!(
        "random sequences: {sequences} (seeds from {base}), {total_jit} instructions in generated code, {total_helper} helper calls"
    );
}

#[test]
fn self_modifying_loop_drops_the_compiled_page() {
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
    let i = run(&code, false);
    let j = run(&code, true);
    assert_eq!(i.state.gpr, j.state.gpr);
    // 1 + 2 + ... + 300
    assert_eq!(j.state.gpr[reg::EAX], 300 * 301 / 2);
    assert_eq!(j.jit_stats().unwrap().traps, 0);
}

/// Calls (relative, through memory, through a register), jumps and returns
/// across three compiled pages go from module to module
/// through the entry table; a write to the called page in the middle of the
/// loop drops its module (and its table element) and the new code is what runs.
#[test]
fn linked_pages_follow_calls_jumps_returns_and_invalidation() {
    let code = linked_pages_program();
    let i = run(&code, false);
    let j = run(&code, true);
    assert_eq!(i.state.gpr, j.state.gpr);
    assert_eq!(i.state.icount, j.state.icount);
    assert_eq!(i.state.flags(), j.state.flags());
    // 302 calls before the patch add 1 (two a turn), 298 after it add 5.
    assert_eq!(j.state.gpr[reg::EAX], 302 + 298 * 5);
    assert_eq!(j.state.gpr[reg::ESI], 600);
    let st = j.jit_stats().unwrap();
    assert_eq!(st.traps, 0, "{st:?}");
    assert!(st.invalidations >= 1, "{st:?}");
    assert_eq!(st.evictions, 0, "{st:?}");
    // Most page changes go module to module (each call is three of them).
    assert!(st.links > 600, "{st:?}");
    assert!(st.calls * 10 < st.links, "{st:?}");
}

/// With room for fewer modules than the three hot pages, installing one drops the
/// least recently entered (and its links); those pages run interpreted, become hot
/// again and compile again, and the results stay the interpreter's.
#[test]
fn a_bound_on_loaded_modules_evicts_the_least_recent_and_stays_exact() {
    let code = linked_pages_program();
    let i = run(&code, false);
    for bound in [1, 2] {
        let j = run_bounded(&code, true, Some(bound));
        assert_eq!(i.state.gpr, j.state.gpr, "bound {bound}");
        assert_eq!(i.state.icount, j.state.icount, "bound {bound}");
        assert_eq!(i.state.flags(), j.state.flags(), "bound {bound}");
        let st = j.jit_stats().unwrap();
        assert!(st.evictions >= 2, "bound {bound}: {st:?}");
        // Evicted pages compile again: more modules than pages.
        assert!(st.modules > 3, "bound {bound}: {st:?}");
        assert!(
            st.instructions > 0 && st.traps == 0,
            "bound {bound}: {st:?}"
        );
    }
}

/// A loop that calls across three pages (relative, through memory, through a
/// register), jumps between them and returns, and halfway through patches the
/// called page's code.
fn linked_pages_program() -> Vec<u8> {
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

#[test]
fn grouped_writes_to_a_code_page_leave_through_the_interpreter() {
    // ecx = 300; ebx = 0; esi = DATA;
    // top:  add ebx, imm32 (imm 1, patched later)
    //       mov eax, [esi]; add eax, 1; mov [esi], eax
    //       cmp ecx, 100; jne skip; mov esi, <address of the imm32>
    // skip: dec ecx; jnz top; hlt
    // The read and the write through ESI form one translation group. Once the
    // page is compiled, ESI moves to the code itself: the group's writes must then
    // go through the interpreter, which drops the stale compiled immediate.
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
    let i = run(&code, false);
    let j = run(&code, true);
    assert_eq!(i.state.gpr, j.state.gpr);
    // 201 iterations add 1, then the immediate counts up from 1 to 99.
    assert_eq!(j.state.gpr[reg::EBX], 201 + (1..=99).sum::<u32>());
    assert_eq!(j.jit_stats().unwrap().traps, 0);
    assert!(j.jit_stats().unwrap().instructions > 500);
}

#[test]
fn helper_calls_that_fault_or_write_their_own_code_leave() {
    // ecx = 300; esi = 0; edi = 0
    // top: add esi, 1; mov eax, 1000; xor edx, edx
    //      div cx               (the helper; #DE once CX is 0)
    //      add edi, eax; dec ecx; jns top; hlt
    // The divide error goes to the HLT stub of vector 0 with the DIV's EIP pushed.
    let mut code = vec![0xB9, 0x2C, 0x01, 0, 0, 0x31, 0xF6, 0x31, 0xFF];
    let top = code.len();
    code.extend_from_slice(&[0x83, 0xC6, 0x01, 0xB8, 0xE8, 0x03, 0, 0, 0x31, 0xD2]);
    code.extend_from_slice(&[0x66, 0xF7, 0xF1, 0x01, 0xC7, 0x49]);
    let rel = top as i64 - (code.len() as i64 + 2);
    code.extend_from_slice(&[0x79, rel as i8 as u8, 0xF4]);
    let i = run(&code, false);
    let j = run(&code, true);
    let frame = |c: &Cpu| {
        let mut b = [0u8; 12];
        c.mem.read_bytes(c.state.gpr[reg::ESP], &mut b);
        b
    };
    assert_eq!(i.state.gpr, j.state.gpr);
    assert_eq!(i.state.eip, j.state.eip);
    assert_eq!(i.state.icount, j.state.icount);
    assert_eq!(i.state.flags(), j.state.flags());
    assert_eq!(frame(&i), frame(&j));
    assert_eq!(j.state.gpr[reg::ESI], 301);
    let div_at = CODE + top as u32 + 10;
    assert_eq!(frame(&j)[..4], div_at.to_le_bytes());
    let st = j.jit_stats().unwrap();
    assert_eq!(st.traps, 0);
    assert!(st.helper_calls > 200, "{st:?}");
    assert!(st.helper_exits >= 1, "{st:?}");

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
    let i = run(&code, false);
    let j = run(&code, true);
    assert_eq!(i.state.gpr, j.state.gpr);
    assert_eq!(i.state.icount, j.state.icount);
    // 201 iterations add 1, then the immediate counts up from 2 to 100.
    assert_eq!(j.state.gpr[reg::EAX], 201 + (2..=100).sum::<u32>());
    let st = j.jit_stats().unwrap();
    assert_eq!(st.traps, 0);
    assert!(st.invalidations > 0, "{st:?}");
    assert!(st.helper_exits > 0, "{st:?}");
    assert!(st.helper_exits > 0, "{st:?}");
}

/// A host that compiles like a background one but hands each module back only
/// after `delay` polls, so the CPU must keep interpreting meanwhile, install
/// modules late, and discard those whose page was written in between.
struct Delayed {
    inner: WasmtimeHost,
    delay: u32,
    queue: Vec<(u32, Vec<u8>, u32)>,
    next: u32,
}

impl tab86_cpu::jit::JitHost for Delayed {
    fn arena_base(&self) -> u32 {
        self.inner.arena_base()
    }
    fn load(&mut self, wasm: &[u8]) -> Result<u32, String> {
        self.inner.load(wasm)
    }
    fn submit(&mut self, wasm: Vec<u8>) -> tab86_cpu::jit::Submitted {
        self.next += 1;
        self.queue.push((self.next, wasm, self.delay));
        tab86_cpu::jit::Submitted::Pending(self.next)
    }
    fn finished(&mut self, out: &mut Vec<tab86_cpu::jit::Finished>) {
        let mut i = 0;
        while i < self.queue.len() {
            if self.queue[i].2 == 0 {
                let (ticket, wasm, _) = self.queue.remove(i);
                out.push(tab86_cpu::jit::Finished {
                    ticket,
                    result: self.inner.load(&wasm),
                    compile_ns: 0,
                });
            } else {
                self.queue[i].2 -= 1;
                i += 1;
            }
        }
    }
    fn run(&mut self, handle: u32, helper: &mut tab86_cpu::jit::Helper<'_>) -> Result<i32, String> {
        self.inner.run(handle, helper)
    }
    fn unload(&mut self, handle: u32) {
        self.inner.unload(handle)
    }
}

/// Runs `code` to its HLT in slices of `slice` instructions (the CPU collects
/// finished modules between slices) with a host that delays every module.
fn run_delayed(code: &[u8], delay: u32, slice: u64) -> Cpu {
    let mut cpu = tab86_tests::native::flat_cpu(code, CODE).expect("flat cpu");
    cpu.state.gpr[reg::EBX] = DATA;
    let a = cpu.mem.arena().clone();
    let inner = WasmtimeHost::new(a.ptr(), a.len(), a.clone()).expect("wasmtime host");
    cpu.set_jit(
        Box::new(Delayed {
            inner,
            delay,
            queue: Vec::new(),
            next: 0,
        }),
        None,
    );
    cpu.set_jit_threshold(3);
    for _ in 0..1_000_000 {
        match cpu.run(&mut NullBus, slice) {
            Exit::Halted | Exit::HaltedNoWake => return cpu,
            Exit::Budget => {}
            e => panic!("{e:?} at {:#x}", cpu.state.eip),
        }
    }
    panic!("no HLT at {:#x}", cpu.state.eip)
}

#[test]
fn modules_compiled_in_the_background_are_installed_late_or_discarded() {
    // A plain hot loop: ecx = 5000; loop: add eax, ecx; xor eax, 0x55; dec ecx; jnz loop; hlt
    let code = [
        0xB9, 0x88, 0x13, 0, 0, 0x01, 0xC8, 0x83, 0xF0, 0x55, 0x49, 0x75, 0xF8, 0xF4,
    ];
    let i = run(&code, false);
    let j = run_delayed(&code, 5, 40);
    assert_eq!(i.state.gpr, j.state.gpr);
    assert_eq!(i.state.icount, j.state.icount);
    let s = j.jit_stats().unwrap();
    assert!(s.instructions > 1000, "late module never ran: {s:?}");
    assert_eq!(s.discarded, 0, "{s:?}");

    // The same loop writing once into its own page (not its code) while the
    // page's module is still compiling: the result must be discarded, the page
    // compiled again, and the answer still the interpreter's.
    let mut code = vec![0xB9, 0x2C, 0x01, 0, 0, 0x31, 0xC0];
    let top = code.len();
    code.extend_from_slice(&[0x01, 0xC8]); // add eax, ecx
    code.extend_from_slice(&[0x81, 0xF9, 250, 0, 0, 0]); // cmp ecx, 250
    code.extend_from_slice(&[0x75, 0x06, 0x89, 0x0D]); // jne skip; mov [same page], ecx
    code.extend_from_slice(&((CODE & !0xFFF) + 0x800).to_le_bytes());
    code.push(0x49); // skip: dec ecx
    let rel = top as i64 - (code.len() as i64 + 2);
    code.extend_from_slice(&[0x75, rel as i8 as u8, 0xF4]);
    const { assert!(CODE & 0xFFF < 0x700) };
    let i = run(&code, false);
    let j = run_delayed(&code, 50, 7);
    assert_eq!(i.state.gpr, j.state.gpr);
    assert_eq!(j.state.gpr[reg::EAX], 300 * 301 / 2);
    let s = j.jit_stats().unwrap();
    assert!(s.discarded > 0, "{s:?}");
    assert!(s.instructions > 100, "recompiled module never ran: {s:?}");
    assert_eq!(s.traps, 0);
}

/// Runs the hot loop at CODE (prologue of `pre` instructions, `per` per iteration)
/// with the JIT until generated code has run, stopping `at` instructions into an
/// iteration; then raises INTR (vector 0x50) and runs to the handler's HLT.
/// Returns the CPU and the EIP the interrupt frame holds.
fn interrupt_in_hot_loop(code: &[u8], pre: u64, per: u64, at: u64) -> (Cpu, u32) {
    let mut cpu = tab86_tests::native::flat_cpu(code, CODE).expect("flat cpu");
    attach(&mut cpu, 2);
    let mut bus = tab86_tests::syskernel::TestBus::default();
    assert_eq!(cpu.run(&mut bus, pre + at), Exit::Budget);
    for _ in 0..1000 {
        assert_eq!(cpu.run(&mut bus, per * 100), Exit::Budget);
        if cpu.jit_stats().is_some_and(|s| s.instructions > 0) {
            break;
        }
    }
    assert!(
        cpu.jit_stats().expect("jit").instructions > 0,
        "never compiled"
    );
    bus.intr = Some(0x50);
    let e = cpu.run(&mut bus, 1000);
    assert!(matches!(e, Exit::Halted | Exit::HaltedNoWake), "{e:?}");
    assert_eq!(
        cpu.state.eip,
        0x3000 + 0x50 + 1,
        "stopped in the vector 0x50 stub"
    );
    let mut b = [0u8; 4];
    cpu.mem.read_bytes(cpu.state.gpr[reg::ESP], &mut b);
    (cpu, u32::from_le_bytes(b))
}

#[test]
fn sti_in_a_hot_loop_holds_an_interrupt_for_one_instruction() {
    // xor eax,eax; mov ebx,0x7fffffff
    // loop: cli; inc eax; sti; inc ecx; inc edx; cli; dec ebx; jnz loop; hlt
    let code = [
        0x31, 0xC0, 0xBB, 0xFF, 0xFF, 0xFF, 0x7F, 0xFA, 0x40, 0xFB, 0x41, 0x42, 0xFA, 0x4B, 0x75,
        0xF7, 0xF4,
    ];
    // Stopped at the top of an iteration (IF = 0): the interrupt waits for STI
    // and then for INC ECX, and comes before INC EDX.
    let (cpu, eip) = interrupt_in_hot_loop(&code, 2, 8, 0);
    assert_eq!(eip, CODE + 11);
    let g = cpu.state.gpr;
    assert_eq!(g[reg::ECX], g[reg::EAX]);
    assert_eq!(g[reg::EDX], g[reg::EAX] - 1);
}

#[test]
fn mov_ss_in_a_hot_loop_holds_an_interrupt_for_one_instruction() {
    // mov eax,0x10; sti; mov ebx,0x7fffffff
    // loop: mov ss,ax; inc ecx; inc edx; dec ebx; jnz loop; hlt
    let code = [
        0xB8, 0x10, 0x00, 0x00, 0x00, 0xFB, 0xBB, 0xFF, 0xFF, 0xFF, 0x7F, 0x8E, 0xD0, 0x41, 0x42,
        0x4B, 0x75, 0xF9, 0xF4,
    ];
    // Stopped right after a MOV SS (IF = 1): the interrupt comes after INC ECX.
    let (cpu, eip) = interrupt_in_hot_loop(&code, 3, 5, 1);
    assert_eq!(eip, CODE + 14);
    let g = cpu.state.gpr;
    assert_eq!(g[reg::ECX], g[reg::EDX] + 1);
}

/// PAE paging with NXE for [`xd_page_faults_after_a_hot_loop_called_it`]: 2 MiB
/// identity pages for the harness's 32 MiB, except 2-4 MiB (CODE's), mapped by
/// 4 KiB identity pages. Returns the physical address of the PTE of `lin`.
fn page_pae_nx(cpu: &mut Cpu, lin: u32) -> u32 {
    const PDPT: u32 = 0x9_0000;
    const PD: u32 = 0x9_1000;
    const PT: u32 = 0x9_2000;
    let w64 = |cpu: &mut Cpu, a: u32, v: u64| cpu.mem.write_bytes(a, &v.to_le_bytes());
    w64(cpu, PDPT, PD as u64 | 1);
    for i in 0..16u32 {
        w64(cpu, PD + 8 * i, (i as u64) << 21 | 0x83);
    }
    w64(cpu, PD + 8, PT as u64 | 3);
    for i in 0..512u32 {
        w64(cpu, PT + 8 * i, (0x20_0000 + (i << 12)) as u64 | 3);
    }
    cpu.write_msr(tab86_cpu::msr::EFER, tab86_cpu::msr::EFER_NXE)
        .expect("EFER.NXE");
    cpu.set_cr4(tab86_cpu::state::cr::PAE).expect("CR4.PAE");
    cpu.set_cr3(PDPT).expect("CR3");
    cpu.set_cr0(cpu.state.cr0 | tab86_cpu::state::cr::PG)
        .expect("paging on");
    PT + 8 * ((lin >> 12) & 0x1FF)
}

#[test]
fn xd_page_faults_after_a_hot_loop_called_it() {
    // FN (the next page): inc eax; ret. The loop calls it 300 times, so both pages
    // are hot; then the guest sets XD in FN's PTE (high dword bit 31), INVLPG, reads
    // FN's page (a data read of an XD page works and caches the translation) and
    // calls FN once more: the fetch must take #PF(P|I/D), which the harness's stub
    // for vector 14 turns into a HLT at 0x3000 + 14.
    const FN: u32 = CODE + 0x1000;
    let pte = 0x9_2000 + 8 * ((FN >> 12) & 0x1FF);
    // ecx = 300; xor eax, eax
    let mut code = vec![0xB9, 0x2C, 0x01, 0, 0, 0x31, 0xC0];
    let top = code.len() as u32;
    code.push(0xE8); // call FN
    let rel = FN.wrapping_sub(CODE + top + 5);
    code.extend_from_slice(&rel.to_le_bytes());
    code.push(0x49); // dec ecx
    let back = top as i64 - (code.len() as i64 + 2);
    code.extend_from_slice(&[0x75, back as i8 as u8]); // jnz top
    code.extend_from_slice(&[0xC7, 0x05]); // mov dword [pte + 4], 0x80000000
    code.extend_from_slice(&(pte + 4).to_le_bytes());
    code.extend_from_slice(&0x8000_0000u32.to_le_bytes());
    code.extend_from_slice(&[0x0F, 0x01, 0x3D]); // invlpg [FN]
    code.extend_from_slice(&FN.to_le_bytes());
    code.extend_from_slice(&[0x8B, 0x15]); // mov edx, [FN]
    code.extend_from_slice(&FN.to_le_bytes());
    let at = code.len() as u32;
    code.push(0xE8); // call FN
    code.extend_from_slice(&FN.wrapping_sub(CODE + at + 5).to_le_bytes());
    code.push(0xF4);
    let mut results = Vec::new();
    for jit in [false, true] {
        let mut c = tab86_tests::native::flat_cpu(&[], CODE).expect("flat cpu");
        assert_eq!(page_pae_nx(&mut c, FN), pte);
        c.mem.write_bytes(CODE, &code);
        c.mem.write_bytes(FN, &[0x40, 0xC3]); // inc eax; ret
        if jit {
            attach(&mut c, 3);
        }
        let e = c.run(&mut NullBus, 1_000_000);
        assert!(matches!(e, Exit::Halted | Exit::HaltedNoWake), "{e:?}");
        assert_eq!(c.state.eip, 0x3000 + 14 + 1, "halted in the #PF stub");
        assert_eq!(c.state.cr2, FN);
        assert_eq!(c.state.gpr[reg::EAX], 300);
        assert_eq!(c.state.gpr[reg::EDX], 0xC340, "data read from the XD page");
        let esp = c.state.gpr[reg::ESP];
        let mut frame = [0u8; 8];
        frame.copy_from_slice(&c.mem.ram()[esp as usize..esp as usize + 8]);
        let err = u32::from_le_bytes(frame[..4].try_into().unwrap());
        let eip = u32::from_le_bytes(frame[4..].try_into().unwrap());
        assert_eq!((err, eip), (0x11, FN), "#PF(P|I/D) at FN");
        if jit {
            let s = c.jit_stats().unwrap();
            assert_eq!(s.traps, 0);
            assert!(
                s.instructions > 500,
                "{} instructions compiled",
                s.instructions
            );
        }
        results.push(c.state.gpr);
    }
    assert_eq!(results[0], results[1]);
}

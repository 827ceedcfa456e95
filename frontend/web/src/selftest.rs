//! Checks of the JavaScript JIT host that must run inside the JavaScript engine
//! (frontend/cli/tests/node_jit.rs calls [`jit_selftest`] under Node):
//!
//! - the host itself: the modules' memory is the arena inside this package's
//!   memory, and stays so after that memory grows; the helper import reaches the
//!   closure given to `run` (and nothing outside `run`); a trap is an error and the
//!   host goes on; unloaded handles are reused;
//! - the CPU with this host against the interpreter, the hotness threshold forced
//!   to 3 so every loop compiles: random straight-line sequences of instruction
//!   forms the JIT compiles and forms it hands to the interpreter through the
//!   helper, in a hot loop, with the data in one page and, with paging on,
//!   straddling two pages whose frames are far apart; and a self-modifying hot
//!   loop; a hot loop whose `RET imm16` (run by the helper) must make generated
//!   code leave, and a self-modifying hot loop whose patch is a string store
//!   (run by the helper into its own page); calls, jumps and returns across three
//!   compiled pages, linked through the entry table where the engine has tail
//!   calls, with the called page patched halfway. Registers, flags, EIP,
//!   instruction count and memory must be equal.
//! - the entry table (when the engine has tail calls): a module tail-calls the
//!   module linked at an element, the empty element returns 0, and unloading or
//!   relinking puts the empty element back.
//!
//! Shipped in the package (a few KiB) so that the tested code is the code users run.

use crate::jit::{tab86_jit_helper, Compile, JsHost};
use std::sync::Arc;
use tab86_cpu::jit::JitHost;
use tab86_cpu::state::{cr, reg, sreg, Segment, TableReg};
use tab86_cpu::{Cpu, Exit, NullBus, PhysMem};
use tab86_mmu::Arena;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Runs every check; `sequences` random sequences (each twice: one page, then
/// straddling). Returns a one-line summary, or throws the first difference.
#[wasm_bindgen]
pub fn jit_selftest(sequences: u32) -> Result<String, String> {
    let host = format!("{}; {}", host_checks(false)?, host_checks(true)?);
    let (jit, helper) = random_sequences(sequences)?;
    let smc = self_modifying_loop()?;
    let branch = helper_branch()?;
    let (table, linking) = link_checks()?;
    let links = format!("{table}; {}", linked_pages(linking)?);
    Ok(format!(
        "{host}; random sequences: {sequences} x 2, {jit} instructions in generated code, {helper} helper calls; {smc}; {branch}; {links}"
    ))
}

// ---- the host ---------------------------------------------------------------

fn uleb(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn sleb(out: &mut Vec<u8>, v: i32) {
    let mut v = v as i64;
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if (v == 0 && b & 0x40 == 0) || (v == -1 && b & 0x40 != 0) {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// A module shaped like the JIT's (imports `"e" "m"` and `"e" "h"`, exports
/// `"run"` `[] -> [i32]`) whose `run` body is `body` (without its `end`).
fn module(body: &[u8]) -> Vec<u8> {
    module_with(body, None)
}

/// [`module`], importing also the entry table `"e" "t"` of at least `table`
/// elements when given (as the JIT's modules do when the host links them).
fn module_with(body: &[u8], table: Option<u32>) -> Vec<u8> {
    fn section(out: &mut Vec<u8>, id: u8, payload: &[u8]) {
        out.push(id);
        uleb(out, payload.len() as u32);
        out.extend_from_slice(payload);
    }
    let mut w = b"\0asm\x01\0\0\0".to_vec();
    section(&mut w, 1, &[2, 0x60, 0, 1, 0x7F, 0x60, 1, 0x7F, 1, 0x7F]);
    let mut imports = vec![2, 1, b'e', 1, b'm', 2, 0, 0, 1, b'e', 1, b'h', 0, 1];
    if let Some(n) = table {
        imports[0] = 3;
        imports.extend_from_slice(&[1, b'e', 1, b't', 1, 0x70, 0]);
        uleb(&mut imports, n);
    }
    section(&mut w, 2, &imports);
    section(&mut w, 3, &[1, 0]);
    section(&mut w, 7, &[1, 3, b'r', b'u', b'n', 0, 1]);
    let mut f = vec![0];
    f.extend_from_slice(body);
    f.push(0x0B);
    let mut code = vec![1];
    uleb(&mut code, f.len() as u32);
    code.extend_from_slice(&f);
    section(&mut w, 10, &code);
    w
}

/// `*(at) = value; return *(from)` at wasm addresses.
fn store_then_load(at: u32, value: u32, from: u32) -> Vec<u8> {
    let mut b = vec![0x41];
    sleb(&mut b, at as i32);
    b.push(0x41);
    sleb(&mut b, value as i32);
    b.extend_from_slice(&[0x36, 2, 0, 0x41]);
    sleb(&mut b, from as i32);
    b.extend_from_slice(&[0x28, 2, 0]);
    module(&b)
}

fn clock_ms() -> f64 {
    0.0
}

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("jit host: {what}"))
    }
}

fn read_u32(a: &Arena, off: usize) -> u32 {
    assert!(off + 4 <= a.len());
    // SAFETY: inside the arena (checked above); no module runs meanwhile.
    unsafe { (a.ptr().add(off) as *const u32).read_unaligned() }
}

fn write_u32(a: &Arena, off: usize, v: u32) {
    assert!(off + 4 <= a.len());
    // SAFETY: as in `read_u32`.
    unsafe { (a.ptr().add(off) as *mut u32).write_unaligned(v) }
}

/// The host's own contract, with hand-made modules.
/// Modules are called by `call_indirect` unless `catching` (see
/// [`JsHost::catch_traps`]); only a catching host survives traps, so only that
/// one is given modules that trap.
fn host_checks(catching: bool) -> Result<String, String> {
    let arena = Arc::new(Arena::new(1 << 20));
    let mut h = JsHost::new(
        arena.ptr(),
        arena.len(),
        arena.clone(),
        Compile::Sync,
        clock_ms,
    )?;
    if catching {
        h.catch_traps();
    }
    let base = h.arena_base();
    check(
        base == arena.ptr() as u32,
        "arena_base is the arena's address",
    )?;
    // The module's memory is the arena: it reads what Rust wrote and Rust reads
    // what it wrote, no copy.
    write_u32(&arena, 0x2000, 0xdead_beef);
    let m = h.load(&store_then_load(base + 0x1000, 0x1234_5678, base + 0x2000))?;
    check(
        h.run(m, &mut |_| 0)? as u32 == 0xdead_beef,
        "module reads the arena",
    )?;
    check(
        read_u32(&arena, 0x1000) == 0x1234_5678,
        "module writes the arena",
    )?;
    // Growing the package's memory keeps instantiated modules on the same memory.
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    let bytes = |m: &js_sys::WebAssembly::Memory| {
        m.buffer()
            .unchecked_into::<js_sys::ArrayBuffer>()
            .byte_length()
    };
    let before = bytes(&memory);
    memory.grow(4);
    check(bytes(&memory) == before + 4 * 65536, "memory grew")?;
    // A large allocation after the growth lands in the new pages or beyond.
    let big = vec![0x5Au8; 1 << 20];
    write_u32(&arena, 0x2000, 42);
    check(
        h.run(m, &mut |_| 0)? == 42,
        "module runs after memory growth",
    )?;
    let m2 = h.load(&store_then_load(
        base + 0x1000,
        7,
        big.as_ptr() as u32 + 0x1234,
    ))?;
    check(
        h.run(m2, &mut |_| 0)? == 0x5A5A_5A5A,
        "module loaded after growth sees the whole memory",
    )?;
    drop(big);
    // The helper: run's closure gets the argument and its result comes back.
    let mut b = vec![0x41];
    sleb(&mut b, 7);
    b.extend_from_slice(&[0x10, 0, 0x41, 1, 0x6A]); // call h; i32.const 1; i32.add
    let hm = h.load(&module(&b))?;
    let mut seen = Vec::new();
    let r = h.run(hm, &mut |a| {
        seen.push(a);
        a * 3
    })?;
    check(r == 22 && seen == [7], "helper gets 7 and returns 21")?;
    check(
        tab86_jit_helper(5) == 1,
        "the helper export outside run says leave",
    )?;
    if !catching {
        return Ok(format!(
            "host: ok ({} modules by call_indirect)",
            h.loaded()
        ));
    }
    // A trap is an error; the host goes on.
    let t = h.load(&module(&[0x00]))?;
    let e = h.run(t, &mut |_| 0).unwrap_err();
    check(e.contains("unreachable"), &format!("trap message: {e}"))?;
    check(h.run(m, &mut |_| 0)? == 42, "runs after a trap")?;
    check(tab86_jit_helper(5) == 1, "no helper left behind by a trap")?;
    // Unloading frees the handle for reuse; a stale handle is an error.
    h.unload(t);
    check(h.run(t, &mut |_| 0).is_err(), "unloaded handle is an error")?;
    let again = h.load(&store_then_load(base + 0x1000, 1, base + 0x2000))?;
    check(again == t, "handle reused")?;
    check(h.load(b"not wasm").is_err(), "bad bytes are an error")?;
    // Outside the memory: a trap, not a host crash.
    let oob = h.load(&store_then_load(base + 0x1000, 1, u32::MAX - 1))?;
    check(h.run(oob, &mut |_| 0).is_err(), "out of bounds traps")?;
    Ok(format!(
        "catching host: ok ({} modules, memory grown to {} MiB)",
        h.loaded(),
        bytes(&memory) >> 20
    ))
}

// ---- the CPU with this host against the interpreter ---------------------------

const RAM: u32 = 32 << 20;
const GDT: u32 = 0x1000;
const IDT: u32 = 0x2000;
const STUBS: u32 = 0x3000;
const STACK_TOP: u32 = RAM - 0x10_0000;
const CODE: u32 = 0x20_0000;
const DATA: u32 = 0x30_0000;
/// Where paging puts the linear page after `DATA`'s.
const FAR: u32 = 0x38_0000;

/// A CPU in flat 32-bit ring-0 protected mode with `code` at [`CODE`].
fn flat_cpu(code: &[u8]) -> Result<Cpu, String> {
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
fn scrambled(lin: u32) -> u32 {
    if lin >> 12 == (DATA >> 12) + 1 {
        FAR | (lin & 0xFFF)
    } else {
        lin
    }
}

/// Paging on: linear = physical for 32 MiB except the page after `DATA`'s.
fn page_scrambled(cpu: &mut Cpu) -> Result<(), String> {
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

fn attach(cpu: &mut Cpu) -> Result<(), String> {
    let a = cpu.mem.arena().clone();
    let h = JsHost::new(a.ptr(), a.len(), a.clone(), Compile::Sync, clock_ms)?;
    cpu.set_jit(Box::new(h), None);
    cpu.set_jit_threshold(3);
    Ok(())
}

fn run_to_halt(cpu: &mut Cpu, what: &str) -> Result<(), String> {
    match cpu.run(&mut NullBus, 10_000_000) {
        Exit::Halted | Exit::HaltedNoWake => Ok(()),
        e => Err(format!("{what}: {e:?} at {:#x}", cpu.state.eip)),
    }
}

/// xorshift.
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

/// Registers random code may write: not ESP or EBX (the data pointer).
const DST: [u8; 6] = [0, 1, 2, 5, 6, 7];

fn modrm(md: u8, reg: u8, rm: u8) -> u8 {
    md << 6 | (reg & 7) << 3 | (rm & 7)
}

/// One random instruction; memory operands are `[ebx + disp8]` in the data area
/// (0x7C bytes; the loop counter is at 0x7C).
fn random_insn(r: &mut Rng, out: &mut Vec<u8>) {
    let d = DST[r.below(6) as usize];
    let s = r.below(8) as u8;
    let mem = r.below(3) == 0;
    let disp = r.below(0x79) as u8;
    let rm = |out: &mut Vec<u8>, reg: u8, rm_reg: u8| {
        if mem {
            out.push(modrm(1, reg, 3));
            out.push(disp);
        } else {
            out.push(modrm(3, reg, rm_reg));
        }
    };
    let b8 = [0u8, 1, 2, 4, 5, 6];
    match r.below(22) {
        // ALU r/m32, r32 and r32, r/m32 (16-bit with 0x66 sometimes).
        0 | 1 => {
            if r.below(4) == 0 {
                out.push(0x66);
            }
            if r.below(2) == 0 {
                out.push((r.below(8) as u8) << 3 | 1);
                rm(out, s, d);
            } else {
                out.push((r.below(8) as u8) << 3 | 3);
                rm(out, d, s);
            }
        }
        // ALU r/m32, imm8.
        2 => {
            out.push(0x83);
            rm(out, r.below(8) as u8, d);
            out.push(r.next() as u8);
        }
        // ALU r/m8, r8.
        3 => {
            out.push((r.below(8) as u8) << 3);
            rm(out, b8[r.below(6) as usize], b8[r.below(6) as usize]);
        }
        // Shifts and rotates by imm8 and by CL, 32 and 8 bits (RCL/RCR included:
        // the helper runs those).
        4 | 5 => {
            let op = [0xC1u8, 0xD3, 0xC0, 0xD2][r.below(4) as usize];
            out.push(op);
            rm(
                out,
                r.below(8) as u8,
                if op & 1 == 1 {
                    d
                } else {
                    b8[r.below(6) as usize]
                },
            );
            if op & 0xF0 == 0xC0 {
                out.push(r.below(40) as u8);
            }
        }
        // INC/DEC r/m32, NOT/NEG r/m32.
        6 => {
            out.push(0xFF);
            rm(out, r.below(2) as u8, d);
        }
        7 => {
            out.push(0xF7);
            rm(out, 2 + r.below(2) as u8, d);
        }
        // IMUL r32, r/m32; MUL r/m32 (EDX:EAX).
        8 => {
            out.extend_from_slice(&[0x0F, 0xAF]);
            rm(out, d, s);
        }
        9 => {
            out.push(0xF7);
            rm(out, 4 + r.below(2) as u8, s);
        }
        // MOVZX/MOVSX r32, r/m8 or r/m16.
        10 => {
            out.extend_from_slice(&[0x0F, [0xB6, 0xB7, 0xBE, 0xBF][r.below(4) as usize]]);
            rm(out, d, b8[r.below(6) as usize]);
        }
        // SETcc r/m8, CMOVcc r32, r/m32.
        11 => {
            out.extend_from_slice(&[0x0F, 0x90 | r.below(16) as u8]);
            rm(out, 0, b8[r.below(6) as usize]);
        }
        12 => {
            out.extend_from_slice(&[0x0F, 0x40 | r.below(16) as u8]);
            rm(out, d, s);
        }
        // Jcc over the next two bytes (a 2-byte NOT).
        13 => {
            out.extend_from_slice(&[0x70 | r.below(16) as u8, 2, 0xF7, modrm(3, 2, d)]);
        }
        // PUSH r32 / POP r32, PUSH r/m32 / POP.
        14 => {
            out.push(0x50 + s);
            out.push(0x58 + d);
        }
        // MOV r/m32, r32 and back, MOV r/m8, imm8.
        15 => {
            if r.below(2) == 0 {
                out.push(0x89);
                rm(out, s, d);
            } else {
                out.push(0x8B);
                rm(out, d, s);
            }
        }
        16 => {
            out.push(0xC6);
            rm(out, 0, b8[r.below(6) as usize]);
            out.push(r.next() as u8);
        }
        // XCHG r/m32, r32; BSWAP; BT/BTS r/m32, imm8.
        17 => {
            out.push(0x87);
            rm(out, d, DST[r.below(6) as usize]);
        }
        18 => {
            out.extend_from_slice(&[0x0F, 0xC8 + d]);
        }
        19 => {
            out.extend_from_slice(&[0x0F, 0xBA]);
            rm(out, 4 + r.below(4) as u8, d);
            out.push(r.below(32) as u8);
        }
        // String instructions (helper): lea edi/esi into the data area, then
        // STOSB/STOSD/MOVSB/LODSD with and without REP (ECX small).
        20 => {
            let off = r.below(0x30) as u8;
            out.extend_from_slice(&[0x8D, modrm(1, 7, 3), off]); // lea edi, [ebx+off]
            out.extend_from_slice(&[0x8D, modrm(1, 6, 3), off + 0x10]); // lea esi, [ebx+off+16]
            out.extend_from_slice(&[0xB9, r.below(8) as u8, 0, 0, 0]); // mov ecx, n
            if r.below(2) == 0 {
                out.push(0xFC); // cld
            }
            match r.below(4) {
                0 => out.extend_from_slice(&[0xF3, 0xAA]),
                1 => out.extend_from_slice(&[0xF3, 0xA4]),
                2 => out.push(0xAD),
                _ => out.push(0xAB),
            }
            out.push(0xFC);
        }
        // CMPXCHG and XADD (run by the helper).
        _ => {
            // (XADD writes its register operand too: one of DST.)
            out.extend_from_slice(&[0x0F, if r.below(2) == 0 { 0xB1 } else { 0xC1 }]);
            rm(out, DST[r.below(6) as usize], d);
        }
    }
}

/// The differential fuzzer: returns generated-code instructions and helper calls.
fn random_sequences(count: u32) -> Result<(u64, u64), String> {
    let (mut total_jit, mut total_helper) = (0u64, 0u64);
    for seed in 1..=count as u64 {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut code = Vec::new();
        for d in DST {
            code.push(0xB8 + d);
            code.extend_from_slice(&r.next().to_le_bytes());
        }
        // mov dword [ebx+0x7C], 40: the loop counter.
        code.extend_from_slice(&[0xC7, 0x43, 0x7C, 40, 0, 0, 0]);
        let top = code.len();
        for _ in 0..12 {
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
                if jit {
                    attach(&mut cpu)?;
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
            check_eq(&i.state.gpr, &j.state.gpr, || ctx("registers"))?;
            check_eq(&i.state.flags(), &j.state.flags(), || ctx("flags"))?;
            check_eq(&i.state.eip, &j.state.eip, || ctx("EIP"))?;
            check_eq(&i.state.icount, &j.state.icount, || {
                ctx("instruction count")
            })?;
            check_eq(&read(&i), &read(&j), || ctx("memory"))?;
            let st = j.jit_stats().ok_or("no JIT stats")?;
            if st.traps != 0 {
                return Err(ctx("trap count"));
            }
            total_jit += st.instructions;
            total_helper += st.helper_calls;
        }
    }
    if count >= 10 && (total_jit < 10_000 || total_helper < 100) {
        return Err(format!(
            "generated code ran only {total_jit} instructions, {total_helper} helper calls"
        ));
    }
    Ok((total_jit, total_helper))
}

fn check_eq<T: PartialEq + std::fmt::Debug>(
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

/// A hot inner loop whose immediate the outer loop patches: the compiled page is
/// dropped at each patch, and the sum is still the interpreter's.
fn self_modifying_loop() -> Result<String, String> {
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
    let mut i = flat_cpu(&code)?;
    run_to_halt(&mut i, "smc (interpreter)")?;
    let mut j = flat_cpu(&code)?;
    attach(&mut j)?;
    run_to_halt(&mut j, "smc (jit)")?;
    check_eq(&i.state.gpr, &j.state.gpr, || "smc: registers".into())?;
    check_eq(&j.state.gpr[reg::EAX], &(50 * 210), || {
        "smc: the sum".into()
    })?;
    let st = j.jit_stats().ok_or("no JIT stats")?;
    if st.traps != 0 || st.modules == 0 || st.invalidations == 0 || st.instructions < 500 {
        return Err(format!("smc: {st:?}"));
    }
    Ok(format!(
        "self-modifying loop: ok ({} modules, {} invalidated)",
        st.modules, st.invalidations
    ))
}

/// A hot loop around instructions the helper runs that generated code must leave
/// after: a near return with an immediate (a branch; `CALL r/m32` itself is
/// compiled now), and a STOSD that patches the loop's own
/// immediate (a write to its own code page).
fn helper_branch() -> Result<String, String> {
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
    let mut i = flat_cpu(&code)?;
    run_to_halt(&mut i, "helper branch (interpreter)")?;
    let mut j = flat_cpu(&code)?;
    attach(&mut j)?;
    run_to_halt(&mut j, "helper branch (jit)")?;
    check_eq(&i.state.gpr, &j.state.gpr, || {
        "helper branch: registers".into()
    })?;
    check_eq(&i.state.icount, &j.state.icount, || {
        "helper branch: instruction count".into()
    })?;
    // 60 calls of +3, and the immediate, EDX when ECX was a multiple of 16.
    let (mut want, mut imm, mut edx) = (0u32, 0u32, 1u32);
    for ecx in (1..=60u32).rev() {
        want += 3 + imm;
        edx += 1;
        if ecx % 16 == 0 {
            imm = edx;
        }
    }
    check_eq(&want, &j.state.gpr[reg::EAX], || {
        "helper branch: the sum".into()
    })?;
    let st = j.jit_stats().ok_or("no JIT stats")?;
    if st.traps != 0 || st.modules == 0 || st.helper_exits == 0 {
        return Err(format!("helper branch: {st:?}"));
    }
    Ok(format!(
        "helper branch: ok ({} helper calls, {} left after)",
        st.helper_calls, st.helper_exits
    ))
}

/// The entry table through hand-made modules: `i32.const slot;
/// return_call_indirect` reaches the module linked at `slot`, or the empty
/// element's 0; unload and relinking elsewhere put the empty element back.
/// Skipped (and said so) when the engine has no tail calls. Also returns
/// whether the host links modules.
fn link_checks() -> Result<(String, bool), String> {
    let arena = Arc::new(Arena::new(1 << 20));
    let mut h = JsHost::new(
        arena.ptr(),
        arena.len(),
        arena.clone(),
        Compile::Sync,
        clock_ms,
    )?;
    let n = h.link_slots();
    if n == 0 {
        return Ok((
            "entry table: none (the engine has no wasm tail calls)".into(),
            false,
        ));
    }
    check(
        n as usize == arena.len() / 4096 && n >= 256,
        &format!("one element per 4 KiB frame of the arena, not {n}"),
    )?;
    // to(slot): return_call_indirect through element `slot`; ret(v): return v.
    let to = |slot: u32| {
        let mut b = vec![0x41];
        sleb(&mut b, slot as i32);
        b.extend_from_slice(&[0x13, 0, 0]);
        module_with(&b, Some(n))
    };
    let ret = |v: i32| {
        let mut b = vec![0x41];
        sleb(&mut b, v);
        module(&b)
    };
    let a = h.load(&to(5))?;
    check(h.run(a, &mut |_| 0)? == 0, "an empty element returns 0")?;
    let b = h.load(&ret(77))?;
    h.link(b, 5);
    check(
        h.run(a, &mut |_| 0)? == 77,
        "a linked element runs its module",
    )?;
    // Relinking b at 9 empties 5; a module at the last element; out of range
    // is ignored.
    h.link(b, 9);
    check(
        h.run(a, &mut |_| 0)? == 0,
        "relinking empties the old element",
    )?;
    let a9 = h.load(&to(9))?;
    check(h.run(a9, &mut |_| 0)? == 77, "the new element runs it")?;
    h.link(b, n);
    check(
        h.run(a9, &mut |_| 0)? == 77,
        "an element out of range is ignored",
    )?;
    // Another module linked at 9 replaces b there; b's unload leaves it alone.
    let c = h.load(&ret(-3))?;
    h.link(c, 9);
    h.unload(b);
    check(
        h.run(a9, &mut |_| 0)? == -3,
        "unload keeps another module's link",
    )?;
    h.unload(c);
    check(h.run(a9, &mut |_| 0)? == 0, "unload empties its element")?;
    // A chain: a (to 5) -> d linked at 5 (to 6) -> e linked at 6, with the
    // helper called from the last one.
    let d = h.load(&to(6))?;
    h.link(d, 5);
    // i32.const 11; call h; i32.const 1; i32.add
    let e = h.load(&module(&[0x41, 11, 0x10, 0, 0x41, 1, 0x6A]))?;
    h.link(e, 6);
    let mut seen = Vec::new();
    let r = h.run(a, &mut |x| {
        seen.push(x);
        x * 2
    })?;
    check(r == 23 && seen == [11], "two links then the helper")?;
    Ok((format!("entry table: ok ({n} elements)"), true))
}

/// Calls (relative, through memory, through a register), jumps and returns
/// across three compiled pages (and a fourth, a half page away) go from module
/// to module through the entry table; a write to the called page halfway drops
/// its module (and its element) and the new code is what runs. The same result
/// as the interpreter's with or without the table (`linking`: the host has one).
fn linked_pages(linking: bool) -> Result<String, String> {
    let f = CODE + 0x1000;
    let g = CODE + 0x2000;
    let h = CODE + 0x800;
    let mut code = vec![0xF4u8; 0x2010];
    let mut at = 0usize;
    let put = |code: &mut Vec<u8>, at: &mut usize, bytes: &[u8]| {
        code[*at..*at + bytes.len()].copy_from_slice(bytes);
        *at += bytes.len();
    };
    // mov ecx, 300; xor eax, eax; xor edx, edx; mov dword [ebx], f; mov edi, h
    put(
        &mut code,
        &mut at,
        &[0xB9, 0x2C, 0x01, 0, 0, 0x31, 0xC0, 0x31, 0xD2, 0xC7, 0x03],
    );
    put(&mut code, &mut at, &f.to_le_bytes());
    put(&mut code, &mut at, &[0xBF]);
    put(&mut code, &mut at, &h.to_le_bytes());
    let top = at;
    // top: call f (relative); call [ebx]
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
    // skip: dec ecx; jnz top; hlt
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
    let run_bounded = |jit: bool, bound: Option<usize>| -> Result<Cpu, String> {
        let mut cpu = flat_cpu(&code)?;
        cpu.state.gpr[reg::EBX] = DATA;
        if jit {
            attach(&mut cpu)?;
            if let Some(n) = bound {
                cpu.set_jit_max_modules(n);
            }
        }
        run_to_halt(&mut cpu, &format!("linked pages (jit {jit})"))?;
        Ok(cpu)
    };
    let run = |jit: bool| run_bounded(jit, None);
    let i = run(false)?;
    let j = run(true)?;
    let ctx = |what: &str| format!("linked pages: {what}");
    check_eq(&i.state.gpr, &j.state.gpr, || ctx("registers"))?;
    check_eq(&i.state.icount, &j.state.icount, || {
        ctx("instruction count")
    })?;
    check_eq(&i.state.flags(), &j.state.flags(), || ctx("flags"))?;
    check_eq(&i.state.eip, &j.state.eip, || ctx("EIP"))?;
    // 302 calls before the patch add 1 (two a turn), 298 after it add 5.
    check_eq(&(302 + 298 * 5), &j.state.gpr[reg::EAX], || ctx("the sum"))?;
    check_eq(&600, &j.state.gpr[reg::ESI], || ctx("calls of h"))?;
    let st = j.jit_stats().ok_or("no JIT stats")?;
    // Most page changes go module to module (each turn makes six of them).
    let linked_ok = if linking {
        st.links > 600 && st.calls * 10 < st.links
    } else {
        st.links == 0
    };
    if st.traps != 0 || st.invalidations == 0 || !linked_ok || st.evictions != 0 {
        return Err(ctx(&format!("{st:?}")));
    }
    // Room for one module: each install evicts the other pages' (and unlinks
    // them), which compile again when hot; the result stays the interpreter's.
    let b = run_bounded(true, Some(1))?;
    let ctx = |what: &str| format!("linked pages, one module at most: {what}");
    check_eq(&i.state.gpr, &b.state.gpr, || ctx("registers"))?;
    check_eq(&i.state.icount, &b.state.icount, || {
        ctx("instruction count")
    })?;
    let sb = b.jit_stats().ok_or("no JIT stats")?;
    if sb.traps != 0 || sb.evictions < 2 || sb.modules <= 3 {
        return Err(ctx(&format!("{sb:?}")));
    }
    Ok(format!(
        "linked pages: ok ({} calls, {} linked jumps, {} invalidated; one module at most: {} evicted)",
        st.calls, st.links, st.invalidations, sb.evictions
    ))
}

/// Measures the JavaScript boundary, in nanoseconds per call: a module's `run`
/// called by the host's `call_indirect` and by a catching host
/// (`Function.prototype.call` with a `catch`, see [`JsHost::catch_traps`]), and the
/// helper import called from a module (a wasm-to-wasm call of this package's
/// export). For the README; not a test.
#[wasm_bindgen]
pub fn jit_call_cost(n: u32) -> Result<String, String> {
    let now = crate::clock_ms;
    let arena = Arc::new(Arena::new(1 << 20));
    let mut cost = Vec::new();
    for catching in [false, true] {
        let mut h = JsHost::new(arena.ptr(), arena.len(), arena.clone(), Compile::Sync, now)?;
        if catching {
            h.catch_traps();
        }
        let ret1 = h.load(&module(&[0x41, 1]))?;
        let t = now();
        let mut sum = 0u32;
        for _ in 0..n {
            sum += h.run(ret1, &mut |_| 0)? as u32;
        }
        cost.push((now() - t) * 1e6 / n as f64);
        check(sum == n, "every run returned 1")?;
    }
    // 100 helper calls per run.
    let mut h = JsHost::new(arena.ptr(), arena.len(), arena.clone(), Compile::Sync, now)?;
    let mut body = Vec::new();
    for _ in 0..100 {
        body.extend_from_slice(&[0x41, 1, 0x10, 0, 0x1A]); // i32.const 1; call h; drop
    }
    body.extend_from_slice(&[0x41, 0]);
    let calls = h.load(&module(&body))?;
    let mut count = 0u64;
    let runs = (n / 100).max(1);
    let t = now();
    for _ in 0..runs {
        h.run(calls, &mut |a| {
            count += a as u64;
            0
        })?;
    }
    let helper_ns = ((now() - t) * 1e6 / runs as f64 - cost[0]) / 100.0;
    check(count == runs as u64 * 100, "the helper ran for every call")?;
    Ok(format!(
        "run by call_indirect: {:.1} ns; run through JavaScript with a catch: {:.1} ns; helper call: {helper_ns:.1} ns",
        cost[0], cost[1]
    ))
}

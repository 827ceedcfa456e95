//! Checks of the JavaScript JIT host that must run inside the JavaScript engine
//! (frontend/cli/tests/node_jit.rs calls [`jit_selftest`] under Node):
//!
//! - the host itself: the modules' memory is the arena inside this package's
//!   memory, and stays so after that memory grows; the helper import reaches the
//!   closure given to `run` (and nothing outside `run`); a trap is an error and the
//!   host goes on; unloaded handles are reused;
//! - the entry table (when the engine has tail calls): a module tail-calls the
//!   module linked at an element, the empty element returns 0, and unloading or
//!   relinking puts the empty element back;
//! - the CPU with this host against the interpreter: every check of
//!   tab86-jitcheck (tests/jitcheck), the same programs and assertions the native
//!   tests run with wasmtime: random instruction sequences (in one page and
//!   straddling two pages with paging on), self-modifying loops, helper calls
//!   that fault, branch or write their own page, calls, jumps and returns across
//!   compiled pages (linked through the entry table where the engine has tail
//!   calls) and a bound on loaded modules. Registers, flags, EIP, instruction
//!   count and memory must be equal.
//!
//! Shipped in the package (a few KiB) so that the tested code is the code users run.

use crate::jit::{tab86_jit_helper, Compile, JsHost};
use std::sync::Arc;
use tab86_cpu::jit::JitHost;
use tab86_cpu::Cpu;
use tab86_mmu::Arena;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Runs every check; `sequences` random sequences (each twice: one page, then
/// straddling). Returns a one-line summary, or throws the first difference.
#[wasm_bindgen]
pub fn jit_selftest(sequences: u32) -> Result<String, String> {
    let host = format!("{}; {}", host_checks(false)?, host_checks(true)?);
    let (table, linking) = link_checks()?;
    let fuzz =
        tab86_jitcheck::random_sequences(&js_host, &tab86_jitcheck::Fuzz::fixed(sequences.into()))?;
    let programs = tab86_jitcheck::fixed_programs(&js_host, linking)?;
    Ok(format!(
        "{host}; {table}; random sequences: {sequences} x 2, {} instructions in generated code, {} helper calls; {programs}",
        fuzz.jit_instructions, fuzz.helper_calls
    ))
}

/// A synchronously compiling host for `cpu`'s arena: what the shared checks attach.
fn js_host(cpu: &Cpu) -> Result<Box<dyn JitHost>, String> {
    Ok(Box::new(sync_host(cpu.mem.arena())?))
}

/// A host whose modules address `arena` and compile synchronously.
fn sync_host(arena: &Arc<Arena>) -> Result<JsHost, String> {
    JsHost::new(
        arena.ptr(),
        arena.len(),
        arena.clone(),
        Compile::Sync,
        clock_ms,
    )
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
    let mut h = sync_host(&arena)?;
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

/// The entry table through hand-made modules: `i32.const slot;
/// return_call_indirect` reaches the module linked at `slot`, or the empty
/// element's 0; unload and relinking elsewhere put the empty element back.
/// Skipped (and said so) when the engine has no tail calls. Also returns
/// whether the host links modules.
fn link_checks() -> Result<(String, bool), String> {
    let arena = Arc::new(Arena::new(1 << 20));
    let mut h = sync_host(&arena)?;
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

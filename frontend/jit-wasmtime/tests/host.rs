//! The wasmtime host runs JIT-shaped modules against the caller's own buffer.

mod common;

use common::{constant, host, module, store_then_load};
use tab86_cpu::jit::JitHost;

const LEN: usize = 1 << 20;

#[test]
fn memory_is_the_arena() {
    let (mut h, arena) = host(LEN);
    assert_eq!(h.arena_base(), 0);
    arena.write_u32(0x2000, 0xdead_beef);
    let m = h
        .load(&store_then_load(0x1000, 0x1234_5678, 0x2000))
        .unwrap();
    assert_eq!(arena.read_u32(0x1000), 0);
    assert_eq!(h.run(m, &mut |_| 0).unwrap() as u32, 0xdead_beef);
    assert_eq!(arena.read_u32(0x1000), 0x1234_5678);
    // The host's later writes are seen by the same instance: no copy anywhere.
    arena.write_u32(0x2000, 42);
    assert_eq!(h.run(m, &mut |_| 0).unwrap(), 42);
}

#[test]
fn last_word_works_and_past_the_end_traps() {
    let (mut h, arena) = host(LEN);
    let last = (LEN - 4) as u32;
    arena.write_u32(LEN - 8, 7);
    let ok = h.load(&store_then_load(last, 99, last - 4)).unwrap();
    assert_eq!(h.run(ok, &mut |_| 0).unwrap(), 7);
    assert_eq!(arena.read_u32(LEN - 4), 99);
    // A load at len is outside the arena, even though the module declared 1 page
    // minimum: the bound is the arena's length.
    let oob = h.load(&store_then_load(0x100, 5, LEN as u32)).unwrap();
    let err = h.run(oob, &mut |_| 0).unwrap_err();
    assert!(err.contains("out of bounds"), "{err}");
    // A straddling word (3 bytes in, 1 out) traps too.
    let straddle = h.load(&store_then_load(0x100, 5, last + 1)).unwrap();
    assert!(h.run(straddle, &mut |_| 0).is_err());
    assert_eq!(h.run(ok, &mut |_| 0).unwrap(), 7);
}

#[test]
fn trap_is_an_error_and_the_host_goes_on() {
    let (mut h, arena) = host(LEN);
    let t = h
        .load(&module(|s| {
            s.unreachable();
        }))
        .unwrap();
    let err = h.run(t, &mut |_| 0).unwrap_err();
    assert!(err.contains("unreachable"), "{err}");
    assert!(h.run(t, &mut |_| 0).is_err());
    h.unload(t);
    arena.write_u32(8, 3);
    let m = h.load(&store_then_load(4, 1, 8)).unwrap();
    assert_eq!(h.run(m, &mut |_| 0).unwrap(), 3);
}

#[test]
fn bad_modules_are_refused() {
    let (mut h, _arena) = host(LEN);
    assert!(h.load(b"not wasm").is_err());
    assert!(h.load(&[]).is_err());
    let mut truncated = constant(1);
    truncated.truncate(truncated.len() - 3);
    assert!(h.load(&truncated).is_err());
    // A valid module without the arena import, or defining its own memory.
    let mut no_import = wasm_encoder::Module::new();
    let mut types = wasm_encoder::TypeSection::new();
    types.ty().function([], [wasm_encoder::ValType::I32]);
    no_import.section(&types);
    assert!(h.load(&no_import.finish()).is_err());
    assert!(h.run(1234, &mut |_| 0).is_err());
    h.unload(1234);
    let m = h.load(&constant(5)).unwrap();
    assert_eq!(h.run(m, &mut |_| 0).unwrap(), 5);
}

#[test]
fn own_memory_cannot_alias_the_arena() {
    let (mut h, arena) = host(LEN);
    // Imports "e" "m" but also defines a second memory and writes to it.
    let mut types = wasm_encoder::TypeSection::new();
    types.ty().function([], [wasm_encoder::ValType::I32]);
    let mut imports = wasm_encoder::ImportSection::new();
    let ty = wasm_encoder::MemoryType {
        minimum: 1,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    };
    imports.import("e", "m", ty);
    let mut mems = wasm_encoder::MemorySection::new();
    mems.memory(ty);
    let mut funcs = wasm_encoder::FunctionSection::new();
    funcs.function(0);
    let mut exports = wasm_encoder::ExportSection::new();
    exports.export("run", wasm_encoder::ExportKind::Func, 0);
    let mut f = wasm_encoder::Function::new([]);
    let arg = wasm_encoder::MemArg {
        offset: 0,
        align: 2,
        target: wasm_encoder::MemArgTarget::Memory(1),
        ordering: None,
    };
    f.instructions()
        .i32_const(0)
        .i32_const(77)
        .i32_store(arg)
        .i32_const(0)
        .end();
    let mut code = wasm_encoder::CodeSection::new();
    code.function(&f);
    let mut m = wasm_encoder::Module::new();
    m.section(&types)
        .section(&imports)
        .section(&funcs)
        .section(&mems)
        .section(&exports)
        .section(&code);
    // Multi-memory is on, so the module is valid; the host refuses to give its
    // own memory the arena (or anything else).
    let err = h.load(&m.finish()).unwrap_err();
    assert!(err.contains("\"e\" \"m\""), "{err}");
    assert_eq!(arena.read_u32(0), 0);
}

#[test]
fn wrong_run_signature_is_refused() {
    let (mut h, _arena) = host(LEN);
    let mut types = wasm_encoder::TypeSection::new();
    types.ty().function([], []);
    let mut imports = wasm_encoder::ImportSection::new();
    imports.import(
        "e",
        "m",
        wasm_encoder::MemoryType {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        },
    );
    let mut funcs = wasm_encoder::FunctionSection::new();
    funcs.function(0);
    let mut exports = wasm_encoder::ExportSection::new();
    exports.export("run", wasm_encoder::ExportKind::Func, 0);
    let mut f = wasm_encoder::Function::new([]);
    f.instructions().end();
    let mut code = wasm_encoder::CodeSection::new();
    code.function(&f);
    let mut m = wasm_encoder::Module::new();
    m.section(&types)
        .section(&imports)
        .section(&funcs)
        .section(&exports)
        .section(&code);
    let err = h.load(&m.finish()).unwrap_err();
    assert!(err.contains("run"), "{err}");
}

#[test]
fn bad_arenas_are_refused() {
    let arena = common::TestArena::new(2 * 65536);
    let keep = arena.clone();
    // SAFETY-free: only pointer arithmetic, never dereferenced by a refused host.
    let off = arena.ptr().wrapping_add(4096);
    assert!(tab86_jit_wasmtime::WasmtimeHost::new(off, 65536, keep.clone()).is_err());
    assert!(tab86_jit_wasmtime::WasmtimeHost::new(arena.ptr(), 1000, keep.clone()).is_err());
    assert!(tab86_jit_wasmtime::WasmtimeHost::new(arena.ptr(), 0, keep).is_err());
}

#[test]
fn many_loads_and_unloads_reset_the_store_and_keep_live_handles() {
    let (mut h, arena) = host(LEN);
    arena.write_u32(0x40, 11);
    let live = h.load(&store_then_load(0x44, 1, 0x40)).unwrap();
    assert_eq!(h.run(live, &mut |_| 0).unwrap(), 11);
    for i in 0..10_000i32 {
        let m = h.load(&constant(i)).unwrap();
        assert_eq!(h.run(m, &mut |_| 0).unwrap(), i);
        h.unload(m);
    }
    assert!(h.store_resets() >= 2, "resets: {}", h.store_resets());
    // The module loaded before the resets still runs (re-instantiated lazily)
    // and still sees the arena.
    arena.write_u32(0x40, 12);
    assert_eq!(h.run(live, &mut |_| 0).unwrap(), 12);
    assert_eq!(arena.read_u32(0x44), 1);
    // Freed handles are reused, so the slot table stays small.
    let a = h.load(&constant(-1)).unwrap();
    assert!(a <= 2, "handle {a}");
    assert_eq!(h.run(a, &mut |_| 0).unwrap(), -1);
}

//! Shared by the tests and the `measure` example: a page-aligned arena and a
//! hand-built module in the shape the CPU's JIT emits (imports memory "e" "m",
//! exports `run: [] -> [i32]`).

#![allow(dead_code)]

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::sync::Arc;

use tab86_jit_wasmtime::WasmtimeHost;
use wasm_encoder::{
    CodeSection, ExportKind, ExportSection, Function, FunctionSection, ImportSection,
    InstructionSink, MemArg, MemArgTarget, MemoryType, Module, TypeSection, ValType,
};

/// A zeroed, 64 KiB aligned allocation standing in for the machine's arena.
pub struct TestArena {
    ptr: *mut u8,
    layout: Layout,
}

// SAFETY: a plain heap allocation owned by this value; tests access it through raw
// pointers only while no wasm code runs.
unsafe impl Send for TestArena {}
// SAFETY: as above, `&TestArena` gives no access to the bytes.
unsafe impl Sync for TestArena {}

impl TestArena {
    pub fn new(len: usize) -> Arc<TestArena> {
        let layout = Layout::from_size_align(len, 65536).unwrap();
        // SAFETY: len is non-zero in every caller.
        let ptr = unsafe { alloc_zeroed(layout) };
        assert!(!ptr.is_null(), "arena allocation failed");
        Arc::new(TestArena { ptr, layout })
    }

    pub fn ptr(&self) -> *mut u8 {
        self.ptr
    }

    pub fn len(&self) -> usize {
        self.layout.size()
    }

    pub fn read_u32(&self, addr: usize) -> u32 {
        assert!(addr + 4 <= self.len());
        // SAFETY: in bounds (asserted); no wasm code runs concurrently.
        unsafe { self.ptr.add(addr).cast::<u32>().read_unaligned() }
    }

    pub fn write_u32(&self, addr: usize, v: u32) {
        assert!(addr + 4 <= self.len());
        // SAFETY: in bounds (asserted); no wasm code runs concurrently.
        unsafe { self.ptr.add(addr).cast::<u32>().write_unaligned(v) }
    }
}

impl Drop for TestArena {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ptr, self.layout) }
    }
}

/// A host over a fresh arena of `len` bytes.
pub fn host(len: usize) -> (WasmtimeHost, Arc<TestArena>) {
    let arena = TestArena::new(len);
    let host = WasmtimeHost::new(arena.ptr(), arena.len(), arena.clone()).unwrap();
    (host, arena)
}

/// A JIT-shaped module whose `run` body is written by `body` (the final `end`
/// is added here).
pub fn module(body: impl FnOnce(&mut InstructionSink<'_>)) -> Vec<u8> {
    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]);
    let mut imports = ImportSection::new();
    imports.import(
        "e",
        "m",
        MemoryType {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        },
    );
    let mut funcs = FunctionSection::new();
    funcs.function(0);
    let mut exports = ExportSection::new();
    exports.export("run", ExportKind::Func, 0);
    let mut f = Function::new([]);
    body(&mut f.instructions());
    f.instructions().end();
    let mut code = CodeSection::new();
    code.function(&f);
    let mut m = Module::new();
    m.section(&types)
        .section(&imports)
        .section(&funcs)
        .section(&exports)
        .section(&code);
    m.finish()
}

/// `mem32[store_at] = value; return mem32[load_from]`.
pub fn store_then_load(store_at: u32, value: i32, load_from: u32) -> Vec<u8> {
    let arg = MemArg {
        offset: 0,
        align: 2,
        target: MemArgTarget::Memory(0),
        ordering: None,
    };
    module(|s| {
        s.i32_const(store_at as i32)
            .i32_const(value)
            .i32_store(arg)
            .i32_const(load_from as i32)
            .i32_load(arg);
    })
}

/// `return k`.
pub fn constant(k: i32) -> Vec<u8> {
    module(|s| {
        s.i32_const(k);
    })
}

//! The native [`JitHost`]: runs the CPU's WebAssembly JIT modules on wasmtime.
//!
//! A browser runs the same modules on its own engine; natively wasmtime does it, so
//! the CPU has one JIT and two hosts. The memory every module imports as `"e" "m"`
//! is the machine's arena itself (no copy): wasmtime is given a custom
//! [`MemoryCreator`] that hands out the arena's pointer (to a tiny built-in module
//! that only defines and exports that memory, instantiated once per store), and the
//! engine is set up without guard pages or reservations, so the generated code
//! checks bounds explicitly against the arena's length.
//!
//! Instances live in one wasmtime [`Store`], which never frees an instance before
//! it is dropped itself. So the host replaces its store (and the memory object over
//! the same arena) once enough unloaded instances have piled up; the compiled
//! [`Module`] of every live handle is kept and re-instantiated lazily, on its next
//! [`JitHost::run`], into the new store. Handles stay valid across such resets.
//!
//! Each store also holds the entry table modules import as `"e" "t"` (one
//! element per 4 KiB of the arena, see [`JitHost::link`]): a module leaving for a
//! page whose module is linked there tail-calls it instead of returning. Unlinked
//! elements hold a function that returns at once (exported by the same built-in
//! module as the memory).

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use tab86_cpu::jit::{Finished, Helper, JitHost, Submitted};
use wasmtime::{
    Caller, Config, Engine, Extern, ExternType, Func, Instance, LinearMemory, Memory,
    MemoryCreator, MemoryType, Module, OptLevel, Ref, RefType, Store, StoreLimits,
    StoreLimitsBuilder, Table, TableType, TypedFunc,
};

/// Cranelift's optimization level for the JIT's modules. A module is generated
/// from a page of guest code that has already run thousands of times, and
/// Cranelift's time is the JIT's main cost, so the level is a measured trade
/// (README, "Benchmarks": compile time per module against the time the code
/// saves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JitOpt {
    /// No optimization passes (fastest compile).
    None,
    /// Cranelift's default optimizations.
    #[default]
    Speed,
    /// Optimizations that also shrink the code.
    SpeedAndSize,
}

impl std::str::FromStr for JitOpt {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(JitOpt::None),
            "speed" => Ok(JitOpt::Speed),
            "size" => Ok(JitOpt::SpeedAndSize),
            _ => Err(format!(
                "unknown JIT optimization level {s:?} (none, speed, size)"
            )),
        }
    }
}

/// CPU time of the calling thread in nanoseconds, where the platform has it: the
/// compile thread's cost, which a loaded host's wall clock would inflate (and the
/// CLI's machine thread's, for real-time mode's guest clock).
pub fn thread_cpu_ns() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec we own.
        let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        (r == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Size of a wasm page: the arena's alignment and length granule.
const WASM_PAGE: usize = 64 * 1024;
/// Largest arena a 32-bit wasm memory with a declared maximum can describe.
const MAX_ARENA: usize = (1 << 32) - WASM_PAGE;
/// Unloaded-but-not-freed instances tolerated in a store before it is replaced
/// (the threshold grows with the number of live instances, see `maybe_reset`).
const RESET_GARBAGE_MIN: usize = 4096;

/// The arena as wasmtime sees it: a raw pointer plus the owner that keeps it alive.
#[derive(Clone)]
struct ArenaRef {
    ptr: *mut u8,
    len: usize,
    /// Held by every copy, so the allocation lives as long as any wasmtime memory
    /// object (or the engine's memory creator) that can reach `ptr`.
    _keep: Arc<dyn Any + Send + Sync>,
}

// SAFETY: `ArenaRef` is a pointer plus an `Arc` that keeps its allocation alive.
// Nothing in this crate dereferences the pointer; only wasm code does, and wasm
// code runs only inside `TypedFunc::call` on the `Store` that `WasmtimeHost` owns
// and borrows mutably for the call, i.e. on one thread at a time. Sending or
// sharing the pointer value itself between threads is harmless. Races between the
// wasm code and the machine's own accesses to the arena are the caller's concern:
// the CPU only calls `run` while it does not touch the arena itself.
unsafe impl Send for ArenaRef {}
// SAFETY: see `Send` above; no `&ArenaRef` method reads or writes through `ptr`.
unsafe impl Sync for ArenaRef {}

/// The wasm linear memory object over the arena. It never grows, moves or frees.
struct ArenaMemory(ArenaRef);

// SAFETY: the memory is `len` bytes at `ptr`, 64 KiB aligned and a multiple of the
// wasm page (checked in `WasmtimeHost::new`), valid for reads and writes as long as
// `_keep` is held, which this object does. Its size never changes (`grow_to`
// refuses), and the engine is configured with no guard region and no reservation
// (checked again in `ArenaCreator::new_memory`), so compiled code bounds-checks
// every access against `byte_size` and never relies on unmapped pages after it.
unsafe impl LinearMemory for ArenaMemory {
    fn byte_size(&self) -> usize {
        self.0.len
    }

    fn byte_capacity(&self) -> usize {
        self.0.len
    }

    fn grow_to(&mut self, new_size: usize) -> wasmtime::Result<()> {
        if new_size <= self.0.len {
            return Ok(());
        }
        wasmtime::bail!("the arena has a fixed size of {} bytes", self.0.len)
    }

    fn as_ptr(&self) -> *mut u8 {
        self.0.ptr
    }
}

/// Hands wasmtime the arena, exactly when the host asks for its one memory.
struct ArenaCreator {
    arena: ArenaRef,
    /// Set only around the host's own `Memory::new`: any other memory wasmtime
    /// would create (a module defining its own memory) is refused, so nothing but
    /// the `"e" "m"` import ever aliases the arena.
    armed: AtomicBool,
}

// SAFETY: the returned memory is the arena (see `ArenaMemory`). It is handed out
// only while `armed`, i.e. for the one host memory of a store, with the exact type
// the host asked for, and only when wasmtime expects no guard region and no
// reservation beyond the arena's length.
unsafe impl MemoryCreator for ArenaCreator {
    fn new_memory(
        &self,
        _ty: MemoryType,
        minimum: usize,
        maximum: Option<usize>,
        reserved_size_in_bytes: Option<usize>,
        guard_size_in_bytes: usize,
    ) -> Result<Box<dyn LinearMemory>, String> {
        let len = self.arena.len;
        if !self.armed.load(Ordering::Relaxed) {
            return Err("JIT modules must import their memory as \"e\" \"m\"".into());
        }
        if guard_size_in_bytes != 0 {
            return Err(format!(
                "arena has no guard region ({guard_size_in_bytes} asked)"
            ));
        }
        if reserved_size_in_bytes.is_some_and(|r| r > len) {
            return Err(format!(
                "arena cannot reserve {reserved_size_in_bytes:?} bytes"
            ));
        }
        if minimum != len || maximum != Some(len) {
            return Err(format!(
                "arena memory must be exactly {len} bytes (asked {minimum}..{maximum:?})"
            ));
        }
        Ok(Box::new(ArenaMemory(self.arena.clone())))
    }
}

/// What a store holds besides its instances: its limits, and the helper of the
/// [`JitHost::run`] under way (the target of every module's `"e" "h"` import).
struct HostData {
    limits: StoreLimits,
    /// Set only while `run` calls into wasm: the helper it was given, with its
    /// lifetime erased (it outlives the call, which is the only time wasm runs).
    helper: Option<*mut Helper<'static>>,
}

/// The store's imports: the arena memory, the helper function and the entry
/// table, with the function its unlinked elements hold.
#[derive(Clone, Copy)]
struct Imports {
    memory: Memory,
    helper: Func,
    table: Table,
    unlinked: Func,
}

/// One loaded module: its compiled code, and its entry point in the current store
/// (`None` after a store reset until the next `run` re-instantiates it).
struct Slot {
    module: Module,
    run: Option<TypedFunc<(), i32>>,
    /// The entry table element [`JitHost::link`] gave it.
    link: Option<u32>,
}

/// A [`JitHost`] on wasmtime whose wasm memory is the machine's arena (at wasm
/// address 0). One engine and one store per host; not shared between machines.
pub struct WasmtimeHost {
    engine: Engine,
    creator: Arc<ArenaCreator>,
    /// Compiled [`provider_wasm`], instantiated once per store.
    provider: Module,
    store: Store<HostData>,
    imports: Imports,
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    /// Instances created in the current store (live or not: a store frees none).
    store_instances: usize,
    /// Slots whose `run` is an instance in the current store.
    live_in_store: usize,
    resets: u64,
    /// The background compiler, once started.
    worker: Option<Worker>,
    next_ticket: u32,
    /// Elements of the entry table.
    link_slots: u32,
    /// The handle linked at each entry table element that has one.
    linked: HashMap<u32, u32>,
}

/// A module compiled by the worker thread: ticket, module or error, nanoseconds.
type Compiled = (u32, Result<Module, String>, u64);

/// A thread that runs Cranelift for submitted modules while the CPU goes on.
/// It ends when the host drops its sender.
struct Worker {
    jobs: mpsc::Sender<(u32, Vec<u8>)>,
    results: mpsc::Receiver<Compiled>,
}

impl WasmtimeHost {
    /// `ptr..ptr+len` is the machine's arena (64 KiB aligned, len a multiple of
    /// 64 KiB, up to 4 GiB - 64 KiB); `keep` keeps that allocation alive as long as
    /// wasmtime may touch it (the host, its engine and its memory objects hold it).
    pub fn new(ptr: *mut u8, len: usize, keep: Arc<dyn Any + Send + Sync>) -> Result<Self, String> {
        Self::with_opt(ptr, len, keep, JitOpt::default())
    }

    /// [`WasmtimeHost::new`] with Cranelift at optimization level `opt` (for
    /// benchmarks: the default is the one chosen from measurements, see [`JitOpt`]).
    pub fn with_opt(
        ptr: *mut u8,
        len: usize,
        keep: Arc<dyn Any + Send + Sync>,
        opt: JitOpt,
    ) -> Result<Self, String> {
        if ptr.is_null() || !(ptr as usize).is_multiple_of(WASM_PAGE) {
            return Err(format!("arena at {ptr:p} is not 64 KiB aligned"));
        }
        if len == 0 || !len.is_multiple_of(WASM_PAGE) || len > MAX_ARENA {
            return Err(format!(
                "arena length {len:#x} is not a non-zero multiple of 64 KiB up to 4 GiB - 64 KiB"
            ));
        }
        let pages = u32::try_from(len / WASM_PAGE).map_err(|e| e.to_string())?;
        let creator = Arc::new(ArenaCreator {
            arena: ArenaRef {
                ptr,
                len,
                _keep: keep,
            },
            armed: AtomicBool::new(false),
        });
        let mut config = Config::new();
        config
            .cranelift_opt_level(match opt {
                JitOpt::None => OptLevel::None,
                JitOpt::Speed => OptLevel::Speed,
                JitOpt::SpeedAndSize => OptLevel::SpeedAndSize,
            })
            .with_host_memory(creator.clone())
            // The arena is all there is: no virtual reservation, no guard pages, no
            // growth, a base that never moves. Code checks bounds explicitly.
            .memory_reservation(0)
            .memory_guard_size(0)
            .memory_reservation_for_growth(0)
            .memory_may_move(false)
            .guard_before_linear_memory(false)
            // The arena is a raw allocation, not an mmap an image could be mapped on.
            .memory_init_cow(false)
            // A trap only means "drop the module and interpret": skip backtraces,
            // and skip unwind info (costly to register per module on some hosts).
            .wasm_backtrace_max_frames(None)
            .native_unwind_info(cfg!(windows));
        let engine = Engine::new(&config).map_err(|e| format!("wasmtime engine: {e:#}"))?;
        let provider = Module::new(&engine, provider_wasm(pages))
            .map_err(|e| format!("wasmtime arena provider: {e:#}"))?;
        // One element per 4 KiB of the arena covers every RAM frame.
        let link_slots = (len / 4096) as u32;
        let (store, imports) = new_store(&engine, &creator, &provider, link_slots)?;
        Ok(WasmtimeHost {
            engine,
            creator,
            provider,
            store,
            imports,
            slots: Vec::new(),
            free: Vec::new(),
            store_instances: 0,
            live_in_store: 0,
            resets: 0,
            worker: None,
            next_ticket: 0,
            link_slots,
            linked: HashMap::new(),
        })
    }

    /// Compiles submitted modules on a background thread from now on, so the CPU
    /// keeps interpreting while Cranelift works (see [`JitHost::submit`]). Without
    /// it every module is compiled on the caller's thread.
    pub fn compile_in_background(&mut self) -> Result<(), String> {
        if self.worker.is_some() {
            return Ok(());
        }
        let (jobs, job_rx) = mpsc::channel::<(u32, Vec<u8>)>();
        let (res_tx, results) = mpsc::channel::<Compiled>();
        let engine = self.engine.clone();
        std::thread::Builder::new()
            .name("tab86-jit".into())
            .spawn(move || {
                for (ticket, wasm) in job_rx {
                    // The thread's CPU time where the host has it (what compiling
                    // costs the machine), else the wall clock.
                    let (c0, t0) = (thread_cpu_ns(), Instant::now());
                    let module = compile(&engine, &wasm);
                    let ns = match (c0, thread_cpu_ns()) {
                        (Some(a), Some(b)) => b.saturating_sub(a),
                        _ => t0.elapsed().as_nanos() as u64,
                    };
                    if res_tx.send((ticket, module, ns)).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| format!("cannot start the JIT compiler thread: {e}"))?;
        self.worker = Some(Worker { jobs, results });
        Ok(())
    }

    /// Instantiates a compiled module in the store and gives it a handle.
    fn install(&mut self, module: Module) -> Result<u32, String> {
        self.maybe_reset()?;
        let run = instantiate(
            &mut self.store,
            self.imports,
            &mut self.store_instances,
            &module,
        )?;
        self.live_in_store += 1;
        let slot = Some(Slot {
            module,
            run: Some(run),
            link: None,
        });
        match self.free.pop() {
            Some(handle) => {
                self.slots[handle as usize] = slot;
                Ok(handle)
            }
            None => {
                let handle = u32::try_from(self.slots.len())
                    .map_err(|_| "too many JIT modules loaded".to_string())?;
                self.slots.push(slot);
                Ok(handle)
            }
        }
    }

    /// How many times the store was replaced to free unloaded instances
    /// (diagnostics; handles are unaffected).
    pub fn store_resets(&self) -> u64 {
        self.resets
    }

    /// Replaces the store once the unloaded instances it still holds outnumber
    /// both [`RESET_GARBAGE_MIN`] and the live ones, so the re-instantiation work
    /// a reset causes is paid for by at least as many loads.
    fn maybe_reset(&mut self) -> Result<(), String> {
        let garbage = self.store_instances - self.live_in_store;
        if garbage < RESET_GARBAGE_MIN.max(self.live_in_store) {
            return Ok(());
        }
        // Build the new store first: on failure the old one stays in service.
        let (store, imports) =
            new_store(&self.engine, &self.creator, &self.provider, self.link_slots)?;
        self.store = store;
        self.imports = imports;
        for slot in self.slots.iter_mut().flatten() {
            slot.run = None;
        }
        self.store_instances = 0;
        self.live_in_store = 0;
        self.resets += 1;
        Ok(())
    }
}

/// A fresh store (no instance limit: the host bounds it by resetting) holding
/// one memory object over the arena, the helper function modules import and an
/// entry table of `link_slots` unlinked elements.
///
/// The memory comes from instantiating `provider` (a module that only defines and
/// exports it) rather than from `Memory::new`: in wasmtime 48 host-created memories
/// ignore `Config::with_host_memory`, only memories of instantiated modules go
/// through the engine's `MemoryCreator`.
fn new_store(
    engine: &Engine,
    creator: &ArenaCreator,
    provider: &Module,
    link_slots: u32,
) -> Result<(Store<HostData>, Imports), String> {
    let limits = StoreLimitsBuilder::new()
        .instances(usize::MAX)
        .tables(usize::MAX)
        .memories(usize::MAX)
        .build();
    let mut store = Store::new(
        engine,
        HostData {
            limits,
            helper: None,
        },
    );
    store.limiter(|d| &mut d.limits);
    creator.armed.store(true, Ordering::Relaxed);
    let instance = Instance::new(&mut store, provider, &[]);
    creator.armed.store(false, Ordering::Relaxed);
    let instance = instance.map_err(|e| format!("wasmtime arena memory: {e:#}"))?;
    let memory = instance
        .get_memory(&mut store, "m")
        .ok_or("wasmtime arena memory: provider exports no memory")?;
    let unlinked = instance
        .get_func(&mut store, "s")
        .ok_or("wasmtime arena provider exports no \"s\"")?;
    let table = Table::new(
        &mut store,
        TableType::new(RefType::FUNCREF, link_slots, None),
        Ref::Func(Some(unlinked)),
    )
    .map_err(|e| format!("wasmtime entry table: {e:#}"))?;
    if memory.data_ptr(&store) != creator.arena.ptr || memory.data_size(&store) != creator.arena.len
    {
        return Err("wasmtime arena memory is not the arena".into());
    }
    let helper = Func::wrap(
        &mut store,
        |caller: Caller<'_, HostData>, arg: u32| -> u32 {
            match caller.data().helper {
                // SAFETY: `helper` is set only for the duration of `JitHost::run`,
                // which holds the `&mut Helper` it points to borrowed for that time
                // and calls wasm (the only caller of this function) inside it. Wasm
                // runs on this one thread, and the helper never re-enters the host.
                Some(h) => unsafe { (*h)(arg) },
                // Called outside `run` (cannot happen): make the module leave.
                None => 1,
            }
        },
    );
    Ok((
        store,
        Imports {
            memory,
            helper,
            table,
            unlinked,
        },
    ))
}

/// The bytes of a module that defines one memory of exactly `pages` pages
/// (minimum = maximum) and exports it as `"m"`, and a function `[] -> [i32]`
/// returning 0 as `"s"` (the entry table's unlinked element): the arena's provider.
fn provider_wasm(pages: u32) -> Vec<u8> {
    fn uleb(out: &mut Vec<u8>, mut v: u32) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    fn section(out: &mut Vec<u8>, id: u8, payload: &[u8]) {
        out.push(id);
        uleb(out, payload.len() as u32);
        out.extend_from_slice(payload);
    }
    let mut wasm = b"\0asm\x01\0\0\0".to_vec();
    // Type section: one type, func () -> (i32).
    section(&mut wasm, 1, &[1, 0x60, 0, 1, 0x7F]);
    // Function section: one function of type 0.
    section(&mut wasm, 3, &[1, 0]);
    // Memory section: one memory, limits flag 1 (min and max).
    let mut memories = vec![1, 1];
    uleb(&mut memories, pages);
    uleb(&mut memories, pages);
    section(&mut wasm, 5, &memories);
    // Export section: "m" memory (kind 2) 0, "s" function (kind 0) 0.
    section(&mut wasm, 7, &[2, 1, b'm', 2, 0, 1, b's', 0, 0]);
    // Code section: one body of 4 bytes: no locals, i32.const 0, end.
    section(&mut wasm, 10, &[1, 4, 0, 0x41, 0, 0x0B]);
    wasm
}

/// Compiles `wasm` and checks that it imports the arena memory and at most the
/// helper function and the entry table, nothing else.
fn compile(engine: &Engine, wasm: &[u8]) -> Result<Module, String> {
    let module = Module::new(engine, wasm).map_err(|e| format!("wasm compile: {e:#}"))?;
    let mut memory = false;
    for i in module.imports() {
        match (i.module(), i.name(), i.ty()) {
            ("e", "m", ExternType::Memory(_)) if !memory => memory = true,
            ("e", "h", ExternType::Func(f))
                if f.params().map(|p| p.is_i32()).eq([true])
                    && f.results().map(|r| r.is_i32()).eq([true]) => {}
            ("e", "t", ExternType::Table(_)) => {}
            _ => {
                return Err(format!(
                    "a JIT module imports memory \"e\" \"m\" and at most function \"e\" \"h\" [i32] -> [i32] and table \"e\" \"t\", not {:?} {:?}",
                    i.module(),
                    i.name()
                ))
            }
        }
    }
    if !memory {
        return Err("a JIT module must import memory \"e\" \"m\"".into());
    }
    Ok(module)
}

/// Instantiates `module` against the arena (and the helper) and fetches its
/// `run` export.
fn instantiate(
    store: &mut Store<HostData>,
    imports: Imports,
    store_instances: &mut usize,
    module: &Module,
) -> Result<TypedFunc<(), i32>, String> {
    // Counted before the attempt: a failed instantiation may still leave data in
    // the store.
    *store_instances += 1;
    let externs: Vec<Extern> = module
        .imports()
        .map(|i| match i.name() {
            "h" => imports.helper.into(),
            "t" => imports.table.into(),
            _ => imports.memory.into(),
        })
        .collect();
    let instance = Instance::new(&mut *store, module, &externs)
        .map_err(|e| format!("wasm instantiate: {e:#}"))?;
    instance
        .get_typed_func::<(), i32>(&mut *store, "run")
        .map_err(|e| format!("wasm export \"run\" [] -> [i32]: {e:#}"))
}

impl JitHost for WasmtimeHost {
    fn arena_base(&self) -> u32 {
        0
    }

    fn load(&mut self, wasm: &[u8]) -> Result<u32, String> {
        let module = compile(&self.engine, wasm)?;
        self.install(module)
    }

    fn submit(&mut self, wasm: Vec<u8>) -> Submitted {
        let Some(w) = &self.worker else {
            return Submitted::Done(self.load(&wasm));
        };
        let ticket = self.next_ticket;
        self.next_ticket = self.next_ticket.wrapping_add(1);
        match w.jobs.send((ticket, wasm)) {
            Ok(()) => Submitted::Pending(ticket),
            Err(mpsc::SendError((_, wasm))) => {
                // The thread is gone (it panicked): compile here from now on.
                self.worker = None;
                Submitted::Done(self.load(&wasm))
            }
        }
    }

    fn finished(&mut self, out: &mut Vec<Finished>) {
        let Some(w) = &self.worker else {
            return;
        };
        let ready: Vec<Compiled> = w.results.try_iter().collect();
        for (ticket, module, compile_ns) in ready {
            let result = module.and_then(|m| self.install(m));
            out.push(Finished {
                ticket,
                result,
                compile_ns,
            });
        }
    }

    fn run(&mut self, handle: u32, helper: &mut Helper<'_>) -> Result<i32, String> {
        let Some(slot) = self.slots.get_mut(handle as usize).and_then(Option::as_mut) else {
            return Err(format!("no JIT module with handle {handle}"));
        };
        let run = match &slot.run {
            Some(run) => run,
            None => {
                // Lazy re-instantiation after a store reset.
                let run = instantiate(
                    &mut self.store,
                    self.imports,
                    &mut self.store_instances,
                    &slot.module,
                )?;
                self.live_in_store += 1;
                if let Some(l) = slot.link {
                    if self.linked.get(&l) == Some(&handle) {
                        let f = Ref::Func(Some(*run.func()));
                        self.imports
                            .table
                            .set(&mut self.store, l as u64, f)
                            .map_err(|e| format!("wasmtime entry table: {e:#}"))?;
                    }
                }
                slot.run.insert(run)
            }
        };
        // SAFETY: only the lifetime is erased; the pointer is cleared below,
        // before `helper`'s borrow ends, and used only by wasm called in between.
        let h: *mut Helper<'static> = unsafe {
            std::mem::transmute::<*mut Helper<'_>, *mut Helper<'static>>(helper as *mut _)
        };
        self.store.data_mut().helper = Some(h);
        let r = run
            .call(&mut self.store, ())
            .map_err(|e| format!("wasm trap: {e:#}"));
        self.store.data_mut().helper = None;
        r
    }

    fn unload(&mut self, handle: u32) {
        if let Some(slot) = self.slots.get_mut(handle as usize).and_then(Option::take) {
            if slot.run.is_some() {
                self.live_in_store -= 1;
            }
            if let Some(l) = slot.link {
                if self.linked.get(&l) == Some(&handle) {
                    self.linked.remove(&l);
                    let f = Ref::Func(Some(self.imports.unlinked));
                    // (In range: `link` checked it.)
                    let _ = self.imports.table.set(&mut self.store, l as u64, f);
                }
            }
            self.free.push(handle);
        }
    }

    fn link_slots(&self) -> u32 {
        self.link_slots
    }

    fn link(&mut self, handle: u32, slot: u32) {
        if slot >= self.link_slots {
            return;
        }
        let Some(s) = self.slots.get_mut(handle as usize).and_then(Option::as_mut) else {
            return;
        };
        // A module not instantiated in this store is linked when it is.
        let f = s.run.as_ref().map(|r| Ref::Func(Some(*r.func())));
        if let Some(f) = f {
            if self
                .imports
                .table
                .set(&mut self.store, slot as u64, f)
                .is_err()
            {
                return;
            }
        }
        if let Some(old) = s.link.replace(slot) {
            if old != slot && self.linked.get(&old) == Some(&handle) {
                self.linked.remove(&old);
                let u = Ref::Func(Some(self.imports.unlinked));
                let _ = self.imports.table.set(&mut self.store, old as u64, u);
            }
        }
        self.linked.insert(slot, handle);
    }
}

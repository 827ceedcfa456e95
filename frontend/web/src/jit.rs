//! The JIT host on the JavaScript engine: the CPU's WebAssembly modules compiled
//! and run by the engine that runs this package (V8 under Node, the browser's own
//! engine in a page or Worker), through `js-sys` only, so the same code serves both.
//!
//! - Memory: every module imports the package's own `WebAssembly.Memory` as
//!   `"e" "m"`. The arena (`tab86_mmu::Arena`) is an allocation inside that linear
//!   memory, so [`JitHost::arena_base`] is its address there and generated code
//!   adds it to every access. Growing the memory (the Rust allocator does so as it
//!   needs) keeps the same `Memory` object, so instantiated modules stay valid.
//! - Helper: `"e" "h"` is the package's own export [`tab86_jit_helper`], a
//!   wasm-to-wasm call (no JavaScript in between). It finds the interpreter
//!   helper of the running [`JitHost::run`] through [`CURRENT`], a scoped pointer
//!   set only while `run` is on the stack (the one global this needs: an export
//!   has no other way to reach per-call state; it is thread-local, and a Worker
//!   has its own).
//! - Run: each module's `run` export is installed in this package's own indirect
//!   function table (the package is linked with `--growable-table`, see build.rs),
//!   and the CPU calls it with a plain `call_indirect` through a function pointer:
//!   measured under Node 20 (`jit_call_cost`), 2-10 ns a call against 65-130 ns
//!   through JavaScript, and the boot makes some 35 million calls. The price: a
//!   trap in generated code (a JIT bug; none in the test suites) cannot be caught
//!   inside wasm, so it ends the call into the package with a
//!   `WebAssembly.RuntimeError`, and that machine is dead (wasm-bindgen refuses
//!   further calls on it); the Node runner reports it. When the table cannot grow,
//!   a module is called through `Function.prototype.call` with a `catch` instead,
//!   where a trap is an error the CPU survives (it drops the module).
//! - Links: where the engine has wasm tail calls (`return_call_indirect`; V8
//!   since 11.2, so Node 20, and current browsers), the host makes the entry table
//!   `"e" "t"` (see [`JitHost::link_slots`]), a `WebAssembly.Table` of one element
//!   per 4 KiB frame of the arena, each the `run` of the module
//!   [`JitHost::link`] put there or [`EMPTY_SLOT`]'s function returning 0. It
//!   finds out once, when it is made, by compiling that module, which also
//!   contains a `return_call_indirect`: an engine without tail calls refuses it,
//!   and the host then has no table (`link_slots() == 0`), so modules return at
//!   every page change as before.
//! - Compile: synchronously (`new WebAssembly.Module`, small modules compile in
//!   well under a millisecond with V8's baseline compiler), or asynchronously
//!   (`WebAssembly.compile`, results collected by [`JitHost::finished`] once the
//!   JavaScript event loop has run the promise's callbacks).
//!
//! The imports every module gets are built in one place, [`imports`].

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use js_sys::{Object, Reflect, Uint8Array, WebAssembly};
use tab86_cpu::jit::{Finished, Helper, JitHost, Submitted};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen]
extern "C" {
    /// This package's indirect function table (`wasm_bindgen::function_table()`).
    type FnTable;
    /// `table.grow(1)`: the new entry's index (fails at the table's maximum).
    #[wasm_bindgen(method, catch, js_name = grow)]
    fn grow1(this: &FnTable, delta: u32) -> Result<u32, JsValue>;
    /// `table.set(index, f)` (`f` a wasm function or `null`).
    #[wasm_bindgen(method, catch)]
    fn set(this: &FnTable, index: u32, f: &JsValue) -> Result<(), JsValue>;
    /// A module's export `"run"`, `[] -> [i32]`.
    type RunFn;
    /// `run.call(undefined)` with the result converted to an `i32` and a thrown
    /// trap returned as `Err` (no boxing of the number on the way back).
    #[wasm_bindgen(method, catch, js_name = call)]
    fn call_i32(this: &RunFn, this_arg: &JsValue) -> Result<i32, JsValue>;
}

thread_local! {
    /// The helper of the [`JitHost::run`] on the stack, if any (see the module
    /// documentation). Set and restored by [`HelperScope`] only.
    static CURRENT: Cell<Option<*mut Helper<'static>>> = const { Cell::new(None) };
}

/// Sets [`CURRENT`] for its lifetime and restores the previous value when dropped.
struct HelperScope(Option<*mut Helper<'static>>);

impl HelperScope {
    fn enter(helper: &mut Helper<'_>) -> HelperScope {
        // SAFETY: only the lifetime is erased. The pointer is reachable through
        // `CURRENT` only until this scope is dropped, which happens before the
        // borrow of `helper` that `JitHost::run` holds ends.
        let p: *mut Helper<'static> = unsafe {
            std::mem::transmute::<*mut Helper<'_>, *mut Helper<'static>>(helper as *mut _)
        };
        HelperScope(CURRENT.with(|c| c.replace(Some(p))))
    }
}

impl Drop for HelperScope {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

/// The import `"e" "h"` of every JIT module: runs one instruction in the
/// interpreter for the module that is running (see `tab86_cpu::jit::Helper`).
/// Returns 1 (leave) when no module is running, which only a misuse from
/// JavaScript can cause. A plain wasm export (`#[no_mangle]`), not part of the
/// package's JavaScript API: only JIT modules import it.
#[no_mangle]
pub extern "C" fn tab86_jit_helper(arg: u32) -> u32 {
    match CURRENT.with(|c| c.get()) {
        // SAFETY: `CURRENT` holds a pointer only while the `JitHost::run` that
        // borrowed the helper mutably is on the stack (`HelperScope`); wasm runs on
        // this one thread, and the helper never re-enters the host, so this is the
        // only use of that borrow now.
        Some(h) => unsafe { (*h)(arg) },
        None => 1,
    }
}

/// How modules are compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compile {
    /// `new WebAssembly.Module` on the CPU's thread.
    Sync,
    /// `WebAssembly.compile`; the interpreter goes on until the promise resolves.
    Async,
}

/// The import object of every module: `{ e: { m: memory, h: tab86_jit_helper } }`,
/// and `t: table` when the host links modules (its entry table).
/// A new import of the JIT is one more `Reflect::set` here.
pub(crate) fn imports(table: Option<&WebAssembly::Table>) -> Result<Object, String> {
    let js = |e: JsValue| format!("{e:?}");
    let e = Object::new();
    Reflect::set(&e, &"m".into(), &wasm_bindgen::memory()).map_err(js)?;
    let helper = Reflect::get(&wasm_bindgen::exports(), &"tab86_jit_helper".into()).map_err(js)?;
    if !helper.is_function() {
        return Err("the package exports no tab86_jit_helper".into());
    }
    Reflect::set(&e, &"h".into(), &helper).map_err(js)?;
    if let Some(t) = table {
        Reflect::set(&e, &"t".into(), t).map_err(js)?;
    }
    let o = Object::new();
    Reflect::set(&o, &"e".into(), &e).map_err(js)?;
    Ok(o)
}

/// A module whose function 0, exported as `"s"`, is the entry table's empty
/// element (`[] -> [i32]`, returns 0), and whose function 1 (not exported, never
/// called) tail-calls through its own table with `return_call_indirect`, so that
/// an engine without wasm tail calls refuses to compile it.
const EMPTY_SLOT: [u8; 49] = [
    0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7F, // types: [] -> [i32]
    0x03, 0x03, 0x02, 0x00, 0x00, // functions: two of type 0
    0x04, 0x04, 0x01, 0x70, 0x00, 0x01, // tables: funcref, 1 element
    0x07, 0x05, 0x01, 0x01, b's', 0x00, 0x00, // exports: "s" = function 0
    0x0A, 0x0E, 0x02, // code: two bodies
    0x04, 0x00, 0x41, 0x00, 0x0B, // i32.const 0
    0x07, 0x00, 0x41, 0x00, 0x13, 0x00, 0x00, 0x0B, // i32.const 0; return_call_indirect 0 0
];

/// The entry table modules import as `"e" "t"` (see [`JitHost::link_slots`]).
struct Links {
    table: WebAssembly::Table,
    /// Its elements.
    len: u32,
    /// The function of the elements no module is linked at ([`EMPTY_SLOT`]'s).
    empty: JsValue,
    /// The handle linked at each element that has one.
    linked: HashMap<u32, u32>,
}

impl Links {
    /// A table of `len` empty elements, or `None` when the engine has no tail
    /// calls (it refuses [`EMPTY_SLOT`]) or `len` is 0.
    fn new(len: u32) -> Result<Option<Links>, String> {
        if len == 0 {
            return Ok(None);
        }
        let Ok(module) = WebAssembly::Module::new(&Uint8Array::from(&EMPTY_SLOT[..])) else {
            return Ok(None);
        };
        let instance = WebAssembly::Instance::new(&module, &Object::new())
            .map_err(|e| format!("entry table: {}", message(&e)))?;
        let empty = Reflect::get(&instance.exports(), &"s".into())
            .ok()
            .filter(JsValue::is_function)
            .ok_or("entry table: no empty-element function")?;
        let desc = Object::new();
        let js = |e: JsValue| format!("entry table: {}", message(&e));
        Reflect::set(&desc, &"element".into(), &"anyfunc".into()).map_err(js)?;
        Reflect::set(&desc, &"initial".into(), &len.into()).map_err(js)?;
        let table = WebAssembly::Table::new_with_value(&desc, empty.clone()).map_err(js)?;
        // (An engine that ignores the constructor's initial value: fill it.)
        if table.get_raw(len - 1).ok().as_ref() != Some(&empty) {
            for i in 0..len {
                table.set_raw(i, &empty).map_err(js)?;
            }
        }
        Ok(Some(Links {
            table,
            len,
            empty,
            linked: HashMap::new(),
        }))
    }

    /// Puts the empty function back at `slot` if `handle` is linked there.
    fn reset(&mut self, slot: u32, handle: u32) {
        if self.linked.get(&slot) == Some(&handle) {
            self.linked.remove(&slot);
            // (In range: `link` checked it.)
            let _ = self.table.set_raw(slot, &self.empty);
        }
    }
}

/// A loaded module: its `run`, its entry in the function table if it got one,
/// and the entry table element it was linked at last.
struct Slot {
    run: RunFn,
    entry: Option<u32>,
    link: Option<u32>,
}

/// A background compilation's callbacks (kept alive until it settles) and start.
struct Waiting {
    _ok: Closure<dyn FnMut(JsValue)>,
    _err: Closure<dyn FnMut(JsValue)>,
    started_ms: f64,
}

/// Settled background compilations: ticket, module or error message.
type Settled = Rc<RefCell<Vec<(u32, Result<WebAssembly::Module, String>)>>>;

/// A [`JitHost`] on the JavaScript engine running this package.
pub struct JsHost {
    base: u32,
    /// Keeps the arena alive as long as modules may address it.
    _keep: Arc<dyn Any + Send + Sync>,
    imports: Object,
    table: FnTable,
    /// The entry table, when the engine has tail calls.
    links: Option<Links>,
    runs: Vec<Option<Slot>>,
    free: Vec<u32>,
    /// Entries of `table` this host grew and no module uses now.
    free_entries: Vec<u32>,
    /// See [`JsHost::catch_traps`].
    catching: bool,
    mode: Compile,
    next_ticket: u32,
    waiting: HashMap<u32, Waiting>,
    settled: Settled,
    clock_ms: fn() -> f64,
}

impl JsHost {
    /// A host for the arena at `ptr..ptr+len` of this package's linear memory;
    /// `keep` keeps that allocation alive; `clock_ms` times background compiles.
    pub fn new(
        ptr: *mut u8,
        len: usize,
        keep: Arc<dyn Any + Send + Sync>,
        mode: Compile,
        clock_ms: fn() -> f64,
    ) -> Result<JsHost, String> {
        if !cfg!(target_arch = "wasm32") {
            return Err("the JavaScript JIT host runs only inside the wasm package".into());
        }
        let base = u32::try_from(ptr as usize).map_err(|_| "arena outside wasm32 memory")?;
        if base.checked_add(len as u32).is_none() || len == 0 {
            return Err(format!("arena {base:#x}+{len:#x} outside 4 GiB"));
        }
        let links = Links::new((len / 4096) as u32)?;
        Ok(JsHost {
            base,
            _keep: keep,
            imports: imports(links.as_ref().map(|l| &l.table))?,
            table: wasm_bindgen::function_table().unchecked_into(),
            links,
            runs: Vec::new(),
            free: Vec::new(),
            free_entries: Vec::new(),
            catching: false,
            mode,
            next_ticket: 0,
            waiting: HashMap::new(),
            settled: Rc::default(),
            clock_ms,
        })
    }

    /// Calls modules through JavaScript with a `catch` from now on (slower; a
    /// trap is then an error the CPU survives), instead of by `call_indirect`.
    pub fn catch_traps(&mut self) {
        self.catching = true;
    }

    /// Modules loaded now (for tests and statistics).
    pub fn loaded(&self) -> usize {
        self.runs.len() - self.free.len()
    }

    /// Instantiates a compiled module against [`imports`] and gives it a handle.
    fn install(&mut self, module: &WebAssembly::Module) -> Result<u32, String> {
        let instance = WebAssembly::Instance::new(module, &self.imports)
            .map_err(|e| format!("wasm instantiate: {}", message(&e)))?;
        let run = Reflect::get(&instance.exports(), &"run".into())
            .ok()
            .filter(JsValue::is_function)
            .ok_or("a JIT module must export a function \"run\"")?
            .unchecked_into::<RunFn>();
        let entry = if self.catching {
            None
        } else {
            let e = self.free_entries.pop().or_else(|| self.table.grow1(1).ok());
            e.filter(|&i| self.table.set(i, &run).is_ok())
        };
        let run = Some(Slot {
            run,
            entry,
            link: None,
        });
        match self.free.pop() {
            Some(h) => {
                self.runs[h as usize] = run;
                Ok(h)
            }
            None => {
                self.runs.push(run);
                Ok(self.runs.len() as u32 - 1)
            }
        }
    }
}

impl Drop for JsHost {
    fn drop(&mut self) {
        // A compilation still under way calls its callback later: leave those
        // alive (they only push into `settled`, which they keep alive themselves)
        // rather than have the engine call freed closures.
        for (_, w) in self.waiting.drain() {
            w._ok.forget();
            w._err.forget();
        }
    }
}

/// A thrown JavaScript value as text (an `Error`'s message, else its debug form).
fn message(e: &JsValue) -> String {
    match e.dyn_ref::<js_sys::Error>() {
        Some(err) => String::from(err.message()),
        None => e.as_string().unwrap_or_else(|| format!("{e:?}")),
    }
}

impl JitHost for JsHost {
    fn arena_base(&self) -> u32 {
        self.base
    }

    fn load(&mut self, wasm: &[u8]) -> Result<u32, String> {
        let bytes = Uint8Array::from(wasm);
        let module = WebAssembly::Module::new(&bytes)
            .map_err(|e| format!("wasm compile: {}", message(&e)))?;
        self.install(&module)
    }

    fn submit(&mut self, wasm: Vec<u8>) -> Submitted {
        if self.mode == Compile::Sync {
            return Submitted::Done(self.load(&wasm));
        }
        let ticket = self.next_ticket;
        self.next_ticket = self.next_ticket.wrapping_add(1);
        let bytes = Uint8Array::from(&wasm[..]);
        let (s1, s2) = (self.settled.clone(), self.settled.clone());
        let ok = Closure::<dyn FnMut(JsValue)>::new(move |m: JsValue| {
            s1.borrow_mut().push((ticket, Ok(m.unchecked_into())));
        });
        let err = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
            s2.borrow_mut()
                .push((ticket, Err(format!("wasm compile: {}", message(&e)))));
        });
        let _ = WebAssembly::compile(&bytes).then2(&ok, &err);
        self.waiting.insert(
            ticket,
            Waiting {
                _ok: ok,
                _err: err,
                started_ms: (self.clock_ms)(),
            },
        );
        Submitted::Pending(ticket)
    }

    fn finished(&mut self, out: &mut Vec<Finished>) {
        if self.waiting.is_empty() {
            return;
        }
        let settled = std::mem::take(&mut *self.settled.borrow_mut());
        let now = (self.clock_ms)();
        for (ticket, module) in settled {
            let started = self.waiting.remove(&ticket).map_or(now, |w| w.started_ms);
            let result = module.and_then(|m| self.install(&m));
            out.push(Finished {
                ticket,
                result,
                compile_ns: ((now - started).max(0.0) * 1e6) as u64,
            });
        }
    }

    fn run(&mut self, handle: u32, helper: &mut Helper<'_>) -> Result<i32, String> {
        let Some(slot) = self.runs.get(handle as usize).and_then(Option::as_ref) else {
            return Err(format!("no JIT module with handle {handle}"));
        };
        let _scope = HelperScope::enter(helper);
        match slot.entry {
            #[cfg(target_arch = "wasm32")]
            Some(entry) => {
                // SAFETY: on wasm32 a function pointer is an index into this
                // package's function table, and entry `entry` holds this module's
                // `run` (set in `install`, cleared only in `unload`), an exported
                // wasm function of type [] -> [i32], which is the type of
                // `extern "C" fn() -> i32`; `call_indirect` checks it again.
                let f: extern "C" fn() -> i32 = unsafe { std::mem::transmute(entry as usize) };
                Ok(f())
            }
            _ => slot
                .run
                .call_i32(&JsValue::UNDEFINED)
                .map_err(|e| format!("wasm trap: {}", message(&e))),
        }
    }

    fn unload(&mut self, handle: u32) {
        if let Some(slot) = self.runs.get_mut(handle as usize).and_then(Option::take) {
            self.free.push(handle);
            if let (Some(l), Some(links)) = (slot.link, self.links.as_mut()) {
                links.reset(l, handle);
            }
            // Let the instance go (the table would keep it alive).
            if let Some(e) = slot.entry {
                if self.table.set(e, &JsValue::NULL).is_ok() {
                    self.free_entries.push(e);
                }
            }
        }
    }

    fn link_slots(&self) -> u32 {
        self.links.as_ref().map_or(0, |l| l.len)
    }

    fn link(&mut self, handle: u32, slot: u32) {
        let Some(links) = self.links.as_mut() else {
            return;
        };
        if slot >= links.len {
            return;
        }
        let Some(s) = self.runs.get_mut(handle as usize).and_then(Option::as_mut) else {
            return;
        };
        if links.table.set_raw(slot, &s.run).is_err() {
            return;
        }
        if let Some(old) = s.link.replace(slot) {
            if old != slot {
                links.reset(old, handle);
            }
        }
        links.linked.insert(slot, handle);
    }
}

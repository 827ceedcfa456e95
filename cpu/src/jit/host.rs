//! The platform side of the JIT: something that turns wasm bytes into a callable
//! module whose memory is the machine's arena (see `tab86_mmu::Arena`).
//!
//! Natively this is wasmtime (`frontend/jit-wasmtime`); in a browser it is the page's
//! own WebAssembly engine. The CPU only sees this trait.

/// What [`JitHost::submit`] did with a module.
#[derive(Debug)]
pub enum Submitted {
    /// Compiled and instantiated already: the handle, or why it failed.
    Done(Result<u32, String>),
    /// Compiling elsewhere (a background thread, an async browser compile); the
    /// result comes back from [`JitHost::finished`] with this ticket.
    Pending(u32),
}

/// A module compiled in the background, reported by [`JitHost::finished`].
#[derive(Debug)]
pub struct Finished {
    /// The ticket [`JitHost::submit`] returned.
    pub ticket: u32,
    /// The module's handle for [`JitHost::run`], or why it failed.
    pub result: Result<u32, String>,
    /// Host nanoseconds the compilation took off the CPU's thread: the compile
    /// thread's CPU time where the host can measure it (natively), else wall
    /// time. The JIT's cost rule learns from it (see [`super::Cost`]).
    pub compile_ns: u64,
}

/// The interpreter, as generated code calls it: the import `"e" "h"` of type
/// `[i32] -> [i32]`. Its argument identifies an instruction of a compiled page
/// (the physical page address of the module that calls, plus the instruction's
/// index in that module, below 4096; the module wrote the registers to the state
/// window first: with linked entries one `run` may pass through several
/// modules); it executes that
/// instruction and returns 0 when the module may carry on after it (registers
/// reloaded from the window), anything else when it must leave at once with the
/// window's EIP and budget.
pub type Helper<'a> = dyn FnMut(u32) -> u32 + 'a;

/// A WebAssembly engine that runs the JIT's modules against the machine's arena.
///
/// Every module imports one memory, `"e" "m"`, which must be the arena itself
/// (its byte 0 at wasm address [`JitHost::arena_base`]), may import one function
/// `"e" "h"` of type `[i32] -> [i32]` (the [`Helper`] passed to [`JitHost::run`]),
/// and exports one function `"run"` of type `[] -> [i32]`.
///
/// **Linked entries** (optional; a host that keeps the defaults of
/// [`JitHost::link_slots`] and [`JitHost::link`] gets modules without them): when
/// `link_slots()` is n > 0, every module also imports `"e" "t"`, a table of
/// `funcref` with at least n elements, and when its code jumps, calls or returns
/// to another page it looks the target up in the TLB and, if the physical frame
/// number is below n, leaves with `return_call_indirect` (type `[] -> [i32]`, the
/// wasm tail-call proposal) through element `frame` instead of returning. The
/// host keeps every element a function of type `[] -> [i32]`: the `run` export of
/// the module [`JitHost::link`] put there, or, when there is none (never linked,
/// unloaded, not instantiated), a function that returns 0 at once, so the call
/// ends the `run` as a plain return would have.
pub trait JitHost {
    /// The wasm address of the arena's first byte (0 when the arena is the whole
    /// wasm memory, its heap address when the arena lives inside a larger memory).
    fn arena_base(&self) -> u32;
    /// Compiles and instantiates `wasm`; returns a handle for [`JitHost::run`].
    fn load(&mut self, wasm: &[u8]) -> Result<u32, String>;
    /// Starts compiling `wasm`. A host that can compile off the CPU's thread
    /// returns [`Submitted::Pending`], so the guest keeps running (interpreted)
    /// meanwhile; the default compiles at once with [`JitHost::load`].
    fn submit(&mut self, wasm: Vec<u8>) -> Submitted {
        Submitted::Done(self.load(&wasm))
    }
    /// Appends the background compilations that have finished since the last call
    /// (instantiated and ready to run, or failed). Never blocks.
    fn finished(&mut self, _out: &mut Vec<Finished>) {}
    /// Calls the export `"run"` of module `handle` and returns its result; an error
    /// means the module trapped (the caller drops it and goes on interpreting).
    /// The module's calls of its import `"e" "h"` go to `helper` (synchronously,
    /// on this thread, while `run` is on the stack; the helper reads and writes the
    /// arena but never calls the host).
    fn run(&mut self, handle: u32, helper: &mut Helper<'_>) -> Result<i32, String>;
    /// Frees a module (its page was written or it is no longer wanted). A linked
    /// module's table element goes back to the returning function.
    fn unload(&mut self, handle: u32);
    /// Elements of the entry table `"e" "t"` (0: the host has no table and modules
    /// do not import one). Constant for the host's lifetime.
    fn link_slots(&self) -> u32 {
        0
    }
    /// Makes element `slot` (< [`JitHost::link_slots`], a physical frame number)
    /// of the entry table the `run` export of module `handle`, until that module
    /// is unloaded or another is linked there.
    fn link(&mut self, _handle: u32, _slot: u32) {}
}

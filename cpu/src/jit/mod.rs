//! The WebAssembly JIT: hot physical pages are compiled into wasm modules that run
//! against the machine's arena (registers in the state window, the TLB and RAM).
//!
//! The interpreter counts how often each decoded block runs. When one reaches
//! [`HOT`] runs, every block cached for its physical page is compiled into one
//! module (see [`codegen`]); blocks with a compiled entry are then run by the
//! module, which keeps going through the page's blocks until it leaves the page,
//! meets an instruction it does not compile, needs the slow memory path or uses up
//! the budget. A guest write to the page drops the module with the page's blocks.

pub mod codegen;
mod flags;
mod host;
mod run;
mod window;

pub use host::JitHost;
pub use window::off as window_offsets;

use hashbrown::HashMap;
use tab86_mmu::ArenaLayout;

/// Runs of one block after which its page is compiled.
pub const HOT: u32 = 20_000;

/// Recompilations of one page (new blocks became hot after it was compiled) before
/// the JIT stops recompiling it.
const MAX_RECOMPILES: u32 = 4;

/// Counters, for `--stats` and benchmarks.
#[derive(Debug, Default, Clone, Copy)]
pub struct JitStats {
    /// Modules compiled.
    pub modules: u64,
    /// Bytes of wasm generated.
    pub wasm_bytes: u64,
    /// Host nanoseconds spent generating and loading modules.
    pub compile_ns: u64,
    /// Calls into generated code.
    pub calls: u64,
    /// Guest instructions retired by generated code.
    pub instructions: u64,
    /// Modules dropped because their page was written.
    pub invalidations: u64,
    /// Modules that trapped (dropped; the interpreter took over).
    pub traps: u64,
}

pub(crate) struct PageModule {
    pub handle: u32,
    pub compiles: u32,
}

/// The JIT's state in a CPU.
pub struct Jit {
    pub(crate) host: Box<dyn JitHost>,
    pub(crate) base: u32,
    pub(crate) layout: ArenaLayout,
    pub(crate) window: *mut u8,
    pub(crate) pages: HashMap<u32, PageModule>,
    pub(crate) stats: JitStats,
    /// Reads the host clock for compile-time statistics (none: not measured).
    pub(crate) clock: Option<fn() -> u64>,
    /// Runs of a block after which its page is compiled ([`HOT`] by default).
    pub(crate) hot: u32,
    /// How often each page's module was dropped because the page was written: code
    /// that keeps rewriting itself stays in the interpreter after [`MAX_REWRITES`].
    pub(crate) rewritten: HashMap<u32, u32>,
}

/// Modules of one page dropped by writes before the page is no longer compiled.
const MAX_REWRITES: u32 = 16;

impl Jit {
    /// Drops the module of a physical page (its code was written).
    pub(crate) fn invalidate_page(&mut self, page: u32) {
        if let Some(p) = self.pages.remove(&page) {
            self.host.unload(p.handle);
            self.stats.invalidations += 1;
            *self.rewritten.entry(page).or_insert(0) += 1;
        }
    }

    /// Drops every module.
    pub(crate) fn clear(&mut self) {
        for (_, p) in self.pages.drain() {
            self.host.unload(p.handle);
        }
    }
}

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

pub use host::{Finished, JitHost, Submitted};
pub use window::off as window_offsets;

use hashbrown::HashMap;
use tab86_mmu::ArenaLayout;

/// Runs of one block after which its page is compiled.
pub const HOT: u32 = 20_000;

/// A page's module gets the blocks that ran at least `HOT / WARM_FRACTION` times
/// (and those its previous module had).
const WARM_FRACTION: u32 = 64;

/// Recompilations of one page (new blocks became hot after it was compiled) before
/// the JIT stops recompiling it. Each is paid for by a block's [`HOT`] runs.
const MAX_RECOMPILES: u32 = 16;

/// Counters, for `--stats` and benchmarks.
#[derive(Debug, Default, Clone, Copy)]
pub struct JitStats {
    /// Modules compiled.
    pub modules: u64,
    /// Bytes of wasm generated.
    pub wasm_bytes: u64,
    /// Host nanoseconds the CPU's thread spent generating and loading modules.
    pub compile_ns: u64,
    /// Host nanoseconds spent compiling modules off the CPU's thread.
    pub background_ns: u64,
    /// Background compilations whose page was written (or whose module was no
    /// longer wanted) before they finished.
    pub discarded: u64,
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
    /// Page offsets with an entry in the module, one bit each.
    pub entries: Box<[u64; 64]>,
}

impl PageModule {
    pub(crate) fn is_entry(&self, offset: u32) -> bool {
        let o = (offset & 0xFFF) as usize;
        self.entries[o / 64] >> (o % 64) & 1 != 0
    }
}

/// A page's module being compiled in the background.
pub(crate) struct PendingModule {
    pub page: u32,
    /// Page offsets of the blocks the module has entries for.
    pub entries: Vec<u32>,
    /// Compilations of the page including this one.
    pub compiles: u32,
    /// Another block of the page became hot meanwhile: compile the page again
    /// once this module is in.
    pub again: bool,
}

/// The JIT's state in a CPU.
pub struct Jit {
    pub(crate) host: Box<dyn JitHost>,
    pub(crate) base: u32,
    pub(crate) layout: ArenaLayout,
    pub(crate) window: *mut u8,
    pub(crate) pages: HashMap<u32, PageModule>,
    /// Background compilations by ticket, and the ticket of each page's.
    pub(crate) pending: HashMap<u32, PendingModule>,
    pub(crate) pending_pages: HashMap<u32, u32>,
    /// Reused buffer for [`JitHost::finished`].
    pub(crate) done: Vec<Finished>,
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
        // A module still compiling was made from the old bytes: forget it (its
        // result is unloaded when it arrives).
        if let Some(t) = self.pending_pages.remove(&page) {
            self.pending.remove(&t);
        }
        if let Some(p) = self.pages.remove(&page) {
            self.host.unload(p.handle);
            self.stats.invalidations += 1;
            *self.rewritten.entry(page).or_insert(0) += 1;
        }
    }

    /// Drops every module.
    pub(crate) fn clear(&mut self) {
        self.pending.clear();
        self.pending_pages.clear();
        for (_, p) in self.pages.drain() {
            self.host.unload(p.handle);
        }
    }
}

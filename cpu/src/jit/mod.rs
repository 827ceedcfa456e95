//! The WebAssembly JIT: hot physical pages are compiled into wasm modules that run
//! against the machine's arena (registers in the state window, the TLB and RAM).
//!
//! The interpreter counts how often each decoded block runs. When one reaches
//! [`HOT`] runs, every block cached for its physical page is compiled into one
//! module (see [`codegen`]); blocks with a compiled entry are then run by the
//! module, which keeps going through the page's blocks until it leaves the page,
//! needs the slow memory path or uses up the budget. Instructions it does not
//! compile are run by the interpreter through a helper the module calls (it only
//! leaves after one that faults, branches or changes what generated code
//! assumes). A guest write to the page drops the module with the page's blocks.

pub mod codegen;
mod flags;
mod host;
mod run;
mod window;

pub use host::{Finished, Helper, JitHost, Submitted};
pub use window::{off as window_offsets, Layout as WindowLayout};

use crate::decode::Op;
use hashbrown::HashMap;
use std::rc::Rc;
use tab86_mmu::ArenaLayout;

/// Runs of one block after which its page is compiled.
pub const HOT: u32 = 20_000;

/// A page's module gets the blocks that ran at least `HOT / WARM_FRACTION` times
/// (and those its previous module had).
const WARM_FRACTION: u32 = 64;

/// Recompilations of one page (new blocks became hot after it was compiled) before
/// the JIT stops recompiling it. Each is paid for by a block's [`HOT`] runs.
const MAX_RECOMPILES: u32 = 16;

/// Loaded modules at most, by default: installing one more drops the least
/// recently entered eighth. It bounds what the engine holds (V8 keeps each
/// module's machine code and instance; the browser's function table grows by one
/// element a module) while a long session keeps touching new code. A Debian boot to
/// its shell and the anchor benchmark load some 300-1000 modules.
pub const MAX_MODULES: usize = 4096;

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
    /// Calls from generated code into the interpreter for one instruction it does
    /// not compile (see [`codegen`]).
    pub helper_calls: u64,
    /// Helper calls after which generated code left (the instruction faulted,
    /// branched, stopped the block or changed what the code assumes).
    pub helper_exits: u64,
    /// Returns of generated code at an instruction of its own page that the
    /// interpreter then ran: an instruction left to the interpreter, or the slow
    /// path of a memory access.
    pub exits_in_page: u64,
    /// Returns of generated code whose next instruction is on another page.
    pub exits_other_page: u64,
    /// Returns of generated code because the instruction budget ran out.
    pub exits_budget: u64,
    /// Jumps, calls and returns from one module straight into another's entry
    /// through the host's entry table (see [`JitHost::link`]), without returning.
    pub links: u64,
    /// Modules dropped because more than the bound were loaded (the ones entered
    /// least recently; see [`MAX_MODULES`]).
    pub evictions: u64,
    /// Guest instructions compiled into modules (over all modules).
    pub compiled_instructions: u64,
    /// Compilations the cost rule put off: the page had not yet run enough to
    /// pay for its module (see [`Cost`]).
    pub deferred: u64,
}

/// The JIT's cost rule: a page is compiled only once the time its code has run
/// interpreted would, run compiled instead, have saved at least what compiling
/// it costs. Its past is taken as the forecast of its future (the ski-rental
/// rule: never pay more than twice the best choice in hindsight). A block that
/// reaches [`HOT`] runs asks for its page; a page that is not worth it yet asks
/// again each time one of its blocks doubles its runs.
///
/// The cost of a compiled guest instruction is measured as modules come back
/// (the host's compile time, the CPU time of the compile thread natively),
/// starting from [`Cost::PRIOR_NS_PER_INSN`]. Time spent compiling off the
/// CPU's thread counts for [`Cost::BACKGROUND_SHARE`]: it runs on another core
/// and delays the guest only when that core is needed too.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    /// Compile nanoseconds measured, over `insns` compiled guest instructions
    /// (the prior included).
    ns: u64,
    insns: u64,
    /// Whether the rule applies (tests that set a threshold compile at it).
    pub enabled: bool,
}

impl Cost {
    /// What running a guest instruction compiled instead of interpreted saves, in
    /// picoseconds: measured on the deterministic Debian boot, whose 6.8 G
    /// instructions took 3.9 ns each interpreted and about 1.2 ns in generated
    /// code (README, "Benchmarks").
    pub const SAVED_PS_PER_INSN: u64 = 2_700;
    /// Compile cost assumed before any module has come back, per compiled guest
    /// instruction, as the CPU's thread pays it: Cranelift at its default level
    /// took 114-119 us of CPU per compiled instruction on the build machine,
    /// counted for [`Cost::BACKGROUND_SHARE`].
    pub const PRIOR_NS_PER_INSN: u64 = 119_000 / Self::BACKGROUND_SHARE;
    /// Background compile time counts for 1/`BACKGROUND_SHARE` of itself. Chosen
    /// from measurements on the 2-core build machine (README, "Benchmarks"): the
    /// anchor's boot and `bench.sh` took the same wall time as compiling every
    /// hot page (1/16: 46.6 s, 1/4: 48.2 s, every page: 47.3 s) while the Debian
    /// boot compiled 352 modules instead of 402 (1/4: 226, counted whole: 90,
    /// and 12% more wall time to the shell).
    pub const BACKGROUND_SHARE: u64 = 16;
    /// Weight of the prior, in compiled instructions.
    const PRIOR_INSNS: u64 = 1_000;

    fn new() -> Self {
        Cost {
            ns: Self::PRIOR_NS_PER_INSN * Self::PRIOR_INSNS,
            insns: Self::PRIOR_INSNS,
            enabled: true,
        }
    }

    /// Records a module of `insns` instructions that took `ns` to compile.
    pub(crate) fn measured(&mut self, insns: u64, ns: u64) {
        self.ns = self.ns.saturating_add(ns);
        self.insns = self.insns.saturating_add(insns.max(1));
    }

    /// Nanoseconds compiling `insns` guest instructions is expected to cost.
    pub fn estimate_ns(&self, insns: u64) -> u64 {
        (u128::from(insns) * u128::from(self.ns) / u128::from(self.insns.max(1))) as u64
    }

    /// Whether `executed` guest instructions run interpreted so far pay for
    /// compiling `insns`.
    pub fn worth(&self, executed: u64, insns: u64) -> bool {
        !self.enabled
            || u128::from(executed) * u128::from(Self::SAVED_PS_PER_INSN)
                >= u128::from(self.estimate_ns(insns)) * 1000
    }
}

/// Counters by iced `Code` (indexed by `Code as usize`), for `--stats`.
pub(crate) struct CodeCounts(Box<[u64]>);

impl Default for CodeCounts {
    fn default() -> Self {
        CodeCounts(vec![0; iced_x86::Code::values().count()].into_boxed_slice())
    }
}

impl CodeCounts {
    #[inline]
    pub(crate) fn add(&mut self, code: iced_x86::Code) {
        if let Some(c) = self.0.get_mut(code as usize) {
            *c += 1;
        }
    }

    /// The `n` most frequent codes with their counts, most frequent first.
    pub(crate) fn top(&self, n: usize) -> Vec<(iced_x86::Code, u64)> {
        let mut v: Vec<(iced_x86::Code, u64)> = iced_x86::Code::values()
            .zip(self.0.iter().copied())
            .filter(|&(_, c)| c != 0)
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then((a.0 as u32).cmp(&(b.0 as u32))));
        v.truncate(n);
        v
    }
}

pub(crate) struct PageModule {
    pub handle: u32,
    /// The instructions the module calls the interpreter for, by the index it
    /// passes to the helper import.
    pub helper_ops: Rc<[Op]>,
    pub compiles: u32,
    /// Page offsets with an entry in the module, one bit each.
    pub entries: Box<[u64; 64]>,
    /// Instruction count when the run loop last entered the module (modules
    /// entered only through links from others keep an older one): the
    /// least recent go first when the bound is reached.
    pub last_run: u64,
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
    /// See [`PageModule::helper_ops`].
    pub helper_ops: Rc<[Op]>,
    /// Guest instructions compiled (for the cost rule's measurements).
    pub instructions: u64,
    /// Another block of the page became hot meanwhile: compile the page again
    /// once this module is in.
    pub again: bool,
}

/// The JIT's state in a CPU.
pub struct Jit {
    pub(crate) host: Box<dyn JitHost>,
    /// Elements of the host's entry table ([`JitHost::link_slots`]).
    pub(crate) link_slots: u32,
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
    /// The cost rule and its measurements.
    pub(crate) cost: Cost,
    /// Loaded modules at most ([`MAX_MODULES`] by default).
    pub(crate) max_modules: usize,
    /// How often each page's module was dropped because the page was written: code
    /// that keeps rewriting itself stays in the interpreter after [`MAX_REWRITES`].
    pub(crate) rewritten: HashMap<u32, u32>,
    /// Instructions the interpreter ran after generated code returned, by code.
    pub(crate) exits: CodeCounts,
    /// Helper calls from generated code, by code.
    pub(crate) helpers: CodeCounts,
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

//! The CPU's side of the JIT: compiling a hot page and calling into its module.

use super::codegen::{self, PageBlock};
use super::window::{seg_bases, Window};
use super::{
    Jit, JitHost, JitStats, PageModule, PendingModule, Submitted, MAX_RECOMPILES, MAX_REWRITES,
    WARM_FRACTION,
};
use crate::decode::{Block, Op};
use crate::state::{fl, sreg, Segment};
use crate::Cpu;
use std::rc::Rc;
use tab86_mmu::Bus;

impl Cpu {
    /// Gives the CPU a wasm engine: from now on hot pages are compiled and run there.
    /// `host` must run modules against this CPU's arena (`cpu.mem.arena()`).
    /// `clock` (host nanoseconds) is used for compile-time statistics only.
    pub fn set_jit(&mut self, host: Box<dyn JitHost>, clock: Option<fn() -> u64>) {
        let arena = self.mem.arena().clone();
        let layout = *arena.layout();
        let base = host.arena_base();
        let link_slots = host.link_slots();
        self.jit = Some(Box::new(Jit {
            link_slots,
            host,
            base,
            layout,
            window: arena.ptr().wrapping_add(layout.state as usize),
            pages: Default::default(),
            pending: Default::default(),
            pending_pages: Default::default(),
            done: Vec::new(),
            stats: JitStats::default(),
            clock,
            hot: super::HOT,
            cost: super::Cost::new(),
            max_modules: super::MAX_MODULES,
            rewritten: Default::default(),
            exits: Default::default(),
            helpers: Default::default(),
        }));
    }

    /// Sets how many runs make a block hot (tests compile early with a small
    /// value). The cost rule ([`super::Cost`]) is then off: a page compiles when
    /// one of its blocks reaches `runs`.
    pub fn set_jit_threshold(&mut self, runs: u32) {
        if let Some(j) = self.jit.as_mut() {
            j.hot = runs.max(1);
            j.cost.enabled = false;
        }
    }

    /// Sets how many modules may be loaded at once (at least 1); see
    /// [`super::MAX_MODULES`]. Tests use a small bound to exercise eviction.
    pub fn set_jit_max_modules(&mut self, n: usize) {
        if let Some(j) = self.jit.as_mut() {
            j.max_modules = n.max(1);
        }
    }

    /// JIT counters, when a JIT is installed.
    pub fn jit_stats(&self) -> Option<JitStats> {
        self.jit.as_ref().map(|j| j.stats)
    }

    /// The `n` instructions the interpreter most often ran after generated code
    /// returned inside its page (compiled ones there needed the slow memory path;
    /// the others cannot be called from generated code), as iced-x86 code names
    /// with counts, most frequent first.
    pub fn jit_top_exits(&self, n: usize) -> Vec<(String, u64)> {
        self.jit
            .as_ref()
            .map_or(Vec::new(), |j| named(j.exits.top(n)))
    }

    /// The `n` instructions generated code most often called the interpreter for
    /// (the candidates for compiling natively), like [`Cpu::jit_top_exits`].
    pub fn jit_top_helpers(&self, n: usize) -> Vec<(String, u64)> {
        self.jit
            .as_ref()
            .map_or(Vec::new(), |j| named(j.helpers.top(n)))
    }

    /// Counts the instruction the interpreter runs after generated code returned
    /// inside its page (for [`Cpu::jit_top_exits`]).
    pub(crate) fn jit_note_exit(&mut self, op: &Op) {
        if let Some(j) = self.jit.as_mut() {
            j.exits.add(op.code);
        }
    }

    /// Whether generated code may run now: 32-bit flat code, data and stack
    /// segments (base 0, 4 GiB, the rights generated code assumes), no single-step,
    /// no virtual-8086 mode.
    fn jit_flat(&self) -> bool {
        let s = &self.state;
        if s.eflags & (fl::TF | fl::VM) != 0 {
            return false;
        }
        let flat = |n: usize, need: u16| {
            let g = &s.seg[n];
            g.base == 0 && g.lo == 0 && g.hi == u32::MAX && g.rights & need == need
        };
        flat(sreg::CS, Segment::READ | Segment::EXEC)
            && s.seg[sreg::CS].big()
            && flat(sreg::SS, Segment::READ | Segment::WRITE)
            && s.seg[sreg::SS].big()
            && flat(sreg::DS, Segment::READ | Segment::WRITE)
            && flat(sreg::ES, Segment::READ | Segment::WRITE)
    }

    /// Whether the module of `phys`'s page has an entry at `phys`.
    pub(crate) fn jit_is_entry(&self, phys: u32) -> bool {
        self.jit
            .as_ref()
            .and_then(|j| j.pages.get(&(phys & !0xFFF)))
            .is_some_and(|p| p.is_entry(phys))
    }

    /// Runs the page module from `block`; false when it could not make progress
    /// (the interpreter then runs the block).
    pub(crate) fn jit_run(&mut self, bus: &mut dyn Bus, block: &Rc<Block>, end: u64) -> bool {
        if !self.jit_flat() {
            return false;
        }
        let budget = (end - self.state.icount).min(u32::MAX as u64) as u32;
        // The JIT is out of the CPU while its module runs: the helper calls back
        // into the CPU, and nothing an instruction handler does touches the JIT
        // (written code pages are only recorded, and dropped below).
        let Some(mut jit) = self.jit.take() else {
            return false;
        };
        let page = block.phys & !0xFFF;
        let Some(pm) = jit.pages.get_mut(&page) else {
            block.jit_entry.set(false);
            self.jit = Some(jit);
            return false;
        };
        pm.last_run = self.state.icount;
        let handle = pm.handle;
        let w = Window(jit.window);
        w.store(&self.state, &self.masks, &self.time, budget);
        let entry = self.state.eip;
        let icount0 = self.state.icount;
        let Jit {
            host,
            helpers,
            stats,
            pages,
            ..
        } = &mut *jit;
        let result = host.run(handle, &mut |i| {
            // The calling module's page and its instruction's index (modules
            // linked to each other may call from any page).
            let op = pages
                .get(&(i & !0xFFF))
                .and_then(|p| p.helper_ops.get((i & 0xFFF) as usize))
                .copied();
            let Some(op) = op else {
                // Not an instruction a loaded module was given: leave, state unchanged.
                return 1;
            };
            helpers.add(op.code);
            stats.helper_calls += 1;
            let leave = self.jit_helper(bus, &w, &op, icount0, budget);
            stats.helper_exits += leave as u64;
            leave as u32
        });
        let progress = match result {
            Ok(_) => {
                let left = w.load(&mut self.state);
                let ran = budget.saturating_sub(left) as u64;
                self.state.icount = icount0 + ran;
                // A REP string instruction run by the helper that yielded.
                self.state.icount += std::mem::take(&mut self.rep_extra);
                jit.stats.calls += 1;
                jit.stats.links += w.take_links() as u64;
                jit.stats.instructions += ran;
                // (CS is flat here: EIP is the linear address.)
                if self.state.icount >= end {
                    jit.stats.exits_budget += 1;
                } else if (self.state.eip ^ entry) & !0xFFF != 0 {
                    jit.stats.exits_other_page += 1;
                } else {
                    jit.stats.exits_in_page += 1;
                }
                ran > 0 || self.state.eip != entry
            }
            Err(e) => {
                // A trap is a JIT bug: drop the module and interpret the page. The
                // registers are as the window had them before the call, or as the
                // last helper call left them (its instruction done).
                log::error!("jit: module for page {page:#x} trapped: {e}");
                jit.stats.traps += 1;
                if let Some(p) = jit.pages.remove(&page) {
                    jit.host.unload(p.handle);
                }
                block.jit_entry.set(false);
                false
            }
        };
        self.jit = Some(jit);
        // A helper call wrote to a page holding code (maybe this module's own).
        if self.mem.has_invalidated() {
            self.drop_invalidated();
        }
        progress
    }

    /// Executes `op` for generated code (the helper import): the registers are in
    /// the window `w` with EIP at the instruction and the budget left before it.
    /// Returns whether the module must leave right after it: the instruction
    /// faulted (the exception was delivered), branched, stopped the block, wrote
    /// to a code page, or changed the paging, privilege, interrupt or segment
    /// state that generated code assumes. The window holds the state after it
    /// either way, with the budget charged as if the instruction ran in the module.
    fn jit_helper(
        &mut self,
        bus: &mut dyn Bus,
        w: &Window,
        op: &Op,
        icount0: u64,
        budget: u32,
    ) -> bool {
        let before = w.load(&mut self.state);
        // Instructions reading the time stamp counter see the count so far.
        self.state.icount = icount0 + budget.saturating_sub(before) as u64;
        let eip = self.state.eip;
        let fallthrough = eip.wrapping_add(op.len as u32);
        self.next_eip = fallthrough;
        self.stop = false;
        let m = self.masks;
        let segs = seg_bases(&self.state);
        let (cr0, cr3, cr4, flags) = (
            self.state.cr0,
            self.state.cr3,
            self.state.cr4,
            self.state.eflags & (fl::IF | fl::TF | fl::VM),
        );
        let leave = match (op.handler)(self, bus, op) {
            Ok(()) => {
                self.state.icount += 1;
                self.state.eip = self.next_eip;
                let s = &self.state;
                self.stop
                    || self.next_eip != fallthrough
                    || self.exit.is_some()
                    || s.int_shadow
                    || s.halted
                    || self.mem.has_invalidated()
                    || (s.cr0, s.cr3, s.cr4) != (cr0, cr3, cr4)
                    // IF set (an interrupt may be due: poll), TF or VM changed; CLI
                    // needs no poll.
                    || (s.eflags & fl::IF) & !flags != 0
                    || (s.eflags ^ flags) & (fl::TF | fl::VM) != 0
                    || (
                        self.masks.rmask,
                        self.masks.rwant,
                        self.masks.wmask,
                        self.masks.wwant,
                    ) != (m.rmask, m.rwant, m.wmask, m.wwant)
                    || !self.jit_flat()
                    || seg_bases(s) != segs
            }
            Err(f) => {
                self.raise(bus, f);
                true
            }
        };
        let used = (self.state.icount - icount0).min(budget as u64) as u32;
        w.store(&self.state, &self.masks, &self.time, budget - used);
        leave
    }

    /// Compiles every 32-bit block cached for physical page `page` into one module
    /// (in the background when the host can; the page stays interpreted until then).
    /// `offset` is the block that became hot (if a compilation of the page is
    /// under way and lacks it, the page is compiled again after that one).
    pub(crate) fn jit_compile(&mut self, page: u32, offset: u32) {
        let Some(jit) = self.jit.as_mut() else {
            return;
        };
        if let Some(t) = jit.pending_pages.get(&page) {
            // Already compiling: if this block is not in that module, compile the
            // page again once it is in.
            if let Some(p) = jit.pending.get_mut(t) {
                p.again |= !p.entries.contains(&offset);
            }
            return;
        }
        let compiles = jit.pages.get(&page).map_or(0, |p| p.compiles);
        if compiles > MAX_RECOMPILES || jit.rewritten.get(&page).is_some_and(|&n| n > MAX_REWRITES)
        {
            return;
        }
        let t0 = jit.clock.map(|c| c());
        // Only blocks that ran often enough to matter: cold code would make the
        // module bigger (Cranelift's time grows faster than the code) for nothing.
        // A block left out that becomes hot later compiles the page again.
        let warm = (jit.hot / WARM_FRACTION).max(1);
        let keys = self.cache.by_page.get(&page).cloned().unwrap_or_default();
        let blocks: Vec<Rc<Block>> = keys
            .iter()
            .filter(|k| *k >> 32 != 0)
            .filter_map(|k| self.cache.blocks.get(k).cloned())
            .filter(|b| b.hits.get() >= warm || b.jit_entry.get())
            .collect();
        // The cost rule: what the blocks new to this compilation ran interpreted
        // must pay for compiling them all.
        let executed: u64 = blocks
            .iter()
            .filter(|b| !b.jit_entry.get())
            .map(|b| u64::from(b.hits.get()) * b.ops.len() as u64)
            .sum();
        let insns: u64 = blocks.iter().map(|b| b.ops.len() as u64).sum();
        if !jit.cost.worth(executed, insns) {
            jit.stats.deferred += 1;
            return;
        }
        let page_blocks: Vec<PageBlock> = blocks
            .iter()
            .map(|b| PageBlock {
                offset: b.phys & 0xFFF,
                ops: &b.ops,
            })
            .collect();
        let target = codegen::Target {
            layout: &jit.layout,
            base: jit.base,
            page,
            link_slots: jit.link_slots,
        };
        let Some(c) = codegen::compile(&page_blocks, &target) else {
            return;
        };
        jit.stats.modules += 1;
        jit.stats.wasm_bytes += c.wasm.len() as u64;
        jit.stats.compiled_instructions += c.instructions as u64;
        let instructions = c.instructions as u64;
        let submitted = jit.host.submit(c.wasm);
        let pending_submitted = matches!(submitted, Submitted::Pending(_));
        let pending = PendingModule {
            page,
            entries: c.entries,
            compiles: compiles + 1,
            helper_ops: c.helper_ops.into(),
            instructions,
            again: false,
        };
        match submitted {
            Submitted::Done(Ok(handle)) => self.jit_install(pending, handle),
            Submitted::Done(Err(e)) => {
                log::error!("jit: module for page {page:#x} failed to load: {e}");
            }
            Submitted::Pending(ticket) => {
                let jit = self.jit.as_mut().expect("jit");
                jit.pending_pages.insert(page, ticket);
                jit.pending.insert(ticket, pending);
            }
        }
        let jit = self.jit.as_mut().expect("jit");
        if let (Some(t0), Some(clock)) = (t0, jit.clock) {
            let ns = clock().saturating_sub(t0);
            jit.stats.compile_ns += ns;
            if !pending_submitted {
                // Compiled on this thread: that was the whole cost.
                jit.cost.measured(instructions, ns);
            }
        }
    }

    /// Installs the modules the host finished compiling in the background.
    pub(crate) fn jit_collect(&mut self) {
        let Some(jit) = self.jit.as_mut() else {
            return;
        };
        let mut done = std::mem::take(&mut jit.done);
        jit.host.finished(&mut done);
        for f in done.drain(..) {
            let jit = self.jit.as_mut().expect("jit");
            jit.stats.background_ns += f.compile_ns;
            let Some(p) = jit.pending.remove(&f.ticket) else {
                // Its page was written (or everything dropped) meanwhile.
                jit.stats.discarded += 1;
                if let Ok(h) = f.result {
                    jit.host.unload(h);
                }
                continue;
            };
            jit.pending_pages.remove(&p.page);
            jit.cost
                .measured(p.instructions, f.compile_ns / super::Cost::BACKGROUND_SHARE);
            match f.result {
                Ok(handle) => {
                    let (page, again) = (p.page, p.again);
                    self.jit_install(p, handle);
                    if again {
                        self.jit_compile(page, u32::MAX);
                    }
                }
                Err(e) => log::error!("jit: module for page {:#x} failed to load: {e}", p.page),
            }
        }
        if let Some(jit) = self.jit.as_mut() {
            jit.done = done;
        }
    }

    /// Makes `handle` the module of page `p.page` and lets the page's blocks with
    /// a compiled entry run there. The page was not written since the module was
    /// generated (a write drops the pending compilation), so blocks decoded since
    /// then at an entry offset run the same bytes.
    fn jit_install(&mut self, p: PendingModule, handle: u32) {
        let Some(jit) = self.jit.as_mut() else {
            return;
        };
        let mut entries = Box::new([0u64; 64]);
        for &o in &p.entries {
            let o = (o & 0xFFF) as usize;
            entries[o / 64] |= 1 << (o % 64);
        }
        let module = PageModule {
            handle,
            compiles: p.compiles,
            helper_ops: p.helper_ops,
            entries,
            last_run: self.state.icount,
        };
        if let Some(keys) = self.cache.by_page.get(&p.page) {
            for k in keys.iter().filter(|k| *k >> 32 != 0) {
                if let Some(b) = self.cache.blocks.get(k) {
                    if module.is_entry(b.phys) {
                        b.jit_entry.set(true);
                    }
                }
            }
        }
        if let Some(old) = jit.pages.insert(p.page, module) {
            jit.host.unload(old.handle);
        }
        // Jumps from other modules to this page now come straight here.
        if p.page >> 12 < jit.link_slots {
            jit.host.link(handle, p.page >> 12);
        }
        if jit.pages.len() > jit.max_modules {
            self.jit_evict(p.page);
        }
    }

    /// Drops the least recently entered modules (never `keep`'s) until an eighth
    /// of the bound is free. Their pages' blocks become cold again (hit counts
    /// cleared), so a page that is still in use compiles again once hot.
    fn jit_evict(&mut self, keep: u32) {
        let Some(jit) = self.jit.as_mut() else {
            return;
        };
        let target = jit.max_modules - jit.max_modules / 8;
        let mut by_age: Vec<(u64, u32)> = jit
            .pages
            .iter()
            .filter(|(&page, _)| page != keep)
            .map(|(&page, m)| (m.last_run, page))
            .collect();
        by_age.sort_unstable();
        let n = jit.pages.len().saturating_sub(target).min(by_age.len());
        for &(_, page) in &by_age[..n] {
            if let Some(m) = jit.pages.remove(&page) {
                jit.host.unload(m.handle);
                jit.stats.evictions += 1;
            }
            if let Some(keys) = self.cache.by_page.get(&page) {
                for k in keys.iter() {
                    if let Some(b) = self.cache.blocks.get(k) {
                        b.jit_entry.set(false);
                        b.hits.set(0);
                    }
                }
            }
        }
    }
}

fn named(v: Vec<(iced_x86::Code, u64)>) -> Vec<(String, u64)> {
    v.into_iter().map(|(c, n)| (format!("{c:?}"), n)).collect()
}

//! The CPU object and its run loop: fetch a cached block, execute its ops, deliver
//! faults and interrupts between instructions.

use crate::decode::{Block, CodeCache};
use crate::fault::{vector, Fault};
use crate::interrupt::IntKind;
use crate::mem::TlbMasks;
use crate::ops::x87::Fpu;
use crate::state::{fl, sreg, CpuState};
use std::rc::Rc;
use tab86_mmu::{Bus, PhysMem, Tlb};

/// Why [`Cpu::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The instruction budget is used up.
    Budget,
    /// HLT with interrupts enabled: waiting for an interrupt.
    Halted,
    /// HLT with interrupts disabled: nothing but NMI or reset can wake the CPU.
    HaltedNoWake,
    /// A fault while delivering a double fault: the processor shuts down.
    TripleFault,
}

/// One i386 CPU with its memory and caches.
pub struct Cpu {
    /// Architectural registers.
    pub state: CpuState,
    /// Guest physical memory.
    pub mem: PhysMem,
    /// The TLB.
    pub tlb: Tlb,
    /// The x87 unit, whose registers also hold MM0-7. Its FERR# latch
    /// (`fpu.ferr()`, set with CR0.NE = 0) is polled by the board: IRQ 13 is
    /// raised while it is set, and an OUT to port 0xF0 calls `fpu.clear_ferr()`.
    pub fpu: Fpu,
    /// XMM registers and MXCSR (SSE/SSE2).
    pub simd: crate::simd::SimdState,
    /// Maps retired instructions to virtual time (TSC); set by the machine.
    pub time: crate::msr::TimeBase,
    /// What CPUID reports (the machine may widen it).
    pub cpuid: crate::cpuid::CpuidConfig,
    /// EIP of the next instruction while one executes; branches overwrite it.
    pub next_eip: u32,
    /// Set by an instruction that changes the mode, interrupt state or code:
    /// the current block ends after it.
    pub stop: bool,
    /// Iterations a REP string instruction ran beyond the one instruction it
    /// counts as, when it yields mid-way: added to the instruction count as its
    /// block ends, so long REP runs use up the slice budget (timers, input and
    /// `--timeout` stay serviced) and advance deterministic time.
    pub(crate) rep_extra: u64,
    /// A data breakpoint is enabled in DR7 (see `debug.rs`).
    pub(crate) data_bp_armed: bool,
    /// DR6.B0-B3 of the data breakpoints the current instruction hit, pending
    /// until it completes (or, after MOV SS/POP SS, until the next one does).
    pub(crate) data_bp_hit: u8,
    pub(crate) cache: CodeCache,
    pub(crate) masks: TlbMasks,
    /// Instruction and interrupt tracing (off when `None`; see [`crate::trace`]).
    pub trace: Option<Box<crate::trace::Trace>>,
    pub(crate) exit: Option<Exit>,
    /// Nesting of exception delivery, for the double- and triple-fault rules.
    delivering: Option<u8>,
    /// The instruction running now is the one after a MOV SS or POP SS: a second
    /// SS load there does not open a new shadow (see [`Cpu::ss_shadow`]).
    pub(crate) in_ss_shadow: bool,
    /// The WebAssembly JIT, when the platform provides an engine.
    pub(crate) jit: Option<Box<crate::jit::Jit>>,
}

impl Cpu {
    /// A CPU in the RESET state with `mem` as its physical memory.
    pub fn new(mem: PhysMem) -> Self {
        let tlb = Tlb::in_arena(mem.arena().clone());
        Cpu {
            state: CpuState::reset(),
            mem,
            tlb,
            fpu: Fpu::default(),
            simd: Default::default(),
            time: Default::default(),
            cpuid: Default::default(),
            next_eip: 0,
            stop: false,
            rep_extra: 0,
            data_bp_armed: false,
            data_bp_hit: 0,
            cache: CodeCache::default(),
            masks: TlbMasks::new(false),
            trace: None,
            exit: None,
            delivering: None,
            in_ss_shadow: false,
            jit: None,
        }
    }

    /// Puts the CPU back into the RESET state (memory is kept, caches dropped).
    pub fn reset(&mut self) {
        self.state = CpuState::reset();
        self.fpu = Fpu::default();
        self.simd = Default::default();
        self.tlb.flush(false);
        self.cache.clear();
        if let Some(j) = self.jit.as_mut() {
            j.clear();
        }
        self.update_masks();
        self.delivering = None;
        self.data_bp_armed = false;
        self.data_bp_hit = 0;
    }

    /// Forgets any exception delivery in progress (only meaningful between
    /// instructions, e.g. when a snapshot replaces the state).
    pub(crate) fn reset_delivery(&mut self) {
        self.delivering = None;
    }

    /// Drops all cached translations and decoded code (after loaders write memory
    /// behind the CPU's back, or the state is replaced wholesale).
    pub fn invalidate_all(&mut self) {
        self.tlb.flush(false);
        self.cache.clear();
        if let Some(j) = self.jit.as_mut() {
            j.clear();
        }
        self.mem.take_invalidated();
        self.update_masks();
    }

    /// Number of cached blocks (for statistics).
    pub fn cached_blocks(&self) -> usize {
        self.cache.len()
    }

    /// Makes [`Cpu::run`] return [`Exit::Budget`] after the current instruction
    /// (the board asked for it, see `Bus::end_slice`).
    pub(crate) fn end_slice(&mut self) {
        self.exit.get_or_insert(Exit::Budget);
    }

    /// Runs up to `budget` instructions (or fewer, when the bus asks to end the
    /// slice after a port write, see `Bus::end_slice`).
    ///
    /// The INTR and NMI lines are polled at entry, after every block that ended with `stop`
    /// (a fault, an interrupt, or an instruction that touched a port or MMIO or set
    /// IF) and after the single instruction that ran under an interrupt shadow (the
    /// one after STI, MOV SS, POP SS; never in generated code): the line only
    /// changes through bus accesses or between calls, and IF only with `stop`, so
    /// polling after other blocks would always give the same answer.
    ///
    /// Blocks are chained: a block that ended without `stop` remembers its
    /// successor (see [`Block::chained`]), which is reused without a TLB or cache
    /// lookup while EIP stays in the same linear page.
    pub fn run(&mut self, bus: &mut dyn Bus, budget: u64) -> Exit {
        if self.trace.is_some() {
            self.run_loop::<true>(bus, budget)
        } else {
            self.run_loop::<false>(bus, budget)
        }
    }

    /// The run loop; `TRACE` compiles in the per-instruction trace hook.
    fn run_loop<const TRACE: bool>(&mut self, bus: &mut dyn Bus, budget: u64) -> Exit {
        // Code pages written between calls (loaders, device DMA) are dropped before
        // the first block is looked up, not after its first instruction.
        if self.mem.has_invalidated() {
            self.drop_invalidated();
        }
        if self.jit.as_ref().is_some_and(|j| !j.pending.is_empty()) {
            self.jit_collect();
        }
        let end = self.state.icount.saturating_add(budget);
        let mut poll = true;
        // The block just executed (if it ended without `stop`) with the link slot
        // that applies, and the linear page it was fetched from.
        let mut prev: Option<(Rc<Block>, usize)> = None;
        let mut lin_page = 0;
        // Set after generated code left at a non-entry of its own page.
        let mut resume_in: Option<u32> = None;
        while self.state.icount < end {
            if poll && !self.state.int_shadow {
                // NMI first (SDM vol. 3, 6.9: it outranks INTR), unless an NMI
                // handler has not yet returned with IRET.
                let nmi = !self.state.nmi_blocked && bus.nmi_pending();
                if nmi || (self.state.eflags & fl::IF != 0 && bus.intr_pending()) {
                    let v = if nmi {
                        bus.nmi_ack();
                        self.state.nmi_blocked = true;
                        vector::NMI
                    } else {
                        bus.intr_ack()
                    };
                    prev = None;
                    self.state.halted = false;
                    let eip = self.state.eip;
                    if let Err(f) = self.interrupt(bus, v, IntKind::Hardware, None, eip) {
                        self.raise(bus, f);
                    }
                    if let Some(x) = self.exit.take() {
                        return x;
                    }
                    continue;
                }
            }
            // The instruction after STI, MOV SS or POP SS runs alone and ends the
            // shadow (which holds NMI and INTR): both are polled again right after.
            let shadow = std::mem::take(&mut self.state.int_shadow);
            self.in_ss_shadow = std::mem::take(&mut self.state.ss_shadow);
            if self.state.halted {
                return if self.state.eflags & fl::IF != 0 {
                    Exit::Halted
                } else {
                    Exit::HaltedNoWake
                };
            }
            self.stop = false;
            let mut next = None;
            if let Some((p, slot)) = &prev {
                let eip = self.state.eip;
                let cs = &self.state.seg[sreg::CS];
                let lin = cs.base.wrapping_add(eip);
                if lin & !0xFFF == lin_page && eip <= cs.hi {
                    next = p.chained(*slot, eip, (p.phys & !0xFFF) | (lin & 0xFFF));
                }
            }
            let block = match next {
                Some(b) => b,
                None => match self.block_at(bus) {
                    Ok((b, lin)) => {
                        if let Some((p, slot)) = &prev {
                            if lin & !0xFFF == lin_page {
                                p.link(*slot, self.state.eip, &b);
                            }
                        }
                        lin_page = lin & !0xFFF;
                        b
                    }
                    Err(f) => {
                        prev = None;
                        poll = true;
                        self.raise(bus, f);
                        if let Some(x) = self.exit.take() {
                            return x;
                        }
                        continue;
                    }
                },
            };
            let mut block_end = if shadow {
                end.min(self.state.icount + 1)
            } else {
                end
            };
            if !TRACE && self.jit.is_some() && !shadow {
                if !block.jit_entry.get() {
                    let h = block.hits.get().wrapping_add(1);
                    block.hits.set(h);
                    // A block first seen on a compiled page may start at one of
                    // its module's entries (a resume point after an instruction
                    // the module leaves to the interpreter).
                    if h == 1 && self.jit_is_entry(block.phys) {
                        block.jit_entry.set(true);
                    } else if self
                        .jit
                        .as_ref()
                        // At HOT runs, then at each doubling (a page the cost
                        // rule put off asks again).
                        .is_some_and(|j| h == j.hot || (h > j.hot && h.is_power_of_two()))
                        && self.state.code32()
                    {
                        self.jit_compile(block.phys & !0xFFF, block.phys & 0xFFF);
                    }
                }
                if block.jit_entry.get() {
                    resume_in = None;
                    let page = block.phys & !0xFFF;
                    if self.jit_run(bus, &block, end) {
                        // Left inside its own page, at an instruction it does not
                        // compile (or before a slow memory access): interpret just
                        // that instruction, then look for an entry again.
                        let lin = self.state.seg[sreg::CS].base.wrapping_add(self.state.eip);
                        if lin & !0xFFF == lin_page {
                            resume_in = Some(page);
                        }
                        prev = None;
                        // An instruction the module had the interpreter run may
                        // have faulted, touched a port or changed IF.
                        poll = self.stop;
                        self.settle_stop(bus);
                        if let Some(x) = self.exit.take() {
                            return x;
                        }
                        continue;
                    }
                } else if resume_in.take() == Some(block.phys & !0xFFF) {
                    block_end = end.min(self.state.icount + 1);
                    self.jit_note_exit(&block.ops[0]);
                }
            }
            let branched = self.exec_block::<TRACE>(bus, &block, block_end);
            self.settle_stop(bus);
            if let Some(x) = self.exit.take() {
                return x;
            }
            poll = self.stop | shadow;
            prev = if self.stop || block_end != end {
                None
            } else {
                Some((block, branched as usize))
            };
        }
        Exit::Budget
    }

    /// Executes exactly one instruction (or delivers one pending interrupt/fault).
    pub fn step(&mut self, bus: &mut dyn Bus) -> Exit {
        self.run(bus, 1)
    }

    /// Runs the ops of one block until one branches, stops the block, faults, or
    /// the budget (`end`) is reached. Returns whether it ended with a taken branch;
    /// a fault, self-modified code or a single-step trap set `stop`.
    #[inline(always)]
    fn exec_block<const TRACE: bool>(
        &mut self,
        bus: &mut dyn Bus,
        block: &Block,
        end: u64,
    ) -> bool {
        let ops = &block.ops;
        let entry_eip = self.state.eip;
        let single = self.state.eflags & fl::TF != 0;
        // `run` only calls this with icount < end, so at least one op runs.
        let left = end - self.state.icount;
        let n = if left < ops.len() as u64 {
            left as usize
        } else {
            ops.len()
        };
        // EIP and the instruction count live in registers here and are only stored
        // (never reloaded) per instruction, which keeps the loop free of
        // store-to-load dependencies; handlers still see both in `state`.
        let mut eip = self.state.eip;
        let mut icount = self.state.icount;
        for op in &ops[..n] {
            let fallthrough = eip.wrapping_add(op.len as u32);
            self.next_eip = fallthrough;
            if TRACE {
                self.trace_insn(bus, block, entry_eip, op);
            }
            if let Err(f) = (op.handler)(self, bus, op) {
                self.raise(bus, f);
                return false;
            }
            let next = self.next_eip;
            icount += 1;
            self.state.icount = icount;
            self.state.eip = next;
            if single | self.mem.has_invalidated() {
                // A load of SS holds its own single-step trap: the #DB comes after
                // the next instruction, which ends the shadow (the block ends here
                // because the SS load set `stop`).
                let trap = single && !self.state.ss_shadow;
                self.block_exit(bus, trap);
                return false;
            }
            if self.stop | (next != fallthrough) {
                return true;
            }
            eip = fallthrough;
        }
        false
    }

    /// After a block or a module ran: charges the iterations of a REP string
    /// instruction that yielded, and delivers the #DB of data breakpoints hit by
    /// the instruction that just completed (unless that instruction loaded SS:
    /// then after the next one, which runs alone).
    #[inline(always)]
    fn settle_stop(&mut self, bus: &mut dyn Bus) {
        if self.stop {
            self.state.icount += std::mem::take(&mut self.rep_extra);
            // An MMIO write may have asked for it too (a local APIC timer
            // programmed: the machine recomputes the slice to its deadline).
            if bus.end_slice() {
                self.end_slice();
            }
        }
        if self.data_bp_hit != 0 && !self.state.ss_shadow {
            self.data_bp_trap(bus);
        }
    }

    /// The rare ends of a block: self-modified code (its blocks are dropped),
    /// single-stepping (#DB after the instruction).
    #[inline(never)]
    fn block_exit(&mut self, bus: &mut dyn Bus, single: bool) {
        self.stop = true;
        if self.mem.has_invalidated() {
            self.drop_invalidated();
        }
        if single {
            // One #DB reports single-step and any data breakpoint hit with it.
            self.state.dr[6] =
                (self.state.dr[6] & !0xF) | u32::from(std::mem::take(&mut self.data_bp_hit));
            self.state.dr[6] |= 1 << 14;
            let eip = self.state.eip;
            if let Err(f) = self.interrupt(bus, vector::DB, IntKind::Exception, None, eip) {
                self.raise(bus, f);
            }
        }
    }

    /// Delivers a fault raised by an instruction, applying the double- and
    /// triple-fault rules (SDM vol. 3, 6.15, table 6-5).
    pub fn raise(&mut self, bus: &mut dyn Bus, f: Fault) {
        self.stop = true;
        // A faulting instruction did not complete: its breakpoint hits do not trap.
        self.data_bp_hit = 0;
        self.state.halted = false;
        // A delivered fault counts against the budget, so a guest stuck in a fault
        // loop (handler that faults again) cannot keep `run` from returning.
        self.state.icount += 1;
        let mut f = f;
        loop {
            let prev = self.delivering;
            if prev == Some(vector::DF) {
                self.exit = Some(Exit::TripleFault);
                self.delivering = None;
                return;
            }
            if let Some(p) = prev {
                let first = Fault::new(p);
                let double = (first.contributory() && f.contributory())
                    || (p == vector::PF && (f.contributory() || f.vector == vector::PF));
                if double {
                    f = Fault::with_code(vector::DF, 0);
                }
            }
            self.delivering = Some(f.vector);
            let eip = self.state.eip;
            let r = self.interrupt(bus, f.vector, IntKind::Exception, f.error_code, eip);
            match r {
                Ok(()) => {
                    self.delivering = None;
                    return;
                }
                Err(f2) => f = f2,
            }
        }
    }
}

//! The CPU object and its run loop: fetch a cached block, execute its ops, deliver
//! faults and interrupts between instructions.

use crate::decode::CodeCache;
use crate::fault::{vector, Fault};
use crate::interrupt::IntKind;
use crate::mem::TlbMasks;
use crate::ops::x87::Fpu;
use crate::state::{fl, CpuState};
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
    pub(crate) cache: CodeCache,
    pub(crate) masks: TlbMasks,
    exit: Option<Exit>,
    /// Nesting of exception delivery, for the double- and triple-fault rules.
    delivering: Option<u8>,
}

impl Cpu {
    /// A CPU in the RESET state with `mem` as its physical memory.
    pub fn new(mem: PhysMem) -> Self {
        Cpu {
            state: CpuState::reset(),
            mem,
            tlb: Tlb::new(),
            fpu: Fpu::default(),
            simd: Default::default(),
            time: Default::default(),
            cpuid: Default::default(),
            next_eip: 0,
            stop: false,
            cache: CodeCache::default(),
            masks: TlbMasks::new(false),
            exit: None,
            delivering: None,
        }
    }

    /// Puts the CPU back into the RESET state (memory is kept, caches dropped).
    pub fn reset(&mut self) {
        self.state = CpuState::reset();
        self.fpu = Fpu::default();
        self.simd = Default::default();
        self.tlb.flush(false);
        self.cache.clear();
        self.update_masks();
        self.delivering = None;
    }

    /// Drops all cached translations and decoded code (after loaders write memory
    /// behind the CPU's back, or the state is replaced wholesale).
    pub fn invalidate_all(&mut self) {
        self.tlb.flush(false);
        self.cache.clear();
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

    /// Runs up to `budget` instructions (or fewer, when the bus asks to end the slice).
    pub fn run(&mut self, bus: &mut dyn Bus, budget: u64) -> Exit {
        // Device DMA between slices may have overwritten cached code.
        if self.mem.has_invalidated() {
            self.drop_invalidated();
        }
        let end = self.state.icount.saturating_add(budget);
        while self.state.icount < end {
            if self.state.eflags & fl::IF != 0 && !self.state.int_shadow && bus.intr_pending() {
                let v = bus.intr_ack();
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
            self.state.int_shadow = false;
            if self.state.halted {
                return if self.state.eflags & fl::IF != 0 {
                    Exit::Halted
                } else {
                    Exit::HaltedNoWake
                };
            }
            match self.block_at(bus) {
                Ok(block) => self.exec_block(bus, &block.ops, end),
                Err(f) => self.raise(bus, f),
            }
            if let Some(x) = self.exit.take() {
                return x;
            }
        }
        Exit::Budget
    }

    /// Executes exactly one instruction (or delivers one pending interrupt/fault).
    pub fn step(&mut self, bus: &mut dyn Bus) -> Exit {
        self.run(bus, 1)
    }

    fn exec_block(&mut self, bus: &mut dyn Bus, ops: &[crate::decode::Op], end: u64) {
        let single = self.state.eflags & fl::TF != 0;
        for op in ops {
            let start = self.state.eip;
            let fallthrough = start.wrapping_add(op.len as u32);
            self.next_eip = fallthrough;
            self.stop = false;
            match (op.handler)(self, bus, op) {
                Ok(()) => {
                    self.state.eip = self.next_eip;
                    self.state.icount += 1;
                }
                Err(f) => {
                    self.raise(bus, f);
                    return;
                }
            }
            if self.mem.has_invalidated() {
                self.drop_invalidated();
                return;
            }
            if single {
                self.state.dr[6] |= 1 << 14;
                let eip = self.state.eip;
                if let Err(f) = self.interrupt(bus, vector::DB, IntKind::Exception, None, eip) {
                    self.raise(bus, f);
                }
                return;
            }
            if self.stop || self.next_eip != fallthrough || self.state.icount >= end {
                return;
            }
        }
    }

    /// Delivers a fault raised by an instruction, applying the double- and
    /// triple-fault rules (SDM vol. 3, 6.15, table 6-5).
    pub fn raise(&mut self, bus: &mut dyn Bus, f: Fault) {
        self.stop = true;
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

//! The CPU's saved state: what a snapshot of the machine keeps of the processor.
//!
//! A snapshot is taken between [`Cpu::run`] calls, where no instruction is half
//! done: the architectural registers ([`CpuState`]: general registers, EFLAGS,
//! segment registers with their descriptor caches, GDTR/IDTR/LDTR/TR, CR0-CR4,
//! DR0-DR7, the MSRs, the PDPTE registers, HLT and the interrupt shadow), the x87
//! unit (with the FERR# latch), XMM0-7 and MXCSR, the time base, and the two
//! pieces of per-instruction state that can survive a slice boundary (a pending
//! SS-load shadow and data-breakpoint hits not yet reported). The TLB, the decoded
//! block cache and the JIT's modules are caches: they are not saved, and start
//! cold after [`Cpu::restore`].

use crate::msr::TimeBase;
use crate::ops::x87::Fpu;
use crate::simd::SimdState;
use crate::state::CpuState;
use crate::Cpu;
/// The x87 register format, named here so snapshot encoders can reach it.
pub use tab86_softfloat::F80;

/// Everything the CPU needs to continue where it was saved.
#[derive(Debug, Clone)]
pub struct CpuSnapshot {
    /// The architectural registers.
    pub state: CpuState,
    /// The x87 registers (and MMX, which alias them).
    pub fpu: Fpu,
    /// XMM registers and MXCSR.
    pub simd: SimdState,
    /// The mapping from retired instructions to virtual time (and the TSC).
    pub time: TimeBase,
    /// The instruction running at the save point followed a MOV SS/POP SS.
    pub in_ss_shadow: bool,
    /// DR6.B0-B3 of data breakpoints hit and not yet reported.
    pub data_bp_hit: u8,
}

impl Cpu {
    /// The CPU's state, for a machine snapshot (call between [`Cpu::run`] calls).
    pub fn snapshot(&self) -> CpuSnapshot {
        CpuSnapshot {
            state: self.state.clone(),
            fpu: self.fpu.clone(),
            simd: self.simd.clone(),
            time: self.time,
            in_ss_shadow: self.in_ss_shadow,
            data_bp_hit: self.data_bp_hit,
        }
    }

    /// Continue from `s`: registers replaced, the TLB, the block cache and the
    /// JIT's modules dropped (they warm up again), breakpoint arming recomputed.
    /// Memory is the caller's (restore RAM first or after; caches are dropped here).
    pub fn restore(&mut self, s: &CpuSnapshot) {
        self.state = s.state.clone();
        self.fpu = s.fpu.clone();
        self.simd = s.simd.clone();
        self.time = s.time;
        self.in_ss_shadow = s.in_ss_shadow;
        self.data_bp_hit = s.data_bp_hit;
        self.next_eip = self.state.eip;
        self.stop = false;
        self.rep_extra = 0;
        self.exit = None;
        self.reset_delivery();
        self.invalidate_all();
        self.debug_regs_changed();
    }
}

//! Data breakpoints (DR0-DR3 with R/W = 01 or 11 in DR7): a hit is a trap, a #DB
//! after the instruction that made the access, with DR6.Bn set.
//!
//! The check costs nothing while no data breakpoint is enabled: while one is, the
//! linear pages it covers get TLB entries without the RAM bit, so the
//! interpreter's fast paths and generated code both miss and take the slow path,
//! where accesses are compared with the breakpoints. A trap is held across the
//! instruction after MOV SS or POP SS, like single-step (SDM vol. 3, 6.8.3).

use crate::fault::vector;
use crate::interrupt::IntKind;
use crate::Cpu;
use tab86_mmu::Bus;

/// Bytes covered for each DR7 LEN encoding (10b is 8 bytes on P4 and later).
const LEN: [u32; 4] = [1, 2, 8, 4];

/// The enabled data breakpoints of `dr7`: (index, R/W field, length).
fn enabled(dr7: u32) -> impl Iterator<Item = (usize, u32, u32)> {
    (0..4).filter_map(move |i| {
        let rw = dr7 >> (16 + 4 * i) & 3;
        let on = dr7 >> (2 * i) & 3 != 0 && (rw == 1 || rw == 3);
        on.then(|| (i, rw, LEN[(dr7 >> (18 + 4 * i) & 3) as usize]))
    })
}

impl Cpu {
    /// Recomputes whether any data breakpoint is armed after DR0-DR3 or DR7
    /// changed, and drops cached translations so that the pages it covers leave
    /// the fast paths (or come back to them).
    pub(crate) fn debug_regs_changed(&mut self) {
        self.data_bp_armed = enabled(self.state.dr[7]).next().is_some();
        self.tlb.flush(false);
    }

    /// Whether the linear page of `lin` holds a byte an armed data breakpoint
    /// watches (its TLB entry must then stay off the fast paths).
    pub(crate) fn data_bp_page(&self, lin: u32) -> bool {
        let page = lin & !0xFFF;
        enabled(self.state.dr[7]).any(|(i, _, len)| {
            let a = self.state.dr[i] & !(len - 1);
            a & !0xFFF == page || a.wrapping_add(len - 1) & !0xFFF == page
        })
    }

    /// Records which armed breakpoints an access of `size` bytes at `lin` hits;
    /// the instruction ends its block so the trap is taken right after it.
    #[inline(never)]
    pub(crate) fn data_bp_check(&mut self, lin: u32, size: u32, write: bool) {
        for (i, rw, len) in enabled(self.state.dr[7]) {
            if rw == 1 && !write {
                continue;
            }
            let a = self.state.dr[i] & !(len - 1);
            if lin.wrapping_sub(a) < len || a.wrapping_sub(lin) < size {
                self.data_bp_hit |= 1 << i;
                self.stop = true;
            }
        }
    }

    /// Delivers the #DB of the data breakpoints hit by the instruction that just
    /// completed (EIP is already past it). Called by the run loop unless an SS
    /// load holds the trap for one more instruction.
    pub(crate) fn data_bp_trap(&mut self, bus: &mut dyn Bus) {
        let hits = std::mem::take(&mut self.data_bp_hit);
        self.state.dr[6] = (self.state.dr[6] & !0xF) | u32::from(hits);
        let eip = self.state.eip;
        if let Err(f) = self.interrupt(bus, vector::DB, IntKind::Exception, None, eip) {
            self.raise(bus, f);
        }
    }
}

//! The JIT state window: the registers generated code works on, copied from
//! [`CpuState`] into the arena before a call and back after it.

use crate::flags::LazyFlags;
use crate::mem::TlbMasks;
use crate::msr::TimeBase;
use crate::state::{cr, CpuState};

/// The window's fields in memory order (`#[repr(C)]`, little-endian like wasm):
/// generated code addresses them through the offsets in [`off`], derived from
/// this struct, so the layout is written down once.
#[repr(C)]
pub struct Layout {
    /// EAX..EDI, 4 bytes each.
    pub gpr: [u32; 8],
    /// EIP.
    pub eip: u32,
    /// EFLAGS (arithmetic bits stale while `LOP` is not NONE).
    pub eflags: u32,
    /// Lazy flags: op, res, a, b, cin.
    pub lop: u32,
    /// Lazy result.
    pub lres: u32,
    /// Lazy first operand.
    pub la: u32,
    /// Lazy second operand.
    pub lb: u32,
    /// Lazy carry-in.
    pub lcin: u32,
    /// In: instructions the code may retire; out: instructions left.
    pub budget: u32,
    /// TLB masks for reads and writes at the current CPL.
    pub rmask: u32,
    /// Wanted bits for reads.
    pub rwant: u32,
    /// Mask for writes.
    pub wmask: u32,
    /// Wanted bits for writes.
    pub wwant: u32,
    /// FS base (see `seg_bases`).
    pub fsbase: u32,
    /// GS base.
    pub gsbase: u32,
    /// Bit 0: FS, bit 1: GS may be used by generated code with its base.
    pub segok: u32,
    /// TLB mask for instruction fetches (looking up a linked entry's page).
    pub xmask: u32,
    /// Wanted bits for fetches.
    pub xwant: u32,
    /// Out: jumps from one module into another through the entry table.
    pub links: u32,
    /// RDTSC: the TSC at virtual time 0 of the time base (its base time plus the
    /// TSC offset, wrapping), 8 bytes.
    pub tscb: u64,
    /// RDTSC: instructions from the time base's anchor to the point where the
    /// budget would reach 0 (the instructions since the anchor at an instruction
    /// are this minus the budget before it), 8 bytes.
    pub tsce: u64,
    /// RDTSC: virtual nanoseconds per 1000 instructions.
    pub tsck: u32,
    /// RDTSC may be computed from the three fields above: 1, or 0 when the
    /// interpreter must run it (CR4.TSD outside CPL 0, or values whose arithmetic
    /// would not fit 64 bits, which the interpreter saturates).
    pub tscok: u32,
}

/// Byte offsets of the fields in the window (relative to `ArenaLayout::state`),
/// from [`Layout`].
pub mod off {
    use super::Layout;
    use std::mem::offset_of;

    /// See [`Layout::gpr`].
    pub const GPR: u32 = offset_of!(Layout, gpr) as u32;
    /// See [`Layout::eip`].
    pub const EIP: u32 = offset_of!(Layout, eip) as u32;
    /// See [`Layout::eflags`].
    pub const EFLAGS: u32 = offset_of!(Layout, eflags) as u32;
    /// See [`Layout::lop`].
    pub const LOP: u32 = offset_of!(Layout, lop) as u32;
    /// See [`Layout::lres`].
    pub const LRES: u32 = offset_of!(Layout, lres) as u32;
    /// See [`Layout::la`].
    pub const LA: u32 = offset_of!(Layout, la) as u32;
    /// See [`Layout::lb`].
    pub const LB: u32 = offset_of!(Layout, lb) as u32;
    /// See [`Layout::lcin`].
    pub const LCIN: u32 = offset_of!(Layout, lcin) as u32;
    /// See [`Layout::budget`].
    pub const BUDGET: u32 = offset_of!(Layout, budget) as u32;
    /// See [`Layout::rmask`].
    pub const RMASK: u32 = offset_of!(Layout, rmask) as u32;
    /// See [`Layout::rwant`].
    pub const RWANT: u32 = offset_of!(Layout, rwant) as u32;
    /// See [`Layout::wmask`].
    pub const WMASK: u32 = offset_of!(Layout, wmask) as u32;
    /// See [`Layout::wwant`].
    pub const WWANT: u32 = offset_of!(Layout, wwant) as u32;
    /// See [`Layout::fsbase`].
    pub const FSBASE: u32 = offset_of!(Layout, fsbase) as u32;
    /// See [`Layout::gsbase`].
    pub const GSBASE: u32 = offset_of!(Layout, gsbase) as u32;
    /// See [`Layout::segok`].
    pub const SEGOK: u32 = offset_of!(Layout, segok) as u32;
    /// See [`Layout::xmask`].
    pub const XMASK: u32 = offset_of!(Layout, xmask) as u32;
    /// See [`Layout::xwant`].
    pub const XWANT: u32 = offset_of!(Layout, xwant) as u32;
    /// See [`Layout::links`].
    pub const LINKS: u32 = offset_of!(Layout, links) as u32;
    /// See [`Layout::tscb`].
    pub const TSCB: u32 = offset_of!(Layout, tscb) as u32;
    /// See [`Layout::tsce`].
    pub const TSCE: u32 = offset_of!(Layout, tsce) as u32;
    /// See [`Layout::tsck`].
    pub const TSCK: u32 = offset_of!(Layout, tsck) as u32;
    /// See [`Layout::tscok`].
    pub const TSCOK: u32 = offset_of!(Layout, tscok) as u32;
    /// Size of the window in use.
    pub const SIZE: u32 = std::mem::size_of::<Layout>() as u32;
    const _: () = assert!(SIZE <= tab86_mmu::ArenaLayout::STATE_SIZE);
}

/// FS and GS as generated code uses them: their bases, and which of them (bit 0
/// FS, bit 1 GS) are readable and writable data segments with no limit (offsets
/// 0 to 4 GiB - 1), so that an access is base + offset and never faults for the
/// segment. Others are left to the interpreter.
pub(crate) fn seg_bases(s: &CpuState) -> (u32, u32, u32) {
    use crate::state::{sreg, Segment};
    let need = Segment::READ | Segment::WRITE;
    let ok = |g: &Segment| g.lo == 0 && g.hi == u32::MAX && g.rights & need == need;
    let (fs, gs) = (&s.seg[sreg::FS], &s.seg[sreg::GS]);
    (fs.base, gs.base, ok(fs) as u32 | (ok(gs) as u32) << 1)
}

/// The terms generated code computes RDTSC from (`Cpu::tsc` as the interpreter
/// has it: `base_ns + (icount - base_icount) * k / 1000 + tsc_offset`), for a call
/// starting at `s.icount` with `budget` instructions: the constant part, the
/// instructions since the anchor when the budget is spent, and `k`. `None` when
/// RDTSC faults here (CR4.TSD outside CPL 0) or some instruction of the call could
/// see a value the 64-bit arithmetic would not give exactly (`k` of 0 or above
/// 32 bits, a product or sum past 64 bits, a count before the anchor, which the
/// interpreter saturates).
pub(crate) fn tsc_terms(s: &CpuState, t: &TimeBase, budget: u32) -> Option<(u64, u64, u32)> {
    if s.cr4 & cr::TSD != 0 && s.cpl != 0 {
        return None;
    }
    let k = u32::try_from(t.ns_per_kinstr).ok().filter(|&k| k != 0)?;
    let first = s.icount.checked_sub(t.base_icount)?;
    let e = first.checked_add(budget as u64)?;
    t.base_ns.checked_add(e.checked_mul(k as u64)? / 1000)?;
    Some((t.base_ns.wrapping_add(s.tsc_offset), e, k))
}

/// Reads and writes the window at `base` (the arena's state window).
pub(crate) struct Window(pub *mut u8);

impl Window {
    fn put(&self, at: u32, v: u32) {
        // SAFETY: `at` < off::SIZE, inside the 4 KiB window of a live arena.
        unsafe { (self.0.add(at as usize) as *mut u32).write_unaligned(v) }
    }

    fn get(&self, at: u32) -> u32 {
        // SAFETY: as in `put`.
        unsafe { (self.0.add(at as usize) as *const u32).read_unaligned() }
    }

    /// Copies the registers, flags, masks, FS/GS bases and the time stamp
    /// counter's terms (see [`tsc_terms`]) in, with `budget` instructions allowed.
    pub fn store(&self, s: &CpuState, m: &TlbMasks, t: &TimeBase, budget: u32) {
        for (i, g) in s.gpr.iter().enumerate() {
            self.put(off::GPR + 4 * i as u32, *g);
        }
        self.put(off::EIP, s.eip);
        self.put(off::EFLAGS, s.eflags);
        self.put(off::LOP, s.lazy.op);
        self.put(off::LRES, s.lazy.res);
        self.put(off::LA, s.lazy.a);
        self.put(off::LB, s.lazy.b);
        self.put(off::LCIN, s.lazy.cin);
        self.put(off::BUDGET, budget);
        self.put(off::RMASK, m.rmask);
        self.put(off::RWANT, m.rwant);
        self.put(off::WMASK, m.wmask);
        self.put(off::WWANT, m.wwant);
        let (fs, gs, ok) = seg_bases(s);
        self.put(off::FSBASE, fs);
        self.put(off::GSBASE, gs);
        self.put(off::SEGOK, ok);
        self.put(off::XMASK, m.xmask);
        self.put(off::XWANT, m.xwant);
        let (b, e, k) = tsc_terms(s, t, budget).unwrap_or((0, 0, 0));
        self.put(off::TSCB, b as u32);
        self.put(off::TSCB + 4, (b >> 32) as u32);
        self.put(off::TSCE, e as u32);
        self.put(off::TSCE + 4, (e >> 32) as u32);
        self.put(off::TSCK, k);
        self.put(off::TSCOK, (k != 0) as u32);
    }

    /// Jumps through the entry table since the last call (the counter restarts).
    pub fn take_links(&self) -> u32 {
        let n = self.get(off::LINKS);
        self.put(off::LINKS, 0);
        n
    }

    /// Copies the registers and flags back; returns the instructions left.
    pub fn load(&self, s: &mut CpuState) -> u32 {
        for i in 0..8 {
            s.gpr[i] = self.get(off::GPR + 4 * i as u32);
        }
        s.eip = self.get(off::EIP);
        s.eflags = self.get(off::EFLAGS);
        s.lazy = LazyFlags {
            op: self.get(off::LOP),
            res: self.get(off::LRES),
            a: self.get(off::LA),
            b: self.get(off::LB),
            cin: self.get(off::LCIN),
        };
        self.get(off::BUDGET)
    }
}

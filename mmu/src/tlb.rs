//! A direct-mapped TLB laid out as a flat array of `(tag, frame)` pairs that both the
//! interpreter and generated wasm index with `(linear >> 12) & (TLB_ENTRIES - 1)`.
//!
//! The tag holds the linear page number in bits 31..12 and permission bits below, so a
//! lookup is one mask and one compare: `entry.tag & mask == page | want`.

use crate::arena::Arena;
use std::sync::Arc;

/// Number of entries (a power of two).
pub const TLB_ENTRIES: usize = 4096;

/// One TLB entry. `#[repr(C)]` so generated code can index it.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TlbEntry {
    /// Linear page (bits 31..12) and the `Tlb::*` permission bits.
    pub tag: u32,
    /// Physical frame address (bits 31..12).
    pub frame: u32,
}

/// A TLB owned by one CPU. Its entries live in the [`Arena`], where generated code
/// indexes them too.
pub struct Tlb {
    entries: *mut [TlbEntry; TLB_ENTRIES],
    /// One bit per 4 MiB linear region that may hold [`Tlb::LARGE`] entries
    /// (cleared by a full flush), so INVLPG scans for large-page pieces only there.
    large_regions: [u32; 32],
    _arena: Arc<Arena>,
}

impl Tlb {
    /// The entry holds a translation.
    pub const VALID: u32 = 1;
    /// CPL 3 may read (and fetch from) the page.
    pub const USER: u32 = 2;
    /// CPL 0-2 may write without a walk (writable or CR0.WP clear, and already dirty).
    pub const WRITE_SUP: u32 = 4;
    /// CPL 3 may write without a walk.
    pub const WRITE_USER: u32 = 8;
    /// Survives a CR3 load (PGE).
    pub const GLOBAL: u32 = 0x10;
    /// The frame is plain RAM, so the fast path may touch the buffer directly.
    pub const RAM: u32 = 0x20;
    /// Instruction fetches must not use the entry: XD is set in the PDE or PTE with
    /// IA32_EFER.NXE (the fetch masks require this bit clear, so a fetch walks and
    /// takes the #PF; reads and writes ignore it).
    pub const NO_EXEC: u32 = 0x40;
    /// The entry is one 4 KiB piece of a 4 MiB (PSE) or 2 MiB (PAE) page, which
    /// INVLPG of any address in that page must drop too.
    pub const LARGE: u32 = 0x80;

    /// An empty TLB with an arena of its own (tests, tools).
    pub fn new() -> Self {
        Self::in_arena(Arc::new(Arena::new(0)))
    }

    /// An empty TLB stored in `arena` (its TLB part is zeroed: no valid entries).
    pub fn in_arena(arena: Arc<Arena>) -> Self {
        let entries = arena.at(arena.layout().tlb) as *mut [TlbEntry; TLB_ENTRIES];
        let mut t = Tlb {
            entries,
            large_regions: [0; 32],
            _arena: arena,
        };
        t.flush(false);
        t
    }

    /// The entries, indexed by linear page number modulo [`TLB_ENTRIES`] (a fixed
    /// size, so a masked index needs no bounds check).
    #[inline(always)]
    pub fn entries(&self) -> &[TlbEntry; TLB_ENTRIES] {
        // SAFETY: 8-byte aligned entries inside the arena that `_arena` keeps alive;
        // `&self` excludes writers through this TLB.
        unsafe { &*self.entries }
    }

    #[inline(always)]
    fn entries_mut(&mut self) -> &mut [TlbEntry; TLB_ENTRIES] {
        // SAFETY: as in `entries`, with `&mut self`.
        unsafe { &mut *self.entries }
    }

    /// The slot for a linear address.
    #[inline(always)]
    pub fn index(lin: u32) -> usize {
        (lin >> 12) as usize & (TLB_ENTRIES - 1)
    }

    /// Looks up `lin`: returns the frame when `tag & mask == page | want`.
    #[inline(always)]
    pub fn lookup(&self, lin: u32, mask: u32, want: u32) -> Option<u32> {
        let e = self.entries()[Self::index(lin)];
        if e.tag & mask == (lin & 0xFFFF_F000) | want {
            Some(e.frame)
        } else {
            None
        }
    }

    /// Installs a translation.
    #[inline]
    pub fn insert(&mut self, lin: u32, frame: u32, flags: u32) {
        if flags & Self::LARGE != 0 {
            self.large_regions[(lin >> 27) as usize] |= 1 << (lin >> 22 & 31);
        }
        self.entries_mut()[Self::index(lin)] = TlbEntry {
            tag: (lin & 0xFFFF_F000) | flags | Self::VALID,
            frame,
        };
    }

    /// Drops every entry (or every non-global one, for a CR3 load with PGE on).
    pub fn flush(&mut self, keep_global: bool) {
        if !keep_global {
            self.large_regions = [0; 32];
        }
        for e in self.entries_mut().iter_mut() {
            if !(keep_global && e.tag & Self::GLOBAL != 0) {
                e.tag = 0;
            }
        }
    }

    /// INVLPG: drops the translation of one linear page, global or not, and the
    /// [`Tlb::LARGE`] pieces of the large page that may hold it (every such entry
    /// of the aligned 4 MiB around `lin`, which covers a 2 MiB PAE page as well;
    /// scanned only when large pages were cached there since the last full flush).
    pub fn flush_page(&mut self, lin: u32) {
        let e = &mut self.entries_mut()[Self::index(lin)];
        if e.tag & 0xFFFF_F000 == lin & 0xFFFF_F000 {
            e.tag = 0;
        }
        if self.large_regions[(lin >> 27) as usize] & 1 << (lin >> 22 & 31) == 0 {
            return;
        }
        let region = lin & 0xFFC0_0000;
        for page in 0..1024u32 {
            let l = region | page << 12;
            let e = &mut self.entries_mut()[Self::index(l)];
            if e.tag & (0xFFFF_F000 | Self::LARGE) == l | Self::LARGE {
                e.tag = 0;
            }
        }
    }

    /// Drops every entry whose frame is `frame` (used when a page's kind changes).
    pub fn flush_frame(&mut self, frame: u32) {
        for e in self.entries_mut().iter_mut() {
            if e.tag & Self::VALID != 0 && e.frame == frame & 0xFFFF_F000 {
                e.tag = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_checks_page_and_permissions() {
        let mut t = Tlb::new();
        t.insert(0x1234_5000, 0x9000, Tlb::USER | Tlb::RAM);
        let page_mask = 0xFFFF_F000 | Tlb::VALID | Tlb::RAM;
        assert_eq!(
            t.lookup(
                0x1234_5FFF,
                page_mask | Tlb::USER,
                Tlb::VALID | Tlb::RAM | Tlb::USER
            ),
            Some(0x9000)
        );
        let w = page_mask | Tlb::WRITE_USER;
        assert_eq!(
            t.lookup(0x1234_5000, w, Tlb::VALID | Tlb::RAM | Tlb::WRITE_USER),
            None
        );
        // Same slot, different page.
        assert_eq!(
            t.lookup(0x1334_5000, page_mask, Tlb::VALID | Tlb::RAM),
            None
        );
    }

    #[test]
    fn flushes() {
        let mut t = Tlb::new();
        t.insert(0x1000, 0x1000, Tlb::GLOBAL);
        t.insert(0x2000, 0x2000, 0);
        t.flush(true);
        let m = 0xFFFF_F000 | Tlb::VALID;
        assert!(t.lookup(0x1000, m, Tlb::VALID).is_some());
        assert!(t.lookup(0x2000, m, Tlb::VALID).is_none());
        t.flush_page(0x1000);
        assert!(t.lookup(0x1000, m, Tlb::VALID).is_none());
        // INVLPG anywhere in a large page drops all its pieces, not other pages.
        t.insert(0x0040_0000, 0x80_0000, Tlb::LARGE);
        t.insert(0x0060_1000, 0xA0_1000, Tlb::LARGE);
        t.insert(0x0060_2000, 0x2000, 0);
        t.insert(0x0080_0000, 0xC0_0000, Tlb::LARGE);
        t.flush_page(0x0060_1234);
        assert!(t.lookup(0x0040_0000, m, Tlb::VALID).is_none());
        assert!(t.lookup(0x0060_1000, m, Tlb::VALID).is_none());
        assert!(t.lookup(0x0060_2000, m, Tlb::VALID).is_some());
        assert!(t.lookup(0x0080_0000, m, Tlb::VALID).is_some());
    }
}

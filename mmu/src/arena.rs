//! The arena: one 64 KiB-aligned allocation that holds everything generated code
//! touches — the JIT state window, the TLB, the code-page bitmap and guest RAM — at
//! fixed offsets, so a wasm module can address all of it from one base.
//!
//! Natively the arena *is* the wasm memory of the JIT's modules (wasmtime maps it
//! without copying); in a browser it lives in the main module's memory and generated
//! code adds [`crate::Arena::ptr`] as a constant. The interpreter uses the same bytes
//! through [`crate::PhysMem`] and [`crate::Tlb`].

use crate::tlb::{TlbEntry, TLB_ENTRIES};
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr::NonNull;

/// Alignment and size granule of the arena (one wasm page).
pub const ARENA_ALIGN: usize = 64 << 10;

/// Byte offsets of the parts of the arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArenaLayout {
    /// The JIT state window (registers and lazy flags copied in and out around a
    /// call into generated code), [`ArenaLayout::STATE_SIZE`] bytes.
    pub state: u32,
    /// The TLB: [`TLB_ENTRIES`] entries of 8 bytes.
    pub tlb: u32,
    /// One bit per 4 KiB RAM page that holds decoded or compiled code, as 64-bit
    /// little-endian words (page `p` is bit `p % 64` of word `p / 64`).
    pub code_bits: u32,
    /// Guest RAM (guest physical address 0 is at this offset).
    pub ram: u32,
    /// RAM size in bytes.
    pub ram_size: u32,
    /// Total size in bytes, a multiple of [`ARENA_ALIGN`].
    pub len: usize,
}

impl ArenaLayout {
    /// Size of the JIT state window.
    pub const STATE_SIZE: u32 = 0x1000;

    /// The layout for `ram_size` bytes of RAM (a multiple of 4 KiB).
    pub fn for_ram(ram_size: u32) -> Self {
        let state = 0u32;
        let tlb = state + Self::STATE_SIZE;
        let code_bits = tlb + (TLB_ENTRIES * std::mem::size_of::<TlbEntry>()) as u32;
        let pages = (ram_size as usize).div_ceil(4096);
        let words = pages.div_ceil(64).max(1);
        let bits_end = code_bits as usize + words * 8;
        let ram = bits_end.next_multiple_of(ARENA_ALIGN);
        // Four bytes of padding after RAM let an unaligned 4-byte access at the very
        // end read without a bounds split; the padding is never visible to the guest.
        let len = (ram + ram_size as usize + 4).next_multiple_of(ARENA_ALIGN);
        ArenaLayout {
            state,
            tlb,
            code_bits,
            ram: ram as u32,
            ram_size,
            len,
        }
    }

    /// Number of 64-bit words in the code-page bitmap.
    pub fn code_words(&self) -> usize {
        (self.ram as usize - self.code_bits as usize) / 8
    }
}

/// The zeroed, aligned allocation described by an [`ArenaLayout`].
pub struct Arena {
    ptr: NonNull<u8>,
    layout: ArenaLayout,
}

// SAFETY: the arena is a plain byte buffer with no thread affinity. It is shared
// (through `Arc`) by the owners of views into it — `PhysMem`, `Tlb` and a JIT host —
// which all belong to one machine and are driven from one thread at a time; the
// `Arc` only keeps the allocation alive as long as any of them may touch it.
unsafe impl Send for Arena {}
// SAFETY: see `Send`; the arena hands out raw pointers only, never references.
unsafe impl Sync for Arena {}

impl Arena {
    /// Allocates a zeroed arena for `ram_size` bytes of RAM. The operating system
    /// provides zero pages lazily, so untouched RAM costs no memory.
    pub fn new(ram_size: u32) -> Self {
        let layout = ArenaLayout::for_ram(ram_size & !0xFFF);
        let l = Layout::from_size_align(layout.len, ARENA_ALIGN).expect("arena layout");
        // SAFETY: `l` has a non-zero size.
        let p = unsafe { alloc_zeroed(l) };
        let Some(ptr) = NonNull::new(p) else {
            std::alloc::handle_alloc_error(l);
        };
        Arena { ptr, layout }
    }

    /// The offsets of the parts.
    pub fn layout(&self) -> &ArenaLayout {
        &self.layout
    }

    /// The first byte of the arena.
    pub fn ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.layout.len
    }

    /// Never true (an arena always holds the state window and the TLB).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Pointer to the byte at `offset` (must be inside the arena).
    pub(crate) fn at(&self, offset: u32) -> *mut u8 {
        debug_assert!((offset as usize) < self.layout.len);
        // SAFETY: `offset` is inside the allocation.
        unsafe { self.ptr.as_ptr().add(offset as usize) }
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        let l = Layout::from_size_align(self.layout.len, ARENA_ALIGN).expect("arena layout");
        // SAFETY: allocated in `new` with the same layout.
        unsafe { dealloc(self.ptr.as_ptr(), l) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_disjoint_aligned_and_inside() {
        for ram in [0u32, 1 << 20, 256 << 20, 3 << 30] {
            let l = ArenaLayout::for_ram(ram);
            assert!(l.state + ArenaLayout::STATE_SIZE <= l.tlb);
            assert!(l.tlb as usize + TLB_ENTRIES * 8 <= l.code_bits as usize);
            assert!(l.code_bits as usize + l.code_words() * 8 <= l.ram as usize);
            assert!(l.code_words() * 64 * 4096 >= ram as usize);
            assert_eq!(l.ram as usize % ARENA_ALIGN, 0);
            assert_eq!(l.len % ARENA_ALIGN, 0);
            assert!(l.ram as usize + ram as usize + 4 <= l.len);
        }
    }

    #[test]
    fn allocation_is_zeroed_and_aligned() {
        let a = Arena::new(1 << 20);
        assert_eq!(a.ptr() as usize % ARENA_ALIGN, 0);
        // SAFETY: reading inside the allocation.
        let s = unsafe { std::slice::from_raw_parts(a.ptr(), a.len()) };
        assert!(s.iter().all(|&b| b == 0));
    }
}

//! Guest physical memory, i386 paging (32-bit and PAE) and a flat, JIT-indexable TLB.
//!
//! Guest RAM is one contiguous buffer so that generated code can address it with a
//! single base plus offset. Physical addresses outside RAM go to ROM or to an
//! MMIO [`Bus`] supplied by the board.
#![deny(missing_docs)]

mod arena;
mod bus;
mod paging;
mod phys;
mod tlb;

pub use arena::{Arena, ArenaLayout, ARENA_ALIGN};
pub use bus::{Bus, InterruptController, NullBus};
pub use paging::{
    pdpte_invalid, walk, Access, PageFault, PagingMode, Translation, PDPTE_RESERVED, PF_ID, PF_P,
    PF_RSVD, PF_U, PF_W, XD,
};
pub use phys::{PhysMem, Region};
pub use tlb::{Tlb, TlbEntry, TLB_ENTRIES};

//! tab86 mmu.

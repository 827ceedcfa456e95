//! tab86 cpu.

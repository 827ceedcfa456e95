//! tab86 bios.

//! tab86 machine.

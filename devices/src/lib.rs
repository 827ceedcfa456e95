//! tab86 devices.

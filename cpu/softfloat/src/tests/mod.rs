//! Differential tests against the host x87.

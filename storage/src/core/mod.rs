//! The sans-I/O core of storage: the formats and policies, written once and
//! free of `std::fs`, threads and sockets, so they compile for
//! `wasm32-unknown-unknown`. Natively the stores put them on files and worker
//! threads; under wasm [`hostdisk`] puts them on I/O the host (JavaScript)
//! performs: `fetch` and `node:fs` in Node, `fetch` and OPFS in a browser.
//!
//! - [`manifest`]: the chunked image manifest, chunk verification.
//! - [`policy`]: retry and backoff, sequential read-ahead, the bounded cache.
//! - [`cow`]: the copy-on-write overlay format and its crash recovery, on a
//!   small file trait.
//! - [`hostdisk`]: a block backend whose fetches and file I/O the host does.

pub mod cow;
pub mod hostdisk;
pub mod manifest;
pub mod policy;

//! Where a disk's bytes live. [`core`] holds the formats and policies once,
//! free of files, threads and sockets (it builds for wasm32): the chunked-image
//! manifest and chunk verification, retry/read-ahead/cache policy, the
//! copy-on-write overlay format with its crash recovery, and a block backend
//! whose I/O the host performs (JavaScript under wasm).
//!
//! Natively (not wasm32) the same core sits on files and threads: raw image
//! files, chunked images (a folder or HTTP, content-addressed chunks fetched
//! lazily, verified and cached), raw images over HTTP Range, and copy-on-write
//! overlays; [`Threaded`] serves any of them to a virtio-blk device as a
//! non-blocking [`tab86_devices::BlockBackend`]. Also the `pack` and `serve` tools.
//!
//! Layers: each native store implements the synchronous [`Store`] trait and
//! knows nothing about threads or the guest; [`Threaded`] runs stores on worker
//! threads; [`open`] picks a store from a command-line source.
#![deny(missing_docs)]

pub mod core;
pub mod store;

#[cfg(not(target_arch = "wasm32"))]
pub mod adapter;
#[cfg(not(target_arch = "wasm32"))]
pub mod cache;
#[cfg(not(target_arch = "wasm32"))]
pub mod chunked;
#[cfg(not(target_arch = "wasm32"))]
pub mod http;
#[cfg(not(target_arch = "wasm32"))]
pub mod open;
#[cfg(not(target_arch = "wasm32"))]
pub mod overlay;
#[cfg(not(target_arch = "wasm32"))]
pub mod pack;
#[cfg(not(target_arch = "wasm32"))]
pub mod range;
#[cfg(not(target_arch = "wasm32"))]
pub mod raw;
#[cfg(not(target_arch = "wasm32"))]
pub mod remote;
#[cfg(not(target_arch = "wasm32"))]
pub mod serve;

#[cfg(not(target_arch = "wasm32"))]
pub use adapter::Threaded;
#[cfg(not(target_arch = "wasm32"))]
pub use open::{open, DiskOptions, DiskSpec, OpenedDisk};
#[cfg(not(target_arch = "wasm32"))]
pub use remote::FetchOptions;
pub use store::{Stats, Store};

//! Where a disk's bytes live, natively: raw image files, chunked images (a
//! folder or HTTP, content-addressed chunks fetched lazily, verified and cached),
//! raw images over HTTP Range, and copy-on-write overlays; [`Threaded`] serves
//! any of them to a virtio-blk device as a non-blocking
//! [`tab86_devices::BlockBackend`]. Also the `pack` and `serve` tools.
//!
//! Layers: each store implements the synchronous [`Store`] trait and knows
//! nothing about threads or the guest; [`Threaded`] runs stores on worker
//! threads; [`open`] picks a store from a command-line source.
#![deny(missing_docs)]

pub mod adapter;
pub mod chunked;
pub mod http;
pub mod open;
pub mod overlay;
pub mod pack;
pub mod range;
pub mod raw;
pub mod remote;
pub mod serve;
pub mod store;

pub use adapter::Threaded;
pub use open::{open, DiskOptions, DiskSpec, OpenedDisk};
pub use remote::FetchOptions;
pub use store::{Stats, Store};

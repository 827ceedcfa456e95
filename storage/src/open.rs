//! Turns a `--disk` argument into a backend: local raw file, local chunked
//! folder or manifest, http(s):// manifest (chunked) or http(s):// raw image (Range),
//! optionally under a copy-on-write overlay.

use crate::adapter::Threaded;
use crate::overlay::{Overlay, ReadOnly};
use crate::raw::RawFile;
use crate::remote::FetchOptions;
use crate::store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One disk as named on the command line.
#[derive(Debug, Clone, Default)]
pub struct DiskSpec {
    /// A path or an http:// or https:// URL.
    pub source: String,
    /// Copy-on-write overlay file (created if missing); the source is then read-only.
    pub overlay: Option<PathBuf>,
    /// Open a local raw file read-only.
    pub read_only: bool,
}

/// Settings shared by all disks.
#[derive(Debug, Clone)]
pub struct DiskOptions {
    /// Fetching and caching of remote images.
    pub fetch: FetchOptions,
    /// Worker threads per disk (parallel guest reads).
    pub workers: usize,
}

impl Default for DiskOptions {
    fn default() -> Self {
        DiskOptions {
            fetch: FetchOptions::default(),
            workers: 4,
        }
    }
}

/// An opened disk: the backend for the machine, and the store for counters.
pub struct OpenedDisk {
    /// Give this to `machine::Config::disks`.
    pub backend: Threaded,
    /// The store behind it (for `--stats`).
    pub store: Arc<dyn Store>,
}

/// What kind of image a source names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// A local raw image file.
    RawFile(PathBuf),
    /// A local chunked image (folder or its manifest.json).
    ChunkedDir(PathBuf),
    /// The URL of a chunked image's manifest.json.
    ChunkedHttp(String),
    /// The URL of a raw image read with Range requests.
    RangeHttp(String),
}

/// Classifies a source: URLs ending in `.json` or `/` are chunked manifests
/// (`/` gets `manifest.json` appended), other URLs raw images; local folders
/// and `.json` files are chunked, other files raw.
pub fn classify(source: &str) -> SourceKind {
    if source.contains("://") {
        if source.ends_with('/') {
            SourceKind::ChunkedHttp(format!("{source}manifest.json"))
        } else if source.ends_with(".json") {
            SourceKind::ChunkedHttp(source.to_string())
        } else {
            SourceKind::RangeHttp(source.to_string())
        }
    } else {
        let p = Path::new(source);
        if p.is_dir() || p.extension().is_some_and(|e| e == "json") {
            SourceKind::ChunkedDir(p.to_path_buf())
        } else {
            SourceKind::RawFile(p.to_path_buf())
        }
    }
}

/// Opens the store a spec names (without the threaded adapter).
pub fn open_store(spec: &DiskSpec, opts: &DiskOptions) -> Result<Box<dyn Store>, String> {
    let base: Box<dyn Store> = match classify(&spec.source) {
        SourceKind::RawFile(p) => Box::new(
            RawFile::open(&p, spec.read_only || spec.overlay.is_some())
                .map_err(|e| format!("cannot open disk {e}"))?,
        ),
        SourceKind::ChunkedDir(p) => Box::new(crate::chunked::open_dir(&p, opts.fetch.clone())?),
        SourceKind::ChunkedHttp(u) => Box::new(crate::chunked::open_http(&u, opts.fetch.clone())?),
        SourceKind::RangeHttp(u) => Box::new(crate::range::open(&u, opts.fetch.clone())?),
    };
    Ok(match &spec.overlay {
        Some(path) => Box::new(Overlay::open(path, Box::new(ReadOnly(base))).map_err(|e| {
            // Name the file (and that it is the overlay) unless the
            // overlay's own message already does.
            let (msg, name) = (e.to_string(), path.display().to_string());
            if msg.contains(&name) {
                msg
            } else {
                format!("overlay {name}: {msg}")
            }
        })?),
        None => base,
    })
}

/// Opens a disk for the machine.
pub fn open(spec: &DiskSpec, opts: &DiskOptions) -> Result<OpenedDisk, String> {
    let store: Arc<dyn Store> = Arc::from(open_store(spec, opts)?);
    Ok(OpenedDisk {
        backend: Threaded::new(store.clone(), opts.workers),
        store,
    })
}

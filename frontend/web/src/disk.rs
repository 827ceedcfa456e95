//! Disks under wasm: virtio-blk disks whose bytes the host (JavaScript)
//! fetches. The formats and policies are `tab86_storage::core`'s, the same
//! code the native CLI runs on files and threads: the manifest and chunk
//! verification, retries with backoff, read-ahead, the chunk cache, and the
//! copy-on-write overlay format with its crash recovery. JavaScript only moves
//! bytes.
//!
//! # The JavaScript API
//!
//! Before `new Machine(o)`, add disks (vda, vdb, ... in order) to the options:
//!
//! ```js
//! // A chunked image: the manifest's URL (or path) and its bytes, fetched by the host.
//! o.add_chunked_disk(manifestUrl, manifestBytes, overlay, overlayName, readOnly);
//! // A raw image read with Range requests (read-only, no overlay): its size in bytes.
//! o.add_raw_disk(url, size);
//! o.disk_cache_mb = 64;   // memory cache of each disk added after this (MiB)
//! ```
//!
//! `overlay` is `undefined` (the disk is then read-only) or a file handle
//! object with synchronous methods, all offsets and sizes in bytes:
//!
//! ```js
//! {
//!   read(offset, buf),   // fill the Uint8Array buf from offset (exactly)
//!   write(offset, data), // write the Uint8Array data at offset
//!   sync(),              // make completed writes durable (fdatasync / flush())
//!   size(),              // current length of the file
//! }
//! ```
//!
//! Node implements it with `node:fs` `readSync`/`writeSync`/`fdatasyncSync`; a
//! browser Worker with an OPFS `FileSystemSyncAccessHandle`
//! (`read(buf, {at})`, `write(data, {at})`, `flush()`, `getSize()`). An empty
//! file (or one shorter than an empty overlay, `cow::EMPTY_LEN`: its creation
//! was cut short) gets a new overlay written into it. A method that fails
//! throws; the guest then sees an I/O error (and the overlay, after a failed
//! sync, refuses writes until reopened, as natively). An overlay made for a
//! different image is refused with a message (thrown by `add_chunked_disk`).
//!
//! While the machine runs, the disks post fetches; the host performs them
//! and answers each one:
//!
//! ```js
//! for (const f of m.take_fetches()) {     // after every step/run call
//!   // f.id, f.url, f.start/f.end (a byte range, end exclusive; -1 for the
//!   // whole resource), f.delay_ms (wait this long first: a retry's backoff)
//!   fetch(f.url, range).then(
//!     (bytes) => m.complete_fetch(f.id, bytes),        // Uint8Array body (200 or 206)
//!     (err) => m.fail_fetch(f.id, status, message));   // HTTP status, or 0 (network, file)
//! }
//! ```
//!
//! Answering wakes the machine: a step that returned "io" (deterministic mode
//! waiting for a disk) can be taken again; in real time an "idle" wait can end
//! early. The disk verifies every chunk against the manifest and retries
//! transient failures itself (posting the fetch again with a delay), so the
//! host needs no retry logic. `m.disk_stats()` gives `--stats`' disk lines.

use crate::{Machine, MachineOptions};
use std::io;
use tab86_devices::BlockBackend;
use tab86_storage::core::cow::{OverlayFile, EMPTY_LEN};
use tab86_storage::core::hostdisk::{Base, FetchRequest, HostDisk, HostDiskOptions, SharedDisk};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// The host's overlay file handle (see the module documentation).
    pub type JsFile;
    #[wasm_bindgen(method, catch)]
    fn read(this: &JsFile, offset: f64, buf: &mut [u8]) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn write(this: &JsFile, offset: f64, data: &[u8]) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn sync(this: &JsFile) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn size(this: &JsFile) -> Result<f64, JsValue>;
}

fn js_err(what: &str, e: JsValue) -> io::Error {
    let msg = e
        .as_string()
        .unwrap_or_else(|| format!("{e:?}").trim_matches('"').to_string());
    io::Error::other(format!("{what}: {msg}"))
}

impl OverlayFile for JsFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.read(offset as f64, buf).map_err(|e| js_err("read", e))
    }
    fn write_all_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        self.write(offset as f64, data)
            .map_err(|e| js_err("write", e))
    }
    fn sync(&self) -> io::Result<()> {
        JsFile::sync(self).map_err(|e| js_err("sync", e))
    }
    fn size(&self) -> io::Result<u64> {
        let n = JsFile::size(self).map_err(|e| js_err("size", e))?;
        if !(n >= 0.0 && n <= u64::MAX as f64) {
            return Err(io::Error::other(format!("size: {n} is no file length")));
        }
        Ok(n as u64)
    }
}

/// The disks of one machine, in attachment order, and the cache bound for
/// disks added next.
#[derive(Default, Clone)]
pub(crate) struct Disks(Vec<SharedDisk>, Option<u64>);

impl Disks {
    /// The backends for `machine::Config::disks`.
    pub(crate) fn backends(&self) -> Vec<Box<dyn BlockBackend>> {
        self.0
            .iter()
            .map(|d| Box::new(d.clone()) as Box<dyn BlockBackend>)
            .collect()
    }

    /// Makes every overlay's writes durable (before a snapshot records the
    /// disks' generations).
    pub(crate) fn flush(&self) -> Result<(), String> {
        for d in &self.0 {
            d.0.borrow()
                .flush()
                .map_err(|e| format!("cannot flush a disk before the snapshot: {e}"))?;
        }
        Ok(())
    }
}

/// A fetch for the host to perform (see the module documentation).
#[wasm_bindgen]
pub struct Fetch {
    req: FetchRequest,
    disk: usize,
}

#[wasm_bindgen]
impl Fetch {
    /// Answer with this id.
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> f64 {
        // Ids are unique across disks: the disk index in the low 8 bits.
        (self.req.id * 256 + self.disk as u64) as f64
    }
    /// The URL (or local path) to read.
    #[wasm_bindgen(getter)]
    pub fn url(&self) -> String {
        self.req.url.clone()
    }
    /// First byte of the range, or -1 for the whole resource.
    #[wasm_bindgen(getter)]
    pub fn start(&self) -> f64 {
        self.req.range.map_or(-1.0, |r| r.0 as f64)
    }
    /// End of the range (exclusive), or -1 for the whole resource.
    #[wasm_bindgen(getter)]
    pub fn end(&self) -> f64 {
        self.req.range.map_or(-1.0, |r| r.1 as f64)
    }
    /// Milliseconds to wait before fetching (a retry's backoff).
    #[wasm_bindgen(getter)]
    pub fn delay_ms(&self) -> f64 {
        self.req.delay_ms as f64
    }
}

#[wasm_bindgen]
impl MachineOptions {
    /// Adds a chunked image: `manifest_url` (a URL or a host path; chunks are
    /// fetched from `chunks/` beside it) and the manifest's bytes; `overlay`
    /// takes the writes (else the disk is read-only), `overlay_name` names it
    /// in messages; `read_only` refuses writes even with an overlay. Throws a
    /// message for a manifest that is not one or an overlay that does not fit.
    pub fn add_chunked_disk(
        &mut self,
        manifest_url: &str,
        manifest: &[u8],
        overlay: Option<JsFile>,
        overlay_name: Option<String>,
        read_only: bool,
    ) -> Result<(), String> {
        let base = Base::chunked(manifest_url, manifest)?;
        self.add(base, overlay, overlay_name, read_only)
    }

    /// The memory cache of each disk added after this, in MiB (`--disk-cache-mb`;
    /// default 64).
    #[wasm_bindgen(setter)]
    pub fn set_disk_cache_mb(&mut self, mb: u32) {
        self.disks.1 = Some(u64::from(mb.max(1)) << 20);
    }

    /// Adds a raw image read with byte ranges of `url` (read-only).
    pub fn add_raw_disk(&mut self, url: &str, size: f64) -> Result<(), String> {
        if !(size >= 1.0 && size <= (1u64 << 53) as f64) {
            return Err(format!("{url}: size {size} is no image size"));
        }
        let base = Base::Raw {
            url: url.to_string(),
            size: size as u64,
            piece: 256 << 10,
        };
        self.add(base, None, None, true)
    }
}

impl MachineOptions {
    fn add(
        &mut self,
        base: Base,
        overlay: Option<JsFile>,
        name: Option<String>,
        read_only: bool,
    ) -> Result<(), String> {
        if self.disks.0.len() >= 255 {
            return Err("too many disks".into());
        }
        let overlay = match overlay {
            Some(f) => {
                // Empty, or shorter than an empty overlay: a tab closed while it
                // created the file (browsers have no atomic rename), nothing flushed.
                let fresh = OverlayFile::size(&f).map_err(|e| e.to_string())? < EMPTY_LEN;
                let name = name.unwrap_or_else(|| "overlay".into());
                Some((Box::new(f) as Box<dyn OverlayFile>, fresh, name))
            }
            None => None,
        };
        let mut opts = HostDiskOptions::default();
        if let Some(bytes) = self.disks.1 {
            opts.cache_bytes = bytes;
        }
        let disk = HostDisk::new(base, overlay, read_only, opts)?;
        self.disks.0.push(SharedDisk::new(disk));
        Ok(())
    }
}

#[wasm_bindgen]
impl Machine {
    /// Fetches the disks want started now (each returned once).
    pub fn take_fetches(&mut self) -> Vec<Fetch> {
        let mut out = Vec::new();
        for (i, d) in self.disks.0.iter().enumerate() {
            for req in d.0.borrow_mut().take_fetches() {
                out.push(Fetch { req, disk: i });
            }
        }
        out
    }

    /// Fetch `id` returned `bytes` (HTTP 200 or 206, or a file's contents).
    pub fn complete_fetch(&mut self, id: f64, bytes: Vec<u8>) {
        if let Some((d, id)) = self.fetch_target(id) {
            d.0.borrow_mut().complete_fetch(id, bytes);
        }
    }

    /// Fetch `id` failed: `status` is the HTTP status, 0 for a network error or
    /// an unreadable file; `message` says why.
    pub fn fail_fetch(&mut self, id: f64, status: u16, message: &str) {
        if let Some((d, id)) = self.fetch_target(id) {
            d.0.borrow_mut().fail_fetch(id, status, message);
        }
    }

    /// Why disk requests failed since the last call (the guest saw I/O
    /// errors), one message a line ("" if none).
    pub fn take_disk_errors(&mut self) -> String {
        let mut s = String::new();
        for d in &self.disks.0 {
            for e in d.0.borrow_mut().take_errors() {
                s.push_str(&e);
                s.push('\n');
            }
        }
        s
    }

    /// Fetches posted and not answered yet, over all disks.
    pub fn fetches_in_flight(&self) -> u32 {
        self.disks
            .0
            .iter()
            .map(|d| d.0.borrow().fetches_in_flight() as u32)
            .sum()
    }

    /// One line per disk, like the native `--stats`: bytes and chunks fetched,
    /// cache hits and misses, retries, failures.
    pub fn disk_stats(&self) -> String {
        let mut s = String::new();
        for (i, d) in self.disks.0.iter().enumerate() {
            let d = d.0.borrow();
            let name = format!("vd{}", (b'a' + (i as u8 % 26)) as char);
            s.push_str(&format!(
                "tab86: stats: {name} ({}): {}\n",
                d.describe(),
                d.stats().summary()
            ));
        }
        s
    }

    /// Payload bytes fetched by disk `index` so far.
    pub fn disk_bytes_fetched(&self, index: usize) -> f64 {
        self.disks.0.get(index).map_or(0.0, |d| {
            d.0.borrow()
                .stats()
                .bytes_fetched
                .load(std::sync::atomic::Ordering::Relaxed) as f64
        })
    }

    fn fetch_target(&self, id: f64) -> Option<(&SharedDisk, u64)> {
        if !(id >= 0.0 && id < (1u64 << 53) as f64) || id.fract() != 0.0 {
            return None;
        }
        let id = id as u64;
        Some((self.disks.0.get((id % 256) as usize)?, id / 256))
    }
}

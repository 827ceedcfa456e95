//! A block backend whose I/O the host performs: the sans-I/O way to put a
//! chunked image (or a raw image read in ranges) and a copy-on-write overlay
//! behind virtio-blk where there are no threads and no blocking calls (wasm in
//! Node or a browser).
//!
//! The machine submits block requests as usual ([`BlockBackend::submit`]). The
//! disk works out which pieces of the base it needs (through the overlay's map,
//! [`Cow::base_ranges`]), and posts a [`FetchRequest`] for each piece that is
//! neither cached nor already on its way, plus sequential read-ahead
//! ([`ReadAhead`]). The host takes them with [`HostDisk::take_fetches`],
//! fetches (`fetch` with a `Range` header, or a file read), and answers each
//! with [`HostDisk::complete_fetch`] or [`HostDisk::fail_fetch`]; the disk
//! verifies chunks against the manifest, retries transient failures by posting
//! the request again with a `delay_ms` ([`RetryPolicy`]), and completes the
//! block requests in submission order once their pieces are cached. Overlay
//! file I/O is synchronous through [`OverlayFile`] (`node:fs` sync calls, an
//! OPFS `FileSystemSyncAccessHandle` in a Worker): only the network is async.
//!
//! Requests complete in submission order, so writes and flushes see every
//! earlier request done, as the threaded native adapter guarantees.

use crate::core::cow::{Cow, OverlayFile};
use crate::core::manifest::{chunk_path, verify_chunk, Manifest};
use crate::core::policy::{status_fault, Fault, Key, Lru, ReadAhead, RetryPolicy};
use crate::store::Stats;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use tab86_devices::block::{BlockBackend, BlockCompletion, BlockError, BlockOp, RequestId};

/// Where the base image's pieces come from.
#[derive(Debug, Clone)]
pub enum Base {
    /// A chunked image: chunk `i` is at `<dir><chunk_path(i)>`, where `dir`
    /// is the manifest's URL or path up to its last `/`.
    Chunked {
        /// The folder (URL or path) of manifest.json, ending in `/` (or empty).
        dir: String,
        /// The manifest's URL or path.
        manifest_url: String,
        /// The parsed manifest.
        manifest: Manifest,
    },
    /// A raw image read in pieces of `piece` bytes with byte ranges of `url`.
    Raw {
        /// Where the image is.
        url: String,
        /// Its size in bytes.
        size: u64,
        /// Piece size.
        piece: u64,
    },
}

impl Base {
    /// The base of a chunked image from its manifest's URL or path and bytes.
    pub fn chunked(manifest_url: &str, manifest_bytes: &[u8]) -> Result<Base, String> {
        let manifest =
            Manifest::parse(manifest_bytes).map_err(|e| format!("{manifest_url}: {e}"))?;
        let dir = match manifest_url.rfind('/') {
            Some(i) => manifest_url[..=i].to_string(),
            None => String::new(),
        };
        Ok(Base::Chunked {
            dir,
            manifest_url: manifest_url.to_string(),
            manifest,
        })
    }

    fn size(&self) -> u64 {
        match self {
            Base::Chunked { manifest, .. } => manifest.size,
            Base::Raw { size, .. } => *size,
        }
    }

    fn piece(&self) -> u64 {
        match self {
            Base::Chunked { manifest, .. } => manifest.chunk_size,
            Base::Raw { piece, .. } => *piece,
        }
    }

    fn piece_len(&self, i: u64) -> u64 {
        self.piece().min(self.size() - i * self.piece())
    }

    fn key(&self, i: u64) -> Key {
        match self {
            Base::Chunked { manifest, .. } => Key::Hash(manifest.chunks[i as usize]),
            Base::Raw { .. } => Key::Index(i),
        }
    }

    fn describe(&self) -> String {
        match self {
            Base::Chunked { manifest_url, .. } => format!("chunked image {manifest_url}"),
            Base::Raw { url, .. } => format!("raw image {url}"),
        }
    }

    /// The identity an overlay records (the SHA-256 of manifest.json).
    fn identity(&self) -> Option<[u8; 32]> {
        match self {
            Base::Chunked { manifest, .. } => Some(manifest.identity),
            Base::Raw { .. } => None,
        }
    }
}

/// A fetch the host must perform: GET `url` (the whole resource, or bytes
/// `start..end` with a `Range` header when `range` is set), after waiting
/// `delay_ms` (a retry's backoff), then answer with the same `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// Echoed in [`HostDisk::complete_fetch`] / [`HostDisk::fail_fetch`].
    pub id: u64,
    /// A URL, or a path when the image is local to the host.
    pub url: String,
    /// Byte range `start..end` (end exclusive) for raw images.
    pub range: Option<(u64, u64)>,
    /// Milliseconds to wait before fetching.
    pub delay_ms: u64,
}

/// Tuning of a host-driven disk (the native [`crate::FetchOptions`]' meaning).
#[derive(Debug, Clone, Copy)]
pub struct HostDiskOptions {
    /// Cache bound in bytes.
    pub cache_bytes: u64,
    /// Most bytes fetched ahead of a sequential reader.
    pub read_ahead_bytes: u64,
    /// Retries and backoff.
    pub retry: RetryPolicy,
}

impl Default for HostDiskOptions {
    fn default() -> Self {
        HostDiskOptions {
            cache_bytes: 64 << 20,
            read_ahead_bytes: 4 << 20,
            retry: RetryPolicy {
                retries: 3,
                backoff_ms: 200,
            },
        }
    }
}

struct InFlight {
    piece: u64,
    attempt: u32,
    prefetch: bool,
}

/// The disk: its base, optional overlay, cache, and the requests in progress.
pub struct HostDisk {
    base: Base,
    overlay: Option<Cow<dyn OverlayFile>>,
    read_only: bool,
    opts: HostDiskOptions,
    cache: Lru,
    read_ahead: ReadAhead,
    /// Pieces on their way, by key (so identical chunks are fetched once).
    pending: HashMap<Key, u64>,
    fetches: HashMap<u64, InFlight>,
    next_fetch: u64,
    outbox: Vec<FetchRequest>,
    /// Pieces that failed for good; the requests that need them fail.
    failed: HashMap<u64, String>,
    queue: VecDeque<(RequestId, BlockOp)>,
    done: Vec<BlockCompletion>,
    /// Messages of failed requests the host has not taken yet.
    errors: Vec<String>,
    stats: Stats,
}

impl HostDisk {
    /// A disk over `base`, read-only unless an overlay takes the writes
    /// (`overlay` is its open file and whether it is new and empty; `name`
    /// names it in messages). Refuses an overlay made for another base.
    pub fn new(
        base: Base,
        overlay: Option<(Box<dyn OverlayFile>, bool, String)>,
        read_only: bool,
        opts: HostDiskOptions,
    ) -> Result<HostDisk, String> {
        if base.size() == 0 {
            return Err(format!("{}: the image is empty", base.describe()));
        }
        let overlay = match overlay {
            None => None,
            Some((file, fresh, name)) => {
                let identity = base.identity().ok_or_else(|| {
                    format!(
                        "overlay {name}: an overlay over a raw image is not supported here; use a chunked image"
                    )
                })?;
                Some(
                    Cow::open(file, fresh, base.size(), &identity, &name, &base.describe())
                        .map_err(|e| {
                            let msg = e.to_string();
                            if msg.contains(&name) {
                                msg
                            } else {
                                format!("overlay {name}: {msg}")
                            }
                        })?,
                )
            }
        };
        Ok(HostDisk {
            read_only: read_only || overlay.is_none(),
            read_ahead: ReadAhead::new(opts.read_ahead_bytes, base.piece()),
            cache: Lru::new(opts.cache_bytes),
            base,
            overlay,
            opts,
            pending: HashMap::new(),
            fetches: HashMap::new(),
            next_fetch: 1,
            outbox: Vec::new(),
            failed: HashMap::new(),
            queue: VecDeque::new(),
            done: Vec::new(),
            errors: Vec::new(),
            stats: Stats::default(),
        })
    }

    /// Fetches the host should start now (each exactly once).
    pub fn take_fetches(&mut self) -> Vec<FetchRequest> {
        std::mem::take(&mut self.outbox)
    }

    /// Why requests failed since the last call (the guest saw I/O errors):
    /// for the host's log, since wasm has no logger.
    pub fn take_errors(&mut self) -> Vec<String> {
        std::mem::take(&mut self.errors)
    }

    /// Fetches posted and not yet answered.
    pub fn fetches_in_flight(&self) -> usize {
        self.fetches.len()
    }

    /// The counters (bytes fetched, cache hits, retries, ...).
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Makes the overlay's completed writes durable (its flush: a new
    /// generation if anything was written), as a snapshot needs; nothing without
    /// an overlay.
    pub fn flush(&self) -> io::Result<()> {
        match &self.overlay {
            Some(o) => o.flush(),
            None => Ok(()),
        }
    }

    /// A one-line description for logs.
    pub fn describe(&self) -> String {
        match &self.overlay {
            Some(o) => format!("{} + overlay {}", self.base.describe(), o.name()),
            None => self.base.describe(),
        }
    }

    /// Fetch `id` returned these bytes (the whole chunk, or the range asked for).
    pub fn complete_fetch(&mut self, id: u64, data: Vec<u8>) {
        let Some(f) = self.fetches.remove(&id) else {
            return; // not ours, or answered twice: ignored
        };
        let from = self.url_of(f.piece);
        let check = match &self.base {
            Base::Chunked { manifest, .. } => verify_chunk(manifest, f.piece, &data, &from)
                .map_err(|msg| {
                    if msg.contains("SHA-256") && !from.contains("://") {
                        Fault::permanent(msg) // a local file stays bad
                    } else {
                        Fault::transient(msg) // a proxy may have mangled it
                    }
                }),
            Base::Raw { .. } if data.len() as u64 != self.base.piece_len(f.piece) => {
                Err(Fault::transient(format!(
                    "{from}: {} bytes for piece {}, expected {}",
                    data.len(),
                    f.piece,
                    self.base.piece_len(f.piece)
                )))
            }
            Base::Raw { .. } => Ok(()),
        };
        match check {
            Ok(()) => {
                Stats::add(&self.stats.bytes_fetched, data.len() as u64);
                Stats::add(&self.stats.chunks_fetched, 1);
                if f.prefetch {
                    Stats::add(&self.stats.prefetched, 1);
                }
                let key = self.base.key(f.piece);
                self.pending.remove(&key);
                self.cache.insert(key, Arc::from(data));
            }
            Err(fault) => self.failed_attempt(f, fault),
        }
        self.pump();
    }

    /// Fetch `id` failed: `status` is the HTTP status (0 for a network error or
    /// a file that could not be read), `msg` says why.
    pub fn fail_fetch(&mut self, id: u64, status: u16, msg: &str) {
        let Some(f) = self.fetches.remove(&id) else {
            return;
        };
        let from = self.url_of(f.piece);
        let fault = if status == 0 {
            // A local file that is missing will stay missing.
            if from.contains("://") {
                Fault::transient(format!("{from}: {msg}"))
            } else {
                Fault::permanent(format!("{from}: {msg}"))
            }
        } else {
            status_fault(status, &from)
        };
        self.failed_attempt(f, fault);
        self.pump();
    }

    fn failed_attempt(&mut self, f: InFlight, fault: Fault) {
        match self.opts.retry.after_failure(f.attempt, &fault) {
            Ok(delay_ms) => {
                Stats::add(&self.stats.retries, 1);
                log::debug!("retrying after: {}", fault.msg);
                self.post(f.piece, f.attempt + 1, f.prefetch, delay_ms);
            }
            Err(msg) => {
                Stats::add(&self.stats.failures, 1);
                self.pending.remove(&self.base.key(f.piece));
                let msg = format!("{}: {msg}", self.base.describe());
                if f.prefetch {
                    log::info!("read-ahead failed: {msg}");
                } else {
                    self.failed.insert(f.piece, msg);
                }
            }
        }
    }

    fn url_of(&self, piece: u64) -> String {
        match &self.base {
            Base::Chunked { dir, manifest, .. } => format!("{dir}{}", chunk_path(manifest, piece)),
            Base::Raw { url, .. } => url.clone(),
        }
    }

    fn post(&mut self, piece: u64, attempt: u32, prefetch: bool, delay_ms: u64) {
        let id = self.next_fetch;
        self.next_fetch += 1;
        self.pending.insert(self.base.key(piece), id);
        self.fetches.insert(
            id,
            InFlight {
                piece,
                attempt,
                prefetch,
            },
        );
        let range = match self.base {
            Base::Raw { .. } => {
                let start = piece * self.base.piece();
                Some((start, start + self.base.piece_len(piece)))
            }
            Base::Chunked { .. } => None,
        };
        self.outbox.push(FetchRequest {
            id,
            url: self.url_of(piece),
            range,
            delay_ms,
        });
    }

    /// The base byte ranges `op` needs now.
    fn base_needs(&self, op: &BlockOp) -> Vec<(u64, u64)> {
        let size = self.base.size();
        match (op, &self.overlay) {
            (BlockOp::Read { offset, len }, Some(o)) => {
                o.base_ranges(*offset, (*len as u64).min(size.saturating_sub(*offset)))
            }
            (BlockOp::Read { offset, len }, None) => {
                let end = (offset + *len as u64).min(size);
                if *offset < end {
                    vec![(*offset, end)]
                } else {
                    Vec::new()
                }
            }
            (BlockOp::Write { offset, data }, Some(o)) if !self.read_only => {
                o.base_ranges_for_write(*offset, data.len() as u64)
            }
            _ => Vec::new(),
        }
    }

    fn pieces_of(&self, ranges: &[(u64, u64)]) -> Vec<u64> {
        let ps = self.base.piece();
        let mut out: Vec<u64> = Vec::new();
        for &(a, b) in ranges {
            for i in a / ps..b.div_ceil(ps) {
                if out.last() != Some(&i) {
                    out.push(i);
                }
            }
        }
        out
    }

    /// Posts fetches for the pieces not cached and not on their way; returns
    /// whether every piece is cached.
    fn ensure(&mut self, pieces: &[u64]) -> bool {
        let mut ready = true;
        for &i in pieces {
            let key = self.base.key(i);
            if self.cache.contains(&key) {
                continue;
            }
            ready = false;
            if let Some(id) = self.pending.get(&key) {
                // Joined a fetch under way (perhaps read-ahead): now wanted.
                if let Some(f) = self.fetches.get_mut(id) {
                    f.prefetch = false;
                }
                Stats::add(&self.stats.cache_hits, 1);
            } else {
                Stats::add(&self.stats.cache_misses, 1);
                self.post(i, 0, false, 0);
            }
        }
        ready
    }

    /// Completes queued requests, oldest first, while their pieces are cached.
    fn pump(&mut self) {
        while let Some((id, op)) = self.queue.front() {
            let (id, needs) = (*id, self.base_needs(op));
            let pieces = self.pieces_of(&needs);
            if let Some(msg) = pieces.iter().find_map(|p| self.failed.get(p)).cloned() {
                for p in &pieces {
                    self.failed.remove(p);
                }
                self.queue.pop_front();
                log::warn!("{msg}");
                self.errors.push(msg.clone());
                self.done.push(BlockCompletion {
                    id,
                    result: Err(BlockError::Io(msg)),
                });
                continue;
            }
            if !self.ensure(&pieces) {
                return;
            }
            let (_, op) = self.queue.pop_front().expect("front exists");
            let result = self.execute(op);
            if let Err(BlockError::Io(msg)) = &result {
                self.errors.push(msg.clone());
            }
            self.done.push(BlockCompletion { id, result });
        }
    }

    /// Runs one request whose base pieces are all cached.
    fn execute(&mut self, op: BlockOp) -> Result<Vec<u8>, BlockError> {
        let size = self.base.size();
        let capacity = self.capacity();
        let ps = self.base.piece();
        let cache = RefCell::new(&mut self.cache);
        let base = &self.base;
        let read_base = |offset: u64, buf: &mut [u8]| -> io::Result<()> {
            let mut pos = offset;
            let end = offset + buf.len() as u64;
            while pos < end {
                let i = pos / ps;
                let data = cache
                    .borrow_mut()
                    .get(&base.key(i))
                    .ok_or_else(|| io::Error::other(format!("piece {i} left the cache")))?;
                let start = i * ps;
                let stop = end.min(start + data.len() as u64);
                if stop <= pos {
                    return Err(io::Error::other(format!("piece {i} is short")));
                }
                buf[(pos - offset) as usize..(stop - offset) as usize]
                    .copy_from_slice(&data[(pos - start) as usize..(stop - start) as usize]);
                pos = stop;
            }
            Ok(())
        };
        let io_err = |what: String, e: io::Error| {
            let msg = format!("{} {what}: {e}", base.describe());
            log::warn!("{msg}");
            BlockError::Io(msg)
        };
        let in_range = |offset: u64, len: u64, limit: u64| match offset.checked_add(len) {
            Some(end) if end <= limit => Ok(()),
            _ => Err(BlockError::Io(format!(
                "{}: access {offset}+{len} past the end ({limit} bytes)",
                base.describe()
            ))),
        };
        match op {
            BlockOp::Read { offset, len } => {
                in_range(offset, len as u64, capacity)?;
                let mut buf = vec![0u8; len];
                let n = size.saturating_sub(offset).min(len as u64) as usize;
                if n > 0 {
                    let r = match &self.overlay {
                        Some(o) => o.read_at(&read_base, offset, &mut buf[..n]),
                        None => read_base(offset, &mut buf[..n]),
                    };
                    r.map_err(|e| io_err(format!("read {offset}+{len}"), e))?;
                }
                Ok(buf)
            }
            BlockOp::Write { .. } | BlockOp::Discard { .. } if self.read_only => {
                Err(BlockError::Unsupported)
            }
            BlockOp::Write { offset, data } => {
                in_range(offset, data.len() as u64, size)?;
                let o = self.overlay.as_ref().ok_or(BlockError::Unsupported)?;
                o.write_at(&read_base, offset, &data)
                    .map_err(|e| io_err(format!("write {offset}+{}", data.len()), e))?;
                Ok(Vec::new())
            }
            BlockOp::Flush => match &self.overlay {
                Some(o) if !self.read_only => o
                    .flush()
                    .map(|_| Vec::new())
                    .map_err(|e| io_err("flush".into(), e)),
                _ => Ok(Vec::new()),
            },
            BlockOp::Discard { .. } => Ok(Vec::new()),
        }
    }

    fn capacity(&self) -> u64 {
        self.base.size().div_ceil(512) * 512
    }

    fn submit(&mut self, id: RequestId, op: BlockOp) {
        // Start the fetches this request needs (and read-ahead) at once, even
        // behind earlier requests, so they overlap.
        let needs = self.base_needs(&op);
        let pieces = self.pieces_of(&needs);
        self.ensure(&pieces);
        if let (BlockOp::Read { .. }, Some(&first), Some(&last)) =
            (&op, pieces.first(), pieces.last())
        {
            let total = self.base.size().div_ceil(self.base.piece());
            for i in self.read_ahead.on_read(first, last, total) {
                let key = self.base.key(i);
                if !self.cache.contains(&key) && !self.pending.contains_key(&key) {
                    self.post(i, 0, true, 0);
                }
            }
        }
        self.queue.push_back((id, op));
        self.pump();
    }
}

/// A [`HostDisk`] shared between the machine (as its [`BlockBackend`]) and the
/// host glue that takes fetches and delivers their results. Single-threaded
/// (`Rc`): the wasm host calls in from its one event loop, never re-entrantly.
#[derive(Clone)]
pub struct SharedDisk(pub Rc<RefCell<HostDisk>>);

impl SharedDisk {
    /// Shares `disk`.
    pub fn new(disk: HostDisk) -> SharedDisk {
        SharedDisk(Rc::new(RefCell::new(disk)))
    }
}

impl BlockBackend for SharedDisk {
    fn capacity(&self) -> u64 {
        self.0.borrow().capacity()
    }

    fn read_only(&self) -> bool {
        self.0.borrow().read_only
    }

    fn id(&self) -> String {
        // As natively: the end of the description (the guest sees 20 bytes).
        let id = self.0.borrow().describe();
        let n = id.len();
        let mut start = n.saturating_sub(20);
        while !id.is_char_boundary(start) {
            start += 1;
        }
        id[start..].to_string()
    }

    fn generation(&self) -> Option<u64> {
        self.0.borrow().overlay.as_ref().map(|o| o.generation())
    }

    fn submit(&mut self, id: RequestId, op: BlockOp) {
        self.0.borrow_mut().submit(id, op);
    }

    fn poll(&mut self) -> Vec<BlockCompletion> {
        std::mem::take(&mut self.0.borrow_mut().done)
    }

    fn in_flight(&self) -> usize {
        let d = self.0.borrow();
        d.queue.len() + d.done.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// An overlay file in memory that can refuse syncs.
    #[derive(Clone, Default)]
    struct MemFile(Rc<RefCell<(Vec<u8>, bool)>>);

    impl OverlayFile for MemFile {
        fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
            let f = self.0.borrow();
            let end = offset as usize + buf.len();
            if end > f.0.len() {
                return Err(io::Error::other("short read"));
            }
            buf.copy_from_slice(&f.0[offset as usize..end]);
            Ok(())
        }
        fn write_all_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
            let mut f = self.0.borrow_mut();
            let end = offset as usize + data.len();
            if f.0.len() < end {
                f.0.resize(end, 0);
            }
            f.0[offset as usize..end].copy_from_slice(data);
            Ok(())
        }
        fn sync(&self) -> io::Result<()> {
            if self.0.borrow().1 {
                Err(io::Error::other("EIO"))
            } else {
                Ok(())
            }
        }
        fn size(&self) -> io::Result<u64> {
            Ok(self.0.borrow().0.len() as u64)
        }
    }

    /// A 3-chunk image (chunk size 8 KiB, the last 4 KiB) with distinct bytes,
    /// and its manifest.
    fn image() -> (Vec<u8>, Vec<u8>) {
        let data: Vec<u8> = (0..20480u32).map(|i| (i * 7 + i / 4096) as u8).collect();
        let hashes: Vec<[u8; 32]> = data
            .chunks(8192)
            .map(|c| Sha256::digest(c).into())
            .collect();
        let json = Manifest::to_json(data.len() as u64, 8192, &hashes);
        (data, json.into_bytes())
    }

    fn disk(manifest: &[u8], overlay: Option<MemFile>) -> Result<HostDisk, String> {
        let base = Base::chunked("http://h/img/manifest.json", manifest)?;
        let ov = overlay.map(|f| {
            let fresh = f.0.borrow().0.is_empty();
            (Box::new(f) as Box<dyn OverlayFile>, fresh, "ov".to_string())
        });
        HostDisk::new(base, ov, false, HostDiskOptions::default())
    }

    /// Answers every posted fetch from `data`; `corrupt` flips a byte of
    /// chunk 1 on every attempt. Returns the requests seen.
    fn serve(d: &mut HostDisk, data: &[u8], corrupt: bool) -> Vec<FetchRequest> {
        let mut seen = Vec::new();
        loop {
            let reqs = d.take_fetches();
            if reqs.is_empty() {
                return seen;
            }
            for r in reqs {
                let i = (0..3u64)
                    .find(|&i| r.url.ends_with(&chunk_path_of(data, i)))
                    .expect("a chunk URL");
                let mut bytes =
                    data[i as usize * 8192..((i as usize + 1) * 8192).min(data.len())].to_vec();
                if corrupt && i == 1 {
                    bytes[3] ^= 0xFF;
                }
                seen.push(r.clone());
                d.complete_fetch(r.id, bytes);
            }
        }
    }

    fn chunk_path_of(data: &[u8], i: u64) -> String {
        let c = &data[i as usize * 8192..((i as usize + 1) * 8192).min(data.len())];
        let h: [u8; 32] = Sha256::digest(c).into();
        crate::core::manifest::hex(&h)
    }

    fn read(d: &mut SharedDisk, id: u64, offset: u64, len: usize) -> Vec<BlockCompletion> {
        d.submit(id, BlockOp::Read { offset, len });
        d.poll()
    }

    #[test]
    fn reads_wait_for_fetches_and_come_back_verified() {
        let (data, manifest) = image();
        let mut d = SharedDisk::new(disk(&manifest, None).unwrap());
        assert!(d.read_only(), "no overlay: read-only");
        assert_eq!(d.capacity(), 20480);
        // A read across chunks 0 and 1: nothing completes until both arrive.
        assert!(read(&mut d, 1, 4096, 8192).is_empty());
        assert_eq!(d.in_flight(), 1);
        let posted = d.0.borrow_mut().take_fetches();
        assert_eq!(posted.len(), 2, "one fetch per missing chunk");
        assert!(posted[0].url.starts_with("http://h/img/chunks/"));
        assert_eq!((posted[0].range, posted[0].delay_ms), (None, 0));
        d.0.borrow_mut()
            .complete_fetch(posted[1].id, data[8192..16384].to_vec());
        assert!(d.poll().is_empty(), "still waiting for chunk 0");
        d.0.borrow_mut()
            .complete_fetch(posted[0].id, data[..8192].to_vec());
        let done = d.poll();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].result.as_ref().unwrap(), &data[4096..12288]);
        // Cached now: the same read completes at once, without a fetch.
        let again = read(&mut d, 2, 0, 512);
        assert_eq!(again[0].result.as_ref().unwrap(), &data[..512]);
        assert!(d
            .0
            .borrow_mut()
            .take_fetches()
            .iter()
            .all(|f| f.url.contains("chunks/")));
        let s = d.0.borrow().stats().summary();
        assert!(s.starts_with("16384 bytes in 2 chunks"), "{s}");
        // Writes without an overlay are refused.
        d.submit(
            3,
            BlockOp::Write {
                offset: 0,
                data: vec![1; 512],
            },
        );
        assert_eq!(d.poll()[0].result, Err(BlockError::Unsupported));
    }

    #[test]
    fn a_corrupt_chunk_is_retried_with_backoff_then_fails_the_request() {
        let (data, manifest) = image();
        let mut d = SharedDisk::new(disk(&manifest, None).unwrap());
        assert!(read(&mut d, 7, 8192, 512).is_empty());
        let seen = serve(&mut d.0.borrow_mut(), &data, true);
        let delays: Vec<u64> = seen.iter().map(|r| r.delay_ms).collect();
        assert_eq!(
            delays,
            vec![0, 200, 400, 800],
            "first try and three retries"
        );
        let done = d.poll();
        match &done[0].result {
            Err(BlockError::Io(m)) => {
                assert!(
                    m.contains("SHA-256 mismatch") && m.contains("after 3 retries"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(d.0.borrow_mut().take_errors().len(), 1);
        // The next read of that chunk tries again (the failure is not sticky).
        assert!(read(&mut d, 8, 8192, 512).is_empty());
        serve(&mut d.0.borrow_mut(), &data, false);
        assert_eq!(d.poll()[0].result.as_ref().unwrap(), &data[8192..8704]);
        // A 404 is not retried.
        let mut d = SharedDisk::new(disk(&manifest, None).unwrap());
        assert!(read(&mut d, 1, 0, 512).is_empty());
        let f = d.0.borrow_mut().take_fetches();
        d.0.borrow_mut().fail_fetch(f[0].id, 404, "Not Found");
        let e = d.poll();
        assert!(
            matches!(&e[0].result, Err(BlockError::Io(m)) if m.contains("HTTP status 404")),
            "{e:?}"
        );
        assert!(d.0.borrow_mut().take_fetches().is_empty());
    }

    #[test]
    fn sequential_reads_fetch_ahead() {
        let (data, manifest) = image();
        let mut d = SharedDisk::new(disk(&manifest, None).unwrap());
        read(&mut d, 1, 0, 512);
        serve(&mut d.0.borrow_mut(), &data, false);
        d.poll();
        // The next chunk in sequence: chunk 1 on demand and chunk 2 ahead.
        read(&mut d, 2, 8192, 512);
        let f = d.0.borrow_mut().take_fetches();
        assert_eq!(f.len(), 2, "{f:?}");
        for r in f {
            let i = if r.url.ends_with(&chunk_path_of(&data, 1)) {
                1
            } else {
                2
            };
            let end = ((i + 1) * 8192).min(data.len());
            d.0.borrow_mut()
                .complete_fetch(r.id, data[i * 8192..end].to_vec());
        }
        d.poll();
        assert_eq!(
            d.0.borrow()
                .stats()
                .prefetched
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
    }

    #[test]
    fn overlay_keeps_writes_across_reopen_and_refuses_another_image() {
        let (data, manifest) = image();
        let file = MemFile::default();
        let mut d = SharedDisk::new(disk(&manifest, Some(file.clone())).unwrap());
        assert!(!d.read_only());
        // A partial-block write needs the base block first.
        d.submit(
            1,
            BlockOp::Write {
                offset: 8192 + 512,
                data: vec![0xAB; 1024],
            },
        );
        assert!(d.poll().is_empty(), "waits for chunk 1");
        serve(&mut d.0.borrow_mut(), &data, false);
        d.submit(2, BlockOp::Flush);
        let done = d.poll();
        assert_eq!(done.len(), 2);
        assert!(done.iter().all(|c| c.result.is_ok()), "{done:?}");
        // Reopened over a fresh cache: the written bytes come from the overlay,
        // the rest of the block from the base.
        let mut d = SharedDisk::new(disk(&manifest, Some(file.clone())).unwrap());
        assert!(
            read(&mut d, 3, 8192 + 512, 1024)[0]
                .result
                .as_ref()
                .unwrap()
                == &vec![0xAB; 1024]
        );
        assert!(
            d.0.borrow_mut().take_fetches().is_empty(),
            "all in the overlay"
        );
        // The whole 4 KiB block went to the overlay, completed from the base.
        let got = read(&mut d, 4, 8192, 2048)[0].result.clone().unwrap();
        assert_eq!(&got[..512], &data[8192..8704]);
        assert_eq!(&got[512..1536], &[0xAB; 1024][..]);
        assert_eq!(&got[1536..], &data[9728..10240]);
        // Half from the base (chunk 0, fetched), half from the overlay.
        assert!(read(&mut d, 5, 4096, 8192).is_empty(), "half from the base");
        let f = serve(&mut d.0.borrow_mut(), &data, false);
        assert_eq!(f.len(), 1, "only chunk 0: {f:?}");
        let got = d.poll()[0].result.clone().unwrap();
        assert_eq!(&got[..4096], &data[4096..8192]);
        assert_eq!(&got[4096 + 512..4096 + 1536], &[0xAB; 1024][..]);
        // Another image: refused with a message.
        let other = Manifest::to_json(20480, 8192, &[[1; 32], [2; 32], [3; 32]]);
        let e = disk(other.as_bytes(), Some(file.clone())).err().unwrap();
        assert!(e.contains("different base image"), "{e}");
        // A failed sync fails the flush and every later write.
        file.0.borrow_mut().1 = true;
        let mut d =
            SharedDisk::new(disk(&manifest, Some(file.clone())).unwrap_or_else(|e| panic!("{e}")));
        d.submit(
            5,
            BlockOp::Write {
                offset: 0,
                data: vec![1; 4096],
            },
        );
        d.submit(6, BlockOp::Flush);
        d.submit(
            7,
            BlockOp::Write {
                offset: 0,
                data: vec![2; 4096],
            },
        );
        let r = d.poll();
        assert!(
            r[0].result.is_ok() && r[1].result.is_err() && r[2].result.is_err(),
            "{r:?}"
        );
    }

    #[test]
    fn bad_manifests_are_messages() {
        assert!(Base::chunked("u", b"<html>")
            .unwrap_err()
            .contains("not JSON"));
        let empty = Manifest::to_json(0, 8192, &[]);
        let e = HostDisk::new(
            Base::chunked("u", empty.as_bytes()).unwrap(),
            None,
            false,
            HostDiskOptions::default(),
        )
        .err()
        .unwrap();
        assert!(e.contains("empty"), "{e}");
    }
}

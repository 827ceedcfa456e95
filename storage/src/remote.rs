//! The lazy-fetching engine shared by the chunked and HTTP Range stores: a disk
//! is cut into pieces (chunks) that a [`Source`] fetches on first read, with a
//! pool of fetch threads (one keep-alive connection each), a bounded LRU cache,
//! sequential read-ahead, retries with backoff, and counters.

use crate::http::{Client, Timeouts, TlsConfig};
use crate::store::{Stats, Store};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

/// Tuning for remote stores.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// In-memory cache bound in bytes (least recently used pieces are dropped).
    pub cache_bytes: u64,
    /// Parallel fetches (one connection each).
    pub connections: usize,
    /// Most bytes fetched ahead of a sequential reader.
    pub read_ahead_bytes: u64,
    /// Retries after a transient failure (the request fails after the last).
    pub retries: u32,
    /// Delay before the first retry; doubled for each further one.
    pub backoff: Duration,
    /// HTTP time limits.
    pub timeouts: Timeouts,
    /// Piece size for stores without their own (the HTTP Range store).
    pub range_piece: u64,
    /// Which certificate authorities https:// images may chain to.
    pub tls: TlsConfig,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            cache_bytes: 64 << 20,
            connections: 6,
            read_ahead_bytes: 4 << 20,
            retries: 3,
            backoff: Duration::from_millis(200),
            timeouts: Timeouts::default(),
            range_piece: 256 << 10,
            tls: TlsConfig::default(),
        }
    }
}

pub(crate) use crate::core::policy::{status_fault, Fault, Key};
use crate::core::policy::{Lru, ReadAhead, RetryPolicy};

/// A failed request: network errors may pass, a refused TLS handshake
/// (untrusted certificate) will not.
pub(crate) fn request_fault(what: impl std::fmt::Display, e: io::Error) -> Fault {
    let msg = format!("{what}: {e}");
    if crate::http::is_tls_error(&e) {
        Fault::permanent(msg)
    } else {
        Fault::transient(msg)
    }
}

/// Where the pieces come from.
pub(crate) trait Source: Send + Sync {
    /// Disk size in bytes.
    fn size(&self) -> u64;
    /// Piece size in bytes (the last piece may be short).
    fn piece_size(&self) -> u64;
    /// The cache key of piece `index`.
    fn key(&self, index: u64) -> Key;
    /// Fetches and verifies piece `index` (exactly its length).
    fn fetch(&self, client: &mut Client, index: u64) -> Result<Vec<u8>, Fault>;
    /// The contents' identity when the source has one (a manifest's hash).
    fn identity(&self) -> Option<[u8; 32]>;
    /// For logs.
    fn describe(&self) -> String;
}

/// Runs a fetch with retries and exponential backoff ([`RetryPolicy`]).
pub(crate) fn with_retries<T>(
    opts: &FetchOptions,
    stats: Option<&Stats>,
    mut f: impl FnMut() -> Result<T, Fault>,
) -> Result<T, String> {
    let policy = RetryPolicy {
        retries: opts.retries,
        backoff_ms: opts.backoff.as_millis().min(u64::MAX as u128) as u64,
    };
    let mut attempt = 0;
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(fault) => {
                let delay = policy.after_failure(attempt, &fault)?;
                if let Some(s) = stats {
                    Stats::add(&s.retries, 1);
                }
                log::debug!("retrying after: {}", fault.msg);
                std::thread::sleep(Duration::from_millis(delay));
                attempt += 1;
            }
        }
    }
}

type Slot = Arc<OnceLock<Result<Arc<[u8]>, String>>>;

struct State {
    cache: Lru,
    pending: HashMap<Key, Slot>,
    demand: VecDeque<(Key, u64)>,
    prefetch: VecDeque<(Key, u64)>,
    /// Sequential detection.
    read_ahead: ReadAhead,
    shutdown: bool,
}

struct Inner {
    source: Box<dyn Source>,
    opts: FetchOptions,
    state: Mutex<State>,
    cv: Condvar,
    stats: Stats,
}

/// A read-only store whose pieces are fetched lazily from a [`Source`].
pub struct Remote {
    inner: Arc<Inner>,
}

impl Remote {
    pub(crate) fn new(source: Box<dyn Source>, opts: FetchOptions) -> Remote {
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                cache: Lru::new(opts.cache_bytes),
                pending: HashMap::new(),
                demand: VecDeque::new(),
                prefetch: VecDeque::new(),
                read_ahead: ReadAhead::new(opts.read_ahead_bytes, source.piece_size()),
                shutdown: false,
            }),
            cv: Condvar::new(),
            stats: Stats::default(),
            source,
            opts,
        });
        for _ in 0..inner.opts.connections.max(1) {
            let inner = inner.clone();
            std::thread::Builder::new()
                .name("tab86-fetch".into())
                .spawn(move || fetch_worker(&inner))
                .expect("spawn fetch thread");
        }
        Remote { inner }
    }

    /// The counters.
    pub fn counters(&self) -> &Stats {
        &self.inner.stats
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        // Workers finish their current fetch (bounded by the timeouts) and exit.
        if let Ok(mut s) = self.inner.state.lock() {
            s.shutdown = true;
        }
        self.inner.cv.notify_all();
    }
}

fn fetch_worker(inner: &Inner) {
    let mut client = Client::with_tls(inner.opts.timeouts, inner.opts.tls.clone());
    loop {
        let (key, index, prefetch) = {
            let mut s = inner.state.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if s.shutdown {
                    return;
                }
                if let Some((k, i)) = s.demand.pop_front() {
                    break (k, i, false);
                }
                if let Some((k, i)) = s.prefetch.pop_front() {
                    break (k, i, true);
                }
                s = inner.cv.wait(s).unwrap_or_else(|e| e.into_inner());
            }
        };
        let result = with_retries(&inner.opts, Some(&inner.stats), || {
            inner.source.fetch(&mut client, index)
        });
        let result = match result {
            Ok(data) => {
                Stats::add(&inner.stats.bytes_fetched, data.len() as u64);
                Stats::add(&inner.stats.chunks_fetched, 1);
                if prefetch {
                    Stats::add(&inner.stats.prefetched, 1);
                }
                Ok(Arc::<[u8]>::from(data))
            }
            Err(msg) => {
                Stats::add(&inner.stats.failures, 1);
                let msg = format!("{}: {msg}", inner.source.describe());
                // The adapter logs failures a guest request sees; read-ahead ones only here.
                if prefetch {
                    log::info!("read-ahead failed: {msg}");
                }
                Err(msg)
            }
        };
        let mut s = inner.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(data) = &result {
            s.cache.insert(key, data.clone());
        }
        if let Some(slot) = s.pending.remove(&key) {
            let _ = slot.set(result);
        }
        drop(s);
        inner.cv.notify_all();
    }
}

impl Inner {
    /// Returns the slots of pieces `first..=last` (cached ones already filled),
    /// queueing fetches for missing ones and read-ahead after them.
    fn request(&self, first: u64, last: u64) -> Vec<(u64, Slot)> {
        let src = &self.source;
        let pieces = src.size().div_ceil(src.piece_size());
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for i in first..=last {
            let key = src.key(i);
            if let Some(d) = s.cache.get(&key) {
                Stats::add(&self.stats.cache_hits, 1);
                out.push((i, Arc::new(OnceLock::from(Ok(d)))));
            } else if let Some(slot) = s.pending.get(&key).cloned() {
                // Joined a fetch under way; move it ahead of read-ahead work.
                Stats::add(&self.stats.cache_hits, 1);
                if let Some(pos) = s.prefetch.iter().position(|(k, _)| *k == key) {
                    let job = s.prefetch.remove(pos).expect("position is valid");
                    s.demand.push_back(job);
                }
                out.push((i, slot));
            } else {
                Stats::add(&self.stats.cache_misses, 1);
                let slot: Slot = Arc::default();
                s.pending.insert(key, slot.clone());
                s.demand.push_back((key, i));
                out.push((i, slot));
            }
        }
        // Sequential detection ([`ReadAhead`]).
        for i in s.read_ahead.on_read(first, last, pieces) {
            let key = src.key(i);
            if !s.cache.contains(&key) && !s.pending.contains_key(&key) {
                s.pending.insert(key, Arc::default());
                s.prefetch.push_back((key, i));
            }
        }
        drop(s);
        self.cv.notify_all();
        out
    }

    fn wait(&self, slot: &Slot) -> Result<Arc<[u8]>, String> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(r) = slot.get() {
                return r.clone();
            }
            if s.shutdown {
                return Err("store closed".into());
            }
            s = self.cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Store for Remote {
    fn size(&self) -> u64 {
        self.inner.source.size()
    }

    fn read_only(&self) -> bool {
        true
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let ps = self.inner.source.piece_size();
        let end = offset + buf.len() as u64;
        let slots = self.inner.request(offset / ps, (end - 1) / ps);
        for (i, slot) in slots {
            let data = self.inner.wait(&slot).map_err(io::Error::other)?;
            let start = i * ps;
            let a = offset.max(start);
            let b = end.min(start + data.len() as u64);
            if a >= b {
                return Err(io::Error::other(format!(
                    "{}: piece {i} is shorter than the disk says",
                    self.describe()
                )));
            }
            buf[(a - offset) as usize..(b - offset) as usize]
                .copy_from_slice(&data[(a - start) as usize..(b - start) as usize]);
        }
        Ok(())
    }

    fn write_at(&self, _offset: u64, _data: &[u8]) -> io::Result<()> {
        Err(crate::store::read_only_error())
    }

    fn flush(&self) -> io::Result<()> {
        Ok(())
    }

    fn identity(&self) -> io::Result<[u8; 32]> {
        match self.inner.source.identity() {
            Some(h) => Ok(h),
            None => crate::store::raw_identity(self),
        }
    }

    fn stats(&self) -> Option<&Stats> {
        Some(&self.inner.stats)
    }

    fn describe(&self) -> String {
        self.inner.source.describe()
    }
}

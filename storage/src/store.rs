//! The synchronous interface every store implements, and the counters they keep.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where a disk's bytes live, seen synchronously: called from worker threads
/// (never from the CPU loop), possibly several reads at once. Writes, flushes
/// and discards are never concurrent with any other call (the adapter orders them).
pub trait Store: Send + Sync {
    /// Size in bytes.
    fn size(&self) -> u64;

    /// Whether writes are refused.
    fn read_only(&self) -> bool;

    /// Whether discard does anything useful.
    fn supports_discard(&self) -> bool {
        false
    }

    /// Fills `buf` from byte `offset`; the range is inside [`Store::size`].
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;

    /// Writes `data` at byte `offset`; the range is inside [`Store::size`].
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()>;

    /// Makes every completed write durable.
    fn flush(&self) -> io::Result<()>;

    /// The range is no longer needed; it may read back as zeros or unchanged.
    fn discard(&self, _offset: u64, _len: u64) -> io::Result<()> {
        Ok(())
    }

    /// A 32-byte identity of the contents, recorded by overlays to refuse a
    /// different base. The default hashes "raw", the size and the first and last
    /// MiB (cheap, catches a different or resized image, documented in DESIGN).
    fn identity(&self) -> io::Result<[u8; 32]> {
        raw_identity(self)
    }

    /// Counters, when the store keeps any.
    fn stats(&self) -> Option<&Stats> {
        None
    }

    /// A short name for logs and the guest-visible serial.
    fn describe(&self) -> String;
}

/// SHA-256 of "tab86-raw", the size (u64 LE), the first MiB and the last MiB.
pub fn raw_identity<S: Store + ?Sized>(s: &S) -> io::Result<[u8; 32]> {
    use sha2::{Digest, Sha256};
    const MIB: u64 = 1 << 20;
    let size = s.size();
    let mut h = Sha256::new();
    h.update(b"tab86-raw");
    h.update(size.to_le_bytes());
    let head = size.min(MIB);
    let mut buf = vec![0u8; head as usize];
    s.read_at(0, &mut buf)?;
    h.update(&buf);
    let tail_start = size.saturating_sub(MIB).max(head);
    let mut buf = vec![0u8; (size - tail_start) as usize];
    s.read_at(tail_start, &mut buf)?;
    h.update(&buf);
    Ok(h.finalize().into())
}

/// Counters for remote stores (the benchmark and `--stats` print them).
#[derive(Debug, Default)]
pub struct Stats {
    /// Payload bytes received from the source (after verification or not).
    pub bytes_fetched: AtomicU64,
    /// Chunks (or ranges) fetched successfully.
    pub chunks_fetched: AtomicU64,
    /// Chunk lookups answered from the cache (or joined an in-flight fetch).
    pub cache_hits: AtomicU64,
    /// Chunk lookups that needed a fetch.
    pub cache_misses: AtomicU64,
    /// Chunks fetched ahead of need by read-ahead.
    pub prefetched: AtomicU64,
    /// Fetch attempts that failed and were retried.
    pub retries: AtomicU64,
    /// Fetches that failed for good (the guest saw an I/O error if it needed them).
    pub failures: AtomicU64,
}

impl Stats {
    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// A one-line summary.
    pub fn summary(&self) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "{} bytes in {} chunks fetched ({} read ahead), {} cache hits, {} misses, {} retries, {} failed",
            g(&self.bytes_fetched),
            g(&self.chunks_fetched),
            g(&self.prefetched),
            g(&self.cache_hits),
            g(&self.cache_misses),
            g(&self.retries),
            g(&self.failures)
        )
    }
}

/// A read-only error for a write on a store that does not take writes.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn read_only_error() -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, "the disk is read-only")
}

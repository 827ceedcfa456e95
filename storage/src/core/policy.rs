//! The fetching policies of lazily fetched disks, as plain state machines with
//! no clock, thread or socket: which failures to retry and after how long, how
//! far to read ahead of a sequential reader, and which pieces the bounded cache
//! keeps. The native stores (worker threads, `std::thread::sleep`) and the
//! host-driven disk (requests completed by JavaScript, delays done by the host)
//! both decide with these.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What identifies a piece's contents in the cache: content-addressed chunks
/// share entries (all-zero chunks are cached once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    /// A chunk, by its SHA-256.
    Hash([u8; 32]),
    /// A piece of a raw image, by its index.
    Index(u64),
}

/// Why a fetch failed, and whether trying again may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// A retry may succeed (network error, server error, mangled chunk).
    pub retryable: bool,
    /// What went wrong, naming the source.
    pub msg: String,
}

impl Fault {
    /// A failure that may pass.
    pub fn transient(msg: impl Into<String>) -> Fault {
        Fault {
            retryable: true,
            msg: msg.into(),
        }
    }
    /// A failure that will not pass (404, a corrupt local chunk, TLS refused).
    pub fn permanent(msg: impl Into<String>) -> Fault {
        Fault {
            retryable: false,
            msg: msg.into(),
        }
    }
}

/// Classifies an HTTP status: server errors and throttling are worth a retry.
pub fn status_fault(status: u16, what: &str) -> Fault {
    let msg = format!("{what}: HTTP status {status}");
    if status >= 500 || status == 408 || status == 429 {
        Fault::transient(msg)
    } else {
        Fault::permanent(msg)
    }
}

/// Retries with exponential backoff: `retries` more attempts after the first,
/// the first after `backoff_ms`, each next one twice as late.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after a transient failure (the fetch fails after the last).
    pub retries: u32,
    /// Delay before the first retry, in milliseconds.
    pub backoff_ms: u64,
}

impl RetryPolicy {
    /// After attempt number `attempt` (0 = the first) failed with `fault`: the
    /// delay before the next attempt, or the final error message.
    pub fn after_failure(&self, attempt: u32, fault: &Fault) -> Result<u64, String> {
        if fault.retryable && attempt < self.retries {
            Ok(self.backoff_ms.saturating_mul(1 << attempt.min(16)))
        } else if attempt > 0 {
            Err(format!("{} (after {attempt} retries)", fault.msg))
        } else {
            Err(fault.msg.clone())
        }
    }
}

/// Sequential read-ahead: how many pieces to fetch beyond a read.
///
/// A read that starts in the piece right after the previous read's last one
/// grows the window (1, 2, 4, ... up to the limit); another read inside the same
/// piece keeps it (file systems read metadata piecemeal, which is not a stream);
/// anything else resets it. Growing on same-piece reads fetched far more than a
/// boot needs (measured: 3 of 4 chunks fetched were read-ahead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadAhead {
    /// The piece after the last one read.
    next_piece: u64,
    /// Pieces to keep ahead of a sequential reader (0 = not sequential).
    ahead: u64,
    /// The window's limit in pieces (0 = no read-ahead).
    max_ahead: u64,
}

impl ReadAhead {
    /// At most `max_bytes` ahead in pieces of `piece_size` bytes (0 turns it off).
    pub fn new(max_bytes: u64, piece_size: u64) -> ReadAhead {
        let max_ahead = if max_bytes == 0 {
            0
        } else {
            (max_bytes / piece_size.max(1)).max(1)
        };
        ReadAhead {
            next_piece: u64::MAX,
            ahead: 0,
            max_ahead,
        }
    }

    /// A read of pieces `first..=last` of a disk of `pieces` pieces: the pieces
    /// to fetch ahead of it.
    pub fn on_read(&mut self, first: u64, last: u64, pieces: u64) -> std::ops::Range<u64> {
        if self.max_ahead == 0 {
            self.ahead = 0;
        } else if first == self.next_piece {
            self.ahead = (self.ahead * 2).clamp(1, self.max_ahead);
        } else if first.wrapping_add(1) != self.next_piece {
            self.ahead = 0;
        }
        self.next_piece = last + 1;
        last + 1..(last + 1 + self.ahead).min(pieces)
    }
}

/// An LRU map from key to piece bytes, bounded by total bytes.
#[derive(Debug, Default)]
pub struct Lru {
    map: HashMap<Key, (Arc<[u8]>, u64)>,
    order: BTreeMap<u64, Key>,
    tick: u64,
    bytes: u64,
    cap: u64,
}

impl Lru {
    /// An empty cache holding at most `cap` bytes.
    pub fn new(cap: u64) -> Lru {
        Lru {
            cap,
            ..Lru::default()
        }
    }

    /// The bytes of `k`, marking it most recently used.
    pub fn get(&mut self, k: &Key) -> Option<Arc<[u8]>> {
        let (data, t) = self.map.get_mut(k)?;
        self.order.remove(t);
        self.tick += 1;
        *t = self.tick;
        self.order.insert(self.tick, *k);
        Some(data.clone())
    }

    /// Whether `k` is cached (without touching its age).
    pub fn contains(&self, k: &Key) -> bool {
        self.map.contains_key(k)
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Adds `k`, dropping the least recently used pieces to stay in bounds; a
    /// piece larger than the whole cache is not kept.
    pub fn insert(&mut self, k: Key, data: Arc<[u8]>) {
        let len = data.len() as u64;
        if len > self.cap || self.map.contains_key(&k) {
            return;
        }
        while self.bytes + len > self.cap {
            let Some((_, old)) = self.order.pop_first() else {
                break;
            };
            if let Some((d, _)) = self.map.remove(&old) {
                self.bytes -= d.len() as u64;
            }
        }
        self.tick += 1;
        self.order.insert(self.tick, k);
        self.map.insert(k, (data, self.tick));
        self.bytes += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_evicts_least_recently_used_within_the_byte_bound() {
        let mut l = Lru::new(30);
        let d = |n: usize| Arc::<[u8]>::from(vec![0u8; n]);
        l.insert(Key::Index(1), d(10));
        l.insert(Key::Index(2), d(10));
        l.insert(Key::Index(3), d(10));
        assert!(l.get(&Key::Index(1)).is_some()); // 1 is now the most recent
        l.insert(Key::Index(4), d(10)); // evicts 2
        assert!(!l.contains(&Key::Index(2)));
        assert!(l.contains(&Key::Index(1)) && l.contains(&Key::Index(3)));
        assert_eq!(l.bytes(), 30);
        l.insert(Key::Index(5), d(31)); // larger than the cache: not kept
        assert!(!l.contains(&Key::Index(5)));
    }

    #[test]
    fn read_ahead_grows_on_streams_keeps_on_same_piece_resets_on_jumps() {
        let mut r = ReadAhead::new(4 * 64, 64); // at most 4 pieces ahead
        assert_eq!(r.on_read(10, 10, 100), 11..11, "a first read is no stream");
        assert_eq!(r.on_read(11, 11, 100), 12..13);
        assert_eq!(r.on_read(12, 13, 100), 14..16);
        assert_eq!(
            r.on_read(13, 13, 100),
            14..16,
            "same piece keeps the window"
        );
        assert_eq!(r.on_read(14, 14, 100), 15..19);
        assert_eq!(r.on_read(15, 15, 100), 16..20, "capped at 4");
        assert_eq!(r.on_read(98, 98, 100), 99..99, "a jump resets");
        assert_eq!(r.on_read(99, 99, 100), 100..100, "never past the end");
        let mut off = ReadAhead::new(0, 64);
        off.on_read(1, 1, 100);
        assert_eq!(off.on_read(2, 2, 100), 3..3);
    }

    #[test]
    fn retries_back_off_and_stop() {
        let p = RetryPolicy {
            retries: 3,
            backoff_ms: 200,
        };
        let t = Fault::transient("x: HTTP status 500");
        assert_eq!(p.after_failure(0, &t), Ok(200));
        assert_eq!(p.after_failure(2, &t), Ok(800));
        assert_eq!(
            p.after_failure(3, &t),
            Err("x: HTTP status 500 (after 3 retries)".into())
        );
        assert_eq!(
            p.after_failure(0, &status_fault(404, "y")),
            Err("y: HTTP status 404".into())
        );
        assert!(status_fault(429, "z").retryable && status_fault(503, "z").retryable);
        assert!(!status_fault(403, "z").retryable);
    }
}

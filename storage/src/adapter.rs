//! [`Threaded`]: a [`BlockBackend`] that runs a [`Store`]'s synchronous calls on
//! worker threads, so `submit` and `poll` never wait for a file or the network.
//!
//! Ordering: requests start in submission order. Reads run in parallel with
//! each other; a write, flush or discard waits for everything submitted before
//! it and everything submitted after it waits for it, so the guest sees the
//! same results as if requests ran one by one (as [`tab86_devices::MemDisk`] does).

use crate::store::{Stats, Store};
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use tab86_devices::block::{BlockBackend, BlockCompletion, BlockError, BlockOp, RequestId};

struct Queue {
    waiting: VecDeque<(RequestId, BlockOp)>,
    reads_running: usize,
    exclusive_running: bool,
    done: Vec<BlockCompletion>,
    shutdown: bool,
}

struct Shared {
    store: Arc<dyn Store>,
    q: Mutex<Queue>,
    /// Signals workers (work may be startable) and `wait` (a completion is ready).
    cv: Condvar,
    /// The host's waker, called after each completion (see `BlockBackend::set_waker`).
    waker: Mutex<Option<tab86_devices::Waker>>,
}

/// A [`BlockBackend`] over any [`Store`], served by a few worker threads.
pub struct Threaded {
    shared: Arc<Shared>,
    capacity: u64,
    in_flight: usize,
    id: String,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl Threaded {
    /// Serves `store` with `workers` threads (reads in parallel up to that many).
    pub fn new(store: Arc<dyn Store>, workers: usize) -> Threaded {
        let capacity = store.size().div_ceil(512) * 512;
        let id = store.describe();
        let shared = Arc::new(Shared {
            store,
            q: Mutex::new(Queue {
                waiting: VecDeque::new(),
                reads_running: 0,
                exclusive_running: false,
                done: Vec::new(),
                shutdown: false,
            }),
            cv: Condvar::new(),
            waker: Mutex::new(None),
        });
        let workers = (0..workers.max(1))
            .map(|_| {
                let s = shared.clone();
                std::thread::Builder::new()
                    .name("tab86-disk".into())
                    .spawn(move || worker(&s))
                    .expect("spawn disk worker")
            })
            .collect();
        Threaded {
            shared,
            capacity,
            in_flight: 0,
            id,
            workers,
        }
    }

    /// The store behind this backend.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.shared.q.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Threaded {
    fn drop(&mut self) {
        let mut q = self.lock();
        q.shutdown = true;
        self.shared.cv.notify_all();
        // A running write is waited for. Reads still running (perhaps waiting on
        // a slow server, bounded by the timeouts) are left to finish on their
        // own; otherwise the idle workers are joined so the store (and an
        // overlay's file lock) is released when this returns.
        while q.exclusive_running {
            q = self.shared.cv.wait(q).unwrap_or_else(|e| e.into_inner());
        }
        let idle = q.reads_running == 0;
        drop(q);
        if idle {
            for w in self.workers.drain(..) {
                let _ = w.join();
            }
        }
        // A final flush keeps written data the guest did not flush.
        if !self.shared.store.read_only() {
            if let Err(e) = self.shared.store.flush() {
                log::error!("{}: final flush failed: {e}", self.id);
            }
        }
    }
}

fn worker(s: &Shared) {
    let mut q = s.q.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if q.shutdown {
            return;
        }
        let startable = match q.waiting.front() {
            Some((_, BlockOp::Read { .. })) => !q.exclusive_running,
            Some(_) => !q.exclusive_running && q.reads_running == 0,
            None => false,
        };
        if !startable {
            q = s.cv.wait(q).unwrap_or_else(|e| e.into_inner());
            continue;
        }
        let (id, op) = q.waiting.pop_front().expect("front exists");
        let is_read = matches!(op, BlockOp::Read { .. });
        if is_read {
            q.reads_running += 1;
        } else {
            q.exclusive_running = true;
        }
        drop(q);
        let result = run(&*s.store, op);
        q = s.q.lock().unwrap_or_else(|e| e.into_inner());
        if is_read {
            q.reads_running -= 1;
        } else {
            q.exclusive_running = false;
        }
        q.done.push(BlockCompletion { id, result });
        s.cv.notify_all();
        drop(q);
        let waker = s.waker.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(w) = waker {
            w();
        }
        q = s.q.lock().unwrap_or_else(|e| e.into_inner());
    }
}

fn check(store: &dyn Store, capacity: u64, offset: u64, len: u64) -> Result<(), BlockError> {
    match offset.checked_add(len) {
        Some(end) if end <= capacity => Ok(()),
        _ => Err(BlockError::Io(format!(
            "{}: access {offset}+{len} past the end ({capacity} bytes)",
            store.describe()
        ))),
    }
}

fn io_err(store: &dyn Store, what: &str, e: std::io::Error) -> BlockError {
    let msg = format!("{} {what}: {e}", store.describe());
    log::warn!("{msg}");
    BlockError::Io(msg)
}

/// Runs one request synchronously. The capacity may exceed the store's size by
/// less than a sector: that tail reads as zeros and cannot be written.
fn run(store: &dyn Store, op: BlockOp) -> Result<Vec<u8>, BlockError> {
    let size = store.size();
    let capacity = size.div_ceil(512) * 512;
    match op {
        BlockOp::Read { offset, len } => {
            check(store, capacity, offset, len as u64)?;
            let mut buf = vec![0u8; len];
            let n = size.saturating_sub(offset).min(len as u64) as usize;
            if n > 0 {
                store
                    .read_at(offset, &mut buf[..n])
                    .map_err(|e| io_err(store, &format!("read {offset}+{len}"), e))?;
            }
            Ok(buf)
        }
        BlockOp::Write { .. } | BlockOp::Discard { .. } if store.read_only() => {
            Err(BlockError::Unsupported)
        }
        BlockOp::Write { offset, data } => {
            check(store, size, offset, data.len() as u64)?;
            store
                .write_at(offset, &data)
                .map_err(|e| io_err(store, &format!("write {offset}+{}", data.len()), e))?;
            Ok(Vec::new())
        }
        BlockOp::Flush => store
            .flush()
            .map(|_| Vec::new())
            .map_err(|e| io_err(store, "flush", e)),
        BlockOp::Discard { offset, len } => {
            check(store, capacity, offset, len)?;
            let len = len.min(size.saturating_sub(offset));
            store
                .discard(offset, len)
                .map(|_| Vec::new())
                .map_err(|e| io_err(store, "discard", e))
        }
    }
}

impl BlockBackend for Threaded {
    fn capacity(&self) -> u64 {
        self.capacity
    }

    fn read_only(&self) -> bool {
        self.shared.store.read_only()
    }

    fn supports_discard(&self) -> bool {
        self.shared.store.supports_discard()
    }

    fn id(&self) -> String {
        // The guest sees at most 20 bytes: keep the end (the file name).
        let n = self.id.len();
        let mut start = n.saturating_sub(20);
        while !self.id.is_char_boundary(start) {
            start += 1;
        }
        self.id[start..].to_string()
    }

    fn generation(&self) -> Option<u64> {
        self.shared.store.generation()
    }

    fn submit(&mut self, id: RequestId, op: BlockOp) {
        self.in_flight += 1;
        self.lock().waiting.push_back((id, op));
        self.shared.cv.notify_all();
    }

    fn set_waker(&mut self, waker: tab86_devices::Waker) -> bool {
        *self.shared.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(waker);
        true
    }

    fn poll(&mut self) -> Vec<BlockCompletion> {
        let done = std::mem::take(&mut self.lock().done);
        self.in_flight -= done.len();
        done
    }

    fn in_flight(&self) -> usize {
        self.in_flight
    }

    fn wait(&mut self, timeout_ns: u64) {
        let deadline = std::time::Instant::now() + Duration::from_nanos(timeout_ns);
        let mut q = self.lock();
        while q.done.is_empty() && self.in_flight > 0 {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return;
            }
            q = self
                .shared
                .cv
                .wait_timeout(q, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Counters of a backend's store, for `--stats`.
pub fn stats_of(b: &Threaded) -> Option<&Stats> {
    b.store().stats()
}

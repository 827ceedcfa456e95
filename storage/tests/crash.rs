//! Crash consistency of the copy-on-write overlay, tested the way storage
//! engines test theirs: the overlay runs on a simulated file that loses power
//! at every write and sync point in turn, with the unsynced writes lost, kept,
//! or kept in part, and with the interrupted write torn (a prefix reaching the
//! disk); syncs can also fail, losing the writes they were to make durable.
//! After each crash the overlay is reopened from what the disk holds, and:
//! - it opens (a crash never leaves it unusable);
//! - every sector reads back as it was at the last flush that returned Ok,
//!   or as one of the values written to it after that flush (a disk keeps
//!   or loses each unflushed write, sector by sector), never anything else;
//! - the base was never written;
//! - it keeps working: a write and a flush after recovery survive a reopen.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tab86_storage::overlay::{Overlay, OverlayFile};
use tab86_storage::Store;

const SECTOR: usize = 512;

/// A base image in memory that counts attempts to write it.
struct Base {
    data: Vec<u8>,
    writes: AtomicUsize,
}

struct BaseRef(Arc<Base>);

impl Store for BaseRef {
    fn size(&self) -> u64 {
        self.0.data.len() as u64
    }
    fn read_only(&self) -> bool {
        true
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let at = offset as usize;
        buf.copy_from_slice(&self.0.data[at..at + buf.len()]);
        Ok(())
    }
    fn write_at(&self, _: u64, _: &[u8]) -> io::Result<()> {
        self.0.writes.fetch_add(1, Ordering::SeqCst);
        Err(io::Error::other("the base is read-only"))
    }
    fn flush(&self) -> io::Result<()> {
        Ok(())
    }
    fn describe(&self) -> String {
        "memory base".into()
    }
}

/// Which of the writes not yet synced are on the disk after the crash.
#[derive(Debug, Clone, Copy)]
enum Survive {
    None,
    All,
    /// Each independently, chosen by this seed.
    Some(u64),
}

/// What goes wrong, and when (counted in write and sync calls).
#[derive(Debug, Clone, Copy, Default)]
struct Fault {
    /// Power is lost at this call (the call fails, and so does every later one).
    crash_at: Option<usize>,
    /// If the call at `crash_at` is a write, this many of its bytes land.
    torn: Option<usize>,
    /// Which unsynced writes survive the crash.
    survive: Option<Survive>,
    /// This sync fails, and the writes it was to make durable never will be.
    fail_sync_at: Option<usize>,
}

#[derive(Default)]
struct Disk {
    /// What the disk itself holds.
    durable: Vec<u8>,
    /// What reads see (the page cache).
    cached: Vec<u8>,
    /// Writes since the last sync, in order.
    pending: Vec<(usize, Vec<u8>)>,
    /// Write and sync calls so far.
    calls: usize,
    fault: Fault,
    /// The disk's contents after the crash, once it happened.
    crashed: Option<Vec<u8>>,
    /// Whether `fail_sync_at` was reached.
    sync_failed: bool,
}

fn put(img: &mut Vec<u8>, at: usize, data: &[u8]) {
    if img.len() < at + data.len() {
        img.resize(at + data.len(), 0);
    }
    img[at..at + data.len()].copy_from_slice(data);
}

impl Disk {
    fn crash(&mut self, torn: Option<(usize, &[u8])>) {
        let mut img = self.durable.clone();
        let mut rng = match self.fault.survive {
            Some(Survive::Some(seed)) => seed | 1,
            _ => 0,
        };
        for (at, data) in &self.pending {
            let keep = match self.fault.survive.unwrap_or(Survive::None) {
                Survive::None => false,
                Survive::All => true,
                Survive::Some(_) => {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng & 1 == 1
                }
            };
            if keep {
                put(&mut img, *at, data);
            }
        }
        if let Some((at, prefix)) = torn {
            put(&mut img, at, prefix);
        }
        self.crashed = Some(img);
    }
}

/// A file on the simulated disk; clones share it.
#[derive(Clone, Default)]
struct FaultFile(Arc<Mutex<Disk>>);

impl FaultFile {
    fn with(contents: Vec<u8>, fault: Fault) -> FaultFile {
        FaultFile(Arc::new(Mutex::new(Disk {
            durable: contents.clone(),
            cached: contents,
            fault,
            ..Disk::default()
        })))
    }
    fn disk(&self) -> std::sync::MutexGuard<'_, Disk> {
        self.0.lock().unwrap()
    }
}

fn power_lost() -> io::Error {
    io::Error::other("simulated power loss")
}

impl OverlayFile for FaultFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let d = self.disk();
        if d.crashed.is_some() {
            return Err(power_lost());
        }
        let at = offset as usize;
        let src = d
            .cached
            .get(at..at + buf.len())
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn write_all_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        let mut d = self.disk();
        if d.crashed.is_some() {
            return Err(power_lost());
        }
        let call = d.calls;
        d.calls += 1;
        let at = offset as usize;
        if d.fault.crash_at == Some(call) {
            let n = d.fault.torn.unwrap_or(0).min(data.len());
            d.crash(Some((at, &data[..n])));
            return Err(power_lost());
        }
        put(&mut d.cached, at, data);
        d.pending.push((at, data.to_vec()));
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        let mut d = self.disk();
        if d.crashed.is_some() {
            return Err(power_lost());
        }
        let call = d.calls;
        d.calls += 1;
        if d.fault.crash_at == Some(call) {
            d.crash(None);
            return Err(power_lost());
        }
        let pending = std::mem::take(&mut d.pending);
        if d.fault.fail_sync_at == Some(call) {
            d.sync_failed = true;
            // Like Linux after a writeback error: the data stays readable
            // from the cache but never reaches the disk, and the error is
            // reported once.
            return Err(io::Error::other("simulated EIO on fsync"));
        }
        for (at, data) in pending {
            put(&mut d.durable, at, &data);
        }
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.disk().cached.len() as u64)
    }
}

#[derive(Debug, Clone, Copy)]
enum Step {
    /// Write `sectors` sectors at sector `at`.
    Write {
        at: usize,
        sectors: usize,
    },
    Flush,
}

use Step::{Flush, Write};

/// The contents of a write: every sector of every step is distinct.
fn pattern(step: usize, at: usize, sectors: usize) -> Vec<u8> {
    let mut v = vec![0u8; sectors * SECTOR];
    for (i, s) in v.chunks_mut(SECTOR).enumerate() {
        s.fill((step * 37 + i * 11 + 1) as u8);
        s[..8].copy_from_slice(&(step as u64).to_le_bytes());
        s[8..16].copy_from_slice(&((at + i) as u64).to_le_bytes());
    }
    v
}

/// What the guest may see after a crash.
struct Model {
    /// The disk as of the last flush that returned Ok.
    flushed: Vec<u8>,
    /// Sector -> values written to it since that flush.
    since: HashMap<usize, Vec<Vec<u8>>>,
    /// Whether an operation failed (the crash, or a failed sync).
    failed: bool,
    /// File calls made before each step began.
    calls_before: Vec<usize>,
    /// Whether creating the overlay completed (header written and synced).
    /// `Overlay::open` creates under a temporary name and links the file in
    /// place only then, so a crash before leaves no overlay to reopen.
    created: bool,
}

/// Runs `steps` on an overlay over `base` kept in `file` until the crash.
/// With `persist`, failures do not stop the run: a failed flush is retried
/// once and later steps go on, as a guest that ignores an I/O error would.
fn run(base: &Arc<Base>, file: &FaultFile, steps: &[Step], persist: bool) -> Model {
    let mut m = Model {
        flushed: base.data.clone(),
        since: HashMap::new(),
        failed: false,
        calls_before: Vec::new(),
        created: false,
    };
    let Ok(ov) = Overlay::open_file(
        Box::new(file.clone()),
        true,
        Box::new(BaseRef(base.clone())),
        Path::new("sim.ovl"),
    ) else {
        m.failed = true;
        return m;
    };
    m.created = true;
    let mut current = base.data.clone();
    for (n, step) in steps.iter().enumerate() {
        m.calls_before.push(file.disk().calls);
        match *step {
            Write { at, sectors } => {
                let data = pattern(n, at, sectors);
                for (i, s) in data.chunks(SECTOR).enumerate() {
                    m.since.entry(at + i).or_default().push(s.to_vec());
                }
                if ov.write_at((at * SECTOR) as u64, &data).is_err() {
                    m.failed = true;
                    if !persist {
                        return m;
                    }
                    continue;
                }
                current[at * SECTOR..(at + sectors) * SECTOR].copy_from_slice(&data);
            }
            Flush => {
                let mut r = ov.flush();
                if r.is_err() && persist {
                    r = ov.flush();
                }
                match r {
                    Ok(()) => {
                        m.flushed = current.clone();
                        m.since.clear();
                    }
                    Err(_) => {
                        m.failed = true;
                        if !persist {
                            return m;
                        }
                    }
                }
            }
        }
    }
    m
}

/// Reopens the overlay from `image` and checks it against the model.
fn check(base: &Arc<Base>, image: Vec<u8>, m: &Model, what: &str) {
    let file = FaultFile::with(image, Fault::default());
    let ov = Overlay::open_file(
        Box::new(file.clone()),
        false,
        Box::new(BaseRef(base.clone())),
        Path::new("sim.ovl"),
    )
    .unwrap_or_else(|e| panic!("{what}: reopen failed: {e}"));
    let mut got = vec![0u8; base.data.len()];
    ov.read_at(0, &mut got).unwrap();
    for (s, (g, f)) in got.chunks(SECTOR).zip(m.flushed.chunks(SECTOR)).enumerate() {
        if g != f && !m.since.get(&s).is_some_and(|v| v.iter().any(|x| x == g)) {
            panic!(
                "{what}: sector {s} reads {:02x?}..., neither its flushed value {:02x?}... nor one written since",
                &g[..16],
                &f[..16]
            );
        }
    }
    assert_eq!(
        base.writes.load(Ordering::SeqCst),
        0,
        "{what}: base written"
    );
    // Recovery leaves a working overlay.
    let tail = base.data.len() - SECTOR;
    ov.write_at(tail as u64, &[0xa5; SECTOR]).unwrap();
    ov.flush().unwrap();
    drop(ov);
    let again = Overlay::open_file(
        Box::new(FaultFile::with(
            std::mem::take(&mut file.disk().durable),
            Fault::default(),
        )),
        false,
        Box::new(BaseRef(base.clone())),
        Path::new("sim.ovl"),
    )
    .unwrap_or_else(|e| panic!("{what}: reopen after recovery failed: {e}"));
    let mut last = vec![0u8; SECTOR];
    again.read_at(tail as u64, &mut last).unwrap();
    assert_eq!(last, [0xa5; SECTOR], "{what}: write after recovery lost");
}

fn base(blocks: usize, seed: u8) -> Arc<Base> {
    let data = (0..blocks * 4096)
        .map(|i| (i / SECTOR) as u8 ^ seed ^ (i as u8).rotate_left(3))
        .collect();
    Arc::new(Base {
        data,
        writes: AtomicUsize::new(0),
    })
}

/// Crashes `steps` at every write and sync call from the start of step
/// `dense_from` on (every `stride`th call before it), with each way the
/// unsynced writes may survive and with the interrupted write torn; returns
/// how many crash images were checked.
fn every_crash(base: &Arc<Base>, steps: &[Step], dense_from: usize, stride: usize) -> usize {
    let probe = FaultFile::default();
    let m = run(base, &probe, steps, false);
    assert!(!m.failed, "the workload runs without faults");
    let calls = probe.disk().calls;
    let dense = m.calls_before[dense_from];
    let points = (0..dense).step_by(stride).chain(dense..=calls);
    let mut checked = 0;
    for crash_at in points {
        for survive in [Survive::None, Survive::All, Survive::Some(crash_at as u64)] {
            for torn in [None, Some(SECTOR), Some(2048)] {
                if torn.is_some() && matches!(survive, Survive::Some(_)) {
                    continue;
                }
                let fault = Fault {
                    crash_at: Some(crash_at),
                    torn,
                    survive: Some(survive),
                    fail_sync_at: None,
                };
                let file = FaultFile::with(Vec::new(), fault);
                let m = run(base, &file, steps, false);
                let image = {
                    let mut d = file.disk();
                    if d.crashed.is_none() {
                        // Power lost after the last step.
                        d.crash(None);
                    }
                    d.crashed.clone().unwrap()
                };
                let what = format!("crash at call {crash_at}/{calls}, {survive:?}, torn {torn:?}");
                if !m.created {
                    continue;
                }
                check(base, image, &m, &what);
                checked += 1;
            }
        }
    }
    checked
}

#[test]
fn every_crash_point_of_small_writes_overwrites_and_flushes_recovers() {
    let b = base(64, 1);
    let steps = [
        Write { at: 0, sectors: 8 },
        Write {
            at: 16,
            sectors: 16,
        },
        Write { at: 3, sectors: 2 },  // inside an overlay block, in place
        Write { at: 41, sectors: 3 }, // part of a base block: copy on write
        Flush,
        Write { at: 17, sectors: 1 },
        Write { at: 80, sectors: 8 },
        Write { at: 0, sectors: 24 }, // overwrites and a new block
        Flush,
        Write {
            at: 200,
            sectors: 9,
        },
        Write { at: 16, sectors: 8 },
        Flush,
        Write {
            at: 300,
            sectors: 4,
        }, // never flushed
        Write { at: 0, sectors: 1 },
    ];
    let n = every_crash(&b, &steps, 0, 1);
    eprintln!("{n} crash images checked");
    assert!(n > 150, "{n} crash images");
}

#[test]
fn every_crash_point_across_an_index_group_boundary_recovers() {
    // 504 data slots per index group: the second flush spills into group 1,
    // the third rewrites both groups' indexes.
    let b = base(530, 2);
    let mut steps: Vec<Step> = (0..50)
        .map(|i| Write {
            at: i * 80,
            sectors: 80,
        })
        .collect(); // 500 blocks
    steps.push(Flush);
    steps.push(Write {
        at: 4000,
        sectors: 64,
    }); // blocks 500..508: slots 500..507
    steps.push(Flush);
    steps.push(Write { at: 8, sectors: 8 }); // in place, group 0
    steps.push(Write {
        at: 4064,
        sectors: 16,
    }); // two more slots in group 1
    steps.push(Flush);
    steps.push(Write {
        at: 4160,
        sectors: 8,
    });
    // The 500 writes before the first flush are alike (unflushed new
    // blocks): every 25th of them is crashed at, every call after densely.
    let n = every_crash(&b, &steps, 50, 25);
    eprintln!("{n} crash images checked");
    assert!(n > 150, "{n} crash images");
}

#[test]
fn a_failed_sync_is_never_followed_by_a_flush_that_claims_success() {
    // Linux reports a writeback error once and may drop the data; a retried
    // fsync then succeeds. The overlay must not then record the lost blocks
    // as flushed.
    let b = base(64, 3);
    let steps = [
        Write { at: 0, sectors: 8 },
        Flush,
        Write { at: 8, sectors: 8 },
        Write { at: 0, sectors: 4 },
        Flush,
        Write { at: 64, sectors: 8 },
        Flush,
        Write {
            at: 128,
            sectors: 8,
        },
        Flush,
    ];
    let probe = FaultFile::default();
    run(&b, &probe, &steps, false);
    let calls = probe.disk().calls;
    let mut syncs = 0;
    for fail_at in 0..calls {
        // Only sync calls matter; a write call at this index is not affected.
        let file = FaultFile::with(
            Vec::new(),
            Fault {
                fail_sync_at: Some(fail_at),
                ..Fault::default()
            },
        );
        let m = run(&b, &file, &steps, true);
        if !file.disk().sync_failed || !m.created {
            continue; // that call was a write, or the sync creating the file
        }
        syncs += 1;
        // Power is lost at the end: only what was synced is on the disk.
        let image = {
            let mut d = file.disk();
            d.fault.survive = Some(Survive::None);
            d.crash(None);
            d.crashed.clone().unwrap()
        };
        check(&b, image, &m, &format!("sync call {fail_at} failed"));
    }
    eprintln!("{syncs} failing syncs tried");
    assert!(syncs >= 10, "{syncs} failing syncs tried");
}

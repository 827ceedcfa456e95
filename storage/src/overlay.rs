//! A copy-on-write overlay: writes go to a local file in 4 KiB blocks, reads
//! merge that file with a read-only base, and the base is never written.
//!
//! # File layout (little-endian, every structure one 4 KiB block)
//!
//! ```text
//! 0      header      "TAB86COW", version 1, block size, disk size, base identity, CRC-32
//! 4096   super A  \  "TAB86SUP", generation, slots (allocated data slots), CRC-32;
//! 8192   super B  /  generation g lives in copy g % 2
//! 12288  group 0: index copy 0, index copy 1, then 504 data slots
//!        group 1: ...
//! ```
//! An index copy ("TAB86IDX", group, generation, count, the guest block number
//! of each of the group's slots, CRC-32) maps slot `k` of the group to a guest
//! block. Mappings are only ever added: rewriting a mapped block overwrites its
//! slot in place (ordinary disk semantics for unflushed writes).
//!
//! # Crash safety (flush ordering)
//! New mappings live in memory until a flush, which (1) fsyncs the data, (2)
//! writes the changed groups' index to the copy *not* holding their last
//! durable state, with generation G+1, fsyncs, (3) writes superblock G+1 with the
//! slot count into the other superblock copy, fsyncs. At open the newest valid
//! superblock (G, N slots) wins; each group takes its newest valid index copy
//! with generation <= G, which must hold exactly the slots below N; the file
//! must be long enough to hold slot N-1. So a crash or truncation during
//! unflushed writes or a flush recovers the last completed flush, and damage to
//! flushed state (a truncation into flushed data, a bad index) is refused with
//! an error rather than read as zeros or stale data.
//!
//! Failed syncs: after an fsync error the kernel may have dropped the data it
//! could not write while reporting the next fsync as successful, so the
//! overlay stops trusting itself: the flush fails, and so does every later
//! write and flush, until it is reopened (which recovers the last completed
//! flush). A new overlay file is written and synced under a temporary name
//! and linked into place, so a crash while creating it never leaves a
//! half-written overlay behind.
//!
//! All file access goes through [`OverlayFile`], so tests can simulate
//! crashes, torn writes and failed syncs at every point.
//!
//! # Base identity
//! The header records the base's size and [`Store::identity`]: the SHA-256 of
//! manifest.json for chunked images, or for raw images SHA-256("tab86-raw",
//! size, first MiB, last MiB). A different base is refused at open.

use crate::chunked::hex;
use crate::store::{read_only_error, Stats, Store};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Overlay block size in bytes.
pub const BLOCK: u64 = 4096;
/// Data slots per group (what fits in one index block).
const SLOTS: u64 = 504;
const HEADER_MAGIC: &[u8; 8] = b"TAB86COW";
const SUPER_MAGIC: &[u8; 8] = b"TAB86SUP";
const INDEX_MAGIC: &[u8; 8] = b"TAB86IDX";
const VERSION: u32 = 1;
const FIRST_GROUP: u64 = 3 * BLOCK;
const GROUP_BYTES: u64 = (2 + SLOTS) * BLOCK;
/// Index entries start here inside an index block.
const ENTRIES_AT: usize = 28;
/// Every block structure ends with a CRC-32 of the bytes before it.
const CRC_AT: usize = BLOCK as usize - 4;

fn seal(block: &mut [u8]) {
    let crc = crc32fast::hash(&block[..CRC_AT]);
    block[CRC_AT..].copy_from_slice(&crc.to_le_bytes());
}

fn sealed(block: &[u8]) -> bool {
    block.len() == BLOCK as usize
        && crc32fast::hash(&block[..CRC_AT]).to_le_bytes() == block[CRC_AT..]
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn index_copy_at(group: u64, copy: u64) -> u64 {
    FIRST_GROUP + group * GROUP_BYTES + copy * BLOCK
}

fn slot_at(slot: u64) -> u64 {
    let (g, k) = (slot / SLOTS, slot % SLOTS);
    FIRST_GROUP + g * GROUP_BYTES + (2 + k) * BLOCK
}

/// The file operations an overlay uses. A real overlay uses a [`File`]; tests
/// use an implementation that crashes, tears writes or fails syncs on cue.
pub trait OverlayFile: Send + Sync {
    /// Reads exactly `buf.len()` bytes at `offset`.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Writes all of `data` at `offset` (it may be lost or torn by a crash
    /// until the next successful [`OverlayFile::sync`]).
    fn write_all_at(&self, data: &[u8], offset: u64) -> io::Result<()>;
    /// Makes every completed write durable (`fdatasync`).
    fn sync(&self) -> io::Result<()>;
    /// The file's current length in bytes.
    fn size(&self) -> io::Result<u64>;
}

impl OverlayFile for File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }
    fn write_all_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(self, data, offset)
    }
    fn sync(&self) -> io::Result<()> {
        self.sync_data()
    }
    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
}

struct State {
    /// Guest block -> slot, including mappings not flushed yet.
    map: HashMap<u64, u64>,
    /// Slot -> guest block, for every allocated slot.
    owner: Vec<u64>,
    /// Slots covered by the last completed flush.
    durable: u64,
    /// Generation of the last completed flush.
    generation: u64,
    /// Which index copy of each group holds its durable state.
    current_copy: Vec<Option<u64>>,
    /// Whether anything was written since the last flush.
    dirty: bool,
    /// Set when a sync failed: what was written since the last flush may be
    /// lost, so nothing more is accepted until a reopen.
    poisoned: Option<String>,
}

impl State {
    fn new() -> State {
        State {
            map: HashMap::new(),
            owner: Vec::new(),
            durable: 0,
            generation: 0,
            current_copy: Vec::new(),
            dirty: false,
            poisoned: None,
        }
    }
}

/// A copy-on-write overlay over a read-only base.
pub struct Overlay {
    base: Box<dyn Store>,
    file: Box<dyn OverlayFile>,
    path: PathBuf,
    size: u64,
    state: Mutex<State>,
}

fn corrupt(path: &Path, msg: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("overlay {}: {msg}", path.display()),
    )
}

impl Overlay {
    /// Opens the overlay at `path` over `base`, creating it if the file does not
    /// exist. Refuses an overlay made for another base, one that is damaged
    /// beyond its last flush, or one another process holds.
    pub fn open(path: &Path, base: Box<dyn Store>) -> io::Result<Overlay> {
        let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
        loop {
            match OpenOptions::new().read(true).write(true).open(path) {
                Ok(f) => {
                    lock_file(&f, path)?;
                    return Overlay::open_file(Box::new(f), false, base, path);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(named(e)),
            }
            // Create it complete under a temporary name, then link it into
            // place (which fails if another process got there first).
            let mut tmp = path.as_os_str().to_owned();
            tmp.push(".new");
            let tmp = PathBuf::from(tmp);
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&tmp)
                .map_err(named)?;
            lock_file(&f, &tmp)?;
            f.set_len(0)?;
            Overlay::write_new(&f, base.size(), &base.identity()?)?;
            let linked = match std::fs::hard_link(&tmp, path) {
                // A filesystem without hard links: rename instead (which
                // could replace an overlay another process created in the
                // last instant, a race only between two creators).
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => std::fs::rename(&tmp, path),
                r => r,
            };
            let _ = std::fs::remove_file(&tmp);
            sync_dir(path);
            match linked {
                Ok(()) => return Overlay::open_file(Box::new(f), false, base, path),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(named(e)),
            }
        }
    }

    /// Opens an overlay kept in `file` over `base` (`name` is used in messages):
    /// `fresh` writes a new, empty overlay into it first. What [`Overlay::open`]
    /// does after finding, locking or creating the file; public so tests can
    /// run the overlay on a file that simulates crashes.
    pub fn open_file(
        file: Box<dyn OverlayFile>,
        fresh: bool,
        base: Box<dyn Store>,
        name: &Path,
    ) -> io::Result<Overlay> {
        let size = base.size();
        let identity = base.identity()?;
        if fresh {
            Overlay::write_new(&*file, size, &identity)?;
        }
        let mut ov = Overlay {
            base,
            file,
            path: name.to_path_buf(),
            size,
            state: Mutex::new(State::new()),
        };
        ov.load(&identity)?;
        Ok(ov)
    }

    /// Writes the header and an empty superblock, and syncs.
    fn write_new(file: &dyn OverlayFile, size: u64, identity: &[u8; 32]) -> io::Result<()> {
        let mut h = vec![0u8; BLOCK as usize];
        h[..8].copy_from_slice(HEADER_MAGIC);
        h[8..12].copy_from_slice(&VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&(BLOCK as u32).to_le_bytes());
        h[16..24].copy_from_slice(&size.to_le_bytes());
        h[24..56].copy_from_slice(identity);
        seal(&mut h);
        file.write_all_at(&h, 0)?;
        file.write_all_at(&super_block(0, 0), BLOCK)?;
        file.write_all_at(&vec![0u8; BLOCK as usize], 2 * BLOCK)?;
        file.sync()
    }

    fn read_block(&self, at: u64, len: u64) -> io::Result<Option<Vec<u8>>> {
        if at + BLOCK > len {
            return Ok(None);
        }
        let mut b = vec![0u8; BLOCK as usize];
        self.file.read_exact_at(&mut b, at)?;
        Ok(Some(b))
    }

    fn load(&mut self, identity: &[u8; 32]) -> io::Result<()> {
        let path = self.path.clone();
        let len = self.file.size()?;
        if len < FIRST_GROUP {
            return Err(corrupt(
                &path,
                format!("truncated ({len} bytes, shorter than its header); refusing to use it"),
            ));
        }
        let h = self.read_block(0, len)?.expect("length checked");
        if &h[..8] != HEADER_MAGIC {
            return Err(corrupt(&path, "not a tab86 overlay file"));
        }
        if !sealed(&h) {
            return Err(corrupt(&path, "header checksum mismatch"));
        }
        let version = u32::from_le_bytes(h[8..12].try_into().expect("4 bytes"));
        let bs = u32::from_le_bytes(h[12..16].try_into().expect("4 bytes"));
        if version != VERSION || bs as u64 != BLOCK {
            return Err(corrupt(
                &path,
                format!("unsupported version {version} / block size {bs}"),
            ));
        }
        let size = u64_at(&h, 16);
        if size != self.size || h[24..56] != identity[..] {
            return Err(corrupt(
                &path,
                format!(
                    "was made for a different base image (size {size}, identity {}), not {} (size {}, identity {}); refusing to use it",
                    hex(h[24..56].try_into().expect("32 bytes")),
                    self.base.describe(),
                    self.size,
                    hex(identity)
                ),
            ));
        }
        // Newest valid superblock.
        let mut best: Option<(u64, u64)> = None;
        for copy in 0..2 {
            if let Some(b) = self.read_block(BLOCK * (1 + copy), len)? {
                if &b[..8] == SUPER_MAGIC && sealed(&b) {
                    let (g, n) = (u64_at(&b, 8), u64_at(&b, 16));
                    if g % 2 == copy && best.is_none_or(|(bg, _)| g > bg) {
                        best = Some((g, n));
                    }
                }
            }
        }
        let (generation, slots) =
            best.ok_or_else(|| corrupt(&path, "no valid superblock; refusing to use it"))?;
        let blocks = self.size.div_ceil(BLOCK);
        if slots > blocks {
            return Err(corrupt(
                &path,
                format!("{slots} slots for a {blocks}-block disk"),
            ));
        }
        if slots > 0 && len < slot_at(slots - 1) + BLOCK {
            return Err(corrupt(
                &path,
                format!(
                    "truncated: its last flush needs {} bytes but the file has {len}; flushed data is lost, refusing to use it",
                    slot_at(slots - 1) + BLOCK
                ),
            ));
        }
        let groups = slots.div_ceil(SLOTS);
        let mut st = State {
            map: HashMap::new(),
            owner: Vec::with_capacity(slots as usize),
            durable: slots,
            generation,
            current_copy: Vec::new(),
            dirty: false,
            poisoned: None,
        };
        let mut discarded = false;
        for g in 0..groups {
            let want = SLOTS.min(slots - g * SLOTS);
            let mut pick: Option<(u64, u64, Vec<u8>)> = None;
            for copy in 0..2 {
                let Some(b) = self.read_block(index_copy_at(g, copy), len)? else {
                    continue;
                };
                if &b[..8] != INDEX_MAGIC || !sealed(&b) || u64_at(&b, 8) != g {
                    continue;
                }
                let gen = u64_at(&b, 16);
                if gen > generation {
                    discarded = true; // written by a flush that did not finish
                    continue;
                }
                if pick.as_ref().is_none_or(|(pg, _, _)| gen > *pg) {
                    pick = Some((gen, copy, b));
                }
            }
            let Some((_, copy, b)) = pick else {
                return Err(corrupt(
                    &path,
                    format!("index of group {g} is damaged; refusing to use it"),
                ));
            };
            let count = u32::from_le_bytes(b[24..28].try_into().expect("4 bytes")) as u64;
            if count != want {
                return Err(corrupt(
                    &path,
                    format!("index of group {g} holds {count} slots, its last flush says {want}; refusing to use it"),
                ));
            }
            for k in 0..count {
                let guest = u64_at(&b, ENTRIES_AT + 8 * k as usize);
                if guest >= blocks || st.map.insert(guest, g * SLOTS + k).is_some() {
                    return Err(corrupt(
                        &path,
                        format!("index of group {g} has a bad entry; refusing to use it"),
                    ));
                }
                st.owner.push(guest);
            }
            st.current_copy.push(Some(copy));
        }
        if discarded || (slots > 0 && len > slot_at(slots - 1) + BLOCK) {
            log::info!(
                "overlay {}: writes after the last flush were discarded (the previous run did not flush them)",
                path.display()
            );
        }
        *self.state.get_mut().unwrap_or_else(|e| e.into_inner()) = st;
        Ok(())
    }

    /// Number of 4 KiB blocks stored in the overlay (flushed or not).
    pub fn blocks_stored(&self) -> u64 {
        self.lock().owner.len() as u64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads base bytes, zero-filling past the base's end.
    fn read_base(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = (offset + buf.len() as u64).min(self.base.size());
        if offset >= end {
            buf.fill(0);
            return Ok(());
        }
        let n = (end - offset) as usize;
        self.base.read_at(offset, &mut buf[..n])?;
        buf[n..].fill(0);
        Ok(())
    }
}

fn super_block(generation: u64, slots: u64) -> Vec<u8> {
    let mut b = vec![0u8; BLOCK as usize];
    b[..8].copy_from_slice(SUPER_MAGIC);
    b[8..16].copy_from_slice(&generation.to_le_bytes());
    b[16..24].copy_from_slice(&slots.to_le_bytes());
    seal(&mut b);
    b
}

impl Store for Overlay {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_only(&self) -> bool {
        false
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = offset + buf.len() as u64;
        // Slot of each touched block, looked up under the lock once.
        let slots: Vec<Option<u64>> = {
            let st = self.lock();
            (offset / BLOCK..end.div_ceil(BLOCK))
                .map(|b| st.map.get(&b).copied())
                .collect()
        };
        let first = offset / BLOCK;
        let mut i = 0;
        while i < slots.len() {
            // A run of blocks that are all in the overlay or all in the base.
            let mut j = i + 1;
            while j < slots.len() && slots[j].is_some() == slots[i].is_some() {
                j += 1;
            }
            let a = offset.max((first + i as u64) * BLOCK);
            let b = end.min((first + j as u64) * BLOCK);
            let out = &mut buf[(a - offset) as usize..(b - offset) as usize];
            if slots[i].is_none() {
                self.read_base(a, out)?;
            } else {
                let mut pos = a;
                for s in &slots[i..j] {
                    let blk_end = (pos / BLOCK + 1) * BLOCK;
                    let n = (blk_end.min(b) - pos) as usize;
                    let at = slot_at(s.expect("run of mapped blocks")) + pos % BLOCK;
                    self.file
                        .read_exact_at(&mut out[(pos - a) as usize..(pos - a) as usize + n], at)?;
                    pos += n as u64;
                }
            }
            i = j;
        }
        Ok(())
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut st = self.lock();
        self.check_poison(&st)?;
        st.dirty = true;
        let end = offset + data.len() as u64;
        let mut pos = offset;
        while pos < end {
            let blk = pos / BLOCK;
            let blk_end = ((blk + 1) * BLOCK).min(end);
            let part = &data[(pos - offset) as usize..(blk_end - offset) as usize];
            if let Some(&slot) = st.map.get(&blk) {
                self.file.write_all_at(part, slot_at(slot) + pos % BLOCK)?;
            } else {
                let mut whole = vec![0u8; BLOCK as usize];
                if part.len() as u64 != BLOCK {
                    self.read_base(blk * BLOCK, &mut whole)?;
                }
                let at = (pos % BLOCK) as usize;
                whole[at..at + part.len()].copy_from_slice(part);
                let slot = st.owner.len() as u64;
                self.file.write_all_at(&whole, slot_at(slot))?;
                st.owner.push(blk);
                st.map.insert(blk, slot);
            }
            pos = blk_end;
        }
        Ok(())
    }

    fn flush(&self) -> io::Result<()> {
        let mut st = self.lock();
        self.check_poison(&st)?;
        if !st.dirty {
            return Ok(());
        }
        self.flush_locked(&mut st)
    }

    fn generation(&self) -> Option<u64> {
        Some(self.lock().generation)
    }

    fn stats(&self) -> Option<&Stats> {
        self.base.stats()
    }

    fn describe(&self) -> String {
        format!("{} + overlay {}", self.base.describe(), self.path.display())
    }
}

impl Overlay {
    /// Refuses further writes and flushes after a failed sync.
    fn check_poison(&self, st: &State) -> io::Result<()> {
        match &st.poisoned {
            None => Ok(()),
            Some(why) => Err(io::Error::other(format!(
                "overlay {}: a sync failed earlier ({why}); writes since the last flush may be lost, so it accepts nothing more until reopened (which recovers the last flush)",
                self.path.display()
            ))),
        }
    }

    /// A sync that poisons the overlay when it fails.
    fn sync(&self, st: &mut State) -> io::Result<()> {
        self.file.sync().inspect_err(|e| {
            st.poisoned = Some(e.to_string());
        })
    }

    fn flush_locked(&self, st: &mut State) -> io::Result<()> {
        self.sync(st)?;
        let allocated = st.owner.len() as u64;
        if allocated > st.durable {
            let next = st.generation + 1;
            let first_group = st.durable / SLOTS;
            let last_group = (allocated - 1) / SLOTS;
            let mut copies = Vec::new();
            for g in first_group..=last_group {
                let lo = g * SLOTS;
                let hi = allocated.min(lo + SLOTS);
                let mut b = vec![0u8; BLOCK as usize];
                b[..8].copy_from_slice(INDEX_MAGIC);
                b[8..16].copy_from_slice(&g.to_le_bytes());
                b[16..24].copy_from_slice(&next.to_le_bytes());
                b[24..28].copy_from_slice(&((hi - lo) as u32).to_le_bytes());
                for (k, guest) in st.owner[lo as usize..hi as usize].iter().enumerate() {
                    let at = ENTRIES_AT + 8 * k;
                    b[at..at + 8].copy_from_slice(&guest.to_le_bytes());
                }
                seal(&mut b);
                let copy = match st.current_copy.get(g as usize).copied().flatten() {
                    Some(c) => 1 - c,
                    None => 0,
                };
                self.file.write_all_at(&b, index_copy_at(g, copy))?;
                copies.push((g, copy));
            }
            self.sync(st)?;
            self.file
                .write_all_at(&super_block(next, allocated), BLOCK * (1 + next % 2))?;
            self.sync(st)?;
            for (g, copy) in copies {
                if st.current_copy.len() <= g as usize {
                    st.current_copy.resize(g as usize + 1, None);
                }
                st.current_copy[g as usize] = Some(copy);
            }
            st.generation = next;
            st.durable = allocated;
        }
        st.dirty = false;
        Ok(())
    }
}

/// Takes the overlay's exclusive lock (flock) without waiting.
fn lock_file(f: &File, path: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on an fd we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(corrupt(path, "in use by another process"));
    }
    Ok(())
}

/// Makes a new directory entry durable (best effort: some filesystems refuse).
fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// A read-only view of a store (the base of an overlay must not be written).
pub(crate) struct ReadOnly(pub Box<dyn Store>);

impl Store for ReadOnly {
    fn size(&self) -> u64 {
        self.0.size()
    }
    fn read_only(&self) -> bool {
        true
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.0.read_at(offset, buf)
    }
    fn write_at(&self, _: u64, _: &[u8]) -> io::Result<()> {
        Err(read_only_error())
    }
    fn flush(&self) -> io::Result<()> {
        Ok(())
    }
    fn identity(&self) -> io::Result<[u8; 32]> {
        self.0.identity()
    }
    fn stats(&self) -> Option<&Stats> {
        self.0.stats()
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
}

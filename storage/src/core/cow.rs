//! The copy-on-write overlay format and its recovery rules, on a small
//! [`OverlayFile`] trait (read_at/write_at/sync/size) and with the base read
//! through a callback, so the same code runs on a native file over a store
//! served by threads and on a JavaScript file handle over chunks fetched by
//! the host. Creating and locking the file is the platform's business.
//!
//! Writes go to the overlay file in 4 KiB blocks, reads merge that file with a
//! read-only base, and the base is never written.
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
//! The header records the base's size and its identity (`Store::identity`): the SHA-256 of
//! manifest.json for chunked images, or for raw images SHA-256("tab86-raw",
//! size, first MiB, last MiB). A different base is refused at open.

use crate::core::manifest::hex;
use std::collections::HashMap;
use std::io;
use std::sync::Mutex;

/// Overlay block size in bytes.
pub const BLOCK: u64 = 4096;
/// The length of a new, empty overlay file ([`write_new`]'s header, superblocks
/// and first index block). A shorter file holds no flushed data: its creation
/// did not finish (a host without atomic rename, such as a browser's storage,
/// may see that after a crash), so it can be written anew.
pub const EMPTY_LEN: u64 = FIRST_GROUP;
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

/// The file operations an overlay uses: natively a `std::fs::File`, under
/// wasm a host (JavaScript) file handle (`node:fs`, an OPFS sync access
/// handle); tests use an implementation that crashes, tears writes or fails
/// syncs on cue.
pub trait OverlayFile {
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

/// Reads base bytes at an offset (the range is inside the disk).
pub type BaseRead<'a> = &'a dyn Fn(u64, &mut [u8]) -> io::Result<()>;

/// An open overlay file: the format's state and the file. Reads and writes
/// take the base's bytes through a [`BaseRead`] callback, called outside the
/// lock (reads of the base may run in parallel).
pub struct Cow<F: OverlayFile + ?Sized> {
    file: Box<F>,
    name: String,
    size: u64,
    state: Mutex<State>,
}

fn corrupt(name: &str, msg: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("overlay {name}: {msg}"))
}

/// Writes the header and an empty superblock into an empty file, and syncs.
pub fn write_new(
    file: &(impl OverlayFile + ?Sized),
    size: u64,
    identity: &[u8; 32],
) -> io::Result<()> {
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

impl<F: OverlayFile + ?Sized> Cow<F> {
    /// Opens the overlay kept in `file` for a base of `size` bytes whose
    /// identity is `identity`; `fresh` writes a new, empty overlay first.
    /// `name` (the file's) and `base_name` are for messages. Recovers the last
    /// completed flush; refuses an overlay made for another base or damaged
    /// beyond its last flush.
    pub fn open(
        file: Box<F>,
        fresh: bool,
        size: u64,
        identity: &[u8; 32],
        name: &str,
        base_name: &str,
    ) -> io::Result<Cow<F>> {
        if fresh {
            write_new(&*file, size, identity)?;
        }
        let mut ov = Cow {
            file,
            name: name.to_string(),
            size,
            state: Mutex::new(State::new()),
        };
        ov.load(identity, base_name)?;
        Ok(ov)
    }

    /// The disk size in bytes (the base's).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The file's name, as given to [`Cow::open`].
    pub fn name(&self) -> &str {
        &self.name
    }

    fn read_block(&self, at: u64, len: u64) -> io::Result<Option<Vec<u8>>> {
        if at + BLOCK > len {
            return Ok(None);
        }
        let mut b = vec![0u8; BLOCK as usize];
        self.file.read_exact_at(&mut b, at)?;
        Ok(Some(b))
    }

    fn load(&mut self, identity: &[u8; 32], base_name: &str) -> io::Result<()> {
        let path = self.name.clone();
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
                    base_name,
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
                path
            );
        }
        *self.state.get_mut().unwrap_or_else(|e| e.into_inner()) = st;
        Ok(())
    }

    /// Number of 4 KiB blocks stored in the overlay (flushed or not).
    pub fn blocks_stored(&self) -> u64 {
        self.lock().owner.len() as u64
    }

    /// The generation of the last completed flush (how many flushes made
    /// writes durable; machine snapshots record it).
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads base bytes, zero-filling past the base's end.
    fn read_base(&self, base: BaseRead, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = (offset + buf.len() as u64).min(self.size);
        if offset >= end {
            buf.fill(0);
            return Ok(());
        }
        let n = (end - offset) as usize;
        base(offset, &mut buf[..n])?;
        buf[n..].fill(0);
        Ok(())
    }

    /// The byte ranges of `offset..offset+len` a read takes from the base
    /// (the blocks the overlay does not hold), in order. A host that fetches
    /// the base asynchronously gets these bytes ready before [`Cow::read_at`].
    pub fn base_ranges(&self, offset: u64, len: u64) -> Vec<(u64, u64)> {
        let end = offset + len;
        let st = self.lock();
        let mut out: Vec<(u64, u64)> = Vec::new();
        for b in offset / BLOCK..end.div_ceil(BLOCK) {
            if st.map.contains_key(&b) {
                continue;
            }
            let (a, e) = (
                offset.max(b * BLOCK),
                end.min((b + 1) * BLOCK).min(self.size),
            );
            if a >= e {
                continue;
            }
            match out.last_mut() {
                Some(last) if last.1 == a => last.1 = e,
                _ => out.push((a, e)),
            }
        }
        out
    }

    /// The byte ranges a write of `offset..offset+len` reads from the base:
    /// the whole blocks it covers only partly that the overlay does not hold yet.
    pub fn base_ranges_for_write(&self, offset: u64, len: u64) -> Vec<(u64, u64)> {
        let end = offset + len;
        let st = self.lock();
        let mut out = Vec::new();
        for b in offset / BLOCK..end.div_ceil(BLOCK) {
            let whole = offset <= b * BLOCK && end >= (b + 1) * BLOCK;
            let (a, e) = (b * BLOCK, ((b + 1) * BLOCK).min(self.size));
            if !whole && !st.map.contains_key(&b) && a < e {
                out.push((a, e));
            }
        }
        out
    }

    /// Fills `buf` from byte `offset`, merging the overlay with the base.
    pub fn read_at(&self, base: BaseRead, offset: u64, buf: &mut [u8]) -> io::Result<()> {
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
                self.read_base(base, a, out)?;
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

    /// Writes `data` at byte `offset` (blocks not yet in the overlay are
    /// completed from the base).
    pub fn write_at(&self, base: BaseRead, offset: u64, data: &[u8]) -> io::Result<()> {
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
                    self.read_base(base, blk * BLOCK, &mut whole)?;
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

    /// Makes every completed write durable (see the flush ordering above).
    pub fn flush(&self) -> io::Result<()> {
        let mut st = self.lock();
        self.check_poison(&st)?;
        if !st.dirty {
            return Ok(());
        }
        self.flush_locked(&mut st)
    }

    /// Refuses further writes and flushes after a failed sync.
    fn check_poison(&self, st: &State) -> io::Result<()> {
        match &st.poisoned {
            None => Ok(()),
            Some(why) => Err(io::Error::other(format!(
                "overlay {}: a sync failed earlier ({why}); writes since the last flush may be lost, so it accepts nothing more until reopened (which recovers the last flush)",
                self.name
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

fn super_block(generation: u64, slots: u64) -> Vec<u8> {
    let mut b = vec![0u8; BLOCK as usize];
    b[..8].copy_from_slice(SUPER_MAGIC);
    b[8..16].copy_from_slice(&generation.to_le_bytes());
    b[16..24].copy_from_slice(&slots.to_le_bytes());
    seal(&mut b);
    b
}

//! A copy-on-write overlay file over a read-only base store, natively: the
//! format and its recovery rules are [`crate::core::cow`] (shared with the
//! host-driven disk under wasm); this file adds what only a native host does:
//! finding, creating (under a temporary name, linked into place) and locking
//! (`flock`) the file, and reading the base through a [`Store`].

use crate::core::cow::{self, Cow};
pub use crate::core::cow::{OverlayFile, BLOCK};
use crate::store::{read_only_error, Stats, Store};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

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

/// A copy-on-write overlay over a read-only base.
pub struct Overlay {
    base: Box<dyn Store>,
    cow: Cow<dyn OverlayFile + Send + Sync>,
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
            cow::write_new(&f, base.size(), &base.identity()?)?;
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
        file: Box<dyn OverlayFile + Send + Sync>,
        fresh: bool,
        base: Box<dyn Store>,
        name: &Path,
    ) -> io::Result<Overlay> {
        let identity = base.identity()?;
        let cow = Cow::open(
            file,
            fresh,
            base.size(),
            &identity,
            &name.display().to_string(),
            &base.describe(),
        )?;
        Ok(Overlay { base, cow })
    }

    /// Number of 4 KiB blocks stored in the overlay (flushed or not).
    pub fn blocks_stored(&self) -> u64 {
        self.cow.blocks_stored()
    }
}

impl Store for Overlay {
    fn size(&self) -> u64 {
        self.cow.size()
    }

    fn read_only(&self) -> bool {
        false
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.cow
            .read_at(&|o, b| self.base.read_at(o, b), offset, buf)
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.cow
            .write_at(&|o, b| self.base.read_at(o, b), offset, data)
    }

    fn flush(&self) -> io::Result<()> {
        self.cow.flush()
    }

    fn stats(&self) -> Option<&Stats> {
        self.base.stats()
    }

    fn describe(&self) -> String {
        format!("{} + overlay {}", self.base.describe(), self.cow.name())
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

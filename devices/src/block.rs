//! The interface between a block device model (virtio-blk) and where its bytes
//! live (a raw file, chunks fetched over HTTP, a copy-on-write overlay).
//!
//! The device model never blocks the CPU loop: it [`BlockBackend::submit`]s a
//! request and later collects its [`BlockCompletion`] from [`BlockBackend::poll`].
//! A backend may complete a request at once (a RAM disk), on a worker thread (a
//! native HTTP fetch) or from a browser callback; the device sees no difference.
//! Errors are values delivered to the guest as I/O errors, never panics.

/// A request's handle, chosen by the device and echoed in its completion.
pub type RequestId = u64;

/// Size of a sector, the unit of virtio-blk addresses.
pub const SECTOR_SIZE: u64 = 512;

/// What a request asks for. Offsets and lengths are in bytes and multiples of
/// [`SECTOR_SIZE`]; the device checks them against the capacity before submitting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockOp {
    /// Read `len` bytes at byte `offset`.
    Read {
        /// Byte offset.
        offset: u64,
        /// Byte count.
        len: usize,
    },
    /// Write `data` at byte `offset`.
    Write {
        /// Byte offset.
        offset: u64,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Make every completed write durable.
    Flush,
    /// The guest no longer needs `len` bytes at `offset` (they may read back as
    /// zeros or as before).
    Discard {
        /// Byte offset.
        offset: u64,
        /// Byte count.
        len: u64,
    },
}

/// Why a request failed; the guest sees VIRTIO_BLK_S_IOERR (or UNSUPP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockError {
    /// The data could not be read or written (message for the host log).
    Io(String),
    /// The backend does not support this operation (e.g. write on a read-only disk).
    Unsupported,
}

impl core::fmt::Display for BlockError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BlockError::Io(m) => write!(f, "block I/O error: {m}"),
            BlockError::Unsupported => write!(f, "block operation not supported"),
        }
    }
}

impl std::error::Error for BlockError {}

/// A finished request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockCompletion {
    /// The id given to [`BlockBackend::submit`].
    pub id: RequestId,
    /// The bytes read (for [`BlockOp::Read`]; empty otherwise), or the error.
    pub result: Result<Vec<u8>, BlockError>,
}

/// Where a block device's bytes live. Implementations must not block in
/// `submit` or `poll` for longer than a memory copy.
pub trait BlockBackend {
    /// Size of the disk in bytes (a multiple of [`SECTOR_SIZE`]).
    fn capacity(&self) -> u64;

    /// Whether writes are refused.
    fn read_only(&self) -> bool;

    /// Whether [`BlockOp::Discard`] is meaningful (advertised to the guest).
    fn supports_discard(&self) -> bool {
        false
    }

    /// A short identifier (at most 20 bytes are shown to the guest as the serial).
    fn id(&self) -> String {
        String::from("tab86-disk")
    }

    /// How many flushes made the disk's writes durable, if the backend counts
    /// them (a copy-on-write overlay's generation). Machine snapshots record it
    /// and refuse to restore over a disk that has moved on since.
    fn generation(&self) -> Option<u64> {
        None
    }

    /// Start a request; its completion comes later from [`BlockBackend::poll`].
    fn submit(&mut self, id: RequestId, op: BlockOp);

    /// Completions that are ready, oldest first; never waits.
    fn poll(&mut self) -> Vec<BlockCompletion>;

    /// Requests submitted and not yet returned by `poll`.
    fn in_flight(&self) -> usize;

    /// Block for at most `timeout_ns` until a completion is ready (used by
    /// deterministic mode, where the guest's time must not depend on the host's).
    /// The default returns at once, right for backends that complete in `submit`;
    /// threaded backends override it.
    fn wait(&mut self, _timeout_ns: u64) {}

    /// Asks the backend to call `waker` (from any thread) each time a completion
    /// becomes ready, so a real-time host can sleep until then instead of polling.
    /// Returns whether it will; the default (a backend that cannot) returns false
    /// and the machine keeps checking its completions every millisecond.
    fn set_waker(&mut self, _waker: Waker) -> bool {
        false
    }
}

/// Called by a block backend when a completion is ready (see
/// [`BlockBackend::set_waker`]); it may run on another thread.
pub type Waker = std::sync::Arc<dyn Fn() + Send + Sync>;

/// A disk held in memory: completes every request at once. For tests and for
/// small images built on the fly.
#[derive(Debug, Clone, Default)]
pub struct MemDisk {
    data: Vec<u8>,
    read_only: bool,
    done: Vec<BlockCompletion>,
}

impl MemDisk {
    /// A disk with these contents (rounded up to a whole sector with zeros).
    pub fn new(mut data: Vec<u8>, read_only: bool) -> Self {
        let len = (data.len() as u64).div_ceil(SECTOR_SIZE) * SECTOR_SIZE;
        data.resize(len as usize, 0);
        Self {
            data,
            read_only,
            done: Vec::new(),
        }
    }

    /// The current contents.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    fn range(&self, offset: u64, len: u64) -> Result<core::ops::Range<usize>, BlockError> {
        let end = offset
            .checked_add(len)
            .filter(|&e| e <= self.data.len() as u64)
            .ok_or_else(|| BlockError::Io(format!("access {offset}+{len} past the end")))?;
        Ok(offset as usize..end as usize)
    }
}

impl BlockBackend for MemDisk {
    fn capacity(&self) -> u64 {
        self.data.len() as u64
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn supports_discard(&self) -> bool {
        !self.read_only
    }

    fn submit(&mut self, id: RequestId, op: BlockOp) {
        let result = match op {
            BlockOp::Read { offset, len } => self
                .range(offset, len as u64)
                .map(|r| self.data[r].to_vec()),
            BlockOp::Write { .. } | BlockOp::Discard { .. } if self.read_only => {
                Err(BlockError::Unsupported)
            }
            BlockOp::Write { offset, data } => self.range(offset, data.len() as u64).map(|r| {
                self.data[r].copy_from_slice(&data);
                Vec::new()
            }),
            BlockOp::Discard { offset, len } => self.range(offset, len).map(|r| {
                self.data[r].fill(0);
                Vec::new()
            }),
            BlockOp::Flush => Ok(Vec::new()),
        };
        self.done.push(BlockCompletion { id, result });
    }

    fn poll(&mut self) -> Vec<BlockCompletion> {
        core::mem::take(&mut self.done)
    }

    fn in_flight(&self) -> usize {
        self.done.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_disk_reads_back_writes_and_refuses_out_of_range() {
        let mut d = MemDisk::new(vec![7; 1000], false);
        assert_eq!(d.capacity(), 1024);
        d.submit(
            1,
            BlockOp::Write {
                offset: 512,
                data: vec![9; 512],
            },
        );
        d.submit(
            2,
            BlockOp::Read {
                offset: 0,
                len: 1024,
            },
        );
        d.submit(
            3,
            BlockOp::Read {
                offset: 1024,
                len: 512,
            },
        );
        assert_eq!(d.in_flight(), 3);
        let done = d.poll();
        assert_eq!(d.in_flight(), 0);
        assert_eq!(done[0].result, Ok(vec![]));
        let data = done[1].result.as_ref().unwrap();
        assert_eq!(&data[..512], &[7; 512][..]);
        assert_eq!(&data[512..], &[9; 512][..]);
        assert!(matches!(done[2].result, Err(BlockError::Io(_))));
    }

    #[test]
    fn read_only_mem_disk_refuses_writes() {
        let mut d = MemDisk::new(vec![0; 512], true);
        d.submit(
            1,
            BlockOp::Write {
                offset: 0,
                data: vec![1; 512],
            },
        );
        assert_eq!(d.poll()[0].result, Err(BlockError::Unsupported));
        assert_eq!(d.data(), &[0; 512][..]);
    }
}

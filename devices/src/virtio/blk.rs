//! virtio-blk (virtio 1.1, 5.2) over a [`BlockBackend`].
//!
//! A request is a chain: a 16-byte header {type u32, reserved u32, sector u64} in
//! device-readable buffers, then data (readable for OUT, writable for IN), then one
//! writable status byte. IN, OUT, FLUSH and DISCARD go to the backend and complete
//! when its `poll` returns them; GET_ID answers at once. Checks that fail before
//! the backend is involved (range, alignment, read-only) answer IOERR, unknown
//! types UNSUPP.

use std::collections::BTreeMap;

use super::queue::{DescChain, QueueError, Segment, Virtqueue};
use super::{GuestMemory, VirtioDevice, VIRTIO_ID_BLOCK};
use crate::block::{BlockBackend, BlockOp, RequestId, SECTOR_SIZE};

/// Request types.
pub mod req {
    /// Read sectors.
    pub const IN: u32 = 0;
    /// Write sectors.
    pub const OUT: u32 = 1;
    /// Make completed writes durable.
    pub const FLUSH: u32 = 4;
    /// Read the 20-byte device ID string.
    pub const GET_ID: u32 = 8;
    /// Discard sector ranges.
    pub const DISCARD: u32 = 11;
}

/// Status byte values.
pub mod status {
    /// Success.
    pub const OK: u8 = 0;
    /// The request failed.
    pub const IOERR: u8 = 1;
    /// The request type is not supported.
    pub const UNSUPP: u8 = 2;
}

/// Feature bits of virtio-blk.
pub mod feature {
    /// seg_max is valid.
    pub const SEG_MAX: u64 = 1 << 2;
    /// The disk is read-only.
    pub const RO: u64 = 1 << 5;
    /// blk_size is valid.
    pub const BLK_SIZE: u64 = 1 << 6;
    /// FLUSH requests are supported.
    pub const FLUSH: u64 = 1 << 9;
    /// DISCARD requests are supported.
    pub const DISCARD: u64 = 1 << 13;
}

/// Entries in the request queue.
pub const QUEUE_SIZE: u16 = 256;
/// Largest data transfer of one request; larger ones fail with IOERR (Linux sends
/// at most a few MiB, and this bounds what a driver can make us allocate).
pub const MAX_TRANSFER: u64 = 32 << 20;
/// Largest number of ranges in one DISCARD request.
pub const MAX_DISCARD_SEG: u32 = 16;
/// Largest sector count of one DISCARD range.
pub const MAX_DISCARD_SECTORS: u32 = 1 << 22;
/// Length of the configuration area (struct virtio_blk_config up to write_zeroes).
pub const CONFIG_LEN: usize = 60;

#[derive(Debug)]
struct Pending {
    head: u16,
    /// Writable data buffers (IN and GET_ID), without the status byte.
    data: Vec<Segment>,
    /// Length of the data an IN expects.
    read_len: usize,
    status: Segment,
    /// Backend operations still outstanding.
    ops: u32,
    failed: bool,
}

/// A virtio-blk device: one request queue.
pub struct VirtioBlk {
    backend: Box<dyn BlockBackend>,
    features: u64,
    next_id: RequestId,
    /// Backend request id -> id of the request it belongs to (its first op's id).
    owners: BTreeMap<RequestId, RequestId>,
    pending: BTreeMap<RequestId, Pending>,
    /// Finished requests go to the used ring in the order the driver made them
    /// (see [`VirtioBlk::in_order`]).
    in_order: bool,
}

impl core::fmt::Debug for VirtioBlk {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VirtioBlk")
            .field("capacity", &self.backend.capacity())
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl VirtioBlk {
    /// A disk over `backend`.
    pub fn new(backend: Box<dyn BlockBackend>) -> Self {
        Self {
            backend,
            features: 0,
            next_id: 1,
            owners: BTreeMap::new(),
            pending: BTreeMap::new(),
            in_order: false,
        }
    }

    /// With `on`, a finished request waits for every earlier one before it goes
    /// to the used ring, so the ring's order is the order the driver made the
    /// requests in, whatever order the backend finished them in (a chunk fetched
    /// over HTTP can overtake an earlier one). A deterministic machine needs it:
    /// the guest's driver walks the used ring in order, and a host-dependent
    /// order would change what it executes. Real-time machines leave it off, so
    /// a slow request does not hold back the ones after it.
    pub fn in_order(mut self, on: bool) -> Self {
        self.in_order = on;
        self
    }

    /// The backend (for inspection).
    pub fn backend(&self) -> &dyn BlockBackend {
        self.backend.as_ref()
    }

    fn discard_offered(&self) -> bool {
        self.backend.supports_discard() && !self.backend.read_only()
    }

    fn config(&self) -> [u8; CONFIG_LEN] {
        let mut c = [0u8; CONFIG_LEN];
        let sectors = self.backend.capacity() / SECTOR_SIZE;
        c[0..8].copy_from_slice(&sectors.to_le_bytes());
        // size_max (8) unused: no VIRTIO_BLK_F_SIZE_MAX.
        c[12..16].copy_from_slice(&u32::from(QUEUE_SIZE - 2).to_le_bytes());
        c[20..24].copy_from_slice(&(SECTOR_SIZE as u32).to_le_bytes());
        c[34..36].copy_from_slice(&1u16.to_le_bytes()); // num_queues
        c[36..40].copy_from_slice(&MAX_DISCARD_SECTORS.to_le_bytes());
        c[40..44].copy_from_slice(&MAX_DISCARD_SEG.to_le_bytes());
        c[44..48].copy_from_slice(&1u32.to_le_bytes()); // discard_sector_alignment
        c
    }

    fn submit(&mut self, owner: RequestId, op: BlockOp) {
        let id = self.next_id;
        self.next_id += 1;
        self.owners.insert(id, owner);
        if let Some(p) = self.pending.get_mut(&owner) {
            p.ops += 1;
        }
        self.backend.submit(id, op);
    }

    /// Start the request in `chain`; answers at once unless a backend op is pending.
    fn start(
        &mut self,
        q: &mut Virtqueue,
        chain: DescChain,
        mem: &mut dyn GuestMemory,
    ) -> Result<(), QueueError> {
        let mut header = [0u8; 16];
        let (Some(status), true) = (chain.writable.last(), chain.readable_len() >= 16) else {
            // No header or no status byte: nothing can be reported. Return the chain.
            return q.push_used(mem, chain.head, 0);
        };
        if status.len == 0 || gather(mem, &chain.readable, 0, &mut header).is_err() {
            return q.push_used(mem, chain.head, 0);
        }
        let ty = u32::from_le_bytes(header[0..4].try_into().unwrap_or_default());
        let sector = u64::from_le_bytes(header[8..16].try_into().unwrap_or_default());
        let mut data = chain.writable.clone();
        let status_seg = Segment {
            addr: status.addr.wrapping_add(u64::from(status.len) - 1),
            len: 1,
        };
        if let Some(last) = data.last_mut() {
            last.len -= 1;
        }
        let owner = self.next_id;
        let mut p = Pending {
            head: chain.head,
            data,
            read_len: 0,
            status: status_seg,
            ops: 0,
            failed: false,
        };
        let readable_data = chain.readable_len() - 16;
        let writable_data = chain.writable_len() - 1;
        let capacity = self.backend.capacity();
        let in_range = |len: u64| {
            len.is_multiple_of(SECTOR_SIZE)
                && len <= MAX_TRANSFER
                && sector
                    .checked_mul(SECTOR_SIZE)
                    .and_then(|o| o.checked_add(len))
                    .is_some_and(|end| end <= capacity)
        };
        let offset = sector.wrapping_mul(SECTOR_SIZE);
        let op = match ty {
            req::IN if in_range(writable_data) => {
                p.read_len = writable_data as usize;
                vec![BlockOp::Read {
                    offset,
                    len: writable_data as usize,
                }]
            }
            req::OUT if in_range(readable_data) && !self.backend.read_only() => {
                let mut buf = vec![0u8; readable_data as usize];
                if gather(mem, &chain.readable, 16, &mut buf).is_err() {
                    return finish(q, mem, &p, status::IOERR, 0);
                }
                vec![BlockOp::Write { offset, data: buf }]
            }
            req::IN | req::OUT => return finish(q, mem, &p, status::IOERR, 0),
            req::FLUSH => vec![BlockOp::Flush],
            req::GET_ID => {
                let mut id = [0u8; 20];
                let s = self.backend.id();
                let n = s.len().min(20);
                id[..n].copy_from_slice(&s.as_bytes()[..n]);
                let n = (writable_data as usize).min(20);
                let st = match scatter(mem, &p.data, &id[..n]) {
                    Ok(()) => status::OK,
                    Err(()) => status::IOERR,
                };
                return finish(q, mem, &p, st, n as u32);
            }
            req::DISCARD if self.features & feature::DISCARD != 0 && self.discard_offered() => {
                match self.discard_ops(mem, &chain.readable, readable_data) {
                    Ok(ops) => ops,
                    Err(st) => return finish(q, mem, &p, st, 0),
                }
            }
            _ => return finish(q, mem, &p, status::UNSUPP, 0),
        };
        p.ops = 0;
        self.pending.insert(owner, p);
        for o in op {
            self.submit(owner, o);
        }
        Ok(())
    }

    /// The backend operations of a DISCARD whose segments are `len` bytes after the header.
    fn discard_ops(
        &self,
        mem: &dyn GuestMemory,
        readable: &[Segment],
        len: u64,
    ) -> Result<Vec<BlockOp>, u8> {
        if len == 0 || !len.is_multiple_of(16) || len / 16 > u64::from(MAX_DISCARD_SEG) {
            return Err(status::IOERR);
        }
        let mut raw = vec![0u8; len as usize];
        gather(mem, readable, 16, &mut raw).map_err(|()| status::IOERR)?;
        let capacity = self.backend.capacity();
        raw.chunks_exact(16)
            .map(|s| {
                let sector = u64::from_le_bytes(s[0..8].try_into().unwrap_or_default());
                let count = u32::from_le_bytes(s[8..12].try_into().unwrap_or_default());
                let flags = u32::from_le_bytes(s[12..16].try_into().unwrap_or_default());
                if flags != 0 {
                    return Err(status::UNSUPP);
                }
                let offset = sector.checked_mul(SECTOR_SIZE).ok_or(status::IOERR)?;
                let bytes = u64::from(count) * SECTOR_SIZE;
                if count > MAX_DISCARD_SECTORS
                    || offset.checked_add(bytes).is_none_or(|e| e > capacity)
                {
                    return Err(status::IOERR);
                }
                Ok(BlockOp::Discard { offset, len: bytes })
            })
            .collect()
    }

    /// Deliver what the backend finished.
    fn complete(&mut self, q: &mut Virtqueue, mem: &mut dyn GuestMemory) -> Result<(), QueueError> {
        for c in self.backend.poll() {
            // Completions of requests from before a reset have no owner: dropped.
            let Some(owner) = self.owners.remove(&c.id) else {
                continue;
            };
            let Some(p) = self.pending.get_mut(&owner) else {
                continue;
            };
            p.ops = p.ops.saturating_sub(1);
            match c.result {
                Ok(data) if p.read_len > 0 => {
                    if data.len() != p.read_len || scatter(mem, &p.data, &data).is_err() {
                        p.failed = true;
                    }
                }
                Ok(_) => {}
                Err(_) => p.failed = true,
            }
            if p.ops == 0 && !self.in_order {
                if let Some(p) = self.pending.remove(&owner) {
                    let (st, n) = if p.failed {
                        (status::IOERR, 0)
                    } else {
                        (status::OK, p.read_len as u32)
                    };
                    finish(q, mem, &p, st, n)?;
                }
            }
        }
        if self.in_order {
            // The oldest requests that are done, up to the first that is not.
            while let Some(e) = self.pending.first_entry() {
                if e.get().ops != 0 {
                    break;
                }
                let p = e.remove();
                let (st, n) = if p.failed {
                    (status::IOERR, 0)
                } else {
                    (status::OK, p.read_len as u32)
                };
                finish(q, mem, &p, st, n)?;
            }
        }
        Ok(())
    }
}

/// Write the status byte and return the chain with `data_len` + 1 bytes written.
fn finish(
    q: &mut Virtqueue,
    mem: &mut dyn GuestMemory,
    p: &Pending,
    st: u8,
    data_len: u32,
) -> Result<(), QueueError> {
    let written = match mem.write(p.status.addr, &[st]) {
        Ok(()) => data_len + 1,
        Err(_) => 0,
    };
    q.push_used(mem, p.head, written)
}

/// Copy bytes from the buffers `segs`, starting `skip` bytes in, into `out`.
fn gather(
    mem: &dyn GuestMemory,
    segs: &[Segment],
    mut skip: u64,
    out: &mut [u8],
) -> Result<(), ()> {
    let mut done = 0;
    for s in segs {
        if done == out.len() {
            break;
        }
        let len = u64::from(s.len);
        if skip >= len {
            skip -= len;
            continue;
        }
        let n = ((len - skip) as usize).min(out.len() - done);
        mem.read(s.addr.wrapping_add(skip), &mut out[done..done + n])
            .map_err(|_| ())?;
        done += n;
        skip = 0;
    }
    if done == out.len() {
        Ok(())
    } else {
        Err(())
    }
}

/// Copy `data` into the buffers `segs` in order.
fn scatter(mem: &mut dyn GuestMemory, segs: &[Segment], data: &[u8]) -> Result<(), ()> {
    let mut done = 0;
    for s in segs {
        if done == data.len() {
            break;
        }
        let n = (s.len as usize).min(data.len() - done);
        mem.write(s.addr, &data[done..done + n]).map_err(|_| ())?;
        done += n;
    }
    if done == data.len() {
        Ok(())
    } else {
        Err(())
    }
}

impl VirtioDevice for VirtioBlk {
    fn device_type(&self) -> u16 {
        VIRTIO_ID_BLOCK
    }

    fn features(&self) -> u64 {
        let mut f = feature::SEG_MAX | feature::BLK_SIZE | feature::FLUSH;
        if self.backend.read_only() {
            f |= feature::RO;
        }
        if self.discard_offered() {
            f |= feature::DISCARD;
        }
        f
    }

    fn queue_max_sizes(&self) -> Vec<u16> {
        vec![QUEUE_SIZE]
    }

    fn config_len(&self) -> usize {
        CONFIG_LEN
    }

    fn read_config(&self, offset: usize, data: &mut [u8]) {
        let c = self.config();
        for (i, b) in data.iter_mut().enumerate() {
            *b = c.get(offset + i).copied().unwrap_or(0);
        }
    }

    fn activate(&mut self, features: u64) {
        self.features = features;
    }

    fn reset(&mut self) {
        self.features = 0;
        self.owners.clear();
        self.pending.clear();
    }

    fn process(
        &mut self,
        queues: &mut [Virtqueue],
        notified: u64,
        mem: &mut dyn GuestMemory,
    ) -> Result<(), QueueError> {
        let Some(q) = queues.first_mut() else {
            return Ok(());
        };
        if notified & 1 != 0 {
            while let Some(chain) = q.pop(mem)? {
                self.start(q, chain, mem)?;
            }
        }
        self.complete(q, mem)
    }

    fn generation(&self) -> Option<u64> {
        self.backend.generation()
    }

    fn set_waker(&mut self, waker: crate::Waker) -> bool {
        self.backend.set_waker(waker)
    }

    fn in_flight(&self) -> usize {
        self.pending.len()
    }

    fn wait(&mut self, timeout_ns: u64) {
        self.backend.wait(timeout_ns);
    }
}

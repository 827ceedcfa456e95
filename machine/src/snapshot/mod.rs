//! Machine snapshots: save the whole PC to bytes and continue it later, in this
//! process or another, natively or under WebAssembly.
//!
//! # What is saved
//! The CPU ([`tab86_cpu::snapshot::CpuSnapshot`]: registers, descriptor caches,
//! control/debug registers, MSRs, x87/SSE, interrupt shadow), guest RAM and the A20
//! gate (the MMU's state; the TLB is a cache and is not saved), every chipset
//! device ([`ChipsetState`]: PIC, PIT, port B, UARTs with their FIFOs, RTC/CMOS,
//! i8042, port 0x92, POST register, PCI configuration space, ACPI PM, the unsampled
//! interrupt edges), the virtual clock, and for a BIOS machine its ROM. Caches (TLB,
//! decoded blocks, JIT modules) start cold after a restore. Host resources (serial
//! sinks, disk backends, the host clock) are never saved: the restoring host
//! supplies them, as it does to build a machine.
//!
//! A snapshot is taken between [`crate::Machine::run`] calls, where no instruction
//! is half done, and only at a quiescent point: a machine with disk requests in
//! flight refuses to save ([`SnapshotError::Busy`]); run it until they complete.
//!
//! # Format (version [`FORMAT_VERSION`])
//! All integers little-endian (encoding rules in [`codec`]):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `TAB86SNP` |
//! | 8 | 4 | format version (`u32`) |
//! | 12 | 8 | body length `n` (`u64`) |
//! | 20 | n | body: [`Header`], RAM, [`MachineState`], each virtio function's state |
//! | 20 + n | 4 | CRC-32 (IEEE) of bytes 0 .. 20 + n |
//!
//! The header records the tab86 version that wrote the file and the machine
//! options that must match to restore it (RAM size, clock mode, the board's
//! interrupt controllers (APIC or PIC-only), debug console ports, each disk's identity: its backend's id, capacity, read-only flag and
//! flush generation) or that the restored machine is rebuilt from (the BIOS ROM,
//! or for a kernel boot the command line its fw_cfg device serves). RAM is stored
//! as a bitmap of the 4 KiB pages that are not all zero followed by those pages,
//! DEFLATE-compressed (miniz_oxide, level 1). The machine state follows.
//!
//! Restoring checks the magic, the version, the length and the checksum, decodes
//! the whole file, and compares the header with the machine being built before it
//! changes anything: a truncated, corrupted or mismatched snapshot is refused with
//! a message saying which, and never half-restored. A format change bumps
//! [`FORMAT_VERSION`]; older files are refused, not misread.

pub mod codec;
mod machine;
mod states;
#[cfg(test)]
mod tests;

use crate::board::BoardState;
use codec::{record, Codec, DecodeError, Reader, Writer};
use tab86_cpu::snapshot::CpuSnapshot;
use tab86_devices::chipset::ChipsetState;
use tab86_devices::virtio::VirtioPciState;

/// The first eight bytes of every snapshot.
pub const MAGIC: [u8; 8] = *b"TAB86SNP";
/// The format this build writes and reads.
pub const FORMAT_VERSION: u32 = 2;
/// Bytes before the body: magic, version, body length.
const PREFIX: usize = 20;
const PAGE: usize = 4096;

/// Why a snapshot could not be taken or restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    /// The bytes do not start with [`MAGIC`].
    NotASnapshot,
    /// Written in another format version.
    Version {
        /// The file's version.
        found: u32,
    },
    /// The file ends before its stated length.
    Truncated {
        /// Bytes the file should have.
        expected: u64,
        /// Bytes it has.
        found: u64,
    },
    /// The checksum does not match, or the body does not decode.
    Corrupted(String),
    /// The snapshot is of another machine (the message names the option).
    Mismatch(String),
    /// The machine cannot be saved now (stopped, or disk requests in flight).
    Busy(String),
}

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnapshotError::NotASnapshot => write!(f, "not a tab86 snapshot (bad magic)"),
            SnapshotError::Version { found } => write!(
                f,
                "snapshot format version {found}, but this tab86 reads version {FORMAT_VERSION}"
            ),
            SnapshotError::Truncated { expected, found } => write!(
                f,
                "snapshot truncated: {found} bytes, the header says {expected}"
            ),
            SnapshotError::Corrupted(m) => write!(f, "snapshot corrupted: {m}"),
            SnapshotError::Mismatch(m) => write!(f, "snapshot does not match this machine: {m}"),
            SnapshotError::Busy(m) => write!(f, "cannot take a snapshot now: {m}"),
        }
    }
}
impl std::error::Error for SnapshotError {}

impl From<DecodeError> for SnapshotError {
    fn from(e: DecodeError) -> Self {
        SnapshotError::Corrupted(e.0)
    }
}

/// What one attached disk was when the snapshot was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskIdentity {
    /// The backend's identifier (its serial as the guest sees it).
    pub id: String,
    /// Size in bytes.
    pub capacity: u64,
    /// Whether writes are refused.
    pub read_only: bool,
    /// The backend's flush generation when the snapshot was taken (a
    /// copy-on-write overlay's), if it counts them: the disk must still be at
    /// that generation to restore, or the guest's view of it would be stale.
    pub generation: Option<u64>,
}
record!(DiskIdentity {
    id,
    capacity,
    read_only,
    generation
});

/// The options a snapshot can only be restored with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The tab86 version that wrote the snapshot (informational).
    pub tab86_version: String,
    /// Guest RAM in bytes.
    pub mem_size: u32,
    /// Deterministic (instruction-count) clock rather than real time.
    pub deterministic: bool,
    /// The BIOS ROM for a BIOS machine; empty for a kernel boot (its firmware is
    /// in RAM).
    pub bios_rom: Vec<u8>,
    /// A kernel boot's command line, from which the restored machine rebuilds its
    /// fw_cfg device (its contents: RAM size, command line, memory map); `None`
    /// when the machine has no fw_cfg.
    pub fw_cfg_cmdline: Option<String>,
    /// The debug console ports.
    pub debugcon_ports: Vec<u16>,
    /// The APIC board (local APIC and IO-APIC) rather than the PIC-only one.
    pub apic: bool,
    /// The virtio-blk disks, in attachment order.
    pub disks: Vec<DiskIdentity>,
}
record!(Header {
    tab86_version,
    mem_size,
    deterministic,
    bios_rom,
    fw_cfg_cmdline,
    debugcon_ports,
    apic,
    disks
});

/// The machine's own state besides the CPU and the chipset.
#[derive(Debug, Clone)]
pub struct MachineState {
    /// The CPU.
    pub cpu: CpuSnapshot,
    /// The A20 address line is enabled.
    pub a20: bool,
    /// The chipset's devices.
    pub chipset: ChipsetState,
    /// The board's interrupt controllers besides the chipset's 8259A pair.
    pub board: BoardState,
    /// Virtual time at the save point, in nanoseconds.
    pub virtual_ns: u64,
}
record!(MachineState {
    cpu,
    a20,
    chipset,
    board,
    virtual_ns
});

/// A decoded snapshot: checked, complete, not yet applied.
pub struct Snapshot {
    /// The options it needs.
    pub header: Header,
    /// Guest RAM: the numbers of the 4 KiB pages that are not all zero...
    pub ram_pages: Vec<usize>,
    /// ...and their contents, in that order.
    pub ram_data: Vec<u8>,
    /// Everything else.
    pub state: MachineState,
    /// Each virtio function's transport and queue state, in attachment order.
    pub virtio: Vec<VirtioPciState>,
}

fn encode_ram(ram: &[u8], w: &mut Writer) {
    let pages = ram.len() / PAGE;
    let mut bitmap = vec![0u8; pages.div_ceil(8)];
    let mut data = Vec::new();
    for (i, p) in ram.chunks(PAGE).enumerate() {
        if p.iter().any(|&b| b != 0) {
            bitmap[i / 8] |= 1 << (i % 8);
            data.extend_from_slice(p);
        }
    }
    (pages as u32).put(w);
    w.put_bytes(&bitmap);
    w.put_bytes(&miniz_oxide::deflate::compress_to_vec(&data, 1));
}

/// The non-zero pages' numbers and contents (RAM is not expanded here: a fresh
/// machine's RAM is already zero, so only these pages are copied into it).
fn decode_ram(r: &mut Reader, mem_size: u32) -> Result<(Vec<usize>, Vec<u8>), SnapshotError> {
    let pages = u32::get(r)? as usize;
    if pages as u64 * PAGE as u64 != u64::from(mem_size) {
        return Err(SnapshotError::Corrupted(format!(
            "{pages} RAM pages for {mem_size} bytes of RAM"
        )));
    }
    let bitmap = r.get_bytes()?;
    if bitmap.len() != pages.div_ceil(8) {
        return Err(SnapshotError::Corrupted(
            "RAM page map has the wrong size".into(),
        ));
    }
    let present: Vec<usize> = (0..pages)
        .filter(|i| bitmap[i / 8] & (1 << (i % 8)) != 0)
        .collect();
    let packed = r.get_bytes()?;
    let want = present.len() * PAGE;
    let data = miniz_oxide::inflate::decompress_to_vec_with_limit(packed, want)
        .map_err(|e| SnapshotError::Corrupted(format!("RAM does not decompress ({e:?})")))?;
    if data.len() != want {
        return Err(SnapshotError::Corrupted("RAM pages missing".into()));
    }
    Ok((present, data))
}

/// Encode a snapshot file.
pub fn encode(
    header: &Header,
    ram: &[u8],
    state: &MachineState,
    virtio: &[VirtioPciState],
) -> Vec<u8> {
    let mut w = Writer::default();
    header.put(&mut w);
    encode_ram(ram, &mut w);
    state.put(&mut w);
    virtio.to_vec().put(&mut w);
    let body = w.0;
    let mut out = Vec::with_capacity(PREFIX + body.len() + 4);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&body);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Check the framing (magic, version, length, checksum) and return the body.
fn body(bytes: &[u8]) -> Result<&[u8], SnapshotError> {
    if bytes.len() < 8 || bytes[..8] != MAGIC {
        return Err(SnapshotError::NotASnapshot);
    }
    let trunc = |expected: u64| SnapshotError::Truncated {
        expected,
        found: bytes.len() as u64,
    };
    if bytes.len() < PREFIX {
        return Err(trunc(PREFIX as u64 + 4));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(SnapshotError::Version { found: version });
    }
    let n = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let total = n.saturating_add(PREFIX as u64 + 4);
    if (bytes.len() as u64) < total {
        return Err(trunc(total));
    }
    if (bytes.len() as u64) > total {
        return Err(SnapshotError::Corrupted(format!(
            "{} bytes after the end of the snapshot",
            bytes.len() as u64 - total
        )));
    }
    let end = PREFIX + n as usize;
    let crc = u32::from_le_bytes(bytes[end..end + 4].try_into().expect("4 bytes"));
    if crc32fast::hash(&bytes[..end]) != crc {
        return Err(SnapshotError::Corrupted("checksum mismatch".into()));
    }
    Ok(&bytes[PREFIX..end])
}

/// Only the header (to learn the RAM size or firmware before building a machine).
pub fn peek_header(bytes: &[u8]) -> Result<Header, SnapshotError> {
    Ok(Header::get(&mut Reader::new(body(bytes)?))?)
}

/// Decode and check a whole snapshot file.
pub fn decode(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
    decode_for(bytes, None)
}

/// Decode a snapshot for a machine with the options `expect` (its `bios_rom` is
/// not compared: the snapshot brings its own): the header is checked before RAM
/// is decoded, so a file for another machine costs no allocation of its RAM.
pub fn decode_for(bytes: &[u8], expect: Option<&Header>) -> Result<Snapshot, SnapshotError> {
    let mut r = Reader::new(body(bytes)?);
    let header = Header::get(&mut r)?;
    if let Some(e) = expect {
        header.check(e)?;
    }
    if !(1 << 20..=3 << 30).contains(&header.mem_size) {
        return Err(SnapshotError::Corrupted(format!(
            "{} bytes of RAM is outside 1 MiB..3 GiB",
            header.mem_size
        )));
    }
    let (ram_pages, ram_data) = decode_ram(&mut r, header.mem_size)?;
    let state = MachineState::get(&mut r)?;
    let virtio = Vec::<VirtioPciState>::get(&mut r)?;
    if !r.at_end() {
        return Err(SnapshotError::Corrupted(
            "bytes left after the machine state".into(),
        ));
    }
    Ok(Snapshot {
        header,
        ram_pages,
        ram_data,
        state,
        virtio,
    })
}

impl Header {
    /// Compare with the options of the machine being built; the message names the
    /// first difference.
    pub fn check(&self, other: &Header) -> Result<(), SnapshotError> {
        let mismatch = |what: &str, saved: String, now: String| {
            Err(SnapshotError::Mismatch(format!(
                "{what}: the snapshot has {saved}, this machine {now}"
            )))
        };
        if self.mem_size != other.mem_size {
            return mismatch(
                "RAM size",
                format!("{} bytes", self.mem_size),
                format!("{} bytes", other.mem_size),
            );
        }
        if self.deterministic != other.deterministic {
            let name = |d: bool| {
                if d {
                    "a deterministic clock"
                } else {
                    "a real-time clock"
                }
            };
            return mismatch(
                "clock",
                name(self.deterministic).into(),
                name(other.deterministic).into(),
            );
        }
        if self.apic != other.apic {
            let name = |a: bool| {
                if a {
                    "the APIC board"
                } else {
                    "the PIC-only board (--no-apic)"
                }
            };
            return mismatch(
                "interrupt controllers",
                name(self.apic).into(),
                name(other.apic).into(),
            );
        }
        if self.debugcon_ports != other.debugcon_ports {
            return mismatch(
                "debug console ports",
                format!("{:x?}", self.debugcon_ports),
                format!("{:x?}", other.debugcon_ports),
            );
        }
        if self.disks.len() != other.disks.len() {
            return mismatch(
                "disks",
                format!("{} disk(s)", self.disks.len()),
                format!("{}", other.disks.len()),
            );
        }
        for (i, (a, b)) in self.disks.iter().zip(&other.disks).enumerate() {
            let shape = |d: &DiskIdentity| (d.id.clone(), d.capacity, d.read_only);
            if shape(a) != shape(b) {
                return mismatch(
                    &format!("disk {i}"),
                    format!(
                        "{:?} ({} bytes, read-only {})",
                        a.id, a.capacity, a.read_only
                    ),
                    format!(
                        "{:?} ({} bytes, read-only {})",
                        b.id, b.capacity, b.read_only
                    ),
                );
            }
            if a.generation != b.generation {
                return Err(SnapshotError::Mismatch(format!(
                    "disk {i} has been written since the snapshot was taken (its overlay is at \
                     generation {}, the snapshot at {}): restore it with the overlay saved with it",
                    b.generation.map_or("-".into(), |g| g.to_string()),
                    a.generation.map_or("-".into(), |g| g.to_string())
                )));
            }
        }
        Ok(())
    }
}

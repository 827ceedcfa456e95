//! `tab86 pack`: cuts a raw image into the chunked layout (see [`crate::chunked`]).

use crate::chunked::{hex, Manifest};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

/// Default chunk size: 256 KiB. Over a 40 ms round trip each fetch costs about
/// as much as moving 256 KiB on a 50 Mbit/s link, so smaller chunks are
/// latency-bound and larger ones waste bandwidth and cache on the small random
/// reads of a boot; 256 KiB is also two of Linux's default 128 KiB read-aheads.
pub const DEFAULT_CHUNK_SIZE: u64 = 256 << 10;

/// What a pack did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackReport {
    /// Disk size recorded in the manifest (the image rounded up to 512 bytes).
    pub size: u64,
    /// Chunks in the manifest.
    pub chunks: u64,
    /// Distinct chunk files (identical chunks are stored once).
    pub unique: u64,
    /// Bytes in distinct chunk files.
    pub stored_bytes: u64,
}

fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Writes `outdir/manifest.json` and `outdir/chunks/<sha256>` for `image`. The
/// disk size is the image size rounded up to a sector (the tail is zeros).
/// Existing chunk files are kept (they are content-addressed), so re-packing
/// a changed image into the same folder only adds the new chunks.
pub fn pack(image: &Path, outdir: &Path, chunk_size: u64) -> Result<PackReport, String> {
    if !(512..=64 << 20).contains(&chunk_size) || !chunk_size.is_multiple_of(512) {
        return Err(format!(
            "chunk size {chunk_size} must be a multiple of 512 between 512 and 64 MiB"
        ));
    }
    let mut f = File::open(image).map_err(|e| format!("cannot open {}: {e}", image.display()))?;
    let len = f
        .metadata()
        .map_err(|e| format!("{}: {e}", image.display()))?
        .len();
    if len == 0 {
        return Err(format!("{}: the image is empty", image.display()));
    }
    let size = len.div_ceil(512) * 512;
    let chunks_dir = outdir.join("chunks");
    std::fs::create_dir_all(&chunks_dir)
        .map_err(|e| format!("cannot create {}: {e}", chunks_dir.display()))?;
    let mut hashes = Vec::new();
    let mut seen = HashSet::new();
    let mut stored_bytes = 0;
    let mut buf = vec![0u8; chunk_size as usize];
    let mut pos = 0u64;
    while pos < size {
        let n = chunk_size.min(size - pos) as usize;
        let chunk = &mut buf[..n];
        let mut got = 0;
        while got < n {
            match f.read(&mut chunk[got..]) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("reading {}: {e}", image.display())),
            }
        }
        chunk[got..].fill(0); // the sector-rounding tail
        let h: [u8; 32] = Sha256::digest(&*chunk).into();
        if seen.insert(h) {
            stored_bytes += n as u64;
            let path = chunks_dir.join(hex(&h));
            // Keep an existing file only if it really holds this chunk.
            let keep = std::fs::read(&path).is_ok_and(|d| Sha256::digest(&d)[..] == h[..]);
            if !keep {
                write_atomic(&path, chunk)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
        }
        hashes.push(h);
        pos += n as u64;
    }
    let manifest = Manifest::to_json(size, chunk_size, &hashes);
    write_atomic(&outdir.join("manifest.json"), manifest.as_bytes())
        .map_err(|e| format!("cannot write {}/manifest.json: {e}", outdir.display()))?;
    Ok(PackReport {
        size,
        chunks: hashes.len() as u64,
        unique: seen.len() as u64,
        stored_bytes,
    })
}

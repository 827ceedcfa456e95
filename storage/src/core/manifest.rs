//! The chunked image manifest (`tab86-chunked-v1`): parsing, checking and
//! writing it, and verifying a chunk against it. Pure data, no I/O: the native
//! stores, `pack`, `serve` and the host-driven (wasm) disk all use this copy.

use sha2::{Digest, Sha256};

/// The `format` value of a manifest.
pub const FORMAT: &str = "tab86-chunked-v1";

/// Largest manifest accepted (a 16 GiB image in 64 KiB chunks is ~17 MiB).
pub const MAX_MANIFEST: usize = 64 << 20;

/// A parsed manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Image size in bytes.
    pub size: u64,
    /// Chunk size in bytes (the last chunk may be shorter).
    pub chunk_size: u64,
    /// SHA-256 of each chunk.
    pub chunks: Vec<[u8; 32]>,
    /// SHA-256 of the manifest file as read (the image's identity for overlays).
    pub identity: [u8; 32],
}

/// Lower-case hex of a hash.
pub fn hex(h: &[u8; 32]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

impl Manifest {
    /// Parses and checks a manifest (format, sizes, chunk count, hash syntax).
    pub fn parse(bytes: &[u8]) -> Result<Manifest, String> {
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("manifest is not JSON: {e}"))?;
        let format = v.get("format").and_then(|f| f.as_str());
        if format != Some(FORMAT) {
            return Err(format!(
                "manifest format is {format:?}, expected \"{FORMAT}\""
            ));
        }
        let num = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_u64())
                .ok_or_else(|| format!("manifest has no integer '{k}'"))
        };
        let size = num("size")?;
        let chunk_size = num("chunk_size")?;
        if chunk_size == 0 || chunk_size > 64 << 20 {
            return Err(format!(
                "manifest chunk_size {chunk_size} out of range (1..=64 MiB)"
            ));
        }
        let list = v
            .get("chunks")
            .and_then(|c| c.as_array())
            .ok_or("manifest has no 'chunks' list")?;
        let expected = size.div_ceil(chunk_size);
        if list.len() as u64 != expected {
            return Err(format!(
                "manifest lists {} chunks but size {size} / chunk_size {chunk_size} needs {expected}",
                list.len()
            ));
        }
        let chunks = list
            .iter()
            .enumerate()
            .map(|(i, c)| {
                c.as_str()
                    .and_then(unhex)
                    .ok_or_else(|| format!("manifest chunk {i} is not a SHA-256 hex string"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Manifest {
            size,
            chunk_size,
            chunks,
            identity: Sha256::digest(bytes).into(),
        })
    }

    /// Length of chunk `i`.
    pub fn chunk_len(&self, i: u64) -> u64 {
        self.chunk_size.min(self.size - i * self.chunk_size)
    }

    /// Serializes a manifest in the documented layout (one chunk hash per line).
    pub fn to_json(size: u64, chunk_size: u64, chunks: &[[u8; 32]]) -> String {
        let mut s = format!(
            "{{\"format\":\"{FORMAT}\",\"size\":{size},\"chunk_size\":{chunk_size},\"chunks\":["
        );
        for (i, c) in chunks.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str("\n\"");
            s.push_str(&hex(c));
            s.push('"');
        }
        s.push_str("\n]}\n");
        s
    }
}

/// Checks chunk `i`'s bytes against the manifest: its length, then its SHA-256.
/// `from` names where the bytes came from, for the message.
pub fn verify_chunk(m: &Manifest, i: u64, data: &[u8], from: &str) -> Result<(), String> {
    let want = m.chunks[i as usize];
    if data.len() as u64 != m.chunk_len(i) {
        return Err(format!(
            "chunk {i} from {from}: {} bytes, expected {}",
            data.len(),
            m.chunk_len(i)
        ));
    }
    let got: [u8; 32] = Sha256::digest(data).into();
    if got != want {
        return Err(format!(
            "chunk {i} from {from}: SHA-256 mismatch (manifest {}, data {}); the image is corrupt",
            hex(&want),
            hex(&got)
        ));
    }
    Ok(())
}

/// Where chunk `i` lives relative to the manifest's folder or URL.
pub fn chunk_path(m: &Manifest, i: u64) -> String {
    format!("chunks/{}", hex(&m.chunks[i as usize]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trips_and_rejects_bad_ones() {
        let h = [0xabu8; 32];
        let json = Manifest::to_json(300, 128, &[h, h, [1; 32]]);
        let m = Manifest::parse(json.as_bytes()).unwrap();
        assert_eq!((m.size, m.chunk_size, m.chunks.len()), (300, 128, 3));
        assert_eq!(m.chunk_len(2), 44);
        assert_eq!(m.chunks[2], [1; 32]);
        assert!(
            Manifest::parse(Manifest::to_json(300, 128, &[h, h]).as_bytes())
                .unwrap_err()
                .contains("needs 3")
        );
        assert!(Manifest::parse(br#"{"format":"x","size":1,"chunk_size":1,"chunks":[]}"#).is_err());
        assert!(Manifest::parse(
            br#"{"format":"tab86-chunked-v1","size":1,"chunk_size":1,"chunks":["zz"]}"#
        )
        .unwrap_err()
        .contains("not a SHA-256"));
        assert!(Manifest::parse(b"not json").is_err());
    }

    #[test]
    fn verify_checks_length_then_hash() {
        let a = vec![7u8; 128];
        let b = vec![9u8; 44];
        let ha: [u8; 32] = Sha256::digest(&a).into();
        let hb: [u8; 32] = Sha256::digest(&b).into();
        let m = Manifest::parse(Manifest::to_json(300, 128, &[ha, ha, hb]).as_bytes()).unwrap();
        assert!(verify_chunk(&m, 0, &a, "t").is_ok());
        assert!(verify_chunk(&m, 2, &b, "t").is_ok());
        assert!(verify_chunk(&m, 2, &a, "t")
            .unwrap_err()
            .contains("128 bytes, expected 44"));
        let mut bad = a.clone();
        bad[5] ^= 1;
        assert!(verify_chunk(&m, 1, &bad, "t")
            .unwrap_err()
            .contains("SHA-256 mismatch"));
        assert_eq!(chunk_path(&m, 2), format!("chunks/{}", hex(&hb)));
    }
}

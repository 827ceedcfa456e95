//! The chunked image layout (`tab86-chunked-v1`): `manifest.json` lists the
//! SHA-256 of each fixed-size chunk, and chunk files live at `chunks/<sha256 hex>`
//! (content-addressed and immutable, so identical chunks are stored once and
//! servers can cache them forever). Readable from a folder or over HTTP.

use crate::http::{Client, Url};
use crate::remote::{status_fault, with_retries, Fault, FetchOptions, Key, Remote, Source};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The `format` value of a manifest.
pub const FORMAT: &str = "tab86-chunked-v1";

/// Largest manifest accepted (a 16 GiB image in 64 KiB chunks is ~17 MiB).
const MAX_MANIFEST: usize = 64 << 20;

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

/// Where the chunks are.
#[derive(Debug, Clone)]
enum Location {
    Dir(PathBuf),
    Http(Url),
}

struct ChunkSource {
    manifest: Manifest,
    at: Location,
}

impl ChunkSource {
    fn verify(&self, i: u64, data: Vec<u8>, from: &str) -> Result<Vec<u8>, Fault> {
        let want = self.manifest.chunks[i as usize];
        if data.len() as u64 != self.manifest.chunk_len(i) {
            return Err(Fault::transient(format!(
                "chunk {i} from {from}: {} bytes, expected {}",
                data.len(),
                self.manifest.chunk_len(i)
            )));
        }
        let got: [u8; 32] = Sha256::digest(&data).into();
        if got != want {
            // Retried over HTTP (a proxy may have mangled it); a file stays bad.
            let msg = format!(
                "chunk {i} from {from}: SHA-256 mismatch (manifest {}, data {}); the image is corrupt",
                hex(&want),
                hex(&got)
            );
            return Err(match self.at {
                Location::Http(_) => Fault::transient(msg),
                Location::Dir(_) => Fault::permanent(msg),
            });
        }
        Ok(data)
    }
}

impl Source for ChunkSource {
    fn size(&self) -> u64 {
        self.manifest.size
    }

    fn piece_size(&self) -> u64 {
        self.manifest.chunk_size
    }

    fn key(&self, index: u64) -> Key {
        Key::Hash(self.manifest.chunks[index as usize])
    }

    fn fetch(&self, client: &mut Client, i: u64) -> Result<Vec<u8>, Fault> {
        let name = format!("chunks/{}", hex(&self.manifest.chunks[i as usize]));
        let len = self.manifest.chunk_len(i) as usize;
        match &self.at {
            Location::Dir(dir) => {
                let path = dir.join(&name);
                let data = std::fs::read(&path)
                    .map_err(|e| Fault::permanent(format!("{}: {e}", path.display())))?;
                self.verify(i, data, &path.display().to_string())
            }
            Location::Http(base) => {
                let url = base.join(&name);
                let resp = client
                    .request("GET", &url, None, len)
                    .map_err(|e| Fault::request(&url, e))?;
                if resp.status != 200 {
                    return Err(status_fault(resp.status, &url.to_string()));
                }
                self.verify(i, resp.body, &url.to_string())
            }
        }
    }

    fn identity(&self) -> Option<[u8; 32]> {
        Some(self.manifest.identity)
    }

    fn describe(&self) -> String {
        match &self.at {
            Location::Dir(d) => format!("chunked image {}", d.display()),
            Location::Http(u) => format!("chunked image {u}"),
        }
    }
}

/// Opens a chunked image in a folder (`path` is the folder or its manifest.json).
pub fn open_dir(path: &Path, opts: FetchOptions) -> Result<Remote, String> {
    let (dir, manifest_path) = if path.is_dir() {
        (path.to_path_buf(), path.join("manifest.json"))
    } else {
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        (dir, path.to_path_buf())
    };
    let bytes = std::fs::read(&manifest_path)
        .map_err(|e| format!("cannot read {}: {e}", manifest_path.display()))?;
    let manifest =
        Manifest::parse(&bytes).map_err(|e| format!("{}: {e}", manifest_path.display()))?;
    Ok(Remote::new(
        Box::new(ChunkSource {
            manifest,
            at: Location::Dir(dir),
        }),
        opts,
    ))
}

/// Opens a chunked image over HTTP from the URL of its manifest.json (fetched
/// at once, with retries); chunks are fetched from `chunks/` next to it.
pub fn open_http(manifest_url: &str, opts: FetchOptions) -> Result<Remote, String> {
    let url = Url::parse(manifest_url)?;
    let mut client = Client::with_tls(opts.timeouts, opts.tls.clone());
    let bytes = with_retries(&opts, None, || {
        let r = client
            .request("GET", &url, None, MAX_MANIFEST)
            .map_err(|e| Fault::request(&url, e))?;
        if r.status != 200 {
            return Err(status_fault(r.status, &url.to_string()));
        }
        Ok(r.body)
    })?;
    let manifest = Manifest::parse(&bytes).map_err(|e| format!("{url}: {e}"))?;
    Ok(Remote::new(
        Box::new(ChunkSource {
            manifest,
            at: Location::Http(url),
        }),
        opts,
    ))
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
}

//! The chunked image layout (`tab86-chunked-v1`): `manifest.json` lists the
//! SHA-256 of each fixed-size chunk, and chunk files live at `chunks/<sha256 hex>`
//! (content-addressed and immutable, so identical chunks are stored once and
//! servers can cache them forever). Readable from a folder or over HTTP.

use crate::core::manifest::{chunk_path, verify_chunk, MAX_MANIFEST};
pub use crate::core::manifest::{hex, Manifest, FORMAT};
use crate::http::{Client, Url};
use crate::remote::{
    request_fault, status_fault, with_retries, Fault, FetchOptions, Key, Remote, Source,
};
use std::path::{Path, PathBuf};

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
        match verify_chunk(&self.manifest, i, &data, from) {
            Ok(()) => Ok(data),
            // Retried over HTTP (a proxy may have mangled it); a file stays bad.
            Err(msg) => Err(match self.at {
                Location::Http(_) => Fault::transient(msg),
                Location::Dir(_) if msg.contains("SHA-256") => Fault::permanent(msg),
                Location::Dir(_) => Fault::transient(msg),
            }),
        }
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
        let name = chunk_path(&self.manifest, i);
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
                    .map_err(|e| request_fault(&url, e))?;
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
            .map_err(|e| request_fault(&url, e))?;
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

//! `tab86 serve`: a small static HTTP/1.1 file server for disk images on
//! localhost: GET/HEAD, single byte ranges (206/416), ETag with If-None-Match
//! (304), `Cache-Control: immutable` for content-addressed `chunks/`, keep-alive,
//! a thread per connection, no access outside the served folder, and an
//! optional delay per request to imitate a distant server.

use crate::http::{read_headers, read_line};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Server settings.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Delay added before answering each request (a round-trip stand-in).
    pub latency: Duration,
    /// Print one line per request on stderr.
    pub verbose: bool,
}

/// Most connections served at once; more get 503.
const MAX_CONNECTIONS: usize = 256;
/// An idle keep-alive connection is closed after this long.
const IDLE: Duration = Duration::from_secs(30);

/// A running server; dropping it stops accepting and joins the accept thread.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Serves `dir` on `addr` (e.g. "127.0.0.1:0" for any free port).
    pub fn start(dir: &Path, addr: &str, opts: ServeOptions) -> io::Result<Server> {
        let root = dir
            .canonicalize()
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: not a folder", dir.display()),
            ));
        }
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let active = Arc::new(AtomicUsize::new(0));
        let root = Arc::new(root);
        let thread = std::thread::Builder::new()
            .name("tab86-serve".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if stop2.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(mut stream) = conn else { continue };
                    if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
                        active.fetch_sub(1, Ordering::AcqRel);
                        let _ = stream.write_all(
                            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                        continue;
                    }
                    let (root, opts, active) = (root.clone(), opts.clone(), active.clone());
                    let spawned = std::thread::Builder::new()
                        .name("tab86-serve-conn".into())
                        .spawn(move || {
                            let _ = connection(stream, &root, &opts);
                            active.fetch_sub(1, Ordering::AcqRel);
                        });
                    if spawned.is_err() {
                        log::warn!("serve: cannot start a connection thread");
                    }
                }
            })?;
        Ok(Server {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until the process ends.
    pub fn run_forever(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Reply {
    status: u16,
    reason: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Body,
}

enum Body {
    Empty,
    Text(String),
    File(File, u64, u64),
}

fn simple(status: u16, reason: &'static str) -> Reply {
    Reply {
        status,
        reason,
        headers: vec![("Content-Type", "text/plain".into())],
        body: Body::Text(format!("{status} {reason}\n")),
    }
}

/// Maps a request target to a file under `root`, refusing anything that
/// could leave it (`..`, absolute parts, encoded slashes, symlinks out).
fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?;
    if !path.starts_with('/') {
        return None;
    }
    let mut out = root.to_path_buf();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        let seg = percent_decode(seg)?;
        if seg.contains(['/', '\\', '\0']) {
            return None;
        }
        let mut comps = Path::new(&seg).components();
        match (comps.next(), comps.next()) {
            (Some(Component::Normal(c)), None) => out.push(c),
            _ => return None,
        }
    }
    let real = out.canonicalize().ok()?;
    real.starts_with(root).then_some(real)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Parses a single `bytes=` range against a length: Ok(None) means "ignore the
/// header" (absent, malformed or multiple ranges), Err(()) means unsatisfiable.
fn parse_range(v: Option<&str>, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = v.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 || len == 0 {
            return Err(());
        }
        return Ok(Some((len - n.min(len), len - 1)));
    }
    let Ok(a) = a.parse::<u64>() else {
        return Ok(None);
    };
    let b = if b.is_empty() {
        u64::MAX
    } else {
        match b.parse::<u64>() {
            Ok(b) if b >= a => b,
            _ => return Ok(None),
        }
    };
    if a >= len {
        return Err(());
    }
    Ok(Some((a, b.min(len - 1))))
}

fn handle(root: &Path, method: &str, target: &str, headers: &[(String, String)]) -> Reply {
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    if method != "GET" && method != "HEAD" {
        let mut r = simple(405, "Method Not Allowed");
        r.headers.push(("Allow", "GET, HEAD".into()));
        return r;
    }
    let Some(path) = resolve(root, target) else {
        return simple(404, "Not Found");
    };
    let Ok(file) = File::open(&path) else {
        return simple(404, "Not Found");
    };
    let Ok(meta) = file.metadata() else {
        return simple(500, "Internal Server Error");
    };
    if !meta.is_file() {
        return simple(404, "Not Found");
    }
    let len = meta.len();
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let etag = format!("\"{len:x}-{mtime:x}\"");
    let rel = path.strip_prefix(root).unwrap_or(&path);
    let immutable = rel.starts_with("chunks");
    let cache = if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let ctype = if path.extension().is_some_and(|e| e == "json") {
        "application/json"
    } else {
        "application/octet-stream"
    };
    let mut h = vec![
        ("ETag", etag.clone()),
        ("Cache-Control", cache.to_string()),
        ("Accept-Ranges", "bytes".to_string()),
    ];
    if let Some(inm) = get("if-none-match") {
        if inm.split(',').any(|t| {
            let t = t.trim();
            t == "*" || t == etag || t.strip_prefix("W/") == Some(etag.as_str())
        }) {
            return Reply {
                status: 304,
                reason: "Not Modified",
                headers: h,
                body: Body::Empty,
            };
        }
    }
    h.push(("Content-Type", ctype.to_string()));
    match parse_range(get("range"), len) {
        Err(()) => {
            h.push(("Content-Range", format!("bytes */{len}")));
            Reply {
                status: 416,
                reason: "Range Not Satisfiable",
                headers: h,
                body: Body::Empty,
            }
        }
        Ok(Some((a, b))) => {
            h.push(("Content-Range", format!("bytes {a}-{b}/{len}")));
            Reply {
                status: 206,
                reason: "Partial Content",
                headers: h,
                body: Body::File(file, a, b - a + 1),
            }
        }
        Ok(None) => Reply {
            status: 200,
            reason: "OK",
            headers: h,
            body: Body::File(file, 0, len),
        },
    }
}

fn connection(stream: TcpStream, root: &Path, opts: &ServeOptions) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE))?;
    stream.set_write_timeout(Some(IDLE))?;
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let Some(line) = read_line(&mut reader, 8192)? else {
            return Ok(());
        };
        if line.is_empty() {
            continue; // tolerated stray CRLF between requests
        }
        let mut parts = line.split(' ');
        let (method, target, version) = match (parts.next(), parts.next(), parts.next()) {
            (Some(m), Some(t), Some(v)) if v.starts_with("HTTP/1.") => (m, t, v),
            _ => {
                out.write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )?;
                return Ok(());
            }
        };
        let headers = read_headers(&mut reader)?;
        let has_body = headers
            .iter()
            .any(|(k, v)| (k == "content-length" && v != "0") || k == "transfer-encoding");
        let close = version == "HTTP/1.0"
            || has_body
            || headers
                .iter()
                .any(|(k, v)| k == "connection" && v.eq_ignore_ascii_case("close"));
        if !opts.latency.is_zero() {
            std::thread::sleep(opts.latency);
        }
        let reply = if has_body {
            simple(400, "Bad Request")
        } else {
            handle(root, method, target, &headers)
        };
        if opts.verbose {
            eprintln!("serve: {method} {target} {}", reply.status);
        }
        let body_len = match &reply.body {
            Body::Empty => 0,
            Body::Text(t) => t.len() as u64,
            Body::File(_, _, n) => *n,
        };
        let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reply.reason);
        for (k, v) in &reply.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if reply.status != 304 {
            head.push_str(&format!("Content-Length: {body_len}\r\n"));
        }
        head.push_str(if close {
            "Connection: close\r\n\r\n"
        } else {
            "Connection: keep-alive\r\n\r\n"
        });
        out.write_all(head.as_bytes())?;
        if method != "HEAD" {
            match reply.body {
                Body::Empty => {}
                Body::Text(t) => out.write_all(t.as_bytes())?,
                Body::File(mut f, at, n) => {
                    f.seek(SeekFrom::Start(at))?;
                    let copied = io::copy(&mut (&mut f).take(n), &mut out)?;
                    if copied != n {
                        return Ok(()); // the file shrank: close so the client notices
                    }
                }
            }
        }
        out.flush()?;
        if close {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_headers_parse_as_rfc_9110_says() {
        assert_eq!(parse_range(Some("bytes=0-99"), 1000), Ok(Some((0, 99))));
        assert_eq!(parse_range(Some("bytes=900-"), 1000), Ok(Some((900, 999))));
        assert_eq!(
            parse_range(Some("bytes=990-2000"), 1000),
            Ok(Some((990, 999)))
        );
        assert_eq!(parse_range(Some("bytes=-10"), 1000), Ok(Some((990, 999))));
        assert_eq!(parse_range(Some("bytes=-5000"), 1000), Ok(Some((0, 999))));
        assert_eq!(parse_range(Some("bytes=1000-"), 1000), Err(()));
        assert_eq!(parse_range(Some("bytes=-0"), 1000), Err(()));
        assert_eq!(parse_range(Some("bytes=5-1"), 1000), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 1000), Ok(None));
        assert_eq!(parse_range(Some("items=0-1"), 1000), Ok(None));
        assert_eq!(parse_range(None, 1000), Ok(None));
    }

    #[test]
    fn paths_cannot_leave_the_root() {
        let dir = std::env::temp_dir().join(format!("tab86-resolve-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/f"), b"x").unwrap();
        let root = dir.canonicalize().unwrap();
        assert_eq!(resolve(&root, "/sub/f"), Some(root.join("sub/f")));
        assert_eq!(resolve(&root, "/sub/%66?q=1"), Some(root.join("sub/f")));
        assert_eq!(resolve(&root, "/../etc/passwd"), None);
        assert_eq!(resolve(&root, "/sub/..%2f..%2fetc"), None);
        assert_eq!(resolve(&root, "/%2e%2e/x"), None);
        assert_eq!(resolve(&root, "sub/f"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! Helpers shared by the storage tests: scratch folders, test images, a
//! synchronous driver for a BlockBackend, and an HTTP server whose faults the
//! test chooses.
#![allow(dead_code)]

pub mod net;

use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tab86_devices::block::{BlockBackend, BlockError, BlockOp};
use tab86_storage::http::Timeouts;
use tab86_storage::FetchOptions;

/// A scratch folder removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "tab86-storage-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Deterministic image bytes: pseudo-random, with whole zero regions (so some
/// chunks repeat) every fourth 64 KiB.
pub fn image(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|i| {
            if (i / 65536) % 4 == 3 {
                0
            } else {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            }
        })
        .collect()
}

pub fn sha(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Small limits so fault tests finish quickly.
pub fn quick_opts() -> FetchOptions {
    FetchOptions {
        cache_bytes: 1 << 20,
        connections: 3,
        read_ahead_bytes: 256 << 10,
        retries: 2,
        backoff: Duration::from_millis(10),
        timeouts: Timeouts {
            connect: Duration::from_secs(2),
            read: Duration::from_millis(300),
            total: Duration::from_secs(1),
        },
        range_piece: 64 << 10,
        ..FetchOptions::default()
    }
}

/// Runs one request to completion.
pub fn run(b: &mut dyn BlockBackend, op: BlockOp) -> Result<Vec<u8>, BlockError> {
    static ID: AtomicUsize = AtomicUsize::new(1);
    let id = ID.fetch_add(1, Ordering::Relaxed) as u64;
    b.submit(id, op);
    let mut got = None;
    while got.is_none() {
        b.wait(1_000_000_000);
        for c in b.poll() {
            assert_eq!(c.id, id, "only one request was in flight");
            got = Some(c.result);
        }
    }
    got.unwrap()
}

pub fn read(b: &mut dyn BlockBackend, offset: u64, len: usize) -> Result<Vec<u8>, BlockError> {
    run(b, BlockOp::Read { offset, len })
}

/// What the fault server does with one request.
pub enum Act {
    /// Serve the file under the root normally (200 or 206 for a Range).
    Serve,
    /// Reply with this status and an empty body.
    Status(u16),
    /// Send headers for the full body, then half of it, then close.
    CutBody,
    /// Read the request and never answer (until the test ends).
    Stall,
    /// Serve the whole file with 200 even if a Range was asked.
    IgnoreRange,
    /// Send the headers, then one body byte every 100 ms.
    Trickle,
    /// Serve the file with chunked transfer encoding (in 1000-byte pieces).
    Chunked,
}

/// An HTTP server on 127.0.0.1 whose answer to each request is chosen by
/// `decide(path, nth_request_for_this_path)`; counts requests.
pub struct FaultServer {
    pub port: u16,
    pub requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl FaultServer {
    pub fn start(
        root: &Path,
        decide: impl Fn(&str, usize) -> Act + Send + Sync + 'static,
    ) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let seen: Arc<Mutex<std::collections::HashMap<String, usize>>> = Arc::default();
        let decide = Arc::new(decide);
        let (root, req2, stop2) = (root.to_path_buf(), requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(s) = conn else { continue };
                let (root, req, seen, decide, stop) = (
                    root.clone(),
                    req2.clone(),
                    seen.clone(),
                    decide.clone(),
                    stop2.clone(),
                );
                std::thread::spawn(move || {
                    let _ = serve_conn(s, &root, &req, &seen, &*decide, &stop);
                });
            }
        });
        FaultServer {
            port,
            requests,
            stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    pub fn count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve_conn(
    s: TcpStream,
    root: &Path,
    req: &AtomicUsize,
    seen: &Mutex<std::collections::HashMap<String, usize>>,
    decide: &(dyn Fn(&str, usize) -> Act + Send + Sync),
    stop: &AtomicBool,
) -> std::io::Result<()> {
    let mut r = BufReader::new(s.try_clone()?);
    let mut w = s;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("/").to_string();
        let mut range = None;
        loop {
            let mut h = String::new();
            r.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some(v) = h.strip_prefix("Range: bytes=") {
                let (a, b) = v.split_once('-').unwrap();
                range = Some((a.parse::<usize>().unwrap(), b.parse::<usize>().unwrap()));
            }
        }
        req.fetch_add(1, Ordering::SeqCst);
        let nth = {
            let mut m = seen.lock().unwrap();
            let e = m.entry(path.clone()).or_insert(0);
            *e += 1;
            *e
        };
        let file = std::fs::read(root.join(path.trim_start_matches('/')));
        match decide(&path, nth) {
            Act::Status(code) => {
                write!(w, "HTTP/1.1 {code} Oops\r\nContent-Length: 0\r\n\r\n")?;
            }
            Act::Stall => {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return Ok(());
            }
            Act::CutBody => {
                let body = file.unwrap_or_default();
                let body = match range {
                    Some((a, b)) => body[a..=b].to_vec(),
                    None => body,
                };
                write!(
                    w,
                    "HTTP/1.1 {} OK\r\nContent-Length: {}\r\nContent-Range: bytes {}-{}/{}\r\n\r\n",
                    if range.is_some() { 206 } else { 200 },
                    body.len(),
                    range.map_or(0, |r| r.0),
                    range.map_or(0, |r| r.1),
                    0
                )?;
                w.write_all(&body[..body.len() / 2])?;
                return Ok(());
            }
            Act::Trickle => {
                let body = file.unwrap_or_default();
                write!(
                    w,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )?;
                for b in body {
                    if stop.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    w.write_all(&[b])?;
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            Act::Chunked => {
                let body = file.unwrap_or_default();
                write!(w, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")?;
                for piece in body.chunks(1000) {
                    write!(w, "{:x};ext=1\r\n", piece.len())?;
                    w.write_all(piece)?;
                    w.write_all(b"\r\n")?;
                }
                w.write_all(b"0\r\nX-Trailer: 1\r\n\r\n")?;
            }
            Act::Serve if method == "HEAD" && path.ends_with("nohead.img") => {
                write!(w, "HTTP/1.1 405 No\r\nContent-Length: 0\r\n\r\n")?;
            }
            act @ (Act::Serve | Act::IgnoreRange) => {
                let Ok(body) = file else {
                    write!(w, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")?;
                    continue;
                };
                let total = body.len();
                let (status, body, cr) = match (range, act) {
                    (Some((a, b)), Act::Serve) => {
                        let b = b.min(total - 1);
                        (
                            206,
                            body[a..=b].to_vec(),
                            format!("Content-Range: bytes {a}-{b}/{total}\r\n"),
                        )
                    }
                    _ => (200, body, String::new()),
                };
                write!(
                    w,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n{cr}\r\n",
                    if method == "HEAD" { total } else { body.len() }
                )?;
                if method != "HEAD" {
                    w.write_all(&body)?;
                }
            }
        }
        w.flush()?;
    }
}

/// Reads everything a connection sends until it closes.
pub fn raw_http(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

//! `tab86 serve`: a small static HTTP/1.1 file server for disk images on
//! localhost: GET/HEAD, single byte ranges (206/416), ETag with If-None-Match
//! (304), `Cache-Control: immutable` for content-addressed `chunks/`, keep-alive,
//! a thread per connection, no access outside the served folder, and an
//! optional delay per request to imitate a distant server.
//!
//! It also serves the browser page (`tab86 serve target/web`): a folder's
//! `index.html` for the folder, the Content-Type browsers insist on by file
//! extension (`application/wasm` for `WebAssembly.instantiateStreaming`,
//! `text/javascript` for modules and Workers), and CORS headers (`*`, Range
//! allowed and Content-Range exposed) so a page on another origin can stream an
//! image from it. The page needs no cross-origin isolation (no
//! SharedArrayBuffer), so no COOP/COEP headers are sent.
//!
//! # Staying up under abuse
//! Connections are held in a registry that knows each one's client address
//! and phase: *idle* (waiting for a request to start), *head* (a request head
//! is arriving) or *busy* (a request is being answered). A whole request head
//! must arrive within [`Limits::header_timeout`] (408 otherwise), so a
//! slowloris client cannot hold a connection by trickling bytes. When a new
//! connection would exceed [`Limits::max_per_client`] or
//! [`Limits::max_connections`], a connection that is not answering a request
//! (idle, or its head still arriving) is closed to make room: of the client
//! holding the most, the one waiting longest. Only when every such
//! connection is busy does the newcomer get 503.
//!
//! Memory per connection is bounded: one socket descriptor, an 8 KiB read
//! buffer, a request head of at most [`Limits::max_head_bytes`] (longer lines
//! or heads get 414/431), and a small thread stack. Error answers are
//! followed by a bounded drain of what the client still sends, so it reads
//! the 4xx instead of a connection reset.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Server settings.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Delay added before answering each request (a round-trip stand-in).
    pub latency: Duration,
    /// Print one line per request on stderr.
    pub verbose: bool,
    /// Connection and request limits.
    pub limits: Limits,
}

/// Limits that keep one client (or many idle or slow ones) from blocking the
/// server for everyone else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most connections held at once (each is a thread).
    pub max_connections: usize,
    /// Most connections held at once for one client address.
    pub max_per_client: usize,
    /// A request head (request line and headers) must arrive within this long
    /// from its first byte (from the connection's start for the first request).
    pub header_timeout: Duration,
    /// A kept-alive connection with no request started is closed after this long.
    pub idle_timeout: Duration,
    /// Largest request head in bytes; also the longest single line.
    pub max_head_bytes: usize,
    /// Most header fields in one request.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 512,
            max_per_client: 128,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_head_bytes: 16 * 1024,
            max_headers: 100,
        }
    }
}

/// Stack of a connection thread: parsing, path resolution and `io::copy`
/// need a few KiB; the default 2 MiB would only be address space.
const CONN_STACK: usize = 256 * 1024;
/// After an error answer, read and drop at most this much of what the client
/// still sends (for at most `DRAIN_TIME`) so it sees the answer, not a reset.
const DRAIN_BYTES: u64 = 4 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Head,
    Busy,
}

struct ConnInfo {
    ip: IpAddr,
    /// The socket (shared with its thread), to shut it down when evicting.
    stream: Arc<TcpStream>,
    phase: Phase,
    since: Instant,
}

/// Every open connection, by id.
#[derive(Default)]
struct Registry {
    conns: HashMap<u64, ConnInfo>,
    next: u64,
}

type Shared = Arc<Mutex<Registry>>;

fn lock(r: &Mutex<Registry>) -> MutexGuard<'_, Registry> {
    r.lock().unwrap_or_else(|e| e.into_inner())
}

impl Registry {
    /// Admits a connection from `ip`, closing an idle or slow one if a limit
    /// would be exceeded; None if every candidate is busy.
    fn admit(&mut self, ip: IpAddr, stream: &Arc<TcpStream>, limits: &Limits) -> Option<u64> {
        let now = Instant::now();
        let same = self.conns.values().filter(|c| c.ip == ip).count();
        if same >= limits.max_per_client && !self.evict(Some(ip), now) {
            return None;
        }
        if self.conns.len() >= limits.max_connections && !self.evict(None, now) {
            return None;
        }
        let id = self.next;
        self.next += 1;
        self.conns.insert(
            id,
            ConnInfo {
                ip,
                stream: stream.clone(),
                phase: Phase::Idle,
                since: now,
            },
        );
        Some(id)
    }

    /// Closes one connection that is not answering a request (of `ip` if
    /// given): of the client holding the most connections, the one that has
    /// waited longest, idle or with its head still arriving. Age, not phase:
    /// a keep-alive connection idle for a millisecond between two requests of
    /// a busy client is worth more than a head trickling in for a second, and
    /// a real client's head takes milliseconds, so it is rarely the oldest.
    fn evict(&mut self, ip: Option<IpAddr>, now: Instant) -> bool {
        let mut per_ip: HashMap<IpAddr, usize> = HashMap::new();
        for c in self.conns.values() {
            *per_ip.entry(c.ip).or_default() += 1;
        }
        let victim = self
            .conns
            .iter()
            .filter(|(_, c)| ip.is_none_or(|ip| c.ip == ip) && c.phase != Phase::Busy)
            .map(|(&id, c)| ((per_ip[&c.ip], now.duration_since(c.since)), id))
            .max()
            .map(|(_, id)| id);
        match victim.and_then(|id| self.conns.remove(&id)) {
            Some(c) => {
                let _ = c.stream.shutdown(Shutdown::Both);
                true
            }
            None => false,
        }
    }

    /// Moves a connection to `phase`; its age counts from the change (a new
    /// connection is idle from its admission, not from its thread's start).
    fn set(&mut self, id: u64, phase: Phase) {
        if let Some(c) = self.conns.get_mut(&id) {
            if c.phase != phase {
                c.phase = phase;
                c.since = Instant::now();
            }
        }
    }
}

/// A running server; dropping it stops accepting, joins the accept thread
/// and closes the open connections.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    registry: Shared,
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
        let registry: Shared = Arc::default();
        let (stop2, registry2) = (stop.clone(), registry.clone());
        let root = Arc::new(root);
        let thread = std::thread::Builder::new()
            .name("tab86-serve".into())
            .spawn(move || accept_loop(listener, &root, &opts, &stop2, &registry2))?;
        Ok(Server {
            addr,
            stop,
            registry,
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections open right now.
    pub fn connections(&self) -> usize {
        lock(&self.registry).conns.len()
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
        for (_, c) in lock(&self.registry).conns.drain() {
            let _ = c.stream.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    root: &Arc<PathBuf>,
    opts: &ServeOptions,
    stop: &AtomicBool,
    registry: &Shared,
) {
    for conn in listener.incoming() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let stream = match conn {
            Ok(s) => s,
            Err(e) => {
                // Out of descriptors or memory: back off instead of spinning.
                log::warn!("serve: accept: {e}");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let Ok(peer) = stream.peer_addr() else {
            continue;
        };
        // One descriptor per connection, shared by its thread and the registry.
        let stream = Arc::new(stream);
        let Some(id) = lock(registry).admit(peer.ip(), &stream, &opts.limits) else {
            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = (&*stream).write_all(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n",
            );
            continue;
        };
        let (root, opts, reg) = (root.clone(), opts.clone(), registry.clone());
        let spawned = std::thread::Builder::new()
            .name("tab86-serve-conn".into())
            .stack_size(CONN_STACK)
            .spawn(move || {
                let _ = connection(stream, &root, &opts, &reg, id);
                lock(&reg).conns.remove(&id);
            });
        if spawned.is_err() {
            log::warn!("serve: cannot start a connection thread");
            lock(registry).conns.remove(&id);
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

/// Maps a request target to a file under `root`. Err(400) for a target that
/// is not an absolute path, has a bad %-escape or is not UTF-8 once decoded;
/// Err(404) for anything that could leave the root (`..`, absolute parts,
/// encoded slashes, symlinks out) or does not exist.
fn resolve(root: &Path, target: &str) -> Result<PathBuf, u16> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') {
        return Err(400);
    }
    let mut out = root.to_path_buf();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        let seg = percent_decode(seg).ok_or(400u16)?;
        if seg.contains(['/', '\\', '\0']) {
            return Err(404);
        }
        let mut comps = Path::new(&seg).components();
        match (comps.next(), comps.next()) {
            (Some(Component::Normal(c)), None) => out.push(c),
            _ => return Err(404),
        }
    }
    let real = out.canonicalize().map_err(|_| 404u16)?;
    if real.starts_with(root) {
        Ok(real)
    } else {
        Err(404)
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            if !h.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A decimal number of a range header: None if not all digits, Some(None) if
/// it does not fit in a u64 (larger than any file).
fn range_number(s: &str) -> Option<Option<u64>> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(s.parse().ok())
}

/// Parses a single `bytes=` range against a length: Ok(None) means "ignore the
/// header" (absent, malformed or multiple ranges), Err(()) means unsatisfiable.
/// Numbers too large for a u64 are still numbers (RFC 9110 sets no limit): a
/// first position beyond any length is unsatisfiable, a last position or a
/// suffix length beyond it means "to the end" or "the whole file".
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
        let Some(n) = range_number(b) else {
            return Ok(None);
        };
        let n = n.unwrap_or(u64::MAX);
        if n == 0 || len == 0 {
            return Err(());
        }
        return Ok(Some((len - n.min(len), len - 1)));
    }
    let Some(a) = range_number(a) else {
        return Ok(None);
    };
    let b = if b.is_empty() {
        u64::MAX
    } else {
        match range_number(b) {
            Some(b) => b.unwrap_or(u64::MAX),
            None => return Ok(None),
        }
    };
    let Some(a) = a else {
        return Err(()); // past the end of any file
    };
    if b < a {
        return Ok(None);
    }
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
    if method == "OPTIONS" {
        // A CORS preflight (a Range request from a page on another origin).
        return Reply {
            status: 204,
            reason: "No Content",
            headers: vec![
                ("Access-Control-Allow-Methods", "GET, HEAD".into()),
                (
                    "Access-Control-Allow-Headers",
                    "Range, If-None-Match".into(),
                ),
                ("Access-Control-Max-Age", "86400".into()),
            ],
            body: Body::Empty,
        };
    }
    if method != "GET" && method != "HEAD" {
        let mut r = simple(405, "Method Not Allowed");
        r.headers.push(("Allow", "GET, HEAD".into()));
        return r;
    }
    let mut path = match resolve(root, target) {
        Ok(p) => p,
        Err(400) => return simple(400, "Bad Request"),
        Err(_) => return simple(404, "Not Found"),
    };
    if path.is_dir() {
        path.push("index.html");
    }
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
    let ctype = content_type(&path);
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

/// The Content-Type for a file, by extension: what browsers require of a
/// page's parts (modules and Workers must be JavaScript, streaming wasm
/// compilation must be `application/wasm`); anything else is bytes.
fn content_type(path: &Path) -> &'static str {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext.to_ascii_lowercase().as_str() {
        "json" => "application/json",
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "txt" | "md" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "map" => "application/json",
        _ => "application/octet-stream",
    }
}

/// A socket reader whose every read waits at most until a deadline the
/// connection loop moves (idle wait, then the request head's deadline).
struct Timed {
    stream: Arc<TcpStream>,
    deadline: Instant,
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        match (&*self.stream).read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(io::ErrorKind::TimedOut.into()),
            r => r,
        }
    }
}

/// Why a request head could not be read.
enum HeadError {
    /// Answer with this status, then close.
    Status(u16, &'static str),
    /// The client went away or the socket failed: just close.
    Gone,
}

struct Head {
    method: String,
    target: String,
    version: String,
    headers: Vec<(String, String)>,
}

/// Reads one line into `line` (without CRLF), charging it to `budget`.
fn head_line(
    r: &mut impl BufRead,
    line: &mut Vec<u8>,
    budget: &mut usize,
    too_long: HeadError,
) -> Result<(), HeadError> {
    line.clear();
    let n = match r.take(*budget as u64 + 1).read_until(b'\n', line) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::TimedOut => {
            return Err(HeadError::Status(408, "Request Timeout"))
        }
        Err(_) => return Err(HeadError::Gone),
    };
    if line.last() != Some(&b'\n') {
        return Err(if n > *budget {
            too_long
        } else {
            HeadError::Gone
        });
    }
    *budget -= n;
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(())
}

/// Reads a request head within the limits; the reader's deadline bounds time.
fn read_head(r: &mut impl BufRead, limits: &Limits) -> Result<Head, HeadError> {
    let bad = HeadError::Status(400, "Bad Request");
    let mut budget = limits.max_head_bytes;
    let mut line = Vec::new();
    // Stray CRLFs before a request are tolerated (RFC 9112 2.2), a few of them.
    for _ in 0..4 {
        head_line(
            r,
            &mut line,
            &mut budget,
            HeadError::Status(414, "URI Too Long"),
        )?;
        if !line.is_empty() {
            break;
        }
    }
    let Ok(request_line) = std::str::from_utf8(&line) else {
        return Err(bad);
    };
    let mut parts = request_line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) if v.starts_with("HTTP/1.") && !m.is_empty() => {
            (m.to_string(), t.to_string(), v.to_string())
        }
        _ => return Err(bad),
    };
    let mut headers = Vec::new();
    loop {
        head_line(
            r,
            &mut line,
            &mut budget,
            HeadError::Status(431, "Request Header Fields Too Large"),
        )?;
        if line.is_empty() {
            break;
        }
        if headers.len() >= limits.max_headers {
            return Err(HeadError::Status(431, "Request Header Fields Too Large"));
        }
        // Values are opaque bytes (RFC 9110 5.5); only ASCII ones matter here.
        let text = String::from_utf8_lossy(&line);
        let Some((n, v)) = text.split_once(':') else {
            return Err(bad);
        };
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    Ok(Head {
        method,
        target,
        version,
        headers,
    })
}

/// The status `tab86 serve` answers one request with: `request` is the bytes a
/// client sent (request line, headers, blank line), parsed with `limits` and
/// answered from the folder `root`. 0 when the bytes end before a whole head
/// (the server would wait, then close). The request parser's whole path without a
/// socket, for fuzzing and tests.
pub fn status_for(root: &Path, request: &[u8], limits: &Limits) -> u16 {
    let mut r = std::io::BufReader::new(request);
    match read_head(&mut r, limits) {
        Ok(h) => handle(root, &h.method, &h.target, &h.headers).status,
        Err(HeadError::Status(s, _)) => s,
        Err(HeadError::Gone) => 0,
    }
}

/// Answers an unreadable request with `status`, then closes gracefully:
/// stop sending, and drop (boundedly) what the client still sends so it
/// reads the answer instead of a reset.
fn refuse(reader: &mut BufReader<Timed>, mut out: &TcpStream, status: u16, reason: &str) {
    let body = format!("{status} {reason}\n");
    let _ = out.write_all(
        format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    let _ = out.shutdown(Shutdown::Write);
    reader.get_mut().deadline = Instant::now() + DRAIN_TIME;
    let _ = io::copy(&mut reader.take(DRAIN_BYTES), &mut io::sink());
}

fn connection(
    stream: Arc<TcpStream>,
    root: &Path,
    opts: &ServeOptions,
    registry: &Mutex<Registry>,
    id: u64,
) -> io::Result<()> {
    let limits = &opts.limits;
    stream.set_write_timeout(Some(limits.idle_timeout))?;
    let _ = stream.set_nodelay(true);
    let start = Instant::now();
    let mut reader = BufReader::with_capacity(
        8192,
        Timed {
            stream: stream.clone(),
            deadline: start + limits.header_timeout,
        },
    );
    let mut out: &TcpStream = &stream;
    let mut first = true;
    loop {
        // Idle: wait for a request to start (a new connection must send its
        // first request within the head deadline).
        if !first {
            reader.get_mut().deadline = Instant::now() + limits.idle_timeout;
        }
        lock(registry).set(id, Phase::Idle);
        match reader.fill_buf() {
            Ok([]) | Err(_) => return Ok(()),
            Ok(_) => {}
        }
        lock(registry).set(id, Phase::Head);
        if !first {
            reader.get_mut().deadline = Instant::now() + limits.header_timeout;
        }
        first = false;
        let head = match read_head(&mut reader, limits) {
            Ok(h) => h,
            Err(HeadError::Gone) => return Ok(()),
            Err(HeadError::Status(status, reason)) => {
                if opts.verbose {
                    eprintln!("serve: unreadable request: {status}");
                }
                refuse(&mut reader, out, status, reason);
                return Ok(());
            }
        };
        lock(registry).set(id, Phase::Busy);
        let Head {
            method,
            target,
            version,
            headers,
        } = head;
        let has_body = headers
            .iter()
            .any(|(k, v)| (k == "content-length" && v != "0") || k == "transfer-encoding");
        if has_body {
            // GET/HEAD carry no body and this server reads none: refuse and close.
            refuse(&mut reader, out, 400, "Bad Request");
            return Ok(());
        }
        let close = version == "HTTP/1.0"
            || headers
                .iter()
                .any(|(k, v)| k == "connection" && v.eq_ignore_ascii_case("close"));
        if !opts.latency.is_zero() {
            std::thread::sleep(opts.latency);
        }
        let reply = handle(root, &method, &target, &headers);
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
        // Public static files: any origin may read them, Range answers included.
        head.push_str("Access-Control-Allow-Origin: *\r\n");
        head.push_str(
            "Access-Control-Expose-Headers: Content-Range, Content-Length, ETag, Accept-Ranges\r\n",
        );
        if reply.status != 304 && reply.status != 204 {
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
        assert_eq!(
            parse_range(Some("bytes=99999999999999999999-"), 1000),
            Err(())
        );
        assert_eq!(
            parse_range(Some("bytes=5-99999999999999999999"), 1000),
            Ok(Some((5, 999)))
        );
        assert_eq!(
            parse_range(Some("bytes=-99999999999999999999"), 1000),
            Ok(Some((0, 999)))
        );
        assert_eq!(parse_range(Some("bytes=+5-9"), 1000), Ok(None));
    }

    #[test]
    fn paths_cannot_leave_the_root() {
        let dir = std::env::temp_dir().join(format!("tab86-resolve-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/f"), b"x").unwrap();
        let root = dir.canonicalize().unwrap();
        assert_eq!(resolve(&root, "/sub/f"), Ok(root.join("sub/f")));
        assert_eq!(resolve(&root, "/sub/%66?q=1"), Ok(root.join("sub/f")));
        assert_eq!(resolve(&root, "/../etc/passwd"), Err(404));
        assert_eq!(resolve(&root, "/sub/..%2f..%2fetc"), Err(404));
        assert_eq!(resolve(&root, "/%2e%2e/x"), Err(404));
        assert_eq!(resolve(&root, "sub/f"), Err(400));
        assert_eq!(resolve(&root, "/sub/%ff"), Err(400));
        assert_eq!(resolve(&root, "/sub/%+1"), Err(400));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

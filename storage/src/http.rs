//! A minimal HTTP/1.1 client on `std::net`: GET/HEAD with optional Range, one
//! keep-alive connection per [`Client`], connect/read timeouts and an overall
//! deadline per request so a stalled or trickling server cannot hang a caller;
//! `https://` through rustls.
//!
//! Why not an HTTP crate: the disks only need GETs to localhost or a CDN, and
//! the failure behaviour (timeouts, body limits, reconnects) is the part that
//! matters; owning ~400 lines keeps it exact. TLS is the exception: it is
//! never written by hand, so rustls does it (see [`TlsConfig`]).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which certificate authorities `https://` connections trust: the Mozilla
/// root store bundled at build time (webpki-roots), plus optionally the CA
/// certificates of one PEM file (a private or test CA).
///
/// Why a bundled store rather than the platform's: the emulator must behave
/// the same on a minimal container without `/etc/ssl/certs` as on a desktop,
/// and CDNs chain to the public roots the bundle carries; anything else is
/// what the extra CA file is for.
#[derive(Clone)]
pub struct TlsConfig(Arc<rustls::ClientConfig>);

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConfig")
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig::new(None).expect("the bundled roots alone always make a config")
    }
}

impl TlsConfig {
    /// The bundled roots, plus every certificate in the PEM file `extra_ca`.
    /// Errors name the file: unreadable, no certificate in it, or one rustls
    /// refuses as a trust anchor.
    pub fn new(extra_ca: Option<&Path>) -> Result<TlsConfig, String> {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(path) = extra_ca {
            let what = |e: &dyn std::fmt::Display| format!("CA file {}: {e}", path.display());
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| what(&e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| what(&e))?;
            if certs.is_empty() {
                return Err(what(&"no PEM certificate in it"));
            }
            for c in certs {
                roots.add(c).map_err(|e| what(&e))?;
            }
        }
        // The ring provider is named here rather than installed process-wide,
        // so no global default is needed (or can conflict). rustls now marks
        // ring deprecated for lacking post-quantum key exchange; it is kept
        // because it builds in seconds from a C compiler alone (aws-lc-rs is a
        // far larger C build), and what TLS protects here is public disk images
        // whose chunks are SHA-256-checked against the manifest anyway, where
        // record-now-decrypt-later is not a threat.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsConfig(Arc::new(config)))
    }
}

/// An error from a TLS handshake: the server's certificate is not trusted or
/// the handshake failed. Retrying cannot help, so callers treat it as permanent.
#[derive(Debug)]
pub struct TlsError(pub String);

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

/// Whether `e` is a [`TlsError`] (a failed handshake, not a network hiccup).
pub fn is_tls_error(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|i| i.is::<TlsError>())
}

/// A parsed `http://` or `https://` `host[:port]/path` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// Whether the scheme is `https`.
    pub tls: bool,
    /// Host name or address (as written, used in the Host header).
    pub host: String,
    /// TCP port (80 or 443 unless given).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Url {
    /// Parses an `http://` or `https://` URL; other schemes are refused.
    pub fn parse(s: &str) -> Result<Url, String> {
        let (tls, rest) = if let Some(r) = s.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = s.strip_prefix("https://") {
            (true, r)
        } else {
            return Err(format!("{s}: not an http:// or https:// URL"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(format!("{s}: bad host"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                let port = p.parse().map_err(|_| format!("{s}: bad port '{p}'"))?;
                (h.to_string(), port)
            }
            _ => (authority.to_string(), if tls { 443 } else { 80 }),
        };
        Ok(Url {
            tls,
            host,
            port,
            path: path.to_string(),
        })
    }

    /// The URL of `name` relative to this URL's directory (the part up to the last `/`).
    pub fn join(&self, name: &str) -> Url {
        let dir = match self.path.rfind('/') {
            Some(i) => &self.path[..=i],
            None => "/",
        };
        Url {
            tls: self.tls,
            host: self.host.clone(),
            port: self.port,
            path: format!("{dir}{name}"),
        }
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}:{}{}", self.host, self.port, self.path)
    }
}

/// Time limits for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Limit for establishing the TCP connection.
    pub connect: Duration,
    /// Limit for any single wait for bytes from the server.
    pub read: Duration,
    /// Limit for the whole request, headers and body (stops a trickling server).
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            read: Duration::from_secs(10),
            total: Duration::from_secs(30),
        }
    }
}

/// A response with its body read in full.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body (empty for HEAD).
    pub body: Vec<u8>,
}

impl Response {
    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one CRLF-terminated line (without the terminator), bounded in length.
pub(crate) fn read_line(r: &mut impl BufRead, limit: usize) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let n = r.take(limit as u64 + 1).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            if n > limit {
                "header line too long"
            } else {
                "connection closed mid-line"
            },
        ));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "non-UTF-8 header"))
}

/// Reads header lines up to the blank line; names are lower-cased.
pub(crate) fn read_headers(r: &mut impl BufRead) -> io::Result<Vec<(String, String)>> {
    let mut headers = Vec::new();
    loop {
        let line = read_line(r, 8192)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "closed in headers"))?;
        if line.is_empty() {
            return Ok(headers);
        }
        if headers.len() > 100 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "too many headers",
            ));
        }
        let (n, v) = line
            .split_once(':')
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad header line"))?;
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
}

/// The bytes of one connection: plain TCP, or TLS over it.
enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// One open connection, the server it goes to, and a handle on its socket
/// (timeouts are set on the socket under a TLS stream too).
struct Conn {
    tls: bool,
    host: String,
    port: u16,
    tcp: TcpStream,
    io: Stream,
}

impl Conn {
    fn serves(&self, url: &Url) -> bool {
        self.tls == url.tls && self.host == url.host && self.port == url.port
    }
}

/// A stream whose per-read timeout shrinks so the whole request meets a deadline.
struct Deadline<'a> {
    conn: &'a mut Conn,
    read_timeout: Duration,
    deadline: Instant,
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "request deadline passed",
            ));
        }
        self.conn
            .tcp
            .set_read_timeout(Some(left.min(self.read_timeout)))?;
        match self.conn.io.read(buf) {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    if left < self.read_timeout {
                        "request deadline passed"
                    } else {
                        "server stalled"
                    },
                ))
            }
            r => r,
        }
    }
}

/// One keep-alive connection to one server, reopened when needed.
pub struct Client {
    timeouts: Timeouts,
    /// Trust for https (the bundled roots unless given; made on first use).
    tls: Option<TlsConfig>,
    conn: Option<Conn>,
}

impl Client {
    /// A client with these limits, trusting the bundled roots for https; no
    /// connection is opened yet.
    pub fn new(timeouts: Timeouts) -> Client {
        Client {
            timeouts,
            tls: None,
            conn: None,
        }
    }

    /// A client with these limits and this trust for https.
    pub fn with_tls(timeouts: Timeouts, tls: TlsConfig) -> Client {
        Client {
            timeouts,
            tls: Some(tls),
            conn: None,
        }
    }

    fn connect(&mut self, url: &Url) -> io::Result<Conn> {
        let addrs: Vec<SocketAddr> = (url.host.as_str(), url.port).to_socket_addrs()?.collect();
        let mut last = io::Error::new(io::ErrorKind::NotFound, "host has no address");
        let mut tcp = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, self.timeouts.connect) {
                Ok(s) => {
                    s.set_nodelay(true)?;
                    s.set_write_timeout(Some(self.timeouts.read))?;
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let tcp = tcp.ok_or(last)?;
        let io = if url.tls {
            Stream::Tls(Box::new(self.handshake(url, tcp.try_clone()?)?))
        } else {
            Stream::Plain(tcp.try_clone()?)
        };
        Ok(Conn {
            tls: url.tls,
            host: url.host.clone(),
            port: url.port,
            tcp,
            io,
        })
    }

    /// Runs the TLS handshake at once (not on the first request) so a server
    /// that is not trusted fails with a [`TlsError`] saying why.
    fn handshake(
        &mut self,
        url: &Url,
        mut sock: TcpStream,
    ) -> io::Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
        let config = self.tls.get_or_insert_with(TlsConfig::default).0.clone();
        let host = url.host.trim_start_matches('[').trim_end_matches(']');
        let tls_error = |msg: String| io::Error::new(io::ErrorKind::InvalidData, TlsError(msg));
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| tls_error(format!("{host}: not a valid TLS server name")))?;
        let mut conn = rustls::ClientConnection::new(config, name)
            .map_err(|e| tls_error(format!("TLS setup for {host}: {e}")))?;
        let deadline = Instant::now() + self.timeouts.total;
        while conn.is_handshaking() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "TLS handshake deadline passed",
                ));
            }
            sock.set_read_timeout(Some(left.min(self.timeouts.read)))?;
            if let Err(e) = conn.complete_io(&mut sock) {
                let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
                    return Err(e); // a network failure: may be transient
                };
                let hint = if matches!(tls, rustls::Error::InvalidCertificate(_)) {
                    "; if the server's CA is private, trust it with --ca-file FILE (or TAB86_CA_FILE)"
                } else {
                    ""
                };
                return Err(tls_error(format!(
                    "TLS handshake with {host}:{} failed: {tls}{hint}",
                    url.port
                )));
            }
        }
        Ok(rustls::StreamOwned::new(conn, sock))
    }

    /// Sends `method` (GET or HEAD) for `url` with an optional inclusive byte
    /// range, and reads the response; bodies larger than `max_body` are refused,
    /// and a 200 answer to a Range request comes back with its body unread.
    /// A reused connection that fails before any response byte is retried once
    /// on a fresh connection (servers close idle keep-alive connections).
    pub fn request(
        &mut self,
        method: &str,
        url: &Url,
        range: Option<(u64, u64)>,
        max_body: usize,
    ) -> io::Result<Response> {
        let deadline = Instant::now() + self.timeouts.total;
        let reused = self.conn.as_ref().is_some_and(|c| c.serves(url));
        if reused {
            match self.try_request(method, url, range, max_body, deadline) {
                Ok(r) => return Ok(r),
                Err((false, _)) => {} // nothing received: the idle connection was stale
                Err((true, e)) => return Err(e),
            }
        }
        self.conn = None;
        let c = self.connect(url)?;
        self.conn = Some(c);
        self.try_request(method, url, range, max_body, deadline)
            .map_err(|(_, e)| e)
    }

    /// Err((got_any_response_bytes, error)). The connection is kept only
    /// after a complete response that allows keep-alive.
    fn try_request(
        &mut self,
        method: &str,
        url: &Url,
        range: Option<(u64, u64)>,
        max_body: usize,
        deadline: Instant,
    ) -> Result<Response, (bool, io::Error)> {
        let Some(mut conn) = self.conn.take() else {
            return Err((false, io::Error::other("not connected")));
        };
        let mut req = format!(
            "{method} {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: tab86\r\nConnection: keep-alive\r\n",
            url.path, url.host, url.port
        );
        if let Some((a, b)) = range {
            req.push_str(&format!("Range: bytes={a}-{b}\r\n"));
        }
        req.push_str("\r\n");
        if let Err(e) = conn
            .io
            .write_all(req.as_bytes())
            .and_then(|()| conn.io.flush())
        {
            return Err((false, e));
        }
        let mut r = BufReader::new(Deadline {
            conn: &mut conn,
            read_timeout: self.timeouts.read,
            deadline,
        });
        let status_line = match read_line(&mut r, 8192) {
            Ok(Some(l)) => l,
            Ok(None) => {
                return Err((
                    false,
                    io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"),
                ));
            }
            Err(e) => {
                let got =
                    e.kind() == io::ErrorKind::InvalidData || e.kind() == io::ErrorKind::TimedOut;
                return Err((got, e));
            }
        };
        let result = Self::read_response(&mut r, &status_line, method, range.is_some(), max_body);
        let keep = match &result {
            Ok((_, keep)) => *keep && r.buffer().is_empty(),
            Err(_) => false,
        };
        drop(r);
        if keep {
            self.conn = Some(conn);
        }
        result.map(|(resp, _)| resp).map_err(|e| (true, e))
    }

    fn read_response(
        r: &mut impl BufRead,
        status_line: &str,
        method: &str,
        ranged: bool,
        max_body: usize,
    ) -> io::Result<(Response, bool)> {
        let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        if !version.starts_with("HTTP/1.") {
            return Err(bad(&format!("not an HTTP/1.x response: {status_line:.60}")));
        }
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("bad status line"))?;
        let headers = read_headers(r)?;
        let mut resp = Response {
            status,
            headers,
            body: Vec::new(),
        };
        let mut keep = version != "HTTP/1.0"
            && !resp
                .header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        if method == "HEAD" || status == 204 || status == 304 || (100..200).contains(&status) {
            return Ok((resp, keep));
        }
        if ranged && status == 200 {
            // The server ignored the Range and sends the whole file: leave the
            // body unread (and the connection closed) for the caller to refuse.
            return Ok((resp, false));
        }
        let chunked = resp
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        if chunked {
            loop {
                let line = read_line(r, 1024)?.ok_or_else(|| bad("closed in chunked body"))?;
                let size_hex = line.split(';').next().unwrap_or("").trim();
                let size =
                    usize::from_str_radix(size_hex, 16).map_err(|_| bad("bad chunk size"))?;
                if size == 0 {
                    while read_line(r, 8192)?.is_some_and(|l| !l.is_empty()) {}
                    break;
                }
                if resp.body.len() + size > max_body {
                    return Err(bad("response body larger than expected"));
                }
                let start = resp.body.len();
                resp.body.resize(start + size, 0);
                r.read_exact(&mut resp.body[start..])?;
                if read_line(r, 2)? != Some(String::new()) {
                    return Err(bad("bad chunk terminator"));
                }
            }
        } else if let Some(len) = resp.header("content-length") {
            let len: usize = len.parse().map_err(|_| bad("bad Content-Length"))?;
            if len > max_body {
                return Err(bad(&format!(
                    "response body of {len} bytes larger than the {max_body} expected"
                )));
            }
            resp.body.resize(len, 0);
            r.read_exact(&mut resp.body).map_err(|e| {
                if e.kind() == io::ErrorKind::UnexpectedEof {
                    io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed mid-body")
                } else {
                    e
                }
            })?;
        } else {
            keep = false;
            r.take(max_body as u64 + 1).read_to_end(&mut resp.body)?;
            if resp.body.len() > max_body {
                return Err(bad("response body larger than expected"));
            }
        }
        Ok((resp, keep))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_and_joins_names() {
        let u = Url::parse("http://127.0.0.1:8080/img/manifest.json").unwrap();
        assert_eq!(u.host, "127.0.0.1");
        assert_eq!(u.port, 8080);
        assert_eq!(u.join("chunks/ab").path, "/img/chunks/ab");
        let u = Url::parse("http://example.test").unwrap();
        assert_eq!((u.port, u.path.as_str()), (80, "/"));
        let u = Url::parse("https://cdn.example.test/img/").unwrap();
        assert!(u.tls);
        assert_eq!((u.port, u.path.as_str()), (443, "/img/"));
        assert!(u.join("manifest.json").tls);
        assert_eq!(
            u.join("manifest.json").to_string(),
            "https://cdn.example.test:443/img/manifest.json"
        );
        assert!(Url::parse("ftp://x/y").is_err());
        assert!(Url::parse("http://h:notaport/").is_err());
    }
}

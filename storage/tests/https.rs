//! Chunked images over https: a TLS server on 127.0.0.1 with a certificate
//! from a CA generated here serves a packed image; the chunked store reads and
//! verifies it when told to trust that CA, and refuses (clearly, without
//! retrying) a server it cannot trust.

mod common;

use common::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tab86_storage::chunked;
use tab86_storage::http::{Timeouts, TlsConfig};
use tab86_storage::pack::pack;
use tab86_storage::{DiskOptions, DiskSpec, FetchOptions, Store};

/// A certificate authority and a server certificate it signed for `names`.
struct Pki {
    ca_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

fn pki(names: &[&str]) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let leaf = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        chain: vec![leaf.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    }
}

/// A minimal https file server (GET with an optional `Range: bytes=a-b`,
/// keep-alive) for `root`; stops accepting when dropped.
struct TlsServer {
    port: u16,
    stop: Arc<AtomicBool>,
    /// Connections accepted so far.
    accepted: Arc<AtomicUsize>,
}

impl TlsServer {
    fn start(root: &Path, pki: &Pki) -> TlsServer {
        #[allow(deprecated)] // the same provider the client uses
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(pki.chain.clone(), pki.key.clone_key())
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (stop2, root, accepted2) = (stop.clone(), root.to_path_buf(), accepted.clone());
        std::thread::spawn(move || {
            for s in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(s) = s else { continue };
                accepted2.fetch_add(1, Ordering::SeqCst);
                let (config, root) = (config.clone(), root.clone());
                std::thread::spawn(move || {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                    let conn = rustls::ServerConnection::new(config).unwrap();
                    let _ = serve_tls(rustls::StreamOwned::new(conn, s), &root);
                });
            }
        });
        TlsServer {
            port,
            stop,
            accepted,
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve_tls(
    mut s: rustls::StreamOwned<rustls::ServerConnection, TcpStream>,
    root: &Path,
) -> std::io::Result<()> {
    let mut pending = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            pending.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&pending[..head_end]).into_owned();
        pending.drain(..head_end);
        let head_only = head.starts_with("HEAD ");
        let path = head.split(' ').nth(1).unwrap_or("/").to_string();
        let range = head.lines().find_map(|l| {
            let (a, b) = l.strip_prefix("Range: bytes=")?.split_once('-')?;
            Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?))
        });
        let Ok(body) = std::fs::read(root.join(path.trim_start_matches('/'))) else {
            s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")?;
            continue;
        };
        let (status, part, cr) = match range {
            Some((a, b)) => {
                let b = b.min(body.len() - 1);
                let cr = format!("Content-Range: bytes {a}-{b}/{}\r\n", body.len());
                (206, &body[a..=b], cr)
            }
            None => (200, &body[..], String::new()),
        };
        write!(
            s,
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n{cr}\r\n",
            part.len()
        )?;
        if !head_only {
            s.write_all(part)?;
        }
        s.flush()?;
    }
}

fn opts(tls: TlsConfig) -> FetchOptions {
    FetchOptions {
        retries: 2,
        backoff: Duration::from_millis(10),
        timeouts: Timeouts {
            connect: Duration::from_secs(2),
            read: Duration::from_secs(2),
            total: Duration::from_secs(5),
        },
        tls,
        ..FetchOptions::default()
    }
}

fn packed(dir: &TempDir) -> Vec<u8> {
    let img = image(2 << 20, 9);
    std::fs::write(dir.path("disk.img"), &img).unwrap();
    pack(&dir.path("disk.img"), &dir.path("www"), 128 << 10).unwrap();
    img
}

#[test]
fn a_chunked_image_is_read_and_verified_over_https_with_an_extra_ca() {
    let dir = TempDir::new("https");
    let img = packed(&dir);
    let pki = pki(&["localhost", "127.0.0.1"]);
    std::fs::write(dir.path("ca.pem"), &pki.ca_pem).unwrap();
    let server = TlsServer::start(&dir.path("www"), &pki);
    let tls = TlsConfig::new(Some(&dir.path("ca.pem"))).unwrap();
    for host in ["127.0.0.1", "localhost"] {
        let url = format!("https://{host}:{}/manifest.json", server.port);
        let store = chunked::open_http(&url, opts(tls.clone())).unwrap();
        let mut got = vec![0u8; img.len()];
        // Unaligned pieces crossing chunk boundaries.
        for (i, piece) in got.chunks_mut(100_000).enumerate() {
            store.read_at(i as u64 * 100_000, piece).unwrap();
        }
        assert!(got == img, "{url}: bytes differ");
        let stats = store.stats().unwrap();
        assert_eq!(stats.chunks_fetched.load(Ordering::Relaxed), 16);
        assert!(
            store.describe().contains("https://"),
            "{}",
            store.describe()
        );
    }

    // A chunk altered on the server is caught by its hash, over TLS too.
    let m =
        chunked::Manifest::parse(&std::fs::read(dir.path("www/manifest.json")).unwrap()).unwrap();
    let bad = dir.path(&format!("www/chunks/{}", chunked::hex(&m.chunks[3])));
    let mut data = std::fs::read(&bad).unwrap();
    data[7] ^= 1;
    std::fs::write(&bad, data).unwrap();
    let url = format!("https://127.0.0.1:{}/manifest.json", server.port);
    let store = chunked::open_http(&url, opts(tls)).unwrap();
    let mut buf = vec![0u8; 512];
    let e = store.read_at(3 * (128 << 10), &mut buf).unwrap_err();
    assert!(e.to_string().contains("SHA-256 mismatch"), "{e}");
}

#[test]
fn a_raw_image_is_read_with_range_requests_over_https() {
    let dir = TempDir::new("https-range");
    let img = packed(&dir);
    let pki = pki(&["127.0.0.1"]);
    std::fs::write(dir.path("ca.pem"), &pki.ca_pem).unwrap();
    let server = TlsServer::start(&dir.0, &pki);
    let tls = TlsConfig::new(Some(&dir.path("ca.pem"))).unwrap();
    let opened = tab86_storage::open(
        &DiskSpec {
            source: format!("https://127.0.0.1:{}/disk.img", server.port),
            ..DiskSpec::default()
        },
        &DiskOptions {
            fetch: opts(tls),
            workers: 2,
        },
    )
    .unwrap();
    assert_eq!(opened.store.size(), img.len() as u64);
    let mut buf = vec![0u8; 300_000];
    opened.store.read_at(1_000_001, &mut buf).unwrap();
    assert!(buf == img[1_000_001..1_300_001]);
}

#[test]
fn an_untrusted_or_misnamed_certificate_is_refused_at_once_with_a_clear_error() {
    let dir = TempDir::new("https-bad");
    packed(&dir);
    let pki_a = pki(&["localhost", "127.0.0.1"]);
    let pki_other = pki(&["localhost", "127.0.0.1"]);
    std::fs::write(dir.path("other-ca.pem"), &pki_other.ca_pem).unwrap();
    let server = TlsServer::start(&dir.path("www"), &pki_a);
    let url = format!("https://127.0.0.1:{}/manifest.json", server.port);
    for tls in [
        TlsConfig::default(),
        TlsConfig::new(Some(&dir.path("other-ca.pem"))).unwrap(),
    ] {
        let t = Instant::now();
        let before = server.accepted.load(Ordering::SeqCst);
        let e = chunked::open_http(&url, opts(tls)).err().unwrap();
        assert!(
            e.contains("TLS handshake") && e.contains("certificate") && e.contains("--ca-file"),
            "{e}"
        );
        // Not retried: a certificate does not get better with time.
        assert_eq!(server.accepted.load(Ordering::SeqCst), before + 1, "{e}");
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    }

    // Trusted CA, but the certificate names another host.
    let misnamed = pki(&["images.example.test"]);
    std::fs::write(dir.path("misnamed-ca.pem"), &misnamed.ca_pem).unwrap();
    let server = TlsServer::start(&dir.path("www"), &misnamed);
    let url = format!("https://127.0.0.1:{}/manifest.json", server.port);
    let tls = TlsConfig::new(Some(&dir.path("misnamed-ca.pem"))).unwrap();
    let e = chunked::open_http(&url, opts(tls)).err().unwrap();
    assert!(
        e.contains("TLS handshake") && e.contains("certificate"),
        "{e}"
    );

    // A CA file that is not one is refused when the options are made.
    std::fs::write(dir.path("junk.pem"), "not a certificate").unwrap();
    let e = TlsConfig::new(Some(&dir.path("junk.pem"))).unwrap_err();
    assert!(
        e.contains("junk.pem") && e.contains("no PEM certificate"),
        "{e}"
    );
    let e = TlsConfig::new(Some(&dir.path("missing.pem"))).unwrap_err();
    assert!(e.contains("missing.pem"), "{e}");
}

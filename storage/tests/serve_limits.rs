//! `tab86 serve` under abuse: idle connections, slowloris clients, oversized
//! or malformed request heads and absurd ranges must not stop it from serving
//! a well-behaved client, and must get a 4xx rather than a reset.
//!
//! Everything runs on loopback; attackers bind to other 127.0.0.0/8 source
//! addresses so the per-client limit can be told apart from the global one.
//! Each test holds its connections for a few seconds and then drops them.

mod common;

use common::*;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};
use tab86_storage::serve::{Limits, ServeOptions, Server};

const DATA: &[u8] = b"0123456789abcdef";

fn setup(limits: Limits) -> (TempDir, Server) {
    let dir = TempDir::new("serve-limits");
    std::fs::create_dir_all(dir.path("www")).unwrap();
    std::fs::write(dir.path("www/data.bin"), DATA).unwrap();
    let opts = ServeOptions {
        limits,
        ..ServeOptions::default()
    };
    let s = Server::start(&dir.path("www"), "127.0.0.1:0", opts).unwrap();
    (dir, s)
}

/// A TCP connection to 127.0.0.1:`port` from the source address `src`.
fn connect_from(src: Ipv4Addr, port: u16) -> io::Result<TcpStream> {
    common::net::connect_from(src, Ipv4Addr::LOCALHOST, port)
}

/// Sends `req` (ignoring write errors), closes the sending side, and returns
/// whatever the server answered before closing.
fn exchange(port: u16, req: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(req);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// One ordinary GET from 127.0.0.1 that must complete within `limit`.
fn normal_get(port: u16, limit: Duration) -> Result<(), String> {
    let t = Instant::now();
    let mut s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), limit)
        .map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(limit)).unwrap();
    s.write_all(b"GET /data.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(|e| format!("read: {e}"))?;
    let out = String::from_utf8_lossy(&out);
    if !out.starts_with("HTTP/1.1 200") || !out.ends_with("0123456789abcdef") {
        return Err(format!("answer: {out:.80}"));
    }
    if t.elapsed() > limit {
        return Err(format!("took {:?}", t.elapsed()));
    }
    Ok(())
}

#[test]
fn oversized_heads_bad_paths_and_absurd_ranges_get_a_4xx_not_a_reset() {
    let (_d, s) = setup(Limits::default());
    let p = s.addr().port();
    let mut huge_line = b"GET /data.bin HTTP/1.1\r\nX-Big: ".to_vec();
    huge_line.resize(huge_line.len() + (1 << 20), b'a');
    huge_line.extend_from_slice(b"\r\n\r\n");
    let r = exchange(p, &huge_line);
    assert!(r.starts_with("HTTP/1.1 431"), "1 MB header line: {r:.80}");

    let mut many = b"GET /data.bin HTTP/1.1\r\n".to_vec();
    for i in 0..100_000 {
        many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let r = exchange(p, &many);
    assert!(r.starts_with("HTTP/1.1 431"), "100k headers: {r:.80}");

    let mut long_target = b"GET /".to_vec();
    long_target.resize(100_000, b'a');
    long_target.extend_from_slice(b" HTTP/1.1\r\n\r\n");
    let r = exchange(p, &long_target);
    assert!(r.starts_with("HTTP/1.1 414"), "100 kB target: {r:.80}");

    for path in [
        &b"/\xff\xfe.bin"[..],
        b"/%ff%fe.bin",
        b"/data%zz",
        b"data.bin",
    ] {
        let mut req = b"GET ".to_vec();
        req.extend_from_slice(path);
        req.extend_from_slice(b" HTTP/1.1\r\nConnection: close\r\n\r\n");
        let r = exchange(p, &req);
        assert!(
            r.starts_with("HTTP/1.1 400"),
            "{}: {r:.80}",
            String::from_utf8_lossy(path)
        );
    }

    for (range, status, content_range) in [
        ("bytes=99999999999999999999-", "416", "bytes */16"),
        (
            "bytes=18446744073709551616-18446744073709551617",
            "416",
            "bytes */16",
        ),
        ("bytes=3-99999999999999999999", "206", "bytes 3-15/16"),
        ("bytes=-99999999999999999999", "206", "bytes 0-15/16"),
        ("bytes=16-", "416", "bytes */16"),
    ] {
        let r = exchange(
            p,
            format!("GET /data.bin HTTP/1.1\r\nRange: {range}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        assert!(r.starts_with(&format!("HTTP/1.1 {status}")), "{range}: {r}");
        assert!(
            r.contains(&format!("Content-Range: {content_range}\r\n")),
            "{range}: {r}"
        );
    }

    // The server is still fine afterwards, on a kept-alive connection too.
    normal_get(p, Duration::from_secs(2)).unwrap();
}

/// The attack tests hold ~1600 descriptors (both ends of 800 connections):
/// raise this test process's soft limit to its hard limit (often 1024 vs
/// 4096 or more on developer machines).
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

/// Holds `idle` silent connections and `slow` slowloris ones (a header byte
/// per second each) from the given source addresses while a client on
/// 127.0.0.1 makes requests; every one of those must be answered promptly.
fn serve_under_attack(idle_src: Ipv4Addr, slow_src: Ipv4Addr) {
    raise_fd_limit();
    let (_d, s) = setup(Limits::default());
    let p = s.addr().port();
    let t0 = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..500 {
        idle.push(connect_from(idle_src, p).unwrap());
    }
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut c = connect_from(slow_src, p).unwrap();
        c.set_write_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let _ = c.write_all(b"GET /data.bin HTTP/1.1\r\nX-Slow: ");
        slow.push(c);
    }
    let opened = t0.elapsed();
    eprintln!("attack connections opened in {opened:?}");
    let mut failures = Vec::new();
    let mut done = 0;
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        // The slowloris keeps trickling.
        for c in &mut slow {
            let _ = c.write_all(b"a");
        }
        if let Err(e) = normal_get(p, Duration::from_secs(2)) {
            failures.push(e);
        }
        done += 1;
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        failures.is_empty(),
        "{} of {done} requests failed (attack opened in {opened:?}): {failures:?}",
        failures.len()
    );
    assert!(done >= 4);
}

#[test]
fn a_client_is_served_while_other_hosts_hold_idle_and_slowloris_connections() {
    serve_under_attack(Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3));
}

#[test]
fn a_client_is_served_while_its_own_host_holds_idle_and_slowloris_connections() {
    serve_under_attack(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST);
}

#[test]
fn a_slow_request_head_is_cut_at_the_header_deadline_with_408() {
    let (_d, s) = setup(Limits {
        header_timeout: Duration::from_secs(2),
        ..Limits::default()
    });
    let p = s.addr().port();
    let mut slow: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut c = TcpStream::connect(("127.0.0.1", p)).unwrap();
            c.write_all(b"GET /data.bin HTTP/1.1\r\n").unwrap();
            c
        })
        .collect();
    let t = Instant::now();
    // One header byte every 200 ms: never finishing, always "active".
    while t.elapsed() < Duration::from_millis(3500) {
        for c in &mut slow {
            let _ = c.write_all(b"x");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for mut c in slow {
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        let out = String::from_utf8_lossy(&out);
        assert!(out.starts_with("HTTP/1.1 408"), "{out:.80}");
    }
}

#[test]
fn one_client_cannot_hold_more_than_its_share_of_connections() {
    let (_d, s) = setup(Limits {
        max_per_client: 4,
        ..Limits::default()
    });
    let p = s.addr().port();
    let src = Ipv4Addr::new(127, 0, 0, 4);
    let conns: Vec<TcpStream> = (0..10).map(|_| connect_from(src, p).unwrap()).collect();
    // The six oldest idle ones are closed to make room for the newer ones
    // (polled for up to 3 s: the accept loop may lag on a busy machine).
    let mut closed = [false; 10];
    let end = Instant::now() + Duration::from_secs(3);
    while closed.iter().filter(|&&c| c).count() < 6 && Instant::now() < end {
        for (i, mut c) in conns.iter().enumerate() {
            if closed[i] {
                continue;
            }
            c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            let mut b = [0u8; 1];
            match c.read(&mut b) {
                Ok(0) => closed[i] = true,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => closed[i] = true,
                _ => {}
            }
        }
    }
    assert_eq!(
        closed,
        [true, true, true, true, true, true, false, false, false, false]
    );
    assert!(s.connections() <= 4, "{}", s.connections());
    normal_get(p, Duration::from_secs(2)).unwrap();
}

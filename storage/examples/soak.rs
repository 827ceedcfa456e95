//! Soak and load check for `tab86 serve` (or any server of a chunked image):
//! many clients read random byte ranges of random chunks for a while, every
//! tenth request fetches a whole chunk and checks its SHA-256, and the
//! server's memory (RSS, threads) is sampled from /proc. Optionally holds
//! idle and slowloris connections from another loopback address meanwhile.
//!
//! ```text
//! cargo run --profile ci -p tab86-storage --example soak -- URL_OF_MANIFEST \
//!     [--clients 16] [--seconds 20] [--server-pid PID] \
//!     [--idle 500] [--slowloris 300] [--attack-from 127.0.0.2]
//! ```
//! Only loopback addresses make sense here; it stops by itself.

use sha2::{Digest, Sha256};
use std::io::Write;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tab86_storage::chunked::{hex, Manifest};
use tab86_storage::http::{Client, Timeouts, Url};

#[path = "../tests/common/net.rs"]
mod net;
use net::connect_from;

struct Opts {
    url: String,
    clients: usize,
    seconds: u64,
    pid: Option<u32>,
    idle: usize,
    slowloris: usize,
    attack_from: Ipv4Addr,
}

fn parse() -> Result<Opts, String> {
    let mut it = std::env::args().skip(1);
    let mut o = Opts {
        url: String::new(),
        clients: 16,
        seconds: 20,
        pid: None,
        idle: 0,
        slowloris: 0,
        attack_from: Ipv4Addr::new(127, 0, 0, 2),
    };
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--clients" => o.clients = val()?.parse().map_err(|_| "bad --clients")?,
            "--seconds" => o.seconds = val()?.parse().map_err(|_| "bad --seconds")?,
            "--server-pid" => o.pid = Some(val()?.parse().map_err(|_| "bad --server-pid")?),
            "--idle" => o.idle = val()?.parse().map_err(|_| "bad --idle")?,
            "--slowloris" => o.slowloris = val()?.parse().map_err(|_| "bad --slowloris")?,
            "--attack-from" => o.attack_from = val()?.parse().map_err(|_| "bad --attack-from")?,
            s if !s.starts_with("--") && o.url.is_empty() => o.url = s.to_string(),
            s => return Err(format!("unknown argument {s}")),
        }
    }
    if o.url.is_empty() {
        return Err("usage: soak URL_OF_MANIFEST [--clients N] [--seconds S] [--server-pid PID] [--idle N] [--slowloris N] [--attack-from ADDR]".into());
    }
    Ok(o)
}

/// `VmRSS` (KiB) and `Threads` of a process.
fn proc_status(pid: u32) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmRSS:")?, field("Threads:")?))
}

#[derive(Default)]
struct Tally {
    requests: u64,
    bytes: u64,
    verified: u64,
    errors: Vec<String>,
    error_count: u64,
    latencies_us: Vec<u32>,
}

fn client_loop(seed: u64, url: &Url, m: &Manifest, end: Instant, tally: &Mutex<Tally>) {
    let mut rng = seed | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut client = Client::new(Timeouts::default());
    let mut t = Tally::default();
    while Instant::now() < end {
        let i = next() % m.chunks.len() as u64;
        let len = m.chunk_len(i);
        let chunk = url.join(&format!("chunks/{}", hex(&m.chunks[i as usize])));
        let whole = next() % 10 == 0;
        let range = (!whole).then(|| {
            let n = (4096 + next() % (len.max(4097) - 4096)).min(len);
            let a = next() % (len - n + 1);
            (a, a + n - 1)
        });
        let want = range.map_or(len, |(a, b)| b - a + 1);
        let t0 = Instant::now();
        let r = client.request("GET", &chunk, range, len as usize);
        t.latencies_us.push(t0.elapsed().as_micros() as u32);
        t.requests += 1;
        let problem = match r {
            Err(e) => Some(format!("{chunk}: {e}")),
            Ok(r) if r.status != if whole { 200 } else { 206 } => {
                Some(format!("{chunk}: status {}", r.status))
            }
            Ok(r) if r.body.len() as u64 != want => {
                Some(format!("{chunk}: {} bytes, not {want}", r.body.len()))
            }
            Ok(r) => {
                t.bytes += r.body.len() as u64;
                if whole {
                    let h: [u8; 32] = Sha256::digest(&r.body).into();
                    if h != m.chunks[i as usize] {
                        Some(format!("{chunk}: SHA-256 mismatch"))
                    } else {
                        t.verified += 1;
                        None
                    }
                } else {
                    None
                }
            }
        };
        if let Some(p) = problem {
            t.error_count += 1;
            if t.errors.len() < 3 {
                t.errors.push(p);
            }
        }
    }
    let mut all = tally.lock().unwrap();
    all.requests += t.requests;
    all.bytes += t.bytes;
    all.verified += t.verified;
    all.error_count += t.error_count;
    all.errors.extend(t.errors);
    all.latencies_us.extend(t.latencies_us);
}

fn main() {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let url = Url::parse(&o.url).unwrap_or_else(|e| panic!("{e}"));
    let mut c = Client::new(Timeouts::default());
    let r = c
        .request("GET", &url, None, 64 << 20)
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    assert_eq!(r.status, 200, "{url}: status {}", r.status);
    let m = Arc::new(Manifest::parse(&r.body).unwrap_or_else(|e| panic!("{e}")));
    println!(
        "soak: {} chunks of {} KiB, {} clients, {} s",
        m.chunks.len(),
        m.chunk_size >> 10,
        o.clients,
        o.seconds
    );

    // Attack connections, held until the end.
    let dst: Ipv4Addr = url.host.parse().unwrap_or(Ipv4Addr::LOCALHOST);
    let stop = Arc::new(AtomicBool::new(false));
    let mut idle = Vec::new();
    for _ in 0..o.idle {
        match connect_from(o.attack_from, dst, url.port) {
            Ok(s) => idle.push(s),
            Err(e) => {
                println!("soak: idle connection refused: {e}");
                break;
            }
        }
    }
    let mut slow = Vec::new();
    for _ in 0..o.slowloris {
        match connect_from(o.attack_from, dst, url.port) {
            Ok(mut s) => {
                let _ = s.set_write_timeout(Some(Duration::from_millis(50)));
                let _ = s.write_all(b"GET / HTTP/1.1\r\nX-Slow: ");
                slow.push(s);
            }
            Err(e) => {
                println!("soak: slowloris connection refused: {e}");
                break;
            }
        }
    }
    if o.idle + o.slowloris > 0 {
        println!(
            "soak: holding {} idle and {} slowloris connections from {}",
            idle.len(),
            slow.len(),
            o.attack_from
        );
    }
    let stop2 = stop.clone();
    let trickler = std::thread::spawn(move || {
        let mut alive = 0;
        while !stop2.load(Ordering::Relaxed) {
            alive = 0;
            for s in &mut slow {
                if s.write_all(b"a").is_ok() {
                    alive += 1;
                }
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        alive
    });

    let rss0 = o.pid.and_then(proc_status);
    let end = Instant::now() + Duration::from_secs(o.seconds);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let t0 = Instant::now();
    let workers: Vec<_> = (0..o.clients)
        .map(|k| {
            let (url, m, tally) = (url.clone(), m.clone(), tally.clone());
            std::thread::spawn(move || {
                client_loop(
                    0x9E37_79B9_7F4A_7C15 ^ (k as u64 + 1),
                    &url,
                    &m,
                    end,
                    &tally,
                )
            })
        })
        .collect();
    let (mut rss_max, mut threads_max) = (0, 0);
    while Instant::now() < end {
        if let Some((rss, th)) = o.pid.and_then(proc_status) {
            rss_max = rss_max.max(rss);
            threads_max = threads_max.max(th);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    for w in workers {
        let _ = w.join();
    }
    let secs = t0.elapsed().as_secs_f64();
    let rss1 = o.pid.and_then(proc_status);
    stop.store(true, Ordering::Relaxed);
    let slow_alive = trickler.join().unwrap_or(0);
    let mut t = tally.lock().unwrap();
    t.latencies_us.sort_unstable();
    let pct = |p: f64| {
        t.latencies_us
            .get(((t.latencies_us.len() as f64 - 1.0) * p) as usize)
            .map_or(0.0, |&us| us as f64 / 1000.0)
    };
    println!(
        "soak: {} requests in {secs:.1} s = {:.0} req/s, {:.1} MiB/s; latency ms p50 {:.2} p99 {:.2} max {:.2}; {} whole chunks verified; {} errors",
        t.requests,
        t.requests as f64 / secs,
        t.bytes as f64 / secs / (1 << 20) as f64,
        pct(0.5),
        pct(0.99),
        pct(1.0),
        t.verified,
        t.error_count
    );
    for e in &t.errors {
        println!("soak: error: {e}");
    }
    if o.slowloris > 0 {
        println!("soak: slowloris connections still open at the end: {slow_alive}");
    }
    if let Some(pid) = o.pid {
        let show = |s: Option<(u64, u64)>| {
            s.map_or("gone".to_string(), |(rss, th)| {
                format!("{:.1} MiB, {th} threads", rss as f64 / 1024.0)
            })
        };
        println!(
            "soak: server {pid}: start {}, peak {:.1} MiB / {threads_max} threads, end {}",
            show(rss0),
            rss_max as f64 / 1024.0,
            show(rss1)
        );
    }
    drop(idle);
    if t.error_count > 0 {
        std::process::exit(1);
    }
}

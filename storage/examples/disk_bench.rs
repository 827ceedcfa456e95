//! Reads a disk through the threaded backend the way a guest would and prints
//! the time and the storage counters:
//! `cargo run --release -p tab86-storage --example disk_bench -- SOURCE [MiB] [in_flight] [cache_mb]`
//! (SOURCE as for `tab86 run --disk`). Reads the first MiB (default: all) with
//! 128 KiB requests, `in_flight` (default 4) at a time, then 256 random 4 KiB reads.

use std::time::Instant;
use tab86_devices::block::{BlockBackend, BlockOp};
use tab86_storage::{DiskOptions, DiskSpec};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(source) = args.first() else {
        eprintln!("usage: disk_bench SOURCE [MiB] [in_flight] [cache_mb]");
        std::process::exit(2);
    };
    let mut opts = DiskOptions::default();
    if let Some(mb) = args.get(3).and_then(|v| v.parse::<u64>().ok()) {
        opts.fetch.cache_bytes = mb << 20;
    }
    let t0 = Instant::now();
    let d = tab86_storage::open(
        &DiskSpec {
            source: source.clone(),
            ..Default::default()
        },
        &opts,
    )
    .unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    println!("open: {:.3} s", t0.elapsed().as_secs_f64());
    let mut b = d.backend;
    let cap = b.capacity();
    let mib: u64 = args
        .get(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(cap >> 20);
    let total = (mib << 20).min(cap);
    let depth: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(4);
    const REQ: u64 = 128 << 10;
    let t = Instant::now();
    let (mut next, mut done, mut id) = (0u64, 0u64, 0u64);
    while done < total {
        while b.in_flight() < depth && next < total {
            let len = REQ.min(total - next) as usize;
            b.submit(id, BlockOp::Read { offset: next, len });
            id += 1;
            next += len as u64;
        }
        b.wait(1_000_000_000);
        for c in b.poll() {
            done += c.result.expect("read failed").len() as u64;
        }
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "sequential: {} MiB in {s:.3} s = {:.1} MiB/s",
        total >> 20,
        total as f64 / s / (1 << 20) as f64
    );
    let mut x: u64 = 0x1234_5678_9abc_def1;
    let t = Instant::now();
    for i in 0..256 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let off = (x % (cap / 4096)) * 4096;
        b.submit(
            i,
            BlockOp::Read {
                offset: off,
                len: 4096,
            },
        );
        while b.in_flight() > 0 {
            b.wait(1_000_000_000);
            for c in b.poll() {
                c.result.expect("read failed");
            }
        }
    }
    println!(
        "random 4 KiB reads, one at a time: {:.2} ms each",
        t.elapsed().as_secs_f64() * 1000.0 / 256.0
    );
    if let Some(st) = d.store.stats() {
        println!("counters: {}", st.summary());
    }
}

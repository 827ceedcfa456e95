//! Rough costs of the wasmtime host, for the report (not a test: no assertions on
//! time). `cargo run --release -p tab86-jit-wasmtime --example measure`

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{constant, host, module};
use tab86_cpu::jit::JitHost;
use wasm_encoder::{MemArg, MemArgTarget};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `groups` read-modify-write sequences on arena words, the shape of JIT code
/// updating registers in the state window.
fn big_module(groups: u32) -> Vec<u8> {
    let arg = MemArg {
        offset: 0,
        align: 2,
        target: MemArgTarget::Memory(0),
        ordering: None,
    };
    module(|s| {
        for i in 0..groups {
            let addr = ((i % 64) * 4 + 0x100) as i32;
            s.i32_const(addr)
                .i32_const(addr + 4)
                .i32_load(arg)
                .i32_const(i as i32 * 7 + 1)
                .i32_add()
                .i32_store(arg);
        }
        s.i32_const(0x100).i32_load(arg);
    })
}

fn main() {
    let (mut h, _arena) = host(16 << 20);

    let big = big_module(3000);
    let mut loads = Vec::new();
    for _ in 0..15 {
        let t = Instant::now();
        let m = h.load(&big).unwrap();
        loads.push(t.elapsed());
        h.run(m, &mut |_| 0).unwrap();
        h.unload(m);
    }
    println!(
        "load of a {} byte module (3000 load/add/store groups): median {:?}",
        big.len(),
        median(loads)
    );

    let small = constant(7);
    let mut loads = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let m = h.load(&small).unwrap();
        loads.push(t.elapsed());
        h.unload(m);
    }
    println!(
        "load of a {} byte trivial module: median {:?}",
        small.len(),
        median(loads)
    );

    let m = h.load(&small).unwrap();
    for _ in 0..10_000 {
        h.run(m, &mut |_| 0).unwrap();
    }
    const BATCH: u32 = 1000;
    let mut batches = Vec::new();
    for _ in 0..1000 {
        let t = Instant::now();
        for _ in 0..BATCH {
            std::hint::black_box(h.run(std::hint::black_box(m), &mut |_| 0).unwrap());
        }
        batches.push(t.elapsed() / BATCH);
    }
    println!(
        "run of a trivial module: median {:?} per call (1000 batches of {BATCH})",
        median(batches)
    );

    let t = h
        .load(&module(|s| {
            s.unreachable();
        }))
        .unwrap();
    let mut traps = Vec::new();
    for _ in 0..1000 {
        let s = Instant::now();
        let _ = std::hint::black_box(h.run(t, &mut |_| 0));
        traps.push(s.elapsed());
    }
    println!("run that traps: median {:?}", median(traps));
}

//! Each store alone and through the threaded adapter.

mod common;

use common::*;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tab86_devices::block::{BlockBackend, BlockError, BlockOp};
use tab86_storage::open::{classify, SourceKind};
use tab86_storage::pack::pack;
use tab86_storage::raw::RawFile;
use tab86_storage::serve::{ServeOptions, Server};
use tab86_storage::{chunked, range, DiskOptions, DiskSpec, Store, Threaded};

#[test]
fn raw_file_reads_writes_flushes_and_rounds_up_to_a_sector() {
    let dir = TempDir::new("raw");
    let path = dir.path("disk.img");
    let mut data = image(100_000, 1); // not a multiple of 512
    std::fs::write(&path, &data).unwrap();
    let store = RawFile::open(&path, false).unwrap();
    assert_eq!(store.size(), 100_352);
    let mut d = Threaded::new(Arc::new(store), 2);
    assert_eq!(d.capacity(), 100_352);
    assert!(!d.read_only());
    let tail = read(&mut d, 99_840, 512).unwrap();
    assert_eq!(&tail[..160], &data[99_840..]);
    assert!(
        tail[160..].iter().all(|&b| b == 0),
        "the rounding tail reads as zeros"
    );
    run(
        &mut d,
        BlockOp::Write {
            offset: 4096,
            data: vec![0xAB; 1024],
        },
    )
    .unwrap();
    run(&mut d, BlockOp::Flush).unwrap();
    data[4096..5120].fill(0xAB);
    assert_eq!(read(&mut d, 0, 99_840).unwrap(), data[..99_840]);
    assert!(matches!(read(&mut d, 100_352, 512), Err(BlockError::Io(_))));
    drop(d);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        data,
        "the write reached the file"
    );
}

#[test]
fn read_only_raw_file_refuses_writes_and_keeps_its_bytes() {
    let dir = TempDir::new("raw-ro");
    let path = dir.path("disk.img");
    let data = image(8192, 2);
    std::fs::write(&path, &data).unwrap();
    let mut d = Threaded::new(Arc::new(RawFile::open(&path, true).unwrap()), 1);
    assert!(d.read_only());
    assert_eq!(
        run(
            &mut d,
            BlockOp::Write {
                offset: 0,
                data: vec![1; 512]
            }
        ),
        Err(BlockError::Unsupported)
    );
    assert_eq!(read(&mut d, 0, 8192).unwrap(), data);
    drop(d);
    assert_eq!(std::fs::read(&path).unwrap(), data);
}

#[test]
fn adapter_keeps_submission_order_between_writes_and_reads() {
    let dir = TempDir::new("order");
    let path = dir.path("disk.img");
    std::fs::write(&path, vec![0u8; 64 << 10]).unwrap();
    let mut d = Threaded::new(Arc::new(RawFile::open(&path, false).unwrap()), 4);
    // Many requests in flight at once: each read must see exactly the writes
    // submitted before it.
    let mut expect = std::collections::HashMap::new();
    for i in 0..64u64 {
        let v = (i % 250) as u8 + 1;
        d.submit(
            2 * i,
            BlockOp::Write {
                offset: (i % 8) * 512,
                data: vec![v; 512],
            },
        );
        d.submit(
            2 * i + 1,
            BlockOp::Read {
                offset: (i % 8) * 512,
                len: 512,
            },
        );
        expect.insert(2 * i + 1, v);
    }
    assert_eq!(d.in_flight(), 128);
    let mut done = Vec::new();
    while done.len() < 128 {
        d.wait(1_000_000_000);
        done.extend(d.poll());
    }
    assert_eq!(d.in_flight(), 0);
    for c in done {
        let data = c.result.unwrap();
        if let Some(v) = expect.get(&c.id) {
            assert_eq!(data, vec![*v; 512], "read {} saw the write before it", c.id);
        }
    }
}

#[test]
fn pack_stores_identical_chunks_once_and_the_folder_reads_back() {
    let dir = TempDir::new("pack");
    let img = image(1_000_000, 3);
    std::fs::write(dir.path("disk.img"), &img).unwrap();
    let rep = pack(&dir.path("disk.img"), &dir.path("out"), 64 << 10).unwrap();
    assert_eq!(rep.size, 1_000_448);
    assert_eq!(rep.chunks, 16);
    // Chunks 3, 7, 11 are all-zero: one file for the three.
    assert_eq!(rep.unique, 14);
    assert_eq!(
        std::fs::read_dir(dir.path("out/chunks")).unwrap().count(),
        14
    );
    let store = chunked::open_dir(&dir.path("out"), quick_opts()).unwrap();
    assert_eq!(store.size(), 1_000_448);
    let mut d = Threaded::new(Arc::new(store), 3);
    let back = read(&mut d, 0, 1_000_448).unwrap();
    assert_eq!(&back[..img.len()], &img[..]);
    assert!(back[img.len()..].iter().all(|&b| b == 0));
    // An unaligned request inside a chunk and one across chunks.
    assert_eq!(read(&mut d, 65_024, 1024).unwrap(), img[65_024..66_048]);
    assert!(d.read_only());
}

#[test]
fn pack_serve_and_the_http_chunked_store_read_back_byte_for_byte() {
    let dir = TempDir::new("pack-serve");
    let img = image(3 << 20, 4);
    std::fs::write(dir.path("disk.img"), &img).unwrap();
    pack(&dir.path("disk.img"), &dir.path("www"), 128 << 10).unwrap();
    let server = Server::start(&dir.path("www"), "127.0.0.1:0", ServeOptions::default()).unwrap();
    let url = format!("http://{}/manifest.json", server.addr());
    assert_eq!(classify(&url), SourceKind::ChunkedHttp(url.clone()));
    let opened = tab86_storage::open(
        &DiskSpec {
            source: url,
            ..DiskSpec::default()
        },
        &DiskOptions {
            fetch: tab86_storage::FetchOptions {
                cache_bytes: 16 << 20,
                ..quick_opts()
            },
            workers: 4,
        },
    )
    .unwrap();
    let mut d = opened.backend;
    // Many reads in flight at once, in a scrambled order, 64 KiB each.
    let n = (3 << 20) / (64 << 10);
    for i in 0..n as u64 {
        let j = (i * 7) % n as u64;
        d.submit(
            j,
            BlockOp::Read {
                offset: j * (64 << 10),
                len: 64 << 10,
            },
        );
    }
    let mut got = 0;
    while got < n {
        d.wait(1_000_000_000);
        for c in d.poll() {
            let at = c.id as usize * (64 << 10);
            assert_eq!(c.result.unwrap(), img[at..at + (64 << 10)], "read {}", c.id);
            got += 1;
        }
    }
    let stats = opened.store.stats().unwrap();
    let fetched = stats.chunks_fetched.load(Ordering::Relaxed);
    // 24 distinct chunks, each fetched once though two reads need each of them.
    assert_eq!(fetched, 24);
    assert!(stats.cache_hits.load(Ordering::Relaxed) > 0);
    // A second pass comes from the cache (it holds the whole image).
    let before = stats.chunks_fetched.load(Ordering::Relaxed);
    assert_eq!(read(&mut d, 0, 512 << 10).unwrap(), img[..512 << 10]);
    assert_eq!(stats.chunks_fetched.load(Ordering::Relaxed), before);
}

#[test]
fn sequential_reads_fetch_chunks_ahead_of_need() {
    let dir = TempDir::new("readahead");
    let img = image(2 << 20, 5);
    std::fs::write(dir.path("disk.img"), &img).unwrap();
    pack(&dir.path("disk.img"), &dir.path("www"), 64 << 10).unwrap();
    let server = Server::start(&dir.path("www"), "127.0.0.1:0", ServeOptions::default()).unwrap();
    let store = chunked::open_http(
        &format!("http://{}/manifest.json", server.addr()),
        quick_opts(),
    )
    .unwrap();
    // Chunks 0, 1, 2 (distinct, non-zero) read one after the other.
    let mut buf = vec![0u8; 64 << 10];
    for i in 0..3u64 {
        store.read_at(i * (64 << 10), &mut buf).unwrap();
        assert_eq!(
            buf,
            img[(i as usize) * (64 << 10)..(i as usize + 1) * (64 << 10)]
        );
    }
    // Chunks after 2 were never asked for, yet read-ahead fetches them.
    let stats = store.stats().unwrap();
    let mut waited = 0;
    while stats.prefetched.load(Ordering::Relaxed) == 0 && waited < 1000 {
        std::thread::sleep(std::time::Duration::from_millis(10));
        waited += 1;
    }
    assert!(
        stats.prefetched.load(Ordering::Relaxed) > 0,
        "{}",
        stats.summary()
    );
    let before = stats.cache_misses.load(Ordering::Relaxed);
    store.read_at(3 * (64 << 10), &mut buf).unwrap();
    assert_eq!(buf, img[3 * (64 << 10)..4 * (64 << 10)]);
    assert_eq!(
        stats.cache_misses.load(Ordering::Relaxed),
        before,
        "chunk 3 was prefetched"
    );
}

#[test]
fn range_store_reads_a_served_raw_image() {
    let dir = TempDir::new("range");
    let img = image(700_000, 6);
    std::fs::write(dir.path("disk.img"), &img).unwrap();
    let server = Server::start(&dir.0, "127.0.0.1:0", ServeOptions::default()).unwrap();
    let url = format!("http://{}/disk.img", server.addr());
    assert_eq!(classify(&url), SourceKind::RangeHttp(url.clone()));
    let store = range::open(&url, quick_opts()).unwrap();
    assert_eq!(store.size(), 700_000);
    let mut d = Threaded::new(Arc::new(store), 2);
    assert_eq!(d.capacity(), 700_416);
    let back = read(&mut d, 0, 700_416).unwrap();
    assert_eq!(&back[..700_000], &img[..]);
    assert!(back[700_000..].iter().all(|&b| b == 0));
    assert_eq!(
        read(&mut d, 131_072 - 512, 1024).unwrap(),
        img[131_072 - 512..131_072 + 512]
    );
}

#[test]
fn sources_are_classified_by_form() {
    let dir = TempDir::new("classify");
    std::fs::write(dir.path("a.img"), b"x").unwrap();
    let p = |s: &str| s.to_string();
    assert_eq!(
        classify(dir.0.to_str().unwrap()),
        SourceKind::ChunkedDir(dir.0.clone())
    );
    assert_eq!(
        classify(dir.path("a.img").to_str().unwrap()),
        SourceKind::RawFile(dir.path("a.img"))
    );
    assert_eq!(
        classify("x/manifest.json"),
        SourceKind::ChunkedDir("x/manifest.json".into())
    );
    assert_eq!(
        classify("http://h/img/"),
        SourceKind::ChunkedHttp(p("http://h/img/manifest.json"))
    );
    assert_eq!(
        classify("http://h/d.img"),
        SourceKind::RangeHttp(p("http://h/d.img"))
    );
    assert!(tab86_storage::open(
        &DiskSpec {
            source: "https://h/x.img".into(),
            ..DiskSpec::default()
        },
        &DiskOptions::default()
    )
    .err()
    .unwrap()
    .contains("https"));
}

#[test]
fn the_threaded_adapter_wakes_its_host_on_each_completion() {
    let dir = TempDir::new("waker");
    let path = dir.path("disk.img");
    std::fs::write(&path, image(8192, 3)).unwrap();
    let mut d = Threaded::new(Arc::new(RawFile::open(&path, true).unwrap()), 2);
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let tx = std::sync::Mutex::new(tx);
    assert!(d.set_waker(Arc::new(move || {
        let _ = tx.lock().unwrap().send(());
    })));
    for i in 0..3u64 {
        d.submit(
            i,
            BlockOp::Read {
                offset: i * 512,
                len: 512,
            },
        );
    }
    // Three wake-ups arrive without the host polling, and each finds its
    // completion ready.
    let mut done = 0;
    while done < 3 {
        rx.recv_timeout(std::time::Duration::from_secs(30))
            .expect("a wake-up for each completion");
        done += d.poll().len();
        assert!(done <= 3);
    }
    assert_eq!(d.in_flight(), 0);
}

//! Remote stores against servers that misbehave: every failure reaches the
//! guest as an I/O error with a clear message, in bounded time, and requests
//! that do not need the bad data still succeed.

mod common;

use common::*;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tab86_devices::block::BlockError;
use tab86_storage::chunked::{self, hex, Manifest};
use tab86_storage::pack::pack;
use tab86_storage::serve::{ServeOptions, Server};
use tab86_storage::{range, Store, Threaded};

const CHUNK: usize = 64 << 10;

/// Packs a 512 KiB image (8 chunks of 64 KiB; chunks 3 and 7 are all-zero).
fn packed(name: &str) -> (TempDir, Vec<u8>, Manifest) {
    let dir = TempDir::new(name);
    let img = image(8 * CHUNK, 7);
    std::fs::write(dir.path("disk.img"), &img).unwrap();
    pack(&dir.path("disk.img"), &dir.path("www"), CHUNK as u64).unwrap();
    let m = Manifest::parse(&std::fs::read(dir.path("www/manifest.json")).unwrap()).unwrap();
    (dir, img, m)
}

fn io_message(r: Result<Vec<u8>, BlockError>) -> String {
    match r {
        Err(BlockError::Io(m)) => m,
        other => panic!("expected an I/O error, got {:?}", other.map(|v| v.len())),
    }
}

#[test]
fn a_corrupted_chunk_fails_only_the_requests_that_need_it() {
    let (dir, img, m) = packed("corrupt");
    let bad = dir.path(&format!("www/chunks/{}", hex(&m.chunks[1])));
    let mut data = std::fs::read(&bad).unwrap();
    data[100] ^= 1;
    std::fs::write(&bad, data).unwrap();
    let server = Server::start(&dir.path("www"), "127.0.0.1:0", ServeOptions::default()).unwrap();
    let store = chunked::open_http(
        &format!("http://{}/manifest.json", server.addr()),
        quick_opts(),
    )
    .unwrap();
    let mut d = Threaded::new(Arc::new(store), 2);
    let msg = io_message(read(&mut d, CHUNK as u64, 512));
    assert!(
        msg.contains("SHA-256 mismatch") && msg.contains("chunk 1"),
        "{msg}"
    );
    // A request spanning the bad chunk fails too; the others are served.
    assert!(read(&mut d, 0, 2 * CHUNK).is_err());
    assert_eq!(read(&mut d, 0, CHUNK).unwrap(), img[..CHUNK]);
    assert_eq!(
        read(&mut d, 2 * CHUNK as u64, 4 * CHUNK).unwrap(),
        img[2 * CHUNK..6 * CHUNK]
    );
    // The same holds for a local folder.
    let store = chunked::open_dir(&dir.path("www"), quick_opts()).unwrap();
    let mut buf = vec![0; 512];
    let e = store.read_at(CHUNK as u64 + 512, &mut buf).unwrap_err();
    assert!(e.to_string().contains("SHA-256 mismatch"), "{e}");
    store.read_at(5 * CHUNK as u64, &mut buf).unwrap();
    assert_eq!(buf, img[5 * CHUNK..5 * CHUNK + 512]);
}

#[test]
fn server_errors_are_retried_then_fail() {
    let (dir, img, m) = packed("500");
    let bad = format!("/chunks/{}", hex(&m.chunks[2]));
    let flaky = format!("/chunks/{}", hex(&m.chunks[4]));
    let server = FaultServer::start(&dir.path("www"), move |path, nth| {
        if path == bad {
            Act::Status(500)
        } else if path == flaky && nth == 1 {
            Act::Status(503)
        } else {
            Act::Serve
        }
    });
    let store = chunked::open_http(&server.url("manifest.json"), quick_opts()).unwrap();
    let mut buf = vec![0; CHUNK];
    let before = server.count();
    let e = store
        .read_at(2 * CHUNK as u64, &mut buf)
        .unwrap_err()
        .to_string();
    assert!(e.contains("500") && e.contains("after 2 retries"), "{e}");
    assert_eq!(server.count() - before, 3, "one try and two retries");
    // A transient 503 is retried and the read succeeds.
    store.read_at(4 * CHUNK as u64, &mut buf).unwrap();
    assert_eq!(buf, img[4 * CHUNK..5 * CHUNK]);
    let stats = store.stats().unwrap();
    assert_eq!(stats.retries.load(Ordering::Relaxed), 3);
    assert_eq!(stats.failures.load(Ordering::Relaxed), 1);
    // A missing chunk (404) is permanent: no retries.
    let gone = dir.path(&format!("www/chunks/{}", hex(&m.chunks[5])));
    std::fs::remove_file(gone).unwrap();
    let e = store
        .read_at(5 * CHUNK as u64, &mut buf)
        .unwrap_err()
        .to_string();
    assert!(e.contains("404") && !e.contains("retries"), "{e}");
}

#[test]
fn connections_closed_mid_response_are_retried_then_fail() {
    let (dir, img, m) = packed("cut");
    let always = format!("/chunks/{}", hex(&m.chunks[0]));
    let once = format!("/chunks/{}", hex(&m.chunks[1]));
    let server = FaultServer::start(&dir.path("www"), move |path, nth| {
        if path == always || (path == once && nth == 1) {
            Act::CutBody
        } else {
            Act::Serve
        }
    });
    let store = chunked::open_http(&server.url("manifest.json"), quick_opts()).unwrap();
    let mut d = Threaded::new(Arc::new(store), 2);
    assert_eq!(
        read(&mut d, CHUNK as u64, CHUNK).unwrap(),
        img[CHUNK..2 * CHUNK]
    );
    let msg = io_message(read(&mut d, 0, 512));
    assert!(msg.contains("closed") && msg.contains("retries"), "{msg}");
}

#[test]
fn a_stalled_server_fails_the_request_instead_of_hanging() {
    let (dir, img, m) = packed("stall");
    let stuck = format!("/chunks/{}", hex(&m.chunks[6]));
    let server = FaultServer::start(&dir.path("www"), move |path, _| {
        if path == stuck {
            Act::Stall
        } else {
            Act::Serve
        }
    });
    let store = chunked::open_http(&server.url("manifest.json"), quick_opts()).unwrap();
    let mut d = Threaded::new(Arc::new(store), 2);
    let msg = io_message(read(&mut d, 6 * CHUNK as u64, 4096));
    assert!(msg.contains("stalled") || msg.contains("deadline"), "{msg}");
    assert_eq!(read(&mut d, 0, CHUNK).unwrap(), img[..CHUNK]);
}

#[test]
fn range_store_survives_faults_and_refuses_a_server_without_ranges() {
    let dir = TempDir::new("range-faults");
    let img = image(300_000, 8);
    std::fs::write(dir.path("disk.img"), &img).unwrap();
    let server = FaultServer::start(&dir.0, |_, nth| match nth {
        2 => Act::Status(502), // the first piece request after HEAD
        3 => Act::CutBody,
        _ => Act::Serve,
    });
    let store = range::open(&server.url("disk.img"), quick_opts()).unwrap();
    let mut buf = vec![0u8; 300_000];
    store.read_at(0, &mut buf).unwrap();
    assert_eq!(buf, img);
    assert!(store.stats().unwrap().retries.load(Ordering::Relaxed) >= 2);

    let plain = FaultServer::start(&dir.0, |_, _| Act::IgnoreRange);
    let store = range::open(&plain.url("disk.img"), quick_opts()).unwrap();
    let e = store.read_at(0, &mut buf[..512]).unwrap_err().to_string();
    assert!(e.contains("ignored the Range"), "{e}");
    assert!(range::open(&plain.url("missing.img"), quick_opts())
        .err()
        .unwrap()
        .contains("404"));
}

#[test]
fn a_bad_manifest_is_refused_at_open() {
    let (dir, _, _) = packed("bad-manifest");
    std::fs::write(
        dir.path("www/manifest.json"),
        br#"{"format":"tab86-chunked-v1","size":10}"#,
    )
    .unwrap();
    let e = chunked::open_dir(&dir.path("www"), quick_opts())
        .err()
        .unwrap();
    assert!(e.contains("chunk_size"), "{e}");
    let server = FaultServer::start(&dir.path("www"), |_, _| Act::Status(500));
    let e = chunked::open_http(&server.url("manifest.json"), quick_opts())
        .err()
        .unwrap();
    assert!(e.contains("500"), "{e}");
}

#[test]
fn a_trickling_server_hits_the_request_deadline() {
    let (dir, img, m) = packed("trickle");
    let slow = format!("/chunks/{}", hex(&m.chunks[0]));
    let server = FaultServer::start(&dir.path("www"), move |path, _| {
        if path == slow {
            Act::Trickle
        } else {
            Act::Serve
        }
    });
    let store = chunked::open_http(&server.url("manifest.json"), quick_opts()).unwrap();
    let mut buf = vec![0; 512];
    let e = store.read_at(0, &mut buf).unwrap_err().to_string();
    assert!(e.contains("deadline"), "{e}");
    store.read_at(CHUNK as u64, &mut buf).unwrap();
    assert_eq!(buf, img[CHUNK..CHUNK + 512]);
}

#[test]
fn chunked_transfer_encoding_is_understood() {
    let (dir, img, _) = packed("te-chunked");
    let server = FaultServer::start(&dir.path("www"), |_, _| Act::Chunked);
    let store = chunked::open_http(&server.url("manifest.json"), quick_opts()).unwrap();
    let mut buf = vec![0; 8 * CHUNK];
    store.read_at(0, &mut buf).unwrap();
    assert_eq!(buf, img);
}

#[test]
fn range_size_comes_from_a_one_byte_get_when_head_is_refused() {
    let dir = TempDir::new("nohead");
    let img = image(100_000, 12);
    std::fs::write(dir.path("nohead.img"), &img).unwrap();
    let server = FaultServer::start(&dir.0, |_, _| Act::Serve);
    let store = range::open(&server.url("nohead.img"), quick_opts()).unwrap();
    assert_eq!(store.size(), 100_000);
    let mut buf = vec![0u8; 100_000];
    store.read_at(0, &mut buf).unwrap();
    assert_eq!(buf, img);
}

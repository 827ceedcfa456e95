//! The copy-on-write overlay: merges with its base, survives reopen, never
//! writes the base, refuses a different base, and detects damage at open.

mod common;

use common::*;
use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Arc;
use tab86_devices::block::{BlockBackend, BlockOp};
use tab86_storage::overlay::Overlay;
use tab86_storage::pack::pack;
use tab86_storage::raw::RawFile;
use tab86_storage::serve::{ServeOptions, Server};
use tab86_storage::{DiskOptions, DiskSpec, Store, Threaded};

const SIZE: usize = 3 << 20;

fn base(dir: &TempDir, seed: u64) -> (std::path::PathBuf, Vec<u8>) {
    let p = dir.path(&format!("base{seed}.img"));
    let img = image(SIZE, seed);
    std::fs::write(&p, &img).unwrap();
    (p, img)
}

fn open(base: &Path, ov: &Path) -> std::io::Result<Overlay> {
    Overlay::open(ov, Box::new(RawFile::open(base, true).unwrap()))
}

fn read_all(s: &dyn Store) -> Vec<u8> {
    let mut buf = vec![0u8; s.size() as usize];
    s.read_at(0, &mut buf).unwrap();
    buf
}

#[test]
fn writes_merge_with_the_base_survive_reopen_and_never_touch_the_base() {
    let dir = TempDir::new("ov");
    let (bp, img) = base(&dir, 1);
    let base_hash = sha(&std::fs::read(&bp).unwrap());
    let ov = dir.path("disk.ovl");
    let mut want = img.clone();
    {
        let spec = DiskSpec {
            source: bp.to_str().unwrap().into(),
            overlay: Some(ov.clone()),
            read_only: false,
        };
        let mut d = tab86_storage::open(&spec, &DiskOptions::default())
            .unwrap()
            .backend;
        assert!(!d.read_only());
        // Unaligned to the 4 KiB blocks, spanning three of them, plus one sector far away.
        run(
            &mut d,
            BlockOp::Write {
                offset: 3584,
                data: vec![0x11; 9216],
            },
        )
        .unwrap();
        run(
            &mut d,
            BlockOp::Write {
                offset: 2 << 20,
                data: vec![0x22; 512],
            },
        )
        .unwrap();
        // Rewrite part of an overlay block in place.
        run(
            &mut d,
            BlockOp::Write {
                offset: 4096,
                data: vec![0x33; 512],
            },
        )
        .unwrap();
        want[3584..12800].fill(0x11);
        want[2 << 20..(2 << 20) + 512].fill(0x22);
        want[4096..4608].fill(0x33);
        assert_eq!(read(&mut d, 0, SIZE).unwrap(), want);
        assert_eq!(read(&mut d, 3072, 2048).unwrap(), want[3072..5120]);
        run(&mut d, BlockOp::Flush).unwrap();
    }
    let o = open(&bp, &ov).unwrap();
    assert_eq!(o.blocks_stored(), 5);
    assert_eq!(read_all(&o), want);
    // More writes across several index groups (504 blocks each), flushed, reopened.
    for i in 0..1200u64 {
        let at = (i * 2 + 7) * 1024 % (SIZE as u64 - 1024);
        let v = (i % 200) as u8 + 30;
        o.write_at(at, &[v; 1024]).unwrap();
        want[at as usize..at as usize + 1024].fill(v);
    }
    o.flush().unwrap();
    drop(o);
    let o = open(&bp, &ov).unwrap();
    assert!(o.blocks_stored() > 504);
    assert_eq!(read_all(&o), want);
    drop(o);
    assert_eq!(
        sha(&std::fs::read(&bp).unwrap()),
        base_hash,
        "the base was not written"
    );
}

#[test]
fn an_overlay_for_another_base_is_refused() {
    let dir = TempDir::new("ov-mismatch");
    let (b1, _) = base(&dir, 1);
    let (b2, _) = base(&dir, 2);
    let ov = dir.path("disk.ovl");
    let o = open(&b1, &ov).unwrap();
    o.write_at(0, &[1; 512]).unwrap();
    o.flush().unwrap();
    drop(o);
    let e = open(&b2, &ov).err().unwrap().to_string();
    assert!(e.contains("different base"), "{e}");
    // Same bytes but a different size is another base too.
    let b3 = dir.path("bigger.img");
    let mut img = std::fs::read(&b1).unwrap();
    img.extend_from_slice(&[0; 4096]);
    std::fs::write(&b3, img).unwrap();
    assert!(open(&b3, &ov)
        .err()
        .unwrap()
        .to_string()
        .contains("different base"));
    // And the original still opens.
    assert!(open(&b1, &ov).is_ok());
}

#[test]
fn unflushed_writes_cut_off_by_a_crash_recover_to_the_last_flush() {
    let dir = TempDir::new("ov-torn");
    let (bp, img) = base(&dir, 3);
    let ov = dir.path("disk.ovl");
    let o = open(&bp, &ov).unwrap();
    o.write_at(8192, &[0x44; 4096]).unwrap();
    o.flush().unwrap();
    let flushed_len = std::fs::metadata(&ov).unwrap().len();
    // Not flushed: two new blocks, then "crash" with the second half-written.
    o.write_at(40960, &[0x55; 8192]).unwrap();
    std::mem::forget(o); // no final flush, as in a crash
    let full = std::fs::metadata(&ov).unwrap().len();
    assert!(full > flushed_len);
    // The lock belongs to the leaked handle; a crashed process would release it.
    let f = OpenOptions::new().write(true).open(&ov).unwrap();
    f.set_len(full - 2048).unwrap();
    drop(f);
    let o = reopen_unlocked(&bp, &ov);
    let mut want = img.clone();
    want[8192..12288].fill(0x44);
    assert_eq!(
        read_all(&o),
        want,
        "flushed data kept, unflushed data dropped"
    );
    // It keeps working after recovery.
    o.write_at(40960, &[0x66; 512]).unwrap();
    o.flush().unwrap();
    drop(o);
    want[40960..41472].fill(0x66);
    assert_eq!(read_all(&open(&bp, &ov).unwrap()), want);
}

/// Reopens an overlay whose previous handle was leaked (simulated crash): the
/// flock is per open file description, so copy the file to drop the lock.
fn reopen_unlocked(bp: &Path, ov: &Path) -> Overlay {
    let copy = ov.with_extension("copy");
    std::fs::copy(ov, &copy).unwrap();
    std::fs::rename(&copy, ov).unwrap();
    open(bp, ov).unwrap()
}

#[test]
fn damage_to_flushed_state_is_refused_not_read_as_zeros() {
    let dir = TempDir::new("ov-damage");
    let (bp, _) = base(&dir, 4);
    let ov = dir.path("disk.ovl");
    let o = open(&bp, &ov).unwrap();
    for i in 0..10u64 {
        o.write_at(i * 8192, &[0x77; 4096]).unwrap();
    }
    o.flush().unwrap();
    drop(o);
    let good = std::fs::read(&ov).unwrap();

    // Truncated into flushed data.
    std::fs::write(&ov, &good[..good.len() - 4096]).unwrap();
    let e = open(&bp, &ov).err().unwrap().to_string();
    assert!(e.contains("truncated"), "{e}");
    // Truncated into the header.
    std::fs::write(&ov, &good[..5000]).unwrap();
    assert!(open(&bp, &ov)
        .err()
        .unwrap()
        .to_string()
        .contains("truncated"));
    // The index of flushed blocks damaged (both copies).
    let mut bad = good.clone();
    bad[12288 + 40] ^= 0xff;
    bad[16384 + 40] ^= 0xff;
    std::fs::write(&ov, &bad).unwrap();
    let e = open(&bp, &ov).err().unwrap().to_string();
    assert!(e.contains("index of group 0"), "{e}");
    // Both superblocks damaged.
    let mut bad = good.clone();
    bad[4096 + 10] ^= 1;
    bad[8192 + 10] ^= 1;
    std::fs::write(&ov, &bad).unwrap();
    assert!(open(&bp, &ov)
        .err()
        .unwrap()
        .to_string()
        .contains("superblock"));
    // Not an overlay at all.
    std::fs::write(&ov, vec![0u8; 20000]).unwrap();
    assert!(open(&bp, &ov)
        .err()
        .unwrap()
        .to_string()
        .contains("not a tab86 overlay"));
}

#[test]
fn a_torn_flush_falls_back_to_the_previous_one() {
    let dir = TempDir::new("ov-torn-flush");
    let (bp, img) = base(&dir, 5);
    let ov = dir.path("disk.ovl");
    let o = open(&bp, &ov).unwrap();
    o.write_at(0, &[0x10; 4096]).unwrap();
    o.flush().unwrap(); // generation 1: super copy B, index copy 0
    let after_first = std::fs::read(&ov).unwrap();
    o.write_at(4096, &[0x20; 4096]).unwrap();
    o.flush().unwrap(); // generation 2: index copy 1, then super copy A
    drop(o);
    // Simulate a crash while superblock 2 was being written: copy A torn.
    let mut torn = std::fs::read(&ov).unwrap();
    torn[4096 + 100..8192].fill(0);
    std::fs::write(&ov, &torn).unwrap();
    let o = open(&bp, &ov).unwrap();
    let mut want = img.clone();
    want[..4096].fill(0x10);
    assert_eq!(read_all(&o), want, "state of the first flush");
    drop(o);
    // Simulate a crash while the index was written (before superblock 2): the
    // new index copy is torn, the old superblock and index copy stand.
    let mut torn = std::fs::read(&ov).unwrap();
    torn[..12288].copy_from_slice(&after_first[..12288]);
    torn[16384 + 30..20480].fill(0xee);
    std::fs::write(&ov, &torn).unwrap();
    assert_eq!(read_all(&open(&bp, &ov).unwrap()), want);
}

#[test]
fn overlay_over_a_chunked_http_image_is_tied_to_its_manifest() {
    let dir = TempDir::new("ov-chunked");
    let img = image(1 << 20, 9);
    std::fs::write(dir.path("disk.img"), &img).unwrap();
    pack(&dir.path("disk.img"), &dir.path("www"), 64 << 10).unwrap();
    let server = Server::start(&dir.path("www"), "127.0.0.1:0", ServeOptions::default()).unwrap();
    let spec = DiskSpec {
        source: format!("http://{}/manifest.json", server.addr()),
        overlay: Some(dir.path("disk.ovl")),
        read_only: false,
    };
    let opts = DiskOptions {
        fetch: quick_opts(),
        workers: 2,
    };
    let mut want = img.clone();
    {
        let mut d = tab86_storage::open(&spec, &opts).unwrap().backend;
        run(
            &mut d,
            BlockOp::Write {
                offset: 70_000 - 70_000 % 512,
                data: vec![9; 4096],
            },
        )
        .unwrap();
        let at = 70_000 - 70_000 % 512;
        want[at..at + 4096].fill(9);
        assert_eq!(read(&mut d, 0, 1 << 20).unwrap(), want);
    } // dropping the backend flushes
    let d: Arc<dyn Store> = Arc::from(tab86_storage::open::open_store(&spec, &opts).unwrap());
    let mut t = Threaded::new(d, 1);
    assert_eq!(read(&mut t, 0, 1 << 20).unwrap(), want);
    drop(t);
    // Re-pack a different image into the served folder: the overlay refuses it.
    std::fs::write(dir.path("disk.img"), image(1 << 20, 10)).unwrap();
    pack(&dir.path("disk.img"), &dir.path("www"), 64 << 10).unwrap();
    let e = tab86_storage::open(&spec, &opts).err().unwrap();
    assert!(e.contains("different base"), "{e}");
}

#[test]
fn a_base_ending_mid_block_is_handled_at_the_edge() {
    let dir = TempDir::new("ov-edge");
    let bp = dir.path("small.img");
    let img = image(10_240, 11); // two and a half 4 KiB blocks
    std::fs::write(&bp, &img).unwrap();
    let ov = dir.path("small.ovl");
    let o = open(&bp, &ov).unwrap();
    assert_eq!(o.size(), 10_240);
    o.write_at(9_728, &[0xcc; 512]).unwrap(); // the last sector
    o.flush().unwrap();
    drop(o);
    let o = open(&bp, &ov).unwrap();
    let mut want = img.clone();
    want[9_728..].fill(0xcc);
    assert_eq!(read_all(&o), want);
    let mut d = Threaded::new(Arc::new(o), 1);
    assert_eq!(d.capacity(), 10_240);
    assert!(read(&mut d, 10_240, 512).is_err(), "past the end");
    assert!(run(
        &mut d,
        BlockOp::Write {
            offset: 10_240,
            data: vec![0; 512]
        }
    )
    .is_err());
    assert_eq!(sha(&std::fs::read(&bp).unwrap()), sha(&img));
}

#[test]
fn a_new_overlay_appears_only_complete() {
    // Overlay::open writes a new overlay as NAME.new, syncs it and links it
    // into place: a crash while creating leaves at most a NAME.new, which the
    // next open replaces, never a half-written NAME that it would refuse.
    let dir = TempDir::new("ov-create");
    let (bp, img) = base(&dir, 6);
    let ov = dir.path("disk.ovl");
    std::fs::write(dir.path("disk.ovl.new"), b"TAB86COW, half a header").unwrap();
    let o = open(&bp, &ov).unwrap();
    assert!(!dir.path("disk.ovl.new").exists());
    o.write_at(0, &[1; 512]).unwrap();
    o.flush().unwrap();
    drop(o);
    let mut want = img;
    want[..512].fill(1);
    assert_eq!(read_all(&open(&bp, &ov).unwrap()), want);
}

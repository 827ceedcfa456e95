//! One overlay format on both sides: the host-driven disk (the sans-I/O core
//! the wasm package runs, here with a native file and fetches answered from a
//! packed folder) and the native overlay store open each other's overlays.

mod common;

use common::*;
use std::fs::OpenOptions;
use std::path::Path;
use tab86_devices::block::{BlockBackend, BlockOp};
use tab86_storage::core::cow::OverlayFile;
use tab86_storage::core::hostdisk::{Base, HostDisk, HostDiskOptions, SharedDisk};
use tab86_storage::pack::pack;
use tab86_storage::{DiskOptions, DiskSpec, Threaded};

const SIZE: usize = 2 << 20;

/// A host-driven disk over the packed folder with an overlay file at `ov`.
fn host_disk(packed: &Path, ov: &Path) -> SharedDisk {
    let manifest_path = packed.join("manifest.json");
    let manifest = std::fs::read(&manifest_path).unwrap();
    let base = Base::chunked(manifest_path.to_str().unwrap(), &manifest).unwrap();
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(ov)
        .unwrap();
    let fresh = f.metadata().unwrap().len() == 0;
    let file: Box<dyn OverlayFile> = Box::new(f);
    let d = HostDisk::new(
        base,
        Some((file, fresh, ov.display().to_string())),
        false,
        HostDiskOptions::default(),
    )
    .unwrap();
    SharedDisk::new(d)
}

/// Runs one request on the host-driven disk, playing the host: every fetch
/// it posts is answered by reading the file it names.
fn host_run(d: &mut SharedDisk, id: u64, op: BlockOp) -> Vec<u8> {
    d.submit(id, op);
    loop {
        if let Some(c) = d.poll().into_iter().next() {
            assert_eq!(c.id, id);
            return c.result.expect("request succeeded");
        }
        let reqs = d.0.borrow_mut().take_fetches();
        assert!(!reqs.is_empty(), "a request waits but nothing was fetched");
        for r in reqs {
            let bytes = std::fs::read(&r.url).unwrap();
            d.0.borrow_mut().complete_fetch(r.id, bytes);
        }
    }
}

fn native(packed: &Path, ov: &Path) -> Threaded {
    let spec = DiskSpec {
        source: packed.display().to_string(),
        overlay: Some(ov.to_path_buf()),
        read_only: false,
    };
    tab86_storage::open(&spec, &DiskOptions::default())
        .unwrap()
        .backend
}

#[test]
fn overlays_written_by_either_side_open_on_the_other() {
    let dir = TempDir::new("hostdisk-cross");
    let img = image(SIZE, 11);
    std::fs::write(dir.path("base.img"), &img).unwrap();
    pack(&dir.path("base.img"), &dir.path("packed"), 64 << 10).unwrap();
    let packed = dir.path("packed");

    // Host-driven disk writes (a partial block and a run of whole ones), flushes.
    let ov = dir.path("from-host.cow");
    {
        let mut d = host_disk(&packed, &ov);
        host_run(
            &mut d,
            1,
            BlockOp::Write {
                offset: 70_000 & !511,
                data: vec![0x5A; 1536],
            },
        );
        host_run(
            &mut d,
            2,
            BlockOp::Write {
                offset: 1 << 20,
                data: vec![0xC3; 3 * 4096],
            },
        );
        host_run(&mut d, 3, BlockOp::Flush);
    }
    let mut want = img.clone();
    let a = 70_000 & !511;
    want[a..a + 1536].fill(0x5A);
    want[1 << 20..(1 << 20) + 3 * 4096].fill(0xC3);
    // The native overlay store reads it back, merged with the base.
    let mut n = native(&packed, &ov);
    assert_eq!(
        read(&mut n, 0, SIZE).unwrap(),
        want,
        "native view of a host-written overlay"
    );
    // Native writes on top, flushes, closes.
    run(
        &mut n,
        BlockOp::Write {
            offset: 4096 * 7,
            data: vec![0x11; 4096],
        },
    )
    .unwrap();
    run(&mut n, BlockOp::Flush).unwrap();
    drop(n);
    want[4096 * 7..4096 * 8].fill(0x11);
    // And the host-driven disk sees both.
    let mut d = host_disk(&packed, &ov);
    assert_eq!(
        host_run(
            &mut d,
            4,
            BlockOp::Read {
                offset: 0,
                len: SIZE
            }
        ),
        want
    );

    // A fresh overlay written natively opens on the host-driven disk.
    let ov2 = dir.path("from-native.cow");
    let mut n = native(&packed, &ov2);
    run(
        &mut n,
        BlockOp::Write {
            offset: 512,
            data: vec![0x77; 512],
        },
    )
    .unwrap();
    run(&mut n, BlockOp::Flush).unwrap();
    drop(n);
    let mut want2 = img.clone();
    want2[512..1024].fill(0x77);
    let mut d = host_disk(&packed, &ov2);
    assert_eq!(
        host_run(
            &mut d,
            5,
            BlockOp::Read {
                offset: 0,
                len: SIZE
            }
        ),
        want2
    );
}

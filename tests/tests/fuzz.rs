//! Fuzz targets, each run for a bounded time on every CI run (see
//! `tab86_tests::fuzz` for the engine, the knobs and how to replay a failure):
//! random code on the CPU in real and protected mode, the bzImage and multiboot
//! loaders, the chunked-image manifest, the copy-on-write overlay's file format,
//! and the virtio-blk device under a hostile driver. Every input must end in a
//! defined way (a value, an error, a guest fault); a panic is a bug.
//!
//! A longer run: `TAB86_FUZZ_SECS=300 cargo test --profile ci -p tab86-tests --test fuzz -- --nocapture --test-threads 1`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use tab86_tests::fuzz::fuzz;

/// A minimal i386 ELF executable whose one PT_LOAD segment at 0x400000 is `code`.
fn elf_with(code: &[u8]) -> Vec<u8> {
    let mut e = vec![0u8; 0x54];
    e[..4].copy_from_slice(b"\x7fELF");
    e[4] = 1; // ELFCLASS32
    e[5] = 1; // little-endian
    e[6] = 1;
    e[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    e[18..20].copy_from_slice(&3u16.to_le_bytes()); // EM_386
    e[20..24].copy_from_slice(&1u32.to_le_bytes());
    e[24..28].copy_from_slice(&0x40_0054u32.to_le_bytes()); // entry
    e[28..32].copy_from_slice(&0x34u32.to_le_bytes()); // phoff
    e[40..42].copy_from_slice(&0x34u16.to_le_bytes());
    e[42..44].copy_from_slice(&0x20u16.to_le_bytes());
    e[44..46].copy_from_slice(&1u16.to_le_bytes());
    let ph = 0x34;
    let total = (0x54 + code.len()) as u32;
    e[ph..ph + 4].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    e[ph + 8..ph + 12].copy_from_slice(&0x40_0000u32.to_le_bytes());
    e[ph + 16..ph + 20].copy_from_slice(&total.to_le_bytes());
    e[ph + 20..ph + 24].copy_from_slice(&(total + 0x1_0000).to_le_bytes());
    e[ph + 24..ph + 28].copy_from_slice(&7u32.to_le_bytes());
    e.extend_from_slice(code);
    e
}

/// Seeds of real instruction streams: common integer, stack, string, x87 and
/// system forms, so mutations start near code a compiler emits.
fn code_seeds() -> Vec<Vec<u8>> {
    vec![
        vec![0x31, 0xC0, 0x40, 0x01, 0xC3, 0xEB, 0xFA],
        vec![
            0x55, 0x89, 0xE5, 0x83, 0xEC, 0x10, 0x8B, 0x45, 0x08, 0xC9, 0xC3,
        ],
        vec![0xF3, 0xA5, 0xF3, 0xAB, 0xF2, 0xAE, 0xFC, 0xFD, 0xAC],
        vec![
            0xD9, 0xE8, 0xD9, 0xEE, 0xDE, 0xC1, 0xD9, 0xFA, 0xDD, 0xD8, 0xDB, 0xE3,
        ],
        vec![0x0F, 0xA2, 0x0F, 0x31, 0x9C, 0x9D, 0xFA, 0xFB, 0xCD, 0x80],
        vec![
            0x66, 0x0F, 0x6F, 0xC1, 0x0F, 0x58, 0xC1, 0x0F, 0xC6, 0xC0, 0x1B,
        ],
        vec![
            0x8E, 0xD8, 0x0F, 0x01, 0x15, 0, 0, 0, 0, 0x0F, 0x22, 0xC0, 0xEA, 0, 0, 0, 0, 8, 0,
        ],
    ]
}

#[test]
fn cpu_random_code_protected_mode() {
    fuzz("cpu-pm", &code_seeds(), 512, |code| {
        let out = tab86_tests::native::run_elf(&elf_with(code), 5_000);
        // Any fault is reported as an error, not a panic; the run is bounded.
        let _ = out;
    });
}

#[test]
fn cpu_random_code_real_mode() {
    use tab86_cpu::{Cpu, NullBus, PhysMem};
    // One CPU, reset and its RAM cleared for every input (building one per input
    // was most of the time).
    let cpu = RefCell::new(Cpu::new(PhysMem::new(1 << 20)));
    fuzz("cpu-real", &code_seeds(), 512, |code| {
        let mut cpu = cpu.borrow_mut();
        cpu.reset();
        cpu.mem.ram_mut().fill(0);
        cpu.mem.write_bytes(0x7C00, code);
        cpu.invalidate_all();
        cpu.state.eip = 0x7C00;
        cpu.set_cs_real(0);
        let _ = cpu.run(&mut NullBus, 5_000);
    });
}

/// A bzImage with a valid setup header (protocol 2.15) and 4 KiB of kernel.
fn bzimage_seed() -> Vec<u8> {
    let mut k = vec![0u8; 2 * 512 + 4096];
    k[0x1F1] = 1;
    k[0x1F4..0x1F8].copy_from_slice(&(4096u32 / 16).to_le_bytes());
    k[0x1FE] = 0x55;
    k[0x1FF] = 0xAA;
    k[0x200..0x202].copy_from_slice(&[0xEB, 0x6A]); // jump over the header (ends at 0x26C)
    k[0x202..0x206].copy_from_slice(b"HdrS");
    k[0x206..0x208].copy_from_slice(&0x020Fu16.to_le_bytes());
    k[0x211] = 0x01;
    k[0x22C..0x230].copy_from_slice(&0x37FF_FFFFu32.to_le_bytes());
    k[0x230..0x234].copy_from_slice(&0x1000u32.to_le_bytes()); // kernel_alignment
    k[0x238..0x23C].copy_from_slice(&2047u32.to_le_bytes());
    k[0x260..0x264].copy_from_slice(&0x10_0000u32.to_le_bytes()); // init_size
    k
}

#[test]
fn linux_loader() {
    use tab86_bios::{load_linux, pc_e820_map, LinuxBootOptions};
    let ram = RefCell::new(vec![0u8; 16 << 20]);
    let e820 = pc_e820_map(16 << 20).unwrap();
    fuzz("bzimage", &[bzimage_seed()], 16 << 10, |img| {
        let mut ram = ram.borrow_mut();
        let initrd = [0x5Au8; 3000];
        let mut opts = LinuxBootOptions::new("console=ttyS0", &e820);
        if img.len() % 2 == 0 {
            opts = opts.with_initrd(&initrd);
        }
        if let Ok(l) = load_linux(&mut *ram, img, &opts) {
            let _ = l;
        }
    });
}

/// A multiboot kernel with the a.out kludge: header at 0, loaded at 1 MiB.
fn multiboot_seed() -> Vec<u8> {
    let mut k = vec![0u8; 8192];
    let flags: u32 = 0x0001_0003;
    let magic: u32 = 0x1BAD_B002;
    let words = [
        magic,
        flags,
        0u32.wrapping_sub(magic.wrapping_add(flags)),
        0x10_0000,
        0x10_0000,
        0x10_2000,
        0x10_4000,
        0x10_0020,
    ];
    for (i, w) in words.iter().enumerate() {
        k[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
    }
    k[0x20] = 0xF4;
    k
}

#[test]
fn multiboot_loader() {
    use tab86_bios::{load_multiboot, pc_e820_map, MultibootModule, MultibootOptions};
    let ram = RefCell::new(vec![0u8; 16 << 20]);
    let e820 = pc_e820_map(16 << 20).unwrap();
    let mut elf = elf_with(&[0xF4; 64]);
    // The multiboot header must be in the first 8 KiB: put one (without the
    // a.out kludge) after the ELF image.
    let (magic, flags) = (0x1BAD_B002u32, 0x0000_0003u32);
    for w in [magic, flags, 0u32.wrapping_sub(magic.wrapping_add(flags))] {
        elf.extend_from_slice(&w.to_le_bytes());
    }
    fuzz("multiboot", &[multiboot_seed(), elf], 16 << 10, |img| {
        let mut ram = ram.borrow_mut();
        let module = [7u8; 100];
        let modules = [MultibootModule {
            data: &module,
            cmdline: "mod",
        }];
        let opts = MultibootOptions {
            cmdline: "test",
            modules: if img.len() % 2 == 0 { &modules } else { &[] },
            e820: &e820,
        };
        let _ = load_multiboot(&mut *ram, img, &opts);
    });
}

#[test]
fn chunked_manifest() {
    use tab86_storage::chunked::Manifest;
    let seeds = vec![
        Manifest::to_json(1 << 20, 256 << 10, &[[1u8; 32], [2; 32], [3; 32], [4; 32]]).into_bytes(),
        Manifest::to_json(1000, 4096, &[[0xAB; 32]]).into_bytes(),
    ];
    fuzz("manifest", &seeds, 4096, |bytes| {
        if let Ok(m) = Manifest::parse(bytes) {
            // A parsed manifest is self-consistent: every chunk has a length.
            for i in 0..4 {
                let _ = m.chunk_len(i);
            }
        }
    });
}

#[test]
fn overlay_file_format() {
    use tab86_storage::overlay::Overlay;
    use tab86_storage::raw::RawFile;
    use tab86_storage::Store;
    let dir = std::env::temp_dir().join(format!("tab86-fuzz-overlay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let base = dir.join("base.img");
    std::fs::write(&base, vec![0x11u8; 256 << 10]).unwrap();
    let open_base = || -> Box<dyn Store> { Box::new(RawFile::open(&base, true).unwrap()) };
    // Seeds: an empty overlay, and one with flushed writes and an unflushed tail.
    let mut seeds = Vec::new();
    for writes in [0usize, 5] {
        let p = dir.join(format!("seed-{writes}.cow"));
        let _ = std::fs::remove_file(&p);
        {
            let ov = Overlay::open(&p, open_base()).unwrap();
            for i in 0..writes {
                ov.write_at(i as u64 * 12288, &[i as u8 + 1; 4096]).unwrap();
                if i == 2 {
                    ov.flush().unwrap();
                }
            }
            ov.flush().unwrap();
            ov.write_at(200 << 10, &[0x77; 512]).unwrap();
        }
        seeds.push(std::fs::read(&p).unwrap());
    }
    let n = Cell::new(0u64);
    let file = dir.join("fuzzed.cow");
    fuzz("overlay", &seeds, 64 << 10, |bytes| {
        n.set(n.get() + 1);
        std::fs::write(&file, bytes).unwrap();
        // Opening either refuses the file clearly or gives an overlay that reads
        // and writes within its size.
        if let Ok(ov) = Overlay::open(&file, open_base()) {
            let mut buf = vec![0u8; 8192];
            let _ = ov.read_at(0, &mut buf);
            let _ = ov.read_at((256 << 10) - 8192, &mut buf);
            let _ = ov.write_at(4096, &[0x33; 4096]);
            let _ = ov.flush();
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn virtio_blk_hostile_driver() {
    use tab86_devices::bus::{IoSize, PioDevice};
    use tab86_devices::test_utils::RecordingIrq;
    use tab86_devices::virtio::mock::MockMemory;
    use tab86_devices::virtio::{VirtioBlk, VirtioPci, VirtioPciIo};
    use tab86_devices::MemDisk;
    // Input: a memory image for the first 4 KiB of the rings' area, then 6-byte
    // operations on the I/O BAR (offset, width, value) and "process" steps.
    let seed: Vec<u8> = {
        let mut s = vec![0u8; 512];
        // Status ACK|DRIVER, FEATURES_OK, queue 0 with 16 entries, enable, DRIVER_OK, notify.
        for (off, w, v) in [
            (0x14u16, 1u8, 3u32),
            (0x08, 4, 1),
            (0x0C, 4, 1),
            (0x14, 1, 11),
            (0x16, 2, 0),
            (0x18, 2, 16),
            (0x20, 4, 0x1000),
            (0x28, 4, 0x1100),
            (0x30, 4, 0x1200),
            (0x1C, 2, 1),
            (0x14, 1, 15),
            (0x3000, 2, 0),
        ] {
            s.extend_from_slice(&off.to_le_bytes());
            s.push(w);
            s.extend_from_slice(&v.to_le_bytes()[..3]);
        }
        s
    };
    fuzz("virtio-blk", &[seed], 4096, |input| {
        let kick = Rc::new(Cell::new(false));
        let dev = VirtioPci::new(
            Box::new(VirtioBlk::new(Box::new(MemDisk::new(
                vec![0; 64 << 10],
                false,
            )))),
            Box::new(RecordingIrq::new()),
            kick.clone(),
        );
        let dev = Rc::new(RefCell::new(dev));
        let mut io = VirtioPciIo(dev.clone());
        let mut mem = MockMemory::new(64 << 10);
        let (image, ops) = input.split_at(input.len().min(512));
        mem.put(0x1000, image);
        for op in ops.chunks_exact(6) {
            let off = u16::from_le_bytes([op[0], op[1]]) % 0x3100;
            let v = u32::from_le_bytes([op[3], op[4], op[5], op[5]]);
            match op[2] % 5 {
                0 => io.pio_write(off, IoSize::Byte, v & 0xFF, 0),
                1 => io.pio_write(off, IoSize::Word, v & 0xFFFF, 0),
                2 => io.pio_write(off, IoSize::Dword, v, 0),
                3 => {
                    let _ = io.pio_read(off, IoSize::Dword, 0);
                }
                _ => mem.put(0x1000 + u64::from(off % 0x3000), &op[3..6]),
            }
            if kick.replace(false) || op[2] & 0x80 != 0 {
                dev.borrow_mut().process(&mut mem);
            }
        }
        dev.borrow_mut().process(&mut mem);
    });
}

#[test]
fn http_request_parser() {
    use tab86_storage::serve::{status_for, Limits};
    let root = std::env::temp_dir().join(format!("tab86-fuzz-http-{}", std::process::id()));
    std::fs::create_dir_all(root.join("chunks")).unwrap();
    std::fs::write(root.join("manifest.json"), b"{}").unwrap();
    std::fs::write(root.join("chunks/ab"), vec![7u8; 5000]).unwrap();
    let seeds: Vec<Vec<u8>> = [
        "GET /manifest.json HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /chunks/ab HTTP/1.1\r\nRange: bytes=10-99\r\nIf-None-Match: \"x\"\r\n\r\n",
        "HEAD /chunks/ab HTTP/1.0\r\nRange: bytes=-5, 7-\r\n\r\n",
        "GET /%2e%2e/etc/passwd HTTP/1.1\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    let limits = Limits::default();
    fuzz("http-request", &seeds, 4096, |req| {
        let s = status_for(&root, req, &limits);
        // Every answer is a status the server documents, or 0 (an unfinished head).
        assert!(
            matches!(
                s,
                0 | 200 | 206 | 304 | 400 | 404 | 405 | 408 | 414 | 416 | 431 | 501 | 505
            ),
            "status {s}"
        );
    });
    let _ = std::fs::remove_dir_all(&root);
}

/// The fuzzers start from valid inputs, so their mutations get past the first
/// checks (a seed that is refused would leave only shallow paths fuzzed).
#[test]
fn the_seeds_are_valid_inputs() {
    use tab86_bios::{load_linux, load_multiboot, pc_e820_map, LinuxBootOptions, MultibootOptions};
    let mut ram = vec![0u8; 16 << 20];
    let e820 = pc_e820_map(16 << 20).unwrap();
    load_linux(
        &mut ram,
        &bzimage_seed(),
        &LinuxBootOptions::new("x", &e820),
    )
    .expect("bzImage seed");
    let opts = MultibootOptions {
        cmdline: "x",
        modules: &[],
        e820: &e820,
    };
    load_multiboot(&mut ram, &multiboot_seed(), &opts).expect("multiboot seed");
    let m = tab86_storage::chunked::Manifest::to_json(1000, 4096, &[[0xAB; 32]]);
    tab86_storage::chunked::Manifest::parse(m.as_bytes()).expect("manifest seed");
    let root = std::env::temp_dir().join(format!("tab86-fuzz-seed-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("manifest.json"), b"{}").unwrap();
    let req = b"GET /manifest.json HTTP/1.1\r\nHost: x\r\n\r\n";
    let limits = tab86_storage::serve::Limits::default();
    assert_eq!(tab86_storage::serve::status_for(&root, req, &limits), 200);
    let _ = std::fs::remove_dir_all(&root);
}

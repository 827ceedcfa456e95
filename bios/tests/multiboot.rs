//! Multiboot loading of synthetic ELF32 and a.out-kludge kernels.

use tab86_bios::{
    find_multiboot_header, load_multiboot, pc_e820_map, BootError, E820Entry, KernelFormat,
    LoadedRegion, MultibootModule, MultibootOptions, BOOT_CS, BOOT_DS, MBI_ADDR,
    MULTIBOOT_BOOTLOADER_MAGIC, MULTIBOOT_HEADER_MAGIC,
};

fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
fn put16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}
fn get32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}
fn get64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}
fn cstr(ram: &[u8], addr: u32) -> &str {
    let s = &ram[addr as usize..];
    std::str::from_utf8(&s[..s.iter().position(|&b| b == 0).unwrap()]).unwrap()
}

fn mb_header(flags: u32) -> [u8; 12] {
    let mut h = [0u8; 12];
    put32(&mut h, 0, MULTIBOOT_HEADER_MAGIC);
    put32(&mut h, 4, flags);
    put32(
        &mut h,
        8,
        0u32.wrapping_sub(MULTIBOOT_HEADER_MAGIC.wrapping_add(flags)),
    );
    h
}

/// A higher-half style ELF: text linked at 0xC0100000 loaded at 0x100000
/// (0x1000 bytes from file offset 0x1000, Multiboot header at its start),
/// data at 0x102000 with 0x800 file bytes and 0x1800 of memory (bss), and a
/// PT_NOTE that must be ignored.
fn synthetic_elf(flags: u32) -> Vec<u8> {
    let mut f = vec![0u8; 0x2800];
    f[0..4].copy_from_slice(b"\x7fELF");
    f[4] = 1; // ELFCLASS32
    f[5] = 1; // little-endian
    f[6] = 1;
    put16(&mut f, 16, 2); // ET_EXEC
    put16(&mut f, 18, 3); // EM_386
    put32(&mut f, 20, 1);
    put32(&mut f, 24, 0xC010_0010); // e_entry (virtual)
    put32(&mut f, 28, 52); // e_phoff
    put16(&mut f, 40, 52);
    put16(&mut f, 42, 32); // e_phentsize
    put16(&mut f, 44, 3); // e_phnum
    let ph = |f: &mut Vec<u8>, i: usize, v: [u32; 6]| {
        for (k, x) in v.iter().enumerate() {
            put32(f, 52 + i * 32 + k * 4, *x);
        }
    };
    // type, offset, vaddr, paddr, filesz, memsz
    ph(
        &mut f,
        0,
        [1, 0x1000, 0xC010_0000, 0x10_0000, 0x1000, 0x1000],
    );
    ph(&mut f, 1, [4, 0x100, 0, 0, 0x10, 0x10]);
    ph(
        &mut f,
        2,
        [1, 0x2000, 0xC010_2000, 0x10_2000, 0x800, 0x1800],
    );
    f[0x1000..0x100C].copy_from_slice(&mb_header(flags));
    for (i, b) in f[0x100C..0x2000].iter_mut().enumerate() {
        *b = (i % 251) as u8 + 1;
    }
    for b in &mut f[0x2000..0x2800] {
        *b = 0xDA;
    }
    f
}

#[test]
fn elf_kernel_with_modules() {
    let ram_size = 32u32 << 20;
    let map = pc_e820_map(ram_size).unwrap();
    let mut ram = vec![0xCCu8; ram_size as usize];
    let elf = synthetic_elf(0x3);
    assert_eq!(KernelFormat::detect(&elf), Some(KernelFormat::Multiboot));
    let m1 = vec![0x11u8; 5000];
    let m2 = vec![0x22u8; 10];
    let modules = [
        MultibootModule {
            data: &m1,
            cmdline: "/boot/initrd.img",
        },
        MultibootModule {
            data: &m2,
            cmdline: "second arg=1",
        },
    ];
    let opts = MultibootOptions {
        cmdline: "kernel console=ttyS0",
        modules: &modules,
        e820: &map,
    };
    let l = load_multiboot(&mut ram, &elf, &opts).unwrap();

    // Entry: physical translation of the virtual entry point.
    assert_eq!(l.entry.eip, 0x10_0010);
    assert_eq!(l.entry.eax, MULTIBOOT_BOOTLOADER_MAGIC);
    assert_eq!(l.entry.ebx, MBI_ADDR);
    assert_eq!(l.entry.cs.selector, BOOT_CS);
    assert_eq!(l.entry.ds.selector, BOOT_DS);
    assert!(!l.entry.interrupts_enabled() && !l.entry.paging_enabled());
    assert_eq!(l.header.offset, 0x1000);
    assert_eq!(
        l.kernel,
        LoadedRegion {
            addr: 0x10_0000,
            size: 0x3800
        }
    );

    // Segments: text copied, data copied, bss zeroed, nothing beyond.
    assert_eq!(&ram[0x10_0000..0x10_1000], &elf[0x1000..0x2000]);
    assert!(
        ram[0x10_1000..0x10_2000].iter().all(|&b| b == 0xCC),
        "gap untouched"
    );
    assert!(ram[0x10_2000..0x10_2800].iter().all(|&b| b == 0xDA));
    assert!(
        ram[0x10_2800..0x10_3800].iter().all(|&b| b == 0),
        "bss zeroed"
    );

    // Modules page-aligned after the kernel.
    assert_eq!(
        l.modules,
        vec![
            LoadedRegion {
                addr: 0x10_4000,
                size: 5000
            },
            LoadedRegion {
                addr: 0x10_6000,
                size: 10
            },
        ]
    );
    assert!(ram[0x10_4000..0x10_4000 + 5000].iter().all(|&b| b == 0x11));
    assert!(ram[0x10_6000..0x10_600A].iter().all(|&b| b == 0x22));

    // Information structure.
    let mbi = &ram[MBI_ADDR as usize..];
    let flags = get32(mbi, 0);
    assert_eq!(flags, (1 << 0) | (1 << 2) | (1 << 3) | (1 << 6) | (1 << 9));
    assert_eq!(get32(mbi, 4), 639, "mem_lower");
    assert_eq!(get32(mbi, 8), 31 * 1024, "mem_upper");
    assert_eq!(cstr(&ram, get32(mbi, 16)), "kernel console=ttyS0");
    assert_eq!(get32(mbi, 20), 2, "mods_count");
    let mods = get32(mbi, 24) as usize;
    assert_eq!(get32(&ram, mods), 0x10_4000);
    assert_eq!(get32(&ram, mods + 4), 0x10_4000 + 5000);
    assert_eq!(cstr(&ram, get32(&ram, mods + 8)), "/boot/initrd.img");
    assert_eq!(get32(&ram, mods + 16), 0x10_6000);
    assert_eq!(get32(&ram, mods + 20), 0x10_600A);
    assert_eq!(cstr(&ram, get32(&ram, mods + 24)), "second arg=1");
    assert_eq!(get32(mbi, 44) as usize, map.len() * 24, "mmap_length");
    let mmap = get32(mbi, 48) as usize;
    for (i, e) in map.iter().enumerate() {
        let o = mmap + i * 24;
        assert_eq!(get32(&ram, o), 20);
        assert_eq!(
            E820Entry::new(get64(&ram, o + 4), get64(&ram, o + 12), e.kind),
            *e
        );
        assert_eq!(get32(&ram, o + 20), e.kind as u32);
    }
    assert_eq!(cstr(&ram, get32(mbi, 64)), "tab86");
    // GDT written.
    assert_eq!(
        &ram[0x6010..0x6018],
        &0x00CF_9B00_0000_FFFFu64.to_le_bytes()
    );
}

#[test]
fn video_request_gets_text_framebuffer() {
    let map = pc_e820_map(8 << 20).unwrap();
    let mut ram = vec![0u8; 8 << 20];
    let mut elf = synthetic_elf(0x4);
    // Video fields follow the (unused) address fields.
    put32(&mut elf, 0x1000 + 32, 1);
    put32(&mut elf, 0x1000 + 36, 80);
    put32(&mut elf, 0x1000 + 40, 25);
    let opts = MultibootOptions {
        cmdline: "",
        modules: &[],
        e820: &map,
    };
    let l = load_multiboot(&mut ram, &elf, &opts).unwrap();
    let v = l.header.video.unwrap();
    assert_eq!((v.mode_type, v.width, v.height), (1, 80, 25));
    let mbi = &ram[MBI_ADDR as usize..];
    assert_ne!(get32(mbi, 0) & (1 << 12), 0);
    assert_eq!(get64(mbi, 88), 0xB8000);
    assert_eq!((get32(mbi, 100), get32(mbi, 104), mbi[109]), (80, 25, 2));
}

/// A flat binary with the a.out kludge: header at file offset 0x40,
/// loaded at 0x200000 (file offset 0), 0x100 bytes of file, bss to 0x200400.
fn aout_kernel() -> Vec<u8> {
    let mut f = vec![0x90u8; 0x180];
    let flags = 1 << 16;
    f[0x40..0x4C].copy_from_slice(&mb_header(flags));
    put32(&mut f, 0x4C, 0x20_0040); // header_addr
    put32(&mut f, 0x50, 0x20_0000); // load_addr
    put32(&mut f, 0x54, 0x20_0100); // load_end_addr
    put32(&mut f, 0x58, 0x20_0400); // bss_end_addr
    put32(&mut f, 0x5C, 0x20_0060); // entry_addr
    f
}

#[test]
fn aout_kludge() {
    let map = pc_e820_map(8 << 20).unwrap();
    let mut ram = vec![0xCCu8; 8 << 20];
    let img = aout_kernel();
    let opts = MultibootOptions {
        cmdline: "x",
        modules: &[],
        e820: &map,
    };
    let l = load_multiboot(&mut ram, &img, &opts).unwrap();
    assert_eq!(l.entry.eip, 0x20_0060);
    assert_eq!(
        l.kernel,
        LoadedRegion {
            addr: 0x20_0000,
            size: 0x400
        }
    );
    assert_eq!(&ram[0x20_0000..0x20_0100], &img[..0x100]);
    assert!(ram[0x20_0100..0x20_0400].iter().all(|&b| b == 0));
    assert_eq!(ram[0x20_0400], 0xCC);

    // load_end_addr = 0 loads the rest of the file.
    let mut img2 = img.clone();
    put32(&mut img2, 0x54, 0);
    put32(&mut img2, 0x58, 0);
    let l = load_multiboot(&mut ram, &img2, &opts).unwrap();
    assert_eq!(l.kernel.size, 0x180);
}

#[test]
fn aout_errors() {
    let map = pc_e820_map(8 << 20).unwrap();
    let mut ram = vec![0u8; 8 << 20];
    let opts = MultibootOptions {
        cmdline: "",
        modules: &[],
        e820: &map,
    };
    type Check = fn(&BootError) -> bool;
    let cases: [(usize, u32, Check); 6] = [
        (0x50, 0x20_0050, |e| {
            matches!(e, BootError::MultibootAddress(_))
        }), // load > header
        (0x4C, 0x20_1000, |e| {
            matches!(e, BootError::MultibootAddress(_))
        }), // before file start
        (0x54, 0x20_1000, |e| {
            matches!(e, BootError::Truncated { .. })
        }),
        (0x58, 0x20_0010, |e| {
            matches!(e, BootError::MultibootAddress(_))
        }),
        (0x5C, 0x30_0000, |e| {
            matches!(e, BootError::MultibootAddress(_))
        }),
        (0x50, 0x0, |e| matches!(e, BootError::MultibootAddress(_))),
    ];
    for (off, v, check) in cases {
        let mut img = aout_kernel();
        put32(&mut img, off, v);
        let err = load_multiboot(&mut ram, &img, &opts).unwrap_err();
        assert!(check(&err), "field {off:#x}={v:#x}: {err}");
    }
    // Placed over the boot data (GDT at 0x6000) or outside RAM.
    let mut img = aout_kernel();
    for (o, v) in [
        (0x4C, 0x6040),
        (0x50, 0x6000),
        (0x54, 0x6100),
        (0x58, 0x6400),
        (0x5C, 0x6060),
    ] {
        put32(&mut img, o, v);
    }
    assert!(matches!(
        load_multiboot(&mut ram, &img, &opts),
        Err(BootError::SegmentOverlapsBootData { .. })
    ));
    for (o, v) in [
        (0x4C, 0x7F_FFC0),
        (0x50, 0x7F_FF80),
        (0x54, 0x80_0080),
        (0x58, 0),
        (0x5C, 0x7F_FF80),
    ] {
        put32(&mut img, o, v);
    }
    assert!(matches!(
        load_multiboot(&mut ram, &img, &opts),
        Err(BootError::SegmentOutsideRam { .. })
    ));
    // In the VGA hole (not RAM).
    for (o, v) in [
        (0x4C, 0xB_8040),
        (0x50, 0xB_8000),
        (0x54, 0xB_8100),
        (0x58, 0),
        (0x5C, 0xB_8040),
    ] {
        put32(&mut img, o, v);
    }
    assert!(matches!(
        load_multiboot(&mut ram, &img, &opts),
        Err(BootError::SegmentOutsideRam { .. })
    ));
}

#[test]
fn header_errors() {
    assert_eq!(
        find_multiboot_header(&[]),
        Err(BootError::NoMultibootHeader)
    );
    assert_eq!(
        find_multiboot_header(&vec![0u8; 20000]),
        Err(BootError::NoMultibootHeader)
    );
    // Magic past 8192 bytes is not searched.
    let mut f = vec![0u8; 9000];
    f[8192..8204].copy_from_slice(&mb_header(0));
    assert_eq!(find_multiboot_header(&f), Err(BootError::NoMultibootHeader));
    // Unaligned magic is not a header.
    let mut f = vec![0u8; 100];
    f[2..14].copy_from_slice(&mb_header(0));
    assert_eq!(find_multiboot_header(&f), Err(BootError::NoMultibootHeader));
    // Bad checksum.
    let mut f = vec![0u8; 100];
    f[8..20].copy_from_slice(&mb_header(0));
    f[16] ^= 1;
    assert!(matches!(
        find_multiboot_header(&f),
        Err(BootError::MultibootChecksum { offset: 8, .. })
    ));
    // A good header after a bad one is still found.
    f[40..52].copy_from_slice(&mb_header(0));
    assert_eq!(find_multiboot_header(&f).unwrap().offset, 40);
    // Unknown required flag.
    let mut f = vec![0u8; 100];
    f[0..12].copy_from_slice(&mb_header(1 << 5));
    assert_eq!(
        find_multiboot_header(&f),
        Err(BootError::MultibootUnsupported { flags: 1 << 5 })
    );
    // Unknown optional flags are fine.
    f[0..12].copy_from_slice(&mb_header(1 << 20));
    assert!(find_multiboot_header(&f).is_ok());
    // Address fields cut off by the end of file or the 8 KiB window.
    let mut f = vec![0u8; 20];
    f[0..12].copy_from_slice(&mb_header(1 << 16));
    assert!(matches!(
        find_multiboot_header(&f),
        Err(BootError::Truncated { .. })
    ));
    let mut f = vec![0u8; 9000];
    f[8176..8188].copy_from_slice(&mb_header(1 << 16));
    assert!(matches!(
        find_multiboot_header(&f),
        Err(BootError::MultibootAddress(_))
    ));
}

#[test]
fn elf_errors() {
    let map = pc_e820_map(8 << 20).unwrap();
    let mut ram = vec![0u8; 8 << 20];
    let opts = MultibootOptions {
        cmdline: "",
        modules: &[],
        e820: &map,
    };
    let load = |ram: &mut Vec<u8>, f: &[u8]| load_multiboot(ram, f, &opts);

    let mut f = synthetic_elf(0);
    f[4] = 2; // ELFCLASS64
    assert_eq!(
        load(&mut ram, &f),
        Err(BootError::ElfNotI386 {
            class: 2,
            data: 1,
            machine: 3
        })
    );
    let mut f = synthetic_elf(0);
    put16(&mut f, 18, 62); // EM_X86_64
    assert!(matches!(
        load(&mut ram, &f),
        Err(BootError::ElfNotI386 { machine: 62, .. })
    ));
    let mut f = synthetic_elf(0);
    f[0] = 0;
    assert!(matches!(load(&mut ram, &f), Err(BootError::InvalidElf(_))));
    let mut f = synthetic_elf(0);
    put16(&mut f, 16, 3); // ET_DYN
    assert!(matches!(load(&mut ram, &f), Err(BootError::InvalidElf(_))));
    let mut f = synthetic_elf(0);
    put16(&mut f, 44, 0x400); // phnum past end of file
    assert!(matches!(
        load(&mut ram, &f),
        Err(BootError::Truncated { .. })
    ));
    let mut f = synthetic_elf(0);
    put32(&mut f, 52 + 64 + 4, 0x2400); // data p_offset + p_filesz past EOF
    assert!(matches!(
        load(&mut ram, &f),
        Err(BootError::Truncated { .. })
    ));
    let mut f = synthetic_elf(0);
    put32(&mut f, 52 + 16, 0x1001); // filesz > memsz
    assert!(matches!(load(&mut ram, &f), Err(BootError::InvalidElf(_))));
    let mut f = synthetic_elf(0);
    put32(&mut f, 52 + 12, 0x7F_F800); // text paddr: runs past 8 MiB
    assert!(matches!(
        load(&mut ram, &f),
        Err(BootError::SegmentOutsideRam { .. })
    ));
    let mut f = synthetic_elf(0);
    put32(&mut f, 24, 0xD000_0000); // entry outside every segment
    assert!(matches!(load(&mut ram, &f), Err(BootError::InvalidElf(_))));
    let mut f = synthetic_elf(0);
    put32(&mut f, 52, 0); // text becomes PT_NULL; data alone has no entry
    put32(&mut f, 52 + 64, 0);
    assert!(matches!(load(&mut ram, &f), Err(BootError::InvalidElf(_))));
    // Module too large for RAM.
    let big = vec![0u8; 8 << 20];
    let modules = [MultibootModule {
        data: &big,
        cmdline: "m",
    }];
    let opts2 = MultibootOptions {
        cmdline: "",
        modules: &modules,
        e820: &map,
    };
    assert!(matches!(
        load_multiboot(&mut ram, &synthetic_elf(0), &opts2),
        Err(BootError::SegmentOutsideRam { .. })
    ));
    let modules = [MultibootModule {
        data: &[],
        cmdline: "a\0b",
    }];
    let opts3 = MultibootOptions {
        cmdline: "",
        modules: &modules,
        e820: &map,
    };
    assert_eq!(
        load_multiboot(&mut ram, &synthetic_elf(0), &opts3),
        Err(BootError::StringContainsNul("module string"))
    );
    // Huge command line does not fit the information area.
    let long = "x".repeat(1 << 20);
    let opts4 = MultibootOptions {
        cmdline: &long,
        modules: &[],
        e820: &map,
    };
    assert!(matches!(
        load_multiboot(&mut ram, &synthetic_elf(0), &opts4),
        Err(BootError::BootDataTooLarge { .. })
    ));
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let map = pc_e820_map(8 << 20).unwrap();
    let mut ram = vec![0u8; 8 << 20];
    let opts = MultibootOptions {
        cmdline: "",
        modules: &[],
        e820: &map,
    };
    for img in [synthetic_elf(0), aout_kernel()] {
        let full = load_multiboot(&mut ram, &img, &opts);
        assert!(full.is_ok());
        for n in 0..img.len() {
            // The a.out kernel with load_end_addr still fits in shorter
            // files only down to 0x100 bytes; everything else must error.
            let r = load_multiboot(&mut ram, &img[..n], &opts);
            if n < 0x100 || img[0] == 0x7f {
                assert!(r.is_err(), "prefix of {n} bytes loaded");
            }
        }
    }
}

//! Loads the real Debian kernel fetched by `images/build.sh`, if present.
//!
//! The kernel is found via `TAB86_KERNEL`, else the `KERNEL=` line of
//! `images.env` in the images cache
//! (`${TAB86_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tab86}/images`). When
//! neither exists the tests print a note and pass, so a fresh checkout's
//! `cargo test` does not need the download.

use std::path::PathBuf;
use tab86_bios::{load_linux, pc_e820_map, BzImage, KernelFormat, LinuxBootOptions};

fn images_dir() -> Option<PathBuf> {
    if let Some(c) = std::env::var_os("TAB86_CACHE") {
        return Some(PathBuf::from(c).join("images"));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("tab86").join("images"))
}

/// Value of `key` in images.env, if the file exists and has it.
fn images_env(key: &str) -> Option<String> {
    let text = std::fs::read_to_string(images_dir()?.join("images.env")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('=').map(str::to_owned))
}

fn kernel_path() -> Option<PathBuf> {
    let p = std::env::var_os("TAB86_KERNEL")
        .map(PathBuf::from)
        .or_else(|| images_env("KERNEL").map(PathBuf::from))?;
    p.is_file().then_some(p)
}

#[test]
fn debian_kernel_header_and_load() {
    let Some(path) = kernel_path() else {
        eprintln!("skipped: no kernel (set TAB86_KERNEL or run images/build.sh)");
        return;
    };
    let image = std::fs::read(&path).unwrap();
    assert_eq!(KernelFormat::detect(&image), Some(KernelFormat::BzImage));
    let bz = BzImage::parse(&image).unwrap();
    let h = &bz.header;
    eprintln!(
        "{}: protocol {}.{:02}, setup_sects {}, init_size {:#x}, pref_address {:#x}, \
         version {:?}",
        path.display(),
        h.version >> 8,
        h.version & 0xff,
        h.setup_sects,
        h.init_size,
        h.pref_address,
        bz.kernel_version()
    );
    // Debian 12's 6.1 kernels speak boot protocol 2.15.
    assert!(h.version >= 0x020F, "protocol {:#x}", h.version);
    assert!(h.relocatable_kernel);
    assert!(h.cmdline_size >= 2047);
    assert_eq!(h.code32_start, 0x100000);
    if let Some(release) = images_env("KERNEL_RELEASE") {
        if std::env::var_os("TAB86_KERNEL").is_none() {
            assert!(bz.kernel_version().unwrap().starts_with(&release));
        }
    }

    let ram_size = 256 << 20;
    let map = pc_e820_map(ram_size).unwrap();
    let mut ram = vec![0u8; ram_size as usize];
    let initrd = images_env("INITRD")
        .and_then(|p| std::fs::read(p).ok())
        .unwrap_or_else(|| vec![0x42; 1 << 20]);
    let opts = LinuxBootOptions::new("console=ttyS0 earlyprintk=ttyS0", &map).with_initrd(&initrd);
    let l = load_linux(&mut ram, &image, &opts).unwrap();
    assert_eq!(l.entry.eip, 0x100000);
    assert_eq!(l.entry.esi, 0x10000);
    assert_eq!(&ram[0x100000..0x100000 + bz.kernel.len()], bz.kernel);
    let rd = l.initrd.unwrap();
    assert!(u64::from(rd.addr) >= l.kernel_footprint_end);
    assert!(rd.end() <= u64::from(ram_size));
    assert!(
        u64::from(ram_size) - rd.end() < 4096,
        "initrd is as high as possible"
    );
    eprintln!(
        "kernel footprint ends at {:#x}, initrd at {:#x}+{:#x}",
        l.kernel_footprint_end, rd.addr, rd.size
    );
}

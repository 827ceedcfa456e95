//! Bad input through the `tab86` command itself: a truncated or garbage kernel,
//! an initrd too big for RAM, a missing file, a ROM that triple-faults, and ROMs
//! of random bytes. Each must end with a clear message and its documented exit
//! status: never a panic (status 101) or a hang.

use std::path::PathBuf;
use std::process::{Command, Output};

fn tab86(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tab86"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run tab86")
}

fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tab86-bad-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A minimal bzImage: boot sector + setup header with "HdrS", protocol 2.15,
/// one setup sector, and a protected-mode part that claims `syssize` paragraphs.
fn fake_bzimage(syssize_paras: u32, present: usize) -> Vec<u8> {
    let mut k = vec![0u8; 1024 + present];
    k[0x1F1] = 1; // setup_sects
    k[0x1F4..0x1F8].copy_from_slice(&syssize_paras.to_le_bytes());
    k[0x1FE] = 0x55;
    k[0x1FF] = 0xAA;
    k[0x200..0x202].copy_from_slice(&[0xEB, 0x6A]); // jump over the header (ends at 0x26C)
    k[0x202..0x206].copy_from_slice(b"HdrS");
    k[0x206..0x208].copy_from_slice(&0x020Fu16.to_le_bytes());
    k[0x211] = 0x01; // LOADED_HIGH
    k[0x22C..0x230].copy_from_slice(&0x37FF_FFFFu32.to_le_bytes()); // initrd_addr_max
    k[0x238..0x23C].copy_from_slice(&2047u32.to_le_bytes()); // cmdline_size
    k
}

#[test]
fn truncated_kernel_is_refused_with_the_sizes() {
    let k = scratch("truncated.bz", &fake_bzimage(0x1000, 4096));
    let o = tab86(&["run", "--kernel", k.to_str().unwrap(), "--mem", "64M"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("truncated"), "{e}");
    // The setup sectors are 1 KiB of the file: 4 KiB of the 64 KiB claimed remain.
    assert!(e.contains("66560") && e.contains("5120"), "{e}");
}

#[test]
fn garbage_kernel_is_refused() {
    let bytes: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let k = scratch("garbage.bin", &bytes);
    let o = tab86(&["run", "--kernel", k.to_str().unwrap(), "--mem", "64M"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("neither a Linux bzImage"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn oversized_initrd_is_refused() {
    let k = scratch("small.bz", &fake_bzimage(0x100, 0x1000));
    let initrd = scratch("huge.initrd", &vec![0u8; 40 << 20]);
    let o = tab86(&[
        "run",
        "--kernel",
        k.to_str().unwrap(),
        "--initrd",
        initrd.to_str().unwrap(),
        "--mem",
        "32M",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("does not fit"), "{}", stderr(&o));
}

#[test]
fn missing_kernel_file_is_reported() {
    let o = tab86(&[
        "run",
        "--kernel",
        "/nonexistent/tab86-kernel",
        "--mem",
        "64M",
    ]);
    assert_eq!(o.status.code(), Some(4));
    assert!(
        stderr(&o).contains("/nonexistent/tab86-kernel"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn rom_that_triple_faults_exits_with_status_3() {
    // Reset vector: LIDT [0x0500] (zeroed RAM: limit 0), then INT3. The vector is
    // outside the IDT limit: #GP, then #DF, then shutdown.
    let mut rom = vec![0xF4u8; 64 << 10];
    rom[0xFFF0..0xFFF6].copy_from_slice(&[0x0F, 0x01, 0x1E, 0x00, 0x05, 0xCC]);
    let r = scratch("triple.rom", &rom);
    let o = tab86(&["run", "--bios", r.to_str().unwrap(), "--timeout", "60"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).to_lowercase().contains("triple fault"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn roms_of_random_bytes_end_cleanly() {
    for seed in 1..=6u64 {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let rom: Vec<u8> = (0..64 << 10)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let r = scratch(&format!("random-{seed}.rom"), &rom);
        let o = tab86(&["run", "--bios", r.to_str().unwrap(), "--timeout", "2"]);
        let code = o.status.code();
        // Halted with IF=0 (2), triple fault (3), a debug-exit write (odd), or
        // still running at the timeout (124): all defined outcomes. A panic or a
        // signal is not; an error (4) would mean the ROM was refused, which it
        // must not be.
        assert!(
            matches!(code, Some(c) if c != 4),
            "seed {seed}: status {code:?}\n{}",
            stderr(&o)
        );
        assert!(
            !stderr(&o).contains("panicked"),
            "seed {seed}: {}",
            stderr(&o)
        );
    }
}

/// A ROM that halts at once with interrupts disabled (status 2), for option tests.
fn halting_rom() -> PathBuf {
    let mut rom = vec![0xF4u8; 64 << 10];
    rom[0xFFF0] = 0xFA; // CLI, then the HLTs around it
    scratch("halt.rom", &rom)
}

#[test]
fn timeouts_that_are_not_a_duration_are_refused() {
    let rom = halting_rom();
    for bad in ["-1", "nan", "NaN", "inf", "-inf", "1e300", "1e12", "x"] {
        let o = tab86(&["run", "--bios", rom.to_str().unwrap(), "--timeout", bad]);
        assert_eq!(o.status.code(), Some(4), "--timeout {bad}: {}", stderr(&o));
        assert!(stderr(&o).contains("--timeout"), "{}", stderr(&o));
    }
    // The limits themselves are durations.
    for good in ["0", "0.5", "31536000"] {
        let o = tab86(&["run", "--bios", rom.to_str().unwrap(), "--timeout", good]);
        assert!(
            matches!(o.status.code(), Some(2 | 124)),
            "--timeout {good}: {:?} {}",
            o.status,
            stderr(&o)
        );
    }
}

#[test]
fn memory_sizes_that_overflow_are_refused_not_wrapped() {
    let rom = halting_rom();
    // 17179869185 GiB is 2^64 + 1 GiB: it once wrapped to a 1 GiB guest.
    for bad in ["17179869185G", "18446744073709551615K", "4G", "0"] {
        let o = tab86(&["run", "--bios", rom.to_str().unwrap(), "--mem", bad]);
        assert_eq!(o.status.code(), Some(4), "--mem {bad}: {}", stderr(&o));
        assert!(stderr(&o).contains("--mem") || stderr(&o).contains("size"));
    }
}

#[test]
fn an_overlay_that_cannot_be_opened_is_named() {
    let dir = std::env::temp_dir().join(format!("tab86-bad-overlay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let disk = scratch("base.img", &vec![0u8; 1 << 20]);
    let o = tab86(&[
        "run",
        "--bios",
        halting_rom().to_str().unwrap(),
        "--disk",
        disk.to_str().unwrap(),
        "--overlay",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("overlay") && e.contains(dir.to_str().unwrap()),
        "{e}"
    );
}

#[test]
fn a_ram_dump_that_cannot_be_written_is_an_error() {
    let o = tab86(&[
        "run",
        "--bios",
        halting_rom().to_str().unwrap(),
        "--dump-ram",
        "/nonexistent-dir/tab86/ram.bin",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("--dump-ram"), "{}", stderr(&o));
}

#[test]
fn setup_sects_zero_means_four() {
    // The protected-mode part starts after 1 + 4 sectors when setup_sects is 0
    // (boot protocol); it writes 42 to the isa-debug-exit port: status 85.
    let code = [0xB0, 0x2A, 0xE6, 0xF4, 0xF4, 0xEB, 0xFD]; // mov al,42; out 0xF4,al; hlt
    let mut k = fake_bzimage(4096 / 16, 0);
    k.resize(5 * 512, 0);
    k[0x1F1] = 0;
    k.extend_from_slice(&code);
    k.resize(5 * 512 + 4096, 0);
    let path = scratch("setup0.bz", &k);
    let o = tab86(&[
        "run",
        "--kernel",
        path.to_str().unwrap(),
        "--mem",
        "64M",
        "--timeout",
        "20",
    ]);
    assert_eq!(o.status.code(), Some(85), "{}", stderr(&o));
}

//! What a Multiboot kernel finds at entry: the nasm kernel `tests/system/entry.asm`
//! boots on the whole machine (`--kernel`, deterministic clock) and checks the
//! board a BIOS leaves (8259s, PIT, IVT and its handlers in real mode, BDA) and
//! QEMU's fw_cfg against the Multiboot information it was given.

use tab86_devices::test_utils::VecSink;
use tab86_machine::{ClockMode, Config, DebugCon, Event, Firmware, HostClock, Machine, Stop};

struct NoClock;
impl HostClock for NoClock {
    fn now_ns(&self) -> u64 {
        0
    }
}

/// Boots `kernel` with `mem` bytes of RAM and `cmdline`; returns how it
/// stopped and what it printed on port 0xE9.
fn boot(kernel: Vec<u8>, mem: u32, cmdline: &str, apic: bool) -> (Option<Stop>, String) {
    let out = VecSink::new();
    let cfg = Config {
        mem_size: mem,
        firmware: Firmware::Kernel {
            kernel,
            initrd: None,
            cmdline: cmdline.into(),
        },
        clock: ClockMode::Deterministic,
        debugcon: vec![DebugCon {
            port: 0xE9,
            out: Box::new(out.clone()),
        }],
        serial: Box::new(std::io::sink()),
        rtc_epoch: 0,
        disks: Vec::new(),
        apic,
    };
    let mut m = Machine::new(cfg, Box::new(NoClock)).expect("machine builds");
    // Bounded in virtual time (the kernel waits for a handful of 55 ms ticks)
    // and in slices, so a kernel that never gets its interrupt fails instead
    // of hanging.
    let mut stop = None;
    for _ in 0..200_000 {
        match m.run(1_000_000) {
            Event::Stopped(s) => {
                stop = Some(s);
                break;
            }
            Event::Idle { .. } | Event::WaitingForIo => break,
            Event::Ran => {}
        }
        if m.stats().virtual_ns > 5_000_000_000 {
            break;
        }
    }
    (stop, out.text())
}

fn check(name: &str, mem: u32, cmdline: &str, apic: bool, min_checks: u32) {
    let Some(kernel) = tab86_tests::syskernel::assemble(name) else {
        return;
    };
    let (stop, out) = boot(kernel, mem, cmdline, apic);
    let report = format!("kernel {name} ({stop:?}):\n{out}");
    assert!(!out.lines().any(|l| l.starts_with("FAIL")), "{report}");
    assert_eq!(stop, Some(Stop::DebugExit(1)), "{report}");
    let done = out
        .lines()
        .find_map(|l| l.strip_prefix("DONE "))
        .and_then(|n| u32::from_str_radix(n.trim(), 16).ok())
        .unwrap_or_else(|| panic!("no DONE line\n{report}"));
    let passes = out.lines().filter(|l| l.starts_with("PASS ")).count() as u32;
    assert_eq!(passes, done, "{report}");
    assert!(done >= min_checks, "only {done} checks\n{report}");
    eprintln!(
        "entry: {done} checks passed ({} MiB, cmdline {cmdline:?}, {} board)",
        mem >> 20,
        if apic { "APIC" } else { "PIC-only" }
    );
}

#[test]
fn multiboot_kernel_finds_the_bios_state() {
    // The APIC board: the 8259s' INTR reaches the CPU through LINT0 (ExtINT),
    // so the real-mode IRQ checks also show the local APIC's virtual-wire set-up.
    check("entry", 32 << 20, "entry-test fw_cfg=yes", true, 40);
}

#[test]
fn entry_state_follows_ram_size_and_command_line() {
    // The kernel compares fw_cfg with the Multiboot information, so other
    // inputs must pass too (an empty command line is one NUL byte).
    // On the PIC-only board (`--no-apic`).
    check("entry", 7 << 20, "", false, 40);
}

#[test]
fn bios_handler_bytes_match_their_source() {
    // bios/src/legacy_handlers.asm is the source of tab86_bios::LEGACY_HANDLERS.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = root.join("target/system-tests/legacy_handlers.bin");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let r = std::process::Command::new("nasm")
        .args(["-f", "bin", "-o"])
        .arg(&out)
        .arg(root.join("bios/src/legacy_handlers.asm"))
        .output();
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(std::env::var_os("CI").is_none(), "nasm is required in CI");
            eprintln!("nasm not found: skipping");
        }
        Err(e) => panic!("running nasm: {e}"),
        Ok(o) => {
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let bytes = std::fs::read(&out).unwrap();
            assert_eq!(bytes, tab86_bios::LEGACY_HANDLERS);
        }
    }
}

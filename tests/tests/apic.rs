//! The APIC board: the nasm kernel `tests/system/apic.asm` run by the whole
//! machine (local APIC, IO-APIC, their timer on the virtual clock, NMI), and
//! deterministic scripted boots of Debian's 686 and 686-pae kernels with the
//! busybox initramfs on it: interrupts through the IO-APIC, the local APIC
//! timer counting, a clean kernel log, NX as a user program sees it (the native
//! program tests/native/nx.c, added to the initramfs), power-off.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;
use std::time::Duration;
use tab86_machine::{ClockMode, Config, DebugCon, Event, Firmware, Machine, Stop};
use tab86_tests::guest::{append_cpio, cache_dir, images, read_env, run_script, skip_without};

/// A debugcon sink the test can read afterwards.
#[derive(Clone, Default)]
struct Sink(Rc<RefCell<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct NoClock;
impl tab86_machine::HostClock for NoClock {
    fn now_ns(&self) -> u64 {
        0
    }
}

/// Runs a Multiboot test kernel on the machine until it stops (or `budget`
/// instructions or 5 s of virtual time pass); returns how it stopped and what it wrote to port 0xE9.
fn run_kernel(image: Vec<u8>, apic: bool, budget: u64) -> (Option<Stop>, String) {
    let sink = Sink::default();
    let cfg = Config {
        mem_size: 32 << 20,
        firmware: Firmware::Kernel {
            kernel: image,
            initrd: None,
            cmdline: String::new(),
        },
        clock: ClockMode::Deterministic,
        debugcon: vec![DebugCon {
            port: 0xE9,
            out: Box::new(sink.clone()),
        }],
        serial: Box::new(std::io::sink()),
        rtc_epoch: 1_700_000_000,
        disks: Vec::new(),
        apic,
    };
    let mut m = Machine::new(cfg, Box::new(NoClock)).expect("machine");
    let mut stop = None;
    // A guest halted for good still moves virtual time (the RTC ticks): bound
    // the run by virtual time as well as by instructions.
    while m.stats().instructions < budget && m.stats().virtual_ns < 5_000_000_000 {
        match m.run(100_000) {
            Event::Stopped(s) => {
                stop = Some(s);
                break;
            }
            Event::Idle { .. } => break, // halted with nothing to wake it
            _ => {}
        }
    }
    let out = String::from_utf8_lossy(&sink.0.borrow()).into_owned();
    (stop, out)
}

#[test]
fn apic_system_kernel() {
    let Some(image) = tab86_tests::syskernel::assemble("apic") else {
        return;
    };
    let (stop, out) = run_kernel(image, true, 50_000_000);
    let fails: Vec<&str> = out.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(fails.is_empty(), "{out}");
    assert_eq!(stop, Some(Stop::DebugExit(1)), "{out}");
    let done = out
        .lines()
        .find_map(|l| l.strip_prefix("DONE "))
        .and_then(|n| u32::from_str_radix(n.trim(), 16).ok())
        .unwrap_or_else(|| panic!("no DONE line:\n{out}"));
    let passes = out.lines().filter(|l| l.starts_with("PASS ")).count() as u32;
    assert_eq!(passes, done, "{out}");
    assert!(done >= 62, "only {done} checks ran:\n{out}");
    eprintln!("apic kernel: {done} checks passed");
}

#[test]
fn pic_board_has_no_apic() {
    // The same kernel on the PIC-only board: its very first checks see no
    // enabled local APIC (APIC_BASE.EN clear) and no CPUID APIC bit.
    let Some(image) = tab86_tests::syskernel::assemble("apic") else {
        return;
    };
    let (_, out) = run_kernel(image, false, 5_000_000);
    assert!(
        out.contains("FAIL APIC_BASE: 0xFEE00000, enabled, BSP got=fee00100"),
        "{out}"
    );
    assert!(out.contains("FAIL CPUID.1:EDX.APIC got=00000000"), "{out}");
    assert!(
        out.contains("FAIL version: xAPIC, 6 LVT entries got=ffffffff"),
        "no local APIC registers on the PIC board:\n{out}"
    );
}

const SCRIPT: &str = r#"
timeout 600
wait TAB86-BOOT-OK
wait tab86# 
sendline uname -r
wait tab86# 
sendline cat /proc/cpuinfo | grep flags
wait flags\s*:.*\bapic\b
wait tab86# 
sendline cat /proc/interrupts; echo IRQS-""END
wait \nIRQS-END
wait tab86# 
sendline sleep 1; grep LOC /proc/interrupts; echo LOC-""END
wait \nLOC-END
wait tab86# 
sendline dmesg | grep -i -E "error|bug|warn|unstable|fallback" ; echo DMESG-""END
wait \nDMESG-END
wait tab86# 
sendline /nx; echo NX-""END
wait \nNX-END
wait tab86# 
sendline poweroff -f
"#;

/// Messages every ACPI PC prints that contain a filtered word.
const KNOWN: &[&str] = &["PCI: Using host bridge windows from ACPI; if necessary"];

/// The native NX program (tests/native/nx.c) and what it printed on the host
/// (an x86 host always has NX), checked against the recording
/// tests/native/expected/nx.out. `None` without gcc -m32 (skipped, or failed in CI).
fn nx_program() -> Option<(Vec<u8>, String)> {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("native");
    let image = match tab86_tests::native::built_image(&dir, "nx") {
        Ok(i) => i,
        Err(e) => {
            skip_without("gcc -m32 (gcc-multilib)", ".ci/setup-host");
            eprintln!("{e}");
            return None;
        }
    };
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("native");
    let want = std::fs::read_to_string(src.join("expected/nx.out")).expect("expected/nx.out");
    // NX is no vendor detail: wherever the host runs i386 programs its output is
    // the recording.
    if let Ok(o) = std::process::Command::new(dir.join("nx")).output() {
        if o.status.success() {
            assert_eq!(String::from_utf8_lossy(&o.stdout), want, "nx on the host");
        }
    }
    Some((image, want))
}

fn boot_on_apic_board(kernel: &str, flavour: &str, initrd: &str) {
    let Some((nx, nx_host)) = nx_program() else {
        return;
    };
    // The busybox initramfs plus /nx.
    let mut initrd = std::fs::read(initrd).expect("initrd");
    append_cpio(&mut initrd, &[("nx", &nx)]);
    let cfg = Config {
        mem_size: 256 << 20,
        firmware: Firmware::Kernel {
            kernel: std::fs::read(kernel).expect("kernel"),
            initrd: Some(initrd),
            cmdline: "console=ttyS0".into(),
        },
        clock: ClockMode::Deterministic,
        debugcon: Vec::new(),
        serial: Box::new(std::io::sink()),
        rtc_epoch: 1_700_000_000,
        disks: Vec::new(),
        apic: true,
    };
    let run = run_script(cfg, SCRIPT, Duration::from_secs(900));
    let log = run.log.clone();
    assert_eq!(
        run.stop,
        Stop::Poweroff,
        "the guest did not power off:\n{}",
        run.tail()
    );
    assert!(
        log.lines()
            .any(|l| l.trim() == format!("6.1.0-50-{flavour}")
                || (l.trim().starts_with("6.") && l.trim().ends_with(&format!("-{flavour}")))),
        "not the {flavour} kernel:\n{}",
        run.tail()
    );
    for line in [
        "ACPI: LAPIC_NMI (acpi_id[0xff] dfl dfl lint[0x1])",
        "IOAPIC[0]: apic_id 1, version 17, address 0xfec00000, GSI 0-23",
        "ACPI: INT_SRC_OVR (bus 0 bus_irq 0 global_irq 2 dfl dfl)",
        "ACPI: INT_SRC_OVR (bus 0 bus_irq 9 global_irq 9 high level)",
        "ACPI: Using IOAPIC for interrupt routing",
        "reboot: Power down",
    ] {
        assert!(log.contains(line), "no {line:?}:\n{}", run.tail());
    }
    // The PIT's IRQ 0 on pin 2, COM1 on pin 4, the SCI level-triggered on pin 9.
    let irqs = section(&log, "IRQS-\"\"END", "IRQS-END");
    for (irq, what) in [
        ("0:", "IO-APIC   2-edge      timer"),
        ("4:", "IO-APIC   4-edge      ttyS0"),
        ("9:", "IO-APIC   9-fasteoi   acpi"),
    ] {
        assert!(
            irqs.lines()
                .any(|l| l.trim_start().starts_with(irq) && l.contains(what)),
            "no {irq} {what} in /proc/interrupts:\n{irqs}"
        );
    }
    assert!(!irqs.contains("XT-PIC"), "{irqs}");
    // The local APIC timer ticks: the LOC count grew over the second slept.
    let loc = |text: &str| -> u64 {
        text.lines()
            .find_map(|l| l.trim_start().strip_prefix("LOC:"))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no LOC line in:\n{text}"))
    };
    let before = loc(irqs);
    let after = loc(section(&log, "LOC-\"\"END", "LOC-END"));
    assert!(
        before > 100 && after > before + 50,
        "LOC {before} then {after} one second later"
    );
    // NX as a user program sees it. On the host (an x86-64 kernel) the call into
    // the read-only page faults (the recording). Inside both Debian i386 kernels
    // it runs: under 686 because 32-bit page tables have no NX bit, and under
    // 686-pae as well, although that kernel reports "NX (Execute Disable)
    // protection: active" -- QEMU TCG with `-cpu max` prints the same there, so
    // this is the guest kernel's behaviour, not tab86's (the CPU's NX fetch
    // faults are checked by tests/system/pae.asm). Everything before the call
    // matches the host.
    let nx_out = section(&log, "NX-\"\"END", "NX-END").replace("\r\n", "\n");
    let before = &nx_host[..nx_host.find("noexec call:").expect("recording")];
    assert_eq!(
        nx_out,
        format!("{before}noexec call: ran (no NX)\nreturned=12345678\n"),
        "/nx on the {flavour} kernel"
    );
    let body = section(&log, "DMESG-\"\"END", "DMESG-END");
    let unexpected: Vec<&str> = body
        .lines()
        .filter(|l| !l.trim().is_empty() && !KNOWN.iter().any(|k| l.contains(k)))
        .collect();
    assert!(
        unexpected.is_empty(),
        "dmesg errors/warnings:\n{}",
        unexpected.join("\n")
    );
}

/// What the console printed between the echoed command holding `cmd_marker`
/// and the line holding `end`.
fn section<'a>(log: &'a str, cmd_marker: &str, end: &str) -> &'a str {
    let at = log.find(cmd_marker).expect("echoed command");
    let after = &log[at..];
    let after = &after[after.find('\n').map_or(after.len(), |i| i + 1)..];
    &after[..after.find(end).expect("end marker")]
}

#[test]
fn debian_686_boots_on_the_apic_board() {
    let Some((kernel, initrd)) = images() else {
        return skip_without("images", "images/build.sh");
    };
    boot_on_apic_board(&kernel, "686", &initrd);
}

#[test]
fn debian_686_pae_boots_on_the_apic_board() {
    // The pae kernel with the initramfs of its own modules.
    let env = read_env(&format!("{}/images/images.env", cache_dir()));
    let get = |k: &str| env.as_ref().and_then(|e| e.get(k).cloned());
    let (Some(kernel), Some(initrd)) = (get("KERNEL_PAE"), get("INITRD_PAE")) else {
        return skip_without("686-pae kernel and its initramfs", "images/build.sh");
    };
    boot_on_apic_board(&kernel, "686-pae", &initrd);
}

//! Scripted boot of Debian's i386 kernel with the busybox initramfs (built by
//! images/build.sh), in deterministic mode: wait for the shell, run a few commands,
//! check what they print and the kernel log, and power off. The same boot then
//! runs with the JIT attached: its serial output must be byte-identical, including
//! CPU-heavy user programs (sha256 of zeros and of text, gzip and gunzip; the
//! digests are also checked against the host's).

use std::time::Duration;
use tab86_machine::{ClockMode, Config, Firmware, Stop};
use tab86_tests::guest::{attach_jit, images, run_script, run_script_with, skip_without};

const SCRIPT: &str = r#"
timeout 600
wait TAB86-BOOT-OK
wait tab86# 
sendline uname -a
wait Linux \S+ 6\.1\.0-\S+-686 #1 SMP PREEMPT_DYNAMIC Debian .* i686 GNU/Linux
wait tab86# 
sendline cat /proc/cpuinfo
wait flags\s*:.*\bfpu\b.*\btsc\b.*\bcx8\b.*\bcmov\b
wait tab86# 
sendline cat /proc/interrupts
wait 0:\s+\d+\s+XT-PIC\s+timer
wait 4:\s+\d+\s+XT-PIC\s+ttyS0
wait 9:\s+\d+\s+XT-PIC\s+acpi
wait tab86# 
sendline dd if=/dev/zero bs=64k count=32 2>/dev/null | sha256sum
wait 5647f05ec18958947d32874eeb788fa396a05d0bab7c1b71f112ceb7e9b31eee
wait tab86# 
sendline seq 1 30000 | gzip -c > /tmp/s.gz; gzip -dc /tmp/s.gz | sha256sum; sha256sum /tmp/s.gz
wait 5bc81dbc42fe0b86fd1c103f37dfa3de5bd7e8a1767fd1bd4a2471aa8be7a06e
wait /tmp/s.gz
wait tab86# 
sendline dmesg | grep -i -E "error|bug|warn|unstable|fallback" ; echo DMESG-""END
wait \nDMESG-END
wait tab86# 
sendline poweroff -f
"#;

#[test]
fn debian_kernel_boots_to_a_shell_and_powers_off() {
    let Some((kernel, initrd)) = images() else {
        return skip_without("images", "images/build.sh");
    };
    let (kernel, initrd) = (
        std::fs::read(&kernel).expect("kernel"),
        std::fs::read(&initrd).expect("initrd"),
    );
    let cfg = || Config {
        mem_size: 256 << 20,
        firmware: Firmware::Kernel {
            kernel: kernel.clone(),
            initrd: Some(initrd.clone()),
            cmdline: "console=ttyS0".into(),
        },
        clock: ClockMode::Deterministic,
        debugcon: Vec::new(),
        serial: Box::new(std::io::sink()),
        rtc_epoch: 1_700_000_000,
        disks: Vec::new(),
        apic: false,
    };
    let run = run_script(cfg(), SCRIPT, Duration::from_secs(900));
    let (stop, log) = (run.stop, run.log.clone());
    assert_eq!(stop, Stop::Poweroff, "the guest did not power off");
    // The ACPI tables give Linux the S5 state: power-off goes through PM1a_CNT.
    for line in [
        "ACPI: PM-Timer IO Port: 0x608",
        "ACPI: PM: Preparing to enter system sleep state S5",
        "reboot: Power down",
    ] {
        assert!(log.contains(line), "no {line:?}:\n{}", run.tail());
    }
    // The dmesg filter must print nothing between its echoed command and the marker.
    let cmd = log.find("DMESG-\"\"END").expect("echoed dmesg command");
    let after = &log[cmd..];
    let after = &after[after.find('\n').map_or(after.len(), |i| i + 1)..];
    let body = &after[..after.find("DMESG-END").expect("dmesg marker")];
    // Printed by every ACPI PC whose root bridge has a _CRS (QEMU's and real ones
    // alike): informational, though it contains the word "bug".
    const KNOWN: &[&str] = &["PCI: Using host bridge windows from ACPI; if necessary"];
    let body: Vec<&str> = body
        .lines()
        .filter(|l| !l.trim().is_empty() && !KNOWN.iter().any(|k| l.contains(k)))
        .collect();
    assert!(
        body.is_empty(),
        "kernel log has error/bug/warning lines:\n{}",
        body.join("\n")
    );
    for bad in [
        "Oops",
        "BUG:",
        "Call Trace",
        "clocksource unstable",
        "Kernel panic",
        "fallback",
    ] {
        // Only the kernel's own boot log (before the shell echoes our commands).
        let boot_log = &log[..log.find("TAB86-BOOT-OK").unwrap_or(log.len())];
        assert!(
            !boot_log.contains(bad),
            "kernel log contains {bad:?}:\n{}",
            run.tail()
        );
    }
    let (s, secs) = (run.stats, run.elapsed.as_secs_f64());
    println!(
        "boot: passed; {} instructions, {secs:.1} s host, {:.1} MIPS, virtual {:.2} s",
        s.instructions,
        s.instructions as f64 / secs / 1e6,
        s.virtual_ns as f64 / 1e9
    );

    // The JIT must not change what the guest does: the same deterministic boot
    // with generated code prints the same bytes.
    let jit = run_script_with(cfg(), SCRIPT, Duration::from_secs(900), |m| {
        attach_jit(m, None)
    });
    assert_eq!(jit.stop, Stop::Poweroff, "with the JIT:\n{}", jit.tail());
    if jit.log != run.log {
        let (a, b): (Vec<&str>, Vec<&str>) = (run.log.lines().collect(), jit.log.lines().collect());
        let i = a
            .iter()
            .zip(&b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        panic!(
            "serial output with the JIT differs from the interpreter's at line {}:\n  interpreter: {:?}\n  jit:         {:?}",
            i + 1,
            a.get(i),
            b.get(i)
        );
    }
    let (s, secs) = (jit.stats, jit.elapsed.as_secs_f64());
    println!(
        "boot (jit): identical serial output; {} instructions, {secs:.1} s host, {:.1} MIPS",
        s.instructions,
        s.instructions as f64 / secs / 1e6
    );
}

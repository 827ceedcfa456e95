//! Machine snapshots (tab86_machine::snapshot).
//!
//! Determinism: Debian's kernel with the busybox initramfs and a virtio disk boots
//! in deterministic mode; a script loads virtio-blk, starts a CPU-heavy command
//! and a read of the disk, and `savestate`s while they run; the run continues N instructions, recording the serial output
//! and a hash of RAM. A machine built from the snapshot, once interpreting and once
//! with the JIT attached (its caches start cold), must produce the same output,
//! instruction count and RAM hash. The restored machine's snapshot, taken before
//! it runs, must be byte-identical to the file it came from: every device's state
//! survives save, restore, save.
//!
//! Bad snapshots (truncated, a corrupted byte, another format version, another
//! RAM size, another disk, not a snapshot) are refused with a message that says
//! which, before the machine (or its disks' devices) is built. The Debian test
//! below restores a root-shell snapshot over HTTP with an overlay.

use std::time::Instant;
use tab86_devices::{BlockBackend, MemDisk};
use tab86_driver::{Driver, Host, Options, Step};
use tab86_machine::snapshot::{self, SnapshotError};
use tab86_machine::{ClockMode, Config, Error, Firmware};
use tab86_tests::guest::{attach_jit, images, skip_without};

/// Instructions run after the save point and after each restore.
const N: u64 = 1_000_000_000;
const SLICE: u64 = 1_000_000;

struct Log {
    t0: Instant,
    out: Vec<u8>,
    saved: Option<(String, Vec<u8>)>,
}

impl Host for Log {
    fn now_ms(&self) -> f64 {
        self.t0.elapsed().as_secs_f64() * 1e3
    }
    fn console(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }
    fn message(&mut self, text: &str) {
        eprintln!("{text}");
    }
    fn save_state(&mut self, path: &str, bytes: &[u8]) -> Result<(), String> {
        self.saved = Some((path.to_string(), bytes.to_vec()));
        Ok(())
    }
}

fn log() -> Log {
    Log {
        t0: Instant::now(),
        out: Vec::new(),
        saved: None,
    }
}

fn disk() -> Box<dyn BlockBackend> {
    Box::new(MemDisk::new(vec![0; 4 << 20], false))
}

fn config(firmware: Firmware, mem: u32, disks: Vec<Box<dyn BlockBackend>>) -> Config {
    Config {
        mem_size: mem,
        firmware,
        clock: ClockMode::Deterministic,
        debugcon: Vec::new(),
        serial: Box::new(std::io::sink()),
        rtc_epoch: 1_700_000_000,
        disks,
        // The default board: its local APIC timer and IO-APIC routing must survive
        // the round trip too.
        apic: true,
    }
}

fn opts(script: Option<&str>) -> Options {
    Options {
        slice: SLICE,
        timeout_ms: Some(900_000.0),
        script: script.map(str::to_string),
        bios: false,
        profile: false,
    }
}

/// FNV-1a over guest RAM.
fn ram_hash(d: &mut Driver) -> u64 {
    d.machine()
        .cpu
        .mem
        .ram()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
}

/// Steps `d` until it has retired `until` instructions; returns the console
/// output of those steps and the RAM hash.
fn run_to(d: &mut Driver, host: &mut Log, until: u64) -> (Vec<u8>, u64) {
    let start = host.out.len();
    while d.machine().stats().instructions < until {
        match d.step(host) {
            Step::Continue | Step::Idle { .. } => {}
            Step::WaitingForIo => d.wait_io(100.0),
            Step::Exit(code) => panic!(
                "stopped with status {code}:\n{}",
                String::from_utf8_lossy(&host.out)
            ),
        }
    }
    (host.out[start..].to_vec(), ram_hash(d))
}

const SCRIPT: &str = r#"
timeout 600
wait TAB86-BOOT-OK
wait tab86# 
sendline cd /lib/modules/$(uname -r); for m in $(cat tab86.load); do insmod $m; done; cd /; ls /sys/block
wait vda
wait tab86# 
sendline seq 1 30000 | sha256sum; dd if=/dev/vda bs=64k count=16 2>/dev/null | sha256sum; echo SNAP-""DONE
wait echo SNAP-""DONE
savestate mid-command.snap
"#;

#[test]
fn restored_machines_continue_identically_with_and_without_the_jit() {
    let Some((kernel, initrd)) = images() else {
        return skip_without("images", "images/build.sh");
    };
    let firmware = Firmware::Kernel {
        kernel: std::fs::read(&kernel).expect("kernel"),
        initrd: Some(std::fs::read(&initrd).expect("initrd")),
        cmdline: "console=ttyS0".into(),
    };
    let mut host = log();
    let mut d = Driver::new(
        config(firmware, 256 << 20, vec![disk()]),
        opts(Some(SCRIPT)),
        || 0.0,
    )
    .expect("machine");
    while host.saved.is_none() {
        match d.step(&mut host) {
            Step::Continue | Step::Idle { .. } => {}
            Step::WaitingForIo => d.wait_io(100.0),
            Step::Exit(code) => panic!(
                "stopped with status {code} before the snapshot:\n{}",
                String::from_utf8_lossy(&host.out)
            ),
        }
    }
    let (path, snap) = host.saved.clone().unwrap();
    assert_eq!(path, "mid-command.snap");
    let at = d.machine().stats().instructions;
    let (out_a, hash_a) = run_to(&mut d, &mut host, at + N);
    let end_a = d.machine().stats().instructions;
    let text = String::from_utf8_lossy(&out_a);
    assert!(
        text.contains("SNAP-DONE"),
        "the command finished after the save: {text}"
    );
    assert!(
        text.contains("30e14955ebf1352266dc2ff8067e68104607e750abb9d3b36582b8af909fcb58"),
        "the guest read 1 MiB of zeros from the virtio disk after the save: {text}"
    );
    eprintln!(
        "snapshot: {} bytes at {at} instructions (256 MiB RAM)",
        snap.len()
    );
    // Kept for trying the CLI by hand (`tab86 run --load-state FILE --disk ...`).
    let keep = std::env::temp_dir().join("tab86-snapshot-test.snap");
    let _ = std::fs::write(&keep, &snap);

    for jit in [false, true] {
        let mut h = log();
        let cfg = config(Firmware::Snapshot(snap.clone()), 256 << 20, vec![disk()]);
        let t = Instant::now();
        let mut r = Driver::new(cfg, opts(None), || 0.0).expect("restore");
        eprintln!("snapshot: restored in {:?} (jit {jit})", t.elapsed());
        assert_eq!(r.machine().stats().instructions, at);
        if !jit {
            // Save, restore, save: every device's state comes back byte for byte.
            let t = Instant::now();
            let again = r.save_state().expect("save again");
            eprintln!("snapshot: saved again in {:?}", t.elapsed());
            assert!(again == snap, "second save differs");
        } else {
            attach_jit(r.machine(), Some(64));
        }
        let (out_b, hash_b) = run_to(&mut r, &mut h, at + N);
        assert_eq!(r.machine().stats().instructions, end_a, "jit {jit}");
        assert!(
            out_b == out_a,
            "jit {jit}: output differs:\n--- saved run\n{}\n--- restored\n{}",
            String::from_utf8_lossy(&out_a),
            String::from_utf8_lossy(&out_b)
        );
        assert_eq!(hash_b, hash_a, "jit {jit}: RAM differs");
    }
}

/// Builds a machine from `bytes` and returns the refusal's message.
fn refusal(bytes: Vec<u8>, mem: u32, disk: Box<dyn BlockBackend>) -> String {
    match Driver::new(
        config(Firmware::Snapshot(bytes), mem, vec![disk]),
        opts(None),
        || 0.0,
    ) {
        Ok(_) => panic!("a bad snapshot was accepted"),
        Err(msg) => msg,
    }
}

#[test]
fn bad_snapshots_are_refused_before_anything_is_built() {
    let Some((kernel, initrd)) = images() else {
        return skip_without("images", "images/build.sh");
    };
    let firmware = Firmware::Kernel {
        kernel: std::fs::read(&kernel).expect("kernel"),
        initrd: Some(std::fs::read(&initrd).expect("initrd")),
        cmdline: "console=ttyS0".into(),
    };
    let mut d =
        Driver::new(config(firmware, 64 << 20, vec![disk()]), opts(None), || 0.0).expect("machine");
    let mut host = log();
    // A little way into the boot, so the state is not the power-on state.
    run_to(&mut d, &mut host, 20_000_000);
    let good = d.save_state().expect("save");
    assert!(snapshot::decode(&good).is_ok());
    // Sanity: the good snapshot restores.
    Driver::new(
        config(Firmware::Snapshot(good.clone()), 64 << 20, vec![disk()]),
        opts(None),
        || 0.0,
    )
    .expect("the good snapshot restores");

    let check = |bytes: Vec<u8>, mem: u32, disk: Box<dyn BlockBackend>, want: &str| {
        let msg = refusal(bytes, mem, disk);
        eprintln!("refused: {msg}");
        assert!(
            msg.contains("snapshot") && msg.contains(want),
            "expected '{want}' in '{msg}'"
        );
    };
    let mut truncated = good.clone();
    truncated.truncate(good.len() / 2);
    check(truncated, 64 << 20, disk(), "truncated");
    let mut corrupt = good.clone();
    let mid = good.len() / 2;
    corrupt[mid] ^= 0x40;
    check(corrupt, 64 << 20, disk(), "checksum");
    let mut version = good.clone();
    version[8] = version[8].wrapping_add(1);
    check(
        version,
        64 << 20,
        disk(),
        &format!("format version {}", snapshot::FORMAT_VERSION + 1),
    );
    check(b"not a snapshot".to_vec(), 64 << 20, disk(), "bad magic");
    check(good.clone(), 128 << 20, disk(), "RAM size");
    // Another disk: refused before anything touches it.
    let other = MemDisk::new(vec![0x5A; 8 << 20], false);
    check(good.clone(), 64 << 20, Box::new(other), "disk 0");

    // The refusals come from Machine::new as typed errors too.
    let e = tab86_machine::Machine::new(
        config(
            Firmware::Snapshot(good[..100].to_vec()),
            64 << 20,
            vec![disk()],
        ),
        Box::new(NoClock),
    )
    .err()
    .expect("refused");
    assert!(
        matches!(e, Error::Snapshot(SnapshotError::Truncated { .. })),
        "{e}"
    );
}

struct NoClock;
impl tab86_machine::HostClock for NoClock {
    fn now_ns(&self) -> u64 {
        0
    }
}

/// Debian bookworm over HTTP with a copy-on-write overlay: boot to the root shell,
/// save (the host flushes the overlay first) and stop; a machine restored from the
/// snapshot with the same disk and overlay runs commands, writes a file, syncs and
/// powers off; the old snapshot is then refused over the moved-on overlay, and
/// the reopened overlay has the file (debugfs) in a clean file system (e2fsck).
#[test]
fn debian_restored_at_its_root_shell_writes_through_to_the_overlay() {
    use tab86_storage::open::{open, DiskOptions, DiskSpec};
    use tab86_storage::serve::{ServeOptions, Server};
    let img = match tab86_tests::guest::debian_image() {
        Ok(i) => i,
        Err((what, hint)) => return skip_without(what, hint),
    };
    let server = Server::start(&img.chunks, "127.0.0.1:0", ServeOptions::default()).expect("serve");
    let url = format!("http://{}/manifest.json", server.addr());
    let work = std::env::temp_dir().join(format!("tab86-snapshot-debian-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let overlay = work.join("overlay.img");
    let spec = DiskSpec {
        source: url,
        overlay: Some(overlay.clone()),
        read_only: false,
    };
    let kernel = std::fs::read(&img.kernel).unwrap();
    let initrd = std::fs::read(&img.initrd).unwrap();
    let prompt = img.prompt.clone();
    let cold = || Firmware::Kernel {
        kernel: kernel.clone(),
        initrd: Some(initrd.clone()),
        cmdline: img.cmdline.clone(),
    };
    let disk = || open(&spec, &DiskOptions::default()).expect("open the HTTP disk");

    /// Steps until the script is done and the machine stopped (or `until_saved`).
    fn play(d: &mut Driver, host: &mut Log, until_saved: bool) -> i32 {
        loop {
            if until_saved && host.saved.is_some() {
                return -1;
            }
            match d.step(host) {
                Step::Continue => {}
                Step::Idle { .. } => std::thread::sleep(std::time::Duration::from_millis(1)),
                Step::WaitingForIo => d.wait_io(100.0),
                Step::Exit(code) => return code,
            }
        }
    }
    struct Flushing(Log, std::sync::Arc<dyn tab86_storage::Store>);
    let mut t = Instant::now();

    // 1. Cold boot to the root shell, save there, stop.
    // Destructured: a partly moved `OpenedDisk` would keep its store (and the
    // overlay's lock) alive after the machine is gone.
    let tab86_storage::open::OpenedDisk { backend, store } = disk();
    let script = format!("timeout 600\nwait -t 1500 {prompt}\nsavestate root-shell.snap\n");
    let mut d = Driver::new(
        config(cold(), 512 << 20, vec![Box::new(backend)]),
        opts(Some(&script)),
        || 0.0,
    )
    .expect("machine");
    attach_jit(d.machine(), None);
    let mut host = Flushing(log(), store);
    impl Host for Flushing {
        fn now_ms(&self) -> f64 {
            self.0.now_ms()
        }
        fn console(&mut self, bytes: &[u8]) {
            self.0.console(bytes)
        }
        fn message(&mut self, text: &str) {
            self.0.message(text)
        }
        fn flush_disks(&mut self) -> Result<(), String> {
            self.1.flush().map_err(|e| e.to_string())
        }
        fn save_state(&mut self, path: &str, bytes: &[u8]) -> Result<(), String> {
            self.0.save_state(path, bytes)
        }
    }
    // `play` takes a Log; drive the flushing host by hand here.
    while host.0.saved.is_none() {
        match d.step(&mut host) {
            Step::Continue | Step::Idle { .. } => {}
            Step::WaitingForIo => d.wait_io(100.0),
            Step::Exit(code) => panic!(
                "status {code} before the shell:\n{}",
                String::from_utf8_lossy(&host.0.out)
            ),
        }
    }
    let snap = host.0.saved.take().unwrap().1;
    let at = d.machine().stats().instructions;
    // Stop here: the disk and overlay are as the snapshot recorded them.
    drop(d);
    drop(host);
    eprintln!(
        "snapshot: debian root shell: cold boot {:.1} s, {at} instructions; snapshot {} bytes",
        t.elapsed().as_secs_f64(),
        snap.len()
    );

    // 2. Restore with the same disk and overlay; use the disk, write, sync.
    t = Instant::now();
    let script = format!(
        "timeout 600\n\
         sendline cat /etc/debian_version\n\
         wait \\b12\\.\\d+\n\
         wait {prompt}\n\
         sendline echo restored-and-written > /root/snap.txt; sync; echo WROTE-OK\n\
         wait [\\r\\n]WROTE-OK\n\
         wait {prompt}\n\
         sendline poweroff\n"
    );
    let mut h = log();
    let mut r = Driver::new(
        config(
            Firmware::Snapshot(snap.clone()),
            512 << 20,
            vec![Box::new(disk().backend)],
        ),
        opts(Some(&script)),
        || 0.0,
    )
    .expect("restore");
    let restored = t.elapsed();
    attach_jit(r.machine(), None);
    let code = play(&mut r, &mut h, false);
    let out = String::from_utf8_lossy(&h.out).to_string();
    assert_eq!(code, 0, "restored run:\n{out}");
    assert!(r.script_done() && out.contains("WROTE-OK"), "{out}");
    eprintln!(
        "snapshot: debian restored in {:.2} s; commands, write, sync, poweroff in {:.1} s",
        restored.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    drop(r);

    // 3. The overlay has moved on: the old snapshot no longer fits it.
    let refused = Driver::new(
        config(
            Firmware::Snapshot(snap),
            512 << 20,
            vec![Box::new(disk().backend)],
        ),
        opts(None),
        || 0.0,
    )
    .err()
    .expect("the snapshot is refused over a disk written since");
    assert!(refused.contains("written since the snapshot"), "{refused}");

    // 4. After the restart the overlay has the file, and the file system is clean.
    let merged = work.join("merged.img");
    {
        let store = tab86_storage::open::open_store(&spec, &DiskOptions::default()).unwrap();
        let mut f = std::fs::File::create(&merged).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let mut off = 0;
        while off < store.size() {
            let n = buf.len().min((store.size() - off) as usize);
            store.read_at(off, &mut buf[..n]).unwrap();
            std::io::Write::write_all(&mut f, &buf[..n]).unwrap();
            off += n as u64;
        }
    }
    let cat = std::process::Command::new("debugfs")
        .args(["-R", "cat /root/snap.txt"])
        .arg(&merged)
        .output()
        .expect("debugfs (e2fsprogs)");
    let text = String::from_utf8_lossy(&cat.stdout);
    assert_eq!(
        text.trim(),
        "restored-and-written",
        "{}",
        String::from_utf8_lossy(&cat.stderr)
    );
    let fsck = std::process::Command::new("e2fsck")
        .arg("-fn")
        .arg(&merged)
        .output()
        .expect("e2fsck");
    assert_eq!(
        fsck.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&fsck.stdout),
        String::from_utf8_lossy(&fsck.stderr)
    );
    eprintln!("snapshot: debian: the overlay has the file written after the restore; e2fsck clean");
    let _ = std::fs::remove_dir_all(&work);
}

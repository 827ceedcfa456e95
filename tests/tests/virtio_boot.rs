//! Debian's kernel with a virtio-blk root: an ext2 image built on the fly (static
//! busybox plus an /sbin/init script) on an in-memory disk. The initramfs loads
//! virtio_pci + virtio_blk + ext4 and switches to /dev/vda; our init prints a file
//! from the disk, reads the raw device with dd, writes a file, syncs and powers
//! off. Then the written file must be in the disk's bytes (read back with debugfs).

use std::cell::RefCell;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;
use tab86_devices::block::{BlockBackend, BlockCompletion, BlockOp, MemDisk, RequestId};
use tab86_machine::{ClockMode, Config, Firmware, Stop};
use tab86_tests::guest::{images, run_script, skip_without};

/// A MemDisk the test can still read after handing it to the machine.
#[derive(Clone)]
struct SharedDisk(Rc<RefCell<MemDisk>>);
impl BlockBackend for SharedDisk {
    fn capacity(&self) -> u64 {
        self.0.borrow().capacity()
    }
    fn read_only(&self) -> bool {
        self.0.borrow().read_only()
    }
    fn supports_discard(&self) -> bool {
        self.0.borrow().supports_discard()
    }
    fn submit(&mut self, id: RequestId, op: BlockOp) {
        self.0.borrow_mut().submit(id, op)
    }
    fn poll(&mut self) -> Vec<BlockCompletion> {
        self.0.borrow_mut().poll()
    }
    fn in_flight(&self) -> usize {
        self.0.borrow().in_flight()
    }
}

const HELLO: &str = "tab86 virtio-blk root says hello 7f3a9c";
const WRITTEN: &str = "written by the guest through virtio-blk e41d07";

const INIT: &str = r#"#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc 2>/dev/null
echo "VIRTIO-ROOT-OK $($B cat /proc/mounts | $B grep ' / ')"
$B cat /hello.txt
$B grep virtio /proc/interrupts
t0=$($B cut -d' ' -f1 /proc/uptime)
$B dd if=/dev/vda of=/dev/null bs=1M count=32 2>/dev/null
t1=$($B cut -d' ' -f1 /proc/uptime)
echo "DD: $t0 $t1"
echo "WRITTEN_TEXT" > /out.txt
$B sync
$B mount -o remount,ro /
echo "VIRTIO-DONE $($B cat /out.txt)"
$B poweroff -f
"#;

fn sh(cmd: &mut Command) {
    let out = cmd.output().expect("run host tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An ext2 image of `size_mb` MiB holding busybox (from the initramfs), /sbin/init
/// and /hello.txt.
fn build_rootfs(work: &Path, initrd: &str, size_mb: u32) -> Vec<u8> {
    let root = work.join("root");
    for d in ["bin", "sbin", "proc", "sys", "dev", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let x = work.join("initrd");
    std::fs::create_dir_all(&x).unwrap();
    sh(Command::new("sh")
        .current_dir(&x)
        .arg("-c")
        .arg(format!("zcat '{initrd}' | cpio -id --quiet bin/busybox")));
    std::fs::copy(x.join("bin/busybox"), root.join("bin/busybox")).unwrap();
    std::fs::write(root.join("hello.txt"), format!("{HELLO}\n")).unwrap();
    let init = root.join("sbin/init");
    std::fs::write(&init, INIT.replace("WRITTEN_TEXT", WRITTEN)).unwrap();
    for f in [init, root.join("bin/busybox")] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let img = work.join("root.ext2");
    sh(Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext2", "-E", "root_owner=0:0", "-d"])
        .arg(&root)
        .arg(&img)
        .arg(format!("{size_mb}M")));
    std::fs::read(&img).unwrap()
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "command -v {tool} || test -x /usr/sbin/{tool} || test -x /sbin/{tool}"
        ))
        .output()
        .is_ok_and(|o| o.status.success())
}

fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/sbin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    PathBuf::from(name)
}

#[test]
fn debian_kernel_mounts_a_virtio_blk_root_and_writes_to_it() {
    let Some((kernel, initrd)) = images() else {
        return skip_without("images", "images/build.sh");
    };
    if !have("mke2fs") || !have("debugfs") {
        if std::env::var("CI").is_ok() {
            panic!("e2fsprogs missing: run .ci/setup-host");
        }
        eprintln!("virtio_boot: SKIPPED (no mke2fs/debugfs)");
        return;
    }
    let work = std::env::temp_dir().join(format!("tab86-virtio-boot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let image = build_rootfs(&work, &initrd, 40);
    let disk = SharedDisk(Rc::new(RefCell::new(MemDisk::new(image, false))));

    let cfg = Config {
        mem_size: 128 << 20,
        firmware: Firmware::Kernel {
            kernel: std::fs::read(&kernel).expect("kernel"),
            initrd: Some(std::fs::read(&initrd).expect("initrd")),
            cmdline: "console=ttyS0 root=/dev/vda rw".into(),
        },
        clock: ClockMode::Deterministic,
        debugcon: Vec::new(),
        serial: Box::new(std::io::sink()),
        rtc_epoch: 1_700_000_000,
        disks: vec![Box::new(disk.clone())],
        apic: true,
    };
    // No console script: the disk's own init drives the run and powers off.
    let run = run_script(cfg, "", Duration::from_secs(900));
    let (stop, log) = (run.stop, run.log.clone());
    assert!(
        stop == Stop::Poweroff,
        "unexpected stop {stop:?}:\n{}",
        run.tail()
    );
    assert!(
        log.contains("virtio_blk virtio0: [vda]"),
        "no vda:\n{}",
        run.tail()
    );
    assert!(
        log.contains("VIRTIO-ROOT-OK /dev/vda / ext"),
        "root not mounted from vda:\n{}",
        run.tail()
    );
    assert!(
        log.contains(HELLO),
        "file from the disk not printed:\n{}",
        run.tail()
    );
    // INTA# of slot 2 goes through PIRQB to IRQ 10, as the firmware told the kernel:
    // on the APIC board, IO-APIC pin 10, level-triggered active-low (MADT, _PRT).
    assert!(
        log.lines().any(|l| l.trim_start().starts_with("10:")
            && l.contains("IO-APIC  10-fasteoi")
            && l.trim_end().ends_with("virtio0")),
        "virtio0 is not on IRQ 10:\n{}",
        run.tail()
    );
    assert!(
        log.contains(&format!("VIRTIO-DONE {WRITTEN}")),
        "guest did not finish:\n{}",
        run.tail()
    );
    for bad in ["I/O error", "EXT4-fs error", "Oops", "BUG:", "Call Trace"] {
        assert!(
            !log.contains(bad),
            "kernel log has {bad:?}:\n{}",
            run.tail()
        );
    }
    // Guest-reported raw read speed, in virtual time (1 ns per instruction here).
    let dd: Vec<f64> = log
        .lines()
        .find_map(|l| l.strip_prefix("DD: "))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|t| t.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    if let [t0, t1] = dd[..] {
        println!(
            "virtio_boot: dd of 32 MiB from /dev/vda took {:.2} s guest time ({:.0} MiB/s)",
            t1 - t0,
            32.0 / (t1 - t0).max(0.01)
        );
    }
    for l in log
        .lines()
        .filter(|l| l.contains("virtio") || l.contains("vda"))
    {
        println!("  {l}");
    }
    // The written file is on the disk: read it back from the image with debugfs.
    let after = work.join("after.ext2");
    std::fs::write(&after, disk.0.borrow().data()).unwrap();
    let cat = Command::new(tool("debugfs"))
        .args(["-R", "cat /out.txt"])
        .arg(&after)
        .output()
        .expect("debugfs");
    let text = String::from_utf8_lossy(&cat.stdout);
    assert_eq!(
        text.trim_end(),
        WRITTEN,
        "debugfs: {}",
        String::from_utf8_lossy(&cat.stderr)
    );
    let fsck = Command::new(tool("e2fsck"))
        .args(["-f", "-n"])
        .arg(&after)
        .output()
        .expect("e2fsck");
    assert!(
        fsck.status.success(),
        "the filesystem is not clean after the guest's sync:\n{}{}",
        String::from_utf8_lossy(&fsck.stdout),
        String::from_utf8_lossy(&fsck.stderr)
    );
    let _ = std::fs::remove_dir_all(&work);
    let s = run.stats;
    println!(
        "virtio_boot: passed; {} instructions, {:.1} s host, virtual {:.2} s",
        s.instructions,
        run.elapsed.as_secs_f64(),
        s.virtual_ns as f64 / 1e9
    );
}

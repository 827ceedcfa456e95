//! `kill -9` of the real `tab86` process while the Debian guest writes and syncs
//! files in a loop: afterwards every file the guest reported synced reads back
//! from the overlay, `e2fsck` finds the merged image consistent (apart from the
//! summary counters an ext2 mounted read-write always leaves behind), and the base
//! image is untouched. Needs the Debian image (`images/build-rootfs.sh`); skips
//! without it outside CI.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tab86_storage::open::{open_store, DiskOptions, DiskSpec};
use tab86_tests::guest::{debian_image, skip_without};

/// Files the loop cycles through; iteration `i` writes `tab86-i` to `/root/k(i % FILES)`.
const FILES: u64 = 40;

/// Reads the disk the spec names (base and overlay merged) into a raw image file.
fn merge(spec: &DiskSpec, out: &Path) {
    let store = open_store(spec, &DiskOptions::default()).expect("reopen the overlay");
    let mut f = std::fs::File::create(out).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0;
    while off < store.size() {
        let n = buf.len().min((store.size() - off) as usize);
        store.read_at(off, &mut buf[..n]).unwrap();
        f.write_all(&buf[..n]).unwrap();
        off += n as u64;
    }
}

/// The lines of an `e2fsck -fn` report that name damage. An ext2 file system
/// that was mounted read-write when the machine died always has stale summary
/// counters and may have blocks or inodes marked used that nothing uses (leaks,
/// `-` bitmap differences); anything else (a `+` bitmap difference: used but
/// marked free, bad inodes, broken directories) is damage.
fn damage(report: &str) -> Vec<&str> {
    report
        .lines()
        .map(str::trim)
        .filter(|l| {
            let benign = l.is_empty()
                || l.starts_with("Pass ")
                || l.starts_with("e2fsck ")
                || l.contains("files (")
                || l.contains("WARNING: Filesystem still has errors")
                || l.contains("was not cleanly unmounted")
                || l.starts_with("Fix? no")
                || l.contains("count wrong")
                || (l.contains("bitmap differences") && !l.contains('+'))
                || l.starts_with("Padding at end of");
            !benign
        })
        .collect()
}

#[test]
fn kill_9_during_write_and_sync_loses_no_synced_file() {
    let img = match debian_image() {
        Ok(i) => i,
        Err((what, hint)) => return skip_without(what, hint),
    };
    let (kernel, initrd, chunks) = (img.kernel, img.initrd, img.chunks);
    let (prompt, cmdline) = (img.prompt, img.cmdline);
    let manifest_before = std::fs::read(chunks.join("manifest.json")).unwrap();
    let work = std::env::temp_dir().join(format!("tab86-kill9-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let overlay = work.join("overlay.cow");

    let mut child = Command::new(env!("CARGO_BIN_EXE_tab86"))
        .args([
            "run", "--kernel", &kernel, "--initrd", &initrd, "--append", &cmdline,
        ])
        .args(["--mem", "512M", "--disk", chunks.to_str().unwrap()])
        .args(["--overlay", overlay.to_str().unwrap(), "--timeout", "1500"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tab86");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    // Console lines as they end, and the bytes of the line not yet ended: the
    // shell's prompt is the last thing it prints, with no newline after it.
    let (tx, rx) = mpsc::channel::<(String, bool)>();
    std::thread::spawn(move || {
        let mut stdout = stdout;
        let mut partial: Vec<u8> = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stdout.read(&mut buf) {
            partial.extend_from_slice(&buf[..n]);
            while let Some(i) = partial.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = partial.drain(..=i).collect();
                let text = String::from_utf8_lossy(&line[..i]).into_owned();
                if tx.send((text, true)).is_err() {
                    return;
                }
            }
            if !partial.is_empty()
                && tx
                    .send((String::from_utf8_lossy(&partial).into_owned(), false))
                    .is_err()
            {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(1500);
    let mut log = String::new();
    // Waits for a line that `pred` accepts; `unended` also lets it accept the
    // line being printed (the prompt).
    let mut wait_for = |pred: &dyn Fn(&str) -> bool, unended: bool| -> Option<String> {
        while Instant::now() < deadline {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok((l, ended)) => {
                    if ended {
                        log.push_str(&l);
                        log.push('\n');
                    }
                    if (ended || unended) && pred(&l) {
                        return Some(l);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(_) => return None,
            }
        }
        None
    };
    assert!(
        wait_for(&|l| l.contains(&prompt), true).is_some(),
        "no shell prompt"
    );
    writeln!(
        stdin,
        "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); echo tab86-$i > /root/k$((i % {FILES})); \
         sync; echo SYNCED-$i; done"
    )
    .unwrap();
    // Kill after a number of synced iterations that gives every file a value.
    let synced = |l: &str| -> Option<u64> { l.trim().strip_prefix("SYNCED-")?.parse().ok() };
    let mut last = 0;
    while last < FILES + 5 {
        let l =
            wait_for(&|l| l.trim().starts_with("SYNCED-"), false).expect("the write loop stalled");
        last = synced(&l).unwrap();
    }
    // SAFETY: plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let status = child.wait().unwrap();
    // Lines already in the pipe may report later syncs.
    while let Ok((l, _)) = rx.try_recv() {
        if let Some(n) = synced(&l) {
            last = last.max(n);
        }
    }
    eprintln!("kill9: killed ({status}) after SYNCED-{last}");

    let merged = work.join("merged.img");
    merge(
        &DiskSpec {
            source: chunks.to_str().unwrap().into(),
            overlay: Some(overlay.clone()),
            read_only: false,
        },
        &merged,
    );
    let fsck = Command::new("e2fsck")
        .args(["-fn"])
        .arg(&merged)
        .output()
        .expect("e2fsck (e2fsprogs) is needed");
    let report =
        String::from_utf8_lossy(&fsck.stdout).into_owned() + &String::from_utf8_lossy(&fsck.stderr);
    eprintln!("kill9: e2fsck -fn exit {:?}\n{report}", fsck.status.code());
    let bad = damage(&report);
    assert!(
        matches!(fsck.status.code(), Some(0 | 4)) && bad.is_empty(),
        "e2fsck found damage beyond stale counters and leaks: {bad:?}\n{report}"
    );
    // Every file's content is from the last synced write to it or a later one.
    for j in last + 1 - FILES..=last {
        let name = format!("/root/k{}", j % FILES);
        let out = Command::new("debugfs")
            .args(["-R", &format!("cat {name}")])
            .arg(&merged)
            .output()
            .expect("debugfs");
        let text = String::from_utf8_lossy(&out.stdout);
        let got: Option<u64> = text
            .trim()
            .strip_prefix("tab86-")
            .and_then(|v| v.parse().ok());
        assert!(
            matches!(got, Some(v) if v >= j && v % FILES == j % FILES),
            "{name}: synced tab86-{j}, found {text:?}"
        );
    }
    assert_eq!(
        std::fs::read(chunks.join("manifest.json")).unwrap(),
        manifest_before,
        "the base image changed"
    );
    eprintln!("kill9: every synced file reads back; e2fsck clean but for summary counters");
    let _ = std::fs::remove_dir_all(&work);
}

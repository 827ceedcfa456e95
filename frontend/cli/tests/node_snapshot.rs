//! Snapshots between the native `tab86` and the Node runner (issue 17): the
//! deterministic boot of the Debian kernel and busybox initramfs is saved at
//! its shell prompt natively and under Node (`savestate FILE`, `quit`); each
//! snapshot is then restored natively and under Node (`--load-state`) and
//! continued (`uname -a`, power-off). The two snapshots are the same bytes, and
//! all continuations print the same serial bytes: a snapshot saved natively
//! restores under Node and the reverse.
//!
//! Needs the images (images/build.sh), Node 18 or later and the package
//! (`bash frontend/web/build.sh`); skips without them outside CI.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use tab86_tests::guest::{images, node_package, skip_without};

const SAVE: &str = "timeout 600
wait TAB86-BOOT-OK
wait tab86# 
savestate SNAP
quit
";

const CONTINUE: &str = "timeout 600
sendline uname -a
wait Linux \\S+ 6\\.1\\.0-\\S+-686 #1 SMP PREEMPT_DYNAMIC Debian .* i686 GNU/Linux
wait tab86# 
sendline poweroff -f
";

/// `tab86 ARGS` natively, or under Node with `node`.
fn run(node: bool, root: &Path, args: &[&str]) -> Output {
    let mut c = if node {
        let mut c = Command::new("node");
        c.arg(root.join("frontend/node/tab86.mjs"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_tab86"))
    };
    c.arg("run")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .expect("run tab86")
}

fn name(node: bool) -> &'static str {
    if node {
        "node"
    } else {
        "native"
    }
}

#[test]
fn snapshots_saved_natively_restore_under_node_and_the_reverse() {
    let Some((kernel, initrd)) = images() else {
        return skip_without("images", "images/build.sh");
    };
    let root = match node_package() {
        Ok(r) => r,
        Err((what, hint)) => return skip_without(&what, hint),
    };
    let dir = std::env::temp_dir().join(format!("tab86-node-snapshot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cont = dir.join("continue.script");
    std::fs::write(&cont, CONTINUE).unwrap();

    // Save at the shell prompt, natively and under Node.
    let mut snaps = Vec::new();
    for node in [false, true] {
        let snap = dir.join(format!("{}.snap", name(node)));
        let script = dir.join(format!("save-{}.script", name(node)));
        std::fs::write(&script, SAVE.replace("SNAP", snap.to_str().unwrap())).unwrap();
        let o = run(
            node,
            &root,
            &[
                "--kernel",
                &kernel,
                "--initrd",
                &initrd,
                "--append",
                "console=ttyS0",
                "--mem",
                "256M",
                "--deterministic",
                "--script",
                script.to_str().unwrap(),
            ],
        );
        assert_eq!(
            o.status.code(),
            Some(0),
            "{} boot and save: {}",
            name(node),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(snap.exists(), "{} wrote no snapshot", name(node));
        snaps.push(snap);
    }
    let (a, b) = (
        std::fs::read(&snaps[0]).unwrap(),
        std::fs::read(&snaps[1]).unwrap(),
    );
    // The same deterministic machine at the same point: the same file.
    assert!(
        a == b,
        "the native snapshot ({} bytes) and Node's ({} bytes) differ",
        a.len(),
        b.len()
    );
    println!(
        "node_snapshot: native and Node snapshots identical ({} bytes)",
        a.len()
    );

    // Each snapshot continued natively and under Node.
    let mut logs: Vec<(String, Vec<u8>)> = Vec::new();
    for snap in &snaps {
        for node in [false, true] {
            let what = format!(
                "{} restored {}",
                snap.file_name().unwrap().to_string_lossy(),
                name(node)
            );
            let log = dir.join(format!("{what}.log").replace(' ', "-"));
            let o = run(
                node,
                &root,
                &[
                    "--load-state",
                    snap.to_str().unwrap(),
                    "--deterministic",
                    "--script",
                    cont.to_str().unwrap(),
                    "--serial-log",
                    log.to_str().unwrap(),
                ],
            );
            assert_eq!(
                o.status.code(),
                Some(0),
                "{what}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            logs.push((what, std::fs::read(&log).unwrap()));
        }
    }
    let (first, rest) = logs.split_first().unwrap();
    assert!(
        String::from_utf8_lossy(&first.1).contains("GNU/Linux"),
        "{}: {}",
        first.0,
        String::from_utf8_lossy(&first.1)
    );
    for (what, log) in rest {
        assert!(
            *log == first.1,
            "{what} printed\n{}\nbut {} printed\n{}",
            String::from_utf8_lossy(log),
            first.0,
            String::from_utf8_lossy(&first.1)
        );
    }
    println!(
        "node_snapshot: 4 continuations (native/Node snapshot x native/Node restore) printed the same {} bytes",
        first.1.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

//! The machine as a WebAssembly package under Node (frontend/web, run by
//! frontend/node/tab86.mjs) against the native `tab86`: the same deterministic
//! boot of the Debian kernel and busybox initramfs, to a shell, `uname -a` and a
//! power-off, natively interpreted and under Node with the JIT on (its modules
//! compiled and run by V8), must print byte-identical serial output and exit 0
//! both times, and under Node most instructions must have run in generated code.
//!
//! Needs the images (images/build.sh), Node 18 or later and the package
//! (`bash frontend/web/build.sh`, which .ci/test runs first). Without them the
//! test is skipped with a message, except in CI (`CI` set), where it fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;
use tab86_tests::guest::{images, node_package, skip_without};

const SCRIPT: &str = "timeout 600
wait TAB86-BOOT-OK
wait tab86# 
sendline uname -a
wait Linux \\S+ 6\\.1\\.0-\\S+-686 #1 SMP PREEMPT_DYNAMIC Debian .* i686 GNU/Linux
wait tab86# 
sendline poweroff -f
";

/// The first differing line of two serial logs, for the failure message.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let i = la
        .iter()
        .zip(&lb)
        .position(|(x, y)| x != y)
        .unwrap_or(la.len().min(lb.len()));
    format!(
        "first difference at line {} ({} and {} lines):\n  native: {:?}\n  node:   {:?}",
        i + 1,
        la.len(),
        lb.len(),
        la.get(i),
        lb.get(i)
    )
}

#[test]
fn node_boot_prints_what_the_native_boot_prints() {
    let Some((kernel, initrd)) = images() else {
        return skip_without("images", "images/build.sh");
    };
    let root = match node_package() {
        Ok(r) => r,
        Err((what, hint)) => return skip_without(&what, hint),
    };
    let dir = std::env::temp_dir().join(format!("tab86-node-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("script");
    std::fs::write(&script, SCRIPT).unwrap();
    let (a, b): (PathBuf, PathBuf) = (dir.join("native.log"), dir.join("node.log"));
    let common = |log: &Path| -> Vec<String> {
        [
            "run",
            "--kernel",
            &kernel,
            "--initrd",
            &initrd,
            "--append",
            "console=ttyS0",
            "--mem",
            "256M",
            "--deterministic",
            "--timeout",
            "900",
            "--script",
            script.to_str().unwrap(),
            "--serial-log",
            log.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };

    let t = Instant::now();
    let native = Command::new(env!("CARGO_BIN_EXE_tab86"))
        .args(common(&a))
        .arg("--no-jit")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .expect("run tab86");
    let native_secs = t.elapsed().as_secs_f64();
    let a_log = std::fs::read(&a).expect("native serial log");
    assert_eq!(
        native.status.code(),
        Some(0),
        "native run: {}\n{}",
        String::from_utf8_lossy(&native.stderr),
        first_difference(&a_log, b"")
    );
    // Both start the CMOS clock at the same fixed time in deterministic mode, so
    // the kernel's wall-clock lines (audit, rtc_cmos) agree too.
    let t = Instant::now();
    let node = Command::new("node")
        .arg(root.join("frontend/node/tab86.mjs"))
        .args(common(&b))
        .arg("--stats")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .expect("run node");
    let node_secs = t.elapsed().as_secs_f64();
    let b_log = std::fs::read(&b).unwrap_or_default();
    assert_eq!(
        node.status.code(),
        Some(0),
        "node run: {}",
        String::from_utf8_lossy(&node.stderr)
    );
    assert!(
        a_log == b_log,
        "serial output under Node differs from the native run's: {}\n(logs kept in {})",
        first_difference(&a_log, &b_log),
        dir.display()
    );
    // The JIT really ran: "tab86: jit: N modules (...), C calls, I instructions (P%)".
    let stats = String::from_utf8_lossy(&node.stderr);
    let share = stats
        .lines()
        .find_map(|l| {
            l.strip_prefix("tab86: jit: ")?
                .split(" instructions (")
                .nth(1)
        })
        .and_then(|r| r.split('%').next()?.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no JIT statistics from the Node run:\n{stats}"));
    assert!(
        share > 50.0,
        "only {share}% of the instructions ran in generated code under Node:\n{stats}"
    );
    println!(
        "node_boot: identical serial output ({} bytes); native interpreter {native_secs:.1} s, Node with the JIT {node_secs:.1} s ({share}% in generated code)\n{stats}",
        a_log.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

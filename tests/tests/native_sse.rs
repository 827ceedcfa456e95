//! Native ground truth for MMX, SSE and SSE2: the `tests/native/sse*.c` programs
//! (built with -mmmx -msse2) run natively on the host and under the emulator (with
//! CR4.OSFXSR and CR4.OSXMMEXCPT set as Linux sets them); every output line (one
//! instruction over one operand set, results and MXCSR flags under several MXCSR
//! settings) must match. Same harness as `native.rs`.
//!
//! Each program is one instruction group and one `#[test]`, so a failing group is
//! visible by name. The programs are built by `tests/native/build.sh` (gcc -m32;
//! Debian packages gcc-multilib and nasm). Without the toolchain the tests fail when
//! `CI` is set and skip with a loud message otherwise. If the host cannot run i386
//! binaries, the expected output comes from `tests/native/expected/<name>.out`
//! (regenerate those with `TAB86_BLESS=1 cargo test -p tab86-tests --test native`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// Upper bound on emulated instructions per program.
const BUDGET: u64 = 200_000_000;

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("native")
}

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("native")
}

/// Builds all programs once per test process; `Err` carries the reason.
fn build() -> Result<(), String> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    BUILT
        .get_or_init(|| {
            let out = Command::new("sh")
                .arg(src_dir().join("build.sh"))
                .arg(bin_dir())
                .output()
                .map_err(|e| format!("cannot run build.sh: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "build.sh failed (is gcc-multilib installed?):\n{}",
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
        })
        .clone()
}

/// Output of the native run, or of the checked-in file when the host cannot run i386.
fn expected(name: &str, bin: &Path) -> String {
    let file = src_dir().join("expected").join(format!("{name}.out"));
    let stored = std::fs::read_to_string(&file).ok();
    match Command::new(bin).output() {
        Ok(o) if o.status.success() => {
            let native = String::from_utf8_lossy(&o.stdout).into_owned();
            if std::env::var_os("TAB86_BLESS").is_some() {
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(&file, &native).unwrap();
            } else if stored.as_deref() != Some(native.as_str()) {
                panic!(
                    "{} is stale or missing: rerun with TAB86_BLESS=1 to regenerate it",
                    file.display()
                );
            }
            native
        }
        other => {
            eprintln!(
                "NOTE: cannot run {} natively ({other:?}); using {}",
                bin.display(),
                file.display()
            );
            stored.unwrap_or_else(|| panic!("no native run and no {}", file.display()))
        }
    }
}

/// Runs program `name` both ways and asserts that every line matches.
fn check(name: &str) {
    if let Err(e) = build() {
        if std::env::var_os("CI").is_some() {
            panic!("native suite cannot be built in CI: {e}");
        }
        eprintln!("\n!!!!! SKIPPING native ground-truth test {name}: {e}\n");
        return;
    }
    let bin = bin_dir().join(name);
    let want = expected(name, &bin);
    let img = std::fs::read(&bin).unwrap();
    let got = tab86_tests::native::run_elf(&img, BUDGET);
    let got_text = String::from_utf8_lossy(&got.stdout);
    let want: Vec<&str> = want.lines().collect();
    let have: Vec<&str> = got_text.lines().collect();
    let mut diffs = Vec::new();
    for (i, w) in want.iter().enumerate() {
        match have.get(i) {
            Some(h) if h == w => {}
            Some(h) => diffs.push(format!("  native: {w}\n  emul:   {h}")),
            None => diffs.push(format!("  native: {w}\n  emul:   <missing>")),
        }
    }
    if have.len() > want.len() {
        diffs.push(format!("  {} extra lines", have.len() - want.len()));
    }
    let total = want.len();
    eprintln!(
        "native {name}: {total} cases, {} pass, {} fail{}",
        total - diffs.len().min(total),
        diffs.len(),
        got.error
            .as_ref()
            .map(|e| format!(" (stopped: {e})"))
            .unwrap_or_default()
    );
    for d in diffs.iter().take(20) {
        eprintln!("{d}");
    }
    assert!(total > 0, "{name} printed nothing natively");
    assert!(
        diffs.is_empty() && got.error.is_none() && got.exit == Some(0),
        "{name}: {} of {total} cases differ from native{}",
        diffs.len(),
        got.error
            .map(|e| format!("; emulation stopped: {e}"))
            .unwrap_or_default()
    );
}

macro_rules! native_tests {
    ($($name:ident)*) => {$(
        #[test]
        fn $name() {
            check(stringify!($name));
        }
    )*};
}

native_tests!(sse_fp sse_int sse_misc);

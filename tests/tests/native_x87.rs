//! x87 FPU ground truth: the `tests/native/x87*.c` programs run natively and under the
//! emulator (see `tests/tests/native.rs` for the harness rules). Everything must match
//! bit for bit, except the transcendental results of `x87trans`, which the soft-float
//! computes to within 1 ulp: those are compared with that tolerance and the exact-match
//! rate is reported separately.

use std::path::Path;
use tab86_tests::native::{native_and_emulated, Outcome};

const BUDGET: u64 = 400_000_000;

/// Runs `name` both ways; `None` when the toolchain is missing outside CI.
fn run(name: &str) -> Option<(String, Outcome)> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("native");
    match native_and_emulated(&dir, name, BUDGET) {
        Ok(r) => Some(r),
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("\n!!!!! SKIPPING native ground-truth test {name}: {e}\n");
            None
        }
        Err(e) => panic!("native suite cannot be built in CI: {e}"),
    }
}

/// Asserts that the emulated output equals the native one line by line.
fn check_exact(name: &str) {
    let Some((want, got)) = run(name) else { return };
    let have = String::from_utf8_lossy(&got.stdout);
    let (want, have): (Vec<&str>, Vec<&str>) = (want.lines().collect(), have.lines().collect());
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
    eprintln!(
        "native {name}: {} cases, {} fail{}",
        want.len(),
        diffs.len(),
        got.error.as_ref().map(|e| format!(" (stopped: {e})")).unwrap_or_default()
    );
    for d in diffs.iter().take(30) {
        eprintln!("{d}");
    }
    assert!(!want.is_empty(), "{name} printed nothing natively");
    assert!(
        diffs.is_empty() && got.error.is_none() && got.exit == Some(0),
        "{name}: {} of {} cases differ from native",
        diffs.len(),
        want.len()
    );
}

#[test]
fn x87arith() {
    check_exact("x87arith");
}

#[test]
fn x87ldst() {
    check_exact("x87ldst");
}

#[test]
fn x87cmp() {
    check_exact("x87cmp");
}

#[test]
fn x87env() {
    check_exact("x87env");
}

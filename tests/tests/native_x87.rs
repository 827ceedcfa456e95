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

fn check_exact(name: &str) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("native");
    tab86_tests::native::check_exact(&dir, name, BUDGET);
}

/// Token positions of the FPU environment's FOP and FDP fields in an `x87env` line,
/// by its label (the layouts of `out_env32`/`out_env16` in `tests/native/x87env.c`).
fn fop_fdp_fields(label: &str) -> &'static [usize] {
    match label {
        "stenv16" | "ldenv16" | "save16" | "rstor16" => &[6],
        "sw" => &[7, 8],
        "fxsave" | "fxpend" | "fxtop" => &[],
        _ => &[6, 7],
    }
}

/// `x87env` lines match when equal, or when they differ only in FOP (the last
/// opcode) or FDP (the last data pointer) and the recorded Intel CPU stored zero
/// there. tab86 is a P6, which records both for every non-control x87
/// instruction; Intel CPUs since the Pentium 4 leave FOP unrecorded unless an
/// unmasked exception is pending (FOP compatibility mode off, the default) and,
/// where CPUID.(EAX=7):EBX[6] (FDP_EXCPTN_ONLY) is set as on the recording host,
/// update FDP only on an unmasked exception. Where the Intel CPU did store a value
/// (an exception was pending), it must match exactly.
fn x87env_same(want: &str, have: &str) -> bool {
    if want == have {
        return true;
    }
    let (w, h): (Vec<&str>, Vec<&str>) = (
        want.split_whitespace().collect(),
        have.split_whitespace().collect(),
    );
    let masked = fop_fdp_fields(w.first().copied().unwrap_or(""));
    w.len() == h.len()
        && w.iter()
            .zip(&h)
            .enumerate()
            .all(|(i, (a, b))| a == b || (masked.contains(&i) && a.bytes().all(|c| c == b'0')))
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
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("native");
    tab86_tests::native::check_with(&dir, "x87env", BUDGET, x87env_same);
}

/// An 80-bit value printed as `SSSS_HHHHHHHHHHHHHHHH`.
fn parse80(s: &str) -> Option<(u16, u64)> {
    let (e, m) = s.split_once('_')?;
    Some((
        u16::from_str_radix(e, 16).ok()?,
        u64::from_str_radix(m, 16).ok()?,
    ))
}

/// Whether two 80-bit values are equal or adjacent (1 ulp of the 64-bit significand,
/// across a binade boundary too) with the same sign.
fn within_ulp(a: (u16, u64), b: (u16, u64)) -> bool {
    if a == b {
        return true;
    }
    if a.0 & 0x8000 != b.0 & 0x8000 || a.0 & 0x7FFF == 0x7FFF || b.0 & 0x7FFF == 0x7FFF {
        return false;
    }
    // For normal and denormal encodings the magnitude order is the order of
    // exponent * 2^63 + (significand without the J bit) (J clear only at exponent 0).
    let ord =
        |(e, m): (u16, u64)| ((e & 0x7FFF) as i128) * (1i128 << 63) + (m & !(1 << 63)) as i128;
    (ord(a) - ord(b)).abs() <= 1
}

/// Transcendentals: status and tag words must match except C1 (the rounding
/// direction, which follows the last bit), results within 1 ulp.
#[test]
fn x87trans() {
    let Some((want, got)) = run("x87trans") else {
        return;
    };
    let have = String::from_utf8_lossy(&got.stdout);
    let (want, have): (Vec<&str>, Vec<&str>) = (want.lines().collect(), have.lines().collect());
    let (mut exact, mut close, mut bad) = (0, 0, Vec::new());
    let (mut undef, mut undef_same) = (0, 0);
    for (i, w) in want.iter().enumerate() {
        let h = have.get(i).copied().unwrap_or("<missing>");
        if w.starts_with("x ") {
            // F2XM1/FYL2XP1 outside their SDM domains: undefined; only the label must agree.
            undef += 1;
            undef_same += (h == *w) as usize;
            if h.split_whitespace()
                .take(2)
                .ne(w.split_whitespace().take(2))
            {
                bad.push(format!("  native: {w}\n  emul:   {h}"));
            }
            continue;
        }
        if h == *w {
            exact += 1;
            continue;
        }
        let (wt, ht): (Vec<&str>, Vec<&str>) = (
            w.split_whitespace().collect(),
            h.split_whitespace().collect(),
        );
        let ok = wt.len() == 6
            && ht.len() == 6
            && wt[..2] == ht[..2]
            && u16::from_str_radix(wt[2], 16).ok().map(|v| v & !0x200)
                == u16::from_str_radix(ht[2], 16).ok().map(|v| v & !0x200)
            && wt[3] == ht[3]
            && (4..6).all(|k| match (parse80(wt[k]), parse80(ht[k])) {
                (Some(a), Some(b)) => within_ulp(a, b),
                _ => false,
            });
        if ok {
            close += 1;
        } else {
            bad.push(format!("  native: {w}\n  emul:   {h}"));
        }
    }
    let defined = want.len() - undef;
    eprintln!(
        "native x87trans: {defined} cases: {exact} bit-exact ({:.2}%), {close} within 1 ulp, {} fail{}; \
         {undef} undefined-domain F2XM1/FYL2XP1 cases ({undef_same} identical)",
        100.0 * exact as f64 / defined.max(1) as f64,
        bad.len(),
        got.error.as_ref().map(|e| format!(" (stopped: {e})")).unwrap_or_default()
    );
    for d in bad.iter().take(30) {
        eprintln!("{d}");
    }
    assert!(!want.is_empty(), "x87trans printed nothing natively");
    assert!(
        bad.is_empty() && have.len() == want.len() && got.error.is_none(),
        "x87trans: {} of {} cases are off by more than 1 ulp or differ in status",
        bad.len(),
        want.len()
    );
}

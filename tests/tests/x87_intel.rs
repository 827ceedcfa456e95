//! The x87 against ground truth recorded on an Intel CPU
//! (`shared/testdata/x87-intel/vectors.txt.gz`, 136,000 single instructions of
//! 34 kinds; see `tab86_tests::x87_intel`): status word, full tag word,
//! ST(0)/ST(1) images and the memory/EFLAGS written must be bit-identical.
//!
//! The one allowance is for the results of the transcendentals (FSIN, FCOS,
//! FSINCOS, FPTAN, FPATAN, F2XM1, FYL2X, FYL2XP1), which Intel computes with
//! undocumented internal approximations of about 66 bits: the soft-float
//! reproduces Intel's special cases, small-argument paths and exception
//! flags, but not every last-bit rounding. A vector of these kinds passes if
//! its tag word, memory and status word are identical except for C1 (which
//! after a transcendental only says in which direction the result was
//! rounded) and the result differs by at most [`TRANS_ULPS`] ulp. Per
//! instruction the test prints how many computed results are bit-exact, the
//! largest error, and how many vectors needed the allowance.
//!
//! The file is read from `../../shared/testdata/x87-intel/vectors.txt.gz`
//! relative to this crate, or from `TAB86_X87_INTEL_VECTORS`; with
//! `TAB86_X87_INTEL_DUMP=<file>` every non-identical vector is written there.

use std::collections::BTreeMap;
use std::path::PathBuf;
use tab86_tests::x87_intel::{self as xi, Extra, Got, Vector};

/// Largest transcendental result error accepted, in units in the last place.
const TRANS_ULPS: u128 = 1;

fn vectors_path() -> PathBuf {
    match std::env::var_os("TAB86_X87_INTEL_VECTORS") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/testdata/x87-intel/vectors.txt.gz"),
    }
}

/// Position of a finite 80-bit image on its sign's number line, in ulps.
fn key(b: &[u8; 10]) -> Option<i128> {
    let m = u64::from_le_bytes(b[..8].try_into().ok()?);
    let se = u16::from_le_bytes([b[8], b[9]]);
    let e = se & 0x7FFF;
    if e == 0x7FFF || (e != 0 && m >> 63 == 0) {
        return None;
    }
    let k = if e == 0 {
        m as i128
    } else {
        ((e as i128 - 1) << 63) + m as i128
    };
    Some(if se & 0x8000 != 0 { -k } else { k })
}

/// Distance in ulps between two register images (None: not both finite).
fn ulps(a: &[u8; 10], b: &[u8; 10]) -> Option<u128> {
    if a == b {
        return Some(0);
    }
    Some((key(a)? - key(b)?).unsigned_abs())
}

/// Status word bit C1: after a transcendental, "the result was rounded up".
const C1: u16 = 1 << 9;

#[derive(Default)]
struct KindStats {
    pass: u64,
    fail: u64,
    shown: Vec<String>,
    /// Transcendentals: vectors with a computed result (#P, no #I, C2 = 0)
    /// whose status word matches apart from C1 (compared for accuracy).
    results: u64,
    /// ... whose result images are bit-identical,
    exact: u64,
    /// ... and the largest result error among them, in ulps.
    max_ulps: u128,
    /// Accepted vectors whose result differs (within the bound).
    near: u64,
    /// Accepted vectors whose C1 differs (with the result rounded the other
    /// way by Intel, whether or not the rounded values are equal).
    c1_only: u64,
}

/// How a vector compares.
enum Verdict {
    /// Bit-identical.
    Same,
    /// A transcendental whose result is within [`TRANS_ULPS`] and whose
    /// status word differs at most in C1 (the result's rounding direction):
    /// `(ulps, C1 differs)`.
    Near(u128, bool),
    /// Anything else.
    Differs,
}

fn diff(v: &Vector, g: &Got) -> Verdict {
    // A store the emulator suppressed: the recorded bytes are the recording
    // program's stale buffer, so only an unmasked exception (ES) must show.
    let extra_ok = match (g.extra, v.extra) {
        (Extra::NotWritten, Extra::Mem { .. }) => v.sw & 0x80 != 0,
        (a, b) => a == b,
    };
    if g.sw == v.sw && g.tw == v.tw && g.st0 == v.st0 && g.st1 == v.st1 && extra_ok {
        return Verdict::Same;
    }
    let trans = xi::TRANSCENDENTAL.contains(&xi::kind_name(v.kind));
    if !trans || (g.sw ^ v.sw) & !C1 != 0 || g.tw != v.tw || !extra_ok {
        return Verdict::Differs;
    }
    match (ulps(&g.st0, &v.st0), ulps(&g.st1, &v.st1)) {
        (Some(a), Some(b)) if a.max(b) <= TRANS_ULPS => Verdict::Near(a.max(b), g.sw != v.sw),
        _ => Verdict::Differs,
    }
}

fn describe(v: &Vector, g: &Got) -> String {
    let ex = |e: &Extra| match e {
        Extra::None => String::new(),
        Extra::Eflags(f) => format!(" eflags={f:03x}"),
        Extra::Mem { len, bytes } => {
            let s: String = bytes[..*len]
                .iter()
                .rev()
                .map(|b| format!("{b:02x}"))
                .collect();
            format!(" m={s}")
        }
        Extra::NotWritten => " m=(not written)".to_string(),
    };
    format!(
        "  {}\n    got {:04x} {:04x} {} {}{}",
        v.line,
        g.sw,
        g.tw,
        xi::fmt_f80(&g.st0),
        xi::fmt_f80(&g.st1),
        ex(&g.extra)
    )
}

#[test]
fn x87_intel_vectors() {
    let path = vectors_path();
    let vectors = xi::load(&path).unwrap_or_else(|e| {
        panic!(
            "x87 Intel ground truth not readable ({e}); it is expected at {} \
             (or set TAB86_X87_INTEL_VECTORS)",
            path.display()
        )
    });
    assert!(!vectors.is_empty(), "{}: no vectors", path.display());
    let mut rig = xi::Rig::new().expect("rig");
    let mut stats: BTreeMap<usize, KindStats> = BTreeMap::new();
    // Every mismatch (tolerated ones included) goes here when set, for analysis.
    let mut dump = std::env::var_os("TAB86_X87_INTEL_DUMP")
        .map(|p| std::fs::File::create(p).expect("cannot create the dump file"));
    for v in &vectors {
        let s = stats.entry(v.kind).or_default();
        let g = match rig.run(v) {
            Ok(g) => g,
            Err(e) => {
                s.fail += 1;
                if s.shown.len() < 4 {
                    s.shown.push(format!("  {}\n    {e}", v.line));
                }
                continue;
            }
        };
        let d = diff(v, &g);
        if let (Some(f), false) = (dump.as_mut(), matches!(d, Verdict::Same)) {
            use std::io::Write;
            let _ = writeln!(f, "{}", describe(v, &g).trim_start());
        }
        let trans = xi::TRANSCENDENTAL.contains(&xi::kind_name(v.kind));
        // Computed results: Intel reported #P, and neither #I nor C2.
        let computed = v.sw & 0x20 != 0 && v.sw & 0x401 == 0;
        if trans && computed && (g.sw ^ v.sw) & !C1 == 0 && g.tw == v.tw {
            if let (Some(a), Some(b)) = (ulps(&g.st0, &v.st0), ulps(&g.st1, &v.st1)) {
                s.results += 1;
                s.exact += (a.max(b) == 0) as u64;
                s.max_ulps = s.max_ulps.max(a.max(b));
            }
        }
        match d {
            Verdict::Same => s.pass += 1,
            Verdict::Near(u, c1) => {
                s.pass += 1;
                s.near += (u != 0) as u64;
                s.c1_only += c1 as u64;
            }
            Verdict::Differs => {
                s.fail += 1;
                if s.shown.len() < 4 {
                    s.shown.push(describe(v, &g));
                }
            }
        }
    }
    let (mut pass, mut fail) = (0, 0);
    for (k, s) in &stats {
        pass += s.pass;
        fail += s.fail;
        let name = xi::kind_name(*k);
        let mut line = format!("  {name:8} {:5} passed, {:5} failed", s.pass, s.fail);
        if xi::TRANSCENDENTAL.contains(&name) {
            line += &format!(
                "; results: {} compared, {} bit-exact ({:.2}%), max error {} ulp; \
                 accepted: {} within {TRANS_ULPS} ulp, {} with only C1 different",
                s.results,
                s.exact,
                100.0 * s.exact as f64 / s.results.max(1) as f64,
                s.max_ulps,
                s.near,
                s.c1_only,
            );
        }
        eprintln!("{line}");
        for m in &s.shown {
            eprintln!("{m}");
        }
    }
    eprintln!("x87-intel: {pass} passed, {fail} failed");
    assert_eq!(
        fail,
        0,
        "{fail} of {} x87 Intel vectors differ",
        pass + fail
    );
}

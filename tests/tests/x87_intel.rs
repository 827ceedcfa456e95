//! The x87 against ground truth recorded on an Intel CPU
//! (`shared/testdata/x87-intel/vectors.txt.gz`, 136,000 single instructions of
//! 34 kinds; see `tab86_tests::x87_intel`). Status word, tag word, ST(0)/ST(1)
//! images and the memory/EFLAGS written must be bit-identical. The one
//! allowance: the RESULT of a transcendental (FSIN, FCOS, FSINCOS, FPTAN,
//! FPATAN, F2XM1, FYL2X, FYL2XP1) may differ from Intel's by at most
//! [`TRANS_ULPS`] ulp when everything else (status word with C1, tag word) is
//! exact; the share of bit-exact results and the largest error are printed
//! per instruction.
//!
//! The file is read from `../../shared/testdata/x87-intel/vectors.txt.gz`
//! relative to this crate, or from `TAB86_X87_INTEL_VECTORS`.

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

#[derive(Default)]
struct KindStats {
    pass: u64,
    fail: u64,
    shown: Vec<String>,
    /// Transcendentals: results compared, bit-exact, accepted within the bound.
    results: u64,
    exact: u64,
    near: u64,
    max_ulps: u128,
}

/// How a vector compares: `None` = identical; otherwise whether the only
/// difference is a result within `TRANS_ULPS` (with its distance).
fn diff(v: &Vector, g: &Got) -> Option<(bool, u128)> {
    // A store the emulator suppressed: the recorded bytes are the recording
    // program's stale buffer, so only an unmasked exception (ES) must show.
    let extra_ok = match (g.extra, v.extra) {
        (Extra::NotWritten, Extra::Mem { .. }) => v.sw & 0x80 != 0,
        (a, b) => a == b,
    };
    if g.sw == v.sw && g.tw == v.tw && g.st0 == v.st0 && g.st1 == v.st1 && extra_ok {
        return None;
    }
    let trans = xi::TRANSCENDENTAL.contains(&xi::kind_name(v.kind));
    if !trans || g.sw != v.sw || g.tw != v.tw || !extra_ok {
        return Some((false, u128::MAX));
    }
    let d0 = ulps(&g.st0, &v.st0);
    let d1 = ulps(&g.st1, &v.st1);
    match (d0, d1) {
        (Some(a), Some(b)) => Some((a.max(b) <= TRANS_ULPS, a.max(b))),
        _ => Some((false, u128::MAX)),
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
        let trans = xi::TRANSCENDENTAL.contains(&xi::kind_name(v.kind));
        let d = diff(v, &g);
        if let (Some(f), Some(_)) = (dump.as_mut(), d) {
            use std::io::Write;
            let _ = writeln!(f, "{}", describe(v, &g).trim_start());
        }
        if trans && g.sw == v.sw && g.tw == v.tw {
            s.results += 1;
            match d {
                None => s.exact += 1,
                Some((_, u)) => {
                    if u != u128::MAX {
                        s.max_ulps = s.max_ulps.max(u);
                    }
                }
            }
        }
        match d {
            None => s.pass += 1,
            Some((true, _)) => {
                s.pass += 1;
                s.near += 1;
            }
            Some((false, _)) => {
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
                "; results with exact SW/TW: {}, bit-exact {} ({:.2}%), within {TRANS_ULPS} ulp {}, max error {} ulp",
                s.results,
                s.exact,
                100.0 * s.exact as f64 / s.results.max(1) as f64,
                s.near,
                if s.max_ulps == 0 && s.exact == s.results {
                    "0".to_string()
                } else if s.max_ulps > 1 << 64 {
                    "huge".to_string()
                } else {
                    s.max_ulps.to_string()
                }
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

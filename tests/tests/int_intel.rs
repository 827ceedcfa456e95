//! Integer ground truth from an Intel P6-family CPU (see `tab86_tests::int_intel`):
//! every vector of `shared/testdata/int-intel/vectors.txt.gz` must give Intel's
//! result and status flags, including those the SDM leaves undefined.
//!
//! A second test runs every vector again in a hot loop with the WebAssembly JIT
//! attached: the forms the JIT compiles (SHL/SHR/SAR, MUL/IMUL r/m32, IMUL r32,
//! AND/OR/XOR/TEST) must give the same answers from generated code, and must
//! still be compiled.
//!
//! `cargo test --profile ci -p tab86-tests --test int_intel -- --nocapture`; the file
//! comes from `TAB86_INT_INTEL` or defaults to the shared test data next to the workspace.

use std::path::PathBuf;
use tab86_tests::int_intel::{jit_compiles, load, run_all, Got, JitRig, Rig, Vector, KINDS};

fn vector_file() -> PathBuf {
    match std::env::var_os("TAB86_INT_INTEL") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/testdata/int-intel/vectors.txt.gz"),
    }
}

fn vectors() -> Vec<Vector> {
    let path = vector_file();
    let vectors = load(&path).unwrap_or_else(|e| {
        panic!("cannot read the int-intel vectors ({e}); set TAB86_INT_INTEL to vectors.txt.gz")
    });
    assert!(!vectors.is_empty(), "{} holds no vectors", path.display());
    vectors
}

#[test]
fn intel_integer_vectors() {
    let vectors = vectors();
    let mut rig = Rig::new().unwrap_or_else(|e| panic!("{e}"));
    let results = run_all(&mut rig, &vectors, 4);
    let (mut passed, mut failed) = (0, 0);
    for (kind, r) in &results {
        passed += r.passed;
        failed += r.failed;
        if r.failed > 0 {
            println!(
                "{:8} {} of {} failed",
                KINDS[*kind].0,
                r.failed,
                r.passed + r.failed
            );
            for m in &r.first {
                println!("    {m}");
            }
        }
    }
    println!("int-intel: {passed} passed, {failed} failed");
    assert_eq!(failed, 0, "{failed} int-intel vectors differ from Intel");
}

/// The kinds generated code must keep compiling: the common shifts and multiplies
/// and the logic operations.
fn must_compile(name: &str) -> bool {
    let base = name.trim_end_matches(|c: char| c.is_ascii_digit());
    matches!(base, "shl" | "shr" | "sar" | "and" | "or" | "xor" | "test")
        || matches!(name, "mul32" | "imul32" | "imul32r")
}

#[test]
fn generated_code_gives_intel_answers_too() {
    let vectors = vectors();
    let mut rig = JitRig::new(2).unwrap_or_else(|e| panic!("{e}"));
    let (mut passed, mut failed) = (0, 0);
    let mut compiled = Vec::new();
    for (k, (name, _, _)) in KINDS.iter().enumerate() {
        let of_kind: Vec<&Vector> = vectors.iter().filter(|v| v.kind == k).collect();
        if of_kind.is_empty() {
            continue;
        }
        let (got, jitted) = rig
            .run(k, &of_kind)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut first = Vec::new();
        let mut bad = 0;
        for (v, g) in of_kind.iter().zip(&got) {
            let want = Got {
                r1: v.r1,
                r2: v.r2,
                flags: v.flags_out,
            };
            if *g == want {
                passed += 1;
                continue;
            }
            failed += 1;
            bad += 1;
            if first.len() < 4 {
                first.push(format!(
                    "{name} {:08x} {:08x} {:08x} {:03x} -> {:08x} {:08x} {:03x}: got {:08x} {:08x} {:03x}",
                    v.a, v.b, v.c, v.flags_in, v.r1, v.r2, v.flags_out, g.r1, g.r2, g.flags
                ));
            }
        }
        if !first.is_empty() {
            println!("{name:8} (jit) {bad} of {} failed", of_kind.len());
            for m in &first {
                println!("    {m}");
            }
        }
        if jit_compiles(k) {
            compiled.push(*name);
            // The loop's eight other instructions plus this one, on most iterations.
            assert!(
                jitted >= of_kind.len() as u64,
                "{name}: generated code retired only {jitted} instructions"
            );
        } else {
            assert!(!must_compile(name), "{name} is no longer compiled");
        }
    }
    println!("int-intel (jit): {passed} passed, {failed} failed");
    println!("compiled by the JIT: {}", compiled.join(" "));
    assert_eq!(failed, 0, "{failed} int-intel vectors differ under the JIT");
}

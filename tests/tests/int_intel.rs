//! Integer ground truth from an Intel P6-family CPU (see `tab86_tests::int_intel`):
//! every vector of `shared/testdata/int-intel/vectors.txt.gz` must give Intel's
//! result and status flags, including those the SDM leaves undefined.
//!
//! `cargo test --profile ci -p tab86-tests --test int_intel -- --nocapture`; the file
//! comes from `TAB86_INT_INTEL` or defaults to the shared test data next to the workspace.

use std::path::PathBuf;
use tab86_tests::int_intel::{load, run_all, Rig, KINDS};

fn vector_file() -> PathBuf {
    match std::env::var_os("TAB86_INT_INTEL") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/testdata/int-intel/vectors.txt.gz"),
    }
}

#[test]
fn intel_integer_vectors() {
    let path = vector_file();
    let vectors = load(&path).unwrap_or_else(|e| {
        panic!("cannot read the int-intel vectors ({e}); set TAB86_INT_INTEL to vectors.txt.gz")
    });
    assert!(!vectors.is_empty(), "{} holds no vectors", path.display());
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

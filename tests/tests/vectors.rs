//! Runs every hardware-captured 80286 real-mode vector (see `tab86_tests::vectors`
//! for what is skipped or masked and why) and reports a pass rate per file.
//!
//! `cargo test -p tab86-tests --test vectors -- --nocapture`; the folder comes from
//! `TAB86_VECTORS` or defaults to `shared/testdata/singlestep286` next to the workspace.

use std::path::PathBuf;
use tab86_tests::vectors::{load_file, Outcome, Rig};

fn folder() -> PathBuf {
    match std::env::var_os("TAB86_VECTORS") {
        Some(p) => PathBuf::from(p),
        None => {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/singlestep286")
        }
    }
}

#[test]
fn singlestep286_vectors() {
    let dir = folder();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "vector folder {} is missing ({e}); set TAB86_VECTORS to the singlestep286 folder",
                dir.display()
            )
        })
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".json.gz"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no *.json.gz vectors in {}",
        dir.display()
    );
    let verbose = std::env::var_os("TAB86_VECTORS_VERBOSE").is_some();
    let mut rig = Rig::new();
    let (mut pass, mut fail, mut skip) = (0usize, 0usize, 0usize);
    let mut failing = Vec::new();
    let mut reasons: std::collections::BTreeMap<&'static str, usize> = Default::default();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let key = name.trim_end_matches(".json.gz").to_string();
        let vectors = load_file(path).unwrap_or_else(|e| panic!("{e}"));
        let (mut p, mut f, mut s) = (0, 0, 0);
        let mut first = None;
        for v in &vectors {
            match rig.run(&key, v) {
                Outcome::Pass => p += 1,
                Outcome::Skip(r) => {
                    s += 1;
                    *reasons.entry(r).or_default() += 1;
                }
                Outcome::Fail(why) => {
                    f += 1;
                    if verbose {
                        println!("  FAIL {key} {}: {why}", v.name);
                    }
                    first.get_or_insert_with(|| format!("{}: {why}", v.name));
                }
            }
        }
        let run = p + f;
        let rate = if run == 0 {
            100.0
        } else {
            100.0 * p as f64 / run as f64
        };
        println!("{key:6} {p:4}/{run:<4} passed ({rate:5.1}%), {s} skipped");
        if let Some(first) = first {
            println!("       first failure: {first}");
            failing.push(key);
        }
        pass += p;
        fail += f;
        skip += s;
    }
    for (r, n) in &reasons {
        println!("skipped {n:5}: {r}");
    }
    if !failing.is_empty() {
        println!("failing files: {}", failing.join(" "));
    }
    println!("vectors: {pass} passed, {fail} failed, {skip} skipped");
    assert_eq!(fail, 0, "{fail} vectors failed");
}

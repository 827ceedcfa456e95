//! The JIT on the JavaScript engine against the interpreter, inside V8: Node runs
//! the package's `jit_selftest` (frontend/web/src/selftest.rs), which checks the
//! host's contract (the modules' memory is the arena and stays so when the
//! package's memory grows, the helper import, traps, handles, the entry table)
//! and runs tab86-jitcheck's checks with the hotness threshold at 3 (the ones
//! tests/tests/jit.rs runs with wasmtime: random instruction sequences in one
//! page and straddling two pages with paging on, self-modifying loops, helper
//! calls that leave, linked pages, a bound on loaded modules), comparing
//! registers, flags, EIP, instruction count and memory with the interpreter's.
//!
//! Needs Node 18 or later and the package (`bash frontend/web/build.sh`); without
//! them the test is skipped with a message, except in CI (`CI` set), where it fails.

use std::process::Command;
use tab86_tests::guest::{node_package, skip_without};

/// Random sequences to run (each twice).
const SEQUENCES: u32 = 300;

#[test]
fn v8_jit_matches_the_interpreter() {
    let root = match node_package() {
        Ok(r) => r,
        Err((what, hint)) => return skip_without(&what, hint),
    };
    let pkg = root.join("target/web/pkg/tab86_web.js");
    let js = format!(
        "const p = require({:?});
         try {{ console.log(p.jit_selftest({SEQUENCES})); }}
         catch (e) {{ console.error(String(e)); process.exit(1); }}",
        pkg.canonicalize().unwrap()
    );
    let out = Command::new("node")
        .arg("-e")
        .arg(js)
        .output()
        .expect("run node");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "jit_selftest under Node failed:\n{stderr}{stdout}"
    );
    // The summary names what ran: the host checks, the sequences, the SMC loop.
    assert!(stdout.starts_with("host: ok"), "{stdout}");
    assert!(
        stdout.contains(&format!("random sequences: {SEQUENCES} x 2")),
        "{stdout}"
    );
    for check in [
        "self-modifying loop: ok",
        "nested self-modifying loop: ok",
        "grouped writes to a code page: ok",
        "helper calls that fault or write their code: ok",
        "helper branch: ok",
        "linked pages: ok",
        "bounded modules: ok",
    ] {
        assert!(stdout.contains(check), "{check} missing: {stdout}");
    }
    println!("node_jit: {}", stdout.trim());
}

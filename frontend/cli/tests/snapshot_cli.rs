//! `--save-state` and `--load-state` through the `tab86` command: a machine saved
//! at exit continues from where it was (its instruction count goes on from the
//! saved one instead of starting again), and snapshots that are not one, or do not
//! fit the options given, end with a message and status 4, never a panic.

use std::path::PathBuf;
use std::process::{Command, Output};

fn tab86(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tab86"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run tab86")
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tab86-snapshot-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Instructions from the `--stats` line.
fn instructions(o: &Output) -> u64 {
    let err = String::from_utf8_lossy(&o.stderr);
    err.split("stats: ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no stats line in: {err}"))
}

#[test]
fn a_saved_machine_continues_and_bad_snapshots_are_refused() {
    let dir = scratch();
    // A 64 KiB ROM counting in EAX forever from the reset vector.
    let mut rom = vec![0x90u8; 0x10000];
    rom[0xFFF0..0xFFF3].copy_from_slice(&[0x40, 0xEB, 0xFD]);
    let rom_path = dir.join("count.rom");
    std::fs::write(&rom_path, &rom).unwrap();
    let snap = dir.join("count.snap");
    let (rom_s, snap_s) = (rom_path.to_str().unwrap(), snap.to_str().unwrap());

    let first = tab86(&[
        "run",
        "--bios",
        rom_s,
        "--deterministic",
        "--timeout",
        "0.3",
        "--stats",
        "--save-state",
        snap_s,
    ]);
    assert_eq!(
        first.status.code(),
        Some(124),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let saved = instructions(&first);
    assert!(saved > 0 && snap.exists());

    let second = tab86(&["run", "--load-state", snap_s, "--timeout", "0.3", "--stats"]);
    assert_eq!(
        second.status.code(),
        Some(124),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(
        instructions(&second) > saved,
        "the restored machine continues from {saved} instructions"
    );

    let refused = |args: &[&str], want: &str| {
        let o = tab86(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(4), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: expected '{want}' in: {err}");
    };
    refused(&["run", "--load-state", snap_s, "--mem", "32M"], "RAM size");
    refused(&["run", "--load-state", rom_s], "not a tab86 snapshot");
    let bytes = std::fs::read(&snap).unwrap();
    let cut = dir.join("cut.snap");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    refused(&["run", "--load-state", cut.to_str().unwrap()], "truncated");
    refused(
        &["run", "--load-state", snap_s, "--bios", rom_s],
        "--load-state",
    );
    refused(
        &["run", "--load-state", dir.join("missing").to_str().unwrap()],
        "cannot read",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

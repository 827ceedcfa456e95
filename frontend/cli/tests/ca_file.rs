//! The https trust options as the `tab86` command takes them: `--ca-file` and
//! `TAB86_CA_FILE` are read before any disk is opened, and a file that is not
//! a CA bundle stops the run with a message naming it (exit status 4).

use std::process::{Command, Output};

fn tab86(args: &[&str], env: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tab86"));
    c.args(args).stdin(std::process::Stdio::null());
    c.env_remove("TAB86_CA_FILE");
    if let Some(v) = env {
        c.env("TAB86_CA_FILE", v);
    }
    c.output().expect("run tab86")
}

#[test]
fn a_bad_ca_file_is_refused_by_name_from_the_option_or_the_environment() {
    let dir = std::env::temp_dir().join(format!("tab86-ca-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let junk = junk.to_str().unwrap();
    // Port 9 on loopback: nothing is contacted, the CA file fails first.
    let disk = ["--disk", "https://127.0.0.1:9/manifest.json"];
    let mut args = vec!["run", "--bios", "/dev/null", "--timeout", "5"];
    args.extend(disk);
    let mut with_opt = args.clone();
    with_opt.extend(["--ca-file", junk]);
    for out in [tab86(&with_opt, None), tab86(&args, Some(junk))] {
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{err}");
        assert!(
            err.contains("junk.pem") && err.contains("no PEM certificate"),
            "{err}"
        );
    }
    let missing = dir.join("missing.pem");
    let mut with_missing = args.clone();
    with_missing.extend(["--ca-file", missing.to_str().unwrap()]);
    let out = tab86(&with_missing, Some(junk));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("missing.pem"),
        "the option wins over the environment: {err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

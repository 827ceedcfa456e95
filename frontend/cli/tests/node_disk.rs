//! Disks under Node (frontend/node/tab86.mjs with the wasm package): Debian
//! bookworm over HTTP from `tab86 serve` with a copy-on-write overlay, that
//! overlay then opened by the native `tab86` and the other way round (one
//! overlay format, tested both ways), and bad input through the Node runner
//! (a truncated kernel, an unreachable disk URL, a manifest that is not JSON, a
//! corrupt chunk): a clear message and the documented exit status, never an
//! uncaught exception.
//!
//! Needs the images (images/build.sh, images/build-rootfs.sh), Node 18 or
//! later and the package (`bash frontend/web/build.sh`). Without them the
//! tests are skipped with a message, except in CI (`CI` set), where they fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;
use tab86_storage::chunked::{hex, Manifest};
use tab86_storage::pack::pack;
use tab86_storage::serve::{ServeOptions, Server};
use tab86_tests::guest::{debian_image, images, node_package, skip_without};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether Node and the package are there (else the test is skipped).
fn node_ready() -> bool {
    match node_package() {
        Ok(_) => true,
        Err((what, hint)) => {
            skip_without(&what, hint);
            false
        }
    }
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tab86-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn node(args: &[&str]) -> Output {
    Command::new("node")
        .arg(root().join("frontend/node/tab86.mjs"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run node")
}

fn native(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tab86"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run tab86")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstderr:\n{}\nstdout (end):\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout[o.stdout.len().saturating_sub(3000)..])
    )
}

/// A message on stderr and no sign of an uncaught exception.
fn clean_error(o: &Output, status: i32, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(status), "{}", text(o));
    assert!(err.contains(needle), "expected {needle:?}: {}", text(o));
    for bad in [
        "Uncaught",
        "    at ",
        "node:internal",
        "RuntimeError",
        "panicked",
    ] {
        assert!(
            !err.contains(bad),
            "uncaught exception ({bad}): {}",
            text(o)
        );
    }
}

#[test]
fn node_bad_input_gives_messages_and_statuses() {
    let Some((kernel, initrd)) = images() else {
        return skip_without("images", "images/build.sh");
    };
    if !node_ready() {
        return;
    }
    let dir = scratch("node-bad-input");
    let (kernel, initrd) = (kernel.as_str(), initrd.as_str());

    // A truncated kernel.
    let k = std::fs::read(kernel).unwrap();
    let short = dir.join("short-vmlinuz");
    std::fs::write(&short, &k[..k.len().min(3000)]).unwrap();
    let o = node(&["run", "--kernel", short.to_str().unwrap()]);
    clean_error(&o, 4, "tab86: ");

    // An unreachable disk URL (nothing listens on the port of a closed listener).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/manifest.json");
    let o = node(&["run", "--kernel", kernel, "--disk", &url]);
    clean_error(&o, 4, &format!("cannot fetch {url}"));

    // A manifest that is not JSON, and one that is not there (404).
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("manifest.json"), "<html>not a manifest</html>").unwrap();
    let server = Server::start(&www, "127.0.0.1:0", ServeOptions::default()).unwrap();
    let url = format!("http://{}/manifest.json", server.addr());
    let o = node(&["run", "--kernel", kernel, "--disk", &url]);
    clean_error(&o, 4, "manifest is not JSON");
    let missing = format!("http://{}/nothing/", server.addr());
    let o = node(&["run", "--kernel", kernel, "--disk", &missing]);
    clean_error(&o, 4, "HTTP status 404");
    // --overlay without a --disk, as the CLI.
    let o = node(&["run", "--kernel", kernel, "--overlay", "x"]);
    clean_error(&o, 4, "--overlay must follow a --disk");

    // A corrupt chunk: the guest's read fails with an I/O error after the
    // retries, the runner says why, and the run goes on to a clean poweroff.
    // (The initramfs loads the virtio modules itself only for root=.)
    let img: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i * 31 + i / 65536) as u8)
        .collect();
    std::fs::write(dir.join("disk.img"), &img).unwrap();
    let packed = dir.join("packed");
    pack(&dir.join("disk.img"), &packed, 64 << 10).unwrap();
    let manifest = Manifest::parse(&std::fs::read(packed.join("manifest.json")).unwrap()).unwrap();
    let chunk = packed.join("chunks").join(hex(&manifest.chunks[9]));
    let mut bad = std::fs::read(&chunk).unwrap();
    bad[100] ^= 0xFF;
    std::fs::write(&chunk, bad).unwrap();
    let server = Server::start(&packed, "127.0.0.1:0", ServeOptions::default()).unwrap();
    let url = format!("http://{}/manifest.json", server.addr());
    let script = dir.join("script");
    std::fs::write(
        &script,
        "timeout 900\n\
         wait tab86# \n\
         sendline k=/lib/modules/$(uname -r); for m in $(cat $k/tab86.load); do insmod $k/$m; done; while [ ! -b /dev/vda ]; do sleep 1; done; echo VDA-OK\n\
         wait [\\r\\n]VDA-OK\n\
         wait tab86# \n\
         sendline dd if=/dev/vda of=/dev/null bs=4k count=64; echo DD1=$?\n\
         wait DD1=0\n\
         wait tab86# \n\
         sendline dd if=/dev/vda of=/dev/null bs=4k count=16 skip=144; echo DD2=$?\n\
         wait DD2=1\n\
         wait tab86# \n\
         sendline poweroff -f\n",
    )
    .unwrap();
    let t = Instant::now();
    let o = node(&[
        "run",
        "--kernel",
        kernel,
        "--initrd",
        initrd,
        "--deterministic",
        "--timeout",
        "1200",
        "--disk",
        &url,
        "--script",
        script.to_str().unwrap(),
        "--stats",
    ]);
    clean_error(&o, 0, "SHA-256 mismatch");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("after 3 retries"), "{}", text(&o));
    println!(
        "node_disk: corrupt chunk run {:.1} s; stderr:\n{err}",
        t.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A `--script` that logs in, runs `cmds` (each waited for by its pattern),
/// and powers off.
fn debian_script(prompt: &str, steps: &[(&str, &str)]) -> String {
    let mut s = format!("timeout 1500\nwait -t 3000 {prompt}\n");
    for (cmd, want) in steps {
        s.push_str(&format!("sendline {cmd}\nwait {want}\nwait {prompt}\n"));
    }
    // Right after the shell appears systemd may not answer yet: then force it
    // (everything is synced).
    s.push_str("sendline poweroff || { sync; poweroff -f; }\n");
    s
}

/// Bytes fetched, from a `--stats` line ("N bytes in M chunks fetched").
fn bytes_fetched(stderr: &[u8]) -> u64 {
    let s = String::from_utf8_lossy(stderr);
    s.lines()
        .filter(|l| l.contains("stats: vda"))
        .filter_map(|l| l.split("): ").nth(1)?.split(' ').next()?.parse().ok())
        .next()
        .unwrap_or(0)
}

#[test]
fn debian_over_http_under_node_shares_its_overlay_with_the_native_cli() {
    let img = match debian_image() {
        Ok(i) => i,
        Err((what, hint)) => return skip_without(what, hint),
    };
    if !node_ready() {
        return;
    }
    let dir = scratch("node-debian");
    let server = Server::start(&img.chunks, "127.0.0.1:0", ServeOptions::default()).unwrap();
    let url = format!("http://{}/manifest.json", server.addr());
    let overlay = dir.join("overlay.cow");
    let (kernel, initrd) = (img.kernel.as_str(), img.initrd.as_str());
    let prompt = img.prompt.as_str();
    let token = format!(
        "node-{:08x}",
        std::process::id().wrapping_mul(2_654_435_761)
    );
    let run = |program: &str, script: &str, name: &str| -> (Output, f64) {
        let path = dir.join(name);
        std::fs::write(&path, script).unwrap();
        let args = [
            "run",
            "--kernel",
            kernel,
            "--initrd",
            initrd,
            "--append",
            &img.cmdline,
            "--mem",
            "512M",
            "--deterministic",
            "--timeout",
            "3000",
            "--disk",
            &url,
            "--overlay",
            overlay.to_str().unwrap(),
            "--script",
            path.to_str().unwrap(),
            "--stats",
        ];
        let t = Instant::now();
        let o = if program == "node" {
            node(&args)
        } else {
            native(&args[..])
        };
        (o, t.elapsed().as_secs_f64())
    };

    // 1. Node, cold: write a file, sync, power off.
    let s1 = debian_script(
        prompt,
        &[
            ("cat /etc/debian_version", "\\b12\\.\\d+"),
            (
                &format!("echo {token} > /root/from-node.txt; sync; echo WROTE-OK"),
                "[\\r\\n]WROTE-OK",
            ),
        ],
    );
    let (o, secs) = run("node", &s1, "s1");
    assert_eq!(o.status.code(), Some(0), "first Node boot: {}", text(&o));
    println!(
        "node_disk: Node boot over HTTP {secs:.1} s, {} bytes fetched",
        bytes_fetched(&o.stderr)
    );

    // 2. Native, same overlay: finds Node's file, writes its own.
    let s2 = debian_script(
        prompt,
        &[
            ("cat /root/from-node.txt", &format!("[\\r\\n]{token}")),
            (
                &format!("echo native-{token} > /root/from-native.txt; sync; echo WROTE-OK"),
                "[\\r\\n]WROTE-OK",
            ),
        ],
    );
    let (o, secs) = run("native", &s2, "s2");
    assert_eq!(o.status.code(), Some(0), "native boot: {}", text(&o));
    println!(
        "node_disk: native boot over HTTP {secs:.1} s, {} bytes fetched",
        bytes_fetched(&o.stderr)
    );

    // 3. Node again, same overlay: both files are there.
    let s3 = debian_script(
        prompt,
        &[
            ("cat /root/from-node.txt", &format!("[\\r\\n]{token}")),
            (
                "cat /root/from-native.txt",
                &format!("[\\r\\n]native-{token}"),
            ),
        ],
    );
    let (o, secs) = run("node", &s3, "s3");
    assert_eq!(o.status.code(), Some(0), "second Node boot: {}", text(&o));
    println!("node_disk: second Node boot {secs:.1} s; both files were there");
    let _ = std::fs::remove_dir_all(&dir);
}

//! Shared plumbing for the scripted Linux boots in `tests/tests/`: where the
//! images are, and a run of a machine under a console script until it stops,
//! through the same host driver the `tab86` command uses.

use std::collections::HashMap;
use std::time::{Duration, Instant};
use tab86_driver::{Driver, Host, Options, Step};
use tab86_machine::{Config, Machine, Stats, Stop};

pub use tab86_storage::cache::cache_dir;

/// The KEY=value lines of an `.env` file the image scripts write (quotes
/// removed); `None` when it cannot be read.
pub fn read_env(path: &str) -> Option<HashMap<String, String>> {
    tab86_storage::cache::read_env(path).ok()
}

/// Kernel and initramfs paths from images/build.sh's images.env.
pub fn images() -> Option<(String, String)> {
    let env = read_env(&format!("{}/images/images.env", cache_dir()))?;
    Some((env.get("KERNEL")?.clone(), env.get("INITRD")?.clone()))
}

/// The Debian bookworm image images/build-rootfs.sh made, as the boots need it.
pub struct DebianImage {
    /// The kernel (bzImage) path.
    pub kernel: String,
    /// The initramfs path.
    pub initrd: String,
    /// The chunked HTTP layout's folder (`manifest.json` + `chunks/`).
    pub chunks: std::path::PathBuf,
    /// The root shell's prompt.
    pub prompt: String,
    /// The kernel command line that boots it from `/dev/vda`.
    pub cmdline: String,
    /// The 686-pae kernel and its initramfs, when images/build.sh made them and
    /// the root image carries that kernel's modules too.
    pub pae: Option<(String, String)>,
}

/// Finds the Debian image in the cache; without it, what is missing and the
/// command that makes it (for [`skip_without`]).
pub fn debian_image() -> Result<DebianImage, (&'static str, &'static str)> {
    let (kernel, initrd) = images().ok_or(("images", "images/build.sh"))?;
    let rootfs = format!("{}/rootfs", cache_dir());
    let env = read_env(&format!("{rootfs}/rootfs.env"))
        .ok_or(("Debian root image", "images/build-rootfs.sh"))?;
    let chunks = std::path::PathBuf::from(&rootfs).join("http");
    if !chunks.join("manifest.json").exists() {
        return Err(("chunked layout", "TAB86_BIN=... images/build-rootfs.sh"));
    }
    let get = |k: &str, d: &str| env.get(k).cloned().unwrap_or(d.into());
    let images_env = read_env(&format!("{}/images/images.env", cache_dir())).unwrap_or_default();
    let pae = match (
        images_env.get("KERNEL_PAE"),
        images_env.get("INITRD_PAE"),
        env.get("KERNEL_PAE_RELEASE"),
    ) {
        (Some(k), Some(i), Some(release))
            if images_env.get("KERNEL_PAE_RELEASE") == Some(release) =>
        {
            Some((k.clone(), i.clone()))
        }
        _ => None,
    };
    Ok(DebianImage {
        kernel,
        initrd,
        chunks,
        prompt: get("PROMPT", "root@tab86:~#"),
        cmdline: get("CMDLINE", "console=ttyS0 root=/dev/vda rw"),
        pae,
    })
}

/// Missing images skip a test locally but fail it in CI (which must build them).
pub fn skip_without(what: &str, hint: &str) {
    if std::env::var("CI").is_ok() {
        panic!("no {what}: run {hint} first (CI must build it)");
    }
    eprintln!("SKIPPED (no {what}; run {hint})");
}

/// The repository root when the Node runner can run there: `node` 18 or later
/// and the wasm package `bash frontend/web/build.sh` builds (target/web/pkg);
/// otherwise what is missing and how to get it, for [`skip_without`].
pub fn node_package() -> Result<std::path::PathBuf, (String, &'static str)> {
    let major = std::process::Command::new("node")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .trim_start_matches('v')
                .split('.')
                .next()?
                .parse::<u32>()
                .ok()
        });
    if major.is_none_or(|v| v < 18) {
        return Err((
            format!("Node 18 or later (found {major:?})"),
            ".ci/setup-host",
        ));
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if !root.join("target/web/pkg/tab86_web.js").exists() {
        return Err(("wasm package".into(), "bash frontend/web/build.sh"));
    }
    Ok(root)
}

/// How a scripted run ended.
pub struct Outcome {
    /// Why the machine stopped.
    pub stop: Stop,
    /// Everything the guest wrote to COM1.
    pub log: String,
    /// Machine counters at the end.
    pub stats: Stats,
    /// Host time taken.
    pub elapsed: Duration,
}

impl Outcome {
    /// The last 40 console lines, for failure messages.
    pub fn tail(&self) -> String {
        let lines: Vec<&str> = self.log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

/// Builds a machine from `cfg` (its serial sink is replaced) and runs it with the
/// console script `script` until the guest stops. Panics with the console tail if
/// the script fails, the guest stops before the script ends, or `limit` passes.
pub fn run_script(cfg: Config, script: &str, limit: Duration) -> Outcome {
    run_script_with(cfg, script, limit, |_| {})
}

/// [`run_script`] with `setup` applied to the machine before it starts (to attach
/// the JIT, say).
pub fn run_script_with(
    cfg: Config,
    script: &str,
    limit: Duration,
    setup: impl FnOnce(&mut Machine),
) -> Outcome {
    /// The test's side of the driver: the console log, messages to stderr.
    struct Log {
        t0: Instant,
        out: Vec<u8>,
        messages: Vec<String>,
    }
    impl Host for Log {
        fn now_ms(&self) -> f64 {
            self.t0.elapsed().as_secs_f64() * 1e3
        }
        fn console(&mut self, bytes: &[u8]) {
            self.out.extend_from_slice(bytes);
        }
        fn message(&mut self, text: &str) {
            eprintln!("{text}");
            self.messages.push(text.to_string());
        }
    }
    let t0 = Instant::now();
    let opts = Options {
        slice: 1_000_000,
        timeout_ms: Some(limit.as_secs_f64() * 1e3),
        script: Some(script.to_string()),
        bios: false,
        profile: false,
    };
    let mut d = Driver::new(cfg, opts, move || t0.elapsed().as_secs_f64() * 1e3).expect("machine");
    setup(d.machine());
    let mut log = Log {
        t0,
        out: Vec::new(),
        messages: Vec::new(),
    };
    let code = loop {
        match d.step(&mut log) {
            Step::Continue => {}
            Step::Idle { .. } => std::thread::sleep(Duration::from_millis(1)),
            Step::WaitingForIo => d.wait_io(100.0),
            Step::Exit(code) => break code,
        }
    };
    let text = String::from_utf8_lossy(&log.out).to_string();
    let tail = {
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    };
    let stop = match d.stop() {
        Some(s) => s,
        None => panic!("{} (status {code}):\n{tail}", log.messages.join("; ")),
    };
    assert!(
        d.script_done(),
        "the guest stopped ({stop:?}) before the script finished:\n{tail}"
    );
    Outcome {
        stop,
        log: text,
        stats: d.machine().stats(),
        elapsed: t0.elapsed(),
    }
}

/// Attaches the native JIT (wasmtime, compiling on a background thread as the CLI
/// does) to `m`; `threshold` overrides how many runs make a block hot.
pub fn attach_jit(m: &mut Machine, threshold: Option<u32>) {
    let a = m.cpu.mem.arena().clone();
    let mut h =
        tab86_jit_wasmtime::WasmtimeHost::new(a.ptr(), a.len(), a.clone()).expect("wasmtime");
    h.compile_in_background().expect("background compiler");
    m.cpu.set_jit(Box::new(h), None);
    if let Some(t) = threshold {
        m.cpu.set_jit_threshold(t);
    }
}

/// Appends an uncompressed cpio (newc) archive holding `files` (path inside the
/// guest without the leading slash, contents; mode 0755, owned by root, in `/`) to
/// an initramfs image. Linux unpacks concatenated archives in order, so this adds
/// test programs to an existing initramfs without rebuilding it.
pub fn append_cpio(initrd: &mut Vec<u8>, files: &[(&str, &[u8])]) {
    // The kernel only starts a new archive at a 4-byte boundary; zeros between
    // archives are skipped.
    while !initrd.len().is_multiple_of(4) {
        initrd.push(0);
    }
    let start = initrd.len();
    let mut entry = |name: &str, mode: u32, data: &[u8], ino: u32| {
        let header = format!(
            "070701{ino:08X}{mode:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}",
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            0,
            0,
            name.len() + 1,
            0
        );
        initrd.extend_from_slice(header.as_bytes());
        initrd.extend_from_slice(name.as_bytes());
        initrd.push(0);
        while !(initrd.len() - start).is_multiple_of(4) {
            initrd.push(0);
        }
        initrd.extend_from_slice(data);
        while !(initrd.len() - start).is_multiple_of(4) {
            initrd.push(0);
        }
    };
    for (i, (name, data)) in files.iter().enumerate() {
        entry(name, 0o100755, data, 0x7ab8_6000 + i as u32);
    }
    entry("TRAILER!!!", 0, &[], 0);
}

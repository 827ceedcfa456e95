//! Shared plumbing for the scripted Linux boots in `tests/tests/`: where the
//! images are, a host clock, a console sink, and one loop that runs a machine
//! under a console script until it stops.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tab86_machine::script::{self, Action, Runner};
use tab86_machine::{Config, Event, HostClock, Machine, Stats, Stop};

/// The host's monotonic clock.
pub struct Clock(pub Instant);

impl HostClock for Clock {
    fn now_ns(&self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

/// A console sink the test can read while the machine owns a clone.
#[derive(Clone, Default)]
pub struct Sink(pub Rc<RefCell<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// tab86's cache folder (`$TAB86_CACHE`, else `$XDG_CACHE_HOME/tab86`, else
/// `~/.cache/tab86`), as the image scripts use it.
pub fn cache_dir() -> String {
    std::env::var("TAB86_CACHE").unwrap_or_else(|_| {
        let base = std::env::var("XDG_CACHE_HOME")
            .unwrap_or_else(|_| format!("{}/.cache", std::env::var("HOME").unwrap_or_default()));
        format!("{base}/tab86")
    })
}

/// The KEY=value lines of an `.env` file the image scripts write (quotes removed).
pub fn read_env(path: &str) -> Option<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches(['"', '\'']).to_string()))
            .collect(),
    )
}

/// Kernel and initramfs paths from images/build.sh's images.env.
pub fn images() -> Option<(String, String)> {
    let env = read_env(&format!("{}/images/images.env", cache_dir()))?;
    Some((env.get("KERNEL")?.clone(), env.get("INITRD")?.clone()))
}

/// Missing images skip a test locally but fail it in CI (which must build them).
pub fn skip_without(what: &str, hint: &str) {
    if std::env::var("CI").is_ok() {
        panic!("no {what}: run {hint} first (CI must build it)");
    }
    eprintln!("SKIPPED (no {what}; run {hint})");
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
    mut cfg: Config,
    script: &str,
    limit: Duration,
    setup: impl FnOnce(&mut Machine),
) -> Outcome {
    let out = Sink::default();
    cfg.serial = Box::new(out.clone());
    let t0 = Instant::now();
    let mut m = Machine::new(cfg, Box::new(Clock(t0))).expect("machine");
    setup(&mut m);
    let mut runner = Runner::new(script::parse(script).expect("script"));
    let (mut fed, mut pending, mut done) = (0, Vec::<u8>::new(), false);
    let tail = |o: &Sink| {
        let log = String::from_utf8_lossy(&o.0.borrow()).to_string();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    };
    let stop = loop {
        if !pending.is_empty() {
            let n = m.serial_room().min(pending.len());
            m.serial_input(&pending[..n]);
            pending.drain(..n);
        }
        let ev = m.run(1_000_000);
        {
            let o = out.0.borrow();
            runner.feed(&o[fed..]);
            fed = o.len();
        }
        while !done {
            match runner.poll(t0.elapsed().as_millis() as u64) {
                Action::Continue => break,
                Action::Send(b) => pending.extend_from_slice(&b),
                Action::Mark(name) => {
                    eprintln!("mark {name}: {:.1} s", t0.elapsed().as_secs_f64())
                }
                Action::Done => done = true,
                Action::Failed(msg) => panic!("{msg}"),
            }
        }
        match ev {
            Event::Stopped(s) => break s,
            Event::Idle { .. } if !pending.is_empty() => {}
            Event::Idle { .. } => std::thread::sleep(Duration::from_millis(1)),
            Event::Ran => {}
        }
        assert!(
            t0.elapsed() < limit,
            "guest still running after {limit:?}:\n{}",
            tail(&out)
        );
    };
    assert!(
        done,
        "the guest stopped ({stop:?}) before the script finished:\n{}",
        tail(&out)
    );
    let log = String::from_utf8_lossy(&out.0.borrow()).to_string();
    Outcome {
        stop,
        log,
        stats: m.stats(),
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

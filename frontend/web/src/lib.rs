//! The tab86 machine as a wasm-bindgen package, run by the host driver every
//! front end shares (`tab86-driver`), with the JIT's modules compiled by the
//! JavaScript engine that runs the package (see [`jit`]).
//!
//! The JavaScript API (`wasm-bindgen --target nodejs` or `--target web`):
//!
//! ```js
//! const o = new MachineOptions();      // defaults: 256 MiB, "console=ttyS0", real time
//! o.mem = 256 * 1024 * 1024;           // guest RAM in bytes
//! o.kernel = kernelBytes;              // Uint8Array: a bzImage or Multiboot kernel
//! o.initrd = initrdBytes;              // Uint8Array (optional)
//! o.cmdline = "console=ttyS0";
//! o.deterministic = true;              // virtual time from retired instructions
//! o.timeout_ms = 600e3;                // optional: "exit" with status 124 after it
//! o.script = scriptText;               // optional: an expect-like console script
//! o.rtc_epoch = Date.now() / 1000;     // CMOS clock at power-on, in Unix seconds
//! o.jit = true;                        // compile hot pages to wasm (the default)
//! o.jit_threshold = 20000;             // optional: runs of a block that make it hot
//! o.jit_async = true;                  // WebAssembly.compile (default) or new Module
//! const m = new Machine(o);            // consumes o; throws a message on bad input
//! for (;;) {
//!   const kind = m.step();             // one slice: "continue" | "idle" | "io" | "exit"
//!   process.stdout.write(m.take_output());   // COM1 bytes since the last call
//!   const msg = m.take_messages();     // driver messages ("" if none)
//!   if (kind === "exit") return m.exit_status;
//!   if (kind === "idle") await sleep(m.wait_ms), m.idled(msWaited);
//! }
//! m.input(bytes);                      // console input for COM1
//! m.stats();                           // the --stats lines
//! ```
//!
//! Snapshots (the native format, `tab86_machine::snapshot`): `o.snapshot = bytes`
//! continues a saved machine instead of booting (no kernel needed; RAM size and
//! clock mode come from the snapshot, the disks must be the ones it was taken
//! with). `m.save_state()` returns a snapshot of the machine now (the disks'
//! overlays flushed first; throws a message when it cannot be taken, e.g. with
//! disk requests in flight), and a script's `savestate NAME` step leaves one
//! for `m.take_saved()` (`{path, bytes}`, or `undefined`) for the host to store.
//!
//! Disks (chunked images over `fetch`, an overlay on a host file) are added to
//! the options and served through `take_fetches`/`complete_fetch`: see `disk.rs`.
//!
//! `run(budget_ms)` plays `step` until the slice is not "continue" or the budget
//! of host time is spent, which saves calls across the JS boundary. Every machine
//! is its own object: nothing is global but the panic hook, installed once.

mod disk;
pub mod jit;
pub mod selftest;

use tab86_driver::{Driver, Host, Options, Step};
use tab86_machine::{ClockMode, Config, Firmware};
use wasm_bindgen::prelude::*;

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen]
extern "C" {
    /// `performance.now()` (Node 16+ and browsers).
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
    /// `console.error(text)`, for panics.
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(text: &str);
}

/// Host milliseconds, from an arbitrary origin.
#[cfg(target_arch = "wasm32")]
fn clock_ms() -> f64 {
    performance_now()
}

/// Host milliseconds, from an arbitrary origin (native builds, for tests).
#[cfg(not(target_arch = "wasm32"))]
fn clock_ms() -> f64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static T0: OnceLock<Instant> = OnceLock::new();
    T0.get_or_init(Instant::now).elapsed().as_secs_f64() * 1e3
}

/// Host nanoseconds, for the JIT's compile-time statistics.
fn clock_ns() -> u64 {
    (clock_ms() * 1e6) as u64
}

/// Routes panics to `console.error` before the wasm trap (once per process).
fn install_panic_hook() {
    #[cfg(target_arch = "wasm32")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            std::panic::set_hook(Box::new(|info| console_error(&format!("tab86: {info}"))));
        });
    }
}

/// How to build a [`Machine`]: set the fields, then pass it to `new Machine(o)`.
#[wasm_bindgen]
pub struct MachineOptions {
    mem: u32,
    kernel: Vec<u8>,
    initrd: Option<Vec<u8>>,
    cmdline: String,
    deterministic: bool,
    timeout_ms: Option<f64>,
    script: Option<String>,
    rtc_epoch: f64,
    slice: u32,
    disks: disk::Disks,
    jit: bool,
    jit_threshold: Option<u32>,
    jit_async: bool,
    snapshot: Option<Vec<u8>>,
}

#[wasm_bindgen]
impl MachineOptions {
    /// Defaults: 256 MiB, no kernel yet, `console=ttyS0`, real time, no timeout,
    /// no script, the RTC at the Unix epoch, 200000 instructions a slice.
    #[wasm_bindgen(constructor)]
    pub fn new() -> MachineOptions {
        MachineOptions {
            mem: 256 << 20,
            kernel: Vec::new(),
            initrd: None,
            cmdline: "console=ttyS0".into(),
            deterministic: false,
            timeout_ms: None,
            script: None,
            rtc_epoch: 0.0,
            slice: 200_000,
            disks: disk::Disks::default(),
            jit: true,
            jit_threshold: None,
            jit_async: true,
            snapshot: None,
        }
    }
    /// A snapshot to continue instead of booting a kernel (its RAM size and
    /// clock mode replace `mem` and `deterministic`).
    #[wasm_bindgen(setter)]
    pub fn set_snapshot(&mut self, bytes: Option<Vec<u8>>) {
        self.snapshot = bytes;
    }
    /// Guest RAM in bytes (1 MiB to 3 GiB; wasm32 hosts manage about 2 GiB).
    #[wasm_bindgen(setter)]
    pub fn set_mem(&mut self, bytes: u32) {
        self.mem = bytes;
    }
    /// The kernel image (bzImage or Multiboot), copied from a `Uint8Array`.
    #[wasm_bindgen(setter)]
    pub fn set_kernel(&mut self, bytes: Vec<u8>) {
        self.kernel = bytes;
    }
    /// The initramfs, copied from a `Uint8Array`; `undefined` for none.
    #[wasm_bindgen(setter)]
    pub fn set_initrd(&mut self, bytes: Option<Vec<u8>>) {
        self.initrd = bytes;
    }
    /// The kernel command line.
    #[wasm_bindgen(setter)]
    pub fn set_cmdline(&mut self, text: String) {
        self.cmdline = text;
    }
    /// Virtual time from retired instructions (the same output every run)
    /// instead of the host's clock.
    #[wasm_bindgen(setter)]
    pub fn set_deterministic(&mut self, on: bool) {
        self.deterministic = on;
    }
    /// Host milliseconds after which the run exits with status 124.
    #[wasm_bindgen(setter)]
    pub fn set_timeout_ms(&mut self, ms: Option<f64>) {
        self.timeout_ms = ms;
    }
    /// An expect-like console script (the `--script` syntax).
    #[wasm_bindgen(setter)]
    pub fn set_script(&mut self, text: Option<String>) {
        self.script = text;
    }
    /// The CMOS clock at power-on, in seconds since the Unix epoch.
    #[wasm_bindgen(setter)]
    pub fn set_rtc_epoch(&mut self, secs: f64) {
        self.rtc_epoch = secs;
    }
    /// Instructions per slice (at least 1000).
    #[wasm_bindgen(setter)]
    pub fn set_slice(&mut self, n: u32) {
        self.slice = n.max(1000);
    }
    /// Compile hot code to WebAssembly run by the JavaScript engine (default on);
    /// off: interpret only.
    #[wasm_bindgen(setter)]
    pub fn set_jit(&mut self, on: bool) {
        self.jit = on;
    }
    /// Runs of a block that make its page hot (default 20000; tests use small
    /// values so every page compiles); `undefined` for the default.
    #[wasm_bindgen(setter)]
    pub fn set_jit_threshold(&mut self, runs: Option<u32>) {
        self.jit_threshold = runs;
    }
    /// Compile with the asynchronous `WebAssembly.compile`, the default: the
    /// interpreter runs until the module is ready (the host picks it up once
    /// the event loop has run), and the CPU's thread does not wait for V8's
    /// compiler. `false`: `new WebAssembly.Module` on the CPU's thread. Both give
    /// the same guest output; see the README for the measured difference.
    #[wasm_bindgen(setter)]
    pub fn set_jit_async(&mut self, on: bool) {
        self.jit_async = on;
    }
}

/// What the driver gave the host since the JS side last asked.
struct Buffered {
    t0: f64,
    out: Vec<u8>,
    messages: String,
    /// Snapshots a script's `savestate` made, for the host to store.
    saved: Vec<SavedState>,
    /// The disks, to flush their overlays before a snapshot.
    disks: disk::Disks,
}

/// A snapshot a script's `savestate NAME` step made.
#[wasm_bindgen(getter_with_clone)]
pub struct SavedState {
    /// The step's NAME (a file name for the host).
    pub path: String,
    /// The snapshot.
    pub bytes: Vec<u8>,
}

impl Host for Buffered {
    fn now_ms(&self) -> f64 {
        clock_ms() - self.t0
    }
    fn console(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }
    fn message(&mut self, text: &str) {
        self.messages.push_str(text);
        self.messages.push('\n');
    }
    fn flush_disks(&mut self) -> Result<(), String> {
        self.disks.flush()
    }
    fn save_state(&mut self, path: &str, bytes: &[u8]) -> Result<(), String> {
        self.saved.push(SavedState {
            path: path.to_string(),
            bytes: bytes.to_vec(),
        });
        Ok(())
    }
}

/// One PC run by the shared driver.
#[wasm_bindgen]
pub struct Machine {
    driver: Driver,
    host: Buffered,
    wait_ms: f64,
    exit_status: Option<i32>,
    disks: disk::Disks,
}

#[wasm_bindgen]
impl Machine {
    /// Builds the machine (consumes `options`). Throws a message if the kernel
    /// is missing or bad, or the script does not parse.
    #[wasm_bindgen(constructor)]
    pub fn new(options: MachineOptions) -> Result<Machine, String> {
        install_panic_hook();
        let mut o = options;
        let firmware = match o.snapshot.take() {
            Some(bytes) => {
                let h = tab86_machine::snapshot::peek_header(&bytes).map_err(|e| e.to_string())?;
                o.mem = h.mem_size;
                o.deterministic = h.deterministic;
                Firmware::Snapshot(bytes)
            }
            None if o.kernel.is_empty() => return Err("no kernel given".into()),
            None => Firmware::Kernel {
                kernel: std::mem::take(&mut o.kernel),
                initrd: o.initrd.take(),
                cmdline: std::mem::take(&mut o.cmdline),
            },
        };
        if !(1 << 20..=3 << 30).contains(&o.mem) {
            return Err(format!("memory size {} outside 1 MiB..3 GiB", o.mem));
        }
        let cfg = Config {
            mem_size: o.mem,
            firmware,
            clock: if o.deterministic {
                ClockMode::Deterministic
            } else {
                ClockMode::RealTime
            },
            debugcon: Vec::new(),
            serial: Box::new(std::io::sink()),
            rtc_epoch: o.rtc_epoch.max(0.0) as u64,
            disks: o.disks.backends(),
            apic: true,
        };
        let opts = Options {
            slice: o.slice as u64,
            timeout_ms: o.timeout_ms,
            script: o.script,
            bios: false,
            profile: false,
        };
        let t0 = clock_ms();
        let mut driver = Driver::new(cfg, opts, move || clock_ms() - t0)?;
        let mut messages = String::new();
        if o.jit {
            let mode = if o.jit_async {
                jit::Compile::Async
            } else {
                jit::Compile::Sync
            };
            let cpu = &mut driver.machine().cpu;
            let a = cpu.mem.arena().clone();
            match jit::JsHost::new(a.ptr(), a.len(), a.clone(), mode, clock_ms) {
                Ok(h) => {
                    cpu.set_jit(Box::new(h), Some(clock_ns));
                    if let Some(t) = o.jit_threshold {
                        cpu.set_jit_threshold(t);
                    }
                }
                Err(e) => messages = format!("tab86: JIT unavailable, interpreting only: {e}\n"),
            }
        }
        Ok(Machine {
            driver,
            host: Buffered {
                t0,
                out: Vec::new(),
                messages,
                saved: Vec::new(),
                disks: o.disks.clone(),
            },
            wait_ms: 0.0,
            exit_status: None,
            disks: o.disks,
        })
    }

    /// Runs one slice: "continue" (call again), "idle" (call again after at most
    /// `wait_ms`, or when input or a fetch answer arrives), "io" (deterministic
    /// mode waiting for disks: call again once a fetch is answered, see
    /// `disk.rs`) or "exit" (over; see `exit_status`).
    pub fn step(&mut self) -> String {
        let kind = match self.driver.step(&mut self.host) {
            Step::Continue => "continue",
            Step::Idle { wait_ms } => {
                self.wait_ms = wait_ms;
                "idle"
            }
            Step::WaitingForIo => "io",
            Step::Exit(code) => {
                self.exit_status = Some(code);
                "exit"
            }
        };
        kind.into()
    }

    /// Plays `step` while it says "continue", for at most `budget_ms` of host
    /// time; returns the last step's kind.
    pub fn run(&mut self, budget_ms: f64) -> String {
        let end = clock_ms() + budget_ms;
        loop {
            let kind = self.step();
            if kind != "continue" || clock_ms() >= end {
                return kind;
            }
        }
    }

    /// After an "idle" step: the longest useful wait, in milliseconds.
    #[wasm_bindgen(getter)]
    pub fn wait_ms(&self) -> f64 {
        self.wait_ms
    }

    /// After an "exit" step: the exit status (the native CLI's; 0 poweroff,
    /// 3 triple fault, 5 script failed, 124 timeout, ...).
    #[wasm_bindgen(getter)]
    pub fn exit_status(&self) -> Option<i32> {
        self.exit_status
    }

    /// The host waited `ms` after an "idle" step (counted in the statistics).
    pub fn idled(&mut self, ms: f64) {
        self.driver.idled(ms);
    }

    /// Console input for COM1 (delivered as the UART has room).
    pub fn input(&mut self, bytes: &[u8]) {
        self.driver.input(bytes);
    }

    /// Whether a script drives the console (so the user's input is not wanted).
    pub fn scripted(&self) -> bool {
        self.driver.scripted()
    }

    /// The bytes the guest wrote to COM1 since the last call.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.host.out)
    }

    /// The driver's messages since the last call, one a line ("" if none).
    pub fn take_messages(&mut self) -> String {
        std::mem::take(&mut self.host.messages)
    }

    /// A snapshot of the machine now (overlays flushed first). Throws a message
    /// when it cannot be taken now (disk requests in flight: step and retry).
    pub fn save_state(&mut self) -> Result<Vec<u8>, String> {
        self.disks.flush()?;
        self.driver.save_state()
    }

    /// The oldest snapshot a script's `savestate` made and the host has not
    /// taken yet.
    pub fn take_saved(&mut self) -> Option<SavedState> {
        if self.host.saved.is_empty() {
            None
        } else {
            Some(self.host.saved.remove(0))
        }
    }

    /// Instructions retired so far.
    pub fn instructions(&mut self) -> f64 {
        self.driver.machine().stats().instructions as f64
    }

    /// The `--stats` lines: instructions, MIPS since the machine was built,
    /// blocks, virtual time, slices.
    pub fn stats(&self) -> String {
        self.driver
            .stats_report(((clock_ms() - self.host.t0) / 1e3).max(1e-9))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_options_are_messages() {
        assert_eq!(
            Machine::new(MachineOptions::new()).err().unwrap(),
            "no kernel given"
        );
        let mut o = MachineOptions::new();
        o.set_kernel(vec![0; 4096]);
        o.set_mem(1000);
        assert!(Machine::new(o).err().unwrap().contains("memory size"));
        let mut o = MachineOptions::new();
        o.set_kernel(vec![0; 4096]);
        // Neither a bzImage nor a Multiboot kernel: the machine says so.
        assert!(Machine::new(o).is_err());
    }
}

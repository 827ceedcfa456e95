//! The host driver every front end shares: it runs a [`Machine`] in slices,
//! carries console input and output, plays a `--script`, enforces the timeout,
//! keeps the statistics, and maps how the machine stopped to the documented exit
//! status. What is particular to a platform (a terminal in raw mode, threads, a
//! Worker's message port, how to wait) stays in the front end, which calls
//! [`Driver::step`] and waits as the returned [`Step`] says.
//!
//! Nothing here blocks, sleeps or reads a clock of its own: time comes from the
//! [`Host`], so the same driver runs natively, under Node and in a browser.

#![deny(missing_docs)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::rc::Rc;
use tab86_machine::script::{self, Action, Runner};
use tab86_machine::{Config, Event, HostClock, Machine, Stop};

/// Exit statuses, the same for every front end (tabled in the README).
pub mod status {
    /// The guest powered off, or halted with interrupts disabled after a kernel boot.
    pub const OK: i32 = 0;
    /// `--bios` mode: the CPU halted with interrupts disabled and nothing can wake it.
    pub const BIOS_HALT: i32 = 2;
    /// Triple fault: the machine shut down.
    pub const TRIPLE_FAULT: i32 = 3;
    /// An emulator or input error.
    pub const ERROR: i32 = 4;
    /// A `--script` step failed (a wait timed out).
    pub const SCRIPT_FAILED: i32 = 5;
    /// The `--timeout` expired.
    pub const TIMEOUT: i32 = 124;
}

/// What the front end provides: its clock and where console output and messages go.
pub trait Host {
    /// Milliseconds since the run started, never going back.
    fn now_ms(&self) -> f64;
    /// Bytes the guest wrote to COM1.
    fn console(&mut self, bytes: &[u8]);
    /// A message for the user (standard error natively, the console in JS).
    fn message(&mut self, text: &str);
    /// A script's `mark NAME` was reached; `report` says where the run stands.
    /// Front ends may add their own counters (disk statistics, say).
    fn mark(&mut self, _name: &str, report: &str) {
        self.message(report);
    }
    /// Make every disk write durable (an overlay's flush) before a snapshot is
    /// taken, so that the snapshot records the disks' flushed generation.
    fn flush_disks(&mut self) -> Result<(), String> {
        Ok(())
    }
    /// Store a snapshot (a script's `savestate FILE`): natively a file, in a
    /// browser a download or storage. The default refuses.
    fn save_state(&mut self, path: &str, _bytes: &[u8]) -> Result<(), String> {
        Err(format!("this front end cannot save {path}"))
    }
}

/// What the front end should do after a [`Driver::step`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// Call `step` again.
    Continue,
    /// The guest waits for a timer or input: call `step` again after at most
    /// `wait_ms`, or as soon as console input arrives.
    Idle {
        /// Longest useful wait, in milliseconds.
        wait_ms: f64,
    },
    /// Deterministic mode: the guest waits for disk requests; call `step` again
    /// once the disks have progressed (natively after [`Driver::wait_io`]).
    WaitingForIo,
    /// The run is over with this exit status (the reason was given to
    /// [`Host::message`]).
    Exit(i32),
}

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Instructions per slice.
    pub slice: u64,
    /// Stop with [`status::TIMEOUT`] after this many host milliseconds.
    pub timeout_ms: Option<f64>,
    /// An expect-like console script (`tab86_machine::script` syntax).
    pub script: Option<String>,
    /// Firmware mode (`--bios`): a halt with interrupts off is [`status::BIOS_HALT`].
    pub bios: bool,
    /// Sample the guest's linear EIP once per slice, weighted by instructions.
    pub profile: bool,
}

/// The longest idle wait reported, so timeouts and scripts stay responsive.
const MAX_IDLE_MS: f64 = 10.0;

/// A clock the machine reads through the host's.
struct Clock<C: Fn() -> f64>(C);
impl<C: Fn() -> f64> HostClock for Clock<C> {
    fn now_ns(&self) -> u64 {
        ((self.0)() * 1e6) as u64
    }
}

/// Serial output collected between slices.
#[derive(Clone, Default)]
struct Collect(Rc<RefCell<Vec<u8>>>);
impl Write for Collect {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One machine being run for a front end.
pub struct Driver {
    machine: Machine,
    opts: Options,
    out: Collect,
    script: Option<Runner>,
    input: Vec<u8>,
    idle_ms: f64,
    profile: HashMap<u32, u64>,
    exit: Option<i32>,
    stop: Option<Stop>,
    /// A `savestate` waiting for a quiescent point (console input delivered, no
    /// disk request in flight).
    pending_save: Option<String>,
    /// A script's `quit` was reached: stop once a pending save is written.
    quit: bool,
}

impl Driver {
    /// Builds the machine from `cfg` (its serial output is taken over by the
    /// driver) on the host's clock `now_ms`. A script that does not parse, or a
    /// machine that cannot be built, is an error message.
    pub fn new(
        mut cfg: Config,
        opts: Options,
        now_ms: impl Fn() -> f64 + 'static,
    ) -> Result<Driver, String> {
        let script = match &opts.script {
            Some(text) => Some(Runner::new(script::parse(text).map_err(|e| e.to_string())?)),
            None => None,
        };
        let out = Collect::default();
        cfg.serial = Box::new(out.clone());
        let machine = Machine::new(cfg, Box::new(Clock(now_ms))).map_err(|e| e.to_string())?;
        Ok(Driver {
            machine,
            opts,
            out,
            script,
            input: Vec::new(),
            idle_ms: 0.0,
            profile: HashMap::new(),
            exit: None,
            stop: None,
            pending_save: None,
            quit: false,
        })
    }

    /// A snapshot of the machine now (see `tab86_machine::snapshot`). Console
    /// input the driver still holds for the UART is not part of the machine: take
    /// snapshots when [`Driver::input_pending`] is 0 for a resumable console.
    pub fn save_state(&mut self) -> Result<Vec<u8>, String> {
        self.machine.save_state().map_err(|e| e.to_string())
    }

    /// Console bytes queued by the driver and not yet given to the UART.
    pub fn input_pending(&self) -> usize {
        self.input.len()
    }

    /// The machine (to attach a JIT or a tracer, or read its state).
    pub fn machine(&mut self) -> &mut Machine {
        &mut self.machine
    }

    /// Queues console input for COM1 (delivered as the UART has room).
    pub fn input(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
    }

    /// Whether a script drives the console (so the user's input is not read).
    pub fn scripted(&self) -> bool {
        self.opts.script.is_some()
    }

    /// Host milliseconds the guest spent halted, waiting for a timer or input,
    /// as the front end reported with [`Driver::idled`].
    pub fn idle_ms(&self) -> f64 {
        self.idle_ms
    }

    /// The front end waited `ms` after a [`Step::Idle`].
    pub fn idled(&mut self, ms: f64) {
        self.idle_ms += ms;
    }

    /// How the machine stopped, once it has.
    pub fn stop(&self) -> Option<Stop> {
        self.stop
    }

    /// Whether the script (if any) has played all its steps.
    pub fn script_done(&self) -> bool {
        self.script.is_none()
    }

    /// Blocks for at most `ms` until a disk request completes (native hosts,
    /// after [`Step::WaitingForIo`]).
    pub fn wait_io(&mut self, ms: f64) {
        self.machine.wait_io((ms * 1e6) as u64);
    }

    /// The `--profile` samples: linear EIP and the instructions retired in the
    /// slices that ended there.
    pub fn profile(&self) -> &HashMap<u32, u64> {
        &self.profile
    }

    /// Runs one slice, moves console bytes both ways, plays the script and checks
    /// the timeout.
    pub fn step(&mut self, host: &mut dyn Host) -> Step {
        if let Some(code) = self.exit {
            return Step::Exit(code);
        }
        let step = self.slice(host);
        if let Step::Exit(code) = step {
            self.exit = Some(code);
        }
        step
    }

    fn slice(&mut self, host: &mut dyn Host) -> Step {
        let m = &mut self.machine;
        if !self.input.is_empty() {
            let n = m.serial_room().min(self.input.len());
            if n > 0 {
                m.serial_input(&self.input[..n]);
                self.input.drain(..n);
            }
        }
        let before = m.stats().instructions;
        let ev = m.run(self.opts.slice);
        if self.opts.profile {
            let (base, eip) = m.linear_eip();
            *self.profile.entry(base.wrapping_add(eip)).or_insert(0) +=
                m.stats().instructions - before;
        }
        let bytes = std::mem::take(&mut *self.out.0.borrow_mut());
        if !bytes.is_empty() {
            host.console(&bytes);
            if let Some(s) = self.script.as_mut() {
                s.feed(&bytes);
            }
        }
        let now = host.now_ms();
        if let Some(s) = self.script.as_mut() {
            loop {
                match s.poll(now as u64) {
                    Action::Continue => break,
                    Action::Send(b) => self.input.extend_from_slice(&b),
                    Action::Mark(name) => {
                        let st = self.machine.stats();
                        let mut report = format!(
                            "\ntab86: mark {name}: {:.3} s ({:.3} s idle), {} instructions, virtual time {:.3} s",
                            now / 1e3,
                            self.idle_ms / 1e3,
                            st.instructions,
                            st.virtual_ns as f64 / 1e9
                        );
                        if let Some(j) = self.machine.cpu.jit_stats() {
                            report.push_str(&format!(
                                "\ntab86: mark {name}: jit {} calls, {} instructions, {} helper calls",
                                j.calls, j.instructions, j.helper_calls
                            ));
                        }
                        host.mark(&name, &report);
                    }
                    Action::SaveState(path) => {
                        self.pending_save = Some(path);
                        // A `quit` right after is taken now, so that no guest
                        // slice runs between the save and the stop.
                        if !s.next_is_quit() {
                            break;
                        }
                    }
                    Action::Quit => {
                        self.quit = true;
                        break;
                    }
                    Action::Done => {
                        self.script = None;
                        break;
                    }
                    Action::Failed(msg) => {
                        host.message(&format!("\ntab86: {msg}"));
                        return Step::Exit(status::SCRIPT_FAILED);
                    }
                }
            }
        }
        if self.pending_save.is_some() && self.input.is_empty() {
            if let Some(code) = self.try_save(host) {
                return Step::Exit(code);
            }
        }
        if self.quit && self.pending_save.is_none() {
            return Step::Exit(status::OK);
        }
        if let Some(t) = self.opts.timeout_ms {
            if now >= t {
                host.message(&format!("\ntab86: --timeout of {} s expired", t / 1e3));
                return Step::Exit(status::TIMEOUT);
            }
        }
        match ev {
            Event::Ran => Step::Continue,
            Event::Idle { wait_ns } if self.input.is_empty() => Step::Idle {
                wait_ms: (wait_ns as f64 / 1e6).min(MAX_IDLE_MS),
            },
            Event::Idle { .. } => Step::Continue,
            Event::WaitingForIo => Step::WaitingForIo,
            Event::Stopped(stop) => {
                self.stop = Some(stop);
                Step::Exit(self.stopped(stop, host))
            }
        }
    }

    /// A pending `savestate`: written when the machine is quiescent (a busy
    /// machine is tried again after the next slice); a failure ends the run.
    fn try_save(&mut self, host: &mut dyn Host) -> Option<i32> {
        let path = self.pending_save.clone()?;
        if self.machine.disk_requests_in_flight() > 0 {
            return None;
        }
        if let Err(e) = host.flush_disks() {
            host.message(&format!("\ntab86: savestate {path}: {e}"));
            return Some(status::ERROR);
        }
        match self.machine.save_state() {
            Ok(bytes) => {
                self.pending_save = None;
                match host.save_state(&path, &bytes) {
                    Ok(()) => {
                        let st = self.machine.stats();
                        host.message(&format!(
                            "\ntab86: saved {} bytes to {path} at {} instructions",
                            bytes.len(),
                            st.instructions
                        ));
                        None
                    }
                    Err(e) => {
                        host.message(&format!("\ntab86: savestate {path}: {e}"));
                        Some(status::ERROR)
                    }
                }
            }
            Err(tab86_machine::snapshot::SnapshotError::Busy(_)) => None,
            Err(e) => {
                host.message(&format!("\ntab86: savestate {path}: {e}"));
                Some(status::ERROR)
            }
        }
    }

    /// The exit status of a stop, with its message.
    fn stopped(&self, stop: Stop, host: &mut dyn Host) -> i32 {
        match stop {
            Stop::DebugExit(code) => code as i32,
            Stop::Poweroff => status::OK,
            Stop::HaltedNoWake => {
                let (cs, eip) = self.machine.cs_eip();
                host.message(&format!(
                    "tab86: CPU halted with interrupts disabled at {cs:04x}:{eip:08x}; nothing can wake it"
                ));
                if self.opts.bios {
                    status::BIOS_HALT
                } else {
                    status::OK
                }
            }
            Stop::TripleFault { cs, eip } => {
                host.message(&format!(
                    "tab86: triple fault at {cs:04x}:{eip:08x}; the machine shut down"
                ));
                status::TRIPLE_FAULT
            }
        }
    }

    /// The `--stats` lines: instructions, MIPS over `secs` of host time, blocks,
    /// virtual time, slices, and the JIT's counters when one is attached.
    pub fn stats_report(&self, secs: f64) -> String {
        let s = self.machine.stats();
        let mut r = format!(
            "tab86: stats: {} instructions in {:.3} s = {:.1} MIPS; {} cached blocks; virtual time {:.3} s; {} slices ({} halted); {:.3} s of host time kept from the running guest",
            s.instructions,
            secs,
            s.instructions as f64 / secs / 1e6,
            s.blocks,
            s.virtual_ns as f64 / 1e9,
            s.slices,
            s.halts,
            s.stolen_ns as f64 / 1e9
        );
        if let Some(j) = self.machine.cpu.jit_stats() {
            r.push_str(&format!(
                "\ntab86: jit: {} modules ({} KiB wasm, {:.3} s on the CPU's thread, {:.3} s compiling in the background, {} discarded), {} calls, {} instructions ({:.1}%), {} invalidated, {} evicted, {} trapped",
                j.modules,
                j.wasm_bytes / 1024,
                j.compile_ns as f64 / 1e9,
                j.background_ns as f64 / 1e9,
                j.discarded,
                j.calls,
                j.instructions,
                100.0 * j.instructions as f64 / s.instructions.max(1) as f64,
                j.invalidations,
                j.evictions,
                j.traps
            ));
            r.push_str(&format!(
                "\ntab86: jit: {} instructions compiled ({:.1} us each, {} wasm bytes each); {} compilations put off by the cost rule",
                j.compiled_instructions,
                (j.compile_ns + j.background_ns) as f64 / 1e3 / j.compiled_instructions.max(1) as f64,
                j.wasm_bytes / j.compiled_instructions.max(1),
                j.deferred
            ));
            r.push_str(&format!(
                "\ntab86: jit: {:.1} calls per 1000 instructions; {} linked jumps between modules; returns: {} in the page, {} to another page, {} out of budget; {} helper calls ({} left after)",
                1000.0 * j.calls as f64 / s.instructions.max(1) as f64,
                j.links,
                j.exits_in_page,
                j.exits_other_page,
                j.exits_budget,
                j.helper_calls,
                j.helper_exits
            ));
            for (top, name) in [
                (
                    self.machine.cpu.jit_top_exits(15),
                    "interpreted after a return",
                ),
                (self.machine.cpu.jit_top_helpers(15), "helper calls"),
            ] {
                if !top.is_empty() {
                    let list: Vec<String> = top.iter().map(|(c, n)| format!("{c} {n}")).collect();
                    r.push_str(&format!("\ntab86: jit: top {name}: {}", list.join(", ")));
                }
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use tab86_machine::{ClockMode, Firmware};

    /// A host whose clock the test moves.
    struct TestHost {
        now: Rc<Cell<f64>>,
        console: Vec<u8>,
        messages: Vec<String>,
        saved: Option<Vec<u8>>,
    }
    impl Host for TestHost {
        fn save_state(&mut self, _path: &str, bytes: &[u8]) -> Result<(), String> {
            self.saved = Some(bytes.to_vec());
            Ok(())
        }
        fn now_ms(&self) -> f64 {
            self.now.get()
        }
        fn console(&mut self, bytes: &[u8]) {
            self.console.extend_from_slice(bytes);
        }
        fn message(&mut self, text: &str) {
            self.messages.push(text.to_string());
        }
    }

    /// A 64 KiB ROM: at the reset vector `code`, the rest HLT.
    fn rom(code: &[u8]) -> Config {
        let mut rom = vec![0xF4u8; 64 << 10];
        rom[0xFFF0..0xFFF0 + code.len()].copy_from_slice(code);
        Config {
            mem_size: 16 << 20,
            firmware: Firmware::Bios(rom),
            clock: ClockMode::Deterministic,
            debugcon: Vec::new(),
            serial: Box::new(std::io::sink()),
            rtc_epoch: 0,
            disks: Vec::new(),
            apic: true,
        }
    }

    fn driver(cfg: Config, opts: Options) -> (Driver, TestHost) {
        let now = Rc::new(Cell::new(0.0));
        let n = now.clone();
        let d = Driver::new(cfg, opts, move || n.get()).unwrap();
        let host = TestHost {
            now,
            console: Vec::new(),
            messages: Vec::new(),
            saved: None,
        };
        (d, host)
    }

    fn run(d: &mut Driver, h: &mut TestHost) -> i32 {
        for _ in 0..10_000 {
            match d.step(h) {
                Step::Exit(code) => return code,
                Step::Idle { wait_ms } => h.now.set(h.now.get() + wait_ms),
                Step::Continue => h.now.set(h.now.get() + 1.0),
                Step::WaitingForIo => d.wait_io(1.0),
            }
        }
        panic!("no exit");
    }

    const OPTS: Options = Options {
        slice: 10_000,
        timeout_ms: None,
        script: None,
        bios: true,
        profile: false,
    };

    #[test]
    fn stops_map_to_the_documented_statuses() {
        // CLI; HLT: halted with interrupts off.
        let (mut d, mut h) = driver(rom(&[0xFA, 0xF4]), OPTS);
        assert_eq!(run(&mut d, &mut h), status::BIOS_HALT);
        assert!(h.messages[0].contains("halted with interrupts disabled"));
        // mov al, 21; out 0xF4, al: isa-debug-exit with 21 -> 43.
        let (mut d, mut h) = driver(rom(&[0xB0, 21, 0xE6, 0xF4]), OPTS);
        assert_eq!(run(&mut d, &mut h), 43);
        // Once over, it stays over.
        assert_eq!(d.step(&mut h), Step::Exit(43));
    }

    #[test]
    fn quit_right_after_a_savestate_stops_where_the_snapshot_was_taken() {
        // inc eax; jmp back: runs forever, so only the script's quit stops it.
        let opts = Options {
            script: Some("savestate s.snap\nquit\n".into()),
            ..OPTS
        };
        let (mut d, mut h) = driver(rom(&[0x40, 0xEB, 0xFD]), opts);
        assert_eq!(run(&mut d, &mut h), status::OK);
        assert!(h.saved.is_some(), "{:?}", h.messages);
        // No slice ran after the save: the machine stopped at the saved count.
        let at = format!("at {} instructions", d.machine().stats().instructions);
        assert!(
            h.messages
                .iter()
                .any(|m| m.contains("saved") && m.ends_with(&at)),
            "{:?} (stopped {at})",
            h.messages
        );
    }

    #[test]
    fn the_timeout_ends_a_guest_that_runs_forever() {
        // jmp $ (EB FE) never stops.
        let opts = Options {
            timeout_ms: Some(50.0),
            ..OPTS
        };
        let (mut d, mut h) = driver(rom(&[0xEB, 0xFE]), opts);
        assert_eq!(run(&mut d, &mut h), status::TIMEOUT);
        assert!(h.messages.iter().any(|m| m.contains("--timeout")));
    }

    #[test]
    fn console_output_reaches_the_host_and_drives_the_script() {
        // Writes "hi\n" to COM1 (mov dx,3F8h; mov al,'h'; out dx,al; ...), then loops.
        let code = [
            0xBA, 0xF8, 0x03, 0xB0, b'h', 0xEE, 0xB0, b'i', 0xEE, 0xB0, b'\n', 0xEE, 0xEB, 0xFE,
        ];
        let opts = Options {
            script: Some("wait -t 1 nomatch\n".into()),
            ..OPTS
        };
        let (mut d, mut h) = driver(rom(&code), opts);
        assert_eq!(run(&mut d, &mut h), status::SCRIPT_FAILED);
        assert_eq!(h.console, b"hi\n");
        assert!(h.messages.iter().any(|m| m.contains("nomatch")));
        let opts = Options {
            script: Some("wait hi\n".into()),
            timeout_ms: Some(100.0),
            ..OPTS
        };
        let (mut d, mut h) = driver(rom(&code), opts);
        // The wait matched, so only the timeout ends the looping guest.
        assert_eq!(run(&mut d, &mut h), status::TIMEOUT);
    }
}

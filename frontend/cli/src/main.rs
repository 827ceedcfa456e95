//! `tab86`: boots a PC from the terminal. COM1 is standard input/output (raw mode
//! with Ctrl-A X to quit when it is a terminal, plain byte streams when piped).

mod args;
mod disk;
mod instant;
mod term;

use args::{Args, Command};
use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tab86_driver::{status, Driver, Host, Options, Step};

fn main() {
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tab86: {e}\n{}", args::USAGE);
            std::process::exit(status::ERROR);
        }
    };
    let code = match args.command {
        Command::Help => {
            println!("{}", args::USAGE);
            0
        }
        Command::Run => run(args),
        Command::Pack(rest) => disk::pack_main(&rest),
        Command::Serve(rest) => disk::serve_main(&rest),
    };
    std::process::exit(code);
}

/// The terminal side of the shared driver: console bytes to standard output (and
/// the `--serial-log` file), messages to standard error.
struct Terminal {
    started: Instant,
    stdout: std::io::Stdout,
    serial_log: Option<std::fs::File>,
    disk_stores: Vec<std::sync::Arc<dyn tab86_storage::Store>>,
    /// Raw mode is on: line ends need a carriage return.
    raw: bool,
}

impl Host for Terminal {
    fn now_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1e3
    }
    fn console(&mut self, bytes: &[u8]) {
        let _ = self.stdout.write_all(bytes);
        let _ = self.stdout.flush();
        if let Some(f) = self.serial_log.as_mut() {
            let _ = f.write_all(bytes);
        }
    }
    fn message(&mut self, text: &str) {
        if self.raw {
            eprint!("{}\r\n", text.replace('\n', "\r\n"));
        } else {
            eprintln!("{text}");
        }
    }
    fn mark(&mut self, _name: &str, report: &str) {
        self.message(report);
        disk::print_stats(&self.disk_stores);
    }
    fn flush_disks(&mut self) -> Result<(), String> {
        flush(&self.disk_stores)
    }
    fn save_state(&mut self, path: &str, bytes: &[u8]) -> Result<(), String> {
        write_state(path, bytes)
    }
}

/// Makes every disk write durable before a snapshot records the disks'
/// generations, so the snapshot and the disks (their overlays) agree.
fn flush(stores: &[std::sync::Arc<dyn tab86_storage::Store>]) -> Result<(), String> {
    for s in stores {
        s.flush()
            .map_err(|e| format!("cannot flush a disk before the snapshot: {e}"))?;
    }
    Ok(())
}

/// Writes a snapshot file atomically (a rename), so a crash leaves the old one.
fn write_state(path: &str, bytes: &[u8]) -> Result<(), String> {
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot write {path}: {e}"))
}

/// Ctrl-A S and `--save-state` at exit: snapshot the machine to `path`.
fn save_now(d: &mut Driver, host: &mut Terminal, path: &str) -> bool {
    let r = flush(&host.disk_stores)
        .and_then(|_| d.save_state())
        .and_then(|b| write_state(path, &b).map(|_| b.len()));
    match r {
        Ok(n) => {
            host.message(&format!("\ntab86: saved the machine to {path} ({n} bytes)"));
            true
        }
        Err(e) => {
            host.message(&format!("\ntab86: {e}"));
            false
        }
    }
}

/// Builds the machine the arguments describe: its driver and the disks' stores.
fn build(
    args: &Args,
    started: Instant,
) -> Result<(Driver, Vec<std::sync::Arc<dyn tab86_storage::Store>>), String> {
    let mut cfg = args.machine_config()?;
    let disk_stores = disk::attach(args, &mut cfg)?;
    let script = match &args.script {
        Some(path) => Some(
            std::fs::read_to_string(path).map_err(|e| format!("cannot read script {path}: {e}"))?,
        ),
        None => None,
    };
    let opts = Options {
        slice: args.slice,
        timeout_ms: args.timeout.map(|s| s * 1e3),
        script,
        bios: args.bios.is_some(),
        profile: args.profile.is_some(),
    };
    let mut d = Driver::new(cfg, opts, move || started.elapsed().as_secs_f64() * 1e3)?;
    // Time the host keeps this thread waiting while the guest has work is not
    // guest time (a loaded host must not expire the guest's timeouts).
    if tab86_jit_wasmtime::thread_cpu_ns().is_some() {
        d.machine().set_thread_cpu_clock(Box::new(|| {
            tab86_jit_wasmtime::thread_cpu_ns().unwrap_or(0)
        }));
    }
    Ok((d, disk_stores))
}

fn run(mut args: Args) -> i32 {
    disk::init_log();
    let started = Instant::now();
    // No machine named: the default Debian image, from its snapshot if it fits.
    let default = if instant::applies(&args) {
        match instant::prepare(&mut args) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("tab86: {e}");
                return status::ERROR;
            }
        }
    } else {
        None
    };
    let built = match build(&args, started) {
        Err(e) if default.as_ref().is_some_and(|s| s.restore) => {
            // The snapshot did not fit after all (e.g. another disk): boot cold.
            eprintln!("tab86: cold boot of the Debian image (about a minute): {e}");
            if let Some(p) = default.as_ref().and_then(|s| s.created_overlay.as_ref()) {
                let _ = std::fs::remove_file(p);
            }
            args.snapshot = None;
            build(&args, started)
        }
        r => r,
    };
    let (mut d, disk_stores) = match built {
        Ok(b) => b,
        Err(e) => {
            eprintln!("tab86: {e}");
            return status::ERROR;
        }
    };
    if args.snapshot.is_some() {
        eprintln!(
            "tab86: the Debian image restored at its root shell in {:.2} s (--cold boots it from scratch)",
            started.elapsed().as_secs_f64()
        );
        // Releases the shell, which sets the guest's clock from the RTC first.
        d.input(instant::RESUME_INPUT);
    }
    let serial_log = match &args.serial_log {
        Some(p) => match std::fs::File::create(p) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("tab86: cannot create {p}: {e}");
                return status::ERROR;
            }
        },
        None => None,
    };
    let m = d.machine();
    if !args.no_jit {
        let a = m.cpu.mem.arena().clone();
        match tab86_jit_wasmtime::WasmtimeHost::with_opt(a.ptr(), a.len(), a.clone(), args.jit_opt)
        {
            Ok(mut h) => {
                // Cranelift runs on the second core while the CPU interprets.
                if let Err(e) = h.compile_in_background() {
                    eprintln!("tab86: {e}; compiling on the CPU's thread");
                }
                m.cpu.set_jit(Box::new(h), Some(host_ns));
                if let Some(n) = args.jit_threshold {
                    m.cpu.set_jit_threshold(n);
                }
            }
            Err(e) => eprintln!("tab86: JIT unavailable, interpreting only: {e}"),
        }
    }
    match args.trace() {
        Ok(t) => m.cpu.trace = t.map(Box::new),
        Err(e) => {
            eprintln!("tab86: {e}");
            return status::ERROR;
        }
    }

    let raw = if d.scripted() {
        None
    } else {
        Some(term::RawMode::enter())
    };
    let tty = raw.as_ref().is_some_and(|r| r.is_tty());
    let (in_tx, in_rx) = mpsc::channel::<Vec<u8>>();
    // A disk completion wakes the idle wait below with an empty message, so a
    // real-time run sleeps until then instead of polling every millisecond.
    let wake_tx = in_tx.clone();
    d.machine().set_io_waker(std::sync::Arc::new(move || {
        let _ = wake_tx.send(Vec::new());
    }));
    if !d.scripted() {
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            let stdin = std::io::stdin();
            let mut lock = stdin.lock();
            loop {
                match lock.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if in_tx.send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
    } else {
        drop(in_tx);
    }
    let mut host = Terminal {
        started,
        stdout: std::io::stdout(),
        serial_log,
        disk_stores,
        raw: tty,
    };
    let mut ctrl_a = false;
    let mut result = loop {
        // Console input (with the Ctrl-A escapes on a terminal).
        while let Ok(bytes) = in_rx.try_recv() {
            for b in bytes {
                if tty && ctrl_a {
                    ctrl_a = false;
                    match b {
                        b'x' | b'X' => {
                            if let Some(path) = &args.save_state {
                                save_now(&mut d, &mut host, path);
                            }
                            drop(raw);
                            eprintln!("\r\ntab86: terminated by Ctrl-A X");
                            return 0;
                        }
                        b'h' | b'H' => {
                            eprint!("\r\nCtrl-A X  quit\r\nCtrl-A S  save the machine (--save-state FILE, default tab86.snap)\r\nCtrl-A H  this help\r\nCtrl-A A  send Ctrl-A\r\n");
                            continue;
                        }
                        b's' | b'S' => {
                            let path = args.save_state.as_deref().unwrap_or("tab86.snap");
                            save_now(&mut d, &mut host, path);
                            continue;
                        }
                        b'a' | b'A' | 1 => d.input(&[1]),
                        _ => {}
                    }
                } else if tty && b == 1 {
                    ctrl_a = true;
                } else {
                    d.input(&[b]);
                }
            }
        }
        match d.step(&mut host) {
            Step::Continue => {}
            Step::Idle { wait_ms } => {
                // Nothing to do until the next timer event or input.
                let wait = Duration::from_secs_f64(wait_ms.max(0.0) / 1e3);
                let t = Instant::now();
                match in_rx.recv_timeout(wait) {
                    Ok(bytes) if bytes.is_empty() => {} // a disk completion
                    Ok(bytes) => d.input(&bytes),
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    // No console input (a script drives it, or stdin ended): sleep
                    // instead of spinning.
                    Err(mpsc::RecvTimeoutError::Disconnected) => std::thread::sleep(wait),
                }
                d.idled(t.elapsed().as_secs_f64() * 1e3);
            }
            Step::WaitingForIo => d.wait_io(100.0),
            Step::Exit(code) => break code,
        }
    };
    if let Some(path) = &args.save_state {
        if !save_now(&mut d, &mut host, path) {
            result = status::ERROR;
        }
    }
    drop(raw);
    let m = d.machine();
    if let Some(path) = &args.dump_ram {
        if let Err(e) = std::fs::write(path, m.cpu.mem.ram()) {
            // The user asked for the dump: its loss is an error, not the guest's status.
            eprintln!("tab86: cannot write the --dump-ram file {path}: {e}");
            result = status::ERROR;
        }
    }
    if let Some(path) = &args.profile {
        if let Err(e) = write_profile(path, d.profile()) {
            eprintln!("tab86: cannot write {path}: {e}");
        }
    }
    if args.stats {
        eprintln!("{}", d.stats_report(started.elapsed().as_secs_f64()));
        disk::print_stats(&host.disk_stores);
    }
    result
}

/// Host nanoseconds (for JIT compile-time statistics; differences only).
fn host_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Writes the `--profile` samples, most instructions first.
fn write_profile(path: &str, p: &std::collections::HashMap<u32, u64>) -> std::io::Result<()> {
    let mut v: Vec<(u32, u64)> = p.iter().map(|(&a, &n)| (a, n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut out = String::new();
    for (addr, n) in v {
        out.push_str(&format!("{n} {addr:08x}\n"));
    }
    std::fs::write(path, out)
}

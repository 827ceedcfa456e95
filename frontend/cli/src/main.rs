//! `tab86`: boots a PC from the terminal. COM1 is standard input/output (raw mode
//! with Ctrl-A X to quit when it is a terminal, plain byte streams when piped).

mod args;
mod disk;
mod term;

use args::{Args, Command};
use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tab86_machine::script::{Action, Runner};
use tab86_machine::{Event, Machine, Stop};

/// Exit statuses (documented in the README).
mod status {
    pub const BIOS_HALT: i32 = 2;
    pub const TRIPLE_FAULT: i32 = 3;
    pub const ERROR: i32 = 4;
    pub const SCRIPT_FAILED: i32 = 5;
    pub const TIMEOUT: i32 = 124;
}

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

struct WallClock(Instant);
impl tab86_machine::HostClock for WallClock {
    fn now_ns(&self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

/// Serial output goes to stdout and, when a script runs, to the script's buffer.
struct SerialSink {
    tx: mpsc::Sender<Vec<u8>>,
}
impl Write for SerialSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = self.tx.send(buf.to_vec());
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn run(args: Args) -> i32 {
    let (out_tx, out_rx) = mpsc::channel::<Vec<u8>>();
    let mut cfg = match args.machine_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tab86: {e}");
            return status::ERROR;
        }
    };
    cfg.serial = Box::new(SerialSink { tx: out_tx });
    disk::init_log();
    let disk_stores = match disk::attach(&args, &mut cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tab86: {e}");
            return status::ERROR;
        }
    };
    let started = Instant::now();
    let mut m = match Machine::new(cfg, Box::new(WallClock(started))) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("tab86: {e}");
            return status::ERROR;
        }
    };
    if !args.no_jit {
        let a = m.cpu.mem.arena().clone();
        match tab86_jit_wasmtime::WasmtimeHost::new(a.ptr(), a.len(), a.clone()) {
            Ok(mut h) => {
                // Cranelift runs on the second core while the CPU interprets.
                if let Err(e) = h.compile_in_background() {
                    eprintln!("tab86: {e}; compiling on the CPU's thread");
                }
                m.cpu.set_jit(Box::new(h), Some(host_ns))
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
    let mut script = match &args.script {
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read script {path}: {e}"))
            .and_then(|t| tab86_machine::script::parse(&t).map_err(|e| e.to_string()))
        {
            Ok(steps) => Some(Runner::new(steps)),
            Err(e) => {
                eprintln!("tab86: {e}");
                return status::ERROR;
            }
        },
        None => None,
    };
    let mut serial_log = match &args.serial_log {
        Some(p) => match std::fs::File::create(p) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("tab86: cannot create {p}: {e}");
                return status::ERROR;
            }
        },
        None => None,
    };

    let raw = if args.script.is_none() {
        Some(term::RawMode::enter())
    } else {
        None
    };
    let tty = raw.as_ref().is_some_and(|r| r.is_tty());
    let (in_tx, in_rx) = mpsc::channel::<Vec<u8>>();
    if args.script.is_none() {
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

    let mut profile = args
        .profile
        .as_ref()
        .map(|_| std::collections::HashMap::<u32, u64>::new());
    let mut stdout = std::io::stdout();
    let mut pending_in: Vec<u8> = Vec::new();
    let mut ctrl_a = false;
    let deadline = args.timeout.map(|s| started + Duration::from_secs_f64(s));
    // Host time spent waiting for the guest's next timer event (CPU halted).
    let mut idle = Duration::ZERO;
    let mut result: i32 = loop {
        // Console input (with the Ctrl-A escapes on a terminal).
        while let Ok(bytes) = in_rx.try_recv() {
            for b in bytes {
                if tty && ctrl_a {
                    ctrl_a = false;
                    match b {
                        b'x' | b'X' => {
                            drop(raw);
                            eprintln!("\r\ntab86: terminated by Ctrl-A X");
                            return 0;
                        }
                        b'h' | b'H' => {
                            eprint!("\r\nCtrl-A X  quit\r\nCtrl-A H  this help\r\nCtrl-A A  send Ctrl-A\r\n");
                            continue;
                        }
                        b'a' | b'A' | 1 => pending_in.push(1),
                        _ => {}
                    }
                } else if tty && b == 1 {
                    ctrl_a = true;
                } else {
                    pending_in.push(b);
                }
            }
        }
        if !pending_in.is_empty() {
            let n = m.serial_room().min(pending_in.len());
            if n > 0 {
                m.serial_input(&pending_in[..n]);
                pending_in.drain(..n);
            }
        }
        let before = m.stats().instructions;
        let ev = m.run(args.slice);
        if let Some(p) = profile.as_mut() {
            let (base, eip) = m.linear_eip();
            *p.entry(base.wrapping_add(eip)).or_insert(0) += m.stats().instructions - before;
        }
        // Console output.
        while let Ok(bytes) = out_rx.try_recv() {
            let _ = stdout.write_all(&bytes);
            if let Some(f) = serial_log.as_mut() {
                let _ = f.write_all(&bytes);
            }
            if let Some(s) = script.as_mut() {
                s.feed(&bytes);
            }
        }
        let _ = stdout.flush();
        if let Some(s) = script.as_mut() {
            loop {
                match s.poll(started.elapsed().as_millis() as u64) {
                    Action::Continue => break,
                    Action::Send(b) => pending_in.extend_from_slice(&b),
                    Action::Mark(name) => {
                        let st = m.stats();
                        eprintln!(
                            "\ntab86: mark {name}: {:.3} s ({:.3} s idle), {} instructions, virtual time {:.3} s",
                            started.elapsed().as_secs_f64(),
                            idle.as_secs_f64(),
                            st.instructions,
                            st.virtual_ns as f64 / 1e9
                        );
                        if let (true, Some(j)) = (args.stats, m.cpu.jit_stats()) {
                            eprintln!(
                                "tab86: mark {name}: jit {} calls, {} instructions, {} helper calls",
                                j.calls, j.instructions, j.helper_calls
                            );
                        }
                        disk::print_stats(&disk_stores);
                    }
                    Action::Done => {
                        script = None;
                        break;
                    }
                    Action::Failed(msg) => {
                        eprintln!("\ntab86: {msg}");
                        return status::SCRIPT_FAILED;
                    }
                }
            }
        }
        if let Some(d) = deadline {
            if Instant::now() >= d {
                eprintln!(
                    "\ntab86: --timeout of {} s expired",
                    args.timeout.unwrap_or(0.0)
                );
                break status::TIMEOUT;
            }
        }
        match ev {
            Event::Ran => {}
            Event::Idle { wait_ns } => {
                // Real-time mode: nothing to do until the next timer event or input.
                let wait = Duration::from_nanos(wait_ns.min(10_000_000));
                let t = Instant::now();
                match in_rx.recv_timeout(wait) {
                    Ok(bytes) => pending_in.extend_from_slice(&bytes),
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    // No console input (a script drives it, or stdin ended): sleep
                    // instead of spinning.
                    Err(mpsc::RecvTimeoutError::Disconnected) => std::thread::sleep(wait),
                }
                idle += t.elapsed();
            }
            Event::Stopped(stop) => {
                drop(raw);
                break match stop {
                    Stop::DebugExit(code) => code as i32,
                    Stop::Poweroff => 0,
                    Stop::HaltedNoWake => {
                        let (cs, eip) = m.cs_eip();
                        eprintln!("tab86: CPU halted with interrupts disabled at {cs:04x}:{eip:08x}; nothing can wake it");
                        if args.bios.is_some() {
                            status::BIOS_HALT
                        } else {
                            0
                        }
                    }
                    Stop::TripleFault { cs, eip } => {
                        eprintln!(
                            "tab86: triple fault at {cs:04x}:{eip:08x}; the machine shut down"
                        );
                        status::TRIPLE_FAULT
                    }
                };
            }
        }
    };
    if let Some(path) = &args.dump_ram {
        if let Err(e) = std::fs::write(path, m.cpu.mem.ram()) {
            // The user asked for the dump: its loss is an error, not the guest's status.
            eprintln!("tab86: cannot write the --dump-ram file {path}: {e}");
            result = status::ERROR;
        }
    }
    if let (Some(path), Some(p)) = (&args.profile, profile) {
        if let Err(e) = write_profile(path, p) {
            eprintln!("tab86: cannot write {path}: {e}");
        }
    }
    if args.stats {
        let s = m.stats();
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "tab86: stats: {} instructions in {:.3} s = {:.1} MIPS; {} cached blocks; virtual time {:.3} s; {} slices ({} halted)",
            s.instructions,
            secs,
            s.instructions as f64 / secs / 1e6,
            s.blocks,
            s.virtual_ns as f64 / 1e9,
            s.slices,
            s.halts
        );
        if let Some(j) = m.cpu.jit_stats() {
            eprintln!(
                "tab86: jit: {} modules ({} KiB wasm, {:.3} s on the CPU's thread, {:.3} s compiling in the background, {} discarded), {} calls, {} instructions ({:.1}%), {} invalidated, {} trapped",
                j.modules,
                j.wasm_bytes / 1024,
                j.compile_ns as f64 / 1e9,
                j.background_ns as f64 / 1e9,
                j.discarded,
                j.calls,
                j.instructions,
                100.0 * j.instructions as f64 / s.instructions.max(1) as f64,
                j.invalidations,
                j.traps
            );
            eprintln!(
                "tab86: jit: {:.1} calls per 1000 instructions; returns: {} in the page, {} to another page, {} out of budget; {} helper calls ({} left after)",
                1000.0 * j.calls as f64 / s.instructions.max(1) as f64,
                j.exits_in_page,
                j.exits_other_page,
                j.exits_budget,
                j.helper_calls,
                j.helper_exits
            );
            for (top, name) in [
                (m.cpu.jit_top_exits(15), "interpreted after a return"),
                (m.cpu.jit_top_helpers(15), "helper calls"),
            ] {
                if !top.is_empty() {
                    let list: Vec<String> = top.iter().map(|(c, n)| format!("{c} {n}")).collect();
                    eprintln!("tab86: jit: top {name}: {}", list.join(", "));
                }
            }
        }
        disk::print_stats(&disk_stores);
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
fn write_profile(path: &str, p: std::collections::HashMap<u32, u64>) -> std::io::Result<()> {
    let mut v: Vec<(u32, u64)> = p.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut out = String::new();
    for (addr, n) in v {
        out.push_str(&format!("{n} {addr:08x}\n"));
    }
    std::fs::write(path, out)
}

//! Harness for the nasm system-test kernels in `tests/system/`: assembles a kernel
//! with nasm into `target/system-tests/`, loads it flat at 0x8000, starts it in real
//! mode at 0000:8000 and collects what it reports over ports 0xE9 (text) and 0xEA
//! (a dword printed as 8 hex digits). A byte written to port 0xEB raises the INTR
//! line with that vector until the CPU acknowledges it; one written to port 0xEC
//! raises it at the next MMIO read instead (in the middle of an instruction).
//! MMIO (any address above RAM) reads back the last dword written there.

use std::path::{Path, PathBuf};
use std::process::Command;
use tab86_cpu::{Bus, Cpu, Exit, InterruptController, PhysMem};

/// Where the kernels are loaded and started.
pub const LOAD_ADDR: u32 = 0x8000;

/// The test bus: a text sink on port 0xE9, a hex sink on port 0xEA and an
/// interrupt request on port 0xEB.
#[derive(Debug, Default)]
pub struct TestBus {
    /// Everything the kernel reported.
    pub out: String,
    /// The vector requested on the INTR line, if any.
    pub intr: Option<u8>,
    /// The vector to request at the next MMIO read (port 0xEC).
    pub intr_on_mmio: Option<u8>,
    /// The last dword written to MMIO.
    pub mmio: u32,
}

impl InterruptController for TestBus {
    fn intr_pending(&mut self) -> bool {
        self.intr.is_some()
    }
    fn intr_ack(&mut self) -> u8 {
        self.intr.take().unwrap_or(0)
    }
}

impl Bus for TestBus {
    fn io_read(&mut self, _port: u16, size: u8) -> u32 {
        match size {
            1 => 0xFF,
            2 => 0xFFFF,
            _ => 0xFFFF_FFFF,
        }
    }
    fn io_write(&mut self, port: u16, size: u8, value: u32) {
        match port {
            0xE9 => self.out.push(value as u8 as char),
            0xEA => {
                let v = match size {
                    1 => value & 0xFF,
                    2 => value & 0xFFFF,
                    _ => value,
                };
                self.out.push_str(&format!("{v:08x}"));
            }
            0xEB => self.intr = Some(value as u8),
            0xEC => self.intr_on_mmio = Some(value as u8),
            _ => {}
        }
    }
    fn mmio_read(&mut self, _addr: u32, _size: u8) -> u32 {
        if let Some(v) = self.intr_on_mmio.take() {
            self.intr = Some(v);
        }
        self.mmio
    }
    fn mmio_write(&mut self, _addr: u32, _size: u8, value: u32) {
        self.mmio = value;
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Assembles `tests/system/<name>.asm`. Returns `None` (the caller skips) when nasm
/// is missing outside CI; in CI (`CI` set) a missing nasm is a test failure.
pub fn assemble(name: &str) -> Option<Vec<u8>> {
    let root = repo_root();
    let src_dir = root.join("tests/system");
    let out_dir = root.join("target/system-tests");
    std::fs::create_dir_all(&out_dir).expect("create target/system-tests");
    let out = out_dir.join(format!("{name}.bin"));
    let mut inc = src_dir.clone().into_os_string();
    inc.push("/");
    let result = Command::new("nasm")
        .arg("-f")
        .arg("bin")
        .arg("-I")
        .arg(&inc)
        .arg("-o")
        .arg(&out)
        .arg(src_dir.join(format!("{name}.asm")))
        .output();
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if std::env::var_os("CI").is_some() {
                panic!("nasm is required for the system tests (apt-get install nasm)");
            }
            eprintln!("nasm not found: skipping system test {name}");
            None
        }
        Err(e) => panic!("running nasm: {e}"),
        Ok(o) => {
            assert!(
                o.status.success(),
                "nasm failed on {name}.asm:\n{}",
                String::from_utf8_lossy(&o.stderr)
            );
            Some(std::fs::read(&out).expect("read assembled kernel"))
        }
    }
}

/// The outcome of running a kernel.
pub struct Run {
    /// Why the CPU stopped.
    pub exit: Exit,
    /// The kernel's report.
    pub out: String,
    /// The CPU afterwards, for state checks.
    pub cpu: Cpu,
}

/// Runs `image` from real mode until it halts, shuts down or spends `budget`.
pub fn run(image: &[u8], budget: u64) -> Run {
    let mut mem = PhysMem::new(16 << 20);
    mem.write_bytes(LOAD_ADDR, image);
    let mut cpu = Cpu::new(mem);
    cpu.set_cs_real(0);
    cpu.state.eip = LOAD_ADDR;
    cpu.state.gpr[4] = 0x7000;
    let mut bus = TestBus::default();
    let mut exit = Exit::Budget;
    let mut left = budget;
    while left > 0 {
        let before = cpu.state.icount;
        exit = cpu.run(&mut bus, left.min(100_000));
        left = left.saturating_sub((cpu.state.icount - before).max(1));
        if exit != Exit::Budget {
            break;
        }
    }
    Run {
        exit,
        out: bus.out,
        cpu,
    }
}

/// Assembles and runs kernel `name`, then asserts it halted normally, reported
/// `DONE n` with n >= `min_checks`, n PASS lines and no FAIL line. Returns the run
/// (None when skipped for lack of nasm outside CI).
pub fn run_checked(name: &str, min_checks: u32) -> Option<Run> {
    let image = assemble(name)?;
    let r = run(&image, 20_000_000);
    let report = format!("kernel {name} ({:?}):\n{}", r.exit, r.out);
    let fails: Vec<&str> = r.out.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(fails.is_empty(), "{report}");
    assert_eq!(r.exit, Exit::HaltedNoWake, "{report}");
    let done = r
        .out
        .lines()
        .find_map(|l| l.strip_prefix("DONE "))
        .and_then(|n| u32::from_str_radix(n.trim(), 16).ok())
        .unwrap_or_else(|| panic!("no DONE line\n{report}"));
    let passes = r.out.lines().filter(|l| l.starts_with("PASS ")).count() as u32;
    assert_eq!(passes, done, "{report}");
    assert!(
        done >= min_checks,
        "only {done} checks ran, expected {min_checks}\n{report}"
    );
    eprintln!("system kernel {name}: {done} checks passed");
    Some(r)
}

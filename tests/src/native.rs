//! Runs freestanding i386 Linux programs (static ELF32, only the `int 0x80` write,
//! exit and modify_ldt system calls) on the emulated CPU in flat 32-bit protected
//! mode, so their output can be compared with a native run of the same binary.
//!
//! Layout: GDT at 0x1000 (null, flat ring-0 code 0x08, flat data 0x10, the LDT
//! 0x18), the LDT at 0x10000 (grown by modify_ldt as Linux does), IDT at
//! 0x2000 whose gate `v` is an interrupt gate to a HLT at `STUBS + v`. An `int 0x80`
//! therefore stops the CPU on the HLT at `STUBS + 0x80`; the harness services the
//! call from the registers and returns by popping the interrupt frame itself. Any
//! other vector is a fault of the program, reported with the faulting EIP.

use tab86_cpu::state::{cr, reg, sreg, Segment, TableReg};
use tab86_cpu::{Cpu, Exit, NullBus, PhysMem};

const RAM: u32 = 32 << 20;
const GDT: u32 = 0x1000;
const IDT: u32 = 0x2000;
const STUBS: u32 = 0x3000;
/// The LDT: room for Linux's 8192 entries; its limit covers the entries written.
const LDT: u32 = 0x1_0000;
const LDT_ENTRIES: u32 = 8192;
const LDT_SEL: u16 = 0x18;
const STACK_TOP: u32 = RAM - 0x10_0000;
const CODE_HI: u32 = 0x00CF_9A00;
const DATA_HI: u32 = 0x00CF_9200;

/// What a program did under emulation.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Bytes written to file descriptor 1.
    pub stdout: Vec<u8>,
    /// The exit status, if the program called exit.
    pub exit: Option<i32>,
    /// Why the run stopped early (fault, budget, bad image), if it did.
    pub error: Option<String>,
    /// JIT counters at the end, when a JIT was attached.
    pub jit: Option<tab86_cpu::jit::JitStats>,
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn u16_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u16::from_le_bytes(b.get(off..off + 2)?.try_into().ok()?) as u32)
}

/// Copies the PT_LOAD segments of an i386 ELF executable into `mem`; returns the entry.
fn load_elf(mem: &mut PhysMem, img: &[u8]) -> Result<u32, String> {
    if img.get(..4) != Some(b"\x7fELF") || img.get(4) != Some(&1) || u16_at(img, 18) != Some(3) {
        return Err("not an i386 ELF32 executable".into());
    }
    let bad = || "truncated ELF header".to_string();
    let entry = u32_at(img, 0x18).ok_or_else(bad)?;
    let phoff = u32_at(img, 0x1C).ok_or_else(bad)? as usize;
    let phentsize = u16_at(img, 0x2A).ok_or_else(bad)? as usize;
    let phnum = u16_at(img, 0x2C).ok_or_else(bad)? as usize;
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        if u32_at(img, ph).ok_or_else(bad)? != 1 {
            continue;
        }
        let off = u32_at(img, ph + 4).ok_or_else(bad)? as usize;
        let vaddr = u32_at(img, ph + 8).ok_or_else(bad)?;
        let filesz = u32_at(img, ph + 16).ok_or_else(bad)? as usize;
        let memsz = u32_at(img, ph + 20).ok_or_else(bad)?;
        if vaddr < 0x10_0000 || vaddr as u64 + memsz as u64 > STACK_TOP as u64 - 0x10_0000 {
            return Err(format!(
                "segment at {vaddr:#x}+{memsz:#x} outside the load area"
            ));
        }
        let data = img.get(off..off + filesz).ok_or_else(bad)?;
        mem.write_bytes(vaddr, data);
    }
    Ok(entry)
}

/// A flat 4 GiB descriptor's two dwords.
fn flat(hi: u32) -> (u32, u32) {
    (0x0000_FFFF, hi)
}

/// The LDT's system descriptor for `entries` entries (at least one, as a limit).
fn ldt_descriptor(entries: u32) -> (u32, u32) {
    let limit = (entries.max(1) * 8 - 1) & 0xFFFF;
    (
        (LDT & 0xFFFF) << 16 | limit,
        (LDT >> 16 & 0xFF) | 0x8200 | (LDT & 0xFF00_0000),
    )
}

/// Builds the GDT, the IDT and the HLT stubs in low memory.
fn write_tables(mem: &mut PhysMem) {
    let mut gdt = vec![0u8; 8];
    for hi in [CODE_HI, DATA_HI] {
        let (lo, hi) = flat(hi);
        gdt.extend_from_slice(&lo.to_le_bytes());
        gdt.extend_from_slice(&hi.to_le_bytes());
    }
    // The LDT descriptor (present, type 2); its limit is kept in LDTR only.
    let (lo, hi) = ldt_descriptor(0);
    gdt.extend_from_slice(&lo.to_le_bytes());
    gdt.extend_from_slice(&hi.to_le_bytes());
    mem.write_bytes(GDT, &gdt);
    for v in 0..256u32 {
        let target = STUBS + v;
        let lo = (0x08 << 16) | (target & 0xFFFF);
        let hi = (target & 0xFFFF_0000) | 0x8E00;
        mem.write_bytes(IDT + v * 8, &lo.to_le_bytes());
        mem.write_bytes(IDT + v * 8 + 4, &hi.to_le_bytes());
    }
    mem.write_bytes(STUBS, &[0xF4; 256]);
}

/// Puts the CPU in flat ring-0 protected mode at `entry`.
fn enter_flat(cpu: &mut Cpu, entry: u32) -> Result<(), String> {
    let bus = &mut NullBus;
    cpu.state.gdtr = TableReg {
        base: GDT,
        limit: 4 * 8 - 1,
    };
    // No LDT until the program writes one (an LDT selector is #GP, as on Linux).
    cpu.state.ldtr = Segment::default();
    cpu.state.idtr = TableReg {
        base: IDT,
        limit: 256 * 8 - 1,
    };
    cpu.set_cr0(cr::PE).map_err(|f| format!("CR0: {f:?}"))?;
    // As Linux does: SSE enabled (FXSAVE-aware OS, #XM for unmasked SIMD exceptions).
    cpu.set_cr4(cr::OSFXSR | cr::OSXMMEXCPT)
        .map_err(|f| format!("CR4: {f:?}"))?;
    let (lo, hi) = flat(CODE_HI);
    cpu.set_cs(Segment::from_descriptor(0x08, lo, hi), 0);
    for s in [sreg::SS, sreg::DS, sreg::ES, sreg::FS, sreg::GS] {
        cpu.load_seg(bus, s, 0x10)
            .map_err(|f| format!("segment load: {f:?}"))?;
    }
    cpu.state.gpr = [0; 8];
    cpu.state.gpr[reg::ESP] = STACK_TOP;
    cpu.state.eflags = 0x2;
    cpu.state.eip = entry;
    cpu.invalidate_all();
    Ok(())
}

fn read_u32(cpu: &Cpu, a: u32) -> u32 {
    let mut b = [0u8; 4];
    cpu.mem.read_bytes(a, &mut b);
    u32::from_le_bytes(b)
}

/// Services one `int 0x80` from the registers; returns the exit status for exit.
fn syscall(cpu: &mut Cpu, out: &mut Outcome) -> Option<i32> {
    let g = cpu.state.gpr;
    match g[reg::EAX] {
        1 => return Some(g[reg::EBX] as i32),
        4 => {
            let (fd, buf, len) = (g[reg::EBX], g[reg::ECX], g[reg::EDX]);
            if buf as u64 + len as u64 > RAM as u64 {
                cpu.state.gpr[reg::EAX] = -14i32 as u32; // EFAULT
            } else {
                let mut b = vec![0; len as usize];
                cpu.mem.read_bytes(buf, &mut b);
                if fd == 1 {
                    out.stdout.extend_from_slice(&b);
                }
                cpu.state.gpr[reg::EAX] = len;
            }
        }
        123 => {
            let r = modify_ldt(cpu, g[reg::EBX], g[reg::ECX], g[reg::EDX]);
            cpu.state.gpr[reg::EAX] = r as u32;
        }
        _ => cpu.state.gpr[reg::EAX] = -38i32 as u32, // ENOSYS
    }
    None
}

const EINVAL: i32 = -22;
const EFAULT: i32 = -14;

/// modify_ldt(func, ptr, bytecount) for the write functions (1: legacy, clears
/// `useable`; 0x11: keeps it), as Linux's `write_ldt`: `ptr` is a `user_desc`
/// {entry_number, base_addr, limit, flags: seg_32bit, contents (2 bits),
/// read_exec_only, limit_in_pages, seg_not_present, useable}. The descriptor gets
/// DPL = the program's privilege level (3 under Linux, where the program runs at
/// CPL 3; 0 here) and the accessed bit set; Linux's "empty" `user_desc` (and, with
/// func 1, any one with base and limit 0) clears the entry. The
/// LDT grows to cover the entry and LDTR follows it. Reading the LDT (func 0, 2)
/// is not implemented (ENOSYS).
fn modify_ldt(cpu: &mut Cpu, func: u32, ptr: u32, count: u32) -> i32 {
    let legacy = match func {
        1 => true,
        0x11 => false,
        _ => return -38,
    };
    if count != 16 {
        return EINVAL;
    }
    if ptr as u64 + 16 > RAM as u64 {
        return EFAULT;
    }
    let [entry, base, limit, flags] = [0, 4, 8, 12].map(|o| read_u32(cpu, ptr + o));
    if entry >= LDT_ENTRIES {
        return EINVAL;
    }
    let seg_32bit = flags & 1;
    let contents = flags >> 1 & 3;
    let read_exec_only = flags >> 3 & 1;
    let limit_in_pages = flags >> 4 & 1;
    let not_present = flags >> 5 & 1;
    let useable = flags >> 6 & 1;
    if contents == 3 && (legacy || not_present == 0) {
        return EINVAL;
    }
    // Linux's LDT_empty: what clears an entry in either mode.
    let empty = base == 0
        && limit == 0
        && contents == 0
        && read_exec_only == 1
        && seg_32bit == 0
        && limit_in_pages == 0
        && not_present == 1
        && useable == 0;
    let (lo, hi) = if empty || (legacy && base == 0 && limit == 0) {
        (0, 0)
    } else {
        let dpl = cpu.state.cpl;
        let avl = if legacy { 0 } else { useable };
        let ty = ((read_exec_only ^ 1) << 1) | (contents << 2) | 1;
        let hi = (base >> 16 & 0xFF)
            | ty << 8
            | 1 << 12
            | dpl << 13
            | (not_present ^ 1) << 15
            | (limit & 0xF_0000)
            | avl << 20
            | seg_32bit << 22
            | limit_in_pages << 23
            | (base & 0xFF00_0000);
        ((base & 0xFFFF) << 16 | (limit & 0xFFFF), hi)
    };
    let at = LDT + entry * 8;
    cpu.mem.write_bytes(at, &lo.to_le_bytes());
    cpu.mem.write_bytes(at + 4, &hi.to_le_bytes());
    let entries = if cpu.state.ldtr.selector & !3 == 0 {
        entry + 1
    } else {
        ((cpu.state.ldtr.limit + 1) / 8).max(entry + 1)
    };
    let (dlo, dhi) = ldt_descriptor(entries);
    cpu.mem
        .write_bytes(GDT + LDT_SEL as u32, &dlo.to_le_bytes());
    cpu.mem
        .write_bytes(GDT + LDT_SEL as u32 + 4, &dhi.to_le_bytes());
    cpu.state.ldtr = Segment::from_descriptor(LDT_SEL, dlo, dhi);
    0
}

/// Runs an i386 static executable for at most `budget` instructions.
pub fn run_elf(img: &[u8], budget: u64) -> Outcome {
    run_elf_with(img, budget, &mut |_| {})
}

/// A CPU in flat ring-0 protected mode (the layout above) with `code` loaded at
/// `entry` and ESP near the top of RAM.
pub fn flat_cpu(code: &[u8], entry: u32) -> Result<Cpu, String> {
    let mut mem = PhysMem::new(RAM);
    write_tables(&mut mem);
    mem.write_bytes(entry, code);
    let mut cpu = Cpu::new(mem);
    enter_flat(&mut cpu, entry)?;
    Ok(cpu)
}

/// [`run_elf`] with `setup` applied to the CPU before it starts (e.g. to attach a JIT).
pub fn run_elf_with(img: &[u8], budget: u64, setup: &mut dyn FnMut(&mut Cpu)) -> Outcome {
    let mut out = Outcome::default();
    let mut mem = PhysMem::new(RAM);
    write_tables(&mut mem);
    let entry = match load_elf(&mut mem, img) {
        Ok(e) => e,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    let mut cpu = Cpu::new(mem);
    if let Err(e) = enter_flat(&mut cpu, entry) {
        out.error = Some(e);
        return out;
    }
    setup(&mut cpu);
    drive(&mut cpu, &mut out, budget);
    out.jit = cpu.jit_stats();
    out
}

/// The run loop of [`run_elf_with`]: services system calls until exit, a fault or the budget.
fn drive(cpu: &mut Cpu, out: &mut Outcome, budget: u64) {
    let bus = &mut NullBus;
    loop {
        let left = budget.saturating_sub(cpu.state.icount);
        if left == 0 {
            out.error = Some(format!(
                "instruction budget used up at EIP {:#x}",
                cpu.state.eip
            ));
            return;
        }
        match cpu.run(bus, left) {
            Exit::Budget => continue,
            Exit::TripleFault => {
                out.error = Some(format!("triple fault at EIP {:#x}", cpu.state.eip));
                return;
            }
            Exit::Halted | Exit::HaltedNoWake => {}
        }
        let at = cpu.state.eip.wrapping_sub(1);
        if !(STUBS..STUBS + 256).contains(&at) {
            out.error = Some(format!("HLT at EIP {at:#x}"));
            return;
        }
        let v = at - STUBS;
        let esp = cpu.state.gpr[reg::ESP];
        if v == 0x80 {
            if let Some(code) = syscall(cpu, out) {
                out.exit = Some(code);
                return;
            }
            // Return from the interrupt: EIP, CS, EFLAGS at the same privilege level.
            cpu.state.eip = read_u32(cpu, esp);
            let fl = read_u32(cpu, esp + 8);
            cpu.write_flags(fl, !0);
            cpu.state.gpr[reg::ESP] = esp + 12;
            cpu.state.halted = false;
            continue;
        }
        let has_code = matches!(v, 8 | 10..=14 | 17);
        let eip = read_u32(cpu, if has_code { esp + 4 } else { esp });
        let mut bytes = [0u8; 8];
        cpu.mem.read_bytes(eip, &mut bytes);
        let code = if has_code {
            format!(" code {:#x}", read_u32(cpu, esp))
        } else {
            String::new()
        };
        out.error = Some(format!(
            "exception {v}{code} at EIP {eip:#x} (bytes {})",
            bytes.map(|b| format!("{b:02x}")).join(" ")
        ));
        return;
    }
}

/// Shared driver of the native ground-truth tests (used by `tests/tests/native_x87.rs`):
/// builds the programs into `bin_dir` once per process and returns the native output
/// (or the stored `tests/native/expected/<name>.out` when the host cannot run i386
/// binaries) together with the emulated run. `Err` means the toolchain is missing.
pub fn native_and_emulated(
    bin_dir: &std::path::Path,
    name: &str,
    budget: u64,
) -> Result<(String, Outcome), String> {
    use std::process::Command;
    use std::sync::{Mutex, OnceLock};
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("native");
    {
        let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        BUILT
            .get_or_init(|| {
                let out = Command::new("sh")
                    .arg(src.join("build.sh"))
                    .arg(bin_dir)
                    .output()
                    .map_err(|e| format!("cannot run build.sh: {e}"))?;
                if out.status.success() {
                    Ok(())
                } else {
                    Err(format!(
                        "build.sh failed (is gcc-multilib installed?):\n{}",
                        String::from_utf8_lossy(&out.stderr)
                    ))
                }
            })
            .clone()?;
    }
    let bin = bin_dir.join(name);
    let file = src.join("expected").join(format!("{name}.out"));
    let stored = std::fs::read_to_string(&file).ok();
    let intel = host_is_intel();
    let want = match Command::new(&bin).output() {
        // The recorded outputs are an Intel CPU's: on an Intel host the host is the
        // truth and the recording must agree with it (or be blessed anew).
        Ok(o) if o.status.success() && intel => {
            let native = String::from_utf8_lossy(&o.stdout).into_owned();
            if std::env::var_os("TAB86_BLESS").is_some() {
                std::fs::write(&file, &native).map_err(|e| e.to_string())?;
            } else if stored.as_deref() != Some(native.as_str()) {
                panic!(
                    "{} is stale or missing: rerun with TAB86_BLESS=1 on an Intel host to regenerate it",
                    file.display()
                );
            }
            native
        }
        // Another vendor: where it differs from Intel, Intel's answer is tab86's.
        Ok(o) if o.status.success() => {
            let native = String::from_utf8_lossy(&o.stdout);
            let stored = stored.unwrap_or_else(|| panic!("no {}", file.display()));
            let differ = native
                .lines()
                .zip(stored.lines())
                .filter(|(n, s)| n != s)
                .count();
            if differ > 0 || native.lines().count() != stored.lines().count() {
                eprintln!(
                    "NOTE: the host is not Intel and {name} prints {differ} lines differently \
                     here; comparing with the Intel recording {}",
                    file.display()
                );
            }
            if std::env::var_os("TAB86_BLESS").is_some() {
                panic!("TAB86_BLESS: expected outputs are recorded on Intel hosts only");
            }
            stored
        }
        other => {
            eprintln!(
                "NOTE: cannot run {} natively ({other:?}); using {}",
                bin.display(),
                file.display()
            );
            stored.unwrap_or_else(|| panic!("no native run and no {}", file.display()))
        }
    };
    let img = std::fs::read(&bin).map_err(|e| e.to_string())?;
    Ok((want, run_elf(&img, budget)))
}

/// Builds the native programs into `bin_dir` (once per process) and returns the
/// image of program `name`; `Err` means the toolchain is missing.
pub fn built_image(bin_dir: &std::path::Path, name: &str) -> Result<Vec<u8>, String> {
    native_and_emulated(bin_dir, name, 1)?;
    std::fs::read(bin_dir.join(name)).map_err(|e| e.to_string())
}

/// Whether the host CPU is an Intel one (CPUID vendor "GenuineIntel"). tab86
/// reports itself as Intel and gives Intel's answers where vendors differ, so host
/// comparisons use the host only on Intel and recorded Intel outputs elsewhere.
/// `TAB86_HOST_VENDOR` overrides the CPUID vendor string (to run the other path).
pub fn host_is_intel() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if let Ok(v) = std::env::var("TAB86_HOST_VENDOR") {
            return v == "GenuineIntel";
        }
        let r = std::arch::x86_64::__cpuid(0);
        [r.ebx, r.edx, r.ecx] == [0x756E_6547, 0x4965_6E69, 0x6C65_746E]
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Runs program `name` (built into `bin_dir`) natively and emulated and asserts that every output line
/// matches (one line per test case). Without the toolchain it fails when `CI` is set
/// and skips with a loud message otherwise.
pub fn check_exact(bin_dir: &std::path::Path, name: &str, budget: u64) {
    check_with(bin_dir, name, budget, |want, have| want == have)
}

/// [`check_exact`] with a caller's rule for when an emulated line `have` matches the
/// expected line `want` (for fields a P6 legitimately fills differently).
pub fn check_with(
    bin_dir: &std::path::Path,
    name: &str,
    budget: u64,
    same: impl Fn(&str, &str) -> bool,
) {
    let (want, got) = match native_and_emulated(bin_dir, name, budget) {
        Ok(r) => r,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("\n!!!!! SKIPPING native ground-truth test {name}: {e}\n");
            return;
        }
        Err(e) => panic!("native suite cannot be built in CI: {e}"),
    };
    let got_text = String::from_utf8_lossy(&got.stdout);
    let want: Vec<&str> = want.lines().collect();
    let have: Vec<&str> = got_text.lines().collect();
    let mut diffs = Vec::new();
    for (i, w) in want.iter().enumerate() {
        match have.get(i) {
            Some(h) if same(w, h) => {}
            Some(h) => diffs.push(format!("  native: {w}\n  emul:   {h}")),
            None => diffs.push(format!("  native: {w}\n  emul:   <missing>")),
        }
    }
    if have.len() > want.len() {
        diffs.push(format!("  {} extra lines", have.len() - want.len()));
    }
    let total = want.len();
    let stopped = got
        .error
        .as_ref()
        .map(|e| format!(" (stopped: {e})"))
        .unwrap_or_default();
    eprintln!(
        "native {name}: {total} cases, {} pass, {} fail{stopped}",
        total - diffs.len().min(total),
        diffs.len()
    );
    for d in diffs.iter().take(20) {
        eprintln!("{d}");
    }
    assert!(total > 0, "{name} printed nothing natively");
    assert!(
        diffs.is_empty() && got.error.is_none() && got.exit == Some(0),
        "{name}: {} of {total} cases differ from native{stopped}",
        diffs.len()
    );
}

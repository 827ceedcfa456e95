//! The WebAssembly JIT against the interpreter: the same programs run both ways
//! (generated code natively through wasmtime) and must end in the same state.
//!
//! The checks the web package's V8 selftest runs too live in tab86-jitcheck
//! (tests/jitcheck), run here with the wasmtime host one per test; the ones below
//! that need more than a JIT host (the native suite, a delaying host, interrupts,
//! PAE paging) are only here.
//!
//! - the native ground-truth programs (`tests/native/`), compiled after 2 runs of a
//!   block, must print exactly what the interpreter prints;
//! - random straight-line sequences of instruction forms the JIT compiles (ALU,
//!   shifts and ROL/ROR in all sizes, IMUL, MUL/IMUL into EDX:EAX, DIV/IDIV,
//!   MOVZX/MOVSX, SETcc, CMOVcc, Jcc, PUSH/POP, PUSH r/m32, LEAVE, BSWAP, XCHG,
//!   BT/BTS/BTR/BTC, SHLD/SHRD, RDTSC (with an odd time base), CLD/STD, CMPXCHG
//!   (LOCKed too), PAUSE, LFENCE, LOCK ADD, memory operands in all sizes, FS/GS
//!   overrides with non-zero bases, one wrapping around 4 GiB and sometimes with a
//!   limit) and of forms it hands to the interpreter through its helper (RCL/RCR,
//!   SHLD/SHRD of words, string instructions with and without REP, POP r/m32,
//!   CLI, STI, x87, XADD) run in a hot loop and
//!   must leave the same registers, flags and memory, once with the data in one
//!   page and once, with paging on, straddling two pages whose frames are apart;
//! - grouped accesses whose page turns out to hold compiled code still write
//!   through the interpreter;
//! - self-modifying code in a hot loop drops the compiled page and still computes
//!   what the interpreter computes;
//! - a hot loop with STI or MOV SS holds a pending interrupt for exactly one
//!   instruction after them, as the interpreter does;
//! - an instruction run through the helper that faults, or that writes to its own
//!   code page, makes generated code leave with the interpreter's state.
//! - calls (relative, through memory and a register), jumps and returns between
//!   three compiled pages go from module to module through the entry table, and
//!   a write to the called page unlinks its module;
//! - with PAE paging and NXE, a hot page called from a compiled loop faults with
//!   #PF(P|I/D) once its PTE has XD (after INVLPG), even with a TLB entry left by
//!   a data read of that page, as in the interpreter.

use tab86_cpu::jit::JitHost;
use tab86_cpu::state::reg;
use tab86_cpu::{Cpu, Exit, NullBus};
use tab86_jit_wasmtime::WasmtimeHost;
use tab86_jitcheck::{CODE, DATA};

fn attach(cpu: &mut Cpu, hot: u32) {
    let a = cpu.mem.arena().clone();
    let host = WasmtimeHost::new(a.ptr(), a.len(), a.clone()).expect("wasmtime host");
    cpu.set_jit(Box::new(host), None);
    cpu.set_jit_threshold(hot);
}

#[test]
fn native_programs_match_the_interpreter() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("native");
    let mut jitted = 0;
    for name in [
        "alu", "muldiv", "bits", "stack", "stack16", "misc", "shift", "bcd", "string",
    ] {
        let img = match tab86_tests::native::built_image(&dir, name) {
            Ok(i) => i,
            Err(e) if std::env::var_os("CI").is_none() => {
                eprintln!("\n!!!!! SKIPPING jit native test: {e}\n");
                return;
            }
            Err(e) => panic!("native suite cannot be built in CI: {e}"),
        };
        let want = tab86_tests::native::run_elf(&img, 200_000_000);
        let got = tab86_tests::native::run_elf_with(&img, 200_000_000, &mut |c| attach(c, 2));
        let stats = got.jit.expect("jit stats");
        eprintln!("jit {name}: {stats:?}");
        assert_eq!(got.error, want.error, "{name}");
        assert_eq!(got.exit, want.exit, "{name}");
        let (w, g) = (
            String::from_utf8_lossy(&want.stdout),
            String::from_utf8_lossy(&got.stdout),
        );
        for (a, b) in w.lines().zip(g.lines()) {
            assert_eq!(a, b, "{name}: first differing line");
        }
        assert_eq!(w.lines().count(), g.lines().count(), "{name}");
        assert_eq!(stats.traps, 0, "{name}");
        jitted += stats.instructions;
    }
    assert!(
        jitted > 1_000_000,
        "generated code ran only {jitted} instructions"
    );
}

/// The wasmtime host for `cpu`'s arena: what the shared checks attach.
fn wasmtime(cpu: &Cpu) -> Result<Box<dyn JitHost>, String> {
    let a = cpu.mem.arena().clone();
    Ok(Box::new(WasmtimeHost::new(a.ptr(), a.len(), a.clone())?))
}

/// Fails the test with a check's first difference; prints its summary.
fn check(result: Result<String, String>) {
    match result {
        Ok(summary) => eprintln!("{summary}"),
        Err(e) => panic!("{e}"),
    }
}

/// Runs `code` to its HLT interpreted (as `tab86_jitcheck::run` does).
fn run(code: &[u8]) -> Cpu {
    tab86_jitcheck::run(code, None, None).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn random_sequences_match_the_interpreter() {
    // The differential fuzzer: 60 sequences by default (seeds 1-60, the same on
    // every run); with TAB86_FUZZ_SECS, as many as fit in that time, from the
    // printed TAB86_FUZZ_SEED (or the clock). JS and JN set the sequence count
    // and the instructions per sequence.
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let deadline = env("TAB86_FUZZ_SECS")
        .map(|s| std::time::Instant::now() + std::time::Duration::from_secs(s));
    let base = match deadline {
        Some(_) => env("TAB86_FUZZ_SEED").unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        }),
        None => 0,
    };
    let count = env("JS").unwrap_or(if deadline.is_some() { u64::MAX } else { 60 });
    let fuzz = tab86_jitcheck::Fuzz {
        first_seed: base,
        count,
        insns: env("JN").map_or(12, |n| n as u32),
        stop: &|| deadline.is_some_and(|d| std::time::Instant::now() >= d),
    };
    let s = tab86_jitcheck::random_sequences(&wasmtime, &fuzz).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        s.jit_instructions > 10_000,
        "generated code ran only {} instructions",
        s.jit_instructions
    );
    assert!(
        s.helper_calls > 1_000,
        "generated code called the interpreter only {} times",
        s.helper_calls
    );
    eprintln!(
        "random sequences: {} (seeds from {base}), {} instructions in generated code, {} helper calls",
        s.sequences, s.jit_instructions, s.helper_calls
    );
}

#[test]
fn self_modifying_loop_drops_the_compiled_page() {
    check(tab86_jitcheck::self_modifying_loop(&wasmtime));
}

#[test]
fn nested_self_modifying_loop_drops_the_compiled_page_at_each_patch() {
    check(tab86_jitcheck::self_modifying_nested_loop(&wasmtime));
}

/// Calls (relative, through memory, through a register), jumps and returns
/// across three compiled pages go from module to module
/// through the entry table; a write to the called page in the middle of the
/// loop drops its module (and its table element) and the new code is what runs.
#[test]
fn linked_pages_follow_calls_jumps_returns_and_invalidation() {
    check(tab86_jitcheck::linked_pages(&wasmtime, true));
}

/// With room for fewer modules than the three hot pages, installing one drops the
/// least recently entered (and its links); those pages run interpreted, become hot
/// again and compile again, and the results stay the interpreter's.
#[test]
fn a_bound_on_loaded_modules_evicts_the_least_recent_and_stays_exact() {
    check(tab86_jitcheck::bounded_modules(&wasmtime, &[1, 2]));
}

#[test]
fn grouped_writes_to_a_code_page_leave_through_the_interpreter() {
    check(tab86_jitcheck::grouped_writes_to_a_code_page(&wasmtime));
}

#[test]
fn helper_calls_that_fault_or_write_their_own_code_leave() {
    check(tab86_jitcheck::helper_calls_that_fault_or_write_their_own_code(&wasmtime));
}

#[test]
fn helper_branches_and_writes_to_its_own_page_leave() {
    check(tab86_jitcheck::helper_branch(&wasmtime));
}

/// A host that compiles like a background one but hands each module back only
/// after `delay` polls, so the CPU must keep interpreting meanwhile, install
/// modules late, and discard those whose page was written in between.
struct Delayed {
    inner: WasmtimeHost,
    delay: u32,
    queue: Vec<(u32, Vec<u8>, u32)>,
    next: u32,
}

impl tab86_cpu::jit::JitHost for Delayed {
    fn arena_base(&self) -> u32 {
        self.inner.arena_base()
    }
    fn load(&mut self, wasm: &[u8]) -> Result<u32, String> {
        self.inner.load(wasm)
    }
    fn submit(&mut self, wasm: Vec<u8>) -> tab86_cpu::jit::Submitted {
        self.next += 1;
        self.queue.push((self.next, wasm, self.delay));
        tab86_cpu::jit::Submitted::Pending(self.next)
    }
    fn finished(&mut self, out: &mut Vec<tab86_cpu::jit::Finished>) {
        let mut i = 0;
        while i < self.queue.len() {
            if self.queue[i].2 == 0 {
                let (ticket, wasm, _) = self.queue.remove(i);
                out.push(tab86_cpu::jit::Finished {
                    ticket,
                    result: self.inner.load(&wasm),
                    compile_ns: 0,
                });
            } else {
                self.queue[i].2 -= 1;
                i += 1;
            }
        }
    }
    fn run(&mut self, handle: u32, helper: &mut tab86_cpu::jit::Helper<'_>) -> Result<i32, String> {
        self.inner.run(handle, helper)
    }
    fn unload(&mut self, handle: u32) {
        self.inner.unload(handle)
    }
}

/// Runs `code` to its HLT in slices of `slice` instructions (the CPU collects
/// finished modules between slices) with a host that delays every module.
fn run_delayed(code: &[u8], delay: u32, slice: u64) -> Cpu {
    let mut cpu = tab86_jitcheck::flat_cpu(code).expect("flat cpu");
    cpu.state.gpr[reg::EBX] = DATA;
    let a = cpu.mem.arena().clone();
    let inner = WasmtimeHost::new(a.ptr(), a.len(), a.clone()).expect("wasmtime host");
    cpu.set_jit(
        Box::new(Delayed {
            inner,
            delay,
            queue: Vec::new(),
            next: 0,
        }),
        None,
    );
    cpu.set_jit_threshold(3);
    for _ in 0..1_000_000 {
        match cpu.run(&mut NullBus, slice) {
            Exit::Halted | Exit::HaltedNoWake => return cpu,
            Exit::Budget => {}
            e => panic!("{e:?} at {:#x}", cpu.state.eip),
        }
    }
    panic!("no HLT at {:#x}", cpu.state.eip)
}

#[test]
fn modules_compiled_in_the_background_are_installed_late_or_discarded() {
    // A plain hot loop: ecx = 5000; loop: add eax, ecx; xor eax, 0x55; dec ecx; jnz loop; hlt
    let code = [
        0xB9, 0x88, 0x13, 0, 0, 0x01, 0xC8, 0x83, 0xF0, 0x55, 0x49, 0x75, 0xF8, 0xF4,
    ];
    let i = run(&code);
    let j = run_delayed(&code, 5, 40);
    assert_eq!(i.state.gpr, j.state.gpr);
    assert_eq!(i.state.icount, j.state.icount);
    let s = j.jit_stats().unwrap();
    assert!(s.instructions > 1000, "late module never ran: {s:?}");
    assert_eq!(s.discarded, 0, "{s:?}");

    // The same loop writing once into its own page (not its code) while the
    // page's module is still compiling: the result must be discarded, the page
    // compiled again, and the answer still the interpreter's.
    let mut code = vec![0xB9, 0x2C, 0x01, 0, 0, 0x31, 0xC0];
    let top = code.len();
    code.extend_from_slice(&[0x01, 0xC8]); // add eax, ecx
    code.extend_from_slice(&[0x81, 0xF9, 250, 0, 0, 0]); // cmp ecx, 250
    code.extend_from_slice(&[0x75, 0x06, 0x89, 0x0D]); // jne skip; mov [same page], ecx
    code.extend_from_slice(&((CODE & !0xFFF) + 0x800).to_le_bytes());
    code.push(0x49); // skip: dec ecx
    let rel = top as i64 - (code.len() as i64 + 2);
    code.extend_from_slice(&[0x75, rel as i8 as u8, 0xF4]);
    const { assert!(CODE & 0xFFF < 0x700) };
    let i = run(&code);
    let j = run_delayed(&code, 50, 7);
    assert_eq!(i.state.gpr, j.state.gpr);
    assert_eq!(j.state.gpr[reg::EAX], 300 * 301 / 2);
    let s = j.jit_stats().unwrap();
    assert!(s.discarded > 0, "{s:?}");
    assert!(s.instructions > 100, "recompiled module never ran: {s:?}");
    assert_eq!(s.traps, 0);
}

/// Runs the hot loop at CODE (prologue of `pre` instructions, `per` per iteration)
/// with the JIT until generated code has run, stopping `at` instructions into an
/// iteration; then raises INTR (vector 0x50) and runs to the handler's HLT.
/// Returns the CPU and the EIP the interrupt frame holds.
fn interrupt_in_hot_loop(code: &[u8], pre: u64, per: u64, at: u64) -> (Cpu, u32) {
    let mut cpu = tab86_tests::native::flat_cpu(code, CODE).expect("flat cpu");
    attach(&mut cpu, 2);
    let mut bus = tab86_tests::syskernel::TestBus::default();
    assert_eq!(cpu.run(&mut bus, pre + at), Exit::Budget);
    for _ in 0..1000 {
        assert_eq!(cpu.run(&mut bus, per * 100), Exit::Budget);
        if cpu.jit_stats().is_some_and(|s| s.instructions > 0) {
            break;
        }
    }
    assert!(
        cpu.jit_stats().expect("jit").instructions > 0,
        "never compiled"
    );
    bus.intr = Some(0x50);
    let e = cpu.run(&mut bus, 1000);
    assert!(matches!(e, Exit::Halted | Exit::HaltedNoWake), "{e:?}");
    assert_eq!(
        cpu.state.eip,
        0x3000 + 0x50 + 1,
        "stopped in the vector 0x50 stub"
    );
    let mut b = [0u8; 4];
    cpu.mem.read_bytes(cpu.state.gpr[reg::ESP], &mut b);
    (cpu, u32::from_le_bytes(b))
}

#[test]
fn sti_in_a_hot_loop_holds_an_interrupt_for_one_instruction() {
    // xor eax,eax; mov ebx,0x7fffffff
    // loop: cli; inc eax; sti; inc ecx; inc edx; cli; dec ebx; jnz loop; hlt
    let code = [
        0x31, 0xC0, 0xBB, 0xFF, 0xFF, 0xFF, 0x7F, 0xFA, 0x40, 0xFB, 0x41, 0x42, 0xFA, 0x4B, 0x75,
        0xF7, 0xF4,
    ];
    // Stopped at the top of an iteration (IF = 0): the interrupt waits for STI
    // and then for INC ECX, and comes before INC EDX.
    let (cpu, eip) = interrupt_in_hot_loop(&code, 2, 8, 0);
    assert_eq!(eip, CODE + 11);
    let g = cpu.state.gpr;
    assert_eq!(g[reg::ECX], g[reg::EAX]);
    assert_eq!(g[reg::EDX], g[reg::EAX] - 1);
}

#[test]
fn mov_ss_in_a_hot_loop_holds_an_interrupt_for_one_instruction() {
    // mov eax,0x10; sti; mov ebx,0x7fffffff
    // loop: mov ss,ax; inc ecx; inc edx; dec ebx; jnz loop; hlt
    let code = [
        0xB8, 0x10, 0x00, 0x00, 0x00, 0xFB, 0xBB, 0xFF, 0xFF, 0xFF, 0x7F, 0x8E, 0xD0, 0x41, 0x42,
        0x4B, 0x75, 0xF9, 0xF4,
    ];
    // Stopped right after a MOV SS (IF = 1): the interrupt comes after INC ECX.
    let (cpu, eip) = interrupt_in_hot_loop(&code, 3, 5, 1);
    assert_eq!(eip, CODE + 14);
    let g = cpu.state.gpr;
    assert_eq!(g[reg::ECX], g[reg::EDX] + 1);
}

/// PAE paging with NXE for [`xd_page_faults_after_a_hot_loop_called_it`]: 2 MiB
/// identity pages for the harness's 32 MiB, except 2-4 MiB (CODE's), mapped by
/// 4 KiB identity pages. Returns the physical address of the PTE of `lin`.
fn page_pae_nx(cpu: &mut Cpu, lin: u32) -> u32 {
    const PDPT: u32 = 0x9_0000;
    const PD: u32 = 0x9_1000;
    const PT: u32 = 0x9_2000;
    let w64 = |cpu: &mut Cpu, a: u32, v: u64| cpu.mem.write_bytes(a, &v.to_le_bytes());
    w64(cpu, PDPT, PD as u64 | 1);
    for i in 0..16u32 {
        w64(cpu, PD + 8 * i, (i as u64) << 21 | 0x83);
    }
    w64(cpu, PD + 8, PT as u64 | 3);
    for i in 0..512u32 {
        w64(cpu, PT + 8 * i, (0x20_0000 + (i << 12)) as u64 | 3);
    }
    cpu.write_msr(tab86_cpu::msr::EFER, tab86_cpu::msr::EFER_NXE)
        .expect("EFER.NXE");
    cpu.set_cr4(tab86_cpu::state::cr::PAE).expect("CR4.PAE");
    cpu.set_cr3(PDPT).expect("CR3");
    cpu.set_cr0(cpu.state.cr0 | tab86_cpu::state::cr::PG)
        .expect("paging on");
    PT + 8 * ((lin >> 12) & 0x1FF)
}

#[test]
fn xd_page_faults_after_a_hot_loop_called_it() {
    // FN (the next page): inc eax; ret. The loop calls it 300 times, so both pages
    // are hot; then the guest sets XD in FN's PTE (high dword bit 31), INVLPG, reads
    // FN's page (a data read of an XD page works and caches the translation) and
    // calls FN once more: the fetch must take #PF(P|I/D), which the harness's stub
    // for vector 14 turns into a HLT at 0x3000 + 14.
    const FN: u32 = CODE + 0x1000;
    let pte = 0x9_2000 + 8 * ((FN >> 12) & 0x1FF);
    // ecx = 300; xor eax, eax
    let mut code = vec![0xB9, 0x2C, 0x01, 0, 0, 0x31, 0xC0];
    let top = code.len() as u32;
    code.push(0xE8); // call FN
    let rel = FN.wrapping_sub(CODE + top + 5);
    code.extend_from_slice(&rel.to_le_bytes());
    code.push(0x49); // dec ecx
    let back = top as i64 - (code.len() as i64 + 2);
    code.extend_from_slice(&[0x75, back as i8 as u8]); // jnz top
    code.extend_from_slice(&[0xC7, 0x05]); // mov dword [pte + 4], 0x80000000
    code.extend_from_slice(&(pte + 4).to_le_bytes());
    code.extend_from_slice(&0x8000_0000u32.to_le_bytes());
    code.extend_from_slice(&[0x0F, 0x01, 0x3D]); // invlpg [FN]
    code.extend_from_slice(&FN.to_le_bytes());
    code.extend_from_slice(&[0x8B, 0x15]); // mov edx, [FN]
    code.extend_from_slice(&FN.to_le_bytes());
    let at = code.len() as u32;
    code.push(0xE8); // call FN
    code.extend_from_slice(&FN.wrapping_sub(CODE + at + 5).to_le_bytes());
    code.push(0xF4);
    let mut results = Vec::new();
    for jit in [false, true] {
        let mut c = tab86_tests::native::flat_cpu(&[], CODE).expect("flat cpu");
        assert_eq!(page_pae_nx(&mut c, FN), pte);
        c.mem.write_bytes(CODE, &code);
        c.mem.write_bytes(FN, &[0x40, 0xC3]); // inc eax; ret
        if jit {
            attach(&mut c, 3);
        }
        let e = c.run(&mut NullBus, 1_000_000);
        assert!(matches!(e, Exit::Halted | Exit::HaltedNoWake), "{e:?}");
        assert_eq!(c.state.eip, 0x3000 + 14 + 1, "halted in the #PF stub");
        assert_eq!(c.state.cr2, FN);
        assert_eq!(c.state.gpr[reg::EAX], 300);
        assert_eq!(c.state.gpr[reg::EDX], 0xC340, "data read from the XD page");
        let esp = c.state.gpr[reg::ESP];
        let mut frame = [0u8; 8];
        frame.copy_from_slice(&c.mem.ram()[esp as usize..esp as usize + 8]);
        let err = u32::from_le_bytes(frame[..4].try_into().unwrap());
        let eip = u32::from_le_bytes(frame[4..].try_into().unwrap());
        assert_eq!((err, eip), (0x11, FN), "#PF(P|I/D) at FN");
        if jit {
            let s = c.jit_stats().unwrap();
            assert_eq!(s.traps, 0);
            assert!(
                s.instructions > 500,
                "{} instructions compiled",
                s.instructions
            );
        }
        results.push(c.state.gpr);
    }
    assert_eq!(results[0], results[1]);
}

//! Expectation test of the JIT's code generator: the wasm generated for a few
//! small inputs, printed as text, must match the listings checked in under
//! `tests/expect/`, so that every change to generated code shows up in review.
//! Run with `UPDATE_EXPECT=1` to rewrite the listings after an intended change.
//!
//! Each module is also compiled by wasmtime, so the listings are of valid code.

use iced_x86::{Decoder, DecoderOptions};
use tab86_cpu::decode::{convert, Op};
use tab86_cpu::jit::codegen::{compile, PageBlock, Target};
use tab86_cpu::jit::JitHost;
use tab86_cpu::PhysMem;
use tab86_jit_wasmtime::WasmtimeHost;

/// Decodes `code` at linear address `eip` into ops.
fn ops(code: &[u8], eip: u32) -> Vec<Op> {
    let mut d = Decoder::with_ip(32, code, eip as u64, DecoderOptions::NONE);
    let mut v = Vec::new();
    while d.can_decode() {
        v.push(convert(&d.decode()));
    }
    v
}

/// The module for one block at page offset `offset`, as text: the `run`
/// function only (the flags helper after it rarely changes and is long).
fn listing(code: &[u8], offset: u32) -> String {
    let mem = PhysMem::new(1 << 20);
    let arena = mem.arena().clone();
    let ops = ops(code, 0x40_0000 + offset);
    let mut host = WasmtimeHost::new(arena.ptr(), arena.len(), arena.clone()).expect("host");
    let target = Target {
        layout: arena.layout(),
        base: 0,
        page: 0x40_0000,
        link_slots: host.link_slots(),
    };
    let c = compile(&[PageBlock { offset, ops: &ops }], &target).expect("compiled");
    host.load(&c.wasm).expect("wasmtime accepts the module");
    let text = wasmprinter::print_bytes(&c.wasm).expect("printable");
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with("  (func (;2;)") {
            out.push_str("  ;; (the flags helper, function 2, is left out)\n");
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    let helpers: Vec<String> = c
        .helper_ops
        .iter()
        .map(|o| format!("{:?}", o.code))
        .collect();
    format!(
        ";; entries {:?}; interpreter ops {:?}\n{out}",
        c.entries, helpers
    )
}

fn check(name: &str, code: &[u8], offset: u32) {
    let got = listing(code, offset);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/expect")
        .join(format!("{name}.wat"));
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, &got).expect("write expectation");
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    if want != got {
        let first = want
            .lines()
            .zip(got.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(got.lines().count()));
        panic!(
            "generated code for {name} differs from {} from line {} on \
             (UPDATE_EXPECT=1 rewrites it):\n{}",
            path.display(),
            first + 1,
            got.lines()
                .skip(first.saturating_sub(3))
                .take(12)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// A loop over memory: two accesses through EBX (one translation group), the
/// lazy flags of DEC feeding JNZ, a branch back to the case itself.
#[test]
fn loop_over_memory() {
    // top: add eax, [ebx+4]; mov [ebx+8], eax; dec ecx; jnz top; ret
    check(
        "loop",
        &[0x03, 0x43, 0x04, 0x89, 0x43, 0x08, 0x49, 0x75, 0xF7, 0xC3],
        0x100,
    );
}

/// Instructions handed to the interpreter in the middle of a case: the flags of
/// a private producer (SHL) materialized, registers spilled around the call.
#[test]
fn helper_calls() {
    // shl eax, 3; div ecx; mov edx, eax; cpuid; inc edx; ret
    check(
        "helper",
        &[
            0xC1, 0xE0, 0x03, 0xF7, 0xF1, 0x89, 0xC2, 0x0F, 0xA2, 0x42, 0xC3,
        ],
        0x200,
    );
}

/// FS and GS accesses (Linux's per-CPU data, glibc's TLS): the usability check,
/// the base added to the offset, LOCK accepted; ROR compiled.
#[test]
fn segment_overrides() {
    // mov eax, fs:[0x10]; lock inc dword gs:[ecx+4]; ror eax, 7; ret
    check(
        "segments",
        &[
            0x64, 0xA1, 0x10, 0, 0, 0, 0xF0, 0x65, 0xFF, 0x41, 0x04, 0xC1, 0xC8, 0x07, 0xC3,
        ],
        0x300,
    );
}

/// RDTSC from the window's time base terms, SHLD/SHRD with their private flag
/// producer, and a jump to another page that continues in the entry table.
#[test]
fn time_double_shifts_and_a_linked_jump() {
    // rdtsc; shld eax, edx, 5; shrd eax, edx, cl; jmp 0x401000
    check(
        "linked",
        &[
            0x0F, 0x31, 0x0F, 0xA4, 0xD0, 0x05, 0x0F, 0xAD, 0xD0, 0xE9, 0xF2, 0x0B, 0, 0,
        ],
        0x400,
    );
}

//! Runner for the integer ground truth captured on an Intel P6-family CPU
//! (`shared/testdata/int-intel`, see its README): single integer instructions whose
//! results or flags the SDM partly leaves undefined.
//!
//! Every vector runs through the emulated CPU executing the real instruction bytes
//! in flat 32-bit protected mode (the layout of [`crate::native::flat_cpu`]). One
//! CPU is reused; each kind's instruction, followed by a HLT, is placed once at its
//! own address, and a vector only loads EAX, EBX, ECX, EDX and EFLAGS, points EIP at
//! its kind's code and runs to the HLT. R1, R2 and EFLAGS & 0x8D5 are compared.

use flate2::read::GzDecoder;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use tab86_cpu::state::{fl, reg};
use tab86_cpu::{Cpu, Exit, NullBus};

/// The status flags the vectors record: CF, PF, AF, ZF, SF, OF.
pub const FLAGS_COMPARED: u32 = 0x8D5;

/// Every kind of the capture with its instruction bytes (32-bit code) and the
/// instruction iced decodes them to, as a check of the hand encoding.
pub const KINDS: &[(&str, &[u8], &str)] = &[
    ("shl8", &[0xD2, 0xE0], "shl al,cl"),
    ("shr8", &[0xD2, 0xE8], "shr al,cl"),
    ("sar8", &[0xD2, 0xF8], "sar al,cl"),
    ("rol8", &[0xD2, 0xC0], "rol al,cl"),
    ("ror8", &[0xD2, 0xC8], "ror al,cl"),
    ("rcl8", &[0xD2, 0xD0], "rcl al,cl"),
    ("rcr8", &[0xD2, 0xD8], "rcr al,cl"),
    ("shl16", &[0x66, 0xD3, 0xE0], "shl ax,cl"),
    ("shr16", &[0x66, 0xD3, 0xE8], "shr ax,cl"),
    ("sar16", &[0x66, 0xD3, 0xF8], "sar ax,cl"),
    ("rol16", &[0x66, 0xD3, 0xC0], "rol ax,cl"),
    ("ror16", &[0x66, 0xD3, 0xC8], "ror ax,cl"),
    ("rcl16", &[0x66, 0xD3, 0xD0], "rcl ax,cl"),
    ("rcr16", &[0x66, 0xD3, 0xD8], "rcr ax,cl"),
    ("shl32", &[0xD3, 0xE0], "shl eax,cl"),
    ("shr32", &[0xD3, 0xE8], "shr eax,cl"),
    ("sar32", &[0xD3, 0xF8], "sar eax,cl"),
    ("rol32", &[0xD3, 0xC0], "rol eax,cl"),
    ("ror32", &[0xD3, 0xC8], "ror eax,cl"),
    ("rcl32", &[0xD3, 0xD0], "rcl eax,cl"),
    ("rcr32", &[0xD3, 0xD8], "rcr eax,cl"),
    ("shld16", &[0x66, 0x0F, 0xA5, 0xD8], "shld ax,bx,cl"),
    ("shrd16", &[0x66, 0x0F, 0xAD, 0xD8], "shrd ax,bx,cl"),
    ("shld32", &[0x0F, 0xA5, 0xD8], "shld eax,ebx,cl"),
    ("shrd32", &[0x0F, 0xAD, 0xD8], "shrd eax,ebx,cl"),
    ("mul8", &[0xF6, 0xE3], "mul bl"),
    ("mul16", &[0x66, 0xF7, 0xE3], "mul bx"),
    ("mul32", &[0xF7, 0xE3], "mul ebx"),
    ("imul8", &[0xF6, 0xEB], "imul bl"),
    ("imul16", &[0x66, 0xF7, 0xEB], "imul bx"),
    ("imul32", &[0xF7, 0xEB], "imul ebx"),
    ("imul16r", &[0x66, 0x0F, 0xAF, 0xC3], "imul ax,bx"),
    ("imul32r", &[0x0F, 0xAF, 0xC3], "imul eax,ebx"),
    ("div8", &[0xF6, 0xF3], "div bl"),
    ("div16", &[0x66, 0xF7, 0xF3], "div bx"),
    ("div32", &[0xF7, 0xF3], "div ebx"),
    ("idiv8", &[0xF6, 0xFB], "idiv bl"),
    ("idiv16", &[0x66, 0xF7, 0xFB], "idiv bx"),
    ("idiv32", &[0xF7, 0xFB], "idiv ebx"),
    ("bsf16", &[0x66, 0x0F, 0xBC, 0xC3], "bsf ax,bx"),
    ("bsr16", &[0x66, 0x0F, 0xBD, 0xC3], "bsr ax,bx"),
    ("bsf32", &[0x0F, 0xBC, 0xC3], "bsf eax,ebx"),
    ("bsr32", &[0x0F, 0xBD, 0xC3], "bsr eax,ebx"),
    ("bt32", &[0x0F, 0xA3, 0xC8], "bt eax,ecx"),
    ("bts32", &[0x0F, 0xAB, 0xC8], "bts eax,ecx"),
    ("btr32", &[0x0F, 0xB3, 0xC8], "btr eax,ecx"),
    ("btc32", &[0x0F, 0xBB, 0xC8], "btc eax,ecx"),
    ("bt16", &[0x66, 0x0F, 0xA3, 0xC8], "bt ax,cx"),
    ("and32", &[0x21, 0xD8], "and eax,ebx"),
    ("or32", &[0x09, 0xD8], "or eax,ebx"),
    ("xor32", &[0x31, 0xD8], "xor eax,ebx"),
    ("test32", &[0x85, 0xD8], "test eax,ebx"),
    ("aaa", &[0x37], "aaa"),
    ("aas", &[0x3F], "aas"),
    ("daa", &[0x27], "daa"),
    ("das", &[0x2F], "das"),
    ("aam", &[0xD4, 0x0A], "aam 0Ah"),
    ("aad", &[0xD5, 0x0A], "aad 0Ah"),
    ("aam7", &[0xD4, 0x07], "aam 7"),
    ("aad7", &[0xD5, 0x07], "aad 7"),
];

/// Where the code of kind `i` of [`KINDS`] is placed (32 bytes apart).
const CODE: u32 = 0x10_0000;

fn code_at(i: usize) -> u32 {
    CODE + 32 * i as u32
}

/// One vector: `OP A B C FLAGS_IN -> R1 R2 FLAGS_OUT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vector {
    /// Index of the kind in [`KINDS`].
    pub kind: usize,
    /// EAX before.
    pub a: u32,
    /// EBX before.
    pub b: u32,
    /// ECX (count, bit index), or EDX for the wide ops; see [`is_wide`].
    pub c: u32,
    /// The status flags before (on top of 0x202).
    pub flags_in: u32,
    /// EAX after.
    pub r1: u32,
    /// EDX after for the wide ops, EBX otherwise.
    pub r2: u32,
    /// EFLAGS & 0x8D5 after.
    pub flags_out: u32,
}

/// MUL, IMUL, DIV and IDIV (every form): `C` is EDX and `R2` is EDX after.
pub fn is_wide(name: &str) -> bool {
    ["mul", "imul", "div", "idiv"].iter().any(|p| {
        name.strip_prefix(p)
            .is_some_and(|r| r.starts_with(['8', '1', '3']))
    })
}

/// Parses one line; `Err` says why it is malformed.
pub fn parse_line(line: &str) -> Result<Vector, String> {
    let t: Vec<&str> = line.split_whitespace().collect();
    if t.len() != 9 || t[5] != "->" {
        return Err(format!("malformed line: {line:?}"));
    }
    let kind = KINDS
        .iter()
        .position(|k| k.0 == t[0])
        .ok_or_else(|| format!("unknown kind {:?}", t[0]))?;
    let hex = |s: &str| u32::from_str_radix(s, 16).map_err(|e| format!("{s:?}: {e}"));
    Ok(Vector {
        kind,
        a: hex(t[1])?,
        b: hex(t[2])?,
        c: hex(t[3])?,
        flags_in: hex(t[4])?,
        r1: hex(t[6])?,
        r2: hex(t[7])?,
        flags_out: hex(t[8])?,
    })
}

/// Reads the gzipped vector file.
pub fn load(path: &Path) -> Result<Vec<Vector>, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::with_capacity(120_000);
    for line in BufReader::new(GzDecoder::new(f)).lines() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(parse_line(&line)?);
    }
    Ok(out)
}

/// What the emulated CPU produced for one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Got {
    /// EAX after.
    pub r1: u32,
    /// EDX or EBX after (as [`Vector::r2`]).
    pub r2: u32,
    /// EFLAGS & 0x8D5 after.
    pub flags: u32,
}

/// A flat protected-mode CPU with the code of every kind in place.
pub struct Rig {
    cpu: Cpu,
    wide: Vec<bool>,
}

impl Rig {
    /// Builds the CPU and places each kind's instruction and a HLT. Fails when the
    /// bytes of a kind do not decode to the instruction it names.
    pub fn new() -> Result<Self, String> {
        let mut cpu = crate::native::flat_cpu(&[0xF4], CODE)?;
        for (i, (name, bytes, asm)) in KINDS.iter().enumerate() {
            let mut d = iced_x86::Decoder::with_ip(32, bytes, 0, iced_x86::DecoderOptions::NONE);
            let ins = d.decode();
            let mut text = String::new();
            let mut fmt = iced_x86::IntelFormatter::new();
            iced_x86::Formatter::format(&mut fmt, &ins, &mut text);
            if text != *asm || ins.len() != bytes.len() {
                return Err(format!("{name}: bytes decode to {text:?}, not {asm:?}"));
            }
            let mut code = bytes.to_vec();
            code.push(0xF4);
            cpu.mem.write_bytes(code_at(i), &code);
        }
        cpu.invalidate_all();
        let wide = KINDS.iter().map(|k| is_wide(k.0)).collect();
        Ok(Rig { cpu, wide })
    }

    /// Runs one vector; `Err` when the instruction did not reach its HLT (a fault).
    pub fn run(&mut self, v: &Vector) -> Result<Got, String> {
        let wide = self.wide[v.kind];
        let cpu = &mut self.cpu;
        let g = &mut cpu.state.gpr;
        g[reg::EAX] = v.a;
        g[reg::EBX] = v.b;
        g[reg::ECX] = if wide { 0 } else { v.c };
        g[reg::EDX] = v.c;
        cpu.state.eflags = fl::FIXED | fl::IF;
        cpu.state.set_arith_flags(v.flags_in);
        cpu.state.halted = false;
        let start = code_at(v.kind);
        cpu.state.eip = start;
        match cpu.run(&mut NullBus, 16) {
            Exit::Halted | Exit::HaltedNoWake => {}
            e => return Err(format!("stopped with {e:?} at EIP {:#x}", cpu.state.eip)),
        }
        let len = KINDS[v.kind].1.len() as u32;
        if cpu.state.eip != start + len + 1 {
            return Err(format!(
                "HLT at EIP {:#x}, not after the instruction (an exception)",
                cpu.state.eip.wrapping_sub(1)
            ));
        }
        let g = &cpu.state.gpr;
        Ok(Got {
            r1: g[reg::EAX],
            r2: if wide { g[reg::EDX] } else { g[reg::EBX] },
            flags: cpu.state.flags() & FLAGS_COMPARED,
        })
    }
}

/// Pass and fail counts of one kind and its first mismatches.
#[derive(Debug, Default, Clone)]
pub struct KindResult {
    /// Vectors that matched.
    pub passed: usize,
    /// Vectors that did not.
    pub failed: usize,
    /// The first few mismatches, described.
    pub first: Vec<String>,
}

/// Runs every vector; results by kind name, in [`KINDS`] order of first appearance.
pub fn run_all(rig: &mut Rig, vectors: &[Vector], keep: usize) -> BTreeMap<usize, KindResult> {
    let mut out: BTreeMap<usize, KindResult> = BTreeMap::new();
    for v in vectors {
        let r = out.entry(v.kind).or_default();
        let want = Got {
            r1: v.r1,
            r2: v.r2,
            flags: v.flags_out,
        };
        let why = match rig.run(v) {
            Ok(got) if got == want => {
                r.passed += 1;
                continue;
            }
            Ok(got) => format!(
                "got {:08x} {:08x} {:03x} (flags differ in {:03x})",
                got.r1,
                got.r2,
                got.flags,
                got.flags ^ want.flags
            ),
            Err(e) => e,
        };
        r.failed += 1;
        if r.first.len() < keep {
            r.first.push(format!(
                "{} {:08x} {:08x} {:08x} {:03x} -> {:08x} {:08x} {:03x}: {why}",
                KINDS[v.kind].0, v.a, v.b, v.c, v.flags_in, v.r1, v.r2, v.flags_out
            ));
        }
    }
    out
}

/// Whether generated code compiles the instruction of kind `i` of [`KINDS`]
/// (otherwise the JIT leaves it to the interpreter).
pub fn jit_compiles(i: usize) -> bool {
    let bytes = KINDS[i].1;
    let mut d = iced_x86::Decoder::new(32, bytes, iced_x86::DecoderOptions::NONE);
    tab86_cpu::jit::codegen::supported(&tab86_cpu::decode::convert(&d.decode()))
}

/// Where [`JitRig`] keeps its loop, the vectors' inputs and the outputs.
const LOOP: u32 = 0x10_0000;
const INPUT: u32 = 0x20_0000;
const OUTPUT: u32 = 0x80_0000;
/// Bytes per vector: EAX, EBX, ECX, EDX, EFLAGS in; EAX, EDX|EBX, EFLAGS, pad out.
const IN_SIZE: u32 = 20;
const OUT_SIZE: u32 = 16;

/// Runs the vectors of one kind in a hot loop with the WebAssembly JIT attached, so
/// that the instruction runs in generated code wherever the JIT compiles it:
/// each iteration loads EAX, EBX, ECX, EDX and EFLAGS (POPFD) from a table, runs
/// the instruction and stores EAX, EDX or EBX and EFLAGS (PUSHFD).
pub struct JitRig {
    cpu: Cpu,
}

impl JitRig {
    /// A flat protected-mode CPU with the JIT compiling blocks after `hot` runs.
    pub fn new(hot: u32) -> Result<Self, String> {
        let mut cpu = crate::native::flat_cpu(&[0xF4], LOOP)?;
        let a = cpu.mem.arena().clone();
        let host = tab86_jit_wasmtime::WasmtimeHost::new(a.ptr(), a.len(), a.clone())
            .map_err(|e| format!("wasmtime host: {e}"))?;
        cpu.set_jit(Box::new(host), None);
        cpu.set_jit_threshold(hot);
        Ok(JitRig { cpu })
    }

    /// Runs `vectors` (all of kind `kind`, at most 64 Ki) and returns what the CPU
    /// produced for each, with the instructions generated code retired meanwhile.
    pub fn run(&mut self, kind: usize, vectors: &[&Vector]) -> Result<(Vec<Got>, u64), String> {
        let wide = is_wide(KINDS[kind].0);
        let mut code = vec![
            0x8B, 0x06, // mov eax,[esi]
            0x8B, 0x5E, 0x04, // mov ebx,[esi+4]
            0x8B, 0x4E, 0x08, // mov ecx,[esi+8]
            0x8B, 0x56, 0x0C, // mov edx,[esi+12]
            0xFF, 0x76, 0x10, // push dword [esi+16]
            0x9D, // popfd
        ];
        code.extend_from_slice(KINDS[kind].1);
        code.extend_from_slice(&[
            0x9C, // pushfd
            0x8F,
            0x47,
            0x08, // pop dword [edi+8]
            0x89,
            0x07, // mov [edi],eax
            0x89,
            if wide { 0x57 } else { 0x5F }, // mov [edi+4],edx|ebx
            0x04,
            0x83,
            0xC6,
            IN_SIZE as u8, // add esi,20
            0x83,
            0xC7,
            OUT_SIZE as u8, // add edi,16
            0x4D,           // dec ebp
            0x0F,
            0x85, // jnz top
        ]);
        let rel = -(code.len() as i32 + 4);
        code.extend_from_slice(&rel.to_le_bytes());
        code.push(0xF4);
        // A fresh page for each kind's loop, so modules of earlier kinds stay apart.
        let at = LOOP + 0x1000 * kind as u32;
        let cpu = &mut self.cpu;
        cpu.mem.write_bytes(at, &code);
        let mut table = Vec::with_capacity(vectors.len() * IN_SIZE as usize);
        for v in vectors {
            let ecx = if wide { 0 } else { v.c };
            for x in [v.a, v.b, ecx, v.c, v.flags_in | fl::FIXED | fl::IF] {
                table.extend_from_slice(&x.to_le_bytes());
            }
        }
        cpu.mem.write_bytes(INPUT, &table);
        let g = &mut cpu.state.gpr;
        g[reg::ESI] = INPUT;
        g[reg::EDI] = OUTPUT;
        g[reg::EBP] = vectors.len() as u32;
        cpu.state.eip = at;
        cpu.state.halted = false;
        let before = cpu.jit_stats().map_or(0, |s| s.instructions);
        match cpu.run(&mut NullBus, 100 * vectors.len() as u64 + 1000) {
            Exit::Halted | Exit::HaltedNoWake => {}
            e => return Err(format!("stopped with {e:?} at EIP {:#x}", cpu.state.eip)),
        }
        if cpu.state.eip != at + code.len() as u32 {
            return Err(format!(
                "HLT at EIP {:#x}, not at the end of the loop (an exception)",
                cpu.state.eip.wrapping_sub(1)
            ));
        }
        let stats = cpu.jit_stats().unwrap_or_default();
        if stats.traps != 0 {
            return Err(format!("generated code trapped: {stats:?}"));
        }
        let mut out = vec![0u8; vectors.len() * OUT_SIZE as usize];
        cpu.mem.read_bytes(OUTPUT, &mut out);
        let word = |o: &[u8], k: usize| u32::from_le_bytes(o[k..k + 4].try_into().unwrap());
        let got = out
            .chunks(OUT_SIZE as usize)
            .map(|o| Got {
                r1: word(o, 0),
                r2: word(o, 4),
                flags: word(o, 8) & FLAGS_COMPARED,
            })
            .collect();
        Ok((got, stats.instructions - before))
    }
}

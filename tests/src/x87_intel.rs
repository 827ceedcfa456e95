//! Runner for the x87 ground truth recorded on an Intel CPU
//! (`shared/testdata/x87-intel/`, see its README): every line is one x87
//! instruction executed as real instruction bytes on the emulated [`Cpu`] in
//! flat protected mode — FNINIT, FLD m80 B, FLD m80 A, FLDCW, the instruction,
//! FNSAVE, HLT — and the saved status word, tag word, ST(0)/ST(1) images and
//! the memory or EFLAGS written are compared with the recorded ones.
//!
//! The code of each kind is assembled once at its own address; one CPU runs
//! all vectors, only the operand, control word and output areas are rewritten.

use flate2::read::GzDecoder;
use std::io::{BufRead, BufReader};
use std::path::Path;
use tab86_cpu::{Cpu, Exit, NullBus};

/// The instruction kinds of the file with their encodings (after the
/// operand loads); `true` marks a store, whose ModR/M byte is followed by
/// the 32-bit absolute address [`OUT`].
const KINDS: &[(&str, &[u8], bool)] = &[
    ("fadd", &[0xDE, 0xC1], false),
    ("fmul", &[0xDE, 0xC9], false),
    ("fsub", &[0xDE, 0xE9], false),
    ("fsubr", &[0xDE, 0xE1], false),
    ("fdiv", &[0xDE, 0xF9], false),
    ("fdivr", &[0xDE, 0xF1], false),
    ("fsqrt", &[0xD9, 0xFA], false),
    ("frndint", &[0xD9, 0xFC], false),
    ("fsin", &[0xD9, 0xFE], false),
    ("fcos", &[0xD9, 0xFF], false),
    ("f2xm1", &[0xD9, 0xF0], false),
    ("fabs", &[0xD9, 0xE1], false),
    ("fchs", &[0xD9, 0xE0], false),
    ("fxam", &[0xD9, 0xE5], false),
    ("ftst", &[0xD9, 0xE4], false),
    ("fsincos", &[0xD9, 0xFB], false),
    ("fptan", &[0xD9, 0xF2], false),
    ("fxtract", &[0xD9, 0xF4], false),
    ("fprem", &[0xD9, 0xF8], false),
    ("fprem1", &[0xD9, 0xF5], false),
    ("fscale", &[0xD9, 0xFD], false),
    ("fpatan", &[0xD9, 0xF3], false),
    ("fyl2x", &[0xD9, 0xF1], false),
    ("fyl2xp1", &[0xD9, 0xF9], false),
    ("fcom", &[0xD8, 0xD1], false),
    ("fucom", &[0xDD, 0xE1], false),
    ("fcomi", &[0xDB, 0xF1], false),
    ("fucomi", &[0xDB, 0xE9], false),
    ("fst32", &[0xD9, 0x1D], true),
    ("fst64", &[0xDD, 0x1D], true),
    ("fist16", &[0xDF, 0x1D], true),
    ("fist32", &[0xDB, 0x1D], true),
    ("fist64", &[0xDF, 0x3D], true),
    ("fbstp", &[0xDF, 0x35], true),
];

/// The transcendental kinds, whose results may be accepted within a bound.
pub const TRANSCENDENTAL: &[&str] = &[
    "fsin", "fcos", "fsincos", "fptan", "fpatan", "f2xm1", "fyl2x", "fyl2xp1",
];

/// Where the code of kind `k` starts.
const CODE: u32 = 0x10_0000;
const CODE_STRIDE: u32 = 0x40;
/// Operand A, operand B, control word, FNSAVE area and store destination.
const OP_A: u32 = 0x20_0000;
const OP_B: u32 = 0x20_0010;
const OP_CW: u32 = 0x20_0020;
const SAVE: u32 = 0x20_0100;
const OUT: u32 = 0x20_0200;
/// EFLAGS bits the file records for FCOMI/FUCOMI (OF, SF, ZF, AF, PF, CF).
const EFL_MASK: u32 = 0x8D5;

/// What a vector expects besides the status/tag words and registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extra {
    /// Nothing.
    None,
    /// EFLAGS after FCOMI/FUCOMI, masked with 8D5h.
    Eflags(u32),
    /// Memory written by a store (`len` bytes, little-endian in `bytes`).
    Mem {
        /// Bytes stored (2, 4, 8 or 10).
        len: usize,
        /// The bytes in memory order.
        bytes: [u8; 10],
    },
    /// The store wrote nothing (an unmasked exception suppressed it). The
    /// recording program's buffer then still held stale bytes of its own
    /// stack, not always 0, so such memory is not compared; the recorded
    /// status word (pending ES) is what shows the suppression.
    NotWritten,
}

/// One recorded instruction.
#[derive(Clone, Debug)]
pub struct Vector {
    /// Index into the kind table.
    pub kind: usize,
    /// Control word loaded before the instruction.
    pub cw: u16,
    /// ST(0) before.
    pub a: [u8; 10],
    /// ST(1) before.
    pub b: [u8; 10],
    /// Status word after.
    pub sw: u16,
    /// Full tag word after.
    pub tw: u16,
    /// ST(0) image after.
    pub st0: [u8; 10],
    /// ST(1) image after.
    pub st1: [u8; 10],
    /// Memory or EFLAGS.
    pub extra: Extra,
    /// The source line, for reports.
    pub line: String,
}

/// The result of running one vector, in the same terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Got {
    /// Status word.
    pub sw: u16,
    /// Tag word.
    pub tw: u16,
    /// ST(0) image.
    pub st0: [u8; 10],
    /// ST(1) image.
    pub st1: [u8; 10],
    /// Memory or EFLAGS in the form the vector expects.
    pub extra: Extra,
}

/// Name of kind `k`.
pub fn kind_name(k: usize) -> &'static str {
    KINDS[k].0
}

/// Number of kinds.
pub fn kind_count() -> usize {
    KINDS.len()
}

/// `EEEE_MMMMMMMMMMMMMMMM` as an m80 image.
fn parse_f80(s: &str) -> Option<[u8; 10]> {
    let (e, m) = s.split_once('_')?;
    let e = u16::from_str_radix(e, 16).ok()?;
    let m = u64::from_str_radix(m, 16).ok()?;
    let mut b = [0u8; 10];
    b[..8].copy_from_slice(&m.to_le_bytes());
    b[8..].copy_from_slice(&e.to_le_bytes());
    Some(b)
}

/// Formats an m80 image as in the file.
pub fn fmt_f80(b: &[u8; 10]) -> String {
    let m = u64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8]));
    let e = u16::from_le_bytes([b[8], b[9]]);
    format!("{e:04x}_{m:016x}")
}

fn parse_line(line: &str) -> Option<Vector> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 9 || f[4] != "->" {
        return None;
    }
    let kind = KINDS.iter().position(|k| k.0 == f[0])?;
    let hex16 = |s: &str| u16::from_str_radix(s, 16).ok();
    let extra = match f.get(9) {
        None => Extra::None,
        Some(x) => {
            let (k, v) = x.split_once('=')?;
            match k {
                "eflags" => Extra::Eflags(u32::from_str_radix(v, 16).ok()?),
                "m16" | "m32" | "m64" | "m80" => {
                    let len = v.len() / 2;
                    let mut bytes = [0u8; 10];
                    // Most significant byte first in the file.
                    for (i, byte) in bytes.iter_mut().take(len).enumerate() {
                        let j = len - 1 - i;
                        *byte = u8::from_str_radix(v.get(2 * j..2 * j + 2)?, 16).ok()?;
                    }
                    Extra::Mem { len, bytes }
                }
                _ => return None,
            }
        }
    };
    Some(Vector {
        kind,
        cw: hex16(f[1])?,
        a: parse_f80(f[2])?,
        b: parse_f80(f[3])?,
        sw: hex16(f[5])?,
        tw: hex16(f[6])?,
        st0: parse_f80(f[7])?,
        st1: parse_f80(f[8])?,
        extra,
        line: line.to_string(),
    })
}

/// Reads the gzipped vector file.
pub fn load(path: &Path) -> Result<Vec<Vector>, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::with_capacity(136_000);
    for (n, line) in BufReader::new(GzDecoder::new(f)).lines().enumerate() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let v = parse_line(&line)
            .ok_or_else(|| format!("{}:{}: cannot parse {line:?}", path.display(), n + 1))?;
        out.push(v);
    }
    Ok(out)
}

/// One CPU with the code of every kind in memory.
pub struct Rig {
    cpu: Cpu,
}

fn abs32(out: &mut Vec<u8>, op: &[u8], addr: u32) {
    out.extend_from_slice(op);
    out.extend_from_slice(&addr.to_le_bytes());
}

impl Rig {
    /// Builds the CPU (flat protected mode) and assembles every kind.
    pub fn new() -> Result<Rig, String> {
        let mut cpu = crate::native::flat_cpu(&[0xF4], CODE)?;
        for (k, &(_, insn, mem)) in KINDS.iter().enumerate() {
            let mut c = vec![0xDB, 0xE3]; // FNINIT
            abs32(&mut c, &[0xDB, 0x2D], OP_B); // FLD m80 B
            abs32(&mut c, &[0xDB, 0x2D], OP_A); // FLD m80 A
            abs32(&mut c, &[0xD9, 0x2D], OP_CW); // FLDCW
            if mem {
                abs32(&mut c, insn, OUT);
            } else {
                c.extend_from_slice(insn);
            }
            abs32(&mut c, &[0xDD, 0x35], SAVE); // FNSAVE (32-bit layout)
            c.push(0xF4); // HLT
            assert!(c.len() as u32 <= CODE_STRIDE);
            cpu.mem.write_bytes(CODE + k as u32 * CODE_STRIDE, &c);
        }
        cpu.invalidate_all();
        Ok(Rig { cpu })
    }

    /// Runs one vector. A store destination is prefilled with a sentinel
    /// (two different ones if the first is what got stored) to tell an
    /// unwritten destination from a written one.
    pub fn run(&mut self, v: &Vector) -> Result<Got, String> {
        let g = self.run_with(v, 0xA5)?;
        if let Extra::NotWritten = g.extra {
            return self.run_with(v, 0x5A);
        }
        Ok(g)
    }

    fn run_with(&mut self, v: &Vector, fill: u8) -> Result<Got, String> {
        let cpu = &mut self.cpu;
        cpu.mem.write_bytes(OP_A, &v.a);
        cpu.mem.write_bytes(OP_B, &v.b);
        cpu.mem.write_bytes(OP_CW, &v.cw.to_le_bytes());
        cpu.mem.write_bytes(SAVE, &[0u8; 108]);
        cpu.mem.write_bytes(OUT, &[fill; 16]);
        // The recorded images of registers that were never written read 0.
        cpu.fpu.regs = Default::default();
        cpu.write_flags(0x2, !0);
        let start = CODE + v.kind as u32 * CODE_STRIDE;
        cpu.state.eip = start;
        cpu.state.halted = false;
        let exit = cpu.run(&mut NullBus, 64);
        let at = cpu.state.eip.wrapping_sub(1);
        if !matches!(exit, Exit::Halted | Exit::HaltedNoWake)
            || !(start..start + CODE_STRIDE).contains(&at)
        {
            return Err(format!("did not reach the final HLT: {exit:?} at {at:#x}"));
        }
        let mut save = [0u8; 108];
        cpu.mem.read_bytes(SAVE, &mut save);
        let w16 = |o: usize| u16::from_le_bytes([save[o], save[o + 1]]);
        let img = |o: usize| -> [u8; 10] { save[o..o + 10].try_into().unwrap_or([0; 10]) };
        let extra = match v.extra {
            Extra::None | Extra::NotWritten => Extra::None,
            Extra::Eflags(_) => Extra::Eflags(cpu.state.flags() & EFL_MASK),
            Extra::Mem { len, .. } => {
                let mut bytes = [0u8; 10];
                cpu.mem.read_bytes(OUT, &mut bytes[..len]);
                if bytes[..len].iter().all(|&b| b == fill) {
                    Extra::NotWritten
                } else {
                    Extra::Mem { len, bytes }
                }
            }
        };
        Ok(Got {
            sw: w16(4),
            tw: w16(8),
            st0: img(28),
            st1: img(38),
            extra,
        })
    }
}

//! Runner for the hardware-captured 80286 real-mode vectors (SingleStepTests 80286,
//! see `shared/testdata/singlestep286/README.md`): loads a vector into a real-mode
//! [`Cpu`] over 16 MiB of RAM, runs to the HLT after the instruction and compares the
//! registers and the changed RAM bytes.
//!
//! # Where a 386 legitimately differs (skips and masks)
//!
//! | What | Treatment | Why |
//! |------|-----------|-----|
//! | FLAGS bits 12-15 | masked (registers and every pushed FLAGS image) | the 286 forces IOPL/NT to 0 in real mode |
//! | AF after AND/OR/XOR/TEST (08-0D, 20-25, 30-35, 80-83 /1 /4 /6, 84, 85, A8, A9, F6/F7 /0 /1) | masked | SDM: undefined |
//! | SF ZF AF PF after MUL/IMUL (F6/F7 /4 /5, 69, 6B) | masked | SDM: undefined |
//! | all six status flags after DIV/IDIV (F6/F7 /6 /7) | masked | SDM: undefined |
//! | OF AF CF after AAM/AAD (D4, D5); OF SF ZF PF after AAA/AAS (37, 3F); OF after DAA/DAS (27, 2F) | masked | SDM: undefined |
//! | shifts/rotates (C0, C1, D0-D3): OF when the masked count is not 1; AF after shifts (/4-/7) with a non-zero count; CF after SHL/SHR/SAL (/4 /5 /6) with count >= width | masked per vector | SDM: undefined |
//! | D8 (x87 escape) | skipped | the captured 286 had no coprocessor (the escape only computed its address); our P6 has an FPU that executes it |
//! | LOCK (F0) on an instruction a 386 does not allow it on | skipped per vector | #UD on a 386, ignored by a 286 |
//! | 8C/8E with reg 4-7, 8E with reg 1 (MOV CS) | skipped per vector | 4/5 are FS/GS on a 386; 6/7 and MOV CS are #UD; the 286 aliases them |
//! | 8F, C6, C7 with a non-zero reg field | skipped per vector | #UD on a 386 (C6/C7 /7 are XABORT/XBEGIN encodings), aliases on the 286 |
//! | instructions longer than 10 bytes (prefix runs) | skipped per vector | the 286 raises #GP at 10 bytes, the 386 at 15 |
//! | string instructions (6C-6F, A4-A7, AA-AF) that took interrupt 13 (word at offset FFFFh) | skipped per vector | the 286 has already stepped SI/DI (and CX) when it signals the overrun; a 386 faults before any update |
//! | segment overrun of an SS access (interrupt 13 on the 286) | IVT entry 12 is made equal to entry 13 | a 386 raises #SS (12) for stack-segment overruns, #GP (13) for the others; the pushed frame is the same |
//!
//! REP-prefixed string forms were captured with CX < 128, which is fine for us.

use flate2::read::GzDecoder;
use serde_json::Value;
use std::path::Path;
use tab86_cpu::state::{fl, sreg, Segment};
use tab86_cpu::{Cpu, CpuState, Exit, PhysMem};
use tab86_mmu::{Bus, InterruptController};

/// Register names in the order of [`Regs`].
pub const REG_NAMES: [&str; 14] = [
    "ax", "bx", "cx", "dx", "cs", "ss", "ds", "es", "sp", "bp", "si", "di", "ip", "flags",
];

/// The 14 registers of a vector, in [`REG_NAMES`] order.
pub type Regs = [u16; 14];

const CX: usize = 2;
const CS: usize = 4;
const SS: usize = 5;
const SP: usize = 8;
const IP: usize = 12;
const FLAGS: usize = 13;

/// FLAGS bits compared at all: 0-11 minus the reserved bits 3 and 5.
const FLAGS_COMPARED: u16 = 0x0FD7;

/// One test vector.
#[derive(Debug, Clone)]
pub struct Vector {
    /// Disassembly as captured.
    pub name: String,
    /// Instruction bytes followed by the HLT.
    pub bytes: Vec<u8>,
    /// Initial registers.
    pub init: Regs,
    /// Initial RAM bytes.
    pub init_ram: Vec<(u32, u8)>,
    /// Final registers that changed.
    pub fin: [Option<u16>; 14],
    /// Final RAM bytes that changed.
    pub fin_ram: Vec<(u32, u8)>,
    /// Exception taken: vector number and the address of the pushed FLAGS image.
    pub exception: Option<(u8, u32)>,
}

fn ram_list(v: &Value) -> Vec<(u32, u8)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        p[0].as_u64().unwrap_or(0) as u32,
                        p[1].as_u64().unwrap_or(0) as u8,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Reads one gzipped JSON file of vectors.
pub fn load_file(path: &Path) -> Result<Vec<Vector>, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let json: Value = serde_json::from_reader(std::io::BufReader::new(GzDecoder::new(f)))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let arr = json.as_array().ok_or("not an array")?;
    let mut out = Vec::with_capacity(arr.len());
    for v in arr {
        let mut init = [0u16; 14];
        let mut fin = [None; 14];
        for (i, n) in REG_NAMES.iter().enumerate() {
            init[i] = v["initial"]["regs"][n].as_u64().unwrap_or(0) as u16;
            fin[i] = v["final"]["regs"][n].as_u64().map(|x| x as u16);
        }
        let exception = v.get("exception").map(|e| {
            (
                e["number"].as_u64().unwrap_or(0) as u8,
                e["flag_address"].as_u64().unwrap_or(0) as u32,
            )
        });
        out.push(Vector {
            name: v["name"].as_str().unwrap_or("").to_string(),
            bytes: v["bytes"]
                .as_array()
                .map(|a| a.iter().map(|b| b.as_u64().unwrap_or(0) as u8).collect())
                .unwrap_or_default(),
            init,
            init_ram: ram_list(&v["initial"]["ram"]),
            fin,
            fin_ram: ram_list(&v["final"]["ram"]),
            exception,
        });
    }
    Ok(out)
}

/// Result of one vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Matched.
    Pass,
    /// Did not match; the text says where.
    Fail(String),
    /// Not comparable on a 386; the reason is from the table above.
    Skip(&'static str),
}

/// Start of the legacy VGA window, which `PhysMem` leaves to the bus.
const HOLE: u32 = 0xA0000;
const HOLE_LEN: u32 = 0x20000;

/// A bus whose I/O reads float high (as in the captures) and which backs the
/// A0000-BFFFF hole with plain memory so vectors can use it as RAM.
pub struct VectorBus {
    hole: Vec<u8>,
}

impl InterruptController for VectorBus {
    fn intr_pending(&mut self) -> bool {
        false
    }
    fn intr_ack(&mut self) -> u8 {
        0
    }
}

impl Bus for VectorBus {
    fn io_read(&mut self, _port: u16, size: u8) -> u32 {
        match size {
            1 => 0xFF,
            2 => 0xFFFF,
            _ => 0xFFFF_FFFF,
        }
    }
    fn io_write(&mut self, _port: u16, _size: u8, _value: u32) {}
    fn mmio_read(&mut self, addr: u32, size: u8) -> u32 {
        let mut v = 0;
        for i in 0..size as u32 {
            let a = addr.wrapping_add(i).wrapping_sub(HOLE);
            let b = self.hole.get(a as usize).copied().unwrap_or(0xFF);
            v |= (b as u32) << (8 * i);
        }
        v
    }
    fn mmio_write(&mut self, addr: u32, size: u8, value: u32) {
        for i in 0..size as u32 {
            let a = addr.wrapping_add(i).wrapping_sub(HOLE) as usize;
            if let Some(b) = self.hole.get_mut(a) {
                *b = (value >> (8 * i)) as u8;
            }
        }
    }
}

/// Flags the SDM leaves undefined for the instruction of file `key` (a mask of FLAGS
/// bits not to compare), before the per-vector shift rules.
fn undefined_flags(key: &str) -> u16 {
    let (of, sf, zf, af, pf, cf) = (
        fl::OF as u16,
        fl::SF as u16,
        fl::ZF as u16,
        fl::AF as u16,
        fl::PF as u16,
        fl::CF as u16,
    );
    match key {
        "08" | "09" | "0A" | "0B" | "0C" | "0D" | "20" | "21" | "22" | "23" | "24" | "25"
        | "30" | "31" | "32" | "33" | "34" | "35" | "84" | "85" | "A8" | "A9" => af,
        "F6.0" | "F6.1" | "F7.0" | "F7.1" => af,
        k if k.len() == 4
            && matches!(&k[..2], "80" | "81" | "82" | "83")
            && matches!(&k[3..], "1" | "4" | "6") =>
        {
            af
        }
        "F6.4" | "F6.5" | "F7.4" | "F7.5" | "69" | "6B" => sf | zf | af | pf,
        "F6.6" | "F6.7" | "F7.6" | "F7.7" => of | sf | zf | af | pf | cf,
        "D4" | "D5" => of | af | cf,
        "37" | "3F" => of | sf | zf | pf,
        "27" | "2F" => of,
        _ => 0,
    }
}

/// Index of the opcode byte after any prefixes.
fn opcode_index(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|b| !matches!(b, 0x26 | 0x2E | 0x36 | 0x3E | 0xF0 | 0xF2 | 0xF3))
        .unwrap_or(0)
}

/// The per-vector undefined-flag rules of the shift/rotate group.
fn shift_undefined(key: &str, v: &Vector) -> u16 {
    let op = &key[..2];
    if !matches!(op, "C0" | "C1" | "D0" | "D1" | "D2" | "D3") || key.len() < 4 {
        return 0;
    }
    let sub: u8 = key[3..].parse().unwrap_or(0);
    let count = match op {
        "D0" | "D1" => 1,
        "D2" | "D3" => v.init[CX] & 0x1F,
        _ => v.bytes[v.bytes.len().saturating_sub(2)] as u16 & 0x1F,
    };
    let width = if matches!(op, "C0" | "D0" | "D2") {
        8
    } else {
        16
    };
    let mut m = 0;
    if count == 0 {
        return 0;
    }
    if count != 1 {
        m |= fl::OF as u16;
    }
    if sub >= 4 {
        m |= fl::AF as u16;
        if sub != 7 && count >= width {
            m |= fl::CF as u16;
        }
    }
    m
}

/// Whether a vector is skipped, and why (see the table in the module docs).
fn skip_reason(key: &str, v: &Vector) -> Option<&'static str> {
    let op = &key[..2];
    if op == "D8" {
        return Some("x87 escape: the 286 had no coprocessor");
    }
    if v.bytes.len() > 11 {
        return Some("longer than 10 bytes: #GP on the 286, valid on a 386");
    }
    let i = opcode_index(&v.bytes);
    let string_op = matches!(
        v.bytes.get(i),
        Some(0x6C..=0x6F | 0xA4..=0xA7 | 0xAA..=0xAF)
    );
    if string_op && v.exception.map(|e| e.0) == Some(13) {
        return Some("string op overrun: the 286 steps SI/DI before interrupt 13");
    }
    let modrm_reg = v.bytes.get(i + 1).map(|m| m >> 3 & 7).unwrap_or(0);
    if (op == "8C" || op == "8E") && (modrm_reg >= 4 || (op == "8E" && modrm_reg == 1)) {
        return Some("segment register 4-7 / MOV CS: FS/GS or #UD on a 386");
    }
    if matches!(op, "8F" | "C6" | "C7") && modrm_reg != 0 && v.exception.map(|e| e.0) != Some(6) {
        return Some("non-zero reg field: #UD on a 386, alias on the 286");
    }
    if v.bytes[..i].contains(&0xF0) && v.exception.map(|e| e.0) != Some(6) {
        let mut d = iced_x86::Decoder::new(16, &v.bytes, iced_x86::DecoderOptions::NONE);
        if d.decode().is_invalid() {
            return Some("LOCK on a non-lockable instruction: #UD on a 386");
        }
    }
    None
}

/// A reusable real-mode CPU for running vectors.
pub struct Rig {
    cpu: Cpu,
    bus: VectorBus,
    dirty: Vec<u32>,
}

impl Default for Rig {
    fn default() -> Self {
        Self::new()
    }
}

impl Rig {
    /// A CPU over 16 MiB of RAM with A20 enabled.
    pub fn new() -> Self {
        let mut mem = PhysMem::new(16 << 20);
        mem.set_a20(true);
        Rig {
            cpu: Cpu::new(mem),
            bus: VectorBus {
                hole: vec![0; HOLE_LEN as usize],
            },
            dirty: Vec::new(),
        }
    }

    fn poke(&mut self, addr: u32, b: u8) {
        if (HOLE..HOLE + HOLE_LEN).contains(&addr) {
            self.bus.hole[(addr - HOLE) as usize] = b;
        } else {
            self.cpu.mem.write_bytes(addr, &[b]);
        }
    }

    fn peek(&self, addr: u32) -> u8 {
        if (HOLE..HOLE + HOLE_LEN).contains(&addr) {
            self.bus.hole[(addr - HOLE) as usize]
        } else {
            let mut b = [0];
            self.cpu.mem.read_bytes(addr, &mut b);
            b[0]
        }
    }

    /// Runs vector `v` of file `key` (e.g. `"F6.6"`) and compares the outcome.
    pub fn run(&mut self, key: &str, v: &Vector) -> Outcome {
        if let Some(r) = skip_reason(key, v) {
            return Outcome::Skip(r);
        }
        for a in std::mem::take(&mut self.dirty) {
            self.poke(a, 0);
        }
        for &(a, b) in &v.init_ram {
            self.poke(a, b);
            self.dirty.push(a);
        }
        if v.exception.map(|e| e.0) == Some(13)
            && !v.init_ram.iter().any(|p| (48..52).contains(&p.0))
        {
            // Stack-segment overruns are #SS on a 386: route them to the same handler.
            for k in 0..4 {
                let b = self.peek(52 + k);
                self.poke(48 + k, b);
                self.dirty.push(48 + k);
            }
        }
        self.dirty.extend(v.fin_ram.iter().map(|p| p.0));
        let cpu = &mut self.cpu;
        cpu.state = CpuState::reset();
        let r = &v.init;
        // EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI from ax, cx, dx, bx, sp, bp, si, di.
        let gpr_src = [0usize, 2, 3, 1, 8, 9, 10, 11];
        for (n, &i) in gpr_src.iter().enumerate() {
            cpu.state.gpr[n] = r[i] as u32;
        }
        for (s, i) in [(sreg::SS, 5), (sreg::DS, 6), (sreg::ES, 7)] {
            cpu.state.seg[s] = Segment::real(r[i]);
        }
        cpu.set_cs_real(r[CS]);
        cpu.state.eip = r[IP] as u32;
        cpu.state.eflags = (r[FLAGS] & FLAGS_COMPARED) as u32 | fl::FIXED;
        cpu.state.idtr.base = 0;
        cpu.state.idtr.limit = 0x3FF;
        cpu.invalidate_all();
        let mut halted = false;
        for _ in 0..8 {
            match cpu.run(&mut self.bus, 64) {
                Exit::Halted | Exit::HaltedNoWake => {
                    halted = true;
                    break;
                }
                Exit::TripleFault => return Outcome::Fail("triple fault".into()),
                Exit::Budget => {}
            }
        }
        if !halted {
            return Outcome::Fail("did not reach the HLT".into());
        }
        let undef = undefined_flags(key) | shift_undefined(key, v);
        let fmask = FLAGS_COMPARED & !undef;
        let s = &self.cpu.state;
        let got: Regs = [
            s.gpr[0] as u16,
            s.gpr[3] as u16,
            s.gpr[1] as u16,
            s.gpr[2] as u16,
            s.seg[sreg::CS].selector,
            s.seg[sreg::SS].selector,
            s.seg[sreg::DS].selector,
            s.seg[sreg::ES].selector,
            s.gpr[4] as u16,
            s.gpr[5] as u16,
            s.gpr[6] as u16,
            s.gpr[7] as u16,
            s.eip as u16,
            s.flags() as u16,
        ];
        let mut errs = Vec::new();
        for i in 0..14 {
            let want = v.fin[i].unwrap_or(v.init[i]);
            let (w, g) = if i == FLAGS {
                (want & fmask, got[i] & fmask)
            } else {
                (want, got[i])
            };
            if w != g {
                errs.push(format!("{}={:04X} want {:04X}", REG_NAMES[i], g, w));
            }
        }
        // FLAGS images pushed on the stack: by an exception/INT, or by PUSHF.
        let mut images = Vec::new();
        if let Some((_, fa)) = v.exception {
            images.push(fa);
            // The capture's flag_address is word-aligned; with an odd SP the FLAGS word
            // really lands at SS:(SP-2), so mask that image too.
            let sp = v.init[SP].wrapping_sub(2);
            images.push(((v.init[SS] as u32) << 4) + sp as u32);
        }
        if &key[..2] == "9C" {
            let sp = v.init[SP].wrapping_sub(2);
            images.push(((v.init[SS] as u32) << 4) + sp as u32);
        }
        for &(a, want) in &v.fin_ram {
            let got = self.peek(a);
            let m = if images.contains(&a) {
                fmask as u8
            } else if images.iter().any(|&f| f + 1 == a) {
                (fmask >> 8) as u8
            } else {
                0xFF
            };
            if got & m != want & m {
                errs.push(format!("[{a:06X}]={got:02X} want {want:02X}"));
            }
        }
        if errs.is_empty() {
            Outcome::Pass
        } else {
            Outcome::Fail(errs.join(" "))
        }
    }
}

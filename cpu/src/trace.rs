//! Execution tracing for debugging a boot: one line per executed instruction
//! (address, disassembly, registers) and one per interrupt or exception delivered.
//!
//! Tracing is off unless [`Cpu::trace`] is set; `Cpu::run` checks that once per
//! call and runs a separately compiled copy of the run loop with the hooks, so the
//! untraced loop carries no per-instruction test.

use crate::decode::{Block, Op};
use crate::interrupt::IntKind;
use crate::state::sreg;
use crate::Cpu;
use iced_x86::{Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter};
use std::io::Write;
use tab86_mmu::{Bus, Region, Tlb};

/// What to trace and where the lines go.
pub struct Trace {
    /// One line per executed instruction:
    /// `I <icount> <cs>:<eip> <linear> <disassembly> | eax=.. ecx=.. .. fl=..`.
    pub insn: bool,
    /// One line per external or software interrupt delivered:
    /// `INT <icount> vec=<v> hw|soft at <cs>:<eip> cpl=<n>`.
    pub int: bool,
    /// One line per exception delivered:
    /// `EXC <icount> vec=<v> err=<code|-> at <cs>:<eip> cpl=<n> cr2=<cr2>`
    /// (a fault counts as one retired instruction, so `icount` includes it).
    pub exc: bool,
    /// Nothing is written before this many instructions have retired.
    pub start: u64,
    /// The destination; write errors drop lines rather than stop the guest.
    pub out: Box<dyn Write>,
    fmt: IntelFormatter,
    text: String,
}

impl Trace {
    /// A trace of the selected kinds into `out`, starting at instruction `start`.
    pub fn new(insn: bool, int: bool, exc: bool, start: u64, out: Box<dyn Write>) -> Self {
        Trace {
            insn,
            int,
            exc,
            start,
            out,
            fmt: IntelFormatter::new(),
            text: String::new(),
        }
    }
}

impl Cpu {
    /// Writes the trace line of `op`, about to execute at CS:EIP; `block` is the
    /// block it belongs to, entered at `entry_eip`.
    #[inline(never)]
    pub(crate) fn trace_insn(&mut self, bus: &mut dyn Bus, block: &Block, entry_eip: u32, op: &Op) {
        let s = &self.state;
        let Some(t) = self.trace.as_deref_mut() else {
            return;
        };
        if !t.insn || s.icount < t.start {
            return;
        }
        let eip = s.eip;
        let cs = &s.seg[sreg::CS];
        let lin = cs.base.wrapping_add(eip);
        // The bytes come from the frame the block was decoded from; the tail of an
        // instruction that crosses into the next page from that page's TLB entry.
        let mut bytes = [0u8; 15];
        let len = (op.len as usize).min(15);
        let phys = block.phys.wrapping_add(eip.wrapping_sub(entry_eip));
        let mut have = 0;
        for (i, b) in bytes[..len].iter_mut().enumerate() {
            let l = lin.wrapping_add(i as u32);
            let p = if l & !0xFFF == lin & !0xFFF {
                Some(phys.wrapping_add(i as u32))
            } else {
                let e = self.tlb.entries()[Tlb::index(l)];
                (e.tag & Tlb::VALID != 0 && e.tag & !0xFFF == l & !0xFFF)
                    .then_some(e.frame | (l & 0xFFF))
            };
            match p {
                Some(p) if !matches!(self.mem.region(p), Region::Mmio) => {
                    *b = self.mem.read(p, 1, bus) as u8;
                    have += 1;
                }
                _ => break,
            }
        }
        t.text.clear();
        let bitness = if cs.big() { 32 } else { 16 };
        let mut d = Decoder::with_ip(bitness, &bytes[..have], eip as u64, DecoderOptions::NONE);
        let mut ins = Instruction::default();
        d.decode_out(&mut ins);
        if ins.is_invalid() || ins.len() != len {
            t.text.push_str("(undecodable)");
        } else {
            t.fmt.format(&ins, &mut t.text);
        }
        let g = &s.gpr;
        let _ = writeln!(
            t.out,
            "I {} {:04x}:{:08x} {:08x} {:<40} | eax={:08x} ecx={:08x} edx={:08x} ebx={:08x} esp={:08x} ebp={:08x} esi={:08x} edi={:08x} fl={:08x}",
            s.icount,
            cs.selector,
            eip,
            lin,
            t.text,
            g[0],
            g[1],
            g[2],
            g[3],
            g[4],
            g[5],
            g[6],
            g[7],
            s.flags()
        );
    }

    /// Writes the trace line of an interrupt or exception about to be delivered.
    #[inline(never)]
    pub(crate) fn trace_int(&mut self, vector: u8, kind: IntKind, code: Option<u32>) {
        let s = &self.state;
        let Some(t) = self.trace.as_deref_mut() else {
            return;
        };
        if s.icount < t.start {
            return;
        }
        let at = (s.seg[sreg::CS].selector, s.eip, s.cpl);
        let _ = match kind {
            IntKind::Exception if t.exc => {
                let err = match code {
                    Some(c) => format!("{c:04x}"),
                    None => "-".into(),
                };
                writeln!(
                    t.out,
                    "EXC {} vec={:02x} err={} at {:04x}:{:08x} cpl={} cr2={:08x}",
                    s.icount, vector, err, at.0, at.1, at.2, s.cr2
                )
            }
            IntKind::Hardware if t.int => writeln!(
                t.out,
                "INT {} vec={:02x} hw at {:04x}:{:08x} cpl={}",
                s.icount, vector, at.0, at.1, at.2
            ),
            IntKind::Software | IntKind::SoftException if t.int => writeln!(
                t.out,
                "INT {} vec={:02x} soft at {:04x}:{:08x} cpl={}",
                s.icount, vector, at.0, at.1, at.2
            ),
            _ => Ok(()),
        };
    }
}

//! String instructions: MOVS, CMPS, SCAS, LODS, STOS, INS and OUTS with the REP,
//! REPE and REPNE prefixes, SI/DI/CX or ESI/EDI/ECX by address size.
//!
//! A REP form runs at most [`CHUNK`] iterations per execution and then re-executes
//! itself (`next_eip = eip`), so interrupts are taken between chunks. ECX, ESI and
//! EDI are committed after every iteration: a fault mid-way leaves them describing
//! the remaining work with EIP at the instruction, as on hardware. REP MOVS and
//! REP STOS copy whole runs inside one RAM page straight through the TLB.

use super::size_code;
use crate::decode::{prefix, Handler, Op};
use crate::fault::Result;
use crate::flags::lf;
use crate::mem::Priv;
use crate::state::{fl, reg, sreg, Segment};
use crate::Cpu;
use iced_x86::Code as C;
use tab86_mmu::Bus;

const MOVS: u8 = 0;
const CMPS: u8 = 1;
const SCAS: u8 = 2;
const LODS: u8 = 3;
const STOS: u8 = 4;
const INS: u8 = 5;
const OUTS: u8 = 6;

/// Most iterations one execution of a REP form performs before yielding.
pub const CHUNK: u32 = 4096;

/// SI/DI (16-bit addressing) or ESI/EDI.
#[inline(always)]
fn index(cpu: &Cpu, r: usize, a16: bool) -> u32 {
    let v = cpu.state.gpr[r];
    if a16 {
        v & 0xFFFF
    } else {
        v
    }
}

/// Adds `d` to SI/DI (wrapping within 16 bits, upper half kept) or ESI/EDI.
#[inline(always)]
fn advance(cpu: &mut Cpu, r: usize, a16: bool, d: u32) {
    let g = &mut cpu.state.gpr[r];
    *g = if a16 {
        (*g & 0xFFFF_0000) | (g.wrapping_add(d) & 0xFFFF)
    } else {
        g.wrapping_add(d)
    };
}

/// The per-element step: +S, or -S when EFLAGS.DF is set.
#[inline(always)]
fn step<const S: u32>(cpu: &Cpu) -> u32 {
    if cpu.state.eflags & fl::DF != 0 {
        S.wrapping_neg()
    } else {
        S
    }
}

/// One iteration of string operation K on S-byte elements. Registers change only
/// after the last access that can fault.
#[inline(always)]
fn once<const K: u8, const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let a16 = op.addr16;
    let d = step::<S>(cpu);
    let src = op.seg as usize;
    match K {
        MOVS => {
            let v = cpu.read_sz(bus, src, index(cpu, reg::ESI, a16), S)?;
            cpu.write_sz(bus, sreg::ES, index(cpu, reg::EDI, a16), S, v)?;
            advance(cpu, reg::ESI, a16, d);
            advance(cpu, reg::EDI, a16, d);
        }
        CMPS => {
            let a = cpu.read_sz(bus, src, index(cpu, reg::ESI, a16), S)?;
            let b = cpu.read_sz(bus, sreg::ES, index(cpu, reg::EDI, a16), S)?;
            cpu.state
                .set_lazy(lf::SUB | size_code(S), a, b, a.wrapping_sub(b));
            advance(cpu, reg::ESI, a16, d);
            advance(cpu, reg::EDI, a16, d);
        }
        SCAS => {
            let a = cpu.reg(0, S);
            let b = cpu.read_sz(bus, sreg::ES, index(cpu, reg::EDI, a16), S)?;
            cpu.state
                .set_lazy(lf::SUB | size_code(S), a, b, a.wrapping_sub(b));
            advance(cpu, reg::EDI, a16, d);
        }
        LODS => {
            let v = cpu.read_sz(bus, src, index(cpu, reg::ESI, a16), S)?;
            cpu.set_reg(0, S, v);
            advance(cpu, reg::ESI, a16, d);
        }
        STOS => {
            let v = cpu.reg(0, S);
            cpu.write_sz(bus, sreg::ES, index(cpu, reg::EDI, a16), S, v)?;
            advance(cpu, reg::EDI, a16, d);
        }
        INS => {
            // Permission, then the destination is checked before the port is read,
            // so a faulting INS has no I/O side effect.
            let port = cpu.state.gpr[reg::EDX] as u16;
            cpu.check_io(bus, port, S)?;
            let off = index(cpu, reg::EDI, a16);
            let lin = cpu.seg_addr(sreg::ES, off, S, Segment::WRITE)?;
            cpu.probe_write(bus, lin, S, Priv::Cpl)?;
            let v = bus.io_read(port, S as u8);
            cpu.write_lin(bus, lin, S, v, Priv::Cpl)?;
            cpu.stop = true;
            advance(cpu, reg::EDI, a16, d);
        }
        _ => {
            let port = cpu.state.gpr[reg::EDX] as u16;
            cpu.check_io(bus, port, S)?;
            let v = cpu.read_sz(bus, src, index(cpu, reg::ESI, a16), S)?;
            bus.io_write(port, S as u8, v);
            cpu.stop = true;
            advance(cpu, reg::ESI, a16, d);
        }
    }
    Ok(())
}

/// A run of up to `max` elements starting at offset `off` of `seg` that stays inside
/// one offset range without wrapping, inside the segment, and inside one linear page.
/// Returns the element count and the lowest linear address of the run.
fn run_span<const S: u32>(
    cpu: &Cpu,
    seg: usize,
    off: u32,
    a16: bool,
    back: bool,
    max: u32,
    need: u16,
) -> Option<(u32, u32)> {
    let lin = cpu.state.seg[seg].base.wrapping_add(off);
    let in_page = lin & 0xFFF;
    if in_page + S > 0x1000 {
        return None;
    }
    let (page_room, off_room) = if back {
        (in_page / S + 1, off / S + 1)
    } else {
        let top: u64 = if a16 { 0x1_0000 } else { 1 << 32 };
        (
            (0x1000 - in_page) / S,
            ((top - off as u64) / S as u64) as u32,
        )
    };
    let n = max.min(page_room).min(off_room);
    if n == 0 {
        return None;
    }
    let low = if back { off - (n - 1) * S } else { off };
    let low_lin = cpu.seg_addr(seg, low, n * S, need).ok()?;
    Some((n, low_lin))
}

/// The fast path of REP MOVS / REP STOS: up to `max` elements that lie in one RAM page
/// on each side and pass every check without a walk. Returns the number done (0 when
/// the slow path must take the next element, which then faults or fills the TLB).
fn fast<const K: u8, const S: u32>(cpu: &mut Cpu, op: &Op, max: u32) -> u32 {
    let a16 = op.addr16;
    let back = cpu.state.eflags & fl::DF != 0;
    let di = index(cpu, reg::EDI, a16);
    let Some((mut n, _)) = run_span::<S>(cpu, sreg::ES, di, a16, back, max, Segment::WRITE) else {
        return 0;
    };
    let mut src_low = 0;
    if K == MOVS {
        let si = index(cpu, reg::ESI, a16);
        let src = op.seg as usize;
        let Some((ns, _)) = run_span::<S>(cpu, src, si, a16, back, n, Segment::READ) else {
            return 0;
        };
        n = ns;
        let low = if back { si - (n - 1) * S } else { si };
        let lin = cpu.state.seg[src].base.wrapping_add(low);
        let m = cpu.masks;
        let Some(frame) = cpu.tlb.lookup(lin, m.rmask, m.rwant) else {
            return 0;
        };
        src_low = (frame | (lin & 0xFFF)) as usize;
    }
    let low = if back { di - (n - 1) * S } else { di };
    let lin = cpu.state.seg[sreg::ES].base.wrapping_add(low);
    let m = cpu.masks;
    let Some(frame) = cpu.tlb.lookup(lin, m.wmask, m.wwant) else {
        return 0;
    };
    let dst_low = (frame | (lin & 0xFFF)) as usize;
    let len = (n * S) as usize;
    let ram = cpu.mem.ram_mut();
    if K == MOVS {
        let overlap = dst_low < src_low + len && src_low < dst_low + len;
        let hazard = overlap
            && if back {
                dst_low < src_low
            } else {
                dst_low > src_low
            };
        if hazard {
            // Element order matters (e.g. a byte copy to src+1 replicates the byte).
            let s = S as usize;
            for i in 0..n as usize {
                let k = if back { n as usize - 1 - i } else { i };
                ram.copy_within(src_low + k * s..src_low + k * s + s, dst_low + k * s);
            }
        } else {
            ram.copy_within(src_low..src_low + len, dst_low);
        }
    } else {
        let v = cpu.state.gpr[reg::EAX].to_le_bytes();
        for chunk in ram[dst_low..dst_low + len].chunks_exact_mut(S as usize) {
            chunk.copy_from_slice(&v[..S as usize]);
        }
    }
    cpu.mem.note_write(dst_low as u32, len as u32);
    let total = if back { (n * S).wrapping_neg() } else { n * S };
    advance(cpu, reg::EDI, a16, total);
    if K == MOVS {
        advance(cpu, reg::ESI, a16, total);
    }
    n
}

/// String instruction K on S-byte elements, with or without a repeat prefix.
fn string<const K: u8, const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    if op.prefix & (prefix::REP | prefix::REPNE) == 0 {
        return once::<K, S>(cpu, bus, op);
    }
    let a16 = op.addr16;
    let mut left = index(cpu, reg::ECX, a16);
    if left == 0 {
        return Ok(());
    }
    // Under TF every iteration traps, so run one per execution.
    let mut budget = if cpu.state.eflags & fl::TF != 0 {
        1
    } else {
        CHUNK
    };
    // F3 is REPE for CMPS/SCAS; F2 is REPNE (and plain REP for the others).
    let repne = op.prefix & prefix::REP == 0;
    loop {
        let mut n = 0;
        if K == MOVS || K == STOS {
            n = fast::<K, S>(cpu, op, left.min(budget));
        }
        if n == 0 {
            once::<K, S>(cpu, bus, op)?;
            n = 1;
        }
        left -= n;
        if a16 {
            cpu.state.set_r16(reg::ECX as u8, left as u16);
        } else {
            cpu.state.gpr[reg::ECX] = left;
        }
        if left == 0 {
            return Ok(());
        }
        if (K == CMPS || K == SCAS) && cpu.state.zf() == repne {
            return Ok(());
        }
        budget -= n;
        if budget == 0 {
            cpu.next_eip = cpu.state.eip;
            return Ok(());
        }
    }
}

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    Some(match code {
        C::Movsb_m8_m8 => string::<MOVS, 1>,
        C::Movsw_m16_m16 => string::<MOVS, 2>,
        C::Movsd_m32_m32 => string::<MOVS, 4>,
        C::Cmpsb_m8_m8 => string::<CMPS, 1>,
        C::Cmpsw_m16_m16 => string::<CMPS, 2>,
        C::Cmpsd_m32_m32 => string::<CMPS, 4>,
        C::Scasb_AL_m8 => string::<SCAS, 1>,
        C::Scasw_AX_m16 => string::<SCAS, 2>,
        C::Scasd_EAX_m32 => string::<SCAS, 4>,
        C::Lodsb_AL_m8 => string::<LODS, 1>,
        C::Lodsw_AX_m16 => string::<LODS, 2>,
        C::Lodsd_EAX_m32 => string::<LODS, 4>,
        C::Stosb_m8_AL => string::<STOS, 1>,
        C::Stosw_m16_AX => string::<STOS, 2>,
        C::Stosd_m32_EAX => string::<STOS, 4>,
        C::Insb_m8_DX => string::<INS, 1>,
        C::Insw_m16_DX => string::<INS, 2>,
        C::Insd_m32_DX => string::<INS, 4>,
        C::Outsb_DX_m8 => string::<OUTS, 1>,
        C::Outsw_DX_m16 => string::<OUTS, 2>,
        C::Outsd_DX_m32 => string::<OUTS, 4>,
        _ => return None,
    })
}

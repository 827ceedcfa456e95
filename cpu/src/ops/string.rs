//! String instructions: MOVS, CMPS, SCAS, LODS, STOS, INS and OUTS with the REP,
//! REPE and REPNE prefixes, SI/DI/CX or ESI/EDI/ECX by address size.
//!
//! A REP form runs at most [`CHUNK`] iterations per execution and then re-executes
//! itself (`next_eip = eip`) after ending the block, so pending interrupts are
//! polled between chunks and the iterations count against the slice budget. ECX, ESI and
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
    let chunk = if cpu.state.eflags & fl::TF != 0 {
        1
    } else {
        CHUNK
    };
    let mut budget = chunk;
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
        if cpu.data_bp_hit != 0 {
            // A data breakpoint traps after the iteration that hit, with EIP at
            // the instruction and the registers counting what is left.
            cpu.next_eip = cpu.state.eip;
            return Ok(());
        }
        budget -= n;
        if budget == 0 {
            // Yield at an iteration boundary: the block ends (INTR is polled), and
            // the run loop charges the iterations beyond this one instruction.
            cpu.next_eip = cpu.state.eip;
            cpu.stop = true;
            cpu.rep_extra += u64::from(chunk) - 1;
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

#[cfg(test)]
mod tests {
    use crate::state::{fl, reg};
    use crate::{Cpu, Exit, NullBus, PhysMem};

    /// A real-mode CPU at 0000:7C00 running `code`; IVT entry 13 points at a HLT at 0x9000.
    fn cpu_with(code: &[u8]) -> Cpu {
        let mut mem = PhysMem::new(1 << 20);
        mem.write_bytes(0x7C00, code);
        mem.write_bytes(13 * 4, &[0x00, 0x90, 0x00, 0x00]);
        mem.write_bytes(0x9000, &[0xF4]);
        let mut cpu = Cpu::new(mem);
        cpu.set_cs_real(0);
        cpu.state.eip = 0x7C00;
        cpu.state.gpr[reg::ESP] = 0x7000;
        cpu
    }

    fn run(cpu: &mut Cpu) {
        assert_eq!(cpu.run(&mut NullBus, 10_000), Exit::HaltedNoWake);
    }

    fn bytes(cpu: &Cpu, at: u32, n: usize) -> Vec<u8> {
        let mut b = vec![0; n];
        cpu.mem.read_bytes(at, &mut b);
        b
    }

    #[test]
    fn rep_with_zero_count_does_nothing() {
        // rep movsb; hlt
        let mut cpu = cpu_with(&[0xF3, 0xA4, 0xF4]);
        cpu.state.gpr[reg::ESI] = 0x1000;
        cpu.state.gpr[reg::EDI] = 0x2000;
        cpu.mem.write_bytes(0x1000, &[7]);
        run(&mut cpu);
        assert_eq!(cpu.state.gpr[reg::ESI], 0x1000);
        assert_eq!(cpu.state.gpr[reg::EDI], 0x2000);
        assert_eq!(bytes(&cpu, 0x2000, 1), [0]);
    }

    #[test]
    fn overlapping_forward_byte_copy_replicates() {
        // rep movsb with DI = SI + 1 propagates the first byte (not a memmove).
        let mut cpu = cpu_with(&[0xF3, 0xA4, 0xF4]);
        cpu.mem.write_bytes(0x1000, &[0xAA, 1, 2, 3, 4, 5, 6, 7, 8]);
        cpu.state.gpr[reg::ESI] = 0x1000;
        cpu.state.gpr[reg::EDI] = 0x1001;
        cpu.state.gpr[reg::ECX] = 8;
        run(&mut cpu);
        assert_eq!(bytes(&cpu, 0x1000, 9), [0xAA; 9]);
        assert_eq!(cpu.state.gpr[reg::ECX], 0);
        assert_eq!(cpu.state.gpr[reg::ESI], 0x1008);
    }

    #[test]
    fn backward_word_copy_with_df() {
        // std; rep movsw copies from the top down, so an upward overlap is a memmove.
        let mut cpu = cpu_with(&[0xFD, 0xF3, 0xA5, 0xF4]);
        cpu.mem.write_bytes(0x1000, &[1, 2, 3, 4, 5, 6]);
        cpu.state.gpr[reg::ESI] = 0x1004;
        cpu.state.gpr[reg::EDI] = 0x1006;
        cpu.state.gpr[reg::ECX] = 3;
        run(&mut cpu);
        assert_eq!(bytes(&cpu, 0x1000, 8), [1, 2, 1, 2, 3, 4, 5, 6]);
        assert_eq!(cpu.state.gpr[reg::ESI], 0x0FFE);
        assert_eq!(cpu.state.gpr[reg::EDI], 0x1000);
        assert_ne!(cpu.state.eflags & fl::DF, 0);
    }

    #[test]
    fn si_di_wrap_at_64k_with_16_bit_addressing() {
        // ds: movsb at SI=FFFF copies one byte and wraps SI to 0, keeping ESI's top half.
        let mut cpu = cpu_with(&[0xA4, 0xF4]);
        cpu.state.gpr[reg::ESI] = 0x1234_FFFF;
        cpu.state.gpr[reg::EDI] = 0x10;
        cpu.mem.write_bytes(0xFFFF, &[0x5A]);
        run(&mut cpu);
        assert_eq!(cpu.state.gpr[reg::ESI], 0x1234_0000);
        assert_eq!(bytes(&cpu, 0x10, 1), [0x5A]);
    }

    #[test]
    fn fault_mid_rep_leaves_consistent_registers() {
        // a32 rep movsb (67 F3 A4) with EDI running past the 64 KiB real-mode limit:
        // the fifth byte raises #GP with ECX/ESI/EDI describing the remaining work.
        let mut cpu = cpu_with(&[0x67, 0xF3, 0xA4, 0xF4]);
        cpu.mem
            .write_bytes(0x1000, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        cpu.state.gpr[reg::ESI] = 0x1000;
        cpu.state.gpr[reg::EDI] = 0xFFFC;
        cpu.state.gpr[reg::ECX] = 10;
        run(&mut cpu);
        assert_eq!(cpu.state.gpr[reg::ECX], 6);
        assert_eq!(cpu.state.gpr[reg::ESI], 0x1004);
        assert_eq!(cpu.state.gpr[reg::EDI], 0x1_0000);
        assert_eq!(bytes(&cpu, 0xFFFC, 4), [1, 2, 3, 4]);
        // The pushed return address is the REP instruction itself (a fault).
        assert_eq!(bytes(&cpu, 0x7000 - 6, 2), [0x00, 0x7C]);
    }

    #[test]
    fn long_rep_uses_up_the_budget_by_iterations() {
        // a32 rep lodsd with ECX = 2^32 - 1: a run of 3 * CHUNK instructions ends
        // after 3 chunks, charged as 3 * CHUNK instructions, with ECX and ESI in step.
        let mut cpu = cpu_with(&[0x67, 0x66, 0xF3, 0xAD, 0xF4]);
        cpu.state.gpr[reg::ECX] = u32::MAX;
        let t0 = cpu.state.icount;
        assert_eq!(
            cpu.run(&mut NullBus, 3 * u64::from(super::CHUNK)),
            Exit::Budget
        );
        assert_eq!(cpu.state.icount - t0, 3 * u64::from(super::CHUNK));
        let done = u32::MAX - cpu.state.gpr[reg::ECX];
        assert_eq!(done, 3 * super::CHUNK);
        assert_eq!(cpu.state.gpr[reg::ESI], done * 4);
        assert_eq!(cpu.state.eip, 0x7C00);
    }

    #[test]
    fn long_rep_runs_in_restartable_chunks() {
        // rep stosb over 10000 bytes: one execution does CHUNK iterations and stays put.
        let mut cpu = cpu_with(&[0xF3, 0xAA, 0xF4]);
        cpu.state.gpr[reg::EAX] = 0x77;
        cpu.state.gpr[reg::EDI] = 0x1_0000 - 10_000;
        cpu.state.gpr[reg::ECX] = 10_000;
        cpu.step(&mut NullBus);
        assert_eq!(cpu.state.gpr[reg::ECX], 10_000 - super::CHUNK);
        assert_eq!(cpu.state.eip, 0x7C00);
        run(&mut cpu);
        assert_eq!(cpu.state.gpr[reg::ECX], 0);
        assert_eq!(cpu.state.gpr[reg::EDI], 0); // DI wrapped
        let b = bytes(&cpu, 0x1_0000 - 10_000, 10_001);
        assert!(b[..10_000].iter().all(|&x| x == 0x77));
        assert_eq!(b[10_000], 0);
    }

    #[test]
    fn repe_cmps_stops_at_first_difference() {
        // repe cmpsb over "abcX" vs "abcY": stops after the 4th byte with ZF=0.
        let mut cpu = cpu_with(&[0xF3, 0xA6, 0xF4]);
        cpu.mem.write_bytes(0x1000, b"abcXef");
        cpu.mem.write_bytes(0x2000, b"abcYef");
        cpu.state.gpr[reg::ESI] = 0x1000;
        cpu.state.gpr[reg::EDI] = 0x2000;
        cpu.state.gpr[reg::ECX] = 6;
        run(&mut cpu);
        assert_eq!(cpu.state.gpr[reg::ECX], 2);
        assert_eq!(cpu.state.gpr[reg::ESI], 0x1004);
        assert!(!cpu.state.zf());
        assert!(cpu.state.cf()); // 'X' < 'Y'
    }

    #[test]
    fn repne_scas_finds_the_byte() {
        // repne scasb for 0 in "hello\0": DI ends one past the NUL.
        let mut cpu = cpu_with(&[0xF2, 0xAE, 0xF4]);
        cpu.mem.write_bytes(0x2000, b"hello\0xx");
        cpu.state.gpr[reg::EDI] = 0x2000;
        cpu.state.gpr[reg::ECX] = 0xFFFF;
        run(&mut cpu);
        assert_eq!(cpu.state.gpr[reg::EDI], 0x2006);
        assert_eq!(cpu.state.gpr[reg::ECX], 0xFFFF - 6);
        assert!(cpu.state.zf());
    }

    #[test]
    fn rep_stos_into_upcoming_code_is_seen() {
        // mov di,7C0Bh; mov al,5; mov cx,1; rep stosb; mov bl,1; hlt -- the STOS
        // rewrites the immediate of `mov bl,1` (at 7C0Bh) in the block being run.
        let mut cpu = cpu_with(&[
            0xBF, 0x0B, 0x7C, 0xB0, 0x05, 0xB9, 0x01, 0x00, 0xF3, 0xAA, 0xB3, 0x01, 0xF4,
        ]);
        run(&mut cpu);
        assert_eq!(cpu.state.gpr[reg::EBX] & 0xFF, 5);
    }

    #[test]
    fn segment_override_applies_to_source_only() {
        // es: movsb reads ES:SI and writes ES:DI.
        let mut cpu = cpu_with(&[0x26, 0xA4, 0xF4]);
        cpu.state.seg[crate::state::sreg::ES] = crate::state::Segment::real(0x100);
        cpu.mem.write_bytes(0x1000 + 0x10, &[0x42]);
        cpu.mem.write_bytes(0x10, &[0x99]);
        cpu.state.gpr[reg::ESI] = 0x10;
        cpu.state.gpr[reg::EDI] = 0x20;
        run(&mut cpu);
        assert_eq!(bytes(&cpu, 0x1020, 1), [0x42]);
    }

    #[test]
    fn page_fault_mid_rep_movs_leaves_consistent_registers() {
        // Flat 32-bit protected mode with paging; page 0x50000 is not present. A
        // REP MOVSB whose destination runs into it stops there with #PF(write).
        use crate::decode::convert;
        use crate::fault::vector;
        use crate::state::{cr, sreg, Segment};
        let mut cpu = Cpu::new(PhysMem::new(1 << 20));
        cpu.mem.write_bytes(0x1000, &0x2007u32.to_le_bytes());
        for i in 0..256u32 {
            let pte = if i == 0x50 { 0 } else { i << 12 | 7 };
            cpu.mem.write_bytes(0x2000 + 4 * i, &pte.to_le_bytes());
        }
        cpu.mem.write_bytes(0x10000, b"ABCDEFGH");
        let data = Segment::from_descriptor(0x10, 0x0000_FFFF, 0x00CF_9300);
        for s in [sreg::ES, sreg::SS, sreg::DS] {
            cpu.state.seg[s] = data;
        }
        cpu.state.seg[sreg::CS] = Segment::from_descriptor(0x08, 0x0000_FFFF, 0x00CF_9B00);
        cpu.state.cr3 = 0x1000;
        cpu.state.cr0 |= cr::PE | cr::PG;
        cpu.flush_tlb(false);
        cpu.state.gpr[reg::ESI] = 0x10000;
        cpu.state.gpr[reg::EDI] = 0x4FFFD;
        cpu.state.gpr[reg::ECX] = 8;
        let mut dec = iced_x86::Decoder::new(32, &[0xF3, 0xA4], iced_x86::DecoderOptions::NONE);
        let op = convert(&dec.decode());
        cpu.state.eip = 0x5000;
        cpu.next_eip = 0x5002;
        let r = (op.handler)(&mut cpu, &mut NullBus, &op);
        let f = r.expect_err("must fault");
        assert_eq!(f.vector, vector::PF);
        assert_eq!(f.error_code, Some(2)); // supervisor write to a not-present page
        assert_eq!(cpu.state.cr2, 0x50000);
        assert_eq!(cpu.state.gpr[reg::ECX], 5);
        assert_eq!(cpu.state.gpr[reg::ESI], 0x10003);
        assert_eq!(cpu.state.gpr[reg::EDI], 0x50000);
        assert_eq!(bytes(&cpu, 0x4FFFD, 3), b"ABC");
        // Restarting after the page is mapped finishes the copy.
        cpu.mem
            .write_bytes(0x2000 + 4 * 0x50, &(0x50007u32).to_le_bytes());
        (op.handler)(&mut cpu, &mut NullBus, &op).unwrap();
        assert_eq!(cpu.state.gpr[reg::ECX], 0);
        assert_eq!(bytes(&cpu, 0x50000, 5), b"DEFGH");
    }
}

//! Bit and miscellaneous integer instructions: BT/BTS/BTR/BTC, BSF/BSR, SETcc,
//! CMOVcc, BSWAP, XADD, CMPXCHG, CMPXCHG8B and SALC.
//!
//! Undefined flags, as Intel P6-family processors set them (checked against vectors
//! captured on one, `tests/tests/int_intel.rs`):
//! - BT/BTS/BTR/BTC: only CF is written; OF, SF, AF, PF keep their values.
//! - BSF/BSR: CF = OF = SF = AF = 0 and ZF = (source == 0); PF is the parity of the
//!   bit index found, which for a zero source is taken as 0 (so PF = 1). A zero
//!   source leaves the destination unchanged.
//! - BSWAP r16 is undefined; P6 and later clear the 16-bit register, and so do we.
//!
//! LOCK is accepted only by BTS/BTR/BTC, XADD, CMPXCHG and CMPXCHG8B with a memory
//! destination; anywhere else it raises #UD.

use super::{mask, sext, size_code};
use crate::decode::{kind, prefix, Handler, Op};
use crate::fault::{Fault, Result};
use crate::flags::lf;
use crate::mem::Priv;
use crate::state::{fl, reg, CpuState, Segment};
use crate::Cpu;
use iced_x86::Code as C;
use tab86_mmu::Bus;

/// #UD if LOCK is present and the form is not lockable (`lockable` and a memory
/// destination).
#[inline(always)]
fn check_lock(op: &Op, lockable: bool) -> Result<()> {
    if op.prefix & prefix::LOCK != 0 && !(lockable && op.is_mem(0)) {
        return Err(Fault::ud());
    }
    Ok(())
}

const BT: u8 = 0;
const BTS: u8 = 1;
const BTR: u8 = 2;
const BTC: u8 = 3;

/// BT/BTS/BTR/BTC (K) of size S. A register bit offset on a memory operand is a
/// signed offset into a bit string: the operand address moves by `(offset >> log2(8S)) * S`.
fn bt<const K: u8, const S: u32, const IMM: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    check_lock(op, K != BT)?;
    let bits = S * 8;
    let raw = if IMM { op.imm } else { cpu.reg(op.r[1], S) };
    let bit = raw & (bits - 1);
    let (old, loc) = if op.kind[0] == kind::MEM {
        let mut ea = cpu.ea(op);
        if !IMM {
            let words = (sext(raw, S) as i32) >> (bits.trailing_zeros());
            ea = ea.wrapping_add((words as u32).wrapping_mul(S));
            if op.addr16 {
                ea &= 0xFFFF;
            }
        }
        let need = if K == BT {
            Segment::READ
        } else {
            Segment::WRITE
        };
        let lin = cpu.seg_addr(op.seg as usize, ea, S, need)?;
        if K != BT {
            cpu.probe_write(bus, lin, S, Priv::Cpl)?;
        }
        (cpu.read_lin(bus, lin, S, Priv::Cpl)?, Some(lin))
    } else {
        (cpu.reg(op.r[0], S), None)
    };
    let m = 1u32 << bit;
    let new = match K {
        BTS => old | m,
        BTR => old & !m,
        BTC => old ^ m,
        _ => old,
    };
    if K != BT {
        match loc {
            Some(lin) => cpu.write_lin(bus, lin, S, new, Priv::Cpl)?,
            None => cpu.set_reg(op.r[0], S, new),
        }
    }
    cpu.state.set_flag(fl::CF, old & m != 0);
    Ok(())
}

/// BSF (`REV` = false) / BSR (`REV` = true). All six status flags are written
/// (see the module notes); the destination only when the source is not zero.
fn bsf_bsr<const S: u32, const REV: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    check_lock(op, false)?;
    let v = cpu.read_op(bus, op, 1, S)? & mask(S);
    let f = if v == 0 {
        fl::ZF | fl::PF
    } else {
        let idx = if REV {
            31 - v.leading_zeros()
        } else {
            v.trailing_zeros()
        };
        cpu.set_reg(op.r[0], S, idx);
        // The index is below 32: SF and ZF are 0, only PF depends on it.
        CpuState::szp(idx, size_code(S) >> 8) & fl::PF
    };
    cpu.state.set_arith_flags(f);
    Ok(())
}

/// SETcc r/m8.
fn setcc<const CC: u8>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    check_lock(op, false)?;
    let v = cpu.state.cond(CC) as u32;
    cpu.write_op(bus, op, 0, 1, v)
}

/// CMOVcc r, r/m: the source is always read (a memory source can fault even when
/// the condition is false); the destination is written only when it holds.
fn cmovcc<const CC: u8, const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    check_lock(op, false)?;
    let v = cpu.read_op(bus, op, 1, S)?;
    if cpu.state.cond(CC) {
        cpu.set_reg(op.r[0], S, v);
    }
    Ok(())
}

/// BSWAP r32 (and the undefined BSWAP r16, which clears the register as P6 does).
fn bswap<const S: u32>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    check_lock(op, false)?;
    let v = if S == 4 {
        cpu.reg(op.r[0], 4).swap_bytes()
    } else {
        0
    };
    cpu.set_reg(op.r[0], S, v);
    Ok(())
}

/// XADD r/m, r: `tmp = dst + src; src = dst; dst = tmp`, flags as ADD.
fn xadd<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    check_lock(op, true)?;
    let b = cpu.reg(op.r[1], S);
    let (a, loc) = cpu.rmw_begin(bus, op, S)?;
    let r = a.wrapping_add(b);
    if op.is_mem(0) {
        cpu.rmw_end(bus, loc, S, r)?;
        cpu.set_reg(op.r[1], S, a);
    } else {
        // Source first so that XADD r, r with the same register leaves the sum.
        cpu.set_reg(op.r[1], S, a);
        cpu.set_reg(op.r[0], S, r);
    }
    cpu.state.set_lazy(lf::ADD | size_code(S), a, b, r);
    Ok(())
}

/// CMPXCHG r/m, r: compares the accumulator with the destination (flags as CMP).
/// Equal: destination = source. Not equal: accumulator = destination, and a memory
/// destination is written back with its own value (the bus cycle is always a write).
fn cmpxchg<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    check_lock(op, true)?;
    let src = cpu.reg(op.r[1], S);
    let acc = cpu.reg(reg::EAX as u8, S);
    let (d, loc) = cpu.rmw_begin(bus, op, S)?;
    let d = d & mask(S);
    if acc == d {
        cpu.rmw_end(bus, loc, S, src)?;
    } else {
        cpu.rmw_end(bus, loc, S, d)?;
        cpu.set_reg(reg::EAX as u8, S, d);
    }
    cpu.state
        .set_lazy(lf::SUB | size_code(S), acc, d, acc.wrapping_sub(d));
    Ok(())
}

/// CMPXCHG8B m64: compares EDX:EAX with the qword; equal stores ECX:EBX and sets
/// ZF, otherwise loads EDX:EAX (writing the old value back) and clears ZF. Other
/// flags are unchanged. A register operand raises #UD.
fn cmpxchg8b(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    if op.kind[0] != kind::MEM {
        return Err(Fault::ud());
    }
    check_lock(op, true)?;
    let ea = cpu.ea(op);
    let lin = cpu.seg_addr(op.seg as usize, ea, 8, Segment::WRITE)?;
    cpu.probe_write(bus, lin, 8, Priv::Cpl)?;
    let lo = cpu.read_lin(bus, lin, 4, Priv::Cpl)?;
    let hi = cpu.read_lin(bus, lin.wrapping_add(4), 4, Priv::Cpl)?;
    let g = cpu.state.gpr;
    let equal = lo == g[reg::EAX] && hi == g[reg::EDX];
    let (nlo, nhi) = if equal {
        (g[reg::EBX], g[reg::ECX])
    } else {
        (lo, hi)
    };
    cpu.write_lin(bus, lin, 4, nlo, Priv::Cpl)?;
    cpu.write_lin(bus, lin.wrapping_add(4), 4, nhi, Priv::Cpl)?;
    if !equal {
        cpu.state.gpr[reg::EAX] = lo;
        cpu.state.gpr[reg::EDX] = hi;
    }
    cpu.state.set_flag(fl::ZF, equal);
    Ok(())
}

/// SALC (undocumented D6): AL = CF ? 0xFF : 0, flags unchanged.
fn salc(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    check_lock(op, false)?;
    let v = if cpu.state.cf() { 0xFF } else { 0 };
    cpu.state.set_r8(0, v);
    Ok(())
}

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    macro_rules! cc_table {
        ($($cc:literal: $set:ident $c16:ident $c32:ident;)*) => {
            match code {
                $(
                    C::$set => return Some(setcc::<$cc>),
                    C::$c16 => return Some(cmovcc::<$cc, 2>),
                    C::$c32 => return Some(cmovcc::<$cc, 4>),
                )*
                _ => {}
            }
        };
    }
    cc_table! {
        0: Seto_rm8 Cmovo_r16_rm16 Cmovo_r32_rm32;
        1: Setno_rm8 Cmovno_r16_rm16 Cmovno_r32_rm32;
        2: Setb_rm8 Cmovb_r16_rm16 Cmovb_r32_rm32;
        3: Setae_rm8 Cmovae_r16_rm16 Cmovae_r32_rm32;
        4: Sete_rm8 Cmove_r16_rm16 Cmove_r32_rm32;
        5: Setne_rm8 Cmovne_r16_rm16 Cmovne_r32_rm32;
        6: Setbe_rm8 Cmovbe_r16_rm16 Cmovbe_r32_rm32;
        7: Seta_rm8 Cmova_r16_rm16 Cmova_r32_rm32;
        8: Sets_rm8 Cmovs_r16_rm16 Cmovs_r32_rm32;
        9: Setns_rm8 Cmovns_r16_rm16 Cmovns_r32_rm32;
        10: Setp_rm8 Cmovp_r16_rm16 Cmovp_r32_rm32;
        11: Setnp_rm8 Cmovnp_r16_rm16 Cmovnp_r32_rm32;
        12: Setl_rm8 Cmovl_r16_rm16 Cmovl_r32_rm32;
        13: Setge_rm8 Cmovge_r16_rm16 Cmovge_r32_rm32;
        14: Setle_rm8 Cmovle_r16_rm16 Cmovle_r32_rm32;
        15: Setg_rm8 Cmovg_r16_rm16 Cmovg_r32_rm32;
    }
    Some(match code {
        C::Bt_rm16_r16 => bt::<BT, 2, false>,
        C::Bt_rm32_r32 => bt::<BT, 4, false>,
        C::Bts_rm16_r16 => bt::<BTS, 2, false>,
        C::Bts_rm32_r32 => bt::<BTS, 4, false>,
        C::Btr_rm16_r16 => bt::<BTR, 2, false>,
        C::Btr_rm32_r32 => bt::<BTR, 4, false>,
        C::Btc_rm16_r16 => bt::<BTC, 2, false>,
        C::Btc_rm32_r32 => bt::<BTC, 4, false>,
        C::Bt_rm16_imm8 => bt::<BT, 2, true>,
        C::Bt_rm32_imm8 => bt::<BT, 4, true>,
        C::Bts_rm16_imm8 => bt::<BTS, 2, true>,
        C::Bts_rm32_imm8 => bt::<BTS, 4, true>,
        C::Btr_rm16_imm8 => bt::<BTR, 2, true>,
        C::Btr_rm32_imm8 => bt::<BTR, 4, true>,
        C::Btc_rm16_imm8 => bt::<BTC, 2, true>,
        C::Btc_rm32_imm8 => bt::<BTC, 4, true>,
        // Without BMI1/LZCNT, F3 0F BC/BD execute as BSF/BSR (the REP prefix is ignored);
        // iced decodes them as TZCNT/LZCNT, which this CPU does not advertise.
        C::Bsf_r16_rm16 | C::Tzcnt_r16_rm16 => bsf_bsr::<2, false>,
        C::Bsf_r32_rm32 | C::Tzcnt_r32_rm32 => bsf_bsr::<4, false>,
        C::Bsr_r16_rm16 | C::Lzcnt_r16_rm16 => bsf_bsr::<2, true>,
        C::Bsr_r32_rm32 | C::Lzcnt_r32_rm32 => bsf_bsr::<4, true>,
        C::Bswap_r16 => bswap::<2>,
        C::Bswap_r32 => bswap::<4>,
        C::Xadd_rm8_r8 => xadd::<1>,
        C::Xadd_rm16_r16 => xadd::<2>,
        C::Xadd_rm32_r32 => xadd::<4>,
        C::Cmpxchg_rm8_r8 => cmpxchg::<1>,
        C::Cmpxchg_rm16_r16 => cmpxchg::<2>,
        C::Cmpxchg_rm32_r32 => cmpxchg::<4>,
        C::Cmpxchg8b_m64 => cmpxchg8b,
        C::Salc => salc,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::muldiv::tests::run16;
    use crate::state::reg;

    fn word(cpu: &crate::Cpu, a: u32) -> u32 {
        let mut b = [0u8; 4];
        cpu.mem.read_bytes(a, &mut b);
        u32::from_le_bytes(b)
    }

    #[test]
    fn btr_with_negative_register_offset_reaches_below_the_operand() {
        // mov word [0x5fe],0x8000; mov bx,0x600; mov ax,-1; btr word [bx],ax; hlt
        let (cpu, v) = run16(
            &[
                0xc7, 0x06, 0xfe, 0x05, 0x00, 0x80, 0xbb, 0x00, 0x06, 0xb8, 0xff, 0xff, 0x0f, 0xb3,
                0x07, 0xf4,
            ],
            |_| {},
        );
        assert_eq!(v, None);
        assert_eq!(word(&cpu, 0x5FE) & 0xFFFF, 0);
        assert!(cpu.state.cf());
    }

    #[test]
    fn cmpxchg8b_swaps_then_loads() {
        // [0x600] = 2:1; EDX:EAX = 2:1; ECX:EBX = 0x44:0x33; cmpxchg8b [0x600] twice
        let (cpu, v) = run16(
            &[
                0x66, 0xc7, 0x06, 0x00, 0x06, 0x01, 0x00, 0x00, 0x00, 0x66, 0xc7, 0x06, 0x04, 0x06,
                0x02, 0x00, 0x00, 0x00, 0x66, 0xb8, 0x01, 0x00, 0x00, 0x00, 0x66, 0xba, 0x02, 0x00,
                0x00, 0x00, 0x66, 0xbb, 0x33, 0x00, 0x00, 0x00, 0x66, 0xb9, 0x44, 0x00, 0x00, 0x00,
                0x0f, 0xc7, 0x0e, 0x00, 0x06, 0x0f, 0xc7, 0x0e, 0x00, 0x06, 0xf4,
            ],
            |_| {},
        );
        assert_eq!(v, None);
        assert_eq!((word(&cpu, 0x600), word(&cpu, 0x604)), (0x33, 0x44));
        // The second compare fails (EDX:EAX still 2:1) and loads the new value.
        let g = cpu.state.gpr;
        assert_eq!((g[reg::EAX], g[reg::EDX]), (0x33, 0x44));
        assert!(!cpu.state.zf());
    }

    #[test]
    fn cmpxchg8b_register_operand_and_bad_lock_are_ud() {
        // cmpxchg8b eax (0F C7 C8); lock bt [bx], ax (F0 0F A3 07)
        for code in [
            &[0x0f, 0xc7, 0xc8, 0xf4][..],
            &[0xf0, 0x0f, 0xa3, 0x07, 0xf4],
        ] {
            let (_, v) = run16(code, |_| {});
            assert_eq!(v, Some(6));
        }
    }
}

//! Shifts and rotates: SHL/SAL, SHR, SAR, ROL, ROR, RCL, RCR (by 1, CL or imm8) and
//! the double shifts SHLD/SHRD.
//!
//! The count is masked to 5 bits; a masked count of 0 changes neither the operand
//! nor any flag. Flags the SDM leaves undefined are set as Intel P6-family
//! processors set them (checked against vectors captured on one, see
//! `tests/tests/int_intel.rs`):
//! - OF for any non-zero count is the OF of the *first* one-bit step, computed
//!   from the original operand (not from the result, as iterating would give):
//!   SHL/SAL, ROL and RCL `MSB ^ MSB-1` of the operand; SHR its MSB; SAR 0; ROR
//!   `MSB ^ bit 0`; RCR `MSB ^ CF` (the incoming carry); SHLD `MSB ^ MSB-1` of the
//!   destination; SHRD `MSB` of the destination `^` bit 0 of the source.
//! - CF of SHL/SHR with count >= operand width: the last bit shifted out (0 past
//!   the width), as iterating gives.
//! - AF after any shift with a non-zero count: 0 (rotates leave AF, SF, ZF, PF).
//! - RCL/RCR rotate through 9/17 bits (count modulo 9/17 for 8/16-bit operands); a
//!   count that is a non-zero multiple of 9/17 leaves everything unchanged.
//! - SHLD/SHRD of 16-bit operands with counts 17-31 shift the 48-bit value
//!   `dst:src:dst` (a 32-bit double shift of `dst:src` with `dst` shifted in
//!   after the source); CF is the last bit shifted out of that value.

use super::{mask, sign};
use crate::decode::{kind, Handler, Op};
use crate::fault::Result;
use crate::state::{fl, CpuState};
use crate::Cpu;
use iced_x86::Code as C;
use tab86_mmu::Bus;

const ROL: u8 = 0;
const ROR: u8 = 1;
const RCL: u8 = 2;
const RCR: u8 = 3;
const SHL: u8 = 4;
const SHR: u8 = 5;
const SAR: u8 = 7;

/// Count sources: the constant 1, CL, or the immediate byte.
const ONE: u8 = 0;
const CL: u8 = 1;
const IMM: u8 = 2;

#[inline(always)]
fn bit(on: bool, b: u32) -> u32 {
    if on {
        b
    } else {
        0
    }
}

/// Result and status flags (CF, OF and for shifts SZP) of `a OP count` for a
/// count in 1..=31 (for 8/16-bit RCL/RCR already reduced modulo 9/17, so in
/// 1..=8 / 1..=16); `cf_in` is the carry for RCL/RCR. Returns the result and
/// the new status-flag bits, and whether SF/ZF/PF/AF are written (shifts) or kept.
pub fn compute<const K: u8, const S: u32>(a: u32, count: u32, cf_in: bool) -> (u32, u32, bool) {
    let w = S * 8;
    let m = mask(S);
    let sb = sign(S);
    let a = a & m;
    let c = count;
    match K {
        ROL | ROR => {
            let r = c % w;
            let res = if K == ROL {
                ((a << r) | (a >> ((w - r) % w))) & m
            } else {
                ((a >> r) | (a << ((w - r) % w))) & m
            };
            let (cf, of) = if K == ROL {
                (res & 1 != 0, (a ^ (a << 1)) & sb != 0)
            } else {
                (res & sb != 0, (a ^ (a << (w - 1))) & sb != 0)
            };
            (res, bit(cf, fl::CF) | bit(of, fl::OF), false)
        }
        RCL | RCR => {
            // Rotate the (w+1)-bit value CF:a.
            let w1 = w + 1;
            let r = c;
            let full_mask: u64 = (1u64 << w1) - 1;
            let v = (a as u64) | ((cf_in as u64) << w);
            let rot = if K == RCL {
                ((v << r) | (v >> (w1 - r))) & full_mask
            } else {
                ((v >> r) | (v << (w1 - r))) & full_mask
            };
            let res = rot as u32 & m;
            let cf = rot >> w & 1 != 0;
            let of = if K == RCL {
                (a ^ (a << 1)) & sb != 0
            } else {
                (a & sb != 0) != cf_in
            };
            (res, bit(cf, fl::CF) | bit(of, fl::OF), false)
        }
        SHL => {
            let wide = (a as u64) << c;
            let res = wide as u32 & m;
            let cf = wide >> w & 1 != 0;
            let of = (a ^ (a << 1)) & sb != 0;
            let f = CpuState::szp(res, S >> 1);
            (res, f | bit(cf, fl::CF) | bit(of, fl::OF), true)
        }
        SHR => {
            let res = ((a as u64) >> c) as u32;
            let cf = (a as u64) >> (c - 1) & 1 != 0;
            let of = a & sb != 0;
            let f = CpuState::szp(res, S >> 1);
            (res, f | bit(cf, fl::CF) | bit(of, fl::OF), true)
        }
        _ => {
            let sa = super::sext(a, S) as i32;
            let res = (sa >> c.min(31)) as u32 & m;
            let cf = (sa >> (c - 1).min(31)) & 1 != 0;
            let f = CpuState::szp(res, S >> 1);
            (res, f | bit(cf, fl::CF), true)
        }
    }
}

/// Writes status flags: all six for shifts (AF = 0), only CF and OF for rotates.
#[inline(always)]
fn set_flags(s: &mut CpuState, f: u32, all: bool) {
    if all {
        s.set_arith_flags(f);
    } else {
        s.materialize_flags();
        s.eflags = (s.eflags & !(fl::CF | fl::OF)) | f;
    }
}

/// Shift/rotate group 2: K operation, S-byte operand, count source N; `R` when
/// the operand is a register (chosen at decode time by [`specialize`]).
fn shift<const K: u8, const S: u32, const N: u8, const R: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    let count = match N {
        ONE => 1,
        CL => cpu.state.gpr[1] & 0x1F,
        _ => op.imm & 0x1F,
    };
    let count = if (K == RCL || K == RCR) && S < 4 {
        count % (S * 8 + 1)
    } else {
        count
    };
    if R {
        if count == 0 {
            return Ok(());
        }
        let a = cpu.reg(op.r[0], S);
        let (res, f, all) = compute::<K, S>(a, count, cpu.state.cf());
        cpu.set_reg(op.r[0], S, res);
        set_flags(&mut cpu.state, f, all);
        return Ok(());
    }
    let (a, loc) = cpu.rmw_begin(bus, op, S)?;
    if count == 0 {
        return Ok(());
    }
    let (res, f, all) = compute::<K, S>(a, count, cpu.state.cf());
    cpu.rmw_end(bus, loc, S, res)?;
    set_flags(&mut cpu.state, f, all);
    Ok(())
}

/// SHLD (L) / SHRD of `dst` with bits from `src` by a masked `count` in 1..=31.
/// Returns the result and the six status flags (AF = 0).
pub fn double<const L: bool, const S: u32>(dst: u32, src: u32, count: u32) -> (u32, u32) {
    let m = mask(S);
    let sb = sign(S);
    let c = count;
    let (res, cf) = if S == 4 {
        if L {
            let v = (dst as u64) << 32 | src as u64;
            ((v << c >> 32) as u32, v >> (64 - c) & 1 != 0)
        } else {
            let v = (src as u64) << 32 | dst as u64;
            ((v >> c) as u32, v >> (c - 1) & 1 != 0)
        }
    } else {
        let (d, s) = (dst as u64 & 0xFFFF, src as u64 & 0xFFFF);
        if L {
            let v = d << 32 | s << 16 | d;
            ((v << c >> 32) as u32 & m, v >> (48 - c) & 1 != 0)
        } else {
            let v = d << 32 | s << 16 | d;
            ((v >> c) as u32 & m, v >> (c - 1) & 1 != 0)
        }
    };
    // OF of the first one-bit step: the destination's sign against the bit that
    // replaces it (MSB-1 of the destination for SHLD, bit 0 of the source for SHRD).
    let d = dst & m;
    let of = if L {
        (d ^ (d << 1)) & sb != 0
    } else {
        (d & sb != 0) != (src & 1 != 0)
    };
    let f = CpuState::szp(res, S >> 1) | bit(cf, fl::CF) | bit(of, fl::OF);
    (res, f)
}

/// SHLD/SHRD r/m, reg, imm8|CL.
fn shxd<const L: bool, const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let count = if op.kind[2] == kind::IMM {
        op.imm & 0x1F
    } else {
        cpu.state.gpr[1] & 0x1F
    };
    let src = cpu.reg(op.r[1], S);
    let (a, loc) = cpu.rmw_begin(bus, op, S)?;
    if count == 0 {
        return Ok(());
    }
    let (res, f) = double::<L, S>(a, src, count);
    cpu.rmw_end(bus, loc, S, res)?;
    cpu.state.set_arith_flags(f);
    Ok(())
}

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    group2::<false>(code).or(match code {
        C::Shld_rm16_r16_imm8 | C::Shld_rm16_r16_CL => Some(shxd::<true, 2> as Handler),
        C::Shld_rm32_r32_imm8 | C::Shld_rm32_r32_CL => Some(shxd::<true, 4>),
        C::Shrd_rm16_r16_imm8 | C::Shrd_rm16_r16_CL => Some(shxd::<false, 2>),
        C::Shrd_rm32_r32_imm8 | C::Shrd_rm32_r32_CL => Some(shxd::<false, 4>),
        _ => None,
    })
}

/// The faster handler for a group-2 shift or rotate of a register.
pub fn specialize(op: &Op) -> Option<Handler> {
    if op.kind[0] == kind::REG {
        group2::<true>(op.code)
    } else {
        None
    }
}

/// The group-2 table; `R` selects the register-operand handlers.
fn group2<const R: bool>(code: C) -> Option<Handler> {
    macro_rules! group {
        ($($k:ident: $($c1:ident $c2:ident $c4:ident $n:ident),*;)*) => {
            match code {
                $($(
                    C::$c1 => return Some(shift::<$k, 1, $n, R>),
                    C::$c2 => return Some(shift::<$k, 2, $n, R>),
                    C::$c4 => return Some(shift::<$k, 4, $n, R>),
                )*)*
                _ => {}
            }
        };
    }
    group! {
        ROL: Rol_rm8_1 Rol_rm16_1 Rol_rm32_1 ONE, Rol_rm8_CL Rol_rm16_CL Rol_rm32_CL CL,
             Rol_rm8_imm8 Rol_rm16_imm8 Rol_rm32_imm8 IMM;
        ROR: Ror_rm8_1 Ror_rm16_1 Ror_rm32_1 ONE, Ror_rm8_CL Ror_rm16_CL Ror_rm32_CL CL,
             Ror_rm8_imm8 Ror_rm16_imm8 Ror_rm32_imm8 IMM;
        RCL: Rcl_rm8_1 Rcl_rm16_1 Rcl_rm32_1 ONE, Rcl_rm8_CL Rcl_rm16_CL Rcl_rm32_CL CL,
             Rcl_rm8_imm8 Rcl_rm16_imm8 Rcl_rm32_imm8 IMM;
        RCR: Rcr_rm8_1 Rcr_rm16_1 Rcr_rm32_1 ONE, Rcr_rm8_CL Rcr_rm16_CL Rcr_rm32_CL CL,
             Rcr_rm8_imm8 Rcr_rm16_imm8 Rcr_rm32_imm8 IMM;
        SHL: Shl_rm8_1 Shl_rm16_1 Shl_rm32_1 ONE, Shl_rm8_CL Shl_rm16_CL Shl_rm32_CL CL,
             Shl_rm8_imm8 Shl_rm16_imm8 Shl_rm32_imm8 IMM,
             Sal_rm8_1 Sal_rm16_1 Sal_rm32_1 ONE, Sal_rm8_CL Sal_rm16_CL Sal_rm32_CL CL,
             Sal_rm8_imm8 Sal_rm16_imm8 Sal_rm32_imm8 IMM;
        SHR: Shr_rm8_1 Shr_rm16_1 Shr_rm32_1 ONE, Shr_rm8_CL Shr_rm16_CL Shr_rm32_CL CL,
             Shr_rm8_imm8 Shr_rm16_imm8 Shr_rm32_imm8 IMM;
        SAR: Sar_rm8_1 Sar_rm16_1 Sar_rm32_1 ONE, Sar_rm8_CL Sar_rm16_CL Sar_rm32_CL CL,
             Sar_rm8_imm8 Sar_rm16_imm8 Sar_rm32_imm8 IMM;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cpu, Exit, NullBus, PhysMem};

    const CF: u32 = fl::CF;
    const OF: u32 = fl::OF;

    #[test]
    fn shl_counts() {
        let (r, f, all) = compute::<SHL, 1>(0x81, 1, false);
        assert_eq!((r, f & (CF | OF), all), (0x02, CF | OF, true));
        // Count 8 on a byte: the last bit out is bit 0.
        let (r, f, _) = compute::<SHL, 1>(0x01, 8, false);
        assert_eq!((r, f & CF), (0, CF));
        assert_ne!(f & fl::ZF, 0);
        // Count 9..31 on a byte shifts everything out, CF = 0.
        let (r, f, _) = compute::<SHL, 1>(0xFF, 9, false);
        assert_eq!((r, f & CF), (0, 0));
        let (r, f, _) = compute::<SHL, 2>(0x0001, 16, false);
        assert_eq!((r, f & CF), (0, CF));
        let (r, f, _) = compute::<SHL, 4>(0x0000_0003, 31, false);
        assert_eq!((r, f & CF), (0x8000_0000, CF));
    }

    #[test]
    fn shr_and_sar() {
        let (r, f, _) = compute::<SHR, 1>(0x81, 1, false);
        assert_eq!((r, f & (CF | OF)), (0x40, CF | OF));
        let (r, f, _) = compute::<SHR, 2>(0x8000, 16, false);
        assert_eq!((r, f & CF), (0, CF));
        let (r, f, _) = compute::<SAR, 1>(0x80, 1, false);
        assert_eq!((r, f & (CF | OF | fl::SF)), (0xC0, fl::SF));
        let (r, f, _) = compute::<SAR, 2>(0x8000, 31, false);
        assert_eq!((r, f & CF), (0xFFFF, CF));
        let (r, f, _) = compute::<SAR, 4>(0x4000_0001, 31, false);
        assert_eq!((r, f & CF), (0, CF));
    }

    #[test]
    fn rotates() {
        let (r, f, all) = compute::<ROL, 1>(0x81, 1, false);
        assert_eq!((r, f, all), (0x03, CF | OF, false));
        // ROL by 8 on a byte: value unchanged, CF = bit 0 of the result.
        let (r, f, _) = compute::<ROL, 1>(0x81, 8, false);
        assert_eq!((r, f & CF), (0x81, CF));
        let (r, f, _) = compute::<ROR, 2>(0x0001, 1, false);
        assert_eq!((r, f), (0x8000, CF | OF));
        let (r, _, _) = compute::<ROR, 4>(0x1234_5678, 16, false);
        assert_eq!(r, 0x5678_1234);
        // RCL through carry: 9-bit rotate.
        let (r, f, _) = compute::<RCL, 1>(0x80, 1, false);
        assert_eq!((r, f), (0x00, CF | OF));
        let (r, f, _) = compute::<RCL, 1>(0x00, 8, true);
        assert_eq!((r, f & CF), (0x80, 0));
        let (r, f, _) = compute::<RCR, 2>(0x0001, 1, true);
        assert_eq!((r, f), (0x8000, CF | OF));
        let (r, f, _) = compute::<RCR, 4>(0x0000_0002, 2, true);
        assert_eq!((r, f & CF), (0x4000_0000, CF));
    }

    #[test]
    fn double_shifts() {
        let (r, f) = double::<true, 4>(0x8000_0001, 0xF000_0000, 4);
        assert_eq!((r, f & CF), (0x0000_001F, 0));
        let (r, f) = double::<false, 4>(0x0000_0018, 0x0000_000A, 4);
        assert_eq!((r, f & CF), (0xA000_0001, CF));
        let (r, _) = double::<true, 2>(0x1234, 0xABCD, 8);
        assert_eq!(r, 0x34AB);
        // 16-bit count > 16 (undefined): Intel shifts dst:src:dst.
        let (r, f) = double::<true, 2>(0x1234, 0xABCD, 20);
        assert_eq!((r, f & CF), (0xBCD1, 0));
        let (r, f) = double::<true, 2>(0x0000, 0xF4DA, 27);
        assert_eq!((r, f & (CF | OF)), (0xD000, 0));
        let (r, _) = double::<false, 2>(0x1234, 0xABCD, 20);
        assert_eq!(r, 0x4ABC);
    }

    #[test]
    fn overflow_of_multi_bit_counts_is_the_first_step() {
        // SHL 0x60 by 2: the first step turns 0x60 into 0xC0 (sign change, OF = 1)
        // even though the result 0x80 and CF = 1 would give 0.
        let (r, f, _) = compute::<SHL, 1>(0x60, 2, false);
        assert_eq!((r, f & (CF | OF)), (0x80, CF | OF));
        // SHR: OF is the operand's MSB whatever the count.
        let (_, f, _) = compute::<SHR, 4>(0x8000_0000, 5, false);
        assert_eq!(f & OF, OF);
        // ROR 0x01 by 4: bit 0 ^ MSB of the operand.
        let (r, f, _) = compute::<ROR, 1>(0x01, 4, false);
        assert_eq!((r, f & (CF | OF)), (0x10, OF));
        // RCR: MSB of the operand ^ the incoming CF.
        let (_, f, _) = compute::<RCR, 2>(0x8000, 3, true);
        assert_eq!(f & OF, 0);
        // SHRD: MSB of the destination ^ bit 0 of the source.
        let (_, f) = double::<false, 4>(0x8000_0000, 0, 7);
        assert_eq!(f & OF, OF);
    }

    /// Runs `code` at 0000:7C00 with the given flags and returns (EAX, flags).
    fn exec(code: &[u8], eax: u32, ecx: u32, flags: u32) -> (u32, u32) {
        let mut mem = PhysMem::new(1 << 20);
        mem.write_bytes(0x7C00, code);
        let mut cpu = Cpu::new(mem);
        cpu.set_cs_real(0);
        cpu.state.eip = 0x7C00;
        cpu.state.gpr[0] = eax;
        cpu.state.gpr[1] = ecx;
        cpu.state.eflags = flags | fl::FIXED;
        assert_eq!(cpu.run(&mut NullBus, 100), Exit::HaltedNoWake);
        (cpu.state.gpr[0], cpu.state.flags())
    }

    #[test]
    fn zero_and_masked_counts_leave_flags() {
        let all = fl::ARITH;
        // shl ax,cl with CL=0 and CL=32 (masked to 0): nothing changes.
        for cl in [0, 32, 64] {
            let (ax, f) = exec(&[0xD3, 0xE0, 0xF4], 0x1234, cl, all);
            assert_eq!((ax, f & all), (0x1234, all));
        }
        // rcl al,9 on a byte is a full 9-bit turn: nothing changes, not even OF.
        let (ax, f) = exec(&[0xC0, 0xD0, 0x09, 0xF4], 0x5A, 0, fl::OF);
        assert_eq!((ax, f & all), (0x5A, fl::OF));
        // shl eax,33 is shl eax,1.
        let (ax, f) = exec(&[0x66, 0xC1, 0xE0, 0x21, 0xF4], 0x8000_0001, 0, 0);
        assert_eq!((ax, f & (CF | OF)), (2, CF | OF));
        // A rotate keeps SF/ZF/PF/AF.
        let (ax, f) = exec(&[0xD0, 0xC0, 0xF4], 0x80, 0, fl::ZF | fl::AF);
        assert_eq!((ax, f & all), (0x01, fl::ZF | fl::AF | CF | OF));
    }
}

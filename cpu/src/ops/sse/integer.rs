//! Packed integer instructions on MM (64-bit) and XMM (128-bit) registers: MMX and
//! the SSE/SSE2 additions (PADD/PSUB with and without saturation, PMUL*, PMADDWD,
//! PSADBW, PAVG, PMIN/PMAX, PCMPEQ/PCMPGT, PACK*, PUNPCK*, the shifts, the logic
//! ops), plus the SSE logic and unpack instructions on floats, which are the same
//! bit operations.

use super::{map2, Unit};
use crate::decode::{kind, Handler, Op};
use crate::fault::Result;
use crate::Cpu;
use iced_x86::Code as C;
use tab86_mmu::Bus;

/// Operation numbers for [`int_op`].
mod k {
    pub const ADDB: u8 = 0;
    pub const ADDW: u8 = 1;
    pub const ADDD: u8 = 2;
    pub const ADDQ: u8 = 3;
    pub const SUBB: u8 = 4;
    pub const SUBW: u8 = 5;
    pub const SUBD: u8 = 6;
    pub const SUBQ: u8 = 7;
    pub const ADDSB: u8 = 8;
    pub const ADDSW: u8 = 9;
    pub const ADDUSB: u8 = 10;
    pub const ADDUSW: u8 = 11;
    pub const SUBSB: u8 = 12;
    pub const SUBSW: u8 = 13;
    pub const SUBUSB: u8 = 14;
    pub const SUBUSW: u8 = 15;
    pub const MULLW: u8 = 16;
    pub const MULHW: u8 = 17;
    pub const MULHUW: u8 = 18;
    pub const MULUDQ: u8 = 19;
    pub const MADDWD: u8 = 20;
    pub const SADBW: u8 = 21;
    pub const AVGB: u8 = 22;
    pub const AVGW: u8 = 23;
    pub const MINUB: u8 = 24;
    pub const MAXUB: u8 = 25;
    pub const MINSW: u8 = 26;
    pub const MAXSW: u8 = 27;
    pub const CMPEQB: u8 = 28;
    pub const CMPEQW: u8 = 29;
    pub const CMPEQD: u8 = 30;
    pub const CMPGTB: u8 = 31;
    pub const CMPGTW: u8 = 32;
    pub const CMPGTD: u8 = 33;
    pub const PACKSSWB: u8 = 34;
    pub const PACKSSDW: u8 = 35;
    pub const PACKUSWB: u8 = 36;
    pub const UNPCKLBW: u8 = 37;
    pub const UNPCKLWD: u8 = 38;
    pub const UNPCKLDQ: u8 = 39;
    pub const UNPCKLQDQ: u8 = 40;
    pub const UNPCKHBW: u8 = 41;
    pub const UNPCKHWD: u8 = 42;
    pub const UNPCKHDQ: u8 = 43;
    pub const UNPCKHQDQ: u8 = 44;
    pub const AND: u8 = 45;
    pub const ANDN: u8 = 46;
    pub const OR: u8 = 47;
    pub const XOR: u8 = 48;
    pub const SLLW: u8 = 49;
    pub const SLLD: u8 = 50;
    pub const SLLQ: u8 = 51;
    pub const SRLW: u8 = 52;
    pub const SRLD: u8 = 53;
    pub const SRLQ: u8 = 54;
    pub const SRAW: u8 = 55;
    pub const SRAD: u8 = 56;
    pub const SLLDQ: u8 = 57;
    pub const SRLDQ: u8 = 58;
}
use k::*;

fn sat_s(v: i64, bits: u32) -> u64 {
    let max = (1i64 << (bits - 1)) - 1;
    v.clamp(-max - 1, max) as u64
}
fn sat_u(v: i64, bits: u32) -> u64 {
    v.clamp(0, (1i64 << bits) - 1) as u64
}
fn s8(x: u64) -> i64 {
    x as u8 as i8 as i64
}
fn s16(x: u64) -> i64 {
    x as u16 as i16 as i64
}
fn s32(x: u64) -> i64 {
    x as u32 as i32 as i64
}
fn mask_if(c: bool) -> u64 {
    if c {
        u64::MAX
    } else {
        0
    }
}

/// Interleaves the low (`high` = false) or high halves of `a` and `b` in `w`-byte
/// lanes over an `n`-byte register.
fn unpack(a: u128, b: u128, n: u32, w: u32, high: bool) -> u128 {
    let half = n / w / 2;
    let base = if high { half } else { 0 };
    let mut r = 0u128;
    for i in 0..half {
        r = super::with_lane(r, w, 2 * i, super::lane(a, w, base + i));
        r = super::with_lane(r, w, 2 * i + 1, super::lane(b, w, base + i));
    }
    r
}

/// Packs `w`-byte signed lanes of `a` then `b` into half-width lanes with signed or
/// unsigned saturation.
fn pack(a: u128, b: u128, n: u32, w: u32, unsigned: bool) -> u128 {
    let cnt = n / w;
    let bits = w * 4;
    let mut r = 0u128;
    for i in 0..2 * cnt {
        let src = if i < cnt { a } else { b };
        let x = super::lane(src, w, i % cnt);
        let x = if w == 2 { s16(x) } else { s32(x) };
        let y = if unsigned {
            sat_u(x, bits)
        } else {
            sat_s(x, bits)
        };
        r = super::with_lane(r, w / 2, i, y);
    }
    r
}

/// Shifts each `w`-byte lane by `count` (left, logical right, or arithmetic right).
fn shift(a: u128, n: u32, w: u32, count: u64, kind: u8) -> u128 {
    let bits = (w * 8) as u64;
    map2(a, 0, n, w, |x, _| {
        if count >= bits {
            match kind {
                2 => mask_if(x >> (bits - 1) & 1 != 0),
                _ => 0,
            }
        } else {
            match kind {
                0 => x << count,
                1 => x >> count,
                _ => (((x << (64 - bits)) as i64) >> (64 - bits + count)) as u64,
            }
        }
    })
}

/// The packed integer operation `op` on registers of `n` bytes.
pub(super) fn int_op(op: u8, a: u128, b: u128, n: u32) -> u128 {
    let cnt = b as u64;
    match op {
        ADDB => map2(a, b, n, 1, |x, y| x.wrapping_add(y)),
        ADDW => map2(a, b, n, 2, |x, y| x.wrapping_add(y)),
        ADDD => map2(a, b, n, 4, |x, y| x.wrapping_add(y)),
        ADDQ => map2(a, b, n, 8, |x, y| x.wrapping_add(y)),
        SUBB => map2(a, b, n, 1, |x, y| x.wrapping_sub(y)),
        SUBW => map2(a, b, n, 2, |x, y| x.wrapping_sub(y)),
        SUBD => map2(a, b, n, 4, |x, y| x.wrapping_sub(y)),
        SUBQ => map2(a, b, n, 8, |x, y| x.wrapping_sub(y)),
        ADDSB => map2(a, b, n, 1, |x, y| sat_s(s8(x) + s8(y), 8)),
        ADDSW => map2(a, b, n, 2, |x, y| sat_s(s16(x) + s16(y), 16)),
        ADDUSB => map2(a, b, n, 1, |x, y| sat_u(x as i64 + y as i64, 8)),
        ADDUSW => map2(a, b, n, 2, |x, y| sat_u(x as i64 + y as i64, 16)),
        SUBSB => map2(a, b, n, 1, |x, y| sat_s(s8(x) - s8(y), 8)),
        SUBSW => map2(a, b, n, 2, |x, y| sat_s(s16(x) - s16(y), 16)),
        SUBUSB => map2(a, b, n, 1, |x, y| sat_u(x as i64 - y as i64, 8)),
        SUBUSW => map2(a, b, n, 2, |x, y| sat_u(x as i64 - y as i64, 16)),
        MULLW => map2(a, b, n, 2, |x, y| x.wrapping_mul(y)),
        MULHW => map2(a, b, n, 2, |x, y| ((s16(x) * s16(y)) >> 16) as u64),
        MULHUW => map2(a, b, n, 2, |x, y| (x * y) >> 16),
        MULUDQ => map2(a, b, n, 8, |x, y| (x as u32 as u64) * (y as u32 as u64)),
        MADDWD => map2(a, b, n, 4, |x, y| {
            let lo = s16(x) * s16(y);
            let hi = s16(x >> 16) * s16(y >> 16);
            (lo + hi) as u64
        }),
        SADBW => map2(a, b, n, 8, |x, y| {
            (0..8)
                .map(|i| ((x >> (8 * i)) as u8).abs_diff((y >> (8 * i)) as u8) as u64)
                .sum()
        }),
        AVGB => map2(a, b, n, 1, |x, y| (x + y + 1) >> 1),
        AVGW => map2(a, b, n, 2, |x, y| (x + y + 1) >> 1),
        MINUB => map2(a, b, n, 1, |x, y| x.min(y)),
        MAXUB => map2(a, b, n, 1, |x, y| x.max(y)),
        MINSW => map2(a, b, n, 2, |x, y| if s16(x) < s16(y) { x } else { y }),
        MAXSW => map2(a, b, n, 2, |x, y| if s16(x) > s16(y) { x } else { y }),
        CMPEQB => map2(a, b, n, 1, |x, y| mask_if(x == y)),
        CMPEQW => map2(a, b, n, 2, |x, y| mask_if(x == y)),
        CMPEQD => map2(a, b, n, 4, |x, y| mask_if(x == y)),
        CMPGTB => map2(a, b, n, 1, |x, y| mask_if(s8(x) > s8(y))),
        CMPGTW => map2(a, b, n, 2, |x, y| mask_if(s16(x) > s16(y))),
        CMPGTD => map2(a, b, n, 4, |x, y| mask_if(s32(x) > s32(y))),
        PACKSSWB => pack(a, b, n, 2, false),
        PACKSSDW => pack(a, b, n, 4, false),
        PACKUSWB => pack(a, b, n, 2, true),
        UNPCKLBW => unpack(a, b, n, 1, false),
        UNPCKLWD => unpack(a, b, n, 2, false),
        UNPCKLDQ => unpack(a, b, n, 4, false),
        UNPCKLQDQ => unpack(a, b, n, 8, false),
        UNPCKHBW => unpack(a, b, n, 1, true),
        UNPCKHWD => unpack(a, b, n, 2, true),
        UNPCKHDQ => unpack(a, b, n, 4, true),
        UNPCKHQDQ => unpack(a, b, n, 8, true),
        AND => a & b,
        ANDN => !a & b,
        OR => a | b,
        XOR => a ^ b,
        SLLW => shift(a, n, 2, cnt, 0),
        SLLD => shift(a, n, 4, cnt, 0),
        SLLQ => shift(a, n, 8, cnt, 0),
        SRLW => shift(a, n, 2, cnt, 1),
        SRLD => shift(a, n, 4, cnt, 1),
        SRLQ => shift(a, n, 8, cnt, 1),
        SRAW => shift(a, n, 2, cnt, 2),
        SRAD => shift(a, n, 4, cnt, 2),
        SLLDQ => {
            if cnt > 15 {
                0
            } else {
                a << (cnt * 8)
            }
        }
        _ => {
            if cnt > 15 {
                0
            } else {
                a >> (cnt * 8)
            }
        }
    }
}

/// `OP mm, mm/m64` (MMX): the MMX memory operand of PUNPCKL* is 32 bits.
fn mmx<const OP: u8>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    cpu.simd_check(op, Unit::Mmx)?;
    let size = if matches!(
        op.code,
        C::Punpcklbw_mm_mmm32 | C::Punpcklwd_mm_mmm32 | C::Punpckldq_mm_mmm32
    ) {
        4
    } else {
        8
    };
    let b = if op.kind[1] == kind::IMM {
        op.imm as u64
    } else {
        cpu.mm_src(bus, op, 1, size)?
    };
    let a = cpu.mm(op.r[0]);
    let r = int_op(OP, a as u128, b as u128, 8);
    cpu.set_mm(op.r[0], r as u64);
    Ok(())
}

/// `OP xmm, xmm/m128` (SSE2 integer and the SSE/SSE2 logic and unpack ops); an
/// immediate second operand is a shift count.
fn xmm<const OP: u8>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    cpu.simd_check(op, Unit::Sse)?;
    let b = if op.kind[1] == kind::IMM {
        op.imm as u128
    } else {
        cpu.xmm_src(bus, op, 1, 16, true)?
    };
    let a = cpu.simd.xmm[op.r[0] as usize & 7];
    cpu.set_xmm(op.r[0], int_op(OP, a, b, 16));
    Ok(())
}

macro_rules! table {
    ($code:expr; $($mm:ident, $x:ident => $op:ident;)*) => {
        match $code {
            $(C::$mm => Some(mmx::<$op> as Handler),
              C::$x => Some(xmm::<$op> as Handler),)*
            _ => None,
        }
    };
}

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    let h: Handler = match code {
        C::Andps_xmm_xmmm128 | C::Andpd_xmm_xmmm128 => xmm::<AND>,
        C::Andnps_xmm_xmmm128 | C::Andnpd_xmm_xmmm128 => xmm::<ANDN>,
        C::Orps_xmm_xmmm128 | C::Orpd_xmm_xmmm128 => xmm::<OR>,
        C::Xorps_xmm_xmmm128 | C::Xorpd_xmm_xmmm128 => xmm::<XOR>,
        C::Unpcklps_xmm_xmmm128 => xmm::<UNPCKLDQ>,
        C::Unpckhps_xmm_xmmm128 => xmm::<UNPCKHDQ>,
        C::Unpcklpd_xmm_xmmm128 | C::Punpcklqdq_xmm_xmmm128 => xmm::<UNPCKLQDQ>,
        C::Unpckhpd_xmm_xmmm128 | C::Punpckhqdq_xmm_xmmm128 => xmm::<UNPCKHQDQ>,
        C::Pslldq_xmm_imm8 => xmm::<SLLDQ>,
        C::Psrldq_xmm_imm8 => xmm::<SRLDQ>,
        _ => {
            return table!(code;
                Paddb_mm_mmm64, Paddb_xmm_xmmm128 => ADDB;
                Paddw_mm_mmm64, Paddw_xmm_xmmm128 => ADDW;
                Paddd_mm_mmm64, Paddd_xmm_xmmm128 => ADDD;
                Paddq_mm_mmm64, Paddq_xmm_xmmm128 => ADDQ;
                Psubb_mm_mmm64, Psubb_xmm_xmmm128 => SUBB;
                Psubw_mm_mmm64, Psubw_xmm_xmmm128 => SUBW;
                Psubd_mm_mmm64, Psubd_xmm_xmmm128 => SUBD;
                Psubq_mm_mmm64, Psubq_xmm_xmmm128 => SUBQ;
                Paddsb_mm_mmm64, Paddsb_xmm_xmmm128 => ADDSB;
                Paddsw_mm_mmm64, Paddsw_xmm_xmmm128 => ADDSW;
                Paddusb_mm_mmm64, Paddusb_xmm_xmmm128 => ADDUSB;
                Paddusw_mm_mmm64, Paddusw_xmm_xmmm128 => ADDUSW;
                Psubsb_mm_mmm64, Psubsb_xmm_xmmm128 => SUBSB;
                Psubsw_mm_mmm64, Psubsw_xmm_xmmm128 => SUBSW;
                Psubusb_mm_mmm64, Psubusb_xmm_xmmm128 => SUBUSB;
                Psubusw_mm_mmm64, Psubusw_xmm_xmmm128 => SUBUSW;
                Pmullw_mm_mmm64, Pmullw_xmm_xmmm128 => MULLW;
                Pmulhw_mm_mmm64, Pmulhw_xmm_xmmm128 => MULHW;
                Pmulhuw_mm_mmm64, Pmulhuw_xmm_xmmm128 => MULHUW;
                Pmuludq_mm_mmm64, Pmuludq_xmm_xmmm128 => MULUDQ;
                Pmaddwd_mm_mmm64, Pmaddwd_xmm_xmmm128 => MADDWD;
                Psadbw_mm_mmm64, Psadbw_xmm_xmmm128 => SADBW;
                Pavgb_mm_mmm64, Pavgb_xmm_xmmm128 => AVGB;
                Pavgw_mm_mmm64, Pavgw_xmm_xmmm128 => AVGW;
                Pminub_mm_mmm64, Pminub_xmm_xmmm128 => MINUB;
                Pmaxub_mm_mmm64, Pmaxub_xmm_xmmm128 => MAXUB;
                Pminsw_mm_mmm64, Pminsw_xmm_xmmm128 => MINSW;
                Pmaxsw_mm_mmm64, Pmaxsw_xmm_xmmm128 => MAXSW;
                Pcmpeqb_mm_mmm64, Pcmpeqb_xmm_xmmm128 => CMPEQB;
                Pcmpeqw_mm_mmm64, Pcmpeqw_xmm_xmmm128 => CMPEQW;
                Pcmpeqd_mm_mmm64, Pcmpeqd_xmm_xmmm128 => CMPEQD;
                Pcmpgtb_mm_mmm64, Pcmpgtb_xmm_xmmm128 => CMPGTB;
                Pcmpgtw_mm_mmm64, Pcmpgtw_xmm_xmmm128 => CMPGTW;
                Pcmpgtd_mm_mmm64, Pcmpgtd_xmm_xmmm128 => CMPGTD;
                Packsswb_mm_mmm64, Packsswb_xmm_xmmm128 => PACKSSWB;
                Packssdw_mm_mmm64, Packssdw_xmm_xmmm128 => PACKSSDW;
                Packuswb_mm_mmm64, Packuswb_xmm_xmmm128 => PACKUSWB;
                Punpcklbw_mm_mmm32, Punpcklbw_xmm_xmmm128 => UNPCKLBW;
                Punpcklwd_mm_mmm32, Punpcklwd_xmm_xmmm128 => UNPCKLWD;
                Punpckldq_mm_mmm32, Punpckldq_xmm_xmmm128 => UNPCKLDQ;
                Punpckhbw_mm_mmm64, Punpckhbw_xmm_xmmm128 => UNPCKHBW;
                Punpckhwd_mm_mmm64, Punpckhwd_xmm_xmmm128 => UNPCKHWD;
                Punpckhdq_mm_mmm64, Punpckhdq_xmm_xmmm128 => UNPCKHDQ;
                Pand_mm_mmm64, Pand_xmm_xmmm128 => AND;
                Pandn_mm_mmm64, Pandn_xmm_xmmm128 => ANDN;
                Por_mm_mmm64, Por_xmm_xmmm128 => OR;
                Pxor_mm_mmm64, Pxor_xmm_xmmm128 => XOR;
                Psllw_mm_mmm64, Psllw_xmm_xmmm128 => SLLW;
                Pslld_mm_mmm64, Pslld_xmm_xmmm128 => SLLD;
                Psllq_mm_mmm64, Psllq_xmm_xmmm128 => SLLQ;
                Psrlw_mm_mmm64, Psrlw_xmm_xmmm128 => SRLW;
                Psrld_mm_mmm64, Psrld_xmm_xmmm128 => SRLD;
                Psrlq_mm_mmm64, Psrlq_xmm_xmmm128 => SRLQ;
                Psraw_mm_mmm64, Psraw_xmm_xmmm128 => SRAW;
                Psrad_mm_mmm64, Psrad_xmm_xmmm128 => SRAD;
                Psllw_mm_imm8, Psllw_xmm_imm8 => SLLW;
                Pslld_mm_imm8, Pslld_xmm_imm8 => SLLD;
                Psllq_mm_imm8, Psllq_xmm_imm8 => SLLQ;
                Psrlw_mm_imm8, Psrlw_xmm_imm8 => SRLW;
                Psrld_mm_imm8, Psrld_xmm_imm8 => SRLD;
                Psrlq_mm_imm8, Psrlq_xmm_imm8 => SRLQ;
                Psraw_mm_imm8, Psraw_xmm_imm8 => SRAW;
                Psrad_mm_imm8, Psrad_xmm_imm8 => SRAD;
            )
        }
    };
    Some(h)
}

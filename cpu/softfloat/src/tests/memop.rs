//! Arithmetic with a memory operand (FADD m32fp, FMUL m64fp, FDIV m32fp,
//! FCOM m64fp, FIADD m32int) compared with the host via `arith_mem` and
//! `compare_mem`.

use super::arith::Tally;
use super::gen::{gen_f80, masked_cws, specials, Rng};
use super::hw;
use crate::{arith_mem, compare_mem, BinOp, Control, Flags, MemOperand, F80};

#[test]
fn memory_operands_vs_host() {
    if !super::hw::intel_host("memory_operands_vs_host") {
        return;
    }
    let sp = specials();
    let cws = masked_cws();
    let mut r = Rng(0x00C0_FFEE_D00D_F00D);
    let mut t = Tally::default();
    for i in 0..400_000u64 {
        let a = gen_f80(&mut r, &sp);
        let mut cw = cws[r.below(cws.len() as u64) as usize];
        if i % 4 == 0 {
            cw = (cw & !0x3F) | (r.next() as u16 & 0x3F);
        }
        let ctl = Control::from_fcw(cw);
        let mut m32 = r.next() as u32;
        let mut m64 = r.next();
        match r.below(4) {
            0 => {
                m32 &= 0x807F_FFFF;
                m64 &= 0x800F_FFFF_FFFF_FFFF;
            }
            1 => {
                m32 |= 0x7F80_0000;
                m64 |= 0x7FF0_0000_0000_0000;
            }
            _ => {}
        }
        let sw = |f: Flags| f.ex.bits() as u16 | ((f.c1 as u16) << 9);
        let mut cmp = |name: &str, mine: (F80, Flags), h: hw::HwOut, mask: u16| {
            t.cases += 1;
            if mine.0 != h.st0 || sw(mine.1) & mask != h.sw & mask {
                t.bad += 1;
                if t.shown < 12 {
                    t.shown += 1;
                    std::println!(
                        "{name} cw={cw:04X} a={a:?} m32={m32:08X} m64={m64:016X}: soft {:?} {:04X} | hw {:?} {:04X}",
                        mine.0, sw(mine.1) & mask, h.st0, h.sw & mask
                    );
                }
            }
        };
        let m = ctl.masks;
        let am = |op, mo| {
            let (v, f) = arith_mem(op, a, mo, ctl);
            (if f.suppressed { a } else { v }, f)
        };
        cmp(
            "fadd m32",
            am(BinOp::Add, MemOperand::F32(m32)),
            hw::fadd_m32(cw, a, m32.to_le_bytes()),
            0x023F,
        );
        cmp(
            "fmul m64",
            am(BinOp::Mul, MemOperand::F64(m64)),
            hw::fmul_m64(cw, a, m64.to_le_bytes()),
            0x023F,
        );
        cmp(
            "fdiv m32",
            am(BinOp::Div, MemOperand::F32(m32)),
            hw::fdiv_m32(cw, a, m32.to_le_bytes()),
            0x023F,
        );
        let n = m32 as i32;
        cmp(
            "fiadd m32",
            am(BinOp::Add, MemOperand::I32(n)),
            hw::fiadd_m32(cw, a, n.to_le_bytes()),
            0x023F,
        );
        let (rel, f) = compare_mem(a, MemOperand::F64(m64), false, m);
        let cc = rel.cond_codes().status_bits();
        let h = hw::fcom_m64(cw, a, m64.to_le_bytes());
        t.cases += 1;
        if (f.ex.bits() as u16 | cc) != h.sw & 0x453F {
            t.bad += 1;
            if t.shown < 12 {
                t.shown += 1;
                std::println!(
                    "fcom m64 cw={cw:04X} a={a:?} m64={m64:016X}: soft {:04X} | hw {:04X}",
                    f.ex.bits() as u16 | cc,
                    h.sw & 0x453F
                );
            }
        }
    }
    t.report("memory-operand arithmetic");
    assert_eq!(t.bad, 0);
}

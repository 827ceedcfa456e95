//! FPREM/FPREM1, FXTRACT, FCOM/FUCOM/FTST, FXAM and the constant loads
//! compared with the host x87, including condition codes C0..C3.

use super::arith::Tally;
use super::gen::{gen_pair, masked_cws, specials, Rng};
use super::hw::{self, HwOut, SW_CMP};
use crate::{Const, Control, Rounding, F80};

fn cc_bits(cc: crate::CondCodes) -> u16 {
    cc.status_bits()
}

fn note(
    t: &mut Tally,
    name: &str,
    cw: u16,
    a: F80,
    b: F80,
    soft: (F80, F80, u16),
    h: HwOut,
    cmp_st1: bool,
) {
    t.cases += 1;
    let ok = h.st0 == soft.0 && (!cmp_st1 || h.st1 == soft.1) && (h.sw & SW_CMP) == soft.2;
    if !ok {
        t.bad += 1;
        if t.shown < 12 {
            t.shown += 1;
            std::println!(
                "{name} cw={cw:04X} a={a:?} b={b:?}: soft {:?} {:?} sw={:04X} | hw {:?} {:?} sw={:04X}",
                soft.0, soft.1, soft.2, h.st0, h.st1, h.sw & SW_CMP
            );
        }
    }
}

fn case(name: &str, a: F80, b: F80, cw: u16, t: &mut Tally) {
    let ctl = Control::from_fcw(cw);
    match name {
        "fprem" | "fprem1" => {
            let (r, f, cc) = if name == "fprem" {
                crate::fprem(a, b, ctl)
            } else {
                crate::fprem1(a, b, ctl)
            };
            let h = if name == "fprem" {
                hw::fprem(cw, a, b)
            } else {
                hw::fprem1(cw, a, b)
            };
            let v = if f.suppressed { a } else { r };
            let sw = f.ex.bits() as u16 | cc_bits(cc);
            note(t, name, cw, a, b, (v, b, sw), h, true);
        }
        "fxtract" => {
            let (e, s, f) = crate::fxtract(a, ctl);
            let h = hw::fxtract(cw, a, b);
            let (s0, s1) = if f.suppressed { (a, b) } else { (s, e) };
            note(t, name, cw, a, b, (s0, s1, f.ex.bits() as u16), h, true);
        }
        "fcom" | "fucom" | "ftst" => {
            let (rel, f) = match name {
                "fcom" => crate::compare(a, b, false, ctl.masks),
                "fucom" => crate::compare(a, b, true, ctl.masks),
                _ => crate::ftst(a, ctl.masks),
            };
            let h = match name {
                "fcom" => hw::fcom(cw, a, b),
                "fucom" => hw::fucom(cw, a, b),
                _ => hw::ftst(cw, a, b),
            };
            let cc = if f.suppressed {
                0
            } else {
                cc_bits(rel.cond_codes())
            };
            note(t, name, cw, a, b, (a, b, f.ex.bits() as u16 | cc), h, true);
        }
        "fxam" => {
            let h = hw::fxam(cw, a, b);
            note(
                t,
                name,
                cw,
                a,
                b,
                (a, b, crate::fxam(a).status_bits()),
                h,
                true,
            );
        }
        _ => unreachable!(),
    }
}

#[test]
fn misc_vs_host() {
    if !super::hw::intel_host("misc_vs_host") {
        return;
    }
    let sp = specials();
    let cws = masked_cws();
    let mut bad = 0;
    for name in [
        "fprem", "fprem1", "fxtract", "fcom", "fucom", "ftst", "fxam",
    ] {
        let mut t = Tally::default();
        for &cw in &cws {
            for cw in [cw, cw & !0x3F] {
                for &a in &sp {
                    for &b in &sp {
                        case(name, a, b, cw, &mut t);
                    }
                }
            }
        }
        let mut r = Rng(0x5DEE_CE66_D1CE_4E5B);
        for i in 0..500_000u64 {
            let (mut a, b) = gen_pair(&mut r, &sp);
            if name.starts_with("fprem") && r.one_in(3) {
                // Large exponent differences: partial remainders.
                a = F80::new(
                    a.sign(),
                    (b.exp() as u64 + r.below(200)).min(0x7FFE) as u16,
                    a.signif | 1 << 63,
                );
            }
            let mut cw = cws[r.below(cws.len() as u64) as usize];
            if i % 8 == 0 {
                cw = (cw & !0x3F) | (r.next() as u16 & 0x3F);
            }
            case(name, a, b, cw, &mut t);
        }
        t.report(name);
        bad += t.bad;
    }
    assert_eq!(bad, 0);
}

#[test]
fn constants_vs_host() {
    if !super::hw::intel_host("constants_vs_host") {
        return;
    }
    type Hard = fn(u16, F80, F80) -> HwOut;
    let table: [(Const, Hard); 6] = [
        (Const::One, hw::fld1),
        (Const::L2T, hw::fldl2t),
        (Const::L2E, hw::fldl2e),
        (Const::Pi, hw::fldpi),
        (Const::LG2, hw::fldlg2),
        (Const::LN2, hw::fldln2),
    ];
    let mut t = Tally::default();
    for (c, f) in table {
        for (i, rc) in [
            Rounding::Nearest,
            Rounding::Down,
            Rounding::Up,
            Rounding::TowardZero,
        ]
        .into_iter()
        .enumerate()
        {
            for pc in [0u16, 2, 3] {
                let cw = 0x037F & !0x0F00 | ((i as u16) << 10) | (pc << 8);
                let h = f(cw, F80::ZERO, F80::ZERO);
                let mine = crate::load_const(c, rc);
                note(
                    &mut t,
                    "fldconst",
                    cw,
                    F80::ZERO,
                    F80::ZERO,
                    (mine, F80::ZERO, 0),
                    h,
                    false,
                );
            }
        }
    }
    t.report("constants");
    assert_eq!(t.bad, 0);
}

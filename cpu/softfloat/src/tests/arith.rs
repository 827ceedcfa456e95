//! Basic arithmetic (FADD, FSUB, FMUL, FDIV, FSQRT, FPREM, FPREM1, FRNDINT,
//! FSCALE) compared bit-for-bit with the host x87.

use super::gen::{gen_pair, masked_cws, specials, Rng};
use super::hw::{self, HwOut};
use crate::{Control, Flags, F80};

type Soft = fn(F80, F80, Control) -> (F80, Flags);
type Hard = fn(u16, F80, F80) -> HwOut;

/// Tally of compared cases.
#[derive(Default)]
pub struct Tally {
    pub cases: u64,
    pub bad: u64,
    pub shown: u32,
}

impl Tally {
    pub fn report(&self, name: &str) {
        std::println!(
            "{name}: {} cases compared, {} mismatches",
            self.cases,
            self.bad
        );
    }
}

/// Compare one case; `sw_mask` selects the status bits to compare.
pub fn check(name: &str, soft: Soft, hard: Hard, a: F80, b: F80, cw: u16, t: &mut Tally) {
    let ctl = Control::from_fcw(cw);
    let (r, f) = soft(a, b, ctl);
    let h = hard(cw, a, b);
    let want = if f.suppressed { a } else { r };
    let mine = f.ex.bits() as u16 | ((f.c1 as u16) << 9);
    let theirs = h.sw & 0x023F;
    t.cases += 1;
    if h.st0 != want || mine != theirs {
        t.bad += 1;
        if t.shown < 12 {
            t.shown += 1;
            std::println!(
                "{name} cw={cw:04X} a={a:?} b={b:?}: soft {want:?} sw={mine:04X} {:?} | hw {:?} sw={theirs:04X}",
                f.ex, h.st0
            );
        }
    }
}

fn sqrt_s(a: F80, _b: F80, c: Control) -> (F80, Flags) {
    crate::sqrt(a, c)
}
fn rnd_s(a: F80, _b: F80, c: Control) -> (F80, Flags) {
    crate::frndint(a, c)
}

pub fn ops() -> Vec<(&'static str, Soft, Hard)> {
    vec![
        ("fadd", crate::add as Soft, hw::fadd as Hard),
        ("fsub", crate::sub, hw::fsub),
        ("fmul", crate::mul, hw::fmul),
        ("fdiv", crate::div, hw::fdiv),
        ("fsqrt", sqrt_s, hw::fsqrt),
        ("frndint", rnd_s, hw::frndint),
        ("fscale", crate::fscale, hw::fscale),
    ]
}

fn run_op(name: &str, soft: Soft, hard: Hard, random: u64, seed: u64) -> Tally {
    let sp = specials();
    let cws = masked_cws();
    let mut t = Tally::default();
    // Every special pair in all 12 PC/RC modes, masked and fully unmasked.
    for &cw in &cws {
        for unmask in [false, true] {
            let cw = if unmask { cw & !0x3F } else { cw };
            for &a in &sp {
                for &b in &sp {
                    check(name, soft, hard, a, b, cw, &mut t);
                }
            }
        }
    }
    let mut r = Rng(seed);
    for i in 0..random {
        let (a, b) = gen_pair(&mut r, &sp);
        let mut cw = cws[r.below(cws.len() as u64) as usize];
        if i % 8 == 0 {
            // Random exception masks: unmasked responses.
            cw = (cw & !0x3F) | (r.next() as u16 & 0x3F);
        }
        check(name, soft, hard, a, b, cw, &mut t);
    }
    t
}

#[test]
fn arith_vs_host() {
    if !super::hw::intel_host("arith_vs_host") {
        return;
    }
    let mut bad = 0;
    for (name, s, h) in ops() {
        let t = run_op(name, s, h, 3_000_000, 0x9E37_79B9_7F4A_7C15);
        t.report(name);
        bad += t.bad;
    }
    assert_eq!(bad, 0);
}

#[test]
#[ignore]
fn arith_vs_host_long() {
    if !super::hw::intel_host("arith_vs_host_long") {
        return;
    }
    let mut bad = 0;
    for (name, s, h) in ops() {
        let t = run_op(name, s, h, 20_000_000, 0xD1B5_4A32_D192_ED03);
        t.report(name);
        bad += t.bad;
    }
    assert_eq!(bad, 0);
}

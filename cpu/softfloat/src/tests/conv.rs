//! Conversions (FIST/FISTTP, FST m32/m64, FBSTP, FLD m32/m64, FILD, FBLD)
//! compared with the host x87.

use super::arith::Tally;
use super::gen::{gen_f80, masked_cws, specials, Rng};
use super::hw;
use crate::{Control, Flags, F80};

fn sw_of(f: Flags) -> u16 {
    f.ex.bits() as u16 | ((f.c1 as u16) << 9)
}

fn note(
    t: &mut Tally,
    name: &str,
    cw: u16,
    a: &dyn core::fmt::Debug,
    mine: (&[u8], u16),
    hw: (&[u8], u16),
) {
    t.cases += 1;
    if mine.0 != hw.0 || mine.1 != hw.1 & 0x023F {
        t.bad += 1;
        if t.shown < 12 {
            t.shown += 1;
            std::println!(
                "{name} cw={cw:04X} in={a:?}: soft {:02X?} sw={:04X} | hw {:02X?} sw={:04X}",
                mine.0,
                mine.1,
                hw.0,
                hw.1 & 0x023F
            );
        }
    }
}

fn store_case(name: &str, a: F80, cw: u16, t: &mut Tally) {
    let ctl = Control::from_fcw(cw);
    macro_rules! st {
        ($soft:expr, $hw:path, $n:literal) => {{
            let (v, f) = $soft;
            let mine = if f.suppressed {
                [0xA5u8; $n]
            } else {
                v.to_le_bytes()
            };
            let (m, sw) = $hw(cw, a);
            note(t, name, cw, &a, (&mine, sw_of(f)), (&m, sw));
        }};
    }
    match name {
        "fistp16" => st!(crate::to_i16(a, ctl), hw::fistp16, 2),
        "fistp32" => st!(crate::to_i32(a, ctl), hw::fistp32, 4),
        "fistp64" => st!(crate::to_i64(a, ctl), hw::fistp64, 8),
        "fisttp16" => st!(crate::to_i16_trunc(a, ctl), hw::fisttp16, 2),
        "fisttp32" => st!(crate::to_i32_trunc(a, ctl), hw::fisttp32, 4),
        "fisttp64" => st!(crate::to_i64_trunc(a, ctl), hw::fisttp64, 8),
        "fstp32" => st!(crate::to_f32_bits(a, ctl), hw::fstp32, 4),
        "fstp64" => st!(crate::to_f64_bits(a, ctl), hw::fstp64, 8),
        "fbstp" => {
            let (v, f) = crate::to_bcd(a, ctl);
            let mine = if f.suppressed { [0xA5u8; 10] } else { v };
            let (m, sw) = hw::fbstp(cw, a);
            note(t, name, cw, &a, (&mine, sw_of(f)), (&m, sw));
        }
        _ => unreachable!(),
    }
}

#[test]
fn stores_vs_host() {
    if !super::hw::intel_host("stores_vs_host") {
        return;
    }
    let sp = specials();
    let cws = masked_cws();
    let mut bad = 0;
    for name in [
        "fistp16", "fistp32", "fistp64", "fisttp16", "fisttp32", "fisttp64", "fstp32", "fstp64",
        "fbstp",
    ] {
        let mut t = Tally::default();
        for &cw in &cws {
            for cw in [cw, cw & !0x3F] {
                for &a in &sp {
                    store_case(name, a, cw, &mut t);
                }
            }
        }
        let mut r = Rng(0x0123_4567_89AB_CDEF);
        for i in 0..500_000u64 {
            let mut a = gen_f80(&mut r, &sp);
            match r.below(4) {
                // Integers / halves near the target range.
                0 => a = F80::new(a.sign(), 0x3FFF + r.below(66) as u16, a.signif | 1 << 63),
                // Near the single/double exponent limits.
                1 => {
                    let edges = [0x3F81u16, 0x3F6A, 0x407E, 0x3C01, 0x3BCD, 0x43FE];
                    let e = edges[r.below(6) as usize] as i64 + r.below(5) as i64 - 2;
                    a = F80::new(a.sign(), e as u16, super::gen::gen_sig(&mut r));
                }
                _ => {}
            }
            let mut cw = cws[r.below(cws.len() as u64) as usize];
            if i % 8 == 0 {
                cw = (cw & !0x3F) | (r.next() as u16 & 0x3F);
            }
            store_case(name, a, cw, &mut t);
        }
        t.report(name);
        bad += t.bad;
    }
    assert_eq!(bad, 0);
}

#[test]
fn loads_vs_host() {
    if !super::hw::intel_host("loads_vs_host") {
        return;
    }
    let mut r = Rng(0xFEED_FACE_CAFE_BEEF);
    let cws = masked_cws();
    let mut bad = 0;
    let mut t32 = Tally::default();
    let mut t64 = Tally::default();
    let mut ti = Tally::default();
    let mut tb = Tally::default();
    for i in 0..300_000u64 {
        let mut cw = cws[r.below(cws.len() as u64) as usize];
        if i % 4 == 0 {
            cw = (cw & !0x3F) | (r.next() as u16 & 0x3F);
        }
        let ctl = Control::from_fcw(cw);
        let res = |v: F80, f: Flags| if f.suppressed { F80::ONE } else { v };
        // Single: bias exponents toward 0 and 255.
        let mut b32 = r.next() as u32;
        match r.below(4) {
            0 => b32 &= 0x807F_FFFF,
            1 => b32 |= 0x7F80_0000,
            _ => {}
        }
        let (v, f) = crate::from_f32_bits(b32, ctl.masks);
        let (h, sw) = hw::fld32(cw, b32.to_le_bytes());
        note(
            &mut t32,
            "fld32",
            cw,
            &b32,
            (&res(v, f).to_le_bytes(), sw_of(f)),
            (&h.to_le_bytes(), sw),
        );
        let mut b64 = r.next();
        match r.below(4) {
            0 => b64 &= 0x800F_FFFF_FFFF_FFFF,
            1 => b64 |= 0x7FF0_0000_0000_0000,
            _ => {}
        }
        let (v, f) = crate::from_f64_bits(b64, ctl.masks);
        let (h, sw) = hw::fld64(cw, b64.to_le_bytes());
        note(
            &mut t64,
            "fld64",
            cw,
            &b64,
            (&res(v, f).to_le_bytes(), sw_of(f)),
            (&h.to_le_bytes(), sw),
        );
        // Integers.
        let n = (r.next() as i64) >> r.below(64);
        let (h, sw) = hw::fild64(cw, n.to_le_bytes());
        note(
            &mut ti,
            "fild64",
            cw,
            &n,
            (&crate::from_i64(n).to_le_bytes(), 0),
            (&h.to_le_bytes(), sw),
        );
        let (h, sw) = hw::fild32(cw, (n as i32).to_le_bytes());
        note(
            &mut ti,
            "fild32",
            cw,
            &n,
            (&crate::from_i32(n as i32).to_le_bytes(), 0),
            (&h.to_le_bytes(), sw),
        );
        let (h, sw) = hw::fild16(cw, (n as i16).to_le_bytes());
        note(
            &mut ti,
            "fild16",
            cw,
            &n,
            (&crate::from_i16(n as i16).to_le_bytes(), 0),
            (&h.to_le_bytes(), sw),
        );
        // Packed BCD with valid digits.
        let mut bcd = [0u8; 10];
        let digits = r.below(19);
        let mut x = r.next();
        for k in 0..9 {
            let lo = if 2 * k < digits { (x % 10) as u8 } else { 0 };
            x /= 10;
            let hi = if 2 * k + 1 < digits {
                (x % 10) as u8
            } else {
                0
            };
            x /= 10;
            if x < 100 {
                x = r.next();
            }
            bcd[k as usize] = hi << 4 | lo;
        }
        bcd[9] = if r.one_in(2) { 0x80 } else { 0 };
        let (h, sw) = hw::fbld(cw, bcd);
        note(
            &mut tb,
            "fbld",
            cw,
            &bcd,
            (&crate::from_bcd(bcd).to_le_bytes(), 0),
            (&h.to_le_bytes(), sw),
        );
    }
    for (n, t) in [
        ("fld32", &t32),
        ("fld64", &t64),
        ("fild", &ti),
        ("fbld", &tb),
    ] {
        t.report(n);
        bad += t.bad;
    }
    assert_eq!(bad, 0);
}

/// FBLD of encodings with invalid digit nibbles (A–F), including the BCD
/// indefinite: the SDM leaves the result undefined; this pins down what the
/// model does and reports how often it agrees with the host.
#[test]
fn fbld_invalid_digits_vs_host() {
    if !super::hw::intel_host("fbld_invalid_digits_vs_host") {
        return;
    }
    let mut r = Rng(0x0DDB_A11C_0FFE_E000);
    let mut t = Tally::default();
    let mut cases: Vec<[u8; 10]> = vec![crate::BCD_INDEFINITE];
    for _ in 0..20_000 {
        let mut b = [0u8; 10];
        for byte in b.iter_mut() {
            *byte = r.next() as u8;
        }
        b[9] &= 0x80 | (r.next() as u8 & 0x7F);
        cases.push(b);
    }
    for b in cases {
        let (h, sw) = hw::fbld(0x037F, b);
        t.cases += 1;
        if crate::from_bcd(b) != h || sw & 0x023F != 0 {
            t.bad += 1;
            if t.shown < 5 {
                t.shown += 1;
                std::println!(
                    "fbld {b:02X?}: soft {:?} | hw {h:?} sw={sw:04X}",
                    crate::from_bcd(b)
                );
            }
        }
    }
    t.report("fbld (invalid digits)");
}

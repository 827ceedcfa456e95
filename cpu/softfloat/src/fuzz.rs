//! Host-independent robustness test: every public operation is fed random
//! bit patterns (with debug overflow checks on) and must not panic.

use crate::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn f80(&mut self) -> F80 {
        let r = self.next();
        let e = match r % 4 {
            0 => r as u16 >> 1,
            1 => (r >> 8) as u16 % 8,
            2 => 0x7FFF - ((r >> 8) as u16 % 8),
            _ => 0x3FFF - 80 + ((r >> 8) as u16 % 160),
        };
        let sign = r & (1 << 40) != 0;
        F80::new(sign, e, self.next())
    }
}

#[test]
fn no_panics_on_any_bits() {
    let mut r = Rng(0x2545_F491_4F6C_DD1D);
    for _ in 0..100_000 {
        let (a, b) = (r.f80(), r.f80());
        let ctl = Control::from_fcw(r.next() as u16);
        let _ = (
            add(a, b, ctl),
            sub(a, b, ctl),
            mul(a, b, ctl),
            div(a, b, ctl),
        );
        let _ = (
            sqrt(a, ctl),
            fprem(a, b, ctl),
            fprem1(a, b, ctl),
            frndint(a, ctl),
        );
        let _ = (fscale(a, b, ctl), fxtract(a, ctl), fxam(a));
        let _ = (
            compare(a, b, false, ctl.masks),
            compare(a, b, true, ctl.masks),
            ftst(a, ctl.masks),
        );
        let _ = (to_i16(a, ctl), to_i32(a, ctl), to_i64(a, ctl));
        let _ = (
            to_i16_trunc(a, ctl),
            to_i32_trunc(a, ctl),
            to_i64_trunc(a, ctl),
        );
        let _ = (to_f32_bits(a, ctl), to_f64_bits(a, ctl), to_bcd(a, ctl));
        let _ = (
            from_f32_bits(r.next() as u32, ctl.masks),
            from_f64_bits(r.next(), ctl.masks),
        );
        let _ = from_bcd(a.to_le_bytes());
        let _ = (
            f2xm1(a, ctl),
            fyl2x(a, b, ctl),
            fyl2xp1(a, b, ctl),
            fpatan(a, b, ctl),
        );
        let _ = (fsin(a, ctl), fcos(a, ctl), fsincos(a, ctl), fptan(a, ctl));
    }
}

#[test]
fn constants_round_per_rc() {
    // FLDPI: C90F_DAA2_2168_C234_C4... rounds up to ...C235 only for RN/up.
    assert_eq!(
        load_const(Const::Pi, Rounding::Nearest).signif,
        0xC90F_DAA2_2168_C235
    );
    assert_eq!(
        load_const(Const::Pi, Rounding::Down).signif,
        0xC90F_DAA2_2168_C234
    );
    assert_eq!(
        load_const(Const::L2T, Rounding::Nearest).signif,
        0xD49A_784B_CD1B_8AFE
    );
    assert_eq!(
        load_const(Const::L2T, Rounding::Up).signif,
        0xD49A_784B_CD1B_8AFF
    );
}

#[test]
fn masked_defaults() {
    let all = Control::FNINIT;
    // 0/0 → real indefinite with IE.
    let (v, f) = div(F80::ZERO, F80::ZERO, all);
    assert_eq!(v, F80::INDEFINITE);
    assert_eq!(f.ex, Exceptions::IE);
    // Out-of-range FIST → integer indefinite.
    let (i, f) = to_i16(from_i32(40000), all);
    assert_eq!((i as u16, f.ex), (0x8000, Exceptions::IE));
    // Unmasked overflow in a register: exponent biased by −24576.
    let unmasked = Control::from_fcw(0x0377);
    let big = F80::new(false, 0x7FFE, 1 << 63);
    let (v, f) = mul(big, big, unmasked);
    assert!(f.ex.contains(Exceptions::OE) && !f.suppressed);
    assert_eq!(
        v.exp() as i32,
        0x7FFE + 0x7FFE - BIAS - UNMASKED_BIAS_ADJUST
    );
}

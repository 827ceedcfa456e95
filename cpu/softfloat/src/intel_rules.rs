//! Host-independent checks of the places where Intel's x87 behaviour is
//! implementation-specific (and differs from AMD's), each with an answer
//! recorded on an Intel Xeon (family 6 model 167): operands, control word
//! and the status-word bits IE..PE and C0..C3 and the result.

use crate::{Control, Flags, F80};

/// `SSSS_MMMMMMMMMMMMMMMM` as in the recorded vectors.
fn f(s: &str) -> F80 {
    let (e, m) = s.split_once('_').expect("value");
    F80 {
        sign_exp: u16::from_str_radix(e, 16).expect("exponent"),
        signif: u64::from_str_radix(m, 16).expect("significand"),
    }
}

/// Exception flags and C1 as positioned in the status word.
fn sw(fl: Flags) -> u16 {
    fl.ex.bits() as u16 | (fl.c1 as u16) << 9
}

/// A one-result instruction: (result or the operand if suppressed, SW bits).
fn one(r: (F80, Flags), a: F80) -> (F80, u16) {
    (if r.1.suppressed { a } else { r.0 }, sw(r.1))
}

#[test]
fn fscale_by_zero_passes_the_operand_through() {
    // Denormal × 2^0 with #U unmasked: unchanged, #D only (no rebias, no #U).
    let a = f("0000_0000000057029fa9");
    let r = crate::fscale(a, f("8000_0000000000000000"), Control::from_fcw(0x024A));
    assert_eq!(one(r, a), (a, 0x0002));
    // A pseudo-denormal comes back canonical.
    let a = f("0000_8faa164840255783");
    let r = crate::fscale(a, f("0000_0000000000000000"), Control::from_fcw(0x026F));
    assert_eq!(one(r, a), (f("0001_8faa164840255783"), 0x0002));
    // A factor that merely truncates to 0 still rounds (#U, rebiased).
    let a = f("0000_0faa164840255783");
    let r = crate::fscale(a, f("3ffe_8000000000000000"), Control::from_fcw(0x026F));
    assert_eq!(one(r, a), (f("5ffd_faa1648402557830"), 0x0012));
}

#[test]
fn fprem_by_infinity_passes_the_operand_through() {
    let a = f("0000_0faa164840255783");
    let (v, fl, _) = crate::fprem(a, f("7fff_8000000000000000"), Control::from_fcw(0x026F));
    assert_eq!((v, sw(fl)), (a, 0x0002));
    let a = f("0000_8faa164840255783");
    let (v, fl, _) = crate::fprem1(a, f("7fff_8000000000000000"), Control::from_fcw(0x027F));
    assert_eq!((v, sw(fl)), (f("0001_8faa164840255783"), 0x0002));
    // #D unmasked: nothing is written.
    let (_, fl, _) = crate::fprem(a, f("7fff_8000000000000000"), Control::from_fcw(0x026D));
    assert!(fl.suppressed);
}

#[test]
fn f2xm1_and_fyl2xp1_outside_their_domains() {
    let c = Control::from_fcw(0x027F);
    let a = f("3fff_8000000000000001");
    assert_eq!(one(crate::f2xm1(a, c), a), (a, 0x0020));
    let a = f("c032_efb22ccb5b6bffc6");
    assert_eq!(one(crate::f2xm1(a, c), a), (a, 0x0020));
    // FYL2XP1 with x <= −1: x for finite y, x × y for ±0 / ±∞, never #IA.
    let x = f("bfff_8000000000000000");
    assert_eq!(
        one(crate::fyl2xp1(x, f("3fff_8000000000000000"), c), x),
        (x, 0x0020)
    );
    assert_eq!(
        one(crate::fyl2xp1(x, f("0000_0000000000000000"), c), x),
        (f("8000_0000000000000000"), 0)
    );
    let x = f("c000_8000000000000000");
    assert_eq!(
        one(crate::fyl2xp1(x, f("ffff_8000000000000000"), c), x),
        (f("7fff_8000000000000000"), 0)
    );
}

#[test]
fn small_argument_trigonometry() {
    // |x| < 2^-68: sin x = tan x = x, cos x = 1 in every rounding mode, C1 = 0.
    let rz = Control::from_fcw(0x0F7F);
    let x = f("3fba_c000000000000001");
    assert_eq!(one(crate::fsin(x, rz).split(), x), (x, 0x0020));
    assert_eq!(one(crate::fcos(x, rz).split(), x), (F80::ONE, 0x0020));
    // 2^-68 is computed (RZ: just below).
    let x = f("3fbb_8000000000000000");
    assert_eq!(
        one(crate::fsin(x, rz).split(), x),
        (f("3fba_ffffffffffffffff"), 0x0020)
    );
    // A denormal: #U (rebiased when unmasked), #D, #P.
    let x = f("0000_2c16ed22aa128a46");
    assert_eq!(one(crate::fsin(x, rz).split(), x), (x, 0x0032));
    assert_eq!(
        one(crate::fsin(x, Control::from_fcw(0x036F)).split(), x),
        (f("5fff_b05bb48aa84a2918"), 0x0032)
    );
    assert_eq!(one(crate::fcos(x, rz).split(), x), (F80::ONE, 0x0022));
    // FPTAN below 2^-33 rounds a value just under |x|.
    let x = f("3fce_e092781da0ab05fe");
    let (t, fl, _) = crate::fptan(x, rz);
    assert_eq!((t, sw(fl)), (f("3fce_e092781da0ab05fd"), 0x0020));
    let (t, fl, _) = crate::fptan(x, Control::from_fcw(0x037F));
    assert_eq!((t, sw(fl)), (x, 0x0220));
    // ... but tan(π/2 rounded) = −2^65: an odd quadrant.
    let (t, _, _) = crate::fptan(f("3fff_c90fdaa22168c235"), Control::from_fcw(0x037F));
    assert_eq!(t, f("c040_8000000000000000"));
}

#[test]
fn fsincos_reports_the_cosine_c1() {
    // Recorded: FSINCOS SW 2A20 (C1 = 1) where FSIN alone gives C1 = 0 and
    // FCOS alone C1 = 1.
    let x = f("c007_dc40586a98d361c0");
    let c = Control::from_fcw(0x0B7B);
    let (s, co, fl, _) = crate::fsincos(x, c);
    assert_eq!(s, f("bffe_a0eaa753a086a870"));
    assert_eq!(co, f("3ffe_c71a43938555244c"));
    assert!(fl.c1);
}

#[test]
fn fpatan_small_quotient_and_fyl2x_of_negative_powers_of_two() {
    // y/x < 2^-40 with x > 0: the quotient, rounded once, C1 as for a division.
    let (v, fl) = crate::fpatan(
        f("3fcd_8000000000000000"),
        f("4000_a000000000000000"),
        Control::from_fcw(0x037F),
    );
    assert_eq!((v, sw(fl)), (f("3fcb_cccccccccccccccd"), 0x0220));
    let (v, fl) = crate::fpatan(
        f("3fd0_c000000000000001"),
        F80::ONE,
        Control::from_fcw(0x0F7F),
    );
    assert_eq!((v, sw(fl)), (f("3fd0_c000000000000001"), 0x0020));
    // log2(2^-1) is a hair below 1 in magnitude: RN exact with C1 = 1,
    // RZ one step toward zero; log2(2^k) for k > 0 is exact.
    let y = f("3fff_c000000000000000");
    let (v, fl) = crate::fyl2x(f("3ffe_8000000000000000"), y, Control::from_fcw(0x037F));
    assert_eq!((v, sw(fl)), (f("bfff_c000000000000000"), 0x0220));
    let (v, fl) = crate::fyl2x(f("3ffe_8000000000000000"), y, Control::from_fcw(0x0F7F));
    assert_eq!((v, sw(fl)), (f("bfff_bfffffffffffffff"), 0x0020));
    let (v, fl) = crate::fyl2x(f("4005_8000000000000000"), y, Control::from_fcw(0x0F7F));
    assert_eq!((v, sw(fl)), (f("4002_9000000000000000"), 0x0020));
}

/// Drops the C2 element of the trigonometric results.
trait Split {
    fn split(self) -> (F80, Flags);
}

impl Split for (F80, Flags, bool) {
    fn split(self) -> (F80, Flags) {
        (self.0, self.1)
    }
}

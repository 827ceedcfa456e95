//! `FLD1`, `FLDL2T`, `FLDL2E`, `FLDPI`, `FLDLG2`, `FLDLN2`, `FLDZ`
//! (SDM vol. 2 "FLD1/FLDL2T/…" and vol. 1 8.3.8).

use crate::round::round_bits;
use crate::types::{Rounding, BIAS, F80};
use crate::xf::Xf;

/// π with a 128-bit significand.
pub(crate) const PI: Xf = Xf {
    neg: false,
    exp: 1,
    sig: 0xc90fdaa22168c234c4c6628b80dc1cd1,
};
/// π/2.
pub(crate) const PI_2: Xf = Xf {
    neg: false,
    exp: 0,
    sig: 0xc90fdaa22168c234c4c6628b80dc1cd1,
};
/// π/4.
pub(crate) const PI_4: Xf = Xf {
    neg: false,
    exp: -1,
    sig: 0xc90fdaa22168c234c4c6628b80dc1cd1,
};
/// π/6.
pub(crate) const PI_6: Xf = Xf {
    neg: false,
    exp: -1,
    sig: 0x860a91c16b9b2c232dd99707ab3d688b,
};
/// ln 2.
pub(crate) const LN2: Xf = Xf {
    neg: false,
    exp: -1,
    sig: 0xb17217f7d1cf79abc9e3b39803f2f6af,
};
/// log2 e.
pub(crate) const LOG2E: Xf = Xf {
    neg: false,
    exp: 0,
    sig: 0xb8aa3b295c17f0bbbe87fed0691d3e88,
};
/// log2 10.
pub(crate) const LOG2T: Xf = Xf {
    neg: false,
    exp: 1,
    sig: 0xd49a784bcd1b8afe492bf6ff4dafdb4c,
};
/// log10 2.
pub(crate) const LG2: Xf = Xf {
    neg: false,
    exp: -2,
    sig: 0x9a209a84fbcff7988f8959ac0b7c9178,
};
/// √3.
pub(crate) const SQRT3: Xf = Xf {
    neg: false,
    exp: 0,
    sig: 0xddb3d742c265539d92ba16b83c5c1dc4,
};

/// The constants the x87 can load.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Const {
    /// `FLD1`: +1.0
    One,
    /// `FLDL2T`: log2 10
    L2T,
    /// `FLDL2E`: log2 e
    L2E,
    /// `FLDPI`: π
    Pi,
    /// `FLDLG2`: log10 2
    LG2,
    /// `FLDLN2`: ln 2
    LN2,
    /// `FLDZ`: +0.0
    Zero,
}

/// Load a constant. The irrational constants are held internally with more
/// than 64 bits and rounded to the 64-bit significand according to the
/// rounding control (SDM vol. 1, 8.3.8); precision control does not apply
/// and no exception (not even #P) is raised.
pub fn load_const(c: Const, rc: Rounding) -> F80 {
    let x = match c {
        Const::One => return F80::ONE,
        Const::Zero => return F80::ZERO,
        Const::L2T => LOG2T,
        Const::L2E => LOG2E,
        Const::Pi => PI,
        Const::LG2 => LG2,
        Const::LN2 => LN2,
    };
    // Irrational: the sticky bit below the 128 stored bits is always set.
    let (v, carry, _, _) = round_bits(x.sig | 1, 64, rc, false);
    let e = x.exp + BIAS + carry as i32;
    F80::new(false, e as u16, (v >> 64) as u64)
}

//! Deterministic operand generation (xorshift64*), biased toward the
//! interesting parts of the format.

use crate::F80;

/// xorshift64* generator with a fixed seed.
pub struct Rng(pub u64);

impl Rng {
    /// Next 64 random bits.
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in 0..n.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability 1/n.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// The special operand table: zeros, denormals, pseudo-denormals, extreme
/// normals, infinities, NaNs with various payloads, unsupported encodings,
/// values near rounding boundaries and integers near 2^63.
pub fn specials() -> Vec<F80> {
    let mut v = Vec::new();
    let mags: &[(u16, u64)] = &[
        (0, 0),                          // zero
        (0, 1),                          // smallest denormal
        (0, 0x0000_0000_0000_0123),      // small denormal
        (0, 0x4000_0000_0000_0000),      // denormal
        (0, 0x7FFF_FFFF_FFFF_FFFF),      // largest denormal
        (0, 0x8000_0000_0000_0000),      // pseudo-denormal
        (0, 0xC000_0000_0000_0001),      // pseudo-denormal
        (1, 0x8000_0000_0000_0000),      // smallest normal
        (1, 0xFFFF_FFFF_FFFF_FFFF),      // smallest exponent, full
        (0x7FFE, 0xFFFF_FFFF_FFFF_FFFF), // largest normal
        (0x7FFE, 0x8000_0000_0000_0000), //
        (0x3FFF, 0x8000_0000_0000_0000), // 1.0
        (0x3FFF, 0xC000_0000_0000_0000), // 1.5
        (0x4000, 0xC90F_DAA2_2168_C235), // π
        (0x3FFE, 0x8000_0000_0000_0000), // 0.5
        (0x3FFF, 0x8000_0000_0000_0001), // 1 + ulp
        (0x3FFE, 0xFFFF_FFFF_FFFF_FFFF), // 1 − ulp/2
        (0x3FFF, 0x8000_0080_0000_0000), // single-precision tie
        (0x3FFF, 0x8000_0000_0000_0400), // double-precision tie
        (0x3FFF, 0x8000_0180_0000_0000), // single tie, odd
        (0x3FFF, 0xFFFF_FF80_0000_0000), // single carry-out tie
        (0x3FFF, 0xFFFF_FFFF_FFFF_FC00), // double carry-out tie
        (0x403D, 0xFFFF_FFFF_FFFF_FFFF), // 2^63 − 1 (integer)
        (0x403E, 0x8000_0000_0000_0000), // 2^63
        (0x403E, 0x8000_0000_0000_0001), // 2^63 + 1
        (0x403D, 0xFFFF_FFFF_FFFF_FFFE), // 2^63 − 2
        (0x401D, 0xFFFF_FFFF_0000_0000), // 2^31 − 0.5
        (0x400D, 0xFFFF_0000_0000_0000), // 32767.5
        (0x4000, 0xA000_0000_0000_0000), // 2.5
        (0x3FFD, 0xCCCC_CCCC_CCCC_CCCD), // 0.4
        (0x7FFF, 0x8000_0000_0000_0000), // infinity
        (0x7FFF, 0xC000_0000_0000_0000), // QNaN (indefinite if negative)
        (0x7FFF, 0xC000_0000_0000_0001), // QNaN payload
        (0x7FFF, 0xFFFF_FFFF_FFFF_FFFF), // QNaN max payload
        (0x7FFF, 0x8000_0000_0000_0001), // SNaN min payload
        (0x7FFF, 0xA000_0000_0000_0000), // SNaN
        (0x7FFF, 0xBFFF_FFFF_FFFF_FFFF), // SNaN max payload
        (0x7FFF, 0x0000_0000_0000_0000), // pseudo-infinity
        (0x7FFF, 0x4000_0000_0000_0000), // pseudo-NaN (quiet)
        (0x7FFF, 0x0000_0000_0000_0001), // pseudo-NaN (signaling)
        (0x3FFF, 0x0000_0000_0000_0000), // unnormal zero
        (0x3FFF, 0x4000_0000_0000_0000), // unnormal
        (0x0001, 0x7FFF_FFFF_FFFF_FFFF), // unnormal, smallest exponent
        (0x3FBF, 0x8000_0000_0000_0000), // 2^-64
        (0x3FC0, 0xFFFF_FFFF_FFFF_FFFF), //
        (0x4040, 0x8000_0000_0000_0000), // 2^65
        (0x400E, 0x8000_0000_0000_0000), // 32768
        (0x3F80, 0x8000_0000_0000_0000), // 2^-127
        (0x3F81, 0x8000_0000_0000_0000), // 2^-126
        (0x3C01, 0x8000_0000_0000_0000), // 2^-1022
        (0x3BCD, 0x8000_0000_0000_0000), // 2^-1074
        (0x407E, 0xFFFF_FF00_0000_0000), // max single
        (0x43FE, 0xFFFF_FFFF_FFFF_F800), // max double
        (0x407F, 0x8000_0000_0000_0000), // 2^128
    ];
    for &(e, s) in mags {
        v.push(F80::new(false, e, s));
        v.push(F80::new(true, e, s));
    }
    v
}

/// A random significand with boundary patterns.
pub fn gen_sig(r: &mut Rng) -> u64 {
    let s = match r.below(10) {
        0 => u64::MAX,
        1 => 1 << 63,
        2 => (1 << 63) | r.below(256),
        3 => u64::MAX - r.below(256),
        4 => {
            // Around a 24- or 53-bit rounding boundary.
            let b = if r.one_in(2) { 40 } else { 11 };
            let hi = r.next() & !((1u64 << b) - 1);
            let lo = match r.below(4) {
                0 => 1 << (b - 1),
                1 => (1 << (b - 1)) - 1,
                2 => (1 << (b - 1)) + 1,
                _ => r.below(4),
            };
            hi | lo
        }
        5 => r.next() & !(u64::MAX >> r.below(64)),
        _ => r.next(),
    };
    s | (1 << 63)
}

/// A random operand (mostly normal numbers with edge exponents).
pub fn gen_f80(r: &mut Rng, specials: &[F80]) -> F80 {
    let sign = r.one_in(2);
    match r.below(20) {
        0 | 1 => specials[r.below(specials.len() as u64) as usize],
        2 => F80::new(sign, 0, r.next() >> r.below(64)), // denormal
        3 => F80::new(sign, 1 + r.below(70) as u16, gen_sig(r)),
        4 => F80::new(sign, 0x7FFE - r.below(70) as u16, gen_sig(r)),
        5 => F80::new(sign, 1 + r.below(0x7FFE) as u16, gen_sig(r)),
        6 => F80::new(sign, 0x3FFF + 63 - r.below(8) as u16, gen_sig(r)),
        _ => F80::new(sign, (0x3FFF - 70 + r.below(140)) as u16, gen_sig(r)),
    }
}

/// A second operand, often related to the first (cancellation, equal
/// exponents, near-ties).
pub fn gen_pair(r: &mut Rng, specials: &[F80]) -> (F80, F80) {
    let a = gen_f80(r, specials);
    let b = match r.below(4) {
        0 => {
            let e = (a.exp() as i64 + r.below(130) as i64 - 65).clamp(0, 0x7FFE) as u16;
            let s = if r.one_in(2) {
                a.signif ^ (r.next() >> r.below(64))
            } else {
                gen_sig(r)
            };
            F80::new(r.one_in(2), e, s | if e == 0 { 0 } else { 1 << 63 })
        }
        _ => gen_f80(r, specials),
    };
    (a, b)
}

/// All 16 combinations of rounding and precision control (PC=01 included), with every
/// exception masked.
pub fn masked_cws() -> Vec<u16> {
    let mut v = Vec::new();
    for rc in 0..4u16 {
        // PC=01 is reserved; the hardware treats it like PC=11.
        for pc in [0u16, 1, 2, 3] {
            v.push(0x037F & !0x0F00 | (rc << 10) | (pc << 8));
        }
    }
    v
}

//! Bit-exact comparison of the soft-float in `fp.rs` with the host's SSE/SSE2 unit:
//! every operation over special and random operands, in all four rounding modes
//! with FTZ and DAZ on and off (all exceptions masked), comparing the result and
//! the MXCSR flags.
#![allow(unsafe_code)]

use super::fp::{self, Env};
use core::arch::asm;

/// Runs `$ins` on the host with MXCSR = `csr`; returns (xmm result, MXCSR after).
macro_rules! host2 {
    ($name:ident, $ins:literal) => {
        fn $name(a: u128, b: u128, csr: u32) -> (u128, u32) {
            let mut x = a as u64 as i64;
            let mut save = 0u32;
            let mut out = 0u32;
            // SAFETY: only MXCSR (restored) and the named registers are touched.
            unsafe {
                asm!(
                    "stmxcsr [{s}]",
                    "ldmxcsr [{c}]",
                    $ins,
                    "stmxcsr [{o}]",
                    "ldmxcsr [{s}]",
                    x = inout(xmm_reg) x,
                    y = in(xmm_reg) b as u64 as i64,
                    c = in(reg) &csr,
                    s = in(reg) &mut save,
                    o = in(reg) &mut out,
                    options(nostack),
                );
            }
            (x as u64 as u128, out)
        }
    };
}

host2!(h_addss, "addss {x}, {y}");
host2!(h_subss, "subss {x}, {y}");
host2!(h_mulss, "mulss {x}, {y}");
host2!(h_divss, "divss {x}, {y}");
host2!(h_minss, "minss {x}, {y}");
host2!(h_maxss, "maxss {x}, {y}");
host2!(h_sqrtss, "sqrtss {x}, {y}");
host2!(h_addsd, "addsd {x}, {y}");
host2!(h_subsd, "subsd {x}, {y}");
host2!(h_mulsd, "mulsd {x}, {y}");
host2!(h_divsd, "divsd {x}, {y}");
host2!(h_minsd, "minsd {x}, {y}");
host2!(h_maxsd, "maxsd {x}, {y}");
host2!(h_sqrtsd, "sqrtsd {x}, {y}");
host2!(h_cvtss2sd, "cvtss2sd {x}, {y}");
host2!(h_cvtsd2ss, "cvtsd2ss {x}, {y}");
host2!(h_rcpss, "rcpss {x}, {y}");
host2!(h_rsqrtss, "rsqrtss {x}, {y}");
host2!(h_cmpss0, "cmpss {x}, {y}, 0");
host2!(h_cmpss1, "cmpss {x}, {y}, 1");
host2!(h_cmpss2, "cmpss {x}, {y}, 2");
host2!(h_cmpss3, "cmpss {x}, {y}, 3");
host2!(h_cmpss4, "cmpss {x}, {y}, 4");
host2!(h_cmpss5, "cmpss {x}, {y}, 5");
host2!(h_cmpss6, "cmpss {x}, {y}, 6");
host2!(h_cmpss7, "cmpss {x}, {y}, 7");
host2!(h_cmpsd0, "cmpsd {x}, {y}, 0");
host2!(h_cmpsd1, "cmpsd {x}, {y}, 1");
host2!(h_cmpsd5, "cmpsd {x}, {y}, 5");
host2!(h_cmpsd7, "cmpsd {x}, {y}, 7");

/// Conversions to a 32-bit integer register.
macro_rules! host2i {
    ($name:ident, $ins:literal) => {
        fn $name(b: u128, csr: u32) -> (u32, u32) {
            let mut r: u32;
            let mut save = 0u32;
            let mut out = 0u32;
            // SAFETY: as above.
            unsafe {
                asm!(
                    "stmxcsr [{s}]",
                    "ldmxcsr [{c}]",
                    $ins,
                    "stmxcsr [{o}]",
                    "ldmxcsr [{s}]",
                    r = out(reg) r,
                    y = in(xmm_reg) b as u64 as i64,
                    c = in(reg) &csr,
                    s = in(reg) &mut save,
                    o = in(reg) &mut out,
                    options(nostack),
                );
            }
            (r, out)
        }
    };
}
host2i!(h_cvtss2si, "cvtss2si {r:e}, {y}");
host2i!(h_cvttss2si, "cvttss2si {r:e}, {y}");
host2i!(h_cvtsd2si, "cvtsd2si {r:e}, {y}");
host2i!(h_cvttsd2si, "cvttsd2si {r:e}, {y}");

/// Conversions from a 32-bit integer register.
macro_rules! hosti2 {
    ($name:ident, $ins:literal) => {
        fn $name(v: u32, csr: u32) -> (u128, u32) {
            let mut x = 0i64;
            let mut save = 0u32;
            let mut out = 0u32;
            // SAFETY: as above.
            unsafe {
                asm!(
                    "stmxcsr [{s}]",
                    "ldmxcsr [{c}]",
                    $ins,
                    "stmxcsr [{o}]",
                    "ldmxcsr [{s}]",
                    x = inout(xmm_reg) x,
                    v = in(reg) v,
                    c = in(reg) &csr,
                    s = in(reg) &mut save,
                    o = in(reg) &mut out,
                    options(nostack),
                );
            }
            (x as u64 as u128, out)
        }
    };
}
hosti2!(h_cvtsi2ss, "cvtsi2ss {x}, {v:e}");
hosti2!(h_cvtsi2sd, "cvtsi2sd {x}, {v:e}");

/// COMISS-style: returns the EFLAGS arithmetic bits.
macro_rules! hostc {
    ($name:ident, $ins:literal) => {
        fn $name(a: u128, b: u128, csr: u32) -> (u32, u32) {
            let f: u64;
            let mut save = 0u32;
            let mut out = 0u32;
            // SAFETY: as above; pushfq/pop use the stack.
            unsafe {
                asm!(
                    "stmxcsr [{s}]",
                    "ldmxcsr [{c}]",
                    $ins,
                    "pushfq",
                    "pop {f}",
                    "stmxcsr [{o}]",
                    "ldmxcsr [{s}]",
                    f = out(reg) f,
                    x = in(xmm_reg) a as u64 as i64,
                    y = in(xmm_reg) b as u64 as i64,
                    c = in(reg) &csr,
                    s = in(reg) &mut save,
                    o = in(reg) &mut out,
                );
            }
            (f as u32 & 0x8D5, out)
        }
    };
}
hostc!(h_comiss, "comiss {x}, {y}");
hostc!(h_ucomiss, "ucomiss {x}, {y}");
hostc!(h_comisd, "comisd {x}, {y}");
hostc!(h_ucomisd, "ucomisd {x}, {y}");

const F32_SPECIAL: &[u32] = &[
    0,
    0x8000_0000,
    1,
    0x8000_0001,
    0x007F_FFFF,
    0x807F_FFFF,
    0x0040_0000,
    0x0080_0000,
    0x8080_0000,
    0x0080_0001,
    0x3F80_0000,
    0xBF80_0000,
    0x3F80_0001,
    0x3FFF_FFFF,
    0x4000_0000,
    0x7F7F_FFFF,
    0xFF7F_FFFF,
    0x7F00_0000,
    0x7F80_0000,
    0xFF80_0000,
    0x7FC0_0000,
    0xFFC0_0000,
    0x7FC1_2345,
    0x7F80_0001,
    0xFFA0_0001,
    0x7FBF_FFFF,
    0x3EAA_AAAB,
    0x4F00_0000,
    0xCF00_0000,
    0x4EFF_FFFF,
    0xCF00_0001,
    0x3F00_0000,
    0x3FC0_0000,
    0x4040_0000,
    0x0000_0003,
    0x3400_0000,
    0x0C00_0000,
    0x7300_0000,
    0x3F7F_FFFF,
    0x4B00_0001,
];

const F64_SPECIAL: &[u64] = &[
    0,
    0x8000_0000_0000_0000,
    1,
    0x8000_0000_0000_0001,
    0x000F_FFFF_FFFF_FFFF,
    0x0008_0000_0000_0000,
    0x0010_0000_0000_0000,
    0x8010_0000_0000_0000,
    0x3FF0_0000_0000_0000,
    0xBFF0_0000_0000_0000,
    0x3FF0_0000_0000_0001,
    0x7FEF_FFFF_FFFF_FFFF,
    0xFFEF_FFFF_FFFF_FFFF,
    0x7FF0_0000_0000_0000,
    0xFFF0_0000_0000_0000,
    0x7FF8_0000_0000_0000,
    0xFFF8_0000_0000_0000,
    0x7FF8_1234_5678_9ABC,
    0x7FF0_0000_0000_0001,
    0xFFF4_0000_0000_0001,
    0x41DF_FFFF_FFC0_0000,
    0x41E0_0000_0000_0000,
    0xC1E0_0000_0000_0000,
    0xC1E0_0000_0010_0000,
    0x41DF_FFFF_FFE0_0000,
    0x3FE0_0000_0000_0000,
    0x3FF8_0000_0000_0000,
    0x3810_0000_0000_0000,
    0x36A0_0000_0000_0000,
    0x47EF_FFFF_E000_0000,
    0x47EF_FFFF_F000_0000,
    0x380F_FFFF_F000_0000,
    0x3690_0000_0000_0001,
    0x3FD5_5555_5555_5555,
    0x3FEF_FFFF_FFFF_FFFF,
];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Random values biased towards interesting exponents for format `d`.
    fn val(&mut self, d: bool) -> u64 {
        let r = self.next();
        let (fb, eb) = if d { (52, 11) } else { (23, 8) };
        let frac = r & ((1 << fb) - 1);
        let sign = (r >> 62) & 1;
        let bias = (1u64 << (eb - 1)) - 1;
        let e = match (r >> 56) & 7 {
            0 => 0,
            1 => (r >> 40) % 3,
            2 => (1 << eb) - 1 - (r >> 40) % 3,
            3 => bias + (r >> 40) % 40 - 20,
            4 => bias + (r >> 40) % 8 - 4,
            _ => (r >> 40) % (1 << eb),
        };
        sign << (fb + eb) | e << fb | frac
    }
}

/// The MXCSR settings exercised: all masks, every RC, FTZ and DAZ on and off.
fn modes() -> Vec<u32> {
    let mut v = Vec::new();
    for rc in 0..4 {
        for ftz in [0, fp::mx::FTZ] {
            for daz in [0, fp::mx::DAZ] {
                v.push(0x1F80 | rc << 13 | ftz | daz);
            }
        }
    }
    v
}

fn operands(d: bool) -> Vec<u64> {
    let mut v: Vec<u64> = if d {
        F64_SPECIAL.to_vec()
    } else {
        F32_SPECIAL.iter().map(|&x| x as u64).collect()
    };
    let mut rng = Rng(0x1234_5678_9ABC_DEF1 ^ d as u64);
    for _ in 0..60 {
        v.push(rng.val(d));
    }
    v
}

/// A host compare returning EFLAGS.
type HostC = fn(u128, u128, u32) -> (u32, u32);
type Soft = fn(&mut Env, u64, u64) -> u64;
type Host = fn(u128, u128, u32) -> (u128, u32);

fn check2(name: &str, d: bool, soft: Soft, host: Host) {
    let ops = operands(d);
    let mask: u128 = if d {
        u64::MAX as u128
    } else {
        u32::MAX as u128
    };
    let mut fails = 0;
    let mut n = 0;
    for &csr in &modes() {
        for &a in &ops {
            for &b in &ops {
                n += 1;
                let (hr, hcsr) = host(a as u128, b as u128, csr);
                let mut env = Env::new(csr);
                let r = soft(&mut env, a, b);
                let sflags = csr | env.flags;
                if (hr & mask) as u64 != r || hcsr != sflags {
                    if fails < 10 {
                        eprintln!(
                            "{name} csr={csr:#06x} a={a:#x} b={b:#x}: host {:#x} flags {:#04x}, soft {r:#x} flags {:#04x}",
                            hr & mask,
                            hcsr & 0x3F,
                            env.flags
                        );
                    }
                    fails += 1;
                }
            }
        }
    }
    assert_eq!(fails, 0, "{name}: {fails} of {n} differ from the host");
}

#[test]
fn arith_single() {
    check2("addss", false, |e, a, b| e.add(a, b, false), h_addss);
    check2("subss", false, |e, a, b| e.sub(a, b, false), h_subss);
    check2("mulss", false, |e, a, b| e.mul(a, b, false), h_mulss);
    check2("divss", false, |e, a, b| e.div(a, b, false), h_divss);
    check2(
        "minss",
        false,
        |e, a, b| e.minmax(a, b, false, false),
        h_minss,
    );
    check2(
        "maxss",
        false,
        |e, a, b| e.minmax(a, b, false, true),
        h_maxss,
    );
    check2(
        "sqrtss",
        false,
        |e, a, b| e.sqrt(b, false) | (a & !0xFFFF_FFFF),
        h_sqrtss,
    );
}

#[test]
fn arith_double() {
    check2("addsd", true, |e, a, b| e.add(a, b, true), h_addsd);
    check2("subsd", true, |e, a, b| e.sub(a, b, true), h_subsd);
    check2("mulsd", true, |e, a, b| e.mul(a, b, true), h_mulsd);
    check2("divsd", true, |e, a, b| e.div(a, b, true), h_divsd);
    check2(
        "minsd",
        true,
        |e, a, b| e.minmax(a, b, true, false),
        h_minsd,
    );
    check2("maxsd", true, |e, a, b| e.minmax(a, b, true, true), h_maxsd);
    check2("sqrtsd", true, |e, _, b| e.sqrt(b, true), h_sqrtsd);
}

fn cmp_soft(e: &mut Env, a: u64, b: u64, d: bool, p: u32) -> u64 {
    let sig = matches!(p & 3, 1 | 2);
    let o = e.compare(a, b, d, sig);
    let t = super::float_predicate(p, o);
    let m = if d { u64::MAX } else { u32::MAX as u64 };
    if t {
        m
    } else {
        0
    }
}

#[test]
fn compares() {
    let hs: [Host; 8] = [
        h_cmpss0, h_cmpss1, h_cmpss2, h_cmpss3, h_cmpss4, h_cmpss5, h_cmpss6, h_cmpss7,
    ];
    let softs: [Soft; 8] = [
        |e, a, b| cmp_soft(e, a, b, false, 0),
        |e, a, b| cmp_soft(e, a, b, false, 1),
        |e, a, b| cmp_soft(e, a, b, false, 2),
        |e, a, b| cmp_soft(e, a, b, false, 3),
        |e, a, b| cmp_soft(e, a, b, false, 4),
        |e, a, b| cmp_soft(e, a, b, false, 5),
        |e, a, b| cmp_soft(e, a, b, false, 6),
        |e, a, b| cmp_soft(e, a, b, false, 7),
    ];
    for (h, s) in hs.iter().zip(softs.iter()) {
        check2("cmpss", false, *s, *h);
    }
    check2(
        "cmpsd0",
        true,
        |e, a, b| cmp_soft(e, a, b, true, 0),
        h_cmpsd0,
    );
    check2(
        "cmpsd1",
        true,
        |e, a, b| cmp_soft(e, a, b, true, 1),
        h_cmpsd1,
    );
    check2(
        "cmpsd5",
        true,
        |e, a, b| cmp_soft(e, a, b, true, 5),
        h_cmpsd5,
    );
    check2(
        "cmpsd7",
        true,
        |e, a, b| cmp_soft(e, a, b, true, 7),
        h_cmpsd7,
    );
}

fn comi_soft(e: &mut Env, a: u64, b: u64, d: bool, sig: bool) -> u64 {
    use core::cmp::Ordering::*;
    match e.compare(a, b, d, sig) {
        None => 0x45,
        Some(Greater) => 0,
        Some(Less) => 1,
        Some(Equal) => 0x40,
    }
}

#[test]
fn comis() {
    let wrap = |h: HostC| {
        move |a: u128, b: u128, c: u32| {
            let (f, m) = h(a, b, c);
            (f as u128, m)
        }
    };
    let cases: [(&str, bool, bool, HostC); 4] = [
        ("comiss", false, true, h_comiss),
        ("ucomiss", false, false, h_ucomiss),
        ("comisd", true, true, h_comisd),
        ("ucomisd", true, false, h_ucomisd),
    ];
    for (name, d, sig, h) in cases {
        let ops = operands(d);
        let mut fails = 0;
        for &csr in &modes() {
            for &a in &ops {
                for &b in &ops {
                    let (hf, hc) = wrap(h)(a as u128, b as u128, csr);
                    let mut e = Env::new(csr);
                    let f = comi_soft(&mut e, a, b, d, sig);
                    if hf as u64 != f || hc != csr | e.flags {
                        fails += 1;
                    }
                }
            }
        }
        assert_eq!(fails, 0, "{name}");
    }
}

#[test]
fn conversions() {
    // Compare the full 64-bit result of cvtss2sd separately.
    let ops = operands(false);
    for &csr in &modes() {
        for &b in &ops {
            let (hr, hc) = h_cvtss2sd(0, b as u128, csr);
            let mut e = Env::new(csr);
            let r = e.convert(b, false);
            assert_eq!(
                (hr as u64, hc),
                (r, csr | e.flags),
                "cvtss2sd {b:#x} csr {csr:#x}"
            );
        }
    }
    let ops = operands(true);
    for &csr in &modes() {
        for &b in &ops {
            let (hr, hc) = h_cvtsd2ss(0, b as u128, csr);
            let mut e = Env::new(csr);
            let r = e.convert(b, true);
            assert_eq!(
                (hr as u64, hc),
                (r, csr | e.flags),
                "cvtsd2ss {b:#x} csr {csr:#x}"
            );
            for (t, h) in [
                (false, h_cvtsd2si as fn(u128, u32) -> (u32, u32)),
                (true, h_cvttsd2si),
            ] {
                let (hr, hc) = h(b as u128, csr);
                let mut e = Env::new(csr);
                let r = e.to_i32(b, true, t);
                assert_eq!(
                    (hr, hc),
                    (r, csr | e.flags),
                    "cvt(t)sd2si {t} {b:#x} csr {csr:#x}"
                );
            }
        }
    }
    let ops = operands(false);
    for &csr in &modes() {
        for &b in &ops {
            for (t, h) in [
                (false, h_cvtss2si as fn(u128, u32) -> (u32, u32)),
                (true, h_cvttss2si),
            ] {
                let (hr, hc) = h(b as u128, csr);
                let mut e = Env::new(csr);
                let r = e.to_i32(b, false, t);
                assert_eq!(
                    (hr, hc),
                    (r, csr | e.flags),
                    "cvt(t)ss2si {t} {b:#x} csr {csr:#x}"
                );
            }
        }
    }
    let mut rng = Rng(99);
    let mut ints: Vec<u32> = vec![
        0,
        1,
        u32::MAX,
        0x8000_0000,
        0x7FFF_FFFF,
        0x0100_0001,
        0xFEFF_FFFF,
    ];
    for _ in 0..200 {
        let r = rng.next();
        ints.push((r as u32) >> (r >> 59));
    }
    for &csr in &modes() {
        for &v in &ints {
            for (d, h) in [
                (false, h_cvtsi2ss as fn(u32, u32) -> (u128, u32)),
                (true, h_cvtsi2sd),
            ] {
                let (hr, hc) = h(v, csr);
                let mut e = Env::new(csr);
                let r = e.from_i32(v as i32, d);
                let m = if d { u64::MAX } else { u32::MAX as u64 };
                assert_eq!((hr as u64 & m, hc), (r, csr | e.flags), "cvtsi2s{d} {v:#x}");
            }
        }
    }
}

/// Whether the host CPU is an Intel one (CPUID vendor "GenuineIntel"), whose answers
/// tab86 gives where vendors differ (`TAB86_HOST_VENDOR` overrides CPUID).
fn host_is_intel() -> bool {
    if let Ok(v) = std::env::var("TAB86_HOST_VENDOR") {
        return v == "GenuineIntel";
    }
    let r = core::arch::x86_64::__cpuid(0);
    [r.ebx, r.edx, r.ecx] == [0x756E_6547, 0x4965_6E69, 0x6C65_746E]
}

/// RCPSS/RSQRTSS are implementation-specific: tab86 gives Intel's table-lookup
/// results, so on an Intel host every result must equal the host's; on another
/// vendor specials must still match exactly and normal results must be within the
/// SDM's 1.5 * 2^-12 relative error.
#[test]
fn approximations() {
    let intel = host_is_intel();
    if !intel {
        eprintln!("NOTE: host is not Intel: RCPSS/RSQRTSS checked against the SDM bound only");
    }
    let mut ops: Vec<u32> = F32_SPECIAL.to_vec();
    let mut rng = Rng(7);
    for _ in 0..20000 {
        ops.push(rng.val(false) as u32);
    }
    for &x in &ops {
        for (root, h) in [(false, h_rcpss as Host), (true, h_rsqrtss)] {
            let (hr, _) = h(0, x as u128, 0x1F80);
            let hr = hr as u32;
            let r = if root { fp::rsqrt(x) } else { fp::rcp(x) };
            let fx = f32::from_bits(x) as f64;
            let exact = if root { 1.0 / fx.sqrt() } else { 1.0 / fx };
            let normal = |v: u32| v & 0x7F80_0000 != 0 && v & 0x7F80_0000 != 0x7F80_0000;
            if intel {
                assert_eq!(
                    hr, r,
                    "rcp/rsqrt {x:#x} (root {root}): host {hr:#x} soft {r:#x}"
                );
            } else if normal(hr) && normal(r) {
                let err = ((f32::from_bits(r) as f64 - exact) / exact).abs();
                assert!(err <= 1.5 / 4096.0, "rcp/rsqrt {x:#x}: {r:#x} err {err}");
            } else if normal(hr) != normal(r) {
                // Only the implementation-specific band near the tiny threshold may differ.
                let e = (x >> 23) & 0xFF;
                assert!(
                    !root && e >= 0xFC,
                    "rcp/rsqrt {x:#x}: host {hr:#x} soft {r:#x}"
                );
            } else {
                assert_eq!(hr, r, "rcp/rsqrt special {x:#x} (root {root})");
            }
        }
    }
}

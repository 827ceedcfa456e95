//! Wrappers that run real x87 instructions on the host CPU.
//!
//! Each wrapper starts from `FNINIT`, loads the control word, loads the
//! operands as 80-bit values (which never raises an exception), executes the
//! instruction, reads the status word with `FNSTSW`, clears pending
//! exceptions with `FNCLEX` (so unmasked exceptions never reach #MF) and
//! stores the two top registers. It ends with `FNINIT`, restoring the
//! default control word 037Fh that the x86-64 ABI expects.

use crate::F80;
use core::arch::asm;

/// The host's CPUID vendor string (leaf 0: EBX, EDX, ECX); `TAB86_HOST_VENDOR`
/// overrides it, so the other vendor's path of the tests can be run anywhere.
pub fn host_vendor() -> String {
    if let Ok(v) = std::env::var("TAB86_HOST_VENDOR") {
        return v;
    }
    // CPUID leaf 0 exists on every x86-64 CPU (safe since Rust 1.87).
    let r = core::arch::x86_64::__cpuid(0);
    let mut v = Vec::with_capacity(12);
    for w in [r.ebx, r.edx, r.ecx] {
        v.extend_from_slice(&w.to_le_bytes());
    }
    String::from_utf8_lossy(&v).into_owned()
}

/// Whether the host x87 can serve as ground truth: the soft-float models
/// Intel's x87 (what tab86 reports, a GenuineIntel P6), and other vendors
/// differ where Intel's behaviour is implementation-specific (FSCALE and
/// FPREM on denormal and pseudo-denormal operands, FSIN/FSINCOS status
/// flags on denormals, out-of-domain F2XM1/FYL2XP1, transcendental rounding
/// and C1). On another vendor this prints why `test` skips its host
/// comparisons and returns false; Intel's recorded answers are still checked
/// on every host by the `x87_intel` test of the tests crate.
pub fn intel_host(test: &str) -> bool {
    let v = host_vendor();
    if v == "GenuineIntel" {
        return true;
    }
    std::println!(
        "NOTE: {test}: host CPU vendor is {v:?}, not \"GenuineIntel\": the comparisons \
         with the host x87 are SKIPPED, because the soft-float models Intel's x87 and \
         this vendor's differs in implementation-specific cases (Intel's recorded \
         results are checked by tests/tests/x87_intel.rs on every host)"
    );
    false
}

/// What the host FPU produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HwOut {
    /// ST(0) after the instruction.
    pub st0: F80,
    /// ST(1) after the instruction.
    pub st1: F80,
    /// The status word right after the instruction.
    pub sw: u16,
}

/// Condition-code and exception bits of the status word we compare
/// (C3, C2, C1, C0, PE..IE).
pub const SW_CMP: u16 = 0x473F;

macro_rules! hw2 {
    ($(#[$m:meta])* $name:ident, $($insn:literal),+) => {
        $(#[$m])*
        pub fn $name(cw: u16, a: F80, b: F80) -> HwOut {
            let ab = a.to_le_bytes();
            let bb = b.to_le_bytes();
            let mut o0 = [0u8; 10];
            let mut o1 = [0u8; 10];
            let sw: u16;
            // SAFETY: only x87 state is touched; it is reinitialized (FNINIT)
            // at the end, leaving an empty stack and the default control word.
            unsafe {
                asm!(
                    "fninit",
                    "fldcw word ptr [{cw}]",
                    "fld tbyte ptr [{b}]",
                    "fld tbyte ptr [{a}]",
                    $($insn,)+
                    "fnstsw ax",
                    "fnclex",
                    "fstp tbyte ptr [{o0}]",
                    "fstp tbyte ptr [{o1}]",
                    "fninit",
                    cw = in(reg) &cw,
                    a = in(reg) ab.as_ptr(),
                    b = in(reg) bb.as_ptr(),
                    o0 = in(reg) o0.as_mut_ptr(),
                    o1 = in(reg) o1.as_mut_ptr(),
                    out("ax") sw,
                    out("st(0)") _, out("st(1)") _, out("st(2)") _, out("st(3)") _,
                    out("st(4)") _, out("st(5)") _, out("st(6)") _, out("st(7)") _,
                    options(nostack),
                );
            }
            HwOut { st0: F80::from_le_bytes(o0), st1: F80::from_le_bytes(o1), sw }
        }
    };
}

hw2!(
    /// ST0 = a + b
    fadd, "fadd st, st(1)");
hw2!(
    /// ST0 = a − b
    fsub, "fsub st, st(1)");
hw2!(
    /// ST0 = a × b
    fmul, "fmul st, st(1)");
hw2!(
    /// ST0 = a / b
    fdiv, "fdiv st, st(1)");
hw2!(
    /// ST0 = sqrt(a)
    fsqrt, "fsqrt");
hw2!(
    /// ST0 = a rem b (FPREM)
    fprem, "fprem");
hw2!(
    /// ST0 = a rem b (FPREM1)
    fprem1, "fprem1");
hw2!(
    /// ST0 = round(a)
    frndint, "frndint");
hw2!(
    /// ST0 = a × 2^trunc(b)
    fscale, "fscale");
hw2!(
    /// ST0 = significand(a), ST1 = exponent(a)
    fxtract, "fxtract");
hw2!(
    /// compare a with b (C3,C2,C0)
    fcom, "fcom st(1)");
hw2!(
    /// unordered compare a with b
    fucom, "fucom st(1)");
hw2!(
    /// compare a with 0
    ftst, "ftst");
hw2!(
    /// classify a
    fxam, "fxam");
hw2!(
    /// ST0 = 2^a − 1
    f2xm1, "f2xm1");
hw2!(
    /// ST0 = b × log2(a)
    fyl2x, "fyl2x");
hw2!(
    /// ST0 = b × log2(a + 1)
    fyl2xp1, "fyl2xp1");
hw2!(
    /// ST0 = atan(b / a)
    fpatan, "fpatan");
hw2!(
    /// ST0 = sin(a)
    fsin, "fsin");
hw2!(
    /// ST0 = cos(a)
    fcos, "fcos");
hw2!(
    /// ST0 = cos(a), ST1 = sin(a)
    fsincos, "fsincos");
hw2!(
    /// ST0 = 1.0, ST1 = tan(a)
    fptan, "fptan");
hw2!(
    /// FLD1
    fld1, "fld1");
hw2!(
    /// FLDL2T
    fldl2t, "fldl2t");
hw2!(
    /// FLDL2E
    fldl2e, "fldl2e");
hw2!(
    /// FLDPI
    fldpi, "fldpi");
hw2!(
    /// FLDLG2
    fldlg2, "fldlg2");
hw2!(
    /// FLDLN2
    fldln2, "fldln2");

macro_rules! hw_store {
    ($(#[$m:meta])* $name:ident, $n:literal, $insn:literal) => {
        $(#[$m])*
        pub fn $name(cw: u16, a: F80) -> ([u8; $n], u16) {
            let ab = a.to_le_bytes();
            let mut o = [0xA5u8; $n];
            let sw: u16;
            // SAFETY: as for the arithmetic wrappers.
            unsafe {
                asm!(
                    "fninit",
                    "fldcw word ptr [{cw}]",
                    "fld tbyte ptr [{a}]",
                    $insn,
                    "fnstsw ax",
                    "fninit",
                    cw = in(reg) &cw,
                    a = in(reg) ab.as_ptr(),
                    o = in(reg) o.as_mut_ptr(),
                    out("ax") sw,
                    out("st(0)") _, out("st(1)") _, out("st(2)") _, out("st(3)") _,
                    out("st(4)") _, out("st(5)") _, out("st(6)") _, out("st(7)") _,
                    options(nostack),
                );
            }
            (o, sw)
        }
    };
}

hw_store!(
    /// FISTP m16int
    fistp16, 2, "fistp word ptr [{o}]");
hw_store!(
    /// FISTP m32int
    fistp32, 4, "fistp dword ptr [{o}]");
hw_store!(
    /// FISTP m64int
    fistp64, 8, "fistp qword ptr [{o}]");
hw_store!(
    /// FISTTP m16int
    fisttp16, 2, "fisttp word ptr [{o}]");
hw_store!(
    /// FISTTP m32int
    fisttp32, 4, "fisttp dword ptr [{o}]");
hw_store!(
    /// FISTTP m64int
    fisttp64, 8, "fisttp qword ptr [{o}]");
hw_store!(
    /// FSTP m32fp
    fstp32, 4, "fstp dword ptr [{o}]");
hw_store!(
    /// FSTP m64fp
    fstp64, 8, "fstp qword ptr [{o}]");
hw_store!(
    /// FBSTP m80bcd
    fbstp, 10, "fbstp tbyte ptr [{o}]");

macro_rules! hw_load {
    ($(#[$m:meta])* $name:ident, $n:literal, $insn:literal) => {
        $(#[$m])*
        pub fn $name(cw: u16, m: [u8; $n]) -> (F80, u16) {
            let mut o = [0u8; 10];
            let sw: u16;
            // SAFETY: as for the arithmetic wrappers.
            unsafe {
                asm!(
                    "fninit",
                    "fldcw word ptr [{cw}]",
                    "fld1",
                    $insn,
                    "fnstsw ax",
                    "fnclex",
                    "fstp tbyte ptr [{o}]",
                    "fninit",
                    cw = in(reg) &cw,
                    m = in(reg) m.as_ptr(),
                    o = in(reg) o.as_mut_ptr(),
                    out("ax") sw,
                    out("st(0)") _, out("st(1)") _, out("st(2)") _, out("st(3)") _,
                    out("st(4)") _, out("st(5)") _, out("st(6)") _, out("st(7)") _,
                    options(nostack),
                );
            }
            (F80::from_le_bytes(o), sw)
        }
    };
}

hw_load!(
    /// FLD m32fp (ST0 stays 1.0 if suppressed)
    fld32, 4, "fld dword ptr [{m}]");
hw_load!(
    /// FLD m64fp
    fld64, 8, "fld qword ptr [{m}]");
hw_load!(
    /// FBLD m80bcd
    fbld, 10, "fbld tbyte ptr [{m}]");
hw_load!(
    /// FILD m16int
    fild16, 2, "fild word ptr [{m}]");
hw_load!(
    /// FILD m32int
    fild32, 4, "fild dword ptr [{m}]");
hw_load!(
    /// FILD m64int
    fild64, 8, "fild qword ptr [{m}]");

macro_rules! hw_mem {
    ($(#[$m:meta])* $name:ident, $n:literal, $insn:literal) => {
        $(#[$m])*
        pub fn $name(cw: u16, a: F80, m: [u8; $n]) -> HwOut {
            let ab = a.to_le_bytes();
            let mut o0 = [0u8; 10];
            let sw: u16;
            // SAFETY: as for the arithmetic wrappers.
            unsafe {
                asm!(
                    "fninit",
                    "fldcw word ptr [{cw}]",
                    "fld tbyte ptr [{a}]",
                    $insn,
                    "fnstsw ax",
                    "fnclex",
                    "fstp tbyte ptr [{o0}]",
                    "fninit",
                    cw = in(reg) &cw,
                    a = in(reg) ab.as_ptr(),
                    m = in(reg) m.as_ptr(),
                    o0 = in(reg) o0.as_mut_ptr(),
                    out("ax") sw,
                    out("st(0)") _, out("st(1)") _, out("st(2)") _, out("st(3)") _,
                    out("st(4)") _, out("st(5)") _, out("st(6)") _, out("st(7)") _,
                    options(nostack),
                );
            }
            HwOut { st0: F80::from_le_bytes(o0), st1: F80::ZERO, sw }
        }
    };
}

hw_mem!(
    /// FADD m32fp
    fadd_m32, 4, "fadd dword ptr [{m}]");
hw_mem!(
    /// FMUL m64fp
    fmul_m64, 8, "fmul qword ptr [{m}]");
hw_mem!(
    /// FDIV m32fp
    fdiv_m32, 4, "fdiv dword ptr [{m}]");
hw_mem!(
    /// FCOM m64fp
    fcom_m64, 8, "fcom qword ptr [{m}]");
hw_mem!(
    /// FIADD m32int
    fiadd_m32, 4, "fiadd dword ptr [{m}]");

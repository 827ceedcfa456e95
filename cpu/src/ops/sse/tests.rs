//! Exception and state rules of the SIMD unit: CR0.EM/TS and CR4.OSFXSR checks,
//! 16-byte alignment, LDMXCSR/FXRSTOR reserved bits, unmasked exceptions (#XM or
//! #UD, destination untouched), and the MMX aliasing of the x87 state (transition,
//! pending #MF, FXSAVE/FNSAVE images, EMMS).

use crate::decode::convert;
use crate::fault::{vector, Fault, Result};
use crate::simd::MXCSR_RESET;
use crate::state::cr;
use crate::{Cpu, NullBus, PhysMem};
use iced_x86::{Decoder, DecoderOptions};

fn cpu() -> Cpu {
    let mut c = Cpu::new(PhysMem::new(1 << 20));
    c.state.cr4 = cr::OSFXSR | cr::OSXMMEXCPT;
    c
}

/// Executes one 32-bit-mode instruction's handler.
fn exec(c: &mut Cpu, bytes: &[u8]) -> Result<()> {
    let mut d = Decoder::new(32, bytes, DecoderOptions::NONE);
    let op = convert(&d.decode());
    (op.handler)(c, &mut NullBus, &op)
}

const ADDPS_XMM0_XMM1: &[u8] = &[0x0F, 0x58, 0xC1];
const PADDB_MM0_MM1: &[u8] = &[0x0F, 0xFC, 0xC1];

#[test]
fn enable_checks() {
    let mut c = cpu();
    assert_eq!(exec(&mut c, ADDPS_XMM0_XMM1), Ok(()));
    c.state.cr0 |= cr::TS;
    assert_eq!(exec(&mut c, ADDPS_XMM0_XMM1), Err(Fault::nm()));
    assert_eq!(exec(&mut c, PADDB_MM0_MM1), Err(Fault::nm()));
    c.state.cr0 |= cr::EM;
    assert_eq!(exec(&mut c, ADDPS_XMM0_XMM1), Err(Fault::ud()));
    assert_eq!(exec(&mut c, PADDB_MM0_MM1), Err(Fault::ud()));
    c.state.cr0 &= !(cr::EM | cr::TS);
    c.state.cr4 = 0;
    assert_eq!(exec(&mut c, ADDPS_XMM0_XMM1), Err(Fault::ud()));
    // MMX does not depend on CR4.OSFXSR.
    assert_eq!(exec(&mut c, PADDB_MM0_MM1), Ok(()));
    // LOCK is #UD.
    c.state.cr4 = cr::OSFXSR;
    assert_eq!(exec(&mut c, &[0xF0, 0x0F, 0x58, 0xC1]), Err(Fault::ud()));
}

#[test]
fn alignment() {
    let mut c = cpu();
    c.state.gpr[0] = 0x1008;
    // movaps xmm0, [eax] misaligned -> #GP(0); movups is fine.
    assert_eq!(exec(&mut c, &[0x0F, 0x28, 0x00]), Err(Fault::gp(0)));
    assert_eq!(exec(&mut c, &[0x0F, 0x10, 0x00]), Ok(()));
    // addps xmm0, [eax] (legacy m128) -> #GP(0); addss xmm0, [eax] is fine.
    assert_eq!(exec(&mut c, &[0x0F, 0x58, 0x00]), Err(Fault::gp(0)));
    assert_eq!(exec(&mut c, &[0xF3, 0x0F, 0x58, 0x00]), Ok(()));
    c.state.gpr[0] = 0x1010;
    assert_eq!(exec(&mut c, &[0x0F, 0x28, 0x00]), Ok(()));
}

#[test]
fn ldmxcsr_reserved_bits() {
    let mut c = cpu();
    c.state.gpr[0] = 0x2000;
    c.mem.write_bytes(0x2000, &0x1_1F80u32.to_le_bytes());
    assert_eq!(exec(&mut c, &[0x0F, 0xAE, 0x10]), Err(Fault::gp(0)));
    assert_eq!(c.simd.mxcsr, MXCSR_RESET);
    c.mem.write_bytes(0x2000, &0xFFFFu32.to_le_bytes());
    assert_eq!(exec(&mut c, &[0x0F, 0xAE, 0x10]), Ok(()));
    assert_eq!(c.simd.mxcsr, 0xFFFF);
    // stmxcsr [eax+4]
    assert_eq!(exec(&mut c, &[0x0F, 0xAE, 0x58, 0x04]), Ok(()));
    let mut b = [0u8; 4];
    c.mem.read_bytes(0x2004, &mut b);
    assert_eq!(u32::from_le_bytes(b), 0xFFFF);
}

#[test]
fn unmasked_exception_leaves_destination() {
    let mut c = cpu();
    c.simd.xmm[0] = 0x3F80_0000; // 1.0
    c.simd.xmm[1] = 0; // 0.0
    c.simd.mxcsr = MXCSR_RESET & !(1 << 9); // ZE unmasked
    let divss = &[0xF3, 0x0F, 0x5E, 0xC1];
    assert_eq!(exec(&mut c, divss), Err(Fault::new(vector::XM)));
    assert_eq!(c.simd.xmm[0], 0x3F80_0000);
    assert_eq!(c.simd.mxcsr & 0x3F, 0x04);
    c.state.cr4 = cr::OSFXSR;
    assert_eq!(exec(&mut c, divss), Err(Fault::ud()));
    // Masked: infinity and the flag.
    c.simd.mxcsr = MXCSR_RESET;
    assert_eq!(exec(&mut c, divss), Ok(()));
    assert_eq!(c.simd.xmm[0], 0x7F80_0000);
    assert_eq!(c.simd.mxcsr, MXCSR_RESET | 0x04);
}

#[test]
fn mmx_state_effects() {
    let mut c = cpu();
    c.fpu.init(); // all tags empty
    c.fpu.set_top(5);
    c.state.gpr[0] = 0x1234_5678;
    // movd mm3, eax: MM3 is the significand of R3, exponent/sign all ones.
    assert_eq!(exec(&mut c, &[0x0F, 0x6E, 0xD8]), Ok(()));
    assert_eq!(c.fpu.mmx_read(3), 0x1234_5678);
    assert_eq!(c.fpu.regs[3].sign_exp, 0xFFFF);
    assert_eq!((c.fpu.top(), c.fpu.tags), (0, 0xFF));
    // movq mm4, mm3 reads it back through the alias.
    assert_eq!(exec(&mut c, &[0x0F, 0x6F, 0xE3]), Ok(()));
    assert_eq!(c.fpu.mmx_read(4), 0x1234_5678);
    // emms: every tag empty.
    assert_eq!(exec(&mut c, &[0x0F, 0x77]), Ok(()));
    assert_eq!(c.fpu.tags, 0);
    // A fault leaves the x87 state alone: movq mm0, [eax] past the segment limit.
    c.fpu.set_top(2);
    c.state.gpr[0] = 0xFFFF_FFFC;
    assert!(exec(&mut c, &[0x0F, 0x6F, 0x00]).is_err());
    assert_eq!((c.fpu.top(), c.fpu.tags), (2, 0));
    // A store (movd eax, mm3) also enters MMX state.
    assert_eq!(exec(&mut c, &[0x0F, 0x7E, 0xD8]), Ok(()));
    assert_eq!(c.state.gpr[0], 0x1234_5678);
    assert_eq!((c.fpu.top(), c.fpu.tags), (0, 0xFF));
}

#[test]
fn mmx_pending_x87_exception() {
    let mut c = cpu();
    c.state.cr0 |= cr::NE;
    c.fpu.init();
    c.fpu.fcw &= !1; // IM unmasked
    c.fpu.signal(tab86_softfloat::Exceptions::IE);
    c.fpu.set_top(3);
    let mf = Err(Fault::new(vector::MF));
    assert_eq!(exec(&mut c, PADDB_MM0_MM1), mf);
    assert_eq!(exec(&mut c, &[0x0F, 0x77]), mf); // emms
    assert_eq!(exec(&mut c, &[0xF3, 0x0F, 0xD6, 0xC1]), mf); // movq2dq xmm0, mm1
    assert_eq!(exec(&mut c, &[0x0F, 0x2D, 0xC1]), mf); // cvtps2pi mm0, xmm1
    assert_eq!(exec(&mut c, &[0x0F, 0x2A, 0x00]), mf); // cvtpi2ps xmm0, [eax]
    assert_eq!((c.fpu.top(), c.fpu.tags), (3, 0), "no MMX transition");
    // XMM-only instructions and CVTPI2PD xmm, m64 ignore the x87 state.
    assert_eq!(exec(&mut c, ADDPS_XMM0_XMM1), Ok(()));
    assert_eq!(exec(&mut c, &[0x66, 0x0F, 0x2A, 0x00]), Ok(()));
    assert_eq!((c.fpu.top(), c.fpu.tags), (3, 0));
    // #UD/#NM come first.
    c.state.cr0 |= cr::TS;
    assert_eq!(exec(&mut c, PADDB_MM0_MM1), Err(Fault::nm()));
    // CR0.NE = 0: FERR# is asserted and the instruction runs.
    c.state.cr0 &= !(cr::NE | cr::TS);
    assert_eq!(exec(&mut c, PADDB_MM0_MM1), Ok(()));
    assert!(c.fpu.ferr());
    assert_eq!((c.fpu.top(), c.fpu.tags), (0, 0xFF));
}

/// An MMX write shows up in the register images of FXSAVE and FNSAVE (TOP = 0,
/// so ST(i) = Ri = MMi: significand, then sign/exponent FFFFh); EMMS empties the
/// tag word (abridged FXSAVE byte 0, full FNSAVE word FFFFh).
#[test]
fn mmx_in_fxsave_fnsave_images() {
    let mut c = cpu();
    c.fpu.init();
    c.state.gpr[0] = 0x0123_4567;
    c.state.gpr[3] = 0x3000;
    // movd mm5, eax; fxsave [ebx]
    assert_eq!(exec(&mut c, &[0x0F, 0x6E, 0xE8]), Ok(()));
    assert_eq!(exec(&mut c, &[0x0F, 0xAE, 0x03]), Ok(()));
    let mut fx = [0u8; 288];
    c.mem.read_bytes(0x3000, &mut fx);
    assert_eq!(u16::from_le_bytes([fx[2], fx[3]]) & 0x3800, 0, "TOP = 0");
    assert_eq!(fx[4], 0xFF, "abridged tags all valid");
    let r5 = &fx[32 + 5 * 16..32 + 5 * 16 + 10];
    assert_eq!(r5[..8], 0x0123_4567u64.to_le_bytes());
    assert_eq!(r5[8..], [0xFF, 0xFF]);
    // fnsave [ebx] (32-bit image: 28-byte environment, then ST0-ST7).
    assert_eq!(exec(&mut c, &[0xDD, 0x33]), Ok(()));
    let mut sv = [0u8; 108];
    c.mem.read_bytes(0x3000, &mut sv);
    let ftw = u16::from_le_bytes([sv[8], sv[9]]);
    // P6 rebuilds the full tags from the contents: exponent 7FFFh is "special".
    assert_eq!((ftw >> 10) & 3, 2);
    assert_eq!(sv[28 + 50..28 + 58], 0x0123_4567u64.to_le_bytes());
    assert_eq!(sv[28 + 58..28 + 60], [0xFF, 0xFF]);
    // FNSAVE reinitialised the unit; redo the write, then emms and save again.
    assert_eq!(exec(&mut c, &[0x0F, 0x6E, 0xE8]), Ok(()));
    assert_eq!(exec(&mut c, &[0x0F, 0x77]), Ok(()));
    assert_eq!(exec(&mut c, &[0x0F, 0xAE, 0x03]), Ok(()));
    c.mem.read_bytes(0x3000, &mut fx);
    assert_eq!(fx[4], 0, "EMMS: abridged tags empty");
    assert_eq!(exec(&mut c, &[0xDD, 0x33]), Ok(()));
    c.mem.read_bytes(0x3000, &mut sv);
    assert_eq!(
        u16::from_le_bytes([sv[8], sv[9]]),
        0xFFFF,
        "EMMS: FTW empty"
    );
}

#[test]
fn fxsave_fxrstor_simd_part() {
    let mut c = cpu();
    for i in 0..8 {
        c.simd.xmm[i] = 0x0101_0101_0101_0101_0101_0101_0101_0101u128 * (i as u128 + 1);
    }
    c.simd.mxcsr = 0x7FBF;
    c.state.gpr[0] = 0x3000;
    // fxsave [eax]; then clobber and fxrstor [eax]
    assert_eq!(exec(&mut c, &[0x0F, 0xAE, 0x00]), Ok(()));
    let saved = c.simd.xmm;
    c.simd.xmm = [0; 8];
    c.simd.mxcsr = MXCSR_RESET;
    assert_eq!(exec(&mut c, &[0x0F, 0xAE, 0x08]), Ok(()));
    assert_eq!(c.simd.xmm, saved);
    assert_eq!(c.simd.mxcsr, 0x7FBF);
    // Reserved MXCSR bits in the image -> #GP(0), state unchanged.
    c.mem.write_bytes(0x3000 + 24, &0x2_0000u32.to_le_bytes());
    assert_eq!(exec(&mut c, &[0x0F, 0xAE, 0x08]), Err(Fault::gp(0)));
    assert_eq!(c.simd.mxcsr, 0x7FBF);
    // Misaligned area -> #GP(0).
    c.state.gpr[0] = 0x3008;
    assert_eq!(exec(&mut c, &[0x0F, 0xAE, 0x00]), Err(Fault::gp(0)));
}

/// CR4.OSFXSR = 0: FXSAVE/FXRSTOR still save and restore MXCSR but leave the XMM
/// registers and their bytes of the image alone (Intel behaviour, allowed by the SDM).
#[test]
fn fxsave_without_osfxsr_skips_xmm() {
    let mut c = cpu();
    c.state.cr4 = 0;
    c.simd.xmm[2] = 0x2222;
    c.simd.mxcsr = 0x1F80 | 0x6000; // RC = toward zero
    c.state.gpr[0] = 0x3000;
    c.mem.write_bytes(0x3000 + 160, &[0xAB; 128]);
    assert_eq!(exec(&mut c, &[0x0F, 0xAE, 0x00]), Ok(())); // fxsave [eax]
    let mut img = [0u8; 288];
    c.mem.read_bytes(0x3000, &mut img);
    assert_eq!(img[24..28], 0x7F80u32.to_le_bytes(), "MXCSR saved");
    assert!(img[160..].iter().all(|&b| b == 0xAB), "XMM area untouched");
    // fxrstor [eax]: MXCSR from the image, XMM registers kept.
    c.mem.write_bytes(0x3000 + 24, &0x1F80u32.to_le_bytes());
    assert_eq!(exec(&mut c, &[0x0F, 0xAE, 0x08]), Ok(()));
    assert_eq!(c.simd.mxcsr, 0x1F80);
    assert_eq!(c.simd.xmm[2], 0x2222);
    // With OSFXSR the XMM image is loaded.
    c.state.cr4 = cr::OSFXSR;
    assert_eq!(exec(&mut c, &[0x0F, 0xAE, 0x08]), Ok(()));
    assert_eq!(c.simd.xmm[2], u128::from_le_bytes([0xAB; 16]));
}

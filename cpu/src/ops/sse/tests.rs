//! Exception and state rules of the SIMD unit: CR0.EM/TS and CR4.OSFXSR checks,
//! 16-byte alignment, LDMXCSR/FXRSTOR reserved bits, unmasked exceptions (#XM or
//! #UD, destination untouched), and the MMX side effects on the x87 state.

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
    c.state.gpr[0] = 0x1234_5678;
    // movd mm3, eax
    assert_eq!(exec(&mut c, &[0x0F, 0x6E, 0xD8]), Ok(()));
    assert_eq!(c.simd.mm(3), 0x1234_5678);
    assert!(c.simd.mmx_active);
    assert_eq!(c.simd.mm_exp_ones, 1 << 3);
    // emms
    assert_eq!(exec(&mut c, &[0x0F, 0x77]), Ok(()));
    assert!(!c.simd.mmx_active);
    // A fault leaves the x87 state alone: movq mm0, [eax] past the segment limit.
    c.state.gpr[0] = 0xFFFF_FFFC;
    assert!(exec(&mut c, &[0x0F, 0x6F, 0x00]).is_err());
    assert!(!c.simd.mmx_active);
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

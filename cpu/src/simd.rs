//! SIMD register state: XMM0-7 and MXCSR (SSE/SSE2), and the MMX registers MM0-7.
//!
//! MMX aliasing: architecturally MM0-7 are the low 64 bits (significands) of the
//! x87 physical registers R0-R7. Until the x87 unit grows its 80-bit register file,
//! the MMX values live here; the x87 unit must alias them ([`SimdState::mm`] /
//! [`SimdState::set_mm`]) and apply the side effects recorded here: every MMX
//! instruction sets TOP = 0 and all tags valid ([`SimdState::mmx_active`]), a write
//! to MMn sets the exponent field of Rn to all ones ([`SimdState::mm_exp_ones`]),
//! and EMMS sets all tags empty.

use crate::fault::{Fault, Result};
use crate::ops::sse::fp::mx;

/// MXCSR bits a program may set: flags, DAZ, masks, rounding control, FTZ.
pub const MXCSR_MASK: u32 = 0xFFFF;
/// MXCSR after RESET and FNINIT-independent INIT: all exceptions masked.
pub const MXCSR_RESET: u32 = 0x1F80;

/// XMM, MXCSR and MMX state.
#[derive(Debug, Clone)]
pub struct SimdState {
    /// XMM0-7, little-endian lanes (bits 0-31 are lane 0 of a packed single).
    pub xmm: [u128; 8],
    /// MXCSR.
    pub mxcsr: u32,
    /// MM0-7 (the x87 unit must alias these with the significands of R0-R7).
    mm: [u64; 8],
    /// An MMX instruction ran since the last EMMS/x87 reset: TOP = 0 and the
    /// x87 tag word is all valid (0x0000 full form, 0xFF abridged).
    pub mmx_active: bool,
    /// Bit n set: MMn was written by an MMX instruction, so the exponent field
    /// (bits 64-79) of x87 register Rn reads as 0xFFFF.
    pub mm_exp_ones: u8,
}

impl Default for SimdState {
    fn default() -> Self {
        SimdState {
            xmm: [0; 8],
            mxcsr: MXCSR_RESET,
            mm: [0; 8],
            mmx_active: false,
            mm_exp_ones: 0,
        }
    }
}

impl SimdState {
    /// Reads MMn (the significand of x87 register Rn).
    #[inline]
    pub fn mm(&self, n: u8) -> u64 {
        self.mm[n as usize & 7]
    }

    /// Writes MMn as an MMX instruction does: the exponent of Rn becomes all ones.
    #[inline]
    pub fn set_mm(&mut self, n: u8, v: u64) {
        self.mm[n as usize & 7] = v;
        self.mm_exp_ones |= 1 << (n & 7);
    }

    /// Stores a significand written by the x87 unit (no MMX side effects).
    pub fn set_mm_raw(&mut self, n: u8, v: u64) {
        self.mm[n as usize & 7] = v;
        self.mm_exp_ones &= !(1 << (n & 7));
    }

    /// The x87-to-MMX transition every MMX instruction (except EMMS) performs.
    #[inline]
    pub fn enter_mmx(&mut self) {
        self.mmx_active = true;
    }

    /// EMMS: all x87 tags empty.
    pub fn emms(&mut self) {
        self.mmx_active = false;
    }

    /// Writes the SSE part of a FXSAVE image: MXCSR (bytes 24-27), MXCSR_MASK
    /// (28-31) and XMM0-7 (160-287). The x87 unit writes the rest (including the
    /// MMX/ST registers at 32-159).
    pub fn fxsave_simd(&self, area: &mut [u8; 512]) {
        area[24..28].copy_from_slice(&self.mxcsr.to_le_bytes());
        area[28..32].copy_from_slice(&MXCSR_MASK.to_le_bytes());
        for (i, x) in self.xmm.iter().enumerate() {
            area[160 + 16 * i..176 + 16 * i].copy_from_slice(&x.to_le_bytes());
        }
    }

    /// Loads the SSE part of a FXRSTOR image; reserved MXCSR bits raise #GP(0) and
    /// leave the state unchanged.
    pub fn fxrstor_simd(&mut self, area: &[u8; 512]) -> Result<()> {
        let mut w = [0u8; 4];
        w.copy_from_slice(&area[24..28]);
        let m = u32::from_le_bytes(w);
        if m & !MXCSR_MASK != 0 {
            return Err(Fault::gp(0));
        }
        self.mxcsr = m;
        for (i, x) in self.xmm.iter_mut().enumerate() {
            let mut b = [0u8; 16];
            b.copy_from_slice(&area[160 + 16 * i..176 + 16 * i]);
            *x = u128::from_le_bytes(b);
        }
        Ok(())
    }

    /// Whether MXCSR masks every exception in `flags`.
    #[inline]
    pub fn masked(&self, flags: u32) -> bool {
        flags & !(self.mxcsr >> mx::MASK_SHIFT) & 0x3F == 0
    }
}

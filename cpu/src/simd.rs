//! SIMD register state: XMM0-7 and MXCSR (SSE/SSE2).
//!
//! The MMX registers MM0-7 are not stored here: they are the significands of the
//! x87 physical registers R0-R7 and live in [`crate::ops::x87::Fpu`] (the SSE
//! unit reaches them through `Cpu::mm`/`Cpu::set_mm`).

use crate::fault::{Fault, Result};
use crate::ops::sse::fp::mx;

/// MXCSR bits a program may set: flags, DAZ, masks, rounding control, FTZ.
pub const MXCSR_MASK: u32 = 0xFFFF;
/// MXCSR after RESET and FNINIT-independent INIT: all exceptions masked.
pub const MXCSR_RESET: u32 = 0x1F80;

/// XMM and MXCSR state.
#[derive(Debug, Clone)]
pub struct SimdState {
    /// XMM0-7, little-endian lanes (bits 0-31 are lane 0 of a packed single).
    pub xmm: [u128; 8],
    /// MXCSR.
    pub mxcsr: u32,
}

impl Default for SimdState {
    fn default() -> Self {
        SimdState {
            xmm: [0; 8],
            mxcsr: MXCSR_RESET,
        }
    }
}

impl SimdState {
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

    /// Loads the SSE part of a FXRSTOR image: MXCSR, and XMM0-7 when `xmm`.
    /// Reserved MXCSR bits raise #GP(0) and leave the state unchanged.
    pub fn fxrstor_simd(&mut self, area: &[u8; 512], xmm: bool) -> Result<()> {
        let mut w = [0u8; 4];
        w.copy_from_slice(&area[24..28]);
        let m = u32::from_le_bytes(w);
        if m & !MXCSR_MASK != 0 {
            return Err(Fault::gp(0));
        }
        self.mxcsr = m;
        if xmm {
            for (i, x) in self.xmm.iter_mut().enumerate() {
                let mut b = [0u8; 16];
                b.copy_from_slice(&area[160 + 16 * i..176 + 16 * i]);
                *x = u128::from_le_bytes(b);
            }
        }
        Ok(())
    }

    /// Whether MXCSR masks every exception in `flags`.
    #[inline]
    pub fn masked(&self, flags: u32) -> bool {
        flags & !(self.mxcsr >> mx::MASK_SHIFT) & 0x3F == 0
    }
}

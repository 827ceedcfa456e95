//! The SIMD unit's part of FXSAVE/FXRSTOR: a hook owned by the SSE unit.
//!
//! Byte ranges of the 512-byte FXSAVE area: the x87 unit ([`super::fxsave`])
//! owns 0..24 (FCW, FSW, abridged FTW, FOP, FIP, FCS, FDP, FDS) and 32..160
//! (ST0-ST7 / MM0-MM7); the SIMD unit owns 24..32 (MXCSR, MXCSR_MASK) and
//! 160..288 (XMM0-XMM7). FXSAVE writes bytes 0..288; 288..512 are not touched.
//! The SSE unit (`crate::simd`) fills and validates its ranges.

use crate::fault::Result;
use crate::Cpu;

/// FXSAVE: fill bytes 24..32 and 160..288 of `img` from the SIMD state.
pub fn fxsave_simd(cpu: &Cpu, img: &mut [u8; 512]) {
    cpu.simd.fxsave_simd(img);
}

/// FXRSTOR: validate (e.g. #GP(0) for reserved MXCSR bits) and then load bytes
/// 24..32 and 160..288. Called before the x87 part is loaded, so returning an
/// error leaves the whole state unchanged.
pub fn fxrstor_simd(cpu: &mut Cpu, img: &[u8; 512]) -> Result<()> {
    cpu.simd.fxrstor_simd(img)
}

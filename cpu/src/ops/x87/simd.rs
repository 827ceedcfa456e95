//! The SIMD unit's part of FXSAVE/FXRSTOR: a hook owned by the SSE unit.
//!
//! Byte ranges of the 512-byte FXSAVE area: the x87 unit ([`super::fxsave`])
//! owns 0..24 (FCW, FSW, abridged FTW, FOP, FIP, FCS, FDP, FDS) and 32..160
//! (ST0-ST7 / MM0-MM7); the SIMD unit owns 24..32 (MXCSR, MXCSR_MASK) and
//! 160..288 (XMM0-XMM7). FXSAVE writes bytes 0..[`fxsave_len`]; 288..512 are
//! never touched. The SSE unit (`crate::simd`) fills and validates its ranges.
//!
//! CR4.OSFXSR = 0: the SDM lets FXSAVE/FXRSTOR skip the XMM and MXCSR registers
//! ("implementation dependent"); Intel hardware skips XMM0-7 but always saves and
//! restores MXCSR (as KVM's emulator documents), and so does this CPU.

use crate::fault::Result;
use crate::state::cr;
use crate::Cpu;

/// Whether FXSAVE/FXRSTOR include XMM0-7 (CR4.OSFXSR).
fn with_xmm(cpu: &Cpu) -> bool {
    cpu.state.cr4 & cr::OSFXSR != 0
}

/// FXSAVE: fill bytes 24..32 and 160..288 of `img` from the SIMD state.
pub fn fxsave_simd(cpu: &Cpu, img: &mut [u8; 512]) {
    cpu.simd.fxsave_simd(img);
}

/// How many bytes of the image FXSAVE stores: 288, or 160 (no XMM registers)
/// when CR4.OSFXSR = 0.
pub fn fxsave_len(cpu: &Cpu) -> usize {
    if with_xmm(cpu) {
        288
    } else {
        160
    }
}

/// FXRSTOR: validate (e.g. #GP(0) for reserved MXCSR bits) and then load bytes
/// 24..32 and, with CR4.OSFXSR, 160..288. Called before the x87 part is loaded,
/// so returning an error leaves the whole state unchanged.
pub fn fxrstor_simd(cpu: &mut Cpu, img: &[u8; 512]) -> Result<()> {
    let xmm = with_xmm(cpu);
    cpu.simd.fxrstor_simd(img, xmm)
}

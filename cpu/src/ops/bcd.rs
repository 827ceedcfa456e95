//! Decimal adjust: DAA, DAS, AAA, AAS, AAM, AAD (SDM vol. 2 pseudo-code, P6 forms:
//! AAA adds 106h to AX, AAS subtracts 6 from AX then 1 from AH), plus the
//! undocumented SALC (D6), which every Intel processor executes.
//!
//! Flags the SDM leaves undefined, as Intel P6-family processors set them (checked
//! against vectors captured on one, `tests/tests/int_intel.rs`): OF = 0 after
//! DAA/DAS; SF/ZF/PF from AL and OF = 0 after AAA/AAS; CF = OF = AF = 0 after AAM;
//! after AAD all six flags are those of the byte addition `AL + AH * imm8` that
//! forms the new AL (CF its carry out of bit 7, AF out of bit 3, OF its signed
//! overflow).

use crate::decode::{Handler, Op};
use crate::fault::{Fault, Result};
use crate::flags::lf;
use crate::state::{fl, CpuState};
use crate::Cpu;
use iced_x86::Code as C;
use tab86_mmu::Bus;

#[inline(always)]
fn bit(on: bool, b: u32) -> u32 {
    if on {
        b
    } else {
        0
    }
}

/// DAA (ADD = true) or DAS on AL with the incoming CF/AF; returns AL and the flags.
pub fn decimal_adjust<const ADD: bool>(al: u8, cf: bool, af: bool) -> (u8, u32) {
    let old = al;
    let mut al = al;
    let mut ncf = false;
    let mut naf = false;
    if al & 0xF > 9 || af {
        let (v, carry) = if ADD {
            al.overflowing_add(6)
        } else {
            al.overflowing_sub(6)
        };
        al = v;
        ncf = cf || carry;
        naf = true;
    }
    if old > 0x99 || cf {
        al = if ADD {
            al.wrapping_add(0x60)
        } else {
            al.wrapping_sub(0x60)
        };
        ncf = true;
    } else if ADD {
        ncf = false;
    }
    let f = CpuState::szp(al as u32, 0) | bit(ncf, fl::CF) | bit(naf, fl::AF);
    (al, f)
}

fn daa_das<const ADD: bool>(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    let s = &mut cpu.state;
    let (al, f) = decimal_adjust::<ADD>(s.r8(0), s.cf(), s.af());
    s.set_r8(0, al);
    s.set_arith_flags(f);
    Ok(())
}

/// AAA (ADD = true) or AAS on AX with the incoming AF; returns AX and the flags.
pub fn ascii_adjust<const ADD: bool>(ax: u16, af: bool) -> (u16, u32) {
    let adjust = ax & 0xF > 9 || af;
    let mut ax = ax;
    if adjust {
        ax = if ADD {
            ax.wrapping_add(0x106)
        } else {
            ax.wrapping_sub(6).wrapping_sub(0x100)
        };
    }
    ax &= 0xFF0F;
    let f = CpuState::szp(ax as u32 & 0xFF, 0) | bit(adjust, fl::CF | fl::AF);
    (ax, f)
}

fn aaa_aas<const ADD: bool>(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    let s = &mut cpu.state;
    let (ax, f) = ascii_adjust::<ADD>(s.r16(0), s.af());
    s.set_r16(0, ax);
    s.set_arith_flags(f);
    Ok(())
}

/// AAM imm8: AH = AL / imm, AL = AL % imm; #DE when imm is 0.
fn aam(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    let base = op.imm as u8;
    if base == 0 {
        return Err(Fault::de());
    }
    let s = &mut cpu.state;
    let al = s.r8(0);
    let (q, r) = (al / base, al % base);
    s.set_r16(0, (q as u16) << 8 | r as u16);
    s.set_arith_flags(CpuState::szp(r as u32, 0));
    Ok(())
}

/// AAD imm8: AL = AL + AH * imm, AH = 0. The flags are those of the 8-bit ADD of
/// AL and the low byte of AH * imm, recorded lazily like an ADD.
fn aad(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    let s = &mut cpu.state;
    let ax = s.r16(0);
    let (a, b) = (
        ax as u32 & 0xFF,
        ((ax >> 8) as u8).wrapping_mul(op.imm as u8) as u32,
    );
    let sum = a + b;
    s.set_r16(0, sum as u16 & 0xFF);
    s.set_lazy(lf::ADD | lf::B8, a, b, sum);
    Ok(())
}

/// SALC: AL = CF ? FFh : 00h; flags unchanged.
fn salc(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    let v = if cpu.state.cf() { 0xFF } else { 0 };
    cpu.state.set_r8(0, v);
    Ok(())
}

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    Some(match code {
        C::Daa => daa_das::<true>,
        C::Das => daa_das::<false>,
        C::Aaa => aaa_aas::<true>,
        C::Aas => aaa_aas::<false>,
        C::Aam_imm8 => aam,
        C::Aad_imm8 => aad,
        C::Salc => salc,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daa_das() {
        // 0x19 + 0x28 = 0x41 with AF set -> 0x47.
        assert_eq!(decimal_adjust::<true>(0x41, false, true).0, 0x47);
        let (al, f) = decimal_adjust::<true>(0x9A, false, false);
        assert_eq!(
            (al, f & (fl::CF | fl::AF | fl::ZF)),
            (0x00, fl::CF | fl::AF | fl::ZF)
        );
        // 0x47 - 0x19 = 0x2E -> 0x28.
        assert_eq!(decimal_adjust::<false>(0x2E, false, true).0, 0x28);
        // DAS keeps the borrow of AL-6 (SDM): 0x03 with AF -> 0xFD, CF.
        let (al, f) = decimal_adjust::<false>(0x03, false, true);
        assert_eq!((al, f & fl::CF), (0xFD, fl::CF));
    }

    #[test]
    fn aaa_aas() {
        assert_eq!(
            ascii_adjust::<true>(0x000B, false),
            (0x0101, fl::CF | fl::AF)
        );
        // P6: AX + 106h, so AL = FAh carries into AH twice.
        assert_eq!(ascii_adjust::<true>(0x00FA, false).0, 0x0200);
        assert_eq!(ascii_adjust::<true>(0x0105, false).0, 0x0105);
        assert_eq!(ascii_adjust::<false>(0x020F, false).0, 0x0109);
        assert_eq!(ascii_adjust::<false>(0x0200, true).0, 0x000A);
    }

    #[test]
    fn aam_aad_through_cpu() {
        use crate::{Cpu, NullBus, PhysMem};
        let mut mem = PhysMem::new(1 << 20);
        // aam 10; aad 10; aam 0 (-> #DE through IVT[0] = 0:9000, a HLT)
        mem.write_bytes(
            0x7C00,
            &[0xD4, 0x0A, 0x89, 0xC3, 0xD5, 0x0A, 0xD4, 0x00, 0xF4],
        );
        mem.write_bytes(0x9000, &[0xF4]);
        mem.write_bytes(0, &[0x00, 0x90, 0x00, 0x00]);
        let mut cpu = Cpu::new(mem);
        cpu.set_cs_real(0);
        cpu.state.eip = 0x7C00;
        cpu.state.gpr[4] = 0x7000;
        cpu.state.gpr[0] = 0x4F; // 79
        cpu.run(&mut NullBus, 100);
        assert_eq!(cpu.state.gpr[3] & 0xFFFF, 0x0709); // after AAM: AH=7, AL=9
        assert_eq!(cpu.state.gpr[0] & 0xFFFF, 0x004F); // AAD restores 79
        assert_eq!(cpu.state.eip, 0x9001);
        let mut ret = [0u8; 2];
        cpu.mem.read_bytes(0x7000 - 6, &mut ret);
        assert_eq!(u16::from_le_bytes(ret), 0x7C06); // #DE is a fault at AAM 0
    }
}

//! Emulator-only x87 behaviour the native ground truth (ring 3 under Linux) cannot
//! show: #NM from CR0.EM/TS/MP, #MF versus FERR# delivery, real-mode environment
//! layout, the MMX accessors.

use super::sw;
use crate::state::cr;
use crate::{Cpu, Exit, NullBus, PhysMem};
use tab86_softfloat::F80;

const CODE: u32 = 0x7C00;
/// Handlers for vector v (real-mode IVT) are a HLT at HANDLERS + v.
const HANDLERS: u32 = 0x8000;

fn cpu_with(code: &[u8]) -> Cpu {
    let mut mem = PhysMem::new(1 << 20);
    for v in 0..32u32 {
        let off = (HANDLERS + v) as u16;
        mem.write_bytes(v * 4, &[off as u8, (off >> 8) as u8, 0, 0]);
    }
    mem.write_bytes(HANDLERS, &[0xF4; 32]);
    mem.write_bytes(CODE, code);
    mem.write_bytes(0x600, &0x037Bu16.to_le_bytes()); // ZE unmasked
    let mut cpu = Cpu::new(mem);
    cpu.set_cs_real(0);
    cpu.state.eip = CODE;
    cpu.state.gpr[4] = 0x7000;
    cpu
}

/// Runs until HLT; returns the vector whose handler halted (None: the program's HLT)
/// and the IP pushed by the exception.
fn run(cpu: &mut Cpu) -> (Option<u32>, u16) {
    assert_eq!(cpu.run(&mut NullBus, 1000), Exit::HaltedNoWake);
    let at = cpu.state.eip - 1;
    if (HANDLERS..HANDLERS + 32).contains(&at) {
        let mut b = [0u8; 2];
        cpu.mem.read_bytes(cpu.state.gpr[4], &mut b);
        (Some(at - HANDLERS), u16::from_le_bytes(b))
    } else {
        (None, 0)
    }
}

// FNINIT; FLDCW [600h]; FLDZ; FLD1; FDIV ST0,ST1 (1/0, #Z unmasked); FNSTSW AX; FLD1; HLT
const DIVZ: [u8; 14] = [
    0xDB, 0xE3, 0xD9, 0x2E, 0x00, 0x06, 0xD9, 0xEE, 0xD9, 0xE8, 0xD8, 0xF1, 0xDF, 0xE0,
];

fn divz_then(tail: &[u8]) -> Cpu {
    let mut code = DIVZ.to_vec();
    code.extend_from_slice(tail);
    code.push(0xF4);
    cpu_with(&code)
}

#[test]
fn unmasked_exception_raises_mf_at_next_waiting_instruction() {
    let mut cpu = divz_then(&[0xD9, 0xE8]);
    cpu.state.cr0 |= cr::NE;
    let (v, ip) = run(&mut cpu);
    assert_eq!(v, Some(16), "#MF");
    assert_eq!(ip as u32, CODE + 14, "#MF points at the FLD1 after FNSTSW");
    // FNSTSW did not wait: AX has ES, B and ZE; ST(0) kept 1.0 (division suppressed).
    assert_eq!(
        cpu.state.gpr[0] as u16 & (sw::ES | sw::B | sw::ZE),
        sw::ES | sw::B | sw::ZE
    );
    assert_eq!(cpu.fpu.st(0), F80::ONE);
    assert_eq!(cpu.fpu.top(), 6, "FLD1 did not execute");
    // FOP/FIP of the faulting FDIV.
    assert_eq!((cpu.fpu.fop, cpu.fpu.fip), (0x0F1, CODE + 10));
    assert!(!cpu.fpu.ferr());
}

#[test]
fn ferr_instead_of_mf_when_ne_clear() {
    // WAIT also reports; with NE = 0 it asserts FERR# and execution continues.
    let mut cpu = divz_then(&[0x9B, 0xD9, 0xE8]);
    let (v, _) = run(&mut cpu);
    assert_eq!(v, None);
    assert!(cpu.fpu.ferr());
    assert_eq!(cpu.fpu.top(), 5, "FLD1 executed after FERR#");
    cpu.fpu.clear_ferr();
    assert!(!cpu.fpu.ferr());
}

#[test]
fn fnclex_clears_pending_exception() {
    // ...; FNCLEX; FLD1: no #MF.
    let mut cpu = divz_then(&[0xDB, 0xE2, 0xD9, 0xE8]);
    cpu.state.cr0 |= cr::NE;
    assert_eq!(run(&mut cpu).0, None);
    assert_eq!(cpu.fpu.fsw & 0x80FF, 0);
}

#[test]
fn device_not_available_rules() {
    // FLD1 with EM: #NM.
    let mut cpu = cpu_with(&[0xD9, 0xE8, 0xF4]);
    cpu.state.cr0 |= cr::EM;
    assert_eq!(run(&mut cpu), (Some(7), CODE as u16));
    // FNSTSW AX with TS: #NM too.
    let mut cpu = cpu_with(&[0xDF, 0xE0, 0xF4]);
    cpu.state.cr0 |= cr::TS;
    assert_eq!(run(&mut cpu).0, Some(7));
    // WAIT with TS alone runs; with MP and TS it faults; EM does not matter.
    let mut cpu = cpu_with(&[0x9B, 0xF4]);
    cpu.state.cr0 |= cr::TS | cr::EM;
    assert_eq!(run(&mut cpu).0, None);
    let mut cpu = cpu_with(&[0x9B, 0xF4]);
    cpu.state.cr0 |= cr::TS | cr::MP;
    assert_eq!(run(&mut cpu).0, Some(7));
}

#[test]
fn real_mode_environment_layout() {
    // FNINIT; FLD1 (at 7C02); FLD dword [0x1234]; FNSTENV [0x500] (16-bit); HLT
    let mut cpu = cpu_with(&[
        0xDB, 0xE3, 0xD9, 0xE8, 0xD9, 0x06, 0x34, 0x12, 0xD9, 0x36, 0x00, 0x05, 0xF4,
    ]);
    cpu.set_cs_real(0x07C0);
    cpu.state.eip = 0;
    // Same bytes reached as 07C0:0000; DS = 0.
    assert_eq!(run(&mut cpu).0, None);
    let mut e = [0u8; 14];
    cpu.mem.read_bytes(0x500, &mut e);
    let w = |i: usize| u16::from_le_bytes([e[i], e[i + 1]]);
    assert_eq!(w(0), 0x037F);
    assert_eq!(
        w(4),
        0x1FFF,
        "R7 = 1.0 valid, R6 = +0 (memory is zero) zero"
    );
    assert_eq!(w(6), 0x7C04, "FIP = linear CS*16+IP, low 16 bits");
    assert_eq!(w(8), 0x0106, "FIP bits 19..16 = 0, FOP = D9 06");
    assert_eq!((w(10), w(12)), (0x1234, 0), "FDP linear");
}

#[test]
fn mmx_aliasing() {
    let mut cpu = cpu_with(&[0xF4]);
    let f = &mut cpu.fpu;
    f.init();
    f.set_top(5);
    f.mmx_enter();
    assert_eq!((f.top(), f.tags), (0, 0xFF));
    f.mmx_write(3, 0x0123_4567_89AB_CDEF);
    assert_eq!(f.mmx_read(3), 0x0123_4567_89AB_CDEF);
    assert_eq!(f.regs[3].sign_exp, 0xFFFF);
    assert_eq!(
        f.st(3).signif,
        0x0123_4567_89AB_CDEF,
        "TOP = 0: ST(3) is R3"
    );
    f.emms();
    assert_eq!(f.ftw(), 0xFFFF);
}

#[test]
fn fop_skips_prefixes() {
    assert_eq!(super::fop_of(&[0x66, 0x2E, 0xDD, 0x36, 0, 0]), Some(0x536));
    assert_eq!(super::fop_of(&[0x9B, 0xDB, 0xE3]), None);
    assert_eq!(super::fop_of(&[0xDE]), None);
}

//! Control instructions: FNINIT, FNCLEX, FNSTSW, FNSTCW, FLDCW, FNSTENV/FLDENV,
//! FNSAVE/FRSTOR (16- and 32-bit, real- and protected-mode layouts), FXSAVE/
//! FXRSTOR (x87 part) and WAIT. Apart from WAIT and FLDCW/FLDENV/FRSTOR, these
//! neither check for pending exceptions nor update FIP/FDP/FOP.

use super::{check_write, enter, enter_nowait, read_mem, simd, write_lin_bytes};
use crate::decode::{kind, Handler, Op};
use crate::fault::{Fault, Result};
use crate::state::{cr, reg};
use crate::Cpu;
use iced_x86::Code as C;
use tab86_mmu::Bus;
use tab86_softfloat::F80;

/// FCW bits that are stored: reserved bits 6 reads as 1, bits 15..13 and 7 as 0.
const FCW_KEEP: u16 = 0x1F3F;

/// Sets FCW as FLDCW does.
fn load_fcw(cpu: &mut Cpu, v: u16) {
    cpu.fpu.fcw = (v & FCW_KEEP) | 0x40;
}

/// The WAIT part of WAIT and of the waiting control forms (FINIT, FCLEX, FSTSW,
/// FSTCW, FSTENV, FSAVE): #NM only if CR0.MP and CR0.TS, then the pending-
/// exception check.
pub(super) fn wait_part(cpu: &mut Cpu) -> Result<()> {
    if cpu.state.cr0 & (cr::MP | cr::TS) == cr::MP | cr::TS {
        return Err(Fault::nm());
    }
    super::x87_pending_mf(cpu)
}

fn is_wait_form(code: C) -> bool {
    matches!(
        code,
        C::Finit
            | C::Fclex
            | C::Fstsw_AX
            | C::Fstsw_m2byte
            | C::Fstcw_m2byte
            | C::Fstenv_m14byte
            | C::Fstenv_m28byte
            | C::Fsave_m94byte
            | C::Fsave_m108byte
    )
}

/// Entry of a no-wait control instruction or its waiting form.
fn control_entry(cpu: &mut Cpu, op: &Op) -> Result<()> {
    if is_wait_form(op.code) {
        wait_part(cpu)?;
    }
    enter_nowait(cpu)
}

fn wait(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    wait_part(cpu)
}

fn fninit(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    control_entry(cpu, op)?;
    cpu.fpu.init();
    Ok(())
}

/// FNCLEX: clears PE..IE, SF, ES and B.
fn fnclex(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    control_entry(cpu, op)?;
    cpu.fpu.fsw &= !0x80FF;
    Ok(())
}

fn fnstsw(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    control_entry(cpu, op)?;
    let v = cpu.fpu.fsw;
    if op.kind[0] == kind::MEM {
        cpu.write_op(bus, op, 0, 2, v as u32)
    } else {
        cpu.state.set_r16(reg::EAX as u8, v);
        Ok(())
    }
}

fn fnstcw(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    control_entry(cpu, op)?;
    let v = cpu.fpu.fcw as u32;
    cpu.write_op(bus, op, 0, 2, v)
}

/// FLDCW: a waiting instruction; unmasking a pending flag sets ES.
fn fldcw(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    enter(cpu)?;
    let v = cpu.read_op(bus, op, 0, 2)?;
    load_fcw(cpu, v as u16);
    cpu.fpu.update_es();
    Ok(())
}

/// Whether the environment uses the real-mode layout (real or virtual-8086 mode).
fn real_layout(cpu: &Cpu) -> bool {
    !cpu.state.protected() || cpu.state.vm86()
}

/// Whether a FNSTENV/FLDENV/FNSAVE/FRSTOR form uses the 32-bit layout.
fn env32(code: C) -> bool {
    matches!(
        code,
        C::Fnstenv_m28byte
            | C::Fstenv_m28byte
            | C::Fldenv_m28byte
            | C::Fnsave_m108byte
            | C::Fsave_m108byte
            | C::Frstor_m108byte
    )
}

/// The FNSTENV image (SDM vol. 1, figures 8-9 to 8-12); returns it and its length.
fn env_image(cpu: &Cpu, big: bool) -> ([u8; 28], usize) {
    let f = &cpu.fpu;
    let real = real_layout(cpu);
    let fip_lin = ((f.fcs as u32) << 4).wrapping_add(f.fip);
    let fdp_lin = ((f.fds as u32) << 4).wrapping_add(f.fdp);
    let fop = f.fop as u32 & 0x7FF;
    let mut b = [0u8; 28];
    if big {
        let words: [u32; 7] = if real {
            [
                0xFFFF_0000 | f.fcw as u32,
                0xFFFF_0000 | f.fsw as u32,
                0xFFFF_0000 | f.ftw() as u32,
                0xFFFF_0000 | (fip_lin & 0xFFFF),
                ((fip_lin >> 16) << 12) | fop,
                0xFFFF_0000 | (fdp_lin & 0xFFFF),
                (fdp_lin >> 16) << 12,
            ]
        } else {
            [
                0xFFFF_0000 | f.fcw as u32,
                0xFFFF_0000 | f.fsw as u32,
                0xFFFF_0000 | f.ftw() as u32,
                f.fip,
                f.fcs as u32 | fop << 16,
                f.fdp,
                0xFFFF_0000 | f.fds as u32,
            ]
        };
        for (i, w) in words.iter().enumerate() {
            b[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
        }
        (b, 28)
    } else {
        let words: [u16; 7] = if real {
            [
                f.fcw,
                f.fsw,
                f.ftw(),
                fip_lin as u16,
                (((fip_lin >> 16) & 0xF) << 12 | fop) as u16,
                fdp_lin as u16,
                (((fdp_lin >> 16) & 0xF) << 12) as u16,
            ]
        } else {
            [
                f.fcw,
                f.fsw,
                f.ftw(),
                f.fip as u16,
                f.fcs,
                f.fdp as u16,
                f.fds,
            ]
        };
        for (i, w) in words.iter().enumerate() {
            b[2 * i..2 * i + 2].copy_from_slice(&w.to_le_bytes());
        }
        (b, 14)
    }
}

/// Loads an environment image (the inverse of [`env_image`]).
fn load_env(cpu: &mut Cpu, b: &[u8], big: bool) {
    let real = real_layout(cpu);
    let w = |i: usize| -> u32 {
        if big {
            u32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
        } else {
            u16::from_le_bytes([b[2 * i], b[2 * i + 1]]) as u32
        }
    };
    load_fcw(cpu, w(0) as u16);
    let f = &mut cpu.fpu;
    f.fsw = w(1) as u16;
    f.set_ftw(w(2) as u16);
    if real {
        let hi_bits = if big { 0xFFFF } else { 0xF };
        f.fip = (w(3) & 0xFFFF) | ((w(4) >> 12) & hi_bits) << 16;
        f.fop = w(4) as u16 & 0x7FF;
        f.fdp = (w(5) & 0xFFFF) | ((w(6) >> 12) & hi_bits) << 16;
        f.fcs = 0;
        f.fds = 0;
    } else {
        f.fip = w(3);
        f.fdp = w(5);
        f.fds = w(6) as u16;
        if big {
            f.fcs = w(4) as u16;
            f.fop = (w(4) >> 16) as u16 & 0x7FF;
        } else {
            f.fcs = w(4) as u16;
        }
    }
    f.update_es();
}

/// FNSTENV/FSTENV: store the environment, then mask all exceptions.
fn fnstenv(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    control_entry(cpu, op)?;
    let (img, n) = env_image(cpu, env32(op.code));
    let lin = check_write(cpu, bus, op, n as u32)?;
    write_lin_bytes(cpu, bus, lin, &img[..n])?;
    cpu.fpu.fcw |= 0x3F;
    cpu.fpu.update_es();
    Ok(())
}

fn fldenv(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    enter(cpu)?;
    let big = env32(op.code);
    let mut b = [0u8; 28];
    let n = if big { 28 } else { 14 };
    read_mem(cpu, bus, op, 0, &mut b[..n])?;
    load_env(cpu, &b, big);
    Ok(())
}

/// FNSAVE/FSAVE: environment plus ST(0)..ST(7), then FNINIT.
fn fnsave(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    control_entry(cpu, op)?;
    let (env, n) = env_image(cpu, env32(op.code));
    let mut img = [0u8; 108];
    img[..n].copy_from_slice(&env[..n]);
    for i in 0..8u8 {
        let at = n + 10 * i as usize;
        img[at..at + 10].copy_from_slice(&cpu.fpu.st(i).to_le_bytes());
    }
    let len = n + 80;
    let lin = check_write(cpu, bus, op, len as u32)?;
    write_lin_bytes(cpu, bus, lin, &img[..len])?;
    cpu.fpu.init();
    Ok(())
}

fn frstor(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    enter(cpu)?;
    let big = env32(op.code);
    let n = if big { 28 } else { 14 };
    let mut img = [0u8; 108];
    read_mem(cpu, bus, op, 0, &mut img[..n + 80])?;
    load_env(cpu, &img[..n], big);
    for i in 0..8u8 {
        let at = n + 10 * i as usize;
        let mut r = [0u8; 10];
        r.copy_from_slice(&img[at..at + 10]);
        let p = cpu.fpu.phys(i);
        cpu.fpu.regs[p] = F80::from_le_bytes(r);
    }
    Ok(())
}

/// Fills the x87 part of a 512-byte FXSAVE image (bytes 0..24: FCW, FSW,
/// abridged FTW, FOP, FIP, FCS, FDP, FDS; bytes 32..160: ST(0)-ST(7) / MM0-MM7
/// in 16-byte slots), then lets the SIMD unit fill its part (bytes 24..32 MXCSR
/// and MXCSR_MASK, 160..288 XMM0-XMM7) through [`simd::fxsave_simd`].
pub fn fxsave(cpu: &Cpu, img: &mut [u8; 512]) {
    let f = &cpu.fpu;
    img[0..2].copy_from_slice(&f.fcw.to_le_bytes());
    img[2..4].copy_from_slice(&f.fsw.to_le_bytes());
    img[4] = f.abridged_tags();
    img[5] = 0;
    img[6..8].copy_from_slice(&(f.fop & 0x7FF).to_le_bytes());
    img[8..12].copy_from_slice(&f.fip.to_le_bytes());
    img[12..14].copy_from_slice(&f.fcs.to_le_bytes());
    img[14..16].fill(0);
    img[16..20].copy_from_slice(&f.fdp.to_le_bytes());
    img[20..22].copy_from_slice(&f.fds.to_le_bytes());
    img[22..24].fill(0);
    for i in 0..8u8 {
        let at = 32 + 16 * i as usize;
        img[at..at + 10].copy_from_slice(&f.st(i).to_le_bytes());
        img[at + 10..at + 16].fill(0);
    }
    simd::fxsave_simd(cpu, img);
}

/// Loads the x87 part of an FXSAVE image after the SIMD unit has validated and
/// loaded its part ([`simd::fxrstor_simd`], which may raise #GP for reserved
/// MXCSR bits before anything changes).
pub fn fxrstor(cpu: &mut Cpu, img: &[u8; 512]) -> Result<()> {
    simd::fxrstor_simd(cpu, img)?;
    let w = |i: usize| u16::from_le_bytes([img[i], img[i + 1]]);
    let d = |i: usize| u32::from_le_bytes([img[i], img[i + 1], img[i + 2], img[i + 3]]);
    load_fcw(cpu, w(0));
    let f = &mut cpu.fpu;
    f.fsw = w(2);
    f.tags = img[4];
    f.fop = w(6) & 0x7FF;
    f.fip = d(8);
    f.fcs = w(12);
    f.fdp = d(16);
    f.fds = w(20);
    for i in 0..8u8 {
        let at = 32 + 16 * i as usize;
        let mut r = [0u8; 10];
        r.copy_from_slice(&img[at..at + 10]);
        let p = f.phys(i);
        f.regs[p] = F80::from_le_bytes(r);
    }
    f.update_es();
    Ok(())
}

/// FXSAVE m512: #GP(0) unless 16-byte aligned; no pending-exception check. Writes
/// bytes 0..288 (0..160 with CR4.OSFXSR = 0, see [`simd::fxsave_len`]).
fn fxsave_op(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    enter_nowait(cpu)?;
    let lin = check_write(cpu, bus, op, 512)?;
    if lin & 15 != 0 {
        return Err(Fault::gp(0));
    }
    let mut img = [0u8; 512];
    fxsave(cpu, &mut img);
    let len = simd::fxsave_len(cpu);
    write_lin_bytes(cpu, bus, lin, &img[..len])
}

/// FXRSTOR m512: #GP(0) unless 16-byte aligned.
fn fxrstor_op(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    enter_nowait(cpu)?;
    let ea = cpu.ea(op);
    let lin = cpu.seg_addr(op.seg as usize, ea, 512, crate::state::Segment::READ)?;
    if lin & 15 != 0 {
        return Err(Fault::gp(0));
    }
    let mut img = [0u8; 512];
    read_mem(cpu, bus, op, 0, &mut img)?;
    fxrstor(cpu, &img)
}

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    let h: Handler = match code {
        C::Wait => wait,
        C::Fninit | C::Finit => fninit,
        C::Fnclex | C::Fclex => fnclex,
        C::Fnstsw_AX | C::Fstsw_AX | C::Fnstsw_m2byte | C::Fstsw_m2byte => fnstsw,
        C::Fnstcw_m2byte | C::Fstcw_m2byte => fnstcw,
        C::Fldcw_m2byte => fldcw,
        C::Fnstenv_m14byte | C::Fstenv_m14byte | C::Fnstenv_m28byte | C::Fstenv_m28byte => fnstenv,
        C::Fldenv_m14byte | C::Fldenv_m28byte => fldenv,
        C::Fnsave_m94byte | C::Fsave_m94byte | C::Fnsave_m108byte | C::Fsave_m108byte => fnsave,
        C::Frstor_m94byte | C::Frstor_m108byte => frstor,
        C::Fxsave_m512byte => fxsave_op,
        C::Fxrstor_m512byte => fxrstor_op,
        _ => return None,
    };
    Some(h)
}

//! System instructions (SDM vol. 2; vol. 3 chapters 2 and 5): descriptor-table
//! registers, LDTR/TR, control and debug registers, MSW, TLB and cache control,
//! LAR/LSL/VERR/VERW/ARPL, CPUID, RDTSC, RDMSR/WRMSR, SYSENTER/SYSEXIT, UD2, RSM.
//!
//! Privileged ones raise #GP(0) at CPL > 0 (always in virtual-8086 mode); the
//! protected-mode-only ones raise #UD in real and virtual-8086 mode. LOCK misuse is
//! rejected by the decoder (iced-x86 decodes it as INVALID, which raises #UD).

use crate::cpuid::edx;
use crate::decode::{kind, Handler, Op};
use crate::fault::{vector, Fault, Result};
use crate::ops::far::desc;
use crate::state::{cr, fl, reg, sreg, Segment};
use crate::Cpu;
use iced_x86::Code as C;
use tab86_mmu::Bus;

/// #GP(0) unless CPL 0 (real mode counts as CPL 0; virtual-8086 mode is CPL 3).
fn need_cpl0(cpu: &Cpu) -> Result<()> {
    if cpu.state.protected() && cpu.state.cpl != 0 {
        return Err(Fault::gp(0));
    }
    Ok(())
}

/// #UD outside protected mode proper (real and virtual-8086 mode).
fn need_pm(cpu: &Cpu) -> Result<()> {
    if !cpu.state.protected() || cpu.state.vm86() {
        return Err(Fault::ud());
    }
    Ok(())
}

/// LGDT/LIDT (T = 0 GDT, 1 IDT); a 16-bit operand size loads a 24-bit base.
fn lgdt<const T: u8, const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    need_cpl0(cpu)?;
    let ea = cpu.ea(op);
    let seg = op.seg as usize;
    let limit = cpu.read16(bus, seg, ea)? as u32;
    let base = cpu.read32(bus, seg, ea.wrapping_add(2))?;
    let base = if S == 2 { base & 0x00FF_FFFF } else { base };
    let r = if T == 0 {
        &mut cpu.state.gdtr
    } else {
        &mut cpu.state.idtr
    };
    r.base = base;
    r.limit = limit;
    cpu.stop = true;
    Ok(())
}

/// SGDT/SIDT: stores the limit and the full 32-bit base for either operand size
/// (SDM SGDT operation, "full 32-bit base address stored").
fn sgdt<const T: u8>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let r = if T == 0 {
        cpu.state.gdtr
    } else {
        cpu.state.idtr
    };
    let ea = cpu.ea(op);
    let seg = op.seg as usize;
    // Check all six bytes before writing any.
    let lin = cpu.seg_addr(seg, ea, 6, Segment::WRITE)?;
    cpu.probe_write(bus, lin, 6, crate::mem::Priv::Cpl)?;
    cpu.write16(bus, seg, ea, r.limit as u16)?;
    cpu.write32(bus, seg, ea.wrapping_add(2), r.base)
}

/// LLDT r/m16.
fn lldt(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    need_pm(cpu)?;
    need_cpl0(cpu)?;
    let sel = cpu.read_op(bus, op, 0, 2)? as u16;
    cpu.stop = true;
    if sel & !3 == 0 {
        cpu.state.ldtr = Segment {
            selector: sel,
            ..Segment::default()
        };
        return Ok(());
    }
    let err = sel as u32 & 0xFFFC;
    if sel & 4 != 0 {
        return Err(Fault::gp(err));
    }
    let (lo, hi) = cpu.read_descriptor(bus, sel)?;
    if desc::is_seg(hi) || desc::sys_type(hi) != 2 {
        return Err(Fault::gp(err));
    }
    if !desc::present(hi) {
        return Err(Fault::np(err));
    }
    cpu.state.ldtr = Segment::from_descriptor(sel, lo, hi);
    Ok(())
}

/// LTR r/m16: loads TR and marks the TSS descriptor busy.
fn ltr(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    need_pm(cpu)?;
    need_cpl0(cpu)?;
    let sel = cpu.read_op(bus, op, 0, 2)? as u16;
    if sel & !3 == 0 {
        return Err(Fault::gp(0));
    }
    let err = sel as u32 & 0xFFFC;
    if sel & 4 != 0 {
        return Err(Fault::gp(err));
    }
    let (lo, hi) = cpu.read_descriptor(bus, sel)?;
    if desc::is_seg(hi) || !matches!(desc::sys_type(hi), 0x1 | 0x9) {
        return Err(Fault::gp(err));
    }
    if !desc::present(hi) {
        return Err(Fault::np(err));
    }
    let addr = cpu.state.gdtr.base.wrapping_add((sel & !7) as u32 + 4);
    cpu.sys_write32(bus, addr, hi | 0x200)?;
    cpu.state.tr = Segment::from_descriptor(sel, lo, hi | 0x200);
    Ok(())
}

/// SLDT/STR (T = 0 LDTR, 1 TR); a 32-bit register destination is zero-extended.
fn sldt<const T: u8>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    need_pm(cpu)?;
    let sel = if T == 0 {
        cpu.state.ldtr.selector
    } else {
        cpu.state.tr.selector
    } as u32;
    store_word(cpu, bus, op, sel)
}

/// Stores a 16-bit result: memory gets a word, a register by the operand size
/// (32-bit registers are zero-extended on P6).
fn store_word(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op, v: u32) -> Result<()> {
    if op.kind[0] == kind::MEM {
        return cpu.write_op(bus, op, 0, 2, v);
    }
    let size = match op.code {
        C::Sldt_r32m16 | C::Str_r32m16 | C::Smsw_r32m16 => 4,
        _ => 2,
    };
    cpu.set_reg(op.r[0], size, v);
    Ok(())
}

/// MOV r32, CRn.
fn mov_from_cr(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    need_cpl0(cpu)?;
    let s = &cpu.state;
    let v = match op.r[1] {
        0 => s.cr0,
        2 => s.cr2,
        3 => s.cr3,
        4 => s.cr4,
        _ => return Err(Fault::ud()),
    };
    cpu.set_reg(op.r[0], 4, v);
    Ok(())
}

/// MOV CRn, r32: CR4 bits for features CPUID does not report raise #GP(0).
fn mov_to_cr(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    let n = op.r[0];
    if !matches!(n, 0 | 2 | 3 | 4) {
        return Err(Fault::ud());
    }
    need_cpl0(cpu)?;
    let v = cpu.reg(op.r[1], 4);
    match n {
        0 => cpu.set_cr0(v)?,
        2 => cpu.state.cr2 = v,
        3 => cpu.set_cr3(v)?,
        _ => {
            let c = &cpu.cpuid;
            let mut allowed = cr::TSD | cr::PCE;
            for (bit, feat) in [
                (cr::VME | cr::PVI, edx::VME),
                (cr::DE, edx::DE),
                (cr::PSE, edx::PSE),
                (cr::PAE, edx::PAE),
                (cr::MCE, edx::MCE),
                (cr::PGE, edx::PGE),
                (cr::OSFXSR, edx::FXSR),
                (cr::OSXMMEXCPT, edx::SSE),
            ] {
                if c.has(feat) {
                    allowed |= bit;
                }
            }
            if v & !allowed != 0 {
                return Err(Fault::gp(0));
            }
            cpu.set_cr4(v)?;
        }
    }
    cpu.stop = true;
    Ok(())
}

/// The debug-register number after DR4/DR5 aliasing (#UD for them with CR4.DE);
/// DR7.GD raises #DB with DR6.BD set and GD cleared.
fn dr_index(cpu: &mut Cpu, n: u8) -> Result<usize> {
    let n = match n {
        0..=3 | 6 | 7 => n as usize,
        4 | 5 if cpu.state.cr4 & cr::DE == 0 => n as usize + 2,
        _ => return Err(Fault::ud()),
    };
    need_cpl0(cpu)?;
    if cpu.state.dr[7] & (1 << 13) != 0 {
        cpu.state.dr[7] &= !(1 << 13);
        cpu.state.dr[6] |= 1 << 13;
        return Err(Fault::new(vector::DB));
    }
    Ok(n)
}

/// MOV r32, DRn.
fn mov_from_dr(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    let n = dr_index(cpu, op.r[1])?;
    let v = cpu.state.dr[n];
    cpu.set_reg(op.r[0], 4, v);
    Ok(())
}

/// MOV DRn, r32: stored (breakpoints are not acted on); DR6/DR7 keep their fixed bits.
fn mov_to_dr(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    let n = dr_index(cpu, op.r[0])?;
    let v = cpu.reg(op.r[1], 4);
    cpu.state.dr[n] = match n {
        6 => (v & 0x0000_E00F) | 0xFFFF_0FF0,
        7 => (v & 0xFFFF_2BFF) | 0x400,
        _ => v,
    };
    if n != 6 {
        cpu.debug_regs_changed();
    }
    cpu.stop = true;
    Ok(())
}

/// LMSW: loads PE, MP, EM, TS; can set PE but never clears it.
fn lmsw(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    need_cpl0(cpu)?;
    let v = cpu.read_op(bus, op, 0, 2)?;
    let old = cpu.state.cr0;
    let new = (old & !0xE) | (v & 0xF) | (old & cr::PE);
    cpu.set_cr0(new)
}

/// SMSW: the low word of CR0 (a 32-bit register gets all of CR0 on P6).
fn smsw(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let v = cpu.state.cr0;
    let v = if op.kind[0] == kind::MEM {
        v & 0xFFFF
    } else {
        v
    };
    store_word(cpu, bus, op, v)
}

fn clts(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    need_cpl0(cpu)?;
    cpu.state.cr0 &= !cr::TS;
    Ok(())
}

/// INVLPG m: drops the TLB entry of the page holding the operand's linear address.
fn invlpg(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    need_cpl0(cpu)?;
    let lin = cpu.state.seg[op.seg as usize].base.wrapping_add(cpu.ea(op));
    cpu.tlb.flush_page(lin);
    cpu.stop = true;
    Ok(())
}

/// WBINVD/INVD: caches are not modelled.
fn wbinvd(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    need_cpl0(cpu)
}

/// Reads the descriptor for LAR/LSL/VERR/VERW: None (ZF = 0) for a null selector
/// or one beyond its table; faults (e.g. #PF) while reading propagate.
fn probe_desc(cpu: &mut Cpu, bus: &mut dyn Bus, sel: u16) -> Result<Option<(u32, u32)>> {
    if sel & !3 == 0 {
        return Ok(None);
    }
    let (base, limit) = if sel & 4 != 0 {
        let l = cpu.state.ldtr;
        if l.selector & !3 == 0 || !l.present() {
            return Ok(None);
        }
        (l.base, l.limit)
    } else {
        (cpu.state.gdtr.base, cpu.state.gdtr.limit)
    };
    if (sel & !7) as u32 + 7 > limit {
        return Ok(None);
    }
    let lo = cpu.sys_read32(bus, base.wrapping_add((sel & !7) as u32))?;
    let hi = cpu.sys_read32(bus, base.wrapping_add((sel & !7) as u32 + 4))?;
    Ok(Some((lo, hi)))
}

/// The visibility rule of LAR/LSL/VERR/VERW: conforming code is always visible,
/// everything else needs DPL >= max(CPL, RPL).
fn visible(cpu: &Cpu, sel: u16, hi: u32) -> bool {
    desc::conforming(hi) || desc::dpl(hi) >= cpu.state.cpl.max(sel as u32 & 3)
}

fn set_zf(cpu: &mut Cpu, z: bool) {
    cpu.state.materialize_flags();
    if z {
        cpu.state.eflags |= fl::ZF;
    } else {
        cpu.state.eflags &= !fl::ZF;
    }
}

/// LAR (K = 0) and LSL (K = 1).
fn lar_lsl<const K: u8, const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    need_pm(cpu)?;
    let sel = cpu.read_op(bus, op, 1, 2)? as u16;
    let Some((lo, hi)) = probe_desc(cpu, bus, sel)? else {
        set_zf(cpu, false);
        return Ok(());
    };
    let valid_sys = if K == 0 {
        matches!(desc::sys_type(hi), 1 | 2 | 3 | 4 | 5 | 9 | 0xB | 0xC)
    } else {
        matches!(desc::sys_type(hi), 1 | 2 | 3 | 9 | 0xB)
    };
    if !(desc::is_seg(hi) || valid_sys) || !visible(cpu, sel, hi) {
        set_zf(cpu, false);
        return Ok(());
    }
    let v = if K == 0 {
        // The SDM leaves bits 16-19 (limit 19:16) undefined; P6 returns them, as
        // Bochs does.
        hi & 0x00FF_FF00
    } else {
        Segment::from_descriptor(sel, lo, hi).limit
    };
    cpu.set_reg(op.r[0], S, v);
    set_zf(cpu, true);
    Ok(())
}

/// VERR (W = false) and VERW (W = true).
fn verr<const W: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    need_pm(cpu)?;
    let sel = cpu.read_op(bus, op, 0, 2)? as u16;
    let ok = match probe_desc(cpu, bus, sel)? {
        None => false,
        Some((_, hi)) => {
            let usable = if W {
                desc::writable_data(hi)
            } else {
                desc::is_seg(hi) && (!desc::is_code(hi) || hi & 0x200 != 0)
            };
            usable && visible(cpu, sel, hi)
        }
    };
    set_zf(cpu, ok);
    Ok(())
}

/// ARPL r/m16, r16: raises the destination's RPL to the source's.
fn arpl(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    need_pm(cpu)?;
    let (d, loc) = cpu.rmw_begin(bus, op, 2)?;
    let s = cpu.reg(op.r[1], 2);
    if d & 3 < s & 3 {
        cpu.rmw_end(bus, loc, 2, (d & !3) | (s & 3))?;
        set_zf(cpu, true);
    } else {
        set_zf(cpu, false);
    }
    Ok(())
}

fn cpuid(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    cpu.cpuid();
    Ok(())
}

/// RDTSC: #GP(0) with CR4.TSD outside CPL 0.
fn rdtsc(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    if cpu.state.cr4 & cr::TSD != 0 {
        need_cpl0(cpu)?;
    }
    let t = cpu.tsc();
    cpu.state.gpr[reg::EAX] = t as u32;
    cpu.state.gpr[reg::EDX] = (t >> 32) as u32;
    Ok(())
}

fn rdmsr(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    need_cpl0(cpu)?;
    let v = cpu.read_msr(cpu.state.gpr[reg::ECX])?;
    cpu.state.gpr[reg::EAX] = v as u32;
    cpu.state.gpr[reg::EDX] = (v >> 32) as u32;
    Ok(())
}

fn wrmsr(cpu: &mut Cpu, bus: &mut dyn Bus, _: &Op) -> Result<()> {
    need_cpl0(cpu)?;
    let s = &cpu.state;
    let v = (s.gpr[reg::EDX] as u64) << 32 | s.gpr[reg::EAX] as u64;
    let msr = s.gpr[reg::ECX];
    cpu.write_msr(msr, v)?;
    if msr == crate::msr::APIC_BASE {
        // The local APIC lives on the board: it moves or turns off there.
        bus.apic_base_written(cpu.state.apic_base);
    }
    cpu.stop = true;
    Ok(())
}

/// A flat 4 GiB segment with the given type/S/DPL/P attribute byte and D/B = 1.
fn flat(sel: u16, attr: u32) -> Segment {
    let mut s = Segment {
        selector: sel,
        rights: 0,
        base: 0,
        lo: 0,
        hi: 0xFFFF_FFFF,
        attr: attr | 0xC000,
        limit: 0xFFFF_FFFF,
    };
    s.update_rights();
    s
}

/// SYSENTER: to CPL 0 with flat CS = SYSENTER_CS and SS = SYSENTER_CS + 8, whatever
/// the GDT holds; clears VM, IF and RF.
fn sysenter(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    let s = &cpu.state;
    let cs = s.sysenter_cs as u16 & 0xFFFC;
    if !s.protected() || cs == 0 {
        return Err(Fault::gp(0));
    }
    let (esp, eip) = (s.sysenter_esp, s.sysenter_eip);
    cpu.state.materialize_flags();
    let vm = cpu.state.vm86();
    cpu.state.eflags &= !(fl::VM | fl::IF | fl::RF);
    cpu.state.seg[sreg::SS] = flat(cs.wrapping_add(8), 0x93);
    cpu.state.gpr[reg::ESP] = esp;
    cpu.set_cs(flat(cs, 0x9B), 0);
    if vm {
        cpu.refresh_segments();
    }
    cpu.next_eip = eip;
    Ok(())
}

/// SYSEXIT: to CPL 3 with flat CS = SYSENTER_CS + 16, SS = SYSENTER_CS + 24,
/// ESP = ECX, EIP = EDX. Only at CPL 0 in protected mode.
fn sysexit(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    let s = &cpu.state;
    let base = s.sysenter_cs as u16 & 0xFFFC;
    if !s.protected() || s.vm86() || s.cpl != 0 || base == 0 {
        return Err(Fault::gp(0));
    }
    let (esp, eip) = (s.gpr[reg::ECX], s.gpr[reg::EDX]);
    cpu.state.seg[sreg::SS] = flat(base.wrapping_add(24) | 3, 0xF3);
    cpu.state.gpr[reg::ESP] = esp;
    cpu.set_cs(flat(base.wrapping_add(16) | 3, 0xFB), 3);
    cpu.next_eip = eip;
    Ok(())
}

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    Some(match code {
        C::Lgdt_m1632_16 => lgdt::<0, 2>,
        C::Lgdt_m1632 => lgdt::<0, 4>,
        C::Lidt_m1632_16 => lgdt::<1, 2>,
        C::Lidt_m1632 => lgdt::<1, 4>,
        C::Sgdt_m1632_16 | C::Sgdt_m1632 => sgdt::<0>,
        C::Sidt_m1632_16 | C::Sidt_m1632 => sgdt::<1>,
        C::Lldt_rm16 | C::Lldt_r32m16 => lldt,
        C::Ltr_rm16 | C::Ltr_r32m16 => ltr,
        C::Sldt_rm16 | C::Sldt_r32m16 => sldt::<0>,
        C::Str_rm16 | C::Str_r32m16 => sldt::<1>,
        C::Mov_r32_cr => mov_from_cr,
        C::Mov_cr_r32 => mov_to_cr,
        C::Mov_r32_dr => mov_from_dr,
        C::Mov_dr_r32 => mov_to_dr,
        C::Lmsw_rm16 | C::Lmsw_r32m16 => lmsw,
        C::Smsw_rm16 | C::Smsw_r32m16 => smsw,
        C::Clts => clts,
        C::Invlpg_m => invlpg,
        C::Wbinvd | C::Invd => wbinvd,
        C::Lar_r16_rm16 => lar_lsl::<0, 2>,
        C::Lar_r32_r32m16 => lar_lsl::<0, 4>,
        C::Lsl_r16_rm16 => lar_lsl::<1, 2>,
        C::Lsl_r32_r32m16 => lar_lsl::<1, 4>,
        C::Verr_rm16 | C::Verr_r32m16 => verr::<false>,
        C::Verw_rm16 | C::Verw_r32m16 => verr::<true>,
        C::Arpl_rm16_r16 | C::Arpl_r32m16_r32 => arpl,
        C::Cpuid => cpuid,
        C::Rdtsc => rdtsc,
        C::Rdmsr => rdmsr,
        C::Wrmsr => wrmsr,
        C::Sysenter => sysenter,
        C::Sysexitd => sysexit,
        C::Ud2 | C::Rsm => crate::ops::undefined,
        _ => return None,
    })
}

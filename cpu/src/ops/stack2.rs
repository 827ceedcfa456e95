//! PUSHA/PUSHAD, POPA/POPAD, ENTER and BOUND.
//!
//! The multi-slot stack instructions are made atomic with respect to faults: every
//! slot is checked (segment limit and rights, page translation for writes) before the
//! first register or memory write, so a #SS or #PF leaves no trace.

use crate::decode::{kind, prefix, Handler, Op};
use crate::fault::{vector, Fault, Result};
use crate::mem::Priv;
use crate::state::{reg, sreg, Segment};
use crate::Cpu;
use iced_x86::Code as C;
use tab86_mmu::Bus;

/// None of these instructions accept LOCK.
#[inline(always)]
fn no_lock(op: &Op) -> Result<()> {
    if op.prefix & prefix::LOCK != 0 {
        return Err(Fault::ud());
    }
    Ok(())
}

/// A stack offset wrapped to the stack size (SS.B).
#[inline(always)]
fn wrap_sp(cpu: &Cpu, off: u32) -> u32 {
    if cpu.state.stack32() {
        off
    } else {
        off & 0xFFFF
    }
}

/// Checks that `size` bytes at stack offset `off` are writable and returns the
/// linear address.
fn check_stack_write(cpu: &mut Cpu, bus: &mut dyn Bus, off: u32, size: u32) -> Result<u32> {
    let lin = cpu.seg_addr(sreg::SS, off, size, Segment::WRITE)?;
    cpu.probe_write(bus, lin, size, Priv::Cpl)?;
    Ok(lin)
}

/// Writes the slots `(linear address, value)` of size `size` after they were checked.
fn commit(cpu: &mut Cpu, bus: &mut dyn Bus, slots: &[(u32, u32)], size: u32) -> Result<()> {
    for &(lin, v) in slots {
        cpu.write_lin(bus, lin, size, v, Priv::Cpl)?;
    }
    Ok(())
}

/// PUSHA/PUSHAD: pushes (E)AX, (E)CX, (E)DX, (E)BX, the original (E)SP, (E)BP, (E)SI, (E)DI.
fn pusha<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    no_lock(op)?;
    let sp = cpu.sp();
    let mut slots = [(0u32, 0u32); 8];
    for (i, slot) in slots.iter_mut().enumerate() {
        let off = wrap_sp(cpu, sp.wrapping_sub(S * (i as u32 + 1)));
        let lin = check_stack_write(cpu, bus, off, S)?;
        *slot = (lin, cpu.reg(i as u8, S));
    }
    commit(cpu, bus, &slots, S)?;
    cpu.add_sp((8 * S).wrapping_neg());
    Ok(())
}

/// POPA/POPAD: pops (E)DI, (E)SI, (E)BP, skips the saved (E)SP, then (E)BX, (E)DX,
/// (E)CX, (E)AX. All eight slots are read before any register changes.
fn popa<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    no_lock(op)?;
    let mut v = [0u32; 8];
    for (i, x) in v.iter_mut().enumerate() {
        *x = cpu.stack_peek(bus, S * i as u32, S)?;
    }
    for (i, &x) in v.iter().enumerate() {
        let r = 7 - i;
        if r != reg::ESP {
            cpu.set_reg(r as u8, S, x);
        }
    }
    cpu.add_sp(8 * S);
    Ok(())
}

/// Pushes staged for ENTER: checked now, written by [`commit`].
struct Staged {
    sp: u32,
    slots: [(u32, u32); 33],
    n: usize,
}

impl Staged {
    fn push<const S: u32>(&mut self, cpu: &mut Cpu, bus: &mut dyn Bus, v: u32) -> Result<()> {
        self.sp = wrap_sp(cpu, self.sp.wrapping_sub(S));
        self.slots[self.n] = (check_stack_write(cpu, bus, self.sp, S)?, v);
        self.n += 1;
        Ok(())
    }

    /// Reads `S` bytes at stack offset `off` as if the staged pushes had been
    /// written: ENTER copies the enclosing frame pointers after it pushed (E)BP and
    /// the earlier copies, and a display that overlaps those slots reads them.
    fn read<const S: u32>(&self, cpu: &mut Cpu, bus: &mut dyn Bus, off: u32) -> Result<u32> {
        let mut v = cpu.read_sz(bus, sreg::SS, off, S)?.to_le_bytes();
        let lin = cpu.state.seg[sreg::SS].base.wrapping_add(off);
        for &(slot, sv) in &self.slots[..self.n] {
            let sv = sv.to_le_bytes();
            for (b, byte) in v.iter_mut().take(S as usize).enumerate() {
                let k = lin.wrapping_add(b as u32).wrapping_sub(slot);
                if k < S {
                    *byte = sv[k as usize];
                }
            }
        }
        Ok(u32::from_le_bytes(v))
    }
}

/// ENTER imm16, imm8 (operand size S): pushes (E)BP, copies `level - 1` frame
/// pointers from the enclosing frame, pushes the new frame pointer, and allocates
/// `imm16` bytes. The final stack top is write-checked like hardware does.
fn enter<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    no_lock(op)?;
    let alloc = op.imm & 0xFFFF;
    let level = op.imm2 & 0x1F;
    let big = cpu.state.stack32();
    let mut st = Staged {
        sp: cpu.sp(),
        slots: [(0, 0); 33],
        n: 0,
    };
    let ebp = cpu.state.gpr[reg::EBP];
    st.push::<S>(cpu, bus, ebp)?;
    // The frame pointer is the stack pointer after pushing (E)BP, as a full ESP with
    // a 32-bit operand size and as SP with a 16-bit one.
    let esp_after = if big {
        st.sp
    } else {
        (cpu.state.gpr[reg::ESP] & 0xFFFF_0000) | st.sp
    };
    let frame = if S == 4 { esp_after } else { st.sp & 0xFFFF };
    if level > 0 {
        let mut bp = ebp;
        for _ in 1..level {
            bp = bp.wrapping_sub(S);
            let off = if big { bp } else { bp & 0xFFFF };
            let v = st.read::<S>(cpu, bus, off)?;
            st.push::<S>(cpu, bus, v)?;
        }
        st.push::<S>(cpu, bus, frame)?;
    }
    let sp = st.sp;
    let slots = &st.slots[..st.n];
    let top = wrap_sp(cpu, sp.wrapping_sub(alloc));
    check_stack_write(cpu, bus, top, S)?;
    commit(cpu, bus, slots, S)?;
    if big {
        cpu.state.gpr[reg::ESP] = top;
    } else {
        cpu.state.set_r16(reg::ESP as u8, top as u16);
    }
    cpu.set_reg(reg::EBP as u8, S, frame);
    Ok(())
}

/// BOUND r, m16&16 / m32&32: #BR unless lower <= index <= upper (signed); a register
/// second operand is #UD.
fn bound<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    no_lock(op)?;
    if op.kind[1] != kind::MEM {
        return Err(Fault::ud());
    }
    let ea = cpu.ea(op);
    let hi_off = ea.wrapping_add(S);
    let hi_off = if op.addr16 { hi_off & 0xFFFF } else { hi_off };
    let s = |v: u32| super::sext(v, S) as i32;
    let lower = s(cpu.read_sz(bus, op.seg as usize, ea, S)?);
    let upper = s(cpu.read_sz(bus, op.seg as usize, hi_off, S)?);
    let idx = s(cpu.reg(op.r[0], S));
    if idx < lower || idx > upper {
        return Err(Fault::new(vector::BR));
    }
    Ok(())
}

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    Some(match code {
        C::Pushaw => pusha::<2>,
        C::Pushad => pusha::<4>,
        C::Popaw => popa::<2>,
        C::Popad => popa::<4>,
        C::Enterw_imm16_imm8 => enter::<2>,
        C::Enterd_imm16_imm8 => enter::<4>,
        C::Bound_r16_m1616 => bound::<2>,
        C::Bound_r32_m3232 => bound::<4>,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::muldiv::tests::{run16, saved_ip};
    use crate::state::reg;

    #[test]
    fn bound_passes_in_range_and_raises_br_below() {
        // [0x600] = -2, [0x602] = 5; bound ax(5) ok; bound ax(-3) -> #BR
        let (cpu, v) = run16(
            &[
                0xc7, 0x06, 0x00, 0x06, 0xfe, 0xff, 0xc7, 0x06, 0x02, 0x06, 0x05, 0x00, 0xb8, 0x05,
                0x00, 0x62, 0x06, 0x00, 0x06, 0xb8, 0xfd, 0xff, 0x62, 0x06, 0x00, 0x06, 0xf4,
            ],
            |_| {},
        );
        assert_eq!(v, Some(5));
        assert_eq!(saved_ip(&cpu), 0x7C16);
    }

    #[test]
    fn pushad_popad_round_trip_skips_esp() {
        let (cpu, v) = run16(
            &[
                0x66, 0xb8, 0x01, 0x00, 0x00, 0x00, 0x66, 0xb9, 0x02, 0x00, 0x00, 0x00, 0x66, 0xba,
                0x03, 0x00, 0x00, 0x00, 0x66, 0xbb, 0x04, 0x00, 0x00, 0x00, 0x66, 0xbd, 0x06, 0x00,
                0x00, 0x00, 0x66, 0xbe, 0x07, 0x00, 0x00, 0x00, 0x66, 0xbf, 0x08, 0x00, 0x00, 0x00,
                0x66, 0x60, 0x66, 0x31, 0xc0, 0x66, 0x89, 0xc1, 0x66, 0x89, 0xc2, 0x66, 0x89, 0xc3,
                0x66, 0x89, 0xc5, 0x66, 0x89, 0xc6, 0x66, 0x89, 0xc7, 0x66, 0x89, 0xc4, 0xbc, 0xe0,
                0x6f, 0x66, 0x61, 0xf4,
            ],
            |_| {},
        );
        assert_eq!(v, None);
        assert_eq!(cpu.state.gpr, [1, 2, 3, 4, 0x7000, 6, 7, 8]);
    }

    #[test]
    fn enter_level_three_copies_display() {
        // bp=0x6ff0; [0x6fee]=0x1111; [0x6fec]=0x2222; enter 0x10,3
        let (cpu, v) = run16(
            &[
                0xbd, 0xf0, 0x6f, 0xc7, 0x06, 0xee, 0x6f, 0x11, 0x11, 0xc7, 0x06, 0xec, 0x6f, 0x22,
                0x22, 0xc8, 0x10, 0x00, 0x03, 0xf4,
            ],
            |_| {},
        );
        assert_eq!(v, None);
        assert_eq!(cpu.state.gpr[reg::EBP], 0x6FFE);
        assert_eq!(cpu.state.gpr[reg::ESP], 0x6FE8);
        let mut b = [0u8; 8];
        cpu.mem.read_bytes(0x6FF8, &mut b);
        assert_eq!(b, [0xFE, 0x6F, 0x22, 0x22, 0x11, 0x11, 0xF0, 0x6F]);
    }

    #[test]
    fn pusha_past_the_limit_faults_before_any_write() {
        // mov sp,7; mov ax,0xabcd; pusha; hlt -> the 4th slot would be at 0xFFFF: #SS
        let (cpu, v) = run16(&[0xbc, 0x07, 0x00, 0xb8, 0xcd, 0xab, 0x60, 0xf4], |_| {});
        assert_eq!(v, Some(12));
        // The exception frame (6 bytes) sits on the unchanged SP.
        assert_eq!(cpu.state.gpr[reg::ESP] & 0xFFFF, 1);
        assert_eq!(saved_ip(&cpu), 0x7C06);
    }
}

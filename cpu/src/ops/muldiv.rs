//! Multiply and divide: MUL, IMUL (one, two and three operands), DIV, IDIV.
//!
//! Flags: MUL/IMUL define only CF and OF (set when the result does not fit the
//! destination). SF, ZF, PF and AF are undefined; Intel P6-family processors set SF
//! and PF from the low half of the product (AL, AX, EAX or the destination register)
//! and always clear ZF and AF, even for a zero product. DIV/IDIV leave all six status
//! flags undefined; Intel leaves them unchanged, and so do we. (Both checked against
//! vectors captured on an Intel CPU, `tests/tests/int_intel.rs`.)
//! Divide by zero and a quotient that does not fit (including IDIV of the most
//! negative dividend by -1) raise #DE before any register is written.

use super::{mask, sext, size_code};
use crate::decode::{prefix, Handler, Op};
use crate::fault::{Fault, Result};
use crate::state::{fl, reg, CpuState};
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

/// Flags of a multiply: CF = OF = `overflow`; SF and PF of the low half `lo`;
/// ZF = AF = 0 (Intel never sets ZF after a multiply).
fn mul_flags(cpu: &mut Cpu, lo: u32, s: u32, overflow: bool) {
    let mut f = CpuState::szp(lo, size_code(s) >> 8) & !fl::ZF;
    if overflow {
        f |= fl::CF | fl::OF;
    }
    cpu.state.set_arith_flags(f);
}

/// Stores a double-width product or the quotient/remainder pair in AX, DX:AX or EDX:EAX.
fn store_pair(cpu: &mut Cpu, s: u32, lo: u32, hi: u32) {
    match s {
        1 => cpu
            .state
            .set_r16(reg::EAX as u8, (lo & 0xFF | (hi & 0xFF) << 8) as u16),
        2 => {
            cpu.state.set_r16(reg::EAX as u8, lo as u16);
            cpu.state.set_r16(reg::EDX as u8, hi as u16);
        }
        _ => {
            cpu.state.gpr[reg::EAX] = lo;
            cpu.state.gpr[reg::EDX] = hi;
        }
    }
}

/// The double-width dividend AX, DX:AX or EDX:EAX.
fn dividend(cpu: &Cpu, s: u32) -> u64 {
    let st = &cpu.state;
    match s {
        1 => st.r16(reg::EAX as u8) as u64,
        2 => (st.r16(reg::EDX as u8) as u64) << 16 | st.r16(reg::EAX as u8) as u64,
        _ => (st.gpr[reg::EDX] as u64) << 32 | st.gpr[reg::EAX] as u64,
    }
}

/// MUL r/m (unsigned) into AX, DX:AX or EDX:EAX.
fn mul<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    no_lock(op)?;
    let b = cpu.read_op(bus, op, 0, S)? as u64;
    let a = cpu.reg(reg::EAX as u8, S) as u64;
    let p = a * b;
    let bits = S * 8;
    let (lo, hi) = (p as u32 & mask(S), (p >> bits) as u32 & mask(S));
    store_pair(cpu, S, lo, hi);
    mul_flags(cpu, lo, S, hi != 0);
    Ok(())
}

/// One-operand IMUL r/m (signed) into AX, DX:AX or EDX:EAX.
fn imul1<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    no_lock(op)?;
    let b = sext(cpu.read_op(bus, op, 0, S)?, S) as i32 as i64;
    let a = sext(cpu.reg(reg::EAX as u8, S), S) as i32 as i64;
    let p = a * b;
    let bits = S * 8;
    let lo = p as u32 & mask(S);
    let hi = (p >> bits) as u32 & mask(S);
    store_pair(cpu, S, lo, hi);
    mul_flags(cpu, lo, S, sext(lo, S) as i32 as i64 != p);
    Ok(())
}

/// IMUL r, r/m and IMUL r, r/m, imm: truncated signed product in the register.
fn imul_r<const S: u32, const IMM: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    no_lock(op)?;
    let src = sext(cpu.read_op(bus, op, 1, S)?, S) as i32 as i64;
    let other = if IMM {
        sext(op.imm, S)
    } else {
        sext(cpu.reg(op.r[0], S), S)
    } as i32 as i64;
    let p = src * other;
    let lo = p as u32 & mask(S);
    cpu.set_reg(op.r[0], S, lo);
    mul_flags(cpu, lo, S, sext(lo, S) as i32 as i64 != p);
    Ok(())
}

/// DIV r/m: unsigned quotient in AL/AX/EAX, remainder in AH/DX/EDX.
fn div<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    no_lock(op)?;
    let d = cpu.read_op(bus, op, 0, S)? as u64;
    if d == 0 {
        return Err(Fault::de());
    }
    let n = dividend(cpu, S);
    let q = n / d;
    if q > mask(S) as u64 {
        return Err(Fault::de());
    }
    store_pair(cpu, S, q as u32, (n % d) as u32);
    Ok(())
}

/// IDIV r/m: signed quotient (truncated toward zero) and remainder with the
/// dividend's sign.
fn idiv<const S: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    no_lock(op)?;
    let d = sext(cpu.read_op(bus, op, 0, S)?, S) as i32 as i64;
    if d == 0 {
        return Err(Fault::de());
    }
    let raw = dividend(cpu, S);
    let n = match S {
        1 => raw as u16 as i16 as i64,
        2 => raw as u32 as i32 as i64,
        _ => raw as i64,
    };
    // i64::MIN / -1 overflows i64: widen so the range check below catches it.
    let q = (n as i128 / d as i128) as i64 as i128;
    let r = n as i128 % d as i128;
    let half = 1i128 << (S * 8 - 1);
    if q >= half || q < -half {
        return Err(Fault::de());
    }
    store_pair(cpu, S, q as u32 & mask(S), r as u32 & mask(S));
    Ok(())
}

/// Handlers for this group.
pub fn lookup(code: C) -> Option<Handler> {
    Some(match code {
        C::Mul_rm8 => mul::<1>,
        C::Mul_rm16 => mul::<2>,
        C::Mul_rm32 => mul::<4>,
        C::Imul_rm8 => imul1::<1>,
        C::Imul_rm16 => imul1::<2>,
        C::Imul_rm32 => imul1::<4>,
        C::Imul_r16_rm16 => imul_r::<2, false>,
        C::Imul_r32_rm32 => imul_r::<4, false>,
        C::Imul_r16_rm16_imm16 | C::Imul_r16_rm16_imm8 => imul_r::<2, true>,
        C::Imul_r32_rm32_imm32 | C::Imul_r32_rm32_imm8 => imul_r::<4, true>,
        C::Div_rm8 => div::<1>,
        C::Div_rm16 => div::<2>,
        C::Div_rm32 => div::<4>,
        C::Idiv_rm8 => idiv::<1>,
        C::Idiv_rm16 => idiv::<2>,
        C::Idiv_rm32 => idiv::<4>,
        _ => return None,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::state::reg;
    use crate::{Cpu, Exit, NullBus, PhysMem};

    /// Where exception handlers live: vector `v` is a HLT at `TRAP + v`.
    pub const TRAP: u32 = 0x7F00;

    /// Runs real-mode `code` at 0000:7C00 until HLT. Returns the CPU and the vector
    /// of the exception taken, if any (the IVT sends vector `v` to a HLT at TRAP + v).
    pub fn run16(code: &[u8], setup: impl FnOnce(&mut Cpu)) -> (Cpu, Option<u8>) {
        let mut mem = PhysMem::new(1 << 20);
        for v in 0..32u32 {
            let ent = TRAP + v; // segment 0
            mem.write_bytes(v * 4, &ent.to_le_bytes());
            mem.write_bytes(TRAP + v, &[0xF4]);
        }
        mem.write_bytes(0x7C00, code);
        let mut cpu = Cpu::new(mem);
        cpu.set_cs_real(0);
        cpu.state.eip = 0x7C00;
        cpu.state.gpr[reg::ESP] = 0x7000;
        setup(&mut cpu);
        assert_eq!(cpu.run(&mut NullBus, 10_000), Exit::HaltedNoWake);
        let at = cpu.state.eip.wrapping_sub(1);
        let v = (TRAP..TRAP + 32).contains(&at).then(|| (at - TRAP) as u8);
        (cpu, v)
    }

    /// The IP saved by the exception frame (faults point at the faulting instruction).
    pub fn saved_ip(cpu: &Cpu) -> u32 {
        let mut b = [0u8; 2];
        cpu.mem.read_bytes(cpu.state.gpr[reg::ESP] & 0xFFFF, &mut b);
        u16::from_le_bytes(b) as u32
    }

    #[test]
    fn divide_by_zero_faults_without_writing() {
        // mov ax,0x1234; mov dx,0x5678; xor cx,cx; div cx; hlt
        let (cpu, v) = run16(
            &[
                0xb8, 0x34, 0x12, 0xba, 0x78, 0x56, 0x31, 0xc9, 0xf7, 0xf1, 0xf4,
            ],
            |_| {},
        );
        assert_eq!(v, Some(0));
        assert_eq!(cpu.state.gpr[reg::EAX] & 0xFFFF, 0x1234);
        assert_eq!(cpu.state.gpr[reg::EDX] & 0xFFFF, 0x5678);
        assert_eq!(saved_ip(&cpu), 0x7C08);
    }

    #[test]
    fn idiv_most_negative_by_minus_one_faults() {
        // mov eax,0; mov edx,0x80000000; mov ecx,-1; idiv ecx; hlt
        let (cpu, v) = run16(
            &[
                0x66, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x66, 0xba, 0x00, 0x00, 0x00, 0x80, 0x66, 0xb9,
                0xff, 0xff, 0xff, 0xff, 0x66, 0xf7, 0xf9, 0xf4,
            ],
            |_| {},
        );
        assert_eq!(v, Some(0));
        assert_eq!(cpu.state.gpr[reg::EDX], 0x8000_0000);
        assert_eq!(saved_ip(&cpu), 0x7C12);
    }

    #[test]
    fn idiv_allows_most_negative_quotient_and_div_overflow_faults() {
        // mov ax,0xff80; mov bl,1; idiv bl; mov ax,0x1000; mov bl,0x10; div bl; hlt
        let code = [
            0xb8, 0x80, 0xff, 0xb3, 0x01, 0xf6, 0xfb, 0xb8, 0x00, 0x10, 0xb3, 0x10, 0xf6, 0xf3,
            0xf4,
        ];
        let mut c = code[..7].to_vec();
        c.push(0xF4);
        let (cpu, v) = run16(&c, |_| {});
        assert_eq!((v, cpu.state.gpr[reg::EAX] & 0xFFFF), (None, 0x0080));
        let (cpu, v) = run16(&code, |_| {});
        assert_eq!(v, Some(0));
        assert_eq!(cpu.state.gpr[reg::EAX] & 0xFFFF, 0x1000);
        assert_eq!(saved_ip(&cpu), 0x7C0C);
    }

    #[test]
    fn imul_forms_and_mul_flags() {
        // mov ebx,7; imul eax,ebx,-1; mov ecx,0x10000; imul ecx,ecx;
        // mov esi,0x40000000; mov eax,4; mul esi; hlt
        let (cpu, v) = run16(
            &[
                0x66, 0xbb, 0x07, 0x00, 0x00, 0x00, 0x66, 0x6b, 0xc3, 0xff, 0x66, 0xb9, 0x00, 0x00,
                0x01, 0x00, 0x66, 0x0f, 0xaf, 0xc9, 0x66, 0xbe, 0x00, 0x00, 0x00, 0x40, 0x66, 0xb8,
                0x04, 0x00, 0x00, 0x00, 0x66, 0xf7, 0xe6, 0xf4,
            ],
            |_| {},
        );
        assert_eq!(v, None);
        let g = cpu.state.gpr;
        assert_eq!(g[reg::ECX], 0);
        assert_eq!((g[reg::EAX], g[reg::EDX]), (0, 1));
        let f = cpu.state.flags();
        assert_eq!(f & 0x801, 0x801, "MUL overflow sets CF and OF");
        assert_eq!(f & 0x40, 0, "ZF stays clear with a zero low half");
        assert_ne!(f & 0x04, 0, "PF from the low half");
    }
}

//! Model-specific registers that Linux touches. Unknown MSRs raise #GP as on hardware.

use crate::{fault::Fault, Cpu, Result};

/// IA32_TIME_STAMP_COUNTER.
pub const TSC: u32 = 0x10;
/// IA32_PLATFORM_ID.
pub const PLATFORM_ID: u32 = 0x17;
/// IA32_APIC_BASE.
pub const APIC_BASE: u32 = 0x1B;
/// IA32_BIOS_SIGN_ID (microcode revision).
pub const BIOS_SIGN_ID: u32 = 0x8B;
/// IA32_MTRRCAP.
pub const MTRRCAP: u32 = 0xFE;
/// IA32_SYSENTER_CS.
pub const SYSENTER_CS: u32 = 0x174;
/// IA32_SYSENTER_ESP.
pub const SYSENTER_ESP: u32 = 0x175;
/// IA32_SYSENTER_EIP.
pub const SYSENTER_EIP: u32 = 0x176;
/// IA32_MCG_CAP.
pub const MCG_CAP: u32 = 0x179;
/// IA32_MCG_STATUS.
pub const MCG_STATUS: u32 = 0x17A;
/// IA32_MISC_ENABLE.
pub const MISC_ENABLE: u32 = 0x1A0;
/// First variable-range MTRR (PHYSBASE0).
pub const MTRR_PHYS_BASE0: u32 = 0x200;
/// IA32_PAT.
pub const PAT: u32 = 0x277;
/// IA32_MTRR_DEF_TYPE.
pub const MTRR_DEF_TYPE: u32 = 0x2FF;
/// IA32_EFER: present when CPUID.80000001H:EDX reports NX (only NXE is writable
/// on this CPU without long mode or SYSCALL; other bits are reserved, #GP(0)).
pub const EFER: u32 = 0xC000_0080;
/// IA32_EFER.NXE: with PAE paging, bit 63 of PDEs and PTEs is XD (execute-disable).
pub const EFER_NXE: u64 = 1 << 11;

/// MTRR and PAT registers: stored as written, no effect on emulated memory.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MtrrState {
    /// PHYSBASE/PHYSMASK pairs 0-7 (0x200-0x20F).
    pub variable: [u64; 16],
    /// Fixed-range MTRRs (0x250, 0x258, 0x259, 0x268-0x26F).
    pub fixed: [u64; 11],
    /// IA32_MTRR_DEF_TYPE.
    pub def_type: u64,
    /// IA32_PAT.
    pub pat: u64,
}

impl Default for MtrrState {
    fn default() -> Self {
        MtrrState {
            variable: [0; 16],
            fixed: [0; 11],
            def_type: 0,
            pat: 0x0007_0406_0007_0406,
        }
    }
}

fn fixed_index(msr: u32) -> Option<usize> {
    match msr {
        0x250 => Some(0),
        0x258 => Some(1),
        0x259 => Some(2),
        0x268..=0x26F => Some(3 + (msr - 0x268) as usize),
        _ => None,
    }
}

impl Cpu {
    /// RDMSR: the value of `msr`, or #GP(0) for an MSR this CPU does not have.
    pub fn read_msr(&self, msr: u32) -> Result<u64> {
        let s = &self.state;
        Ok(match msr {
            TSC => self.tsc(),
            PLATFORM_ID | BIOS_SIGN_ID | MCG_STATUS => 0,
            APIC_BASE => s.apic_base,
            MTRRCAP => 0x508, // 8 variable ranges, fixed ranges, write-combining
            MCG_CAP => 0,
            SYSENTER_CS => s.sysenter_cs as u64,
            SYSENTER_ESP => s.sysenter_esp as u64,
            SYSENTER_EIP => s.sysenter_eip as u64,
            MISC_ENABLE => s.misc_enable,
            0x200..=0x20F => s.mtrr.variable[(msr - 0x200) as usize],
            PAT => s.mtrr.pat,
            MTRR_DEF_TYPE => s.mtrr.def_type,
            EFER if self.cpuid.has_ext(crate::cpuid::ext_edx::NX) => s.efer,
            _ => match fixed_index(msr) {
                Some(i) => s.mtrr.fixed[i],
                None => return Err(Fault::gp(0)),
            },
        })
    }

    /// WRMSR: stores `value`, or #GP(0) for an unknown or read-only MSR.
    pub fn write_msr(&mut self, msr: u32, value: u64) -> Result<()> {
        if msr == EFER && self.cpuid.has_ext(crate::cpuid::ext_edx::NX) {
            if value & !EFER_NXE != 0 {
                return Err(Fault::gp(0));
            }
            let old = self.state.efer;
            self.state.efer = value;
            if old != value {
                // NXE changes what every cached PAE translation allows.
                self.flush_tlb(false);
            }
            return Ok(());
        }
        let s = &mut self.state;
        match msr {
            TSC => s.tsc_offset = value.wrapping_sub(self.time.now_ns(s.icount)),
            APIC_BASE => {
                // Base (bits 12-35), EN (11), BSP (8, read-only); x2APIC enable
                // (10) and the rest are reserved: no x2APIC is advertised.
                if value & !(0xF_FFFF_F000 | 1 << 11 | 1 << 8) != 0 {
                    return Err(Fault::gp(0));
                }
                s.apic_base = value & 0xF_FFFF_F800 | s.apic_base & 1 << 8;
            }
            BIOS_SIGN_ID | MCG_STATUS => {}
            SYSENTER_CS => s.sysenter_cs = value as u32,
            SYSENTER_ESP => s.sysenter_esp = value as u32,
            SYSENTER_EIP => s.sysenter_eip = value as u32,
            MISC_ENABLE => s.misc_enable = value,
            0x200..=0x20F => s.mtrr.variable[(msr - 0x200) as usize] = value,
            PAT => s.mtrr.pat = value,
            MTRR_DEF_TYPE => s.mtrr.def_type = value,
            _ => match fixed_index(msr) {
                Some(i) => s.mtrr.fixed[i] = value,
                None => return Err(Fault::gp(0)),
            },
        }
        Ok(())
    }

    /// The time-stamp counter: a 1 GHz count of virtual nanoseconds (see
    /// [`TimeBase`]) plus the offset a WRMSR to the TSC sets.
    pub fn tsc(&self) -> u64 {
        self.time
            .now_ns(self.state.icount)
            .wrapping_add(self.state.tsc_offset)
    }
}

/// Maps retired instructions to virtual time. The machine re-anchors it at the start
/// of every slice (to the wall clock in real-time mode); inside a slice time advances
/// at `ns_per_kinstr` per thousand instructions, so TSC, PIT and RTC agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBase {
    /// Virtual time at `base_icount`.
    pub base_ns: u64,
    /// Instruction count the base refers to.
    pub base_icount: u64,
    /// Virtual nanoseconds per 1000 retired instructions.
    pub ns_per_kinstr: u64,
}

impl Default for TimeBase {
    fn default() -> Self {
        TimeBase {
            base_ns: 0,
            base_icount: 0,
            ns_per_kinstr: 1000,
        }
    }
}

impl TimeBase {
    /// Virtual time after `icount` retired instructions.
    #[inline]
    pub fn now_ns(&self, icount: u64) -> u64 {
        let d = icount.saturating_sub(self.base_icount) as u128 * self.ns_per_kinstr as u128 / 1000;
        self.base_ns.saturating_add(d as u64)
    }
}

//! The architectural register file, laid out `#[repr(C)]` so generated code can reach
//! every field at an offset known from `core::mem::offset_of!`.

use crate::flags::LazyFlags;

/// EFLAGS bits (Intel SDM vol. 1, 3.4.3).
pub mod fl {
    /// Carry flag.
    pub const CF: u32 = 1 << 0;
    /// Always-one reserved bit 1.
    pub const FIXED: u32 = 1 << 1;
    /// Parity flag.
    pub const PF: u32 = 1 << 2;
    /// Auxiliary carry flag.
    pub const AF: u32 = 1 << 4;
    /// Zero flag.
    pub const ZF: u32 = 1 << 6;
    /// Sign flag.
    pub const SF: u32 = 1 << 7;
    /// Trap flag.
    pub const TF: u32 = 1 << 8;
    /// Interrupt enable flag.
    pub const IF: u32 = 1 << 9;
    /// Direction flag.
    pub const DF: u32 = 1 << 10;
    /// Overflow flag.
    pub const OF: u32 = 1 << 11;
    /// I/O privilege level (two bits).
    pub const IOPL: u32 = 3 << 12;
    /// Nested task.
    pub const NT: u32 = 1 << 14;
    /// Resume flag.
    pub const RF: u32 = 1 << 16;
    /// Virtual-8086 mode.
    pub const VM: u32 = 1 << 17;
    /// Alignment check.
    pub const AC: u32 = 1 << 18;
    /// Virtual interrupt flag.
    pub const VIF: u32 = 1 << 19;
    /// Virtual interrupt pending.
    pub const VIP: u32 = 1 << 20;
    /// CPUID-available flag.
    pub const ID: u32 = 1 << 21;
    /// The six arithmetic status flags.
    pub const ARITH: u32 = CF | PF | AF | ZF | SF | OF;
}

/// Control-register bits the CPU acts on.
pub mod cr {
    /// CR0.PE: protected mode.
    pub const PE: u32 = 1 << 0;
    /// CR0.MP: monitor coprocessor (WAIT honours TS).
    pub const MP: u32 = 1 << 1;
    /// CR0.EM: x87 emulation (#NM on FPU instructions).
    pub const EM: u32 = 1 << 2;
    /// CR0.TS: task switched (lazy FPU).
    pub const TS: u32 = 1 << 3;
    /// CR0.ET: extension type (hard-wired to 1 on i486+).
    pub const ET: u32 = 1 << 4;
    /// CR0.NE: native x87 error reporting (#MF).
    pub const NE: u32 = 1 << 5;
    /// CR0.WP: write protect for supervisor writes.
    pub const WP: u32 = 1 << 16;
    /// CR0.AM: alignment mask.
    pub const AM: u32 = 1 << 18;
    /// CR0.NW: not write-through.
    pub const NW: u32 = 1 << 29;
    /// CR0.CD: cache disable.
    pub const CD: u32 = 1 << 30;
    /// CR0.PG: paging.
    pub const PG: u32 = 1 << 31;
    /// CR4.VME: virtual-8086 mode extensions.
    pub const VME: u32 = 1 << 0;
    /// CR4.PVI: protected-mode virtual interrupts.
    pub const PVI: u32 = 1 << 1;
    /// CR4.TSD: RDTSC is privileged.
    pub const TSD: u32 = 1 << 2;
    /// CR4.DE: debugging extensions.
    pub const DE: u32 = 1 << 3;
    /// CR4.PSE: 4 MiB pages.
    pub const PSE: u32 = 1 << 4;
    /// CR4.PAE: PAE paging (64-bit PDEs/PTEs, four PDPTEs loaded from CR3).
    pub const PAE: u32 = 1 << 5;
    /// CR4.MCE.
    pub const MCE: u32 = 1 << 6;
    /// CR4.PGE: global pages.
    pub const PGE: u32 = 1 << 7;
    /// CR4.PCE: RDPMC at any CPL.
    pub const PCE: u32 = 1 << 8;
    /// CR4.OSFXSR: FXSAVE/FXRSTOR and SSE enabled by the OS.
    pub const OSFXSR: u32 = 1 << 9;
    /// CR4.OSXMMEXCPT: unmasked SIMD exceptions raise #XM.
    pub const OSXMMEXCPT: u32 = 1 << 10;
}

/// Segment register numbers, in the order the ModR/M `sreg` field encodes them.
pub mod sreg {
    /// ES.
    pub const ES: usize = 0;
    /// CS.
    pub const CS: usize = 1;
    /// SS.
    pub const SS: usize = 2;
    /// DS.
    pub const DS: usize = 3;
    /// FS.
    pub const FS: usize = 4;
    /// GS.
    pub const GS: usize = 5;
}

/// General-purpose register numbers, as encoded in ModR/M.
pub mod reg {
    /// EAX.
    pub const EAX: usize = 0;
    /// ECX.
    pub const ECX: usize = 1;
    /// EDX.
    pub const EDX: usize = 2;
    /// EBX.
    pub const EBX: usize = 3;
    /// ESP.
    pub const ESP: usize = 4;
    /// EBP.
    pub const EBP: usize = 5;
    /// ESI.
    pub const ESI: usize = 6;
    /// EDI.
    pub const EDI: usize = 7;
}

/// A segment register with its hidden descriptor cache.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Segment {
    /// The visible selector.
    pub selector: u16,
    /// Cached checks: [`Segment::READ`], [`Segment::WRITE`], [`Segment::EXEC`].
    pub rights: u16,
    /// Linear base address.
    pub base: u32,
    /// Lowest valid offset (above the limit for expand-down segments).
    pub lo: u32,
    /// Highest valid offset.
    pub hi: u32,
    /// Descriptor attribute bits: high dword bits 8..23 (type, S, DPL, P, AVL, D/B, G).
    pub attr: u32,
    /// Byte-granular limit as loaded from the descriptor.
    pub limit: u32,
}

impl Segment {
    /// Data reads (and code reads of readable code segments) are allowed.
    pub const READ: u16 = 1;
    /// Writes are allowed.
    pub const WRITE: u16 = 2;
    /// Instruction fetches are allowed.
    pub const EXEC: u16 = 4;

    /// The segment after reset or as loaded in real mode: 64 KiB, read/write, present.
    pub fn real(selector: u16) -> Self {
        Segment {
            selector,
            rights: Self::READ | Self::WRITE | Self::EXEC,
            base: (selector as u32) << 4,
            lo: 0,
            hi: 0xFFFF,
            attr: 0x93,
            limit: 0xFFFF,
        }
    }

    /// Builds the cache from a descriptor's two dwords.
    pub fn from_descriptor(selector: u16, lo: u32, hi: u32) -> Self {
        let base = (lo >> 16) | (hi & 0xFF) << 16 | (hi & 0xFF00_0000);
        let mut limit = (lo & 0xFFFF) | (hi & 0x000F_0000);
        if hi & (1 << 23) != 0 {
            limit = limit << 12 | 0xFFF;
        }
        let mut s = Segment {
            selector,
            rights: 0,
            base,
            lo: 0,
            hi: limit,
            attr: (hi >> 8) & 0xF0FF,
            limit,
        };
        s.update_rights();
        s
    }

    /// Recomputes `rights`, `lo` and `hi` from `attr` and `limit` (protected mode rules).
    pub fn update_rights(&mut self) {
        let ty = self.attr & 0xF;
        let system = self.attr & 0x10 == 0;
        self.rights = if system || !self.present() {
            0
        } else if ty & 8 != 0 {
            Self::EXEC | if ty & 2 != 0 { Self::READ } else { 0 }
        } else {
            Self::READ | if ty & 2 != 0 { Self::WRITE } else { 0 }
        };
        if !system && ty & 0xC == 0x4 {
            // Expand-down data segment: valid offsets lie above the limit.
            self.lo = self.limit.wrapping_add(1);
            self.hi = if self.big() { 0xFFFF_FFFF } else { 0xFFFF };
        } else {
            self.lo = 0;
            self.hi = self.limit;
        }
    }

    /// The D/B bit: 32-bit code, stack or expand-down upper bound.
    #[inline]
    pub fn big(&self) -> bool {
        self.attr & 0x4000 != 0
    }
    /// Descriptor privilege level.
    #[inline]
    pub fn dpl(&self) -> u8 {
        (self.attr >> 5 & 3) as u8
    }
    /// Present bit.
    #[inline]
    pub fn present(&self) -> bool {
        self.attr & 0x80 != 0
    }
    /// Descriptor type field (4 bits) with the S bit above it.
    #[inline]
    pub fn kind(&self) -> u32 {
        self.attr & 0x1F
    }
}

/// A descriptor-table register (GDTR, IDTR).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableReg {
    /// Linear base address.
    pub base: u32,
    /// Limit in bytes.
    pub limit: u32,
}

/// The architectural state of one i386 CPU.
#[repr(C)]
#[derive(Debug, Clone)]
pub struct CpuState {
    /// EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI.
    pub gpr: [u32; 8],
    /// Instruction pointer (offset in CS).
    pub eip: u32,
    /// EFLAGS; the arithmetic bits are stale while `lazy` holds a pending result.
    pub eflags: u32,
    /// The last flag-setting operation, evaluated on demand.
    pub lazy: LazyFlags,
    /// ES, CS, SS, DS, FS, GS.
    pub seg: [Segment; 6],
    /// LDTR with its cache.
    pub ldtr: Segment,
    /// TR with its cache.
    pub tr: Segment,
    /// GDTR.
    pub gdtr: TableReg,
    /// IDTR.
    pub idtr: TableReg,
    /// CR0.
    pub cr0: u32,
    /// CR2: the last page-fault linear address.
    pub cr2: u32,
    /// CR3: page-directory base.
    pub cr3: u32,
    /// CR4.
    pub cr4: u32,
    /// DR0-DR7 (stored; breakpoints are not acted on).
    pub dr: [u32; 8],
    /// Current privilege level.
    pub cpl: u32,
    /// Instructions retired since reset (the deterministic clock).
    pub icount: u64,
    /// TSC = icount + tsc_offset (WRMSR to the TSC adjusts the offset).
    pub tsc_offset: u64,
    /// SYSENTER_CS_MSR.
    pub sysenter_cs: u32,
    /// SYSENTER_ESP_MSR.
    pub sysenter_esp: u32,
    /// SYSENTER_EIP_MSR.
    pub sysenter_eip: u32,
    /// IA32_APIC_BASE as RDMSR returns it; the local APIC itself is a board device
    /// (told of every write through `InterruptController::apic_base_written`).
    pub apic_base: u64,
    /// IA32_MISC_ENABLE.
    pub misc_enable: u64,
    /// MTRR MSRs and the PAT, stored as written.
    pub mtrr: crate::msr::MtrrState,
    /// IA32_EFER (only NXE, bit 11, is implemented).
    pub efer: u64,
    /// The four PDPTEs PAE paging uses, loaded from the 32-byte table at CR3 when
    /// CR3 is written with PAE paging on, or when PAE paging is turned on (MOV to
    /// CR0/CR4); later writes to that table take effect only at the next load.
    pub pdpte: [u64; 4],
    /// The CPU is in the HLT state.
    pub halted: bool,
    /// Maskable interrupts and NMIs are inhibited until the next instruction has
    /// completed (after an STI that set IF, MOV SS, POP SS; the SDM lets STI hold
    /// NMI and requires SS loads to).
    pub int_shadow: bool,
    /// An NMI handler is running: further NMIs are held until the next IRET
    /// (SDM vol. 3, 6.7.1 "Handling Multiple NMIs").
    pub nmi_blocked: bool,
    /// The shadow was opened by a load of SS (MOV SS, POP SS): the single-step
    /// trap (TF) of that instruction is also held, and taken after the next one
    /// with DR6.BS. STI's shadow does not hold it (SDM vol. 3, 6.8.3 and STI).
    pub ss_shadow: bool,
}

impl CpuState {
    /// The state after RESET (SDM vol. 3, table 9-1): real mode at F000:FFF0.
    pub fn reset() -> Self {
        let mut seg = [Segment::real(0); 6];
        seg[sreg::CS] = Segment {
            base: 0xFFFF_0000,
            selector: 0xF000,
            attr: 0x9B,
            ..Segment::real(0)
        };
        let ldtr = Segment {
            attr: 0x82,
            ..Segment::real(0)
        };
        let tr = Segment {
            attr: 0x8B,
            ..Segment::real(0)
        };
        let mut gpr = [0; 8];
        gpr[reg::EDX] = 0x0000_0633; // family 6, model 3, stepping 3
        CpuState {
            gpr,
            eip: 0xFFF0,
            eflags: fl::FIXED,
            lazy: LazyFlags::default(),
            seg,
            ldtr,
            tr,
            gdtr: TableReg {
                base: 0,
                limit: 0xFFFF,
            },
            idtr: TableReg {
                base: 0,
                limit: 0x3FF,
            },
            cr0: cr::ET | cr::CD | cr::NW,
            cr2: 0,
            cr3: 0,
            cr4: 0,
            dr: [0, 0, 0, 0, 0xFFFF_0FF0, 0x400, 0xFFFF_0FF0, 0x400],
            cpl: 0,
            icount: 0,
            tsc_offset: 0,
            sysenter_cs: 0,
            sysenter_esp: 0,
            sysenter_eip: 0,
            apic_base: 0xFEE0_0000 | 1 << 8,
            misc_enable: 1,
            mtrr: Default::default(),
            efer: 0,
            pdpte: [0; 4],
            halted: false,
            int_shadow: false,
            nmi_blocked: false,
            ss_shadow: false,
        }
    }

    /// 8-bit register by ModR/M number (AL, CL, DL, BL, AH, CH, DH, BH).
    #[inline(always)]
    pub fn r8(&self, n: u8) -> u8 {
        let n = n as usize;
        (self.gpr[n & 3] >> ((n & 4) << 1)) as u8
    }
    /// Writes an 8-bit register by ModR/M number.
    #[inline(always)]
    pub fn set_r8(&mut self, n: u8, v: u8) {
        let n = n as usize;
        let sh = (n & 4) << 1;
        let r = &mut self.gpr[n & 3];
        *r = (*r & !(0xFF << sh)) | (v as u32) << sh;
    }
    /// 16-bit register by number.
    #[inline(always)]
    pub fn r16(&self, n: u8) -> u16 {
        self.gpr[n as usize & 7] as u16
    }
    /// Writes a 16-bit register, leaving the upper half.
    #[inline(always)]
    pub fn set_r16(&mut self, n: u8, v: u16) {
        let r = &mut self.gpr[n as usize & 7];
        *r = (*r & 0xFFFF_0000) | v as u32;
    }
    /// Protected mode (CR0.PE).
    #[inline(always)]
    pub fn protected(&self) -> bool {
        self.cr0 & cr::PE != 0
    }
    /// Virtual-8086 mode (EFLAGS.VM in protected mode).
    #[inline(always)]
    pub fn vm86(&self) -> bool {
        self.eflags & fl::VM != 0
    }
    /// Current I/O privilege level.
    #[inline(always)]
    pub fn iopl(&self) -> u32 {
        self.eflags >> 12 & 3
    }
    /// The stack is 32-bit (SS.B).
    #[inline(always)]
    pub fn stack32(&self) -> bool {
        self.seg[sreg::SS].big()
    }
    /// Code is 32-bit (CS.D).
    #[inline(always)]
    pub fn code32(&self) -> bool {
        self.seg[sreg::CS].big()
    }
}

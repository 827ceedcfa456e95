//! CPUID: an honest P6-family i686 (family 6, model 3, stepping 3, "GenuineIntel")
//! advertising only what this CPU implements. The machine may adjust the feature
//! set through [`CpuidConfig`] (a field of [`Cpu`]) when more units land.

use crate::state::reg;
use crate::Cpu;

/// CPUID.01H:EDX feature bits (SDM vol. 2, CPUID, table 3-11).
pub mod edx {
    /// x87 FPU on chip.
    pub const FPU: u32 = 1 << 0;
    /// Virtual-8086 mode extensions.
    pub const VME: u32 = 1 << 1;
    /// Debugging extensions (CR4.DE, I/O breakpoints).
    pub const DE: u32 = 1 << 2;
    /// Page size extension (4 MiB pages).
    pub const PSE: u32 = 1 << 3;
    /// Time-stamp counter (RDTSC, CR4.TSD).
    pub const TSC: u32 = 1 << 4;
    /// RDMSR/WRMSR.
    pub const MSR: u32 = 1 << 5;
    /// Physical address extension.
    pub const PAE: u32 = 1 << 6;
    /// Machine-check exception.
    pub const MCE: u32 = 1 << 7;
    /// CMPXCHG8B.
    pub const CX8: u32 = 1 << 8;
    /// On-chip APIC.
    pub const APIC: u32 = 1 << 9;
    /// SYSENTER/SYSEXIT.
    pub const SEP: u32 = 1 << 11;
    /// Memory type range registers.
    pub const MTRR: u32 = 1 << 12;
    /// Global pages (CR4.PGE).
    pub const PGE: u32 = 1 << 13;
    /// CMOVcc (and FCMOVcc/FCOMI with FPU).
    pub const CMOV: u32 = 1 << 15;
    /// Page attribute table.
    pub const PAT: u32 = 1 << 16;
    /// CLFLUSH (line size in leaf 1 EBX bits 15..8).
    pub const CLFSH: u32 = 1 << 19;
    /// MMX.
    pub const MMX: u32 = 1 << 23;
    /// FXSAVE/FXRSTOR, CR4.OSFXSR.
    pub const FXSR: u32 = 1 << 24;
    /// SSE.
    pub const SSE: u32 = 1 << 25;
    /// SSE2.
    pub const SSE2: u32 = 1 << 26;
}

/// CPUID.80000001H:EDX feature bits (SDM vol. 2, CPUID).
pub mod ext_edx {
    /// Execute disable: IA32_EFER.NXE and the XD bit of PAE PDEs and PTEs.
    pub const NX: u32 = 1 << 20;
}

/// What CPUID reports. The defaults describe the units implemented today (x87, MMX,
/// FXSAVE, SSE, SSE2, CLFLUSH, PAE paging, NX; no VME, MCE, PAT). The local APIC is
/// a board device: the machine sets [`edx::APIC`] on the APIC board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuidConfig {
    /// Highest basic leaf (EAX of leaf 0).
    pub max_leaf: u32,
    /// The 12-byte vendor string.
    pub vendor: [u8; 12],
    /// Leaf 1 EAX: stepping, model, family (also EDX after RESET).
    pub signature: u32,
    /// Leaf 1 EDX feature bits ([`edx`]).
    pub features_edx: u32,
    /// Leaf 1 ECX feature bits.
    pub features_ecx: u32,
    /// Leaf 1 EBX: CLFLUSH line size in 8-byte units (bits 15..8); brand index,
    /// logical processor count and initial APIC ID are 0.
    pub ebx: u32,
    /// Leaf 80000001H EDX feature bits ([`ext_edx`]). When 0 there are no
    /// extended leaves at all (80000000H reports the highest basic leaf's data, as
    /// a P6 does); otherwise leaf 80000000H reports 80000001H as the highest.
    pub ext_features_edx: u32,
}

impl Default for CpuidConfig {
    fn default() -> Self {
        CpuidConfig {
            max_leaf: 2,
            vendor: *b"GenuineIntel",
            signature: 0x0000_0633,
            features_edx: edx::FPU
                | edx::DE
                | edx::PSE
                | edx::PAE
                | edx::TSC
                | edx::MSR
                | edx::CX8
                | edx::SEP
                | edx::MTRR
                | edx::PGE
                | edx::CMOV
                | edx::CLFSH
                | edx::MMX
                | edx::FXSR
                | edx::SSE
                | edx::SSE2,
            features_ecx: 0,
            // 32-byte lines, matching the leaf 2 cache descriptors.
            ebx: (32 / 8) << 8,
            ext_features_edx: ext_edx::NX,
        }
    }
}

impl CpuidConfig {
    /// Whether leaf 1 EDX advertises `bit`.
    pub fn has(&self, bit: u32) -> bool {
        self.features_edx & bit == bit
    }

    /// Whether leaf 80000001H EDX advertises `bit` ([`ext_edx`]).
    pub fn has_ext(&self, bit: u32) -> bool {
        self.ext_features_edx & bit == bit
    }

    /// The (EAX, EBX, ECX, EDX) result of CPUID for `leaf`. Leaves above `max_leaf`
    /// return the highest basic leaf's data, as Intel processors do.
    pub fn query(&self, leaf: u32) -> [u32; 4] {
        let max_ext = if self.ext_features_edx != 0 {
            0x8000_0001
        } else {
            0x8000_0000 - 1
        };
        let leaf = if leaf > self.max_leaf && leaf < 0x8000_0000 || leaf > max_ext {
            self.max_leaf
        } else {
            leaf
        };
        let v = |i: usize| {
            u32::from_le_bytes([
                self.vendor[i],
                self.vendor[i + 1],
                self.vendor[i + 2],
                self.vendor[i + 3],
            ])
        };
        match leaf {
            0 => [self.max_leaf, v(0), v(8), v(4)],
            1 => [
                self.signature,
                self.ebx,
                self.features_ecx,
                self.features_edx,
            ],
            // Pentium II cache descriptors: 16 KiB L1 I/D, 512 KiB L2, TLBs.
            2 => [0x0302_0101, 0, 0, 0x0C04_0843],
            0x8000_0000 => [max_ext, 0, 0, 0],
            0x8000_0001 => [0, 0, 0, self.ext_features_edx],
            // No extended leaves: P6 returns the highest basic leaf's data there, but
            // Linux only probes 0x80000000 and takes EAX < 0x80000001 as "none".
            _ => self.query(self.max_leaf),
        }
    }
}

impl Cpu {
    /// CPUID: fills EAX, EBX, ECX, EDX for the leaf in EAX.
    pub fn cpuid(&mut self) {
        let r = self.cpuid.query(self.state.gpr[reg::EAX]);
        self.state.gpr[reg::EAX] = r[0];
        self.state.gpr[reg::EBX] = r[1];
        self.state.gpr[reg::ECX] = r[2];
        self.state.gpr[reg::EDX] = r[3];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_a_p6_with_sse2_pae_nx_without_apic_vme() {
        let c = CpuidConfig::default();
        let [max, b, cx, d] = c.query(0);
        assert_eq!(max, 2);
        let mut v = Vec::new();
        for r in [b, d, cx] {
            v.extend_from_slice(&r.to_le_bytes());
        }
        assert_eq!(&v, b"GenuineIntel");
        let [sig, ebx, ecx, edx] = c.query(1);
        assert_eq!(sig, 0x633);
        assert_eq!(ebx, 0x0400, "CLFLUSH line 4 * 8 = 32 bytes");
        assert_eq!(ecx, 0);
        assert_eq!(edx, 0x0788_B97D);
        for present in [
            edx::MMX,
            edx::FXSR,
            edx::SSE,
            edx::SSE2,
            edx::CLFSH,
            edx::PAE,
        ] {
            assert!(c.has(present));
        }
        for absent in [edx::VME, edx::APIC, edx::MCE, edx::PAT] {
            assert!(!c.has(absent));
        }
        // Leaves above the maximum report the last basic leaf; the extended range
        // holds 80000001H (NX) only.
        assert_eq!(c.query(7), c.query(2));
        assert_eq!(c.query(0x8000_0000), [0x8000_0001, 0, 0, 0]);
        assert_eq!(c.query(0x8000_0001), [0, 0, 0, ext_edx::NX]);
        assert_eq!(c.query(0x8000_0002), c.query(2));
        // Without extended features there are no extended leaves (a plain P6).
        let p6 = CpuidConfig {
            ext_features_edx: 0,
            ..CpuidConfig::default()
        };
        assert_eq!(p6.query(0x8000_0000), p6.query(2));
    }

    #[test]
    fn machine_can_adjust_the_feature_set() {
        let mut c = CpuidConfig::default();
        c.features_edx &= !(edx::SSE | edx::SSE2);
        c.features_edx |= edx::PAT;
        assert!(!c.has(edx::SSE2) && c.has(edx::FXSR));
        assert_eq!(c.query(1)[3] & (edx::PAT | edx::SSE), edx::PAT);
    }
}

//! The CPU state a loaded kernel starts in, and the boot GDT behind it.
//!
//! Both the Linux 32-bit boot protocol and Multiboot start the kernel in
//! flat 32-bit protected mode with paging and interrupts off. The loaders
//! write a small GDT into guest memory (so the kernel may reload segment
//! registers from it, as Linux's decompressor does) and describe the state
//! in a [`BootEntry`] that the board copies into the CPU.

use crate::{BootError, GuestMemory};

/// Selector of the flat 4 GiB code segment (Linux `__BOOT_CS`).
pub const BOOT_CS: u16 = 0x10;
/// Selector of the flat 4 GiB data segment (Linux `__BOOT_DS`).
pub const BOOT_DS: u16 = 0x18;
/// Guest physical address where the loaders write the boot GDT.
pub const BOOT_GDT_ADDR: u32 = 0x6000;
/// Top of the small scratch stack the loaders point ESP at. Neither
/// protocol requires a stack, but a valid one makes an early fault or NMI
/// debuggable instead of a triple fault.
pub const BOOT_STACK_TOP: u32 = 0x6000;
/// Bottom of the scratch stack (4 KiB).
pub const BOOT_STACK_BOTTOM: u32 = 0x5000;

/// Raw descriptor of the flat code segment: base 0, limit 4 GiB (G=1),
/// 32-bit (D=1), present, DPL 0, execute/read, accessed.
pub const FLAT_CODE_DESCRIPTOR: u64 = 0x00CF_9B00_0000_FFFF;
/// Raw descriptor of the flat data segment: base 0, limit 4 GiB (G=1),
/// 32-bit (B=1), present, DPL 0, read/write, accessed.
pub const FLAT_DATA_DESCRIPTOR: u64 = 0x00CF_9300_0000_FFFF;

/// The boot GDT: two null entries, then code at 0x10 and data at 0x18.
/// (Linux reserves selector 0x08; keeping it null matches its layout.)
pub const BOOT_GDT: [u64; 4] = [0, 0, FLAT_CODE_DESCRIPTOR, FLAT_DATA_DESCRIPTOR];

/// CR0.PE: protected mode enabled.
pub const CR0_PE: u32 = 1 << 0;
/// CR0.ET: always 1 on i386 with a 387-compatible FPU.
pub const CR0_ET: u32 = 1 << 4;
/// CR0.PG: paging enabled.
pub const CR0_PG: u32 = 1 << 31;
/// EFLAGS bit 1, which always reads as 1.
pub const EFLAGS_FIXED: u32 = 1 << 1;
/// EFLAGS.IF: maskable interrupts enabled.
pub const EFLAGS_IF: u32 = 1 << 9;

/// A segment register with its hidden descriptor cache, as loaded from the
/// boot GDT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Visible selector.
    pub selector: u16,
    /// Linear base address.
    pub base: u32,
    /// Limit in bytes (already scaled by the granularity bit).
    pub limit: u32,
    /// The raw 8-byte GDT descriptor the hidden part was loaded from, for
    /// CPUs that want the access rights / D bit in their own encoding.
    pub descriptor: u64,
}

impl Segment {
    /// The flat code segment, selector [`BOOT_CS`].
    pub const fn flat_code() -> Self {
        Self {
            selector: BOOT_CS,
            base: 0,
            limit: 0xFFFF_FFFF,
            descriptor: FLAT_CODE_DESCRIPTOR,
        }
    }

    /// The flat data segment, selector [`BOOT_DS`].
    pub const fn flat_data() -> Self {
        Self {
            selector: BOOT_DS,
            base: 0,
            limit: 0xFFFF_FFFF,
            descriptor: FLAT_DATA_DESCRIPTOR,
        }
    }

    /// The descriptor's access byte (P, DPL, S, type).
    pub const fn access_byte(&self) -> u8 {
        (self.descriptor >> 40) as u8
    }
}

/// Where the CPU starts executing the loaded kernel, and in what state.
///
/// The state is always 32-bit flat protected mode: CR0 = PE|ET (paging
/// off), EFLAGS = 0x2 (interrupts off), CS = [`BOOT_CS`], DS/ES/FS/GS/SS =
/// [`BOOT_DS`], GDTR pointing at the GDT the loader wrote. The A20 gate
/// must be enabled by the board. IDTR is irrelevant (interrupts are off);
/// boards may leave it at base 0, limit 0x3FF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootEntry {
    /// Instruction pointer (physical = linear, paging is off).
    pub eip: u32,
    /// EAX (Multiboot: the 0x2BADB002 magic).
    pub eax: u32,
    /// EBX (Multiboot: the information structure's address).
    pub ebx: u32,
    /// ECX.
    pub ecx: u32,
    /// EDX.
    pub edx: u32,
    /// ESI (Linux: the `boot_params` address).
    pub esi: u32,
    /// EDI.
    pub edi: u32,
    /// EBP.
    pub ebp: u32,
    /// ESP: a small scratch stack below [`BOOT_STACK_TOP`].
    pub esp: u32,
    /// EFLAGS (interrupts disabled).
    pub eflags: u32,
    /// CR0 (protected mode, paging disabled).
    pub cr0: u32,
    /// GDTR base.
    pub gdt_base: u32,
    /// GDTR limit.
    pub gdt_limit: u16,
    /// CS.
    pub cs: Segment,
    /// DS.
    pub ds: Segment,
    /// ES.
    pub es: Segment,
    /// FS.
    pub fs: Segment,
    /// GS.
    pub gs: Segment,
    /// SS.
    pub ss: Segment,
}

impl BootEntry {
    /// The flat 32-bit state with all general registers zero except ESP.
    pub(crate) fn flat(eip: u32) -> Self {
        Self {
            eip,
            eax: 0,
            ebx: 0,
            ecx: 0,
            edx: 0,
            esi: 0,
            edi: 0,
            ebp: 0,
            esp: BOOT_STACK_TOP,
            eflags: EFLAGS_FIXED,
            cr0: CR0_PE | CR0_ET,
            gdt_base: BOOT_GDT_ADDR,
            gdt_limit: (BOOT_GDT.len() * 8 - 1) as u16,
            cs: Segment::flat_code(),
            ds: Segment::flat_data(),
            es: Segment::flat_data(),
            fs: Segment::flat_data(),
            gs: Segment::flat_data(),
            ss: Segment::flat_data(),
        }
    }

    /// Whether the entry state has maskable interrupts enabled (never, for
    /// states built by this crate).
    pub fn interrupts_enabled(&self) -> bool {
        self.eflags & EFLAGS_IF != 0
    }

    /// Whether the entry state has paging enabled (never, for states built
    /// by this crate).
    pub fn paging_enabled(&self) -> bool {
        self.cr0 & CR0_PG != 0
    }
}

/// Writes [`BOOT_GDT`] at [`BOOT_GDT_ADDR`] and zeroes the scratch stack.
pub(crate) fn write_boot_gdt<M: GuestMemory + ?Sized>(mem: &mut M) -> Result<(), BootError> {
    mem.zero(BOOT_STACK_BOTTOM, BOOT_STACK_TOP - BOOT_STACK_BOTTOM)?;
    let mut bytes = [0u8; BOOT_GDT.len() * 8];
    for (chunk, d) in bytes.chunks_exact_mut(8).zip(BOOT_GDT) {
        chunk.copy_from_slice(&d.to_le_bytes());
    }
    mem.write(BOOT_GDT_ADDR, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_are_flat() {
        for d in [FLAT_CODE_DESCRIPTOR, FLAT_DATA_DESCRIPTOR] {
            let base = ((d >> 16) & 0xFF_FFFF) | ((d >> 32) & 0xFF00_0000);
            let limit = (d & 0xFFFF) | ((d >> 32) & 0xF_0000);
            assert_eq!(base, 0);
            assert_eq!(limit, 0xF_FFFF);
            assert_eq!((d >> 52) & 0xC, 0xC, "G and D/B set");
        }
        assert_eq!(Segment::flat_code().access_byte(), 0x9B);
        assert_eq!(Segment::flat_data().access_byte(), 0x93);
    }

    #[test]
    fn entry_state() {
        let e = BootEntry::flat(0x100000);
        assert!(!e.interrupts_enabled());
        assert!(!e.paging_enabled());
        assert_eq!(e.cr0 & CR0_PE, CR0_PE);
        assert_eq!(e.gdt_limit, 31);
        assert_eq!(e.cs.selector, 0x10);
        assert_eq!(e.ss.selector, 0x18);
    }

    #[test]
    fn gdt_written() {
        let mut ram = vec![0xEEu8; 0x8000];
        write_boot_gdt(&mut ram).unwrap();
        assert_eq!(&ram[0x6000..0x6010], &[0; 16]);
        assert_eq!(
            &ram[0x6010..0x6020],
            &[0xFF, 0xFF, 0, 0, 0, 0x9B, 0xCF, 0, 0xFF, 0xFF, 0, 0, 0, 0x93, 0xCF, 0]
        );
        assert!(ram[0x5000..0x6000].iter().all(|&b| b == 0));
        assert_eq!(ram[0x6020], 0xEE);
    }
}

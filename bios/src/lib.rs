//! tab86 boot loaders: put a kernel into guest RAM the way a boot loader
//! would, and say what CPU state to start it in.
//!
//! The emulator boots Debian's unmodified `linux-image-686` without running
//! real-mode BIOS code: [`load_linux`] implements the Linux x86 32-bit boot
//! protocol (bzImage at 1 MiB, initrd, command line, `boot_params` with an
//! E820 map), and [`load_multiboot`] loads Multiboot 1 kernels (ELF32 or
//! a.out kludge) for tests and small OSes. Both return a [`BootEntry`]:
//! flat 32-bit protected mode, paging and interrupts off, CS = 0x10, data
//! segments = 0x18, with a matching GDT written to guest memory.
//!
//! The crate does not depend on the CPU or memory crates: loaders write
//! through the small [`GuestMemory`] trait and take file contents as byte
//! slices, so it builds for `wasm32-unknown-unknown` and holds no global
//! state. The board builds its memory map with [`pc_e820_map`] and passes
//! the same map to the loaders, so the guest sees one consistent map, and
//! [`build_acpi_tables`] for the ACPI tables it places in the BIOS area.
//! For kernels that expect a BIOS to have run (Multiboot test kernels),
//! [`write_legacy_bios`] and [`POST_PORT_WRITES`] describe what SeaBIOS
//! leaves: IVT, BIOS data area, 8259s and PIT.
//!
//! Typical board use:
//!
//! ```
//! use tab86_bios::{load_linux, pc_e820_map, KernelFormat, LinuxBootOptions};
//! # fn demo(kernel: &[u8], initrd: &[u8]) -> Result<(), tab86_bios::BootError> {
//! let ram_size = 256 << 20;
//! let mut ram = vec![0u8; ram_size as usize];
//! let map = pc_e820_map(ram_size)?;
//! if KernelFormat::detect(kernel) == Some(KernelFormat::BzImage) {
//!     let opts = LinuxBootOptions::new("console=ttyS0", &map).with_initrd(initrd);
//!     let loaded = load_linux(&mut ram, kernel, &opts)?;
//!     // Copy loaded.entry (EIP, ESI, segments, GDTR, CR0) into the CPU.
//!     assert_eq!(loaded.entry.eip, 0x100000);
//! }
//! # Ok(()) }
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod acpi;
mod e820;
mod entry;
mod error;
mod le;
mod legacy;
mod linux;
mod memory;
mod multiboot;
mod rom;

pub use acpi::{
    build_acpi_tables, AcpiConfig, IrqOverride, MadtConfig, PciRoute, ACPI_TABLES_BASE,
    INTI_LEVEL_HIGH, INTI_LEVEL_LOW,
};
pub use e820::{
    pc_e820_map, usable_region_containing, E820Entry, E820Type, BIOS_AREA_START, CONVENTIONAL_END,
    EBDA_START, HIGH_MEMORY_START, HIGH_ROM_BASE, MAX_E820_ENTRIES, MAX_RAM_SIZE, MIN_RAM_SIZE,
};
pub use entry::{
    BootEntry, Segment, BOOT_CS, BOOT_DS, BOOT_GDT, BOOT_GDT_ADDR, BOOT_STACK_BOTTOM,
    BOOT_STACK_TOP, CR0_ET, CR0_PE, CR0_PG, EFLAGS_FIXED, EFLAGS_IF, FLAT_CODE_DESCRIPTOR,
    FLAT_DATA_DESCRIPTOR,
};
pub use error::BootError;
pub use legacy::{
    bda, ivt_entry, write_legacy_bios, LegacyBiosLayout, LegacyBiosOptions, BIOS_IRQ0_VECTOR,
    BIOS_IRQ8_VECTOR, BIOS_PIC1_MASK, BIOS_PIC2_MASK, EQUIPMENT_FPU, EQUIPMENT_PS2_MOUSE,
    EQUIPMENT_SERIAL_SHIFT, EQUIPMENT_VIDEO_80X25_COLOR, HANDLER_IRET, HANDLER_IRQ0, HANDLER_PIC1,
    HANDLER_PIC2, LEGACY_HANDLERS, LEGACY_HANDLERS_ADDR, LEGACY_HANDLERS_OFFSET,
    LEGACY_HANDLERS_SEGMENT, POST_PORT_WRITES,
};
pub use linux::{
    load_linux, BzImage, LinuxBootOptions, LinuxVideo, LoadedLinux, SetupHeader, BOOT_PARAMS_ADDR,
    BOOT_PARAMS_SIZE, CAN_USE_HEAP, CMDLINE_ADDR, CMDLINE_AREA_SIZE, KERNEL_LOAD_ADDR, LOADED_HIGH,
    LOADER_TYPE, MIN_PROTOCOL_VERSION,
};
pub use memory::GuestMemory;
pub use multiboot::{
    find_multiboot_header, load_multiboot, AoutAddresses, LoadedMultiboot, MultibootHeader,
    MultibootModule, MultibootOptions, VideoRequest, BOOT_LOADER_NAME, FLAG_AOUT_KLUDGE,
    FLAG_MEMORY_INFO, FLAG_PAGE_ALIGN, FLAG_VIDEO_MODE, MBI_ADDR, MBI_AREA_END,
    MULTIBOOT_BOOTLOADER_MAGIC, MULTIBOOT_HEADER_MAGIC, MULTIBOOT_SEARCH_LIMIT,
};
pub use rom::{validate_bios_rom, RomMapping, ROM_SIZE_128K, ROM_SIZE_64K};

/// A range of guest physical memory the loader filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadedRegion {
    /// First byte.
    pub addr: u32,
    /// Length in bytes.
    pub size: u32,
}

impl LoadedRegion {
    /// First byte past the region.
    pub fn end(&self) -> u64 {
        u64::from(self.addr) + u64::from(self.size)
    }
}

/// Kernel image formats the loaders understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelFormat {
    /// A Linux bzImage (load with [`load_linux`]).
    BzImage,
    /// A Multiboot 1 kernel (load with [`load_multiboot`]).
    Multiboot,
}

impl KernelFormat {
    /// Guesses the format from the file contents: "HdrS" at 0x202 means a
    /// bzImage (even a broken one, so its loader reports the precise
    /// problem), otherwise a Multiboot magic in the first 8192 bytes means
    /// Multiboot. Returns `None` for anything else.
    pub fn detect(image: &[u8]) -> Option<Self> {
        if image.get(0x202..0x206) == Some(b"HdrS".as_slice()) {
            return Some(Self::BzImage);
        }
        let limit = image.len().min(MULTIBOOT_SEARCH_LIMIT);
        let found = image[..limit]
            .chunks_exact(4)
            .any(|w| w == MULTIBOOT_HEADER_MAGIC.to_le_bytes());
        found.then_some(Self::Multiboot)
    }
}

//! The crate's single error type.
//!
//! Every loader validates its input completely before writing guest memory,
//! so an error never leaves a half-loaded guest behind (except for
//! [`BootError::GuestMemory`], which only a misbehaving [`GuestMemory`]
//! implementation can produce after validation).
//!
//! [`GuestMemory`]: crate::GuestMemory

use std::fmt;

/// Why a kernel, initrd, ROM or memory map could not be loaded.
///
/// Variants carry the numbers needed to explain the failure; the
/// [`Display`](fmt::Display) text is meant to be shown to the user as is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BootError {
    /// A guest physical memory access fell outside the guest's RAM.
    GuestMemory {
        /// First byte of the access.
        addr: u32,
        /// Length of the access in bytes.
        len: u64,
        /// Size of guest memory in bytes.
        size: u32,
    },
    /// The RAM size cannot be described by a PC memory map.
    InvalidRamSize {
        /// Requested RAM size in bytes.
        size: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The memory map passed by the caller is unusable for booting.
    InvalidMemoryMap(&'static str),
    /// The file is not a Linux bzImage (no "HdrS" / boot flag, or a zImage).
    NotBzImage(&'static str),
    /// The file ends before the data its own headers describe.
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes the headers require.
        needed: u64,
        /// Bytes actually present.
        actual: u64,
    },
    /// The bzImage's boot protocol is older than this loader supports.
    ProtocolTooOld {
        /// Protocol version found, as 0xMMmm.
        version: u16,
        /// Oldest supported version, as 0xMMmm.
        minimum: u16,
    },
    /// The kernel (including the memory it needs to decompress) does not
    /// fit in the RAM region starting at 1 MiB.
    KernelTooLarge {
        /// First byte past the kernel's footprint.
        needed_end: u64,
        /// First byte past the usable RAM region holding the kernel.
        ram_end: u64,
    },
    /// The initrd does not fit between the kernel and the highest address
    /// the kernel accepts for it.
    InitrdTooLarge {
        /// Initrd size in bytes.
        size: u64,
        /// Bytes available for it.
        available: u64,
    },
    /// The command line exceeds what the kernel (or the loader's buffer)
    /// accepts.
    CmdlineTooLong {
        /// Command line length in bytes (without the terminating NUL).
        len: u64,
        /// Maximum length in bytes.
        max: u64,
    },
    /// A command line or module string contains a NUL byte, which would
    /// silently truncate it in the guest.
    StringContainsNul(&'static str),
    /// No Multiboot header (magic 0x1BADB002) in the first 8192 bytes.
    NoMultibootHeader,
    /// A Multiboot header was found but magic + flags + checksum != 0.
    MultibootChecksum {
        /// File offset of the header.
        offset: u32,
        /// The header's flags word.
        flags: u32,
        /// The header's checksum word.
        checksum: u32,
    },
    /// The Multiboot header requests features this loader cannot provide.
    MultibootUnsupported {
        /// The unsupported required flag bits.
        flags: u32,
    },
    /// The a.out-kludge address fields of a Multiboot header are inconsistent.
    MultibootAddress(&'static str),
    /// The ELF file is malformed.
    InvalidElf(&'static str),
    /// The ELF file is valid but not a 32-bit little-endian i386 executable.
    ElfNotI386 {
        /// `EI_CLASS` (1 = 32-bit).
        class: u8,
        /// `EI_DATA` (1 = little-endian).
        data: u8,
        /// `e_machine` (3 = EM_386).
        machine: u16,
    },
    /// A kernel segment or module does not lie inside usable RAM.
    SegmentOutsideRam {
        /// First guest physical byte.
        addr: u64,
        /// Size in bytes.
        size: u64,
    },
    /// A kernel segment overlaps the loader's own boot data (GDT, stack,
    /// information structures).
    SegmentOverlapsBootData {
        /// First guest physical byte.
        addr: u64,
        /// Size in bytes.
        size: u64,
    },
    /// The boot information does not fit in the low-memory area reserved
    /// for it.
    BootDataTooLarge {
        /// Bytes needed.
        needed: u64,
        /// Bytes available.
        available: u64,
    },
    /// A BIOS ROM image has a size that cannot be mapped below 1 MiB.
    InvalidRomSize {
        /// Size of the file in bytes.
        size: u64,
    },
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::GuestMemory { addr, len, size } => write!(
                f,
                "guest memory access of {len} bytes at {addr:#x} is outside the {size:#x}-byte RAM"
            ),
            Self::InvalidRamSize { size, reason } => {
                write!(f, "invalid RAM size {size:#x}: {reason}")
            }
            Self::InvalidMemoryMap(reason) => write!(f, "invalid memory map: {reason}"),
            Self::NotBzImage(reason) => write!(f, "not a Linux bzImage: {reason}"),
            Self::Truncated {
                what,
                needed,
                actual,
            } => write!(
                f,
                "file is truncated: {what} needs {needed} bytes but only {actual} are present"
            ),
            Self::ProtocolTooOld { version, minimum } => write!(
                f,
                "Linux boot protocol {}.{:02} is too old (need {}.{:02} or newer)",
                version >> 8,
                version & 0xff,
                minimum >> 8,
                minimum & 0xff
            ),
            Self::KernelTooLarge { needed_end, ram_end } => write!(
                f,
                "kernel needs RAM up to {needed_end:#x} but usable RAM ends at {ram_end:#x}"
            ),
            Self::InitrdTooLarge { size, available } => write!(
                f,
                "initrd of {size} bytes does not fit: only {available} bytes of RAM are available for it"
            ),
            Self::CmdlineTooLong { len, max } => write!(
                f,
                "command line is {len} bytes long, the maximum is {max}"
            ),
            Self::StringContainsNul(what) => write!(f, "{what} contains a NUL byte"),
            Self::NoMultibootHeader => write!(
                f,
                "no Multiboot header (magic 0x1BADB002) in the first 8192 bytes"
            ),
            Self::MultibootChecksum {
                offset,
                flags,
                checksum,
            } => write!(
                f,
                "Multiboot header at offset {offset:#x} has a bad checksum \
                 (flags {flags:#x}, checksum {checksum:#x})"
            ),
            Self::MultibootUnsupported { flags } => write!(
                f,
                "Multiboot header requires unsupported features (flag bits {flags:#x})"
            ),
            Self::MultibootAddress(reason) => {
                write!(f, "invalid Multiboot address fields: {reason}")
            }
            Self::InvalidElf(reason) => write!(f, "invalid ELF file: {reason}"),
            Self::ElfNotI386 {
                class,
                data,
                machine,
            } => write!(
                f,
                "ELF file is not a 32-bit little-endian i386 executable \
                 (class {class}, data {data}, machine {machine})"
            ),
            Self::SegmentOutsideRam { addr, size } => write!(
                f,
                "{size} bytes at {addr:#x} do not lie inside usable RAM"
            ),
            Self::SegmentOverlapsBootData { addr, size } => write!(
                f,
                "{size} bytes at {addr:#x} overlap the loader's boot data below 1 MiB"
            ),
            Self::BootDataTooLarge { needed, available } => write!(
                f,
                "boot information needs {needed} bytes but only {available} are reserved for it"
            ),
            Self::InvalidRomSize { size } => write!(
                f,
                "BIOS ROM is {size} bytes; it must be exactly 65536 or 131072 bytes"
            ),
        }
    }
}

impl std::error::Error for BootError {}

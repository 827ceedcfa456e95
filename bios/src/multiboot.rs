//! Multiboot (version 0.6.96, "Multiboot 1") kernel loading.
//!
//! Used for test kernels and small OSes that are ELF32 executables or flat
//! binaries with the a.out-kludge address fields. The loader finds and
//! checks the Multiboot header, loads the image and modules, builds the
//! Multiboot information structure (memory sizes, the same E820 map as the
//! board, command line, modules, boot loader name) and returns the entry
//! state: EAX = 0x2BADB002, EBX = info address, flat protected mode.
//! Kernels written for QEMU also expect what a BIOS leaves behind (8259s,
//! PIT, IVT, BIOS data area): the board writes that with
//! [`write_legacy_bios`](crate::write_legacy_bios) and replays
//! [`POST_PORT_WRITES`](crate::POST_PORT_WRITES) before entering the kernel.

use crate::e820::{usable_region_containing, validate_map, E820Entry};
use crate::entry::{write_boot_gdt, BootEntry, BOOT_GDT, BOOT_GDT_ADDR, BOOT_STACK_BOTTOM};
use crate::le::{align_up, overlaps, put_u32, put_u64, u16_at, u32_at};
use crate::{BootError, GuestMemory, LoadedRegion};

/// Magic value at the start of the Multiboot header in the kernel image.
pub const MULTIBOOT_HEADER_MAGIC: u32 = 0x1BAD_B002;
/// Value in EAX when the kernel is entered.
pub const MULTIBOOT_BOOTLOADER_MAGIC: u32 = 0x2BAD_B002;
/// The header must lie entirely within this many bytes of the file start.
pub const MULTIBOOT_SEARCH_LIMIT: usize = 8192;
/// Guest physical address of the Multiboot information structure; the
/// memory map, module list and strings follow it.
pub const MBI_ADDR: u32 = 0x1_0000;
/// End of the low-memory area reserved for the information structure.
pub const MBI_AREA_END: u32 = 0x8_0000;
/// Boot loader name reported to the kernel.
pub const BOOT_LOADER_NAME: &str = "tab86";

/// Header flag: align modules on 4 KiB boundaries.
pub const FLAG_PAGE_ALIGN: u32 = 1 << 0;
/// Header flag: the kernel needs memory information.
pub const FLAG_MEMORY_INFO: u32 = 1 << 1;
/// Header flag: the kernel wants video mode information.
pub const FLAG_VIDEO_MODE: u32 = 1 << 2;
/// Header flag: the address fields (a.out kludge) are valid.
pub const FLAG_AOUT_KLUDGE: u32 = 1 << 16;
/// Required-flag bits (0–15) this loader can satisfy.
const SUPPORTED_REQUIRED_FLAGS: u32 = FLAG_PAGE_ALIGN | FLAG_MEMORY_INFO | FLAG_VIDEO_MODE;

// Multiboot information flags.
const MBI_MEMORY: u32 = 1 << 0;
const MBI_CMDLINE: u32 = 1 << 2;
const MBI_MODS: u32 = 1 << 3;
const MBI_MMAP: u32 = 1 << 6;
const MBI_LOADER_NAME: u32 = 1 << 9;
const MBI_FRAMEBUFFER: u32 = 1 << 12;
/// Size of the information structure including the framebuffer fields.
const MBI_SIZE: usize = 116;
/// Size of one memory map entry including its leading size field.
const MMAP_ENTRY_SIZE: usize = 24;
/// Size of one module list entry.
const MODULE_ENTRY_SIZE: usize = 16;
const PAGE: u64 = 4096;

/// The a.out-kludge address fields of a Multiboot header (flag bit 16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AoutAddresses {
    /// Physical address the header itself is loaded at.
    pub header_addr: u32,
    /// Physical address of the first byte to load.
    pub load_addr: u32,
    /// End of the data to load from the file (0 = to the end of the file).
    pub load_end_addr: u32,
    /// End of the bss to zero (0 = no bss).
    pub bss_end_addr: u32,
    /// Entry point.
    pub entry_addr: u32,
}

/// The video mode preference of a Multiboot header (flag bit 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoRequest {
    /// 0 = linear graphics, 1 = EGA text.
    pub mode_type: u32,
    /// Preferred width (pixels or columns; 0 = no preference).
    pub width: u32,
    /// Preferred height (pixels or rows; 0 = no preference).
    pub height: u32,
    /// Preferred bits per pixel (0 = no preference).
    pub depth: u32,
}

/// A located and checksummed Multiboot header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultibootHeader {
    /// File offset of the header.
    pub offset: u32,
    /// The header's flags.
    pub flags: u32,
    /// Address fields, present when flag bit 16 is set.
    pub aout: Option<AoutAddresses>,
    /// Video preference, present when flag bit 2 is set.
    pub video: Option<VideoRequest>,
}

/// Finds the first valid Multiboot header: magic 0x1BADB002 at a 4-byte
/// aligned offset within the first 8192 bytes whose checksum makes
/// magic + flags + checksum == 0.
///
/// # Errors
/// [`BootError::NoMultibootHeader`] if no magic is found,
/// [`BootError::MultibootChecksum`] if the only candidates have bad
/// checksums, [`BootError::MultibootUnsupported`] for required flag bits
/// this loader cannot honour, [`BootError::Truncated`] or
/// [`BootError::MultibootAddress`] if the optional fields are cut off.
pub fn find_multiboot_header(image: &[u8]) -> Result<MultibootHeader, BootError> {
    let limit = image.len().min(MULTIBOOT_SEARCH_LIMIT);
    let mut bad_checksum = None;
    let mut off = 0usize;
    while off + 12 <= limit {
        if u32_at(image, off) == Some(MULTIBOOT_HEADER_MAGIC) {
            let flags = u32_at(image, off + 4).unwrap_or(0);
            let checksum = u32_at(image, off + 8).unwrap_or(0);
            if MULTIBOOT_HEADER_MAGIC
                .wrapping_add(flags)
                .wrapping_add(checksum)
                == 0
            {
                return parse_header(image, off, flags);
            }
            bad_checksum.get_or_insert(BootError::MultibootChecksum {
                offset: off as u32,
                flags,
                checksum,
            });
        }
        off += 4;
    }
    Err(bad_checksum.unwrap_or(BootError::NoMultibootHeader))
}

fn parse_header(image: &[u8], off: usize, flags: u32) -> Result<MultibootHeader, BootError> {
    let unsupported = flags & 0xFFFF & !SUPPORTED_REQUIRED_FLAGS;
    if unsupported != 0 {
        return Err(BootError::MultibootUnsupported { flags: unsupported });
    }
    // The address fields (bytes 12..32) are laid out even when only the
    // video fields (32..48) are used.
    let needed = if flags & FLAG_VIDEO_MODE != 0 {
        48
    } else if flags & FLAG_AOUT_KLUDGE != 0 {
        32
    } else {
        12
    };
    if off + needed > MULTIBOOT_SEARCH_LIMIT {
        return Err(BootError::MultibootAddress(
            "header extends past the first 8192 bytes",
        ));
    }
    if off + needed > image.len() {
        return Err(BootError::Truncated {
            what: "Multiboot header",
            needed: (off + needed) as u64,
            actual: image.len() as u64,
        });
    }
    let f = |i: usize| u32_at(image, off + i).unwrap_or(0);
    Ok(MultibootHeader {
        offset: off as u32,
        flags,
        aout: (flags & FLAG_AOUT_KLUDGE != 0).then(|| AoutAddresses {
            header_addr: f(12),
            load_addr: f(16),
            load_end_addr: f(20),
            bss_end_addr: f(24),
            entry_addr: f(28),
        }),
        video: (flags & FLAG_VIDEO_MODE != 0).then(|| VideoRequest {
            mode_type: f(32),
            width: f(36),
            height: f(40),
            depth: f(44),
        }),
    })
}

/// A boot module (e.g. an initrd) passed to a Multiboot kernel.
#[derive(Debug, Clone, Copy)]
pub struct MultibootModule<'a> {
    /// Module contents.
    pub data: &'a [u8],
    /// The module's string (conventionally its path and arguments).
    pub cmdline: &'a str,
}

/// Everything besides the kernel image that [`load_multiboot`] needs.
#[derive(Debug, Clone, Copy)]
pub struct MultibootOptions<'a> {
    /// Kernel command line (no NUL bytes).
    pub cmdline: &'a str,
    /// Modules, loaded page-aligned after the kernel in this order.
    pub modules: &'a [MultibootModule<'a>],
    /// The board's memory map (see [`pc_e820_map`](crate::pc_e820_map)).
    pub e820: &'a [E820Entry],
}

/// Where [`load_multiboot`] put things, and how to start the CPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedMultiboot {
    /// CPU state: EAX = 0x2BADB002, EBX = [`MBI_ADDR`].
    pub entry: BootEntry,
    /// The header that drove loading.
    pub header: MultibootHeader,
    /// Lowest and highest-plus-one physical address of the kernel image
    /// including bss.
    pub kernel: LoadedRegion,
    /// The loaded modules, in order.
    pub modules: Vec<LoadedRegion>,
    /// Address of the information structure.
    pub mbi_addr: u32,
}

/// One piece of the kernel image to place in memory.
#[derive(Debug, Clone, Copy)]
struct Segment<'a> {
    /// Physical load address.
    addr: u64,
    /// Bytes copied from the file.
    data: &'a [u8],
    /// Total size in memory (the rest is zeroed).
    mem_size: u64,
}

/// Loads a Multiboot kernel (ELF32 or a.out kludge) with its modules.
///
/// When the header has the address fields (flag 16) they are used even if
/// the file is also ELF, as GRUB does; otherwise the file must be an
/// ELF32 i386 executable whose PT_LOAD segments are loaded at their
/// physical addresses. All inputs are validated before guest memory is
/// written.
///
/// # Errors
/// Header errors from [`find_multiboot_header`]; [`BootError::InvalidElf`],
/// [`BootError::ElfNotI386`], [`BootError::Truncated`],
/// [`BootError::MultibootAddress`] for a bad image;
/// [`BootError::SegmentOutsideRam`] / [`BootError::SegmentOverlapsBootData`]
/// for bad placement; [`BootError::InvalidMemoryMap`],
/// [`BootError::StringContainsNul`], [`BootError::BootDataTooLarge`].
pub fn load_multiboot<M: GuestMemory + ?Sized>(
    mem: &mut M,
    image: &[u8],
    opts: &MultibootOptions<'_>,
) -> Result<LoadedMultiboot, BootError> {
    let header = find_multiboot_header(image)?;
    validate_map(opts.e820, mem.size())?;
    let (segments, entry_point) = match header.aout {
        Some(a) => aout_segments(image, header.offset, &a)?,
        None => elf_segments(image)?,
    };

    // Strings first: they size the information block.
    if opts.cmdline.as_bytes().contains(&0) {
        return Err(BootError::StringContainsNul("kernel command line"));
    }
    if opts
        .modules
        .iter()
        .any(|m| m.cmdline.as_bytes().contains(&0))
    {
        return Err(BootError::StringContainsNul("module string"));
    }
    let mbi_len = mbi_size(opts);
    let available = u64::from(MBI_AREA_END - MBI_ADDR);
    if mbi_len > available {
        return Err(BootError::BootDataTooLarge {
            needed: mbi_len,
            available,
        });
    }
    let low_end = usable_region_containing(opts.e820, 0).map_or(0, |r| r.1);
    if low_end < u64::from(MBI_ADDR) + mbi_len {
        return Err(BootError::InvalidMemoryMap(
            "conventional memory is too small for the Multiboot information",
        ));
    }
    let boot_data = [
        (
            u64::from(BOOT_STACK_BOTTOM),
            u64::from(BOOT_GDT_ADDR) + (BOOT_GDT.len() * 8) as u64 - u64::from(BOOT_STACK_BOTTOM),
        ),
        (u64::from(MBI_ADDR), mbi_len),
    ];
    let check_placement = |addr: u64, size: u64| -> Result<(), BootError> {
        let inside = size == 0
            || usable_region_containing(opts.e820, addr).is_some_and(|(_, end)| addr + size <= end);
        if !inside {
            return Err(BootError::SegmentOutsideRam { addr, size });
        }
        if boot_data.iter().any(|&(b, l)| overlaps(addr, size, b, l)) {
            return Err(BootError::SegmentOverlapsBootData { addr, size });
        }
        Ok(())
    };
    for s in &segments {
        check_placement(s.addr, s.mem_size)?;
    }
    let kernel_start = segments.iter().map(|s| s.addr).min().unwrap_or(0);
    let kernel_end = segments
        .iter()
        .map(|s| s.addr + s.mem_size)
        .max()
        .unwrap_or(0);

    // Modules go page-aligned after the kernel.
    let mut modules = Vec::with_capacity(opts.modules.len());
    let mut next = align_up(kernel_end, PAGE);
    for m in opts.modules {
        let size = m.data.len() as u64;
        check_placement(next, size.max(1))?;
        modules.push(LoadedRegion {
            addr: next as u32,
            size: size as u32,
        });
        next = align_up(next + size, PAGE);
    }

    let framebuffer = header.video.is_some();
    let mbi = build_mbi(opts, &modules, framebuffer);

    // Validation done: write guest memory.
    write_boot_gdt(mem)?;
    for s in &segments {
        let addr = s.addr as u32;
        mem.write(addr, s.data)?;
        let bss = s.mem_size - s.data.len() as u64;
        mem.zero(addr + s.data.len() as u32, bss as u32)?;
    }
    for (m, r) in opts.modules.iter().zip(&modules) {
        mem.write(r.addr, m.data)?;
    }
    mem.write(MBI_ADDR, &mbi)?;

    let mut entry = BootEntry::flat(entry_point);
    entry.eax = MULTIBOOT_BOOTLOADER_MAGIC;
    entry.ebx = MBI_ADDR;
    Ok(LoadedMultiboot {
        entry,
        header,
        kernel: LoadedRegion {
            addr: kernel_start as u32,
            size: (kernel_end - kernel_start) as u32,
        },
        modules,
        mbi_addr: MBI_ADDR,
    })
}

/// The single segment described by the a.out-kludge address fields.
fn aout_segments<'a>(
    image: &'a [u8],
    header_offset: u32,
    a: &AoutAddresses,
) -> Result<(Vec<Segment<'a>>, u32), BootError> {
    if a.load_addr > a.header_addr {
        return Err(BootError::MultibootAddress(
            "load_addr is above header_addr",
        ));
    }
    let text_before_header = a.header_addr - a.load_addr;
    let file_off =
        header_offset
            .checked_sub(text_before_header)
            .ok_or(BootError::MultibootAddress(
                "load_addr lies before the start of the file",
            ))? as usize;
    let file_len = match a.load_end_addr {
        0 => (image.len() - file_off) as u64,
        end if end < a.load_addr => {
            return Err(BootError::MultibootAddress(
                "load_end_addr is below load_addr",
            ))
        }
        end => u64::from(end - a.load_addr),
    };
    let file_end = file_off as u64 + file_len;
    if file_end > image.len() as u64 {
        return Err(BootError::Truncated {
            what: "Multiboot load image (load_end_addr)",
            needed: file_end,
            actual: image.len() as u64,
        });
    }
    let load_end = u64::from(a.load_addr) + file_len;
    let mem_end = match a.bss_end_addr {
        0 => load_end,
        end if u64::from(end) < load_end => {
            return Err(BootError::MultibootAddress(
                "bss_end_addr is below load_end_addr",
            ))
        }
        end => u64::from(end),
    };
    if u64::from(a.entry_addr) < u64::from(a.load_addr) || u64::from(a.entry_addr) >= mem_end {
        return Err(BootError::MultibootAddress(
            "entry_addr is outside the loaded image",
        ));
    }
    let seg = Segment {
        addr: u64::from(a.load_addr),
        data: &image[file_off..file_end as usize],
        mem_size: mem_end - u64::from(a.load_addr),
    };
    Ok((vec![seg], a.entry_addr))
}

/// The PT_LOAD segments of an ELF32 i386 executable, and its entry point
/// translated to a physical address.
fn elf_segments(image: &[u8]) -> Result<(Vec<Segment<'_>>, u32), BootError> {
    if image.get(0..4) != Some(b"\x7fELF".as_slice()) {
        return Err(BootError::InvalidElf(
            "no ELF magic, and the Multiboot header has no address fields (flag 16)",
        ));
    }
    let truncated = |needed: u64| BootError::Truncated {
        what: "ELF header",
        needed,
        actual: image.len() as u64,
    };
    let class = image.get(4).copied().ok_or(truncated(5))?;
    let data = image.get(5).copied().ok_or(truncated(6))?;
    let machine = u16_at(image, 18).ok_or(truncated(20))?;
    if class != 1 || data != 1 || machine != 3 {
        return Err(BootError::ElfNotI386 {
            class,
            data,
            machine,
        });
    }
    if image.len() < 52 {
        return Err(truncated(52));
    }
    let r16 = |o| u16_at(image, o).unwrap_or(0);
    let r32 = |o| u32_at(image, o).unwrap_or(0);
    if r16(16) != 2 {
        return Err(BootError::InvalidElf(
            "not an executable (e_type != ET_EXEC)",
        ));
    }
    let e_entry = r32(24);
    let phoff = u64::from(r32(28));
    let phentsize = u64::from(r16(42));
    let phnum = u64::from(r16(44));
    if phnum == 0 {
        return Err(BootError::InvalidElf("no program headers"));
    }
    if phentsize < 32 {
        return Err(BootError::InvalidElf(
            "program header entries are too small",
        ));
    }
    let ph_end = phoff + phentsize * phnum;
    if ph_end > image.len() as u64 {
        return Err(BootError::Truncated {
            what: "ELF program headers",
            needed: ph_end,
            actual: image.len() as u64,
        });
    }
    let mut segments = Vec::new();
    let mut entry = e_entry;
    for i in 0..phnum {
        let ph = (phoff + i * phentsize) as usize;
        let p = |o: usize| r32(ph + o);
        let (p_type, offset, vaddr, paddr, filesz, memsz) = (p(0), p(4), p(8), p(12), p(16), p(20));
        if p_type != 1 || memsz == 0 {
            continue; // Only PT_LOAD occupies memory.
        }
        if filesz > memsz {
            return Err(BootError::InvalidElf("segment p_filesz exceeds p_memsz"));
        }
        let file_end = u64::from(offset) + u64::from(filesz);
        if file_end > image.len() as u64 {
            return Err(BootError::Truncated {
                what: "ELF segment data",
                needed: file_end,
                actual: image.len() as u64,
            });
        }
        // Higher-half kernels link at a virtual address but load at
        // p_paddr; translate an entry point inside this segment likewise.
        if vaddr <= e_entry && u64::from(e_entry) < u64::from(vaddr) + u64::from(memsz) {
            entry = e_entry.wrapping_sub(vaddr).wrapping_add(paddr);
        }
        segments.push(Segment {
            addr: u64::from(paddr),
            data: &image[offset as usize..file_end as usize],
            mem_size: u64::from(memsz),
        });
    }
    if segments.is_empty() {
        return Err(BootError::InvalidElf("no loadable (PT_LOAD) segments"));
    }
    let inside = segments
        .iter()
        .any(|s| s.addr <= u64::from(entry) && u64::from(entry) < s.addr + s.mem_size);
    if !inside {
        return Err(BootError::InvalidElf(
            "entry point is outside every loaded segment",
        ));
    }
    Ok((segments, entry))
}

/// Bytes needed at [`MBI_ADDR`] for the information structure, memory map,
/// module list and strings.
fn mbi_size(opts: &MultibootOptions<'_>) -> u64 {
    let strings: u64 = opts.cmdline.len() as u64
        + 1
        + BOOT_LOADER_NAME.len() as u64
        + 1
        + opts
            .modules
            .iter()
            .map(|m| m.cmdline.len() as u64 + 1)
            .sum::<u64>();
    (align_up(MBI_SIZE as u64, 8)
        + (opts.e820.len() * MMAP_ENTRY_SIZE) as u64
        + (opts.modules.len() * MODULE_ENTRY_SIZE) as u64)
        .saturating_add(strings)
}

/// Builds the information block that is copied to [`MBI_ADDR`].
fn build_mbi(opts: &MultibootOptions<'_>, modules: &[LoadedRegion], framebuffer: bool) -> Vec<u8> {
    let mmap_off = align_up(MBI_SIZE as u64, 8) as usize;
    let mods_off = mmap_off + opts.e820.len() * MMAP_ENTRY_SIZE;
    let strings_off = mods_off + modules.len() * MODULE_ENTRY_SIZE;
    let mut b = vec![0u8; strings_off];
    let addr_of = |off: usize| MBI_ADDR + off as u32;
    let push_str = |b: &mut Vec<u8>, s: &str| -> u32 {
        let at = addr_of(b.len());
        b.extend_from_slice(s.as_bytes());
        b.push(0);
        at
    };

    let mut flags = MBI_MEMORY | MBI_CMDLINE | MBI_MODS | MBI_MMAP | MBI_LOADER_NAME;
    // mem_lower / mem_upper in KiB, as INT 12h and E801h would report.
    let lower = usable_region_containing(opts.e820, 0).map_or(0, |r| r.1.min(640 << 10));
    let upper = usable_region_containing(opts.e820, 1 << 20).map_or(0, |r| r.1 - (1 << 20));
    put_u32(&mut b, 4, (lower / 1024) as u32);
    put_u32(&mut b, 8, (upper / 1024).min(u64::from(u32::MAX)) as u32);

    let cmdline = push_str(&mut b, opts.cmdline);
    put_u32(&mut b, 16, cmdline);
    put_u32(&mut b, 20, modules.len() as u32);
    put_u32(&mut b, 24, addr_of(mods_off));
    for (i, (m, r)) in opts.modules.iter().zip(modules).enumerate() {
        let s = push_str(&mut b, m.cmdline);
        let o = mods_off + i * MODULE_ENTRY_SIZE;
        put_u32(&mut b, o, r.addr);
        put_u32(&mut b, o + 4, r.addr + r.size);
        put_u32(&mut b, o + 8, s);
    }
    put_u32(&mut b, 44, (opts.e820.len() * MMAP_ENTRY_SIZE) as u32);
    put_u32(&mut b, 48, addr_of(mmap_off));
    for (i, e) in opts.e820.iter().enumerate() {
        let o = mmap_off + i * MMAP_ENTRY_SIZE;
        put_u32(&mut b, o, 20);
        put_u64(&mut b, o + 4, e.addr);
        put_u64(&mut b, o + 12, e.size);
        put_u32(&mut b, o + 20, e.kind as u32);
    }
    let name = push_str(&mut b, BOOT_LOADER_NAME);
    put_u32(&mut b, 64, name);
    if framebuffer {
        // EGA text 80x25 at 0xB8000: the only mode the board offers.
        flags |= MBI_FRAMEBUFFER;
        put_u64(&mut b, 88, 0xB8000);
        put_u32(&mut b, 96, 160);
        put_u32(&mut b, 100, 80);
        put_u32(&mut b, 104, 25);
        b[108] = 16;
        b[109] = 2;
    }
    put_u32(&mut b, 0, flags);
    b
}

//! Linux x86 boot protocol, 32-bit entry (Documentation/arch/x86/boot.rst).
//!
//! The loader skips the kernel's real-mode setup code entirely: it parses
//! the bzImage setup header, puts the protected-mode kernel at 1 MiB, the
//! initrd as high as the kernel allows, the command line and a filled-in
//! `boot_params` ("zero page") below 1 MiB, and returns the CPU state for
//! jumping to `code32_start` with ESI pointing at `boot_params`. This is
//! what the real-mode setup would have done after querying the BIOS, so no
//! BIOS services are needed to boot.

use crate::e820::{usable_region_containing, validate_map, E820Entry, HIGH_MEMORY_START};
use crate::entry::{write_boot_gdt, BootEntry};
use crate::le::{align_down, align_up, put_u16, put_u32, put_u64, u16_at, u32_at, u64_at, u8_at};
use crate::{BootError, GuestMemory, LoadedRegion};

/// Guest physical address of the `boot_params` page.
pub const BOOT_PARAMS_ADDR: u32 = 0x1_0000;
/// Size of `boot_params`.
pub const BOOT_PARAMS_SIZE: usize = 4096;
/// Guest physical address of the kernel command line.
pub const CMDLINE_ADDR: u32 = 0x2_0000;
/// Bytes reserved for the command line including its NUL (0x20000–0x30000).
pub const CMDLINE_AREA_SIZE: u32 = 0x1_0000;
/// Where the protected-mode kernel is loaded and entered (`code32_start`).
pub const KERNEL_LOAD_ADDR: u32 = HIGH_MEMORY_START;
/// Oldest supported boot protocol (2.06: `cmdline_size` exists).
pub const MIN_PROTOCOL_VERSION: u16 = 0x0206;
/// `type_of_loader` value written: 0xFF, "undefined" boot loader.
pub const LOADER_TYPE: u8 = 0xFF;

/// `loadflags` bit: the protected-mode code is loaded at 0x100000.
pub const LOADED_HIGH: u8 = 1 << 0;
/// `loadflags` bit: `heap_end_ptr` is valid.
pub const CAN_USE_HEAP: u8 = 1 << 7;

/// Default `initrd_addr_max` for kernels whose header predates the field.
const DEFAULT_INITRD_ADDR_MAX: u32 = 0x37FF_FFFF;
/// Page size used to align the initrd.
const PAGE: u64 = 4096;
/// Value of the `heap_end_ptr` field: end of a setup heap at 0xFE00 minus
/// the 0x200 the protocol asks to subtract. Only the real-mode setup uses
/// it, but filling it in matches what a real loader leaves behind.
const HEAP_END_PTR: u16 = 0xFE00 - 0x200;
/// End of the setup header area inside `boot_params` (`_pad7` follows).
const SETUP_HEADER_LIMIT: usize = 0x290;

// Offsets inside the bzImage / boot_params.
const OFF_SETUP_SECTS: usize = 0x1F1;
const OFF_ROOT_FLAGS: usize = 0x1F2;
const OFF_SYSSIZE: usize = 0x1F4;
const OFF_VID_MODE: usize = 0x1FA;
const OFF_ROOT_DEV: usize = 0x1FC;
const OFF_BOOT_FLAG: usize = 0x1FE;
const OFF_JUMP: usize = 0x200;
const OFF_HEADER: usize = 0x202;
const OFF_VERSION: usize = 0x206;
const OFF_KERNEL_VERSION: usize = 0x20E;
const OFF_TYPE_OF_LOADER: usize = 0x210;
const OFF_LOADFLAGS: usize = 0x211;
const OFF_CODE32_START: usize = 0x214;
const OFF_RAMDISK_IMAGE: usize = 0x218;
const OFF_RAMDISK_SIZE: usize = 0x21C;
const OFF_HEAP_END_PTR: usize = 0x224;
const OFF_CMD_LINE_PTR: usize = 0x228;
const OFF_INITRD_ADDR_MAX: usize = 0x22C;
const OFF_KERNEL_ALIGNMENT: usize = 0x230;
const OFF_RELOCATABLE: usize = 0x234;
const OFF_MIN_ALIGNMENT: usize = 0x235;
const OFF_XLOADFLAGS: usize = 0x236;
const OFF_CMDLINE_SIZE: usize = 0x238;
const OFF_HARDWARE_SUBARCH: usize = 0x23C;
const OFF_SETUP_DATA: usize = 0x250;
const OFF_PREF_ADDRESS: usize = 0x258;
const OFF_INIT_SIZE: usize = 0x260;
// boot_params fields outside the setup header.
const BP_EXT_MEM_K: usize = 0x002;
const BP_ORIG_VIDEO_MODE: usize = 0x006;
const BP_ORIG_VIDEO_COLS: usize = 0x007;
const BP_ORIG_VIDEO_LINES: usize = 0x00E;
const BP_ORIG_VIDEO_IS_VGA: usize = 0x00F;
const BP_ORIG_VIDEO_POINTS: usize = 0x010;
const BP_ALT_MEM_K: usize = 0x1E0;
const BP_E820_ENTRIES: usize = 0x1E8;
const BP_E820_TABLE: usize = 0x2D0;

/// The fields of a bzImage setup header the loader uses, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupHeader {
    /// Size of the real-mode setup in 512-byte sectors (0 already mapped
    /// to 4), not counting the boot sector.
    pub setup_sects: u8,
    /// `root_flags`.
    pub root_flags: u16,
    /// Size of the protected-mode code in 16-byte paragraphs.
    pub syssize: u32,
    /// `vid_mode`.
    pub vid_mode: u16,
    /// `root_dev`.
    pub root_dev: u16,
    /// Boot protocol version as 0xMMmm (0x020F = 2.15).
    pub version: u16,
    /// Offset of the kernel version string, minus 0x200 (0 = none).
    pub kernel_version_offset: u16,
    /// `loadflags`.
    pub loadflags: u8,
    /// `code32_start`.
    pub code32_start: u32,
    /// Highest address the initrd may occupy (inclusive).
    pub initrd_addr_max: u32,
    /// Alignment the kernel wants when relocated.
    pub kernel_alignment: u32,
    /// Whether the kernel is relocatable.
    pub relocatable_kernel: bool,
    /// log2 of the minimum alignment (protocol 2.10+, else 0).
    pub min_alignment: u8,
    /// `xloadflags` (protocol 2.12+, else 0).
    pub xloadflags: u16,
    /// Maximum command line length without the NUL.
    pub cmdline_size: u32,
    /// Preferred load address (protocol 2.10+, else 0).
    pub pref_address: u64,
    /// Memory needed from the runtime start address to decompress and
    /// start the kernel (protocol 2.10+, else 0).
    pub init_size: u32,
    /// File offset one past the end of the setup header
    /// (0x202 + the byte at 0x201).
    pub header_end: usize,
}

impl SetupHeader {
    /// Bytes of real-mode code (boot sector + setup) preceding the
    /// protected-mode kernel in the file.
    pub fn setup_size(&self) -> usize {
        (usize::from(self.setup_sects) + 1) * 512
    }
}

/// A validated bzImage split into its parts.
#[derive(Debug, Clone)]
pub struct BzImage<'a> {
    /// The decoded setup header.
    pub header: SetupHeader,
    /// The boot sector and real-mode setup code.
    pub setup: &'a [u8],
    /// The protected-mode kernel (everything after the setup code).
    pub kernel: &'a [u8],
}

impl<'a> BzImage<'a> {
    /// Parses and validates a bzImage: "HdrS" at 0x202, boot flag 0xAA55,
    /// protocol >= 2.06, LOADED_HIGH set, and a file long enough for
    /// `setup_sects` and `syssize`.
    ///
    /// # Errors
    /// [`BootError::NotBzImage`], [`BootError::ProtocolTooOld`] or
    /// [`BootError::Truncated`].
    pub fn parse(image: &'a [u8]) -> Result<Self, BootError> {
        let len = image.len() as u64;
        if image.len() < OFF_HEADER + 4 {
            return Err(BootError::NotBzImage(
                "file is too small to contain a setup header",
            ));
        }
        if &image[OFF_HEADER..OFF_HEADER + 4] != b"HdrS" {
            return Err(BootError::NotBzImage(
                "no \"HdrS\" signature at offset 0x202",
            ));
        }
        if u16_at(image, OFF_BOOT_FLAG) != Some(0xAA55) {
            return Err(BootError::NotBzImage("boot flag at 0x1FE is not 0xAA55"));
        }
        let version = u16_at(image, OFF_VERSION).ok_or(BootError::Truncated {
            what: "setup header",
            needed: (OFF_VERSION + 2) as u64,
            actual: len,
        })?;
        if version < MIN_PROTOCOL_VERSION {
            return Err(BootError::ProtocolTooOld {
                version,
                minimum: MIN_PROTOCOL_VERSION,
            });
        }
        let header_end = OFF_HEADER + usize::from(u8_at(image, OFF_JUMP + 1).unwrap_or(0));
        // Fields this loader reads for the claimed protocol version.
        let fields_end = if version >= 0x020A {
            OFF_INIT_SIZE + 4
        } else {
            OFF_CMDLINE_SIZE + 4
        };
        if header_end < fields_end {
            return Err(BootError::NotBzImage(
                "setup header is shorter than its protocol version requires",
            ));
        }
        if image.len() < header_end {
            return Err(BootError::Truncated {
                what: "setup header",
                needed: header_end as u64,
                actual: len,
            });
        }
        // From here every fixed-offset read is inside `image`.
        let rd8 = |o| u8_at(image, o).unwrap_or(0);
        let rd16 = |o| u16_at(image, o).unwrap_or(0);
        let rd32 = |o| u32_at(image, o).unwrap_or(0);
        let loadflags = rd8(OFF_LOADFLAGS);
        if loadflags & LOADED_HIGH == 0 {
            return Err(BootError::NotBzImage(
                "zImage kernels (LOADED_HIGH clear) are not supported",
            ));
        }
        let setup_sects = match rd8(OFF_SETUP_SECTS) {
            0 => 4,
            n => n,
        };
        let syssize = rd32(OFF_SYSSIZE);
        if syssize == 0 {
            return Err(BootError::NotBzImage(
                "syssize is zero (no protected-mode kernel)",
            ));
        }
        let v210 = version >= 0x020A;
        let header = SetupHeader {
            setup_sects,
            root_flags: rd16(OFF_ROOT_FLAGS),
            syssize,
            vid_mode: rd16(OFF_VID_MODE),
            root_dev: rd16(OFF_ROOT_DEV),
            version,
            kernel_version_offset: rd16(OFF_KERNEL_VERSION),
            loadflags,
            code32_start: rd32(OFF_CODE32_START),
            initrd_addr_max: match rd32(OFF_INITRD_ADDR_MAX) {
                0 => DEFAULT_INITRD_ADDR_MAX,
                v => v,
            },
            kernel_alignment: rd32(OFF_KERNEL_ALIGNMENT),
            relocatable_kernel: rd8(OFF_RELOCATABLE) != 0,
            min_alignment: if v210 { rd8(OFF_MIN_ALIGNMENT) } else { 0 },
            xloadflags: if version >= 0x020C {
                rd16(OFF_XLOADFLAGS)
            } else {
                0
            },
            cmdline_size: rd32(OFF_CMDLINE_SIZE),
            pref_address: if v210 {
                u64_at(image, OFF_PREF_ADDRESS).unwrap_or(0)
            } else {
                0
            },
            init_size: if v210 { rd32(OFF_INIT_SIZE) } else { 0 },
            header_end,
        };
        let setup_size = header.setup_size();
        if image.len() < setup_size {
            return Err(BootError::Truncated {
                what: "real-mode setup code (setup_sects)",
                needed: setup_size as u64,
                actual: len,
            });
        }
        let needed = setup_size as u64 + u64::from(syssize) * 16;
        if len < needed {
            return Err(BootError::Truncated {
                what: "protected-mode kernel (syssize)",
                needed,
                actual: len,
            });
        }
        let (setup, kernel) = image.split_at(setup_size);
        Ok(Self {
            header,
            setup,
            kernel,
        })
    }

    /// The kernel's version string (e.g. "6.1.0-50-686 (debian-kernel@…)
    /// #1 SMP …"), if the header points at a valid one.
    pub fn kernel_version(&self) -> Option<&'a str> {
        let off = self.header.kernel_version_offset;
        if off == 0 {
            return None;
        }
        let start = 0x200 + usize::from(off);
        let rest = self.setup.get(start..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        std::str::from_utf8(&rest[..end]).ok()
    }

    /// First byte past all memory the kernel touches before it reads the
    /// memory map, when loaded at [`KERNEL_LOAD_ADDR`]: the loaded image
    /// itself plus `init_size` bytes from where the decompressor runs. A
    /// relocatable kernel runs at max(load address rounded up to
    /// `kernel_alignment`, `pref_address`); a fixed one at `pref_address`
    /// (see arch/x86/boot/compressed/head_32.S). Protocols before 2.10 give
    /// no `init_size`, so four times the compressed size is assumed.
    pub fn footprint_end(&self) -> u64 {
        let load = u64::from(KERNEL_LOAD_ADDR);
        let loaded_end = load + self.kernel.len() as u64;
        let h = &self.header;
        let (run_start, init_size) = if h.version >= 0x020A && h.init_size != 0 {
            let start = if h.relocatable_kernel {
                align_up(load, u64::from(h.kernel_alignment)).max(h.pref_address)
            } else {
                h.pref_address.max(load)
            };
            (start, u64::from(h.init_size))
        } else {
            (load, self.kernel.len() as u64 * 4)
        };
        loaded_end.max(run_start.saturating_add(init_size))
    }
}

/// What the kernel is told about the display in `boot_params.screen_info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinuxVideo {
    /// CGA-style 80x25 colour text mode 3 at 0xB8000 (`orig_video_isVGA` =
    /// 0, so no VGA register probing): the kernel's VGA console writes text
    /// there, while the serial console remains the primary one.
    #[default]
    Text80x25,
    /// No display: zero rows/columns make the kernel use its dummy console
    /// and never touch VGA memory or ports.
    Headless,
}

/// Everything besides the kernel image that [`load_linux`] needs.
#[derive(Debug, Clone, Copy)]
pub struct LinuxBootOptions<'a> {
    /// Kernel command line (no NUL bytes).
    pub cmdline: &'a str,
    /// Initial ramdisk contents, if any.
    pub initrd: Option<&'a [u8]>,
    /// The board's memory map (see [`pc_e820_map`](crate::pc_e820_map)).
    pub e820: &'a [E820Entry],
    /// Display description for `screen_info`.
    pub video: LinuxVideo,
}

impl<'a> LinuxBootOptions<'a> {
    /// Options with a command line and memory map, no initrd, default video.
    pub fn new(cmdline: &'a str, e820: &'a [E820Entry]) -> Self {
        Self {
            cmdline,
            initrd: None,
            e820,
            video: LinuxVideo::default(),
        }
    }

    /// Adds an initrd.
    pub fn with_initrd(mut self, initrd: &'a [u8]) -> Self {
        self.initrd = Some(initrd);
        self
    }

    /// Selects the `screen_info` contents.
    pub fn with_video(mut self, video: LinuxVideo) -> Self {
        self.video = video;
        self
    }
}

/// Where [`load_linux`] put things, and how to start the CPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedLinux {
    /// CPU state for the 32-bit entry: EIP = 0x100000, ESI = boot_params.
    pub entry: BootEntry,
    /// The parsed setup header.
    pub header: SetupHeader,
    /// The protected-mode kernel as copied to guest memory.
    pub kernel: LoadedRegion,
    /// First byte past the memory the kernel needs to start
    /// ([`BzImage::footprint_end`]).
    pub kernel_footprint_end: u64,
    /// The initrd, if one was given (and non-empty).
    pub initrd: Option<LoadedRegion>,
    /// The NUL-terminated command line.
    pub cmdline: LoadedRegion,
    /// Address of `boot_params`.
    pub boot_params_addr: u32,
}

/// Loads a bzImage for the Linux 32-bit boot protocol.
///
/// Writes the boot GDT, `boot_params` at [`BOOT_PARAMS_ADDR`], the command
/// line at [`CMDLINE_ADDR`], the protected-mode kernel at
/// [`KERNEL_LOAD_ADDR`] and the initrd at the highest page-aligned address
/// below min(`initrd_addr_max` + 1, end of the RAM region at 1 MiB) that
/// stays clear of the kernel's footprint. All inputs are validated before
/// guest memory is touched.
///
/// # Errors
/// Image errors from [`BzImage::parse`]; [`BootError::InvalidMemoryMap`]
/// if the map does not match `mem` or lacks low/high RAM;
/// [`BootError::CmdlineTooLong`] / [`BootError::StringContainsNul`];
/// [`BootError::KernelTooLarge`]; [`BootError::InitrdTooLarge`].
pub fn load_linux<M: GuestMemory + ?Sized>(
    mem: &mut M,
    image: &[u8],
    opts: &LinuxBootOptions<'_>,
) -> Result<LoadedLinux, BootError> {
    let bz = BzImage::parse(image)?;
    let h = &bz.header;
    validate_map(opts.e820, mem.size())?;

    // Boot data lives in conventional memory: GDT/stack, zero page, cmdline.
    let low_end = usable_region_containing(opts.e820, 0).map_or(0, |r| r.1);
    if low_end < u64::from(CMDLINE_ADDR + CMDLINE_AREA_SIZE) {
        return Err(BootError::InvalidMemoryMap(
            "conventional memory below 0x30000 is needed for boot data",
        ));
    }
    let (_, ram_end) = usable_region_containing(opts.e820, u64::from(KERNEL_LOAD_ADDR))
        .ok_or(BootError::InvalidMemoryMap("no usable RAM at 1 MiB"))?;

    let cmdline = opts.cmdline.as_bytes();
    if cmdline.contains(&0) {
        return Err(BootError::StringContainsNul("kernel command line"));
    }
    let max_cmdline = h.cmdline_size.min(CMDLINE_AREA_SIZE - 1);
    if cmdline.len() as u64 > u64::from(max_cmdline) {
        return Err(BootError::CmdlineTooLong {
            len: cmdline.len() as u64,
            max: u64::from(max_cmdline),
        });
    }

    let footprint_end = bz.footprint_end();
    if footprint_end > ram_end {
        return Err(BootError::KernelTooLarge {
            needed_end: footprint_end,
            ram_end,
        });
    }

    let initrd = match opts.initrd {
        Some(data) if !data.is_empty() => {
            let size = data.len() as u64;
            let top = (u64::from(h.initrd_addr_max) + 1).min(ram_end);
            let bottom = align_up(footprint_end, PAGE);
            let available = top.saturating_sub(bottom);
            if size > available {
                return Err(BootError::InitrdTooLarge { size, available });
            }
            // top - size >= bottom, and bottom is page aligned, so the
            // rounded-down address is still above the kernel.
            let addr = align_down(top - size, PAGE);
            Some((addr as u32, data))
        }
        _ => None,
    };

    let ext_kb = (ram_end - u64::from(HIGH_MEMORY_START)) / 1024;
    let boot_params = build_boot_params(image, h, opts, ext_kb, initrd.map(|(a, d)| (a, d.len())));

    // Validation done: write guest memory.
    write_boot_gdt(mem)?;
    mem.write(BOOT_PARAMS_ADDR, &boot_params)?;
    mem.write(CMDLINE_ADDR, cmdline)?;
    mem.write(CMDLINE_ADDR + cmdline.len() as u32, &[0])?;
    mem.write(KERNEL_LOAD_ADDR, bz.kernel)?;
    if let Some((addr, data)) = initrd {
        mem.write(addr, data)?;
    }

    let mut entry = BootEntry::flat(KERNEL_LOAD_ADDR);
    entry.esi = BOOT_PARAMS_ADDR;
    Ok(LoadedLinux {
        entry,
        header: h.clone(),
        kernel: LoadedRegion {
            addr: KERNEL_LOAD_ADDR,
            size: bz.kernel.len() as u32,
        },
        kernel_footprint_end: footprint_end,
        initrd: initrd.map(|(addr, d)| LoadedRegion {
            addr,
            size: d.len() as u32,
        }),
        cmdline: LoadedRegion {
            addr: CMDLINE_ADDR,
            size: cmdline.len() as u32 + 1,
        },
        boot_params_addr: BOOT_PARAMS_ADDR,
    })
}

/// Builds the zero page: the kernel's own setup header with the loader's
/// fields filled in, screen_info, memory sizes and the e820 table.
fn build_boot_params(
    image: &[u8],
    h: &SetupHeader,
    opts: &LinuxBootOptions<'_>,
    ext_kb: u64,
    initrd: Option<(u32, usize)>,
) -> Vec<u8> {
    let mut bp = vec![0u8; BOOT_PARAMS_SIZE];

    // screen_info.
    if opts.video == LinuxVideo::Text80x25 {
        bp[BP_ORIG_VIDEO_MODE] = 3;
        bp[BP_ORIG_VIDEO_COLS] = 80;
        bp[BP_ORIG_VIDEO_LINES] = 25;
        bp[BP_ORIG_VIDEO_IS_VGA] = 0;
        put_u16(&mut bp, BP_ORIG_VIDEO_POINTS, 16);
    }
    // Extended memory sizes as INT 15h AH=88h / E801h would report them.
    put_u16(&mut bp, BP_EXT_MEM_K, ext_kb.min(0xFC00) as u16);
    put_u32(
        &mut bp,
        BP_ALT_MEM_K,
        ext_kb.min(u64::from(u32::MAX)) as u32,
    );
    // e820 table (validate_map bounded it to 128 entries).
    bp[BP_E820_ENTRIES] = opts.e820.len() as u8;
    for (i, e) in opts.e820.iter().enumerate() {
        let off = BP_E820_TABLE + i * E820Entry::ENCODED_SIZE;
        bp[off..off + E820Entry::ENCODED_SIZE].copy_from_slice(&e.to_bytes());
    }

    // The setup header, copied as the protocol asks, then our fields.
    let hdr_end = h.header_end.min(SETUP_HEADER_LIMIT);
    bp[OFF_SETUP_SECTS..hdr_end].copy_from_slice(&image[OFF_SETUP_SECTS..hdr_end]);
    bp[OFF_SETUP_SECTS] = h.setup_sects;
    bp[OFF_TYPE_OF_LOADER] = LOADER_TYPE;
    bp[OFF_LOADFLAGS] = h.loadflags | CAN_USE_HEAP;
    put_u32(&mut bp, OFF_CODE32_START, KERNEL_LOAD_ADDR);
    let (rd_addr, rd_size) = initrd.unwrap_or((0, 0));
    put_u32(&mut bp, OFF_RAMDISK_IMAGE, rd_addr);
    put_u32(&mut bp, OFF_RAMDISK_SIZE, rd_size as u32);
    put_u16(&mut bp, OFF_HEAP_END_PTR, HEAP_END_PTR);
    put_u32(&mut bp, OFF_CMD_LINE_PTR, CMDLINE_ADDR);
    put_u32(&mut bp, OFF_HARDWARE_SUBARCH, 0);
    put_u64(&mut bp, OFF_SETUP_DATA, 0);
    bp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pc_e820_map;

    /// A minimal valid protocol 2.15 bzImage with `payload` as its
    /// protected-mode kernel.
    pub(crate) fn fake_bzimage(payload: &[u8]) -> Vec<u8> {
        let setup_sects = 3u8;
        let mut img = vec![0u8; (usize::from(setup_sects) + 1) * 512];
        img[OFF_SETUP_SECTS] = setup_sects;
        put_u16(&mut img, OFF_ROOT_FLAGS, 1);
        put_u32(&mut img, OFF_SYSSIZE, payload.len().div_ceil(16) as u32);
        put_u16(&mut img, OFF_VID_MODE, 0xFFFF);
        put_u16(&mut img, OFF_BOOT_FLAG, 0xAA55);
        img[OFF_JUMP] = 0xEB;
        img[OFF_JUMP + 1] = 0x6A;
        img[OFF_HEADER..OFF_HEADER + 4].copy_from_slice(b"HdrS");
        put_u16(&mut img, OFF_VERSION, 0x020F);
        put_u16(&mut img, OFF_KERNEL_VERSION, 0x300);
        img[0x500..0x50C].copy_from_slice(b"6.1.0-fake \0");
        img[OFF_LOADFLAGS] = LOADED_HIGH;
        put_u32(&mut img, OFF_CODE32_START, 0x100000);
        put_u32(&mut img, OFF_INITRD_ADDR_MAX, 0x37FF_FFFF);
        put_u32(&mut img, OFF_KERNEL_ALIGNMENT, 0x2000);
        img[OFF_RELOCATABLE] = 1;
        img[OFF_MIN_ALIGNMENT] = 13;
        put_u16(&mut img, OFF_XLOADFLAGS, 0);
        put_u32(&mut img, OFF_CMDLINE_SIZE, 2047);
        put_u64(&mut img, OFF_PREF_ADDRESS, 0x100_0000);
        put_u32(&mut img, OFF_INIT_SIZE, 0x80_0000);
        img.extend_from_slice(payload);
        // syssize counts whole paragraphs.
        img.resize(img.len().next_multiple_of(16), 0);
        img
    }

    fn payload() -> Vec<u8> {
        (0..10_000u32).map(|i| (i * 7 + 3) as u8).collect()
    }

    #[test]
    fn parse_header_fields() {
        let img = fake_bzimage(&payload());
        let bz = BzImage::parse(&img).unwrap();
        let h = &bz.header;
        assert_eq!(h.setup_sects, 3);
        assert_eq!(h.setup_size(), 2048);
        assert_eq!(h.version, 0x020F);
        assert_eq!(h.syssize, 625);
        assert_eq!(h.cmdline_size, 2047);
        assert_eq!(h.initrd_addr_max, 0x37FF_FFFF);
        assert_eq!(h.pref_address, 0x100_0000);
        assert_eq!(h.init_size, 0x80_0000);
        assert!(h.relocatable_kernel);
        assert_eq!(h.header_end, 0x26C);
        assert_eq!(bz.kernel.len(), 10_000);
        assert_eq!(bz.kernel_version(), Some("6.1.0-fake "));
        // Relocatable: runs at pref_address (16 MiB) for init_size.
        assert_eq!(bz.footprint_end(), 0x180_0000);
    }

    #[test]
    fn setup_sects_zero_means_four() {
        let mut img = fake_bzimage(&payload());
        img[OFF_SETUP_SECTS] = 0;
        // The kernel now starts at 5 * 512 instead of 4 * 512.
        img.splice(2048..2048, [0u8; 512]);
        let bz = BzImage::parse(&img).unwrap();
        assert_eq!(bz.header.setup_sects, 4);
        assert_eq!(bz.kernel, &payload()[..]);
        // syssize says 10000 bytes, which no longer fit.
        img.truncate(img.len() - 512);
        assert!(matches!(
            BzImage::parse(&img),
            Err(BootError::Truncated { .. })
        ));
    }

    #[test]
    fn load_writes_every_field() {
        let ram_size = 64u32 << 20;
        let map = pc_e820_map(ram_size).unwrap();
        let img = fake_bzimage(&payload());
        let initrd: Vec<u8> = (0..5000u32).map(|i| i as u8 ^ 0x5A).collect();
        let mut ram = vec![0u8; ram_size as usize];
        let cmdline = "console=ttyS0 root=/dev/vda";
        let opts = LinuxBootOptions::new(cmdline, &map).with_initrd(&initrd);
        let l = load_linux(&mut ram, &img, &opts).unwrap();

        // Entry state.
        assert_eq!(l.entry.eip, 0x100000);
        assert_eq!(l.entry.esi, 0x10000);
        assert_eq!((l.entry.ebp, l.entry.edi, l.entry.ebx), (0, 0, 0));
        assert!(!l.entry.interrupts_enabled() && !l.entry.paging_enabled());
        assert_eq!(l.entry.cs.selector, 0x10);
        for s in [l.entry.ds, l.entry.es, l.entry.ss] {
            assert_eq!(s.selector, 0x18);
        }
        assert_eq!(
            &ram[0x6010..0x6018],
            &0x00CF_9B00_0000_FFFFu64.to_le_bytes()
        );
        assert_eq!(
            &ram[0x6018..0x6020],
            &0x00CF_9300_0000_FFFFu64.to_le_bytes()
        );

        // Kernel at 1 MiB.
        assert_eq!(&ram[0x100000..0x100000 + 10_000], &payload()[..]);
        assert_eq!(
            l.kernel,
            LoadedRegion {
                addr: 0x100000,
                size: 10_000
            }
        );

        // Initrd: highest page-aligned spot below the end of RAM.
        let rd = l.initrd.unwrap();
        assert_eq!(rd.addr, (ram_size - 8192) & !0xFFF);
        assert_eq!(rd.addr % 4096, 0);
        assert_eq!(&ram[rd.addr as usize..rd.addr as usize + 5000], &initrd[..]);

        // Command line.
        assert_eq!(&ram[0x20000..0x20000 + cmdline.len()], cmdline.as_bytes());
        assert_eq!(ram[0x20000 + cmdline.len()], 0);
        assert_eq!(l.cmdline.size as usize, cmdline.len() + 1);

        // boot_params.
        let bp = &ram[0x10000..0x11000];
        let r16 = |o| u16_at(bp, o).unwrap();
        let r32 = |o| u32_at(bp, o).unwrap();
        assert_eq!(&bp[0x1F1..0x202], &img[0x1F1..0x202]);
        assert_eq!(&bp[0x202..0x206], b"HdrS");
        assert_eq!(r16(0x1FE), 0xAA55);
        assert_eq!(r16(0x206), 0x020F);
        assert_eq!(bp[0x210], 0xFF, "type_of_loader");
        assert_eq!(bp[0x211], LOADED_HIGH | CAN_USE_HEAP, "loadflags");
        assert_eq!(r32(0x214), 0x100000, "code32_start");
        assert_eq!(r32(0x218), rd.addr, "ramdisk_image");
        assert_eq!(r32(0x21C), 5000, "ramdisk_size");
        assert_eq!(r16(0x224), 0xFC00, "heap_end_ptr");
        assert_eq!(r32(0x228), 0x20000, "cmd_line_ptr");
        assert_eq!(r32(0x238), 2047, "cmdline_size kept");
        assert_eq!(r32(0x260), 0x80_0000, "init_size kept");
        assert_eq!(
            &bp[0x26C..0x290],
            &[0u8; 0x24][..],
            "nothing past the header"
        );
        // screen_info: 80x25 text, not VGA.
        assert_eq!((bp[0x06], bp[0x07], bp[0x0E], bp[0x0F]), (3, 80, 25, 0));
        assert_eq!(r16(0x10), 16);
        // Memory sizes: 63 MiB above 1 MiB.
        assert_eq!(r16(0x02), 0xFC00, "ext_mem_k capped");
        assert_eq!(r32(0x1E0), 63 * 1024, "alt_mem_k");
        // e820.
        assert_eq!(bp[0x1E8] as usize, map.len());
        for (i, e) in map.iter().enumerate() {
            let o = 0x2D0 + 20 * i;
            assert_eq!(&bp[o..o + 20], &e.to_bytes());
        }
        assert_eq!(
            &bp[0x2D0 + 20 * map.len()..0x2D0 + 20 * map.len() + 20],
            &[0; 20]
        );
    }

    #[test]
    fn headless_and_no_initrd() {
        let map = pc_e820_map(32 << 20).unwrap();
        let img = fake_bzimage(&payload());
        let mut ram = vec![0u8; 32 << 20];
        let opts = LinuxBootOptions::new("", &map)
            .with_video(LinuxVideo::Headless)
            .with_initrd(&[]);
        let l = load_linux(&mut ram, &img, &opts).unwrap();
        assert_eq!(l.initrd, None);
        let bp = &ram[0x10000..0x11000];
        assert_eq!(
            &bp[0..0x12],
            &[0, 0, 0x00, 0x7C, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(u32_at(bp, 0x218), Some(0));
        assert_eq!(u32_at(bp, 0x21C), Some(0));
        assert_eq!(ram[0x20000], 0);
    }

    #[test]
    fn initrd_respects_addr_max_and_kernel() {
        let map = pc_e820_map(128 << 20).unwrap();
        let mut img = fake_bzimage(&payload());
        put_u32(&mut img, OFF_INITRD_ADDR_MAX, 0x3FF_FFFF); // 64 MiB
        let mut ram = vec![0u8; 128 << 20];
        let initrd = vec![1u8; 4097];
        let opts = LinuxBootOptions::new("x", &map).with_initrd(&initrd);
        let l = load_linux(&mut ram, &img, &opts).unwrap();
        assert_eq!(l.initrd.unwrap().addr, 0x400_0000 - 8192);

        // Exactly fills the space between the footprint (24 MiB) and 64 MiB.
        let big = vec![2u8; 40 << 20];
        let opts = LinuxBootOptions::new("x", &map).with_initrd(&big);
        let l = load_linux(&mut ram, &img, &opts).unwrap();
        assert_eq!(l.initrd.unwrap().addr, 0x180_0000);
        let bigger = vec![2u8; (40 << 20) + 1];
        let opts = LinuxBootOptions::new("x", &map).with_initrd(&bigger);
        assert_eq!(
            load_linux(&mut ram, &img, &opts),
            Err(BootError::InitrdTooLarge {
                size: (40 << 20) + 1,
                available: 40 << 20
            })
        );
    }

    #[test]
    fn errors_do_not_touch_memory() {
        let map = pc_e820_map(16 << 20).unwrap();
        let img = fake_bzimage(&payload());
        let mut ram = vec![0u8; 16 << 20];
        // 16 MiB RAM cannot hold a footprint ending at 24 MiB.
        let opts = LinuxBootOptions::new("", &map);
        assert_eq!(
            load_linux(&mut ram, &img, &opts),
            Err(BootError::KernelTooLarge {
                needed_end: 0x180_0000,
                ram_end: 16 << 20
            })
        );
        assert!(ram.iter().all(|&b| b == 0));
    }

    #[test]
    fn cmdline_limits() {
        let map = pc_e820_map(64 << 20).unwrap();
        let img = fake_bzimage(&payload());
        let mut ram = vec![0u8; 64 << 20];
        let ok = "a".repeat(2047);
        load_linux(&mut ram, &img, &LinuxBootOptions::new(&ok, &map)).unwrap();
        let long = "a".repeat(2048);
        assert_eq!(
            load_linux(&mut ram, &img, &LinuxBootOptions::new(&long, &map)),
            Err(BootError::CmdlineTooLong {
                len: 2048,
                max: 2047
            })
        );
        assert_eq!(
            load_linux(&mut ram, &img, &LinuxBootOptions::new("a\0b", &map)),
            Err(BootError::StringContainsNul("kernel command line"))
        );
    }

    #[test]
    fn bad_images() {
        let good = fake_bzimage(&payload());
        assert!(matches!(BzImage::parse(&[]), Err(BootError::NotBzImage(_))));
        assert!(matches!(
            BzImage::parse(&vec![0xFFu8; 8192]),
            Err(BootError::NotBzImage(_))
        ));
        let mut img = good.clone();
        img[0x202] = b'X';
        assert!(matches!(
            BzImage::parse(&img),
            Err(BootError::NotBzImage(_))
        ));
        let mut img = good.clone();
        put_u16(&mut img, OFF_BOOT_FLAG, 0);
        assert!(matches!(
            BzImage::parse(&img),
            Err(BootError::NotBzImage(_))
        ));
        let mut img = good.clone();
        img[OFF_LOADFLAGS] = 0;
        assert!(matches!(
            BzImage::parse(&img),
            Err(BootError::NotBzImage(_))
        ));
        let mut img = good.clone();
        put_u16(&mut img, OFF_VERSION, 0x0204);
        assert_eq!(
            BzImage::parse(&img).unwrap_err(),
            BootError::ProtocolTooOld {
                version: 0x0204,
                minimum: 0x0206
            }
        );
        let mut img = good.clone();
        img[OFF_JUMP + 1] = 0x10;
        assert!(matches!(
            BzImage::parse(&img),
            Err(BootError::NotBzImage(_))
        ));
        let mut img = good.clone();
        put_u32(&mut img, OFF_SYSSIZE, 0);
        assert!(matches!(
            BzImage::parse(&img),
            Err(BootError::NotBzImage(_))
        ));
        // Payload cut short.
        let cut = &good[..good.len() - 16];
        assert_eq!(
            BzImage::parse(cut).unwrap_err(),
            BootError::Truncated {
                what: "protected-mode kernel (syssize)",
                needed: good.len() as u64,
                actual: good.len() as u64 - 16
            }
        );
        // Setup code cut short.
        assert!(matches!(
            BzImage::parse(&good[..1024]),
            Err(BootError::Truncated {
                what: "real-mode setup code (setup_sects)",
                ..
            })
        ));
        // Header cut short.
        assert!(matches!(
            BzImage::parse(&good[..0x240]),
            Err(BootError::Truncated {
                what: "setup header",
                ..
            })
        ));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let good = fake_bzimage(&payload()[..100]);
        let map = pc_e820_map(32 << 20).unwrap();
        let mut ram = vec![0u8; 32 << 20];
        for n in 0..good.len() {
            let r = load_linux(&mut ram, &good[..n], &LinuxBootOptions::new("", &map));
            assert!(r.is_err(), "prefix of {n} bytes loaded");
        }
        // Random-ish header bytes never panic either.
        let mut img = good.clone();
        let mut x = 0x1234_5678u32;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let off = 0x1F1 + (x as usize % 0x80);
            img[off] = (x >> 24) as u8;
            let _ = load_linux(&mut ram, &img, &LinuxBootOptions::new("", &map));
        }
    }

    #[test]
    fn map_must_match_memory() {
        let map = pc_e820_map(64 << 20).unwrap();
        let img = fake_bzimage(&payload());
        let mut ram = vec![0u8; 32 << 20];
        assert!(matches!(
            load_linux(&mut ram, &img, &LinuxBootOptions::new("", &map)),
            Err(BootError::InvalidMemoryMap(_))
        ));
        // No conventional memory for the zero page.
        let map = [E820Entry::new(0x100000, 63 << 20, crate::E820Type::Ram)];
        let mut ram = vec![0u8; 64 << 20];
        assert!(matches!(
            load_linux(&mut ram, &img, &LinuxBootOptions::new("", &map)),
            Err(BootError::InvalidMemoryMap(_))
        ));
    }
}

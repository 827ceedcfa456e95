//! What a PC BIOS leaves behind for the OS, for kernels started without one.
//!
//! Kernel test suites written for QEMU start Multiboot kernels on a board
//! that SeaBIOS has already set up, and some go back to real mode and enable
//! interrupts there. When tab86 plays the firmware's part it leaves the same
//! picture:
//!
//! - the 8259A pair initialised (ICW1-ICW4) to vectors 08h and 70h with the
//!   IRQs SeaBIOS enables unmasked, and PIT counter 0 in mode 2 with count 0
//!   (65536, 18.2 Hz): [`POST_PORT_WRITES`], replayed by the board through
//!   its port bus so the devices end up exactly as if a BIOS had programmed
//!   them;
//! - a real-mode IVT at 0 whose entries point at the minimal handlers of
//!   [`LEGACY_HANDLERS`] in the BIOS area: IRQ 0 counts the BDA timer ticks,
//!   calls INT 1Ch and sends an EOI; the other hardware IRQs send an EOI to
//!   their PIC (both, for the slave's) and return; every other vector is a
//!   bare IRET;
//! - the BIOS Data Area's basic fields and the EBDA's size byte
//!   ([`write_legacy_bios`]).
//!
//! The handler bytes are assembled from `legacy_handlers.asm` next to this
//! file (a test re-assembles it with nasm and compares).

use crate::e820::{usable_region_containing, E820Entry, CONVENTIONAL_END};
use crate::{BootError, GuestMemory};

/// Vector of IRQ 0 (the master 8259's ICW2), as every PC BIOS programs it.
pub const BIOS_IRQ0_VECTOR: u8 = 0x08;
/// Vector of IRQ 8 (the slave 8259's ICW2).
pub const BIOS_IRQ8_VECTOR: u8 = 0x70;
/// Interrupt mask register of the master 8259 at OS entry: IRQ 0 (timer),
/// 1 (keyboard) and 2 (cascade) enabled. SeaBIOS also enables IRQ 6 and 14
/// for its floppy and IDE drivers; this board has neither, so they stay
/// masked.
pub const BIOS_PIC1_MASK: u8 = !0x07;
/// Interrupt mask register of the slave 8259 at OS entry: IRQ 8 (RTC),
/// 12 (PS/2 mouse) and 13 (x87 FERR#) enabled, as SeaBIOS leaves them.
pub const BIOS_PIC2_MASK: u8 = !0x31;

/// Port writes of the BIOS's power-on self test, in order: both 8259As
/// initialised (edge-triggered, cascaded, 8086 mode) to
/// [`BIOS_IRQ0_VECTOR`]/[`BIOS_IRQ8_VECTOR`] with the BIOS masks, then PIT
/// counter 0 in mode 2 (rate generator), binary, lobyte/hibyte, count 0.
pub const POST_PORT_WRITES: [(u16, u8); 13] = [
    (0x20, 0x11), // ICW1: edge, cascade, ICW4 follows
    (0xA0, 0x11),
    (0x21, BIOS_IRQ0_VECTOR), // ICW2: vector base
    (0xA1, BIOS_IRQ8_VECTOR),
    (0x21, 0x04), // ICW3: slave on IR2
    (0xA1, 0x02), // ICW3: slave ID 2
    (0x21, 0x01), // ICW4: 8086 mode, normal EOI
    (0xA1, 0x01),
    (0x21, BIOS_PIC1_MASK), // OCW1
    (0xA1, BIOS_PIC2_MASK),
    (0x43, 0x34), // counter 0, lobyte/hibyte, mode 2, binary
    (0x40, 0x00), // count 0 = 65536: 1193182 / 65536 = 18.2 Hz
    (0x40, 0x00),
];

/// Segment of the real-mode handlers (the system BIOS segment).
pub const LEGACY_HANDLERS_SEGMENT: u16 = 0xF000;
/// Offset of the handlers in [`LEGACY_HANDLERS_SEGMENT`]; the block sits in
/// the reserved BIOS area, past the ACPI tables at its start.
pub const LEGACY_HANDLERS_OFFSET: u16 = 0xFE00;
/// Physical address of the handlers.
pub const LEGACY_HANDLERS_ADDR: u32 =
    ((LEGACY_HANDLERS_SEGMENT as u32) << 4) + LEGACY_HANDLERS_OFFSET as u32;

/// The real-mode handlers, assembled from `legacy_handlers.asm`.
pub const LEGACY_HANDLERS: [u8; 76] = [
    // irq0 (offset 0x00)
    0x50, 0x1e, 0x31, 0xc0, 0x8e, 0xd8, 0x83, 0x06, 0x6c, 0x04, 0x01, 0x83, 0x16, 0x6e, 0x04, 0x00,
    0x83, 0x3e, 0x6e, 0x04, 0x18, 0x72, 0x1b, 0x77, 0x08, 0x81, 0x3e, 0x6c, 0x04, 0xb0, 0x00, 0x72,
    0x11, 0xc7, 0x06, 0x6c, 0x04, 0x00, 0x00, 0xc7, 0x06, 0x6e, 0x04, 0x00, 0x00, 0xc6, 0x06, 0x70,
    0x04, 0x01, 0xcd, 0x1c, 0xb0, 0x20, 0xe6, 0x20, 0x1f, 0x58, 0xcf,
    // pic1 (offset 0x3B)
    0x50, 0xb0, 0x20, 0xe6, 0x20, 0x58, 0xcf, // pic2 (offset 0x42)
    0x50, 0xb0, 0x20, 0xe6, 0xa0, 0xe6, 0x20, 0x58, 0xcf, // dummy (offset 0x4B)
    0xcf,
];
/// Offset in [`LEGACY_HANDLERS`] of the IRQ 0 handler.
pub const HANDLER_IRQ0: u16 = 0x00;
/// Offset of the handler for IRQs 1-7 (EOI to the master).
pub const HANDLER_PIC1: u16 = 0x3B;
/// Offset of the handler for IRQs 8-15 (EOI to the slave, then the master).
pub const HANDLER_PIC2: u16 = 0x42;
/// Offset of the bare IRET every other vector points at.
pub const HANDLER_IRET: u16 = 0x4B;

/// BDA offsets (physical addresses; the BDA is segment 0x40).
pub mod bda {
    /// I/O bases of COM1-COM4 (u16 each, 0 = absent).
    pub const COM_PORTS: u32 = 0x400;
    /// I/O bases of LPT1-LPT3 (u16 each, 0 = absent).
    pub const LPT_PORTS: u32 = 0x408;
    /// Segment of the Extended BIOS Data Area (u16).
    pub const EBDA_SEGMENT: u32 = 0x40E;
    /// Equipment word (INT 11h).
    pub const EQUIPMENT: u32 = 0x410;
    /// Base memory size in KiB (INT 12h).
    pub const BASE_MEMORY_KIB: u32 = 0x413;
    /// Timer ticks since midnight (u32), counted by the IRQ 0 handler.
    pub const TIMER_TICKS: u32 = 0x46C;
    /// Set when the tick count passed midnight.
    pub const TIMER_ROLLOVER: u32 = 0x470;
    /// First byte past the BDA fields written here.
    pub const END: u32 = 0x500;
}

/// Equipment word bit 1: an x87 coprocessor is installed.
pub const EQUIPMENT_FPU: u16 = 1 << 1;
/// Equipment word bit 2: a PS/2 mouse port is present.
pub const EQUIPMENT_PS2_MOUSE: u16 = 1 << 2;
/// Equipment word bits 4-5 = 10b: initial video mode 80x25 colour.
pub const EQUIPMENT_VIDEO_80X25_COLOR: u16 = 2 << 4;
/// Equipment word bits 9-11: number of serial ports.
pub const EQUIPMENT_SERIAL_SHIFT: u16 = 9;

/// The board facts the BIOS data area records.
#[derive(Debug, Clone, Copy)]
pub struct LegacyBiosOptions<'a> {
    /// The board's memory map: the usable region at 0 gives the base memory
    /// size and where the EBDA starts.
    pub e820: &'a [E820Entry],
    /// I/O bases of the serial ports present, COM1 first (at most 4).
    pub com_ports: &'a [u16],
    /// Whether the keyboard controller has a PS/2 mouse port.
    pub ps2_mouse: bool,
}

/// What [`write_legacy_bios`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyBiosLayout {
    /// Base memory in KiB (BDA 0x413).
    pub base_memory_kib: u16,
    /// EBDA segment (BDA 0x40E; 0 when base memory reaches 640 KiB).
    pub ebda_segment: u16,
    /// The equipment word (BDA 0x410).
    pub equipment: u16,
}

/// The IVT entry (offset, segment) of `vector`, as [`write_legacy_bios`]
/// fills it: SeaBIOS leaves INT 60h-66h (user vectors) and INT 79h null.
pub fn ivt_entry(vector: u8) -> (u16, u16) {
    let handler = match vector {
        v if v == BIOS_IRQ0_VECTOR => HANDLER_IRQ0,
        0x09..=0x0F => HANDLER_PIC1,
        0x70..=0x77 => HANDLER_PIC2,
        0x60..=0x66 | 0x79 => return (0, 0),
        _ => HANDLER_IRET,
    };
    (LEGACY_HANDLERS_OFFSET + handler, LEGACY_HANDLERS_SEGMENT)
}

/// Writes the IVT (0-0x3FF), the BDA (0x400-0x4FF, zeroed first), the EBDA's
/// size byte (the rest of the EBDA zeroed) and the handlers at
/// [`LEGACY_HANDLERS_ADDR`].
///
/// # Errors
/// [`BootError::InvalidMemoryMap`] if usable RAM at 0 does not cover the
/// IVT and BDA or reaches past 640 KiB, or more than 4 serial ports are
/// given; [`BootError::GuestMemory`] if RAM does not reach the handlers.
pub fn write_legacy_bios<M: GuestMemory + ?Sized>(
    mem: &mut M,
    opts: &LegacyBiosOptions<'_>,
) -> Result<LegacyBiosLayout, BootError> {
    let low_end = usable_region_containing(opts.e820, 0).map_or(0, |r| r.1);
    if low_end < u64::from(bda::END) {
        return Err(BootError::InvalidMemoryMap(
            "usable RAM at 0 does not cover the IVT and the BIOS data area",
        ));
    }
    if opts.com_ports.len() > 4 {
        return Err(BootError::InvalidMemoryMap(
            "the BIOS data area has room for 4 serial ports",
        ));
    }
    let low_end = low_end.min(u64::from(CONVENTIONAL_END)) as u32 & !0x3FF;
    let base_memory_kib = (low_end >> 10) as u16;
    let ebda_segment = if low_end < CONVENTIONAL_END {
        (low_end >> 4) as u16
    } else {
        0
    };
    let equipment = EQUIPMENT_FPU
        | if opts.ps2_mouse {
            EQUIPMENT_PS2_MOUSE
        } else {
            0
        }
        | EQUIPMENT_VIDEO_80X25_COLOR
        | (opts.com_ports.len() as u16) << EQUIPMENT_SERIAL_SHIFT;

    let mut ivt = [0u8; 1024];
    for (v, e) in ivt.chunks_exact_mut(4).enumerate() {
        let (off, seg) = ivt_entry(v as u8);
        e[..2].copy_from_slice(&off.to_le_bytes());
        e[2..].copy_from_slice(&seg.to_le_bytes());
    }
    let mut area = [0u8; (bda::END - bda::COM_PORTS) as usize];
    let mut put16 = |addr: u32, v: u16| {
        let o = (addr - bda::COM_PORTS) as usize;
        area[o..o + 2].copy_from_slice(&v.to_le_bytes());
    };
    for (i, &port) in opts.com_ports.iter().enumerate() {
        put16(bda::COM_PORTS + 2 * i as u32, port);
    }
    put16(bda::EBDA_SEGMENT, ebda_segment);
    put16(bda::EQUIPMENT, equipment);
    put16(bda::BASE_MEMORY_KIB, base_memory_kib);

    mem.write(LEGACY_HANDLERS_ADDR, &LEGACY_HANDLERS)?;
    mem.write(0, &ivt)?;
    mem.write(bda::COM_PORTS, &area)?;
    if ebda_segment != 0 {
        // The EBDA's first byte is its size in KiB.
        let start = u32::from(ebda_segment) << 4;
        mem.zero(start, CONVENTIONAL_END - start)?;
        mem.write(start, &[((CONVENTIONAL_END - start) >> 10) as u8])?;
    }
    Ok(LegacyBiosLayout {
        base_memory_kib,
        ebda_segment,
        equipment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pc_e820_map;

    fn u16_at(ram: &[u8], a: u32) -> u16 {
        u16::from_le_bytes([ram[a as usize], ram[a as usize + 1]])
    }

    #[test]
    fn pc_board() {
        let map = pc_e820_map(16 << 20).unwrap();
        let mut ram = vec![0xEEu8; 16 << 20];
        let opts = LegacyBiosOptions {
            e820: &map,
            com_ports: &[0x3F8],
            ps2_mouse: true,
        };
        let l = write_legacy_bios(&mut ram, &opts).unwrap();
        assert_eq!(l.base_memory_kib, 639);
        assert_eq!(l.ebda_segment, 0x9FC0);
        assert_eq!(u16_at(&ram, bda::COM_PORTS), 0x3F8);
        assert_eq!(u16_at(&ram, bda::COM_PORTS + 2), 0);
        assert_eq!(u16_at(&ram, bda::BASE_MEMORY_KIB), 639);
        assert_eq!(u16_at(&ram, bda::EBDA_SEGMENT), 0x9FC0);
        assert_eq!(u16_at(&ram, bda::EQUIPMENT), 0x0226);
        assert_eq!(u16_at(&ram, bda::TIMER_TICKS), 0);
        assert_eq!(ram[0x9FC00], 1, "EBDA size in KiB");
        assert_eq!(ram[0x9FC01], 0);
        assert_eq!(ram[0x500], 0xEE, "nothing past the BDA");
        // IVT: 08h -> IRQ 0 handler, 09h and 70h -> EOI handlers, others IRET.
        let ent = |v: u32| (u16_at(&ram, v * 4), u16_at(&ram, v * 4 + 2));
        assert_eq!(ent(0x08), (0xFE00, 0xF000));
        assert_eq!(ent(0x0F), (0xFE3B, 0xF000));
        assert_eq!(ent(0x77), (0xFE42, 0xF000));
        assert_eq!(ent(0x10), (0xFE4B, 0xF000));
        assert_eq!(ent(0x60), (0, 0));
        let h = LEGACY_HANDLERS_ADDR as usize;
        assert_eq!(&ram[h..h + LEGACY_HANDLERS.len()], &LEGACY_HANDLERS);
        // Every handler ends in IRET, and the offsets land on instructions
        // that start with PUSH AX (hardware IRQs) or are the IRET.
        for off in [HANDLER_IRQ0, HANDLER_PIC1, HANDLER_PIC2] {
            assert_eq!(LEGACY_HANDLERS[off as usize], 0x50);
        }
        assert_eq!(LEGACY_HANDLERS[HANDLER_IRET as usize], 0xCF);
        assert_eq!(LEGACY_HANDLERS[HANDLER_PIC2 as usize - 1], 0xCF);
        assert_eq!(LEGACY_HANDLERS[HANDLER_PIC1 as usize - 1], 0xCF);
    }

    #[test]
    fn post_programs_both_pics_then_the_pit() {
        let ports: Vec<u16> = POST_PORT_WRITES.iter().map(|w| w.0).collect();
        assert_eq!(&ports[..2], &[0x20, 0xA0]);
        assert!(POST_PORT_WRITES.contains(&(0x21, 0x08)));
        assert!(POST_PORT_WRITES.contains(&(0xA1, 0x70)));
        assert_eq!(POST_PORT_WRITES[10], (0x43, 0x34));
        assert_eq!(BIOS_PIC1_MASK & 0x01, 0, "IRQ 0 enabled");
        assert_eq!(BIOS_PIC1_MASK & 0x04, 0, "cascade enabled");
        assert_eq!(BIOS_PIC1_MASK & 0x10, 0x10, "COM1 masked");
    }

    #[test]
    fn full_base_memory_has_no_ebda() {
        use crate::{E820Entry, E820Type};
        let map = [
            E820Entry::new(0, 0xA0000, E820Type::Ram),
            E820Entry::new(0x100000, 0xF00000, E820Type::Ram),
        ];
        let mut ram = vec![0u8; 16 << 20];
        let opts = LegacyBiosOptions {
            e820: &map,
            com_ports: &[],
            ps2_mouse: false,
        };
        let l = write_legacy_bios(&mut ram, &opts).unwrap();
        assert_eq!((l.base_memory_kib, l.ebda_segment), (640, 0));
        assert_eq!(l.equipment, 0x0022);
    }

    #[test]
    fn bad_input_is_an_error() {
        let map = [crate::E820Entry::new(0x1000, 0x9000, crate::E820Type::Ram)];
        let mut ram = vec![0u8; 16 << 20];
        let opts = LegacyBiosOptions {
            e820: &map,
            com_ports: &[],
            ps2_mouse: false,
        };
        assert!(matches!(
            write_legacy_bios(&mut ram, &opts),
            Err(BootError::InvalidMemoryMap(_))
        ));
        let map = pc_e820_map(16 << 20).unwrap();
        let opts = LegacyBiosOptions {
            e820: &map,
            com_ports: &[1, 2, 3, 4, 5],
            ps2_mouse: false,
        };
        assert!(write_legacy_bios(&mut ram, &opts).is_err());
        // RAM too small to reach the BIOS area.
        let mut small = vec![0u8; 0xA0000];
        let opts = LegacyBiosOptions {
            e820: &map,
            com_ports: &[],
            ps2_mouse: false,
        };
        assert!(matches!(
            write_legacy_bios(&mut small, &opts),
            Err(BootError::GuestMemory { .. })
        ));
    }
}

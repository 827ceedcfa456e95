use super::*;
use crate::irq::{InterruptLine, IrqLines};

/// A test function with an I/O BAR of 64 ports and a 4 KiB memory BAR, INTA#.
struct Nic {
    cfg: ConfigSpace,
}

impl Nic {
    fn new() -> Self {
        let mut cfg = ConfigSpace::new(0x10EC, 0x8139, 0x02_00_00, 0x10, 0);
        assert!(cfg.set_bar(
            0,
            Bar {
                kind: BarKind::Io,
                size: 0x40
            }
        ));
        assert!(cfg.set_bar(
            1,
            Bar {
                kind: BarKind::Mem32 {
                    prefetchable: false
                },
                size: 0x1000
            }
        ));
        cfg.set_interrupt_pin(1);
        Self { cfg }
    }
}

impl PciFunction for Nic {
    fn config_read(&mut self, offset: u8) -> u32 {
        self.cfg.read(offset)
    }
    fn config_write(&mut self, offset: u8, value: u32, byte_enable: u8) {
        self.cfg.write(offset, value, byte_enable);
    }
}

struct Board {
    bus: PciBus,
    lines: IrqLines,
    router: PirqRouter,
    q: BoardRequests,
}

fn board() -> Board {
    let q = BoardRequests::new();
    let lines = IrqLines::new();
    let router = PirqRouter::new(lines.clone());
    let mut bus = PciBus::new(q.clone());
    bus.add(0, 0, Box::new(I440fx::new())).unwrap();
    bus.add(1, 0, Box::new(Piix3::new(router.clone()))).unwrap();
    Board {
        bus,
        lines,
        router,
        q,
    }
}

fn conf1_addr(dev: u8, func: u8, reg: u8) -> u32 {
    0x8000_0000 | u32::from(dev) << 11 | u32::from(func) << 8 | u32::from(reg & 0xFC)
}

/// Linux `pci_conf1_read`.
fn conf1_read(bus: &mut PciBus, dev: u8, func: u8, reg: u8, size: IoSize) -> u32 {
    bus.write(0, IoSize::Dword, conf1_addr(dev, func, reg));
    let sub = match size {
        IoSize::Byte => reg & 3,
        IoSize::Word => reg & 2,
        IoSize::Dword => 0,
    };
    bus.read(4 + u16::from(sub), size)
}

/// Linux `pci_conf1_write`.
fn conf1_write(bus: &mut PciBus, dev: u8, func: u8, reg: u8, size: IoSize, v: u32) {
    bus.write(0, IoSize::Dword, conf1_addr(dev, func, reg));
    let sub = match size {
        IoSize::Byte => reg & 3,
        IoSize::Word => reg & 2,
        IoSize::Dword => 0,
    };
    bus.write(4 + u16::from(sub), size, v);
}

#[test]
fn linux_pci_check_type1() {
    let Board { mut bus, .. } = board();
    bus.write(3, IoSize::Byte, 0x01); // outb(0x01, 0xCFB)
    let tmp = bus.read(0, IoSize::Dword);
    bus.write(0, IoSize::Dword, 0x8000_0000);
    assert_eq!(bus.read(0, IoSize::Dword), 0x8000_0000);
    // pci_sanity_check: a host bridge class or an Intel vendor on bus 0.
    let class = conf1_read(&mut bus, 0, 0, 0x0A, IoSize::Word);
    let vendor = conf1_read(&mut bus, 0, 0, 0x00, IoSize::Word);
    assert!(class == 0x0600 || vendor == 0x8086);
    bus.write(0, IoSize::Dword, tmp);
    // pci_check_type2 must fail: byte accesses do not reach CONFIG_ADDRESS.
    bus.write(0, IoSize::Byte, 0x00);
    assert_eq!(bus.read(0, IoSize::Byte), 0xFF);
}

#[test]
fn vendor_ids_and_absent_slots() {
    let Board { mut bus, .. } = board();
    assert_eq!(conf1_read(&mut bus, 0, 0, 0, IoSize::Dword), 0x1237_8086);
    assert_eq!(conf1_read(&mut bus, 1, 0, 0, IoSize::Dword), 0x7000_8086);
    assert_eq!(
        conf1_read(&mut bus, 1, 0, 0x0B, IoSize::Byte),
        0x06,
        "bridge class"
    );
    assert_eq!(
        conf1_read(&mut bus, 1, 0, 0x0A, IoSize::Byte),
        0x01,
        "ISA subclass"
    );
    assert_eq!(
        conf1_read(&mut bus, 1, 0, 0x0E, IoSize::Byte),
        0x80,
        "multi-function"
    );
    assert_eq!(conf1_read(&mut bus, 0, 0, 0x02, IoSize::Word), 0x1237);
    assert_eq!(conf1_read(&mut bus, 2, 0, 0, IoSize::Dword), 0xFFFF_FFFF);
    assert_eq!(conf1_read(&mut bus, 1, 1, 0, IoSize::Word), 0xFFFF);
    // Bus 1 does not exist; a disabled CONFIG_ADDRESS reads all ones.
    bus.write(0, IoSize::Dword, 0x8001_0000);
    assert_eq!(bus.read(4, IoSize::Dword), 0xFFFF_FFFF);
    bus.write(0, IoSize::Dword, 0x0000_0000);
    assert_eq!(bus.read(4, IoSize::Word), 0xFFFF);
    // Accesses that straddle CONFIG_DATA's dword are not decoded.
    bus.write(0, IoSize::Dword, 0x8000_0000);
    assert_eq!(bus.read(6, IoSize::Dword), 0xFFFF_FFFF);
}

#[test]
fn bar_sizing_and_programming() {
    let Board { mut bus, .. } = board();
    bus.add(3, 0, Box::new(Nic::new())).unwrap();
    // Linux __pci_read_base: save, write ~0, read the size mask, restore.
    let l = conf1_read(&mut bus, 3, 0, 0x10, IoSize::Dword);
    assert_eq!(l, 0x1, "I/O BAR type bit");
    conf1_write(&mut bus, 3, 0, 0x10, IoSize::Dword, 0xFFFF_FFFF);
    let sz = conf1_read(&mut bus, 3, 0, 0x10, IoSize::Dword);
    assert_eq!(sz, 0xFFFF_FFC1);
    assert_eq!((!(sz & !0x3)).wrapping_add(1), 0x40);
    conf1_write(&mut bus, 3, 0, 0x10, IoSize::Dword, l);
    conf1_write(&mut bus, 3, 0, 0x14, IoSize::Dword, 0xFFFF_FFFF);
    assert_eq!(conf1_read(&mut bus, 3, 0, 0x14, IoSize::Dword), 0xFFFF_F000);
    conf1_write(&mut bus, 3, 0, 0x30, IoSize::Dword, 0xFFFF_F800);
    assert_eq!(
        conf1_read(&mut bus, 3, 0, 0x30, IoSize::Dword),
        0,
        "no ROM BAR"
    );
    conf1_write(&mut bus, 3, 0, 0x18, IoSize::Dword, 0xFFFF_FFFF);
    assert_eq!(
        conf1_read(&mut bus, 3, 0, 0x18, IoSize::Dword),
        0,
        "unimplemented BAR"
    );
    // Assign addresses, then enable decoding.
    conf1_write(&mut bus, 3, 0, 0x10, IoSize::Dword, 0xC03F);
    conf1_write(&mut bus, 3, 0, 0x14, IoSize::Dword, 0xFEBF_1234);
    assert_eq!(conf1_read(&mut bus, 3, 0, 0x10, IoSize::Dword), 0xC001);
    assert_eq!(conf1_read(&mut bus, 3, 0, 0x14, IoSize::Dword), 0xFEBF_1000);
    conf1_write(&mut bus, 3, 0, 0x04, IoSize::Word, 0xFFFF);
    assert_eq!(
        conf1_read(&mut bus, 3, 0, 0x04, IoSize::Word),
        0x0547,
        "writable command bits"
    );
    assert_eq!(conf1_read(&mut bus, 3, 0, 0x3D, IoSize::Byte), 1, "INTA#");
}

#[test]
fn read_only_fields_and_status_write_one_to_clear() {
    let mut cfg = ConfigSpace::new(0x1234, 0x5678, 0x01_01_80, 1, 0);
    cfg.write(0x00, 0xFFFF_FFFF, 0xF);
    assert_eq!(cfg.read(0x00), 0x5678_1234);
    cfg.set_u16(reg::STATUS, 0x8100);
    cfg.write(0x04, 0x0100_0000, 0xC); // write 1 to status bit 8 only
    assert_eq!(cfg.u16(reg::STATUS), 0x8000);
    cfg.write(0x3C, 0x0000_000B, 0x1);
    assert_eq!(cfg.u8(reg::INTERRUPT_LINE), 11);
    assert!(!cfg.set_bar(
        6,
        Bar {
            kind: BarKind::Io,
            size: 8
        }
    ));
    assert!(!cfg.set_bar(
        0,
        Bar {
            kind: BarKind::Io,
            size: 12
        }
    ));
    assert!(!cfg.set_bar(
        0,
        Bar {
            kind: BarKind::Mem32 { prefetchable: true },
            size: 8
        }
    ));
}

#[test]
fn pirq_routing_through_piix3() {
    let Board {
        mut bus,
        lines,
        router,
        ..
    } = board();
    assert_eq!(conf1_read(&mut bus, 1, 0, 0x60, IoSize::Dword), 0x8080_8080);
    // Slot 3 INTA# -> PIRQC (the QEMU/PIIX swizzle), slot 4 INTD# -> PIRQC too.
    assert_eq!(PirqRouter::pirq_of(3, 1), 2);
    assert_eq!(PirqRouter::pirq_of(4, 4), 2);
    assert_eq!(PirqRouter::pirq_of(1, 1), 0);
    let a = router.intx(3, 1);
    let b = router.intx(4, 4);
    a.set_level(true);
    assert_eq!(lines.levels(), 0, "PIRQC not routed yet");
    conf1_write(&mut bus, 1, 0, 0x62, IoSize::Byte, 10);
    assert_eq!(router.route(2), Some(10));
    assert_eq!(lines.levels(), 1 << 10);
    b.set_level(true);
    a.set_level(false);
    assert_eq!(lines.levels(), 1 << 10, "shared PIRQ is wired-OR");
    conf1_write(&mut bus, 1, 0, 0x60, IoSize::Dword, 0x800B_8080);
    assert_eq!(router.route(2), Some(11));
    assert_eq!(lines.levels(), 1 << 11, "moved from IRQ 10 to IRQ 11");
    conf1_write(&mut bus, 1, 0, 0x62, IoSize::Byte, 0x80 | 11);
    assert_eq!(lines.levels(), 0, "IRQEN# off");
    conf1_write(&mut bus, 1, 0, 0x62, IoSize::Byte, 2);
    assert_eq!(router.route(2), None, "IRQ 2 is not a valid target");
    conf1_write(&mut bus, 1, 0, 0x62, IoSize::Byte, 9);
    drop(b);
    assert_eq!(lines.levels(), 0, "an unplugged function releases its PIRQ");
}

#[test]
fn reset_control_register_at_cf9() {
    let Board { mut bus, q, .. } = board();
    // Linux reboot=pci: outb(0x02, 0xcf9); udelay(50); outb(0x06, 0xcf9).
    bus.write(1, IoSize::Byte, 0x02);
    assert!(q.is_empty());
    bus.write(1, IoSize::Byte, 0x06);
    assert_eq!(q.drain(), [BoardRequest::Reset]);
    assert_eq!(bus.read(1, IoSize::Byte), 0x02);
}

#[test]
fn slots_are_checked() {
    let Board { mut bus, .. } = board();
    assert!(matches!(
        bus.add(0, 0, Box::new(Nic::new())),
        Err(Error::PciSlotOccupied {
            device: 0,
            function: 0
        })
    ));
    assert!(matches!(
        bus.add(32, 0, Box::new(Nic::new())),
        Err(Error::InvalidPciAddress { .. })
    ));
    assert!(bus.remove(0, 0).is_some());
    assert_eq!(conf1_read(&mut bus, 0, 0, 0, IoSize::Dword), 0xFFFF_FFFF);
}

#[test]
fn random_port_accesses_never_panic() {
    let Board { mut bus, .. } = board();
    bus.add(3, 0, Box::new(Nic::new())).unwrap();
    let mut x = 0xABCD_EF01_2345_6789u64;
    let sizes = [IoSize::Byte, IoSize::Word, IoSize::Dword];
    for i in 0..100_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let size = sizes[(x % 3) as usize];
        let off = ((x >> 2) % 8) as u16;
        if i % 3 == 0 {
            // Keep the address pointing at real functions often.
            bus.write(0, IoSize::Dword, 0x8000_0000 | ((x >> 8) as u32 & 0x1FFC));
        } else if x & 0x20 != 0 {
            bus.write(off, size, (x >> 16) as u32);
        } else {
            bus.read(off, size);
        }
    }
}

#[test]
fn bus_state_round_trip_restores_routing() {
    let Board {
        mut bus, router, ..
    } = board();
    conf1_write(&mut bus, 1, 0, 0x61, IoSize::Byte, 5);
    conf1_write(&mut bus, 0, 0, 0x59, IoSize::Byte, 0x30); // PAM0
    bus.write(0, IoSize::Dword, conf1_addr(0, 0, 0x58));
    let saved = bus.state();
    assert_eq!(saved.functions.len(), 2);
    let fresh = board();
    let mut copy = fresh.bus;
    copy.restore(&saved);
    assert_eq!(copy.state(), saved);
    assert_eq!(
        copy.read(5, IoSize::Byte),
        0x30,
        "CONFIG_ADDRESS restored too"
    );
    assert_eq!(
        fresh.router.route(1),
        Some(5),
        "PIIX3 restore re-drives the router"
    );
    assert_eq!(router.route(1), Some(5));
}

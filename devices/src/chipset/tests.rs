use super::*;
use crate::test_utils::VecSink;
use crate::time::{tick_time, PIT_HZ};
use IoSize::{Byte, Dword, Word};

struct Rig {
    cs: Chipset,
    com1: VecSink,
    e9: VecSink,
}

fn rig() -> Rig {
    let com1 = VecSink::new();
    let e9 = VecSink::new();
    let cs = Chipset::new(ChipsetConfig {
        rtc_epoch_secs: 1_710_510_330,
        ram_bytes: 64 << 20,
        serial: [Some(Box::new(com1.clone())), None, None, None],
        debugcon: vec![(0xE9, Box::new(e9.clone()))],
        debug_exit_port: Some(0xF4),
        acpi_pm_base: None,
    })
    .unwrap();
    Rig { cs, com1, e9 }
}

fn outb(cs: &mut Chipset, port: u16, v: u8) {
    cs.io_write(port, Byte, u32::from(v), 0);
}

fn inb(cs: &mut Chipset, port: u16) -> u8 {
    cs.io_read(port, Byte, 0) as u8
}

/// Linux init_8259A + unmask of `irqs`.
fn linux_pic(cs: &mut Chipset, unmask: u16) {
    for (port, v) in [
        (0x21, 0xFF),
        (0xA1, 0xFF),
        (0x20, 0x11),
        (0x21, 0x30),
        (0x21, 0x04),
        (0x21, 0x01),
        (0xA0, 0x11),
        (0xA1, 0x38),
        (0xA1, 0x02),
        (0xA1, 0x01),
    ] {
        outb(cs, port, v);
    }
    let mask = !unmask;
    outb(cs, 0x21, mask as u8 & !0x04);
    outb(cs, 0xA1, (mask >> 8) as u8);
}

#[test]
fn hundred_hz_timer_through_the_pic() {
    let Rig { mut cs, .. } = rig();
    linux_pic(&mut cs, 1);
    // pit_set_periodic at HZ=100.
    cs.io_write(0x43, Byte, 0x34, 0);
    cs.io_write(0x40, Byte, 11932 & 0xFF, 0);
    cs.io_write(0x40, Byte, 11932 >> 8, 0);
    let mut now = 0;
    let mut ticks = 0;
    while now < 1_000_000_000 {
        let d = cs.next_deadline().expect("the PIT always has a next tick");
        assert!(d > now);
        now = d;
        cs.advance(now);
        if cs.intr_pending() {
            assert_eq!(cs.acknowledge(), 0x30);
            cs.io_write(0x20, Byte, 0x20, now); // EOI
            ticks += 1;
            assert_eq!(now, tick_time(1 + ticks * 11932, PIT_HZ));
        }
    }
    assert_eq!(ticks, 100);
}

#[test]
fn serial_console_output_and_interrupts() {
    let Rig { mut cs, com1, .. } = rig();
    linux_pic(&mut cs, 1 << 4);
    for &b in b"Linux version" {
        cs.io_write(0x3F8, Byte, u32::from(b), 0);
    }
    assert_eq!(com1.text(), "Linux version");
    assert_eq!(inb(&mut cs, 0x3FD) & 0x60, 0x60);
    assert_eq!(inb(&mut cs, 0x2FD), 0xFF, "COM2 absent: no UART there");
    // Receive with the RX interrupt enabled and OUT2 set.
    outb(&mut cs, 0x3FC, 0x0B);
    outb(&mut cs, 0x3F9, 0x01);
    cs.serial_receive(0, b"x").unwrap();
    assert!(cs.intr_pending());
    assert_eq!(cs.acknowledge(), 0x34);
    assert_eq!(inb(&mut cs, 0x3FA), 0x04);
    assert_eq!(inb(&mut cs, 0x3F8), b'x');
    outb(&mut cs, 0x20, 0x64);
    assert!(!cs.intr_pending());
    assert!(matches!(
        cs.serial_receive(1, b"y"),
        Err(Error::NoSuchDevice { index: 1 })
    ));
}

#[test]
fn rtc_irq8_arrives_through_the_cascade() {
    let Rig { mut cs, .. } = rig();
    linux_pic(&mut cs, 1 << 8);
    outb(&mut cs, 0x70, 0x0B);
    let b = inb(&mut cs, 0x71);
    outb(&mut cs, 0x70, 0x0B);
    outb(&mut cs, 0x71, b | 0x40); // PIE at the default 1024 Hz
    let d = cs.next_deadline().unwrap();
    assert_eq!(d, 976_563, "first 1024 Hz tick, rounded up to the ns");
    cs.advance(d);
    assert!(cs.intr_pending());
    assert_eq!(cs.acknowledge(), 0x38);
    outb(&mut cs, 0x70, 0x0C);
    assert_eq!(inb(&mut cs, 0x71) & 0xC0, 0xC0);
    outb(&mut cs, 0xA0, 0x20);
    outb(&mut cs, 0x20, 0x20);
    assert!(!cs.intr_pending());
    // The CMOS memory fields were filled from the configuration.
    outb(&mut cs, 0x70, 0x17);
    let lo = inb(&mut cs, 0x71);
    outb(&mut cs, 0x70, 0x18);
    let hi = inb(&mut cs, 0x71);
    assert_eq!(u16::from_le_bytes([lo, hi]), 63 * 1024);
}

#[test]
fn wide_accesses_split_or_pass_through() {
    let Rig { mut cs, .. } = rig();
    linux_pic(&mut cs, 0);
    assert_eq!(
        cs.io_read(0x20, Word, 0),
        0xFB00,
        "IRR in the low byte, IMR in the high"
    );
    cs.io_write(0x4D0, Word, 0x0C00, 0);
    assert_eq!(cs.pic.read_elcr(1), 0x0C);
    cs.io_write(0xCF8, Dword, 0x8000_0800, 0);
    assert_eq!(cs.io_read(0xCFC, Dword, 0), 0x7000_8086);
    assert_eq!(cs.io_read(0xCFE, Word, 0), 0x7000);
    assert_eq!(cs.io_read(0xCF8, Dword, 0), 0x8000_0800);
    for (size, ones) in [(Byte, 0xFF), (Word, 0xFFFF), (Dword, 0xFFFF_FFFF)] {
        assert_eq!(cs.io_read(0x1234, size, 0), ones, "unmapped reads all ones");
    }
    cs.io_write(0x1234, Dword, 0, 0);
}

#[test]
fn debug_ports_and_board_requests() {
    let Rig { mut cs, e9, .. } = rig();
    for &b in b"hi\n" {
        outb(&mut cs, 0xE9, b);
    }
    assert_eq!(e9.text(), "hi\n");
    assert_eq!(inb(&mut cs, 0xE9), 0xE9);
    outb(&mut cs, 0x80, 0x55);
    assert_eq!(inb(&mut cs, 0x80), 0x55);
    outb(&mut cs, 0xF4, 0x10);
    cs.io_write(0xF4, Dword, 0x100, 0);
    outb(&mut cs, 0x64, 0xFE);
    outb(&mut cs, 0x92, 0x01);
    outb(&mut cs, 0xCF9, 0x06);
    outb(&mut cs, 0x92, 0x00);
    assert!(cs.a20_enabled());
    assert_eq!(
        cs.drain_requests(),
        [
            BoardRequest::Exit(0x21),
            BoardRequest::Exit(0x201),
            BoardRequest::Reset,
            BoardRequest::Reset,
            BoardRequest::Reset
        ]
    );
}

#[test]
fn linux_tsc_calibration_through_ports() {
    let Rig { mut cs, .. } = rig();
    let t0 = 1_000_000;
    let v = cs.io_read(0x61, Byte, t0);
    cs.io_write(0x61, Byte, (v & !0x02) | 0x01, t0);
    cs.io_write(0x43, Byte, 0xB0, t0);
    cs.io_write(0x42, Byte, 0xFF, t0);
    cs.io_write(0x42, Byte, 0xFF, t0);
    let tc = crate::time::ticks_at(t0, PIT_HZ) + 1 + 0xFFFF;
    assert_eq!(cs.io_read(0x61, Byte, tick_time(tc, PIT_HZ) - 1) & 0x20, 0);
    assert_eq!(cs.io_read(0x61, Byte, tick_time(tc, PIT_HZ)) & 0x20, 0x20);
}

#[test]
fn two_chipsets_are_independent() {
    let Rig { cs: mut a, .. } = rig();
    let Rig { cs: mut b, .. } = rig();
    linux_pic(&mut a, 1);
    linux_pic(&mut b, 1);
    a.io_write(0x43, Byte, 0x30, 0);
    a.io_write(0x40, Byte, 10, 0);
    a.io_write(0x40, Byte, 0, 0);
    a.advance(1_000_000);
    assert!(a.intr_pending());
    assert!(!b.intr_pending(), "no shared state between machines");
    outb(&mut a, 0x92, 0x01);
    assert!(b.drain_requests().is_empty());
}

struct Scratch {
    regs: [u8; 16],
}

impl PioDevice for Scratch {
    fn pio_read(&mut self, offset: u16, size: IoSize, _: u64) -> u32 {
        let o = usize::from(offset & 15);
        let mut v = 0;
        for i in 0..usize::from(size.bytes()) {
            v |= u32::from(self.regs[(o + i) & 15]) << (8 * i);
        }
        v
    }
    fn pio_write(&mut self, offset: u16, size: IoSize, value: u32, _: u64) {
        let o = usize::from(offset & 15);
        for i in 0..usize::from(size.bytes()) {
            self.regs[(o + i) & 15] = (value >> (8 * i)) as u8;
        }
    }
}

#[test]
fn extra_devices_map_and_move() {
    let Rig { mut cs, .. } = rig();
    let r = PioRange::new(0xC000, 16).unwrap();
    let id = cs
        .add_pio_device(r, Box::new(Scratch { regs: [0; 16] }))
        .unwrap();
    cs.io_write(0xC004, Dword, 0xDEAD_BEEF, 0);
    assert_eq!(
        cs.io_read(0xC004, Dword, 0),
        0xDEAD_BEEF,
        "one full-width access"
    );
    assert!(matches!(
        cs.add_pio_device(
            PioRange::new(0x3F8, 1).unwrap(),
            Box::new(Scratch { regs: [0; 16] })
        ),
        Err(Error::Overlap { .. })
    ));
    cs.remap_pio_device(id, Some(PioRange::new(0xD000, 16).unwrap()))
        .unwrap();
    assert_eq!(cs.io_read(0xC004, Dword, 0), 0xFFFF_FFFF);
    assert_eq!(cs.io_read(0xD006, Word, 0), 0xDEAD);
    assert!(cs
        .remap_pio_device(id, Some(PioRange::new(0x20, 2).unwrap()))
        .is_err());
    assert_eq!(
        cs.io_read(0xD006, Word, 0),
        0xDEAD,
        "a refused move keeps the old mapping"
    );
    cs.remap_pio_device(id, None).unwrap();
    assert_eq!(cs.io_read(0xD006, Word, 0), 0xFFFF);
}

#[test]
fn colliding_configuration_is_refused() {
    let cfg = ChipsetConfig {
        debugcon: vec![(0x3F8, Box::new(std::io::sink()))],
        serial: [Some(Box::new(std::io::sink())), None, None, None],
        ..ChipsetConfig::default()
    };
    assert!(matches!(Chipset::new(cfg), Err(Error::Overlap { .. })));
}

#[test]
fn random_port_traffic_never_panics() {
    let Rig { mut cs, .. } = rig();
    let mut x = 0x0F0F_1234_ABCD_9876u64;
    let mut now = 0u64;
    let sizes = [Byte, Word, Dword];
    // Ports of every device plus their neighbours.
    let ports = [
        0x20, 0x21, 0xA0, 0xA1, 0x4D0, 0x4D1, 0x40, 0x41, 0x42, 0x43, 0x60, 0x61, 0x64, 0x70, 0x71,
        0x80, 0x92, 0x3F8, 0x3FA, 0x3FB, 0x3FC, 0x3FD, 0x3FF, 0xCF8, 0xCF9, 0xCFB, 0xCFC, 0xCFD,
        0xCFE, 0xCFF, 0xE9, 0xFFFF,
    ];
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        now += (x >> 50) % 100_000;
        let port = ports[(x % ports.len() as u64) as usize];
        let size = sizes[((x >> 8) % 3) as usize];
        if port == 0xF4 || (x >> 12) & 1 == 0 {
            cs.io_read(port, size, now);
        } else {
            cs.io_write(port, size, (x >> 20) as u32, now);
        }
        if x & 0x700 == 0 {
            cs.advance(now);
            if let Some(d) = cs.next_deadline() {
                assert!(d > now);
            }
            if cs.intr_pending() {
                cs.acknowledge();
            }
        }
    }
}

#[test]
fn firmware_pci_routing_is_visible_in_piix3_and_elcr() {
    let mut cs = Chipset::new(ChipsetConfig::default()).unwrap();
    cs.route_pci_interrupts();
    assert_eq!(cs.pci.config_read(1, 0, 0x60), 0x0B0B_0A0A);
    assert_eq!(cs.pirq.route(0), Some(10));
    assert_eq!(cs.pirq.route(3), Some(11));
    assert_eq!(cs.io_read(0x4D1, IoSize::Byte, 0), 0x0C);
}

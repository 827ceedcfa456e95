use super::*;
use crate::irq::{InterruptLine, IrqLines};
use PicSelect::{Master, Slave};

/// Linux `init_8259A(0)` followed by `probe_8259A`'s final masks: vectors 0x30/0x38,
/// cascade on IR2, normal EOI, everything masked but the cascade.
fn linux_init(pic: &mut Pic) {
    pic.write(Master, 1, 0xFF);
    pic.write(Slave, 1, 0xFF);
    pic.write(Master, 0, 0x11); // ICW1: edge, cascade, ICW4 follows
    pic.write(Master, 1, 0x30); // ICW2: ISA_IRQ_VECTOR(0)
    pic.write(Master, 1, 0x04); // ICW3: slave on IR2
    pic.write(Master, 1, 0x01); // ICW4: 8086 mode, normal EOI
    pic.write(Slave, 0, 0x11);
    pic.write(Slave, 1, 0x38);
    pic.write(Slave, 1, 0x02); // ICW3: slave id 2
    pic.write(Slave, 1, 0x01);
    pic.write(Master, 1, 0xFB);
    pic.write(Slave, 1, 0xFF);
}

fn setup() -> (Pic, IrqLines) {
    let lines = IrqLines::new();
    let mut pic = Pic::new(lines.clone());
    linux_init(&mut pic);
    (pic, lines)
}

fn pulse(line: &dyn InterruptLine) {
    line.set_level(true);
    line.set_level(false);
}

/// Linux `mask_and_ack_8259A` followed by unmasking, for an IRQ that was delivered.
fn linux_ack(pic: &mut Pic, irq: u8, mut unmask: impl FnMut(&mut Pic)) {
    if irq & 8 != 0 {
        pic.read(Slave, 1);
        let m = pic.read(Slave, 1) | 1 << (irq & 7);
        pic.write(Slave, 1, m);
        pic.write(Slave, 0, 0x60 + (irq & 7));
        pic.write(Master, 0, 0x62);
    } else {
        let m = pic.read(Master, 1) | 1 << irq;
        pic.write(Master, 1, m);
        pic.write(Master, 0, 0x60 + irq);
    }
    unmask(pic);
}

#[test]
fn probe_reads_back_the_mask() {
    let (mut pic, _) = setup();
    assert_eq!(pic.read(Master, 1), 0xFB);
    assert_eq!(pic.read(Slave, 1), 0xFF);
    assert!(!pic.intr_pending());
}

#[test]
fn timer_irq_vector_eoi_and_edge_latching() {
    let (mut pic, lines) = setup();
    let timer = lines.line(0);
    pic.write(Master, 1, 0xFA); // unmask IRQ0
    assert!(!pic.intr_pending());
    pulse(&timer);
    assert!(pic.intr_pending(), "a pulse between samples is not lost");
    assert_eq!(pic.acknowledge(), 0x30);
    assert_eq!(pic.isr(), 1);
    assert!(!pic.intr_pending(), "IRQ0 in service blocks a second IRQ0");
    pulse(&timer);
    assert_eq!(pic.irr() & 1, 1, "second tick waits in IRR");
    assert!(!pic.intr_pending());
    linux_ack(&mut pic, 0, |p| p.write(Master, 1, 0xFA));
    assert_eq!(pic.isr(), 0);
    assert!(pic.intr_pending());
    assert_eq!(pic.acknowledge(), 0x30);
    pic.write(Master, 0, 0x20); // non-specific EOI
    assert!(!pic.intr_pending());
}

#[test]
fn edge_input_held_high_interrupts_once() {
    let (mut pic, lines) = setup();
    let kbd = lines.line(1);
    pic.write(Master, 1, 0xF9);
    kbd.set_level(true);
    assert_eq!(pic.acknowledge(), 0x31);
    pic.write(Master, 0, 0x20);
    assert!(
        !pic.intr_pending(),
        "no new edge while the input stays high"
    );
    kbd.set_level(false);
    kbd.set_level(true);
    assert!(pic.intr_pending());
    assert_eq!(pic.acknowledge(), 0x31);
}

#[test]
fn slave_irq_goes_through_the_cascade() {
    let (mut pic, lines) = setup();
    let rtc = lines.line(8);
    pic.write(Slave, 1, 0xFE); // unmask IRQ8
    rtc.set_level(true);
    assert!(pic.intr_pending());
    assert_eq!(pic.acknowledge(), 0x38);
    assert_eq!(
        pic.isr(),
        1 << 8 | 1 << 2,
        "slave IR0 and master IR2 in service"
    );
    rtc.set_level(false);
    linux_ack(&mut pic, 8, |p| p.write(Slave, 1, 0xFE));
    assert_eq!(pic.isr(), 0);
    // Two slave requests: the second is delivered after the first is EOIed.
    let eth = lines.line(11);
    pic.write(Slave, 1, 0xF6);
    eth.set_level(true);
    rtc.set_level(true);
    assert_eq!(pic.acknowledge(), 0x38);
    assert!(
        !pic.intr_pending(),
        "master IR2 in service blocks the slave"
    );
    pic.write(Slave, 0, 0x20);
    pic.write(Master, 0, 0x20);
    assert!(pic.intr_pending());
    assert_eq!(pic.acknowledge(), 0x3B);
}

#[test]
fn fully_nested_priorities() {
    let (mut pic, lines) = setup();
    let (l0, l1, l3, l5) = (lines.line(0), lines.line(1), lines.line(3), lines.line(5));
    pic.write(Master, 1, 0x00);
    l1.set_level(true);
    l0.set_level(true);
    assert_eq!(pic.acknowledge(), 0x30, "IRQ0 beats IRQ1");
    assert!(!pic.intr_pending(), "IRQ1 may not interrupt IRQ0's handler");
    pic.write(Master, 0, 0x20);
    assert_eq!(pic.acknowledge(), 0x31);
    pic.write(Master, 0, 0x20);
    l3.set_level(true);
    assert_eq!(pic.acknowledge(), 0x33);
    l5.set_level(true);
    assert!(!pic.intr_pending(), "IRQ5 is lower than IRQ3 in service");
    l1.set_level(false);
    l1.set_level(true);
    assert!(pic.intr_pending(), "IRQ1 nests over IRQ3");
    assert_eq!(pic.acknowledge(), 0x31);
    assert_eq!(pic.isr(), 0b1010);
    pic.write(Master, 0, 0x20); // non-specific EOI clears the highest: IRQ1
    assert_eq!(pic.isr(), 0b1000);
    pic.write(Master, 0, 0x20);
    assert_eq!(pic.acknowledge(), 0x35);
}

#[test]
fn masked_requests_wait_in_irr() {
    let (mut pic, lines) = setup();
    let com1 = lines.line(4);
    pulse(&com1);
    assert!(!pic.intr_pending());
    assert_eq!(pic.irr() & 0x10, 0x10);
    pic.write(Master, 1, 0xEB);
    assert_eq!(pic.acknowledge(), 0x34);
}

#[test]
fn ocw3_selects_irr_or_isr_as_linux_irq_real_does() {
    let (mut pic, lines) = setup();
    let l6 = lines.line(6);
    pic.write(Master, 1, 0xBB);
    l6.set_level(true);
    assert_eq!(pic.read(Master, 0), 0x40, "IRR read by default");
    pic.acknowledge();
    pic.write(Master, 0, 0x0B); // read ISR
    assert_eq!(pic.read(Master, 0), 0x40);
    pic.write(Master, 0, 0x0A); // back to IRR
    assert_eq!(pic.read(Master, 0), 0x00);
    assert_eq!(pic.read(Master, 1), 0xBB, "offset 1 is always IMR");
}

#[test]
fn elcr_level_triggering() {
    let (mut pic, lines) = setup();
    pic.write_elcr(0, 0xFF);
    pic.write_elcr(1, 0xFF);
    assert_eq!(pic.read_elcr(0), 0xF8, "IRQ0-2 are always edge");
    assert_eq!(pic.read_elcr(1), 0xDE, "IRQ8 and IRQ13 are always edge");
    pic.write_elcr(0, 0x00);
    pic.write_elcr(1, 0x04); // IRQ10 level (a PCI INTx routed there)
    let pci = lines.line(10);
    pic.write(Master, 1, 0xFB);
    pic.write(Slave, 1, 0xFB);
    pci.set_level(true);
    assert_eq!(pic.acknowledge(), 0x3A);
    assert_eq!(pic.irr() & 1 << 10, 1 << 10, "a level request stays in IRR");
    pic.write(Slave, 0, 0x20);
    pic.write(Master, 0, 0x20);
    assert!(
        pic.intr_pending(),
        "still asserted after EOI: interrupts again"
    );
    assert_eq!(pic.acknowledge(), 0x3A);
    // Linux handle_level_irq: mask + EOI, the handler quiets the device, unmask.
    linux_ack(&mut pic, 10, |_| {});
    pci.set_level(false);
    pic.write(Slave, 1, 0xFB);
    assert!(!pic.intr_pending(), "deasserting withdraws the request");
    assert_eq!(pic.irr() & 1 << 10, 0);
    pci.set_level(true);
    assert!(pic.intr_pending(), "a level input needs no edge");
    pci.set_level(false);
    // Master IR2 is edge triggered and latched the slave's INT: as on real
    // hardware, a slave request withdrawn before INTA ends as spurious IRQ15.
    assert_eq!(pic.acknowledge(), 0x3F);
    pic.write(Master, 0, 0x20);
    assert!(!pic.intr_pending());
}

#[test]
fn spurious_irq7_and_irq15() {
    let (mut pic, lines) = setup();
    pic.write_elcr(0, 1 << 5);
    pic.write_elcr(1, 1 << 3);
    pic.write(Master, 1, 0xDB);
    pic.write(Slave, 1, 0xF7);
    let l5 = lines.line(5);
    l5.set_level(true);
    assert!(pic.intr_pending());
    l5.set_level(false); // the device let go before INTA
    assert_eq!(pic.acknowledge(), 0x37, "spurious IRQ7");
    assert_eq!(pic.isr(), 0, "a spurious IRQ7 is not put in service");
    let l11 = lines.line(11);
    l11.set_level(true);
    assert!(pic.intr_pending());
    l11.set_level(false);
    assert_eq!(pic.acknowledge(), 0x3F, "spurious IRQ15");
    assert_eq!(
        pic.isr(),
        1 << 2,
        "only the master's cascade input is in service"
    );
    pic.write(Master, 0, 0x62); // Linux EOIs the master only
    assert_eq!(pic.isr(), 0);
    assert!(!pic.intr_pending());
}

#[test]
fn auto_eoi_leaves_nothing_in_service() {
    let lines = IrqLines::new();
    let mut pic = Pic::new(lines.clone());
    pic.write(Master, 0, 0x11);
    pic.write(Master, 1, 0x08);
    pic.write(Master, 1, 0x04);
    pic.write(Master, 1, 0x03); // ICW4: AEOI
    pic.write(Master, 1, 0xFE);
    let t = lines.line(0);
    pulse(&t);
    assert_eq!(pic.acknowledge(), 0x08);
    assert_eq!(pic.isr(), 0);
    pulse(&t);
    assert!(pic.intr_pending(), "no EOI needed in AEOI mode");
}

#[test]
fn rotation_commands() {
    let (mut pic, lines) = setup();
    pic.write(Master, 1, 0x00);
    let srcs: Vec<_> = (0..8).map(|i| lines.line(i)).collect();
    // Set priority: IRQ4 lowest, so IRQ5 is now the highest.
    pic.write(Master, 0, 0xC4);
    srcs[3].set_level(true);
    srcs[6].set_level(true);
    assert_eq!(
        pic.acknowledge(),
        0x36,
        "IRQ6 ranks above IRQ3 after rotation"
    );
    pic.write(Master, 0, 0x20);
    assert_eq!(pic.acknowledge(), 0x33);
    // Rotate on non-specific EOI: IRQ3 becomes lowest, IRQ4 highest.
    pic.write(Master, 0, 0xA0);
    srcs[1].set_level(true);
    srcs[4].set_level(true);
    assert_eq!(pic.acknowledge(), 0x34);
    // Rotate on specific EOI for IRQ4: IRQ5 highest; IRQ1 still pending.
    pic.write(Master, 0, 0xE4);
    assert_eq!(pic.isr(), 0);
    srcs[7].set_level(true);
    assert_eq!(pic.acknowledge(), 0x37, "IRQ7 ranks above IRQ1 now");
}

#[test]
fn special_mask_mode_lets_lower_priorities_in() {
    let (mut pic, lines) = setup();
    pic.write(Master, 1, 0x00);
    let (l3, l5) = (lines.line(3), lines.line(5));
    l3.set_level(true);
    assert_eq!(pic.acknowledge(), 0x33);
    l5.set_level(true);
    assert!(!pic.intr_pending());
    pic.write(Master, 0, 0x68); // OCW3: set special mask mode
    pic.write(Master, 1, 0x08); // mask IRQ3, which is in service
    assert!(
        pic.intr_pending(),
        "SMM: masked in-service levels no longer block"
    );
    assert_eq!(pic.acknowledge(), 0x35);
    pic.write(Master, 0, 0x48); // clear SMM
    pic.write(Master, 0, 0x65);
    pic.write(Master, 0, 0x63);
    assert_eq!(pic.isr(), 0);
}

#[test]
fn poll_mode_acknowledges_on_read() {
    let (mut pic, lines) = setup();
    pic.write(Master, 1, 0x00);
    pic.write(Master, 0, 0x0C); // OCW3: poll
    assert_eq!(pic.read(Master, 0), 0x00, "nothing pending");
    let l6 = lines.line(6);
    l6.set_level(true);
    pic.write(Master, 0, 0x0C);
    assert_eq!(pic.read(Master, 1), 0x86);
    assert_eq!(pic.isr(), 0x40);
    assert_eq!(
        pic.read(Master, 1),
        0x00,
        "the poll is one read only: IMR again"
    );
}

#[test]
fn icw1_resets_mask_and_service_but_not_elcr() {
    let (mut pic, lines) = setup();
    pic.write_elcr(1, 0x02);
    pic.write(Master, 1, 0xFE);
    let t = lines.line(0);
    t.set_level(true);
    pic.acknowledge();
    pic.write(Master, 0, 0x11);
    assert_eq!(pic.isr(), 0);
    assert_eq!(pic.read(Master, 1), 0);
    assert_eq!(pic.read_elcr(1), 0x02);
    // ICW1 in single mode without ICW4: ICW2 completes the sequence.
    pic.write(Master, 0, 0x12);
    pic.write(Master, 1, 0x40);
    pic.write(Master, 1, 0x55);
    assert_eq!(pic.read(Master, 1), 0x55, "the next data write is OCW1");
}

#[test]
fn state_round_trip() {
    let (mut pic, lines) = setup();
    pic.write(Master, 1, 0x00);
    pic.write_elcr(1, 0x08);
    let (l3, l11) = (lines.line(3), lines.line(11));
    pic.write(Slave, 1, 0x00);
    l3.set_level(true);
    l11.set_level(true);
    assert_eq!(pic.acknowledge(), 0x3B);
    let saved = pic.state();
    let mut copy = Pic::from_state(saved, lines.clone());
    assert_eq!(copy.state(), saved);
    pic.write(Slave, 0, 0x20);
    pic.write(Master, 0, 0x20);
    copy.write(Slave, 0, 0x20);
    copy.write(Master, 0, 0x20);
    assert_eq!(pic.acknowledge(), copy.acknowledge());
    assert_eq!(pic.state(), copy.state());
}

#[test]
fn random_guest_writes_never_panic() {
    let lines = IrqLines::new();
    let mut pic = Pic::new(lines.clone());
    let srcs: Vec<_> = (0..16).map(|i| lines.line(i)).collect();
    let mut x = 0x1234_5678_9ABC_DEF0u64;
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = (x >> 8) as u8;
        let chip = if x & 1 == 0 { Master } else { Slave };
        match (x >> 1) % 8 {
            0 | 1 => pic.write(chip, (x >> 4) as u16, v),
            2 => {
                pic.read(chip, (x >> 4) as u16);
            }
            3 => pic.write_elcr((x >> 4) as u16, v),
            4 => srcs[usize::from(v & 15)].set_level(x & 0x100 != 0),
            5 => {
                pic.acknowledge();
            }
            _ => {
                pic.intr_pending();
            }
        }
    }
}

use super::*;
use crate::bus::IoSize;
use crate::irq::{InterruptLine, IrqLines};

const D: IoSize = IoSize::Dword;

fn enabled() -> LocalApic {
    let mut a = LocalApic::new(0);
    a.write(0xF0, D, 0x1FF, 0);
    a
}

fn fixed(vector: u8, level: bool) -> Message {
    Message {
        vector,
        mode: DeliveryMode::Fixed,
        level,
        dest: 0,
        logical: false,
    }
}

#[test]
fn priority_nesting_eoi_and_tpr() {
    let mut a = enabled();
    a.receive(fixed(0x31, false));
    a.receive(fixed(0x51, false));
    assert_eq!(a.read(0x210, D, 0), 1 << (0x31 - 0x20), "IRR word 1");
    assert_eq!(a.read(0x220, D, 0), 1 << (0x51 - 0x40), "IRR word 2");
    assert_eq!(a.acknowledge(), 0x51, "highest vector first");
    assert_eq!(a.ppr(), 0x50);
    assert!(
        !a.intr_pending(),
        "0x31 is a lower class than 0x51 in service"
    );
    a.receive(fixed(0x61, false));
    assert!(a.intr_pending(), "a higher class nests");
    assert_eq!(a.acknowledge(), 0x61);
    assert_eq!(a.read(0x130, D, 0), 1 << (0x61 - 0x60), "ISR word 3");
    a.write(0xB0, D, 0, 0);
    assert_eq!(a.read(0x130, D, 0), 0, "EOI retires the highest in service");
    assert_eq!(a.read(0x120, D, 0), 1 << (0x51 - 0x40));
    a.write(0xB0, D, 0, 0);
    a.write(0x80, D, 0x40, 0);
    assert!(!a.intr_pending(), "TPR 0x40 holds vector 0x31");
    a.write(0x80, D, 0x20, 0);
    assert_eq!(a.read(0xA0, D, 0), 0x20, "PPR follows TPR");
    assert_eq!(a.acknowledge(), 0x31);
    // Nothing left: INTA returns the spurious vector and sets no ISR bit.
    assert_eq!(a.acknowledge(), 0xFF);
    assert_eq!(a.ppr(), 0x30);
}

#[test]
fn illegal_vectors_set_esr_and_software_disable_masks_lvts() {
    let mut a = enabled();
    a.receive(fixed(5, false));
    assert_eq!(
        a.read(0x280, D, 0),
        0,
        "ESR reads what the last write latched"
    );
    a.write(0x280, D, 0, 0);
    assert_eq!(a.read(0x280, D, 0), 1 << 6, "receive illegal vector");
    a.write(0x350, D, 0x0_0030, 0);
    assert_eq!(a.read(0x350, D, 0), 0x30);
    a.write(0xF0, D, 0xEF, 0);
    assert_eq!(a.read(0xF0, D, 0), 0xEF, "the spurious vector reads back");
    assert_eq!(a.read(0x350, D, 0), 0x1_0030, "disabling masks every LVT");
    a.write(0x350, D, 0x30, 0);
    assert_eq!(
        a.read(0x350, D, 0) & 1 << 16,
        1 << 16,
        "and keeps them masked"
    );
    a.receive(fixed(0x40, false));
    assert!(
        !a.intr_pending(),
        "a software-disabled APIC delivers nothing"
    );
}

#[test]
fn one_shot_timer_counts_down_and_fires_once() {
    let mut a = enabled();
    a.write(0x3E0, D, 0xB, 0); // divide by 1
    a.write(0x320, D, 0x40, 0);
    a.write(0x380, D, 1000, 100);
    assert_eq!(a.next_deadline(), Some(1100));
    assert_eq!(a.read(0x390, D, 500), 600);
    a.advance(1099);
    assert!(!a.intr_pending());
    a.advance(1100);
    assert_eq!(a.acknowledge(), 0x40);
    assert_eq!(a.read(0x390, D, 1200), 0);
    assert_eq!(a.next_deadline(), None, "one-shot stops");
}

#[test]
fn periodic_timer_reloads_and_divides() {
    let mut a = enabled();
    a.write(0x3E0, D, 0x1, 0); // divide by 4
    a.write(0x320, D, 0x2_0041, 0);
    a.write(0x380, D, 50, 0); // period 200 ns
    assert_eq!(a.next_deadline(), Some(200));
    assert_eq!(a.read(0x390, D, 250), 50 - 12);
    a.advance(200);
    assert_eq!(a.next_deadline(), Some(400));
    assert_eq!(a.acknowledge(), 0x41);
    a.write(0xB0, D, 0, 0);
    a.advance(1050); // several periods missed: one interrupt, next on the grid
    assert_eq!(a.next_deadline(), Some(1200));
    assert_eq!(a.acknowledge(), 0x41);
    assert_eq!(a.acknowledge(), 0xFF, "only one");
    // Masked: counts on, raises nothing, wakes nobody.
    a.write(0x320, D, 0x3_0041, 1100);
    assert_eq!(a.next_deadline(), None);
    a.advance(5000);
    a.write(0x320, D, 0x2_0041, 5000);
    assert!(
        !a.intr_pending(),
        "expiries while masked do not fire at unmask"
    );
}

#[test]
fn self_ipis_nmi_and_idle_delivery_status() {
    let mut a = enabled();
    a.write(0x300, D, 0x4_0050, 0); // self shorthand, fixed 0x50
    assert_eq!(a.read(0x300, D, 0) & 1 << 12, 0, "delivery status idle");
    assert_eq!(a.acknowledge(), 0x50);
    a.write(0x310, D, 0, 0);
    a.write(0x300, D, 0x400, 0); // NMI to APIC ID 0, physical
    assert!(a.take_nmi());
    assert!(!a.take_nmi());
    a.write(0x310, D, 3 << 24, 0);
    a.write(0x300, D, 0x60, 0); // fixed to APIC ID 3: not us
    assert!(!a.intr_pending());
    a.write(0x300, D, 0xC_0060, 0); // all excluding self
    assert!(!a.intr_pending());
    // LINT1 as NMI.
    a.set_virtual_wire();
    a.lint1_edge();
    assert!(a.nmi_pending());
    assert!(a.extint_enabled());
}

#[test]
fn msr_relocates_and_disables() {
    let mut a = enabled();
    assert_eq!(a.mmio_base(), APIC_DEFAULT_BASE);
    a.set_base_msr(0xFED0_0000 | APIC_BASE_ENABLE);
    assert_eq!(a.mmio_base(), 0xFED0_0000);
    assert_eq!(
        a.base_msr() & APIC_BASE_BSP,
        APIC_BASE_BSP,
        "BSP is read-only"
    );
    a.set_base_msr(0xFED0_0000);
    assert!(!a.hw_enabled());
    assert!(a.extint_enabled(), "a disabled APIC lets the 8259A through");
    a.receive(fixed(0x40, false));
    assert!(!a.intr_pending());
    assert_eq!(a.read(0xF0, D, 0), 0xFF, "disabling resets the registers");
}

fn program(io: &mut IoApic, pin: u32, low: u32, out: &mut Vec<Message>) {
    io.write(0, D, 0x10 + 2 * pin + 1, &mut |m| out.push(m));
    io.write(0x10, D, 0, &mut |m| out.push(m));
    io.write(0, D, 0x10 + 2 * pin, &mut |m| out.push(m));
    io.write(0x10, D, low, &mut |m| out.push(m));
}

#[test]
fn ioapic_registers_and_isa_edge_on_pin_2() {
    let lines = IrqLines::new();
    let pit = lines.line(0);
    let mut io = IoApic::new(1, 0);
    let mut out = Vec::new();
    io.write(0, D, 1, &mut |m| out.push(m));
    assert_eq!(io.read(0x10, D), IOAPIC_VERSION);
    io.write(0, D, 0, &mut |m| out.push(m));
    assert_eq!(io.read(0x10, D), 1 << 24);
    program(&mut io, 2, 0x30, &mut out);
    pit.set_level(true);
    pit.set_level(false);
    io.sync(&lines, &mut |m| out.push(m));
    assert_eq!(
        out,
        vec![fixed(0x30, false)],
        "a pulse between samples is one edge"
    );
    out.clear();
    io.sync(&lines, &mut |m| out.push(m));
    assert!(out.is_empty());
    // Masked edges are dropped.
    program(&mut io, 2, 0x1_0030, &mut out);
    pit.set_level(true);
    io.sync(&lines, &mut |m| out.push(m));
    assert!(out.is_empty());
}

#[test]
fn ioapic_level_remote_irr_eoi_polarity_and_mask() {
    let lines = IrqLines::new();
    let dev = lines.line(10);
    // Pin 10 is a PCI INTx# wire: active-low.
    let mut io = IoApic::new(1, 1 << 10);
    let mut out = Vec::new();
    program(&mut io, 10, 0x1_A041, &mut out); // masked, level, active-low
    io.sync(&lines, &mut |m| out.push(m));
    assert!(out.is_empty());
    dev.set_level(true);
    io.sync(&lines, &mut |m| out.push(m));
    assert!(out.is_empty(), "masked");
    program(&mut io, 10, 0xA041, &mut out); // unmask: fires at once
    assert_eq!(out, vec![fixed(0x41, true)]);
    assert_ne!(io.entry(10) & 1 << 14, 0, "remote IRR set");
    out.clear();
    io.sync(&lines, &mut |m| out.push(m));
    assert!(out.is_empty(), "remote IRR holds it");
    io.eoi(0x41, &mut |m| out.push(m));
    assert_eq!(out.len(), 1, "still asserted after EOI: fires again");
    out.clear();
    dev.set_level(false);
    io.sync(&lines, &mut |m| out.push(m));
    io.eoi(0x41, &mut |m| out.push(m));
    assert!(out.is_empty(), "deasserted: quiet");
    assert_eq!(io.entry(10) & 1 << 14, 0);
    // Programmed active-high on an active-low wire: the idle wire looks active.
    program(&mut io, 10, 0x8041, &mut out);
    assert_eq!(out.len(), 1);
}

#[test]
fn state_round_trips() {
    let mut a = enabled();
    a.receive(fixed(0x44, true));
    a.write(0x380, D, 77, 5);
    let b = LocalApic::from_state(a.state());
    assert_eq!(b.state(), a.state());
    let mut io = IoApic::new(2, 0);
    program(&mut io, 3, 0x55, &mut Vec::new());
    assert_eq!(IoApic::from_state(io.state(), 0).state(), io.state());
}

#[test]
fn ioapic_pin0_extint_route() {
    let mut io = IoApic::new(1, 0);
    let mut out = Vec::new();
    assert_eq!(io.extint_route(), None, "reset: masked");
    // Pin 0: ExtINT (mode 7), physical destination 0.
    program(&mut io, 0, 0x700, &mut out);
    assert_eq!(io.extint_route(), Some((0, false)));
    program(&mut io, 0, 0x1_0700, &mut out);
    assert_eq!(io.extint_route(), None, "masked again");
    program(&mut io, 0, 0x30, &mut out);
    assert_eq!(io.extint_route(), None, "a fixed entry is no ExtINT route");
    assert!(out.is_empty());
    let a = enabled();
    assert!(a.accepts(0, false) && !a.accepts(3, false));
}

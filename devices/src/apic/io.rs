//! The IO-APIC (82093AA-style, version 0x11, 24 pins).

use super::{DeliveryMode, Message};
use crate::bus::IoSize;
use crate::irq::IrqLines;

/// Physical address of the IO-APIC's register window on a PC.
pub const IOAPIC_BASE: u32 = 0xFEC0_0000;
/// Redirection-table entries (pins).
pub const IOAPIC_PINS: usize = 24;
/// Version register: version 0x11, maximum redirection entry 23.
pub const IOAPIC_VERSION: u32 = 0x0017_0011;

const MASKED: u64 = 1 << 16;
const LEVEL: u64 = 1 << 15;
const REMOTE_IRR: u64 = 1 << 14;
const ACTIVE_LOW: u64 = 1 << 13;
/// Writable bits of a redirection entry: vector, delivery mode, destination
/// mode, polarity, trigger mode, mask, destination (bits 56-63).
const WRITABLE: u64 = 0xFF00_0000_0001_AFFF;

/// Everything an IO-APIC holds (for snapshots).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoApicState {
    /// IOAPICID bits 24-27.
    pub id: u8,
    /// IOREGSEL: the register IOWIN reaches.
    pub select: u8,
    /// Redirection table.
    pub redir: [u64; IOAPIC_PINS],
    /// Pins whose input is active (after polarity) as last sampled.
    pub active: u32,
    /// Electrical input level of each pin as last sampled.
    pub levels: u32,
}

/// An IO-APIC. Its inputs are the ISA wires (via [`IoApic::sync`]; ISA IRQ 0, the
/// PIT, is on pin 2, as on a PC; PCI INTx reaches it through the PIRQ router's
/// ISA IRQs, as on QEMU's i440FX). `active_low_wires` says which pins are
/// wired active-low (PCI INTx# after the PIRQ router): there the electrical level
/// is the inverse of the asserted state, and software must program those pins
/// active-low, as the MADT overrides tell it.
#[derive(Debug, Clone)]
pub struct IoApic {
    s: IoApicState,
    active_low_wires: u32,
}

/// The IO-APIC pin an ISA IRQ reaches (the ISA overrides of a PC: IRQ 0 on pin
/// 2; IRQ 2 is the cascade and reaches no pin).
pub fn isa_pin(irq: u8) -> Option<usize> {
    match irq {
        0 => Some(2),
        2 => None,
        n if n < 16 => Some(usize::from(n)),
        _ => None,
    }
}

impl IoApic {
    /// An IO-APIC in its reset state (every pin masked) with ID `id`.
    pub fn new(id: u8, active_low_wires: u32) -> Self {
        Self::from_state(
            IoApicState {
                id,
                select: 0,
                redir: [MASKED; IOAPIC_PINS],
                active: 0,
                levels: 0,
            },
            active_low_wires,
        )
    }

    /// The state, for snapshots.
    pub fn state(&self) -> IoApicState {
        self.s
    }

    /// Rebuilds an IO-APIC from a snapshot (the wiring comes from the board).
    pub fn from_state(s: IoApicState, active_low_wires: u32) -> Self {
        IoApic {
            s,
            active_low_wires,
        }
    }

    /// The pins wired active-low (board wiring, not guest state).
    pub fn active_low_wires(&self) -> u32 {
        self.active_low_wires
    }

    /// Redirection entry of `pin` (for tests and debugging).
    pub fn entry(&self, pin: usize) -> u64 {
        self.s.redir.get(pin).copied().unwrap_or(0)
    }

    /// Samples the ISA wires and sends a message for every pin that fires: an
    /// edge pin on a rising edge (also a pulse since the last sample), a level
    /// pin while active unless its remote IRR is set.
    pub fn sync(&mut self, lines: &IrqLines, out: &mut dyn FnMut(Message)) {
        let (levels, edges) = lines.take_for_ioapic();
        let map = |bits: u16| {
            (0..16u8)
                .filter(|&i| bits & 1 << i != 0)
                .filter_map(isa_pin)
                .fold(0u32, |m, p| m | 1 << p)
        };
        self.update(map(levels), map(edges), out);
    }

    /// `asserted`: which pins' sources are asserting now; `rose`: which rose since
    /// the last sample (pulses included).
    fn update(&mut self, asserted: u32, rose: u32, out: &mut dyn FnMut(Message)) {
        let levels = asserted ^ self.active_low_wires;
        self.s.levels = levels & 0x00FF_FFFF;
        let old_active = self.s.active;
        let mut active = 0;
        for pin in 0..IOAPIC_PINS {
            if (levels >> pin) & 1 != (self.s.redir[pin] & ACTIVE_LOW != 0) as u32 {
                active |= 1 << pin;
            }
        }
        self.s.active = active;
        for pin in 0..IOAPIC_PINS {
            let bit = 1u32 << pin;
            let e = self.s.redir[pin];
            if e & LEVEL == 0 {
                // A wire that is not inverted anywhere reports its pulses; otherwise
                // only the transitions seen between samples count.
                let inverted = (self.active_low_wires & bit != 0) != (e & ACTIVE_LOW != 0);
                let fired = if inverted {
                    active & bit != 0 && old_active & bit == 0
                } else {
                    rose & bit != 0 || (active & bit != 0 && old_active & bit == 0)
                };
                if fired && e & MASKED == 0 {
                    out(self.message(pin));
                }
            }
        }
        self.service_levels(out);
    }

    /// Level pins that are active, unmasked and not waiting for an EOI fire now.
    fn service_levels(&mut self, out: &mut dyn FnMut(Message)) {
        for pin in 0..IOAPIC_PINS {
            let e = self.s.redir[pin];
            if e & LEVEL != 0 && e & (MASKED | REMOTE_IRR) == 0 && self.s.active & 1 << pin != 0 {
                if matches!(
                    DeliveryMode::of(e as u32),
                    DeliveryMode::Fixed | DeliveryMode::LowestPriority
                ) {
                    self.s.redir[pin] |= REMOTE_IRR;
                }
                out(self.message(pin));
            }
        }
    }

    /// Where pin 0 (wired on a PC to the 8259A's INTR output) sends the 8259A's
    /// interrupts when its entry is an unmasked ExtINT one ("virtual wire" through
    /// the IO-APIC): the destination and whether it is logical. The destination
    /// APIC then fetches the vector from the 8259A with an INTA cycle, as with
    /// LINT0 in ExtINT mode.
    pub fn extint_route(&self) -> Option<(u8, bool)> {
        let e = self.s.redir[0];
        (e & MASKED == 0 && DeliveryMode::of(e as u32) == DeliveryMode::ExtInt)
            .then_some(((e >> 56) as u8, e & 1 << 11 != 0))
    }

    fn message(&self, pin: usize) -> Message {
        let e = self.s.redir[pin];
        Message {
            vector: e as u8,
            mode: DeliveryMode::of(e as u32),
            level: e & LEVEL != 0,
            dest: (e >> 56) as u8,
            logical: e & 1 << 11 != 0,
        }
    }

    /// The local APIC broadcast the EOI of `vector`: level pins with that vector
    /// clear their remote IRR, and fire again if still active.
    pub fn eoi(&mut self, vector: u8, out: &mut dyn FnMut(Message)) {
        for e in &mut self.s.redir {
            if *e & LEVEL != 0 && *e as u8 == vector {
                *e &= !REMOTE_IRR;
            }
        }
        self.service_levels(out);
    }

    fn read_reg(&self) -> u32 {
        let s = &self.s;
        match s.select {
            0x00 => u32::from(s.id & 0xF) << 24,
            0x01 => IOAPIC_VERSION,
            0x02 => u32::from(s.id & 0xF) << 24,
            r @ 0x10..=0x3F => {
                let e = s.redir[usize::from(r - 0x10) / 2];
                if r & 1 == 0 {
                    e as u32
                } else {
                    (e >> 32) as u32
                }
            }
            _ => 0xFFFF_FFFF,
        }
    }

    fn write_reg(&mut self, v: u32, out: &mut dyn FnMut(Message)) {
        match self.s.select {
            0x00 => self.s.id = (v >> 24) as u8 & 0xF,
            r @ 0x10..=0x3F => {
                let pin = usize::from(r - 0x10) / 2;
                let old = self.s.redir[pin];
                let new = if r & 1 == 0 {
                    old & !0xFFFF_FFFF | u64::from(v)
                } else {
                    old & 0xFFFF_FFFF | u64::from(v) << 32
                };
                let mut e = new & WRITABLE | old & REMOTE_IRR;
                if e & LEVEL == 0 {
                    // Switching a pin to edge clears a stuck remote IRR (what
                    // Linux's EOI workaround for version 0x11 relies on).
                    e &= !REMOTE_IRR;
                }
                self.s.redir[pin] = e;
                // The polarity decides which level is active.
                let levels = self.s.levels;
                let bit = 1 << pin;
                let active = (levels & bit != 0) != (e & ACTIVE_LOW != 0);
                if active {
                    self.s.active |= bit;
                } else {
                    self.s.active &= !bit;
                }
                self.service_levels(out);
            }
            _ => {}
        }
    }

    /// A read of the register window: IOREGSEL at 0x00, IOWIN at 0x10.
    pub fn read(&mut self, offset: u32, size: IoSize) -> u32 {
        let v = match offset & !3 {
            0x00 => u32::from(self.s.select),
            0x10 => self.read_reg(),
            _ => 0,
        };
        (v >> (8 * (offset & 3))) & size.mask()
    }

    /// A write to the register window; unmasking an active level pin (or a change
    /// of polarity that makes a pin active) may fire it at once.
    pub fn write(&mut self, offset: u32, _size: IoSize, value: u32, out: &mut dyn FnMut(Message)) {
        match offset {
            0x00 => self.s.select = value as u8,
            0x10 => self.write_reg(value, out),
            _ => {}
        }
    }
}

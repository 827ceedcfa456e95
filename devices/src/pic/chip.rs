//! One Intel 8259A Programmable Interrupt Controller (as integrated in PIIX3).
//!
//! Register names follow the Intel 8259A datasheet: ICW1-4 initialisation words,
//! OCW1 (IMR), OCW2 (EOI/rotation), OCW3 (read select, poll, special mask),
//! IRR/ISR/IMR. Trigger mode per input comes from the PIIX3 ELCR, not ICW1.LTIM
//! (PIIX3 ignores LTIM). Behaviour mirrors the long-proven QEMU model where the
//! datasheet leaves a choice.

/// Saved state of one 8259A.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChipState {
    /// Interrupt Request Register.
    pub irr: u8,
    /// In-Service Register.
    pub isr: u8,
    /// Interrupt Mask Register (OCW1).
    pub imr: u8,
    /// Input levels as last seen, for edge detection.
    pub last_irr: u8,
    /// Rotation: the input with the highest priority.
    pub priority_add: u8,
    /// Vector base from ICW2 (bits 7:3).
    pub irq_base: u8,
    /// OCW3 RR/RIS: reads of offset 0 return ISR instead of IRR.
    pub read_isr: bool,
    /// OCW3 P: the next read is a poll.
    pub poll: bool,
    /// OCW3 SMM: special mask mode.
    pub special_mask: bool,
    /// Which ICW is expected next (0 = initialised, 1 = ICW2, 2 = ICW3, 3 = ICW4).
    pub init_state: u8,
    /// ICW4 AEOI: auto end of interrupt.
    pub auto_eoi: bool,
    /// OCW2 rotate in auto-EOI mode.
    pub rotate_on_auto_eoi: bool,
    /// ICW4 SFNM: special fully nested mode.
    pub special_fully_nested: bool,
    /// ICW1 IC4: an ICW4 follows.
    pub icw4_needed: bool,
    /// ICW1 SNGL: single (no cascade, no ICW3).
    pub single: bool,
    /// ICW3 as written (cascade wiring; informational).
    pub icw3: u8,
    /// Edge/Level Control Register (PIIX3 ELCR1/ELCR2): 1 = level triggered.
    pub elcr: u8,
}

/// One 8259A. `master` decides ELCR writable bits and special fully nested behaviour.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Chip {
    pub(crate) s: ChipState,
    master: bool,
}

impl Chip {
    pub(crate) fn new(master: bool) -> Self {
        Self {
            s: ChipState::default(),
            master,
        }
    }

    pub(crate) fn from_state(s: ChipState, master: bool) -> Self {
        let mut c = Self { s, master };
        c.s.elcr &= c.elcr_mask();
        c.s.priority_add &= 7;
        c.s.init_state = c.s.init_state.min(3);
        c
    }

    /// ELCR bits that exist: IRQ 0, 1, 2 (master) and 8, 13 (slave) are always edge.
    pub(crate) fn elcr_mask(&self) -> u8 {
        if self.master {
            0xF8
        } else {
            0xDE
        }
    }

    pub(crate) fn set_elcr(&mut self, value: u8) {
        self.s.elcr = value & self.elcr_mask();
    }

    fn priority(&self, mask: u8) -> u8 {
        if mask == 0 {
            return 8;
        }
        let mut p = 0;
        while mask & (1 << ((p + self.s.priority_add) & 7)) == 0 {
            p += 1;
        }
        p
    }

    /// The input this chip would present on INTA, if any beats the one in service.
    pub(crate) fn pending_irq(&self) -> Option<u8> {
        let p = self.priority(self.s.irr & !self.s.imr);
        if p == 8 {
            return None;
        }
        let mut in_service = self.s.isr;
        if self.s.special_mask {
            in_service &= !self.s.imr;
        }
        if self.s.special_fully_nested && self.master {
            in_service &= !(1 << 2);
        }
        (p < self.priority(in_service)).then_some((p + self.s.priority_add) & 7)
    }

    /// The chip's INT output.
    pub(crate) fn int_output(&self) -> bool {
        self.pending_irq().is_some()
    }

    /// Input `irq` is now at `level`.
    pub(crate) fn set_irq(&mut self, irq: u8, level: bool) {
        let mask = 1u8 << (irq & 7);
        if self.s.elcr & mask != 0 {
            if level {
                self.s.irr |= mask;
                self.s.last_irr |= mask;
            } else {
                self.s.irr &= !mask;
                self.s.last_irr &= !mask;
            }
        } else if level {
            if self.s.last_irr & mask == 0 {
                self.s.irr |= mask;
            }
            self.s.last_irr |= mask;
        } else {
            self.s.last_irr &= !mask;
        }
    }

    /// INTA for `irq`: set ISR (unless auto-EOI), clear an edge request.
    pub(crate) fn intack(&mut self, irq: u8) {
        let mask = 1u8 << (irq & 7);
        if self.s.auto_eoi {
            if self.s.rotate_on_auto_eoi {
                self.s.priority_add = (irq + 1) & 7;
            }
        } else {
            self.s.isr |= mask;
        }
        if self.s.elcr & mask == 0 {
            self.s.irr &= !mask;
        }
    }

    /// ICW1 resets the chip (ELCR survives: it lives in PIIX3, not the 8259A core).
    fn init_reset(&mut self) {
        let elcr = self.s.elcr;
        let irr = self.s.irr & elcr;
        self.s = ChipState {
            elcr,
            irr,
            ..ChipState::default()
        };
    }

    /// Register read at offset 0 (IRR/ISR) or 1 (IMR), or a poll.
    pub(crate) fn read(&mut self, offset: u16) -> u8 {
        if self.s.poll {
            self.s.poll = false;
            return match self.pending_irq() {
                Some(irq) => {
                    self.intack(irq);
                    0x80 | irq
                }
                None => 0,
            };
        }
        match (offset & 1, self.s.read_isr) {
            (0, true) => self.s.isr,
            (0, false) => self.s.irr,
            _ => self.s.imr,
        }
    }

    /// Register write at offset 0 (ICW1, OCW2, OCW3) or 1 (ICW2-4, OCW1).
    pub(crate) fn write(&mut self, offset: u16, val: u8) {
        if offset & 1 == 0 {
            if val & 0x10 != 0 {
                // ICW1
                self.init_reset();
                self.s.init_state = 1;
                self.s.icw4_needed = val & 1 != 0;
                self.s.single = val & 2 != 0;
            } else if val & 0x08 != 0 {
                // OCW3
                if val & 0x04 != 0 {
                    self.s.poll = true;
                }
                if val & 0x02 != 0 {
                    self.s.read_isr = val & 1 != 0;
                }
                if val & 0x40 != 0 {
                    self.s.special_mask = val & 0x20 != 0;
                }
            } else {
                self.ocw2(val);
            }
        } else {
            match self.s.init_state {
                1 => {
                    self.s.irq_base = val & 0xF8;
                    self.s.init_state = match (self.s.single, self.s.icw4_needed) {
                        (false, _) => 2,
                        (true, true) => 3,
                        (true, false) => 0,
                    };
                }
                2 => {
                    self.s.icw3 = val;
                    self.s.init_state = if self.s.icw4_needed { 3 } else { 0 };
                }
                3 => {
                    self.s.special_fully_nested = val & 0x10 != 0;
                    self.s.auto_eoi = val & 0x02 != 0;
                    self.s.init_state = 0;
                }
                _ => self.s.imr = val,
            }
        }
    }

    fn ocw2(&mut self, val: u8) {
        let level = val & 7;
        match val >> 5 {
            // Rotate in auto-EOI mode: clear (0) / set (4).
            0 | 4 => self.s.rotate_on_auto_eoi = val & 0x80 != 0,
            // Non-specific EOI (1) / rotate on non-specific EOI (5).
            cmd @ (1 | 5) => {
                let p = self.priority(self.s.isr);
                if p != 8 {
                    let irq = (p + self.s.priority_add) & 7;
                    self.s.isr &= !(1 << irq);
                    if cmd == 5 {
                        self.s.priority_add = (irq + 1) & 7;
                    }
                }
            }
            // Specific EOI.
            3 => self.s.isr &= !(1 << level),
            // Set priority: `level` becomes the lowest.
            6 => self.s.priority_add = (level + 1) & 7,
            // Rotate on specific EOI.
            7 => {
                self.s.isr &= !(1 << level);
                self.s.priority_add = (level + 1) & 7;
            }
            // 2: no operation.
            _ => {}
        }
    }
}

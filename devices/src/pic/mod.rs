//! The PC's cascaded 8259A pair (master at 0x20/0x21, slave at 0xA0/0xA1, slave INT
//! on master IR2) plus the PIIX3 Edge/Level Control Registers at 0x4D0/0x4D1.
//!
//! The pair samples the shared [`IrqLines`] on every access, so devices only ever
//! drive their own wires. The CPU side is [`Pic::intr_pending`] (the INTR pin) and
//! [`Pic::acknowledge`] (the two INTA cycles, returning the vector).

mod chip;
#[cfg(test)]
mod tests;

pub use chip::ChipState;

use crate::irq::IrqLines;
use chip::Chip;

/// Which 8259A of the pair a register access is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PicSelect {
    /// IRQ 0-7, ports 0x20/0x21.
    Master,
    /// IRQ 8-15, ports 0xA0/0xA1.
    Slave,
}

/// Saved state of the pair.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PicState {
    /// Master chip.
    pub master: ChipState,
    /// Slave chip.
    pub slave: ChipState,
    /// Levels of the sixteen ISA inputs as last sampled.
    pub sampled_levels: u16,
}

/// The master/slave 8259A pair.
#[derive(Debug, Clone)]
pub struct Pic {
    master: Chip,
    slave: Chip,
    lines: IrqLines,
    sampled: u16,
}

impl Pic {
    /// A pair in power-on state (uninitialised, all inputs edge triggered) sampling `lines`.
    pub fn new(lines: IrqLines) -> Self {
        Self {
            master: Chip::new(true),
            slave: Chip::new(false),
            lines,
            sampled: 0,
        }
    }

    /// Snapshot for save/restore.
    pub fn state(&self) -> PicState {
        PicState {
            master: self.master.s,
            slave: self.slave.s,
            sampled_levels: self.sampled,
        }
    }

    /// Rebuild from a snapshot, sampling `lines` from now on.
    pub fn from_state(state: PicState, lines: IrqLines) -> Self {
        let mut pic = Self {
            master: Chip::from_state(state.master, true),
            slave: Chip::from_state(state.slave, false),
            lines,
            sampled: state.sampled_levels,
        };
        pic.cascade();
        pic
    }

    /// Replace the state in place (the same input lines are sampled).
    pub fn restore(&mut self, state: PicState) {
        *self = Self::from_state(state, self.lines.clone());
    }

    /// The interrupt lines this pair samples.
    pub fn lines(&self) -> &IrqLines {
        &self.lines
    }

    /// Read a chip register: offset 0 = IRR or ISR (per OCW3), 1 = IMR; a pending
    /// OCW3 poll turns either read into a poll (0x80 | level, acknowledging it).
    pub fn read(&mut self, chip: PicSelect, offset: u16) -> u8 {
        self.sample();
        let v = self.chip_mut(chip).read(offset);
        self.cascade();
        v
    }

    /// Write a chip register: offset 0 = ICW1/OCW2/OCW3, 1 = ICW2-4/OCW1.
    pub fn write(&mut self, chip: PicSelect, offset: u16, value: u8) {
        self.sample();
        self.chip_mut(chip).write(offset, value);
        self.cascade();
    }

    /// Read ELCR1 (offset 0, port 0x4D0) or ELCR2 (offset 1, port 0x4D1).
    pub fn read_elcr(&self, offset: u16) -> u8 {
        if offset & 1 == 0 {
            self.master.s.elcr
        } else {
            self.slave.s.elcr
        }
    }

    /// Write ELCR1/ELCR2; IRQ 0, 1, 2, 8 and 13 stay edge triggered.
    pub fn write_elcr(&mut self, offset: u16, value: u8) {
        self.sample();
        if offset & 1 == 0 {
            self.master.set_elcr(value);
        } else {
            self.slave.set_elcr(value);
        }
        // A level input that is high now requests immediately.
        self.reapply_levels();
        self.cascade();
    }

    /// The INTR pin: whether an unmasked request beats everything in service.
    pub fn intr_pending(&self) -> bool {
        let (levels, edges) = (self.lines.levels(), self.lines.pending_edges());
        if levels == self.sampled && edges == 0 {
            return self.master.int_output();
        }
        // Look at what sampling would do without consuming the latched edges.
        let mut probe = self.clone();
        probe.apply(levels, edges);
        probe.master.int_output()
    }

    /// The INTA cycle: returns the vector and moves the request to in-service.
    /// With nothing left to deliver (a level input dropped, or a masked request) it
    /// returns the spurious vector of IR7 (master) or IR15 (slave, whose master IR2
    /// does go in service, as on real hardware; Linux EOIs only the master then).
    pub fn acknowledge(&mut self) -> u8 {
        self.sample();
        let vector = match self.master.pending_irq() {
            Some(2) => {
                let slave_irq = match self.slave.pending_irq() {
                    Some(irq) => {
                        self.slave.intack(irq);
                        irq
                    }
                    None => 7,
                };
                self.cascade();
                self.master.intack(2);
                self.slave.s.irq_base.wrapping_add(slave_irq)
            }
            Some(irq) => {
                self.master.intack(irq);
                self.master.s.irq_base.wrapping_add(irq)
            }
            None => self.master.s.irq_base.wrapping_add(7),
        };
        self.cascade();
        vector
    }

    /// Take in line changes now, so later [`Pic::intr_pending`] calls stay on
    /// their fast path (the board calls this after device accesses).
    pub fn sync(&mut self) {
        self.sample();
    }

    /// IRR of both chips, bit n = IRQ n (after sampling the lines).
    pub fn irr(&mut self) -> u16 {
        self.sample();
        u16::from(self.master.s.irr) | u16::from(self.slave.s.irr) << 8
    }

    /// ISR of both chips, bit n = IRQ n.
    pub fn isr(&self) -> u16 {
        u16::from(self.master.s.isr) | u16::from(self.slave.s.isr) << 8
    }

    /// IMR of both chips, bit n = IRQ n.
    pub fn imr(&self) -> u16 {
        u16::from(self.master.s.imr) | u16::from(self.slave.s.imr) << 8
    }

    fn chip_mut(&mut self, chip: PicSelect) -> &mut Chip {
        match chip {
            PicSelect::Master => &mut self.master,
            PicSelect::Slave => &mut self.slave,
        }
    }

    /// Feed line changes since the last sample into the chips. Input IRQ2 is the
    /// cascade, so an ISA device on IRQ2 is ignored (PC boards route it to IRQ9).
    fn sample(&mut self) {
        let (levels, edges) = self.lines.take();
        self.apply(levels, edges);
    }

    fn apply(&mut self, levels: u16, edges: u16) {
        let changed = (levels ^ self.sampled) | edges;
        if changed == 0 {
            return;
        }
        // Inputs that rose since the last sample rose first (and the slave's INT
        // reached master IR2 then), whatever level they have settled at now.
        if edges != 0 {
            for irq in (0..16u8).filter(|&i| i != 2 && edges & 1 << i != 0) {
                let chip = self.chip_of(irq);
                chip.set_irq(irq & 7, false);
                chip.set_irq(irq & 7, true);
            }
            self.cascade();
        }
        for irq in (0..16u8).filter(|&i| i != 2 && changed & 1 << i != 0) {
            self.chip_of(irq).set_irq(irq & 7, levels & 1 << irq != 0);
        }
        self.sampled = levels;
        self.cascade();
    }

    fn chip_of(&mut self, irq: u8) -> &mut Chip {
        if irq < 8 {
            &mut self.master
        } else {
            &mut self.slave
        }
    }

    /// Re-present current input levels (after a trigger-mode change).
    fn reapply_levels(&mut self) {
        for irq in (0..16u8).filter(|&i| i != 2) {
            let high = self.sampled & 1 << irq != 0;
            let chip = self.chip_of(irq);
            if chip.s.elcr & 1 << (irq & 7) != 0 {
                chip.set_irq(irq & 7, high);
            }
        }
    }

    /// Drive master IR2 from the slave's INT output.
    fn cascade(&mut self) {
        let level = self.slave.int_output();
        self.master.set_irq(2, level);
    }
}

//! Intel 8254 Programmable Interval Timer at 0x40-0x43 (offsets 0-3), clocked at
//! 1.193182 MHz, and System Control Port B at 0x61 ([`PortB`]).
//!
//! Counter 0's OUT drives ISA IRQ 0; counter 2's GATE and OUT are wired to port
//! 0x61 (Linux calibrates the TSC with them). Counter values are functions of
//! virtual time, and [`Pit::next_deadline`] is the exact instant of counter 0's next
//! rising OUT edge, so a halted CPU can jump straight to it.

mod channel;
mod port_b;
#[cfg(test)]
mod tests;

pub use channel::{ChannelState, Run};
pub use port_b::{PortB, PortBState};

use crate::irq::InterruptLine;
use crate::time::{tick_time, ticks_at, PIT_HZ};
use channel::Channel;

/// Saved state of the PIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PitState {
    /// Counters 0-2.
    pub channels: [ChannelState; 3],
    /// Virtual time (ns) up to which counter 0's output has been delivered.
    pub now_ns: u64,
}

/// The 8254 with counter 0 wired to an interrupt line.
pub struct Pit {
    ch: [Channel; 3],
    irq0: Box<dyn InterruptLine>,
    now_ns: u64,
}

impl core::fmt::Debug for Pit {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pit")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl Pit {
    /// A PIT as a PC BIOS leaves it: every counter in mode 3 with count 65536,
    /// counters 0 and 1 running since time 0 (18.2 Hz on IRQ 0), counter 2's GATE low.
    pub fn new(irq0: Box<dyn InterruptLine>) -> Self {
        Self::from_state(
            PitState {
                channels: [
                    ChannelState::power_on(true),
                    ChannelState::power_on(true),
                    ChannelState::power_on(false),
                ],
                now_ns: 0,
            },
            irq0,
        )
    }

    /// Snapshot for save/restore.
    pub fn state(&self) -> PitState {
        PitState {
            channels: [self.ch[0].s, self.ch[1].s, self.ch[2].s],
            now_ns: self.now_ns,
        }
    }

    /// Rebuild from a snapshot; drives `irq0` to counter 0's current OUT level.
    pub fn from_state(state: PitState, irq0: Box<dyn InterruptLine>) -> Self {
        let pit = Self {
            ch: state.channels.map(Channel::new),
            irq0,
            now_ns: state.now_ns,
        };
        pit.irq0.set_level(pit.ch[0].out(pit.tick()));
        pit
    }

    /// Replace the state in place, keeping the IRQ 0 output (re-driven to the
    /// restored OUT level).
    pub fn restore(&mut self, state: PitState) {
        let irq0 = std::mem::replace(&mut self.irq0, Box::new(crate::irq::NoIrq));
        *self = Self::from_state(state, irq0);
    }

    fn tick(&self) -> u64 {
        ticks_at(self.now_ns, PIT_HZ)
    }

    /// Read offset 0-2 (counter data ports); offset 3 (control) reads as 0xFF.
    pub fn read(&mut self, offset: u16, now_ns: u64) -> u8 {
        self.advance(now_ns);
        let t = self.tick();
        match offset & 3 {
            3 => 0xFF,
            n => self.ch[usize::from(n)].read(t),
        }
    }

    /// Write offset 0-2 (counts) or 3 (control word, counter latch, read-back).
    pub fn write(&mut self, offset: u16, value: u8, now_ns: u64) {
        self.advance(now_ns);
        let t = self.tick();
        match offset & 3 {
            3 => {
                let sc = usize::from(value >> 6);
                if sc == 3 {
                    // Read-back: bit 5 low latches counts, bit 4 low latches status.
                    for (i, ch) in self.ch.iter_mut().enumerate() {
                        if value & (2 << i) != 0 {
                            if value & 0x20 == 0 {
                                ch.latch_count(t);
                            }
                            if value & 0x10 == 0 {
                                ch.latch_status(t);
                            }
                        }
                    }
                } else if value & 0x30 == 0 {
                    self.ch[sc].latch_count(t);
                } else {
                    self.ch[sc].control(value, t);
                }
            }
            n => self.ch[usize::from(n)].write(value, t),
        }
        self.irq0.set_level(self.ch[0].out(t));
    }

    /// Drive counter `channel`'s GATE input (counter 2's is port 0x61 bit 0; the
    /// others are tied high on a PC).
    pub fn set_gate(&mut self, channel: usize, level: bool, now_ns: u64) {
        self.advance(now_ns);
        let t = self.tick();
        if let Some(ch) = self.ch.get_mut(channel) {
            ch.set_gate(level, t);
        }
        self.irq0.set_level(self.ch[0].out(t));
    }

    /// GATE input of counter `channel` (false for a counter that does not exist).
    pub fn gate(&self, channel: usize) -> bool {
        self.ch.get(channel).is_some_and(|c| c.s.gate)
    }

    /// OUT of counter `channel` at `now_ns` (no earlier than the last advance).
    pub fn out(&self, channel: usize, now_ns: u64) -> bool {
        let t = ticks_at(now_ns.max(self.now_ns), PIT_HZ);
        self.ch.get(channel).is_some_and(|c| c.out(t))
    }

    /// Mode (0-5) counter `channel` is programmed in.
    pub fn mode(&self, channel: usize) -> Option<u8> {
        self.ch.get(channel).map(Channel::mode)
    }

    /// Exact virtual time of counter 0's next rising OUT edge (the next IRQ 0).
    pub fn next_deadline(&self) -> Option<u64> {
        self.ch[0]
            .next_rising_edge(self.tick())
            .map(|e| tick_time(e, PIT_HZ))
    }

    /// Bring counter 0's output up to `now_ns`, pulsing IRQ 0 if it rose meanwhile
    /// (several periods skipped at once deliver one edge, as a busy PIC would see).
    pub fn advance(&mut self, now_ns: u64) {
        if now_ns <= self.now_ns {
            return;
        }
        let (t0, t1) = (self.tick(), ticks_at(now_ns, PIT_HZ));
        self.now_ns = now_ns;
        if t1 == t0 {
            return;
        }
        if self.ch[0].next_rising_edge(t0).is_some_and(|e| e <= t1) {
            self.irq0.set_level(false);
            self.irq0.set_level(true);
        }
        self.irq0.set_level(self.ch[0].out(t1));
    }
}

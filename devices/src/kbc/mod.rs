//! Intel 8042 keyboard controller (data port 0x60 = offset 0, status/command port
//! 0x64 = offset 4) with a minimal PS/2 keyboard and no mouse, plus System Control
//! Port A at 0x92 ([`Port92`]).
//!
//! Enough for Linux's i8042 driver: controller self test (0xAA -> 0x55), interface
//! tests, command byte read/write, AUX loopback (0xD3) for its AUX probe, and the
//! output port. Pulsing output-port bit 0 (command 0xFE) or writing it low requests
//! a reset; output-port bit 1 is the A20 gate. Both go to the board as
//! [`BoardRequest`]s. The keyboard IRQ is ISA IRQ 1, the AUX IRQ is IRQ 12.

mod keyboard;
mod port92;
#[cfg(test)]
mod tests;

pub use keyboard::KeyboardState;
pub use port92::{Port92, Port92State};

use std::collections::VecDeque;

use crate::irq::InterruptLine;
use crate::request::{A20Gate, BoardRequest, BoardRequests};

/// Command byte bits.
const CTR_KBDINT: u8 = 0x01;
const CTR_AUXINT: u8 = 0x02;
const CTR_SYS: u8 = 0x04;
const CTR_KBDDIS: u8 = 0x10;
const CTR_AUXDIS: u8 = 0x20;
const CTR_XLATE: u8 = 0x40;

/// Status register bits.
const STR_OBF: u8 = 0x01;
const STR_SYS: u8 = 0x04;
const STR_CMD: u8 = 0x08;
const STR_UNLOCKED: u8 = 0x10;
const STR_AUXDATA: u8 = 0x20;
const STR_TIMEOUT: u8 = 0x40;

/// Controller replies waiting behind the output buffer (bounded against a guest
/// issuing commands without reading).
const CTRL_QUEUE_LIMIT: usize = 16;

/// One byte in (or headed for) the output buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutByte {
    /// The data.
    pub value: u8,
    /// Came from the AUX port (status bit 5, IRQ 12).
    pub aux: bool,
    /// Reported with the timeout status bit (no device answered).
    pub timeout: bool,
}

/// Saved state of the i8042.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I8042State {
    /// Internal RAM; byte 0 is the command byte.
    pub ram: [u8; 32],
    /// Output port (bit 0 = not in reset, bit 1 = A20).
    pub output_port: u8,
    /// Status bit 2 (system flag).
    pub sys_flag: bool,
    /// Status bit 3: the last write went to the command port.
    pub last_was_command: bool,
    /// Command waiting for its data byte.
    pub pending: Option<u8>,
    /// The output buffer.
    pub obuf: Option<OutByte>,
    /// Controller replies queued behind the output buffer.
    pub ctrl_queue: VecDeque<OutByte>,
    /// Value a read of an empty output buffer returns.
    pub last_data: u8,
    /// The keyboard.
    pub keyboard: KeyboardState,
}

impl Default for I8042State {
    /// As a PC BIOS leaves it: translation on, system flag set, keyboard interrupt
    /// enabled, A20 enabled.
    fn default() -> Self {
        let mut ram = [0u8; 32];
        ram[0] = CTR_XLATE | CTR_SYS | CTR_KBDINT;
        Self {
            ram,
            output_port: 0xCF,
            sys_flag: true,
            last_was_command: true,
            pending: None,
            obuf: None,
            ctrl_queue: VecDeque::new(),
            last_data: 0,
            keyboard: KeyboardState::power_on(),
        }
    }
}

/// The 8042 with its keyboard.
pub struct I8042 {
    s: I8042State,
    kbd_irq: Box<dyn InterruptLine>,
    aux_irq: Box<dyn InterruptLine>,
    a20: A20Gate,
    requests: BoardRequests,
}

impl core::fmt::Debug for I8042 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("I8042")
            .field("state", &self.s)
            .finish_non_exhaustive()
    }
}

impl I8042 {
    /// A controller in BIOS-handoff state driving IRQ 1 and IRQ 12 lines, the
    /// keyboard-controller A20 gate, and reset requests.
    pub fn new(
        kbd_irq: Box<dyn InterruptLine>,
        aux_irq: Box<dyn InterruptLine>,
        a20: A20Gate,
        requests: BoardRequests,
    ) -> Self {
        a20.set_kbd(true);
        Self::from_state(I8042State::default(), kbd_irq, aux_irq, a20, requests)
    }

    /// Snapshot for save/restore.
    pub fn state(&self) -> I8042State {
        self.s.clone()
    }

    /// Rebuild from a snapshot; sets the A20 gate silently and drives the IRQs.
    pub fn from_state(
        mut state: I8042State,
        kbd_irq: Box<dyn InterruptLine>,
        aux_irq: Box<dyn InterruptLine>,
        a20: A20Gate,
        requests: BoardRequests,
    ) -> Self {
        state.ctrl_queue.truncate(CTRL_QUEUE_LIMIT);
        a20.restore_kbd(state.output_port & 2 != 0);
        let mut kbc = Self {
            s: state,
            kbd_irq,
            aux_irq,
            a20,
            requests,
        };
        kbc.refill();
        kbc
    }

    /// Replace the state in place, keeping the IRQ 1/12 lines (re-driven), the A20
    /// gate (set silently) and the request queue.
    pub fn restore(&mut self, state: I8042State) {
        let kbd = std::mem::replace(&mut self.kbd_irq, Box::new(crate::irq::NoIrq));
        let aux = std::mem::replace(&mut self.aux_irq, Box::new(crate::irq::NoIrq));
        *self = Self::from_state(state, kbd, aux, self.a20.clone(), self.requests.clone());
    }

    fn ctr(&self) -> u8 {
        self.s.ram[0]
    }

    /// Scan codes typed on the host keyboard, passed through as-is (send set 1
    /// codes while the command byte's translation bit is set, as Linux leaves it).
    pub fn push_keys(&mut self, bytes: &[u8]) {
        self.s.keyboard.keys(bytes);
        self.refill();
    }

    /// Read offset 0 (data) or 4 (status).
    pub fn read(&mut self, offset: u16) -> u8 {
        if offset & 4 != 0 {
            return self.status();
        }
        let v = match self.s.obuf.take() {
            Some(b) => b.value,
            None => self.s.last_data,
        };
        self.s.last_data = v;
        self.refill();
        v
    }

    /// Write offset 0 (data) or 4 (command).
    pub fn write(&mut self, offset: u16, value: u8) {
        if offset & 4 != 0 {
            self.s.last_was_command = true;
            self.command(value);
        } else {
            self.s.last_was_command = false;
            self.data(value);
        }
        self.refill();
    }

    fn status(&self) -> u8 {
        let mut v = STR_UNLOCKED;
        if let Some(b) = self.s.obuf {
            v |= STR_OBF;
            if b.aux {
                v |= STR_AUXDATA;
            }
            if b.timeout {
                v |= STR_TIMEOUT;
            }
        }
        if self.s.sys_flag {
            v |= STR_SYS;
        }
        if self.s.last_was_command {
            v |= STR_CMD;
        }
        v
    }

    fn reply(&mut self, value: u8) {
        self.queue(OutByte {
            value,
            aux: false,
            timeout: false,
        });
    }

    fn queue(&mut self, b: OutByte) {
        if self.s.ctrl_queue.len() < CTRL_QUEUE_LIMIT {
            self.s.ctrl_queue.push_back(b);
        }
    }

    fn command(&mut self, cmd: u8) {
        self.s.pending = None;
        match cmd {
            0x20..=0x3F => self.reply(self.s.ram[usize::from(cmd & 0x1F)]),
            0x60..=0x7F | 0xD1..=0xD4 => self.s.pending = Some(cmd),
            0xA4 => self.reply(0xF1), // no password installed
            0xA7 => self.s.ram[0] |= CTR_AUXDIS,
            0xA8 => self.s.ram[0] &= !CTR_AUXDIS,
            0xA9 | 0xAB => self.reply(0x00), // interface tests pass
            0xAA => {
                self.s.sys_flag = true;
                self.reply(0x55);
            }
            0xAD => self.s.ram[0] |= CTR_KBDDIS,
            0xAE => self.s.ram[0] &= !CTR_KBDDIS,
            0xC0 => self.reply(0x80), // input port: keyboard not inhibited
            0xD0 => {
                let (kbd, aux) = self.irq_levels();
                let v = (self.s.output_port & 0xCF) | (u8::from(kbd) << 4) | (u8::from(aux) << 5);
                self.reply(v);
            }
            0xDD => self.write_output_port(self.s.output_port & !2),
            0xDF => self.write_output_port(self.s.output_port | 2),
            0xE0 => self.reply(0x00),
            // Pulse the output-port bits that are 0 in the command; bit 0 is reset.
            0xF0..=0xFF if cmd & 1 == 0 => self.requests.push(BoardRequest::Reset),
            _ => {}
        }
    }

    fn data(&mut self, v: u8) {
        match self.s.pending.take() {
            Some(c @ 0x60..=0x7F) => {
                self.s.ram[usize::from(c & 0x1F)] = v;
                if c == 0x60 {
                    self.s.sys_flag = v & CTR_SYS != 0;
                }
            }
            Some(0xD1) => self.write_output_port(v),
            Some(0xD2) => self.queue(OutByte {
                value: v,
                aux: false,
                timeout: false,
            }),
            Some(0xD3) => self.queue(OutByte {
                value: v,
                aux: true,
                timeout: false,
            }),
            Some(_) => {
                // 0xD4: to the AUX device. None is attached: time out with a NAK.
                self.queue(OutByte {
                    value: 0xFE,
                    aux: true,
                    timeout: true,
                })
            }
            None => {
                // To the keyboard; this also re-enables its interface.
                self.s.ram[0] &= !CTR_KBDDIS;
                let xlate = self.ctr() & CTR_XLATE != 0;
                self.s.keyboard.command(v, xlate);
            }
        }
    }

    fn write_output_port(&mut self, v: u8) {
        self.s.output_port = v;
        self.a20.set_kbd(v & 2 != 0);
        if v & 1 == 0 {
            self.requests.push(BoardRequest::Reset);
        }
    }

    fn irq_levels(&self) -> (bool, bool) {
        match self.s.obuf {
            Some(b) if b.aux => (false, self.ctr() & CTR_AUXINT != 0),
            Some(_) => (self.ctr() & CTR_KBDINT != 0, false),
            None => (false, false),
        }
    }

    /// Load the output buffer if it is empty, then update the IRQ lines.
    fn refill(&mut self) {
        if self.s.obuf.is_none() {
            self.s.obuf = self.s.ctrl_queue.pop_front();
        }
        if self.s.obuf.is_none() && self.ctr() & CTR_KBDDIS == 0 {
            self.s.obuf = self.s.keyboard.queue.pop_front().map(|value| OutByte {
                value,
                aux: false,
                timeout: false,
            });
        }
        let (kbd, aux) = self.irq_levels();
        self.kbd_irq.set_level(kbd);
        self.aux_irq.set_level(aux);
    }
}

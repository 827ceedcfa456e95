//! A minimal PS/2 keyboard behind the i8042: answers the commands Linux's atkbd
//! driver sends (reset, get ID, LEDs, typematic, scan-code set, enable/disable) and
//! forwards bytes the host pushes while scanning is enabled.

use std::collections::VecDeque;

/// Acknowledge.
const ACK: u8 = 0xFA;
/// Resend (the reply to an unknown command).
const RESEND: u8 = 0xFE;
/// Basic assurance test passed.
const BAT_OK: u8 = 0xAA;
/// Bytes a PS/2 keyboard buffers.
const QUEUE_LIMIT: usize = 16;

/// Saved state of the keyboard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyboardState {
    /// Bytes waiting to be sent to the controller.
    pub queue: VecDeque<u8>,
    /// Scanning enabled (0xF4) or disabled (0xF5).
    pub scanning: bool,
    /// Command waiting for its parameter byte (0xED, 0xF0, 0xF3).
    pub pending: Option<u8>,
    /// Scan-code set selected with 0xF0 (1-3).
    pub scancode_set: u8,
    /// LED state from 0xED.
    pub leds: u8,
}

impl KeyboardState {
    /// A keyboard after its power-on self test, scanning, set 2.
    pub fn power_on() -> Self {
        Self {
            scanning: true,
            scancode_set: 2,
            ..Self::default()
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.queue.len() < QUEUE_LIMIT {
                self.queue.push_back(b);
            }
        }
    }

    /// A byte from the host side of the controller. `xlate` is the controller's
    /// translation bit: replies that carry scan-code values are translated then.
    pub(crate) fn command(&mut self, v: u8, xlate: bool) {
        if let Some(cmd) = self.pending.take() {
            match cmd {
                0xED => self.leds = v & 7,
                0xF0 if v == 0 => {
                    let set = self.scancode_set;
                    let reply = if xlate {
                        [0x43, 0x41, 0x3F][usize::from(set.clamp(1, 3) - 1)]
                    } else {
                        set
                    };
                    self.send(&[ACK, reply]);
                    return;
                }
                0xF0 if v <= 3 => self.scancode_set = v,
                _ => {}
            }
            self.send(&[ACK]);
            return;
        }
        match v {
            0xED | 0xF0 | 0xF3 => {
                self.pending = Some(v);
                self.send(&[ACK]);
            }
            0xEE => self.send(&[0xEE]),
            0xF2 => self.send(&[ACK, 0xAB, if xlate { 0x41 } else { 0x83 }]),
            0xF4 => {
                self.scanning = true;
                self.send(&[ACK]);
            }
            0xF5 => {
                self.scanning = false;
                self.send(&[ACK]);
            }
            0xF6..=0xFD => self.send(&[ACK]),
            0xFF => {
                *self = Self::power_on();
                self.send(&[ACK, BAT_OK]);
            }
            _ => self.send(&[RESEND]),
        }
    }

    /// Scan codes from the host keyboard (dropped while scanning is disabled or
    /// the keyboard's buffer is full).
    pub(crate) fn keys(&mut self, bytes: &[u8]) {
        if self.scanning {
            self.send(bytes);
        }
    }
}

//! One 8254 counter, computed from virtual time.
//!
//! Nothing ticks: a counter stores where it started (a PIT clock tick number) and
//! derives CE (counting element) and OUT at any later tick in closed form, so reads
//! and deadlines are exact and free of drift. Mode semantics follow the Intel 8254
//! datasheet: a count is loaded on the first CLK after it is written, modes 0/4 pause
//! while GATE is low, modes 1/5 are started by a GATE rising edge, modes 2/3 stop
//! with GATE low and reload on its rising edge.

/// What the counting element is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    /// Not counting: after a control word, or between the two bytes of a mode 0 count.
    Idle {
        /// Frozen CE value.
        ce: u32,
    },
    /// Modes 1 and 5: a count is present, waiting for a GATE rising edge.
    WaitTrigger {
        /// Frozen CE value.
        ce: u32,
    },
    /// Modes 0, 1, 4, 5: CE is `start` at tick `origin` and decrements every tick.
    OneShot {
        /// Tick at which CE holds `start`.
        origin: u64,
        /// CE at `origin` (65536/10000 stand for 0).
        start: u32,
        /// Tick at which CE reaches zero (terminal count); `None` if that was
        /// already past when counting was last suspended.
        tc: Option<u64>,
    },
    /// Modes 0 and 4 with GATE low: counting suspended.
    Paused {
        /// Frozen CE value.
        ce: u32,
        /// Ticks still to go to terminal count, `None` if it already happened.
        remaining: Option<u32>,
    },
    /// Modes 2 and 3: periods of `reload` ticks, the first starting at `origin`.
    Periodic {
        /// Tick at which the current regime's first period began.
        origin: u64,
        /// Period length in ticks.
        reload: u32,
        /// A count written while running takes over at this tick with this period.
        next: Option<(u64, u32)>,
    },
    /// Modes 2 and 3 with GATE low: OUT high, counting stopped.
    Halted {
        /// Frozen CE value.
        ce: u32,
    },
}

/// Saved state of one counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelState {
    /// Control word bits 5:0 as last programmed (RW1 RW0 M2 M1 M0 BCD).
    pub control: u8,
    /// GATE input level.
    pub gate: bool,
    /// Last complete count written (1..=65536, or 1..=10000 in BCD), if any since
    /// the control word.
    pub count: Option<u32>,
    /// Counting element.
    pub run: Run,
    /// Status "null count" reads 1 while the tick is below this.
    pub null_until: u64,
    /// Low byte of a two-byte count, waiting for the high byte.
    pub write_lsb: Option<u8>,
    /// Two-byte unlatched reads: the next read returns the high byte.
    pub read_msb_next: bool,
    /// Output latch from a counter-latch or read-back command, and whether its
    /// high byte is next.
    pub latch: Option<(u16, bool)>,
    /// Status byte latched by a read-back command.
    pub status_latch: Option<u8>,
}

impl ChannelState {
    /// The state a PC BIOS leaves: mode 3, two-byte access, binary, count 65536,
    /// running since tick 0 if `gate` is high.
    pub fn power_on(gate: bool) -> Self {
        Self {
            control: 0x36,
            gate,
            count: Some(0x1_0000),
            run: if gate {
                Run::Periodic {
                    origin: 0,
                    reload: 0x1_0000,
                    next: None,
                }
            } else {
                Run::Halted { ce: 0 }
            },
            null_until: 0,
            write_lsb: None,
            read_msb_next: false,
            latch: None,
            status_latch: None,
        }
    }
}

/// One counter; all time arguments are PIT clock tick numbers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Channel {
    pub(crate) s: ChannelState,
}

fn from_bcd(raw: u16) -> u32 {
    let d = |i: u32| u32::from(raw >> (4 * i) & 0xF);
    (d(3) * 1000 + d(2) * 100 + d(1) * 10 + d(0)) % 10_000
}

fn to_bcd(v: u32) -> u16 {
    let v = v % 10_000;
    ((v / 1000) << 12 | (v / 100 % 10) << 8 | (v / 10 % 10) << 4 | (v % 10)) as u16
}

/// First tick after `after` that starts a period of length `n` (n >= 2) counted
/// from `origin`, excluding `origin` itself.
fn first_boundary(origin: u64, n: u32, after: u64) -> Option<u64> {
    if n < 2 {
        return None;
    }
    let n = u64::from(n);
    if after < origin.saturating_add(n) {
        return origin.checked_add(n);
    }
    let k = (after - origin) / n + 1;
    k.checked_mul(n)?.checked_add(origin)
}

impl Channel {
    pub(crate) fn new(s: ChannelState) -> Self {
        let mut c = Self { s };
        c.sanitize();
        c
    }

    /// Make a restored state safe to compute with (no zero periods).
    fn sanitize(&mut self) {
        self.s.control &= 0x3F;
        if self.s.control & 0x30 == 0 {
            self.s.control |= 0x30;
        }
        let m = self.modulus();
        if let Some(c) = self.s.count.as_mut() {
            *c = (*c).clamp(1, m);
        }
        if let Run::Periodic { reload, next, .. } = &mut self.s.run {
            *reload = (*reload).clamp(1, m);
            if let Some((_, n)) = next.as_mut() {
                *n = (*n).clamp(1, m);
            }
        }
    }

    /// Counter mode 0-5 (6 and 7 alias 2 and 3).
    pub(crate) fn mode(&self) -> u8 {
        match (self.s.control >> 1) & 7 {
            m @ 6..=7 => m - 4,
            m => m,
        }
    }

    fn access(&self) -> u8 {
        (self.s.control >> 4) & 3
    }

    fn bcd(&self) -> bool {
        self.s.control & 1 != 0
    }

    fn modulus(&self) -> u32 {
        if self.bcd() {
            10_000
        } else {
            0x1_0000
        }
    }

    /// The (origin, period) in force at tick `t` for a periodic counter.
    fn regime(origin: u64, reload: u32, next: Option<(u64, u32)>, t: u64) -> (u64, u32) {
        match next {
            Some((s, n)) if t >= s => (s, n),
            _ => (origin, reload),
        }
    }

    /// Fold a periodic counter's pending count into its regime once it took over.
    fn normalize(&mut self, t: u64) {
        if let Run::Periodic {
            origin,
            reload,
            next,
        } = self.s.run
        {
            let (o, n) = Self::regime(origin, reload, next, t);
            if o != origin {
                self.s.run = Run::Periodic {
                    origin: o,
                    reload: n,
                    next: None,
                };
            }
        }
    }

    /// CE at tick `t`, as a binary value below the modulus.
    pub(crate) fn ce(&self, t: u64) -> u32 {
        let m = self.modulus();
        let v = match self.s.run {
            Run::Idle { ce }
            | Run::WaitTrigger { ce }
            | Run::Paused { ce, .. }
            | Run::Halted { ce } => ce,
            Run::OneShot { origin, start, .. } => {
                if t < origin {
                    start
                } else {
                    let elapsed = ((t - origin) % u64::from(m)) as u32;
                    (start % m + m - elapsed) % m
                }
            }
            Run::Periodic {
                origin,
                reload,
                next,
            } => {
                let (o, n) = Self::regime(origin, reload, next, t);
                if t < o {
                    n
                } else {
                    let k = ((t - o) % u64::from(n)) as u32;
                    if self.mode() == 2 {
                        n - k
                    } else if n % 2 == 0 {
                        n - 2 * (k % (n / 2))
                    } else {
                        let high = n.div_ceil(2);
                        let j = if k < high { k } else { k - high };
                        n - 1 - 2 * j
                    }
                }
            }
        };
        v % m
    }

    /// OUT at tick `t`.
    pub(crate) fn out(&self, t: u64) -> bool {
        let mode = self.mode();
        match self.s.run {
            Run::Idle { .. } => mode != 0,
            Run::WaitTrigger { .. } | Run::Halted { .. } => true,
            Run::Paused { remaining, .. } => mode != 0 || remaining.is_none(),
            Run::OneShot { origin, tc, .. } => match mode {
                0 => tc.is_none_or(|tc| t >= tc),
                1 => !(t >= origin && tc.is_some_and(|tc| t < tc)),
                _ => tc != Some(t),
            },
            Run::Periodic {
                origin,
                reload,
                next,
            } => {
                let (o, n) = Self::regime(origin, reload, next, t);
                if t < o {
                    return true;
                }
                let k = ((t - o) % u64::from(n)) as u32;
                if mode == 2 {
                    k != n - 1
                } else {
                    k < n.div_ceil(2)
                }
            }
        }
    }

    /// First tick after `after` at which OUT goes from low to high.
    pub(crate) fn next_rising_edge(&self, after: u64) -> Option<u64> {
        match self.s.run {
            Run::OneShot { tc, .. } => {
                let e = match self.mode() {
                    0 | 1 => tc?,
                    _ => tc?.checked_add(1)?,
                };
                (e > after).then_some(e)
            }
            Run::Periodic {
                origin,
                reload,
                next,
            } => match next {
                Some((s, n2)) if after < s => {
                    if let Some(e) = first_boundary(origin, reload, after).filter(|&e| e < s) {
                        return Some(e);
                    }
                    if s > 0 && !self.out(s - 1) && self.out(s) {
                        return Some(s);
                    }
                    first_boundary(s, n2, s)
                }
                Some((s, n2)) => first_boundary(s, n2, after),
                None => first_boundary(origin, reload, after),
            },
            _ => None,
        }
    }

    /// Status byte for read-back: OUT, null count, control bits.
    fn status(&self, t: u64) -> u8 {
        u8::from(self.out(t)) << 7 | u8::from(t < self.s.null_until) << 6 | self.s.control
    }

    fn read_value(&self, t: u64) -> u16 {
        let v = self.ce(t);
        if self.bcd() {
            to_bcd(v)
        } else {
            v as u16
        }
    }

    /// Control word for this counter (bits 5:4 non-zero): resets its logic.
    pub(crate) fn control(&mut self, value: u8, t: u64) {
        let ce = self.ce(t);
        self.s.control = value & 0x3F;
        self.s.count = None;
        self.s.run = Run::Idle { ce };
        self.s.null_until = u64::MAX;
        self.s.write_lsb = None;
        self.s.read_msb_next = false;
        self.s.latch = None;
        self.s.status_latch = None;
    }

    /// Counter latch command: freeze the current CE for reading (once).
    pub(crate) fn latch_count(&mut self, t: u64) {
        if self.s.latch.is_none() {
            self.s.latch = Some((self.read_value(t), false));
        }
    }

    /// Read-back status latch (once).
    pub(crate) fn latch_status(&mut self, t: u64) {
        if self.s.status_latch.is_none() {
            self.s.status_latch = Some(self.status(t));
        }
    }

    /// A read of the counter's data port.
    pub(crate) fn read(&mut self, t: u64) -> u8 {
        if let Some(s) = self.s.status_latch.take() {
            return s;
        }
        let access = self.access();
        let (value, msb) = match self.s.latch {
            Some((v, msb_next)) => {
                let msb = access == 2 || (access == 3 && msb_next);
                self.s.latch = if access == 3 && !msb_next {
                    Some((v, true))
                } else {
                    None
                };
                (v, msb)
            }
            None => {
                let msb = access == 2 || (access == 3 && self.s.read_msb_next);
                if access == 3 {
                    self.s.read_msb_next = !self.s.read_msb_next;
                }
                (self.read_value(t), msb)
            }
        };
        if msb {
            (value >> 8) as u8
        } else {
            value as u8
        }
    }

    /// A write to the counter's data port.
    pub(crate) fn write(&mut self, value: u8, t: u64) {
        self.normalize(t);
        let raw = match self.access() {
            1 => u16::from(value),
            2 => u16::from(value) << 8,
            _ => match self.s.write_lsb.take() {
                Some(lsb) => u16::from(lsb) | u16::from(value) << 8,
                None => {
                    self.s.write_lsb = Some(value);
                    if self.mode() == 0 {
                        // Mode 0: the first byte stops counting and drops OUT.
                        self.s.run = Run::Idle { ce: self.ce(t) };
                    }
                    return;
                }
            },
        };
        let m = self.modulus();
        let n = match if self.bcd() {
            from_bcd(raw)
        } else {
            u32::from(raw)
        } {
            0 => m,
            n => n,
        };
        self.load(n, t);
    }

    fn load(&mut self, n: u32, t: u64) {
        self.s.count = Some(n);
        self.s.null_until = t + 1;
        let gate = self.s.gate;
        self.s.run = match (self.mode(), self.s.run) {
            (0 | 4, _) if gate => Run::OneShot {
                origin: t + 1,
                start: n,
                tc: Some(t + 1 + u64::from(n)),
            },
            (0 | 4, _) => Run::Paused {
                ce: n,
                remaining: Some(n),
            },
            (1 | 5, Run::Idle { ce }) => {
                self.s.null_until = u64::MAX;
                Run::WaitTrigger { ce }
            }
            (1 | 5, run) => run,
            (
                _,
                Run::Periodic {
                    origin,
                    reload,
                    next: _,
                },
            ) if gate => {
                if t < origin {
                    Run::Periodic {
                        origin,
                        reload: n,
                        next: None,
                    }
                } else {
                    // A new count takes effect at the end of the current period.
                    let s = first_boundary(origin, reload.max(2), t)
                        .filter(|_| reload >= 2)
                        .unwrap_or(t + 1);
                    self.s.null_until = s;
                    Run::Periodic {
                        origin,
                        reload,
                        next: Some((s, n)),
                    }
                }
            }
            (_, _) if gate => Run::Periodic {
                origin: t + 1,
                reload: n,
                next: None,
            },
            // GATE low: the count is loaded but not counted down.
            (_, _) => Run::Halted { ce: n },
        };
    }

    /// GATE input change at tick `t`.
    pub(crate) fn set_gate(&mut self, level: bool, t: u64) {
        self.normalize(t);
        let rising = level && !self.s.gate;
        let falling = !level && self.s.gate;
        self.s.gate = level;
        match (self.mode(), self.s.run) {
            (0 | 4, Run::OneShot { tc, .. }) if falling => {
                self.s.run = Run::Paused {
                    ce: self.ce(t),
                    remaining: tc.filter(|&tc| tc > t).map(|tc| (tc - t) as u32),
                };
            }
            (0 | 4, Run::Paused { ce, remaining }) if rising => {
                self.s.run = Run::OneShot {
                    origin: t,
                    start: ce,
                    tc: remaining.map(|r| t + u64::from(r)),
                };
            }
            (1 | 5, Run::WaitTrigger { .. } | Run::OneShot { .. }) if rising => {
                if let Some(n) = self.s.count {
                    self.s.null_until = self.s.null_until.min(t + 1);
                    self.s.run = Run::OneShot {
                        origin: t + 1,
                        start: n,
                        tc: Some(t + 1 + u64::from(n)),
                    };
                }
            }
            (2 | 3, Run::Periodic { .. }) if falling => {
                self.s.run = Run::Halted { ce: self.ce(t) };
            }
            (2 | 3, Run::Halted { .. }) if rising => {
                if let Some(n) = self.s.count {
                    self.s.run = Run::Periodic {
                        origin: t + 1,
                        reload: n,
                        next: None,
                    };
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcd_conversions() {
        assert_eq!(from_bcd(0x9999), 9999);
        assert_eq!(from_bcd(0x1234), 1234);
        assert_eq!(from_bcd(0xFFFF), 6665, "invalid digits are tolerated");
        assert_eq!(to_bcd(10_000), 0);
        assert_eq!(to_bcd(4321), 0x4321);
    }

    #[test]
    fn boundaries() {
        assert_eq!(first_boundary(10, 5, 0), Some(15));
        assert_eq!(first_boundary(10, 5, 14), Some(15));
        assert_eq!(first_boundary(10, 5, 15), Some(20));
        assert_eq!(first_boundary(10, 1, 15), None);
        assert_eq!(first_boundary(u64::MAX - 3, 5, 0), None);
    }
}

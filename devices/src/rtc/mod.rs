//! Motorola MC146818 RTC and CMOS RAM: index port 0x70 (offset 0, bit 7 = NMI
//! mask) and data port 0x71 (offset 1), interrupt on ISA IRQ 8.
//!
//! Time is kept as seconds since 1970 plus the phase of the 32.768 kHz divider
//! chain in virtual time, and formatted on read per register B (BCD or binary,
//! 12 or 24 hour). Periodic (register A rate), alarm and update-ended flags in
//! register C are derived exactly from virtual time; reading C clears them and
//! releases IRQ 8. UIP reads 1 during the last 244 us before each update.

mod calendar;
#[cfg(test)]
mod tests;

pub use calendar::DateTime;

use crate::irq::InterruptLine;
use crate::time::NS_PER_SEC;

/// Register A: update in progress.
const A_UIP: u8 = 0x80;
/// Register A: divider bits (010 = 32.768 kHz time base, running).
const A_DV_MASK: u8 = 0x70;
const A_DV_RUN: u8 = 0x20;
/// Register B bits.
const B_SET: u8 = 0x80;
const B_PIE: u8 = 0x40;
const B_AIE: u8 = 0x20;
const B_UIE: u8 = 0x10;
const B_BINARY: u8 = 0x04;
const B_24H: u8 = 0x02;
/// Register C flags.
const C_IRQF: u8 = 0x80;
const C_PF: u8 = 0x40;
const C_AF: u8 = 0x20;
const C_UF: u8 = 0x10;

/// Length of the UIP window before each update: 8 cycles of 32.768 kHz.
const UIP_NS: u64 = 244_141;
/// Divider chain frequency.
const DIV_HZ: u128 = 32_768;

/// CMOS index of the century byte (IBM PC convention, used by ACPI FADT).
pub const CMOS_CENTURY: u8 = 0x32;
/// CMOS index of the shutdown status byte.
pub const CMOS_SHUTDOWN: u8 = 0x0F;

/// Saved state of the RTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcState {
    /// CMOS bytes; the time registers (0x00-0x09) and century (0x32) are derived
    /// from the clock instead; 0x0A/0x0B hold registers A and B.
    pub cmos: [u8; 128],
    /// Selected CMOS index (port 0x70 bits 6:0).
    pub index: u8,
    /// Port 0x70 bit 7: NMI disabled.
    pub nmi_disabled: bool,
    /// Clock seconds at divider time zero (while counting).
    pub base_secs: i64,
    /// Divider time = virtual time + this (below one second).
    pub div_offset_ns: u64,
    /// Clock seconds while not counting (SET, or divider held in reset).
    pub held_secs: Option<i64>,
    /// Register C flags PF/AF/UF not yet read.
    pub flags: u8,
    /// Virtual time up to which events are accounted for.
    pub now_ns: u64,
}

/// The MC146818.
pub struct Rtc {
    s: RtcState,
    irq: Box<dyn InterruptLine>,
}

impl core::fmt::Debug for Rtc {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Rtc")
            .field("state", &self.s)
            .finish_non_exhaustive()
    }
}

/// Periodic interrupt period in 32.768 kHz cycles for rate select `rs` (register A
/// bits 3:0), per the MC146818 datasheet's table for a 32.768 kHz time base.
fn period_cycles(rs: u8) -> Option<u128> {
    match rs & 0x0F {
        0 => None,
        1 => Some(128),
        2 => Some(256),
        n => Some(1 << (n - 1)),
    }
}

impl Rtc {
    /// An RTC showing `epoch_secs` (seconds since 1970, UTC) at virtual time 0,
    /// in the state a PC BIOS leaves it: register A 0x26 (running, 1024 Hz rate),
    /// B 0x02 (BCD, 24 hour, no interrupts), D 0x80 (valid RAM and time).
    pub fn new(epoch_secs: u64, irq: Box<dyn InterruptLine>) -> Self {
        let mut cmos = [0u8; 128];
        cmos[0x0A] = 0x26;
        cmos[0x0B] = B_24H;
        cmos[0x0D] = 0x80;
        Self::from_state(
            RtcState {
                cmos,
                index: 0,
                nmi_disabled: false,
                base_secs: i64::try_from(epoch_secs).unwrap_or(i64::MAX / 2),
                div_offset_ns: 0,
                held_secs: None,
                flags: 0,
                now_ns: 0,
            },
            irq,
        )
    }

    /// Snapshot for save/restore.
    pub fn state(&self) -> RtcState {
        self.s.clone()
    }

    /// Rebuild from a snapshot; drives `irq` to the restored level.
    pub fn from_state(mut state: RtcState, irq: Box<dyn InterruptLine>) -> Self {
        state.index &= 0x7F;
        state.div_offset_ns %= NS_PER_SEC;
        state.flags &= C_PF | C_AF | C_UF;
        state.base_secs = state.base_secs.clamp(-(1 << 50), 1 << 50);
        let mut rtc = Self { s: state, irq };
        match (rtc.counting(), rtc.s.held_secs) {
            (true, Some(h)) => {
                rtc.s.held_secs = None;
                rtc.set_secs(h);
            }
            (false, None) => rtc.s.held_secs = Some(rtc.secs()),
            _ => {}
        }
        rtc.update_irq();
        rtc
    }

    /// Replace the state in place, keeping the IRQ 8 line (re-driven).
    pub fn restore(&mut self, state: RtcState) {
        let irq = std::mem::replace(&mut self.irq, Box::new(crate::irq::NoIrq));
        *self = Self::from_state(state, irq);
    }

    /// Whether port 0x70 bit 7 currently masks NMI.
    pub fn nmi_disabled(&self) -> bool {
        self.s.nmi_disabled
    }

    /// Raw CMOS byte, bypassing the clock (for the board's firmware setup).
    pub fn cmos(&self, index: u8) -> u8 {
        self.s.cmos[usize::from(index & 0x7F)]
    }

    /// Set a raw CMOS byte (0x0E-0x7F are plain RAM; 0x0F is the shutdown status).
    pub fn set_cmos(&mut self, index: u8, value: u8) {
        self.s.cmos[usize::from(index & 0x7F)] = value;
    }

    /// Fill the IBM PC memory-size fields for `ram_bytes` of RAM and fix the
    /// 0x10-0x2D checksum: 0x15/0x16 base KB (at most 640), 0x17/0x18 and 0x30/0x31
    /// KB above 1 MB (at most 65535), 0x34/0x35 64 KB units above 16 MB.
    pub fn set_memory_size(&mut self, ram_bytes: u64) {
        let kb = ram_bytes / 1024;
        let base = kb.min(640) as u16;
        let ext = kb.saturating_sub(1024).min(0xFFFF) as u16;
        let above16 = (ram_bytes.saturating_sub(16 << 20) / (64 << 10)).min(0xFFFF) as u16;
        for (lo, v) in [(0x15, base), (0x17, ext), (0x30, ext), (0x34, above16)] {
            self.s.cmos[lo] = v as u8;
            self.s.cmos[lo + 1] = (v >> 8) as u8;
        }
        self.update_checksum();
    }

    /// Recompute the standard checksum of bytes 0x10-0x2D into 0x2E (high) / 0x2F.
    pub fn update_checksum(&mut self) {
        let sum: u16 = self.s.cmos[0x10..=0x2D].iter().map(|&b| u16::from(b)).sum();
        self.s.cmos[0x2E] = (sum >> 8) as u8;
        self.s.cmos[0x2F] = sum as u8;
    }

    /// The clock's current time (seconds since 1970) at `now_ns`.
    pub fn time_secs(&mut self, now_ns: u64) -> i64 {
        self.advance(now_ns);
        self.secs()
    }

    /// Port read: offset 0 (index, write-only: 0xFF) or 1 (data of the selected byte).
    pub fn read(&mut self, offset: u16, now_ns: u64) -> u8 {
        if offset & 1 == 0 {
            return 0xFF;
        }
        self.advance(now_ns);
        let idx = self.s.index;
        let b = self.s.cmos[0x0B];
        let dt = DateTime::from_unix(self.secs());
        match idx {
            0x00 => self.enc(dt.second),
            0x02 => self.enc(dt.minute),
            0x04 => self.enc_hour(dt.hour),
            0x06 => self.enc(dt.weekday + 1),
            0x07 => self.enc(dt.day),
            0x08 => self.enc(dt.month),
            0x09 => self.enc(dt.year.rem_euclid(100) as u8),
            CMOS_CENTURY => self.enc(dt.year.div_euclid(100).rem_euclid(100) as u8),
            0x0A => self.s.cmos[0x0A] & !A_UIP | if self.uip() { A_UIP } else { 0 },
            0x0B => b,
            0x0C => {
                let v = self.s.flags | if self.irqf() { C_IRQF } else { 0 };
                self.s.flags = 0;
                self.update_irq();
                v
            }
            0x0D => 0x80,
            _ => self.s.cmos[usize::from(idx)],
        }
    }

    /// Port write: offset 0 selects the index (bit 7 masks NMI), offset 1 writes it.
    pub fn write(&mut self, offset: u16, value: u8, now_ns: u64) {
        if offset & 1 == 0 {
            self.s.index = value & 0x7F;
            self.s.nmi_disabled = value & 0x80 != 0;
            return;
        }
        self.advance(now_ns);
        let idx = self.s.index;
        match idx {
            0x00 | 0x02 | 0x04 | 0x07 | 0x08 | 0x09 | CMOS_CENTURY => {
                let mut dt = DateTime::from_unix(self.secs());
                match idx {
                    0x00 => dt.second = self.dec(value),
                    0x02 => dt.minute = self.dec(value),
                    0x04 => dt.hour = self.dec_hour(value),
                    0x07 => dt.day = self.dec(value),
                    0x08 => dt.month = self.dec(value),
                    0x09 => {
                        dt.year = dt.year.div_euclid(100) * 100 + i64::from(self.dec(value) % 100)
                    }
                    _ => dt.year = i64::from(self.dec(value)) * 100 + dt.year.rem_euclid(100),
                }
                self.set_secs(dt.to_unix());
            }
            0x0A => {
                let (old_a, old_b) = (self.s.cmos[0x0A], self.s.cmos[0x0B]);
                self.s.cmos[0x0A] = value & !A_UIP;
                self.retime(old_a, old_b);
            }
            0x0B => {
                let (old_a, old_b) = (self.s.cmos[0x0A], self.s.cmos[0x0B]);
                // Setting SET clears UIE (MC146818 datasheet, register B bit 4).
                self.s.cmos[0x0B] = if value & B_SET != 0 {
                    value & !B_UIE
                } else {
                    value
                };
                self.retime(old_a, old_b);
            }
            0x0C | 0x0D => {}
            _ => self.s.cmos[usize::from(idx)] = value,
        }
        self.update_irq();
    }

    /// Exact virtual time of the next event that would raise IRQ 8, if any.
    /// (With only the alarm enabled it is the next update, once a second.)
    pub fn next_deadline(&self) -> Option<u64> {
        if self.irqf() || !self.running() {
            return None;
        }
        let b = self.s.cmos[0x0B];
        let d = self.divider_ns(self.s.now_ns);
        let mut next: Option<u128> = None;
        if b & B_PIE != 0 {
            if let Some(p) = period_cycles(self.s.cmos[0x0A]) {
                let m = d * DIV_HZ / u128::from(NS_PER_SEC) / p + 1;
                next = Some((m * p * u128::from(NS_PER_SEC)).div_ceil(DIV_HZ));
            }
        }
        if b & (B_UIE | B_AIE) != 0 && self.counting() {
            let boundary = (d / u128::from(NS_PER_SEC) + 1) * u128::from(NS_PER_SEC);
            next = Some(next.map_or(boundary, |n| n.min(boundary)));
        }
        next.map(|n| u64::try_from(n - u128::from(self.s.div_offset_ns)).unwrap_or(u64::MAX))
    }

    /// Account for periodic ticks and updates up to `now_ns`, setting register C
    /// flags and IRQ 8.
    pub fn advance(&mut self, now_ns: u64) {
        if now_ns <= self.s.now_ns {
            return;
        }
        let (da, db) = (self.divider_ns(self.s.now_ns), self.divider_ns(now_ns));
        self.s.now_ns = now_ns;
        if self.running() {
            if let Some(p) = period_cycles(self.s.cmos[0x0A]) {
                let cycles = |d: u128| d * DIV_HZ / u128::from(NS_PER_SEC);
                if cycles(db) / p > cycles(da) / p {
                    self.s.flags |= C_PF;
                }
            }
            if self.counting() {
                let sec = u128::from(NS_PER_SEC);
                let (sa, sb) = ((da / sec) as i64, (db / sec) as i64);
                if sb > sa {
                    self.s.flags |= C_UF;
                    if self.s.flags & C_AF == 0 {
                        // Every time of day recurs within 86400 updates.
                        let first = (sa + 1).max(sb - 86_399);
                        if (first..=sb).any(|k| self.alarm_matches(self.s.base_secs + k)) {
                            self.s.flags |= C_AF;
                        }
                    }
                }
            }
        }
        self.update_irq();
    }

    fn divider_ns(&self, now: u64) -> u128 {
        u128::from(now) + u128::from(self.s.div_offset_ns)
    }

    /// Divider chain running at the 32.768 kHz time base.
    fn running(&self) -> bool {
        self.s.cmos[0x0A] & A_DV_MASK == A_DV_RUN
    }

    /// Clock advancing: divider running and SET clear.
    fn counting(&self) -> bool {
        self.running() && self.s.cmos[0x0B] & B_SET == 0
    }

    /// Set the clock to `secs` (Unix seconds) at virtual time `now_ns`, keeping
    /// the divider's phase: what a machine restored from a snapshot does, so that
    /// the CMOS clock shows the host's time rather than the time of the save.
    pub fn set_wall_clock(&mut self, secs: u64, now_ns: u64) {
        self.advance(now_ns);
        self.set_secs(secs.min(1 << 50) as i64);
    }

    fn secs(&self) -> i64 {
        self.s.held_secs.unwrap_or_else(|| {
            self.s.base_secs + (self.divider_ns(self.s.now_ns) / u128::from(NS_PER_SEC)) as i64
        })
    }

    fn set_secs(&mut self, secs: i64) {
        match self.s.held_secs.as_mut() {
            Some(h) => *h = secs,
            None => {
                self.s.base_secs =
                    secs - (self.divider_ns(self.s.now_ns) / u128::from(NS_PER_SEC)) as i64
            }
        }
    }

    /// Apply a change of register A or B: hold or release the clock, restart the
    /// divider (the first update then comes 500 ms later, per the datasheet).
    fn retime(&mut self, old_a: u8, old_b: u8) {
        let was_running = old_a & A_DV_MASK == A_DV_RUN;
        let was_counting = was_running && old_b & B_SET == 0;
        if was_counting && !self.counting() {
            self.s.held_secs = Some(self.secs());
        }
        if self.running() && !was_running {
            let phase = self.s.now_ns % NS_PER_SEC;
            self.s.div_offset_ns = (NS_PER_SEC + NS_PER_SEC / 2 - phase) % NS_PER_SEC;
        }
        if self.counting() && !was_counting {
            if let Some(h) = self.s.held_secs.take() {
                self.set_secs(h);
            }
        }
    }

    fn uip(&self) -> bool {
        let into_second = (self.divider_ns(self.s.now_ns) % u128::from(NS_PER_SEC)) as u64;
        self.counting() && into_second >= NS_PER_SEC - UIP_NS
    }

    fn irqf(&self) -> bool {
        let b = self.s.cmos[0x0B];
        let f = self.s.flags;
        (f & C_PF != 0 && b & B_PIE != 0)
            || (f & C_AF != 0 && b & B_AIE != 0)
            || (f & C_UF != 0 && b & B_UIE != 0)
    }

    fn update_irq(&mut self) {
        self.irq.set_level(self.irqf());
    }

    fn alarm_matches(&self, secs: i64) -> bool {
        let dt = DateTime::from_unix(secs);
        let hit = |alarm: u8, now: u8| alarm & 0xC0 == 0xC0 || alarm == now;
        hit(self.s.cmos[0x01], self.enc(dt.second))
            && hit(self.s.cmos[0x03], self.enc(dt.minute))
            && hit(self.s.cmos[0x05], self.enc_hour(dt.hour))
    }

    fn binary(&self) -> bool {
        self.s.cmos[0x0B] & B_BINARY != 0
    }

    fn enc(&self, v: u8) -> u8 {
        if self.binary() {
            v
        } else {
            ((v / 10 % 10) << 4) | (v % 10)
        }
    }

    fn dec(&self, v: u8) -> u8 {
        if self.binary() {
            v
        } else {
            (v >> 4) * 10 + (v & 0x0F)
        }
    }

    fn enc_hour(&self, h: u8) -> u8 {
        if self.s.cmos[0x0B] & B_24H != 0 {
            return self.enc(h);
        }
        let h12 = if h.is_multiple_of(12) { 12 } else { h % 12 };
        self.enc(h12) | if h >= 12 { 0x80 } else { 0 }
    }

    fn dec_hour(&self, v: u8) -> u8 {
        if self.s.cmos[0x0B] & B_24H != 0 {
            return self.dec(v);
        }
        self.dec(v & 0x7F) % 12 + if v & 0x80 != 0 { 12 } else { 0 }
    }
}

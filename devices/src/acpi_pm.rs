//! ACPI fixed-feature hardware as a PIIX4-style power-management block: the PM1
//! event registers (status, enable), the PM1 control register (SCI_EN, SLP_TYP,
//! SLP_EN) and the 3.579545 MHz power-management timer, at offsets 0-3, 4-5 and
//! 8-11 of one I/O block whose base the FADT announces. The SCI goes to an ISA
//! IRQ (9 on this board). Writing SLP_EN with the S5 sleep type asks the board to
//! power off: this is how Linux's `poweroff` ends.
//!
//! There is no SMI command port: the block is always in ACPI mode (SCI_EN reads 1).

use crate::bus::IoSize;
use crate::irq::InterruptLine;
use crate::request::{BoardRequest, BoardRequests};

/// PM timer frequency in Hz (the ACPI specification's 3.579545 MHz).
pub const PM_TIMER_HZ: u64 = 3_579_545;

/// Length of the I/O block in bytes.
pub const PM_BLOCK_LEN: u32 = 12;

/// SLP_TYP value that means soft-off (S5); the DSDT's `\_S5` package says so.
pub const SLP_TYP_S5: u16 = 0;

/// PM1 status and enable bits.
pub mod pm1 {
    /// PM timer's bit 31 changed.
    pub const TMR: u16 = 1 << 0;
    /// Global lock released by the firmware (enable bit only: no firmware here).
    pub const GBL: u16 = 1 << 5;
    /// Fixed power button pressed.
    pub const PWRBTN: u16 = 1 << 8;
    /// RTC alarm (enable bit only: the alarm is not wired to PM1).
    pub const RTC: u16 = 1 << 10;
    /// Enable bits the OS may set (it reads them back to verify).
    pub const ENABLE_MASK: u16 = TMR | GBL | PWRBTN | RTC;
    /// The system woke (status only).
    pub const WAK: u16 = 1 << 15;
    /// SCI_EN in PM1 control: events raise an SCI rather than an SMI.
    pub const SCI_EN: u16 = 1 << 0;
    /// SLP_EN in PM1 control: enter the sleep state SLP_TYP (write-only).
    pub const SLP_EN: u16 = 1 << 13;
}

/// Saved state of the block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AcpiPmState {
    /// PM1_STS.
    pub status: u16,
    /// PM1_EN.
    pub enable: u16,
    /// PM1_CNT (SLP_EN never stored).
    pub control: u16,
    /// Timer bit-31 epoch last seen (full count >> 31).
    pub timer_epoch: u64,
}

/// The PM block.
pub struct AcpiPm {
    s: AcpiPmState,
    sci: Box<dyn InterruptLine>,
    requests: BoardRequests,
}

impl core::fmt::Debug for AcpiPm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AcpiPm").field("state", &self.s).finish()
    }
}

/// Timer ticks since virtual time 0 (not wrapped).
fn ticks(now_ns: u64) -> u64 {
    (u128::from(now_ns) * u128::from(PM_TIMER_HZ) / 1_000_000_000) as u64
}

impl AcpiPm {
    /// A block raising its SCI on `sci` and power-off requests on `requests`.
    pub fn new(sci: Box<dyn InterruptLine>, requests: BoardRequests) -> Self {
        Self {
            s: AcpiPmState {
                control: pm1::SCI_EN,
                ..AcpiPmState::default()
            },
            sci,
            requests,
        }
    }

    /// The saved state.
    pub fn state(&self) -> AcpiPmState {
        self.s
    }

    /// Restore a saved state (and re-drive the SCI).
    pub fn from_state(&mut self, s: AcpiPmState) {
        self.s = s;
        self.update_sci();
    }

    /// Press the fixed power button (the guest's ACPI driver sees PWRBTN_STS).
    pub fn press_power_button(&mut self) {
        self.s.status |= pm1::PWRBTN;
        self.update_sci();
    }

    fn update_sci(&mut self) {
        let active = self.s.status & self.s.enable & (pm1::TMR | pm1::PWRBTN) != 0;
        self.sci.set_level(active);
    }

    fn sync_timer(&mut self, now_ns: u64) {
        let epoch = ticks(now_ns) >> 31;
        if epoch != self.s.timer_epoch {
            self.s.timer_epoch = epoch;
            self.s.status |= pm1::TMR;
            self.update_sci();
        }
    }

    /// The 12-byte register file at `now_ns`, little-endian.
    fn regs(&self, now_ns: u64) -> [u8; PM_BLOCK_LEN as usize] {
        let mut r = [0u8; PM_BLOCK_LEN as usize];
        r[0..2].copy_from_slice(&self.s.status.to_le_bytes());
        r[2..4].copy_from_slice(&self.s.enable.to_le_bytes());
        r[4..6].copy_from_slice(&(self.s.control | pm1::SCI_EN).to_le_bytes());
        r[8..12].copy_from_slice(&(ticks(now_ns) as u32).to_le_bytes());
        r
    }

    /// `in` of `size` at register `offset`; bytes past the block read as ones.
    pub fn read(&mut self, offset: u16, size: IoSize, now_ns: u64) -> u32 {
        self.sync_timer(now_ns);
        let regs = self.regs(now_ns);
        (0..size.bytes()).fold(0, |v, i| {
            let b = regs
                .get(usize::from(offset) + i as usize)
                .copied()
                .unwrap_or(0xFF);
            v | u32::from(b) << (8 * i)
        })
    }

    /// `out` of `size` at register `offset`.
    pub fn write(&mut self, offset: u16, size: IoSize, value: u32, now_ns: u64) {
        self.sync_timer(now_ns);
        for i in 0..size.bytes() {
            let byte = (value >> (8 * i)) as u8;
            self.write_byte(offset.wrapping_add(i), byte);
        }
        self.update_sci();
    }

    fn write_byte(&mut self, offset: u16, byte: u8) {
        let b = u16::from(byte);
        match offset {
            // PM1_STS: write one to clear.
            0 => self.s.status &= !b,
            1 => self.s.status &= !(b << 8),
            2 => self.s.enable = (self.s.enable & 0xFF00 | b) & pm1::ENABLE_MASK,
            3 => self.s.enable = (self.s.enable & 0x00FF | b << 8) & pm1::ENABLE_MASK,
            4 => self.s.control = self.s.control & 0xFF00 | b,
            5 => {
                let high = b << 8;
                self.s.control = self.s.control & 0x00FF | high & !pm1::SLP_EN;
                if high & pm1::SLP_EN != 0 && (high >> 10) & 7 == SLP_TYP_S5 {
                    self.requests.push(BoardRequest::Poweroff);
                }
            }
            _ => {}
        }
    }

    /// When the timer's bit 31 next changes, if that raises an SCI.
    pub fn next_deadline(&self) -> Option<u64> {
        if self.s.enable & pm1::TMR == 0 || self.s.status & pm1::TMR != 0 {
            return None;
        }
        let next = (self.s.timer_epoch + 1) << 31;
        let ns = (u128::from(next) * 1_000_000_000).div_ceil(u128::from(PM_TIMER_HZ));
        u64::try_from(ns).ok()
    }

    /// Bring the timer status up to `now_ns`.
    pub fn advance(&mut self, now_ns: u64) {
        self.sync_timer(now_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_utils::RecordingIrq;

    fn pm() -> (AcpiPm, RecordingIrq, BoardRequests) {
        let line = RecordingIrq::new();
        let req = BoardRequests::new();
        (AcpiPm::new(Box::new(line.clone()), req.clone()), line, req)
    }

    #[test]
    fn timer_counts_at_3_579545_mhz_and_wraps_at_32_bits() {
        let (mut p, _, _) = pm();
        assert_eq!(p.read(8, IoSize::Dword, 0), 0);
        assert_eq!(p.read(8, IoSize::Dword, 1_000_000_000), 3_579_545);
        assert_eq!(p.read(8, IoSize::Word, 1_000_000), 3579);
        let wrap_ns = ((1u128 << 32) * 1_000_000_000).div_ceil(3_579_545) as u64;
        assert!(p.read(8, IoSize::Dword, wrap_ns) < 4);
    }

    #[test]
    fn control_reads_sci_en_and_s5_requests_poweroff() {
        let (mut p, _, req) = pm();
        assert_eq!(p.read(4, IoSize::Word, 0) & 1, 1);
        // SLP_TYP=1 (not S5) with SLP_EN: no poweroff.
        p.write(4, IoSize::Word, (1 << 10) | (1 << 13), 0);
        assert!(req.drain().is_empty());
        assert_eq!(
            p.read(4, IoSize::Word, 0) & (1 << 13),
            0,
            "SLP_EN is write-only"
        );
        p.write(4, IoSize::Word, 1 << 13, 0);
        assert_eq!(req.drain(), vec![BoardRequest::Poweroff]);
    }

    #[test]
    fn power_button_raises_sci_only_when_enabled_and_clears_by_writing_one() {
        let (mut p, line, _) = pm();
        p.press_power_button();
        assert!(!line.level());
        assert_eq!(p.read(0, IoSize::Word, 0), u32::from(pm1::PWRBTN));
        p.write(2, IoSize::Word, u32::from(pm1::PWRBTN), 0);
        assert!(line.level());
        // ACPICA enables the global lock and RTC events and reads them back.
        p.write(2, IoSize::Word, 0xFFFF, 0);
        assert_eq!(p.read(2, IoSize::Word, 0), u32::from(pm1::ENABLE_MASK));
        p.write(0, IoSize::Word, u32::from(pm1::PWRBTN), 0);
        assert!(!line.level());
        assert_eq!(p.read(0, IoSize::Word, 0), 0);
    }

    #[test]
    fn timer_overflow_sets_tmr_sts_with_a_deadline_when_enabled() {
        let (mut p, line, _) = pm();
        assert_eq!(p.next_deadline(), None);
        p.write(2, IoSize::Byte, 1, 0);
        let t = p.next_deadline().unwrap();
        assert_eq!(ticks(t) >> 31, 1);
        assert_eq!(ticks(t - 1) >> 31, 0);
        p.advance(t - 1);
        assert!(!line.level());
        p.advance(t);
        assert!(line.level());
        assert_eq!(p.read(0, IoSize::Byte, t) & 1, 1);
        assert_eq!(p.next_deadline(), None);
    }
}

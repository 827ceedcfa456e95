//! National Semiconductor 16550A UART (COM1 0x3F8/IRQ 4, COM2 0x2F8/IRQ 3,
//! COM3 0x3E8/IRQ 4, COM4 0x2E8/IRQ 3), offsets 0-7.
//!
//! Registers per the PC16550D datasheet: RBR/THR, IER, IIR/FCR, LCR, MCR, LSR, MSR,
//! SCR, and DLL/DLM behind LCR.DLAB. Transmission is instantaneous (bytes go
//! straight to the output sink, THR is always empty); reception goes through a
//! 16-byte FIFO with trigger levels and the character-timeout interrupt, four
//! character times (from LCR and the divisor) of virtual time after the last FIFO
//! activity. Bytes from the host wait in an unbounded host-side queue while the
//! FIFO is full. As on PC boards, the IRQ is only driven while MCR.OUT2 is set and
//! loopback is off.

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::io::Write;

use crate::irq::InterruptLine;
use crate::time::NS_PER_SEC;

/// Standard I/O base of COM1-COM4.
pub const COM_PORTS: [u16; 4] = [0x3F8, 0x2F8, 0x3E8, 0x2E8];
/// Standard ISA IRQ of COM1-COM4.
pub const COM_IRQS: [u8; 4] = [4, 3, 4, 3];

const IER_RDI: u8 = 0x01;
const IER_THRI: u8 = 0x02;
const IER_RLSI: u8 = 0x04;
const IER_MSI: u8 = 0x08;

const IIR_NO_INT: u8 = 0x01;
const IIR_MSI: u8 = 0x00;
const IIR_THRI: u8 = 0x02;
const IIR_RDI: u8 = 0x04;
const IIR_RLSI: u8 = 0x06;
const IIR_TIMEOUT: u8 = 0x0C;

const LCR_DLAB: u8 = 0x80;
const MCR_OUT2: u8 = 0x08;
const MCR_LOOP: u8 = 0x10;

const LSR_DR: u8 = 0x01;
const LSR_OE: u8 = 0x02;
const LSR_THRE: u8 = 0x20;
const LSR_TEMT: u8 = 0x40;

const FIFO_SIZE: usize = 16;
/// The 1.8432 MHz UART crystal of a PC.
const UART_CLOCK_HZ: u64 = 1_843_200;

/// Saved state of one UART.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UartState {
    /// Interrupt Enable Register (bits 3:0).
    pub ier: u8,
    /// Line Control Register.
    pub lcr: u8,
    /// Modem Control Register (bits 4:0).
    pub mcr: u8,
    /// Pending LSR error bits (OE/PE/FE/BI), cleared by reading LSR.
    pub line_errors: u8,
    /// Modem status inputs (MSR bits 7:4: DCD, RI, DSR, CTS) when not in loopback.
    pub modem_inputs: u8,
    /// MSR delta bits 3:0, cleared by reading MSR.
    pub msr_delta: u8,
    /// Scratch Register.
    pub scr: u8,
    /// Divisor latch (DLM:DLL).
    pub divisor: u16,
    /// FIFO Control Register as last written (enable, DMA mode, trigger level).
    pub fcr: u8,
    /// Receive FIFO (or holding register when FIFOs are off).
    pub rx: VecDeque<u8>,
    /// Host bytes waiting for room in the receive FIFO.
    pub host_pending: VecDeque<u8>,
    /// THR-empty interrupt pending (cleared by reading IIR or writing THR).
    pub thr_pending: bool,
    /// Character-timeout interrupt pending.
    pub timeout_pending: bool,
    /// When the character timeout fires, if armed.
    pub timeout_at: Option<u64>,
    /// Latest virtual time seen.
    pub now_ns: u64,
}

impl Default for UartState {
    fn default() -> Self {
        Self {
            ier: 0,
            lcr: 0,
            mcr: 0,
            line_errors: 0,
            modem_inputs: 0xB0,
            msr_delta: 0,
            scr: 0,
            divisor: 12,
            fcr: 0,
            rx: VecDeque::new(),
            host_pending: VecDeque::new(),
            thr_pending: false,
            timeout_pending: false,
            timeout_at: None,
            now_ns: 0,
        }
    }
}

/// One 16550A.
pub struct Uart {
    s: UartState,
    irq: Box<dyn InterruptLine>,
    out: Box<dyn Write>,
}

impl core::fmt::Debug for Uart {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Uart")
            .field("state", &self.s)
            .finish_non_exhaustive()
    }
}

impl Uart {
    /// A UART after reset (9600 baud divisor, modem inputs CTS/DSR/DCD asserted)
    /// driving `irq` and transmitting into `out`.
    pub fn new(irq: Box<dyn InterruptLine>, out: Box<dyn Write>) -> Self {
        Self::from_state(UartState::default(), irq, out)
    }

    /// Snapshot for save/restore.
    pub fn state(&self) -> UartState {
        self.s.clone()
    }

    /// Rebuild from a snapshot; drives `irq` to the restored level.
    pub fn from_state(
        mut state: UartState,
        irq: Box<dyn InterruptLine>,
        out: Box<dyn Write>,
    ) -> Self {
        state.ier &= 0x0F;
        state.mcr &= 0x1F;
        state.msr_delta &= 0x0F;
        state.modem_inputs &= 0xF0;
        state.line_errors &= 0x1E;
        state.rx.truncate(FIFO_SIZE);
        let mut uart = Self { s: state, irq, out };
        uart.update_irq();
        uart
    }

    /// Replace the state in place, keeping the interrupt line (re-driven) and the
    /// output sink.
    pub fn restore(&mut self, state: UartState) {
        let irq = std::mem::replace(&mut self.irq, Box::new(crate::irq::NoIrq));
        let out = std::mem::replace(&mut self.out, Box::new(std::io::sink()));
        *self = Self::from_state(state, irq, out);
    }

    /// Replace the output sink.
    pub fn set_output(&mut self, out: Box<dyn Write>) {
        self.out = out;
    }

    /// Register read at `offset` (0-7).
    pub fn read(&mut self, offset: u16, now_ns: u64) -> u8 {
        self.advance(now_ns);
        let dlab = self.s.lcr & LCR_DLAB != 0;
        let v = match offset & 7 {
            0 if dlab => self.s.divisor as u8,
            0 => self.read_rbr(),
            1 if dlab => (self.s.divisor >> 8) as u8,
            1 => self.s.ier,
            2 => {
                let id = self.iir_id();
                if id == IIR_THRI {
                    self.s.thr_pending = false;
                }
                id | if self.fifo_enabled() { 0xC0 } else { 0 }
            }
            3 => self.s.lcr,
            4 => self.s.mcr,
            5 => {
                let v = self.lsr();
                self.s.line_errors = 0;
                v
            }
            6 => {
                let v = self.modem_status() | self.s.msr_delta;
                self.s.msr_delta = 0;
                v
            }
            _ => self.s.scr,
        };
        self.update_irq();
        v
    }

    /// Register write at `offset` (0-7).
    pub fn write(&mut self, offset: u16, value: u8, now_ns: u64) {
        self.advance(now_ns);
        let dlab = self.s.lcr & LCR_DLAB != 0;
        match offset & 7 {
            0 if dlab => self.s.divisor = self.s.divisor & 0xFF00 | u16::from(value),
            0 => self.write_thr(value),
            1 if dlab => self.s.divisor = self.s.divisor & 0x00FF | u16::from(value) << 8,
            1 => {
                let changed = self.s.ier ^ (value & 0x0F);
                self.s.ier = value & 0x0F;
                // Enabling THRI with THR empty raises THRE again (Linux's startup
                // test and Windows rely on this).
                if changed & IER_THRI != 0 {
                    self.s.thr_pending = self.s.ier & IER_THRI != 0;
                }
            }
            2 => self.write_fcr(value),
            3 => self.s.lcr = value,
            4 => {
                let before = self.modem_status();
                let was_loop = self.s.mcr & MCR_LOOP != 0;
                self.s.mcr = value & 0x1F;
                self.note_modem_change(before);
                if was_loop && self.s.mcr & MCR_LOOP == 0 {
                    self.refill();
                }
            }
            5 | 6 => {} // LSR and MSR are read-only (factory test writes ignored)
            _ => self.s.scr = value,
        }
        self.update_irq();
    }

    /// Bytes arriving from the host on the serial line. They enter the receive FIFO
    /// as room allows and otherwise wait host-side (never overrun).
    pub fn receive(&mut self, bytes: &[u8]) {
        self.s.host_pending.extend(bytes);
        self.refill();
        self.update_irq();
    }

    /// How many more bytes the guest's receive FIFO can take right now (0 while
    /// host-side bytes are still waiting). A frontend can use this for flow control.
    pub fn rx_room(&self) -> usize {
        if !self.s.host_pending.is_empty() {
            return 0;
        }
        self.capacity().saturating_sub(self.s.rx.len())
    }

    /// Number of host bytes waiting for room in the FIFO.
    pub fn host_pending(&self) -> usize {
        self.s.host_pending.len()
    }

    /// Set the modem status inputs CTS, DSR, RI, DCD (MSR bits 7:4 layout) as the
    /// far end drives them; changes set the MSR delta bits.
    pub fn set_modem_inputs(&mut self, msr_bits: u8) {
        let before = self.modem_status();
        self.s.modem_inputs = msr_bits & 0xF0;
        self.note_modem_change(before);
        self.update_irq();
    }

    /// When the character timeout fires, if it is armed and can interrupt.
    pub fn next_deadline(&self) -> Option<u64> {
        self.s
            .timeout_at
            .filter(|_| self.s.ier & IER_RDI != 0 && !self.s.timeout_pending)
    }

    /// Bring the UART up to `now_ns` (fires the character timeout when due).
    pub fn advance(&mut self, now_ns: u64) {
        if now_ns <= self.s.now_ns {
            return;
        }
        self.s.now_ns = now_ns;
        if self.s.timeout_at.is_some_and(|t| t <= now_ns) {
            self.s.timeout_at = None;
            self.s.timeout_pending = true;
            self.update_irq();
        }
    }

    /// Whether the UART currently asserts its IRQ line.
    pub fn irq_asserted(&self) -> bool {
        self.iir_id() & IIR_NO_INT == 0 && self.s.mcr & (MCR_OUT2 | MCR_LOOP) == MCR_OUT2
    }

    fn fifo_enabled(&self) -> bool {
        self.s.fcr & 1 != 0
    }

    fn capacity(&self) -> usize {
        if self.fifo_enabled() {
            FIFO_SIZE
        } else {
            1
        }
    }

    fn trigger_level(&self) -> usize {
        [1, 4, 8, 14][usize::from(self.s.fcr >> 6)]
    }

    fn lsr(&self) -> u8 {
        let dr = if self.s.rx.is_empty() { 0 } else { LSR_DR };
        dr | self.s.line_errors | LSR_THRE | LSR_TEMT
    }

    /// MSR bits 7:4: loopback mirrors MCR (RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD).
    fn modem_status(&self) -> u8 {
        let m = self.s.mcr;
        if m & MCR_LOOP != 0 {
            (m & 0x02) << 3 | (m & 0x01) << 5 | (m & 0x04) << 4 | (m & 0x08) << 4
        } else {
            self.s.modem_inputs
        }
    }

    fn note_modem_change(&mut self, before: u8) {
        let after = self.modem_status();
        let changed = before ^ after;
        let mut delta = (changed & 0x30) >> 4 | (changed & 0x80) >> 4;
        if before & 0x40 != 0 && after & 0x40 == 0 {
            delta |= 0x04; // TERI: trailing edge of RI
        }
        self.s.msr_delta |= delta;
    }

    fn iir_id(&self) -> u8 {
        let ier = self.s.ier;
        let rx_ready = if self.fifo_enabled() {
            self.s.rx.len() >= self.trigger_level()
        } else {
            !self.s.rx.is_empty()
        };
        if ier & IER_RLSI != 0 && self.s.line_errors != 0 {
            IIR_RLSI
        } else if ier & IER_RDI != 0 && rx_ready {
            IIR_RDI
        } else if ier & IER_RDI != 0 && self.s.timeout_pending {
            IIR_TIMEOUT
        } else if ier & IER_THRI != 0 && self.s.thr_pending {
            IIR_THRI
        } else if ier & IER_MSI != 0 && self.s.msr_delta != 0 {
            IIR_MSI
        } else {
            IIR_NO_INT
        }
    }

    fn update_irq(&mut self) {
        self.irq.set_level(self.irq_asserted());
    }

    fn read_rbr(&mut self) -> u8 {
        let b = self.s.rx.pop_front().unwrap_or(0);
        self.s.timeout_pending = false;
        self.refill();
        self.arm_timeout();
        b
    }

    fn write_thr(&mut self, b: u8) {
        if self.s.mcr & MCR_LOOP != 0 {
            if self.s.rx.len() < self.capacity() {
                self.s.rx.push_back(b);
                self.arm_timeout();
            } else {
                self.s.line_errors |= LSR_OE;
            }
        } else {
            // A failing sink cannot be reported to the guest; the byte is dropped
            // as a disconnected line would.
            let _ = self.out.write_all(&[b]);
        }
        // The transmitter is instantaneous: THR is empty again at once.
        self.s.thr_pending = true;
    }

    fn write_fcr(&mut self, value: u8) {
        let toggled = (value ^ self.s.fcr) & 1 != 0;
        if toggled || value & 0x02 != 0 {
            self.s.rx.clear();
            self.s.timeout_pending = false;
            self.s.timeout_at = None;
        }
        // FCR bits other than the enable only take when the enable is written as 1.
        self.s.fcr = if value & 1 != 0 { value & 0xC9 } else { 0 };
        self.refill();
    }

    /// Move host bytes into the FIFO (not in loopback: the line is disconnected).
    fn refill(&mut self) {
        if self.s.mcr & MCR_LOOP != 0 {
            return;
        }
        let room = self.capacity().saturating_sub(self.s.rx.len());
        let n = room.min(self.s.host_pending.len());
        if n > 0 {
            self.s.rx.extend(self.s.host_pending.drain(..n));
            self.arm_timeout();
        }
    }

    /// Restart the character-timeout clock after FIFO activity.
    fn arm_timeout(&mut self) {
        self.s.timeout_at = (self.fifo_enabled() && !self.s.rx.is_empty())
            .then(|| self.s.now_ns.saturating_add(4 * self.char_time_ns()));
    }

    /// Time on the wire for one character: start, data, parity and stop bits at
    /// the programmed divisor (divisor 0 acts as 65536).
    pub fn char_time_ns(&self) -> u64 {
        let lcr = self.s.lcr;
        let data = 5 + u64::from(lcr & 3);
        let parity = u64::from(lcr >> 3 & 1);
        let stop_halves = match (lcr & 4 != 0, data) {
            (false, _) => 2,
            (true, 5) => 3,
            (true, _) => 4,
        };
        let half_bits = 2 * (1 + data + parity) + stop_halves;
        let divisor = if self.s.divisor == 0 {
            0x1_0000
        } else {
            u64::from(self.s.divisor)
        };
        (u128::from(half_bits * divisor * 16) * u128::from(NS_PER_SEC)
            / u128::from(2 * UART_CLOCK_HZ)) as u64
    }
}

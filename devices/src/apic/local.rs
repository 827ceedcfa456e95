//! The local APIC (xAPIC mode; SDM vol. 3, chapter 10 / 11 in newer editions).

use super::{DeliveryMode, Message};
use crate::bus::IoSize;

/// IA32_APIC_BASE bit 8: this is the bootstrap processor.
pub const APIC_BASE_BSP: u64 = 1 << 8;
/// IA32_APIC_BASE bit 11: the APIC is enabled (globally; clear = hardware-disabled).
pub const APIC_BASE_ENABLE: u64 = 1 << 11;
/// The local APIC's register page after reset.
pub const APIC_DEFAULT_BASE: u32 = 0xFEE0_0000;
/// Version register: integrated xAPIC (0x14), six LVT entries (max LVT 5), no
/// EOI-broadcast suppression.
pub const APIC_VERSION: u32 = 0x0005_0014;

/// LVT index of the timer entry (register 0x320).
pub const LVT_TIMER: usize = 0;
/// LVT index of the thermal-sensor entry (0x330).
pub const LVT_THERMAL: usize = 1;
/// LVT index of the performance-counter entry (0x340).
pub const LVT_PERF: usize = 2;
/// LVT index of LINT0 (0x350): the 8259A's INTR as ExtINT on a PC.
pub const LVT_LINT0: usize = 3;
/// LVT index of LINT1 (0x360): the board's NMI on a PC.
pub const LVT_LINT1: usize = 4;
/// LVT index of the error entry (0x370).
pub const LVT_ERROR: usize = 5;

const LVT_MASKED: u32 = 1 << 16;
const LVT_PERIODIC: u32 = 1 << 17;
/// Writable bits of each LVT entry (delivery status, remote IRR read-only; no
/// TSC-deadline mode, which CPUID does not advertise).
const LVT_WRITABLE: [u32; 6] = [0x3_00FF, 0x1_07FF, 0x1_07FF, 0x1_A7FF, 0x1_A7FF, 0x1_00FF];
const SVR_ENABLE: u32 = 1 << 8;
/// ESR bits (SDM table "Local APIC Error Status Register").
const ESR_SEND_ILLEGAL_VECTOR: u32 = 1 << 5;
const ESR_RECEIVE_ILLEGAL_VECTOR: u32 = 1 << 6;
const ESR_ILLEGAL_REGISTER: u32 = 1 << 7;

/// Everything a local APIC holds (for snapshots).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalApicState {
    /// IA32_APIC_BASE: page address, BSP (bit 8) and global enable (bit 11).
    pub base: u64,
    /// APIC ID (register 0x20 bits 24-31).
    pub id: u8,
    /// Task priority (0x80).
    pub tpr: u8,
    /// Logical destination (0xD0).
    pub ldr: u32,
    /// Destination format (0xE0): 0xFFFFFFFF flat, 0x0FFFFFFF cluster.
    pub dfr: u32,
    /// Spurious-interrupt vector register (0xF0): vector, software enable (bit 8).
    pub svr: u32,
    /// In-service register, bit n = vector n.
    pub isr: [u32; 8],
    /// Trigger-mode register: 1 = the accepted vector was level-triggered.
    pub tmr: [u32; 8],
    /// Interrupt request register.
    pub irr: [u32; 8],
    /// Error status as the last ESR write latched it (what reads return).
    pub esr: u32,
    /// Errors seen since the last ESR write.
    pub esr_pending: u32,
    /// Interrupt command register (0x300 low, 0x310 high).
    pub icr: u64,
    /// Local vector table: timer, thermal, perf, LINT0, LINT1, error.
    pub lvt: [u32; 6],
    /// Timer initial count (0x380).
    pub initial_count: u32,
    /// Timer divide configuration (0x3E0).
    pub divide: u32,
    /// Virtual time at which the count was last loaded.
    pub timer_start_ns: u64,
    /// Virtual time of the timer's next expiry, when it is counting.
    pub timer_next_ns: Option<u64>,
    /// An NMI was accepted and the CPU has not taken it yet.
    pub nmi_pending: bool,
}

impl LocalApicState {
    /// The state after RESET for the bootstrap processor with APIC ID `id`: enabled
    /// at 0xFEE00000, software-disabled (SVR 0xFF), every LVT entry masked except
    /// LINT0, which is ExtINT so that the 8259A reaches the CPU (what firmware and
    /// QEMU leave for a BSP).
    pub fn reset(id: u8) -> Self {
        let mut lvt = [LVT_MASKED; 6];
        lvt[LVT_LINT0] = 0x700;
        LocalApicState {
            base: u64::from(APIC_DEFAULT_BASE) | APIC_BASE_BSP | APIC_BASE_ENABLE,
            id,
            tpr: 0,
            ldr: 0,
            dfr: 0xFFFF_FFFF,
            svr: 0xFF,
            isr: [0; 8],
            tmr: [0; 8],
            irr: [0; 8],
            esr: 0,
            esr_pending: 0,
            icr: 0,
            lvt,
            initial_count: 0,
            divide: 0,
            timer_start_ns: 0,
            timer_next_ns: None,
            nmi_pending: false,
        }
    }
}

/// A local APIC in xAPIC mode. Its timer ticks at 1 GHz before the divider (as
/// QEMU's does), on the virtual time the board passes in.
#[derive(Debug, Clone)]
pub struct LocalApic {
    s: LocalApicState,
    /// Vector whose EOI must be broadcast to the IO-APIC (level-triggered).
    eoi_out: Option<u8>,
}

fn highest(bits: &[u32; 8]) -> Option<u8> {
    (0..8)
        .rev()
        .find(|&i| bits[i] != 0)
        .map(|i| (i as u32 * 32 + 31 - bits[i].leading_zeros()) as u8)
}

fn set(bits: &mut [u32; 8], v: u8, on: bool) {
    let (i, b) = (usize::from(v >> 5), 1u32 << (v & 31));
    if on {
        bits[i] |= b;
    } else {
        bits[i] &= !b;
    }
}

fn get(bits: &[u32; 8], v: u8) -> bool {
    bits[usize::from(v >> 5)] & 1 << (v & 31) != 0
}

impl LocalApic {
    /// A local APIC in its RESET state with APIC ID `id`.
    pub fn new(id: u8) -> Self {
        Self::from_state(LocalApicState::reset(id))
    }

    /// The state, for snapshots.
    pub fn state(&self) -> LocalApicState {
        self.s
    }

    /// Rebuilds a local APIC from a snapshot.
    pub fn from_state(s: LocalApicState) -> Self {
        LocalApic { s, eoi_out: None }
    }

    /// RESET/INIT: back to [`LocalApicState::reset`], keeping the ID.
    pub fn reset(&mut self) {
        self.s = LocalApicState::reset(self.s.id);
        self.eoi_out = None;
    }

    /// The IA32_APIC_BASE value.
    pub fn base_msr(&self) -> u64 {
        self.s.base
    }

    /// WRMSR IA32_APIC_BASE: moves the register page or disables the APIC
    /// (clearing EN puts it in its reset state, hardware-disabled, as the SDM
    /// says). Bit 8 (BSP) is read-only.
    pub fn set_base_msr(&mut self, value: u64) {
        let enable = value & APIC_BASE_ENABLE != 0;
        if !enable && self.hw_enabled() {
            let id = self.s.id;
            self.s = LocalApicState::reset(id);
        }
        self.s.base =
            (value & 0xF_FFFF_F000) | (self.s.base & APIC_BASE_BSP) | value & APIC_BASE_ENABLE;
    }

    /// Physical address of the register page.
    pub fn mmio_base(&self) -> u32 {
        (self.s.base & 0xFFFF_F000) as u32
    }

    /// Globally enabled through IA32_APIC_BASE.EN.
    pub fn hw_enabled(&self) -> bool {
        self.s.base & APIC_BASE_ENABLE != 0
    }

    /// Software-enabled through SVR bit 8.
    pub fn sw_enabled(&self) -> bool {
        self.s.svr & SVR_ENABLE != 0
    }

    /// What firmware leaves at OS entry ("virtual wire" mode, MP spec 3.6.2.2):
    /// enabled at 0xFEE00000, SVR 0x1FF, LINT0 ExtINT (the 8259A reaches the
    /// CPU through the local APIC), LINT1 NMI, other LVTs masked, TPR 0.
    pub fn set_virtual_wire(&mut self) {
        self.set_base_msr(u64::from(APIC_DEFAULT_BASE) | APIC_BASE_ENABLE);
        self.s.svr = SVR_ENABLE | 0xFF;
        self.s.tpr = 0;
        self.s.lvt = [LVT_MASKED; 6];
        self.s.lvt[LVT_LINT0] = 0x700;
        self.s.lvt[LVT_LINT1] = 0x400;
    }

    /// Whether the 8259A's INTR reaches the CPU: the APIC is hardware-disabled
    /// (bypassed), or LINT0 is an unmasked ExtINT entry.
    pub fn extint_enabled(&self) -> bool {
        let l = self.s.lvt[LVT_LINT0];
        !self.hw_enabled() || (l & LVT_MASKED == 0 && DeliveryMode::of(l) == DeliveryMode::ExtInt)
    }

    /// Whether an ExtINT message to `dest` (logical or physical) reaches this
    /// APIC: it is enabled and the destination names it.
    pub fn accepts(&self, dest: u8, logical: bool) -> bool {
        self.hw_enabled() && self.is_dest(dest, logical)
    }

    /// Processor priority: the higher of TPR and the in-service vector's class.
    pub fn ppr(&self) -> u8 {
        let isrv = highest(&self.s.isr).unwrap_or(0);
        if self.s.tpr >> 4 >= isrv >> 4 {
            self.s.tpr
        } else {
            isrv & 0xF0
        }
    }

    /// The highest requested vector that the processor priority lets through.
    fn deliverable(&self) -> Option<u8> {
        if !self.hw_enabled() || !self.sw_enabled() {
            return None;
        }
        highest(&self.s.irr).filter(|&v| v >> 4 > self.ppr() >> 4)
    }

    /// INTR as the local APIC drives it for fixed interrupts.
    pub fn intr_pending(&self) -> bool {
        self.deliverable().is_some()
    }

    /// INTA: moves the highest deliverable vector from IRR to ISR and returns it;
    /// with none (the priority rose in between) the spurious vector, which sets
    /// no ISR bit.
    pub fn acknowledge(&mut self) -> u8 {
        match self.deliverable() {
            Some(v) => {
                set(&mut self.s.irr, v, false);
                set(&mut self.s.isr, v, true);
                v
            }
            None => self.s.svr as u8,
        }
    }

    /// Takes a pending NMI (the CPU is delivering it).
    pub fn take_nmi(&mut self) -> bool {
        std::mem::take(&mut self.s.nmi_pending)
    }

    /// Whether an NMI is waiting for the CPU.
    pub fn nmi_pending(&self) -> bool {
        self.s.nmi_pending
    }

    /// The vector of a level-triggered interrupt just EOI'd, to broadcast to the
    /// IO-APIC (cleared by reading).
    pub fn take_eoi_broadcast(&mut self) -> Option<u8> {
        self.eoi_out.take()
    }

    fn error(&mut self, bits: u32) {
        self.s.esr_pending |= bits;
        let l = self.s.lvt[LVT_ERROR];
        if l & LVT_MASKED == 0 {
            self.accept_fixed(l as u8, false, false);
        }
    }

    fn accept_fixed(&mut self, vector: u8, level: bool, from_error: bool) {
        if vector < 16 {
            if !from_error {
                self.error(ESR_RECEIVE_ILLEGAL_VECTOR);
            } else {
                self.s.esr_pending |= ESR_RECEIVE_ILLEGAL_VECTOR;
            }
            return;
        }
        set(&mut self.s.irr, vector, true);
        set(&mut self.s.tmr, vector, level);
    }

    /// Whether a message with this destination is for this APIC.
    fn is_dest(&self, dest: u8, logical: bool) -> bool {
        if !logical {
            return dest == 0xFF || dest == self.s.id;
        }
        let ldr = (self.s.ldr >> 24) as u8;
        if self.s.dfr >> 28 == 0xF {
            // Flat model: a bit set per APIC.
            dest & ldr != 0
        } else {
            // Cluster model: high nibble cluster (15 = all), low nibble members.
            (dest >> 4 == ldr >> 4 || dest >> 4 == 0xF) && dest & ldr & 0xF != 0
        }
    }

    /// Receives an interrupt message (from the IO-APIC, an IPI, or a local source).
    pub fn receive(&mut self, m: Message) {
        if !self.hw_enabled() || !self.is_dest(m.dest, m.logical) {
            return;
        }
        self.deliver_local(m.mode, m.vector, m.level);
    }

    fn deliver_local(&mut self, mode: DeliveryMode, vector: u8, level: bool) {
        match mode {
            DeliveryMode::Fixed | DeliveryMode::LowestPriority if self.sw_enabled() => {
                self.accept_fixed(vector, level, false);
            }
            DeliveryMode::Nmi => self.s.nmi_pending = true,
            // No SMM, no other processors; ExtINT is the board's LINT0 path.
            _ => {}
        }
    }

    /// An edge on LINT1 (the board's NMI): delivered as its LVT entry says.
    pub fn lint1_edge(&mut self) {
        let l = self.s.lvt[LVT_LINT1];
        if self.hw_enabled() && l & LVT_MASKED == 0 {
            let level = l & 1 << 15 != 0;
            self.deliver_local(DeliveryMode::of(l), l as u8, level);
        }
    }

    fn divide_shift(&self) -> u32 {
        let d = self.s.divide;
        let v = (d & 3) | (d >> 1 & 4);
        (v + 1) & 7
    }

    fn period_ns(&self) -> u64 {
        u64::from(self.s.initial_count) << self.divide_shift()
    }

    /// Current count (0x390) at `now_ns`.
    pub fn current_count(&self, now_ns: u64) -> u32 {
        let init = u64::from(self.s.initial_count);
        if init == 0 {
            return 0;
        }
        let elapsed = now_ns.saturating_sub(self.s.timer_start_ns) >> self.divide_shift();
        if self.s.lvt[LVT_TIMER] & LVT_PERIODIC != 0 {
            (init - elapsed % init) as u32
        } else if self.s.timer_next_ns.is_none() || elapsed >= init {
            0
        } else {
            (init - elapsed) as u32
        }
    }

    /// Exact virtual time at which the timer next raises its interrupt (none
    /// when stopped or masked: a masked timer counts but wakes nobody).
    pub fn next_deadline(&self) -> Option<u64> {
        if self.s.lvt[LVT_TIMER] & LVT_MASKED != 0 {
            return None;
        }
        self.s.timer_next_ns
    }

    /// Brings the timer up to `now_ns`: an expiry since the last call sets the
    /// timer vector in the IRR (once, however many periods passed, as a CPU
    /// that was not looking would see).
    pub fn advance(&mut self, now_ns: u64) {
        let Some(next) = self.s.timer_next_ns else {
            return;
        };
        if now_ns < next {
            return;
        }
        let l = self.s.lvt[LVT_TIMER];
        if l & LVT_PERIODIC != 0 {
            let p = self.period_ns().max(1);
            let skipped = (now_ns - next) / p;
            self.s.timer_next_ns = Some(next + (skipped + 1) * p);
        } else {
            self.s.timer_next_ns = None;
        }
        if l & LVT_MASKED == 0 && self.hw_enabled() {
            self.accept_fixed(l as u8, false, false);
        }
    }

    fn load_timer(&mut self, now_ns: u64) {
        self.s.timer_start_ns = now_ns;
        self.s.timer_next_ns = (self.s.initial_count != 0).then(|| now_ns + self.period_ns());
    }

    fn read_reg(&mut self, reg: u32, now_ns: u64) -> u32 {
        let s = &self.s;
        match reg {
            0x02 => u32::from(s.id) << 24,
            0x03 => APIC_VERSION,
            0x08 => u32::from(s.tpr),
            0x09 => 0, // APR: arbitration is not modelled on one CPU
            0x0A => u32::from(self.ppr()),
            0x0D => s.ldr,
            0x0E => s.dfr,
            0x0F => s.svr,
            0x10..=0x17 => s.isr[(reg - 0x10) as usize],
            0x18..=0x1F => s.tmr[(reg - 0x18) as usize],
            0x20..=0x27 => s.irr[(reg - 0x20) as usize],
            0x28 => s.esr,
            // Delivery status (bit 12) reads idle: IPIs are delivered at once.
            0x30 => s.icr as u32 & !(1 << 12),
            0x31 => (s.icr >> 32) as u32,
            0x32..=0x37 => s.lvt[(reg - 0x32) as usize],
            0x38 => s.initial_count,
            0x39 => self.current_count(now_ns),
            0x3E => s.divide,
            0x0B => 0, // EOI is write-only
            _ => {
                self.error(ESR_ILLEGAL_REGISTER);
                0
            }
        }
    }

    fn write_reg(&mut self, reg: u32, v: u32, now_ns: u64) {
        match reg {
            0x02 => self.s.id = (v >> 24) as u8,
            0x08 => self.s.tpr = v as u8,
            0x0B => self.eoi(),
            0x0D => self.s.ldr = v & 0xFF00_0000,
            0x0E => self.s.dfr = v | 0x0FFF_FFFF,
            0x0F => {
                self.s.svr = v & 0x13FF;
                if v & SVR_ENABLE == 0 {
                    for l in &mut self.s.lvt {
                        *l |= LVT_MASKED;
                    }
                }
            }
            0x28 => self.s.esr = std::mem::take(&mut self.s.esr_pending),
            0x30 => {
                self.s.icr = (self.s.icr & !0xFFFF_FFFF) | u64::from(v & 0x000C_CFFF);
                self.send_ipi();
            }
            0x31 => self.s.icr = (self.s.icr & 0xFFFF_FFFF) | u64::from(v & 0xFF00_0000) << 32,
            0x32..=0x37 => {
                let i = (reg - 0x32) as usize;
                if i == LVT_TIMER {
                    // Expiries while masked must not fire when it is unmasked.
                    self.advance(now_ns);
                }
                let mut v = v & LVT_WRITABLE[i] | self.s.lvt[i] & 1 << 14;
                if !self.sw_enabled() {
                    v |= LVT_MASKED;
                }
                let old = self.s.lvt[i];
                self.s.lvt[i] = v;
                if i == LVT_TIMER && (old ^ v) & LVT_PERIODIC != 0 && self.s.timer_next_ns.is_some()
                {
                    self.load_timer(now_ns);
                }
            }
            0x38 => {
                self.s.initial_count = v;
                self.load_timer(now_ns);
            }
            0x3E => {
                self.s.divide = v & 0xB;
                if self.s.timer_next_ns.is_some() {
                    // Keep the ticks already counted; count the rest at the new rate.
                    let left = u64::from(self.current_count(now_ns));
                    self.s.timer_next_ns = Some(now_ns + (left << self.divide_shift()));
                }
            }
            // Read-only registers (ID aside) and unknown offsets.
            0x03 | 0x09 | 0x0A | 0x0C | 0x10..=0x27 | 0x39 => {}
            _ => self.error(ESR_ILLEGAL_REGISTER),
        }
    }

    /// EOI: retires the highest in-service vector; a level-triggered one is
    /// broadcast to the IO-APIC.
    fn eoi(&mut self) {
        if let Some(v) = highest(&self.s.isr) {
            set(&mut self.s.isr, v, false);
            if get(&self.s.tmr, v) {
                self.eoi_out = Some(v);
            }
        }
    }

    /// The ICR low dword was written: send the IPI it describes. This is the only
    /// processor, so only messages that include it arrive anywhere.
    fn send_ipi(&mut self) {
        let icr = self.s.icr as u32;
        let mode = DeliveryMode::of(icr);
        let vector = icr as u8;
        let level = icr & 1 << 15 != 0;
        if matches!(mode, DeliveryMode::Fixed | DeliveryMode::LowestPriority) && vector < 16 {
            self.error(ESR_SEND_ILLEGAL_VECTOR);
        }
        match icr >> 18 & 3 {
            // No shorthand: the destination field decides.
            0 => self.receive(Message {
                vector,
                mode,
                level,
                dest: (self.s.icr >> 56) as u8,
                logical: icr & 1 << 11 != 0,
            }),
            // Self, or all including self.
            1 | 2 => self.deliver_local(mode, vector, level),
            // All excluding self: nobody else is there.
            _ => {}
        }
    }

    /// A read of the register page at `offset`. Registers are 32 bits wide on
    /// 16-byte boundaries; narrower reads return part of the register.
    pub fn read(&mut self, offset: u32, size: IoSize, now_ns: u64) -> u32 {
        if offset & 0xF >= 4 {
            return 0;
        }
        let v = self.read_reg(offset >> 4 & 0xFF, now_ns);
        (v >> (8 * (offset & 3))) & size.mask()
    }

    /// A write to the register page at `offset` (32-bit writes; narrower ones are
    /// taken as a write of the value to the register).
    pub fn write(&mut self, offset: u32, _size: IoSize, value: u32, now_ns: u64) {
        if offset & 0xF != 0 {
            return;
        }
        self.write_reg(offset >> 4 & 0xFF, value, now_ns);
    }
}

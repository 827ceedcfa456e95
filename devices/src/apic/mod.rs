//! The APIC interrupt architecture of a P6-and-later PC: one local APIC (xAPIC) in
//! the CPU and the IO-APIC (82093AA) on the board, joined by interrupt messages.
//!
//! - [`LocalApic`]: the CPU's interrupt controller, memory-mapped at the address in
//!   the IA32_APIC_BASE MSR (0xFEE00000 after reset). It holds the IRR/ISR/TMR
//!   bit sets, the task and processor priorities (TPR/PPR), the local vector
//!   table (timer, LINT0 as ExtINT for the 8259A, LINT1 as NMI, error) and the
//!   ICR for (self-)IPIs. Its timer counts on the machine's virtual clock.
//! - [`IoApic`]: 24 redirection-table pins at 0xFEC00000, fed by the same ISA
//!   wires as the 8259A pair (IRQ 0 lands on pin 2, as on every PC), turning
//!   edges and levels into [`Message`]s for the local APIC; level pins keep their
//!   remote IRR set until the local APIC broadcasts the EOI of their vector.
//!   Pin 0 carries the 8259A's INTR: as an ExtINT entry it lets the 8259A reach
//!   the CPU without LINT0 ("virtual wire" through the IO-APIC).
//!
//! Both are plain devices: register offsets in, messages and vectors out; the
//! board wires them to the CPU and the bus. Each has a plain `State`.

mod io;
mod local;
#[cfg(test)]
mod tests;

pub use io::{IoApic, IoApicState, IOAPIC_BASE, IOAPIC_PINS, IOAPIC_VERSION};
pub use local::{
    LocalApic, LocalApicState, APIC_BASE_BSP, APIC_BASE_ENABLE, APIC_DEFAULT_BASE, APIC_VERSION,
    LVT_ERROR, LVT_LINT0, LVT_LINT1, LVT_PERF, LVT_THERMAL, LVT_TIMER,
};

/// How an interrupt message is delivered (the delivery-mode field of a
/// redirection-table entry, an LVT entry or the ICR, bits 8-10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryMode {
    /// 000: the vector goes to the IRR.
    Fixed,
    /// 001: to the lowest-priority CPU of the destination (here: the only one).
    LowestPriority,
    /// 010: SMI (this CPU has no SMM: ignored).
    Smi,
    /// 100: NMI (the vector is ignored).
    Nmi,
    /// 101: INIT (a uniprocessor with no other CPU to start: ignored).
    Init,
    /// 110: start-up IPI (ignored, as INIT).
    StartUp,
    /// 111: ExtINT, the vector comes from an 8259A INTA cycle.
    ExtInt,
    /// 011: reserved.
    Reserved,
}

impl DeliveryMode {
    /// The mode encoded in bits 8-10 of `reg`.
    pub fn of(reg: u32) -> Self {
        match (reg >> 8) & 7 {
            0 => DeliveryMode::Fixed,
            1 => DeliveryMode::LowestPriority,
            2 => DeliveryMode::Smi,
            4 => DeliveryMode::Nmi,
            5 => DeliveryMode::Init,
            6 => DeliveryMode::StartUp,
            7 => DeliveryMode::ExtInt,
            _ => DeliveryMode::Reserved,
        }
    }
}

/// One interrupt message on the APIC bus (IO-APIC or ICR to local APIC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Message {
    /// Vector (ignored for NMI, INIT, ExtINT).
    pub vector: u8,
    /// Delivery mode.
    pub mode: DeliveryMode,
    /// Level-triggered: the local APIC sets the vector's TMR bit and will
    /// broadcast its EOI to the IO-APIC.
    pub level: bool,
    /// Destination field (APIC ID, or logical set when `logical`).
    pub dest: u8,
    /// Logical destination mode (matched against LDR/DFR) instead of physical.
    pub logical: bool,
}

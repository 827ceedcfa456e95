//! The board-side interface the CPU and memory see: port I/O, MMIO, and the
//! interrupt controller behind the CPU's INTR and NMI pins.

/// The interrupt controller as the CPU sees it: the INTR pin with its INTA cycle,
/// and the NMI input. A PIC-only board answers from its 8259A pair; an APIC board
/// from the local APIC (whose LINT0 passes the 8259A's INTR through as ExtINT).
pub trait InterruptController {
    /// Level of the INTR pin (a maskable interrupt is requested).
    fn intr_pending(&mut self) -> bool;
    /// The INTA cycle: returns the vector of the interrupt being acknowledged.
    fn intr_ack(&mut self) -> u8;
    /// An NMI is latched and waiting (the CPU takes it when NMIs are not blocked,
    /// i.e. not inside an NMI handler before its IRET, and not in an interrupt
    /// shadow).
    fn nmi_pending(&mut self) -> bool {
        false
    }
    /// The CPU is delivering the pending NMI: clear the latch.
    fn nmi_ack(&mut self) {}
    /// WRMSR IA32_APIC_BASE stored `value`: the local APIC moves its register
    /// page, or is disabled (bit 11 clear). Boards without one ignore it.
    fn apic_base_written(&mut self, _value: u64) {}
}

/// What the board provides to the CPU: I/O ports, MMIO regions and (through
/// [`InterruptController`]) the interrupt pins. Sizes are in bytes (1, 2 or 4).
pub trait Bus: InterruptController {
    /// IN from `port`.
    fn io_read(&mut self, port: u16, size: u8) -> u32;
    /// OUT to `port`.
    fn io_write(&mut self, port: u16, size: u8, value: u32);
    /// Read from a physical address that is neither RAM nor ROM.
    fn mmio_read(&mut self, addr: u32, size: u8) -> u32;
    /// Write to a physical address that is neither RAM nor ROM.
    fn mmio_write(&mut self, addr: u32, size: u8, value: u32);
    /// Called with the CPU's retired-instruction count just before a port or MMIO
    /// access, so that devices see the virtual time of that instruction.
    fn set_icount(&mut self, _icount: u64) {}
    /// Polled after each port write: true asks the CPU to return from its run
    /// loop now (a device has work for the machine that needs guest memory, e.g.
    /// a virtio queue notify). Reading it clears the request.
    fn end_slice(&mut self) -> bool {
        false
    }
}

/// A bus with nothing attached: reads float high, writes vanish, no interrupts.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullBus;

impl InterruptController for NullBus {
    fn intr_pending(&mut self) -> bool {
        false
    }
    fn intr_ack(&mut self) -> u8 {
        0
    }
}

impl Bus for NullBus {
    fn io_read(&mut self, _port: u16, size: u8) -> u32 {
        ones(size)
    }
    fn io_write(&mut self, _port: u16, _size: u8, _value: u32) {}
    fn mmio_read(&mut self, _addr: u32, size: u8) -> u32 {
        ones(size)
    }
    fn mmio_write(&mut self, _addr: u32, _size: u8, _value: u32) {}
}

fn ones(size: u8) -> u32 {
    match size {
        1 => 0xFF,
        2 => 0xFFFF,
        _ => 0xFFFF_FFFF,
    }
}

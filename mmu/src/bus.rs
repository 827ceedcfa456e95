//! The board-side interface the CPU and memory see: port I/O, MMIO and the INTR line.

/// What the board provides to the CPU: I/O ports, MMIO regions and the maskable
/// interrupt line. Sizes are in bytes (1, 2 or 4).
pub trait Bus {
    /// IN from `port`.
    fn io_read(&mut self, port: u16, size: u8) -> u32;
    /// OUT to `port`.
    fn io_write(&mut self, port: u16, size: u8, value: u32);
    /// Read from a physical address that is neither RAM nor ROM.
    fn mmio_read(&mut self, addr: u32, size: u8) -> u32;
    /// Write to a physical address that is neither RAM nor ROM.
    fn mmio_write(&mut self, addr: u32, size: u8, value: u32);
    /// Level of the INTR pin (a maskable interrupt is requested).
    fn intr_pending(&mut self) -> bool;
    /// The INTA cycle: returns the vector of the interrupt being acknowledged.
    fn intr_ack(&mut self) -> u8;
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

impl Bus for NullBus {
    fn io_read(&mut self, _port: u16, size: u8) -> u32 {
        ones(size)
    }
    fn io_write(&mut self, _port: u16, _size: u8, _value: u32) {}
    fn mmio_read(&mut self, _addr: u32, size: u8) -> u32 {
        ones(size)
    }
    fn mmio_write(&mut self, _addr: u32, _size: u8, _value: u32) {}
    fn intr_pending(&mut self) -> bool {
        false
    }
    fn intr_ack(&mut self) -> u8 {
        0
    }
}

fn ones(size: u8) -> u32 {
    match size {
        1 => 0xFF,
        2 => 0xFFFF,
        _ => 0xFFFF_FFFF,
    }
}

//! Legacy PC board devices for tab86.
//!
//! The devices a Linux guest expects on an i386 PC: the cascaded 8259A PIC pair,
//! the 8254 PIT with System Control Port B, 16550A UARTs, the MC146818 RTC/CMOS,
//! the i8042 keyboard controller with port 0x92, PCI configuration mechanism #1
//! with i440FX/PIIX3 bridges, the ACPI power-management block, and the QEMU-style
//! debug ports, the local APIC and IO-APIC ([`apic`]); plus virtio-blk over the modern virtio-pci transport ([`virtio`])
//! for disks.
//!
//! Design:
//! - Devices see register offsets; a [`bus::PortBus`] maps port ranges to them.
//! - Side effects are injected: interrupt wires ([`irq::InterruptLine`]), output
//!   sinks (`std::io::Write`), and requests to the board ([`request::BoardRequests`]).
//! - Time is virtual nanoseconds passed in by the machine; timed devices expose
//!   `next_deadline()` (exact) and `advance(now_ns)`.
//! - Every device has a plain `State` with `state()` / `from_state()`.
//! - Single-threaded, no globals: any number of machines can live in one process.
//!
//! [`chipset::Chipset`] wires all of it together the way a PC board does:
//!
//! ```
//! use tab86_devices::{Chipset, ChipsetConfig, IoSize};
//!
//! let mut cs = Chipset::new(ChipsetConfig {
//!     serial: [Some(Box::new(std::io::sink())), None, None, None],
//!     ..ChipsetConfig::default()
//! })
//! .unwrap();
//! // Program the PICs as Linux's init_8259A does (vectors 0x30/0x38, IRQ 0
//! // unmasked) and PIT counter 0 for 100 Hz (mode 2, count 11932).
//! for (port, v) in [
//!     (0x20, 0x11), (0x21, 0x30), (0x21, 0x04), (0x21, 0x01),
//!     (0xA0, 0x11), (0xA1, 0x38), (0xA1, 0x02), (0xA1, 0x01),
//!     (0x21, 0xFE), (0xA1, 0xFF),
//!     (0x43, 0x34), (0x40, 11932 & 0xFF), (0x40, 11932 >> 8),
//! ] {
//!     cs.io_write(port, IoSize::Byte, v, 0);
//! }
//! // The CPU halts: jump virtual time to the next device event.
//! let t = cs.next_deadline().unwrap();
//! assert_eq!(t, 10_000_989); // PIT tick 11933: the count loads one clock late
//! cs.advance(t);
//! assert!(cs.intr_pending());
//! assert_eq!(cs.acknowledge(), 0x30);
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod acpi_pm;
pub mod apic;
pub mod block;
pub mod bus;
pub mod chipset;
pub mod debug;
pub mod error;
pub mod fw_cfg;
pub mod irq;
pub mod kbc;
pub mod pci;
pub mod pic;
pub mod pit;
pub mod request;
pub mod rtc;
pub mod time;
pub mod uart;
pub mod virtio;

#[cfg(any(test, feature = "test-utils"))]
pub mod test_utils;

pub use acpi_pm::AcpiPm;
pub use apic::{IoApic, IoApicState, LocalApic, LocalApicState};
pub use block::{BlockBackend, BlockCompletion, BlockError, BlockOp, MemDisk, RequestId, Waker};
pub use bus::{IoSize, MmioBus, MmioRange, PioAddress, PioDevice, PioRange, PortBus};
pub use chipset::{Chipset, ChipsetConfig};
pub use debug::{DebugCon, DebugExit, ReadBack};
pub use error::{Error, Result};
pub use fw_cfg::{FwCfg, FwCfgState};
pub use irq::{InterruptLine, IrqLine, IrqLines, NoIrq};
pub use kbc::{Port92, I8042};
pub use pci::{PciBus, PciFunction, PirqRouter};
pub use pic::{Pic, PicSelect, PicState};
pub use pit::{Pit, PitState, PortB};
pub use request::{A20Gate, BoardRequest, BoardRequests};
pub use rtc::{Rtc, RtcState};
pub use uart::{Uart, UartState};
pub use virtio::{GuestMemory, VirtioBlk, VirtioPci};

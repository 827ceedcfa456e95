//! The crate's single error type.

use core::fmt;

/// Errors raised while wiring devices together (never by guest register accesses,
/// which are infallible by design: bad guest input is absorbed, not reported).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// A port range must cover at least one port.
    EmptyRange {
        /// First port of the rejected range.
        base: u16,
    },
    /// A port range ran past port 0xFFFF.
    RangeOverflow {
        /// First port of the rejected range.
        base: u16,
        /// Requested length in ports.
        len: u32,
    },
    /// A port range overlaps one that is already mapped.
    Overlap {
        /// First port of the rejected range.
        base: u16,
        /// First port of the mapping already in place.
        existing: u16,
    },
    /// The port bus has no free mapping slot left.
    BusFull,
    /// No mapping starts at this port.
    NotMapped {
        /// The port that was looked up.
        base: u16,
    },
    /// PCI device number (0-31) or function number (0-7) out of range.
    InvalidPciAddress {
        /// Device number given.
        device: u8,
        /// Function number given.
        function: u8,
    },
    /// A PCI function is already present at this device/function.
    PciSlotOccupied {
        /// Device number given.
        device: u8,
        /// Function number given.
        function: u8,
    },
    /// An index into a set of devices (e.g. COM port number) does not exist.
    NoSuchDevice {
        /// The index given.
        index: usize,
    },
    /// A saved state does not fit this board (other serial ports, ACPI block or
    /// PCI functions than the board it was saved from).
    StateMismatch,
    /// A fw_cfg item could not be added (the message says why).
    FwCfg(&'static str),
    /// A physical-address (MMIO) range is empty or runs past 4 GiB.
    BadMmioRange {
        /// First address of the rejected range.
        base: u32,
        /// Requested length in bytes.
        len: u64,
    },
    /// An MMIO range overlaps one that is already mapped.
    MmioOverlap {
        /// First address of the rejected range.
        base: u32,
        /// First address of the mapping already in place.
        existing: u32,
    },
    /// No MMIO mapping starts at this address.
    MmioNotMapped {
        /// The address that was looked up.
        base: u32,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::EmptyRange { base } => write!(f, "port range at {base:#06x} is empty"),
            Error::RangeOverflow { base, len } => {
                write!(f, "port range {base:#06x}+{len} runs past port 0xffff")
            }
            Error::Overlap { base, existing } => write!(
                f,
                "port range at {base:#06x} overlaps the range mapped at {existing:#06x}"
            ),
            Error::BusFull => write!(f, "port bus has no free mapping slot"),
            Error::BadMmioRange { base, len } => write!(
                f,
                "MMIO range {base:#010x}+{len:#x} is empty or runs past 4 GiB"
            ),
            Error::MmioOverlap { base, existing } => write!(
                f,
                "MMIO range at {base:#010x} overlaps the range mapped at {existing:#010x}"
            ),
            Error::MmioNotMapped { base } => write!(f, "no MMIO range is mapped at {base:#010x}"),
            Error::NotMapped { base } => write!(f, "no port range is mapped at {base:#06x}"),
            Error::InvalidPciAddress { device, function } => write!(
                f,
                "PCI address {device:02x}.{function} is out of range (device 0-31, function 0-7)"
            ),
            Error::PciSlotOccupied { device, function } => {
                write!(
                    f,
                    "PCI slot 00:{device:02x}.{function} is already populated"
                )
            }
            Error::NoSuchDevice { index } => write!(f, "no device with index {index}"),
            Error::StateMismatch => write!(
                f,
                "the saved device state is for a board with other devices than this one"
            ),
            Error::FwCfg(why) => write!(f, "fw_cfg: {why}"),
        }
    }
}

impl std::error::Error for Error {}

/// Result alias for this crate.
pub type Result<T> = core::result::Result<T, Error>;

//! PCI bus 0 behind configuration mechanism #1: CONFIG_ADDRESS at 0xCF8 (dword
//! accesses only), CONFIG_DATA at 0xCFC-0xCFF (byte, word or dword at the matching
//! sub-offset), and the PIIX3 Reset Control register at 0xCF9 (byte). The eight
//! ports are offsets 0-7 of one device. Functions implement [`PciFunction`];
//! absent ones read as all ones.

mod bridges;
mod config;
#[cfg(test)]
mod tests;

pub use bridges::{I440fx, PciIntx, Piix3, PirqRouter, FIRMWARE_PIRQ_IRQS, PIRQ_DISABLED};
pub use config::{reg, Bar, BarKind, ConfigSpace};

use crate::bus::IoSize;
use crate::error::{Error, Result};
use crate::request::{BoardRequest, BoardRequests};

/// A PCI function's configuration space as seen through the host bridge.
pub trait PciFunction {
    /// Read the dword at `offset` (a multiple of 4, 0-0xFC).
    fn config_read(&mut self, offset: u8) -> u32;

    /// Write the bytes of the dword at `offset` selected by `byte_enable`
    /// (bit n = byte n; `value` is already in dword position).
    fn config_write(&mut self, offset: u8, value: u32, byte_enable: u8);

    /// Opaque snapshot of the function for save/restore (empty if stateless).
    fn save(&self) -> Vec<u8> {
        Vec::new()
    }

    /// Restore a snapshot taken by [`PciFunction::save`]; bad data is ignored.
    fn restore(&mut self, _data: &[u8]) {}
}

/// Saved state of the bus: the mechanism's registers and each function's snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PciBusState {
    /// CONFIG_ADDRESS.
    pub address: u32,
    /// Reset Control register (bit 1 SYS_RST).
    pub reset_control: u8,
    /// (device << 3 | function, [`PciFunction::save`]) of every present function.
    pub functions: Vec<(u8, Vec<u8>)>,
}

/// Bus 0 with up to 32 devices x 8 functions.
pub struct PciBus {
    address: u32,
    reset_control: u8,
    functions: Vec<Option<Box<dyn PciFunction>>>,
    requests: BoardRequests,
}

impl core::fmt::Debug for PciBus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let present: Vec<usize> = (0..256).filter(|&i| self.functions[i].is_some()).collect();
        f.debug_struct("PciBus")
            .field("address", &self.address)
            .field("devfns", &present)
            .finish_non_exhaustive()
    }
}

fn devfn(device: u8, function: u8) -> Result<usize> {
    if device >= 32 || function >= 8 {
        return Err(Error::InvalidPciAddress { device, function });
    }
    Ok(usize::from(device) << 3 | usize::from(function))
}

impl PciBus {
    /// An empty bus; 0xCF9 resets go to `requests`.
    pub fn new(requests: BoardRequests) -> Self {
        Self {
            address: 0,
            reset_control: 0,
            functions: (0..256).map(|_| None).collect(),
            requests,
        }
    }

    /// Snapshot of the mechanism and of every function.
    pub fn state(&self) -> PciBusState {
        PciBusState {
            address: self.address,
            reset_control: self.reset_control,
            functions: (0..=255u8)
                .filter_map(|i| Some((i, self.functions[usize::from(i)].as_ref()?.save())))
                .collect(),
        }
    }

    /// Restore a snapshot into the functions plugged in now (snapshots for empty
    /// slots are ignored, so the board re-plugs the same devices first).
    pub fn restore(&mut self, state: &PciBusState) {
        self.address = state.address & 0x80FF_FFFC;
        self.reset_control = state.reset_control & 0x02;
        for (i, data) in &state.functions {
            if let Some(f) = self.functions[usize::from(*i)].as_deref_mut() {
                f.restore(data);
            }
        }
    }

    /// Plug `f` in at 00:`device`.`function`.
    pub fn add(&mut self, device: u8, function: u8, f: Box<dyn PciFunction>) -> Result<()> {
        let i = devfn(device, function)?;
        if self.functions[i].is_some() {
            return Err(Error::PciSlotOccupied { device, function });
        }
        self.functions[i] = Some(f);
        Ok(())
    }

    /// Unplug the function at 00:`device`.`function`.
    pub fn remove(&mut self, device: u8, function: u8) -> Option<Box<dyn PciFunction>> {
        self.functions
            .get_mut(devfn(device, function).ok()?)?
            .take()
    }

    /// The function at 00:`device`.`function`.
    pub fn function_mut(
        &mut self,
        device: u8,
        function: u8,
    ) -> Option<&mut (dyn PciFunction + 'static)> {
        self.functions
            .get_mut(devfn(device, function).ok()?)?
            .as_deref_mut()
    }

    /// Firmware-side dword read (all ones if absent).
    pub fn config_read(&mut self, device: u8, function: u8, offset: u8) -> u32 {
        match self.function_mut(device, function) {
            Some(f) => f.config_read(offset & 0xFC),
            None => 0xFFFF_FFFF,
        }
    }

    /// Firmware-side write (ignored if absent).
    pub fn config_write(
        &mut self,
        device: u8,
        function: u8,
        offset: u8,
        value: u32,
        byte_enable: u8,
    ) {
        if let Some(f) = self.function_mut(device, function) {
            f.config_write(offset & 0xFC, value, byte_enable & 0x0F);
        }
    }

    /// The function CONFIG_ADDRESS selects, with the dword offset, if enabled,
    /// on bus 0 and present.
    fn selected(&mut self) -> Option<(&mut (dyn PciFunction + 'static), u8)> {
        let a = self.address;
        if a & 0x8000_0000 == 0 || (a >> 16) & 0xFF != 0 {
            return None;
        }
        let i = ((a >> 8) & 0xFF) as usize;
        Some((self.functions[i].as_deref_mut()?, (a & 0xFC) as u8))
    }

    /// Port read at offset 0-7 (0xCF8-0xCFF).
    pub fn read(&mut self, offset: u16, size: IoSize) -> u32 {
        let ones = size.mask();
        match (offset, size) {
            (0, IoSize::Dword) => self.address,
            (1, IoSize::Byte) => u32::from(self.reset_control),
            (4..=7, _) => {
                let sub = u32::from(offset - 4);
                if sub + u32::from(size.bytes()) > 4 {
                    return ones;
                }
                match self.selected() {
                    Some((f, reg)) => (f.config_read(reg) >> (8 * sub)) & ones,
                    None => ones,
                }
            }
            _ => ones,
        }
    }

    /// Port write at offset 0-7 (0xCF8-0xCFF).
    pub fn write(&mut self, offset: u16, size: IoSize, value: u32) {
        match (offset, size) {
            (0, IoSize::Dword) => self.address = value & 0x80FF_FFFC,
            (1, IoSize::Byte) => {
                // RST_CPU (bit 2) going 0 -> 1 resets; it reads back as 0.
                if value & 0x04 != 0 {
                    self.requests.push(BoardRequest::Reset);
                }
                self.reset_control = (value & 0x02) as u8;
            }
            (4..=7, _) => {
                let sub = u32::from(offset - 4);
                if sub + u32::from(size.bytes()) > 4 {
                    return;
                }
                let enable = (((1u32 << size.bytes()) - 1) << sub) as u8;
                if let Some((f, reg)) = self.selected() {
                    f.config_write(reg, (value & size.mask()) << (8 * sub), enable);
                }
            }
            _ => {}
        }
    }
}

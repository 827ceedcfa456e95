//! QEMU's firmware configuration device (fw_cfg), the traditional I/O-port
//! interface: a 16-bit selector register and an 8-bit data register.
//!
//! Kernel test suites written for QEMU read their configuration here (RAM
//! size, CPU count, command line, the E820 map as the `etc/e820` file). On a
//! PC the selector is port 0x510 and data is port 0x511; the device works on
//! register offsets (0 = selector, 1 = data) and never sees the ports.
//!
//! Semantics, as QEMU's specification describes them:
//! - A 16-bit write to offset 0 selects an item by key and rewinds the data
//!   offset to 0. Bit 14 (write channel) and bit 15 (architecture-local) are
//!   part of the key; a key with no item reads as zeros.
//! - Each data read returns the next byte of the selected item; past its end
//!   reads return 0. Reads at either offset are data reads (QEMU's combined
//!   port behaves so); a wider read returns consecutive bytes, little-endian.
//! - Data writes are ignored (QEMU has ignored them since 2.4), and so are
//!   byte writes to offset 0, which QEMU treats as data writes; a dword
//!   write to offset 0 selects with its low word.
//! - Numbers in the well-known items are little-endian; the file directory
//!   (key 0x19) is big-endian: a u32 count, then per file a u32 size, a u16
//!   key, a u16 reserved and a 56-byte NUL-padded name.
//! - The DMA interface is absent: [`ID_DMA`] is clear in the ID item.
//!
//! ```
//! use tab86_devices::fw_cfg::{keys, FwCfg, FW_CFG_SELECTOR, FW_CFG_DATA};
//! use tab86_devices::{IoSize, PioDevice};
//!
//! let mut fw = FwCfg::new();
//! fw.add_file("etc/hello", b"hi".to_vec()).unwrap();
//! fw.pio_write(FW_CFG_SELECTOR, IoSize::Word, u32::from(keys::SIGNATURE), 0);
//! assert_eq!(fw.pio_read(FW_CFG_DATA, IoSize::Dword, 0).to_le_bytes(), *b"QEMU");
//! ```

#[cfg(test)]
mod tests;

use crate::bus::{IoSize, PioDevice};
use crate::error::{Error, Result};

/// Register offset of the selector (port 0x510 on a PC).
pub const FW_CFG_SELECTOR: u16 = 0;
/// Register offset of the data register (port 0x511 on a PC).
pub const FW_CFG_DATA: u16 = 1;
/// The PC's I/O port base of the device.
pub const FW_CFG_PORT: u16 = 0x510;
/// Ports the traditional interface occupies (selector and data).
pub const FW_CFG_PORT_LEN: u32 = 2;

/// Selector keys of the well-known items.
pub mod keys {
    /// The signature "QEMU".
    pub const SIGNATURE: u16 = 0x0000;
    /// Interface feature bits, u32 ([`ID_TRADITIONAL`](super::ID_TRADITIONAL),
    /// [`ID_DMA`](super::ID_DMA)).
    pub const ID: u16 = 0x0001;
    /// Guest RAM size in bytes, u64.
    pub const RAM_SIZE: u16 = 0x0003;
    /// Number of CPUs, u16.
    pub const NB_CPUS: u16 = 0x0005;
    /// Maximum number of CPUs, u16.
    pub const MAX_CPUS: u16 = 0x000F;
    /// Size of the kernel command line including its NUL, u32.
    pub const CMDLINE_SIZE: u16 = 0x0014;
    /// The kernel command line, NUL-terminated.
    pub const CMDLINE_DATA: u16 = 0x0015;
    /// The file directory.
    pub const FILE_DIR: u16 = 0x0019;
    /// Key of the first file; files take consecutive keys from here.
    pub const FILE_FIRST: u16 = 0x0020;
    /// The write-channel bit of a selector.
    pub const WRITE_CHANNEL: u16 = 0x4000;
    /// The architecture-local bit of a selector.
    pub const ARCH_LOCAL: u16 = 0x8000;
}

/// ID bit 0: the traditional selector/data interface is present.
pub const ID_TRADITIONAL: u32 = 1 << 0;
/// ID bit 1: the DMA interface is present (never, on tab86).
pub const ID_DMA: u32 = 1 << 1;
/// Bytes of a file name in a directory entry, including the NUL.
pub const FILE_NAME_SIZE: usize = 56;
/// Bytes of one directory entry.
pub const DIR_ENTRY_SIZE: usize = 64;
/// Most files the directory can hold (keys 0x20..0x4000 stay clear of the
/// write-channel bit).
pub const MAX_FILES: usize = (keys::WRITE_CHANNEL - keys::FILE_FIRST) as usize;

/// One item: a key with its bytes, and a name if it is a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FwCfgItem {
    /// Selector key.
    pub key: u16,
    /// File name (files only; they are listed in the directory).
    pub name: Option<String>,
    /// Contents.
    pub data: Vec<u8>,
}

/// Saved state of the device: the items and the read position.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FwCfgState {
    /// Last selected key.
    pub selector: u16,
    /// Offset of the next data byte within the selected item.
    pub offset: u32,
    /// Every item except the directory, which is derived from the files.
    pub items: Vec<FwCfgItem>,
}

/// The fw_cfg device.
#[derive(Debug, Clone)]
pub struct FwCfg {
    s: FwCfgState,
    /// The directory's bytes, rebuilt when a file is added.
    dir: Vec<u8>,
}

impl Default for FwCfg {
    fn default() -> Self {
        Self::new()
    }
}

impl FwCfg {
    /// A device with the signature, the ID (traditional interface only) and
    /// an empty file directory.
    pub fn new() -> Self {
        let mut fw = Self {
            s: FwCfgState::default(),
            dir: Vec::new(),
        };
        fw.set_item(keys::SIGNATURE, b"QEMU".to_vec());
        fw.set_item(keys::ID, ID_TRADITIONAL.to_le_bytes().to_vec());
        fw.rebuild_dir();
        fw
    }

    /// The items a PC firmware offers: RAM size, CPU count (also as the
    /// maximum), the command line (keys 0x14/0x15 and the file
    /// `etc/cmdline`) and the memory map as the file `etc/e820` (20-byte
    /// little-endian entries: address u64, length u64, type u32).
    ///
    /// # Errors
    /// [`Error::FwCfg`] if the command line contains a NUL byte.
    pub fn pc(ram_bytes: u64, cpus: u16, cmdline: &str, e820: &[u8]) -> Result<Self> {
        if cmdline.as_bytes().contains(&0) {
            return Err(Error::FwCfg("the command line contains a NUL byte"));
        }
        let mut fw = Self::new();
        fw.set_item(keys::RAM_SIZE, ram_bytes.to_le_bytes().to_vec());
        fw.set_item(keys::NB_CPUS, cpus.to_le_bytes().to_vec());
        fw.set_item(keys::MAX_CPUS, cpus.to_le_bytes().to_vec());
        let mut line = cmdline.as_bytes().to_vec();
        line.push(0);
        fw.set_item(
            keys::CMDLINE_SIZE,
            (line.len() as u32).to_le_bytes().to_vec(),
        );
        fw.set_item(keys::CMDLINE_DATA, line.clone());
        fw.add_file("etc/e820", e820.to_vec())?;
        fw.add_file("etc/cmdline", line)?;
        Ok(fw)
    }

    /// Sets (or replaces) the item at a well-known `key`. The directory key
    /// is derived from the files and cannot be set.
    pub fn set_item(&mut self, key: u16, data: Vec<u8>) {
        if key == keys::FILE_DIR {
            return;
        }
        match self.s.items.iter_mut().find(|i| i.key == key) {
            Some(i) => i.data = data,
            None => self.s.items.push(FwCfgItem {
                key,
                name: None,
                data,
            }),
        }
    }

    /// Adds a file under the next free key (from [`keys::FILE_FIRST`]) and
    /// lists it in the directory; returns its key.
    ///
    /// # Errors
    /// [`Error::FwCfg`] for an empty name, a name of [`FILE_NAME_SIZE`] bytes
    /// or more, a NUL in the name, a name already present, or a full
    /// directory.
    pub fn add_file(&mut self, name: &str, data: Vec<u8>) -> Result<u16> {
        if name.is_empty() {
            return Err(Error::FwCfg("a file name must not be empty"));
        }
        if name.len() >= FILE_NAME_SIZE {
            return Err(Error::FwCfg("a file name must be shorter than 56 bytes"));
        }
        if name.as_bytes().contains(&0) {
            return Err(Error::FwCfg("a file name must not contain a NUL byte"));
        }
        if self.files().any(|i| i.name.as_deref() == Some(name)) {
            return Err(Error::FwCfg("a file with this name already exists"));
        }
        let count = self.files().count();
        if count >= MAX_FILES {
            return Err(Error::FwCfg("the file directory is full"));
        }
        let key = keys::FILE_FIRST + count as u16;
        self.s.items.push(FwCfgItem {
            key,
            name: Some(name.to_string()),
            data,
        });
        self.rebuild_dir();
        Ok(key)
    }

    fn files(&self) -> impl Iterator<Item = &FwCfgItem> {
        self.s.items.iter().filter(|i| i.name.is_some())
    }

    fn rebuild_dir(&mut self) {
        let mut files: Vec<&FwCfgItem> = self.files().collect();
        files.sort_by_key(|i| i.key);
        let mut dir = Vec::with_capacity(4 + files.len() * DIR_ENTRY_SIZE);
        dir.extend_from_slice(&(files.len() as u32).to_be_bytes());
        for f in files {
            dir.extend_from_slice(&(f.data.len() as u32).to_be_bytes());
            dir.extend_from_slice(&f.key.to_be_bytes());
            dir.extend_from_slice(&0u16.to_be_bytes());
            let mut name = [0u8; FILE_NAME_SIZE];
            let n = f.name.as_deref().unwrap_or("").as_bytes();
            name[..n.len()].copy_from_slice(n);
            dir.extend_from_slice(&name);
        }
        self.dir = dir;
    }

    /// The bytes of the item at `key`, if there is one.
    pub fn item(&self, key: u16) -> Option<&[u8]> {
        if key == keys::FILE_DIR {
            return Some(&self.dir);
        }
        self.s
            .items
            .iter()
            .find(|i| i.key == key)
            .map(|i| i.data.as_slice())
    }

    /// Selects `key` and rewinds the data offset.
    pub fn select(&mut self, key: u16) {
        self.s.selector = key;
        self.s.offset = 0;
    }

    /// The next data byte of the selected item (0 past its end or when
    /// nothing is there).
    pub fn read_byte(&mut self) -> u8 {
        let at = self.s.offset as usize;
        let b = self.item(self.s.selector).and_then(|d| d.get(at).copied());
        match b {
            Some(b) => {
                self.s.offset += 1;
                b
            }
            None => 0,
        }
    }

    /// Saved state.
    pub fn state(&self) -> FwCfgState {
        self.s.clone()
    }

    /// A device in a saved state.
    pub fn from_state(state: FwCfgState) -> Self {
        let mut fw = Self {
            s: state,
            dir: Vec::new(),
        };
        fw.rebuild_dir();
        fw
    }
}

impl PioDevice for FwCfg {
    fn pio_read(&mut self, _offset: u16, size: IoSize, _now_ns: u64) -> u32 {
        (0..size.bytes()).fold(0, |v, i| v | u32::from(self.read_byte()) << (8 * i))
    }

    fn pio_write(&mut self, offset: u16, size: IoSize, value: u32, _now_ns: u64) {
        // A dword write is split by the bus into the selector and the
        // (ignored) data register, so its low word selects.
        if offset == FW_CFG_SELECTOR && size != IoSize::Byte {
            self.select(value as u16);
        }
    }
}

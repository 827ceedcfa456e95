//! The firmware's part on `--kernel` boots beyond loading the kernel: QEMU's
//! fw_cfg device for every kernel, and for Multiboot kernels the board as a
//! PC BIOS (SeaBIOS) leaves it. Linux bzImage boots get no BIOS state: Linux
//! programs the 8259s and the PIT itself, and an 18.2 Hz timer running from
//! the first instruction would change what a deterministic boot prints.

use crate::Error;
use tab86_bios::{
    write_legacy_bios, E820Entry, LegacyBiosOptions, LEGACY_HANDLERS_ADDR, POST_PORT_WRITES,
};
use tab86_devices::chipset::Chipset;
use tab86_devices::fw_cfg::{FwCfg, FW_CFG_PORT, FW_CFG_PORT_LEN};
use tab86_devices::{IoSize, PioRange};

/// Maps fw_cfg at ports 0x510/0x511 with RAM size, one CPU, the command line
/// and the board's memory map as `etc/e820`.
pub(crate) fn add_fw_cfg(
    chipset: &mut Chipset,
    ram_bytes: u32,
    cmdline: &str,
    map: &[E820Entry],
) -> Result<(), Error> {
    let e820: Vec<u8> = map.iter().flat_map(|e| e.to_bytes()).collect();
    let fw = FwCfg::pc(u64::from(ram_bytes), 1, cmdline, &e820)
        .map_err(|e| Error::Boot(e.to_string()))?;
    let range =
        PioRange::new(FW_CFG_PORT, FW_CFG_PORT_LEN).map_err(|e| Error::Devices(e.to_string()))?;
    chipset
        .add_pio_device(range, Box::new(fw))
        .map_err(|e| Error::Devices(e.to_string()))?;
    Ok(())
}

/// Leaves what SeaBIOS leaves for a Multiboot kernel: the IVT, BIOS data
/// area and real-mode handlers in RAM, and the 8259s and PIT programmed
/// through the port bus as the BIOS's POST programs them. `acpi_end` is the
/// first byte past the ACPI tables, which must not reach the handlers.
pub(crate) fn post_for_multiboot(
    chipset: &mut Chipset,
    ram: &mut [u8],
    map: &[E820Entry],
    acpi_end: u32,
) -> Result<(), Error> {
    if acpi_end > LEGACY_HANDLERS_ADDR {
        return Err(Error::Boot(format!(
            "the ACPI tables end at {acpi_end:#x}, past the BIOS handlers at {LEGACY_HANDLERS_ADDR:#x}"
        )));
    }
    let opts = LegacyBiosOptions {
        e820: map,
        com_ports: &[0x3F8],
        ps2_mouse: true,
    };
    write_legacy_bios(ram, &opts).map_err(|e| Error::Boot(e.to_string()))?;
    for (port, value) in POST_PORT_WRITES {
        chipset.io_write(port, IoSize::Byte, u32::from(value), 0);
    }
    // SeaBIOS also enables the local APIC in virtual-wire mode; on the APIC
    // board `Machine::new` does that for every kernel boot (Board::set_virtual_wire).
    Ok(())
}

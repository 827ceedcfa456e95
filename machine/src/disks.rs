//! virtio-blk disks on the PCI bus: plugging them in, doing what firmware does for
//! them before a kernel boot, and servicing their queues between CPU slices.
//!
//! Disk `i` is PCI device `FIRST_SLOT + i`, function 0, INTA#. Its I/O BAR is
//! placed at `IO_BASE + 0x100 * i` with I/O decoding and bus mastering enabled, and
//! its Interrupt Line register says which ISA IRQ the PIIX3 routes its PIRQ to
//! ([`FIRMWARE_PIRQ_IRQS`]), as the ACPI `_PRT` must.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use tab86_devices::chipset::Chipset;
use tab86_devices::pci::{reg, FIRMWARE_PIRQ_IRQS};
use tab86_devices::virtio::{MemError, VirtioPciFunction, VirtioPciIo};
use tab86_devices::{BlockBackend, GuestMemory, PioRange, PirqRouter, VirtioBlk, VirtioPci};
use tab86_mmu::{PhysMem, Region};

/// The legacy hole below 1 MiB (VGA window, adapter and system ROM).
const VGA_START: u32 = 0xA0000;
const LOW_END: u32 = 0x10_0000;

/// PCI device number of the first disk (00.0 is the host bridge, 01.0 the PIIX3).
pub const FIRST_SLOT: u8 = 2;
/// I/O base firmware gives the first disk's BAR0; each next disk is 0x100 higher.
pub const IO_BASE: u16 = 0xC000;

/// One plugged-in virtio function and where its BAR is mapped now.
pub struct VirtioSlot {
    /// The shared transport.
    pub dev: Rc<RefCell<VirtioPci>>,
    pio_id: usize,
    mapped: Option<u16>,
}

/// Guest RAM as virtio DMA sees it: only plain RAM, never the legacy hole, ROM
/// or MMIO; writes drop cached code on the pages they touch.
pub struct PhysGuest<'a>(pub &'a mut PhysMem);

impl PhysGuest<'_> {
    fn check(&self, addr: u64, len: usize) -> Result<u32, MemError> {
        let err = MemError { addr, len };
        let end = addr.checked_add(len as u64).ok_or(err)?;
        if end > u64::from(self.0.ram_size()) {
            return Err(err);
        }
        let (start, end) = (addr as u32, end as u32);
        if start < LOW_END && end > VGA_START {
            // Below 1 MiB only the pages the memory map calls RAM.
            let last = end.saturating_sub(1).min(LOW_END - 1);
            let mut page = start.max(VGA_START) & !0xFFF;
            while page <= last {
                if self.0.region(page) != Region::Ram {
                    return Err(err);
                }
                page += 0x1000;
            }
        }
        Ok(start)
    }
}

impl GuestMemory for PhysGuest<'_> {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
        let start = self.check(addr, buf.len())? as usize;
        buf.copy_from_slice(&self.0.ram()[start..start + buf.len()]);
        Ok(())
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), MemError> {
        let start = self.check(addr, data.len())?;
        self.0.write_bytes(start, data);
        Ok(())
    }
}

/// Plug `disks` in as virtio-blk functions at slots 2, 3, ...; `kick` is set when a
/// driver notifies a queue. With `firmware`, assign BARs and interrupt lines as a
/// PC BIOS would (kernel boots); otherwise leave them for the guest's firmware.
/// With `in_order` (deterministic machines), finished requests reach the guest
/// in the order it made them ([`VirtioBlk::in_order`]).
pub fn attach(
    chipset: &mut Chipset,
    disks: Vec<Box<dyn BlockBackend>>,
    kick: &Rc<Cell<bool>>,
    firmware: bool,
    in_order: bool,
) -> Result<Vec<VirtioSlot>, String> {
    let mut slots = Vec::new();
    for (i, disk) in disks.into_iter().enumerate() {
        let slot = u8::try_from(i)
            .ok()
            .and_then(|i| i.checked_add(FIRST_SLOT))
            .filter(|&s| s < 32)
            .ok_or_else(|| format!("too many disks ({}): PCI bus 0 is full", i + 1))?;
        let intx = chipset.pirq.intx(slot, 1);
        let blk = VirtioBlk::new(disk).in_order(in_order);
        let dev = Rc::new(RefCell::new(VirtioPci::new(
            Box::new(blk),
            Box::new(intx),
            kick.clone(),
        )));
        let size = u32::from(dev.borrow().bar_size());
        chipset
            .pci
            .add(slot, 0, Box::new(VirtioPciFunction(dev.clone())))
            .map_err(|e| e.to_string())?;
        // Registered unmapped; `sync_bars` maps it where the BAR says.
        let placeholder = PioRange::new(IO_BASE, size).map_err(|e| e.to_string())?;
        let pio_id = chipset
            .add_pio_device(placeholder, Box::new(VirtioPciIo(dev.clone())))
            .map_err(|e| e.to_string())?;
        chipset
            .remap_pio_device(pio_id, None)
            .map_err(|e| e.to_string())?;
        if firmware {
            let base = u32::from(IO_BASE) + 0x100 * i as u32;
            let irq = FIRMWARE_PIRQ_IRQS[PirqRouter::pirq_of(slot, 1)];
            chipset.pci.config_write(slot, 0, reg::BAR0, base | 1, 0xF);
            chipset
                .pci
                .config_write(slot, 0, reg::INTERRUPT_LINE, u32::from(irq), 0x1);
            // I/O space decoding and bus mastering (DMA).
            chipset.pci.config_write(slot, 0, reg::COMMAND, 0x5, 0x3);
        }
        slots.push(VirtioSlot {
            dev,
            pio_id,
            mapped: None,
        });
    }
    sync_bars(chipset, &mut slots);
    Ok(slots)
}

/// Map each function's I/O BAR where its configuration space says (after the
/// guest or firmware wrote a BAR or the command register).
pub fn sync_bars(chipset: &mut Chipset, slots: &mut [VirtioSlot]) {
    for s in slots {
        let (want, size) = {
            let d = s.dev.borrow();
            (d.io_window(), u32::from(d.bar_size()))
        };
        if want == s.mapped {
            continue;
        }
        let range = want.and_then(|b| PioRange::new(b, size).ok());
        s.mapped = match chipset.remap_pio_device(s.pio_id, range) {
            Ok(()) => want,
            // Programmed over another device's ports: decode nothing.
            Err(_) => {
                let _ = chipset.remap_pio_device(s.pio_id, None);
                None
            }
        };
    }
}

/// Requests the disks have outstanding.
pub fn in_flight(slots: &[VirtioSlot]) -> usize {
    slots.iter().map(|s| s.dev.borrow().in_flight()).sum()
}

/// Take new requests and deliver finished ones; never waits.
pub fn service(slots: &[VirtioSlot], mem: &mut PhysMem) {
    let mut guest = PhysGuest(mem);
    for s in slots {
        s.dev.borrow_mut().process(&mut guest);
    }
}

/// Blocks for at most `timeout_ns` until a disk with outstanding requests has a
/// completion (a native host's way to wait; see `Event::WaitingForIo`).
pub fn wait(slots: &[VirtioSlot], timeout_ns: u64) {
    if let Some(s) = slots.iter().find(|s| s.dev.borrow().in_flight() > 0) {
        s.dev.borrow_mut().wait(timeout_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tab86_devices::chipset::ChipsetConfig;
    use tab86_devices::{IoSize, MemDisk};

    #[test]
    fn firmware_places_disks_and_the_guest_can_move_them() {
        let mut cs = Chipset::new(ChipsetConfig::default()).unwrap();
        cs.route_pci_interrupts();
        let kick = Rc::new(Cell::new(false));
        let disks: Vec<Box<dyn BlockBackend>> = vec![
            Box::new(MemDisk::new(vec![0; 4096], false)),
            Box::new(MemDisk::new(vec![0; 8192], true)),
        ];
        let mut slots = attach(&mut cs, disks, &kick, true, false).unwrap();
        for (i, (slot, irq)) in [(2u8, 10u32), (3, 11)].into_iter().enumerate() {
            assert_eq!(cs.pci.config_read(slot, 0, 0), 0x1042_1AF4);
            let base = 0xC000 + 0x100 * i as u32;
            assert_eq!(cs.pci.config_read(slot, 0, 0x10), base | 1);
            assert_eq!(cs.pci.config_read(slot, 0, 0x3C) & 0xFFFF, 0x100 | irq);
            assert_eq!(cs.pci.config_read(slot, 0, 0x04) & 0x7, 0x5);
            // The device configuration (capacity) answers at the BAR.
            let cap = cs.io_read(base as u16 + 0x40, IoSize::Dword, 0);
            assert_eq!(cap, 8 << i);
        }
        // The guest moves disk 0 to 0xD000: the old ports go dead.
        cs.pci.config_write(2, 0, 0x10, 0xD001, 0xF);
        sync_bars(&mut cs, &mut slots);
        assert_eq!(cs.io_read(0xC040, IoSize::Dword, 0), 0xFFFF_FFFF);
        assert_eq!(cs.io_read(0xD040, IoSize::Dword, 0), 8);
        // Disabling I/O decoding unmaps it.
        cs.pci.config_write(2, 0, 0x04, 0, 0x3);
        sync_bars(&mut cs, &mut slots);
        assert_eq!(cs.io_read(0xD040, IoSize::Dword, 0), 0xFFFF_FFFF);
        // A BAR over the PCI configuration ports decodes nothing rather than stealing them.
        cs.pci.config_write(3, 0, 0x10, 0xC81, 0xF);
        sync_bars(&mut cs, &mut slots);
        cs.io_write(0xCF8, IoSize::Dword, 0x8000_1800, 0);
        assert_eq!(cs.io_read(0xCFC, IoSize::Dword, 0), 0x1042_1AF4);
    }

    #[test]
    fn dma_sees_only_ram_and_invalidates_code() {
        let mut mem = PhysMem::new(2 << 20);
        mem.mark_code(0x5000);
        let mut g = PhysGuest(&mut mem);
        let mut b = [0u8; 4];
        assert!(g.write(0x5FFE, &[1, 2, 3, 4]).is_ok());
        assert!(g.read(0x5FFE, &mut b).is_ok());
        assert_eq!(b, [1, 2, 3, 4]);
        assert!(g.read(0x9FFFE, &mut b).is_err(), "runs into the VGA hole");
        assert!(g.write(0xB8000, &[0]).is_err());
        assert!(g.read((2 << 20) - 2, &mut b).is_err(), "runs past RAM");
        assert!(g.read(u64::MAX - 1, &mut b).is_err());
        assert!(g.write(0x10_0000, &[9; 16]).is_ok());
        assert_eq!(mem.take_invalidated(), vec![0x5000]);
    }
}

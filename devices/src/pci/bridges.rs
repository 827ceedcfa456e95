//! The two functions every PC of this era has on bus 0: the Intel 440FX host
//! bridge (00:00.0, 8086:1237) and the PIIX3 PCI-to-ISA bridge (00:01.0,
//! 8086:7000) whose PIRQ route control registers (0x60-0x63, PIRQRC\[A:D\]) steer
//! PCI INTA#-INTD# onto ISA IRQs.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::config::ConfigSpace;
use super::PciFunction;
use crate::irq::{InterruptLine, IrqLine, IrqLines};

/// i440FX PMC host bridge.
#[derive(Debug, Clone)]
pub struct I440fx {
    cfg: ConfigSpace,
}

impl I440fx {
    /// Power-on defaults; the chipset registers 0x40-0xFF (PAM0-6 at 0x59-0x5F,
    /// SMRAM at 0x72, ...) are plain read/write storage.
    pub fn new() -> Self {
        let mut cfg = ConfigSpace::new(0x8086, 0x1237, 0x06_00_00, 0x02, 0x00);
        cfg.set_writable(0x40..=0xFF, 0xFF);
        cfg.set_u8(0x72, 0x02); // SMRAM: C_BASE_SEG = 010 (A0000)
        Self { cfg }
    }

    /// PAM register `n` (0-6, config 0x59 + n): shadow RAM attributes for the BIOS
    /// areas, for the memory map to honour.
    pub fn pam(&self, n: u8) -> u8 {
        self.cfg.u8(0x59 + n.min(6))
    }

    /// The configuration space.
    pub fn config(&self) -> &ConfigSpace {
        &self.cfg
    }
}

impl PciFunction for I440fx {
    fn config_read(&mut self, offset: u8) -> u32 {
        self.cfg.read(offset)
    }

    fn config_write(&mut self, offset: u8, value: u32, byte_enable: u8) {
        self.cfg.write(offset, value, byte_enable);
    }

    fn save(&self) -> Vec<u8> {
        self.cfg.bytes().to_vec()
    }

    fn restore(&mut self, data: &[u8]) {
        if let Ok(bytes) = <&[u8; 256]>::try_from(data) {
            self.cfg.restore_bytes(bytes);
        }
    }
}

/// The ISA IRQs that firmware routes PIRQA#-PIRQD# to (SeaBIOS's choice on this
/// board: A, B to 10 and C, D to 11), level-triggered in the ELCR. The ACPI
/// `_PRT` and each function's Interrupt Line register must agree with it.
pub const FIRMWARE_PIRQ_IRQS: [u8; 4] = [10, 10, 11, 11];

/// PIRQ route register value meaning "not routed" (bit 7, IRQEN# inactive).
pub const PIRQ_DISABLED: u8 = 0x80;

#[derive(Debug)]
struct RouterInner {
    lines: IrqLines,
    routes: [Cell<u8>; 4],
    drivers: [Cell<u16>; 4],
    outputs: RefCell<[Option<IrqLine>; 4]>,
}

/// The PIIX3 interrupt router: the wired-OR level of PIRQA#-PIRQD# and where each
/// goes. Cheap to clone (shared). PCI functions drive it through [`PciIntx`].
#[derive(Debug, Clone)]
pub struct PirqRouter(Rc<RouterInner>);

impl PirqRouter {
    /// A router with all four PIRQs unrouted, driving `lines`.
    pub fn new(lines: IrqLines) -> Self {
        Self(Rc::new(RouterInner {
            lines,
            routes: [(); 4].map(|_| Cell::new(PIRQ_DISABLED)),
            drivers: Default::default(),
            outputs: RefCell::new([None, None, None, None]),
        }))
    }

    /// PIRQ (0-3 = A-D) that INTx# pin `pin` (1-4) of slot `device` reaches:
    /// the PIIX swizzle `(pin - 1 + device - 1) mod 4`, as QEMU's i440FX board wires it.
    pub fn pirq_of(device: u8, pin: u8) -> usize {
        (usize::from(pin.clamp(1, 4)) - 1 + usize::from(device & 31) + 3) % 4
    }

    /// ISA IRQ that PIRQ `pirq` is routed to, if routing is enabled and the IRQ is
    /// one PIIX3 can steer to (3-7, 9-12, 14, 15).
    pub fn route(&self, pirq: usize) -> Option<u8> {
        let raw = self.0.routes.get(pirq)?.get();
        let irq = raw & 0x0F;
        let valid = matches!(irq, 3..=7 | 9..=12 | 14 | 15);
        (raw & PIRQ_DISABLED == 0 && valid).then_some(irq)
    }

    /// Set PIRQRC for `pirq` to `raw` (what the guest wrote) and re-drive the lines.
    pub fn set_route(&self, pirq: usize, raw: u8) {
        if let Some(r) = self.0.routes.get(pirq) {
            r.set(raw);
            self.drive(pirq);
        }
    }

    /// Whether PIRQ `pirq` is asserted by any function.
    pub fn level(&self, pirq: usize) -> bool {
        self.0.drivers.get(pirq).is_some_and(|d| d.get() > 0)
    }

    /// An interrupt output for INTx# pin `pin` (1-4) of the function in slot `device`.
    pub fn intx(&self, device: u8, pin: u8) -> PciIntx {
        PciIntx {
            router: self.clone(),
            pirq: Self::pirq_of(device, pin),
            asserted: Cell::new(false),
        }
    }

    fn drive(&self, pirq: usize) {
        let route = self.route(pirq);
        let mut outputs = self.0.outputs.borrow_mut();
        let out = &mut outputs[pirq];
        if out.as_ref().map(IrqLine::irq) != route {
            // Dropping the old source releases the ISA input it drove.
            *out = route.map(|irq| self.0.lines.line(irq));
        }
        if let Some(line) = out {
            line.set_level(self.level(pirq));
        }
    }

    fn assert(&self, pirq: usize, high: bool) {
        let d = &self.0.drivers[pirq];
        d.set(if high {
            d.get().saturating_add(1)
        } else {
            d.get().saturating_sub(1)
        });
        self.drive(pirq);
    }
}

/// One PCI function's INTx# output (level triggered, shared, active while high).
#[derive(Debug)]
pub struct PciIntx {
    router: PirqRouter,
    pirq: usize,
    asserted: Cell<bool>,
}

impl PciIntx {
    /// The PIRQ this output is wired to (0-3 = A-D).
    pub fn pirq(&self) -> usize {
        self.pirq
    }
}

impl InterruptLine for PciIntx {
    fn set_level(&self, high: bool) {
        if self.asserted.replace(high) != high {
            self.router.assert(self.pirq, high);
        }
    }
}

impl Drop for PciIntx {
    fn drop(&mut self) {
        self.set_level(false);
    }
}

/// PIIX3 function 0: the PCI-to-ISA bridge.
#[derive(Debug, Clone)]
pub struct Piix3 {
    cfg: ConfigSpace,
    router: PirqRouter,
}

impl Piix3 {
    /// Power-on defaults (PIIX3 datasheet): PIRQRC\[A:D\] = 0x80 (unrouted),
    /// IORT 0x4D, XBCS 0x03, TOM 0x02, MBIRQ0 0x80, MBDMA 0x0C; registers
    /// 0x40-0xFF are read/write storage. Route changes go to `router`.
    pub fn new(router: PirqRouter) -> Self {
        let mut cfg = ConfigSpace::new(0x8086, 0x7000, 0x06_01_00, 0x00, 0x80);
        cfg.set_writable(0x40..=0xFF, 0xFF);
        cfg.set_u8(0x4C, 0x4D);
        cfg.set_u8(0x4E, 0x03);
        for i in 0..4 {
            cfg.set_u8(0x60 + i, PIRQ_DISABLED);
            router.set_route(usize::from(i), PIRQ_DISABLED);
        }
        cfg.set_u8(0x69, 0x02);
        cfg.set_u8(0x70, 0x80);
        cfg.set_u16(0x76, 0x0C0C);
        Self { cfg, router }
    }

    /// The interrupt router this bridge programs.
    pub fn router(&self) -> &PirqRouter {
        &self.router
    }

    /// The configuration space.
    pub fn config(&self) -> &ConfigSpace {
        &self.cfg
    }
}

impl PciFunction for Piix3 {
    fn config_read(&mut self, offset: u8) -> u32 {
        self.cfg.read(offset)
    }

    fn config_write(&mut self, offset: u8, value: u32, byte_enable: u8) {
        self.cfg.write(offset, value, byte_enable);
        if offset & 0xFC == 0x60 {
            for i in 0..4u8 {
                if byte_enable & (1 << i) != 0 {
                    self.router.set_route(usize::from(i), self.cfg.u8(0x60 + i));
                }
            }
        }
    }

    fn save(&self) -> Vec<u8> {
        self.cfg.bytes().to_vec()
    }

    fn restore(&mut self, data: &[u8]) {
        if let Ok(bytes) = <&[u8; 256]>::try_from(data) {
            self.cfg.restore_bytes(bytes);
            for i in 0..4u8 {
                self.router.set_route(usize::from(i), self.cfg.u8(0x60 + i));
            }
        }
    }
}

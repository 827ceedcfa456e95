//! ACPI tables for a PC: RSDP, RSDT, FADT (revision 1), FACS, a DSDT whose AML
//! describes the PCI root bridge with its interrupt routing (`_PRT`, static GSIs =
//! the ISA IRQs firmware routed PIRQA-D to) and the S5 soft-off state, and on the
//! APIC board a MADT. With them Linux finds its PM timer, routes PCI interrupts the
//! ACPI way, and powers the machine off through PM1a_CNT instead of halting.
//!
//! The MADT ([`MadtConfig`]) lists the local APIC, the IO-APIC and the interrupt
//! source overrides a PC has: ISA IRQ 0 on GSI 2, the SCI level-triggered
//! active-high, the PCI IRQs level-triggered active-low (as the `_PRT` says),
//! and LINT1 as NMI. Without it (the PIC-only board, where CPUID advertises no
//! local APIC) Linux keeps the 8259A pair, as on a uniprocessor PC of the P6 era.
//!
//! [`build_acpi_tables`] lays everything out for a fixed physical base; the board
//! copies the bytes there. [`ACPI_TABLES_BASE`] is in the reserved BIOS area that
//! the OS scans for the RSDP (0xE0000-0xFFFFF, 16-byte aligned).

use crate::e820::BIOS_AREA_START;

/// Where the board puts the tables (RSDP first): the start of the BIOS area.
pub const ACPI_TABLES_BASE: u32 = BIOS_AREA_START;

const OEM_ID: &[u8; 6] = b"TAB86 ";
const OEM_TABLE_ID: &[u8; 8] = b"TAB86PC ";
const CREATOR_ID: &[u8; 4] = b"TB86";

/// One `_PRT` entry: INTx pin `pin` (0 = INTA#) of PCI `slot` on bus 0 raises `irq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PciRoute {
    /// Device number on bus 0 (1-31).
    pub slot: u8,
    /// 0-3 for INTA#-INTD#.
    pub pin: u8,
    /// ISA IRQ (= GSI in PIC mode), level-triggered, active-low.
    pub irq: u8,
}

/// An interrupt source override of the MADT (ACPI 6.x, 5.2.12.5): ISA `irq`
/// arrives on `gsi` with the MPS INTI `flags` (bits 0-1 polarity: 1 high, 3 low;
/// bits 2-3 trigger: 1 edge, 3 level; 0 = bus default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IrqOverride {
    /// ISA IRQ (bus-relative source).
    pub irq: u8,
    /// Global system interrupt (IO-APIC pin + GSI base).
    pub gsi: u32,
    /// MPS INTI flags.
    pub flags: u16,
}

/// MPS INTI flags: level-triggered, active-high (the SCI).
pub const INTI_LEVEL_HIGH: u16 = 0x000D;
/// MPS INTI flags: level-triggered, active-low (PCI INTx#).
pub const INTI_LEVEL_LOW: u16 = 0x000F;

/// The APIC board, as the MADT describes it (one processor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MadtConfig {
    /// Physical address of the local APIC.
    pub lapic_base: u32,
    /// APIC ID of the processor.
    pub lapic_id: u8,
    /// IO-APIC ID.
    pub ioapic_id: u8,
    /// Physical address of the IO-APIC.
    pub ioapic_base: u32,
    /// ISA interrupt source overrides.
    pub overrides: Vec<IrqOverride>,
}

/// What the tables describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcpiConfig {
    /// I/O base of the PM block: PM1a_EVT at +0 (4 bytes), PM1a_CNT at +4 (2),
    /// PM_TMR at +8 (4, 32-bit).
    pub pm_base: u16,
    /// ISA IRQ of the SCI.
    pub sci_irq: u8,
    /// The PCI interrupt routing.
    pub pci_routes: Vec<PciRoute>,
    /// SLP_TYP value for S5 (soft off) in PM1a_CNT.
    pub s5_slp_typ: u8,
    /// The root bridge's memory window for BARs, inclusive (above RAM, below the
    /// APIC/ROM area).
    pub pci_mem_window: (u32, u32),
    /// The MADT, on the APIC board.
    pub madt: Option<MadtConfig>,
}

/// The root bridge's resources as a `_CRS` buffer: bus numbers 0-255, the
/// configuration ports, the I/O windows around them, the VGA window and the
/// memory window for BARs.
fn pci_crs(cfg: &AcpiConfig) -> Vec<u8> {
    let mut r = Vec::new();
    // Word address space descriptor (bus or I/O), producer, fixed min and max.
    let word = |r: &mut Vec<u8>, kind: u8, type_flags: u8, min: u16, max: u16| {
        r.extend_from_slice(&[0x88, 0x0D, 0x00, kind, 0x0C, type_flags]);
        for v in [0, min, max, 0, max - min + 1] {
            r.extend_from_slice(&v.to_le_bytes());
        }
    };
    let dword_mem = |r: &mut Vec<u8>, min: u32, max: u32| {
        // Memory, producer, fixed, cacheable read-write.
        r.extend_from_slice(&[0x87, 0x17, 0x00, 0x00, 0x0C, 0x03]);
        for v in [0, min, max, 0, max - min + 1] {
            r.extend_from_slice(&v.to_le_bytes());
        }
    };
    word(&mut r, 2, 0, 0, 0xFF);
    // IO (Decode16, 0xCF8, 0xCF8, 1, 8): the configuration mechanism itself.
    r.extend_from_slice(&[0x47, 0x01, 0xF8, 0x0C, 0xF8, 0x0C, 0x01, 0x08]);
    word(&mut r, 1, 0x03, 0x0000, 0x0CF7);
    word(&mut r, 1, 0x03, 0x0D00, 0xFFFF);
    dword_mem(&mut r, 0x000A_0000, 0x000B_FFFF);
    dword_mem(&mut r, cfg.pci_mem_window.0, cfg.pci_mem_window.1);
    r.extend_from_slice(&[0x79, 0x00]); // end tag, checksum 0 = not checked
    aml::buffer(&r)
}

fn checksum_fix(table: &mut [u8], at: usize) {
    table[at] = 0;
    let sum = table.iter().fold(0u8, |s, &b| s.wrapping_add(b));
    table[at] = sum.wrapping_neg();
}

/// A standard 36-byte description header followed by `body`, checksummed.
fn sdt(signature: &[u8; 4], revision: u8, body: &[u8]) -> Vec<u8> {
    let len = 36 + body.len();
    let mut t = Vec::with_capacity(len);
    t.extend_from_slice(signature);
    t.extend_from_slice(&(len as u32).to_le_bytes());
    t.push(revision);
    t.push(0); // checksum
    t.extend_from_slice(OEM_ID);
    t.extend_from_slice(OEM_TABLE_ID);
    t.extend_from_slice(&1u32.to_le_bytes()); // OEM revision
    t.extend_from_slice(CREATOR_ID);
    t.extend_from_slice(&1u32.to_le_bytes()); // creator revision
    t.extend_from_slice(body);
    checksum_fix(&mut t, 9);
    t
}

/// AML encoding helpers (ACPI 6.x, chapter 20), just what the DSDT needs.
mod aml {
    pub const ZERO: u8 = 0x00;
    pub const ONE: u8 = 0x01;
    const BYTE_PREFIX: u8 = 0x0A;
    const DWORD_PREFIX: u8 = 0x0C;
    const NAME_OP: u8 = 0x08;
    const SCOPE_OP: u8 = 0x10;
    const PACKAGE_OP: u8 = 0x12;
    const BUFFER_OP: u8 = 0x11;
    const EXT_OP_PREFIX: u8 = 0x5B;
    const DEVICE_OP: u8 = 0x82;

    /// PkgLength: the length of what follows including the PkgLength bytes.
    pub fn pkg_length(payload: usize) -> Vec<u8> {
        for extra in 0..4usize {
            let total = payload + 1 + extra;
            let fits = match extra {
                0 => total < 0x40,
                _ => total < 1 << (4 + 8 * extra),
            };
            if fits {
                if extra == 0 {
                    return vec![total as u8];
                }
                let mut v = vec![((extra as u8) << 6) | (total & 0xF) as u8];
                for i in 0..extra {
                    v.push((total >> (4 + 8 * i)) as u8);
                }
                return v;
            }
        }
        unreachable!("AML objects here are far below 256 MiB")
    }

    /// An integer constant in its shortest encoding.
    pub fn int(v: u32) -> Vec<u8> {
        match v {
            0 => vec![ZERO],
            1 => vec![ONE],
            2..=0xFF => vec![BYTE_PREFIX, v as u8],
            _ => {
                let mut o = vec![DWORD_PREFIX];
                o.extend_from_slice(&v.to_le_bytes());
                o
            }
        }
    }

    /// `Package () { elements }`.
    pub fn package(elements: &[Vec<u8>]) -> Vec<u8> {
        let mut body = vec![elements.len() as u8];
        for e in elements {
            body.extend_from_slice(e);
        }
        let mut o = vec![PACKAGE_OP];
        o.extend(pkg_length(body.len()));
        o.extend(body);
        o
    }

    /// `Buffer () { bytes }`.
    pub fn buffer(bytes: &[u8]) -> Vec<u8> {
        let mut body = int(bytes.len() as u32);
        body.extend_from_slice(bytes);
        let mut o = vec![BUFFER_OP];
        o.extend(pkg_length(body.len()));
        o.extend(body);
        o
    }

    /// `Name (name, value)`; `name` is a NameString such as `b"_S5_"` or `b"\\_S5_"`.
    pub fn name(name: &[u8], value: &[u8]) -> Vec<u8> {
        let mut o = vec![NAME_OP];
        o.extend_from_slice(name);
        o.extend_from_slice(value);
        o
    }

    /// `Scope (name) { body }`.
    pub fn scope(name: &[u8], body: &[u8]) -> Vec<u8> {
        let mut inner = name.to_vec();
        inner.extend_from_slice(body);
        let mut o = vec![SCOPE_OP];
        o.extend(pkg_length(inner.len()));
        o.extend(inner);
        o
    }

    /// `Device (name) { body }`.
    pub fn device(name: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut inner = name.to_vec();
        inner.extend_from_slice(body);
        let mut o = vec![EXT_OP_PREFIX, DEVICE_OP];
        o.extend(pkg_length(inner.len()));
        o.extend(inner);
        o
    }

    /// `EisaId ("PNP0A03")` as its compressed 32-bit integer.
    pub fn eisa_id(id: &[u8; 7]) -> Vec<u8> {
        let l = |c: u8| u32::from(c - b'@') & 0x1F;
        let h = |c: u8| u32::from((c as char).to_digit(16).unwrap_or(0) as u8);
        let v = l(id[0]) << 26
            | l(id[1]) << 21
            | l(id[2]) << 16
            | h(id[3]) << 12
            | h(id[4]) << 8
            | h(id[5]) << 4
            | h(id[6]);
        int(v.swap_bytes())
    }
}

fn dsdt_aml(cfg: &AcpiConfig) -> Vec<u8> {
    let prt: Vec<Vec<u8>> = cfg
        .pci_routes
        .iter()
        .map(|r| {
            aml::package(&[
                aml::int(u32::from(r.slot) << 16 | 0xFFFF),
                aml::int(u32::from(r.pin)),
                vec![aml::ZERO], // no link device: the last element is the GSI
                aml::int(u32::from(r.irq)),
            ])
        })
        .collect();
    let mut pci0 = aml::name(b"_HID", &aml::eisa_id(b"PNP0A03"));
    pci0.extend(aml::name(b"_ADR", &aml::int(0)));
    pci0.extend(aml::name(b"_UID", &aml::int(0)));
    pci0.extend(aml::name(b"_CRS", &pci_crs(cfg)));
    pci0.extend(aml::name(b"_PRT", &aml::package(&prt)));
    let mut aml_body = aml::scope(b"\\_SB_", &aml::device(b"PCI0", &pci0));
    let s5 = u32::from(cfg.s5_slp_typ);
    aml_body.extend(aml::name(
        b"\\_S5_",
        &aml::package(&[aml::int(s5), aml::int(s5), aml::int(0), aml::int(0)]),
    ));
    aml_body
}

/// The FADT body (after the 36-byte header), ACPI 1.0 layout (116 bytes in all).
fn fadt_body(cfg: &AcpiConfig, facs: u32, dsdt: u32) -> Vec<u8> {
    let pm = u32::from(cfg.pm_base);
    let mut b = Vec::with_capacity(80);
    b.extend_from_slice(&facs.to_le_bytes()); // FIRMWARE_CTRL
    b.extend_from_slice(&dsdt.to_le_bytes()); // DSDT
    b.push(0); // INT_MODEL (reserved in 2.0+; 0 = dual PIC)
    b.push(0); // Preferred_PM_Profile: unspecified
    b.extend_from_slice(&u16::from(cfg.sci_irq).to_le_bytes()); // SCI_INT
    b.extend_from_slice(&0u32.to_le_bytes()); // SMI_CMD: none, always in ACPI mode
    b.extend_from_slice(&[0, 0, 0, 0]); // ACPI_ENABLE, ACPI_DISABLE, S4BIOS_REQ, PSTATE_CNT
    b.extend_from_slice(&pm.to_le_bytes()); // PM1a_EVT_BLK
    b.extend_from_slice(&0u32.to_le_bytes()); // PM1b_EVT_BLK
    b.extend_from_slice(&(pm + 4).to_le_bytes()); // PM1a_CNT_BLK
    b.extend_from_slice(&0u32.to_le_bytes()); // PM1b_CNT_BLK
    b.extend_from_slice(&0u32.to_le_bytes()); // PM2_CNT_BLK
    b.extend_from_slice(&(pm + 8).to_le_bytes()); // PM_TMR_BLK
    b.extend_from_slice(&0u32.to_le_bytes()); // GPE0_BLK
    b.extend_from_slice(&0u32.to_le_bytes()); // GPE1_BLK
    b.extend_from_slice(&[4, 2, 0, 4, 0, 0, 0, 0]); // PM1_EVT_LEN .. CST_CNT
    b.extend_from_slice(&0x0FFFu16.to_le_bytes()); // P_LVL2_LAT > 100: no C2
    b.extend_from_slice(&0x0FFFu16.to_le_bytes()); // P_LVL3_LAT > 1000: no C3
    b.extend_from_slice(&0u16.to_le_bytes()); // FLUSH_SIZE
    b.extend_from_slice(&0u16.to_le_bytes()); // FLUSH_STRIDE
    b.extend_from_slice(&[0, 0]); // DUTY_OFFSET, DUTY_WIDTH
    b.extend_from_slice(&[0, 0, 0x32]); // DAY_ALRM, MON_ALRM, CENTURY (CMOS 0x32)
    b.extend_from_slice(&0u16.to_le_bytes()); // IAPC_BOOT_ARCH (reserved in 1.0)
    b.push(0); // reserved
               // Flags: WBINVD, PROC_C1, SLP_BUTTON (no fixed sleep button), TMR_VAL_EXT.
    let flags: u32 = 1 << 0 | 1 << 2 | 1 << 5 | 1 << 8;
    b.extend_from_slice(&flags.to_le_bytes());
    b
}

/// The MADT body (after the 36-byte header).
fn madt_body(m: &MadtConfig) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&m.lapic_base.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes()); // PCAT_COMPAT: 8259A pair present too
                                              // Processor local APIC: ACPI processor UID 0, APIC ID, enabled.
    b.extend_from_slice(&[0, 8, 0, m.lapic_id]);
    b.extend_from_slice(&1u32.to_le_bytes());
    // IO-APIC: ID, reserved, address, GSI base 0.
    b.extend_from_slice(&[1, 12, m.ioapic_id, 0]);
    b.extend_from_slice(&m.ioapic_base.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    for o in &m.overrides {
        // Interrupt source override: bus 0 (ISA), source, GSI, flags.
        b.extend_from_slice(&[2, 10, 0, o.irq]);
        b.extend_from_slice(&o.gsi.to_le_bytes());
        b.extend_from_slice(&o.flags.to_le_bytes());
    }
    // Local APIC NMI: all processors, bus-default flags, LINT1.
    b.extend_from_slice(&[4, 6, 0xFF, 0, 0, 1]);
    b
}

/// All tables laid out for physical address `base` (16-byte aligned), RSDP first.
pub fn build_acpi_tables(cfg: &AcpiConfig, base: u32) -> Vec<u8> {
    let align = |v: &mut Vec<u8>, a: usize| v.resize(v.len().next_multiple_of(a), 0);
    let mut out = vec![0u8; 20]; // RSDP, filled last
    align(&mut out, 64);
    let facs_at = out.len();
    let mut facs = vec![0u8; 64];
    facs[0..4].copy_from_slice(b"FACS");
    facs[4..8].copy_from_slice(&64u32.to_le_bytes());
    out.extend(facs);
    let dsdt_at = out.len();
    out.extend(sdt(b"DSDT", 1, &dsdt_aml(cfg)));
    align(&mut out, 16);
    let fadt_at = out.len();
    let addr = |off: usize| base + off as u32;
    out.extend(sdt(
        b"FACP",
        1,
        &fadt_body(cfg, addr(facs_at), addr(dsdt_at)),
    ));
    align(&mut out, 16);
    let mut rsdt = addr(fadt_at).to_le_bytes().to_vec();
    if let Some(m) = &cfg.madt {
        let madt_at = out.len();
        out.extend(sdt(b"APIC", 1, &madt_body(m)));
        align(&mut out, 16);
        rsdt.extend_from_slice(&addr(madt_at).to_le_bytes());
    }
    let rsdt_at = out.len();
    out.extend(sdt(b"RSDT", 1, &rsdt));

    let mut rsdp = Vec::with_capacity(20);
    rsdp.extend_from_slice(b"RSD PTR ");
    rsdp.push(0);
    rsdp.extend_from_slice(OEM_ID);
    rsdp.push(0); // revision 0: ACPI 1.0, RSDT only
    rsdp.extend_from_slice(&addr(rsdt_at).to_le_bytes());
    checksum_fix(&mut rsdp, 8);
    out[..20].copy_from_slice(&rsdp);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> AcpiConfig {
        AcpiConfig {
            pm_base: 0x600,
            sci_irq: 9,
            pci_routes: (1..32)
                .flat_map(|slot| {
                    (0..4).map(move |pin| PciRoute {
                        slot,
                        pin,
                        irq: 10 + pin % 2,
                    })
                })
                .collect(),
            s5_slp_typ: 0,
            pci_mem_window: (0xE000_0000, 0xFEBF_FFFF),
            madt: None,
        }
    }

    #[test]
    fn madt_lists_the_apics_overrides_and_nmi_and_the_rsdt_points_at_it() {
        let mut c = cfg();
        c.madt = Some(MadtConfig {
            lapic_base: 0xFEE0_0000,
            lapic_id: 0,
            ioapic_id: 1,
            ioapic_base: 0xFEC0_0000,
            overrides: vec![
                IrqOverride {
                    irq: 0,
                    gsi: 2,
                    flags: 0,
                },
                IrqOverride {
                    irq: 9,
                    gsi: 9,
                    flags: INTI_LEVEL_HIGH,
                },
            ],
        });
        let base = 0xE0000;
        let t = build_acpi_tables(&c, base);
        let rsdt = (u32_at(&t, 16) - base) as usize;
        assert_eq!(u32_at(&t, rsdt + 4), 36 + 8, "RSDT: FADT and MADT");
        let madt = (u32_at(&t, rsdt + 40) - base) as usize;
        assert_eq!(&t[madt..madt + 4], b"APIC");
        let len = u32_at(&t, madt + 4) as usize;
        assert!(sums_to_zero(&t[madt..madt + len]));
        assert_eq!(u32_at(&t, madt + 36), 0xFEE0_0000);
        assert_eq!(u32_at(&t, madt + 40), 1, "PCAT_COMPAT");
        // Walk the entries: type, length.
        let mut at = madt + 44;
        let mut seen = Vec::new();
        while at < madt + len {
            seen.push((t[at], t[at + 1]));
            if t[at] == 1 {
                assert_eq!(t[at + 2], 1, "IO-APIC ID");
                assert_eq!(u32_at(&t, at + 4), 0xFEC0_0000);
            }
            if t[at] == 2 && t[at + 3] == 0 {
                assert_eq!(u32_at(&t, at + 4), 2, "IRQ 0 on GSI 2");
            }
            if t[at] == 2 && t[at + 3] == 9 {
                assert_eq!(u16::from_le_bytes([t[at + 8], t[at + 9]]), 0xD);
            }
            at += usize::from(t[at + 1]);
        }
        assert_eq!(at, madt + len, "entries fill the table exactly");
        assert_eq!(seen, vec![(0, 8), (1, 12), (2, 10), (2, 10), (4, 6)]);
    }

    fn u32_at(b: &[u8], off: usize) -> u32 {
        u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
    }

    fn sums_to_zero(b: &[u8]) -> bool {
        b.iter().fold(0u8, |s, &x| s.wrapping_add(x)) == 0
    }

    /// Follow RSDP -> RSDT -> FADT -> DSDT/FACS as an OS does and check every
    /// signature, length and checksum on the way.
    #[test]
    fn tables_chain_from_the_rsdp_with_valid_checksums() {
        let base = ACPI_TABLES_BASE;
        let t = build_acpi_tables(&cfg(), base);
        let at = |phys: u32| (phys - base) as usize;
        assert_eq!(&t[0..8], b"RSD PTR ");
        assert!(sums_to_zero(&t[0..20]));
        let rsdt = at(u32_at(&t, 16));
        assert_eq!(&t[rsdt..rsdt + 4], b"RSDT");
        let len = u32_at(&t, rsdt + 4) as usize;
        assert_eq!(len, 40);
        assert!(sums_to_zero(&t[rsdt..rsdt + len]));
        let fadt = at(u32_at(&t, rsdt + 36));
        assert_eq!(&t[fadt..fadt + 4], b"FACP");
        let flen = u32_at(&t, fadt + 4) as usize;
        assert_eq!(flen, 116, "ACPI 1.0 FADT size");
        assert!(sums_to_zero(&t[fadt..fadt + flen]));
        assert_eq!(u32_at(&t, fadt + 56), 0x600, "PM1a_EVT_BLK");
        assert_eq!(u32_at(&t, fadt + 64), 0x604, "PM1a_CNT_BLK");
        assert_eq!(u32_at(&t, fadt + 76), 0x608, "PM_TMR_BLK");
        assert_eq!(t[fadt + 46], 9, "SCI_INT");
        assert_eq!(&t[fadt + 88..fadt + 92], &[4, 2, 0, 4]);
        assert_eq!(u32_at(&t, fadt + 112) & (1 << 8), 1 << 8, "32-bit PM timer");
        let facs = at(u32_at(&t, fadt + 36));
        assert_eq!(facs % 64, 0, "FACS is 64-byte aligned");
        assert_eq!(&t[facs..facs + 4], b"FACS");
        let dsdt = at(u32_at(&t, fadt + 40));
        assert_eq!(&t[dsdt..dsdt + 4], b"DSDT");
        let dlen = u32_at(&t, dsdt + 4) as usize;
        assert!(sums_to_zero(&t[dsdt..dsdt + dlen]));
        assert!(dsdt + dlen <= t.len());
    }

    #[test]
    fn pkg_length_uses_the_multi_byte_form_past_63() {
        assert_eq!(aml::pkg_length(10), vec![11]);
        assert_eq!(aml::pkg_length(62), vec![63]);
        // 63 payload + 2 length bytes = 65 = 0x41: lead byte 0x41, then 0x04.
        assert_eq!(aml::pkg_length(63), vec![0x41, 0x04]);
        assert_eq!(
            aml::pkg_length(5000),
            vec![
                0x80 | (5003 & 0xF) as u8,
                (5003 >> 4) as u8,
                (5003 >> 12) as u8
            ]
        );
    }

    #[test]
    fn crs_holds_bus_io_and_memory_windows_and_ends_with_the_end_tag() {
        let crs = pci_crs(&cfg());
        // BufferOp, PkgLength, BufferSize, then the descriptors.
        assert_eq!(crs[0], 0x11);
        let body = &crs[crs.len() - (16 * 3 + 8 + 26 * 2 + 2)..];
        assert_eq!(&body[..6], &[0x88, 0x0D, 0x00, 2, 0x0C, 0]);
        assert_eq!(&body[body.len() - 2..], &[0x79, 0x00]);
        let mem = &body[16 * 3 + 8 + 26..];
        assert_eq!(&mem[..6], &[0x87, 0x17, 0x00, 0x00, 0x0C, 0x03]);
        assert_eq!(u32_at(mem, 10), 0xE000_0000);
        assert_eq!(u32_at(mem, 14), 0xFEBF_FFFF);
        assert_eq!(u32_at(mem, 22), 0x1EC0_0000);
    }

    #[test]
    fn eisa_id_compresses_pnp0a03_as_the_spec_example() {
        assert_eq!(aml::eisa_id(b"PNP0A03"), aml::int(0x030A_D041));
    }

    #[test]
    fn dsdt_names_the_pci_root_its_prt_and_s5() {
        let d = dsdt_aml(&cfg());
        let has = |needle: &[u8]| d.windows(needle.len()).any(|w| w == needle);
        assert!(has(b"\\_SB_"));
        assert!(has(b"PCI0"));
        assert!(has(b"_PRT"));
        // Slot 2, INTB# -> IRQ 11: Package(4) { 0x0002FFFF, One, Zero, 11 }.
        assert!(has(&[
            0x12, 0x0B, 4, 0x0C, 0xFF, 0xFF, 2, 0, 0x01, 0x00, 0x0A, 11
        ]));
        // \_S5_ = Package(4) { Zero, Zero, Zero, Zero }.
        assert!(has(&[
            0x08, b'\\', b'_', b'S', b'5', b'_', 0x12, 0x06, 4, 0, 0, 0, 0
        ]));
    }
}

//! The i386 two-level page walk (4 KiB pages and PSE 4 MiB pages), with the
//! accessed/dirty write-back and the #PF error code the SDM specifies.

use crate::{Bus, PhysMem};

/// CR0.WP: supervisor writes honour read-only pages.
pub const CR0_WP: u32 = 1 << 16;
/// CR4.PSE: 4 MiB pages.
pub const CR4_PSE: u32 = 1 << 4;
/// CR4.PGE: global pages.
pub const CR4_PGE: u32 = 1 << 7;

const P: u32 = 1;
const RW: u32 = 1 << 1;
const US: u32 = 1 << 2;
const A: u32 = 1 << 5;
const D: u32 = 1 << 6;
const PS: u32 = 1 << 7;
const G: u32 = 1 << 8;

/// The control-register state the walk depends on.
#[derive(Debug, Clone, Copy)]
pub struct PagingMode {
    /// CR0 (only WP matters here).
    pub cr0: u32,
    /// CR3: the page-directory base.
    pub cr3: u32,
    /// CR4 (PSE, PGE).
    pub cr4: u32,
}

/// The kind of access being translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// A write (sets D, checks R/W).
    pub write: bool,
    /// A user-mode access (CPL 3, not an implicit supervisor access).
    pub user: bool,
}

/// A successful translation of one page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translation {
    /// Physical address of the 4 KiB frame holding the linear address.
    pub frame: u32,
    /// User mode may access the page (U/S set at both levels).
    pub user: bool,
    /// The page is writable at both levels (R/W set).
    pub writable: bool,
    /// The dirty bit is now set, so later writes need no walk.
    pub dirty: bool,
    /// The page is global (G with CR4.PGE).
    pub global: bool,
}

/// A page fault: the #PF error code (P, W/R, U/S bits). CR2 is the faulting linear address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageFault {
    /// The error code pushed with #PF.
    pub error_code: u32,
}

/// Walks the page tables for `lin`, setting accessed and dirty bits as the processor does.
pub fn walk(
    mem: &mut PhysMem,
    bus: &mut dyn Bus,
    mode: PagingMode,
    lin: u32,
    access: Access,
) -> Result<Translation, PageFault> {
    let fault = |present: bool| PageFault {
        error_code: present as u32 | (access.write as u32) << 1 | (access.user as u32) << 2,
    };
    let pde_addr = (mode.cr3 & 0xFFFF_F000) | (lin >> 22) << 2;
    let pde = mem.read(pde_addr, 4, bus);
    if pde & P == 0 {
        return Err(fault(false));
    }
    let large = pde & PS != 0 && mode.cr4 & CR4_PSE != 0;
    let (pte_addr, pte) = if large {
        (pde_addr, pde)
    } else {
        let a = (pde & 0xFFFF_F000) | (lin >> 10) & 0xFFC;
        let e = mem.read(a, 4, bus);
        if e & P == 0 {
            return Err(fault(false));
        }
        (a, e)
    };
    let user = pde & pte & US != 0;
    let writable = pde & pte & RW != 0;
    if access.user && !user {
        return Err(fault(true));
    }
    if access.write && !writable && (access.user || mode.cr0 & CR0_WP != 0) {
        return Err(fault(true));
    }
    if !large && pde & A == 0 {
        mem.write(pde_addr, 4, pde | A, bus);
    }
    let mut new = pte | A;
    if access.write {
        new |= D;
    }
    if new != pte {
        mem.write(pte_addr, 4, new, bus);
    }
    let frame = if large {
        (pte & 0xFFC0_0000) | (lin & 0x003F_F000)
    } else {
        pte & 0xFFFF_F000
    };
    Ok(Translation {
        frame,
        user,
        writable,
        dirty: new & D != 0,
        global: pte & G != 0 && mode.cr4 & CR4_PGE != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NullBus;

    fn setup() -> (PhysMem, PagingMode) {
        let mut m = PhysMem::new(8 << 20);
        // Page directory at 0x1000, one page table at 0x2000 for 0-4 MiB.
        m.write(0x1000, 4, 0x2000 | P | RW | US, &mut NullBus);
        // 0x0040_0000 maps a 4 MiB page at 4 MiB, supervisor only.
        m.write(0x1004, 4, 0x40_0000 | P | RW | PS | G, &mut NullBus);
        // Linear 0x5000 -> 0x7000 user read-only; 0x6000 not present.
        m.write(0x2000 + 5 * 4, 4, 0x7000 | P | US, &mut NullBus);
        (
            m,
            PagingMode {
                cr0: CR0_WP,
                cr3: 0x1000,
                cr4: CR4_PSE | CR4_PGE,
            },
        )
    }

    #[test]
    fn four_k_and_four_m_pages() {
        let (mut m, mode) = setup();
        let user_read = Access {
            write: false,
            user: true,
        };
        let t = walk(&mut m, &mut NullBus, mode, 0x5123, user_read).unwrap();
        assert_eq!(t.frame, 0x7000);
        assert!(t.user && !t.writable && !t.dirty);
        assert_eq!(m.read(0x2014, 4, &mut NullBus) & A, A);
        assert_eq!(m.read(0x1000, 4, &mut NullBus) & A, A);
        let sup_write = Access {
            write: true,
            user: false,
        };
        let t = walk(&mut m, &mut NullBus, mode, 0x0041_2345, sup_write).unwrap();
        assert_eq!(t.frame, 0x0041_2000);
        assert!(t.global && t.dirty && !t.user);
        assert_eq!(m.read(0x1004, 4, &mut NullBus) & (A | D), A | D);
    }

    #[test]
    fn fault_error_codes() {
        let (mut m, mut mode) = setup();
        let e = |w, u| Access { write: w, user: u };
        assert_eq!(
            walk(&mut m, &mut NullBus, mode, 0x6000, e(false, false))
                .unwrap_err()
                .error_code,
            0
        );
        assert_eq!(
            walk(&mut m, &mut NullBus, mode, 0x6000, e(true, true))
                .unwrap_err()
                .error_code,
            6
        );
        assert_eq!(
            walk(&mut m, &mut NullBus, mode, 0x5000, e(true, true))
                .unwrap_err()
                .error_code,
            7
        );
        assert_eq!(
            walk(&mut m, &mut NullBus, mode, 0x40_0000, e(false, true))
                .unwrap_err()
                .error_code,
            5
        );
        // Supervisor write to a read-only page faults only with CR0.WP.
        assert_eq!(
            walk(&mut m, &mut NullBus, mode, 0x5000, e(true, false))
                .unwrap_err()
                .error_code,
            3
        );
        mode.cr0 = 0;
        assert!(walk(&mut m, &mut NullBus, mode, 0x5000, e(true, false)).is_ok());
        // A faulting write must not set the dirty bit.
        assert_eq!(m.read(0x2014, 4, &mut NullBus) & D, D);
        assert_eq!(m.read(0x1000 + 8, 4, &mut NullBus), 0);
    }

    #[test]
    fn pse_off_treats_ps_as_table_pointer() {
        let (mut m, mut mode) = setup();
        mode.cr4 = 0;
        // PDE 1 points at 0x40_0000 as a page table (zeroed) -> not present.
        let r = walk(
            &mut m,
            &mut NullBus,
            mode,
            0x40_0000,
            Access {
                write: false,
                user: false,
            },
        );
        assert_eq!(r.unwrap_err().error_code, 0);
    }
}

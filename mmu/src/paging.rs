//! The i386 page walks: 32-bit paging (two levels, 4 KiB pages and PSE 4 MiB
//! pages) and PAE paging (four PDPTEs held in the CPU, then 64-bit PDEs and PTEs,
//! 4 KiB and 2 MiB pages, the XD bit under IA32_EFER.NXE), with the accessed/dirty
//! write-back and the #PF error code the SDM specifies (vol. 3, chapter 4).

use crate::{Bus, PhysMem};

/// CR0.WP: supervisor writes honour read-only pages.
pub const CR0_WP: u32 = 1 << 16;
/// CR4.PSE: 4 MiB pages.
pub const CR4_PSE: u32 = 1 << 4;
/// CR4.PAE: PAE paging (64-bit entries, PDPTEs loaded from CR3).
pub const CR4_PAE: u32 = 1 << 5;
/// CR4.PGE: global pages.
pub const CR4_PGE: u32 = 1 << 7;

/// #PF error code: P, the fault was a protection violation (0: not present).
pub const PF_P: u32 = 1;
/// #PF error code: W/R, the access was a write.
pub const PF_W: u32 = 1 << 1;
/// #PF error code: U/S, the access was a user-mode access.
pub const PF_U: u32 = 1 << 2;
/// #PF error code: RSVD, a paging-structure entry had a reserved bit set.
pub const PF_RSVD: u32 = 1 << 3;
/// #PF error code: I/D, the access was an instruction fetch (reported only with
/// PAE paging and IA32_EFER.NXE set; always 0 with 32-bit paging here, which has
/// no SMEP).
pub const PF_ID: u32 = 1 << 4;

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
    /// CR4 (PSE, PAE, PGE).
    pub cr4: u32,
    /// The four PDPTEs loaded when CR3 was written or PAE paging was enabled (used
    /// only with CR4.PAE; later changes to that memory take effect at the next
    /// load). Their reserved bits were checked at load time.
    pub pdpte: [u64; 4],
    /// IA32_EFER.NXE: bit 63 of PDEs and PTEs is XD (execute-disable) rather than
    /// reserved (PAE paging only).
    pub nxe: bool,
}

impl PagingMode {
    /// 32-bit paging with the given control registers (no PDPTEs, NXE clear).
    pub fn legacy(cr0: u32, cr3: u32, cr4: u32) -> Self {
        PagingMode {
            cr0,
            cr3,
            cr4,
            pdpte: [0; 4],
            nxe: false,
        }
    }
}

/// The kind of access being translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// A write (sets D, checks R/W).
    pub write: bool,
    /// A user-mode access (CPL 3, not an implicit supervisor access).
    pub user: bool,
    /// An instruction fetch (checked against XD; sets I/D in the error code when
    /// XD is in force).
    pub fetch: bool,
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
    /// Instruction fetches fault (XD set in the PDE or PTE, with IA32_EFER.NXE).
    pub no_exec: bool,
    /// The page is a 4 MiB (PSE) or 2 MiB (PAE) page.
    pub large: bool,
}

/// A page fault: the #PF error code (P, W/R, U/S, RSVD, I/D bits). CR2 is the
/// faulting linear address.
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
    if mode.cr4 & CR4_PAE != 0 {
        return walk_pae(mem, bus, mode, lin, access);
    }
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
    let leaf = Leaf {
        pde_addr,
        pde,
        pte_addr,
        pte,
        large,
        large_frame: 0xFFC0_0000,
        no_exec: false,
    };
    leaf.finish(mem, bus, mode, lin, access, fault(true))
}

/// The entries a walk ended at (low 32 bits; a large page's PDE is its PTE too).
struct Leaf {
    pde_addr: u32,
    pde: u32,
    pte_addr: u32,
    pte: u32,
    /// A 4 MiB (PSE) or 2 MiB (PAE) page, whose frame is `pte & large_frame`.
    large: bool,
    large_frame: u32,
    /// XD is set in an entry and IA32_EFER.NXE is on.
    no_exec: bool,
}

impl Leaf {
    /// What both walks do once the entries are read: the U/S, R/W (with CR0.WP)
    /// and XD checks (`protection` is their #PF), then the accessed bit in the
    /// PDE (of a 4 KiB page) and accessed/dirty in the PTE, written only when
    /// they change, as the processor does.
    fn finish(
        self,
        mem: &mut PhysMem,
        bus: &mut dyn Bus,
        mode: PagingMode,
        lin: u32,
        access: Access,
        protection: PageFault,
    ) -> Result<Translation, PageFault> {
        let Leaf {
            pde_addr,
            pde,
            pte_addr,
            pte,
            large,
            large_frame,
            no_exec,
        } = self;
        let user = pde & pte & US != 0;
        let writable = pde & pte & RW != 0;
        if access.user && !user {
            return Err(protection);
        }
        if access.write && !writable && (access.user || mode.cr0 & CR0_WP != 0) {
            return Err(protection);
        }
        if access.fetch && no_exec {
            return Err(protection);
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
            (pte & large_frame) | (lin & !large_frame & 0xFFFF_F000)
        } else {
            pte & 0xFFFF_F000
        };
        Ok(Translation {
            frame,
            user,
            writable,
            dirty: new & D != 0,
            global: pte & G != 0 && mode.cr4 & CR4_PGE != 0,
            no_exec,
            large,
        })
    }
}

/// PDPTE bits that must be 0 in a present PDPTE with PAE paging on a CPU without
/// long mode: bits 2:1 and 8:5, and bits 63:32 (physical addresses at or above
/// 4 GiB are not accepted, since guest memory lies below 4 GiB).
pub const PDPTE_RESERVED: u64 = 0xFFFF_FFFF_0000_01E6;

/// The XD (execute-disable) bit of a PAE PDE or PTE.
pub const XD: u64 = 1 << 63;

/// Reserved bits of a PAE PDE or PTE: bits 62:32 (addresses at or above 4 GiB,
/// treated as reserved since guest memory lies below 4 GiB) and XD unless
/// IA32_EFER.NXE is set.
fn pae_reserved(nxe: bool) -> u64 {
    0x7FFF_FFFF_0000_0000 | if nxe { 0 } else { XD }
}

/// Bits 20:13 of a PDE that maps a 2 MiB page (PS = 1) must be 0 (bit 12 is PAT).
const PDE_2M_RESERVED: u64 = 0x001F_E000;

/// Whether a present PDPTE has reserved bits set (MOV to CR0/CR3/CR4 then raises
/// #GP(0) instead of loading it).
pub fn pdpte_invalid(pdpte: u64) -> bool {
    pdpte & P as u64 != 0 && pdpte & PDPTE_RESERVED != 0
}

fn read64(mem: &mut PhysMem, bus: &mut dyn Bus, addr: u32) -> u64 {
    mem.read(addr, 4, bus) as u64 | (mem.read(addr + 4, 4, bus) as u64) << 32
}

/// The PAE walk: PDPTE (from `mode.pdpte`, selected by bits 31:30), PDE (bits
/// 29:21; a 2 MiB page when PS is set, whatever CR4.PSE says), PTE (bits 20:12).
fn walk_pae(
    mem: &mut PhysMem,
    bus: &mut dyn Bus,
    mode: PagingMode,
    lin: u32,
    access: Access,
) -> Result<Translation, PageFault> {
    let id = if access.fetch && mode.nxe { PF_ID } else { 0 };
    let base = (access.write as u32) << 1 | (access.user as u32) << 2 | id;
    let not_present = PageFault { error_code: base };
    let protection = PageFault {
        error_code: base | PF_P,
    };
    let reserved = PageFault {
        error_code: base | PF_P | PF_RSVD,
    };
    let pdpte = mode.pdpte[(lin >> 30) as usize];
    if pdpte & P as u64 == 0 {
        return Err(not_present);
    }
    let rsvd = pae_reserved(mode.nxe);
    let pde_addr = (pdpte as u32 & 0xFFFF_F000) | (lin >> 21 & 0x1FF) << 3;
    let pde = read64(mem, bus, pde_addr);
    if pde & P as u64 == 0 {
        return Err(not_present);
    }
    let large = pde & PS as u64 != 0;
    if pde & rsvd != 0 || large && pde & PDE_2M_RESERVED != 0 {
        return Err(reserved);
    }
    let (pte_addr, pte) = if large {
        (pde_addr, pde)
    } else {
        let a = (pde as u32 & 0xFFFF_F000) | (lin >> 12 & 0x1FF) << 3;
        let e = read64(mem, bus, a);
        if e & P as u64 == 0 {
            return Err(not_present);
        }
        if e & rsvd != 0 {
            return Err(reserved);
        }
        (a, e)
    };
    let leaf = Leaf {
        pde_addr,
        pde: pde as u32,
        pte_addr,
        pte: pte as u32,
        large,
        large_frame: 0xFFE0_0000,
        no_exec: mode.nxe && (pde | pte) & XD != 0,
    };
    leaf.finish(mem, bus, mode, lin, access, protection)
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
        (m, PagingMode::legacy(CR0_WP, 0x1000, CR4_PSE | CR4_PGE))
    }

    #[test]
    fn four_k_and_four_m_pages() {
        let (mut m, mode) = setup();
        let user_read = Access {
            write: false,
            user: true,
            fetch: false,
        };
        let t = walk(&mut m, &mut NullBus, mode, 0x5123, user_read).unwrap();
        assert_eq!(t.frame, 0x7000);
        assert!(t.user && !t.writable && !t.dirty);
        assert_eq!(m.read(0x2014, 4, &mut NullBus) & A, A);
        assert_eq!(m.read(0x1000, 4, &mut NullBus) & A, A);
        let sup_write = Access {
            write: true,
            user: false,
            fetch: false,
        };
        let t = walk(&mut m, &mut NullBus, mode, 0x0041_2345, sup_write).unwrap();
        assert_eq!(t.frame, 0x0041_2000);
        assert!(t.global && t.dirty && !t.user);
        assert_eq!(m.read(0x1004, 4, &mut NullBus) & (A | D), A | D);
    }

    #[test]
    fn fault_error_codes() {
        let (mut m, mut mode) = setup();
        let e = |w, u| Access {
            write: w,
            user: u,
            fetch: false,
        };
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
                fetch: false,
            },
        );
        assert_eq!(r.unwrap_err().error_code, 0);
    }

    const RD: Access = Access {
        write: false,
        user: false,
        fetch: false,
    };
    const WR: Access = Access {
        write: true,
        user: false,
        fetch: false,
    };
    const FETCH: Access = Access {
        write: false,
        user: false,
        fetch: true,
    };

    fn w64(m: &mut PhysMem, a: u32, v: u64) {
        m.write(a, 4, v as u32, &mut NullBus);
        m.write(a + 4, 4, (v >> 32) as u32, &mut NullBus);
    }

    /// PDPT at 0x1000 (only PDPTE 0 present), PD at 0x2000, PT at 0x3000.
    fn setup_pae() -> (PhysMem, PagingMode) {
        let mut m = PhysMem::new(8 << 20);
        let p = P as u64;
        let rw = (P | RW | US) as u64;
        w64(&mut m, 0x2000, 0x3000 | rw);
        // PDE 1: 2 MiB at 2 MiB -> physical 4 MiB, global.
        w64(&mut m, 0x2008, 0x40_0000 | rw | (PS | G) as u64);
        // PDE 2: 2 MiB, XD.
        w64(&mut m, 0x2010, 0x60_0000 | rw | PS as u64 | XD);
        // PTE 5: 0x5000 -> 0x7000; PTE 6: XD; PTE 7: bit 40 set (reserved).
        w64(&mut m, 0x3000 + 5 * 8, 0x7000 | rw);
        w64(&mut m, 0x3000 + 6 * 8, 0x8000 | p | XD);
        w64(&mut m, 0x3000 + 7 * 8, 0x9000 | p | 1 << 40);
        let mode = PagingMode {
            cr0: CR0_WP,
            cr3: 0x1000,
            cr4: CR4_PAE | CR4_PGE,
            pdpte: [0x2000 | p, 0, 0, 0],
            nxe: true,
        };
        (m, mode)
    }

    #[test]
    fn pae_4k_and_2m_pages() {
        let (mut m, mode) = setup_pae();
        let t = walk(&mut m, &mut NullBus, mode, 0x5123, WR).unwrap();
        assert_eq!(t.frame, 0x7000);
        assert!(t.user && t.writable && t.dirty && !t.global && !t.no_exec);
        assert_eq!(m.read(0x3028, 4, &mut NullBus) & (A | D), A | D);
        assert_eq!(m.read(0x2000, 4, &mut NullBus) & A, A);
        let t = walk(&mut m, &mut NullBus, mode, 0x0031_2345, RD).unwrap();
        assert_eq!(t.frame, 0x0051_2000);
        assert!(t.global && !t.dirty);
        assert_eq!(m.read(0x2008, 4, &mut NullBus) & (A | D), A);
    }

    #[test]
    fn pae_faults() {
        let (mut m, mut mode) = setup_pae();
        let code = |m: &mut PhysMem, mode, lin, a| {
            walk(m, &mut NullBus, mode, lin, a).unwrap_err().error_code
        };
        // Not present: PDPTE 1, PTE 0.
        assert_eq!(code(&mut m, mode, 0x4000_0000, RD), 0);
        assert_eq!(code(&mut m, mode, 0x0000, WR), PF_W);
        // Reserved address bit in a PTE.
        assert_eq!(code(&mut m, mode, 0x7000, RD), PF_P | PF_RSVD);
        // XD: data reads work, fetches fault with I/D; not-present fetches have I/D.
        let t = walk(&mut m, &mut NullBus, mode, 0x6000, RD).unwrap();
        assert!(t.no_exec);
        assert_eq!(code(&mut m, mode, 0x6000, FETCH), PF_P | PF_ID);
        assert_eq!(code(&mut m, mode, 0x40_0000, FETCH), PF_P | PF_ID);
        assert_eq!(code(&mut m, mode, 0x0000, FETCH), PF_ID);
        assert!(walk(&mut m, &mut NullBus, mode, 0x5000, FETCH).is_ok());
        // Without NXE, XD is a reserved bit and fetches carry no I/D.
        mode.nxe = false;
        assert_eq!(code(&mut m, mode, 0x6000, RD), PF_P | PF_RSVD);
        assert_eq!(code(&mut m, mode, 0x40_0000, FETCH), PF_P | PF_RSVD);
        assert_eq!(code(&mut m, mode, 0x0000, FETCH), 0);
        // Reserved bits 20:13 of a 2 MiB PDE.
        w64(&mut m, 0x2018, 0x60_2000 | (P | PS) as u64);
        assert_eq!(code(&mut m, mode, 0x60_0000, RD), PF_P | PF_RSVD);
    }

    #[test]
    fn pdpte_reserved_bits() {
        assert!(!pdpte_invalid(0x1000 | 1));
        assert!(!pdpte_invalid(0x1000 | 0x18 | 1));
        assert!(!pdpte_invalid(0xFFFF_FFFF_FFFF_FFFE));
        assert!(pdpte_invalid(0x1000 | 2 | 1));
        assert!(pdpte_invalid(0x1000 | 0x100 | 1));
        assert!(pdpte_invalid(1 << 63 | 1));
        assert!(pdpte_invalid(1 << 32 | 1));
    }
}

; PAE paging with NX: the PDPTE registers loaded from CR3 (and not reloaded when
; their memory changes), #GP(0) for reserved PDPTE bits on MOV to CR3/CR4, 64-bit
; PDEs and PTEs with 4 KiB and 2 MiB pages, accessed/dirty bits, global pages,
; #PF error codes with RSVD (reserved bits, XD without IA32_EFER.NXE) and I/D
; (instruction fetch from an XD page), and the CPUID bits that advertise it all.
%include "lib.inc"

PDPT  equ 0x100000              ; 4 PDPTEs (32-byte aligned)
PD0   equ 0x101000              ; PDPTE 0: linear 0-1 GiB
PT0   equ 0x102000              ; PDE 0: 4 KiB identity pages for 0-2 MiB
PT2   equ 0x103000              ; PDE 2: 4 KiB test pages at 4-6 MiB
PD1   equ 0x104000              ; PDPTE 1 (linear 1-2 GiB), filled in later

RW_PAGE   equ 0x401000          ; -> phys 0xB01000
NP_PAGE   equ 0x402000          ; not present
RSVD_PAGE equ 0x403000          ; bit 40 set in the PTE
NX_PAGE   equ 0x404000          ; XD -> phys 0xB04000

%define PTE2(lin) (PT2 + (((lin) >> 12) & 0x1FF) * 8)
%define PDE0(lin) (PD0 + ((lin) >> 21) * 8)

EFER equ 0xC0000080

main:
    ; ---- CPUID ----
    mov eax, 1
    cpuid
    and edx, 1 << 6
    EXPECT edx, 1 << 6, "cpuid.1:edx.pae"
    mov eax, 0x80000000
    cpuid
    EXPECT eax, 0x80000001, "cpuid.80000000h:eax max extended leaf"
    mov eax, 0x80000001
    cpuid
    and edx, 1 << 20
    EXPECT edx, 1 << 20, "cpuid.80000001h:edx.nx"

    ; ---- IA32_EFER ----
    mov ecx, EFER
    rdmsr
    EXPECT eax, 0, "efer after reset"
    mov eax, 1                                          ; SCE: reserved here
    xor edx, edx
    TRY wrmsr
    EXPECT_FAULT 13, 0, "wrmsr efer reserved bit #GP(0)"
    mov eax, 0x800
    mov edx, 1
    TRY wrmsr
    EXPECT_FAULT 13, 0, "wrmsr efer high dword #GP(0)"
    mov eax, 0x800
    xor edx, edx
    wrmsr
    rdmsr
    EXPECT eax, 0x800, "efer.nxe set"

    ; ---- tables (built before paging, physical = linear) ----
    mov ecx, 512
    mov edi, PT0
    mov eax, 3
.pt0:
    mov [edi], eax
    add eax, 0x1000
    add edi, 8
    loop .pt0
    mov dword [PDE0(0)], PT0 | 3
    mov dword [PDE0(0x200000)], 0x200000 | 0x83         ; 2 MiB identity
    mov dword [PDE0(0x400000)], PT2 | 3
    mov dword [PDE0(0x600000)], 0xA00000 | 0x83         ; 2 MiB 6 MiB -> 10 MiB
    mov dword [PDE0(0x800000)], 0x800000 | 0x183        ; 2 MiB identity, global
    mov dword [PDE0(0xA00000)], 0xA00000 | 0x83         ; 2 MiB identity
    mov dword [PDE0(0xC00000)], 0xC00000 | 0x83         ; 2 MiB identity, XD
    mov dword [PDE0(0xC00000) + 4], 0x80000000
    mov dword [PDE0(0xE00000)], 0xE00000 | 0x83         ; 2 MiB identity
    mov dword [PTE2(RW_PAGE)], 0xB01000 | 3
    mov dword [PTE2(RSVD_PAGE)], 0xB03000 | 3
    mov dword [PTE2(RSVD_PAGE) + 4], 0x100              ; bit 40
    mov dword [PTE2(NX_PAGE)], 0xB04000 | 3
    mov dword [PTE2(NX_PAGE) + 4], 0x80000000           ; XD
    mov dword [PD1], 0xA00000 | 0x83                    ; 1 GiB -> 10 MiB
    mov dword [PDPT], PD0 | 1
    mov dword [0xB01010], 0x11111111
    mov dword [0xB04000], 0xC3C3C3C3                    ; ret
    mov dword [0xA00010], 0xA0A0A0A0
    mov dword [0xA01010], 0xA1A1A1A1
    mov dword [0x800010], 0x88888888
    mov dword [0xE00010], 0xDDDDDDDD

    mov eax, PDPT
    mov cr3, eax
    mov eax, 0xA0                                       ; PAE | PGE
    mov cr4, eax
    mov eax, cr0
    or eax, 0x80010000                                  ; PG | WP
    mov cr0, eax
    EXPECT 1, 1, "pae paging on"

    ; ---- 4 KiB and 2 MiB pages ----
    EXPECT [RW_PAGE + 0x10], 0x11111111, "4 KiB page read"
    mov dword [RW_PAGE + 0x20], 0x22222222
    EXPECT [0xB01020], 0x22222222, "4 KiB page write lands in its frame (2 MiB alias)"
    EXPECT [0x700010 + 0x1000], 0x11111111, "2 MiB page maps 6 MiB -> 10 MiB"
    mov dword [0x600020], 0x33333333
    EXPECT [0xA00020], 0x33333333, "2 MiB page write"
    mov eax, [PTE2(RW_PAGE)]
    and eax, 0x60
    EXPECT eax, 0x60, "pte accessed and dirty"
    mov eax, [PDE0(RW_PAGE)]
    and eax, 0x60
    EXPECT eax, 0x20, "pde accessed"
    mov eax, [PDE0(0x600000)]
    and eax, 0x60
    EXPECT eax, 0x60, "2 MiB pde accessed and dirty"
    EXPECT [PTE2(RW_PAGE) + 4], 0, "a/d write-back leaves the high dword"

    ; ---- #PF: not present, reserved bits ----
    TRY mov eax, [NP_PAGE + 0x10]
    EXPECT_FAULT 14, 0, "read not-present pte #PF(0)"
    EXPECT [exc_cr2], NP_PAGE + 0x10, "not-present cr2"
    TRY mov dword [NP_PAGE + 0x20], 1
    EXPECT_FAULT 14, 2, "write not-present pte #PF(W)"
    TRY mov eax, [0x3FFF0000]
    EXPECT_FAULT 14, 0, "not-present pde #PF(0)"
    TRY mov eax, [0x40000010]
    EXPECT_FAULT 14, 0, "not-present pdpte #PF(0)"
    EXPECT [exc_cr2], 0x40000010, "not-present pdpte cr2"
    TRY mov eax, [RSVD_PAGE + 8]
    EXPECT_FAULT 14, 9, "pte reserved bit #PF(P|RSVD)"
    EXPECT [exc_cr2], RSVD_PAGE + 8, "reserved bit cr2"
    TRY mov dword [RSVD_PAGE], 1
    EXPECT_FAULT 14, 0xB, "pte reserved bit write #PF(P|W|RSVD)"
    mov dword [PDE0(0xE00000)], 0xE02000 | 0x83         ; bit 13: reserved in a 2 MiB PDE
    invlpg [0xE00000]
    TRY mov eax, [0xE00000]
    EXPECT_FAULT 14, 9, "2 MiB pde reserved bit #PF(P|RSVD)"

    ; ---- NX ----
    EXPECT [NX_PAGE], 0xC3C3C3C3, "data read from an XD page"
    mov dword [exc_vec], 0xFFFFFFFF
    mov dword [exc_resume], .nx_back
    jmp NX_PAGE
.nx_back:
    EXPECT [exc_vec], 14, "fetch from XD page #PF"
    EXPECT [exc_err], 0x11, "fetch from XD page error code P|I/D"
    EXPECT [exc_eip], NX_PAGE, "fetch from XD page eip"
    EXPECT [exc_cr2], NX_PAGE, "fetch from XD page cr2"
    mov dword [exc_vec], 0xFFFFFFFF
    mov dword [exc_resume], .nx2_back
    jmp 0xC00100
.nx2_back:
    EXPECT [exc_err], 0x11, "fetch from XD 2 MiB page #PF(P|I/D)"
    EXPECT [exc_cr2], 0xC00100, "fetch from XD 2 MiB page cr2"
    mov dword [exc_vec], 0xFFFFFFFF
    mov dword [exc_resume], .np_back
    jmp NP_PAGE
.np_back:
    EXPECT [exc_err], 0x10, "fetch from not-present page #PF(I/D)"
    mov dword [PTE2(NX_PAGE) + 4], 0
    invlpg [NX_PAGE]
    mov dword [exc_vec], 0xFFFFFFFF
    call NX_PAGE
    EXPECT [exc_vec], 0xFFFFFFFF, "xd cleared: the page executes"
    ; Back to XD: the cached executable translation goes with INVLPG.
    mov dword [PTE2(NX_PAGE) + 4], 0x80000000
    invlpg [NX_PAGE]
    mov dword [exc_resume], .nx3_back
    jmp NX_PAGE
.nx3_back:
    EXPECT [exc_err], 0x11, "xd set again: fetch faults"
    ; Without NXE, XD is a reserved bit (the WRMSR drops cached translations).
    mov ecx, EFER
    xor eax, eax
    xor edx, edx
    wrmsr
    TRY mov eax, [NX_PAGE]
    EXPECT_FAULT 14, 9, "xd without nxe #PF(P|RSVD)"
    mov dword [exc_vec], 0xFFFFFFFF
    mov dword [exc_resume], .nx4_back
    jmp NX_PAGE
.nx4_back:
    EXPECT [exc_err], 9, "fetch with xd without nxe #PF(P|RSVD), no I/D"
    mov eax, 0x800
    wrmsr

    ; ---- PDPTE registers ----
    mov dword [PDPT + 8], PD1 | 1
    TRY mov eax, [0x40000010]
    EXPECT_FAULT 14, 0, "pdpte written in memory: no effect before a cr3 load"
    mov eax, cr3
    mov cr3, eax
    EXPECT [0x40000010], 0xA0A0A0A0, "cr3 load picks up the pdpte"
    mov dword [PDPT + 8], 0
    EXPECT [0x40001010], 0xA1A1A1A1, "pdpte cleared in memory: still in use"
    mov eax, cr3
    mov cr3, eax
    TRY mov eax, [0x40001010]
    EXPECT_FAULT 14, 0, "cr3 load drops the cleared pdpte"
    mov dword [PDPT + 16], PD1 | 3                      ; bit 1 reserved
    mov eax, cr3
    TRY mov cr3, eax
    EXPECT_FAULT 13, 0, "pdpte reserved bit 1: mov cr3 #GP(0)"
    mov dword [PDPT + 16], PD1 | 0x101                  ; bit 8 reserved
    mov eax, cr3
    TRY mov cr3, eax
    EXPECT_FAULT 13, 0, "pdpte reserved bit 8: mov cr3 #GP(0)"
    mov dword [PDPT + 16], PD1 | 1
    mov dword [PDPT + 20], 1                            ; bit 32: above 4 GiB
    mov eax, cr3
    TRY mov cr3, eax
    EXPECT_FAULT 13, 0, "pdpte address above 4 GiB: mov cr3 #GP(0)"
    mov eax, 0xA0 & ~0x80
    TRY mov cr4, eax
    EXPECT_FAULT 13, 0, "pdpte reserved bits: mov cr4 (PGE change) #GP(0)"
    mov eax, cr4
    EXPECT eax, 0xA0, "cr4 unchanged after #GP"
    mov dword [PDPT + 16], 0x1E6                        ; not present: not checked
    mov dword [PDPT + 20], 0xFFFFFFFF
    mov eax, cr3
    TRY mov cr3, eax
    EXPECT [exc_vec], 0xFFFFFFFF, "not-present pdpte with reserved bits loads"
    mov dword [PDPT + 16], 0
    mov dword [PDPT + 20], 0
    mov eax, cr3
    mov cr3, eax

    ; ---- global pages ----
    EXPECT [0x800010], 0x88888888, "global 2 MiB page"
    EXPECT [0x600010], 0xA0A0A0A0, "non-global 2 MiB page"
    mov dword [PDE0(0x800000)], 0xE00000 | 0x183
    mov dword [PDE0(0x600000)], 0xE00000 | 0x83
    mov eax, cr3
    mov cr3, eax
    EXPECT [0x800010], 0x88888888, "cr3 load keeps the global page"
    EXPECT [0x600010], 0xDDDDDDDD, "cr3 load drops the non-global page"
    invlpg [0x800010]
    EXPECT [0x800010], 0xDDDDDDDD, "invlpg drops the global page"
    ; INVLPG of one address drops every 4 KiB piece of a 2 MiB page.
    mov dword [0x801010], 0xE1E1E1E1                  ; global PDE now maps 0xE00000
    mov dword [0xA01010], 0xA1A1A1A1
    mov dword [PDE0(0x600000)], 0xA00000 | 0x83
    invlpg [0x600000]
    EXPECT [0x600010], 0xA0A0A0A0, "2 MiB page remapped"
    EXPECT [0x601010], 0xA1A1A1A1, "2 MiB page remapped, second 4 KiB piece"
    mov dword [PDE0(0x600000)], 0xE00000 | 0x83
    invlpg [0x600010]
    EXPECT [0x601010], 0xE1E1E1E1, "invlpg of one address drops the whole 2 MiB page"

    ; ---- a bad PDPTE when PAE paging is turned on ----
    mov eax, cr0
    and eax, 0x7FFFFFFF
    mov cr0, eax
    EXPECT [0x800010], 0x88888888, "paging off: physical access"
    mov dword [PDPT + 24], PD1 | 0x21                   ; bit 5 reserved
    mov ebx, cr0
    or ebx, 0x80000000
    TRY mov cr0, ebx
    EXPECT_FAULT 13, 0, "pdpte reserved bit: mov cr0 (PG) #GP(0)"
    mov eax, cr0
    and eax, 0x80000000
    EXPECT eax, 0, "cr0.pg still clear"
    mov dword [PDPT + 24], 0
    mov cr0, ebx
    EXPECT [0x600010], 0xDDDDDDDD, "paging back on through the new pde"
    mov eax, cr0
    and eax, 0x7FFFFFFF
    mov cr0, eax
    jmp finish

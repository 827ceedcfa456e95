; Paging: 4 KiB and 4 MiB (PSE) pages, global pages (PGE), CR0.WP, accessed and
; dirty bits, INVLPG, CR3 reloads, and #PF error codes/CR2 for not-present, write,
; user, instruction-fetch and page-crossing cases at CPL 0 and CPL 3.
%include "lib.inc"

PD   equ 0x100000
PT0  equ 0x101000
NP_PAGE   equ 0x300000          ; not present
RO_PAGE   equ 0x301000          ; supervisor read-only
URW_PAGE  equ 0x302000          ; user read/write
URO_PAGE  equ 0x303000          ; user read-only
ALIAS     equ 0x304000          ; remapped by the INVLPG test
SUP_PAGE  equ 0x307000          ; supervisor read/write

%define PTE(lin) (PT0 + ((lin) >> 12) * 4)

main:
    call allow_report_ports
    ; PT0 maps 0-4 MiB identically, user read/write.
    mov ecx, 1024
    mov edi, PT0
    mov eax, 7
.pt:
    mov [edi], eax
    add eax, 0x1000
    add edi, 4
    loop .pt
    mov dword [PTE(NP_PAGE)], 0
    mov dword [PTE(RO_PAGE)], RO_PAGE | 1
    mov dword [PTE(URO_PAGE)], URO_PAGE | 5
    mov dword [PTE(ALIAS)], 0x305000 | 3
    mov dword [PTE(SUP_PAGE)], SUP_PAGE | 3
    mov dword [PD], PT0 | 7
    mov dword [PD + 4], 0x800000 | 0x83                 ; 4 MiB at 4 MiB -> phys 8 MiB
    mov dword [PD + 8], 0x800000 | 0x183                ; 4 MiB identity at 8 MiB, global
    mov dword [0x305000], 0x55555555
    mov dword [0x306000], 0x66666666
    mov dword [0xC00010], 0xCCCCCCCC
    mov dword [0x800010], 0x88888888

    mov eax, PD
    mov cr3, eax
    mov eax, 0x90                                       ; PSE | PGE
    mov cr4, eax
    mov eax, cr0
    or eax, 0x80010000                                  ; PG | WP
    mov cr0, eax
    EXPECT 1, 1, "paging on"

    ; ---- supervisor faults ----
    TRY mov eax, [NP_PAGE + 0x10]
    EXPECT_FAULT 14, 0, "read not-present page #PF(0)"
    EXPECT [exc_cr2], NP_PAGE + 0x10, "read not-present cr2"
    TRY mov dword [NP_PAGE + 0x20], 1
    EXPECT_FAULT 14, 2, "write not-present page #PF(W)"
    EXPECT [exc_cr2], NP_PAGE + 0x20, "write not-present cr2"
    TRY mov dword [RO_PAGE + 4], 1
    EXPECT_FAULT 14, 3, "supervisor write to read-only page with WP #PF(P|W)"
    EXPECT [exc_cr2], RO_PAGE + 4, "read-only write cr2"
    TRY mov dword [URO_PAGE], 1
    EXPECT_FAULT 14, 3, "supervisor write to user read-only page with WP"
    mov eax, cr0
    and eax, ~0x10000
    mov cr0, eax
    TRY mov dword [RO_PAGE + 4], 0x12345678
    EXPECT [exc_vec], 0xFFFFFFFF, "supervisor write to read-only page without WP"
    EXPECT [RO_PAGE + 4], 0x12345678, "write without WP landed"
    or eax, 0x10000
    mov cr0, eax
    mov dword [exc_resume], .fetch_back
    jmp NP_PAGE + 0x40
.fetch_back:
    EXPECT [exc_vec], 14, "fetch from not-present page #PF"
    EXPECT [exc_err], 0, "fetch #PF error code"
    EXPECT [exc_eip], NP_PAGE + 0x40, "fetch #PF eip is the target"
    EXPECT [exc_cr2], NP_PAGE + 0x40, "fetch #PF cr2"
    ; A write crossing into a read-only page faults before writing either page.
    mov dword [URW_PAGE + 0xFFC], 0xAAAAAAAA
    TRY mov dword [URW_PAGE + 0xFFE], 0x11112222
    EXPECT_FAULT 14, 3, "page-crossing write #PF"
    EXPECT [exc_cr2], URO_PAGE, "page-crossing write cr2 is the second page"
    EXPECT [URW_PAGE + 0xFFC], 0xAAAAAAAA, "page-crossing write left the first page"

    ; ---- accessed and dirty bits ----
    mov eax, [PTE(URW_PAGE)]
    and eax, 0x60
    EXPECT eax, 0x60, "write sets accessed and dirty"
    mov eax, [URO_PAGE]
    mov eax, [PTE(URO_PAGE)]
    and eax, 0x60
    EXPECT eax, 0x20, "read sets accessed only"
    mov eax, [PD]
    and eax, 0x20
    EXPECT eax, 0x20, "pde accessed"
    mov eax, [PD + 4]
    mov dword [0x400010], 0xCAFEF00D
    EXPECT [0x800010], 0xCAFEF00D, "4 MiB page maps 4 MiB -> 8 MiB"
    mov eax, [PD + 4]
    and eax, 0x60
    EXPECT eax, 0x60, "4 MiB pde accessed and dirty"

    ; ---- INVLPG and CR3 reloads ----
    EXPECT [ALIAS], 0x55555555, "alias maps frame 0x305000"
    mov dword [PTE(ALIAS)], 0x306000 | 3
    invlpg [ALIAS]
    EXPECT [ALIAS], 0x66666666, "invlpg picks up the new pte"
    mov dword [PD + 4], 0xC00000 | 0x83                 ; non-global 4 MiB page
    mov eax, cr3
    mov cr3, eax
    EXPECT [0x400010], 0xCCCCCCCC, "cr3 reload drops non-global entries"
    mov eax, [0x800010]                                 ; cache the global page
    mov dword [PD + 8], 0xC00000 | 0x183
    mov eax, cr3
    mov cr3, eax
    EXPECT [0x800010], 0xCAFEF00D, "cr3 reload keeps global entries"
    invlpg [0x800010]
    EXPECT [0x800010], 0xCCCCCCCC, "invlpg drops a global entry"
    mov dword [PD + 8], 0x800000 | 0x183
    invlpg [0x800010]

    ; ---- user faults ----
    SET_IDT 0x81, exit3_fn, 0xEE
    TO_RING3 ring3
ring3:
    mov ax, SEL_DATA3 | 3
    mov ds, ax
    mov es, ax
    TRY mov eax, [SUP_PAGE]
    EXPECT_FAULT 14, 5, "user read of supervisor page #PF(P|U)"
    EXPECT [exc_cr2], SUP_PAGE, "user read of supervisor page cr2"
    EXPECT [exc_cs], SEL_CODE3 | 3, "user #PF frame cs"
    TRY mov dword [URO_PAGE + 8], 1
    EXPECT_FAULT 14, 7, "user write of read-only page #PF(P|W|U)"
    TRY mov dword [RO_PAGE], 1
    EXPECT_FAULT 14, 7, "user write of supervisor read-only page"
    TRY mov eax, [NP_PAGE]
    EXPECT_FAULT 14, 4, "user read of not-present page #PF(U)"
    TRY mov dword [URW_PAGE], 0x77
    EXPECT [exc_vec], 0xFFFFFFFF, "user write of user page"
    mov dword [exc_resume], .ufetch_back
    jmp SUP_PAGE
.ufetch_back:
    EXPECT [exc_err], 5, "user fetch from supervisor page #PF(P|U)"
    EXPECT [exc_eip], SUP_PAGE, "user fetch #PF eip"
    int 0x81

after_ring3:
    ; Turning paging off flushes the TLB; identity addresses work again.
    mov eax, cr0
    and eax, 0x7FFFFFFF
    mov cr0, eax
    EXPECT [NP_PAGE], 0, "paging off: physical access"
    jmp finish

exit3_fn:
    mov ax, SEL_DATA0
    mov ds, ax
    mov es, ax
    mov esp, STACK0_TOP
    jmp after_ring3

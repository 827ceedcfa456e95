; Exceptions at CPL 0 without paging: vectors, error codes and pushed EIPs for
; #UD, #GP, #NP, #SS, #TS, #NM, INT3/INTO traps, IDT faults, plus the x87 probe,
; real-mode far transfers and IRET, and the system instructions' results.
%define HAS_REAL_TESTS
%include "lib.inc"

    bits 16
; Real mode: far CALL/RETF, far JMP, INT through the IVT and IRET. Results are
; stored and checked once in protected mode.
real_tests:
    mov word [rm_far], 0
    call 0x0000:rm_far_fn
    mov [rm_far], ax
    jmp 0x0000:.after_jmp
    mov word [rm_jmp], 0xBAD
.after_jmp:
    mov word [rm_jmp], 0x600D
    mov word [0x80 * 4], rm_int_fn
    mov word [0x80 * 4 + 2], 0
    pushf
    pop ax
    mov [rm_fl_before], ax
    int 0x80
    mov [rm_int], bx
    pushf
    pop ax
    mov [rm_fl_after], ax
    ret
rm_far_fn:
    mov ax, 0x1234
    retf
rm_int_fn:
    mov bx, sp
    mov bx, [bx + 2]          ; pushed CS
    add bx, 0x4321
    iret

    bits 32
main:
    ; ---- real-mode results ----
    movzx eax, word [rm_far]
    EXPECT eax, 0x1234, "real mode far call/retf"
    movzx eax, word [rm_jmp]
    EXPECT eax, 0x600D, "real mode far jmp"
    movzx eax, word [rm_int]
    EXPECT eax, 0x4321, "real mode int pushes CS, iret returns"
    movzx eax, word [rm_fl_after]
    movzx ebx, word [rm_fl_before]
    EXPECT eax, ebx, "real mode iret restores flags"

    ; ---- #UD ----
    TRY ud2
    EXPECT_FAULT 6, NOERR, "ud2 #UD"
    TRY db 0xF0, 0x90                       ; lock nop
    EXPECT_FAULT 6, NOERR, "lock nop #UD"
    TRY db 0xF0, 0x89, 0x03                 ; lock mov [ebx], eax
    EXPECT_FAULT 6, NOERR, "lock mov #UD"
    TRY rsm
    EXPECT_FAULT 6, NOERR, "rsm #UD"
    TRY mov eax, cr1
    EXPECT_FAULT 6, NOERR, "mov from cr1 #UD"

    ; ---- #GP / #NP / #SS from segment loads ----
    mov ax, 0x1F8
    TRY mov ds, ax
    EXPECT_FAULT 13, 0x1F8, "ds beyond gdt limit #GP(sel)"
    mov ax, SEL_TSS
    TRY mov es, ax
    EXPECT_FAULT 13, SEL_TSS, "es = tss #GP(sel)"
    mov ax, SEL_CODE0RO
    TRY mov fs, ax
    EXPECT_FAULT 13, SEL_CODE0RO, "fs = execute-only code #GP(sel)"
    mov ax, SEL_NP
    TRY mov gs, ax
    EXPECT_FAULT 11, SEL_NP, "gs not present #NP(sel)"
    mov ax, SEL_DATA0RO
    TRY mov ss, ax
    EXPECT_FAULT 13, SEL_DATA0RO, "ss read-only #GP(sel)"
    mov ax, SEL_DATA1
    TRY mov ss, ax
    EXPECT_FAULT 13, SEL_DATA1, "ss dpl 1 #GP(sel)"
    mov ax, 0
    TRY mov ss, ax
    EXPECT_FAULT 13, 0, "ss null #GP(0)"
    mov ax, SEL_CODE0
    mov es, ax
    mov eax, [es:gdt + 8]
    EXPECT eax, 0x0000FFFF, "es = readable code loads and reads"
    mov ax, SEL_DATA0
    mov es, ax
    ; not-present stack segment: #SS(sel)
    mov ax, SEL_NP
    TRY mov ss, ax
    EXPECT_FAULT 12, SEL_NP, "ss not present #SS(sel)"
    ; Stack limit: SS base 0x60000 limit 0xFFF; read beyond it -> #SS(0).
    mov ax, SEL_SMALL
    mov ss, ax
    mov esp, 0xF00
    TRY mov eax, [esp + 0x200]
    mov bx, SEL_DATA0
    mov ss, bx
    mov esp, STACK0_TOP
    EXPECT_FAULT 12, 0, "ss limit #SS(0)"
    mov eax, [exc_frame]
    EXPECT eax, 0xF00 - 12, "#SS frame on the small stack"
    ; Data segment limit and null segment: #GP(0).
    mov ax, SEL_SMALL
    mov es, ax
    TRY mov eax, [es:0xFFE]
    EXPECT_FAULT 13, 0, "es limit #GP(0)"
    mov ax, 0
    mov es, ax
    TRY mov eax, [es:0]
    EXPECT_FAULT 13, 0, "null es access #GP(0)"
    TRY mov [cs:try_at], eax
    EXPECT_FAULT 13, 0, "write to code segment #GP(0)"
    mov ax, SEL_DATA0
    mov es, ax

    ; ---- far transfers in protected mode ----
    TRY jmp SEL_DATA0:0
    EXPECT_FAULT 13, SEL_DATA0, "jmp far to data #GP(sel)"
    TRY jmp 0:0
    EXPECT_FAULT 13, 0, "jmp far null #GP(0)"
    TRY jmp SEL_TSS_BAD:0
    EXPECT_FAULT 10, SEL_TSS_BAD, "jmp to small tss #TS(sel)"
    TRY jmp SEL_TSS:0
    EXPECT_FAULT 13, SEL_TSS, "jmp to busy tss #GP(sel)"
    call SEL_CONF0:conf_fn
    EXPECT eax, SEL_CONF0, "call conforming code keeps CPL (cs rpl 0)"
    call SEL_CODE0:near_far_fn
    EXPECT eax, 0x55, "call far/retf same level"
    push dword SEL_CODE0
    push dword .retf_target
    retf
.retf_target:
    mov eax, esp
    EXPECT eax, STACK0_TOP, "retf pops cs:eip"
    mov dword [far_ptr], .m_target
    mov word [far_ptr + 4], SEL_CODE0
    jmp far [far_ptr]
    EXPECT 0, 1, "jmp m16:32 did not jump"
.m_target:
    EXPECT 1, 1, "jmp m16:32"
    ; 16-bit code segment: call into it, retf (16-bit) back through a 32-bit ptr.
    call SEL_CODE16:code16_fn
    EXPECT eax, 0x16, "call into 16-bit code and retf"

    ; ---- IDT faults ----
    TRY int 0x40                              ; IDT entry 0x40 is zero: not a gate
    EXPECT_FAULT 13, 0x40 * 8 + 2, "int to empty idt entry #GP(idt)"
    mov word [idt_desc], 0x3F * 8 + 7
    lidt [idt_desc]
    TRY int 0x40
    EXPECT_FAULT 13, 0x40 * 8 + 2, "int beyond idt limit #GP(idt)"
    mov word [idt_desc], 256 * 8 - 1
    lidt [idt_desc]
    SET_IDT 0x41, int41_fn, 0x0E              ; not present
    TRY int 0x41
    EXPECT_FAULT 11, 0x41 * 8 + 2, "int to not-present gate #NP(idt)"
    SET_IDT 0x41, int41_fn, 0x8E
    TRY int 0x41
    EXPECT [exc_vec], 0xFFFFFFFF, "int to present gate runs"
    EXPECT [int41_ran], 1, "int 0x41 handler ran"

    ; ---- traps ----
    TRY int3
    EXPECT_TRAP 3, NOERR, "int3 trap"
    mov al, 0x7F
    add al, 1                                 ; OF = 1
    TRY into
    EXPECT_TRAP 4, NOERR, "into trap"
    xor eax, eax                              ; OF = 0
    TRY into
    EXPECT [exc_vec], 0xFFFFFFFF, "into without OF"

    ; ---- x87 presence and #NM ----
    fninit
    mov word [fpu_word], 0xFFFF
    fnstsw [fpu_word]
    movzx eax, word [fpu_word]
    EXPECT eax, 0, "fnstsw after fninit"
    fnstcw [fpu_word]
    movzx eax, word [fpu_word]
    EXPECT eax, 0x37F, "fnstcw after fninit"
    mov word [fpu_word], 0x27F
    fldcw [fpu_word]
    mov ax, 0xFFFF
    fnstsw ax
    movzx eax, ax
    EXPECT eax, 0, "fnstsw ax"
    fnstcw [fpu_word]
    movzx eax, word [fpu_word]
    EXPECT eax, 0x27F, "fldcw/fnstcw"
    mov eax, cr0
    or eax, 4                                 ; EM
    mov cr0, eax
    TRY fninit
    EXPECT_FAULT 7, NOERR, "fninit with EM #NM"
    TRY wait
    EXPECT [exc_vec], 0xFFFFFFFF, "wait with EM only: no fault"
    and eax, ~4
    or eax, 8                                 ; TS
    mov cr0, eax
    TRY fnstsw ax
    EXPECT_FAULT 7, NOERR, "fnstsw with TS #NM"
    TRY wait
    EXPECT [exc_vec], 0xFFFFFFFF, "wait with TS, MP clear: no fault"
    or eax, 2                                 ; MP
    mov cr0, eax
    TRY wait
    EXPECT_FAULT 7, NOERR, "wait with TS and MP #NM"
    clts
    mov eax, cr0
    and eax, 8
    EXPECT eax, 0, "clts clears TS"
    TRY fwait
    EXPECT [exc_vec], 0xFFFFFFFF, "wait after clts"
    mov eax, cr0
    and eax, ~0xE
    mov cr0, eax

    ; ---- descriptor-table and task registers ----
    sgdt [sgdt_buf]
    movzx eax, word [sgdt_buf]
    EXPECT eax, gdt_end - gdt - 1, "sgdt limit"
    EXPECT [sgdt_buf + 2], gdt, "sgdt base"
    o16 sidt [sgdt_buf]
    EXPECT [sgdt_buf + 2], IDT_BASE, "sidt (16-bit) stores the 32-bit base"
    str ax
    movzx eax, ax
    EXPECT eax, SEL_TSS, "str"
    mov eax, [gdt + SEL_TSS + 4]
    and eax, 0xF00
    EXPECT eax, 0xB00, "ltr marked the tss busy"
    sldt ax
    movzx eax, ax
    EXPECT eax, 0, "sldt initially 0"
    ; LDT with one data segment (LDT entry 1 = selector 0x0C).
    mov dword [LDT_BASE + 8], 0x0000FFFF
    mov dword [LDT_BASE + 12], 0x00CF9200
    mov ax, SEL_LDT
    lldt ax
    mov ax, 0x0C
    mov fs, ax
    mov dword [fs:0x30000], 0x11223344
    EXPECT [0x30000], 0x11223344, "lldt and an ldt data segment"
    mov ax, SEL_DATA0
    TRY lldt ax
    EXPECT_FAULT 13, SEL_DATA0, "lldt non-ldt #GP(sel)"
    mov ax, SEL_DATA0
    TRY ltr ax
    EXPECT_FAULT 13, SEL_DATA0, "ltr data #GP(sel)"
    mov ax, SEL_TSS
    TRY ltr ax
    EXPECT_FAULT 13, SEL_TSS, "ltr busy tss #GP(sel)"
    mov ax, 0
    lldt ax
    mov ax, 0x0C
    TRY mov gs, ax
    EXPECT_FAULT 13, 0x0C, "ldt selector with null ldtr #GP(sel)"

    ; ---- LAR / LSL / VERR / VERW / ARPL ----
    mov ebx, 0xFFFFFFFF
    mov ax, SEL_CODE0
    lar ebx, ax
    EXPECT_IF z, "lar code: ZF=1"
    EXPECT ebx, 0x00CF9B00, "lar code (accessed)"
    mov ax, SEL_TSS
    lsl ebx, ax
    EXPECT ebx, 0x67, "lsl tss"
    mov ax, SEL_DATA0
    lsl ebx, ax
    EXPECT ebx, 0xFFFFFFFF, "lsl page-granular limit"
    mov ebx, 0x12345678
    mov ax, 0x1F8
    lar ebx, ax
    EXPECT_IF nz, "lar beyond limit: ZF=0"
    EXPECT ebx, 0x12345678, "lar beyond limit leaves dest"
    mov ax, SEL_TSS_DF
    lar ebx, ax
    EXPECT_IF z, "lar available tss: ZF=1"
    EXPECT ebx, 0x00008900, "lar tss rights"
    mov ax, SEL_DATA1 | 3
    lsl ebx, ax
    EXPECT_IF nz, "lsl dpl 1 with rpl 3: ZF=0"
    mov ax, SEL_CONF0 | 3
    lsl ebx, ax
    EXPECT_IF z, "lsl conforming code with rpl 3: ZF=1"
    mov ax, SEL_NP
    verr ax
    EXPECT_IF z, "verr readable (even not present)"
    mov ax, SEL_CODE0RO
    verr ax
    EXPECT_IF nz, "verr execute-only: ZF=0"
    mov ax, SEL_CODE0
    verw ax
    EXPECT_IF nz, "verw code: ZF=0"
    mov ax, SEL_DATA0RO
    verw ax
    EXPECT_IF nz, "verw read-only: ZF=0"
    mov ax, SEL_DATA0
    verw ax
    EXPECT_IF z, "verw writable data: ZF=1"
    mov ax, SEL_DATA1 | 3
    verw ax
    EXPECT_IF nz, "verw dpl 1 with rpl 3: ZF=0"
    mov ax, 0x0010
    mov bx, 0x0003
    arpl ax, bx
    EXPECT_IF z, "arpl raises rpl: ZF=1"
    movzx eax, ax
    EXPECT eax, 0x13, "arpl result"
    mov ax, 0x0013
    arpl ax, bx
    EXPECT_IF nz, "arpl equal rpl: ZF=0"

    ; ---- control and debug registers ----
    mov eax, cr4
    or eax, 0x20                              ; PAE (paging off: no PDPTE load)
    TRY mov cr4, eax
    EXPECT [exc_vec], 0xFFFFFFFF, "cr4.pae accepted"
    mov ebx, cr4
    EXPECT ebx, eax, "cr4.pae reads back"
    and eax, ~0x20
    mov cr4, eax
    mov ebx, cr4
    EXPECT ebx, eax, "cr4.pae cleared"
    mov eax, 0x1                              ; VME: not supported
    TRY mov cr4, eax
    EXPECT_FAULT 13, 0, "cr4.vme without vme #GP(0)"
    mov eax, 0x698                            ; OSXMMEXCPT | OSFXSR | PSE | PGE | DE
    mov cr4, eax
    mov ebx, cr4
    EXPECT ebx, 0x698, "cr4 osxmmexcpt/osfxsr/pse/pge/de"
    TRY mov eax, dr4
    EXPECT_FAULT 6, NOERR, "dr4 with cr4.de #UD"
    xor eax, eax
    mov cr4, eax
    mov eax, 0x12345678
    mov dr0, eax
    mov ebx, dr0
    EXPECT ebx, 0x12345678, "dr0"
    mov eax, dr4
    EXPECT eax, 0xFFFF0FF0, "dr4 aliases dr6"
    mov eax, dr7
    EXPECT eax, 0x400, "dr7 reset value"
    smsw ax
    movzx eax, ax
    EXPECT eax, 0x0011, "smsw (PE, ET)"
    mov ax, 0x000A                            ; MP | TS, PE clear
    lmsw ax
    mov eax, cr0
    and eax, 0xF
    EXPECT eax, 0xB, "lmsw cannot clear PE"
    clts
    mov eax, cr0
    and eax, ~2
    mov cr0, eax
    mov eax, cr0
    mov ebx, eax
    or ebx, 0x20000000                        ; NW without CD
    and ebx, ~0x40000000
    TRY mov cr0, ebx
    EXPECT_FAULT 13, 0, "cr0 nw without cd #GP(0)"

    ; ---- CPUID / RDTSC / MSRs ----
    xor eax, eax
    cpuid
    EXPECT eax, 2, "cpuid max leaf"
    EXPECT ebx, "Genu", "cpuid vendor ebx"
    EXPECT edx, "ineI", "cpuid vendor edx"
    EXPECT ecx, "ntel", "cpuid vendor ecx"
    mov eax, 1
    cpuid
    EXPECT eax, 0x633, "cpuid signature"
    EXPECT edx, 0x0788B97D, "cpuid features (fpu de pse tsc msr pae cx8 sep mtrr pge cmov clfsh mmx fxsr sse sse2)"
    EXPECT ebx, 0x400, "cpuid clflush line size 32"
    rdtsc
    mov ebx, eax
    rdtsc
    cmp eax, ebx
    EXPECT_IF a, "rdtsc advances"
    mov ecx, 0x174
    mov eax, 0x08
    xor edx, edx
    wrmsr
    xor eax, eax
    rdmsr
    EXPECT eax, 0x08, "wrmsr/rdmsr sysenter_cs"
    mov ecx, 0x12345
    TRY rdmsr
    EXPECT_FAULT 13, 0, "rdmsr unknown #GP(0)"
    wbinvd
    invd
    EXPECT 1, 1, "wbinvd/invd"

    jmp finish

conf_fn:
    mov eax, cs
    retf
near_far_fn:
    mov eax, 0x55
    retf
int41_fn:
    mov dword [int41_ran], 1
    iretd

    bits 16
code16_fn:
    mov eax, 0x16
    o32 retf
    bits 32

    align 4
rm_far:       dw 0
rm_jmp:       dw 0
rm_int:       dw 0
rm_fl_before: dw 0
rm_fl_after:  dw 0
fpu_word:     dw 0
far_ptr:      dd 0, 0
sgdt_buf:     dd 0, 0
int41_ran:    dd 0

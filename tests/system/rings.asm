; Privilege levels: IRET to ring 3, interrupt and trap gates back to ring 0 with
; the stack from TSS.ESP0, 386 and 286 call gates with parameter copying and RETF
; imm16 to the outer level (nulling DPL 0 data segments), conforming code,
; privileged instructions at CPL 3, the TSS I/O bitmap, SYSENTER/SYSEXIT, CR4.TSD
; and IOPL 3. Ring 3 reports through ports 0xE9/0xEA, which the I/O bitmap allows.
%include "lib.inc"

SYSENTER_STACK equ 0x8F000

main:
    call allow_report_ports

    SET_IDT 0x80, int80_fn, 0xEE            ; interrupt gate, DPL 3
    SET_IDT 0x82, int80_fn, 0xEF            ; trap gate, DPL 3
    SET_IDT 0x81, exit3_fn, 0xEE
    SET_IDT 0x30, int80_fn, 0x8E            ; DPL 0
    SET_GATE gdt, SEL_SLOT50, SEL_CODE0, gate_fn, 0xEC, 2     ; 386 call gate, DPL 3
    SET_GATE gdt, SEL_SLOT40, SEL_CODE0, gate16_fn, 0xE4, 1   ; 286 call gate, DPL 3

    mov ecx, 0x174
    mov eax, SEL_CODE0
    xor edx, edx
    wrmsr
    mov ecx, 0x175
    mov eax, SYSENTER_STACK
    wrmsr
    mov ecx, 0x176
    mov eax, sysenter_fn
    wrmsr

    ; Bad returns to ring 3 from ring 0.
    push dword SEL_DATA0                    ; SS with RPL 0 for a ring 3 return
    push dword STACK3_TOP
    push dword SEL_CODE3 | 3
    push dword 0
    TRY retf
    add esp, 16
    EXPECT_FAULT 13, SEL_DATA0, "retf to ring 3 with ring 0 ss #GP(ss)"
    push dword SEL_DATA3 | 3
    push dword STACK3_TOP
    pushfd
    push dword SEL_CODE3                    ; RPL 0 but DPL 3: non-conforming mismatch
    push dword 0
    TRY iretd
    add esp, 20
    EXPECT_FAULT 13, SEL_CODE3, "iret to dpl 3 code with rpl 0 #GP(cs)"
    push dword SEL_DATA3 | 3
    push dword STACK3_TOP
    pushfd
    push dword SEL_CODE3 | 3
    push dword 0x7FFFFFFF
    mov word [gdt + SEL_CODE3], 0xFFFF      ; 64 KiB, byte granular
    and byte [gdt + SEL_CODE3 + 6], 0x40
    TRY iretd
    add esp, 20
    EXPECT_FAULT 13, 0, "iret beyond cs limit #GP(0)"
    mov byte [gdt + SEL_CODE3 + 6], 0xCF

    mov dword [exit_target], part2
    push dword SEL_DATA3 | 3
    push dword STACK3_TOP
    pushfd
    or dword [esp], 0x200                   ; IF = 1 in ring 3
    push dword SEL_CODE3 | 3
    push dword ring3_a
    iretd

ring3_a:
    mov eax, ds
    mov ebx, es
    mov ecx, cs
    mov edx, ss
    mov si, SEL_DATA3 | 3
    mov ds, si
    mov es, si
    mov fs, si
    mov gs, si
    EXPECT eax, 0, "iret to ring 3 nulls ds (dpl 0)"
    EXPECT ebx, 0, "iret to ring 3 nulls es (dpl 0)"
    EXPECT ecx, SEL_CODE3 | 3, "ring 3 cs"
    EXPECT edx, SEL_DATA3 | 3, "ring 3 ss"
    mov eax, esp
    EXPECT eax, STACK3_TOP, "ring 3 esp"

    ; ---- interrupt and trap gates from ring 3 ----
    mov [r3_esp], esp
    TRY int 0x80
    EXPECT [i80_esp], STACK0_TOP - 20, "int from ring 3 uses tss esp0"
    EXPECT [i80_eip], [try_next], "int frame eip"
    EXPECT [i80_cs], SEL_CODE3 | 3, "int frame cs"
    EXPECT [i80_esp3], [r3_esp], "int frame esp"
    EXPECT [i80_ss], SEL_DATA3 | 3, "int frame ss"
    mov eax, [i80_fl]
    and eax, 0x200
    EXPECT eax, 0x200, "int frame eflags has IF"
    EXPECT [i80_hcs], SEL_CODE0, "handler cs"
    EXPECT [i80_hss], SEL_DATA0, "handler ss from tss"
    mov eax, [i80_hfl]
    and eax, 0x200
    EXPECT eax, 0, "interrupt gate clears IF"
    int 0x82
    mov eax, [i80_hfl]
    and eax, 0x200
    EXPECT eax, 0x200, "trap gate keeps IF"
    pushfd
    pop eax
    and eax, 0x200
    EXPECT eax, 0x200, "iret back to ring 3 restores IF"

    ; ---- privileged instructions at CPL 3 ----
    TRY cli
    EXPECT_FAULT 13, 0, "cli at cpl 3 iopl 0"
    EXPECT [exc_cs], SEL_CODE3 | 3, "#GP frame cs from ring 3"
    EXPECT [exc_ss], SEL_DATA3 | 3, "#GP frame ss from ring 3"
    EXPECT [exc_esp], [r3_esp], "#GP frame esp from ring 3"
    TRY hlt
    EXPECT_FAULT 13, 0, "hlt at cpl 3"
    TRY mov cr0, eax
    EXPECT_FAULT 13, 0, "mov cr0 at cpl 3"
    TRY mov eax, cr3
    EXPECT_FAULT 13, 0, "mov from cr3 at cpl 3"
    TRY mov eax, dr7
    EXPECT_FAULT 13, 0, "mov from dr7 at cpl 3"
    TRY lgdt [gdt_desc]
    EXPECT_FAULT 13, 0, "lgdt at cpl 3"
    TRY lidt [idt_desc]
    EXPECT_FAULT 13, 0, "lidt at cpl 3"
    TRY lmsw ax
    EXPECT_FAULT 13, 0, "lmsw at cpl 3"
    TRY clts
    EXPECT_FAULT 13, 0, "clts at cpl 3"
    TRY invlpg [0]
    EXPECT_FAULT 13, 0, "invlpg at cpl 3"
    TRY wbinvd
    EXPECT_FAULT 13, 0, "wbinvd at cpl 3"
    TRY rdmsr
    EXPECT_FAULT 13, 0, "rdmsr at cpl 3"
    TRY wrmsr
    EXPECT_FAULT 13, 0, "wrmsr at cpl 3"
    TRY sysexit
    EXPECT_FAULT 13, 0, "sysexit at cpl 3"
    mov ax, SEL_TSS
    TRY ltr ax
    EXPECT_FAULT 13, 0, "ltr at cpl 3"
    TRY in al, 0x80
    EXPECT_FAULT 13, 0, "in from a port the bitmap denies"
    TRY out 0xE8, al
    EXPECT_FAULT 13, 0, "out to a port the bitmap denies"
    TRY int 0x30
    EXPECT_FAULT 13, 0x30 * 8 + 2, "int to a dpl 0 gate #GP(idt)"
    mov ax, SEL_DATA0
    TRY mov ds, ax
    EXPECT_FAULT 13, SEL_DATA0, "load dpl 0 data at cpl 3 #GP(sel)"
    TRY sgdt [r3_buf]
    EXPECT [exc_vec], 0xFFFFFFFF, "sgdt at cpl 3 allowed"
    TRY rdtsc
    EXPECT [exc_vec], 0xFFFFFFFF, "rdtsc at cpl 3 without tsd"
    pushfd
    pop eax
    mov ebx, eax
    xor eax, 0x3200                         ; try to flip IF and IOPL
    push eax
    popfd
    pushfd
    pop ecx
    EXPECT ecx, ebx, "popfd at cpl 3 leaves IF and IOPL"

    ; ---- conforming code and far calls ----
    call SEL_CONF0:conf_fn
    EXPECT eax, SEL_CONF0 | 3, "conforming code runs at cpl 3"
    TRY call SEL_CODE0:conf_fn
    EXPECT_FAULT 13, SEL_CODE0, "call dpl 0 code from cpl 3 #GP(sel)"
    TRY jmp (SEL_SLOT50 | 3):0
    EXPECT_FAULT 13, SEL_CODE0, "jmp through call gate to inner level #GP(cs)"

    ; ---- 386 call gate with two parameters ----
    push dword 0x1111
    push dword 0x2222
    mov [r3_esp], esp
    call (SEL_SLOT50 | 3):0                 ; the gate nulls DS on return: no TRY
.gate_ret:
    mov eax, ds
    mov ebx, es
    mov ecx, fs
    mov dx, SEL_DATA3 | 3
    mov ds, dx
    mov es, dx
    mov fs, dx
    mov edx, esp
    EXPECT eax, 0, "retf to ring 3 nulls ds"
    EXPECT ebx, 0, "retf to ring 3 nulls es"
    EXPECT ecx, SEL_CONF0, "retf to ring 3 keeps conforming fs"
    mov eax, [r3_esp]
    add eax, 8
    EXPECT edx, eax, "retf imm16 releases the parameters"
    EXPECT [g_esp], STACK0_TOP - 24, "call gate stack from tss"
    EXPECT [g_eip], .gate_ret, "call gate frame eip"
    EXPECT [g_cs], SEL_CODE3 | 3, "call gate frame cs"
    EXPECT [g_p1], 0x2222, "call gate parameter 1"
    EXPECT [g_p2], 0x1111, "call gate parameter 2"
    EXPECT [g_esp3], [r3_esp], "call gate frame esp"
    EXPECT [g_ss3], SEL_DATA3 | 3, "call gate frame ss"
    EXPECT [g_hcs], SEL_CODE0, "call gate target cs"

    ; ---- 286 call gate with one word parameter ----
    mov dword [TSS_MAIN + 4], 0x7E000
    push word 0x3333
    mov [r3_esp], esp
    TRY call (SEL_SLOT40 | 3):0
    ; The 16-bit RETF pops SP; the new stack is 32-bit (SS.B = 1), so ESP is
    ; that SP zero-extended, plus the 2 bytes released.
    mov eax, esp
    mov esp, [r3_esp]
    add esp, 2
    mov dword [TSS_MAIN + 4], STACK0_TOP
    mov ebx, [r3_esp]
    and ebx, 0xFFFF
    add ebx, 2
    EXPECT eax, ebx, "286 gate: o16 retf 2 loads esp = zero-extended sp"
    EXPECT [g16_esp], 0x7E000 - 10, "286 gate pushes words"
    mov eax, [try_next]
    and eax, 0xFFFF
    EXPECT [g16_ip], eax, "286 gate frame ip"
    EXPECT [g16_cs], SEL_CODE3 | 3, "286 gate frame cs"
    EXPECT [g16_p], 0x3333, "286 gate parameter"
    mov eax, [r3_esp]
    and eax, 0xFFFF
    EXPECT [g16_sp], eax, "286 gate frame sp"
    EXPECT [g16_ss], SEL_DATA3 | 3, "286 gate frame ss"

    ; ---- SYSENTER / SYSEXIT ----
    mov [r3_esp], esp
    mov ecx, esp
    mov edx, .after_sysexit
    sysenter
.after_sysexit:
    mov eax, cs
    mov ebx, ss
    mov ecx, esp
    EXPECT eax, SEL_CODE3 | 3, "sysexit cs"
    EXPECT ebx, SEL_DATA3 | 3, "sysexit ss"
    EXPECT ecx, [r3_esp], "sysexit esp = ecx"
    EXPECT [se_cs], SEL_CODE0, "sysenter cs"
    EXPECT [se_ss], SEL_DATA0, "sysenter ss"
    EXPECT [se_esp], SYSENTER_STACK, "sysenter esp"
    mov eax, [se_fl]
    and eax, 0x200
    EXPECT eax, 0, "sysenter clears IF"
    int 0x81

part2:
    ; CR4.TSD makes RDTSC privileged.
    mov eax, cr4
    or eax, 4
    mov cr4, eax
    mov dword [exit_target], part3
    TO_RING3 ring3_b
ring3_b:
    mov ax, SEL_DATA3 | 3
    mov ds, ax
    TRY rdtsc
    EXPECT_FAULT 13, 0, "rdtsc at cpl 3 with cr4.tsd"
    int 0x81

part3:
    xor eax, eax
    mov cr4, eax
    ; IOPL 3: CLI and port I/O allowed at CPL 3.
    mov dword [exit_target], finish
    push dword SEL_DATA3 | 3
    push dword STACK3_TOP
    push dword 0x3202
    push dword SEL_CODE3 | 3
    push dword ring3_c
    iretd
ring3_c:
    mov ax, SEL_DATA3 | 3
    mov ds, ax
    TRY cli
    EXPECT [exc_vec], 0xFFFFFFFF, "cli at cpl 3 with iopl 3"
    pushfd
    pop eax
    and eax, 0x200
    EXPECT eax, 0, "cli cleared IF"
    TRY in al, 0x80
    EXPECT [exc_vec], 0xFFFFFFFF, "in at cpl 3 with iopl 3"
    int 0x81

; ---- ring 0 handlers ----
int80_fn:
    mov [i80_esp], esp
    mov eax, [esp]
    mov [i80_eip], eax
    mov eax, [esp + 4]
    mov [i80_cs], eax
    mov eax, [esp + 8]
    mov [i80_fl], eax
    mov eax, [esp + 12]
    mov [i80_esp3], eax
    mov eax, [esp + 16]
    mov [i80_ss], eax
    pushfd
    pop eax
    mov [i80_hfl], eax
    mov eax, cs
    mov [i80_hcs], eax
    mov eax, ss
    mov [i80_hss], eax
    iretd

exit3_fn:
    mov ax, SEL_DATA0
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov esp, STACK0_TOP
    jmp [exit_target]

gate_fn:
    mov [g_esp], esp
    mov eax, [esp]
    mov [g_eip], eax
    mov eax, [esp + 4]
    mov [g_cs], eax
    mov eax, [esp + 8]
    mov [g_p1], eax
    mov eax, [esp + 12]
    mov [g_p2], eax
    mov eax, [esp + 16]
    mov [g_esp3], eax
    mov eax, [esp + 20]
    mov [g_ss3], eax
    mov eax, cs
    mov [g_hcs], eax
    mov ax, SEL_CONF0
    mov fs, ax
    mov ax, SEL_DATA0
    mov ds, ax
    mov es, ax
    retf 8

gate16_fn:
    mov [g16_esp], esp
    movzx eax, word [esp]
    mov [g16_ip], eax
    movzx eax, word [esp + 2]
    mov [g16_cs], eax
    movzx eax, word [esp + 4]
    mov [g16_p], eax
    movzx eax, word [esp + 6]
    mov [g16_sp], eax
    movzx eax, word [esp + 8]
    mov [g16_ss], eax
    o16 retf 2

conf_fn:
    mov eax, cs
    retf

sysenter_fn:
    mov [se_esp], esp
    mov eax, cs
    mov [se_cs], eax
    mov eax, ss
    mov [se_ss], eax
    pushfd
    pop eax
    mov [se_fl], eax
    sysexit

    align 4
exit_target: dd 0
r3_esp:   dd 0
r3_buf:   dd 0, 0
i80_esp:  dd 0
i80_eip:  dd 0
i80_cs:   dd 0
i80_fl:   dd 0
i80_esp3: dd 0
i80_ss:   dd 0
i80_hfl:  dd 0
i80_hcs:  dd 0
i80_hss:  dd 0
g_esp:    dd 0
g_eip:    dd 0
g_cs:     dd 0
g_p1:     dd 0
g_p2:     dd 0
g_esp3:   dd 0
g_ss3:    dd 0
g_hcs:    dd 0
g16_esp:  dd 0
g16_ip:   dd 0
g16_cs:   dd 0
g16_p:    dd 0
g16_sp:   dd 0
g16_ss:   dd 0
se_esp:   dd 0
se_cs:    dd 0
se_ss:    dd 0
se_fl:    dd 0

; A ROM for the interrupt-latency tests (tests/latency.rs): flat protected mode,
; PIT channel 0 at about 1 kHz on IRQ 0 (vector 20h), then one `rep lodsd` of
; 2^32 - 1 iterations. Built with -DWITH_IRQ the timer interrupt must arrive in the
; middle of the REP, at an iteration boundary (EIP at the REP, ESI = 4 x iterations
; done): the handler prints OK on port E9h and exits with status 85 (42 on the
; isa-debug-exit port). Without it, interrupts stay off and only --timeout ends the run.
; With -DSCAS the instruction is `repne scasd` (EAX never matches: EAX = 1 and RAM
; beyond the ROM's tables reads as 0 or 0xFFFFFFFF), and EDI is checked instead.
bits 16
org 0
start16:
    cli
    o32 lgdt [cs:gdtr]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp dword 0x08:(0xF0000 + pm32)

align 8
gdt:
    dq 0
    dq 0x00CF9A000000FFFF           ; 08h: flat code
    dq 0x00CF92000000FFFF           ; 10h: flat data
gdtr:
    dw 23
    dd 0xF0000 + gdt
idtr:
    dw 0x30 * 8 - 1
    dd 0x10000

bits 32
pm32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x8000
    mov edi, 0x10000                ; IDT: every vector fails, 20h is the timer
    mov ecx, 0x30
.gate:
    mov eax, 0xF0000 + fail
    mov [edi], ax
    mov dword [edi + 2], 0x8E000008
    shr eax, 16
    mov [edi + 6], ax
    add edi, 8
    loop .gate
    mov eax, 0xF0000 + irq0
    mov [0x10000 + 0x20 * 8], ax
    shr eax, 16
    mov [0x10000 + 0x20 * 8 + 6], ax
    lidt [0xF0000 + idtr]
    mov al, 0x11                    ; 8259 pair: vectors 20h/28h, only IRQ 0 unmasked
    out 0x20, al
    out 0xA0, al
    mov al, 0x20
    out 0x21, al
    mov al, 0x28
    out 0xA1, al
    mov al, 4
    out 0x21, al
    mov al, 2
    out 0xA1, al
    mov al, 1
    out 0x21, al
    out 0xA1, al
    mov al, 0xFE
    out 0x21, al
    mov al, 0xFF
    out 0xA1, al
    mov al, 0x34                    ; PIT channel 0, rate generator, 1193 (about 1 kHz)
    out 0x43, al
    mov al, 0xA9
    out 0x40, al
    mov al, 0x04
    out 0x40, al
    cld
    xor esi, esi
    xor edi, edi
    mov eax, 1
    mov ecx, 0xFFFFFFFF
%ifdef WITH_IRQ
    sti
%endif
rep_insn:
%ifdef SCAS
    repne scasd
%else
    rep lodsd
%endif
fail:
    mov al, 'F'
    out 0xE9, al
    mov al, 0x10
    out 0xF4, al                    ; status 33
    hlt
irq0:
    cmp dword [esp], 0xF0000 + rep_insn
    jne fail
    mov eax, 0xFFFFFFFF
    sub eax, ecx
    jz fail                         ; not one iteration ran before the interrupt
    shl eax, 2
%ifdef SCAS
    cmp eax, edi
%else
    cmp eax, esi
%endif
    jne fail
    mov al, 'O'
    out 0xE9, al
    mov al, 'K'
    out 0xE9, al
    mov al, 0x2A
    out 0xF4, al                    ; status 85
    hlt

times 0xFFF0 - ($ - $$) db 0xF4
bits 16
    jmp 0xF000:start16
times 0x10000 - ($ - $$) db 0xF4

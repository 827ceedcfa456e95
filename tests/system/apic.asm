; System test of the APIC board: the local APIC (self-IPIs, ICR delivery status,
; IRR/ISR/TMR, EOI and priority nesting, TPR/PPR, SVR software disable, timer
; one-shot and periodic, NMI with its blocking until IRET) and the IO-APIC
; (registers, a level-triggered pin with remote IRR and masking, polarity, the
; ISA override IRQ0 -> pin 2, pin 0 as ExtINT for the 8259A), and
; IA32_APIC_BASE relocating and disabling the local APIC's register page. A
; Multiboot kernel (a.out kludge, loaded at 1 MiB) run by the whole machine (tests/tests/apic.rs), not the bare CPU:
; it reports "PASS name" / "FAIL name got= want=" lines on port 0xE9, then
; "DONE <count>" and exits through isa-debug-exit (port 0xF4).

bits 32
org 0x100000

LAPIC     equ 0xFEE00000
IOREGSEL  equ 0xFEC00000
IOWIN     equ 0xFEC00010
COM1      equ 0x3F8

mb_header:
    dd 0x1BADB002
    dd 0x00010000
    dd -(0x1BADB002 + 0x00010000)
    dd mb_header        ; header_addr
    dd 0x100000         ; load_addr
    dd 0                ; load_end_addr: the whole file
    dd bss_end          ; bss_end_addr
    dd start            ; entry_addr

; EXPECT actual, expected, "name"
%macro EXPECT 3
    mov eax, %1
    mov ebx, %2
    mov esi, %%name
    call check
    jmp %%over
%%name: db %3, 0
%%over:
%endmacro

; GATE vector, handler
%macro GATE 2
    mov eax, %1
    mov ebx, %2
    call set_gate
%endmacro

; REDIR pin, low dword, high dword
%macro REDIR 3
    mov dword [IOREGSEL], 0x11 + 2 * (%1)
    mov dword [IOWIN], %3
    mov dword [IOREGSEL], 0x10 + 2 * (%1)
    mov dword [IOWIN], %2
%endmacro

; SPIN n: a busy loop of about 2n instructions
%macro SPIN 1
    mov ecx, %1
%%l: dec ecx
    jnz %%l
%endmacro

start:
    mov esp, 0x90000
    ; Mask the 8259A pair: only the APICs deliver here.
    mov al, 0xFF
    out 0x21, al
    out 0xA1, al
    ; Every vector goes to a stub that records it; the tests install their own.
    xor edi, edi
.fill:
    mov eax, edi
    mov ebx, stubs
    lea ebx, [ebx + edi * 8]
    call set_gate
    inc edi
    cmp edi, 256
    jb .fill
    lidt [idtr]

    ; ---- the board as firmware leaves it
    mov ecx, 0x1B
    rdmsr
    EXPECT eax, 0xFEE00900, "APIC_BASE: 0xFEE00000, enabled, BSP"
    mov eax, 1
    cpuid
    and edx, 1 << 9
    EXPECT edx, 1 << 9, "CPUID.1:EDX.APIC"
    EXPECT [LAPIC + 0x30], 0x00050014, "version: xAPIC, 6 LVT entries"
    EXPECT [LAPIC + 0x20], 0, "APIC ID 0"
    EXPECT [LAPIC + 0xF0], 0x1FF, "SVR: software-enabled, vector 0xFF"
    EXPECT [LAPIC + 0x350], 0x700, "LINT0 ExtINT (virtual wire)"
    EXPECT [LAPIC + 0x360], 0x400, "LINT1 NMI"
    EXPECT [LAPIC + 0x320], 0x10000, "timer LVT masked"

    ; ---- self-IPI, ICR idle, IRR, nesting by priority class, EOI order
    GATE 0x50, h50
    GATE 0x60, h60
    GATE 0x41, h41
    cli
    mov dword [LAPIC + 0x300], 0x40050     ; self, fixed, vector 0x50
    mov eax, [LAPIC + 0x300]
    and eax, 1 << 12
    EXPECT eax, 0, "ICR delivery status reads idle"
    EXPECT [LAPIC + 0x220], 1 << 16, "IRR holds 0x50 while IF=0"
    EXPECT [LAPIC + 0x1A0], 0, "TMR clear: edge"
    EXPECT [LAPIC + 0xA0], 0, "PPR 0 before delivery"
    sti
    nop
    EXPECT [cnt50], 1, "0x50 delivered"
    EXPECT [isr50], 1 << 16, "ISR holds 0x50 in its handler"
    EXPECT [ppr50], 0x50, "PPR is 0x50 in its handler"
    EXPECT [cnt60], 1, "0x60 nested into 0x50"
    EXPECT [held41], 0, "0x41 held while 0x50 in service"
    EXPECT [cnt41], 1, "0x41 delivered after 0x50's EOI"
    EXPECT [order], 0x34653635, "order 5, 6, EOI of 5, then 4"
    EXPECT [LAPIC + 0x120], 0, "ISR empty after the EOIs"

    ; ---- TPR holds a class, PPR follows it
    cli
    mov dword [LAPIC + 0x80], 0x70
    mov dword [LAPIC + 0x300], 0x40060
    sti
    nop
    nop
    EXPECT [cnt60], 1, "TPR 0x70 holds vector 0x60"
    EXPECT [LAPIC + 0xA0], 0x70, "PPR = TPR"
    mov dword [LAPIC + 0x80], 0
    nop
    EXPECT [cnt60], 2, "lowering TPR lets 0x60 in"

    ; ---- SVR: spurious vector, software disable masks and drops
    mov dword [LAPIC + 0xF0], 0xEF
    EXPECT [LAPIC + 0xF0], 0xEF, "SVR vector 0xEF, disabled"
    EXPECT [LAPIC + 0x350], 0x10700, "disabling masks LINT0"
    mov dword [LAPIC + 0x360], 0x400
    EXPECT [LAPIC + 0x360], 0x10400, "LVT writes stay masked while disabled"
    mov dword [LAPIC + 0x300], 0x40060
    nop
    mov dword [LAPIC + 0xF0], 0x1EF
    nop
    EXPECT [cnt60], 2, "a disabled APIC accepts no fixed IPI"
    EXPECT [LAPIC + 0xF0], 0x1EF, "re-enabled"
    mov dword [LAPIC + 0x350], 0x700
    mov dword [LAPIC + 0x360], 0x400

    ; ---- error status: an IPI with an illegal vector
    mov dword [LAPIC + 0x280], 0
    mov dword [LAPIC + 0x300], 0x40005
    mov dword [LAPIC + 0x280], 0
    EXPECT [LAPIC + 0x280], 0x60, "ESR: send and receive illegal vector"
    mov dword [LAPIC + 0x280], 0
    EXPECT [LAPIC + 0x280], 0, "ESR cleared by the next write"

    ; ---- timer, one-shot
    GATE 0x42, h42
    mov dword [LAPIC + 0x3E0], 0xB          ; divide by 1
    mov dword [LAPIC + 0x320], 0x42
    mov dword [LAPIC + 0x380], 100000       ; 100 us at 1 GHz
    mov eax, [LAPIC + 0x390]
    mov ebx, 100000
    sub ebx, eax
    cmp ebx, 1000
    setb al
    movzx eax, al
    EXPECT eax, 1, "current count just below the initial count"
    hlt
    EXPECT [cnt42], 1, "one-shot fired (HLT skipped to it)"
    EXPECT [LAPIC + 0x390], 0, "one-shot count stops at 0"
    SPIN 200000
    EXPECT [cnt42], 1, "one-shot fires once"

    ; ---- timer, periodic
    GATE 0x43, h43
    mov dword [LAPIC + 0x3E0], 0x3          ; divide by 16
    mov dword [LAPIC + 0x320], 0x20043
    mov dword [LAPIC + 0x380], 1000         ; 16 us period
.per:
    hlt
    cmp dword [cnt43], 5
    jb .per
    EXPECT [cnt43], 5, "periodic: five periods, five interrupts"
    mov eax, [LAPIC + 0x390]
    dec eax
    cmp eax, 1000
    setb al
    movzx eax, al
    EXPECT eax, 1, "periodic count reloads (1..1000)"
    mov dword [LAPIC + 0x320], 0x30043     ; mask
    SPIN 100000
    EXPECT [cnt43], 5, "a masked timer raises nothing"
    mov dword [LAPIC + 0x380], 0
    EXPECT [LAPIC + 0x390], 0, "initial count 0 stops the timer"

    ; ---- NMI through the ICR, held until IRET, taken with IF=0
    GATE 2, hnmi
    cli
    mov dword [LAPIC + 0x310], 0            ; destination APIC ID 0
    mov dword [LAPIC + 0x300], 0x400        ; NMI, physical
    nop
    EXPECT [nmi_inside], 1, "a second NMI waits for the handler's IRET"
    EXPECT [cntnmi], 2, "then it is taken (with IF=0 too)"
    sti

    ; ---- IO-APIC registers
    mov dword [IOREGSEL], 1
    EXPECT [IOWIN], 0x00170011, "IO-APIC version 0x11, 24 pins"
    mov dword [IOREGSEL], 0
    EXPECT [IOWIN], 0x01000000, "IO-APIC ID 1 (as the MADT says)"
    mov dword [IOREGSEL], 0x10 + 2 * 4
    EXPECT [IOWIN], 0x10000, "redirection entries start masked"

    ; ---- a level-triggered pin: COM1's THRE interrupt on pin 4
    GATE 0x34, h34
    REDIR 4, 0x18034, 0                     ; masked, level, active high
    mov dx, COM1 + 4
    mov al, 0x08                            ; MCR.OUT2 gates the IRQ
    out dx, al
    mov dx, COM1 + 1
    mov al, 0x02                            ; IER: THR empty -> line asserted
    out dx, al
    nop
    EXPECT [cnt34], 0, "masked level pin raises nothing"
    REDIR 4, 0x08034, 0                     ; unmask
    nop
    EXPECT [cnt34], 2, "unmasked: fires, and again after an EOI while asserted"
    EXPECT [irr34], 1 << 14, "remote IRR set while in service"
    EXPECT [tmr34], 1 << 20, "TMR marks vector 0x34 level-triggered"
    mov dword [IOREGSEL], 0x10 + 2 * 4
    mov eax, [IOWIN]
    and eax, 1 << 14
    EXPECT eax, 0, "remote IRR cleared by the EOI broadcast"
    SPIN 1000
    EXPECT [cnt34], 2, "deasserted: quiet"

    ; ---- polarity: active-low on an idle (low) line is active
    GATE 0x35, h35
    REDIR 4, 0x0A035, 0
    nop
    EXPECT [cnt35], 1, "active-low pin with the line low fires"

    ; ---- ISA IRQ 0 (PIT) arrives on pin 2, not pin 0
    GATE 0x32, h32
    GATE 0x31, h31
    REDIR 0, 0x00031, 0
    REDIR 2, 0x00032, 0
    mov al, 0x34                            ; counter 0, mode 2
    out 0x43, al
    mov al, 0xA9                            ; 1193: about 1 ms
    out 0x40, al
    mov al, 0x04
    out 0x40, al
.pit:
    hlt
    cmp dword [cnt32], 3
    jb .pit
    REDIR 2, 0x10032, 0
    EXPECT [cnt32], 3, "IRQ0 edges on pin 2"
    EXPECT [cnt31], 0, "nothing on pin 0"

    ; ---- IA32_APIC_BASE moves the register page and disables the APIC
    mov ecx, 0x1B
    mov eax, 0xFED00900
    xor edx, edx
    wrmsr
    EXPECT [0xFED00030], 0x00050014, "relocated: version at 0xFED00030"
    EXPECT [LAPIC + 0x30], 0xFFFFFFFF, "nothing left at 0xFEE00030"
    mov ecx, 0x1B
    mov eax, 0xFED00100                     ; EN clear
    xor edx, edx
    wrmsr
    EXPECT [0xFED00030], 0xFFFFFFFF, "hardware-disabled: no register page"
    mov ecx, 0x1B
    rdmsr
    EXPECT eax, 0xFED00100, "APIC_BASE reads back disabled"
    mov ecx, 0x1B
    mov eax, 0xFEE00900
    xor edx, edx
    wrmsr
    EXPECT [LAPIC + 0xF0], 0xFF, "re-enabled from its reset state: SVR 0xFF"

    ; ---- IO-APIC pin 0 as ExtINT: the 8259A through the IO-APIC, LINT0 masked
    mov dword [LAPIC + 0xF0], 0x1FF
    mov dword [LAPIC + 0x350], 0x10700
    GATE 0x28, h28
    mov al, 0x11                            ; ICW1: edge, cascade, ICW4
    out 0x20, al
    mov al, 0x28                            ; ICW2: IRQ0 -> vector 0x28
    out 0x21, al
    mov al, 0x04
    out 0x21, al
    mov al, 0x01
    out 0x21, al
    mov al, 0xFE                            ; only IRQ0: the PIT, still at 1 ms
    out 0x21, al
    sti
    SPIN 2000000                            ; about 4 PIT periods
    EXPECT [cnt28], 0, "LINT0 and pin 0 masked: the 8259A is cut off"
    REDIR 0, 0x00700, 0                     ; ExtINT, physical, APIC 0
.extint:
    hlt
    cmp dword [cnt28], 3
    jb .extint
    REDIR 0, 0x10700, 0
    cli
    mov al, 0xFF
    out 0x21, al
    EXPECT [cnt28], 3, "pin 0 ExtINT: the 8259A's vector 0x28 arrives"
    EXPECT [LAPIC + 0x110], 0, "ExtINT sets no local APIC ISR bit"

    EXPECT [unexpected], 0, "no unexpected interrupts"
    EXPECT [unexp_vec], 0, "(last unexpected vector)"
    jmp finish

; ------------------------------------------------------------- handlers
h50:
    push eax
    inc dword [cnt50]
    mov al, '5'
    call note
    mov eax, [LAPIC + 0x120]
    mov [isr50], eax
    mov eax, [LAPIC + 0xA0]
    mov [ppr50], eax
    sti
    mov dword [LAPIC + 0x300], 0x40060      ; higher class: nests now
    nop
    mov dword [LAPIC + 0x300], 0x40041      ; lower class: held
    nop
    nop
    mov eax, [cnt41]
    mov [held41], eax
    cli
    mov al, 'e'
    call note
    mov dword [LAPIC + 0xB0], 0
    pop eax
    iret

h60:
    push eax
    inc dword [cnt60]
    mov al, '6'
    call note
    mov dword [LAPIC + 0xB0], 0
    pop eax
    iret

h41:
    push eax
    inc dword [cnt41]
    mov al, '4'
    call note
    mov dword [LAPIC + 0xB0], 0
    pop eax
    iret

h42:
    inc dword [cnt42]
    mov dword [LAPIC + 0xB0], 0
    iret

h43:
    inc dword [cnt43]
    mov dword [LAPIC + 0xB0], 0
    iret

hnmi:
    push eax
    inc dword [cntnmi]
    cmp dword [cntnmi], 1
    jne .out
    mov dword [LAPIC + 0x300], 0x400        ; another NMI: must wait
    nop
    nop
    mov eax, [cntnmi]
    mov [nmi_inside], eax
.out:
    pop eax
    iret

h34:
    push eax
    push edx
    inc dword [cnt34]
    mov dword [IOREGSEL], 0x10 + 2 * 4
    mov eax, [IOWIN]
    and eax, 1 << 14
    mov [irr34], eax
    mov eax, [LAPIC + 0x190]
    mov [tmr34], eax
    cmp dword [cnt34], 2
    jb .eoi
    mov dx, COM1 + 1
    mov al, 0                               ; deassert before the second EOI
    out dx, al
.eoi:
    mov dword [LAPIC + 0xB0], 0
    pop edx
    pop eax
    iret

h35:
    inc dword [cnt35]
    REDIR 4, 0x1A035, 0                     ; mask it, or it fires forever
    mov dword [LAPIC + 0xB0], 0
    iret

h32:
    inc dword [cnt32]
    mov dword [LAPIC + 0xB0], 0
    iret

h28:
    inc dword [cnt28]
    push eax
    mov al, 0x20                            ; non-specific EOI to the 8259A
    out 0x20, al
    pop eax
    iret

h31:
    inc dword [cnt31]
    mov dword [LAPIC + 0xB0], 0
    iret

; Vector n's default stub (8 bytes each): records n, then `unexp`.
stubs:
%assign n 0
%rep 256
    push byte n - (n >> 7) * 256
    jmp near unexp
    nop
%assign n n + 1
%endrep

unexp:
    inc dword [unexpected]
    pop dword [unexp_vec]
    and dword [unexp_vec], 0xFF
    cmp dword [unexp_vec], 32
    jb .exception
    mov dword [LAPIC + 0xB0], 0
    iret
.exception:
    mov esi, msg_exc
    call puts
    mov eax, [unexp_vec]
    call puthex
    mov al, 10
    out 0xE9, al
    jmp finish

; ------------------------------------------------------------- runtime
; set_gate: EAX = vector, EBX = handler (32-bit interrupt gate, DPL 0)
set_gate:
    push ecx
    lea ecx, [idt + eax * 8]
    mov [ecx], bx
    mov [ecx + 2], cs
    mov word [ecx + 4], 0x8E00
    shr ebx, 16
    mov [ecx + 6], bx
    pop ecx
    ret

; note: append AL to the order buffer
note:
    push ebx
    mov ebx, [order_len]
    mov [order + ebx], al
    inc dword [order_len]
    pop ebx
    ret

puts:
    push eax
.l: mov al, [esi]
    test al, al
    jz .e
    out 0xE9, al
    inc esi
    jmp .l
.e: pop eax
    ret

puthex:
    push ecx
    push edx
    mov edx, eax
    mov ecx, 8
.l: rol edx, 4
    mov al, dl
    and al, 15
    add al, '0'
    cmp al, '9'
    jbe .d
    add al, 'a' - '0' - 10
.d: out 0xE9, al
    dec ecx
    jnz .l
    pop edx
    pop ecx
    ret

; check: EAX actual, EBX expected, ESI name
check:
    inc dword [checks]
    cmp eax, ebx
    jne .fail
    push esi
    mov esi, msg_pass
    call puts
    pop esi
    call puts
    mov al, 10
    out 0xE9, al
    ret
.fail:
    push eax
    push esi
    mov esi, msg_fail
    call puts
    pop esi
    call puts
    mov esi, msg_got
    call puts
    pop eax
    call puthex
    mov esi, msg_want
    call puts
    mov eax, ebx
    call puthex
    mov al, 10
    out 0xE9, al
    ret

finish:
    cli
    mov esi, msg_done
    call puts
    mov eax, [checks]
    call puthex
    mov al, 10
    out 0xE9, al
    mov al, 0
    out 0xF4, al
.h: hlt
    jmp .h

msg_pass: db "PASS ", 0
msg_fail: db "FAIL ", 0
msg_got:  db " got=", 0
msg_want: db " want=", 0
msg_done: db "DONE ", 0
msg_exc:  db "FAIL exception ", 0

align 4
idtr:
    dw 256 * 8 - 1
    dd idt

align 4
checks:     dd 0
unexpected: dd 0
unexp_vec:  dd 0
cnt50:      dd 0
cnt60:      dd 0
cnt41:      dd 0
cnt42:      dd 0
cnt43:      dd 0
cntnmi:     dd 0
nmi_inside: dd 0
cnt34:      dd 0
cnt35:      dd 0
cnt32:      dd 0
cnt31:      dd 0
cnt28:      dd 0
isr50:      dd 0
ppr50:      dd 0
held41:     dd 0
irr34:      dd 0
tmr34:      dd 0
order_len:  dd 0
order:      times 16 db 0

align 8
image_end:
idt equ image_end
bss_end equ idt + 256 * 8

; Implicit stack accesses when the stack size (SS.B) and the operand size differ,
; for what a user-mode program cannot do natively (tests/native/stack16.c covers
; the rest): INT/IRET in real mode across the SP wrap; INT/IRETD through a 386
; gate and INT/IRET through a 286 gate on a 16-bit stack; an exception with an
; error code on a 16-bit stack; #SS that leaves ESP unchanged (POP, PUSHAD,
; ENTER, POP SS) and POP SS with a bad selector; o16 far and near CALL/RET on a
; 16-bit stack; privilege switches: IRETD and RETF to ring 3 with a 16-bit SS (only
; SP is loaded, ESP's upper half is the ring 0 one), o16 IRET to a 32-bit SS (SP
; zero-extended), interrupts from ring 3 onto a 16-bit and a 32-bit ring 0 stack;
; PUSH/POP, IRET and CALL/RET across SP 0 in virtual-8086 mode; an error code
; pushed on a 16-bit stack after a task switch.
; ESP's upper half is nonzero wherever the stack is 16-bit.
%define HAS_REAL_TESTS
%include "lib.inc"

STK      equ 0x100000           ; base of every test stack segment
S16      equ SEL_SLOT40         ; 16-bit data, DPL 0, limit 0xFFFF
S16D     equ SEL_SLOT50         ; 16-bit expand-down data, DPL 0, limit 0xFFF
S16R3    equ 0x04 | 3           ; LDT 0: 16-bit data, DPL 3, limit 0xFFFF
S32      equ 0x0C               ; LDT 1: 32-bit data, DPL 0, limit 0x1FFFF

; WDESC address, base, limit, access, flags nibble: writes a descriptor.
%macro WDESC 5
    mov dword [%1], (((%2) & 0xFFFF) << 16) | ((%3) & 0xFFFF)
    mov dword [(%1) + 4], ((%2) & 0xFF000000) | ((%5) << 20) | ((%3) & 0xF0000) | ((%4) << 8) | (((%2) >> 16) & 0xFF)
%endmacro

; ON_STACK sel, esp: switches to a test stack (main's ESP kept in save_esp).
%macro ON_STACK 2
    mov [save_esp], esp
    mov ax, %1
    mov esp, %2
    mov ss, ax
%endmacro
; OFF_STACK: EBX = the test ESP; back to the flat stack.
%macro OFF_STACK 0
    mov ebx, esp
    mov ax, SEL_DATA0
    mov ss, ax
    mov esp, [save_esp]
%endmacro

    bits 16
; Real mode, SS = 0x1000: INT 0x81 at SP = 4 (the frame wraps to 0xFFFE), a
; 32-bit PUSH/POP at SP = 0.
real_tests:
    mov word [0x81 * 4], rm_h81
    mov word [0x81 * 4 + 2], 0
    mov [rm_save], esp
    mov ax, 0x1000
    mov ss, ax
    mov esp, 0x12340004
    int 0x81
rm_after:
    mov [rm_esp_after], esp
    mov ax, [ss:0xFFFE]
    mov [rm_ip], ax
    mov esp, 0x12340000
    mov eax, 0xCAFEBABE
    push eax
    mov [rm_esp_push], esp
    pop ebx
    mov [rm_pop], ebx
    mov [rm_esp_pop], esp
    xor ax, ax
    mov ss, ax
    mov esp, [rm_save]
    ret
rm_h81:
    mov [rm_esp_in], esp
    iret

    bits 32
main:
    WDESC gdt + S16, STK, 0xFFFF, 0x92, 0x0
    WDESC gdt + S16D, STK, 0x0FFF, 0x96, 0x0
    WDESC LDT_BASE, STK, 0xFFFF, 0xF2, 0x0
    WDESC LDT_BASE + 8, STK, 0x1FFFF, 0x92, 0x4
    mov ax, SEL_LDT
    lldt ax

    ; ---- real mode ----
    EXPECT [rm_esp_in], 0x1234FFFE, "real int: frame wraps below sp 0"
    EXPECT [rm_esp_after], 0x12340004, "real iret: esp restored, upper half kept"
    movzx eax, word [rm_ip]
    EXPECT eax, rm_after, "real int: ip at 0xfffe"
    movzx eax, word [0x10000]
    EXPECT eax, 0, "real int: cs at 0x0000"
    EXPECT [rm_esp_push], 0x1234FFFC, "real push eax at sp 0 wraps"
    EXPECT [0x1FFFC], 0xCAFEBABE, "real push eax value"
    EXPECT [rm_pop], 0xCAFEBABE, "real pop eax at sp 0xfffc"
    EXPECT [rm_esp_pop], 0x12340000, "real pop eax wraps sp to 0"

    ; ---- INT/IRETD through a 386 interrupt gate on a 16-bit stack ----
    SET_IDT 0x40, h_save_iretd, 0x8E
    ON_STACK S16, 0x12340008
    int 0x40
.b_after:
    OFF_STACK
    EXPECT [h_esp], 0x1234FFFC, "int on 16-bit stack: 12-byte frame wraps"
    EXPECT ebx, 0x12340008, "iretd on 16-bit stack: esp back, upper half kept"
    EXPECT [STK + 0xFFFC], .b_after, "int frame eip at sp 0xfffc"
    movzx eax, word [STK]
    EXPECT eax, SEL_CODE0, "int frame cs at sp 0"

    ; ---- INT/IRET through a 286 interrupt gate: word frame ----
    SET_GATE IDT_BASE, 0x42 * 8, SEL_CODE0, h_save_iretw, 0x86, 0
    ON_STACK S16, 0x12340004
    int 0x42
.c_after:
    OFF_STACK
    EXPECT [h_esp], 0x1234FFFE, "286 gate int: 6-byte frame wraps"
    EXPECT ebx, 0x12340004, "o16 iret on 16-bit stack"
    movzx eax, word [STK + 0xFFFE]
    EXPECT eax, .c_after, "286 gate frame ip at 0xfffe"
    movzx eax, word [STK]
    EXPECT eax, SEL_CODE0, "286 gate frame cs at 0"

    ; ---- #GP with an error code on a 16-bit stack ----
    SET_IDT 13, h16e, 0x8E
    mov dword [h_resume], .d_resume
    ON_STACK S16, 0x1234000C
    mov dx, 0x1230                          ; beyond the GDT limit
.d_at:
    mov ds, dx
.d_resume:
    OFF_STACK
    SET_IDT 13, isr13, 0x8E
    EXPECT [h_esp], 0x1234FFFC, "#gp on 16-bit stack: 16-byte frame wraps"
    EXPECT [h_err], 0x1230, "#gp error code popped with sp wrap"
    EXPECT [h_eip], .d_at, "#gp frame eip"
    EXPECT ebx, 0x1234000C, "iretd after #gp: esp back"

    ; ---- #SS leaves ESP unchanged: POP across the limit ----
    SET_IDT 12, h16e, 0x8E
    mov dword [h_resume], .e1_resume
    mov eax, 0x11111111
    ON_STACK S16, 0x5678FFFE
    mov eax, 0x11111111
.e1_at:
    pop eax
.e1_resume:
    mov ecx, eax
    OFF_STACK
    EXPECT [h_err], 0, "pop eax at sp 0xfffe: #ss(0)"
    EXPECT [h_eip], .e1_at, "pop #ss: eip of the pop"
    EXPECT [h_esp], 0x5678FFEE, "pop #ss: frame below the unchanged sp"
    EXPECT ebx, 0x5678FFFE, "pop #ss: esp unchanged"
    EXPECT ecx, 0x11111111, "pop #ss: eax unchanged"

    ; ---- POP SS across the limit, and POP SS of a bad selector ----
    mov dword [h_resume], .e2_resume
    ON_STACK S16, 0x5678FFFE
.e2_at:
    pop ss
.e2_resume:
    mov ecx, ss
    OFF_STACK
    EXPECT [h_eip], .e2_at, "pop ss at sp 0xfffe: #ss"
    EXPECT ebx, 0x5678FFFE, "pop ss #ss: esp unchanged"
    EXPECT ecx, S16, "pop ss #ss: ss unchanged"
    SET_IDT 13, h16e, 0x8E
    mov dword [h_resume], .e3_resume
    mov dword [STK + 0xFFFC], 0x1230
    ON_STACK S16, 0x1234FFFC
.e3_at:
    pop ss
.e3_resume:
    OFF_STACK
    SET_IDT 13, isr13, 0x8E
    EXPECT [h_err], 0x1230, "pop ss bad selector: #gp(sel)"
    EXPECT [h_eip], .e3_at, "pop ss #gp eip"
    EXPECT ebx, 0x1234FFFC, "pop ss #gp: esp unchanged"

    ; ---- PUSHAD and ENTER past an expand-down 16-bit stack's limit ----
    mov dword [STK + 0x1000], 0x5A5A5A5A
    mov dword [STK + 0x1004], 0x5A5A5A5A
    mov dword [h_resume], .e4_resume
    ON_STACK S16D, 0x9ABC1018
.e4_at:
    pushad
.e4_resume:
    OFF_STACK
    EXPECT [h_eip], .e4_at, "pushad below the limit: #ss"
    EXPECT [h_esp], 0x9ABC1008, "pushad #ss: frame below the unchanged esp"
    EXPECT ebx, 0x9ABC1018, "pushad #ss: esp unchanged"
    EXPECT [STK + 0x1000], 0x5A5A5A5A, "pushad #ss: no slot written (ebp)"
    EXPECT [STK + 0x1004], 0x5A5A5A5A, "pushad #ss: no slot written (esp)"
    mov dword [h_resume], .e5_resume
    mov ebp, 0x55551030
    ON_STACK S16D, 0x9ABC1030
.e5_at:
    enter 0x100, 0
.e5_resume:
    mov ecx, ebp
    OFF_STACK
    EXPECT [h_eip], .e5_at, "enter below the limit: #ss"
    EXPECT ebx, 0x9ABC1030, "enter #ss: esp unchanged"
    EXPECT ecx, 0x55551030, "enter #ss: ebp unchanged"
    SET_IDT 12, isr12, 0x8E

    ; ---- o16 far and near CALL/RET on a 16-bit stack ----
    ON_STACK S16, 0x12340002
    db 0x66, 0x9A                           ; o16 call far SEL_CODE0:g_far16
    dw g_far16, SEL_CODE0
.g_ret:
    OFF_STACK
    EXPECT [h_esp], 0x1234FFFE, "o16 call far: cs at 0, ip at 0xfffe"
    EXPECT ebx, 0x12340004, "o16 retf 2 wraps sp to 4"
    movzx eax, word [STK + 0xFFFE]
    EXPECT eax, .g_ret, "o16 call far: ip slot"
    movzx eax, word [STK]
    EXPECT eax, SEL_CODE0, "o16 call far: cs slot"
    ON_STACK S16, 0x12340000
    call word g_near16
.g_ret2:
    OFF_STACK
    EXPECT [h_esp], 0x1234FFFE, "o16 call near at sp 0"
    EXPECT ebx, 0x12340004, "o16 ret 4 at sp 0xfffe"
    movzx eax, word [STK + 0xFFFE]
    EXPECT eax, .g_ret2, "o16 call near: ip slot"

    ; ---- IRETD to ring 3 with a 16-bit SS; INT from ring 3 onto a 16-bit stack ----
    SET_IDT 0x41, h_r3, 0xEE
    mov dword [TSS_MAIN + 4], 0x56780010
    mov dword [TSS_MAIN + 8], S16
    mov [save_esp], esp
    sub esp, 0x1000                         ; the frame must not straddle 64 KiB
    mov dword [h_cont], .f1_cont
    push dword S16R3
    push dword 0xABCD1234
    push dword 0x2
    push dword SEL_CODE3 | 3
    push dword r3_int41
    mov eax, esp
    and eax, 0xFFFF0000
    or eax, 0x1234
    mov [want], eax
    iretd
.f1_cont:
    EXPECT [h_esp], 0x5678FFFC, "int from ring 3: 20-byte frame wraps on 16-bit ss0"
    EXPECT [h_r3esp], [want], "iretd to a 16-bit ss: only sp loaded"
    EXPECT [h_r3ss], S16R3, "int from ring 3: ss slot"
    EXPECT [h_eip], r3_int41_next, "int from ring 3: eip slot"

    ; ---- RETF to ring 3 with a 16-bit SS ----
    mov dword [TSS_MAIN + 4], 0x56780010
    mov dword [TSS_MAIN + 8], S16
    mov [save_esp], esp
    sub esp, 0x1000
    mov dword [h_cont], .f2_cont
    push dword S16R3
    push dword 0xABCD4321
    push dword SEL_CODE3 | 3
    push dword r3_int41
    mov eax, esp
    and eax, 0xFFFF0000
    or eax, 0x4321
    mov [want], eax
    retf
.f2_cont:
    EXPECT [h_r3esp], [want], "retf to a 16-bit ss: only sp loaded"

    ; ---- o16 IRET to ring 3 with a 32-bit SS; INT onto a 32-bit ss0 ----
    mov dword [TSS_MAIN + 4], 0x00010010
    mov dword [TSS_MAIN + 8], S32
    mov [save_esp], esp
    mov dword [h_cont], .f3_cont
    push word SEL_DATA3 | 3
    push word 0x1234
    push word 0x2
    push word SEL_CODE3 | 3
    push word r3_int41
    iretw
.f3_cont:
    EXPECT [h_r3esp], 0x00001234, "o16 iret to a 32-bit ss: sp zero-extended"
    EXPECT [h_esp], 0x0000FFFC, "int from ring 3 onto a 32-bit ss0: no wrap"
    mov dword [TSS_MAIN + 4], STACK0_TOP
    mov dword [TSS_MAIN + 8], SEL_DATA0

    ; ---- virtual-8086 mode (IOPL 3): PUSH/POP, IRET, CALL/RET across SP 0 ----
    SET_IDT 0x43, h_v86, 0xEE
    mov [save_esp], esp
    mov dword [h_cont], .v_cont
    push dword 0                            ; gs
    push dword 0                            ; fs
    push dword 0                            ; ds
    push dword 0                            ; es
    push dword 0x3000                       ; ss
    push dword 0x12340004                   ; esp
    push dword 0x00023002                   ; VM, IOPL 3
    push dword 0                            ; cs
    push dword v86_code
    iretd
.v_cont:
    EXPECT [h_r3esp], 0x12340000, "vm86: sp wraps, esp's upper half kept"
    EXPECT [h_v86ebx], 0xDEADBEEF, "vm86: pop ebx at sp 0xfffc"
    EXPECT [0x30000], 0xDEADBEEF, "vm86: push eax at sp 4"
    movzx eax, word [0x3FFFE]
    EXPECT eax, v86_int, "vm86: call at sp 0 pushes ip at 0xfffe"
    movzx eax, word [0x3FFFA]
    EXPECT eax, v86_iret_to, "vm86: iret frame ip at 0xfffa"

    ; ---- #GP through a task gate: the error code goes on the new task's 16-bit
    ;      stack (SP 0 wraps to 0xFFFC, ESP's upper half from the TSS) ----
    mov dword [TSS_B + 0x20], task_gp
    mov dword [TSS_B + 0x24], 2
    mov dword [TSS_B + 0x38], 0x12340000    ; ESP
    mov word [TSS_B + 0x48], SEL_DATA0      ; ES
    mov word [TSS_B + 0x4C], SEL_CODE0      ; CS
    mov word [TSS_B + 0x50], S16            ; SS
    mov word [TSS_B + 0x54], SEL_DATA0      ; DS
    mov word [TSS_B + 0x60], SEL_LDT
    mov word [TSS_B + 0x66], 0x68
    mov word [TSS_MAIN + 0x60], SEL_LDT
    SET_TASK_GATE IDT_BASE, 13 * 8, SEL_TSS_B, 0x85
    mov dword [STK + 0xFFFC], 0
    mov dx, 0x1230
    mov ds, dx                              ; #GP(0x1230) -> task_gp
.t_resume:
    SET_IDT 13, isr13, 0x8E
    EXPECT [h_esp], 0x1234FFFC, "task gate: error code pushed at sp 0xfffc"
    EXPECT [STK + 0xFFFC], 0x1230, "task gate: error code on the 16-bit stack"
    EXPECT [h_err], 0x1230, "task gate: error code popped"
    EXPECT [h_r3esp], 0x12340000, "task gate: pop wraps sp back to 0"

    call finish

; The #GP task: notes its stack, pops the error code, and returns to main past
; the faulting instruction.
task_gp:
    mov [h_esp], esp
    pop dword [h_err]
    mov [h_r3esp], esp
    mov dword [TSS_MAIN + 0x20], main.t_resume
    iretd

    bits 16
; Virtual-8086 mode at SS:SP = 3000:0004 with ESP's upper half 0x1234.
v86_code:
    mov eax, 0xDEADBEEF
    push eax                                ; SP 4 -> 0
    push eax                                ; -> 0xFFFC
    pop ebx                                 ; -> 0
    pushf                                   ; -> 0xFFFE
    push cs                                 ; -> 0xFFFC
    push word v86_iret_to                   ; -> 0xFFFA
    iret                                    ; -> 0
v86_iret_to:
    call v86_near                           ; -> 0xFFFE
v86_int:
    int 0x43
v86_near:
    ret                                     ; -> 0
    bits 32

; INT 0x43 from virtual-8086 mode: notes ESP and EBX, abandons the task.
h_v86:
    mov ax, SEL_DATA0
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov eax, [esp + 12]
    mov [h_r3esp], eax
    mov [h_v86ebx], ebx
    mov esp, [save_esp]
    jmp [h_cont]

; Ring 3: INT 0x41 back to ring 0.
r3_int41:
    int 0x41
r3_int41_next:
    jmp r3_int41

; INT 0x41 from ring 3: records the frame (popped, so that SP wraps as the CPU
; wraps it on a 16-bit stack), then abandons ring 3 for [h_cont] on main's stack.
h_r3:
    mov ax, SEL_DATA0
    mov ds, ax
    mov es, ax
    mov [h_esp], esp
    pop dword [h_eip]
    pop eax                                 ; cs
    pop eax                                 ; eflags
    pop dword [h_r3esp]
    pop dword [h_r3ss]
    mov ax, SEL_DATA0
    mov ss, ax
    mov esp, [save_esp]
    mov fs, ax
    mov gs, ax
    mov dword [TSS_MAIN + 4], STACK0_TOP
    mov dword [TSS_MAIN + 8], SEL_DATA0
    jmp [h_cont]

h_save_iretd:
    mov [h_esp], esp
    iretd

h_save_iretw:
    mov [h_esp], esp
    iretw

g_far16:
    mov [h_esp], esp
    db 0x66, 0xCA, 2, 0                     ; o16 retf 2

g_near16:
    mov [h_esp], esp
    db 0x66, 0xC2, 4, 0                     ; o16 ret 4

; Exception handlers for the 16-bit stacks (they clobber EBX and EDX): the frame
; is read and its EIP replaced by [h_resume] through the flat alias at STK.
h16e:
    mov [h_esp], esp
    pop dword [h_err]                       ; a pop that wraps SP like the CPU's
h16:
    movzx ebx, sp
    mov edx, [STK + ebx]
    mov [h_eip], edx
    mov edx, [h_resume]
    mov [STK + ebx], edx
    iretd

    align 4
save_esp:     dd 0
want:         dd 0
h_esp:        dd 0
h_err:        dd 0
h_eip:        dd 0
h_resume:     dd 0
h_cont:       dd 0
h_r3esp:      dd 0
h_r3ss:       dd 0
rm_save:      dd 0
rm_esp_in:    dd 0
rm_esp_after: dd 0
rm_esp_push:  dd 0
rm_pop:       dd 0
rm_esp_pop:   dd 0
rm_ip:        dd 0
h_v86ebx:     dd 0

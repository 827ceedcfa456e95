; Virtual-8086 mode: IRETD with VM from CPL 0 (ES/DS/FS/GS/SS:ESP popped), real-mode
; segment arithmetic, IOPL-sensitive CLI and INT n raising #GP(0) at IOPL 0 with the
; VM86 frame (GS/FS/DS/ES pushed, data segments nulled), INT n through a DPL 3 gate
; and IRETD back at IOPL 3, and IRET inside virtual-8086 mode.
%include "lib.inc"

; V86_FRAME eip, eflags, es, ds: pushes the IRETD frame for virtual-8086 mode.
%macro V86_FRAME 4
    push dword 0x0300                       ; gs
    push dword 0x0200                       ; fs
    push dword %4                           ; ds
    push dword %3                           ; es
    push dword 0                            ; ss
    push dword 0x7000                       ; esp
    push dword %2
    push dword 0                            ; cs
    push dword %1
%endmacro

main:
    SET_IDT 0x21, v86_int21, 0xEE
    SET_IDT 0x81, exit_fn, 0xEE

    ; ---- IOPL 0 ----
    mov [abandon_esp], esp
    V86_FRAME v86_a, 0x00020002, 0x0100, 0
    iretd

back1:
    EXPECT [exc_vec], 13, "cli in vm86 at iopl 0 #GP"
    EXPECT [exc_err], 0, "cli #GP(0)"
    EXPECT [exc_eip], v86_cli, "cli #GP eip"
    EXPECT [exc_cs], 0, "vm86 frame cs"
    mov eax, [exc_fl]
    and eax, 0x20000
    EXPECT eax, 0x20000, "vm86 frame eflags has VM"
    EXPECT [exc_esp], 0x7000, "vm86 frame esp"
    EXPECT [exc_ss], 0, "vm86 frame ss"
    EXPECT [exc_es], 0x0100, "vm86 frame es"
    EXPECT [exc_ds], 0, "vm86 frame ds"
    EXPECT [exc_fs], 0x0200, "vm86 frame fs"
    EXPECT [exc_gs], 0x0300, "vm86 frame gs"
    EXPECT [exc_frame], STACK0_TOP - 36, "vm86 frame on the tss esp0 stack"
    movzx eax, word [0x1002]
    EXPECT eax, 0x1234, "vm86 segment arithmetic (es=0x100)"
    EXPECT [v_int_vec], 13, "int n in vm86 at iopl 0 #GP"
    EXPECT [v_int_err], 0, "int n #GP(0)"
    EXPECT [v_int_eip], v86_int_at, "int n #GP eip"
    movzx eax, word [v_cs]
    EXPECT eax, 0, "cs in vm86"

    ; ---- IOPL 3 ----
    V86_FRAME v86_b, 0x00023002, 0, 0
    iretd

back2:
    movzx eax, word [v_fl]
    and eax, 0x3200
    EXPECT eax, 0x3200, "pushf in vm86 at iopl 3 (IF, IOPL)"
    EXPECT [i21_eip], v86_int21_next, "int 21h from vm86: frame eip"
    EXPECT [i21_cs], 0, "int 21h frame cs"
    mov eax, [i21_fl]
    and eax, 0x20000
    EXPECT eax, 0x20000, "int 21h frame VM"
    EXPECT [i21_ss], 0, "int 21h frame ss"
    EXPECT [i21_es], 0, "int 21h frame es"
    EXPECT [i21_gs], 0x0300, "int 21h frame gs"
    EXPECT [i21_hds], 0, "int from vm86 nulls ds"
    EXPECT [i21_hcs], SEL_CODE0, "int from vm86 runs at cpl 0"
    movzx eax, word [v_ax]
    EXPECT eax, 0x2121, "iretd from cpl 0 back to vm86"
    movzx eax, word [v_iret]
    EXPECT eax, 0x4242, "iret inside vm86"
    mov eax, [exit_fl]
    and eax, 0x20000
    EXPECT eax, 0, "VM clear in the ring 0 handler"
    jmp finish

; ---- ring 0 handlers ----
v86_int21:
    mov eax, ds
    mov [ss:i21_hds], eax
    mov ax, SEL_DATA0
    mov ds, ax
    mov eax, cs
    mov [i21_hcs], eax
    mov eax, [esp]
    mov [i21_eip], eax
    mov eax, [esp + 4]
    mov [i21_cs], eax
    mov eax, [esp + 8]
    mov [i21_fl], eax
    mov eax, [esp + 16]
    mov [i21_ss], eax
    mov eax, [esp + 20]
    mov [i21_es], eax
    mov eax, [esp + 32]
    mov [i21_gs], eax
    mov eax, 0x2121
    iretd

exit_fn:
    mov ax, SEL_DATA0
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    pushfd
    pop eax
    mov [exit_fl], eax
    mov esp, STACK0_TOP
    jmp back2

    bits 16
v86_a:
    mov ax, cs
    mov [v_cs], ax
    mov word [es:2], 0x1234
    mov dword [exc_resume], v86_r1
v86_int_at:
    int 0x21
v86_r1:
    mov eax, [exc_vec]
    mov [v_int_vec], eax
    mov eax, [exc_err]
    mov [v_int_err], eax
    mov eax, [exc_eip]
    mov [v_int_eip], eax
    mov dword [exc_abandon], back1
v86_cli:
    cli
    jmp $

v86_b:
    cli
    sti
    pushf
    pop ax
    mov [v_fl], ax
    int 0x21
v86_int21_next:
    mov [v_ax], ax
    pushf
    push cs
    push word v86_next
    iret
    jmp $
v86_next:
    mov word [v_iret], 0x4242
    int 0x81
    jmp $
    bits 32

    align 4
v_cs:      dd 0
v_fl:      dd 0
v_ax:      dd 0
v_iret:    dd 0
v_int_vec: dd 0
v_int_err: dd 0
v_int_eip: dd 0
i21_eip:   dd 0
i21_cs:    dd 0
i21_fl:    dd 0
i21_ss:    dd 0
i21_es:    dd 0
i21_gs:    dd 0
i21_hds:   dd 0
i21_hcs:   dd 0
exit_fl:   dd 0

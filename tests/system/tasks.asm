; Hardware task switching: JMP to a TSS, CALL through a task gate and IRET back
; (NT, back link, busy bits, saved state, CR0.TS), a Linux-style double-fault task
; gate (vector 8 -> TSS) entered when #GP delivery overflows the stack, #TS for a
; bad selector in the new TSS (raised in the new task), a 16-bit TSS, and the
; #TS/#GP checks of IRET with NT and CALL to a busy TSS.
%include "lib.inc"

DF_STACK equ 0x70000
B_STACK  equ 0x6F000

; TSS_INIT base, eip, esp: a flat ring 0 task (EFLAGS 2, FS/GS null).
%macro TSS_INIT 3
    mov dword [%1 + 0x20], %2
    mov dword [%1 + 0x24], 2
    mov dword [%1 + 0x38], %3
    mov word [%1 + 0x48], SEL_DATA0
    mov word [%1 + 0x4C], SEL_CODE0
    mov word [%1 + 0x50], SEL_DATA0
    mov word [%1 + 0x54], SEL_DATA0
    mov word [%1 + 0x66], 0x68
%endmacro

; TYPE_OF sel -> EAX = access byte of the descriptor
%macro TYPE_OF 1
    movzx eax, byte [gdt + (%1) + 5]
%endmacro

main:
    ; ---- JMP to a TSS and JMP back ----
    TSS_INIT TSS_B, task_b, B_STACK
    mov dword [TSS_B + 0x28], 0xBBBB0000    ; B's EAX
    mov eax, 0x11111111
    mov ebx, 0xB0B0B0B0
    jmp SEL_TSS_B:0
.back_from_b:
    EXPECT ebx, 0xB0B0B0B0, "jmp back restores main's registers"
    EXPECT [b_eax], 0xBBBB0000, "task b loaded its registers"
    EXPECT [b_tr], SEL_TSS_B, "tr in task b"
    EXPECT [b_main_type], 0x89, "jmp clears the old task's busy bit"
    EXPECT [b_own_type], 0x8B, "jmp sets the new task's busy bit"
    mov eax, [b_fl]
    and eax, 0x4000
    EXPECT eax, 0, "jmp does not set NT"
    movzx eax, word [TSS_B]
    EXPECT eax, 0, "jmp writes no back link"
    mov eax, [b_cr0]
    and eax, 8
    EXPECT eax, 8, "task switch sets CR0.TS"
    EXPECT [TSS_MAIN + 0x20], .back_from_b, "old task's saved eip is the next instruction"
    EXPECT [TSS_MAIN + 0x34], 0xB0B0B0B0, "old task's saved ebx"
    str ax
    movzx eax, ax
    EXPECT eax, SEL_TSS, "tr back to main"
    TYPE_OF SEL_TSS_B
    EXPECT eax, 0x89, "task b not busy after jmp back"
    clts

    ; ---- CALL through a task gate, IRET back ----
    SET_TASK_GATE gdt, SEL_SLOT40, SEL_TSS_B, 0x85
    TSS_INIT TSS_B, task_c, B_STACK
    call SEL_SLOT40:0
.back_from_c:
    EXPECT [c_link], SEL_TSS, "call writes the back link"
    mov eax, [c_fl]
    and eax, 0x4000
    EXPECT eax, 0x4000, "call sets NT in the new task"
    EXPECT [c_main_type], 0x8B, "call keeps the caller busy"
    EXPECT [c_tr], SEL_TSS_B, "tr in the called task"
    TYPE_OF SEL_TSS_B
    EXPECT eax, 0x89, "iret clears the returning task's busy bit"
    TYPE_OF SEL_TSS
    EXPECT eax, 0x8B, "caller busy after iret"
    pushfd
    pop eax
    and eax, 0x4000
    EXPECT eax, 0, "caller's NT clear after iret"
    mov eax, [TSS_B + 0x24]
    and eax, 0x4000
    EXPECT eax, 0, "iret saves the returning task with NT clear"
    TRY call SEL_TSS:0
    EXPECT_FAULT 13, SEL_TSS, "call to a busy tss #GP(sel)"

    ; ---- IRET with NT and a back link to a non-busy TSS ----
    mov word [TSS_MAIN], SEL_TSS_B
    pushfd
    or dword [esp], 0x4000
    popfd
    TRY iretd
    pushfd
    and dword [esp], ~0x4000
    popfd
    EXPECT_FAULT 10, SEL_TSS_B, "iret to a non-busy task #TS(link)"

    ; ---- #TS for a bad DS in the new TSS: raised in the new task ----
    TSS_INIT TSS_B, task_b2, B_STACK
    mov word [TSS_B + 0x54], 0x1F8
    ABANDON_TO ts_in_b
    jmp SEL_TSS_B:0
.back_ts:
    EXPECT [exc_vec], 10, "bad ds in new tss #TS vector"
    EXPECT [exc_err], 0x1F8, "bad ds in new tss #TS(sel)"
    EXPECT [exc_eip], task_b2, "#TS after the commit point: new task's eip"
    EXPECT [ts_tr], SEL_TSS_B, "#TS handled in the new task"

    ; ---- 16-bit TSS ----
    mov word [TSS_16 + 14], task16
    mov word [TSS_16 + 16], 2
    mov word [TSS_16 + 18], 0x1616
    mov word [TSS_16 + 26], 0x6000
    mov word [TSS_16 + 34], SEL_DATA0
    mov word [TSS_16 + 36], SEL_CODE0
    mov word [TSS_16 + 38], SEL_DATA0
    mov word [TSS_16 + 40], SEL_DATA0
    call SEL_TSS16:0
.back_16:
    EXPECT [t16_ax], 0x1616, "16-bit tss loads ax"
    EXPECT [t16_tr], SEL_TSS16, "tr in the 16-bit task"
    movzx eax, word [TSS_16]
    EXPECT eax, SEL_TSS, "16-bit tss back link"
    TYPE_OF SEL_TSS16
    EXPECT eax, 0x81, "16-bit tss available after iret"
    movzx eax, word [TSS_16 + 18]
    EXPECT eax, 0x2AAA, "16-bit task's ax saved"

    ; ---- Double fault through a task gate (as Linux on i386) ----
    TSS_INIT TSS_DF, df_task, DF_STACK
    SET_TASK_GATE IDT_BASE, 8 * 8, SEL_TSS_DF, 0x85
    mov [saved_esp], esp
    mov ax, SEL_SMALL
    mov ss, ax
    mov esp, 8                              ; #GP's frame does not fit: #SS -> #DF
    mov ax, 0x1F8
df_at:
    mov ds, ax
df_resume:
    mov ax, SEL_DATA0
    mov ds, ax
    mov ss, ax
    mov esp, [saved_esp]
    EXPECT [df_err], 0, "#DF error code on the new task's stack"
    EXPECT [df_esp], DF_STACK - 4, "#DF task stack holds only the error code"
    EXPECT [df_tr], SEL_TSS_DF, "#DF runs in the double-fault task"
    EXPECT [df_link], SEL_TSS, "#DF task back link"
    mov eax, [df_fl]
    and eax, 0x4000
    EXPECT eax, 0x4000, "#DF task has NT"
    EXPECT [df_eip], df_at, "#DF: old task saved at the faulting instruction"
    EXPECT [df_ss], SEL_SMALL, "#DF: old task's ss saved"
    EXPECT [df_oesp], 8, "#DF: old task's esp saved"
    TYPE_OF SEL_TSS_DF
    EXPECT eax, 0x89, "#DF task not busy after iret"
    str ax
    movzx eax, ax
    EXPECT eax, SEL_TSS, "back in the main task"
    jmp finish

; ---- tasks ----
task_b:
    mov [b_eax], eax
    str ax
    movzx eax, ax
    mov [b_tr], eax
    pushfd
    pop eax
    mov [b_fl], eax
    TYPE_OF SEL_TSS
    mov [b_main_type], eax
    TYPE_OF SEL_TSS_B
    mov [b_own_type], eax
    mov eax, cr0
    mov [b_cr0], eax
    jmp SEL_TSS:0

task_c:
    movzx eax, word [TSS_B]
    mov [c_link], eax
    pushfd
    pop eax
    mov [c_fl], eax
    TYPE_OF SEL_TSS
    mov [c_main_type], eax
    str ax
    movzx eax, ax
    mov [c_tr], eax
    iretd

task_b2:
    nop                                     ; never runs: #TS first

ts_in_b:
    str ax
    movzx eax, ax
    mov [ts_tr], eax
    jmp SEL_TSS:0

task16:
    movzx eax, ax
    mov [t16_ax], eax
    str ax
    movzx eax, ax
    mov [t16_tr], eax
    mov eax, 0x2AAA
    iretd

df_task:
    mov [df_esp], esp
    pop eax
    mov [df_err], eax
    str ax
    movzx eax, ax
    mov [df_tr], eax
    movzx eax, word [TSS_DF]
    mov [df_link], eax
    pushfd
    pop eax
    mov [df_fl], eax
    mov eax, [TSS_MAIN + 0x20]
    mov [df_eip], eax
    movzx eax, word [TSS_MAIN + 0x50]
    mov [df_ss], eax
    mov eax, [TSS_MAIN + 0x38]
    mov [df_oesp], eax
    ; Repair the interrupted task so it can resume.
    mov dword [TSS_MAIN + 0x20], df_resume
    mov word [TSS_MAIN + 0x50], SEL_DATA0
    mov eax, [saved_esp]
    mov [TSS_MAIN + 0x38], eax
    iretd

    align 4
saved_esp:   dd 0
b_eax:       dd 0
b_tr:        dd 0
b_fl:        dd 0
b_main_type: dd 0
b_own_type:  dd 0
b_cr0:       dd 0
c_link:      dd 0
c_fl:        dd 0
c_main_type: dd 0
c_tr:        dd 0
ts_tr:       dd 0
t16_ax:      dd 0
t16_tr:      dd 0
df_esp:      dd 0
df_err:      dd 0
df_tr:       dd 0
df_link:     dd 0
df_fl:       dd 0
df_eip:      dd 0
df_ss:       dd 0
df_oesp:     dd 0

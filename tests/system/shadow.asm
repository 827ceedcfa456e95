; The shadow after STI, MOV SS and POP SS (SDM vol. 3, 6.8.3; STI):
; - single-step (TF): the #DB for a MOV SS / POP SS is held until the next
;   instruction has completed (one #DB, DR6.BS, EIP after that instruction); the
;   #DB after STI and after LSS is not held; of two SS loads in a row only the
;   first holds it;
; - maskable interrupts (the harness raises INTR with a write to port 0xEB):
;   after an STI that sets IF the interrupt waits for the next instruction
;   (also when that is HLT: it halts and is woken); after a STI with IF already
;   set, or a POPFD that sets IF, it is taken at once; raised while MOV SS reads
;   its selector (from MMIO, port 0xEC), it waits for the next instruction.
%include "lib.inc"

INT_VEC equ 0x50
MMIO    equ 0xFED00000                  ; above RAM: the harness's MMIO

; TF_ON / TF_OFF: single-step the code between them; the #DB handler logs each
; trap's EIP and DR6.
%macro TF_ON 0
    mov dword [db_n], 0
    pushfd
    or dword [esp], 0x100
    popfd
%endmacro
%macro TF_OFF 0
    pushfd
    and dword [esp], ~0x100
    popfd
%endmacro

    bits 32
main:
    SET_IDT 1, h_db, 0x8E
    SET_IDT INT_VEC, h_int, 0x8E
    mov ax, SEL_DATA0

    ; ---- TF across MOV SS: no #DB at .m1, one at .m2 with BS ----
    mov eax, SEL_DATA0
    TF_ON
    nop
.ms:
    mov ss, ax
.m1:
    nop
.m2:
    TF_OFF
    mov eax, .ms
    call find
    EXPECT eax, 1, "tf: #db after the instruction before mov ss"
    mov eax, .m1
    call find
    EXPECT eax, 0, "tf: no #db right after mov ss"
    mov eax, .m2
    call find
    EXPECT eax, 1, "tf: #db after the instruction after mov ss"
    call dr6_of_m2
    and eax, 0x4000
    EXPECT eax, 0x4000, "tf: that #db has dr6.bs"

    ; ---- TF across POP SS ----
    mov eax, SEL_DATA0
    TF_ON
    push eax
    pop ss
.p1:
    nop
.p2:
    TF_OFF
    mov eax, .p1
    call find
    EXPECT eax, 0, "tf: no #db right after pop ss"
    mov eax, .p2
    call find
    EXPECT eax, 1, "tf: #db after the instruction after pop ss"

    ; ---- TF across MOV SS; MOV SS: only the first holds the #DB ----
    mov eax, SEL_DATA0
    TF_ON
    mov ss, ax
.d1:
    mov ss, ax
.d2:
    nop
.d3:
    TF_OFF
    mov eax, .d1
    call find
    EXPECT eax, 0, "tf: no #db between two mov ss"
    mov eax, .d2
    call find
    EXPECT eax, 1, "tf: #db after the second mov ss"

    ; ---- TF across STI: not held ----
    mov eax, SEL_DATA0
    TF_ON
    sti
.s1:
    nop
    cli
    TF_OFF
    mov eax, .s1
    call find
    EXPECT eax, 1, "tf: #db right after sti"

    ; ---- TF across LSS: not held (only MOV SS and POP SS) ----
    mov [lss_ptr], esp
    mov word [lss_ptr + 4], SEL_DATA0
    mov eax, SEL_DATA0
    TF_ON
    lss esp, [lss_ptr]
.l1:
    nop
    TF_OFF
    mov eax, .l1
    call find
    EXPECT eax, 1, "tf: #db right after lss"

    ; ---- INTR pending across STI: taken after the next instruction ----
    cli
    mov dword [int_n], 0
    mov al, INT_VEC
    out 0xEB, al
    EXPECT [int_n], 0, "intr: held while IF = 0"
    sti
    nop
.i1:
    nop
    cli
    EXPECT [int_n], 1, "intr: taken after sti"
    EXPECT [int_eip], .i1, "intr: after the instruction after sti"

    ; ---- STI; HLT: the CPU halts and the interrupt wakes it ----
    mov dword [int_n], 0
    mov al, INT_VEC
    out 0xEB, al
    sti
    hlt
.h1:
    cli
    EXPECT [int_n], 1, "intr: sti; hlt is woken"
    EXPECT [int_eip], .h1, "intr: sti; hlt returns after hlt"

    ; ---- STI with IF already set opens no shadow ----
    sti
    mov dword [int_n], 0
    mov al, INT_VEC
    out 0xEB, al
.a0:
    cli
    EXPECT [int_n], 1, "intr: taken right after out with IF = 1"
    EXPECT [int_eip], .a0, "intr: at once, no shadow"
    mov dword [int_n], 0
    mov al, INT_VEC
    cli
    out 0xEB, al
    sti
    sti
.a1:
    nop
    cli
    EXPECT [int_eip], .a1, "intr: a second sti holds nothing"

    ; ---- POPFD setting IF: no shadow ----
    mov dword [int_n], 0
    mov al, INT_VEC
    out 0xEB, al
    pushfd
    or dword [esp], 0x200
    popfd
.f1:
    nop
    cli
    EXPECT [int_eip], .f1, "intr: popfd opens no shadow"

    ; ---- INTR raised while MOV SS reads its selector: held one instruction ----
    mov dword [MMIO], SEL_DATA0
    mov dword [int_n], 0
    mov al, INT_VEC
    out 0xEC, al                            ; raise at the next MMIO read
    sti
    mov ss, [MMIO]
.s_1:
    nop
.s_2:
    cli
    EXPECT [int_n], 1, "intr: raised during mov ss"
    EXPECT [int_eip], .s_2, "intr: after the instruction after mov ss"

    ; ---- control: raised by a plain MMIO read, taken right after it ----
    mov dword [int_n], 0
    mov al, INT_VEC
    out 0xEC, al
    sti
    mov ax, [MMIO]
.c_1:
    nop
    cli
    EXPECT [int_eip], .c_1, "intr: raised by a mmio read outside a shadow, at once"

    call finish

; find: EAX = number of logged #DB whose EIP is EAX.
find:
    push ebx
    push ecx
    xor ecx, ecx
    xor ebx, ebx
.l:
    cmp ebx, [db_n]
    jae .d
    cmp eax, [db_eips + ebx * 4]
    jne .n
    inc ecx
.n:
    inc ebx
    jmp .l
.d:
    mov eax, ecx
    pop ecx
    pop ebx
    ret

; EAX = DR6 logged with the #DB at main.m2.
dr6_of_m2:
    xor ebx, ebx
.l:
    cmp ebx, [db_n]
    jae .none
    cmp dword [db_eips + ebx * 4], main.m2
    je .hit
    inc ebx
    jmp .l
.hit:
    mov eax, [db_dr6s + ebx * 4]
    ret
.none:
    xor eax, eax
    ret

h_db:
    push eax
    push ebx
    mov ebx, [db_n]
    cmp ebx, 16
    jae .full
    mov eax, [esp + 8]
    mov [db_eips + ebx * 4], eax
    mov eax, dr6
    mov [db_dr6s + ebx * 4], eax
    inc dword [db_n]
.full:
    xor eax, eax
    mov dr6, eax
    pop ebx
    pop eax
    iretd

h_int:
    push eax
    mov eax, [esp + 4]
    mov [int_eip], eax
    inc dword [int_n]
    pop eax
    iretd

    align 4
db_n:     dd 0
db_eips:  times 16 dd 0
db_dr6s:  times 16 dd 0
db_eip:   dd 0
int_n:    dd 0
int_eip:  dd 0
lss_ptr:  dd 0, 0

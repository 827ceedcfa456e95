; Data breakpoints (DR0-DR3, DR7 R/W = 01 write or 11 read/write; SDM vol. 3,
; 18.2-18.3): a hit is a trap, one #DB after the accessing instruction with EIP
; past it and DR6.Bn set; length and alignment decide which bytes are watched;
; a REP string instruction traps after the iteration that hit, with EIP still at
; the instruction and ECX counting what is left; after MOV SS or POP SS the #DB
; is held until the next instruction has completed; the accesses of an
; instruction that faults do not trap.
%include "lib.inc"

    bits 32
main:
    SET_IDT 1, h_db, 0x8E

    ; ---- write breakpoint (R/W 01, 4 bytes) on watch ----
    mov eax, watch
    mov dr0, eax
    mov eax, 0x000D0001                 ; L0, R/W0 = 01, LEN0 = 11 (4 bytes)
    mov dr7, eax
    mov dword [db_n], 0
    mov ebx, [watch]                    ; a read: no trap
.w0:
    mov dword [watch], 5
.w1:
    EXPECT [db_n], 1, "write bp: one #db for a read and a write"
    EXPECT [db_eip], .w1, "write bp: trap after the write"
    mov eax, [db_dr6]
    and eax, 0xF
    EXPECT eax, 1, "write bp: dr6.b0"
    mov dword [db_n], 0
    mov byte [watch + 3], 1             ; inside the 4 bytes
    mov byte [watch + 4], 1             ; past them
    mov word [watch - 1], 1             ; straddles into them
    EXPECT [db_n], 2, "write bp: bytes inside and straddling hit, past do not"

    ; ---- read/write breakpoint (R/W 11, 1 byte) in DR2 ----
    mov eax, watch + 2
    mov dr2, eax
    mov eax, 0x03000020                 ; L2, R/W2 = 11, LEN2 = 00 (1 byte)
    mov dr7, eax
    mov dword [db_n], 0
    mov eax, [watch]
.r1:
    EXPECT [db_n], 1, "rw bp: a read hits"
    EXPECT [db_eip], .r1, "rw bp: trap after the read"
    mov eax, [db_dr6]
    and eax, 0xF
    EXPECT eax, 4, "rw bp: dr6.b2"
    mov dword [db_n], 0
    mov al, [watch + 1]
    mov al, [watch + 3]
    EXPECT [db_n], 0, "rw bp: neighbouring bytes do not hit"

    ; ---- REP MOVSB through the watched byte: trap after that iteration ----
    mov dword [db_n], 0
    cld
    mov esi, src
    mov edi, watch
    mov ecx, 8
.rep:
    rep movsb
.rep_end:
    EXPECT [db_n], 1, "rep: one #db"
    EXPECT [db_eip], .rep, "rep: eip at the rep instruction"
    EXPECT [db_ecx], 5, "rep: ecx after the iteration that wrote watch+2"
    EXPECT ecx, 0, "rep: resumed and finished"
    mov eax, [watch + 4]
    EXPECT eax, 0x88776655, "rep: every byte copied"

    ; ---- MOV SS from a watched selector: #DB held one instruction ----
    mov dword [sel], SEL_DATA0
    mov eax, sel
    mov dr1, eax
    mov eax, 0x00F00004                 ; L1, R/W1 = 11, LEN1 = 11
    mov dr7, eax
    mov dword [db_n], 0
    mov ss, [sel]
.m1:
    nop
.m2:
    EXPECT [db_n], 1, "mov ss: one #db"
    EXPECT [db_eip], .m2, "mov ss: held until after the next instruction"
    mov eax, [db_dr6]
    and eax, 0xF
    EXPECT eax, 2, "mov ss: dr6.b1"

    ; ---- POP SS from a watched stack slot: held too ----
    mov [saved_esp], esp
    mov esp, alt_stack_top - 4
    mov dword [esp], SEL_DATA0
    mov eax, esp
    mov dr1, eax
    mov dword [db_n], 0
    pop ss
.p1:
    mov esp, [saved_esp]                ; the held #DB is delivered after this
.p2:
    EXPECT [db_n], 1, "pop ss: one #db"
    EXPECT [db_eip], .p2, "pop ss: held until after the next instruction"

    ; ---- a faulting instruction's access does not trap ----
    SET_IDT 13, h_gp, 0x8E
    mov dword [db_n], 0
    mov eax, sel
    mov dr1, eax
    mov dword [sel], 0x12345678         ; a hit (write) by a completed instruction
    mov dword [db_n], 0
    mov dword [gp_n], 0
    mov ax, [sel]                       ; read hit, then the load of selector 0x5678 faults
    mov es, [sel]
.f1:
    EXPECT [gp_n], 1, "fault: #gp taken"
    EXPECT [db_n], 1, "fault: only the completed read traps"

    ; ---- disarmed: no more traps ----
    xor eax, eax
    mov dr7, eax
    mov dword [db_n], 0
    mov dword [watch], 7
    mov eax, [sel]
    EXPECT [db_n], 0, "disarmed: nothing traps"
    call finish

h_db:
    push eax
    inc dword [db_n]
    mov eax, [esp + 4]
    mov [db_eip], eax
    mov [db_ecx], ecx
    mov eax, dr6
    mov [db_dr6], eax
    xor eax, eax
    mov dr6, eax
    pop eax
    iretd

h_gp:
    inc dword [gp_n]
    add esp, 4                          ; error code
    add dword [esp], 4                  ; skip `mov es, [sel]` (8E 05 + disp32: 6 bytes)
    add dword [esp], 2
    iretd

    align 16
watch:    dd 0, 0
src:      db 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88
sel:      dd 0
saved_esp: dd 0
db_n:     dd 0
db_eip:   dd 0
db_ecx:   dd 0
db_dr6:   dd 0
gp_n:     dd 0
    align 16
alt_stack: times 64 dd 0
alt_stack_top:

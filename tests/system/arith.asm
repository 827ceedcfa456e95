; Faults raised by arithmetic instructions: #DE from DIV/IDIV (quotient overflow and
; divide by zero) and #BR from BOUND, each with the faulting instruction's EIP.
%include "lib.inc"

main:
    xor edx, edx
    mov eax, 1
    xor ecx, ecx
    TRY div ecx
    EXPECT_FAULT 0, NOERR, "div by zero #DE"
    mov edx, 2
    mov eax, 0
    mov ecx, 2
    TRY div ecx
    EXPECT_FAULT 0, NOERR, "div quotient overflow #DE"
    mov ax, 0x8000
    cwd
    mov cx, -1
    TRY idiv cx
    EXPECT_FAULT 0, NOERR, "idiv -32768 / -1 #DE"
    mov eax, 5
    TRY bound eax, [bounds]
    EXPECT [exc_vec], 0xFFFFFFFF, "bound within range"
    mov eax, 11
    TRY bound eax, [bounds]
    EXPECT_FAULT 5, NOERR, "bound above range #BR"
    mov eax, -1
    TRY bound eax, [bounds]
    EXPECT_FAULT 5, NOERR, "bound below range #BR"
    jmp finish

    align 4
bounds: dd 0, 10

; A fault while delivering a double fault shuts the processor down: with an empty
; IDT, UD2 -> #GP (no gate) -> #DF -> #GP again -> triple fault. The harness expects
; Exit::TripleFault after "ARMED" and never "SURVIVED".
%include "lib.inc"

main:
    mov esi, str_armed
    call puts
    lidt [empty_idt]
    ud2
    mov esi, str_survived
    call puts
    jmp finish

str_armed:    db "ARMED", 10, 0
str_survived: db "SURVIVED", 10, 0
empty_idt:
    dw 0
    dd 0

; Minimal real-mode interrupt handlers tab86 leaves in the BIOS area for
; kernels started without a BIOS (see bios/src/legacy.rs).
    bits 16
    org 0
irq0:                           ; vector 08h: PIT channel 0, 18.2 Hz
    push ax
    push ds
    xor ax, ax
    mov ds, ax
    add word [0x046C], 1        ; BDA timer ticks since midnight
    adc word [0x046E], 0
    cmp word [0x046E], 0x0018   ; 0x1800B0 ticks make a day
    jb .done
    ja .wrap
    cmp word [0x046C], 0x00B0
    jb .done
.wrap:
    mov word [0x046C], 0
    mov word [0x046E], 0
    mov byte [0x0470], 1        ; midnight passed
.done:
    int 0x1C                    ; user timer tick hook
    mov al, 0x20                ; non-specific EOI to the master
    out 0x20, al
    pop ds
    pop ax
    iret
pic1:                           ; vectors 09h-0Fh
    push ax
    mov al, 0x20
    out 0x20, al
    pop ax
    iret
pic2:                           ; vectors 70h-77h: EOI to both PICs
    push ax
    mov al, 0x20
    out 0xA0, al
    out 0x20, al
    pop ax
    iret
dummy:                          ; every other vector
    iret

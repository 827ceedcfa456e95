; tab86 interpreter benchmark ROM (64 KiB, mapped ending at 1 MiB; starts at F000:FFF0).
; Enters 32-bit protected mode with paging (4 KiB pages, as Linux runs), then runs
;   phase 1 "loop": an integer hash loop (ALU, shifts, branches, no memory)
;   phase 2 "memory": sieve of Eratosthenes over 2 MiB plus a word copy loop.
; Each phase writes its name and a checksum to port 0xE9 (debugcon), and the ROM
; exits with `out 0xF4` (isa-debug-exit; value 0 -> exit status 1) or halts.
; Build: nasm -f bin -o bench.rom bench.asm
bits 16
org 0xF0000

LOOP_ITERS  equ 20000000
SIEVE_N     equ 0x200000      ; bytes of sieve at 4 MiB
SIEVE_BASE  equ 0x400000
PD          equ 0x10000       ; page directory
PT          equ 0x11000       ; 4 page tables: 16 MiB identity

start16:
    cli
    cld
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7000
    o32 lgdt [cs:gdt_desc - 0xF0000]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp dword 0x08:start32

bits 32
start32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x90000
    ; identity-map 16 MiB with 4 KiB pages
    mov edi, PT
    mov eax, 0x003             ; present | writable
    mov ecx, 4096
.fill_pt:
    stosd
    add eax, 0x1000
    loop .fill_pt
    mov edi, PD
    mov eax, PT | 3
    mov ecx, 4
.fill_pd:
    stosd
    add eax, 0x1000
    loop .fill_pd
    mov eax, PD
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80010000         ; PG | WP
    mov cr0, eax

    ; ---- phase 1: integer loop
    mov esi, msg_loop
    call puts
    mov ecx, LOOP_ITERS
    mov eax, 0x12345678
    xor ebx, ebx
    mov edx, 1
.l1:
    add eax, edx
    xor ebx, eax
    rol ebx, 5
    lea edx, [edx + ebx * 2 + 1]
    sub eax, ebx
    shr edx, 1
    test ecx, 7
    jnz .skip
    inc ebx
.skip:
    dec ecx
    jnz .l1
    xor eax, ebx
    call puthex

    ; ---- phase 2: memory (sieve + copy)
    mov esi, msg_mem
    call puts
    mov edi, SIEVE_BASE
    mov ecx, SIEVE_N / 4
    mov eax, 0x01010101
    rep stosd
    mov ebx, 2
.outer:
    mov eax, ebx
    imul eax, ebx
    cmp eax, SIEVE_N
    jae .count
    cmp byte [SIEVE_BASE + ebx], 0
    je .next
.inner:
    mov byte [SIEVE_BASE + eax], 0
    add eax, ebx
    cmp eax, SIEVE_N
    jb .inner
.next:
    inc ebx
    jmp .outer
.count:
    xor eax, eax
    mov ecx, 2
.cnt:
    movzx edx, byte [SIEVE_BASE + ecx]
    add eax, edx
    inc ecx
    cmp ecx, SIEVE_N
    jb .cnt
    push eax
    ; word-at-a-time copy 2 MiB forward then checksum it, 4 rounds
    mov ebp, 4
.round:
    mov esi, SIEVE_BASE
    mov edi, SIEVE_BASE + SIEVE_N
    mov ecx, SIEVE_N / 4
.copy:
    mov eax, [esi]
    add eax, ebp
    mov [edi], eax
    add esi, 4
    add edi, 4
    dec ecx
    jnz .copy
    dec ebp
    jnz .round
    pop eax
    add eax, [SIEVE_BASE + SIEVE_N + 400]
    call puthex

    mov esi, msg_done
    call puts
    mov al, 0
    out 0xF4, al
    cli
    hlt

; puts: ESI -> NUL-terminated string to port 0xE9
puts:
    lodsb
    test al, al
    jz .e
    out 0xE9, al
    jmp puts
.e: ret

; puthex: EAX as 8 hex digits + newline to port 0xE9
puthex:
    mov ecx, 8
.h: rol eax, 4
    mov edx, eax
    and edx, 15
    mov dl, [hexdigits + edx]
    xchg eax, edx
    out 0xE9, al
    xchg eax, edx
    loop .h
    mov al, 10
    out 0xE9, al
    ret

hexdigits: db "0123456789abcdef"
msg_loop: db "loop ", 0
msg_mem:  db "memory ", 0
msg_done: db "done", 10, 0

align 8
gdt:
    dq 0
    dq 0x00CF9A000000FFFF      ; 0x08 flat code
    dq 0x00CF92000000FFFF      ; 0x10 flat data
gdt_desc:
    dw gdt_desc - gdt - 1
    dd gdt

    times 0xFFF0 - ($ - $$) db 0xF4
reset:
    db 0xEA                    ; jmp far F000:0000 (start16)
    dw start16 - 0xF0000, 0xF000
    times 0x10000 - ($ - $$) db 0xF4

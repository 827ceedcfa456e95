; tab86 interpreter benchmark ROM (64 KiB, mapped ending at 1 MiB; starts at F000:FFF0).
; Enters 32-bit protected mode with paging (4 KiB pages, as Linux runs), then runs
;   phase 1 "loop": an integer hash loop (ALU, shifts, branches, no memory)
;   phase 2 "memory": sieve of Eratosthenes over 2 MiB plus a word copy loop.
; Built with -DX87 it runs the x87 workloads instead:
;   phase "mandel": a Mandelbrot set (double precision, FPU stack only)
;   phase "matmul": 48x48 double matrix multiply, repeated
; so guest MIPS of the two ROMs compare per-instruction cost of float vs integer code.
; Each phase writes its name and a checksum to port 0xE9 (debugcon), and the ROM
; exits with `out 0xF4` (isa-debug-exit; value 0 -> exit status 1) or halts.
; Build: nasm -f bin -o bench.rom bench.asm   (or -DX87 -o bench-x87.rom)
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

%ifdef X87
    jmp x87_phases
%endif
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

%ifdef X87
MB_W     equ 240
MB_H     equ 180
MB_ITERS equ 256
MM_N     equ 48
MM_REPS  equ 40
MAT_A    equ 0x500000
tmp_i    equ 0x4FF000          ; scratch dword in RAM (the ROM is read-only)
MAT_B    equ MAT_A + MM_N * MM_N * 8
MAT_C    equ MAT_B + MM_N * MM_N * 8

x87_phases:
    mov eax, cr0
    and eax, ~(1 << 2)         ; EM = 0
    or eax, (1 << 1) | (1 << 5) ; MP, NE
    mov cr0, eax
    fninit

    ; ---- phase x1: Mandelbrot, total escape iterations as the checksum
    mov esi, msg_mandel
    call puts
    xor edi, edi
    mov ebp, MB_H - 1
.row:
    mov ebx, MB_W - 1
.col:
    mov [tmp_i], ebx
    fild dword [tmp_i]
    fmul qword [dx_step]
    fadd qword [x_min]         ; cr
    mov [tmp_i], ebp
    fild dword [tmp_i]
    fmul qword [dy_step]
    fadd qword [y_min]         ; ci cr
    fldz                       ; zi ci cr
    fldz                       ; zr zi ci cr
    mov ecx, MB_ITERS
.it:
    fld st0                    ; zr zr zi ci cr
    fmul st0, st0              ; zr2 zr zi ci cr
    fld st2                    ; zi zr2 zr zi ci cr
    fmul st0, st0              ; zi2 zr2 zr zi ci cr
    fld st1                    ; zr2 zi2 zr2 zr zi ci cr
    fadd st0, st1              ; |z|2 zi2 zr2 zr zi ci cr
    fcomp qword [four]         ; zi2 zr2 zr zi ci cr
    fnstsw ax
    sahf
    ja .escape
    fsubp st1, st0             ; zr2-zi2 zr zi ci cr
    fadd st0, st4              ; zr' zr zi ci cr
    fxch st1                   ; zr zr' zi ci cr
    fmul st0, st2              ; zr*zi zr' zi ci cr
    fadd st0, st0
    fadd st0, st3              ; zi' zr' zi ci cr
    fstp st2                   ; zr' zi' ci cr
    dec ecx
    jnz .it
    jmp .point_done
.escape:
    fstp st0
    fstp st0
.point_done:
    fstp st0
    fstp st0
    fstp st0
    fstp st0
    mov eax, MB_ITERS
    sub eax, ecx
    add edi, eax
    dec ebx
    jns .col
    dec ebp
    jns .row
    mov eax, edi
    call puthex

    ; ---- phase x2: C = A * B, MM_REPS times; checksum = trunc(sum of C)
    mov esi, msg_matmul
    call puts
    xor ebx, ebx               ; A[i] = (i % 7) - 3, B[i] = (i % 5) + 1, as doubles
.init:
    mov eax, ebx
    xor edx, edx
    mov ecx, 7
    div ecx
    sub edx, 3
    mov [tmp_i], edx
    fild dword [tmp_i]
    fstp qword [MAT_A + ebx * 8]
    mov eax, ebx
    xor edx, edx
    mov ecx, 5
    div ecx
    inc edx
    mov [tmp_i], edx
    fild dword [tmp_i]
    fmul qword [b_scale]
    fstp qword [MAT_B + ebx * 8]
    inc ebx
    cmp ebx, MM_N * MM_N
    jb .init
    mov ebp, MM_REPS
.rep:
    xor ebx, ebx               ; i
.mi:
    xor edx, edx               ; j
.mj:
    imul esi, ebx, MM_N * 8
    add esi, MAT_A             ; &A[i][0]
    lea edi, [MAT_B + edx * 8] ; &B[0][j]
    fldz
    mov ecx, MM_N
.mk:
    fld qword [esi]
    fmul qword [edi]
    faddp st1, st0
    add esi, 8
    add edi, MM_N * 8
    dec ecx
    jnz .mk
    imul eax, ebx, MM_N
    add eax, edx
    fstp qword [MAT_C + eax * 8]
    inc edx
    cmp edx, MM_N
    jb .mj
    inc ebx
    cmp ebx, MM_N
    jb .mi
    dec ebp
    jnz .rep
    fldz
    xor ebx, ebx
.sum:
    fadd qword [MAT_C + ebx * 8]
    inc ebx
    cmp ebx, MM_N * MM_N
    jb .sum
    fistp dword [tmp_i]
    mov eax, [tmp_i]
    call puthex

    mov esi, msg_done
    call puts
    mov al, 0
    out 0xF4, al
    cli
    hlt

align 8
x_min:   dq -2.0
y_min:   dq -1.2
dx_step: dq 0.0125             ; 3.0 / MB_W
dy_step: dq 0.013333333333333334 ; 2.4 / MB_H
b_scale: dq 0.025
four:    dq 4.0
msg_mandel: db "mandel ", 0
msg_matmul: db "matmul ", 0
%endif

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

; entry.asm: a Multiboot kernel that checks the board a BIOS leaves behind
; (see README "What a multiboot kernel finds at entry"). Unlike the other
; system kernels it runs on the whole machine (`--kernel`), not on the bare
; CPU harness: tests/tests/entry.rs boots it with a command line and RAM size
; and reads its report from debugcon port 0xE9.
;
; It checks, from protected mode: the Multiboot magic, the 8259 masks (OCW1
; read-back) and IRR/ISR via OCW3, PIT counter 0's mode (read-back status)
; and that it counts, the BDA's fields against the Multiboot memory info,
; the IVT's hardware vectors, and fw_cfg (signature, ID, RAM size, CPU count,
; command line, etc/e820 through the file directory) against the Multiboot
; information. Then it drops to real mode, enables interrupts and checks that
; IRQ 0 arrives at vector 08h and IRQ 8 at vector 70h, that the BIOS handlers
; it chains to send the EOIs (ISR clear, interrupts keep coming), that the BDA
; tick count follows IRQ 0, that the PIT period is 65536 PIT clocks (against
; the ACPI PM timer) and that software INTs return; back in protected mode it
; reports. Output: "PASS name" / "FAIL name got=... want=..." lines, then
; "DONE <hex count>", then it exits through isa-debug-exit (port 0xF4).

    bits 32
    org 0x100000

MB_MAGIC    equ 0x1BADB002
MB_FLAGS    equ 0x00010002          ; memory info, a.out kludge addresses
RM_BASE     equ 0x8000              ; real-mode code is copied here
RM_STACK    equ 0x7C00
PM_TIMER    equ 0x608               ; ACPI PM timer (PM block at 0x600)
FW_SEL      equ 0x510
FW_DATA     equ 0x511
SEL_CODE32  equ 0x08
SEL_DATA32  equ 0x10
SEL_CODE16  equ 0x18
SEL_DATA16  equ 0x20
PIT_PERIOD_PM equ 196608            ; 65536 PIT clocks in PM-timer clocks (x3)

; EXPECT actual, expected, "name": 32-bit operands.
%macro EXPECT 3
    push dword %2
    push dword %1
    push dword %%name
    call check
    jmp %%skip
%%name: db %3, 0
%%skip:
%endmacro

mb_header:
    dd MB_MAGIC
    dd MB_FLAGS
    dd -(MB_MAGIC + MB_FLAGS)
    dd mb_header                    ; header_addr
    dd mb_header                    ; load_addr
    dd 0                            ; load_end_addr: the whole file
    dd 0                            ; bss_end_addr: no bss
    dd entry                        ; entry_addr

entry:
    mov esp, stack_top
    mov [entry_eax], eax
    mov [mbi], ebx
    lgdt [gdt_desc]
    jmp SEL_CODE32:.reload
.reload:
    mov ax, SEL_DATA32
    mov ds, ax
    mov es, ax
    mov ss, ax

    EXPECT [entry_eax], 0x2BADB002, "multiboot magic"

    ; --- 8259s: masks through OCW1, IRR selected by default, ISR empty.
    xor eax, eax
    in al, 0x21
    EXPECT eax, 0xF8, "pic1 mask: irq 0-2 enabled"
    in al, 0xA1
    EXPECT eax, 0xCE, "pic2 mask: irq 8, 12, 13 enabled"
    mov al, 0x0B                    ; OCW3: read ISR
    out 0x20, al
    out 0xA0, al
    in al, 0x20
    mov ebx, eax
    in al, 0xA0
    shl eax, 8
    or eax, ebx
    EXPECT eax, 0, "pic isr empty at entry"
    mov al, 0x0A                    ; OCW3: back to IRR
    out 0x20, al
    out 0xA0, al

    ; --- PIT counter 0: read-back status, then two latched counts.
    mov al, 0xE2                    ; read-back: status only, counter 0
    out 0x43, al
    xor eax, eax
    in al, 0x40
    and al, 0x3F
    EXPECT eax, 0x34, "pit0 status: lobyte/hibyte, mode 2, binary"
    call pit0_count
    mov esi, eax
    mov ecx, 20000
.spin:
    dec ecx
    jnz .spin
    call pit0_count
    mov ebx, esi
    sub ebx, eax                    ; a down-counter: earlier minus later
    and ebx, 0xFFFF
    cmp ebx, 0
    setne al
    movzx eax, al
    EXPECT eax, 1, "pit0 counts"
    cmp ebx, 0x8000
    setb al
    movzx eax, al
    EXPECT eax, 1, "pit0 counts down"

    ; --- BDA against the Multiboot memory information.
    mov esi, [mbi]
    movzx eax, word [0x400]
    EXPECT eax, 0x3F8, "bda com1"
    movzx eax, word [0x402]
    EXPECT eax, 0, "bda com2 absent"
    movzx eax, word [0x413]
    EXPECT eax, [esi + 4], "bda base memory = mbi mem_lower"
    movzx ebx, word [0x40E]
    shl eax, 6                      ; KiB -> paragraphs
    EXPECT ebx, eax, "bda ebda segment at the end of base memory"
    shl ebx, 4
    movzx eax, byte [ebx]
    movzx ecx, word [0x413]
    mov edx, 640
    sub edx, ecx
    EXPECT eax, edx, "ebda size byte"
    movzx eax, word [0x410]
    mov ebx, eax
    shr eax, 9
    and eax, 7
    EXPECT eax, 1, "equipment: one serial port"
    and ebx, 2
    EXPECT ebx, 2, "equipment: x87"
    EXPECT [0x46C], 0, "bda ticks start at 0"

    ; --- IVT: hardware vectors point into the BIOS segment.
    movzx eax, word [0x08 * 4 + 2]
    EXPECT eax, 0xF000, "ivt 08h segment"
    movzx eax, word [0x70 * 4 + 2]
    EXPECT eax, 0xF000, "ivt 70h segment"
    mov eax, [0x08 * 4]
    cmp eax, [0x09 * 4]
    setne al
    movzx eax, al
    EXPECT eax, 1, "ivt 08h has its own handler (ticks)"

    call fw_cfg_tests
    call real_mode_tests

    ; --- Results of the real-mode part.
    EXPECT [rm_cnt08], 3, "irq0 at vector 08h (3 ticks)"
    mov eax, [rm_ticks1]
    sub eax, [rm_ticks0]
    EXPECT eax, 3, "bda ticks follow irq0"
    EXPECT [rm_isr_a], 0, "isr clear after the bios irq0 handler"
    ; Two periods between the first and third tick, in PM-timer clocks.
    mov eax, [rm_pm3]
    sub eax, [rm_pm1]
    and eax, 0xFFFFFF
    sub eax, 2 * PIT_PERIOD_PM
    add eax, 64                     ; within +-64 PM clocks (18 us)
    cmp eax, 128
    setb al
    movzx eax, al
    EXPECT eax, 1, "pit period is 65536 clocks (18.2 Hz)"
    EXPECT [rm_cnt08_b], 1, "bios irq0 handler alone: next tick arrives"
    mov eax, [rm_ticks2]
    sub eax, [rm_ticks1]
    EXPECT eax, 1, "bios irq0 handler alone counts the tick"
    EXPECT [rm_cnt70], 1, "irq8 (rtc) at vector 70h"
    EXPECT [rm_isr_b], 0, "isr clear after the bios irq8 handler"
    EXPECT [rm_int10], 0x1234, "int 10h returns (plain iret)"
    EXPECT [rm_int1c], 0x5678, "int 1ch returns"
    EXPECT [rm_flags_if], 0, "if clear again in protected mode"
    jmp finish

; pit0_count: EAX = counter 0's current count (latched).
pit0_count:
    mov al, 0x00                    ; counter latch, counter 0
    out 0x43, al
    xor eax, eax
    in al, 0x40
    mov ah, al
    in al, 0x40
    xchg al, ah
    ret

; ---------------------------------------------------------------- fw_cfg
fw_select:                          ; AX = key
    mov dx, FW_SEL
    out dx, ax
    ret
fw_read32:                          ; EAX = next 4 data bytes, little-endian
    push ecx
    push edx
    mov dx, FW_DATA
    mov ecx, 4
.l:
    in al, dx
    ror eax, 8
    dec ecx
    jnz .l
    pop edx
    pop ecx
    ret
fw_read32be:                        ; EAX = next 4 data bytes, big-endian
    call fw_read32
    bswap eax
    ret

fw_cfg_tests:
    mov ax, 0x0000
    call fw_select
    call fw_read32
    EXPECT eax, 'QEMU', "fw_cfg signature"
    mov ax, 0x0001
    call fw_select
    call fw_read32
    mov ebx, eax
    and eax, 1
    EXPECT eax, 1, "fw_cfg id: traditional interface"
    and ebx, 2
    EXPECT ebx, 0, "fw_cfg id: no dma"
    ; RAM size = 1 MiB + mem_upper KiB (the map's extended RAM runs to the end).
    mov ax, 0x0003
    call fw_select
    call fw_read32
    mov ebx, eax
    call fw_read32
    EXPECT eax, 0, "fw_cfg ram size high dword"
    mov esi, [mbi]
    mov eax, [esi + 8]
    shl eax, 10
    add eax, 0x100000
    EXPECT ebx, eax, "fw_cfg ram size = mbi memory"
    mov ax, 0x0005
    call fw_select
    xor eax, eax
    mov dx, FW_DATA
    in ax, dx
    EXPECT eax, 1, "fw_cfg cpu count"
    ; Command line: size includes the NUL; the bytes equal the MBI's string.
    mov ax, 0x0014
    call fw_select
    call fw_read32
    mov [fw_cmd_size], eax
    mov esi, [mbi]
    mov edi, [esi + 16]             ; MBI cmdline
    mov ecx, 0
.len:
    cmp byte [edi + ecx], 0
    je .lend
    inc ecx
    jmp .len
.lend:
    inc ecx
    EXPECT [fw_cmd_size], ecx, "fw_cfg cmdline size = mbi cmdline + nul"
    mov ax, 0x0015
    call fw_select
    mov ecx, [fw_cmd_size]
    call fw_compare                 ; EDI = expected bytes, ECX = count
    EXPECT eax, 0, "fw_cfg cmdline data = mbi cmdline"
    ; etc/e820 through the directory, against the MBI memory map.
    mov ax, 0x0019
    call fw_select
    call fw_read32be
    mov [fw_count], eax
    cmp eax, 2
    setae al
    movzx eax, al
    EXPECT eax, 1, "fw_cfg directory lists files"
    mov dword [fw_e820_key], 0
    mov ebx, [fw_count]
.entry:
    test ebx, ebx
    jz .dir_done
    dec ebx
    call fw_read32be
    mov [fw_file_size], eax
    call fw_read32be
    shr eax, 16
    mov [fw_file_key], eax
    ; 56 name bytes: compare with "etc/e820" NUL-padded.
    mov edi, name_e820
    mov ecx, 56
    call fw_compare
    test eax, eax
    jnz .entry
    mov eax, [fw_file_key]
    mov [fw_e820_key], eax
    mov eax, [fw_file_size]
    mov [fw_e820_size], eax
    jmp .entry
.dir_done:
    mov eax, [fw_e820_key]
    cmp eax, 0x20
    setae al
    movzx eax, al
    EXPECT eax, 1, "fw_cfg etc/e820 found"
    ; MBI map: entries of size(4) addr(8) len(8) type(4); fw_cfg's are the
    ; same without the size field.
    mov esi, [mbi]
    mov eax, [esi + 44]             ; mmap_length
    xor edx, edx
    mov ecx, 24
    div ecx
    imul eax, eax, 20
    EXPECT [fw_e820_size], eax, "fw_cfg etc/e820 size = mbi map entries"
    mov ax, [fw_e820_key]
    call fw_select
    mov esi, [mbi]
    mov ebx, [esi + 48]             ; mmap_addr
    mov ecx, [esi + 44]
    add ecx, ebx                    ; end
    mov dword [fw_mismatch], 0
.map:
    cmp ebx, ecx
    jae .map_done
    lea edi, [ebx + 4]
    push ecx
    mov ecx, 20
    call fw_compare
    pop ecx
    or [fw_mismatch], eax
    add ebx, 24
    jmp .map
.map_done:
    EXPECT [fw_mismatch], 0, "fw_cfg etc/e820 = mbi memory map"
    ret

; fw_compare: reads ECX data bytes and compares them with [EDI]; EAX = 0 when
; all equal, 1 otherwise (all ECX bytes are read either way).
fw_compare:
    push ebx
    push ecx
    push edx
    push edi
    xor ebx, ebx
    mov dx, FW_DATA
.c:
    test ecx, ecx
    jz .cd
    in al, dx
    cmp al, [edi]
    je .same
    mov ebx, 1
.same:
    inc edi
    dec ecx
    jmp .c
.cd:
    mov eax, ebx
    pop edi
    pop edx
    pop ecx
    pop ebx
    ret

; ------------------------------------------------------------- real mode
real_mode_tests:
    cli
    pushad
    mov [saved_esp], esp
    ; Copy the real-mode code below 1 MiB.
    mov esi, section.rm.start
    mov edi, RM_BASE
    mov ecx, rm_end - rm_start
    cld
    rep movsb
    jmp SEL_CODE16:rm_start

back32:
    mov ax, SEL_DATA32
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, [saved_esp]
    pushfd
    pop eax
    and eax, 0x200
    mov [rm_flags_if], eax
    popad
    ret

; ------------------------------------------------------------- reporting
; check: [esp+4] name, [esp+8] actual, [esp+12] expected.
check:
    push eax
    push esi
    inc dword [checks_run]
    mov eax, [esp + 16]
    cmp eax, [esp + 20]
    jne .fail
    mov esi, str_pass
    call puts
    mov esi, [esp + 12]
    call puts
    mov esi, str_nl
    call puts
    jmp .out
.fail:
    mov esi, str_fail
    call puts
    mov esi, [esp + 12]
    call puts
    mov esi, str_got
    call puts
    mov eax, [esp + 16]
    call puthex
    mov esi, str_want
    call puts
    mov eax, [esp + 20]
    call puthex
    mov esi, str_nl
    call puts
.out:
    pop esi
    pop eax
    ret 12

puts:
    push eax
    push esi
.l:
    mov al, [esi]
    test al, al
    jz .d
    out 0xE9, al
    inc esi
    jmp .l
.d:
    pop esi
    pop eax
    ret

puthex:                             ; EAX as 8 hex digits
    push eax
    push ecx
    push edx
    mov edx, eax
    mov ecx, 8
.h:
    rol edx, 4
    mov al, dl
    and al, 0x0F
    add al, '0'
    cmp al, '9'
    jbe .digit
    add al, 'a' - '9' - 1
.digit:
    out 0xE9, al
    dec ecx
    jnz .h
    pop edx
    pop ecx
    pop eax
    ret

finish:
    mov esi, str_done
    call puts
    mov eax, [checks_run]
    call puthex
    mov esi, str_nl
    call puts
    xor eax, eax
    out 0xF4, al                    ; isa-debug-exit: status 1
    cli
    hlt
    jmp finish

str_pass:  db "PASS ", 0
str_fail:  db "FAIL ", 0
str_got:   db " got=", 0
str_want:  db " want=", 0
str_nl:    db 10, 0
str_done:  db "DONE ", 0
name_e820: db "etc/e820"
    times 56 - 8 db 0

    align 4
checks_run:  dd 0
entry_eax:   dd 0
mbi:         dd 0
saved_esp:   dd 0
fw_cmd_size: dd 0
fw_count:    dd 0
fw_file_size: dd 0
fw_file_key: dd 0
fw_e820_key: dd 0
fw_e820_size: dd 0
fw_mismatch: dd 0
rm_flags_if: dd 0

    align 8
gdt:
    dq 0
    dq 0x00CF9A000000FFFF           ; 0x08 code32, flat
    dq 0x00CF92000000FFFF           ; 0x10 data32, flat
    dq 0x00009A000000FFFF           ; 0x18 code16, base 0, limit 0xFFFF
    dq 0x000092000000FFFF           ; 0x20 data16, base 0, limit 0xFFFF
gdt_end:
gdt_desc:
    dw gdt_end - gdt - 1
    dd gdt

    align 16
    times 1024 db 0
stack_top:

; ---------------------------------------------------------------------------
; Real-mode part: assembled for RM_BASE, copied there at run time. Results are
; stored in its data block (addressed as RM_BASE-relative physical addresses,
; which protected mode reads directly).
section rm vstart=RM_BASE follows=.text align=16
    bits 16
rm_start:
    mov ax, SEL_DATA16
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov eax, cr0
    and eax, ~1
    mov cr0, eax
    jmp 0:rm_real
rm_real:
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, RM_STACK
    lidt [rm_idt]

    ; Hook 08h and 70h: count, then chain to the BIOS handler.
    mov eax, [0x08 * 4]
    mov [orig08], eax
    mov eax, [0x70 * 4]
    mov [orig70], eax
    mov word [0x08 * 4], hook08
    mov word [0x08 * 4 + 2], 0
    mov word [0x70 * 4], hook70
    mov word [0x70 * 4 + 2], 0

    ; IRQ 0: three ticks, PM timer sampled at each.
    mov eax, [0x46C]
    mov [rm_ticks0], eax
    sti
.wait08:
    hlt
    cmp dword [rm_cnt08], 3
    jb .wait08
    cli
    mov eax, [0x46C]
    mov [rm_ticks1], eax
    mov al, 0x0B
    out 0x20, al
    out 0xA0, al
    in al, 0x20
    mov bl, al
    in al, 0xA0
    or bl, al
    movzx eax, bl
    mov [rm_isr_a], eax
    mov al, 0x0A
    out 0x20, al
    out 0xA0, al

    ; The BIOS handler alone: unhook 08h, wait for one more tick.
    mov eax, [orig08]
    mov [0x08 * 4], eax
    mov eax, [0x46C]
.wait_bios:
    sti
    hlt
    cli
    cmp eax, [0x46C]
    je .wait_bios
    mov dword [rm_cnt08_b], 1
    mov eax, [0x46C]
    mov [rm_ticks2], eax

    ; IRQ 8: RTC periodic interrupt (PIE) at its default rate.
    mov al, 0x8B                    ; register B (NMI off while we touch it)
    out 0x70, al
    in al, 0x71
    or al, 0x40
    mov bl, al
    mov al, 0x8B
    out 0x70, al
    mov al, bl
    out 0x71, al
    mov al, 0x8C                    ; read C: clear any stale flag
    out 0x70, al
    in al, 0x71
    ; Mask IRQ 0 meanwhile, so only IRQ 8 wakes us.
    in al, 0x21
    mov [pic1_mask], al
    or al, 1
    out 0x21, al
    sti
.wait70:
    hlt
    cmp dword [rm_cnt70], 1
    jb .wait70
    cli
    mov al, 0x8B                    ; PIE off
    out 0x70, al
    in al, 0x71
    and al, ~0x40
    mov bl, al
    mov al, 0x8B
    out 0x70, al
    mov al, bl
    out 0x71, al
    mov al, 0x8C
    out 0x70, al
    in al, 0x71
    mov al, 0x0D                    ; NMI back on
    out 0x70, al
    mov al, [pic1_mask]
    out 0x21, al
    mov al, 0x0B
    out 0x20, al
    out 0xA0, al
    in al, 0x20
    mov bl, al
    in al, 0xA0
    or bl, al
    movzx eax, bl
    mov [rm_isr_b], eax
    mov al, 0x0A
    out 0x20, al
    out 0xA0, al
    mov eax, [orig70]
    mov [0x70 * 4], eax

    ; Software interrupts return.
    mov ax, 0x1234
    int 0x10
    mov [rm_int10], ax
    mov ax, 0x5678
    int 0x1C
    mov [rm_int1c], ax

    ; Back to protected mode.
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    jmp dword SEL_CODE32:back32

hook08:
    push eax
    push dx
    mov dx, PM_TIMER
    in eax, dx
    inc dword [cs:rm_cnt08]
    cmp dword [cs:rm_cnt08], 1
    jne .not1
    mov [cs:rm_pm1], eax
.not1:
    cmp dword [cs:rm_cnt08], 3
    jne .not3
    mov [cs:rm_pm3], eax
.not3:
    pop dx
    pop eax
    jmp far [cs:orig08]

hook70:
    inc dword [cs:rm_cnt70]
    jmp far [cs:orig70]

    align 4
rm_idt:     dw 0x3FF
            dd 0
orig08:     dd 0
orig70:     dd 0
rm_cnt08:   dd 0
rm_cnt08_b: dd 0
rm_cnt70:   dd 0
rm_ticks0:  dd 0
rm_ticks1:  dd 0
rm_ticks2:  dd 0
rm_isr_a:   dd 0
rm_isr_b:   dd 0
rm_pm1:     dd 0
rm_pm3:     dd 0
rm_int10:   dd 0
rm_int1c:   dd 0
pic1_mask:  db 0
rm_end:

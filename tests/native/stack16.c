/* Implicit stack accesses when the stack size (SS.B) and the operand size differ:
 * a 16-bit stack (B = 0, limit 0xFFFF) with 32-bit pushes and pops near the SP
 * wrap at 0xFFFF/0x0000 and with bits set in ESP's upper half, and a 32-bit stack
 * (B = 1) with 16-bit operands. Both stack segments are LDT entries installed with
 * modify_ldt (syscall 123, func 0x11) over the same 128 KiB static area, so the
 * memory they show is at the same address natively and emulated. Selectors are
 * built with RPL = CPL (3 natively, 0 under the emulator's harness).
 *
 * Each case loads the registers from g_in, sets ESP, loads SS, runs its body, and
 * stores the eight registers to g_r before it restores the flat SS:ESP. A line
 * shows the registers after the body and the stack words around the wrap
 * (offsets 0xFFF0-0xFFFF then 0x0000-0x0013). No case faults: Linux would turn a
 * fault into a signal, whose delivery on this stack would fail. */
#include "rt.h"

struct user_desc_ {
    u32 entry, base, limit, flags;
};
/* flags: seg_32bit (bit 0), contents (bits 1-2), read_exec_only (3),
 * limit_in_pages (4), seg_not_present (5), useable (6). */

static u8 area[0x20000] __attribute__((aligned(65536)));
u32 g_in[8], g_r[8], g_save, g_ssave, g_sel, g_sel16, g_sel32, g_far[2];

static int modify_ldt(u32 func, struct user_desc_ *u, u32 n) {
    int r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(123), "b"(func), "c"(u), "d"(n) : "memory");
    return r;
}

/* One case: name, body. `sel` selects the stack: g_sel (set by the driver). */
#define CASE(name, body)                                                                       \
    __asm__(".text\n" #name ":\n"                                                              \
            "  pushal\n"                                                                       \
            "  movl %esp, g_save\n"                                                            \
            "  movw %ss, g_ssave\n"                                                            \
            "  movl g_in+0, %eax\n  movl g_in+4, %ecx\n  movl g_in+8, %edx\n"                  \
            "  movl g_in+12, %ebx\n  movl g_in+20, %ebp\n  movl g_in+24, %esi\n"               \
            "  movl g_in+28, %edi\n"                                                           \
            "  movl g_in+16, %esp\n"                                                           \
            "  movw g_sel, %ss\n" body "\n"                                                    \
            "  movl %eax, g_r+0\n  movl %ecx, g_r+4\n  movl %edx, g_r+8\n"                     \
            "  movl %ebx, g_r+12\n  movl %esp, g_r+16\n  movl %ebp, g_r+20\n"                  \
            "  movl %esi, g_r+24\n  movl %edi, g_r+28\n"                                       \
            "  movw g_ssave, %ss\n"                                                            \
            "  movl g_save, %esp\n"                                                            \
            "  popal\n"                                                                        \
            "  ret\n");                                                                        \
    void name(void);

/* Bodies (the stack and the inputs come from the table below). */
CASE(c_push32, "pushl %eax\n pushl %ecx")
CASE(c_pop32, "popl %eax\n popl %ecx")
CASE(c_push16, "pushw %ax\n pushw %cx")
CASE(c_pop16, "popw %ax\n popw %cx")
CASE(c_pushimm, "pushl $0x5a5a5a5a\n pushw $0x3c3c")
CASE(c_pushmem, "pushl g_in+0\n popl %edx")
CASE(c_pushesp, "pushl %esp")
CASE(c_popesp, "popl %esp")
CASE(c_popsp, "popw %sp")
CASE(c_pushsp, "pushw %sp")
CASE(c_popmem_esp, "popl 4(%esp)")
CASE(c_pushad, "pushal")
CASE(c_popad, "popal")
CASE(c_pushaw, "pushaw")
CASE(c_popaw, "popaw")
CASE(c_pushfd, "pushfl\n popfl\n pushfl\n popl %edx\n andl $0x8d5, %edx\n pushl %edx")
CASE(c_popfd, "pushl $0x8d5\n popfl\n pushfl\n popl %eax\n andl $0x8d5, %eax\n pushl %eax\n popl %eax")
CASE(c_pushfw, "pushfw\n popfw\n pushfw\n popw %dx\n andw $0x8d5, %dx\n pushw %dx")
CASE(c_pushsreg32, "pushl %ss")
CASE(c_pushsreg16, "pushw %ss")
CASE(c_popss32, "popl %ss")
CASE(c_popss16, "popw %ss")
CASE(c_call, "call 1f\n jmp 2f\n1: movl %esp, %ebx\n ret $8\n2:")
CASE(c_callind, "call *%edi")
CASE(c_lcall, "lcall *g_far")
CASE(c_leave32, "leavel")
CASE(c_leave16, "leavew")
CASE(c_enter32_0, "enterl $8, $0")
CASE(c_enter32_1, "enterl $8, $1")
CASE(c_enter32_2, "enterl $4, $2")
CASE(c_enter32_3, "enterl $0, $3")
CASE(c_enter16_0, "enterw $8, $0")
CASE(c_enter16_1, "enterw $8, $1")
CASE(c_enter16_3, "enterw $2, $3")
CASE(c_enter32_31, "enterl $6, $31")
CASE(c_enter16_31, "enterw $6, $31")
CASE(c_enter32_32, "enterl $6, $32")

/* Targets of the indirect near and the far call: they note ESP in EBX and return. */
__asm__(".text\nc_target:\n movl %esp, %ebx\n ret $2\n"
        "c_ftarget:\n movl %esp, %ebx\n lret $4\n");
void c_target(void);
void c_ftarget(void);

struct tcase {
    const char *name;
    void (*f)(void);
    u32 big;      /* the stack: 0 = 16-bit (entry 0), 1 = 32-bit (entry 1) */
    u32 esp, ebp; /* inputs */
};

static const struct tcase CASES[] = {
    /* 16-bit stack, 32-bit operands (and 16-bit ones across the wrap). */
    {"push32", c_push32, 0, 0x12340004u, 0},
    {"push32_wrap", c_push32, 0, 0x12340000u, 0},
    {"pop32", c_pop32, 0, 0xabcdfffcu, 0},
    {"pop32_wrap", c_pop32, 0, 0xabcdfff8u, 0},
    {"push16", c_push16, 0, 0x12340002u, 0},
    {"push16_wrap", c_push16, 0, 0x12340000u, 0},
    {"pop16", c_pop16, 0, 0xabcdfffeu, 0},
    {"pushimm", c_pushimm, 0, 0x12340004u, 0},
    {"pushmem", c_pushmem, 0, 0x00ff0000u, 0},
    {"pushesp", c_pushesp, 0, 0x12340000u, 0},
    {"popesp", c_popesp, 0, 0x0001fffcu, 0},
    {"popmem_esp", c_popmem_esp, 0, 0x0000fffcu, 0},
    {"popsp", c_popsp, 0, 0xabcdfffeu, 0},
    {"pushsp", c_pushsp, 0, 0x12340000u, 0},
    {"pushad", c_pushad, 0, 0x12340010u, 0x55555555u},
    {"popad", c_popad, 0, 0xabcdfff0u, 0},
    {"popad_wrap", c_popad, 0, 0xabcdfff8u, 0},
    {"pushaw", c_pushaw, 0, 0x12340008u, 0x55555555u},
    {"popaw", c_popaw, 0, 0xabcdfff8u, 0},
    {"pushfd", c_pushfd, 0, 0x12340000u, 0},
    {"popfd", c_popfd, 0, 0xabcd0000u, 0},
    {"pushfw", c_pushfw, 0, 0x12340000u, 0},
    {"pushsreg32", c_pushsreg32, 0, 0x12340000u, 0},
    {"pushsreg16", c_pushsreg16, 0, 0x12340002u, 0},
    /* Only the word is written, and only the word is limit-checked: no #SS with
     * SP = 2, although a dword at 0xFFFE would cross the limit. */
    {"pushsreg32_edge", c_pushsreg32, 0, 0x12340002u, 0},
    {"popss32", c_popss32, 0, 0x0002fffcu, 0},
    {"popss16", c_popss16, 0, 0x0002fffeu, 0},
    {"call_ret8", c_call, 0, 0x12340000u, 0},
    {"callind_ret2", c_callind, 0, 0x12340004u, 0},
    {"lcall_lret4", c_lcall, 0, 0x12340004u, 0},
    {"leave32", c_leave32, 0, 0x12340100u, 0x5678fffcu},
    {"leave16", c_leave16, 0, 0x12340100u, 0x5678fffeu},
    {"enter32_0", c_enter32_0, 0, 0x12340004u, 0x56780008u},
    {"enter32_1", c_enter32_1, 0, 0x12340004u, 0x56780008u},
    {"enter32_2", c_enter32_2, 0, 0x12340008u, 0x56780004u},
    {"enter32_3", c_enter32_3, 0, 0x12340010u, 0x56780004u},
    {"enter16_0", c_enter16_0, 0, 0x12340002u, 0x56780008u},
    {"enter16_1", c_enter16_1, 0, 0x12340000u, 0x56780008u},
    {"enter16_3", c_enter16_3, 0, 0x12340004u, 0x56780010u},
    {"enter16_3_bpwrap", c_enter16_3, 0, 0x12340010u, 0x56780002u},
    /* The copied frame pointers overlap the slot of the pushed BP. */
    {"enter16_3_overlap", c_enter16_3, 0, 0x12340004u, 0x56780004u},
    /* The deepest levels (the level is taken mod 32): the display and the
     * pushes wrap below 0; the hash shows the slots outside the dump. */
    {"enter32_31", c_enter32_31, 0, 0x12340040u, 0x56780030u},
    {"enter16_31", c_enter16_31, 0, 0x12340020u, 0x56780018u},
    {"enter32_32", c_enter32_32, 0, 0x12340004u, 0x56780030u},
    {"b_enter32_31", c_enter32_31, 1, 0x00010040u, 0x00010030u},
    {"b_enter16_31", c_enter16_31, 1, 0x00010020u, 0x00010018u},
    /* 32-bit stack, 16-bit operands (offsets across 0xFFFF/0x10000). */
    {"b_push16", c_push16, 1, 0x00010002u, 0},
    {"b_pop16", c_pop16, 1, 0x0000fffeu, 0},
    {"b_pushaw", c_pushaw, 1, 0x00010008u, 0x55555555u},
    {"b_popaw", c_popaw, 1, 0x0000fff8u, 0},
    {"b_pushfw", c_pushfw, 1, 0x00010000u, 0},
    {"b_popsp", c_popsp, 1, 0x0001fffeu, 0},
    {"b_pushsp", c_pushsp, 1, 0x00010000u, 0},
    {"b_pushesp", c_pushesp, 1, 0x00010002u, 0},
    {"b_pushsreg16", c_pushsreg16, 1, 0x00010000u, 0},
    {"b_pushsreg32", c_pushsreg32, 1, 0x00010002u, 0},
    {"b_popss32", c_popss32, 1, 0x0001fffcu, 0},
    {"b_popss16", c_popss16, 1, 0x0001fffeu, 0},
    {"b_leave16", c_leave16, 1, 0x00010100u, 0x0000fffeu},
    {"b_enter16_0", c_enter16_0, 1, 0x00010002u, 0x00010008u},
    {"b_enter16_3", c_enter16_3, 1, 0x00010010u, 0x00010004u},
    {"b_enter32_2", c_enter32_2, 1, 0x00010002u, 0x00010004u},
};

/* The stack area: a distinct pattern in every dword. */
static u32 pattern(u32 i) { return 0xe0000000u | (i * 0x00010001u & 0x1fffffffu); }
static void fill(void) {
    u32 *w = (u32 *)area;
    for (u32 i = 0; i < 0x20000 / 4; i++)
        w[i] = pattern(i);
}

/* Selectors carry the RPL, which differs between the native (3) and the emulated
 * (0) run: a 16-bit half equal to the 16-bit or 32-bit stack's selector is shown
 * as 5e16 or 5e32, and with `cs` (the far call) a low half equal to CS as c5c5. */
static u32 unsel(u32 v, u32 cs) {
    u32 h[2] = {v & 0xffff, v / 0x10000};
    for (u32 i = 0; i < 2; i++) {
        if (h[i] == g_sel16)
            h[i] = 0x5e16;
        else if (h[i] == g_sel32)
            h[i] = 0x5e32;
        else if (i == 0 && cs && h[i] == cs)
            h[i] = 0xc5c5;
    }
    return h[0] + h[1] * 0x10000;
}

static void run(void) {
    u32 cs;
    __asm__ volatile("movl %%cs, %0" : "=r"(cs));
    u32 rpl = cs & 3;
    /* Entries 1000 and 1001: selector values that no stack word takes. */
    g_sel16 = 1000 * 8 + 4 + rpl;
    g_sel32 = 1001 * 8 + 4 + rpl;
    /* Entry 1000: 16-bit writable data, base = area, limit 0xFFFF.
     * Entry 1001: 32-bit writable data, base = area, limit 0x1FFFF. */
    struct user_desc_ d0 = {1000, (u32)area, 0xffff, 0x40};
    struct user_desc_ d1 = {1001, (u32)area, 0x1ffff, 0x41};
    kv("ldt0", (u32)modify_ldt(0x11, &d0, sizeof d0), 4);
    kv("ldt1", (u32)modify_ldt(0x11, &d1, sizeof d1), 4);
    kv("ldt_einval", (u32)modify_ldt(0x11, &d1, 8), 4);
    nl();
    for (u32 i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const struct tcase *c = &CASES[i];
        fill();
        /* What POP SS finds: the other stack's selector (upper half ignored). */
        u32 other = c->big ? g_sel16 : g_sel32;
        *(u32 *)(area + 0xfffc) = 0xabcd0000u | other;
        *(u16 *)(area + 0xfffe) = (u16)other;
        *(u32 *)(area + 0x1fffc) = 0xabcd0000u | other;
        *(u16 *)(area + 0x1fffe) = (u16)other;
        g_in[0] = 0x11112222u;
        g_in[1] = 0x33334444u;
        g_in[2] = 0x5555aaaau;
        g_in[3] = 0x6666bbbbu;
        g_in[4] = c->esp;
        g_in[5] = c->ebp;
        g_in[6] = 0x7777ccccu;
        g_in[7] = (u32)c_target;
        g_far[0] = (u32)c_ftarget;
        g_far[1] = cs;
        g_sel = c->big ? g_sel32 : g_sel16;
        c->f();
        out_s(c->name), sp();
        for (u32 r = 0; r < 8; r++)
            out_x(unsel(g_r[r], 0)), sp();
        out_c('|');
        for (u32 off = 0xfff0; off < 0x10014; off += 4) {
            u32 a = c->big ? off : (off & 0xffff);
            sp(), out_x(unsel(*(u32 *)(area + a), c->f == c_lcall ? cs : 0));
        }
        /* A hash of the whole area: dwords that differ from the fill pattern
         * with their selectors shown as above. */
        u32 h = 0;
        for (u32 i = 0; i < 0x20000 / 4; i++) {
            u32 w = ((u32 *)area)[i];
            h = h * 31 + (w == pattern(i) ? w : unsel(w, c->f == c_lcall ? cs : 0));
        }
        out_s(" h="), out_x(h);
        nl();
    }
}

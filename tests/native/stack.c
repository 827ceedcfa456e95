/* PUSHA/POPA (16/32), ENTER at several nesting levels (16/32-bit operand size),
 * LEAVE and in-range BOUND. Stack addresses differ between the native and the
 * emulated run, so values that are stack addresses are printed relative to the
 * stack pointer before the instruction; static data addresses are identical. */
#include "rt.h"

u32 g_save, g_out[32], g_stk[64], g_frame[64];

/* g_out[0..7]: PUSHAD slots (EDI first), [8]: ESP after PUSHAD,
 * [10..17]: registers after POPAD (EAX..EDI), [18]: ESP after POPAD. */
__asm__(".text\n"
        "t_pushpop32:\n"
        "  pushal\n"
        "  movl %esp, g_save\n"
        "  movl $0x11111111, %eax\n  movl $0x22222222, %ecx\n  movl $0x33333333, %edx\n"
        "  movl $0x44444444, %ebx\n  movl $0x66666666, %ebp\n  movl $0x77777777, %esi\n"
        "  movl $0x88888888, %edi\n"
        "  pushal\n"
        "  movl %esp, g_out+32\n"
        "  popl g_out+0\n  popl g_out+4\n  popl g_out+8\n  popl g_out+12\n"
        "  popl g_out+16\n  popl g_out+20\n  popl g_out+24\n  popl g_out+28\n"
        "  pushl $0xa0a0a0a0\n  pushl $0xa1a1a1a1\n  pushl $0xa2a2a2a2\n  pushl $0xa3a3a3a3\n"
        "  pushl $0xa4a4a4a4\n  pushl $0xa5a5a5a5\n  pushl $0xa6a6a6a6\n  pushl $0xa7a7a7a7\n"
        "  popal\n"
        "  movl %esp, g_out+72\n"
        "  movl g_save, %esp\n"
        "  movl %eax, g_out+40\n  movl %ecx, g_out+44\n  movl %edx, g_out+48\n"
        "  movl %ebx, g_out+52\n  movl %ebp, g_out+60\n  movl %esi, g_out+64\n"
        "  movl %edi, g_out+68\n"
        "  popal\n"
        "  ret\n"
        /* 16-bit: the same with PUSHAW/POPAW; slots are words in g_out as dwords. */
        "t_pushpop16:\n"
        "  pushal\n"
        "  movl %esp, g_save\n"
        "  movl $0x11111111, %eax\n  movl $0x22222222, %ecx\n  movl $0x33333333, %edx\n"
        "  movl $0x44444444, %ebx\n  movl $0x66666666, %ebp\n  movl $0x77777777, %esi\n"
        "  movl $0x88888888, %edi\n"
        "  pushaw\n"
        "  movl %esp, g_out+32\n"
        "  popw g_out+0\n  popw g_out+4\n  popw g_out+8\n  popw g_out+12\n"
        "  popw g_out+16\n  popw g_out+20\n  popw g_out+24\n  popw g_out+28\n"
        "  pushw $0xa0a0\n  pushw $0xa1a1\n  pushw $0xa2a2\n  pushw $0xa3a3\n"
        "  pushw $0xa4a4\n  pushw $0xa5a5\n  pushw $0xa6a6\n  pushw $0xa7a7\n"
        "  popaw\n"
        "  movl %esp, g_out+72\n"
        "  movl g_save, %esp\n"
        "  movl %eax, g_out+40\n  movl %ecx, g_out+44\n  movl %edx, g_out+48\n"
        "  movl %ebx, g_out+52\n  movl %ebp, g_out+60\n  movl %esi, g_out+64\n"
        "  movl %edi, g_out+68\n"
        "  popal\n"
        "  ret\n");
void t_pushpop32(void);
void t_pushpop16(void);

/* ENTER with EBP = &g_frame[40]; g_out[0] = ESP before, [1]/[2] = ESP/EBP after
 * ENTER, [3]/[4] = ESP/EBP after LEAVE; g_stk = 48 dwords from the new ESP up. */
#define ENTER(name, enter, leave)                                                              \
    __asm__(".text\n" #name ":\n"                                                              \
            "  pushal\n"                                                                       \
            "  movl %esp, g_save\n"                                                            \
            "  movl $g_frame+160, %ebp\n"                                                      \
            "  movl %esp, g_out+0\n"                                                           \
            "  " enter "\n"                                                                    \
            "  movl %esp, g_out+4\n"                                                           \
            "  movl %ebp, g_out+8\n"                                                           \
            "  xorl %ecx, %ecx\n"                                                              \
            "1: movl (%esp,%ecx,4), %eax\n"                                                    \
            "  movl %eax, g_stk(,%ecx,4)\n"                                                    \
            "  incl %ecx\n"                                                                    \
            "  cmpl $48, %ecx\n"                                                               \
            "  jne 1b\n"                                                                       \
            "  " leave "\n"                                                                    \
            "  movl %esp, g_out+12\n"                                                          \
            "  movl %ebp, g_out+16\n"                                                          \
            "  movl g_save, %esp\n"                                                            \
            "  popal\n"                                                                        \
            "  ret\n");                                                                        \
    void name(void);
ENTER(t_e32_0, "enterl $16, $0", "leavel")
ENTER(t_e32_1, "enterl $16, $1", "leavel")
ENTER(t_e32_2, "enterl $8, $2", "leavel")
ENTER(t_e32_3, "enterl $0, $3", "leavel")
ENTER(t_e32_5, "enterl $12, $5", "leavel")
ENTER(t_e32_31, "enterl $4, $31", "leavel")
ENTER(t_e32_33, "enterl $4, $33", "leavel") /* the level is taken mod 32 */
/* LEAVEW here would load ESP from an EBP whose high half is a data address. */
ENTER(t_e16_0, "enterw $6, $0", "nop")
ENTER(t_e16_1, "enterw $6, $1", "nop")
ENTER(t_e16_3, "enterw $2, $3", "nop")
ENTER(t_e16_7, "enterw $0, $7", "nop")

struct ent {
    const char *name;
    void (*f)(void);
    u32 sz, level, alloc;
};
static const struct ent ENTS[] = {
    {"enter32_0", t_e32_0, 4, 0, 16},   {"enter32_1", t_e32_1, 4, 1, 16},
    {"enter32_2", t_e32_2, 4, 2, 8},    {"enter32_3", t_e32_3, 4, 3, 0},
    {"enter32_5", t_e32_5, 4, 5, 12},   {"enter32_31", t_e32_31, 4, 31, 4},
    {"enter32_33", t_e32_33, 4, 1, 4},  {"enter16_0", t_e16_0, 2, 0, 6},
    {"enter16_1", t_e16_1, 2, 1, 6},    {"enter16_3", t_e16_3, 2, 3, 2},
    {"enter16_7", t_e16_7, 2, 7, 0},
};

static void run(void) {
    for (u32 i = 0; i < 64; i++)
        g_frame[i] = 0xf0e00000u + i * 0x10101u;
    t_pushpop32();
    out_s("pushad ");
    for (u32 i = 0; i < 8; i++)
        out_x(i == 3 ? g_out[3] - g_out[8] : g_out[i]), sp();
    nl();
    out_s("popad ");
    for (u32 i = 10; i < 18; i++)
        out_x(g_out[i]), sp();
    kv("esp_delta", g_out[18] - g_out[8], 4), nl();
    t_pushpop16();
    out_s("pushaw ");
    for (u32 i = 0; i < 8; i++)
        out_hex(i == 3 ? g_out[3] - g_out[8] : g_out[i], 2), sp();
    nl();
    out_s("popaw ");
    for (u32 i = 10; i < 18; i++)
        out_x(g_out[i]), sp();
    kv("esp_delta", g_out[18] - g_out[8], 4), nl();

    for (u32 e = 0; e < sizeof ENTS / sizeof ENTS[0]; e++) {
        const struct ent *p = &ENTS[e];
        p->f();
        u32 before = g_out[0], esp = g_out[1], ebp = g_out[2];
        out_s(p->name), sp();
        kv("esp", before - esp, 4);
        if (p->sz == 4) {
            kv("ebp", before - ebp, 4);
        } else {
            /* BP = low half of SP after pushing BP; EBP's high half is kept */
            kv("bp", (before - ebp) & 0xffff, 2);
            kv("ebphi", (ebp ^ (u32)(g_frame + 40)) & 0xffff0000u, 4);
        }
        if (p->sz == 4) {
            kv("leave_esp", before - g_out[3], 4);
            kv("leave_ebp", g_out[4] - (u32)(g_frame + 40), 4);
        }
        out_s("slots=");
        /* Slots top-down from the old stack top: old EBP, copied frame pointers, the
         * new frame pointer (a stack address: printed relative). */
        u8 *top = (u8 *)g_stk + (before - esp);
        u32 n = p->level ? p->level + 1 : 1;
        for (u32 i = 1; i <= n; i++) {
            u8 *slot = top - i * p->sz;
            u32 v = p->sz == 4 ? *(u32 *)slot : *(u16 *)slot;
            if (p->level && i == n)
                v = p->sz == 4 ? before - v : (before - v) & 0xffff;
            out_hex(v, p->sz), out_c(',');
        }
        nl();
    }

    /* In-range BOUND (out of range is #BR, covered by the CPU unit tests). */
    static const i32 B[6][3] = {{5, -2, 5}, {-2, -2, 5}, {0, -2, 5},
                                {0x7fff, 0, 0x7fff}, {-5, -10, -1}, {3, 3, 3}};
    static const i32 B32[2][3] = {{0x7fffffff, 0, 0x7fffffff}, {-0x7fffffff, -0x80000000, 0}};
    for (u32 i = 0; i < 8; i++) {
        const i32 *t = i < 6 ? B[i] : B32[i - 6];
        volatile i32 b[2] = {t[1], t[2]};
        volatile u16 w[2];
        w[0] = (u16)t[1];
        w[1] = (u16)t[2];
        i32 idx = t[0];
        __asm__ volatile("boundl %0, %1" : : "r"(idx), "m"(b));
        if (i < 6)
            __asm__ volatile("boundw %w0, %1" : : "r"(idx), "m"(w));
        out_s("bound "), kv("i", (u32)idx, 4), out_s("ok"), nl();
    }
}

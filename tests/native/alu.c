/* ALU ground truth: ADD ADC SUB SBB CMP AND OR XOR TEST INC DEC NEG NOT, 8/16/32-bit,
 * over edge operands with all status flags clear and all set on input. */
#include "rt.h"

static const u32 V[3][10] = {
    {0, 1, 2, 0x7f, 0x80, 0x81, 0xfe, 0xff, 0x55, 0x0f},
    {0, 1, 0x7fff, 0x8000, 0x8001, 0xffff, 0x00ff, 0x1234, 0xfffe, 0x0f0f},
    {0, 1, 0x7fffffff, 0x80000000, 0x80000001, 0xffffffff, 0xff, 0x12345678, 0xfffffffe, 0xffff},
};

#define BIN(fn, insn, mod, cons)                                                               \
    static void fn(u32 *a, u32 b, u32 fin, u32 *f) {                                           \
        u32 x = *a, fo;                                                                        \
        __asm__ volatile("push %[fi]\n\tpopf\n\t" insn " %" mod "[b], %" mod "[x]\n\t"       \
                         "pushf\n\tpop %[fo]"                                                  \
                         : [x] "+" cons(x), [fo] "=&r"(fo)                                     \
                         : [b] cons(b), [fi] "r"(fin)                                          \
                         : "cc");                                                              \
        *a = x;                                                                                \
        *f = fo;                                                                               \
    }
#define BIN3(op)                                                                               \
    BIN(op##8, #op "b", "b", "q") BIN(op##16, #op "w", "w", "r") BIN(op##32, #op "l", "k", "r")
BIN3(add) BIN3(adc) BIN3(sub) BIN3(sbb) BIN3(cmp) BIN3(and) BIN3(or) BIN3(xor) BIN3(test)

#define UN(fn, insn, mod, cons)                                                                \
    static void fn(u32 *a, u32 b, u32 fin, u32 *f) {                                           \
        u32 x = *a, fo;                                                                        \
        (void)b;                                                                               \
        __asm__ volatile("push %[fi]\n\tpopf\n\t" insn " %" mod "[x]\n\tpushf\n\tpop %[fo]"   \
                         : [x] "+" cons(x), [fo] "=&r"(fo)                                     \
                         : [fi] "r"(fin)                                                       \
                         : "cc");                                                              \
        *a = x;                                                                                \
        *f = fo;                                                                               \
    }
#define UN3(op) UN(op##8, #op "b", "b", "q") UN(op##16, #op "w", "w", "r") UN(op##32, #op "l", "k", "r")
UN3(inc) UN3(dec) UN3(neg) UN3(not)

/* Memory-destination forms (one per kind) to exercise the read-modify-write path. */
static void addm32(u32 *a, u32 b, u32 fin, u32 *f) {
    volatile u32 m = *a;
    u32 fo;
    __asm__ volatile("push %[fi]\n\tpopf\n\taddl %[b], %[m]\n\tpushf\n\tpop %[fo]"
                     : [m] "+m"(m), [fo] "=&r"(fo)
                     : [b] "r"(b), [fi] "r"(fin)
                     : "cc");
    *a = m;
    *f = fo;
}
static void sbbm16(u32 *a, u32 b, u32 fin, u32 *f) {
    volatile u16 m = (u16)*a;
    u32 fo;
    __asm__ volatile("push %[fi]\n\tpopf\n\tsbbw %w[b], %[m]\n\tpushf\n\tpop %[fo]"
                     : [m] "+m"(m), [fo] "=&r"(fo)
                     : [b] "r"(b), [fi] "r"(fin)
                     : "cc");
    *a = m;
    *f = fo;
}
static void negm8(u32 *a, u32 b, u32 fin, u32 *f) {
    volatile u8 m = (u8)*a;
    u32 fo;
    (void)b;
    __asm__ volatile("push %[fi]\n\tpopf\n\tnegb %[m]\n\tpushf\n\tpop %[fo]"
                     : [m] "+m"(m), [fo] "=&r"(fo)
                     : [fi] "r"(fin)
                     : "cc");
    *a = m;
    *f = fo;
}

typedef void (*fn_t)(u32 *, u32, u32, u32 *);
struct op {
    const char *name;
    fn_t f[3];
    u32 mask;
    u32 unary;
};
static const struct op OPS[] = {
    {"add", {add8, add16, add32}, ARITH, 0},
    {"adc", {adc8, adc16, adc32}, ARITH, 0},
    {"sub", {sub8, sub16, sub32}, ARITH, 0},
    {"sbb", {sbb8, sbb16, sbb32}, ARITH, 0},
    {"cmp", {cmp8, cmp16, cmp32}, ARITH, 0},
    {"and", {and8, and16, and32}, ARITH & ~AF, 0},
    {"or", {or8, or16, or32}, ARITH & ~AF, 0},
    {"xor", {xor8, xor16, xor32}, ARITH & ~AF, 0},
    {"test", {test8, test16, test32}, ARITH & ~AF, 0},
    {"inc", {inc8, inc16, inc32}, ARITH, 1},
    {"dec", {dec8, dec16, dec32}, ARITH, 1},
    {"neg", {neg8, neg16, neg32}, ARITH, 1},
    {"not", {not8, not16, not32}, ARITH, 1},
    {"addm", {0, 0, addm32}, ARITH, 0},
    {"sbbm", {0, sbbm16, 0}, ARITH, 0},
    {"negm", {negm8, 0, 0}, ARITH, 1},
};
static const u32 SZ[3] = {1, 2, 4};
static const u32 *const VP[3] = {V[0], V[1], V[2]};

static void run(void) {
    for (u32 o = 0; o < sizeof OPS / sizeof OPS[0]; o++) {
        const struct op *p = &OPS[o];
        for (u32 s = 0; s < 3; s++) {
            if (!p->f[s])
                continue;
            const u32 *v = VP[s];
            for (u32 i = 0; i < 10; i++) {
                for (u32 j = 0; j < (p->unary ? 1u : 10u); j++) {
                    for (u32 k = 0; k < 2; k++) {
                        u32 r = v[i], f;
                        p->f[s](&r, v[j], FIN[k], &f);
                        out_s(p->name);
                        out_c('0' + SZ[s]);
                        sp();
                        kv("a", v[i], SZ[s]);
                        if (!p->unary)
                            kv("b", v[j], SZ[s]);
                        kv("fi", k, 1);
                        kv("r", r, SZ[s]);
                        fl(f, p->mask);
                        nl();
                    }
                }
            }
        }
    }
}

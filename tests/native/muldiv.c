/* MUL/IMUL/DIV/IDIV ground truth. Only CF and OF are defined for the multiplies and
 * no flag for the divides, so flags are masked accordingly. Faulting divides (#DE)
 * are excluded here (a native #DE kills the process); the CPU unit tests cover them. */
#include "rt.h"

static const u32 V[3][10] = {
    {0, 1, 2, 0x7f, 0x80, 0x81, 0xfe, 0xff, 0x10, 0x0f},
    {0, 1, 0x7fff, 0x8000, 0x8001, 0xffff, 0x00ff, 0x1234, 0xfffe, 0x100},
    {0, 1, 0x7fffffff, 0x80000000, 0x80000001, 0xffffffff, 0xff, 0x12345678, 0xfffffffe, 0x10000},
};
static const u32 *const VP[3] = {V[0], V[1], V[2]};
static const u32 SZ[3] = {1, 2, 4};

/* One-operand forms: (hi:lo) = lo * b; for 8-bit, lo is AL and the result is AX. */
#define M1(fn, insn, mod)                                                                      \
    static void fn(u32 *lo, u32 *hi, u32 b, u32 fin, u32 *f) {                                \
        u32 a = *lo, d = *hi, fo;                                                              \
        __asm__ volatile("push %[fi]\n\tpopf\n\t" insn " %" mod "[b]\n\tpushf\n\tpop %[fo]"   \
                         : "+a"(a), "+d"(d), [fo] "=&r"(fo)                                   \
                         : [b] "c"(b), [fi] "r"(fin)                                          \
                         : "cc");                                                              \
        *lo = a;                                                                               \
        *hi = d;                                                                               \
        *f = fo;                                                                               \
    }
M1(mul8, "mulb", "b") M1(mul16, "mulw", "w") M1(mul32, "mull", "k")
M1(imul8, "imulb", "b") M1(imul16, "imulw", "w") M1(imul32, "imull", "k")
M1(div8, "divb", "b") M1(div16, "divw", "w") M1(div32, "divl", "k")
M1(idiv8, "idivb", "b") M1(idiv16, "idivw", "w") M1(idiv32, "idivl", "k")

/* Memory-operand one-operand forms. */
static void mulm32(u32 *lo, u32 *hi, u32 b, u32 fin, u32 *f) {
    volatile u32 m = b;
    u32 a = *lo, d = *hi, fo;
    __asm__ volatile("push %[fi]\n\tpopf\n\tmull %[m]\n\tpushf\n\tpop %[fo]"
                     : "+a"(a), "+d"(d), [fo] "=&r"(fo)
                     : [m] "m"(m), [fi] "r"(fin)
                     : "cc");
    *lo = a, *hi = d, *f = fo;
}
static void idivm16(u32 *lo, u32 *hi, u32 b, u32 fin, u32 *f) {
    volatile u16 m = (u16)b;
    u32 a = *lo, d = *hi, fo;
    __asm__ volatile("push %[fi]\n\tpopf\n\tidivw %[m]\n\tpushf\n\tpop %[fo]"
                     : "+a"(a), "+d"(d), [fo] "=&r"(fo)
                     : [m] "m"(m), [fi] "r"(fin)
                     : "cc");
    *lo = a, *hi = d, *f = fo;
}

/* Two- and three-operand IMUL. */
#define I2(fn, insn, mod)                                                                      \
    static void fn(u32 *x, u32 b, u32 fin, u32 *f) {                                           \
        u32 r = *x, fo;                                                                        \
        __asm__ volatile("push %[fi]\n\tpopf\n\t" insn "\n\tpushf\n\tpop %[fo]"               \
                         : [r] "+r"(r), [fo] "=&r"(fo)                                         \
                         : [b] "r"(b), [fi] "r"(fin)                                           \
                         : "cc");                                                              \
        *x = r;                                                                                \
        *f = fo;                                                                               \
    }
I2(imul2_16, "imulw %w[b], %w[r]", "w")
I2(imul2_32, "imull %k[b], %k[r]", "k")
I2(imul3_16a, "imulw $-1, %w[b], %w[r]", "w")
I2(imul3_16b, "imulw $127, %w[b], %w[r]", "w")
I2(imul3_16c, "imulw $0x1234, %w[b], %w[r]", "w")
I2(imul3_16d, "imulw $-0x8000, %w[b], %w[r]", "w")
I2(imul3_32a, "imull $-128, %k[b], %k[r]", "k")
I2(imul3_32b, "imull $3, %k[b], %k[r]", "k")
I2(imul3_32c, "imull $0x12345, %k[b], %k[r]", "k")
I2(imul3_32d, "imull $-0x10000, %k[b], %k[r]", "k")

typedef void (*m1_t)(u32 *, u32 *, u32, u32, u32 *);
typedef void (*i2_t)(u32 *, u32, u32, u32 *);

static void line1(const char *name, u32 s, u32 lo, u32 hi, u32 b, u32 k, u32 rlo, u32 rhi,
                  u32 f, u32 mask) {
    out_s(name);
    out_c('0' + SZ[s]);
    sp();
    if (s == 0) {
        kv("ax", lo, 2);
    } else {
        kv("hi", hi, SZ[s]);
        kv("lo", lo, SZ[s]);
    }
    kv("b", b, SZ[s]);
    kv("fi", k, 1);
    if (s == 0) {
        kv("rax", rlo, 2);
    } else {
        kv("rhi", rhi, SZ[s]);
        kv("rlo", rlo, SZ[s]);
    }
    fl(f, mask);
    nl();
}

/* Opaque constants keep gcc from turning arithmetic into shifts (the runtime must
 * not depend on the shift group). */
static volatile u32 K256 = 0x100, K64K = 0x10000, ONES = 0xffffffffu;

static u32 sign_of(u32 v, u32 s) {
    u32 bit = s == 0 ? 0x80 : s == 1 ? 0x8000 : 0x80000000u;
    return (v & bit) ? ONES : 0;
}

/* Whether a divide of hi:lo (AH:AL for 8-bit) by b is free of #DE, computed with
 * 32-bit arithmetic only. */
static int div_ok(int sgn, u32 s, u32 hi, u32 lo, u32 b) {
    if (b == 0)
        return 0;
    if (!sgn)
        return hi < b; /* the quotient fits iff the high half is below the divisor */
    if (s == 0) {
        i32 n = (short)(hi * K256 + lo), d = (signed char)b, q = n / d;
        return q >= -128 && q <= 127;
    }
    if (s == 1) {
        i32 n = (i32)(hi * K64K + lo), d = (short)b;
        if (n == (i32)0x80000000 && d == -1)
            return 0;
        i32 q = n / d;
        return q >= -32768 && q <= 32767;
    }
    /* 32-bit: only sign-extended dividends (hi = sign of lo) are generated */
    return !(lo == 0x80000000u && b == 0xffffffffu);
}

struct one {
    const char *name;
    m1_t f;
    u32 s, kind; /* kind: 0 mul, 1 imul, 2 div, 3 idiv */
};
static const struct one ONE[] = {
    {"mul", mul8, 0, 0},   {"mul", mul16, 1, 0},   {"mul", mul32, 2, 0},
    {"imul", imul8, 0, 1}, {"imul", imul16, 1, 1}, {"imul", imul32, 2, 1},
    {"div", div8, 0, 2},   {"div", div16, 1, 2},   {"div", div32, 2, 2},
    {"idiv", idiv8, 0, 3}, {"idiv", idiv16, 1, 3}, {"idiv", idiv32, 2, 3},
};
struct two {
    const char *name;
    i2_t f;
    u32 s;
};
static const struct two TWO[] = {
    {"imul2", imul2_16, 1},  {"imul2", imul2_32, 2},  {"imul3a", imul3_16a, 1},
    {"imul3b", imul3_16b, 1}, {"imul3c", imul3_16c, 1}, {"imul3d", imul3_16d, 1},
    {"imul3a", imul3_32a, 2}, {"imul3b", imul3_32b, 2}, {"imul3c", imul3_32c, 2},
    {"imul3d", imul3_32d, 2},
};
static const u32 HI[4] = {0, 1, 0x7f, 0xffffffff};
static const u32 MASK[3] = {0xff, 0xffff, 0xffffffff};

static void run(void) {
    for (u32 o = 0; o < sizeof ONE / sizeof ONE[0]; o++) {
        const struct one *p = &ONE[o];
        u32 s = p->s, m = MASK[s];
        const u32 *v = VP[s];
        for (u32 h = 0; h < (p->kind < 2 || (p->kind == 3 && s == 2) ? 1u : 4u); h++) {
            for (u32 i = 0; i < 10; i++) {
                for (u32 j = 0; j < 10; j++) {
                    u32 lo = v[i], hi = HI[h] & m, b = v[j];
                    if (p->kind == 3 && s == 2)
                        hi = sign_of(lo, 2);
                    if (p->kind >= 2 && !div_ok(p->kind == 3, s, hi, lo, b))
                        continue;
                    for (u32 k = 0; k < 2; k++) {
                        u32 f, rlo, rhi;
                        if (s == 0) {
                            rlo = hi * K256 + lo, rhi = 0;
                            p->f(&rlo, &rhi, b, FIN[k], &f);
                            line1(p->name, s, hi * K256 + lo, 0, b, k, rlo & 0xffff, 0, f,
                                  p->kind < 2 ? CF | OF : 0);
                        } else {
                            rlo = lo, rhi = hi;
                            p->f(&rlo, &rhi, b, FIN[k], &f);
                            line1(p->name, s, lo, hi, b, k, rlo & m, rhi & m, f,
                                  p->kind < 2 ? CF | OF : 0);
                        }
                    }
                }
            }
        }
    }
    /* memory forms */
    for (u32 i = 0; i < 10; i++) {
        for (u32 j = 0; j < 10; j++) {
            u32 lo = V[2][i], hi = 0, b = V[2][j], f;
            mulm32(&lo, &hi, b, FIN[1], &f);
            line1("mulm", 2, V[2][i], 0, b, 1, lo, hi, f, CF | OF);
            u32 n = V[1][i], d = V[1][j], dh = sign_of(n, 1) & 0xffff;
            if (div_ok(1, 1, dh, n, d)) {
                lo = n, hi = dh;
                idivm16(&lo, &hi, d, FIN[0], &f);
                line1("idivm", 1, n, dh, d, 0, lo & 0xffff, hi & 0xffff, f, 0);
            }
        }
    }
    for (u32 t = 0; t < sizeof TWO / sizeof TWO[0]; t++) {
        const struct two *p = &TWO[t];
        const u32 *v = VP[p->s];
        for (u32 i = 0; i < 10; i++) {
            for (u32 j = 0; j < 10; j++) {
                u32 r = v[i], f;
                p->f(&r, v[j], FIN[j & 1], &f);
                out_s(p->name);
                out_c('0' + SZ[p->s]);
                sp();
                kv("a", v[i], SZ[p->s]);
                kv("b", v[j], SZ[p->s]);
                kv("r", r, SZ[p->s]);
                fl(f, CF | OF);
                nl();
            }
        }
    }
}

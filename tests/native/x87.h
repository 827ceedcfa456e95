/* Shared helpers of the x87 ground-truth programs: operand tables, globals the
 * inline asm addresses by name, and printing of 80-bit values and FNSAVE images.
 * Each case starts from FNINIT + FLDCW xCW and ends with FNSAVE xS (no-wait, so an
 * unmasked exception stays pending harmlessly and FNSAVE reinitializes the FPU). */
#include "rt.h"

typedef unsigned long long u64;
struct f80 {
    u32 lo, hi;
    u16 se;
};
#define V(se, hi, lo) {lo, hi, se}

/* Operands and results, addressed by name from the asm. */
u8 xA[16], xB[16], xM[16], xS[112], xE[32];
u16 xCW, xSW;
u32 xFL;
u8 xFX[512] __attribute__((aligned(16)));

static void put80(u8 *d, const struct f80 *v) { memcpy(d, v, 10); }
static void out80(const u8 *p) {
    out_b(p[9]), out_b(p[8]), out_c('_');
    for (int i = 7; i >= 0; i--)
        out_b(p[i]);
    sp();
}
/* The runtime must not need shifts: multiply and divide through volatile operands
 * (IMUL/DIV) instead of letting gcc strength-reduce them. */
static u32 mul(u32 a, u32 b) {
    volatile u32 x = b;
    return a * x;
}
static u32 mod(u32 a, u32 b) {
    volatile u32 x = b;
    return a % x;
}
static u32 quo(u32 a, u32 b) {
    volatile u32 x = b;
    return a / x;
}
static void out_w(const u8 *p) { out_b(p[1]), out_b(p[0]); }
/* FSW, FTW and ST(0) (and ST(1) if `two`) from the 32-bit FNSAVE image xS. */
static void out_save(int two) {
    out_w(xS + 4), sp(), out_w(xS + 8), sp();
    out80(xS + 28);
    if (two)
        out80(xS + 38);
}
static void fill(u8 *p, u32 n, u8 v) { memset(p, v, n); }

/* Control word: PC (0, 2, 3), RC (0-3), masks. Mode k in 0..11 rotates both. */
static const u16 CWS[12] = {0x0040, 0x0240, 0x0340, 0x0440, 0x0640, 0x0740,
                            0x0840, 0x0a40, 0x0b40, 0x0c40, 0x0e40, 0x0f40};
static u16 cw_mode(u32 k, u16 masks) { return (u16)(CWS[mod(k, 12)] | masks); }
#define MASKED 0x3f
#define UNMASKED 0x00

/* Interesting 80-bit values. */
static const struct f80 VALS[] = {
    V(0x0000, 0, 0),                    /* +0 */
    V(0x8000, 0, 0),                    /* -0 */
    V(0x3fff, 0x80000000, 0),           /* 1 */
    V(0xbfff, 0x80000000, 0),           /* -1 */
    V(0x3fff, 0xc0000000, 0),           /* 1.5 */
    V(0xc000, 0xa0000000, 0),           /* -2.5 */
    V(0x4000, 0xc90fdaa2, 0x2168c235),  /* pi */
    V(0x3ffd, 0xaaaaaaaa, 0xaaaaaaab),  /* 1/3 */
    V(0x3fff, 0x80000080, 0x00000000),  /* 1+2^-24: single tie */
    V(0x3fff, 0x80000000, 0x00000400),  /* 1+2^-53: double tie */
    V(0x3fff, 0x80000000, 0x00000001),  /* 1+2^-63 */
    V(0xbfff, 0xffffffff, 0xffffffff),  /* -(2-2^-63) */
    V(0x403e, 0x80000000, 0),           /* 2^63 */
    V(0x403d, 0xffffffff, 0xfffffffe),  /* near 2^63 */
    V(0x401d, 0x80000000, 0x00000001),  /* 2^30 + tiny */
    V(0x4005, 0xb504f333, 0xf9de6484),  /* 90.5 */
    V(0x7ffe, 0xffffffff, 0xffffffff),  /* max */
    V(0xfffe, 0x80000000, 0),           /* -2^16383 */
    V(0x0001, 0x80000000, 0),           /* min normal */
    V(0x8001, 0xc0000000, 0x00000001),  /* -min normal * 1.5 */
    V(0x0000, 0x00000000, 0x00000001),  /* min denormal */
    V(0x0000, 0x40000000, 0x00000000),  /* denormal */
    V(0x8000, 0x80000000, 0x00000001),  /* pseudo-denormal */
    V(0x3c01, 0x80000000, 0),           /* 2^-1022 */
    V(0x3f80, 0xffffff00, 0),           /* 2^-127 * ... */
    V(0x7fff, 0x80000000, 0),           /* +inf */
    V(0xffff, 0x80000000, 0),           /* -inf */
    V(0x7fff, 0xc0000000, 0x00001234),  /* QNaN */
    V(0xffff, 0xc0001234, 0x56789abc),  /* -QNaN */
    V(0x7fff, 0x80000000, 0x00000abc),  /* SNaN */
    V(0xffff, 0xa0000000, 0x00000000),  /* -SNaN */
    V(0xffff, 0xc0000000, 0),           /* indefinite */
    V(0x4000, 0x40000000, 0),           /* unnormal */
    V(0x7fff, 0x00000000, 0),           /* pseudo-inf */
    V(0x7fff, 0x40000000, 0x1),         /* pseudo-NaN */
    V(0x43fe, 0x9e3779b9, 0x7f4a7c15),  /* 2^1023 * 1.23 */
    V(0xc3ff, 0xffffffff, 0xfffff800),  /* -(double max) region */
    V(0x3f6a, 0xfedcba98, 0x76543210),  /* small */
};
#define NV (sizeof VALS / sizeof VALS[0])
/* A smaller set for the all-modes and unmasked passes. */
static const u8 SUB[] = {0, 2, 4, 6, 7, 8, 9, 11, 16, 18, 20, 22, 25, 27, 29, 32};
#define NSUB (sizeof SUB)

typedef void (*fn_t)(void);
static const struct f80 *val(u32 i) { return (const struct f80 *)((const u8 *)VALS + mul(i, 12)); }

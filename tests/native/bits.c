/* Bit instruction ground truth: BT/BTS/BTR/BTC (register, immediate, memory bit
 * strings), BSF/BSR, SETcc, CMOVcc, BSWAP, XADD, CMPXCHG, CMPXCHG8B, SALC.
 * BT*: CF defined, ZF unaffected, OF/SF/AF/PF undefined. BSF/BSR: only ZF. */
#include "rt.h"

static const u32 V32[8] = {0, 1, 0x80000000, 0xffffffff, 0x12345678, 0x00010000, 0x8000, 0xf0f0f0f0};
static const u32 OFFS[12] = {0, 1, 7, 15, 16, 17, 31, 32, 33, 63, 0xffffffff, 0x80000000};

#define BTR_(fn, insn, mod)                                                                    \
    static void fn(u32 *x, u32 b, u32 fin, u32 *f) {                                           \
        u32 r = *x, fo;                                                                        \
        __asm__ volatile("push %[fi]\n\tpopf\n\t" insn " %" mod "[b], %" mod "[r]\n\t"       \
                         "pushf\n\tpop %[fo]"                                                  \
                         : [r] "+r"(r), [fo] "=&r"(fo)                                         \
                         : [b] "r"(b), [fi] "r"(fin)                                           \
                         : "cc");                                                              \
        *x = r;                                                                                \
        *f = fo;                                                                               \
    }
BTR_(bt16, "btw", "w") BTR_(bt32, "btl", "k") BTR_(bts16, "btsw", "w") BTR_(bts32, "btsl", "k")
BTR_(btr16, "btrw", "w") BTR_(btr32, "btrl", "k") BTR_(btc16, "btcw", "w") BTR_(btc32, "btcl", "k")
BTR_(bsf16, "bsfw", "w") BTR_(bsf32, "bsfl", "k") BTR_(bsr16, "bsrw", "w") BTR_(bsr32, "bsrl", "k")

#define BTI(fn, insn)                                                                          \
    static void fn(u32 *x, u32 b, u32 fin, u32 *f) {                                           \
        u32 r = *x, fo;                                                                        \
        (void)b;                                                                               \
        __asm__ volatile("push %[fi]\n\tpopf\n\t" insn "\n\tpushf\n\tpop %[fo]"               \
                         : [r] "+r"(r), [fo] "=&r"(fo)                                         \
                         : [fi] "r"(fin)                                                       \
                         : "cc");                                                              \
        *x = r;                                                                                \
        *f = fo;                                                                               \
    }
BTI(bti_a, "btl $0, %k[r]") BTI(bti_b, "btsl $31, %k[r]") BTI(bti_c, "btrl $33, %k[r]")
BTI(bti_d, "btcl $200, %k[r]") BTI(bti_e, "btw $15, %w[r]") BTI(bti_f, "btsw $16, %w[r]")
BTI(bti_g, "btrw $7, %w[r]") BTI(bti_h, "btcw $255, %w[r]")

typedef void (*fn_t)(u32 *, u32, u32, u32 *);
struct op {
    const char *name;
    fn_t f;
    u32 sz, mask;
};
static const struct op REGOPS[] = {
    {"bt", bt16, 2, CF | ZF},   {"bt", bt32, 4, CF | ZF},   {"bts", bts16, 2, CF | ZF},
    {"bts", bts32, 4, CF | ZF}, {"btr", btr16, 2, CF | ZF}, {"btr", btr32, 4, CF | ZF},
    {"btc", btc16, 2, CF | ZF}, {"btc", btc32, 4, CF | ZF},
};
static const struct op IMMOPS[] = {
    {"bti_a", bti_a, 4, CF | ZF}, {"bti_b", bti_b, 4, CF | ZF}, {"bti_c", bti_c, 4, CF | ZF},
    {"bti_d", bti_d, 4, CF | ZF}, {"bti_e", bti_e, 2, CF | ZF}, {"bti_f", bti_f, 2, CF | ZF},
    {"bti_g", bti_g, 2, CF | ZF}, {"bti_h", bti_h, 2, CF | ZF},
};
static const struct op SCAN[] = {
    {"bsf", bsf16, 2, ZF}, {"bsf", bsf32, 4, ZF}, {"bsr", bsr16, 2, ZF}, {"bsr", bsr32, 4, ZF}};

/* Memory bit strings: the operand is the middle of a 64-byte buffer. */
static u8 buf[64];
#define BTM(fn, insn, mod)                                                                     \
    static u32 fn(u32 off, u32 fin) {                                                          \
        u32 fo;                                                                                \
        __asm__ volatile("push %[fi]\n\tpopf\n\t" insn " %" mod "[b], (%[p])\n\t"            \
                         "pushf\n\tpop %[fo]"                                                  \
                         : [fo] "=&r"(fo)                                                      \
                         : [b] "r"(off), [p] "r"(buf + 32), [fi] "r"(fin)                      \
                         : "cc", "memory");                                                    \
        return fo;                                                                             \
    }
BTM(btm16, "btw", "w") BTM(btm32, "btl", "k") BTM(btsm16, "btsw", "w") BTM(btsm32, "btsl", "k")
BTM(btrm16, "btrw", "w") BTM(btrm32, "btrl", "k") BTM(btcm16, "btcw", "w") BTM(btcm32, "btcl", "k")
typedef u32 (*btm_t)(u32, u32);
static const btm_t BTMS[8] = {btm16, btm32, btsm16, btsm32, btrm16, btrm32, btcm16, btcm32};
static const char *const BTMN[8] = {"btm2", "btm4", "btsm2", "btsm4", "btrm2", "btrm4", "btcm2", "btcm4"};
static const u32 MOFFS[10] = {0, 5, 31, 32, 100, 255, 0xffffffff, 0xffffff9c, 0xffffff01, 0x1234};

static void fill(void) {
    for (u32 i = 0; i < 64; i++)
        buf[i] = (u8)(i * 37 + 11);
}
static void dump(void) {
    out_s("buf=");
    for (u32 i = 0; i < 64; i++)
        out_b(buf[i]);
    sp();
}

static void setcc_all(u32 fin, u8 *r) {
    __asm__ volatile("push %[fi]\n\tpopf\n\t"
                     "seto 0(%[p])\n\tsetno 1(%[p])\n\tsetb 2(%[p])\n\tsetae 3(%[p])\n\t"
                     "sete 4(%[p])\n\tsetne 5(%[p])\n\tsetbe 6(%[p])\n\tseta 7(%[p])\n\t"
                     "sets 8(%[p])\n\tsetns 9(%[p])\n\tsetp 10(%[p])\n\tsetnp 11(%[p])\n\t"
                     "setl 12(%[p])\n\tsetge 13(%[p])\n\tsetle 14(%[p])\n\tsetg 15(%[p])\n\t"
                     "seto %%al\n\tmovb %%al, 16(%[p])\n\tsetle %%ah\n\tmovb %%ah, 17(%[p])"
                     :
                     : [p] "r"(r), [fi] "r"(fin)
                     : "cc", "memory", "eax");
}

/* CMOVcc: r[cc] = cc ? src : dst, for 32-bit register, 32-bit memory and 16-bit forms. */
#define CMOV(cc)                                                                               \
    "mov %[d], %%eax\n\tcmov" cc " %[s], %%eax\n\tmov %%eax, (%[p])\n\t"                     \
    "mov %[d], %%eax\n\tcmov" cc " %[m], %%eax\n\tmov %%eax, 4(%[p])\n\t"                    \
    "mov %[d], %%eax\n\tcmov" cc " %w[s], %%ax\n\tmov %%eax, 8(%[p])\n\tlea 12(%[p]), %[p]\n\t"
static void cmov_all(u32 fin, u32 d, u32 s, u32 *r) {
    volatile u32 m = s;
    __asm__ volatile("push %[fi]\n\tpopf\n\t" CMOV("o") CMOV("no") CMOV("b") CMOV("ae") CMOV("e")
                         CMOV("ne") CMOV("be") CMOV("a") CMOV("s") CMOV("ns") CMOV("p")
                             CMOV("np") CMOV("l") CMOV("ge") CMOV("le") CMOV("g")
                     : [p] "+r"(r)
                     : [fi] "r"(fin), [d] "r"(d), [s] "r"(s), [m] "m"(m)
                     : "cc", "memory", "eax");
}

/* Every combination of CF PF ZF SF OF. */
static const u32 ALLF[32] = {0x002, 0x003, 0x006, 0x007, 0x042, 0x043, 0x046, 0x047, 0x082, 0x083, 0x086, 0x087, 0x0c2, 0x0c3, 0x0c6, 0x0c7, 0x802, 0x803, 0x806, 0x807, 0x842, 0x843, 0x846, 0x847, 0x882, 0x883, 0x886, 0x887, 0x8c2, 0x8c3, 0x8c6, 0x8c7};
static const u32 FLAGSETS[8] = {0, CF, ZF, SF, OF, PF, SF | OF, CF | ZF};

#define XADD(fn, insn, mod, cons)                                                              \
    static void fn(u32 *a, u32 *b, u32 fin, u32 *f) {                                          \
        u32 x = *a, y = *b, fo;                                                                \
        __asm__ volatile("push %[fi]\n\tpopf\n\t" insn " %" mod "[y], %" mod "[x]\n\t"       \
                         "pushf\n\tpop %[fo]"                                                  \
                         : [x] "+" cons(x), [y] "+" cons(y), [fo] "=&r"(fo)                    \
                         : [fi] "r"(fin)                                                       \
                         : "cc");                                                              \
        *a = x, *b = y, *f = fo;                                                               \
    }
XADD(xadd8, "xaddb", "b", "q") XADD(xadd16, "xaddw", "w", "r") XADD(xadd32, "xaddl", "k", "r")
static void xaddm32(u32 *a, u32 *b, u32 fin, u32 *f) {
    volatile u32 m = *a;
    u32 y = *b, fo;
    __asm__ volatile("push %[fi]\n\tpopf\n\tlock xaddl %[y], %[m]\n\tpushf\n\tpop %[fo]"
                     : [m] "+m"(m), [y] "+r"(y), [fo] "=&r"(fo)
                     : [fi] "r"(fin)
                     : "cc");
    *a = m, *b = y, *f = fo;
}

/* CMPXCHG dst, src with accumulator acc: returns the new acc and dst. */
#define CX(fn, insn, mod, cons)                                                                \
    static void fn(u32 *acc, u32 *dst, u32 src, u32 fin, u32 *f) {                             \
        u32 a = *acc, d = *dst, fo;                                                            \
        __asm__ volatile("push %[fi]\n\tpopf\n\t" insn " %" mod "[s], %" mod "[d]\n\t"       \
                         "pushf\n\tpop %[fo]"                                                  \
                         : "+a"(a), [d] "+" cons(d), [fo] "=&r"(fo)                            \
                         : [s] cons(src), [fi] "r"(fin)                                        \
                         : "cc");                                                              \
        *acc = a, *dst = d, *f = fo;                                                           \
    }
CX(cx8, "cmpxchgb", "b", "q") CX(cx16, "cmpxchgw", "w", "r") CX(cx32, "cmpxchgl", "k", "r")
static void cxm16(u32 *acc, u32 *dst, u32 src, u32 fin, u32 *f) {
    volatile u16 m = (u16)*dst;
    u32 a = *acc, fo;
    __asm__ volatile("push %[fi]\n\tpopf\n\tlock cmpxchgw %w[s], %[m]\n\tpushf\n\tpop %[fo]"
                     : "+a"(a), [m] "+m"(m), [fo] "=&r"(fo)
                     : [s] "r"(src), [fi] "r"(fin)
                     : "cc");
    *acc = a, *dst = m, *f = fo;
}

static void run(void) {
    for (u32 o = 0; o < 8; o++) {
        const struct op *p = &REGOPS[o];
        for (u32 i = 0; i < 8; i++)
            for (u32 j = 0; j < 12; j++) {
                u32 r = V32[i], f;
                p->f(&r, OFFS[j], FIN[j & 1], &f);
                out_s(p->name), out_c('0' + p->sz), sp();
                kv("a", V32[i], p->sz), kv("b", OFFS[j], p->sz), kv("r", r, p->sz);
                fl(f, p->mask), nl();
            }
    }
    for (u32 o = 0; o < 8; o++) {
        const struct op *p = &IMMOPS[o];
        for (u32 i = 0; i < 8; i++)
            for (u32 k = 0; k < 2; k++) {
                u32 r = V32[i], f;
                p->f(&r, 0, FIN[k], &f);
                out_s(p->name), sp(), kv("a", V32[i], p->sz), kv("fi", k, 1), kv("r", r, p->sz);
                fl(f, p->mask), nl();
            }
    }
    for (u32 o = 0; o < 8; o++)
        for (u32 j = 0; j < 10; j++) {
            __asm__("" : "+r"(o));
            __asm__("" : "+r"(j)); /* keep gcc from strength-reducing into shifts */
            fill();
            u32 f = BTMS[o](MOFFS[j], FIN[j & 1]);
            out_s(BTMN[o]), sp(), kv("off", MOFFS[j], 4), dump(), fl(f, CF | ZF), nl();
        }
    for (u32 o = 0; o < 4; o++) {
        const struct op *p = &SCAN[o];
        for (u32 i = 0; i < 8; i++)
            for (u32 k = 0; k < 2; k++) {
                u32 r = 0xdeadbeef, f;
                p->f(&r, V32[i], FIN[k], &f);
                out_s(p->name), out_c('0' + p->sz), sp();
                kv("src", V32[i], p->sz), kv("fi", k, 1), kv("r", r, 4), fl(f, p->mask), nl();
            }
    }
    for (u32 fin = 0; fin < 32; fin++) {
        u32 fv = ALLF[fin];
        u8 r[18];
        setcc_all(fv, r);
        out_s("setcc "), kv("fi", fv, 2);
        for (u32 c = 0; c < 18; c++)
            out_c('0' + r[c]);
        nl();
    }
    for (u32 fi = 0; fi < 8; fi++) {
        u32 r[48];
        cmov_all(2 | FLAGSETS[fi], 0x11112222, 0x33334444, r);
        out_s("cmov "), kv("fi", FLAGSETS[fi], 2);
        for (u32 c = 0; c < 48; c++)
            out_hex(r[c], 4), out_c(c == 47 ? ' ' : ',');
        nl();
    }
    for (u32 i = 0; i < 8; i++) {
        u32 r = V32[i];
        __asm__("bswap %0" : "+r"(r));
        out_s("bswap "), kv("a", V32[i], 4), kv("r", r, 4), nl();
    }
    static void (*const XA[4])(u32 *, u32 *, u32, u32 *) = {xadd8, xadd16, xadd32, xaddm32};
    static const u32 XS[4] = {1, 2, 4, 4};
    static const u32 XM[4] = {0xff, 0xffff, 0xffffffff, 0xffffffff};
    for (u32 o = 0; o < 4; o++)
        for (u32 i = 0; i < 8; i++)
            for (u32 j = 0; j < 8; j++) {
                u32 a = V32[i] & XM[o], b = V32[j] & XM[o], f;
                XA[o](&a, &b, FIN[j & 1], &f);
                out_s(o == 3 ? "xaddm" : "xadd"), out_c('0' + XS[o]), sp();
                kv("a", V32[i], XS[o]), kv("b", V32[j], XS[o]), kv("ra", a, XS[o]);
                kv("rb", b, XS[o]), fl(f, ARITH), nl();
            }
    static void (*const CXS[4])(u32 *, u32 *, u32, u32, u32 *) = {cx8, cx16, cx32, cxm16};
    static const u32 CS[4] = {1, 2, 4, 2};
    static const u32 CM[4] = {0xff, 0xffff, 0xffffffff, 0xffff};
    for (u32 o = 0; o < 4; o++)
        for (u32 i = 0; i < 8; i++)
            for (u32 j = 0; j < 8; j++) {
                u32 acc = V32[i] & CM[o], d = V32[j] & CM[o], f;
                CXS[o](&acc, &d, 0x5a5a5a5a & CM[o], FIN[i & 1], &f);
                out_s(o == 3 ? "cmpxchgm" : "cmpxchg"), out_c('0' + CS[o]), sp();
                kv("acc", V32[i], CS[o]), kv("d", V32[j], CS[o]), kv("racc", acc, CS[o]);
                kv("rd", d, CS[o]), fl(f, ARITH), nl();
            }
    for (u32 i = 0; i < 8; i++)
        for (u32 j = 0; j < 2; j++) {
            volatile u32 m[2] = {V32[i], V32[7 - i]};
            u32 lo = j ? V32[i] : 1, hi = V32[7 - i], f;
            __asm__ volatile("push %[fi]\n\tpopf\n\tlock cmpxchg8b %[m]\n\tpushf\n\tpop %[fo]"
                             : "+a"(lo), "+d"(hi), [m] "+m"(m), [fo] "=&r"(f)
                             : "b"(0xabcdef01), "c"(0x23456789), [fi] "r"(FIN[i & 1])
                             : "cc");
            out_s("cmpxchg8b "), kv("m", V32[i], 4), kv("eq", j, 1), kv("eax", lo, 4);
            kv("edx", hi, 4), kv("m0", m[0], 4), kv("m1", m[1], 4), fl(f, ARITH), nl();
        }
    for (u32 k = 0; k < 2; k++) {
        u32 a = 0x12345678;
        __asm__ volatile("push %[fi]\n\tpopf\n\t.byte 0xd6" : "+a"(a) : [fi] "r"(FIN[k]) : "cc");
        out_s("salc "), kv("fi", k, 1), kv("r", a, 4), nl();
    }
}

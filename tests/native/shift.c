/* Shift and rotate ground truth: SHL SHR SAR ROL ROR RCL RCR (8/16/32, count in CL
 * over 0, 1, small, size-1, size, size+1, 31, 32+; plus the imm8 and by-one forms) and
 * SHLD/SHRD (16/32, CL and imm8). Flags are masked to what the SDM defines for the
 * (masked) count; results the SDM leaves undefined are not printed. */
#include "rt.h"

static const u32 V[3][6] = {
    {0, 1, 0x80, 0x81, 0xff, 0x5a},
    {0, 1, 0x8000, 0x8001, 0xffff, 0x5a5a},
    {0, 1, 0x80000000, 0x80000001, 0xffffffff, 0x5a5aa5a5},
};
static const u32 *const VP[3] = {V[0], V[1], V[2]};
static const u32 SZ[3] = {1, 2, 4};
static const u32 BITS[3] = {8, 16, 32};
static const u32 CNT[14] = {0, 1, 2, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 255};

#define SH(fn, insn, mod, cons)                                                                \
    static void fn(u32 *a, u32 c, u32 fin, u32 *f) {                                           \
        u32 x = *a, fo;                                                                        \
        __asm__ volatile("push %[fi]\n\tpopf\n\t" insn " %%cl, %" mod "[x]\n\t"              \
                         "pushf\n\tpop %[fo]"                                                  \
                         : [x] "+" cons(x), [fo] "=&r"(fo)                                     \
                         : "c"(c), [fi] "r"(fin)                                               \
                         : "cc");                                                              \
        *a = x;                                                                                \
        *f = fo;                                                                               \
    }
#define SH3(op) SH(op##8, #op "b", "b", "q") SH(op##16, #op "w", "w", "r") SH(op##32, #op "l", "k", "r")
SH3(shl) SH3(shr) SH3(sar) SH3(rol) SH3(ror) SH3(rcl) SH3(rcr)

/* Immediate-count forms with a fixed count. */
#define SHI(fn, insn)                                                                          \
    static void fn(u32 *a, u32 c, u32 fin, u32 *f) {                                           \
        u32 x = *a, fo;                                                                        \
        (void)c;                                                                               \
        __asm__ volatile("push %[fi]\n\tpopf\n\t" insn "\n\tpushf\n\tpop %[fo]"               \
                         : [x] "+q"(x), [fo] "=&r"(fo)                                         \
                         : [fi] "r"(fin)                                                       \
                         : "cc");                                                              \
        *a = x;                                                                                \
        *f = fo;                                                                               \
    }
SHI(shl1_32, "shll %k[x]") SHI(sar1_8, "sarb %b[x]") SHI(rcr1_16, "rcrw %w[x]")
SHI(rol1_32, "roll %k[x]") SHI(shr5_32, "shrl $5, %k[x]") SHI(sar9_16, "sarw $9, %w[x]")
SHI(rcl3_8, "rclb $3, %b[x]") SHI(ror12_32, "rorl $12, %k[x]")

typedef void (*fn_t)(u32 *, u32, u32, u32 *);
enum { SHL, SHR, SAR, ROT, RC };
struct op {
    const char *name;
    fn_t f[3];
    u32 kind;
};
static const struct op OPS[] = {
    {"shl", {shl8, shl16, shl32}, SHL}, {"shr", {shr8, shr16, shr32}, SHR},
    {"sar", {sar8, sar16, sar32}, SAR}, {"rol", {rol8, rol16, rol32}, ROT},
    {"ror", {ror8, ror16, ror32}, ROT}, {"rcl", {rcl8, rcl16, rcl32}, RC},
    {"rcr", {rcr8, rcr16, rcr32}, RC},
};
struct imm {
    const char *name;
    fn_t f;
    u32 s, count, kind;
};
static const struct imm IMMS[] = {
    {"shl1", shl1_32, 2, 1, SHL},  {"sar1", sar1_8, 0, 1, SAR},   {"rcr1", rcr1_16, 1, 1, RC},
    {"rol1", rol1_32, 2, 1, ROT},  {"shr5", shr5_32, 2, 5, SHR},  {"sar9", sar9_16, 1, 9, SAR},
    {"rcl3", rcl3_8, 0, 3, RC},    {"ror12", ror12_32, 2, 12, ROT},
};

/* Flags the SDM defines after a shift/rotate of `bits` by `count`. */
static u32 mask_for(u32 kind, u32 bits, u32 count) {
    u32 c = count & 31;
    if (c == 0)
        return ARITH; /* nothing changes */
    if (kind == ROT || kind == RC)
        return CF | SF | ZF | AF | PF | (c == 1 ? OF : 0); /* SF ZF AF PF unaffected */
    u32 m = SF | ZF | PF | CF | (c == 1 ? OF : 0);
    if (kind != SAR && c >= bits)
        m = m & ~CF;
    return m;
}

#define SHD(fn, insn, mod)                                                                     \
    static void fn(u32 *a, u32 b, u32 c, u32 fin, u32 *f) {                                    \
        u32 x = *a, fo;                                                                        \
        __asm__ volatile("push %[fi]\n\tpopf\n\t" insn "\n\tpushf\n\tpop %[fo]"               \
                         : [x] "+r"(x), [fo] "=&r"(fo)                                         \
                         : [b] "r"(b), "c"(c), [fi] "r"(fin)                                   \
                         : "cc");                                                              \
        *a = x;                                                                                \
        *f = fo;                                                                               \
    }
SHD(shld16, "shldw %%cl, %w[b], %w[x]", "w") SHD(shld32, "shldl %%cl, %k[b], %k[x]", "k")
SHD(shrd16, "shrdw %%cl, %w[b], %w[x]", "w") SHD(shrd32, "shrdl %%cl, %k[b], %k[x]", "k")
SHD(shld32i, "shldl $7, %k[b], %k[x]", "k") SHD(shrd16i, "shrdw $1, %w[b], %w[x]", "w")
typedef void (*shd_t)(u32 *, u32, u32, u32, u32 *);
struct shd {
    const char *name;
    shd_t f;
    u32 s, fixed; /* fixed: imm count, or 0 for the CL forms */
};
static const struct shd SHDS[] = {
    {"shld", shld16, 1, 0}, {"shld", shld32, 2, 0}, {"shrd", shrd16, 1, 0},
    {"shrd", shrd32, 2, 0}, {"shldi7", shld32i, 2, 7}, {"shrdi1", shrd16i, 1, 1},
};

static void line(const char *name, u32 s, u32 a, u32 c, u32 k, u32 r, u32 f, u32 mask) {
    out_s(name), out_c('0' + SZ[s]), sp();
    kv("a", a, SZ[s]), kv("c", c, 1), kv("fi", k, 1), kv("r", r, SZ[s]), fl(f, mask), nl();
}

static void run(void) {
    for (u32 o = 0; o < sizeof OPS / sizeof OPS[0]; o++)
        for (u32 s = 0; s < 3; s++) {
            const u32 *v = VP[s];
            for (u32 i = 0; i < 6; i++)
                for (u32 j = 0; j < 14; j++)
                    for (u32 k = 0; k < 2; k++) {
                        u32 r = v[i], f;
                        OPS[o].f[s](&r, CNT[j], FIN[k], &f);
                        line(OPS[o].name, s, v[i], CNT[j], k, r, f,
                             mask_for(OPS[o].kind, BITS[s], CNT[j]));
                    }
        }
    for (u32 o = 0; o < sizeof IMMS / sizeof IMMS[0]; o++) {
        const struct imm *p = &IMMS[o];
        for (u32 i = 0; i < 6; i++)
            for (u32 k = 0; k < 2; k++) {
                u32 r = VP[p->s][i], f;
                p->f(&r, 0, FIN[k], &f);
                line(p->name, p->s, VP[p->s][i], p->count, k, r, f,
                     mask_for(p->kind, BITS[p->s], p->count));
            }
    }
    for (u32 o = 0; o < sizeof SHDS / sizeof SHDS[0]; o++) {
        const struct shd *p = &SHDS[o];
        const u32 *v = VP[p->s];
        for (u32 i = 0; i < 6; i++)
            for (u32 b = 0; b < 6; b++)
                for (u32 j = 0; j < (p->fixed ? 1u : 14u); j++) {
                    u32 c = p->fixed ? p->fixed : CNT[j], cm = c & 31;
                    if (cm > BITS[p->s])
                        continue; /* result and flags undefined */
                    u32 r = v[i], f;
                    p->f(&r, v[b], c, FIN[j & 1], &f);
                    u32 m = cm == 0 ? ARITH : SF | ZF | PF | CF | (cm == 1 ? OF : 0);
                    out_s(p->name), out_c('0' + SZ[p->s]), sp(), kv("a", v[i], SZ[p->s]);
                    kv("b", v[b], SZ[p->s]), kv("c", c, 1), kv("fi", j & 1, 1);
                    kv("r", r, SZ[p->s]), fl(f, m), nl();
                }
    }
}

/* String instruction ground truth: MOVS STOS LODS CMPS SCAS (8/16/32) with and
 * without REP/REPE/REPNE, both directions, counts 0 and up. Printed: pointer and
 * count deltas, the destination buffer, EAX and the flags (unchanged for
 * MOVS/STOS/LODS, as CMP for CMPS/SCAS). */
#include "rt.h"

static u8 src[64], dst[64];

struct regs {
    u32 si, di, cx, ax, f;
};

#define STR(fn, insn)                                                                          \
    static void fn(struct regs *r, u32 fin, u32 df) {                                          \
        u32 si = r->si, di = r->di, cx = r->cx, ax = r->ax, fo;                                \
        __asm__ volatile("test %[df], %[df]\n\tpush %[fi]\n\tjz 1f\n\t"                  \
                         "orl $0x400, (%%esp)\n1:\n\tpopf\n\t" /* flags in, DF if df */     \
                         insn "\n\tpushf\n\tpop %[fo]\n\tcld"                               \
                         : "+S"(si), "+D"(di), "+c"(cx), "+a"(ax), [fo] "=&r"(fo)             \
                         : [fi] "r"(fin), [df] "r"(df)                                         \
                         : "cc", "memory");                                                    \
        r->si = si, r->di = di, r->cx = cx, r->ax = ax, r->f = fo;                             \
    }
STR(str_movsb, "rep movsb") STR(str_movsw, "rep movsw") STR(str_movsl, "rep movsl")
STR(str_stosb, "rep stosb") STR(str_stosw, "rep stosw") STR(str_stosl, "rep stosl")
STR(str_lodsb, "rep lodsb") STR(str_lodsw, "lodsw") STR(str_lodsl, "rep lodsl")
STR(str_repe_cmpsb, "repe cmpsb") STR(str_repe_cmpsw, "repe cmpsw") STR(str_repe_cmpsl, "repe cmpsl")
STR(str_repne_cmpsb, "repne cmpsb") STR(str_cmpsl, "cmpsl")
STR(str_repne_scasb, "repne scasb") STR(str_repne_scasw, "repne scasw") STR(str_repne_scasl, "repne scasl")
STR(str_repe_scasb, "repe scasb") STR(str_scasw, "scasw") STR(str_movsb1, "movsb")
STR(str_stosl1, "stosl")

typedef void (*fn_t)(struct regs *, u32, u32);
struct op {
    const char *name;
    fn_t f;
    u32 size, cmp; /* cmp: flags are computed (CMPS/SCAS) */
};
static const struct op OPS[] = {
    {"rep_movsb", str_movsb, 1, 0},        {"rep_movsw", str_movsw, 2, 0},
    {"rep_movsl", str_movsl, 4, 0},        {"rep_stosb", str_stosb, 1, 0},
    {"rep_stosw", str_stosw, 2, 0},        {"rep_stosl", str_stosl, 4, 0},
    {"rep_lodsb", str_lodsb, 1, 0},        {"lodsw", str_lodsw, 2, 0},
    {"rep_lodsl", str_lodsl, 4, 0},        {"repe_cmpsb", str_repe_cmpsb, 1, 1},
    {"repe_cmpsw", str_repe_cmpsw, 2, 1},  {"repe_cmpsl", str_repe_cmpsl, 4, 1},
    {"repne_cmpsb", str_repne_cmpsb, 1, 1}, {"cmpsl", str_cmpsl, 4, 1},
    {"repne_scasb", str_repne_scasb, 1, 1}, {"repne_scasw", str_repne_scasw, 2, 1},
    {"repne_scasl", str_repne_scasl, 4, 1}, {"repe_scasb", str_repe_scasb, 1, 1},
    {"scasw", str_scasw, 2, 1},            {"movsb", str_movsb1, 1, 0},
    {"stosl", str_stosl1, 4, 0},
};
static const u32 COUNTS[5] = {0, 1, 3, 7, 20};
static const u32 AX[3] = {0x89abcdef, 0x00000a0b, 0x0d0c0b0a};

static void fill(u32 variant) {
    for (u32 i = 0; i < 64; i++) {
        src[i] = (u8)(i + 1);
        /* dst equals src up to a variant-dependent position */
        dst[i] = (u8)(i + 1);
    }
    if (variant == 3)
        for (u32 i = 0; i < 64; i++)
            dst[i] = 0xee;
    if (variant == 1)
        dst[9] = 0x77;
    if (variant == 2)
        dst[2] = 0x00, dst[40] = 0xff;
}

static void run(void) {
    for (u32 o = 0; o < sizeof OPS / sizeof OPS[0]; o++) {
        const struct op *p = &OPS[o];
        for (u32 c = 0; c < 5; c++)
            for (u32 df = 0; df < 2; df++)
                for (u32 v = 0; v < (p->cmp ? 3u : 1u); v++)
                    for (u32 a = 0; a < (p->cmp ? 3u : 1u); a++) {
                        fill(p->cmp ? v : 3);
                        u32 start = df ? 40 : 8;
                        struct regs r = {(u32)(src + start), (u32)(dst + start), COUNTS[c],
                                         AX[a], 0};
                        p->f(&r, FIN[c & 1], df);
                        out_s(p->name), sp(), kv("n", COUNTS[c], 1), kv("df", df, 1);
                        kv("v", v, 1), kv("a", a, 1);
                        kv("dsi", r.si - (u32)(src + start), 4);
                        kv("ddi", r.di - (u32)(dst + start), 4);
                        kv("cx", r.cx, 4), kv("ax", r.ax, 4), fl(r.f, ARITH), sp();
                        out_s("dst=");
                        for (u32 i = 0; i < 64; i++)
                            out_b(dst[i]);
                        nl();
                    }
    }
}

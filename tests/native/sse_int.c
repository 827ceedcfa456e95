/* MMX and SSE2 packed integer ground truth: every two-operand op in its MM form
 * (register source) and XMM form (aligned memory source) over a table of vectors
 * holding edge values in every lane width, the shifts by register and by immediate
 * over edge counts, and PSLLDQ/PSRLDQ. Each line: op, operand indices, result. */
#include "rt.h"

typedef unsigned long long u64;

static const u32 V[6][4] __attribute__((aligned(16))) = {
    {0x00000000, 0xffffffff, 0x7fffffff, 0x80000000},
    {0x017f80ff, 0x7fff8000, 0xfffe0001, 0x00ff8001},
    {0x80818283, 0xfefdfcfb, 0x7f7e0102, 0x01000080},
    {0x12345678, 0x9abcdef0, 0x0f1e2d3c, 0x4b5a6978},
    {0xffff0000, 0x00010000, 0x80007fff, 0xc0003fff},
    {0x7f807f80, 0x80008000, 0xfffffffe, 0x00000001},
};

static void out_v(const u32 *v, int n) {
    while (n) {
        n = n - 1;
        out_x(v[n]);
    }
}

/* MM form: mm0 = a OP mm1(b). */
#define MM(fn, insn)                                                                        \
    static void fn(const u32 *a, const u32 *b, u32 *r) {                                    \
        __asm__ volatile("movq (%[a]), %%mm0\n\tmovq (%[b]), %%mm1\n\t" insn " %%mm1, %%mm0\n\t" \
                         "movq %%mm0, (%[r])\n\temms"                                       \
                         :                                                                  \
                         : [a] "r"(a), [b] "r"(b), [r] "r"(r)                               \
                         : "mm0", "mm1", "memory");                                         \
    }
/* XMM form: xmm0 = a OP m128(b). */
#define XM(fn, insn)                                                                        \
    static void fn(const u32 *a, const u32 *b, u32 *r) {                                    \
        __asm__ volatile("movdqu (%[a]), %%xmm0\n\t" insn " (%[b]), %%xmm0\n\t"              \
                         "movdqu %%xmm0, (%[r])"                                            \
                         :                                                                  \
                         : [a] "r"(a), [b] "r"(b), [r] "r"(r)                               \
                         : "xmm0", "memory");                                               \
    }
#define BOTH(n) MM(m_##n, #n) XM(x_##n, #n)
BOTH(paddb) BOTH(paddw) BOTH(paddd) BOTH(paddq) BOTH(psubb) BOTH(psubw) BOTH(psubd)
BOTH(psubq) BOTH(paddsb) BOTH(paddsw) BOTH(paddusb) BOTH(paddusw) BOTH(psubsb)
BOTH(psubsw) BOTH(psubusb) BOTH(psubusw) BOTH(pmullw) BOTH(pmulhw) BOTH(pmulhuw)
BOTH(pmuludq) BOTH(pmaddwd) BOTH(psadbw) BOTH(pavgb) BOTH(pavgw) BOTH(pminub)
BOTH(pmaxub) BOTH(pminsw) BOTH(pmaxsw) BOTH(pcmpeqb) BOTH(pcmpeqw) BOTH(pcmpeqd)
BOTH(pcmpgtb) BOTH(pcmpgtw) BOTH(pcmpgtd) BOTH(packsswb) BOTH(packssdw) BOTH(packuswb)
BOTH(punpcklbw) BOTH(punpcklwd) BOTH(punpckldq) BOTH(punpckhbw) BOTH(punpckhwd)
BOTH(punpckhdq) BOTH(pand) BOTH(pandn) BOTH(por) BOTH(pxor)
XM(x_punpcklqdq, "punpcklqdq") XM(x_punpckhqdq, "punpckhqdq")
XM(x_unpcklps, "unpcklps") XM(x_unpckhps, "unpckhps") XM(x_unpcklpd, "unpcklpd")
XM(x_unpckhpd, "unpckhpd")

typedef void (*op_t)(const u32 *, const u32 *, u32 *);

struct op {
    const char *name;
    op_t mm, xm;
};
#define E(n) {#n, m_##n, x_##n}
static const struct op OPS[] = {
    E(paddb), E(paddw), E(paddd), E(paddq), E(psubb), E(psubw), E(psubd), E(psubq),
    E(paddsb), E(paddsw), E(paddusb), E(paddusw), E(psubsb), E(psubsw), E(psubusb),
    E(psubusw), E(pmullw), E(pmulhw), E(pmulhuw), E(pmuludq), E(pmaddwd), E(psadbw),
    E(pavgb), E(pavgw), E(pminub), E(pmaxub), E(pminsw), E(pmaxsw), E(pcmpeqb),
    E(pcmpeqw), E(pcmpeqd), E(pcmpgtb), E(pcmpgtw), E(pcmpgtd), E(packsswb), E(packssdw),
    E(packuswb), E(punpcklbw), E(punpcklwd), E(punpckldq), E(punpckhbw), E(punpckhwd),
    E(punpckhdq), E(pand), E(pandn), E(por), E(pxor),
    {"punpcklqdq", 0, x_punpcklqdq}, {"punpckhqdq", 0, x_punpckhqdq},
    {"unpcklps", 0, x_unpcklps}, {"unpckhps", 0, x_unpckhps},
    {"unpcklpd", 0, x_unpcklpd}, {"unpckhpd", 0, x_unpckhpd},
};

/* Shifts by a count in a register (MM and XMM) and by immediates. */
#define SHR(fn, insn)                                                                       \
    static void fn(const u32 *a, const u32 *c, u32 *r) {                                    \
        __asm__ volatile("movq (%[a]), %%mm0\n\tmovq (%[c]), %%mm1\n\t" insn " %%mm1, %%mm0\n\t" \
                         "movq %%mm0, (%[r])\n\temms\n\t"                                   \
                         "movdqu (%[a]), %%xmm0\n\tmovq (%[c]), %%xmm1\n\t" insn " %%xmm1, %%xmm0\n\t" \
                         "movdqu %%xmm0, 8(%[r])"                                           \
                         :                                                                  \
                         : [a] "r"(a), [c] "r"(c), [r] "r"(r)                               \
                         : "mm0", "mm1", "xmm0", "xmm1", "memory");                         \
    }
SHR(s_psllw, "psllw") SHR(s_pslld, "pslld") SHR(s_psllq, "psllq") SHR(s_psrlw, "psrlw")
SHR(s_psrld, "psrld") SHR(s_psrlq, "psrlq") SHR(s_psraw, "psraw") SHR(s_psrad, "psrad")

#define SHI(fn, insn, n)                                                                    \
    static void fn(const u32 *a, u32 *r) {                                                  \
        __asm__ volatile("movq (%[a]), %%mm0\n\t" insn " $" #n ", %%mm0\n\tmovq %%mm0, (%[r])\n\temms\n\t" \
                         "movdqu (%[a]), %%xmm0\n\t" insn " $" #n ", %%xmm0\n\tmovdqu %%xmm0, 8(%[r])" \
                         :                                                                  \
                         : [a] "r"(a), [r] "r"(r)                                           \
                         : "mm0", "xmm0", "memory");                                        \
    }
#define SHI3(insn) SHI(i_##insn##_1, #insn, 1) SHI(i_##insn##_15, #insn, 15) SHI(i_##insn##_31, #insn, 31) SHI(i_##insn##_200, #insn, 200)
SHI3(psllw) SHI3(pslld) SHI3(psllq) SHI3(psrlw) SHI3(psrld) SHI3(psrlq) SHI3(psraw) SHI3(psrad)

#define SDQ(fn, insn, n)                                                                    \
    static void fn(const u32 *a, u32 *r) {                                                  \
        __asm__ volatile("movdqu (%[a]), %%xmm0\n\t" insn " $" #n ", %%xmm0\n\tmovdqu %%xmm0, (%[r])" \
                         :                                                                  \
                         : [a] "r"(a), [r] "r"(r)                                           \
                         : "xmm0", "memory");                                               \
    }
SDQ(d_l1, "pslldq", 1) SDQ(d_l7, "pslldq", 7) SDQ(d_l15, "pslldq", 15) SDQ(d_l16, "pslldq", 16)
SDQ(d_r1, "psrldq", 1) SDQ(d_r9, "psrldq", 9) SDQ(d_r15, "psrldq", 15) SDQ(d_r255, "psrldq", 255)

typedef void (*sh_t)(const u32 *, const u32 *, u32 *);
typedef void (*si_t)(const u32 *, u32 *);

static const struct {
    const char *name;
    sh_t f;
} SH[] = {{"psllw", s_psllw}, {"pslld", s_pslld}, {"psllq", s_psllq}, {"psrlw", s_psrlw},
          {"psrld", s_psrld}, {"psrlq", s_psrlq}, {"psraw", s_psraw}, {"psrad", s_psrad}};

#define I4(n) {#n "$1", i_##n##_1}, {#n "$15", i_##n##_15}, {#n "$31", i_##n##_31}, {#n "$200", i_##n##_200}
static const struct {
    const char *name;
    si_t f;
} SI[] = {I4(psllw), I4(pslld), I4(psllq), I4(psrlw), I4(psrld), I4(psrlq), I4(psraw), I4(psrad),
          {"pslldq$1", d_l1}, {"pslldq$7", d_l7}, {"pslldq$15", d_l15}, {"pslldq$16", d_l16},
          {"psrldq$1", d_r1}, {"psrldq$9", d_r9}, {"psrldq$15", d_r15}, {"psrldq$255", d_r255}};

static const u32 COUNTS[][2] = {{0, 0}, {1, 0}, {7, 0}, {8, 0}, {15, 0}, {16, 0}, {31, 0},
                                {32, 0}, {63, 0}, {64, 0}, {0, 1}, {0xffffffff, 0xffffffff}};

static void run(void) {
    u32 i, a, b;
    static u32 r[6] __attribute__((aligned(16)));
    for (i = 0; i < sizeof OPS / sizeof OPS[0]; i++)
        for (a = 0; a < 6; a++)
            for (b = 0; b < 6; b++) {
                out_s(OPS[i].name);
                sp();
                out_c('0' + a);
                out_c('0' + b);
                if (OPS[i].mm) {
                    OPS[i].mm(V[a], V[b], r);
                    sp();
                    out_v(r, 2);
                }
                OPS[i].xm(V[a], V[b], r);
                sp();
                out_v(r, 4);
                nl();
            }
    for (i = 0; i < sizeof SH / sizeof SH[0]; i++)
        for (a = 0; a < 6; a++)
            for (b = 0; b < sizeof COUNTS / sizeof COUNTS[0]; b++) {
                SH[i].f(V[a], COUNTS[b], r);
                out_s(SH[i].name);
                sp();
                out_c('0' + a);
                sp();
                out_x(COUNTS[b][1]);
                out_x(COUNTS[b][0]);
                sp();
                out_v(r, 2);
                sp();
                out_v(r + 2, 4);
                nl();
            }
    for (i = 0; i < sizeof SI / sizeof SI[0]; i++)
        for (a = 0; a < 6; a++) {
            r[4] = r[5] = 0;
            SI[i].f(V[a], r);
            out_s(SI[i].name);
            sp();
            out_c('0' + a);
            sp();
            out_v(r, 6);
            nl();
        }
}

/* SSE/SSE2 conversions, moves, shuffles and state ground truth: every CVT form over
 * special and edge operands under each rounding mode with DAZ/FTZ, the merge rules
 * of MOVSS/MOVSD/MOVLPS/MOVHPS/MOVLHPS/MOVHLPS/MOVQ/MOVD, MOVMSK*, PMOVMSKB,
 * SHUFPS/SHUFPD/PSHUF*, PEXTRW/PINSRW, MASKMOVQ/MASKMOVDQU, LDMXCSR/STMXCSR,
 * the MXCSR/XMM part of FXSAVE, and RCP/RSQRT specials plus their error bound. */
#include "rt.h"

typedef unsigned long long u64;

static const u32 MODES[6] = {0x1f80, 0x3f80, 0x5f80, 0x7f80, 0x9fc0, 0x1fc0};

static u32 X[4][4] __attribute__((aligned(16))) = {
    {0x00000000, 0x80000001, 0x3fc00000, 0xcf000000},
    {0x4effffff, 0xcf000001, 0x7fc01234, 0xff800000},
    {0x3f000000, 0xbf400000, 0x40200000, 0x007fffff},
    {0x4f000000, 0x7f7fffff, 0xff900000, 0x80800000},
};
/* Doubles (two per vector). */
static u64 Y[6][2] __attribute__((aligned(16))) = {
    {0x0000000000000000ull, 0x8000000000000001ull},
    {0x3ff8000000000000ull, 0xc1e0000000000000ull},
    {0x41dfffffffc00000ull, 0xc1e0000000200000ull},
    {0x7ff8123456789abcull, 0xfff0000000000000ull},
    {0x36a0000000000000ull, 0x47f0000000000000ull},
    {0x3fe0000000000000ull, 0xc004000000000000ull},
};
static u32 INTS[2][4] __attribute__((aligned(16))) = {
    {0x00000000, 0x7fffffff, 0x80000000, 0x01000001},
    {0xffffffff, 0x00ffffff, 0xfeffffff, 0x12345678},
};

static u32 R[8] __attribute__((aligned(16)));
static volatile u32 CSR, CSR_OUT;

static void out_v(const u32 *v, int n) {
    while (n) {
        n = n - 1;
        out_x(v[n]);
    }
}

/* xmm0 = pattern, then insn with source (%[s]) (or xmm1 loaded from it), result -> R. */
#define CV(fn, insn)                                                                        \
    static void fn(const void *s) {                                                         \
        __asm__ volatile("ldmxcsr %[c]\n\tpcmpeqd %%xmm0, %%xmm0\n\tmovdqa (%[s]), %%xmm1\n\t" \
                         insn "\n\tmovdqa %%xmm0, %[r]\n\tstmxcsr %[o]"                     \
                         : [r] "=m"(R), [o] "=m"(CSR_OUT)                                   \
                         : [s] "r"(s), [c] "m"(CSR)                                         \
                         : "xmm0", "xmm1", "memory");                                       \
    }
CV(c_cvtps2pd, "cvtps2pd %%xmm1, %%xmm0")
CV(c_cvtpd2ps, "cvtpd2ps (%[s]), %%xmm0")
CV(c_cvtss2sd, "cvtss2sd (%[s]), %%xmm0")
CV(c_cvtsd2ss, "cvtsd2ss %%xmm1, %%xmm0")
CV(c_cvtdq2ps, "cvtdq2ps (%[s]), %%xmm0")
CV(c_cvtdq2pd, "cvtdq2pd %%xmm1, %%xmm0")
CV(c_cvtps2dq, "cvtps2dq %%xmm1, %%xmm0")
CV(c_cvttps2dq, "cvttps2dq (%[s]), %%xmm0")
CV(c_cvtpd2dq, "cvtpd2dq (%[s]), %%xmm0")
CV(c_cvttpd2dq, "cvttpd2dq %%xmm1, %%xmm0")
CV(c_cvtpi2ps, "movq (%[s]), %%mm1\n\tcvtpi2ps %%mm1, %%xmm0\n\temms")
CV(c_cvtpi2pd, "cvtpi2pd (%[s]), %%xmm0")
CV(c_cvtps2pi, "cvtps2pi %%xmm1, %%mm2\n\tmovq2dq %%mm2, %%xmm0\n\temms")
CV(c_cvttps2pi, "cvttps2pi (%[s]), %%mm2\n\tmovq2dq %%mm2, %%xmm0\n\temms")
CV(c_cvtpd2pi, "cvtpd2pi (%[s]), %%mm2\n\tmovq2dq %%mm2, %%xmm0\n\temms")
CV(c_cvttpd2pi, "cvttpd2pi %%xmm1, %%mm2\n\tmovq2dq %%mm2, %%xmm0\n\temms")
CV(c_cvtss2si, "cvtss2si %%xmm1, %%eax\n\tmovd %%eax, %%xmm0")
CV(c_cvttss2si, "cvttss2si 4(%[s]), %%eax\n\tmovd %%eax, %%xmm0")
CV(c_cvtsd2si, "cvtsd2si (%[s]), %%eax\n\tmovd %%eax, %%xmm0")
CV(c_cvttsd2si, "cvttsd2si %%xmm1, %%eax\n\tmovd %%eax, %%xmm0")
CV(c_cvtsi2ss, "cvtsi2ss 4(%[s]), %%xmm0")
CV(c_cvtsi2sd, "movl 8(%[s]), %%eax\n\tcvtsi2sd %%eax, %%xmm0")
CV(c_rcp, "rcpps %%xmm1, %%xmm0")
CV(c_rsqrt, "rsqrtps (%[s]), %%xmm0")
/* Moves and shuffles: xmm0 = all ones pattern, xmm1 = source vector. */
CV(m_movss_rr, "movss %%xmm1, %%xmm0")
CV(m_movss_rm, "movss 4(%[s]), %%xmm0")
CV(m_movsd_rr, "movsd %%xmm1, %%xmm0")
CV(m_movsd_rm, "movsd 8(%[s]), %%xmm0")
CV(m_movlps, "movlps 8(%[s]), %%xmm0")
CV(m_movhps, "movhps 4(%[s]), %%xmm0")
CV(m_movlpd, "movlpd (%[s]), %%xmm0")
CV(m_movhpd, "movhpd 8(%[s]), %%xmm0")
CV(m_movlhps, "movlhps %%xmm1, %%xmm0")
CV(m_movhlps, "movhlps %%xmm1, %%xmm0")
CV(m_movq_rm, "movq 4(%[s]), %%xmm0")
CV(m_movq_rr, "movq %%xmm1, %%xmm0")
CV(m_movd_r, "movl 12(%[s]), %%eax\n\tmovd %%eax, %%xmm0")
CV(m_movd_m, "movd 8(%[s]), %%xmm0")
CV(m_movq2dq, "movq 8(%[s]), %%mm3\n\tmovq2dq %%mm3, %%xmm0\n\temms")
CV(m_movdq2q, "movdq2q %%xmm1, %%mm4\n\tmovq2dq %%mm4, %%xmm0\n\temms")
CV(m_movmskps, "movmskps %%xmm1, %%eax\n\tmovd %%eax, %%xmm0")
CV(m_movmskpd, "movmskpd %%xmm1, %%eax\n\tmovd %%eax, %%xmm0")
CV(m_pmovmskb, "pmovmskb %%xmm1, %%eax\n\tmovd %%eax, %%xmm0")
CV(m_pmovmskb_mm, "movq 8(%[s]), %%mm5\n\tpmovmskb %%mm5, %%eax\n\tmovd %%eax, %%xmm0\n\temms")
CV(m_shufps1b, "shufps $0x1b, %%xmm1, %%xmm0")
CV(m_shufpsc6, "shufps $0xc6, (%[s]), %%xmm0")
CV(m_shufpd1, "shufpd $1, %%xmm1, %%xmm0")
CV(m_shufpd2, "shufpd $2, (%[s]), %%xmm0")
CV(m_pshufd, "pshufd $0x9c, %%xmm1, %%xmm0")
CV(m_pshufhw, "pshufhw $0x4e, (%[s]), %%xmm0")
CV(m_pshuflw, "pshuflw $0xe1, %%xmm1, %%xmm0")
CV(m_pshufw, "pshufw $0x72, 8(%[s]), %%mm1\n\tmovq2dq %%mm1, %%xmm0\n\temms")
CV(m_pextrw, "pextrw $5, %%xmm1, %%eax\n\tmovd %%eax, %%xmm0")
CV(m_pextrw_mm, "movq (%[s]), %%mm6\n\tpextrw $3, %%mm6, %%eax\n\tmovd %%eax, %%xmm0\n\temms")
CV(m_pinsrw, "pinsrw $6, 2(%[s]), %%xmm0")
CV(m_pinsrw_r, "movl 4(%[s]), %%eax\n\tpinsrw $1, %%eax, %%xmm0")
CV(m_pinsrw_mm, "movq (%[s]), %%mm7\n\tmovl 8(%[s]), %%eax\n\tpinsrw $2, %%eax, %%mm7\n\tmovq2dq %%mm7, %%xmm0\n\temms")
CV(m_movd_mm, "movd 12(%[s]), %%mm0\n\tmovd %%mm0, %%eax\n\tmovq2dq %%mm0, %%xmm0\n\tpinsrw $7, %%eax, %%xmm0\n\temms")

typedef void (*cv_t)(const void *);

static const struct {
    const char *name;
    cv_t f;
    u32 src; /* 0: single table, 1: double table, 2: ints */
} CVS[] = {
    {"cvtps2pd", c_cvtps2pd, 0},   {"cvtpd2ps", c_cvtpd2ps, 1},   {"cvtss2sd", c_cvtss2sd, 0},
    {"cvtsd2ss", c_cvtsd2ss, 1},   {"cvtdq2ps", c_cvtdq2ps, 2},   {"cvtdq2pd", c_cvtdq2pd, 2},
    {"cvtps2dq", c_cvtps2dq, 0},   {"cvttps2dq", c_cvttps2dq, 0}, {"cvtpd2dq", c_cvtpd2dq, 1},
    {"cvttpd2dq", c_cvttpd2dq, 1}, {"cvtpi2ps", c_cvtpi2ps, 2},   {"cvtpi2pd", c_cvtpi2pd, 2},
    {"cvtps2pi", c_cvtps2pi, 0},   {"cvttps2pi", c_cvttps2pi, 0}, {"cvtpd2pi", c_cvtpd2pi, 1},
    {"cvttpd2pi", c_cvttpd2pi, 1}, {"cvtss2si", c_cvtss2si, 0},   {"cvttss2si", c_cvttss2si, 0},
    {"cvtsd2si", c_cvtsd2si, 1},   {"cvttsd2si", c_cvttsd2si, 1}, {"cvtsi2ss", c_cvtsi2ss, 2},
    {"cvtsi2sd", c_cvtsi2sd, 2},
};

static const struct {
    const char *name;
    cv_t f;
} MOVS[] = {
    {"movss_rr", m_movss_rr},     {"movss_rm", m_movss_rm},   {"movsd_rr", m_movsd_rr},
    {"movsd_rm", m_movsd_rm},     {"movlps", m_movlps},       {"movhps", m_movhps},
    {"movlpd", m_movlpd},         {"movhpd", m_movhpd},       {"movlhps", m_movlhps},
    {"movhlps", m_movhlps},       {"movq_rm", m_movq_rm},     {"movq_rr", m_movq_rr},
    {"movd_r", m_movd_r},         {"movd_m", m_movd_m},       {"movq2dq", m_movq2dq},
    {"movdq2q", m_movdq2q},       {"movmskps", m_movmskps},   {"movmskpd", m_movmskpd},
    {"pmovmskb", m_pmovmskb},     {"pmovmskb_mm", m_pmovmskb_mm}, {"shufps1b", m_shufps1b},
    {"shufpsc6", m_shufpsc6},     {"shufpd1", m_shufpd1},     {"shufpd2", m_shufpd2},
    {"pshufd", m_pshufd},         {"pshufhw", m_pshufhw},     {"pshuflw", m_pshuflw},
    {"pshufw", m_pshufw},         {"pextrw", m_pextrw},       {"pextrw_mm", m_pextrw_mm},
    {"pinsrw", m_pinsrw},         {"pinsrw_r", m_pinsrw_r},   {"pinsrw_mm", m_pinsrw_mm},
    {"movd_mm", m_movd_mm},
};

/* Pointer tables: indexing the 16-byte rows directly would compile to shifts,
 * which this runtime avoids (see rt.h). */
static const void *const XP[4] = {X[0], X[1], X[2], X[3]};
static const void *const YP[6] = {Y[0], Y[1], Y[2], Y[3], Y[4], Y[5]};
static const void *const IP[2] = {INTS[0], INTS[1]};

static const void *src_vec(u32 kind, u32 i) {
    if (kind == 0)
        return XP[i];
    if (kind == 1)
        return YP[i];
    return IP[i];
}

static void maskmov(void) {
    static u8 buf[48] __attribute__((aligned(16)));
    static const u32 data[4] __attribute__((aligned(16))) = {0x44332211, 0x88776655, 0xccbbaa99, 0x00ffeedd};
    static const u32 mask[4] __attribute__((aligned(16))) = {0x80ff0080, 0x7f800001, 0xfffefdfc, 0x00800000};
    u32 i;
    u8 *p = buf;
    for (i = 0; i < 48; i++)
        buf[i] = (u8)i;
    __asm__ volatile("movdqa (%[d]), %%xmm1\n\tmovdqa (%[m]), %%xmm2\n\tmaskmovdqu %%xmm2, %%xmm1\n\t"
                     "movq (%[d]), %%mm1\n\tmovq 8(%[m]), %%mm2\n\tlea 21(%%edi), %%edi\n\t"
                     "maskmovq %%mm2, %%mm1\n\temms"
                     : "+D"(p)
                     : [d] "r"(data), [m] "r"(mask)
                     : "xmm1", "xmm2", "mm1", "mm2", "memory");
    out_s("maskmov ");
    for (i = 0; i < 48; i++)
        out_b(buf[i]);
    nl();
}

static void state(void) {
    static u8 area[512] __attribute__((aligned(16)));
    static const u32 vals[] = {0x1f80, 0x0000, 0xffff, 0x7fbf, 0x8040, 0x1fbf};
    u32 i;
    for (i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        volatile u32 in = vals[i], out = 0;
        __asm__ volatile("ldmxcsr %[i]\n\tstmxcsr %[o]\n\tldmxcsr %[d]" : [o] "=m"(out) : [i] "m"(in), [d] "m"(vals[0]));
        out_s("mxcsr ");
        out_x(out);
        nl();
    }
    __asm__ volatile("movdqa (%[x]), %%xmm3\n\tmovdqa 16(%[x]), %%xmm7\n\tldmxcsr %[c]\n\tfxsave (%[a])\n\t"
                     "ldmxcsr %[d]"
                     :
                     : [x] "r"(X), [a] "r"(area), [c] "m"(vals[3]), [d] "m"(vals[0])
                     : "xmm3", "xmm7", "memory");
    out_s("fxsave mxcsr=");
    out_b(area[27]);
    out_b(area[26]);
    out_b(area[25]);
    out_b(area[24]);
    out_s(" xmm3=");
    for (i = 0; i < 16; i++)
        out_b(area[160 + 48 + i]);
    out_s(" xmm7=");
    for (i = 0; i < 16; i++)
        out_b(area[160 + 112 + i]);
    nl();
}

/* RCPPS/RSQRTPS: specials exactly, normal results by the 1.5*2^-12 error bound
 * (the low bits are implementation-specific). */
static void approx(void) {
    static u32 in[4] __attribute__((aligned(16)));
    static const u32 sp_in[] = {0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc01234,
                                0x7f812345, 0x00000001, 0x807fffff, 0x7f7fffff, 0xff7fffff,
                                0x00000002, 0x80000003};
    u32 i, k;
    for (i = 0; i < 12; i += 4) {
        for (k = 0; k < 4; k++)
            in[k] = sp_in[i + k];
        CSR = 0x1f80;
        c_rcp(in);
        out_s("rcpps ");
        out_v(R, 4);
        c_rsqrt(in);
        out_s(" rsqrtps ");
        out_v(R, 4);
        nl();
    }
    /* Error bound over a sweep of normal inputs, checked with SSE2 doubles. */
    static const u32 EXPS[8] = {0, 0x08000000, 0x10000000, 0x18000000,
                                0xc0000000, 0xc8000000, 0xd0000000, 0xd8000000};
    for (i = 0; i < 64; i++) {
        u32 x = 0x3f800000 + i * 0x1fc01 + EXPS[i & 7], ok = 1;
        for (k = 0; k < 4; k++)
            in[k] = x + k * 0x51;
        c_rcp(in);
        for (k = 0; k < 4; k++) {
            static volatile u32 a, r;
            u32 good;
            a = in[k];
            r = R[k];
            /* |a*r - 1| <= 1.5 * 2^-12, in double precision. */
            __asm__ volatile("cvtss2sd %[a], %%xmm0\n\tcvtss2sd %[r], %%xmm1\n\tmulsd %%xmm1, %%xmm0\n\t"
                             "mov $0x3ff00000, %%eax\n\tmovd %%eax, %%xmm1\n\tpsllq $32, %%xmm1\n\t"
                             "subsd %%xmm1, %%xmm0\n\tmov $0x7fffffff, %%eax\n\tmovd %%eax, %%xmm2\n\t"
                             "psllq $32, %%xmm2\n\tpcmpeqd %%xmm3, %%xmm3\n\tpsrlq $32, %%xmm3\n\tpor %%xmm3, %%xmm2\n\t"
                             "andpd %%xmm2, %%xmm0\n\tmov $0x3f380000, %%eax\n\tmovd %%eax, %%xmm1\n\tpsllq $32, %%xmm1\n\t"
                             "xor %%eax, %%eax\n\tcomisd %%xmm0, %%xmm1\n\tsetae %%al"
                             : "=a"(good)
                             : [a] "m"(a), [r] "m"(r)
                             : "xmm0", "xmm1", "xmm2", "xmm3", "cc");
            ok &= good;
        }
        out_s("rcpps-bound ");
        out_x(x);
        out_s(ok ? " ok" : " BAD");
        nl();
    }
}

static void run(void) {
    u32 i, j, m;
    for (i = 0; i < sizeof CVS / sizeof CVS[0]; i++)
        for (j = 0; j < (CVS[i].src == 1 ? 6u : CVS[i].src == 0 ? 4u : 2u); j++) {
            out_s(CVS[i].name);
            sp();
            out_v(src_vec(CVS[i].src, j), 4);
            for (m = 0; m < 6; m++) {
                CSR = MODES[m];
                CVS[i].f(src_vec(CVS[i].src, j));
                sp();
                out_v(R, 4);
                out_c('/');
                out_hex(CSR_OUT & 0x3f, 1);
            }
            nl();
        }
    CSR = 0x1f80;
    for (i = 0; i < sizeof MOVS / sizeof MOVS[0]; i++)
        for (j = 0; j < 4; j++) {
            MOVS[i].f(XP[j]);
            out_s(MOVS[i].name);
            sp();
            out_v(XP[j], 4);
            sp();
            out_v(R, 4);
            nl();
        }
    maskmov();
    state();
    approx();
}

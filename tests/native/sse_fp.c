/* SSE/SSE2 floating-point arithmetic ground truth: ADD/SUB/MUL/DIV/MIN/MAX/SQRT
 * (scalar single with memory sources, scalar double with register sources, and the
 * packed forms), CMPSS/CMPSD with all eight predicates, COMIS/UCOMIS EFLAGS, over
 * special operands (zeros, denormals, infinities, QNaN/SNaN with payloads, extreme
 * normals) under eight MXCSR settings (rounding modes, FTZ, DAZ; all exceptions
 * masked). Each line: op, operands, then result/MXCSR flags per setting. */
#include "rt.h"

typedef unsigned long long u64;

static const u32 MODES[8] = {0x1f80, 0x3f80, 0x5f80, 0x7f80, 0x9f80, 0x1fc0, 0xffc0, 0xdf80};

static const u32 S[16] = {0x00000000, 0x80000000, 0x00000001, 0x807fffff, 0x00800000, 0x3f800000,
                          0xbf800001, 0x7f7fffff, 0x7f800000, 0xff800000, 0x7fc01234, 0xffa00001,
                          0x40490fdb, 0x33800000, 0x0c000001, 0x4b000001};
static const u64 D[14] = {0x0000000000000000ull, 0x8000000000000000ull, 0x0000000000000001ull,
                          0x800fffffffffffffull, 0x0010000000000000ull, 0x3ff0000000000000ull,
                          0xbff0000000000001ull, 0x7fefffffffffffffull, 0x7ff0000000000000ull,
                          0xfff0000000000000ull, 0x7ff8123456789abcull, 0xfff4000000000001ull,
                          0x400921fb54442d18ull, 0x3ca0000000000000ull};

/* Scalar single op with a memory source: r = a OP [b]. */
#define SS(fn, insn)                                                                       \
    static u32 fn(u32 a, u32 b, u32 csr, u32 *fo) {                                        \
        volatile u32 mb = b, mc = csr, mo;                                                 \
        u32 r;                                                                             \
        __asm__ volatile("ldmxcsr %[c]\n\tmovd %[a], %%xmm0\n\t" insn " %[b], %%xmm0\n\t"  \
                         "movd %%xmm0, %[r]\n\tstmxcsr %[o]"                               \
                         : [r] "=r"(r), [o] "=m"(mo)                                       \
                         : [a] "r"(a), [b] "m"(mb), [c] "m"(mc)                            \
                         : "xmm0");                                                        \
        *fo = mo;                                                                          \
        return r;                                                                          \
    }
SS(addss, "addss") SS(subss, "subss") SS(mulss, "mulss") SS(divss, "divss")
SS(minss, "minss") SS(maxss, "maxss") SS(sqrtss, "sqrtss")
SS(cmpss0, "cmpeqss") SS(cmpss1, "cmpltss") SS(cmpss2, "cmpless") SS(cmpss3, "cmpunordss")
SS(cmpss4, "cmpneqss") SS(cmpss5, "cmpnltss") SS(cmpss6, "cmpnless") SS(cmpss7, "cmpordss")

/* Scalar double op with a register source. */
#define SD(fn, insn)                                                                       \
    static u64 fn(u64 a, u64 b, u32 csr, u32 *fo) {                                        \
        volatile u64 ma = a, mb = b, mr;                                                   \
        volatile u32 mc = csr, mo;                                                         \
        __asm__ volatile("ldmxcsr %[c]\n\tmovsd %[a], %%xmm0\n\tmovsd %[b], %%xmm1\n\t"     \
                         insn " %%xmm1, %%xmm0\n\tmovsd %%xmm0, %[r]\n\tstmxcsr %[o]"       \
                         : [r] "=m"(mr), [o] "=m"(mo)                                      \
                         : [a] "m"(ma), [b] "m"(mb), [c] "m"(mc)                           \
                         : "xmm0", "xmm1");                                                \
        *fo = mo;                                                                          \
        return mr;                                                                         \
    }
SD(addsd, "addsd") SD(subsd, "subsd") SD(mulsd, "mulsd") SD(divsd, "divsd")
SD(minsd, "minsd") SD(maxsd, "maxsd") SD(sqrtsd, "sqrtsd")
SD(cmpsd0, "cmpeqsd") SD(cmpsd1, "cmpltsd") SD(cmpsd2, "cmplesd") SD(cmpsd3, "cmpunordsd")
SD(cmpsd4, "cmpneqsd") SD(cmpsd5, "cmpnltsd") SD(cmpsd6, "cmpnlesd") SD(cmpsd7, "cmpordsd")

/* COMIS/UCOMIS: EFLAGS (ZF PF CF, OF SF AF) after the compare. */
#define CO(fn, insn, mov)                                                                  \
    static u32 fn(u64 a, u64 b, u32 csr, u32 *fo) {                                        \
        volatile u64 ma = a, mb = b;                                                       \
        volatile u32 mc = csr, mo;                                                         \
        u32 f;                                                                             \
        __asm__ volatile("ldmxcsr %[c]\n\t" mov " %[a], %%xmm0\n\t" mov " %[b], %%xmm1\n\t" \
                         "push %[fi]\n\tpopf\n\t" insn " %%xmm1, %%xmm0\n\tpushf\n\tpop %[f]\n\t" \
                         "stmxcsr %[o]"                                                    \
                         : [f] "=r"(f), [o] "=m"(mo)                                       \
                         : [a] "m"(ma), [b] "m"(mb), [c] "m"(mc), [fi] "r"(0x8d7u)          \
                         : "xmm0", "xmm1", "cc");                                          \
        *fo = mo;                                                                          \
        return f & ARITH;                                                                  \
    }
CO(comiss, "comiss", "movss") CO(ucomiss, "ucomiss", "movss")
CO(comisd, "comisd", "movsd") CO(ucomisd, "ucomisd", "movsd")

/* Packed forms: four single (two double) lanes from memory, aligned. */
#define PK(fn, insn)                                                                       \
    static void fn(const u32 *a, const u32 *b, u32 csr, u32 *r, u32 *fo) {                 \
        static u32 ma[4] __attribute__((aligned(16)));                                     \
        static u32 mb[4] __attribute__((aligned(16)));                                     \
        static u32 mr[4] __attribute__((aligned(16)));                                     \
        volatile u32 mc = csr, mo;                                                         \
        int i;                                                                             \
        for (i = 0; i < 4; i++)                                                            \
            ma[i] = a[i], mb[i] = b[i];                                                    \
        __asm__ volatile("ldmxcsr %[c]\n\tmovaps %[a], %%xmm2\n\t" insn " %[b], %%xmm2\n\t" \
                         "movups %%xmm2, %[r]\n\tstmxcsr %[o]"                             \
                         : [r] "=m"(mr), [o] "=m"(mo)                                      \
                         : [a] "m"(ma), [b] "m"(mb), [c] "m"(mc)                           \
                         : "xmm2", "memory");                                              \
        for (i = 0; i < 4; i++)                                                            \
            r[i] = mr[i];                                                                  \
        *fo = mo;                                                                          \
    }
PK(addps, "addps") PK(subps, "subps") PK(mulps, "mulps") PK(divps, "divps")
PK(minps, "minps") PK(maxps, "maxps") PK(sqrtps, "sqrtps") PK(cmpps2, "cmpleps")
PK(addpd, "addpd") PK(subpd, "subpd") PK(mulpd, "mulpd") PK(divpd, "divpd")
PK(minpd, "minpd") PK(maxpd, "maxpd") PK(sqrtpd, "sqrtpd") PK(cmppd6, "cmpnlepd")
PK(andps, "andps") PK(andnps, "andnps") PK(orps, "orps") PK(xorpd, "xorpd")

typedef u32 (*ss_t)(u32, u32, u32, u32 *);
typedef u64 (*sd_t)(u64, u64, u32, u32 *);
typedef u32 (*co_t)(u64, u64, u32, u32 *);
typedef void (*pk_t)(const u32 *, const u32 *, u32, u32 *, u32 *);

static void flags(u32 f) {
    out_c('/');
    out_hex(f & 0x3f, 1);
}

/* Compare results print as T (all ones), F (zero) or ? (anything else). */
static void tf(u64 r, u64 ones) {
    out_c(r == ones ? 'T' : r == 0 ? 'F' : '?');
}

static void run_ss(const char *name, ss_t fn, int cmp) {
    u32 i, j, m;
    for (i = 0; i < 16; i++)
        for (j = 0; j < 16; j++) {
            out_s(name);
            sp();
            out_x(S[i]);
            sp();
            out_x(S[j]);
            for (m = 0; m < 8; m++) {
                u32 f, r = fn(S[i], S[j], MODES[m], &f);
                sp();
                if (cmp)
                    tf(r, 0xffffffffu);
                else
                    out_x(r);
                flags(f);
            }
            nl();
        }
}

static void out_q(u64 v) {
    out_x((u32)(v >> 32));
    out_x((u32)v);
}

static void run_sd(const char *name, sd_t fn, int cmp) {
    u32 i, j, m;
    for (i = 0; i < 14; i++)
        for (j = 0; j < 14; j++) {
            out_s(name);
            sp();
            out_q(D[i]);
            sp();
            out_q(D[j]);
            for (m = 0; m < 8; m++) {
                u32 f;
                u64 r = fn(D[i], D[j], MODES[m], &f);
                sp();
                if (cmp)
                    tf(r, ~0ull);
                else
                    out_q(r);
                flags(f);
            }
            nl();
        }
}

static void run_co(const char *name, co_t fn, int dbl) {
    u32 i, j, m, n = dbl ? 14 : 16;
    for (i = 0; i < n; i++)
        for (j = 0; j < n; j++) {
            u64 a = dbl ? D[i] : S[i], b = dbl ? D[j] : S[j];
            out_s(name);
            sp();
            out_q(a);
            sp();
            out_q(b);
            for (m = 0; m < 8; m++) {
                u32 f, e = fn(a, b, MODES[m], &f);
                sp();
                out_hex(e, 2);
                flags(f);
            }
            nl();
        }
}

/* Packed: operand vectors are consecutive 16-byte windows of the single table. */
static void run_pk(const char *name, pk_t fn) {
    static const u32 *const T = S;
    u32 i, j, m, k;
    for (i = 0; i < 13; i += 3)
        for (j = 0; j < 13; j += 2) {
            out_s(name);
            for (m = 0; m < 8; m += 3) {
                u32 r[4], f;
                fn(T + i, T + j, MODES[m], r, &f);
                sp();
                for (k = 0; k < 4; k++)
                    out_x(r[k]);
                flags(f);
            }
            nl();
        }
}

static void run(void) {
    run_ss("addss", addss, 0);
    run_ss("subss", subss, 0);
    run_ss("mulss", mulss, 0);
    run_ss("divss", divss, 0);
    run_ss("minss", minss, 0);
    run_ss("maxss", maxss, 0);
    run_ss("sqrtss", sqrtss, 0);
    run_ss("cmpeqss", cmpss0, 1);
    run_ss("cmpltss", cmpss1, 1);
    run_ss("cmpless", cmpss2, 1);
    run_ss("cmpunordss", cmpss3, 1);
    run_ss("cmpneqss", cmpss4, 1);
    run_ss("cmpnltss", cmpss5, 1);
    run_ss("cmpnless", cmpss6, 1);
    run_ss("cmpordss", cmpss7, 1);
    run_sd("addsd", addsd, 0);
    run_sd("subsd", subsd, 0);
    run_sd("mulsd", mulsd, 0);
    run_sd("divsd", divsd, 0);
    run_sd("minsd", minsd, 0);
    run_sd("maxsd", maxsd, 0);
    run_sd("sqrtsd", sqrtsd, 0);
    run_sd("cmpeqsd", cmpsd0, 1);
    run_sd("cmpltsd", cmpsd1, 1);
    run_sd("cmplesd", cmpsd2, 1);
    run_sd("cmpunordsd", cmpsd3, 1);
    run_sd("cmpneqsd", cmpsd4, 1);
    run_sd("cmpnltsd", cmpsd5, 1);
    run_sd("cmpnlesd", cmpsd6, 1);
    run_sd("cmpordsd", cmpsd7, 1);
    run_co("comiss", comiss, 0);
    run_co("ucomiss", ucomiss, 0);
    run_co("comisd", comisd, 1);
    run_co("ucomisd", ucomisd, 1);
    run_pk("addps", addps);
    run_pk("subps", subps);
    run_pk("mulps", mulps);
    run_pk("divps", divps);
    run_pk("minps", minps);
    run_pk("maxps", maxps);
    run_pk("sqrtps", sqrtps);
    run_pk("cmpleps", cmpps2);
    run_pk("addpd", addpd);
    run_pk("subpd", subpd);
    run_pk("mulpd", mulpd);
    run_pk("divpd", divpd);
    run_pk("minpd", minpd);
    run_pk("maxpd", maxpd);
    run_pk("sqrtpd", sqrtpd);
    run_pk("cmpnlepd", cmppd6);
    run_pk("andps", andps);
    run_pk("andnps", andnps);
    run_pk("orps", orps);
    run_pk("xorpd", xorpd);
}

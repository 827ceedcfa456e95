/* x87 arithmetic ground truth: FADD/FSUB/FSUBR/FMUL/FDIV/FDIVR in register forms
 * (ST0,STi / STi,ST0 / pop), memory forms (m32fp, m64fp, m16int, m32int) and the
 * unary/misc ops (FSQRT FRNDINT FCHS FABS FXTRACT FSCALE FPREM FPREM1), over special
 * operands in all precision/rounding modes, masked and unmasked. Prints FSW, FTW
 * and the stack. */
#include "x87.h"

#define PRE "fninit\n\tfldcw xCW\n\t"
#define POST "\n\tfnsave xS"
#define F(name, body)                                                                          \
    static void name(void) { __asm__ volatile(PRE body POST ::: "memory"); }

/* Register forms with raw opcodes (GNU as swaps FSUB/FSUBR with ST(i) destinations). */
#define R3(op, b0, b1, b2)                                                                     \
    F(op##_a, "fldt xB\n\tfldt xA\n\t.byte 0xd8," #b0)                                        \
    F(op##_b, "fldt xB\n\tfldt xA\n\t.byte 0xdc," #b1)                                        \
    F(op##_c, "fldt xB\n\tfldt xA\n\t.byte 0xde," #b2)
R3(add, 0xc1, 0xc1, 0xc1)
R3(mul, 0xc9, 0xc9, 0xc9)
R3(sub, 0xe1, 0xe9, 0xe9)
R3(subr, 0xe9, 0xe1, 0xe1)
R3(div, 0xf1, 0xf9, 0xf9)
R3(divr, 0xf9, 0xf1, 0xf1)
static const fn_t REG[18] = {add_a, add_b, add_c, mul_a, mul_b, mul_c, sub_a, sub_b, sub_c,
                             subr_a, subr_b, subr_c, div_a, div_b, div_c, divr_a, divr_b, divr_c};

/* Memory forms. */
#define M4(op)                                                                                 \
    F(op##_s, "fldt xA\n\tf" #op "s xM") F(op##_l, "fldt xA\n\tf" #op "l xM")                    \
    F(i##op##_s, "fldt xA\n\tfi" #op "s xM") F(i##op##_l, "fldt xA\n\tfi" #op "l xM")
M4(add) M4(mul) M4(sub) M4(subr) M4(div) M4(divr)
static const fn_t MEM[24] = {add_s, add_l, iadd_s, iadd_l, mul_s, mul_l, imul_s, imul_l,
                             sub_s, sub_l, isub_s, isub_l, subr_s, subr_l, isubr_s, isubr_l,
                             div_s, div_l, idiv_s, idiv_l, divr_s, divr_l, idivr_s, idivr_l};

/* Unary on ST(0) (with ST(1) = B below it for the binary ones). */
F(u_sqrt, "fldt xB\n\tfldt xA\n\tfsqrt")
F(u_rndint, "fldt xB\n\tfldt xA\n\tfrndint")
F(u_chs, "fldt xB\n\tfldt xA\n\tfchs")
F(u_abs, "fldt xB\n\tfldt xA\n\tfabs")
F(u_xtract, "fldt xA\n\tfxtract")
F(u_scale, "fldt xB\n\tfldt xA\n\tfscale")
F(u_prem, "fldt xB\n\tfldt xA\n\tfprem")
F(u_prem1, "fldt xB\n\tfldt xA\n\tfprem1")
static const fn_t UN[8] = {u_sqrt, u_rndint, u_chs, u_abs, u_xtract, u_scale, u_prem, u_prem1};

static const u32 M32V[] = {0, 0x80000000, 0x3f800000, 0xbfc00000, 0x7f7fffff, 0x00800000,
                           0x00000001, 0x807fffff, 0x7f800000, 0xff800000, 0x7fc01234,
                           0x7f800abc, 0x4b000001, 0x33800000};
static const u32 M64V[][2] = {{0, 0},          {0, 0x80000000},     {0, 0x3ff00000},
                              {0, 0xc0040000}, {~0u, 0x7fefffff},   {0, 0x00100000},
                              {1, 0},          {~0u, 0x800fffff},   {0, 0x7ff00000},
                              {0, 0xfff00000}, {0x1234, 0x7ff80000}, {0xabc, 0x7ff00000},
                              {1, 0x43300000}, {0, 0x3ca00000}};
static const u32 IV[] = {0, 1, 0xffffffff, 0x7fff, 0xffff8000, 0x7fffffff, 0x80000000, 12345};

/* Case label: tag and operand/mode numbers. */
static void lab(const char *t, u32 u, u32 o, u32 i, u32 j, u32 k) {
    out_s(t), sp(), out_b(u), out_b(o), sp(), out_b(i), out_b(j), out_b(k), sp();
}

static void run(void) {
    /* Register forms: a spread of operand pairs, one mode per pair (rotating). */
    for (u32 o = 0; o < 18; o++)
        for (u32 i = 0; i < NV; i++)
            for (u32 j = 0; j < NV; j++) {
                if (mod(mul(i, 7) + mul(j, 3) + o, 5))
                    continue;
                u32 k = mod(i + j + o, 12);
                xCW = cw_mode(k, MASKED);
                put80(xA, val(i)), put80(xB, val(j));
                REG[o]();
                lab("r", 0, o, i, j, k), out_save(mod(o, 3) != 0), nl();
            }
    /* All twelve modes on the subset (ST0,STi forms); unmasked on all forms. */
    for (u32 o = 0; o < 18; o++)
        for (u32 i = 0; i < 8; i++)
            for (u32 j = 0; j < 8; j++)
                for (u32 k = 0; k < 12; k++) {
                    u32 u = mod(o, 3) != 0;
                    if (u && k != mod(i + j + o, 12))
                        continue;
                    xCW = cw_mode(k, u ? UNMASKED : MASKED);
                    put80(xA, val(SUB[mul(i, 2)])), put80(xB, val(SUB[mul(j, 2) + 1]));
                    REG[o]();
                    lab("R", u, o, SUB[mul(i, 2)], SUB[mul(j, 2) + 1], k), out_save(1), nl();
                    if (!u) {
                        xCW = cw_mode(k, UNMASKED);
                        REG[o]();
                        lab("U", 1, o, SUB[mul(i, 2)], SUB[mul(j, 2) + 1], k), out_save(1), nl();
                    }
                }
    /* Memory forms. */
    for (u32 u = 0; u < 2; u++)
        for (u32 o = 0; o < 24; o++) {
            u32 kind = mod(o, 4), n = kind < 2 ? 14 : 8;
            for (u32 i = 0; i < NV; i++)
                for (u32 j = 0; j < n; j++) {
                    u32 k = mod(i + j + o, 12);
                    if (mod(i + j + o, u ? 8 : 4))
                        continue;
                    xCW = cw_mode(k, u ? UNMASKED : MASKED);
                    put80(xA, val(i));
                    fill(xM, 16, 0);
                    if (kind == 0)
                        memcpy(xM, &M32V[j], 4);
                    else if (kind == 1)
                        memcpy(xM, (const u8 *)M64V + mul(j, 8), 8);
                    else
                        memcpy(xM, &IV[j], 4);
                    MEM[o]();
                    lab("m", u, o, i, j, k), out_save(0), nl();
                }
        }
    /* Unary and misc. */
    for (u32 u = 0; u < 2; u++)
        for (u32 o = 0; o < 8; o++)
            for (u32 i = 0; i < NV; i++)
                for (u32 j = 0; j < NV; j++) {
                    int binary = o >= 5;
                    if (!binary && j >= 1)
                        break;
                    if (binary && mod(i + mul(j, 3) + o, u ? 8 : 4))
                        continue;
                    u32 k = mod(mul(i, 5) + j + o, 12);
                    xCW = cw_mode(k, u ? UNMASKED : MASKED);
                    put80(xA, val(i)), put80(xB, val(j));
                    UN[o]();
                    lab("u", u, o, i, j, k), out_save(1), nl();
                }
}

/* x87 load/store ground truth: FLD/FILD/FBLD, FST/FSTP/FIST/FISTP/FISTTP/FBSTP to
 * memory in every rounding mode (masked and unmasked), the FLD constants, FXCH,
 * FCMOVcc, FFREE(P), FINCSTP/FDECSTP, register FLD/FST/FSTP (and the undocumented
 * aliases), and stack overflow/underflow responses. Prints the stored bytes, FSW,
 * FTW and the top of the stack. */
#include "x87.h"

#define PRE "fninit\n\tfldcw xCW\n\t"
#define POST "\n\tfnsave xS"
#define F(name, body)                                                                          \
    static void name(void) { __asm__ volatile(PRE body POST ::: "memory"); }

F(l_s, "fldt xB\n\tflds xM") F(l_l, "fldt xB\n\tfldl xM") F(l_t, "fldt xB\n\tfldt xM")
F(l_is, "fldt xB\n\tfilds xM") F(l_il, "fldt xB\n\tfildl xM") F(l_iq, "fldt xB\n\tfildll xM")
F(l_bcd, "fldt xB\n\tfbld xM")
static const fn_t LD[7] = {l_s, l_l, l_t, l_is, l_il, l_iq, l_bcd};

F(s_s, "fldt xB\n\tfldt xA\n\tfsts xM") F(s_sp, "fldt xB\n\tfldt xA\n\tfstps xM")
F(s_l, "fldt xB\n\tfldt xA\n\tfstl xM") F(s_lp, "fldt xB\n\tfldt xA\n\tfstpl xM")
F(s_tp, "fldt xB\n\tfldt xA\n\tfstpt xM") F(s_is, "fldt xB\n\tfldt xA\n\tfists xM")
F(s_isp, "fldt xB\n\tfldt xA\n\tfistps xM") F(s_il, "fldt xB\n\tfldt xA\n\tfistl xM")
F(s_ilp, "fldt xB\n\tfldt xA\n\tfistpl xM") F(s_iqp, "fldt xB\n\tfldt xA\n\tfistpll xM")
F(s_ts, "fldt xB\n\tfldt xA\n\tfisttps xM") F(s_tl, "fldt xB\n\tfldt xA\n\tfisttpl xM")
F(s_tq, "fldt xB\n\tfldt xA\n\tfisttpll xM") F(s_bcd, "fldt xB\n\tfldt xA\n\tfbstp xM")
static const fn_t ST[14] = {s_s, s_sp, s_l, s_lp, s_tp, s_is, s_isp,
                            s_il, s_ilp, s_iqp, s_ts, s_tl, s_tq, s_bcd};

F(c_1, "fld1") F(c_l2t, "fldl2t") F(c_l2e, "fldl2e") F(c_pi, "fldpi") F(c_lg2, "fldlg2")
F(c_ln2, "fldln2") F(c_z, "fldz")
static const fn_t CS[7] = {c_1, c_l2t, c_l2e, c_pi, c_lg2, c_ln2, c_z};

/* FCMOVcc ST(0), ST(1) with AH -> flags via SAHF. */
#define CM(n, b0, b1)                                                                          \
    F(n, "fldt xB\n\tfldt xA\n\tmovb xFL, %%ah\n\tsahf\n\t.byte " #b0 "," #b1)
CM(cm_b, 0xda, 0xc1) CM(cm_e, 0xda, 0xc9) CM(cm_be, 0xda, 0xd1) CM(cm_u, 0xda, 0xd9)
CM(cm_nb, 0xdb, 0xc1) CM(cm_ne, 0xdb, 0xc9) CM(cm_nbe, 0xdb, 0xd1) CM(cm_nu, 0xdb, 0xd9)
static const fn_t CMOV[8] = {cm_b, cm_e, cm_be, cm_u, cm_nb, cm_ne, cm_nbe, cm_nu};

/* Stack manipulation and #IS scenarios (xA, xB are two ordinary values). */
#define LD2 "fldt xB\n\tfldt xA\n\t"
#define FULL "fld1\n\tfld1\n\tfld1\n\tfld1\n\tfld1\n\tfld1\n\tfldt xB\n\tfldt xA\n\t"
#define EMPTY0 LD2 "ffree %%st(0)\n\t"
F(k_xch, LD2 "fxch %%st(1)") F(k_xch3, LD2 "fxch %%st(3)") F(k_xch0, EMPTY0 "fxch %%st(1)")
F(k_ffree, LD2 "ffree %%st(1)") F(k_ffreep, LD2 ".byte 0xdf,0xc1") F(k_inc, LD2 "fincstp")
F(k_dec, LD2 "fdecstp") F(k_ldst, LD2 "fld %%st(1)") F(k_ldst3, LD2 "fld %%st(3)")
F(k_fst, LD2 "fst %%st(2)") F(k_fstp, LD2 "fstp %%st(1)") F(k_fstp1, LD2 ".byte 0xd9,0xd9")
F(k_fstp8, LD2 ".byte 0xdf,0xd1") F(k_fstp9, LD2 ".byte 0xdf,0xd9")
F(k_fxch4, LD2 ".byte 0xdd,0xc9") F(k_fxch7, LD2 ".byte 0xdf,0xc9") F(k_nop, LD2 "fnop")
F(o_fld1, FULL "fld1") F(o_flds, FULL "flds xM") F(o_fldt, FULL "fldt xM")
F(o_fild, FULL "filds xM") F(o_fldst, FULL "fld %%st(3)") F(o_fbld, FULL "fbld xM")
F(o_xtract, FULL "fxtract") F(o_ptan, FULL "ffree %%st(7)\n\tfldz\n\tfptan")
F(o_sincos, FULL "fsincos") F(o_ptan2, FULL "fptan")
F(u_add, EMPTY0 "fadd %%st(1), %%st") F(u_addp, EMPTY0 "faddp") F(u_add1, LD2 "fadd %%st(5), %%st")
F(u_fsts, EMPTY0 "fsts xM") F(u_fstps, EMPTY0 "fstps xM") F(u_fstpl, EMPTY0 "fstpl xM")
F(u_fstpt, EMPTY0 "fstpt xM") F(u_fistp, EMPTY0 "fistpl xM") F(u_fists, EMPTY0 "fists xM")
F(u_fistq, EMPTY0 "fisttpll xM") F(u_fbstp, EMPTY0 "fbstp xM") F(u_chs, EMPTY0 "fchs")
F(u_abs, EMPTY0 "fabs") F(u_sqrt, EMPTY0 "fsqrt") F(u_rnd, EMPTY0 "frndint")
F(u_scale, "fldt xA\n\tfscale") F(u_prem, "fldt xA\n\tfprem") F(u_xtract, EMPTY0 "fxtract")
F(u_fst, EMPTY0 "fst %%st(1)") F(u_fstp, EMPTY0 "fstp %%st(1)") F(u_fld, LD2 "fld %%st(4)")
F(u_cmov, EMPTY0 "fcmovb %%st(1), %%st") F(u_cmov2, LD2 "fcmovnb %%st(4), %%st")
F(u_yl2x, "fldt xA\n\tfyl2x") F(u_patan, "fldt xA\n\tfpatan") F(u_sin, EMPTY0 "fsin")
F(u_ptan, EMPTY0 "fptan") F(u_sincos, EMPTY0 "fsincos") F(u_adds, EMPTY0 "fadds xM")
F(u_iadd, EMPTY0 "fiaddl xM") F(u_divp, LD2 "fdivrp %%st, %%st(6)")
F(u_f2xm1, EMPTY0 "f2xm1") F(u_prem1, "fldt xA\n\tfprem1") F(u_fxch, LD2 "fxch %%st(5)")
static const fn_t SC[] = {k_xch, k_xch3, k_xch0, k_ffree, k_ffreep, k_inc, k_dec, k_ldst,
                          k_ldst3, k_fst, k_fstp, k_fstp1, k_fstp8, k_fstp9, k_fxch4, k_fxch7,
                          k_nop, o_fld1, o_flds, o_fldt, o_fild, o_fldst, o_fbld, o_xtract,
                          o_ptan, o_sincos, o_ptan2, u_add, u_addp, u_add1, u_fsts, u_fstps,
                          u_fstpl, u_fstpt, u_fistp, u_fists, u_fistq, u_fbstp, u_chs, u_abs,
                          u_sqrt, u_rnd, u_scale, u_prem, u_xtract, u_fst, u_fstp, u_fld,
                          u_cmov, u_cmov2, u_yl2x, u_patan, u_sin, u_ptan, u_sincos, u_adds,
                          u_iadd, u_divp, u_f2xm1, u_prem1, u_fxch};
#define NSC (sizeof SC / sizeof SC[0])

static const u32 LM32[] = {0, 0x80000000, 0x3f800000, 0x7f7fffff, 0x00000001, 0x807fffff,
                           0x7f800000, 0xff800000, 0x7fc01234, 0x7f800abc, 0xffbfffff, 0x00400000};
static const u32 LM64[][2] = {{0, 0x80000000}, {~0u, 0x7fefffff}, {1, 0}, {~0u, 0x800fffff},
                              {0, 0x7ff00000}, {0x1234, 0x7ff80000}, {0xabc, 0x7ff00000},
                              {0, 0x7ff40000}, {5, 0x3ff00000}, {0, 0x00080000}};
static const u32 LI64[][2] = {{0, 0}, {1, 0}, {~0u, ~0u}, {0, 0x80000000}, {~0u, 0x7fffffff},
                              {0x12345678, 0x9abcdef}, {0x7fff, 0}, {0x8000, 0xffffffff}};
static const u8 BCDV[][10] = {{0x99, 0x99, 0x99, 0x99, 0x99, 0x99, 0x99, 0x99, 0x99, 0},
                              {0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0x80},
                              {0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80},
                              {0x45, 0x23, 0x01, 0, 0, 0, 0, 0, 0, 0x7f},
                              {0x0a, 0xf0, 0, 0, 0, 0, 0, 0, 0x12, 0},
                              {0x21, 0x43, 0x65, 0x87, 0x09, 0x21, 0x43, 0x65, 0x87, 0x80}};

static void lab(const char *t, u32 a, u32 b, u32 c) {
    out_s(t), sp(), out_b(a), out_b(b), out_b(c), sp();
}
static void out_mem(u32 n) {
    for (u32 i = n; i > 0; i--)
        out_b(xM[i - 1]);
    sp();
}

static void run(void) {
    static const struct f80 two = V(0x4000, 0x80000000, 0);
    /* Loads (masked, unmasked; ST(1) = 2.0 below). */
    for (u32 u = 0; u < 2; u++)
        for (u32 o = 0; o < 7; o++)
            for (u32 j = 0; j < 12; j++) {
                u32 n = o == 0 ? 12 : o == 1 ? 10 : o == 2 ? 12 : o == 5 ? 8 : o == 6 ? 6 : 8;
                if (j >= n)
                    break;
                xCW = cw_mode(j, u ? UNMASKED : MASKED);
                put80(xB, &two);
                fill(xM, 16, 0);
                if (o == 0)
                    memcpy(xM, &LM32[j], 4);
                else if (o == 1)
                    memcpy(xM, (const u8 *)LM64 + mul(j, 8), 8);
                else if (o == 2)
                    put80(xM, val(mul(j, 3)));
                else if (o == 5)
                    memcpy(xM, (const u8 *)LI64 + mul(j, 8), 8);
                else if (o == 6)
                    memcpy(xM, (const u8 *)BCDV + mul(j, 10), 10);
                else
                    memcpy(xM, (const u8 *)LI64 + mul(j, 8), 4), xM[1] = (u8)(xM[1] ^ j);
                LD[o]();
                lab("l", u, o, j), out_save(1), nl();
            }
    /* Stores: every value, every rounding mode (PC too, which must not matter). */
    static const u32 SZ[14] = {4, 4, 8, 8, 10, 2, 2, 4, 4, 8, 2, 4, 8, 10};
    for (u32 u = 0; u < 2; u++)
        for (u32 o = 0; o < 14; o++)
            for (u32 i = 0; i < NV; i++)
                for (u32 r = 0; r < 4; r++) {
                    u32 k = mul(r, 3) + mod(i + o, 3);
                    if (u && r != mod(i, 4))
                        continue;
                    xCW = cw_mode(k, u ? UNMASKED : MASKED);
                    put80(xA, val(i)), put80(xB, &two);
                    fill(xM, 16, 0xa5);
                    ST[o]();
                    lab("s", u, o, i), out_b(k), sp(), out_mem(SZ[o]), out_save(1), nl();
                }
    /* Integer stores near the limits and rounding boundaries. */
    static const struct f80 IB[] = {
        V(0x400d, 0xfffe0000, 0), V(0x400d, 0xffff0000, 0), V(0x400e, 0x80000000, 0),
        V(0xc00e, 0x80000000, 0), V(0xc00e, 0x80010000, 0), V(0x401d, 0xffffffff, 0),
        V(0x401e, 0x80000000, 0), V(0xc01e, 0x80000000, 0), V(0x403e, 0x80000000, 0),
        V(0xc03e, 0x80000000, 0), V(0x403d, 0xffffffff, 0xffffffff), V(0x3ffe, 0x80000000, 0),
        V(0xbffe, 0x80000000, 0), V(0x3fff, 0xc0000000, 0), V(0x4000, 0xa0000000, 0),
        V(0x4037, 0xde0b6b3a, 0x763fffff), V(0x4039, 0xde0b6b3a, 0x76400000)};
    for (u32 o = 5; o < 14; o++)
        for (u32 i = 0; i < 17; i++)
            for (u32 r = 0; r < 4; r++) {
                xCW = cw_mode(mul(r, 3) + 2, MASKED);
                put80(xA, (const struct f80 *)((const u8 *)IB + mul(i, 12))), put80(xB, &two);
                fill(xM, 16, 0xa5);
                ST[o]();
                lab("i", o, i, r), out_mem(SZ[o]), out_save(0), nl();
            }
    /* Constants in every rounding mode. */
    for (u32 o = 0; o < 7; o++)
        for (u32 k = 0; k < 12; k++) {
            xCW = cw_mode(k, MASKED);
            CS[o]();
            lab("c", o, k, 0), out_save(0), nl();
        }
    /* FCMOVcc over the CF/ZF/PF combinations. */
    for (u32 o = 0; o < 8; o++)
        for (u32 f = 0; f < 8; f++) {
            static const u8 AH[8] = {0x02, 0x03, 0x42, 0x43, 0x06, 0x07, 0x46, 0x47};
            xFL = AH[f];
            xCW = cw_mode(0, MASKED);
            put80(xA, val(4)), put80(xB, val(6));
            CMOV[o]();
            lab("f", o, f, 0), out_save(1), nl();
        }
    /* Stack scenarios, masked and unmasked. */
    for (u32 u = 0; u < 2; u++)
        for (u32 o = 0; o < NSC; o++) {
            xCW = cw_mode(0, u ? UNMASKED : MASKED);
            put80(xA, val(4)), put80(xB, val(6));
            fill(xM, 16, 0xa5);
            xM[0] = 1;
            SC[o]();
            lab("k", u, o, 0), out_mem(10), out_save(1), out80(xS + 48), nl();
        }
}

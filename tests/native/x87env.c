/* x87 environment ground truth: FNSTENV/FLDENV (32- and 16-bit formats), FNSAVE/FRSTOR,
 * FXSAVE/FXRSTOR (x87 part), FLDCW/FNSTCW/FNSTSW/FNCLEX/FINIT, tag word computation,
 * the instruction/data pointers and opcode. Segment selectors differ between the
 * native (ring 3) and emulated (ring 0) runs and are not printed; FXSAVE pointers are
 * printed only with an exception pending (AMD stores them only then). */
#include "x87.h"

#define F(name, body)                                                                          \
    static void name(void) { __asm__ volatile(body ::: "memory"); }

u8 xS2[112];
u8 xFX2[512] __attribute__((aligned(16)));

static void out_n(const u8 *p, u32 n) {
    for (u32 i = n; i > 0; i--)
        out_b(p[i - 1]);
    sp();
}
/* 32-bit protected-mode environment without the selectors. */
static void out_env32(const u8 *e) {
    out_n(e, 4), out_n(e + 4, 4), out_n(e + 8, 4), out_n(e + 12, 4), out_n(e + 18, 2);
    out_n(e + 20, 4), out_n(e + 26, 2);
}
static void out_env16(const u8 *e) {
    out_n(e, 2), out_n(e + 2, 2), out_n(e + 4, 2), out_n(e + 6, 2), out_n(e + 10, 2);
}
static void out_regs(const u8 *p, u32 stride) {
    for (u32 i = 0; i < 8; i++)
        out80(p + mul(i, stride));
}

#define LD3 "fninit\n\tfldt xA\n\tfldt xB\n\tfldz\n\tfaddl xM\n\t"
F(e_stenv, LD3 "fnstenv xE\n\tfnstcw xSW\n\tfninit")
F(e_stenv16, LD3 ".byte 0x66\n\tfnstenv xE\n\tfninit")
F(e_stenv_reg, LD3 "fsqrt\n\tfnstenv xE\n\tfninit")
F(e_stenv_pend, "fninit\n\tfldcw xCW\n\tfldz\n\tfldz\n\tfdivp\n\tfnstenv xE\n\tfnstsw xSW\n\tfninit")
F(e_ldenv, "fninit\n\tfldenv xE\n\tfnstsw xSW\n\tfnstenv xE\n\tfninit")
F(e_ldenv16, "fninit\n\t.byte 0x66\n\tfldenv xE\n\t.byte 0x66\n\tfnstenv xE\n\tfninit")
F(e_save, LD3 "fnsave xS\n\tfnstsw xSW")
F(e_save16, LD3 ".byte 0x66\n\tfnsave xS")
F(e_rstor, "fninit\n\tfrstor xS\n\tfnsave xS2")
F(e_rstor16, "fninit\n\t.byte 0x66\n\tfrstor xS\n\t.byte 0x66\n\tfnsave xS2")
F(e_fxsave, LD3 "fxsave xFX\n\tfninit")
F(e_fxsave_pend, "fninit\n\tfldcw xCW\n\tfldt xA\n\tfld1\n\tfdivs xM\n\tfxsave xFX\n\tfninit")
F(e_fxrstor, "fninit\n\tfxrstor xFX\n\tfnsave xS2")
F(e_fxsave_mmx, "fninit\n\tfldt xA\n\tfdecstp\n\tfdecstp\n\tfxsave xFX\n\tfninit")
F(e_cw, "fninit\n\tfldcw xCW\n\tfnstcw xSW\n\tfninit")
F(e_sw, "fninit\n\tfldcw xCW\n\tfldt xA\n\tfldt xB\n\tfdivrp\n\tfnstsw %%ax\n\tmovw %%ax, xSW\n\tfnclex\n\tfnstenv xE\n\tfninit")
F(e_finit, "fninit\n\tfld1\n\tfld1\n\tfinit\n\tfnstenv xE")
F(e_clex, "fninit\n\tfldt xA\n\tfldt xA\n\tfmulp\n\tfclex\n\tfnstenv xE\n\tfninit")
F(e_tag, "fninit\n\tfldt xA\n\tfldt xB\n\tfdecstp\n\tffree %%st(3)\n\tfnstenv xE\n\tfninit")
F(e_ptr, "fninit\n\tfildl xM\n\tfld %%st(0)\n\tfnop\n\tfnstenv xE\n\tfninit")
F(e_ptr2, "fninit\n\tfldt xA\n\tfstps xM\n\tfwait\n\tfnstenv xE\n\tfninit")
F(e_ptr3, "fninit\n\tflds xM\n\tfldcw xCW\n\tfnstenv xE\n\tfninit")

/* AMD stores FOP/FIP/FDP in FXSAVE only while an exception is pending (ES); Intel,
 * and the emulator, always. Without ES the pointers are zeroed before use. */
static void fx_scrub(void) {
    if (!(xFX[2] & 0x80))
        fill(xFX + 6, 6, 0), fill(xFX + 16, 4, 0);
}

static void lab(const char *t, u32 a) { out_s(t), sp(), out_b(a), sp(); }

static void run(void) {
    static const struct f80 pi = V(0x4000, 0xc90fdaa2, 0x2168c235);
    static const u32 one64[2] = {0, 0x3ff00000};
    /* Tag word of every special value (and FNSTENV pointers of FLD m80). */
    for (u32 i = 0; i < NV; i++) {
        put80(xA, val(i)), put80(xB, &pi);
        memcpy(xM, one64, 8);
        e_tag();
        lab("tag", i), out_env32(xE), nl();
    }
    put80(xA, val(7)), put80(xB, val(2)), memcpy(xM, one64, 8);
    e_stenv(), lab("stenv", 0), out_env32(xE), kv("cw", xSW, 2), nl();
    e_stenv16(), lab("stenv16", 0), out_env16(xE), nl();
    e_stenv_reg(), lab("stenvr", 0), out_env32(xE), nl();
    for (u32 k = 0; k < 4; k++) {
        xCW = (u16)(k == 0 ? 0x37e : k == 1 ? 0x37b : k == 2 ? 0x33f : 0x1f00);
        e_stenv_pend(), lab("pend", k), out_env32(xE), kv("sw", xSW, 2), nl();
    }
    /* FLDENV of crafted images: TOP, tags (empty vs not), pending flags, pointers. */
    static const u16 TW[4] = {0xffff, 0x0fff, 0x5a3c, 0xfffc};
    static const u16 SWS[4] = {0x3800, 0x1881, 0x4704, 0x0020};
    static const u16 CWV[4] = {0x037f, 0x037e, 0x0f7b, 0xffff};
    for (u32 k = 0; k < 16; k++) {
        fill(xE, 32, 0);
        u32 a = mod(k, 4), b = quo(k, 4);
        memcpy(xE, &CWV[a], 2), memcpy(xE + 4, &SWS[b], 2), memcpy(xE + 8, &TW[mod(a + b, 4)], 2);
        xE[12] = 0x78, xE[13] = 0x56, xE[14] = 0x34, xE[15] = 0x12, xE[18] = 0xde, xE[19] = 0x7;
        xE[20] = 0x21, xE[21] = 0x43;
        e_ldenv(), lab("ldenv", k), out_env32(xE), kv("sw", xSW, 2), nl();
        fill(xE, 32, 0);
        memcpy(xE, &CWV[a], 2), memcpy(xE + 2, &SWS[b], 2), memcpy(xE + 4, &TW[mod(a + b, 4)], 2);
        xE[6] = 0x34, xE[7] = 0x12, xE[10] = 0x78, xE[11] = 0x56;
        e_ldenv16(), lab("ldenv16", k), out_env16(xE), nl();
    }
    /* FNSAVE / FRSTOR. */
    for (u32 i = 0; i < NV; i += 3) {
        put80(xA, val(i)), put80(xB, val(mod(i + 7, NV))), memcpy(xM, one64, 8);
        fill(xS, 112, 0x5a);
        e_save(), lab("save", i), out_env32(xS), out_regs(xS + 28, 10), kv("sw", xSW, 2), nl();
        e_rstor(), lab("rstor", i), out_env32(xS2), out_regs(xS2 + 28, 10), nl();
        fill(xS, 112, 0x5a);
        e_save16(), lab("save16", i), out_env16(xS), out_regs(xS + 14, 10), nl();
        e_rstor16(), lab("rstor16", i), out_env16(xS2), out_regs(xS2 + 14, 10), nl();
    }
    /* FRSTOR of a crafted image: every tag combination class, TOP 5. */
    fill(xS, 112, 0);
    xS[0] = 0x7f, xS[1] = 0x03, xS[5] = 0x28, xS[8] = 0x1b, xS[9] = 0xe4;
    for (u32 r = 0; r < 8; r++)
        put80(xS + 28 + mul(r, 10), val(mul(r, 4)));
    e_rstor(), lab("rstorx", 0), out_env32(xS2), out_regs(xS2 + 28, 10), nl();
    /* FXSAVE / FXRSTOR. */
    for (u32 i = 0; i < NV; i += 5) {
        put80(xA, val(i)), put80(xB, val(mod(i + 3, NV))), memcpy(xM, one64, 8);
        fill(xFX, 512, 0xa5);
        e_fxsave(), fx_scrub(), lab("fxsave", i), out_n(xFX, 2), out_n(xFX + 2, 2), out_n(xFX + 4, 1);
        out_n(xFX + 5, 1), out_regs(xFX + 32, 16), out_n(xFX + 42, 6), out_n(xFX + 288, 4), nl();
        e_fxrstor(), lab("fxrstor", i), out_env32(xS2), out_regs(xS2 + 28, 10), nl();
    }
    xCW = 0x37b, put80(xA, &pi), fill(xM, 4, 0);
    fill(xFX, 512, 0xa5);
    e_fxsave_pend(), fx_scrub(), lab("fxpend", 0), out_n(xFX, 8), out_n(xFX + 8, 4), out_n(xFX + 16, 4);
    out_regs(xFX + 32, 16), nl();
    e_fxrstor(), lab("fxrstorp", 0), out_env32(xS2), out_regs(xS2 + 28, 10), nl();
    put80(xA, val(2));
    e_fxsave_mmx(), fx_scrub(), lab("fxtop", 0), out_n(xFX, 8), out_regs(xFX + 32, 16), nl();
    /* FXRSTOR of a crafted image (abridged tags, TOP 3). */
    fill(xFX, 512, 0);
    xFX[0] = 0x7f, xFX[1] = 0x03, xFX[3] = 0x18, xFX[4] = 0xa7;
    for (u32 r = 0; r < 8; r++)
        put80(xFX + 32 + mul(r, 16), val(mul(r, 4) + 1));
    e_fxrstor(), lab("fxrstorx", 0), out_env32(xS2), out_regs(xS2 + 28, 10), nl();
    /* Control and status words. */
    static const u16 CWT[8] = {0x0000, 0xffff, 0x037f, 0x1f3f, 0xe0c0, 0x0c40, 0x0080, 0x127f};
    for (u32 k = 0; k < 8; k++) {
        xCW = CWT[k];
        e_cw(), lab("cw", k), kv("cw", xSW, 2), nl();
    }
    for (u32 k = 0; k < 12; k++) {
        xCW = cw_mode(k, mod(k, 2) ? UNMASKED : MASKED);
        put80(xA, val(mod(mul(k, 5), NV))), put80(xB, val(mod(mul(k, 7), NV)));
        e_sw(), lab("sw", k), kv("sw", xSW, 2), out_env32(xE), nl();
    }
    e_finit(), lab("finit", 0), out_env32(xE), nl();
    put80(xA, val(16));
    e_clex(), lab("clex", 0), out_env32(xE), nl();
    /* Pointers and opcodes of different instruction kinds. */
    memcpy(xM, one64, 8), xCW = 0x27f;
    e_ptr(), lab("ptr", 0), out_env32(xE), nl();
    put80(xA, &pi);
    e_ptr2(), lab("ptr", 1), out_env32(xE), nl();
    e_ptr3(), lab("ptr", 2), out_env32(xE), nl();
}

/* x87 compare ground truth: FCOM/FCOMP/FCOMPP, FUCOM/FUCOMP/FUCOMPP, FCOM m32/m64,
 * FICOM m16/m32, FCOMI/FCOMIP/FUCOMI/FUCOMIP (EFLAGS, with all flags set and clear
 * before), FTST and FXAM (including empty registers), masked and unmasked. */
#include "x87.h"

#define PRE "fninit\n\tfldcw xCW\n\t"
#define F(name, body)                                                                          \
    static void name(void) {                                                                   \
        __asm__ volatile(PRE body "\n\tfnsave xS" ::: "memory");                              \
    }
/* FCOMI forms: EFLAGS in from xFL, out to xFL. */
#define FI(name, body)                                                                         \
    static void name(void) {                                                                   \
        __asm__ volatile(PRE "pushl xFL\n\tpopfl\n\t" body                                     \
                             "\n\tpushfl\n\tpopl xFL\n\tfnsave xS" ::: "memory");              \
    }
#define LD2 "fldt xB\n\tfldt xA\n\t"
F(c_com, LD2 "fcom %%st(1)") F(c_comp, LD2 "fcomp %%st(1)") F(c_compp, LD2 "fcompp")
F(c_ucom, LD2 "fucom %%st(1)") F(c_ucomp, LD2 "fucomp %%st(1)") F(c_ucompp, LD2 "fucompp")
F(c_com2, LD2 ".byte 0xdc,0xd1") F(c_comp3, LD2 ".byte 0xdc,0xd9") F(c_comp5, LD2 ".byte 0xde,0xd1")
FI(c_comi, LD2 "fcomi %%st(1), %%st") FI(c_comip, LD2 "fcomip %%st(1), %%st")
FI(c_ucomi, LD2 "fucomi %%st(1), %%st") FI(c_ucomip, LD2 "fucomip %%st(1), %%st")
F(c_tst, LD2 "ftst") F(c_xam, LD2 "fxam")
static const fn_t RC[15] = {c_com, c_comp, c_compp, c_ucom, c_ucomp, c_ucompp, c_com2, c_comp3,
                            c_comp5, c_comi, c_comip, c_ucomi, c_ucomip, c_tst, c_xam};
F(m_s, "fldt xA\n\tfcoms xM") F(m_sp, "fldt xA\n\tfcomps xM") F(m_l, "fldt xA\n\tfcoml xM")
F(m_lp, "fldt xA\n\tfcompl xM") F(m_is, "fldt xA\n\tficoms xM") F(m_isp, "fldt xA\n\tficomps xM")
F(m_il, "fldt xA\n\tficoml xM") F(m_ilp, "fldt xA\n\tficompl xM")
static const fn_t MC[8] = {m_s, m_sp, m_l, m_lp, m_is, m_isp, m_il, m_ilp};
/* Empty operands. */
#define E0 LD2 "ffree %%st(0)\n\t"
#define E1 LD2 "ffree %%st(1)\n\t"
F(e_com, E1 "fcom %%st(1)") F(e_compp, E0 "fcompp") F(e_ucomp, E1 "fucomp %%st(1)")
FI(e_comi, E1 "fcomi %%st(1), %%st") FI(e_ucomip, E0 "fucomip %%st(1), %%st") F(e_tst, E0 "ftst")
F(e_xam, E0 "fxam") F(e_xamn, LD2 "fchs\n\tffree %%st(0)\n\tfxam") F(e_coms, E0 "fcoms xM")
F(e_icom, E0 "ficompl xM") F(e_xam7, "fxam")
static const fn_t EC[11] = {e_com, e_compp, e_ucomp, e_comi, e_ucomip, e_tst,
                            e_xam, e_xamn, e_coms, e_icom, e_xam7};

static const u32 M32V[] = {0, 0x80000000, 0x3f800000, 0xbfc00000, 0x00000001, 0x7f800000,
                           0xff800000, 0x7fc01234, 0x7f800abc, 0x40490fdb};
static const u32 M64V[][2] = {{0, 0}, {0, 0x3ff00000}, {0, 0xbff80000}, {1, 0}, {0, 0x7ff00000},
                              {0x1234, 0x7ff80000}, {0xabc, 0x7ff00000}, {0x54442d18, 0x400921fb}};
static const u32 IV[] = {0, 1, 0xffffffff, 0x7fff, 0xffff8000, 0x7fffffff, 0x80000000, 3};

static void lab(const char *t, u32 u, u32 o, u32 i, u32 j) {
    out_s(t), sp(), out_b(u), out_b(o), out_b(i), out_b(j), sp();
}

static void run(void) {
    for (u32 u = 0; u < 2; u++)
        for (u32 o = 0; o < 15; o++)
            for (u32 i = 0; i < NV; i++)
                for (u32 j = 0; j < NV; j++) {
                    if (o >= 13 && j)
                        break;
                    if (o < 13 && mod(i + mul(j, 3) + o, u ? 8 : 4))
                        continue;
                    xCW = cw_mode(mod(i + j, 12), u ? UNMASKED : MASKED);
                    xFL = mod(i + j, 2) ? 0x8d7 : 0x2;
                    put80(xA, val(i)), put80(xB, val(j));
                    RC[o]();
                    lab("r", u, o, i, j), out_save(1), out_hex(xFL & 0x8d5, 2), nl();
                }
    for (u32 u = 0; u < 2; u++)
        for (u32 o = 0; o < 8; o++) {
            u32 n = o < 2 ? 10 : o < 4 ? 8 : 8;
            for (u32 i = 0; i < NV; i++)
                for (u32 j = 0; j < n; j++) {
                    if (mod(i + j, u ? 3 : 1))
                        continue;
                    xCW = cw_mode(0, u ? UNMASKED : MASKED);
                    put80(xA, val(i));
                    fill(xM, 16, 0);
                    if (o < 2)
                        memcpy(xM, &M32V[j], 4);
                    else if (o < 4)
                        memcpy(xM, (const u8 *)M64V + mul(j, 8), 8);
                    else
                        memcpy(xM, &IV[j], 4);
                    MC[o]();
                    lab("m", u, o, i, j), out_save(0), nl();
                }
        }
    for (u32 u = 0; u < 2; u++)
        for (u32 o = 0; o < 11; o++) {
            xCW = cw_mode(0, u ? UNMASKED : MASKED);
            xFL = 0x2;
            put80(xA, val(4)), put80(xB, val(6));
            fill(xM, 16, 0);
            EC[o]();
            lab("e", u, o, 0, 0), out_save(1), out_hex(xFL & 0x8d5, 2), nl();
        }
}

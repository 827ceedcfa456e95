/* x87 transcendental ground truth: F2XM1, FYL2X, FYL2XP1, FPATAN, FSIN, FCOS, FSINCOS,
 * FPTAN over special operands, trig arguments up to and beyond 2^63, and the domain
 * edges, in every rounding mode (masked and unmasked). The soft-float is within 1 ulp
 * of hardware here, so the test compares results with that tolerance. Lines tagged
 * "x" are outside the SDM's domains of F2XM1/FYL2XP1 (undefined results): counted. */
#include "x87.h"

#define PRE "fninit\n\tfldcw xCW\n\t"
#define F(name, body)                                                                          \
    static void name(void) { __asm__ volatile(PRE body "\n\tfnsave xS" ::: "memory"); }
F(t_f2xm1, "fldt xB\n\tfldt xA\n\tf2xm1") F(t_yl2x, "fldt xB\n\tfldt xA\n\tfyl2x")
F(t_yl2xp1, "fldt xB\n\tfldt xA\n\tfyl2xp1") F(t_patan, "fldt xB\n\tfldt xA\n\tfpatan")
F(t_sin, "fldt xB\n\tfldt xA\n\tfsin") F(t_cos, "fldt xB\n\tfldt xA\n\tfcos")
F(t_sincos, "fldt xB\n\tfldt xA\n\tfsincos") F(t_ptan, "fldt xB\n\tfldt xA\n\tfptan")
static const fn_t TR[8] = {t_f2xm1, t_yl2x, t_yl2xp1, t_patan, t_sin, t_cos, t_sincos, t_ptan};

static const struct f80 TV[] = {
    V(0x3ffe, 0x80000000, 0),          /* 0.5 */
    V(0xbffe, 0x80000000, 0),          /* -0.5 */
    V(0x3ffe, 0xffffffff, 0xffffffff), /* 1-2^-64 */
    V(0x3fbd, 0x80000000, 0),          /* 2^-66 */
    V(0x3ffd, 0x95f61998, 0x0c690000), /* 0.29 (fyl2xp1 domain edge) */
    V(0xbffd, 0x95f61998, 0x0c690000),
    V(0x3fff, 0xc90fdaa2, 0x2168c235), /* pi/2 */
    V(0x4001, 0xc90fdaa2, 0x2168c235), /* 2pi */
    V(0x4000, 0xc90fdaa2, 0x2168c234), /* pi - ulp */
    V(0x4020, 0x9502f900, 0),          /* 1e10 */
    V(0x403d, 0xffffffff, 0xffffffff), /* 2^63 - 1 */
    V(0x403e, 0x80000000, 0),          /* 2^63: out of range */
    V(0xc03e, 0xc0000000, 0),          /* -1.5 * 2^63 */
    V(0x4010, 0xc90fdaa2, 0x2168c235), /* 2^16 pi/2 */
    V(0x3ffe, 0xb504f333, 0xf9de6484), /* sqrt(2)/2 */
    V(0x4008, 0xb17217f7, 0xd1cf79ac), /* 355 */
};
#define NT (sizeof TV / sizeof TV[0])
static const struct f80 *arg(u32 i) {
    return i < NV ? val(i) : (const struct f80 *)((const u8 *)TV + mul(i - NV, 12));
}

static void run(void) {
    static const struct f80 three = V(0x4000, 0xc0000000, 0);
    for (u32 u = 0; u < 2; u++)
        for (u32 o = 0; o < 8; o++)
            for (u32 i = 0; i < NV + NT; i++)
                for (u32 j = 0; j < NV + NT; j++) {
                    int binary = o >= 1 && o <= 3;
                    if (!binary && j >= 4)
                        break;
                    if (binary && mod(i + mul(j, 3) + o, u ? 12 : 4))
                        continue;
                    if (!binary && u && j)
                        continue;
                    u32 k = binary ? mod(i + j, 12) : mul(j, 3) + mod(i + o, 3);
                    xCW = cw_mode(k, u ? UNMASKED : MASKED);
                    put80(xA, arg(i)), put80(xB, binary ? arg(j) : &three);
                    TR[o]();
                    /* F2XM1 is undefined for |x| > 1 (AMD returns x unchanged) and
                     * FYL2XP1 for |x| >= 1 - sqrt(2)/2 (finite, non-zero y). */
                    const struct f80 *a = arg(i);
                    u32 e = a->se & 0x7fff;
                    int undef = o == 0 && e >= 0x3fff && e < 0x7fff &&
                                !(e == 0x3fff && a->hi == 0x80000000 && a->lo == 0);
                    undef |= o == 2 && e < 0x7fff && (e > 0x3ffd || (e == 0x3ffd && a->hi >= 0x95f61998));
                    out_s(undef ? "x " : "t "), out_b(u), out_b(o), out_b(i), out_b(j), out_b(k), sp();
                    out_save(1), nl();
                }
}

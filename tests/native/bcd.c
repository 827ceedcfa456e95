/* Decimal-adjust ground truth: DAA DAS (all AL, CF, AF), AAA AAS (all AL, AF, three
 * AH values), AAM and AAD with bases 10, 16 and 7. Masks: DAA/DAS define CF AF SF ZF
 * PF; AAA/AAS define AF CF; AAM/AAD define SF ZF PF. */
#include "rt.h"

static const u32 FCA[4] = {0x2, 0x2 | CF, 0x2 | AF, 0x2 | CF | AF};

#define ADJ(fn, insn)                                                                          \
    static u32 fn(u32 *ax, u32 fin) {                                                          \
        u32 a = *ax, fo;                                                                       \
        __asm__ volatile("push %[fi]\n\tpopf\n\t" insn "\n\tpushf\n\tpop %[fo]"               \
                         : "+a"(a), [fo] "=&r"(fo)                                             \
                         : [fi] "r"(fin)                                                       \
                         : "cc");                                                              \
        *ax = a;                                                                               \
        return fo;                                                                             \
    }
ADJ(bcd_daa, "daa") ADJ(bcd_das, "das") ADJ(bcd_aaa, "aaa") ADJ(bcd_aas, "aas")
ADJ(bcd_aam10, "aam") ADJ(bcd_aam16, "aam $16") ADJ(bcd_aam7, "aam $7")
ADJ(bcd_aad10, "aad") ADJ(bcd_aad16, "aad $16") ADJ(bcd_aad7, "aad $7")

typedef u32 (*fn_t)(u32 *, u32);
struct op {
    const char *name;
    fn_t f;
    u32 mask, nf, nah; /* flag inputs used, AH values used */
};
static const u32 AH[3] = {0x0000, 0x0900, 0xff00};
static const struct op OPS[] = {
    {"daa", bcd_daa, CF | AF | SF | ZF | PF, 4, 1},
    {"das", bcd_das, CF | AF | SF | ZF | PF, 4, 1},
    {"aaa", bcd_aaa, CF | AF, 4, 3},
    {"aas", bcd_aas, CF | AF, 4, 3},
    {"aam10", bcd_aam10, SF | ZF | PF, 1, 1},
    {"aam16", bcd_aam16, SF | ZF | PF, 1, 1},
    {"aam7", bcd_aam7, SF | ZF | PF, 1, 1},
    {"aad10", bcd_aad10, SF | ZF | PF, 1, 3},
    {"aad16", bcd_aad16, SF | ZF | PF, 1, 3},
    {"aad7", bcd_aad7, SF | ZF | PF, 1, 3},
};

static void run(void) {
    for (u32 o = 0; o < sizeof OPS / sizeof OPS[0]; o++) {
        const struct op *p = &OPS[o];
        for (u32 h = 0; h < p->nah; h++)
            for (u32 al = 0; al < 256; al++)
                for (u32 k = 0; k < p->nf; k++) {
                    u32 in = 0x12340000 | AH[h] | al, ax = in;
                    u32 f = p->f(&ax, p->nf == 1 ? FIN[al & 1] : FCA[k]);
                    out_s(p->name), sp(), kv("ax", in, 2), kv("fi", k, 1), kv("r", ax, 4);
                    fl(f, p->mask), nl();
                }
    }
}

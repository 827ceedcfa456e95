/* Data movement ground truth: MOVZX/MOVSX (register and memory sources), LEA with
 * 32- and 16-bit addressing forms, CBW/CWDE/CWD/CDQ, XCHG. */
#include "rt.h"

static const u32 V[8] = {0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xfedcba98};

#define X(fn, insn)                                                                            \
    static u32 fn(u32 v) {                                                                     \
        u32 r = 0x5a5a5a5a;                                                                    \
        __asm__(insn : "+r"(r) : "q"(v));                                                      \
        return r;                                                                              \
    }
X(zx_b16, "movzbw %b1, %w0") X(zx_b32, "movzbl %b1, %k0") X(zx_w32, "movzwl %w1, %k0")
X(sx_b16, "movsbw %b1, %w0") X(sx_b32, "movsbl %b1, %k0") X(sx_w32, "movswl %w1, %k0")
#define XM(fn, insn, ty)                                                                       \
    static u32 fn(u32 v) {                                                                     \
        volatile ty m = (ty)v;                                                                 \
        u32 r = 0x5a5a5a5a;                                                                    \
        __asm__(insn : "+r"(r) : "m"(m));                                                      \
        return r;                                                                              \
    }
XM(zxm_b32, "movzbl %1, %k0", u8) XM(sxm_w32, "movswl %1, %k0", u16)
XM(sxm_b16, "movsbw %1, %w0", u8)

#define LEA(fn, insn)                                                                          \
    static u32 fn(u32 b, u32 i) {                                                              \
        u32 r = 0x5a5a5a5a;                                                                    \
        __asm__(insn : "+r"(r) : "b"(b), "S"(i));                                              \
        return r;                                                                              \
    }
LEA(lea_a, "leal (%1), %k0") LEA(lea_b, "leal 0x12345678(%1), %k0")
LEA(lea_c, "leal -8(%1,%2), %k0") LEA(lea_d, "leal 0x7f(%1,%2,2), %k0")
LEA(lea_e, "leal -0x80000000(%1,%2,4), %k0") LEA(lea_f, "leal 0(,%2,8), %k0")
LEA(lea_g, "leal 3(%2,%2,8), %k0") LEA(lea_h, "leaw 0x10(%1,%2,4), %w0")
LEA(lea_i, "addr16 leal 0x7fff(%%bx,%%si), %k0") LEA(lea_j, "addr16 leaw -1(%%bx), %w0")
LEA(lea_k, "addr16 leal 0x1234, %k0") LEA(lea_l, "addr16 leaw (%%si), %w0")

typedef u32 (*f1_t)(u32);
typedef u32 (*f2_t)(u32, u32);
static const f1_t XS[9] = {zx_b16, zx_b32, zx_w32, sx_b16, sx_b32, sx_w32, zxm_b32, sxm_w32, sxm_b16};
static const char *const XN[9] = {"movzx_b16", "movzx_b32", "movzx_w32", "movsx_b16", "movsx_b32",
                                  "movsx_w32", "movzxm_b32", "movsxm_w32", "movsxm_b16"};
static const f2_t LS[12] = {lea_a, lea_b, lea_c, lea_d, lea_e, lea_f,
                            lea_g, lea_h, lea_i, lea_j, lea_k, lea_l};

static void run(void) {
    for (u32 o = 0; o < 9; o++)
        for (u32 i = 0; i < 8; i++) {
            out_s(XN[o]), sp(), kv("a", V[i], 4), kv("r", XS[o](V[i]), 4), nl();
        }
    for (u32 o = 0; o < 12; o++)
        for (u32 i = 0; i < 8; i++)
            for (u32 j = 0; j < 8; j += 3) {
                out_s("lea"), out_c('a' + o), sp(), kv("b", V[i], 4), kv("i", V[j], 4);
                kv("r", LS[o](V[i], V[j]), 4), nl();
            }
    for (u32 i = 0; i < 8; i++) {
        u32 a = V[i] | 0x12340000, d = 0x5a5a5a5a, a2 = a, d2 = d, a3 = a, a4 = a, d4 = d;
        __asm__("cbtw" : "+a"(a));
        __asm__("cwtd" : "+a"(a2), "+d"(d2));
        __asm__("cwtl" : "+a"(a3));
        __asm__("cltd" : "+a"(a4), "+d"(d4));
        out_s("cvt "), kv("a", V[i] | 0x12340000, 4), kv("cbw", a, 4), kv("cwd", d2, 4);
        kv("cwde", a3, 4), kv("cdq", d4, 4), nl();
        u32 x = V[i], y = 0x01020304;
        __asm__("xchgb %b0, %h1\n\txchgw %w1, %w0" : "+q"(x), "+q"(y));
        out_s("xchg "), kv("a", V[i], 4), kv("x", x, 4), kv("y", y, 4), nl();
    }
}

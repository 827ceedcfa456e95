/* x87_oracle: runs single x87 instructions on the host CPU and prints the
 * answers in the format of shared/testdata/x87-intel/vectors.txt.gz, so a
 * rule can be probed on an Intel host and the same lines fed to the emulator
 * (gzip them and point TAB86_X87_INTEL_VECTORS at the file when running
 * `cargo test -p tab86-tests --test x87_intel`).
 *
 * Build: gcc -O1 -o x87_oracle x87_oracle.c   (x86-64 Linux)
 * Input lines on stdin: OP CW A B   e.g.  fscale 024a 0000_0000000057029fa9 8000_0000000000000000
 * OP is one of the kinds of the vector file except fsub/fsubr/fdiv/fdivr,
 * fcom/fucom/fcomi/fucomi (add them below if needed).
 *
 * Empty register slots show whatever the host last left there (the vector
 * file shows 0), so compare such output on results and status words. */
#include <stdio.h>
#include <string.h>
#include <stdint.h>

typedef struct { unsigned char b[10]; } f80;
static unsigned char save[108], out[16];
static f80 A, B;
static uint16_t CW;

#define RUN(insn)                                                              \
    __asm__ volatile("fninit\n fldt %1\n fldt %0\n fldcw %2\n " insn           \
                     "\n fnsave %3\n fninit"                                    \
                     :: "m"(A), "m"(B), "m"(CW), "m"(save), "m"(out)            \
                     : "memory")

static void parse(const char *s, f80 *x) {
    unsigned e;
    unsigned long long m;
    sscanf(s, "%x_%llx", &e, &m);
    memcpy(x->b, &m, 8);
    x->b[8] = e & 255;
    x->b[9] = e >> 8;
}

static void pr(const unsigned char *b) {
    unsigned long long m;
    memcpy(&m, b, 8);
    printf("%04x_%016llx", b[8] | (b[9] << 8), m);
}

static void mem(const char *tag, int n) {
    printf(" %s=", tag);
    for (int i = n - 1; i >= 0; i--)
        printf("%02x", out[i]);
}

int main(void) {
    char op[32], as[64], bs[64];
    unsigned cw;
    while (scanf("%31s %x %63s %63s", op, &cw, as, bs) == 4) {
        parse(as, &A), parse(bs, &B), CW = cw;
        memset(out, 0, sizeof out), memset(save, 0, sizeof save);
#define C(n, i) else if (!strcmp(op, n)) RUN(i);
        if (0);
        C("fadd", "faddp %%st,%%st(1)") C("fmul", "fmulp %%st,%%st(1)")
        C("fsqrt", "fsqrt") C("frndint", "frndint") C("fsin", "fsin")
        C("fcos", "fcos") C("f2xm1", "f2xm1") C("fabs", "fabs") C("fchs", "fchs")
        C("fsincos", "fsincos") C("fptan", "fptan") C("fxtract", "fxtract")
        C("fprem", "fprem") C("fprem1", "fprem1") C("fscale", "fscale")
        C("fpatan", "fpatan") C("fyl2x", "fyl2x") C("fyl2xp1", "fyl2xp1")
        C("fxam", "fxam") C("ftst", "ftst")
        C("fst32", "fstps %4") C("fst64", "fstpl %4") C("fist16", "fistps %4")
        C("fist32", "fistpl %4") C("fist64", "fistpll %4") C("fbstp", "fbstp %4")
        else {
            fprintf(stderr, "unsupported: %s\n", op);
            continue;
        }
        printf("%s %04x %s %s -> %04x %04x ", op, cw, as, bs, save[4] | (save[5] << 8),
               save[8] | (save[9] << 8));
        pr(save + 28), printf(" "), pr(save + 38);
        if (!strcmp(op, "fst32") || !strcmp(op, "fist32")) mem("m32", 4);
        if (!strcmp(op, "fst64") || !strcmp(op, "fist64")) mem("m64", 8);
        if (!strcmp(op, "fist16")) mem("m16", 2);
        if (!strcmp(op, "fbstp")) mem("m80", 10);
        printf("\n");
        fflush(stdout);
    }
    return 0;
}

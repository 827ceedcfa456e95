/* Freestanding i386 runtime for the native ground-truth programs: Linux int 0x80
 * write/exit, buffered output and hex formatting. The runtime avoids shifts,
 * rotates and string instructions so that it runs on an emulator that lacks them:
 * only the instructions under test (inline asm) exercise those groups. */
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;
typedef int i32;

/* The six status flags and EFLAGS input patterns. */
#define CF 0x001u
#define PF 0x004u
#define AF 0x010u
#define ZF 0x040u
#define SF 0x080u
#define OF 0x800u
#define ARITH (CF | PF | AF | ZF | SF | OF)
/* Flags in: all clear / all set (bit 1 is always one, IF/DF/TF stay clear). */
static const u32 FIN[2] = {0x002u, 0x002u | ARITH};

static void sys_write(const char *p, u32 n) {
    int r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(4), "b"(1), "c"(p), "d"(n) : "memory");
}
static void __attribute__((noreturn)) sys_exit(int code) {
    __asm__ volatile("int $0x80" : : "a"(1), "b"(code) : "memory");
    for (;;) {
    }
}

static char obuf[4096];
static volatile u32 olen;

static void flush(void) {
    if (olen) {
        sys_write(obuf, olen);
        olen = 0;
    }
}
static void out_c(char c) {
    if (olen == sizeof obuf)
        flush();
    obuf[olen] = c;
    olen = olen + 1;
}
static void out_s(const char *s) {
    while (*s)
        out_c(*s++);
}
static const char HEX2[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
static void out_b(u8 b) {
    u32 i = (u32)b + (u32)b;
    out_c(HEX2[i]);
    out_c(HEX2[i + 1]);
}
/* Hex of the low `bytes` bytes of v, most significant first. */
static void out_hex(u32 v, u32 bytes) {
    volatile union {
        u32 v;
        u8 b[4];
    } u;
    u.v = v;
    while (bytes) {
        bytes = bytes - 1;
        out_b(u.b[bytes]);
    }
}
static void out_x(u32 v) { out_hex(v, 4); }
static void sp(void) { out_c(' '); }
static void nl(void) { out_c('\n'); }
/* "key=hex " */
static void kv(const char *k, u32 v, u32 bytes) {
    out_s(k);
    out_c('=');
    out_hex(v, bytes);
    sp();
}
/* Masked flags as "f=xxx". */
static void fl(u32 f, u32 mask) {
    out_s("f=");
    out_hex(f & mask, 2);
}

void *memset(void *d, int c, u32 n) {
    volatile u8 *p = d;
    while (n) {
        *p++ = (u8)c;
        n = n - 1;
    }
    return d;
}
void *memcpy(void *d, const void *s, u32 n) {
    volatile u8 *p = d;
    const u8 *q = s;
    while (n) {
        *p++ = *q++;
        n = n - 1;
    }
    return d;
}

static void run(void);

void __attribute__((noreturn, used)) _start(void) {
    run();
    flush();
    sys_exit(0);
}

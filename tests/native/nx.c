/* NX as a user program sees it: a page mapped read+write gets a tiny function
 * (mov eax, 0x12345678; ret), is made read+exec and called (runs everywhere), then
 * made read-only (no PROT_EXEC) and called again. With NX (PAE paging, EFER.NXE,
 * as the 686-pae kernel and any x86-64 host set up) the second call faults: the
 * SIGSEGV handler prints si_code (2 = SEGV_ACCERR), whether si_addr, the faulting
 * EIP and CR2 are the page, the trap number (14) and the page-fault error code the
 * kernel reports (0x15 = present | user | instruction fetch), then exits: that is
 * what an x86-64 host kernel does (expected/nx.out). Otherwise the call runs and
 * the program says so: under Debian's non-PAE 686 kernel (32-bit page tables have
 * no execute bit) and, as observed both on tab86 and on QEMU TCG with -cpu max,
 * under its 686-pae kernel too.
 *
 * Not one of the user-mode harness's programs (that harness has no signals or
 * mmap): it runs natively on the host (tests/native/expected/nx.out) and inside
 * Linux guests (tests/tests/apic.rs). */
#include "rt.h"

static i32 sys3(u32 nr, u32 a, u32 b, u32 c) {
    i32 r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return r;
}

static u32 sys_mmap2(u32 len, u32 prot, u32 flags) {
    i32 r;
    /* mmap2(addr=0, len, prot, flags, fd=-1, pgoff=0): the sixth argument in ebp. */
    __asm__ volatile("push %%ebp\n\tmov $0, %%ebp\n\tint $0x80\n\tpop %%ebp"
                     : "=a"(r)
                     : "a"(192), "b"(0), "c"(len), "d"(prot), "S"(flags), "D"(-1)
                     : "memory");
    return (u32)r;
}

#define PROT_READ 1u
#define PROT_WRITE 2u
#define PROT_EXEC 4u
#define MAP_PRIVATE 2u
#define MAP_ANONYMOUS 0x20u
#define SA_SIGINFO 4u
#define SIGSEGV 11u

static volatile u32 page;

/* "key=hex" on a line of its own. */
static void kvn(const char *k, u32 v, u32 bytes) {
    out_s(k);
    out_c('=');
    out_hex(v, bytes);
    nl();
}

static void yes_no(const char *k, int v) {
    out_s(k);
    out_s(v ? " yes\n" : " no\n");
}

/* SIGSEGV with SA_SIGINFO: (signo, siginfo *, ucontext *). Never returns (no
 * sigreturn trampoline needed). */
static void __attribute__((used, noreturn)) on_segv(i32 sig, u32 *info, u32 *uc) {
    /* siginfo: signo, errno, code, addr. ucontext: flags, link, stack (3 words),
     * then the i386 sigcontext: gs fs es ds edi esi ebp esp ebx edx ecx eax trapno
     * err eip cs eflags esp_at_signal ss fpstate oldmask cr2. */
    u32 *sc = uc + 5;
    out_s("noexec call: SIGSEGV\n");
    kvn("signo", (u32)sig, 1);
    kvn("si_code", info[2], 1);
    yes_no("si_addr==page", info[3] == page);
    yes_no("eip==page", sc[14] == page);
    yes_no("cr2==page", sc[21] == page);
    kvn("trapno", sc[12], 1);
    kvn("err", sc[13], 1);
    flush();
    sys_exit(0);
}

static void run(void) {
    /* struct sigaction as the kernel takes it: handler, flags, restorer, mask[2]. */
    static u32 act[5];
    act[0] = (u32)on_segv;
    act[1] = SA_SIGINFO;
    {
        /* rt_sigaction(SIGSEGV, act, NULL, sizeof mask = 8) */
        i32 r;
        __asm__ volatile("int $0x80"
                         : "=a"(r)
                         : "a"(174), "b"(SIGSEGV), "c"((u32)act), "d"(0), "S"(8)
                         : "memory");
        kvn("rt_sigaction", (u32)r, 4);
    }
    page = sys_mmap2(4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    yes_no("mmap ok", page < 0xfffff000u);
    {
        static const u8 code[6] = {0xb8, 0x78, 0x56, 0x34, 0x12, 0xc3};
        u8 *p = (u8 *)page;
        u32 i;
        for (i = 0; i < 6; i++)
            p[i] = code[i];
    }
    kvn("mprotect(r-x)", (u32)sys3(125, page, 4096, PROT_READ | PROT_EXEC), 4);
    kvn("exec call", ((u32(*)(void))page)(), 4);
    kvn("mprotect(r--)", (u32)sys3(125, page, 4096, PROT_READ), 4);
    flush();
    {
        u32 r = ((u32(*)(void))page)();
        out_s("noexec call: ran (no NX)\n");
        kvn("returned", r, 4);
    }
}

//! Native ground truth for MMX, SSE and SSE2: the `tests/native/sse*.c` programs
//! (built with -mmmx -msse2) run natively on the host and under the emulator (with
//! CR4.OSFXSR and CR4.OSXMMEXCPT set as Linux sets them); every output line (one
//! instruction over one operand set, results and MXCSR flags under several MXCSR
//! settings) must match. Same harness as `native.rs`.
//!
//! Each program is one instruction group and one `#[test]`, so a failing group is
//! visible by name. The programs are built by `tests/native/build.sh` (gcc -m32;
//! Debian packages gcc-multilib and nasm). Without the toolchain the tests fail when
//! `CI` is set and skip with a loud message otherwise. If the host cannot run i386
//! binaries, the expected output comes from `tests/native/expected/<name>.out`
//! (regenerate those with `TAB86_BLESS=1 cargo test -p tab86-tests --test native`).

/// Upper bound on emulated instructions per program.
const BUDGET: u64 = 200_000_000;

macro_rules! native_tests {
    ($($name:ident)*) => {$(
        #[test]
        fn $name() {
            let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("native");
            tab86_tests::native::check_exact(&dir, stringify!($name), BUDGET);
        }
    )*};
}

native_tests!(sse_fp sse_int sse_misc);

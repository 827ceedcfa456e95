//! Native ground truth: the i386 programs in `tests/native/` run natively on the host
//! (x86 with IA32 emulation) and under the emulator; every output line (one test case:
//! operands, result, defined flags) must match.
//!
//! Each program is one instruction group and one `#[test]`, so a failing group is
//! visible by name. The programs are built by `tests/native/build.sh` (gcc -m32;
//! Debian packages gcc-multilib and nasm). Without the toolchain the tests fail when
//! `CI` is set and skip with a loud message otherwise.
//!
//! `tests/native/expected/<name>.out` holds the outputs of an Intel CPU, the vendor
//! tab86 follows. On an Intel host the host's own run is the truth (and must equal
//! the recording); on any other host, or one that cannot run i386 binaries, the
//! recording is (a note says how many lines the host prints differently). Regenerate
//! on an Intel host with `TAB86_BLESS=1 cargo test -p tab86-tests --test native`.

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

native_tests!(alu muldiv bits stack stack16 misc shift bcd string);

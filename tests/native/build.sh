#!/bin/sh
# Builds the native ground-truth programs: tests/native/*.c -> $1/<name> (i386 ELF,
# static, no libc). Rebuilds a program only when its source, rt.h or this script is
# newer than the binary. Needs gcc with -m32 support (Debian: gcc-multilib).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR}
cc=${CC:-gcc}
mkdir -p "$out"
flags="-m32 -march=i686 -mno-mmx -mno-sse -O1 -nostdlib -static -ffreestanding -fno-pie -no-pie
 -fno-stack-protector -fno-asynchronous-unwind-tables -fno-builtin -fno-tree-loop-distribute-patterns
 -mstringop-strategy=byte_loop -fno-jump-tables -Wl,-Ttext-segment=0x400000 -Wl,--build-id=none
 -Wall -Wno-unused-function"
for src in "$here"/*.c; do
    name=$(basename "$src" .c)
    bin="$out/$name"
    if [ -f "$bin" ] && [ "$bin" -nt "$src" ] && [ "$bin" -nt "$here/rt.h" ] && [ "$bin" -nt "$here/x87.h" ] && [ "$bin" -nt "$here/build.sh" ]; then
        continue
    fi
    # The MMX/SSE/SSE2 programs (sse*.c) may name MM/XMM registers.
    extra=""
    case "$name" in sse*) extra="-mmmx -msse2 -mfpmath=387" ;; esac
    # shellcheck disable=SC2086
    "$cc" $flags $extra -o "$bin.tmp" "$src"
    mv "$bin.tmp" "$bin"
done

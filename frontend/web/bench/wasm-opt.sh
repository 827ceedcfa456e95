#!/bin/bash
# Benchmark (not a test): does binaryen's wasm-opt make the machine's package faster
# or smaller under Node? Builds nothing itself: run `bash frontend/web/build.sh`
# first. For each variant (the package as wasm-bindgen left it, and wasm-opt -O2,
# -O3, -Os), boots the deterministic Debian kernel + busybox initramfs to its shell
# under Node with the JIT (the same serial bytes every time), runs `uname -a` and
# powers off, and prints the package size and the user+system CPU seconds of each
# run (CPU time, not wall time: the build machines are shared).
# Installs Debian's binaryen package when wasm-opt is missing.
# Measured 2026-12-06 with Debian 12's binaryen 108: -O2/-O3/-Os shrink the package
# 16-17%, but it no longer loads: binaryen 108 writes wasm-bindgen's externref table
# back as `anyref`, and V8 then refuses the glue's `Table.set` (see the README).
# usage: bash frontend/web/bench/wasm-opt.sh [RUNS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/../../.."
runs=${1:-3}
pkg=target/web/pkg
[ -f "$pkg/tab86_web_bg.wasm" ] || { echo "wasm-opt.sh: no $pkg (run bash frontend/web/build.sh)" >&2; exit 1; }
if ! command -v wasm-opt >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || echo "wasm-opt.sh: apt-get update failed; using the lists we have" >&2
  apt-get install -y -qq --no-install-recommends binaryen >&2
fi
cache=${TAB86_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tab86}
# shellcheck disable=SC1091
source "$cache/images/images.env"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/script" <<'S'
timeout 600
wait TAB86-BOOT-OK
wait tab86# 
sendline uname -a
wait i686 GNU/Linux
wait tab86# 
sendline poweroff -f
S
# The features the package uses (wasm-bindgen output of the stable toolchain).
feat=(--enable-bulk-memory --enable-sign-ext --enable-mutable-globals --enable-nontrapping-float-to-int
      --enable-reference-types --enable-multivalue)
variants=(none O2 O3 Os)
for v in "${variants[@]}"; do
  mkdir -p "$work/$v"
  cp "$pkg"/* "$work/$v/"
  if [ "$v" != none ]; then
    wasm-opt "-$v" "${feat[@]}" "$pkg/tab86_web_bg.wasm" -o "$work/$v/tab86_web_bg.wasm"
  fi
  echo "variant $v: $(stat -c %s "$work/$v/tab86_web_bg.wasm") bytes"
done
for r in $(seq "$runs"); do
  for v in "${variants[@]}"; do
    out="$work/$v-$r.log"
    TIMEFORMAT='%U %S'
    { time TAB86_WEB_PKG="$work/$v" node frontend/node/tab86.mjs run \
      --kernel "$KERNEL" --initrd "$INITRD" --append console=ttyS0 --mem 256M --deterministic \
      --script "$work/script" > "$out" 2>&1 ; } 2> "$work/time" ||
      { echo "RESULT variant=$v run=$r failed: $(grep -a -m1 'cannot\|error' "$out" || tail -1 "$out")"; continue; }
    read -r u s < "$work/time"
    echo "RESULT variant=$v run=$r cpu_s=$(echo "$u + $s" | bc) serial_sha=$(grep -a -v '^tab86:' "$out" | sha256sum | cut -c1-12)"
  done
done

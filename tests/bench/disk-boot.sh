#!/bin/bash
# Debian over HTTP, cold: time from process start to the root shell and the bytes
# fetched to get there, as a share of the image, with the image served locally
# (0 ms) and behind a 40 ms per-request delay (tab86 serve --latency-ms 40).
# Every run starts with an empty chunk cache and a new overlay (real-time clock,
# as a user sees it). RUNS per setting, default 3; medians are printed.
# usage: tests/bench/disk-boot.sh [RUNS]   (needs images/build.sh and
#        TAB86_BIN=target/release/tab86 images/build-rootfs.sh first)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
cache=${TAB86_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tab86}
# shellcheck disable=SC1091
source "$cache/images/images.env"
# shellcheck disable=SC1091
source "$cache/rootfs/rootfs.env"
http=$cache/rootfs/http
cargo build --release -q -p tab86-cli
bin=target/release/tab86
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
printf 'timeout 1200\nwait -t 1200 %s\nmark shell\nsendline poweroff\n' "$PROMPT" >"$work/script"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

for latency in 0 40; do
  port=$((18000 + latency))
  "$bin" serve "$http" --port "$port" --latency-ms "$latency" >"$work/serve.log" 2>&1 &
  sleep 0.5
  secs=() mib=()
  for i in $(seq "$runs"); do
    rm -f "$work/overlay"
    "$bin" run --kernel "$KERNEL" --initrd "$INITRD" --append "$CMDLINE" --mem 512M \
      --disk "http://127.0.0.1:$port/manifest.json" --overlay "$work/overlay" \
      --script "$work/script" --stats >"$work/out" 2>"$work/err" || true
    mark=$(grep -A1 'mark shell' "$work/err" | tr '\n' ' ')
    s=$(echo "$mark" | sed -n 's/.*mark shell: \([0-9.]*\) s.*/\1/p')
    b=$(echo "$mark" | sed -n 's/.*: \([0-9]*\) bytes in.*/\1/p')
    [ -n "$s" ] && [ -n "$b" ] || { echo "run failed:"; tail -5 "$work/err"; exit 1; }
    m=$(awk -v b="$b" 'BEGIN { printf "%.1f", b / 1048576 }')
    echo "latency ${latency} ms, run $i: shell after $s s, $m MiB fetched"
    secs+=("$s")
    mib+=("$m")
  done
  kill %1 2>/dev/null || true
  wait 2>/dev/null || true
  ms=$(printf '%s\n' "${secs[@]}" | median)
  mm=$(printf '%s\n' "${mib[@]}" | median)
  awk -v l="$latency" -v s="$ms" -v m="$mm" -v size="$IMAGE_SIZE" 'BEGIN {
    printf "median, %s ms: shell after %s s, %s MiB fetched = %.1f%% of the %.0f MiB image\n",
      l, s, m, 100 * m * 1048576 / size, size / 1048576 }'
done

#!/bin/bash
# Interpreter throughput: builds the benchmark ROM and runs it natively (release build),
# 3 times, printing guest MIPS per run and the median.
# usage: tests/bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q -p tab86-cli
mkdir -p target/bench
nasm -w-number-overflow -f bin -o target/bench/bench.rom tests/bench/bench.asm
mips=()
for i in 1 2 3; do
  out=$(target/release/tab86 run --bios target/bench/bench.rom --debugcon 0xE9:/dev/null --stats 2>&1 >/dev/null || true)
  m=$(echo "$out" | sed -n 's/.* = \([0-9.]*\) MIPS.*/\1/p')
  echo "run $i: $m MIPS ($(echo "$out" | grep stats))"
  mips+=("$m")
done
printf '%s\n' "${mips[@]}" | sort -n | sed -n 2p | xargs printf 'median: %s MIPS\n'

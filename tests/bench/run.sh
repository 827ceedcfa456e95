#!/bin/bash
# Interpreter throughput: builds the integer benchmark ROM and its x87 variant
# (bench.asm -DX87: Mandelbrot + matrix multiply) and runs them natively (release
# build) alternately, RUNS times each (default 5), printing guest MIPS per run, the
# medians, and the integer/x87 ratio (how much slower an x87 instruction is than an
# integer one on average).
# usage: tests/bench/run.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
cargo build --release -q -p tab86-cli
mkdir -p target/bench
nasm -w-number-overflow -f bin -o target/bench/bench.rom tests/bench/bench.asm
nasm -w-number-overflow -DX87 -f bin -o target/bench/bench-x87.rom tests/bench/bench.asm

mips() {
  local out
  out=$(target/release/tab86 run --bios "$1" --debugcon 0xE9:/dev/null --stats 2>&1 >/dev/null || true)
  echo "$out" | sed -n 's/.* = \([0-9.]*\) MIPS.*/\1/p'
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

int=() x87=()
for i in $(seq "$runs"); do
  a=$(mips target/bench/bench.rom)
  b=$(mips target/bench/bench-x87.rom)
  echo "run $i: integer $a MIPS, x87 $b MIPS"
  int+=("$a")
  x87+=("$b")
done
mi=$(printf '%s\n' "${int[@]}" | median)
mx=$(printf '%s\n' "${x87[@]}" | median)
echo "median: integer $mi MIPS"
echo "median: x87 $mx MIPS"
awk -v i="$mi" -v x="$mx" 'BEGIN { printf "ratio: an x87-workload instruction costs %.2fx an integer one\n", i / x }'

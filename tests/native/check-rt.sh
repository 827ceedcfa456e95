#!/bin/sh
# Development aid: lists shift/rotate/string instructions in a program outside the
# functions that test them on purpose (the runtime must not need those groups).
objdump -d --no-show-raw-insn "$1" | awk '/^[0-9a-f]+ <.*>:$/ {fn=$2} /\t(shl|shr|sar|rol|ror|rcl|rcr|shld|shrd|rep|repz|repnz|movs[bwl]? |stos|lods|scas|cmps)/ {print fn, $0}' | grep -vE "^<(t_|sh|sa|ro|rc|str_|bcd_)" || true

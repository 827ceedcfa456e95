#!/bin/bash
# Sets up this machine, fetches Debian's i386 kernel + busybox (cached), builds tab86 and
# boots the default image with COM1 on this terminal (Ctrl-A X quits, Ctrl-A H helps).
# Extra arguments go to `tab86 run`, e.g.  bash run.sh --deterministic --stats
set -euo pipefail
cd "$(dirname "$0")"
bash .ci/setup-host
bash images/build.sh >&2
cargo build --release -q -p tab86-cli
exec target/release/tab86 run "$@"

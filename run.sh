#!/bin/bash
# Sets up this machine (apt packages, Rust target), fetches Debian's i386 kernel and
# busybox and builds a Debian bookworm i386 root image (all cached under
# ~/.cache/tab86), builds tab86, serves the image's chunked layout over HTTP on
# localhost (as a CDN would) and boots Debian from it with a local copy-on-write
# overlay. COM1 is this terminal: Ctrl-A X quits, Ctrl-A H helps.
#
# usage: bash run.sh [--initramfs] [more `tab86 run` options, e.g. --stats]
#   --initramfs   boot only the busybox initramfs (no disk): a shell in seconds
# Your writes to the Debian disk persist in ~/.cache/tab86/overlay/debian-i386.cow
# (delete it to start from the pristine image).
set -euo pipefail
cd "$(dirname "$0")"
bash .ci/setup-host >&2
bash images/build.sh >&2
cargo build --release -q -p tab86-cli
bin=target/release/tab86
if [ "${1:-}" = "--initramfs" ]; then
  shift
  exec "$bin" run "$@"
fi
TAB86_BIN=$bin bash images/build-rootfs.sh >&2
cache=${TAB86_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tab86}
# shellcheck disable=SC1091
source "$cache/images/images.env"
# shellcheck disable=SC1091
source "$cache/rootfs/rootfs.env"
mkdir -p "$cache/overlay"
log=$(mktemp)
"$bin" serve "$cache/rootfs/http" --port 0 >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$log"' EXIT
url=
for _ in $(seq 100); do
  url=$(sed -n 's|.* on \(http://[^ ]*/\).*|\1|p' "$log")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "run.sh: tab86 serve did not start:"; cat "$log"; exit 1; } >&2
"$bin" run --kernel "$KERNEL" --initrd "$INITRD" --append "$CMDLINE" --mem 512M \
  --disk "${url}manifest.json" --overlay "$cache/overlay/debian-i386.cow" "$@"

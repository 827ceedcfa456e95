#!/bin/bash
# Sets up this machine (apt packages, Rust target, npm packages), fetches Debian's
# i386 kernel and busybox and builds a Debian bookworm i386 root image (all cached
# under ~/.cache/tab86), builds tab86, the wasm package and the browser page into
# target/web/, and serves it on localhost: open the printed address in a browser for
# a Debian root shell in the tab (its writes kept in the browser).
#
# usage: bash run.sh [--port N]          the browser page (default port 8080; 0 picks a free one)
#        bash run.sh --terminal [OPTS]   Debian bookworm over HTTP on this terminal, at its root shell in
#                                        about a second (restored from images/build-snapshot.sh's
#                                        snapshot; --cold boots it), writes kept in
#                                        ~/.cache/tab86/overlay/debian-i386.cow (delete it to start
#                                        from the pristine image); OPTS go to `tab86 run`, e.g. --stats
#        bash run.sh --initramfs [OPTS]  only the busybox initramfs on this terminal: a shell in seconds
# On the terminal COM1 is this terminal: Ctrl-A X quits, Ctrl-A H helps.
set -euo pipefail
cd "$(dirname "$0")"
mode=page
case "${1:-}" in
  --terminal) mode=terminal; shift ;;
  --initramfs) mode=initramfs; shift ;;
esac
bash .ci/setup-host >&2
bash images/build.sh >&2
cargo build --release -q -p tab86-cli
bin=target/release/tab86
cache=${TAB86_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tab86}
# shellcheck disable=SC1091
source "$cache/images/images.env"

if [ "$mode" = page ]; then
  port=8080
  while [ $# -gt 0 ]; do
    case "$1" in
      --port) port=${2:?run.sh: --port needs a number}; shift 2 ;;
      *) echo "run.sh: unknown option '$1' (the page takes --port N; see the top of run.sh)" >&2; exit 2 ;;
    esac
  done
  # The Debian image the page boots by default (build.sh links it into target/web).
  TAB86_BIN=$bin bash images/build-rootfs.sh >&2
  TAB86_BIN=$bin bash images/build-snapshot.sh >&2
  bash frontend/web/build.sh >&2
  echo "run.sh: open the address below in a browser (Chromium, Firefox or Safari); Ctrl-C stops the server" >&2
  exec "$bin" serve target/web --port "$port"
fi
if [ "$mode" = initramfs ]; then
  exec "$bin" run --kernel "$KERNEL" --initrd "$INITRD" --append "console=ttyS0" --mem 256M "$@"
fi
TAB86_BIN=$bin bash images/build-rootfs.sh >&2
TAB86_BIN=$bin bash images/build-snapshot.sh >&2
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
# The default Debian machine over HTTP: restored from the snapshot served beside
# the image (a shell in about a second) when it fits, else booted cold (see
# `tab86 run --help`; --cold forces it).
"$bin" run --image "$url" "$@"

#!/bin/bash
# Cross-check tab86's Linux boot loader (crate tab86-bios) against QEMU.
#
# Usage: images/qemu-check.sh [CMDLINE]
#
# Loads the kernel and initrd from images/build.sh with tab86-bios, wraps
# the resulting RAM image so qemu-system-i386 can enter it with the
# loader's BootEntry (bios/examples/qemu_wrap.rs), boots it headless and
# waits for the initramfs marker. Success means the loader's boot_params,
# e820 map, initrd placement and entry state are right, independently of
# tab86's own CPU and devices. Needs qemu-system-i386 (optional tool; the
# script exits 77 = "skipped" without it).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
CACHE_ROOT=${TAB86_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tab86}
ENV_FILE=$CACHE_ROOT/images/images.env
CMDLINE=${1:-console=ttyS0 panic=-1}
TIMEOUT=${TAB86_QEMU_TIMEOUT:-120}

command -v qemu-system-i386 >/dev/null || {
    echo "qemu-check: qemu-system-i386 not installed; skipped" >&2
    exit 77
}
[ -f "$ENV_FILE" ] || {
    echo "qemu-check: $ENV_FILE missing; run images/build.sh first" >&2
    exit 1
}
KERNEL=$(sed -n 's/^KERNEL=//p' "$ENV_FILE")
INITRD=$(sed -n 's/^INITRD=//p' "$ENV_FILE")

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
(cd "$REPO" && CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target} \
    cargo run -q -p tab86-bios --example qemu_wrap -- "$KERNEL" "$INITRD" "$CMDLINE" "$WORK/wrapped")

# The marker comes from /init; poweroff right after so QEMU exits.
echo "qemu-check: booting under QEMU (timeout ${TIMEOUT}s)" >&2
set +e
(sleep 1000 | timeout "$TIMEOUT" qemu-system-i386 -m 128 -display none -serial stdio \
    -no-reboot -kernel "$WORK/wrapped" -initrd "$WORK/wrapped.low") >"$WORK/serial.log" 2>&1 &
pid=$!
for _ in $(seq "$TIMEOUT"); do
    grep -aq 'TAB86-BOOT-OK' "$WORK/serial.log" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
done
set -e
if grep -aq 'TAB86-BOOT-OK' "$WORK/serial.log"; then
    grep -aE 'BIOS-e820|RAMDISK|Kernel command line|TAB86-BOOT-OK' "$WORK/serial.log" >&2
    echo "qemu-check: OK" >&2
    status=0
else
    tail -n 30 "$WORK/serial.log" >&2
    echo "qemu-check: FAILED (no TAB86-BOOT-OK marker)" >&2
    status=1
fi
# Stop only the QEMU pipeline started above.
pkill -P "$pid" 2>/dev/null || true
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
exit $status

#!/bin/bash
# Boot the Debian root image to its root shell once and save the machine there,
# so that `tab86 run` (and the browser page) start at the shell in about a
# second instead of booting for a minute (issue 17).
#
# Usage: TAB86_BIN=target/.../tab86 images/build-snapshot.sh [--force]
#
# Needs images/build.sh and images/build-rootfs.sh (run with TAB86_BIN, so the
# chunked layout http/ exists) to have run first. Output, beside the chunked
# image so that it is served with it as static files:
#   ${TAB86_CACHE:-~/.cache/tab86}/rootfs/http/snapshot/
#     debian-i386.snap   the machine at the root shell (tab86 snapshot format,
#                        machine/src/snapshot/mod.rs): 512 MiB, real-time
#                        clock, APIC board, one disk
#     debian-i386.cow    the copy-on-write overlay as it was when the snapshot
#                        was taken (the boot's own writes); its header records
#                        the base image's identity (SHA-256 of manifest.json)
#                        and the snapshot records its flush generation, so a
#                        snapshot over another image or over an overlay written
#                        since is refused
#     snapshot.json      what the page needs: file names, RAM size, command
#                        line, the image's manifest SHA-256, the format version
#     .key               cache key: manifest.json + kernel + initramfs + the
#                        tab86 snapshot format version + this script
#
# The snapshot is taken with the shell blocked in `read` in front of a command
# that sets the system clock from the RTC: a restore sets the CMOS clock to the
# host's time and types one newline, so the guest's clock jumps to now and the
# shell prints its prompt (the guest never believes no time has passed).
# After saving, the script's `quit` stops the machine before it runs again, so
# the overlay stays at the generation the snapshot recorded; a restore of the
# result is then checked (`cat /etc/debian_version`) before it is installed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
CACHE_ROOT=${TAB86_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tab86}
ROOTFS=$CACHE_ROOT/rootfs
HTTP_DIR=$ROOTFS/http
OUT=$HTTP_DIR/snapshot
MEM=512M

log() { printf '==> %s\n' "$*" >&2; }
die() {
    printf 'ERROR: build-snapshot.sh: %s\n' "$*" >&2
    exit 1
}
sha() { sha256sum "$1" | cut -d' ' -f1; }

FORCE=0
for arg in "$@"; do
    case "$arg" in
        --force | -f) FORCE=1 ;;
        -h | --help)
            awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
            exit 0
            ;;
        *) die "unknown argument: $arg (try --help)" ;;
    esac
done

[ -n "${TAB86_BIN:-}" ] || die "set TAB86_BIN to a tab86 binary"
[ -f "$HTTP_DIR/manifest.json" ] || die "no chunked image at $HTTP_DIR (run TAB86_BIN=... images/build-rootfs.sh)"
# shellcheck disable=SC1091
. "$CACHE_ROOT/images/images.env"
# shellcheck disable=SC1091
. "$ROOTFS/rootfs.env"
FORMAT_VERSION=$(sed -n 's/^pub const FORMAT_VERSION: u32 = \([0-9]*\);/\1/p' "$REPO/machine/src/snapshot/mod.rs")
[ -n "$FORMAT_VERSION" ] || die "cannot read FORMAT_VERSION from machine/src/snapshot/mod.rs"
MANIFEST_SHA=$(sha "$HTTP_DIR/manifest.json")
KEY=$({
    echo "$MANIFEST_SHA $FORMAT_VERSION $MEM $CMDLINE"
    sha "$KERNEL"
    sha "$INITRD"
    sha "$0"
} | sha256sum | cut -d' ' -f1)
if [ "$FORCE" = 0 ] && [ -f "$OUT/.key" ] && [ "$(cat "$OUT/.key")" = "$KEY" ] &&
    [ -f "$OUT/debian-i386.snap" ] && [ -f "$OUT/debian-i386.cow" ]; then
    log "snapshot up to date: $OUT"
    exit 0
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tab86-snapshot.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/overlay" "$WORK/stage"
# The disk's id (the guest-visible serial, recorded in the snapshot) ends with
# the overlay's path: "overlay/debian-i386.cow", as the user's overlay
# (~/.cache/tab86/overlay/debian-i386.cow) ends.
OVERLAY=$WORK/overlay/debian-i386.cow
# shellcheck disable=SC2016 # $(...) and $t are for the guest's shell
CLOCK_LINE='stty -echo; echo SNAP""SHOT-READY; read -r _; stty echo; { t=$(cat /sys/class/rtc/rtc0/since_epoch 2>/dev/null) && date -s @$t >/dev/null; } || hwclock --hctosys'
cat >"$WORK/save.script" <<EOF
timeout 600
wait -t 600 $PROMPT
sendline $CLOCK_LINE
wait SNAPSHOT-READY
savestate $WORK/stage/debian-i386.snap
quit
EOF
log "booting the Debian image to its root shell to snapshot it (about a minute)"
t0=$(date +%s.%N)
# Up to three tries, each from a new overlay: a real-time boot waits for the
# disks in guest time, and a host loaded enough to starve the disk threads can
# still expire one of systemd's timeouts (README, "Guest time on a loaded
# host"); a boot takes about a minute, so a try that has not reached the shell
# in 10 minutes is not going to.
for try in 1 2 3; do
    rm -f "$OVERLAY"
    if "$TAB86_BIN" run --kernel "$KERNEL" --initrd "$INITRD" --append "$CMDLINE" --mem "$MEM" \
        --disk "$HTTP_DIR" --overlay "$OVERLAY" --script "$WORK/save.script" \
        --serial-log "$WORK/boot.log" >/dev/null 2>"$WORK/boot.err"; then
        break
    fi
    [ "$try" -lt 3 ] || die "the boot to the shell failed three times ($(tail -5 "$WORK/boot.err"))"
    log "try $try: the boot to the shell failed ($(tail -2 "$WORK/boot.err" | tr '\n' ' ')); again"
done
t1=$(date +%s.%N)
cp "$OVERLAY" "$WORK/stage/debian-i386.cow"

# Check: restore it the way `tab86 run` does (a private cache whose overlay is
# new) and use the shell.
mkdir -p "$WORK/cache/images" "$WORK/cache/rootfs"
cp "$CACHE_ROOT/images/images.env" "$WORK/cache/images/"
cp "$ROOTFS/rootfs.env" "$WORK/cache/rootfs/"
mkdir -p "$WORK/image"
ln -s "$HTTP_DIR/manifest.json" "$WORK/image/manifest.json"
ln -s "$HTTP_DIR/chunks" "$WORK/image/chunks"
ln -s "$WORK/stage" "$WORK/image/snapshot"
cat >"$WORK/check.script" <<EOF
timeout 120
wait $PROMPT
sendline cat /etc/debian_version
wait \\b$(echo "$DEBIAN_VERSION" | cut -d. -f1)\\.\\d+
quit
EOF
TAB86_CACHE=$WORK/cache "$TAB86_BIN" run --image "$WORK/image" --script "$WORK/check.script" \
    >/dev/null 2>"$WORK/check.err" || die "the restored snapshot does not reach the shell: $(tail -5 "$WORK/check.err")"
grep -q "restored at its root shell" "$WORK/check.err" ||
    die "the snapshot was not restored: $(cat "$WORK/check.err")"

SIZE=$(stat -c %s "$WORK/stage/debian-i386.snap")
cat >"$WORK/stage/snapshot.json" <<EOF
{
  "format_version": $FORMAT_VERSION,
  "snapshot": "debian-i386.snap",
  "overlay": "debian-i386.cow",
  "snapshot_bytes": $SIZE,
  "mem": $((512 << 20)),
  "cmdline": "$CMDLINE",
  "prompt": "$PROMPT",
  "manifest_sha256": "$MANIFEST_SHA",
  "resume_input": "\\n"
}
EOF
echo "$KEY" >"$WORK/stage/.key"
rm -rf "$OUT.new"
cp -a "$WORK/stage" "$OUT.new"
rm -rf "$OUT"
mv "$OUT.new" "$OUT"
log "snapshot: $OUT/debian-i386.snap ($SIZE bytes; boot to save $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s); $(grep -o 'restored at its root shell in [0-9.]* s' "$WORK/check.err")"

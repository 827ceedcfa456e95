#!/bin/bash
# Boot the Debian root filesystem of images/build-rootfs.sh under QEMU.
#
# Usage: images/qemu-rootfs-check.sh
#
# Boots the kernel + initramfs of images/build.sh with the ext2 image on
# virtio-blk (snapshot=on: the image is never written) in QEMU TCG, waits
# for the serial autologin root prompt, runs a few commands, powers off and
# reports the time to the prompt and the boot log's failures.  This is a
# reference for what tab86 must reproduce, independent of tab86 itself.
#
# Installs qemu-system-x86 with apt when missing (not part of CI: the image
# build downloads ~60 MiB and this boot takes a while).  The full serial log
# is kept in the rootfs cache directory as qemu-serial.log.
#
# Environment: TAB86_QEMU_TIMEOUT (seconds to the prompt, default 600),
# TAB86_QEMU_ACCEL (default tcg; "kvm" for a quick functional check),
# TAB86_QEMU_APPEND (extra kernel command line words, e.g. "quiet").
set -euo pipefail

CACHE_ROOT=${TAB86_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tab86}
IMAGES_ENV=$CACHE_ROOT/images/images.env
ROOTFS_ENV=$CACHE_ROOT/rootfs/rootfs.env
TIMEOUT=${TAB86_QEMU_TIMEOUT:-600}
ACCEL=${TAB86_QEMU_ACCEL:-tcg}
APPEND=${TAB86_QEMU_APPEND:-}

if ! command -v qemu-system-i386 >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "qemu-rootfs-check: installing qemu-system-x86" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq --no-install-recommends qemu-system-x86 >&2 ||
            { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends qemu-system-x86 >&2; } ||
            true
    fi
    command -v qemu-system-i386 >/dev/null || {
        echo "qemu-rootfs-check: qemu-system-i386 not available; skipped" >&2
        exit 77
    }
fi
for f in "$IMAGES_ENV" "$ROOTFS_ENV"; do
    [ -f "$f" ] || {
        echo "qemu-rootfs-check: $f missing; run images/build-rootfs.sh first" >&2
        exit 1
    }
done
KERNEL=$(sed -n 's/^KERNEL=//p' "$IMAGES_ENV")
INITRD=$(sed -n 's/^INITRD=//p' "$IMAGES_ENV")
# shellcheck disable=SC1090
. "$ROOTFS_ENV"
CMDLINE="$CMDLINE${APPEND:+ $APPEND}"

export KERNEL INITRD IMAGE CMDLINE PROMPT DEBIAN_VERSION TIMEOUT ACCEL
export SERIAL_LOG=$ROOTFS_DIR/qemu-serial.log
exec python3 - <<'PY'
"""Drive QEMU's serial console through pipes: wait for the root prompt,
run commands, power off; print timings, command output and boot failures."""
import os, re, select, subprocess, sys, time

env = os.environ
prompt = env["PROMPT"].encode()
timeout = float(env["TIMEOUT"])
cmd = ["qemu-system-i386", "-accel", env["ACCEL"], "-m", "512", "-nographic", "-no-reboot",
       "-kernel", env["KERNEL"], "-initrd", env["INITRD"], "-append", env["CMDLINE"],
       "-drive", "file=%s,if=virtio,format=raw,snapshot=on" % env["IMAGE"]]
print("qemu-rootfs-check: " + " ".join(cmd), file=sys.stderr)
log = open(env["SERIAL_LOG"], "wb")
t0 = time.monotonic()
p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
buf = bytearray()


def read_until(pattern, limit):
    """Read serial output until `pattern` (bytes regex) matches after the
    current end of `buf`; returns the match or None on timeout/exit."""
    start = len(buf)
    deadline = time.monotonic() + limit
    rx = re.compile(pattern)
    while True:
        m = rx.search(buf, start)
        if m:
            return m
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        r, _, _ = select.select([p.stdout], [], [], min(left, 1.0))
        if r:
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                return None
            buf.extend(chunk)
            log.write(chunk)
            log.flush()


def send(line):
    p.stdin.write(line.encode() + b"\r")
    p.stdin.flush()


def stop(code):
    if p.poll() is None:
        p.kill()
    p.wait()
    log.close()
    sys.exit(code)


ansi = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
if not read_until(re.escape(prompt), timeout):
    print(ansi.sub(b"", bytes(buf[-3000:])).decode(errors="replace"), file=sys.stderr)
    print("qemu-rootfs-check: FAILED: no root prompt within %ds (log: %s)" % (timeout, env["SERIAL_LOG"]),
          file=sys.stderr)
    stop(1)
t_prompt = time.monotonic() - t0
time.sleep(0.5)  # let the shell finish printing the prompt

outputs = {}
commands = ["cat /etc/debian_version", "ls /usr/bin | wc -l", "dpkg -l | wc -l",
            "stat -c '%U:%G %a %n' /etc/shadow /usr/bin/su /var/mail", "lsmod | wc -l",
            "systemctl --failed --no-legend --plain", "systemd-analyze", "systemd-analyze blame | head -n 12",
            "uname -r", "findmnt -n /", "df -h /"]
for i, c in enumerate(commands):
    # The end marker is computed by the shell so the echoed command line
    # does not match it.
    send("%s; echo @@END$((%d+1))@@" % (c, i))
    m = read_until(rb"@@END%d@@" % (i + 1), 120)
    if not m:
        print("qemu-rootfs-check: FAILED: no output from %r" % c, file=sys.stderr)
        stop(1)
    text = ansi.sub(b"", bytes(buf[:m.start()])).decode(errors="replace").replace("\r", "")
    # Output = everything after the echoed command line.
    out = text[text.rfind(c):].split("\n", 1)
    outputs[c] = out[1].strip() if len(out) > 1 else ""
    read_until(re.escape(prompt), 30)

send("poweroff")
t_off = time.monotonic()
while p.poll() is None and time.monotonic() - t_off < 120:
    r, _, _ = select.select([p.stdout], [], [], 1.0)
    if r:
        chunk = os.read(p.stdout.fileno(), 65536)
        if not chunk:
            break
        buf.extend(chunk)
        log.write(chunk)
p.wait(timeout=5) if p.poll() is None else None
powered_off = p.poll() is not None
t_shutdown = time.monotonic() - t_off

for c in commands:
    print("$ %s\n%s" % (c, outputs[c]))
clean = ansi.sub(b"", bytes(buf)).decode(errors="replace").replace("\r", "")
bad = [l.strip() for l in clean.split("\n")
       if re.search(r"FAILED|Failed|failed|[Tt]imed out|A start job is running|Dependency failed|\berror\b", l)
       and "@@END" not in l and "systemctl --failed" not in l]
print("--- boot log lines about failures (%d):" % len(bad))
for l in bad:
    print("  " + l)
print("--- time to root prompt: %.1f s (accel %s); poweroff %s in %.1f s" %
      (t_prompt, env["ACCEL"], "completed" if powered_off else "DID NOT complete", t_shutdown))
ok = outputs["cat /etc/debian_version"] == env["DEBIAN_VERSION"] and powered_off
ok = ok and int(outputs["ls /usr/bin | wc -l"].split()[-1]) > 100
print("qemu-rootfs-check: %s (serial log: %s)" % ("OK" if ok else "FAILED", env["SERIAL_LOG"]))
stop(0 if ok else 1)
PY

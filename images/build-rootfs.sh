#!/bin/bash
# shellcheck disable=SC2016 # single-quoted $1/${..} are for mmdebstrap hooks, apt and dpkg
# Build a Debian 12 (bookworm) i386 root filesystem image for tab86.
#
# Usage: images/build-rootfs.sh [--force]
#
# Output (never inside the repository):
#   ${TAB86_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tab86}/rootfs/
#     debian-i386.ext2   ext2 image of the root filesystem (whole disk, no
#                        partition table) for virtio-blk as /dev/vda
#     rootfs.env         KEY=value description of the image (sourceable)
#     debs/              the downloaded .deb files (reused by --force)
#     http/              chunked HTTP layout, only when $TAB86_BIN is set
#                        and that binary has a `pack` command
#
# Boot it with the kernel + initramfs of images/build.sh and the command
# line "console=ttyS0 root=/dev/vda rw": the initramfs loads virtio-blk and
# ext4 (which also mounts ext2) and switch_roots to systemd on the disk; a
# serial getty logs root in on ttyS0.  images/qemu-rootfs-check.sh boots it
# under QEMU as a cross-check.
#
# Choices:
# - mmdebstrap (root mode, into a directory) with the host's apt sources
#   for bookworm: fast, no mirror name in this script.
# - minbase + systemd/udev and a few everyday tools; no man pages, docs or
#   translations (dpkg path-exclude, kept for later installs) to stay small.
# - The modules of exactly the kernels images/build.sh fetched (same .debs:
#   686 and 686-pae), with depmod run, so udev and modprobe work after
#   switch_root whichever of the two booted.
# - ext2 (no journal: fewer writes for an emulated disk, and the image is a
#   throwaway base meant to run behind a copy-on-write overlay), built with
#   `mke2fs -d` from the directory: no loop mounts, owners and modes as
#   mmdebstrap created them.
# - Units that only wait for hardware or a network this VM lacks, or that
#   run periodic maintenance (apt-daily, e2scrub), are masked.
#
# Re-runs are cheap: a stamp keyed on this script and the kernel .debs skips
# all work (no apt, no network) while the image is unchanged.  An image
# that was modified after the build (booted writable) is not overwritten
# without --force.  Meant for Debian 12 run as root; installs mmdebstrap
# with apt when missing.
set -euo pipefail

# ---------------------------------------------------------------- settings
SUITE=bookworm
ARCH=i386
# On top of minbase (Priority: required + apt).
PACKAGES=(
    systemd-sysv udev kmod procps iproute2 less vim-tiny python3-minimal
    psmisc iputils-ping netbase xz-utils bzip2 e2fsprogs
)
# Free space left in the image beyond what the files use.
FREE_MIB=256
# Marker the QEMU check waits for (root's default bash prompt).
PROMPT='root@tab86:~#'
CMDLINE='console=ttyS0 root=/dev/vda rw'

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE_ROOT=${TAB86_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tab86}
OUT=$CACHE_ROOT/rootfs
IMAGE=$OUT/debian-i386.ext2
ENV_FILE=$OUT/rootfs.env
STAMP=$OUT/.stamp
DEBCACHE=$OUT/debs
HTTP_DIR=$OUT/http

FORCE=0
for arg in "$@"; do
    case "$arg" in
        --force | -f) FORCE=1 ;;
        -h | --help)
            awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "$0"
            exit 0
            ;;
        *)
            echo "build-rootfs.sh: unknown argument: $arg (try --help)" >&2
            exit 2
            ;;
    esac
done

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() {
    printf 'ERROR: %s\n' "$*" >&2
    exit 1
}
sha() { sha256sum "$1" | cut -d' ' -f1; }
T0=$(date +%s)

# ------------------------------------------------------------ the kernel
# images/build.sh is cached itself; it provides the kernel .deb whose
# modules go into the image, so the two always match.
"$HERE/build.sh" >&2 || die "images/build.sh failed"
IMAGES_ENV=$CACHE_ROOT/images/images.env
KERNEL_PKG=$(sed -n 's/^KERNEL_PKG=//p' "$IMAGES_ENV")
KERNEL_VERSION=$(sed -n 's/^KERNEL_VERSION=//p' "$IMAGES_ENV")
KERNEL_RELEASE=$(sed -n 's/^KERNEL_RELEASE=//p' "$IMAGES_ENV")
IMAGES_DIR=$(sed -n 's/^IMAGES_DIR=//p' "$IMAGES_ENV")
KERNEL_DEB=$IMAGES_DIR/debs/${KERNEL_PKG}_${KERNEL_VERSION//:/%3a}_${ARCH}.deb
[ -f "$KERNEL_DEB" ] || die "kernel package $KERNEL_DEB missing (run images/build.sh --force)"
# The 686-pae flavour (Debian's default on i386) boots the same image.
KERNEL_PAE_PKG=$(sed -n 's/^KERNEL_PAE_PKG=//p' "$IMAGES_ENV")
KERNEL_PAE_RELEASE=$(sed -n 's/^KERNEL_PAE_RELEASE=//p' "$IMAGES_ENV")
[ -n "$KERNEL_PAE_PKG" ] && [ -n "$KERNEL_PAE_RELEASE" ] || die "$IMAGES_ENV names no 686-pae kernel (run images/build.sh --force)"
KERNEL_PAE_DEB=$IMAGES_DIR/debs/${KERNEL_PAE_PKG}_${KERNEL_VERSION//:/%3a}_${ARCH}.deb
[ -f "$KERNEL_PAE_DEB" ] || die "kernel package $KERNEL_PAE_DEB missing (run images/build.sh --force)"

# ---------------------------------------------------------- pack (optional)
# The chunked HTTP layout of the image, made by `tab86 pack` when the
# caller names a tab86 binary that has that command.
pack_image() {
    [ -n "${TAB86_BIN:-}" ] || return 0
    # `pack --help`, or the top-level usage listing the command (a pack
    # that rejects --help as an unknown option is still a pack).
    if ! "$TAB86_BIN" pack --help >/dev/null 2>&1 &&
        ! "$TAB86_BIN" --help 2>&1 | grep -q 'tab86 pack IMAGE OUTDIR'; then
        warn "\$TAB86_BIN ($TAB86_BIN) has no working 'pack' command; skipping the HTTP layout"
        return 0
    fi
    if [ -f "$HTTP_DIR/manifest.json" ] && [ "$HTTP_DIR/manifest.json" -nt "$IMAGE" ]; then
        log "HTTP layout up to date: $HTTP_DIR"
        return 0
    fi
    log "packing the image into $HTTP_DIR"
    rm -rf "$HTTP_DIR"
    "$TAB86_BIN" pack "$IMAGE" "$HTTP_DIR/" >&2 || die "$TAB86_BIN pack failed"
}

print_result() {
    # shellcheck disable=SC1090
    . "$ENV_FILE"
    echo "image:    $IMAGE ($((ROOTFS_USED_BYTES / 1048576)) MiB used of $((IMAGE_SIZE / 1048576)) MiB)"
    echo "kernel:   $KERNEL_PKG $KERNEL_VERSION (and ${KERNEL_PAE_PKG:-no 686-pae})"
    echo "cmdline:  $CMDLINE"
    echo "env file: $ENV_FILE"
    [ ! -f "$HTTP_DIR/manifest.json" ] || echo "http:     $HTTP_DIR"
}

input_key() {
    {
        sha "$HERE/build-rootfs.sh"
        sha "$KERNEL_DEB"
        sha "$KERNEL_PAE_DEB"
        echo "$SUITE $ARCH ${PACKAGES[*]} $FREE_MIB"
    } | sha256sum | cut -d' ' -f1
}
KEY=$(input_key)

# Stamp lines: key, image size, image mtime, image sha256.  The fast path
# compares size + mtime; a changed mtime falls back to the hash.
stamp_field() { sed -n "${1}p" "$STAMP" 2>/dev/null; }
if [ "$FORCE" = 0 ] && [ -f "$STAMP" ] && [ "$(stamp_field 1)" = "$KEY" ] &&
    [ -f "$IMAGE" ] && [ -f "$ENV_FILE" ]; then
    if [ "$(stat -c %s "$IMAGE")" = "$(stamp_field 2)" ] && [ "$(stat -c %Y "$IMAGE")" = "$(stamp_field 3)" ]; then
        fresh=1
    elif [ "$(sha "$IMAGE")" = "$(stamp_field 4)" ]; then
        fresh=1 # only touched: remember the new mtime for the fast path
        { stamp_field 1; stamp_field 2; stat -c %Y "$IMAGE"; stamp_field 4; } >"$STAMP.tmp" && mv "$STAMP.tmp" "$STAMP"
    else
        fresh=0
    fi
    if [ "$fresh" = 1 ]; then
        log "root filesystem up to date (use --force to rebuild)"
        pack_image
        print_result
        exit 0
    fi
    die "$IMAGE was modified after it was built (booted without a snapshot?); rerun with --force to rebuild it (discards those changes)"
fi

[ "$(id -u)" = 0 ] || die "must run as root (mmdebstrap root mode, file ownership)"
command -v apt-get >/dev/null || die "apt-get not found: this script needs Debian"
mkdir -p "$OUT" "$DEBCACHE"

# ------------------------------------------------------------- apt set-up
APT_UPDATED=0
apt_update() {
    [ "$APT_UPDATED" = 0 ] || return 0
    log "apt-get update"
    local try
    for try in 1 2 3; do
        apt-get update -qq >&2 && break
        if [ "$try" = 3 ]; then
            warn "apt-get update reported errors; continuing with the lists it fetched"
        else
            sleep $((try * 5))
        fi
    done
    APT_UPDATED=1
}

# arch-test: mmdebstrap checks with it that the host runs i386 binaries.
# shellcheck source=images/lib.sh
source "$HERE/lib.sh"
need_tools mmdebstrap:mmdebstrap arch-test:arch-test mke2fs:e2fsprogs

# The host's Debian sources for $SUITE, its -updates and -security, as
# one-line entries for the chroot: whatever mirror the host uses.
host_sources() {
    apt-get indextargets --format '$(ORIGIN)|$(CODENAME)|$(RELEASE)|$(REPO_URI)|$(COMPONENT)' \
        'Created-By: Packages' 2>/dev/null |
        awk -F'|' -v s="$SUITE" '
            $1 == "Debian" && $5 == "main" &&
            ($2 == s || $2 == s "-updates" || $2 == s "-security") &&
            !seen[$4 " " $3]++ { print "deb " $4 " " $3 " main" }'
}
SOURCES=$(host_sources)
if ! grep -q " $SUITE main\$" <<<"$SOURCES"; then
    apt_update # the host's lists may be missing (their Release files name the suites)
    SOURCES=$(host_sources)
fi
grep -q " $SUITE main\$" <<<"$SOURCES" ||
    die "the host's apt sources have no Debian $SUITE main entry to build from"

# ------------------------------------------------------------- debootstrap
# Build in RAM when /dev/shm allows it (exec, device nodes, room for the
# tree + image): the tree is written once more into the image anyway, and
# deleting ~13,000 files from a disk mounted with online discard takes
# longer than building them.  TAB86_ROOTFS_WORKDIR overrides the choice.
work_base() {
    if [ -n "${TAB86_ROOTFS_WORKDIR:-}" ]; then
        echo "$TAB86_ROOTFS_WORKDIR"
        return
    fi
    local opts avail_kib
    opts=$(awk '$2 == "/dev/shm" { print $4 }' /proc/mounts | tail -n 1)
    avail_kib=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')
    if [ -n "$opts" ] && ! grep -Eq '(^|,)(noexec|nodev)(,|$)' <<<"$opts" &&
        [ "${avail_kib:-0}" -gt $((3 * 1024 * 1024)) ]; then
        echo /dev/shm
    else
        echo "$OUT"
    fi
}
mkdir -p "$(work_base)"
WORK=$(mktemp -d "$(work_base)/tab86-rootfs.XXXXXX")
log "working in $WORK"
cleanup() {
    # mmdebstrap unmounts its own bind mounts; make sure nothing is left
    # mounted before deleting the tree.
    if [ -d "$WORK/root" ] && grep -qs " $WORK/root" /proc/mounts; then
        awk -v r="$WORK/root" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r |
            while read -r m; do umount -l "$m" 2>/dev/null || true; done
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
ROOT=$WORK/root
echo "$SOURCES" >"$WORK/sources.list"
log "sources: $(tr '\n' ';' <"$WORK/sources.list")"
include=$(
    IFS=,
    echo "${PACKAGES[*]}"
)

# Our own `apt-get update` (mmdebstrap then skips its strict one): mirrors
# are sometimes mid-sync (size/hash mismatches), so retry, then carry on
# with the lists that did arrive; a missing package fails the install with
# a precise message.
APT_UPDATE_HOOK='for try in 1 2 3; do
    APT_CONFIG="$MMDEBSTRAP_APT_CONFIG" apt-get update -q --error-on=any && exit 0
    [ $try = 3 ] || sleep $((try * 5))
done
echo "W: apt-get update reported errors; continuing with the lists it fetched" >&2
: >"$1/../apt-lists-incomplete"'

log "mmdebstrap $SUITE $ARCH (minbase + ${PACKAGES[*]})"
t_strap=$(date +%s)
# The .deb cache is synced in before and out after the install so --force
# rebuilds download nothing new; autoclean drops superseded versions.
mmdebstrap --mode=root --variant=minbase --architectures="$ARCH" --components=main \
    --include="$include" \
    --aptopt='Acquire::Retries "3"' \
    --aptopt='APT::Install-Recommends "false"' \
    --dpkgopt='force-unsafe-io' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --skip=essential/unlink \
    --setup-hook='mkdir -p "$1/var/cache/apt/archives"' \
    --setup-hook="sync-in '$DEBCACHE' /var/cache/apt/archives/" \
    --setup-hook="$APT_UPDATE_HOOK" \
    --customize-hook='chroot "$1" apt-get autoclean -qq' \
    --customize-hook="rm -f '$DEBCACHE'/*.deb" \
    --customize-hook="sync-out /var/cache/apt/archives '$DEBCACHE'" \
    --customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb' \
    "$SUITE" "$ROOT" "$WORK/sources.list" >&2 ||
    die "mmdebstrap failed"
rm -rf "$DEBCACHE/partial" "$DEBCACHE/lock"
# No fsync per unpacked file while building (the tree is written once into
# the image anyway); the installed system keeps dpkg's safe default.
sed -i '/^force-unsafe-io$/d' "$ROOT/etc/dpkg/dpkg.cfg.d/99mmdebstrap"
log "mmdebstrap took $(($(date +%s) - t_strap)) s"

APT_LISTS_COMPLETE=yes
if [ -e "$WORK/apt-lists-incomplete" ]; then
    APT_LISTS_COMPLETE=no
    warn "some apt index files failed to download (mirror mid-sync?): the image may lack"
    warn "updates from the suites they describe; rebuild later with --force"
fi

# ------------------------------------------------------------ kernel modules
# install_modules DEB PKG RELEASE: the kernel package's modules tree (and
# config), with depmod run for it.
install_modules() {
    local deb=$1 pkg=$2 release=$3 moddir
    log "installing the modules of $pkg $KERNEL_VERSION"
    rm -rf "$WORK/kernel"
    dpkg-deb -x "$deb" "$WORK/kernel"
    moddir=$WORK/kernel/lib/modules/$release
    [ -d "$moddir" ] || moddir=$WORK/kernel/usr/lib/modules/$release
    [ -d "$moddir" ] || die "$pkg has no modules for $release"
    # /lib is a symlink to usr/lib in bookworm: copy into the real directory.
    mkdir -p "$ROOT/usr/lib/modules" "$ROOT/boot"
    cp -a "$moddir" "$ROOT/usr/lib/modules/"
    cp -a "$WORK/kernel/boot/config-$release" "$ROOT/boot/" 2>/dev/null || true
    chroot "$ROOT" depmod -a "$release" || die "depmod failed for $release"
    rm -rf "$WORK/kernel"
}
install_modules "$KERNEL_DEB" "$KERNEL_PKG" "$KERNEL_RELEASE"
install_modules "$KERNEL_PAE_DEB" "$KERNEL_PAE_PKG" "$KERNEL_PAE_RELEASE"

# ------------------------------------------------------------ configuration
log "configuring the system"
echo tab86 >"$ROOT/etc/hostname"
cat >"$ROOT/etc/hosts" <<'EOF'
127.0.0.1	localhost
127.0.1.1	tab86
::1		localhost ip6-localhost ip6-loopback
EOF
# No network is configured; do not leak the build host's resolver.
: >"$ROOT/etc/resolv.conf"
cat >"$ROOT/etc/fstab" <<'EOF'
# <file system> <mount point> <type> <options> <dump> <pass>
/dev/vda	/	ext2	rw,relatime,errors=remount-ro	0	0
EOF
cat >"$ROOT/etc/motd" <<'EOF'

tab86: Debian GNU/Linux 12 (bookworm) i386 running in the tab86 PC emulator.
Power off with `poweroff`.

EOF
printf 'Debian GNU/Linux 12 (tab86 emulator) \\n \\l\n\n' >"$ROOT/etc/issue"
printf 'Debian GNU/Linux 12 (tab86 emulator)\n' >"$ROOT/etc/issue.net"
ln -sf /usr/share/zoneinfo/Etc/UTC "$ROOT/etc/localtime"
echo Etc/UTC >"$ROOT/etc/timezone"
# Empty machine-id: systemd makes a transient one each boot and does not
# treat the boot as a "first boot" (no systemd-firstboot prompts).
: >"$ROOT/etc/machine-id"
rm -f "$ROOT/var/lib/dbus/machine-id"
# Root logs in without a password (serial autologin below, and other
# consoles); there is no network service to reach it.
sed -i 's/^root:[^:]*:/root::/' "$ROOT/etc/shadow"

# Serial console: root autologin on ttyS0.
getty_dir=$ROOT/etc/systemd/system/serial-getty@ttyS0.service.d
mkdir -p "$getty_dir"
cat >"$getty_dir/autologin.conf" <<'EOF'
# tab86: log root in on the serial console without a prompt.
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --noclear --keep-baud 115200,57600,38400,9600 %I $TERM
EOF
mkdir -p "$ROOT/etc/systemd/system/getty.target.wants"
ln -sf /lib/systemd/system/serial-getty@.service \
    "$ROOT/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service"

# Units that cannot do anything useful here and only cost boot time or
# background CPU in an emulator: periodic apt downloads (no network),
# e2scrub (needs LVM), fstrim (virtio-blk without discard), and the gettys
# on tty2-tty6 Debian starts when logind is absent (the console is serial;
# tty1 keeps its getty).
for unit in apt-daily.timer apt-daily-upgrade.timer apt-daily.service apt-daily-upgrade.service \
    e2scrub_all.timer e2scrub_all.service e2scrub_reap.service fstrim.timer fstrim.service \
    getty-static.service; do
    rm -f "$ROOT"/etc/systemd/system/*.wants/"$unit"
    ln -sf /dev/null "$ROOT/etc/systemd/system/$unit"
done

# Journal in RAM: nothing to flush to an emulated disk at boot/shutdown.
mkdir -p "$ROOT/etc/systemd/journald.conf.d"
cat >"$ROOT/etc/systemd/journald.conf.d/tab86.conf" <<'EOF'
[Journal]
Storage=volatile
RuntimeMaxUse=16M
EOF

# Leftovers from the build.
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/log/*.log \
    "$ROOT"/var/cache/debconf/*-old "$ROOT"/var/lib/dpkg/*-old "$ROOT"/tmp/* "$ROOT"/root/.bash_history
mkdir -p "$ROOT/var/lib/apt/lists/partial"
DEBIAN_VERSION=$(cat "$ROOT/etc/debian_version")
NPKG=$(chroot "$ROOT" dpkg-query -W -f '${db:Status-Abbrev}\n' | grep -c '^ii')

# ---------------------------------------------------------------- ext2 image
used_kib=$(du -s -x --block-size=1024 "$ROOT" | cut -f1)
nfiles=$(find "$ROOT" -xdev | wc -l)
# Files + inode tables/bitmaps (~3%) + free space, rounded up to 64 MiB.
size_mib=$(((used_kib * 103 / 100 / 1024 + FREE_MIB + 63) / 64 * 64))
# Inodes: what is used plus room for as many again in the free space.
inodes=$((nfiles * 2 + FREE_MIB * 64))
uuid=$(echo "$KEY" | sed -E 's/^(.{8})(.{4}).(.{3}).(.{3})(.{12}).*/\1-\2-4\3-8\4-\5/')
log "writing $size_mib MiB ext2 image ($((used_kib / 1024)) MiB of files, $nfiles inodes used)"
rm -f "$WORK/image"
mke2fs -q -F -t ext2 -b 4096 -N "$inodes" -m 0 -L tab86-root -U "$uuid" \
    -E root_owner=0:0,hash_seed="$uuid" -d "$ROOT" "$WORK/image" "${size_mib}M" >&2 ||
    die "mke2fs failed"
e2fsck -fn "$WORK/image" >/dev/null 2>&1 || die "the new image fails e2fsck"
blocks=$(dumpe2fs -h "$WORK/image" 2>/dev/null | awk -F: '/^Block count/ { gsub(/ /, "", $2); print $2 }')
free_blocks=$(dumpe2fs -h "$WORK/image" 2>/dev/null | awk -F: '/^Free blocks/ { gsub(/ /, "", $2); print $2 }')
USED_BYTES=$(((blocks - free_blocks) * 4096))

# ---------------------------------------------------------------- publish
mv "$WORK/image" "$IMAGE"
IMAGE_SHA256=$(sha "$IMAGE")
IMAGE_SIZE=$(stat -c %s "$IMAGE")
tmp_env=$WORK/rootfs.env
{
    echo "# Generated by tab86 images/build-rootfs.sh; sourceable KEY=value lines."
    echo "ROOTFS_DIR=$OUT"
    echo "IMAGE=$IMAGE"
    echo "IMAGE_SHA256=$IMAGE_SHA256"
    echo "IMAGE_SIZE=$IMAGE_SIZE"
    echo "ROOTFS_USED_BYTES=$USED_BYTES"
    echo "FSTYPE=ext2"
    echo "FS_UUID=$uuid"
    echo "ROOT_DEVICE=/dev/vda"
    echo "CMDLINE='$CMDLINE'"
    echo "DISTRO=debian"
    echo "SUITE=$SUITE"
    echo "ARCH=$ARCH"
    echo "DEBIAN_VERSION=$DEBIAN_VERSION"
    echo "PACKAGES_INSTALLED=$NPKG"
    echo "APT_LISTS_COMPLETE=$APT_LISTS_COMPLETE"
    echo "KERNEL_PKG=$KERNEL_PKG"
    echo "KERNEL_VERSION=$KERNEL_VERSION"
    echo "KERNEL_RELEASE=$KERNEL_RELEASE"
    echo "KERNEL_PAE_PKG=$KERNEL_PAE_PKG"
    echo "KERNEL_PAE_RELEASE=$KERNEL_PAE_RELEASE"
    echo "PROMPT='$PROMPT'"
} >"$tmp_env"
mv "$tmp_env" "$ENV_FILE"
{
    echo "$KEY"
    stat -c %s "$IMAGE"
    stat -c %Y "$IMAGE"
    echo "$IMAGE_SHA256"
} >"$STAMP"
log "image built in $(($(date +%s) - T0)) s"

pack_image
print_result

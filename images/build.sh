#!/bin/bash
# Fetch Debian's i386 kernel + static busybox and build tab86's default
# initramfs.
#
# Usage: images/build.sh [--force]
#
# Output (never inside the repository):
#   ${TAB86_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tab86}/images/
#     vmlinuz            the unmodified Debian linux-image-686 bzImage
#     vmlinuz-pae        the same kernel build's 686-pae flavour (PAE, NX, APIC;
#                        Debian's default on i386); boots with either initrd,
#                        but only initrd-pae.cpio.gz can load its modules
#     initrd.cpio.gz     busybox + /init + virtio/ext4 modules (cpio newc)
#     initrd-pae.cpio.gz the same with the 686-pae kernel's modules
#     images.env         KEY=value description of the above (sourceable)
#     debs/              the downloaded .deb files (kept for offline rebuilds)
#
# Re-runs are cheap: a stamp keyed on this script, the /init script, the
# package choice and the downloaded packages' hashes skips all work (no apt,
# no network) while the outputs are intact.  --force rebuilds everything.
#
# Meant for Debian 12 run as root (CI and the README's first command); it
# adds the i386 architecture and installs missing host tools with apt.
set -euo pipefail

# ---------------------------------------------------------------- settings
# The reference benchmark uses exactly this kernel build; anything else is
# a fallback and is reported as such.
PREFERRED_KERNEL_PKG=${TAB86_KERNEL_PKG:-linux-image-6.1.0-50-686}
PREFERRED_KERNEL_VER=${TAB86_KERNEL_VER:-6.1.176-1}
KERNEL_META_PKG=linux-image-686
BUSYBOX_PKG=busybox-static

# Modules shipped in the initramfs, in load (dependency) order, relative to
# /lib/modules/<release>/kernel.  Ones built into the kernel are skipped.
MODULES=(
    drivers/virtio/virtio
    drivers/virtio/virtio_ring
    drivers/virtio/virtio_pci_modern_dev
    drivers/virtio/virtio_pci_legacy_dev
    drivers/virtio/virtio_pci
    drivers/block/virtio_blk
    lib/crc16
    fs/mbcache
    fs/jbd2/jbd2
    crypto/crc32c_generic
    fs/ext4/ext4
)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE_ROOT=${TAB86_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tab86}
OUT=$CACHE_ROOT/images
DEBS=$OUT/debs
STAMP=$OUT/.stamp
ENV_FILE=$OUT/images.env
INIT_SRC=$HERE/initramfs/init

FORCE=0
for arg in "$@"; do
    case "$arg" in
        --force | -f) FORCE=1 ;;
        -h | --help)
            sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "build.sh: unknown argument: $arg (try --help)" >&2
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

print_result() {
    # shellcheck disable=SC1090
    . "$ENV_FILE"
    echo "kernel:   $KERNEL ($KERNEL_PKG $KERNEL_VERSION)"
    echo "pae:      $KERNEL_PAE ($KERNEL_PAE_PKG)"
    echo "initrd:   $INITRD"
    echo "initrd:   $INITRD_PAE (686-pae modules)"
    echo "env file: $ENV_FILE"
}

# Key over every input that determines the outputs, except the downloaded
# packages themselves (those are folded in by the second-stage stamp below).
input_key() {
    {
        sha "$HERE/build.sh"
        sha "$INIT_SRC"
        echo "$PREFERRED_KERNEL_PKG=$PREFERRED_KERNEL_VER $BUSYBOX_PKG"
        printf '%s\n' "${MODULES[@]}"
    } | sha256sum | cut -d' ' -f1
}

outputs_intact() {
    [ -f "$ENV_FILE" ] || return 1
    # shellcheck disable=SC1090
    (
        . "$ENV_FILE"
        [ -f "$KERNEL" ] && [ -f "$INITRD" ] &&
            [ "$(sha "$KERNEL")" = "$KERNEL_SHA256" ] &&
            [ -f "${KERNEL_PAE:-}" ] && [ "$(sha "$KERNEL_PAE")" = "$KERNEL_PAE_SHA256" ] &&
            [ "$(sha "$INITRD")" = "$INITRD_SHA256" ] &&
            [ -f "${INITRD_PAE:-}" ] && [ "$(sha "$INITRD_PAE")" = "$INITRD_PAE_SHA256" ]
    )
}

KEY=$(input_key)
if [ "$FORCE" = 0 ] && [ -f "$STAMP" ] && [ "$(head -n 1 "$STAMP")" = "$KEY" ] && outputs_intact; then
    log "images up to date (use --force to rebuild)"
    print_result
    exit 0
fi

[ "$(id -u)" = 0 ] || die "must run as root (it uses dpkg/apt-get and mknod)"
command -v apt-get >/dev/null || die "apt-get not found: this script needs Debian/Ubuntu"
mkdir -p "$OUT" "$DEBS"

# ------------------------------------------------------------- apt set-up
APT_UPDATED=0
apt_update() {
    if [ "$APT_UPDATED" = 0 ]; then
        log "apt-get update"
        # Mirrors are sometimes mid-sync (hash/size mismatches): retry, then
        # carry on with whatever lists we got; missing packages fail later
        # with a precise message.
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
    fi
}

if ! dpkg --print-foreign-architectures | grep -qx i386 && [ "$(dpkg --print-architecture)" != i386 ]; then
    log "adding the i386 dpkg architecture"
    dpkg --add-architecture i386
    apt_update
fi

# Host tools: command -> Debian package.
# shellcheck source=images/lib.sh
source "$HERE/lib.sh"
need_tools cpio:cpio xz:xz-utils gzip:gzip mke2fs:e2fsprogs

# Candidate version of an i386 package (empty if unknown to apt).
candidate() {
    apt-cache policy "$1:i386" 2>/dev/null | awk '/Candidate:/ { if ($2 != "(none)") print $2 }'
}
# Whether apt knows version $2 of i386 package $1 (`apt-cache show pkg=ver`
# exits 0 even for unknown versions, so ask madison instead).
has_version() {
    apt-cache madison "$1:i386" 2>/dev/null |
        awk -F'|' -v v="$2" '{ gsub(/ /, "", $2) } $2 == v { found = 1 } END { exit !found }'
}

# Make sure the lists know about i386 packages at all.
if [ -z "$(candidate "$KERNEL_META_PKG")" ]; then
    apt_update
    [ -n "$(candidate "$KERNEL_META_PKG")" ] || die "$KERNEL_META_PKG:i386 not found in the apt sources"
fi

# ------------------------------------------------------- package choice
if ! has_version "$PREFERRED_KERNEL_PKG" "$PREFERRED_KERNEL_VER" && [ "$APT_UPDATED" = 0 ]; then
    apt_update # the lists may just be stale
fi
if has_version "$PREFERRED_KERNEL_PKG" "$PREFERRED_KERNEL_VER"; then
    KERNEL_PKG=$PREFERRED_KERNEL_PKG
    KERNEL_VERSION=$PREFERRED_KERNEL_VER
else
    KERNEL_PKG=$(apt-cache depends "$KERNEL_META_PKG:i386" 2>/dev/null |
        awk '/^ *Depends: linux-image-/ { sub(/:i386$/, "", $2); print $2; exit }')
    [ -n "$KERNEL_PKG" ] || die "cannot resolve the kernel package $KERNEL_META_PKG:i386 depends on"
    KERNEL_VERSION=$(candidate "$KERNEL_PKG")
    [ -n "$KERNEL_VERSION" ] || die "no installable version of $KERNEL_PKG:i386"
    warn "$PREFERRED_KERNEL_PKG $PREFERRED_KERNEL_VER is not available; falling back to"
    warn "$KERNEL_PKG $KERNEL_VERSION (boot times will not match the reference benchmark)"
fi
BUSYBOX_VERSION=$(candidate "$BUSYBOX_PKG")
[ -n "$BUSYBOX_VERSION" ] || die "$BUSYBOX_PKG:i386 not found in the apt sources"

# ------------------------------------------------------------- downloads
# apt-get download names files <pkg>_<version with : as %3a>_<arch>.deb.
deb_path() { echo "$DEBS/${1}_${2//:/%3a}_i386.deb"; }
fetch() {
    local pkg=$1 ver=$2 dest
    dest=$(deb_path "$pkg" "$ver")
    if [ "$FORCE" = 0 ] && [ -s "$dest" ] && dpkg-deb --info "$dest" >/dev/null 2>&1; then
        log "using cached $(basename "$dest")"
    else
        rm -f "$dest"
        log "downloading $pkg:i386 $ver"
        # Download into a scratch dir the sandboxed _apt user can write
        # (the cache usually lives under root's private home), then move.
        local dl
        dl=$(mktemp -d)
        chown _apt "$dl" 2>/dev/null || true
        if ! (cd "$dl" && apt-get download -qq "$pkg:i386=$ver" >&2); then
            apt_update
            (cd "$dl" && apt-get download -qq "$pkg:i386=$ver" >&2) || {
                rm -rf "$dl"
                die "cannot download $pkg:i386=$ver"
            }
        fi
        mv "$dl/$(basename "$dest")" "$dest" 2>/dev/null || true
        rm -rf "$dl"
        [ -s "$dest" ] || die "download of $pkg did not produce $(basename "$dest")"
    fi
    echo "$dest"
}
KERNEL_DEB=$(fetch "$KERNEL_PKG" "$KERNEL_VERSION")
# The 686-pae flavour of the same build (same source version, "-pae" suffix).
PAE_PKG=$KERNEL_PKG-pae
has_version "$PAE_PKG" "$KERNEL_VERSION" || die "$PAE_PKG:i386 $KERNEL_VERSION not found in the apt sources"
PAE_DEB=$(fetch "$PAE_PKG" "$KERNEL_VERSION")
BUSYBOX_DEB=$(fetch "$BUSYBOX_PKG" "$BUSYBOX_VERSION")

# ------------------------------------------------------------- unpacking
WORK=$(mktemp -d "$OUT/.work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
log "unpacking packages"
dpkg-deb -x "$KERNEL_DEB" "$WORK/kernel"
dpkg-deb -x "$BUSYBOX_DEB" "$WORK/busybox"
dpkg-deb -x "$PAE_DEB" "$WORK/pae"
vmlinuz_pae=$(find "$WORK/pae/boot" -maxdepth 1 -name 'vmlinuz-*' | head -n 1)
[ -n "$vmlinuz_pae" ] && [ -s "$vmlinuz_pae" ] || die "$PAE_PKG contains no /boot/vmlinuz-*"
[ "$(dd if="$vmlinuz_pae" bs=1 skip=514 count=4 2>/dev/null)" = HdrS ] || die "$vmlinuz_pae is not a bzImage"
KERNEL_PAE_RELEASE=${vmlinuz_pae##*/vmlinuz-}
moddir_pae=$WORK/pae/lib/modules/$KERNEL_PAE_RELEASE
[ -d "$moddir_pae" ] || moddir_pae=$WORK/pae/usr/lib/modules/$KERNEL_PAE_RELEASE
[ -d "$moddir_pae" ] || die "$PAE_PKG has no modules directory for $KERNEL_PAE_RELEASE"

vmlinuz=$(find "$WORK/kernel/boot" -maxdepth 1 -name 'vmlinuz-*' | head -n 1)
[ -n "$vmlinuz" ] && [ -s "$vmlinuz" ] || die "$KERNEL_PKG contains no /boot/vmlinuz-*"
KERNEL_RELEASE=${vmlinuz##*/vmlinuz-}
# Sanity: a bzImage has "HdrS" at offset 0x202.
[ "$(dd if="$vmlinuz" bs=1 skip=514 count=4 2>/dev/null)" = HdrS ] || die "$vmlinuz is not a bzImage"
moddir=$WORK/kernel/lib/modules/$KERNEL_RELEASE
[ -d "$moddir" ] || moddir=$WORK/kernel/usr/lib/modules/$KERNEL_RELEASE
[ -d "$moddir" ] || die "$KERNEL_PKG has no modules directory for $KERNEL_RELEASE"
busybox=$WORK/busybox/bin/busybox
[ -x "$busybox" ] || die "$BUSYBOX_PKG contains no /bin/busybox"

# ------------------------------------------------------------ initramfs
ROOT=$WORK/root
log "building the initramfs tree"
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,root,newroot,etc,lib/modules}
chmod 1777 "$ROOT/tmp"
install -m 0755 "$busybox" "$ROOT/bin/busybox"
install -m 0755 "$INIT_SRC" "$ROOT/init"
ln -s busybox "$ROOT/bin/sh"

# Applet links: ask busybox for its list when the host can run i386
# binaries; otherwise /init runs `busybox --install -s` at boot.
if applets=$("$ROOT/bin/busybox" --list-full 2>/dev/null) && [ -n "$applets" ]; then
    n=0
    while read -r applet; do
        [ -n "$applet" ] && [ ! -e "$ROOT/$applet" ] || continue
        dir=$(dirname "$applet")
        mkdir -p "$ROOT/$dir"
        # Relative link back to /bin/busybox.
        rel=$(echo "$dir" | sed -E 's#[^/]+#..#g')
        ln -s "$rel/bin/busybox" "$ROOT/$applet"
        n=$((n + 1))
    done <<<"$applets"
    log "created $n busybox applet links"
    for needed in bin/mount sbin/switch_root bin/setsid bin/cttyhack sbin/insmod; do
        [ -e "$ROOT/$needed" ] || [ -e "$ROOT/usr/$needed" ] || warn "busybox lacks ${needed##*/}"
    done
else
    warn "cannot run the i386 busybox on this host; /init will install applet links at boot"
fi

# Static device nodes so the kernel can open /dev/console before /init runs;
# devtmpfs replaces them at runtime, so failures are tolerated.
mknod -m 600 "$ROOT/dev/console" c 5 1 2>/dev/null || warn "mknod /dev/console failed (devtmpfs will provide it)"
mknod -m 666 "$ROOT/dev/null" c 1 3 2>/dev/null || true
mknod -m 660 "$ROOT/dev/ttyS0" c 4 64 2>/dev/null || true

cat >"$ROOT/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
EOF
cat >"$ROOT/etc/group" <<'EOF'
root:x:0:
tty:x:5:
EOF
echo tab86 >"$ROOT/etc/hostname"

# Kernel modules, decompressed, plus the load-order list /init reads.
# add_modules TREE MODDIR PKG: copies MODULES from MODDIR (one kernel's
# /lib/modules/<release>) into TREE/lib/modules/<release>.
add_modules() {
    local tree=$1 moddir=$2 pkg=$3 kmods m src ext dst
    kmods=$tree/lib/modules/${moddir##*/}
    mkdir -p "$kmods"
    : >"$kmods/tab86.load"
    for m in "${MODULES[@]}"; do
        src=
        for ext in .ko .ko.xz .ko.zst .ko.gz; do
            if [ -f "$moddir/kernel/$m$ext" ]; then
                src=$moddir/kernel/$m$ext
                break
            fi
        done
        if [ -z "$src" ]; then
            if grep -qs "kernel/$m.ko" "$moddir/modules.builtin"; then
                log "module $m is built into $pkg"
            else
                warn "module $m not found in $pkg"
            fi
            continue
        fi
        dst=$kmods/kernel/$m.ko
        mkdir -p "$(dirname "$dst")"
        case "$src" in
            *.xz) xz -dc "$src" >"$dst" ;;
            *.zst) zstd -qdc "$src" >"$dst" || die "zstd needed to decompress $src" ;;
            *.gz) gzip -dc "$src" >"$dst" ;;
            *) cp "$src" "$dst" ;;
        esac
        echo "kernel/$m.ko" >>"$kmods/tab86.load"
    done
    [ -f "$moddir/modules.builtin" ] && cp "$moddir/modules.builtin" "$kmods/"
    return 0
}

# write_cpio TREE OUT: deterministic archive (fixed mtimes, sorted names,
# root ownership).
write_cpio() {
    log "writing ${2##*/}"
    find "$1" -exec touch -h -d @0 {} +
    (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible) |
        gzip -9n >"$2"
}

# The 686-pae kernel gets its own initramfs: the same busybox tree with the
# pae kernel's modules (a module only loads into the kernel build it came
# from).
cp -a "$ROOT" "$WORK/root-pae"
add_modules "$ROOT" "$moddir" "$KERNEL_PKG"
write_cpio "$ROOT" "$WORK/initrd.cpio.gz"
add_modules "$WORK/root-pae" "$moddir_pae" "$PAE_PKG"
write_cpio "$WORK/root-pae" "$WORK/initrd-pae.cpio.gz"

# ---------------------------------------------------------------- publish
install -m 0644 "$vmlinuz" "$OUT/vmlinuz"
install -m 0644 "$vmlinuz_pae" "$OUT/vmlinuz-pae"
mv "$WORK/initrd.cpio.gz" "$OUT/initrd.cpio.gz"
mv "$WORK/initrd-pae.cpio.gz" "$OUT/initrd-pae.cpio.gz"
KERNEL_SHA256=$(sha "$OUT/vmlinuz")
KERNEL_PAE_SHA256=$(sha "$OUT/vmlinuz-pae")
INITRD_SHA256=$(sha "$OUT/initrd.cpio.gz")
INITRD_PAE_SHA256=$(sha "$OUT/initrd-pae.cpio.gz")
# Drop debs of other versions so the cache does not grow without bound.
for old in "$DEBS"/*.deb; do
    [ "$old" = "$KERNEL_DEB" ] || [ "$old" = "$BUSYBOX_DEB" ] || [ "$old" = "$PAE_DEB" ] || rm -f "$old"
done

tmp_env=$WORK/images.env
{
    echo "# Generated by tab86 images/build.sh; KEY=value, no quoting needed."
    echo "IMAGES_DIR=$OUT"
    echo "KERNEL=$OUT/vmlinuz"
    echo "KERNEL_PKG=$KERNEL_PKG"
    echo "KERNEL_VERSION=$KERNEL_VERSION"
    echo "KERNEL_RELEASE=$KERNEL_RELEASE"
    echo "KERNEL_SHA256=$KERNEL_SHA256"
    echo "KERNEL_PREFERRED=$([ "$KERNEL_PKG=$KERNEL_VERSION" = "$PREFERRED_KERNEL_PKG=$PREFERRED_KERNEL_VER" ] && echo yes || echo no)"
    echo "KERNEL_PAE=$OUT/vmlinuz-pae"
    echo "KERNEL_PAE_PKG=$PAE_PKG"
    echo "KERNEL_PAE_RELEASE=$KERNEL_PAE_RELEASE"
    echo "KERNEL_PAE_SHA256=$KERNEL_PAE_SHA256"
    echo "INITRD=$OUT/initrd.cpio.gz"
    echo "INITRD_SHA256=$INITRD_SHA256"
    echo "INITRD_PAE=$OUT/initrd-pae.cpio.gz"
    echo "INITRD_PAE_SHA256=$INITRD_PAE_SHA256"
    echo "BUSYBOX_PKG=$BUSYBOX_PKG"
    echo "BUSYBOX_VERSION=$BUSYBOX_VERSION"
    echo "BOOT_MARKER=TAB86-BOOT-OK"
} >"$tmp_env"
case "$OUT" in *[[:space:]]*) warn "cache path contains spaces; quote values when sourcing $ENV_FILE" ;; esac
mv "$tmp_env" "$ENV_FILE"
{
    echo "$KEY"
    echo "kernel_deb=$(sha "$KERNEL_DEB")"
    echo "busybox_deb=$(sha "$BUSYBOX_DEB")"
    echo "pae_deb=$(sha "$PAE_DEB")"
} >"$STAMP"

log "done"
print_result

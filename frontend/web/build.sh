#!/bin/bash
# Builds the wasm-bindgen package of the machine and the browser page:
#   target/web/pkg/       the package for Node (frontend/node/tab86.mjs loads it)
#   target/web/           the page, plain static files for any web server or CDN:
#     index.html page.js page.css worker.js   (from frontend/web/page/)
#     pkg-web/            the package for browsers (wasm-bindgen --target web)
#     vendor/             xterm.js and its fit add-on (npm, pinned in package-lock.json)
#     images/             the Debian kernel and busybox initramfs, if images/build.sh made them
#     rootfs/             the Debian root image's chunks, if images/build-rootfs.sh made them
#     config.json         the page's defaults (boot files, image, command lines)
# Serve it with `tab86 serve target/web`. Installs wasm-bindgen-cli at the version
# the workspace pins for the wasm-bindgen crate if it is missing or another one,
# and the page's npm packages with `npm ci` when package-lock.json changed.
set -euo pipefail
cd "$(dirname "$0")/../.."
want=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' Cargo.toml)
[ -n "$want" ] || { echo "build.sh: no pinned wasm-bindgen version in Cargo.toml" >&2; exit 1; }
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  echo "build.sh: installing wasm-bindgen-cli $want (found: ${have:-none})" >&2
  # --locked pins dependency versions a registry mirror may not carry yet: fall
  # back to a fresh resolution. No TLS client is needed (no test-runner downloads).
  cargo install -q wasm-bindgen-cli --version "$want" --no-default-features --locked ||
    cargo install -q wasm-bindgen-cli --version "$want" --no-default-features
fi
rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
# The `ci` profile (release without LTO) by default: measured on the deterministic
# initramfs boot, its package runs as fast under Node as the thin-LTO `release` one
# (47.6 s against 49.6 s of CPU; 2.14 MB against 2.13 MB) and builds 5x faster cold.
profile=${TAB86_WEB_PROFILE:-ci}
cargo build -q --target wasm32-unknown-unknown --profile "$profile" -p tab86-web
out=target/web/pkg
rm -rf "$out"
wasm-bindgen --target nodejs --out-dir "$out" "target/wasm32-unknown-unknown/$profile/tab86_web.wasm"
echo "build.sh: $out/tab86_web_bg.wasm $(stat -c %s "$out/tab86_web_bg.wasm") bytes" >&2

# The browser page.
web=target/web
rm -rf "$web/pkg-web" "$web/vendor"
wasm-bindgen --target web --out-dir "$web/pkg-web" "target/wasm32-unknown-unknown/$profile/tab86_web.wasm"
npmdir=frontend/web
bash "$npmdir/npm-ci.sh"
mkdir -p "$web/vendor"
cp "$npmdir"/node_modules/@xterm/xterm/lib/xterm.mjs "$npmdir"/node_modules/@xterm/xterm/css/xterm.css \
  "$npmdir"/node_modules/@xterm/addon-fit/lib/addon-fit.mjs "$web/vendor/"
cp "$npmdir"/node_modules/@xterm/xterm/LICENSE "$web/vendor/xterm-LICENSE.txt"
cp frontend/web/page/index.html frontend/web/page/page.js frontend/web/page/page.css \
  frontend/web/page/worker.js "$web/"
# The boot files the page loads by default (hard links when the cache shares the
# file system, so no extra space).
cache=${TAB86_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tab86}
mkdir -p "$web/images"
for f in vmlinuz initrd.cpio.gz; do
  if [ -f "$cache/images/$f" ]; then
    rm -f "$web/images/$f"
    ln "$cache/images/$f" "$web/images/$f" 2>/dev/null || cp "$cache/images/$f" "$web/images/$f"
  else
    echo "build.sh: no $cache/images/$f (run bash images/build.sh): the page will say it cannot load it" >&2
  fi
done
# The Debian root image's chunked layout (images/build-rootfs.sh), hard-linked into
# the folder so one static server serves the page and the image; config.json gives
# the page its defaults (it boots the image once the package has disks under wasm).
image=null
image_append=null
rm -rf "$web/rootfs"
if [ -f "$cache/rootfs/http/manifest.json" ] && [ -f "$cache/rootfs/rootfs.env" ]; then
  if cp -al "$cache/rootfs/http" "$web/rootfs" 2>/dev/null; then
    image='"rootfs/manifest.json"'
    # shellcheck disable=SC1091
    image_append="\"$(. "$cache/rootfs/rootfs.env" && echo "$CMDLINE")\""
  else
    rm -rf "$web/rootfs"
    echo "build.sh: cannot hard-link $cache/rootfs/http into $web (another file system): no image in the page" >&2
  fi
fi
cat >"$web/config.json" <<JSON
{"kernel": "images/vmlinuz", "initrd": "images/initrd.cpio.gz", "append": "console=ttyS0",
 "image": $image, "imageAppend": $image_append}
JSON
echo "build.sh: the page is in $web/ (serve it: tab86 serve $web); $web/pkg-web/tab86_web_bg.wasm $(stat -c %s "$web/pkg-web/tab86_web_bg.wasm") bytes" >&2

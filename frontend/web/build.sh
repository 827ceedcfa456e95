#!/bin/bash
# Builds the wasm-bindgen package of the machine for Node into target/web/pkg/
# (frontend/node/tab86.mjs loads it). Installs wasm-bindgen-cli at the version
# the workspace pins for the wasm-bindgen crate if it is missing or another one.
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

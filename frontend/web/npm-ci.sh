#!/bin/bash
# Installs the page's npm packages (xterm.js, its fit add-on, playwright-core for
# the browser test) exactly as frontend/web/package-lock.json pins them, with
# `npm ci`; skipped while node_modules matches the lock file.
set -euo pipefail
cd "$(dirname "$0")"
sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.tab86-lock 2>/dev/null)" != "$sum" ]; then
  echo "npm-ci.sh: npm ci (frontend/web/package-lock.json)" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$sum" >node_modules/.tab86-lock
fi

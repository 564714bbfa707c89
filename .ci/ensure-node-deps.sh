#!/usr/bin/env bash
# The Node project of the Better Auth end-to-end tests (interop/better-auth): install
# its pinned dependencies with `npm ci` when node_modules is missing or was installed
# from another package-lock.json. better-sqlite3 compiles from source when no
# prebuilt binary can be fetched (a few minutes, once).
set -euo pipefail
cd "$(dirname "$0")/../interop/better-auth"

command -v node >/dev/null || { echo "node is not installed (Node.js 20+ is needed)" >&2; exit 1; }
command -v npm >/dev/null || { echo "npm is not installed" >&2; exit 1; }

stamp=node_modules/.installed-from-lock
wanted="$(sha256sum package-lock.json | cut -d' ' -f1) node-$(node --version)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
  echo "interop/better-auth: node_modules is up to date"
  exit 0
fi
npm ci --no-audit --no-fund
node -e "require('better-sqlite3')" # the native module loads on this Node
echo "$wanted" > "$stamp"

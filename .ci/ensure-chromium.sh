#!/usr/bin/env bash
# Installs Debian's chromium and chromium-driver when either is missing (browser tests
# drive /usr/bin/chromium through /usr/bin/chromedriver; nothing is downloaded from
# anywhere but Debian's archive). Idempotent; prints nothing on stdout.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
echo "[ensure-chromium] installing chromium and chromium-driver" >&2
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >&2

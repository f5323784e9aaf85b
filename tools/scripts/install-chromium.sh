#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (test/browser/), from the distribution's package registry only.
# Idempotent: does nothing when /usr/bin/chromium exists; runs `apt-get update` only when the package is not yet known
# to apt. Needs root (or passwordless sudo) the first time; on a machine without apt it explains and skips, so the
# other tiers still run (the browser tier then fails with a clear message).
set -euo pipefail
say() { printf '[install-chromium] %s\n' "$*"; }
if [ -x /usr/bin/chromium ]; then
  say "chromium: installed ($(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi
# shellcheck source=lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
apt_ready "install Chromium as /usr/bin/chromium (apt-get install -y chromium as root) to run the browser tests"
t0=$SECONDS
apt_install chromium
say "chromium: installed in $((SECONDS - t0)) s ($(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown'))"

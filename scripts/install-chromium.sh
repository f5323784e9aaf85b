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
if ! command -v apt-get >/dev/null 2>&1; then
  say "no apt-get on this machine: install Chromium as /usr/bin/chromium yourself to run the browser tests" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    say "not root and no passwordless sudo: run 'apt-get install -y chromium' as root to run the browser tests" >&2
    exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
t0=$SECONDS
if ! apt-cache show chromium >/dev/null 2>&1; then
  say "apt-get update (the package lists do not know chromium yet) ..."
  $SUDO apt-get update -q
fi
say "apt-get install -y chromium (first run only; a few minutes) ..."
$SUDO apt-get install -y -q --no-install-recommends chromium
say "chromium: installed in $((SECONDS - t0)) s ($(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown'))"

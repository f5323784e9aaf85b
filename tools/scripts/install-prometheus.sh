#!/usr/bin/env bash
# Installs Debian's Prometheus (the server and promtool) for the `prometheus` test tier (test/prometheus/), from the
# distribution's package registry only: `apt-get install prometheus` (bookworm: 2.42.0, which loads and evaluates our
# rule file; the tier checks the version). The Debian package would start a prometheus service on :9090; the
# install runs under a policy-rc.d that forbids service starts (a Docker image has one already; otherwise one is put
# in place for the install and removed afterwards), and a service that started anyway is stopped again. The tests start
# their own Prometheus on free ports with their own configuration.
# Idempotent: does nothing when /usr/bin/prometheus and /usr/bin/promtool exist; runs `apt-get update` only when the
# package is not yet known to apt. Needs root (or passwordless sudo) the first time; on a machine without apt it
# explains and skips, so the other tiers still run (the prometheus tier then fails with a clear message).
set -euo pipefail
say() { printf '[install-prometheus] %s\n' "$*"; }
version() { /usr/bin/prometheus --version 2>/dev/null | head -n1 || echo 'version unknown'; }
if [ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ]; then
  say "prometheus + promtool: installed ($(version))"
  exit 0
fi
# shellcheck source=lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
apt_ready "install Prometheus as /usr/bin/prometheus and /usr/bin/promtool (apt-get install -y --no-install-recommends prometheus as root) to run the prometheus tier"
t0=$SECONDS
POLICY=/usr/sbin/policy-rc.d
own_policy=""
if [ ! -e "$POLICY" ]; then
  # exit 101 = "action forbidden by policy": invoke-rc.d / deb-systemd-invoke do not start the service.
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod 755 "$POLICY"
  own_policy=1
fi
cleanup() { if [ -n "$own_policy" ]; then $SUDO rm -f "$POLICY"; fi; }
trap cleanup EXIT
apt_install prometheus
# Belt and braces: where a service manager ignored the policy, stop and disable the Debian service again.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
elif [ -x /etc/init.d/prometheus ]; then
  $SUDO /etc/init.d/prometheus stop >/dev/null 2>&1 || true
fi
say "prometheus + promtool: installed in $((SECONDS - t0)) s ($(version))"

# Sourced by the installers of Debian packages (install-chromium.sh, install-prometheus.sh): the one place that decides
# whether apt can be used here and installs a package from the distribution's registry only. Expects `say` defined.

# apt_ready "<what to run by hand>": sets SUDO ("" as root, "sudo -n" with passwordless sudo) and DEBIAN_FRONTEND; on a
# machine without apt-get or without root it says what to run by hand and exits 0, so the other tiers still run.
apt_ready() {
  if ! command -v apt-get >/dev/null 2>&1; then
    say "no apt-get on this machine: $1" >&2
    exit 0
  fi
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
      say "not root and no passwordless sudo: $1" >&2
      exit 0
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
}

# apt_install <package>: `apt-get update` only when apt does not know the package yet, then the install itself.
apt_install() {
  if ! apt-cache show "$1" >/dev/null 2>&1; then
    say "apt-get update (the package lists do not know $1 yet) ..."
    $SUDO apt-get update -q
  fi
  say "apt-get install -y --no-install-recommends $1 (first run only) ..."
  $SUDO apt-get install -y -q --no-install-recommends "$1"
}

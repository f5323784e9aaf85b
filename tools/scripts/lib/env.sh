# Sourced by the project's entry scripts: installs/locates the tools, puts Node 24 first on PATH and makes sure
# node_modules matches package-lock.json for this Node version. Never downloads from release pages.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$ROOT"
"$ROOT/tools/scripts/install-tools.sh"
"$ROOT/tools/scripts/install-chromium.sh"
"$ROOT/tools/scripts/install-prometheus.sh"
BEL_CACHE="${BEL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/backupentry-lifecycle}"
# shellcheck disable=SC1091
source "$BEL_CACHE/tools.env"
export PATH="$(dirname "$NODE_BIN"):$PATH"
export BEL_CACHE_DIR="$BEL_CACHE"
stamp="$(node --version)-$(sha256sum package-lock.json | cut -c1-16)"
if [ "$(cat node_modules/.bel-install-stamp 2>/dev/null || true)" != "$stamp" ]; then
  echo "[env] npm ci with node $(node --version) ..."
  npm ci --no-audit --no-fund --loglevel=error
  echo "$stamp" > node_modules/.bel-install-stamp
fi

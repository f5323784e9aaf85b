# Sourced by the scripts that render the Helm chart (render-manifests.sh, render-monitoring.sh): sets HELM to $HELM or
# to the helm that tools/scripts/install-tools.sh built into the tools cache, or stops with what to run.
# Usage: source tools/scripts/lib/helm.sh <calling script's name>
CACHE="${BEL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/backupentry-lifecycle}"
HELM="${HELM:-$(sed -n 's/^HELM=//p' "$CACHE/tools.env" 2>/dev/null)}"
[ -x "${HELM:-}" ] || { echo "$1: helm not found; run tools/scripts/install-tools.sh" >&2; exit 1; }

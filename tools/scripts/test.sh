#!/usr/bin/env bash
# The one command that runs every test: installs what is missing, then lint, type-check and all jest tiers
# (unit, workflows, integration) against a real local stack started by the tests themselves.
# Extra arguments go to jest, e.g. `tools/scripts/test.sh --selectProjects unit`.
source "$(dirname "$0")/lib/env.sh"
t0=$SECONDS
echo "[test] lint"; npm run --silent lint
echo "[test] typecheck"; npm run --silent typecheck
echo "[test] jest"
# --experimental-vm-modules: @google-cloud/storage (teeny-request) loads node-fetch with a dynamic import(), which Jest
# only supports with vm modules (docs/adr/0001).
NODE_OPTIONS="--experimental-vm-modules ${NODE_OPTIONS:-}" npx jest --ci "$@"
echo "[test] all green in $((SECONDS - t0)) s"

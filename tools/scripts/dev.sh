#!/usr/bin/env bash
# The one command that starts the whole thing locally with embedded defaults (the dev stack). Ctrl-C stops it.
source "$(dirname "$0")/lib/env.sh"
npm run --silent build
exec node dist/tools/scripts/dev-stack.js "$@"

# One image for the worker, the watcher and the CLI: Node 24 slim, non-root, production dependencies only, workflow
# bundle prebuilt at build time with the same @temporalio/worker version the worker runs (BEL_WORKFLOW_BUNDLE).
#   docker build -t backupentry-lifecycle .
#   worker:  docker run backupentry-lifecycle                        (= dist/worker/main.js)
#   watcher: docker run backupentry-lifecycle dist/starter/watcher.js
#   CLI:     docker run backupentry-lifecycle dist/starter/cli.js list
# test/unit/packaging/dockerfile.test.ts checks that everything copied here exists and that the shipped code imports
# production dependencies only.
ARG NODE_IMAGE=node:24-bookworm-slim

# Production dependencies only (no compilers, test runners or type packages).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Compile what the image ships (tsconfig.image.json) and prebuild the workflow bundle.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json tsconfig.image.json ./
COPY config ./config
COPY domain ./domain
COPY workflows ./workflows
COPY activities ./activities
COPY adapters ./adapters
COPY worker ./worker
COPY starter ./starter
RUN npx tsc -p tsconfig.image.json && node dist/worker/build-workflow-bundle.js

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    BEL_WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js \
    BEL_WORKER_HTTP_PORT=8080 \
    BEL_WATCHER_HTTP_PORT=8081
WORKDIR /app
COPY --from=deps /app/package.json ./package.json
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Root of the `local` provider when a volume is mounted there (docker-compose.yml): a new volume takes this ownership.
RUN mkdir -p /var/lib/backupentry-lifecycle/local-backupbuckets && chown -R 65532:65532 /var/lib/backupentry-lifecycle
# Numeric, so Kubernetes can verify runAsNonRoot; files stay root-owned and read-only for it.
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["node", "--enable-source-maps"]
CMD ["dist/worker/main.js"]

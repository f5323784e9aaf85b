# One image for the worker, the watcher and the CLI: Node 24 slim, non-root, production dependencies only,
# workflow bundle prebuilt (BEL_WORKFLOW_BUNDLE) so workers do not run webpack at start.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY config ./config
COPY domain ./domain
COPY workflows ./workflows
COPY activities ./activities
COPY adapters ./adapters
COPY worker ./worker
COPY starter ./starter
COPY stack ./stack
COPY scripts ./scripts
COPY bench ./bench
COPY deploy ./deploy
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
ENV NODE_ENV=production BEL_WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/deploy/crd ./deploy/crd
USER 65532:65532
# worker: node dist/worker/main.js · watcher: node dist/starter/watcher.js · CLI: node dist/starter/cli.js <verb>
ENTRYPOINT ["node"]
CMD ["dist/worker/main.js"]

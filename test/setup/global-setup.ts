import { readFileSync } from 'node:fs';
import { startStack, type Stack } from '../../tools/stack';

declare global {
  var __belStack: Stack | undefined;
}

/**
 * Starts one local stack (kube-apiserver + etcd + CRD, Temporal dev server, fake-gcs-server) for the whole jest run.
 * Every server-backed tier names this file; jest calls it once per project, so the second call finds the stack running.
 * Workers inherit the stack environment (docs/design.md §1) (KUBECONFIG, TEMPORAL_ADDRESS, GCS_API_ENDPOINT, ...).
 */
export default async function globalSetup(): Promise<void> {
  // Worker processes that tests start (test/support/worker-process.ts) must not compete for the production ports of
  // the worker's endpoint (8080) and the Temporal runtime's metrics exporter (9464): any free port instead.
  process.env.BEL_WORKER_HTTP_PORT ??= '0';
  process.env.BEL_WORKER_SDK_METRICS_ADDRESS ??= '127.0.0.1:0';
  if (globalThis.__belStack || process.env.BEL_STACK_DIR) return;
  const attach = process.env.BEL_ATTACH_STACK_ENV;
  if (attach) {
    // Attach to a running stack (e.g. the dev stack's .dev/stack.env) instead of starting one: faster iteration.
    for (const line of readFileSync(attach, 'utf8').split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) process.env[line.slice(0, i)] = line.slice(i + 1).replace(/^'(.*)'$/, '$1');
    }
    process.env.BEL_STACK_DIR = attach;
    return;
  }
  const t0 = Date.now();
  const stack = await startStack({ log: (m) => process.stderr.write(`[stack] ${m}\n`) });
  globalThis.__belStack = stack;
  Object.assign(process.env, stack.env());
  process.env.BEL_STACK_DIR = stack.dir;
  process.stderr.write(`[stack] ready in ${Date.now() - t0} ms (${stack.dir})\n`);
}

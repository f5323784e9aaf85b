import { startStack, type Stack } from '../../stack';

declare global {
  var __belStack: Stack | undefined;
}

/**
 * Starts one local stack (kube-apiserver + etcd + CRD, Temporal dev server, fake-gcs-server) for the whole jest run.
 * Every server-backed tier names this file; jest calls it once per project, so the second call finds the stack running.
 * Workers inherit the stack's SPEC §2 environment (KUBECONFIG, TEMPORAL_ADDRESS, GCS_API_ENDPOINT, ...).
 */
export default async function globalSetup(): Promise<void> {
  if (globalThis.__belStack) return;
  const t0 = Date.now();
  const stack = await startStack({ log: (m) => process.stderr.write(`[stack] ${m}\n`) });
  globalThis.__belStack = stack;
  Object.assign(process.env, stack.env());
  process.env.BEL_STACK_DIR = stack.dir;
  process.stderr.write(`[stack] ready in ${Date.now() - t0} ms (${stack.dir})\n`);
}

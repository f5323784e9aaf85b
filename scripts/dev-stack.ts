import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startStack } from '../stack';

/**
 * The dev stack: starts every local part on free ports, writes `.dev/stack.env` (SPEC §2) and prints how to use it.
 * Runs until Ctrl-C (SIGINT) or SIGTERM, then stops everything it started.
 */
async function main(): Promise<void> {
  const root = resolve(__dirname, '..', '..');
  const devDir = join(root, '.dev');
  mkdirSync(devDir, { recursive: true });
  const stack = await startStack({ log: (m) => console.log(`[dev] ${m}`) });
  const envFile = join(devDir, 'stack.env');
  stack.writeEnvFile(envFile);
  const e = stack.env();
  console.log(`
backupentry-lifecycle dev stack is up.
  Temporal Web UI      ${e.TEMPORAL_UI_URL}/namespaces/${e.TEMPORAL_NAMESPACE}/workflows
  Temporal address     ${e.TEMPORAL_ADDRESS}
  kube-apiserver       ${stack.kube?.server}
  fake-gcs-server      ${e.GCS_API_ENDPOINT}
  local buckets        ${e.BACKUP_LOCAL_DIR}
  environment          ${envFile}

Try:
  set -a; . ${envFile}; set +a
  "$KUBECTL" get backupentries
Ctrl-C stops everything.`);
  // The servers are detached children: keep this process (their parent) alive until a signal arrives.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    clearInterval(keepAlive);
    console.log(`\n[dev] ${signal}: stopping ...`);
    stack.stop().then(() => { console.log('[dev] stopped'); process.exit(0); },
      (err: unknown) => { console.error('[dev] stop failed', err); process.exit(1); });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error('[dev] failed:', err instanceof Error ? err.message : err);
  process.exit(1);
});

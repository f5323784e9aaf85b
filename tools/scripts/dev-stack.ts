import { mkdirSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../../config';
import { createLogger, installTemporalRuntime } from '../../config/logger';
import { startWatcher } from '../../starter/start-watcher';
import { runWorker } from '../../worker/main';
import { startStack } from '../stack';
import { seedDemo } from './demo';

/**
 * The dev stack (the README's run command): every local part on free ports — etcd + kube-apiserver with the CRD, the
 * Temporal dev server with its Web UI, fake-gcs-server — plus the worker and the watcher in this process and a demo
 * (a shoot namespace, provider secrets, BackupEntries with realistic backup objects). Writes `.dev/stack.env`
 * (docs/design.md §1) and prints what to try. Runs until Ctrl-C (SIGINT) or SIGTERM, then stops everything it started.
 *
 * Flags: `--gcp` also creates a `gcp` entry on fake-gcs-server; `--no-demo` skips the demo entries;
 * `--retention <duration>` sets the default retention (default 10m, so the demo's timer is visible).
 */
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = (name: string): boolean => args.includes(name);
  const retention = (args.includes('--retention') ? args[args.indexOf('--retention') + 1] : undefined) ?? '10m';
  // tools/scripts (or dist/tools/scripts when built) → the repository root.
  const root = resolve(__dirname, '..', '..', ...(__dirname.includes(`${sep}dist${sep}`) ? ['..'] : []));
  const devDir = join(root, '.dev');
  mkdirSync(devDir, { recursive: true });
  const t0 = Date.now();
  const stack = await startStack({ log: (m) => console.log(`[dev] ${m}`) });
  const envFile = join(devDir, 'stack.env');
  stack.writeEnvFile(envFile);
  const e = stack.env();

  // Dev defaults first (quiet logs), then the user's environment, then what the stack started.
  const config = loadConfig({
    BEL_LOG_LEVEL: 'warn',
    ...process.env,
    ...e,
    BEL_CLUSTER_IDENTITY: 'dev-seed',
    BEL_DEFAULT_RETENTION: retention,
    BEL_PROVIDER_TYPES: 'gcp,local',
    BEL_WATCHER_HTTP_PORT: '0',
    BEL_WORKER_HTTP_PORT: '0',
  });
  const logger = createLogger(config.logLevel, 'dev-stack');
  installTemporalRuntime(logger, config.logLevel);
  const kc = new KubeConfig();
  kc.loadFromFile(e.KUBECONFIG!);
  let stopWorker!: () => void;
  const workerStopped = runWorker({ config, kubeConfig: kc, stop: new Promise<void>((r) => (stopWorker = r)) });
  const client = new Client({
    connection: await Connection.connect({ address: config.temporal.address }),
    namespace: config.temporal.namespace,
  });
  const watcher = await startWatcher({ config, kubeConfig: kc, client, logger });
  console.log(
    `[dev] worker and watcher running (task queue ${config.taskQueue}, cluster identity ${config.clusterIdentity})`,
  );
  const demo = flag('--no-demo')
    ? []
    : await seedDemo({
        kc,
        localDir: e.BACKUP_LOCAL_DIR!,
        ...(flag('--gcp') ? { gcsEndpoint: e.GCS_API_ENDPOINT! } : {}),
      });
  const first = demo[0];
  const query = encodeURIComponent('WorkflowType="backupEntryWorkflow"');
  // The PostgreSQL-backed server (BEL_STACK_TEMPORAL=postgres) has no Web UI: the CLI and `temporal` serve instead.
  const ui = e.TEMPORAL_UI_URL
    ? `${e.TEMPORAL_UI_URL}/namespaces/${e.TEMPORAL_NAMESPACE}/workflows?query=${query}`
    : 'none (BEL_STACK_TEMPORAL=postgres: use the CLI or `temporal workflow list`)';
  console.log(`
backupentry-lifecycle dev stack is up in ${((Date.now() - t0) / 1000).toFixed(0)} s (default retention ${retention}).
  Temporal Web UI      ${ui}
  Temporal address     ${e.TEMPORAL_ADDRESS}
  kube-apiserver       ${stack.kube?.server}
  fake-gcs-server      ${e.GCS_API_ENDPOINT}
  local buckets        ${e.BACKUP_LOCAL_DIR}
  environment          ${envFile}
${demo.map((d) => `  demo entry           ${d.name} (${d.type}, ${d.objects} objects in bucket ${d.bucket})`).join('\n')}

In a second terminal:
  set -a; . ${envFile}; set +a; export BEL_CLUSTER_IDENTITY=dev-seed
  "$KUBECTL" get backupentries
  npm run --silent cli -- list${
    first
      ? `
  "$KUBECTL" delete backupentry ${first.name} --wait=false     # starts the retention timer
  npm run --silent cli -- status ${first.name}
  npm run --silent cli -- extend ${first.name} --by 1h --reason "need more time"
  npm run --silent cli -- expedite ${first.name} --reason "shoot is gone for good" --wait
  # or keep the backups:  npm run --silent cli -- cancel-cleanup <entry> --reason "legal hold"
  # the deleted entry leaves kubectl once retained (BEL_RETENTION_MODE=${config.retentionMode}); its record:
  "$KUBECTL" get secret -n garden entry-${first.name} -o jsonpath='{.metadata.annotations}'
  # kubectl only (run with BEL_RETENTION_MODE=hold-entry): "$KUBECTL" annotate backupentry <entry> backupentry.core.gardener.cloud/force-deletion=true`
      : ''
  }
Ctrl-C stops everything.`);

  // The servers are detached children: keep this process (their parent) alive until a signal arrives.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    clearInterval(keepAlive);
    console.log(`\n[dev] ${signal}: stopping ...`);
    (async () => {
      await watcher.stop();
      stopWorker();
      await workerStopped;
      await client.connection.close();
      await stack.stop();
    })().then(
      () => {
        console.log('[dev] stopped');
        process.exit(0);
      },
      (err: unknown) => {
        console.error('[dev] stop failed', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error('[dev] failed:', err instanceof Error ? err.message : err);
  process.exit(1);
});

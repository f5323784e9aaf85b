/**
 * The watcher process: lists and watches BackupEntries (and the provider secrets they reference) and keeps one
 * workflow per served entry informed, as the leader of its replicas (docs/design.md §1, §4).
 *
 * - Only the leader (a `coordination.k8s.io/v1` Lease, adapters/kubernetes/leader-election.ts) runs informers and
 *   talks to Temporal. Each leadership term (leadership-term.ts) builds its informers and work queue afresh; what the
 *   watcher remembers about entries (their last fingerprints) and secrets (data digests) outlives a term, so a new
 *   term adds no history for unchanged entries.
 * - Every served entry seen for the first time gets its workflow ensured (`USE_EXISTING` start: no history for a
 *   running workflow, a new run for a closed one) or, when Gardener's CREATE predicate says it needs a pass, a
 *   `reconcile` signal-with-start. Afterwards only meaningful changes are signalled (intent.ts): resyncs, status
 *   writes and finalizer edits add no history.
 * - A provider secret whose data changes gets every entry that references it (and is not being deleted) signalled
 *   with reason `secret-rotation`; on first sight of a secret, settled entries have their etcd-backup secret compared
 *   with it, so a rotation while no watcher ran is not missed either (entry-decisions.ts).
 * - `/metrics`, `/healthz` and `/readyz` on `BEL_WATCHER_HTTP_PORT`.
 *
 * Run: `node dist/starter/watcher.js` (configuration: README). Tests and the dev stack call `startWatcher`
 * (start-watcher.ts).
 */
import { Client, Connection } from '@temporalio/client';
import type { Logger } from 'pino';
import { type AppConfig, loadConfig } from '../config';
import { createLogger } from '../config/logger';
import { backoffDelay } from '../domain';
import { sleepUnlessAborted } from '../adapters/abortable-sleep';
import { describeError } from '../adapters/kubernetes/list-watch';
import { loadDefaultKubeConfig } from '../adapters/kubernetes/watcher-kube';
import { startWatcher, type WatcherHandle } from './start-watcher';

/** Connects to Temporal, retrying every 1, 2, 4 … 30 s until it answers; undefined when `abort` ends the wait. */
async function connectWithRetry(config: AppConfig, log: Logger, abort: AbortSignal): Promise<Connection | undefined> {
  for (let attempt = 1; !abort.aborted; attempt++) {
    try {
      return await Connection.connect(config.temporal.connect.connectionOptions);
    } catch (err) {
      const delay = backoffDelay(attempt, { initialMs: 1000, maxMs: 30_000 });
      log.warn(
        { temporal: config.temporal.address, error: describeError(err), retryInMs: delay },
        'Temporal is not reachable yet',
      );
      await sleepUnlessAborted(delay, abort);
    }
  }
  return undefined;
}

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, 'watcher');
  for (const warning of config.warnings) logger.warn(warning);
  const kc = loadDefaultKubeConfig();
  const abort = new AbortController();
  let watcher: WatcherHandle | undefined;
  const onSignal = (sig: string): void => {
    logger.info({ signal: sig }, 'Stopping');
    abort.abort();
    void watcher?.stop();
  };
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  const connection = await connectWithRetry(config, logger, abort.signal);
  if (!connection) return;
  try {
    const client = new Client({ connection, namespace: config.temporal.namespace });
    watcher = await startWatcher({ config, kubeConfig: kc, client, logger, defaultMetrics: true });
    if (abort.signal.aborted) await watcher.stop();
    await new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve(), { once: true }));
    await watcher.stop();
  } finally {
    await connection.close();
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`watcher failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}

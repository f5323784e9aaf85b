/**
 * The deletion benchmark's `ours` deleter (tools/bench/deleters.ts): the product's `deleteBackups` activity as the worker
 * builds it (storage activities over the worker's providers and metrics sink, configured through `loadConfig`), run in
 * the SDK's activity wrapper (`MockActivityEnvironment` wraps the worker's own `Activity` class). A module of its own
 * so the other deleters' processes do not load the worker's modules.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { createStorageActivities } from '../../activities/storage-activities';
import type { DeletionReceipt } from '../../activities/storage-port';
import { loadConfig } from '../../config';
import { createProviders } from '../../worker/main';
import { createWorkerMetrics } from '../../worker/worker-metrics';
import { BENCH_CREDENTIALS, type DeletionJob } from './deleters';

/**
 * Builds the product's `deleteBackups` activity for `job.prefix` (`<entry>/`) as the worker builds it; the returned
 * function runs it in the SDK's activity wrapper and returns the receipt's deleted-object count.
 */
export function prepareDeleteBackupsActivity(job: DeletionJob): () => Promise<number> {
  const entry = job.prefix.replace(/\/$/, '');
  const config = loadConfig({
    BEL_PROVIDER_TYPES: 'gcp',
    GCS_API_ENDPOINT: job.endpoint,
    BEL_GCS_MAX_WRITES_PER_SECOND: String(job.capPerSecond),
    BEL_LOG_LEVEL: 'warn',
  });
  const metrics = createWorkerMetrics(() => 'RUNNING');
  const activities = createStorageActivities({
    readEntry: async (name) => {
      if (name !== entry) throw new Error(`unexpected entry ${name}`);
      return { type: 'gcp', bucketName: job.bucket, secretData: BENCH_CREDENTIALS };
    },
    providers: createProviders(config, metrics.sink),
    metrics: metrics.sink,
  });
  const env = new MockActivityEnvironment({ activityType: 'deleteBackups', heartbeatTimeoutMs: 20_000 });
  return async () => {
    const receipt = (await env.run(activities.deleteBackups, entry)) as DeletionReceipt;
    if (receipt.remainingObjects !== 0) throw new Error(`deleteBackups left ${receipt.remainingObjects} object(s)`);
    return receipt.deletedObjects;
  };
}

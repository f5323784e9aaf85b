import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { type ActivityMetricsSink, countFailures } from '../../../activities/metrics';
import { createStorageActivities, type DeletionHeartbeat } from '../../../activities/storage-activities';
import type { DeletionReceipt, StorageProvider } from '../../../activities/storage-port';
import { createLocalProvider } from '../../../adapters/storage/local-provider';
import { ConfigError, loadConfig } from '../../../config';
import { createWorkerMetrics } from '../../../worker/worker-metrics';
import { metricValue as value } from '../../support/metric-value';

const ENTRY = 'shoot--dev--demo--3f1c6a7e-2b4d-4c8e-9a0b-1234567890ab';
const mockEnv = (info?: ConstructorParameters<typeof MockActivityEnvironment>[0]): MockActivityEnvironment =>
  new MockActivityEnvironment(info, { logger: new DefaultLogger('ERROR') });

describe('worker metrics', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'bel-wm-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('counts deleted objects and bytes once across a cancelled and a resumed attempt', async () => {
    for (let i = 0; i < 40; i++) {
      const file = join(root, 'b', ENTRY, 'etcd-main', 'v2', `Incr-${String(i).padStart(8, '0')}.gz`);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, 'x'.repeat(10));
    }
    const m = createWorkerMetrics(() => 'RUNNING');
    const activities = createStorageActivities({
      readEntry: async () => ({ type: 'local', bucketName: 'b', secretData: {} }),
      providers: new Map<string, StorageProvider>([['local', createLocalProvider({ rootDir: root })]]),
      heartbeatIntervalMs: 0,
      metrics: m.sink,
    });
    const env = mockEnv();
    let last: DeletionHeartbeat | undefined;
    env.on('heartbeat', (d: DeletionHeartbeat) => {
      last = d;
      if (d.deletedObjects === 12) env.cancel();
    });
    await expect(env.run(activities.deleteBackups, ENTRY)).rejects.toBeInstanceOf(CancelledFailure);
    const mid = await m.registry.metrics();
    expect(value(mid, 'bel_worker_deleted_objects_total', { provider: 'local' })).toBe(12);
    const receipt = (await mockEnv({ heartbeatDetails: last, attempt: 2 }).run(
      activities.deleteBackups,
      ENTRY,
    )) as DeletionReceipt;
    expect(receipt.deletedObjects).toBe(40);
    const text = await m.registry.metrics();
    expect(value(text, 'bel_worker_deleted_objects_total', { provider: 'local' })).toBe(40);
    expect(value(text, 'bel_worker_deleted_bytes_total', { provider: 'local' })).toBe(400);
    expect(value(text, 'bel_worker_locked_objects_total')).toBe(0);
    expect(value(text, 'bel_worker_state', { state: 'RUNNING' })).toBe(1);
    expect(value(text, 'bel_worker_state', { state: 'DRAINING' })).toBe(0);
  });

  it('counts failures by activity and Gardener code, not cancellations, and rethrows them unchanged', async () => {
    const failed: Array<[string, string]> = [];
    const sink: ActivityMetricsSink = {
      deleted: () => undefined,
      locked: () => undefined,
      failed: (a, c) => failed.push([a, c]),
    };
    const boom = ApplicationFailure.create({ message: 'no', type: 'ERR_INFRA_UNAUTHORIZED', nonRetryable: true });
    const acts = countFailures(
      {
        ok: async (x: number) => x + 1,
        fails: async () => {
          throw boom;
        },
        cancelled: async () => {
          throw new CancelledFailure('stop');
        },
        plain: async () => {
          throw new Error('what');
        },
      },
      sink,
    );
    await expect(acts.ok(1)).resolves.toBe(2);
    await expect(acts.fails()).rejects.toBe(boom);
    await expect(acts.cancelled()).rejects.toBeInstanceOf(CancelledFailure);
    await expect(acts.plain()).rejects.toThrow('what');
    expect(failed).toEqual([
      ['fails', 'ERR_INFRA_UNAUTHORIZED'],
      ['plain', 'unknown'],
    ]);
  });
});

describe('worker configuration', () => {
  const base = { BEL_PROVIDER_TYPES: 'gcp' };

  it('has production defaults', () => {
    const w = loadConfig(base).worker;
    expect(w).toMatchObject({
      maxCachedWorkflows: 500,
      shutdownGraceMs: 30_000,
      maxConcurrentActivityTaskExecutions: 50,
      maxConcurrentWorkflowTaskExecutions: 40,
      httpPort: 8080,
      sdkMetrics: { host: '127.0.0.1', port: 9464 },
    });
    expect(w.workflowBundlePath).toBeUndefined();
  });

  it('reads every worker option', () => {
    const w = loadConfig({
      ...base,
      BEL_MAX_CACHED_WORKFLOWS: '20',
      BEL_SHUTDOWN_GRACE: '2m',
      BEL_WORKFLOW_BUNDLE: '/app/b.js',
      BEL_MAX_CONCURRENT_ACTIVITY_TASKS: '7',
      BEL_MAX_CONCURRENT_WORKFLOW_TASKS: '3',
      BEL_WORKER_HTTP_PORT: '0',
      BEL_WORKER_SDK_METRICS_ADDRESS: '0.0.0.0:0',
      BEL_WORKER_ROLES: 'storage',
    }).worker;
    expect(w).toEqual({
      roles: { workflows: false, storage: true },
      maxCachedWorkflows: 20,
      shutdownGraceMs: 120_000,
      workflowBundlePath: '/app/b.js',
      maxConcurrentActivityTaskExecutions: 7,
      maxConcurrentWorkflowTaskExecutions: 3,
      httpPort: 0,
      sdkMetrics: { host: '0.0.0.0', port: 0 },
    });
    expect(loadConfig({ ...base, BEL_WORKER_SDK_METRICS_ADDRESS: 'off' }).worker.sdkMetrics).toBeUndefined();
    expect(loadConfig({ ...base, BEL_WORKER_SDK_METRICS_ADDRESS: '[::]:9464' }).worker.sdkMetrics).toEqual({
      host: '[::]',
      port: 9464,
    });
  });

  it('names each bad worker option', () => {
    expect(() =>
      loadConfig({
        ...base,
        BEL_WORKER_SDK_METRICS_ADDRESS: '9464',
        BEL_MAX_CONCURRENT_ACTIVITY_TASKS: '0',
        BEL_WORKER_HTTP_PORT: '70000',
      }),
    ).toThrow(ConfigError);
    try {
      loadConfig({
        ...base,
        BEL_WORKER_SDK_METRICS_ADDRESS: '9464',
        BEL_MAX_CONCURRENT_ACTIVITY_TASKS: '0',
        BEL_WORKER_HTTP_PORT: '70000',
      });
    } catch (e) {
      const msg = (e as Error).message;
      for (const v of ['BEL_WORKER_SDK_METRICS_ADDRESS', 'BEL_MAX_CONCURRENT_ACTIVITY_TASKS', 'BEL_WORKER_HTTP_PORT'])
        expect(msg).toContain(v);
    }
  });
});

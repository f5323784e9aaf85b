import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { Storage } from '@google-cloud/storage';
import { freePort } from '../../../tools/stack';
import { BACKUPENTRY_API } from '../../../domain';
import { stackEnv } from '../../support/env';
import { startWorkerProcess, type WorkerProcess } from '../../support/worker-process';
import { G, Harness, metricValue } from '../watcher/watcher-harness';

/**
 * The worker as it runs in production: `worker/main.js` as its own process with a prebuilt bundle, driven by a
 * watcher. Its endpoint serves liveness, readiness (Temporal reachable + worker RUNNING) and one `/metrics` with our
 * counters followed by the Temporal runtime's Prometheus exporter; SIGTERM stops it gracefully.
 */
describe('worker process: endpoint, metrics, graceful stop', () => {
  const h = new Harness({ worker: false, env: { BEL_PROVIDER_TYPES: 'local,gcp' } });
  let worker: WorkerProcess;
  let second: WorkerProcess | undefined;
  let port: number;
  let sdkPort: number;
  const GRACE_MS = 2000;
  const get = async (path: string, p = port): Promise<{ status: number; text: string }> => {
    const res = await fetch(`http://127.0.0.1:${p}${path}`, { signal: AbortSignal.timeout(10_000) });
    return { status: res.status, text: await res.text() };
  };
  /** Starts `worker/main.js` for this suite's queue (local + gcp on fake-gcs-server, 4 GCS deletes per second). */
  const startWorker = async (name: string, httpPort: number, metricsPort: number): Promise<WorkerProcess> =>
    startWorkerProcess({
      logFile: join(h.root, `${name}.log`),
      env: {
        BACKUP_LOCAL_DIR: h.root,
        BEL_TASK_QUEUE: h.config.taskQueue,
        BEL_CLUSTER_IDENTITY: h.config.clusterIdentity,
        BEL_PROVIDER_TYPES: 'local,gcp',
        GCS_API_ENDPOINT: stackEnv('GCS_API_ENDPOINT'),
        BEL_GCS_MAX_WRITES_PER_SECOND: '4',
        BEL_LOG_LEVEL: 'info',
        BEL_WORKER_HTTP_PORT: String(httpPort),
        BEL_WORKER_SDK_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
        BEL_SHUTDOWN_GRACE: `${GRACE_MS}ms`,
        BEL_MAX_CONCURRENT_ACTIVITY_TASKS: '7',
        BEL_MAX_CONCURRENT_WORKFLOW_TASKS: '5',
        BEL_MAX_CACHED_WORKFLOWS: '50',
      },
    });

  beforeAll(async () => {
    await h.setup();
    [port, sdkPort] = [await freePort(), await freePort()];
    worker = await startWorker('worker-a', port, sdkPort);
  });

  afterAll(async () => {
    await worker?.kill();
    await second?.kill();
    await h.teardown();
  });

  it('is live and ready, and logs its slot and cache settings', async () => {
    expect(await get('/healthz')).toEqual({ status: 200, text: 'ok\n' });
    await h.until(async () => (await get('/readyz')).status === 200, '/readyz 200', 30_000);
    const start = worker.lines().find((l) => l.msg === 'Starting worker');
    expect(start).toMatchObject({
      activitySlots: 7,
      workflowTaskSlots: 5,
      maxCachedWorkflows: 50,
      sdkMetrics: `127.0.0.1:${sdkPort}`,
    });
    expect(String(start?.bundle)).toMatch(/workflow-bundle\.js$/);
    expect((await get('/nope')).status).toBe(404);
  });

  it('counts deletions and failures by Gardener code; /metrics also carries the SDK metrics', async () => {
    await h.leader({ httpPort: false });
    const e = await h.createEntry();
    const files = [h.putObject(e.name, 'etcd-main/v2/Full-1.gz'), h.putObject(e.name, 'etcd-main/v2/Incr-2.gz')];
    expect(files).toHaveLength(2);
    await h.untilSucceeded(e.name);
    await h.annotate(e.name, { 'backupentry.extensions.gardener.cloud/retention-period': '0s' });
    await h.deleteEntry(e.name);
    await h.untilGone(e.name);
    // An entry whose provider secret does not exist: its reconcile step fails with a configuration problem.
    const broken = h.newName();
    await h.core.createNamespace({ body: { metadata: { name: broken.ns } } });
    await h.custom.createClusterCustomObject({
      ...G,
      body: {
        apiVersion: BACKUPENTRY_API.apiVersion,
        kind: BACKUPENTRY_API.kind,
        metadata: { name: broken.name },
        spec: {
          type: 'local',
          class: h.cls,
          region: 'local',
          bucketName: 'bucket-w',
          secretRef: { name: 'no-such-secret', namespace: 'garden' },
        },
      },
    });
    const text = await h.until(
      async () => {
        const t = (await get('/metrics')).text;
        return metricValue(t, 'bel_worker_activity_failures_total', {
          activity: 'observeAndReconcile',
          code: 'ERR_CONFIGURATION_PROBLEM',
        }) > 0
          ? t
          : undefined;
      },
      'a counted observeAndReconcile failure',
      60_000,
    );
    expect(metricValue(text, 'bel_worker_deleted_objects_total', { provider: 'local' })).toBe(2);
    expect(metricValue(text, 'bel_worker_deleted_bytes_total', { provider: 'local' })).toBe(128);
    expect(metricValue(text, 'bel_worker_state', { state: 'RUNNING' })).toBe(1);
    expect(text).toMatch(/^process_cpu_seconds_total /m);
    // The Temporal runtime's exporter, appended: worker task slots and poll metrics with the task queue label.
    expect(text).toMatch(/^temporal_\w+\{[^}]*task_queue="[^"]+"[^}]*\} \S+$/m);
    expect(text).toContain(h.config.taskQueue);
    await h.client.workflow
      .getHandle(h.workflowId(broken.name))
      .terminate('test done')
      .catch(() => undefined);
  });

  it('SIGTERM during a deletion: stops within the grace time, and the next worker resumes from the checkpoint', async () => {
    // A gcp entry whose 40 objects take about 10 s to delete at 4 deletes per second.
    delete process.env.STORAGE_EMULATOR_HOST;
    const storage = new Storage({ apiEndpoint: stackEnv('GCS_API_ENDPOINT'), projectId: 'test' });
    const [bucket] = await storage.createBucket(`bel-wp-${h.suffix}`);
    const { name, ns } = h.newName();
    const keys = Array.from(
      { length: 40 },
      (_, i) => `${name}/etcd-main/v2/Incr-${String(i).padStart(8, '0')}-1755684300.gz`,
    );
    for (const k of keys) await bucket.file(k).save(Buffer.from(`data of ${k}`), { resumable: false });
    const { privateKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const sa = {
      type: 'service_account',
      project_id: 'test',
      private_key_id: 'f00d',
      private_key: privateKey,
      client_email: 'backup@test.iam.gserviceaccount.com',
      client_id: '1',
      token_uri: 'https://oauth2.googleapis.com/token',
    };
    await h.core.createNamespace({ body: { metadata: { name: ns } } });
    await h.core.createNamespacedSecret({
      namespace: 'garden',
      body: { metadata: { name: `entry-${name}` }, stringData: { 'serviceaccount.json': JSON.stringify(sa) } },
    });
    await h.custom.createClusterCustomObject({
      ...G,
      body: {
        apiVersion: BACKUPENTRY_API.apiVersion,
        kind: BACKUPENTRY_API.kind,
        metadata: { name, annotations: { 'backupentry.extensions.gardener.cloud/retention-period': '0s' } },
        spec: {
          type: 'gcp',
          class: h.cls,
          region: 'europe-west1',
          bucketName: bucket.name,
          secretRef: { name: `entry-${name}`, namespace: 'garden' },
        },
      },
    });
    await h.untilSucceeded(name);
    await h.deleteEntry(name);
    const left = async (): Promise<number> => (await bucket.getFiles({ prefix: `${name}/` }))[0].length;
    await h.until(async () => (await left()) <= 34, 'the deletion under way', 60_000, 100);

    const t0 = Date.now();
    await worker.stop(30_000);
    const stoppedAfterMs = Date.now() - t0;
    expect(worker.proc.exited).toEqual({ code: 0, signal: null });
    // Stop polling, GRACE_MS for the running deletion, then its cancellation and the process exit.
    expect(stoppedAfterMs).toBeGreaterThanOrEqual(GRACE_MS - 200);
    expect(stoppedAfterMs).toBeLessThan(GRACE_MS + 10_000);
    const msgs = worker.lines().map((l) => l.msg);
    expect(msgs).toContain('Stopping: no new tasks; activities get the grace time');
    expect(msgs.at(-1)).toBe('Worker stopped');
    const remaining = await left();
    expect(remaining).toBeGreaterThan(0); // the deletion was interrupted, not finished in the grace time

    second = await startWorker('worker-b', await freePort(), await freePort());
    const secondPort = Number(second.lines().find((l) => l.msg === 'Serving /metrics, /healthz and /readyz')?.port);
    await h.untilGone(name, 90_000);
    expect(await left()).toBe(0);
    // Worker B resumed from A's last heartbeat: it deleted what was left, not all 40 again.
    const text = (await get('/metrics', secondPort)).text;
    const deletedByB = metricValue(text, 'bel_worker_deleted_objects_total', { provider: 'gcp' });
    expect(deletedByB).toBeGreaterThan(0);
    expect(deletedByB).toBeLessThanOrEqual(remaining);
    await second.stop(30_000);
    expect(second.proc.exited).toEqual({ code: 0, signal: null });
  });
});

/**
 * Storage faults (docs/reliability.md, cases F1–F8): whole lifecycles of `gcp` entries on the real worker and
 * kube-apiserver, with a fault-injecting proxy between the worker and fake-gcs-server producing what the emulator
 * cannot: 429/503 bursts, 403 forbidden (delete and list), 403 retention, 412, connection resets and responses slower
 * than the heartbeat timeout. Cases run concurrently on separate buckets; rules and measurements are per bucket.
 */
import type { Bucket } from '@google-cloud/storage';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { createActivities } from '../../../activities';
import { createKubeGateway } from '../../../adapters/kubernetes/kube-client';
import { loadConfig } from '../../../config';
import { createProviders, runWorker } from '../../../worker/main';
import { reconcileSignal } from '../../../workflows/messages';
import { faults, on, startFaultProxy, type FaultProxy } from '../../support/fault-proxy';
import { stackEnv } from '../../support/env';
import { prepareWorkerBuild } from '../../support/worker-process';
import {
  ANN,
  FINALIZER,
  Kube,
  createGcsBucket,
  entryName,
  gcsClient,
  listGcs,
  pollFor,
  putGcs,
  recordResult,
  serviceAccount,
  short,
  startEntryWorkflow,
  statusUntil,
  temporalClient,
} from '../harness';

const kube = new Kube();
const storage = gcsClient();
const SA = serviceAccount();
const taskQueue = `rel-faults-${short()}`;
const cluster = `rel-faults-${short()}`;
let proxy: FaultProxy;
let client: Client;
let stopWorkers!: () => void;
let workersDone: Promise<unknown>;
const cleanups: Array<() => Promise<unknown>> = [];

/** Registers the storage-fault tests (hooks and concurrent tests) in the calling test file. */
export function storageFaultTests(): void {
  beforeAll(async () => {
    const build = await prepareWorkerBuild();
    proxy = await startFaultProxy(stackEnv('GCS_API_ENDPOINT'));
    const config = loadConfig({
      ...process.env,
      BEL_TASK_QUEUE: taskQueue,
      BEL_CLUSTER_IDENTITY: cluster,
      BEL_PROVIDER_TYPES: 'gcp',
      GCS_API_ENDPOINT: proxy.endpoint,
      BEL_WORKFLOW_BUNDLE: build.bundle,
    });
    const stop = new Promise<void>((r) => (stopWorkers = r));
    // The product worker, and a second worker that runs deleteBackups under a 4 s heartbeat timeout (fixture workflow).
    const connection = await NativeConnection.connect({ address: stackEnv('TEMPORAL_ADDRESS') });
    const shortHb = await Worker.create({
      connection,
      taskQueue: `${taskQueue}-hb`,
      workflowsPath: require.resolve('../fixtures/short-heartbeat-workflow'),
      activities: createActivities({ kube: createKubeGateway(kube.kc), providers: createProviders(config) }),
      maxHeartbeatThrottleInterval: '1s',
    });
    void stop.then(() => shortHb.shutdown());
    workersDone = Promise.all([
      runWorker({ config, kubeConfig: kube.kc, stop }),
      shortHb.run().finally(() => connection.close()),
    ]);
    client = await temporalClient();
    await kube.ensureNamespace('garden');
  }, 300_000);

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    stopWorkers?.();
    await workersDone;
    await client?.connection.close();
    await proxy?.stop();
  });

  interface GcpEntry {
    name: string;
    bucket: Bucket;
    own: string[];
    siblings: string[];
    h: Awaited<ReturnType<typeof startEntryWorkflow>>;
  }

  /** A Ready `gcp` entry whose bucket holds `n` objects under its prefix and 4 siblings that must survive. */
  async function readyEntry(label: string, n: number, opts: { workflow?: boolean } = {}): Promise<GcpEntry> {
    const bucket = await createGcsBucket(storage, `rel-${label}-${short()}`);
    const e = entryName(label);
    await kube.ensureNamespace(e.ns);
    await kube.createSecret('garden', `entry-${e.name}`, { 'serviceaccount.json': SA.json });
    await kube.createEntry(e.name, {
      type: 'gcp',
      region: 'r',
      bucketName: bucket.name,
      secretRef: { name: `entry-${e.name}`, namespace: 'garden' },
    });
    cleanups.push(() => kube.forceRemove(e.name));
    const own = Array.from({ length: n }, (_, i) => `${e.name}/etcd-main/v2/Incr-${String(i).padStart(6, '0')}.gz`);
    const siblings = [
      `${e.name}2/etcd-main/v2/Full-1.gz`,
      `${e.name}-x/etcd-main/v2/Full-1.gz`,
      `${e.name}.old`,
      e.name,
    ].sort();
    await putGcs(bucket, [...own, ...siblings]);
    if (opts.workflow === false) return { name: e.name, bucket, own, siblings, h: undefined as never };
    const h = await startEntryWorkflow(client, taskQueue, cluster, e.name);
    cleanups.push(() => h.terminate('suite finished').catch(() => undefined));
    await statusUntil(h, (v) => v.phase === 'Ready', `${label} Ready`);
    return { name: e.name, bucket, own, siblings, h };
  }

  /** Retention 0s, delete, tell the workflow. */
  async function deleteNow(e: GcpEntry): Promise<void> {
    await kube.annotate(e.name, { [ANN.retention]: '0s' });
    await kube.deleteEntry(e.name);
    await e.h.signal(reconcileSignal, { reason: 'deletion' });
  }

  /** Attempt numbers of every started activity of type `type` in the workflow's history. */
  async function activityAttempts(h: GcpEntry['h'], type: string): Promise<number[]> {
    const events = (await h.fetchHistory()).events ?? [];
    const typeOf = new Map(
      events
        .filter((x) => x.activityTaskScheduledEventAttributes)
        .map((x) => [String(x.eventId), x.activityTaskScheduledEventAttributes!.activityType?.name]),
    );
    return events
      .filter(
        (x) =>
          x.activityTaskStartedEventAttributes &&
          typeOf.get(String(x.activityTaskStartedEventAttributes.scheduledEventId)) === type,
      )
      .map((x) => Number(x.activityTaskStartedEventAttributes!.attempt));
  }

  const maxInflight = (bucket: string, from: number, to: number): number =>
    Math.max(
      0,
      ...proxy.deleteSamples.filter((s) => s.bucket === bucket && s.t >= from && s.t <= to).map((s) => s.inflight),
    );

  it.concurrent.each([
    ['F1', 429, faults.status429],
    ['F2', 503, faults.status503],
  ] as const)(
    '%s: a burst of %i is retried, the concurrency window backs off, and the deletion completes',
    async (id, status, action) => {
      const e = await readyEntry(`burst${status}`, 800);
      // 40 ms per delete, so the number of deletes in flight is set by the worker's adaptive window.
      proxy.add({ match: on.deletes(e.bucket.name), action: { kind: 'delay', ms: 40 } });
      await deleteNow(e);
      await pollFor(
        () => (proxy.deletes.filter((d) => d.bucket === e.bucket.name).length >= 300 ? true : undefined),
        'deletion under way',
        60_000,
        10,
      );
      const tBurst = Date.now();
      const burst = proxy.add({ match: on.deletes(e.bucket.name), action, times: 120 });
      await pollFor(() => (burst.times === 0 ? true : undefined), 'burst over', 60_000, 10);
      const tEnd = burst.lastFiredAt!;
      const result = await e.h.result();
      expect(result).toMatchObject({ outcome: 'deleted', deletion: { deletedObjects: 800, remainingObjects: 0 } });
      expect(await listGcs(e.bucket)).toEqual(e.siblings);
      const entry = await kube.getEntry(e.name);
      expect(entry).toBeUndefined(); // finalizer released, entry gone
      const before = maxInflight(e.bucket.name, tBurst - 1000, tBurst);
      const after = maxInflight(e.bucket.name, tEnd, tEnd + 400);
      expect(before).toBeGreaterThan(4);
      expect(after).toBeLessThan(before);
      recordResult(`${id} burst of ${status}`, {
        injected: burst.fired,
        inflightBefore: before,
        inflightAfterBurst: after,
        maxInflight: maxInflight(e.bucket.name, 0, Date.now()),
        receipt: result.deletion,
      });
    },
    180_000,
  );

  it.concurrent(
    'F3: 403 forbidden on delete: ERR_INFRA_UNAUTHORIZED in the entry status, no activity retry, nothing touched; resumes once fixed',
    async () => {
      const e = await readyEntry('forbid', 50);
      const rule = proxy.add({ match: on.deletes(e.bucket.name), action: faults.forbidden });
      await deleteNow(e);
      const failed = await kube.untilErrorStatus(e.name);
      expect(failed!.status!.lastError!.codes).toEqual(['ERR_INFRA_UNAUTHORIZED']);
      expect(failed!.status!.lastError!.description).toMatch(
        /permission denied \(HTTP 403: .*does not have storage\.objects\.delete access/,
      );
      expect(failed!.status!.lastOperation).toMatchObject({ type: 'Delete', state: 'Error' });
      expect(failed!.metadata.finalizers).toContain(FINALIZER);
      await statusUntil(
        e.h,
        (v) => (v.lastError?.codes ?? []).includes('ERR_INFRA_UNAUTHORIZED'),
        'lastError in the workflow',
      );
      const firstSeen = rule.fired!;
      // Nothing was deleted or patched; each workflow pass tried exactly one delete request (no activity retries).
      expect(await listGcs(e.bucket)).toEqual([...e.own, ...e.siblings].sort());
      expect(proxy.seen.filter((r) => r.bucket === e.bucket.name && r.method === 'PATCH')).toEqual([]);
      const attempts = await activityAttempts(e.h, 'deleteBackups');
      expect(attempts.length).toBeGreaterThan(0);
      expect(attempts.every((a) => a === 1)).toBe(true);
      // Fixed: the next workflow retry deletes everything.
      proxy.rules.splice(proxy.rules.indexOf(rule), 1);
      const result = await e.h.result();
      expect(result).toMatchObject({ outcome: 'deleted', deletion: { remainingObjects: 0 } });
      expect(await listGcs(e.bucket)).toEqual(e.siblings);
      recordResult('F3 403 forbidden on delete', {
        forbiddenResponses: rule.fired,
        firstErrorAfterResponses: firstSeen,
        passesBeforeFix: attempts.length,
        lastError: failed!.status!.lastError,
      });
    },
    180_000,
  );

  // The inventory at retention start is best effort (a failure there must not block keep-backups or cancel-cleanup), so
  // the 403 surfaces from the deletion's own listing.
  it.concurrent(
    'F4: 403 forbidden on listing: ERR_INFRA_UNAUTHORIZED, nothing deleted; resumes once fixed',
    async () => {
      const e = await readyEntry('forbidlist', 20);
      const rule = proxy.add({ match: on.lists(e.bucket.name), action: faults.forbiddenList });
      await deleteNow(e);
      const failed = await kube.untilErrorStatus(e.name);
      expect(failed!.status!.lastError!.codes).toEqual(['ERR_INFRA_UNAUTHORIZED']);
      expect(failed!.status!.lastError!.description).toMatch(
        /^Error deleting BackupEntry: deleting backups of .*: listing bucket .*permission denied/,
      );
      expect(failed!.status!.lastOperation).toMatchObject({ type: 'Delete', state: 'Error' });
      expect(await listGcs(e.bucket)).toEqual([...e.own, ...e.siblings].sort());
      proxy.rules.splice(proxy.rules.indexOf(rule), 1);
      expect(await e.h.result()).toMatchObject({
        outcome: 'deleted',
        deletion: { deletedObjects: 20, remainingObjects: 0 },
      });
      expect(await listGcs(e.bucket)).toEqual(e.siblings);
      recordResult('F4 403 forbidden on listing', {
        forbiddenResponses: rule.fired,
        lastError: failed!.status!.lastError,
      });
    },
    180_000,
  );

  it.concurrent(
    'F5: 403 retention — objects under retention are marked (customTime) and reported as locked, not as failures',
    async () => {
      const e = await readyEntry('retention', 60);
      const listedLocked = new Set(e.own.slice(0, 5)); // the listing shows their retention period
      const deleteLocked = new Set(e.own.slice(10, 15)); // only the DELETE answer reveals it (policy set after the listing)
      const revealed = new Set<string>();
      const until = '2099-01-01T00:00:00Z';
      proxy.rewriteListItem = (item) => {
        const n = String(item.name);
        return listedLocked.has(n) || revealed.has(n) ? { ...item, retentionExpirationTime: until } : item;
      };
      proxy.add({
        match: (r) => {
          if (!on.deletes(e.bucket.name, (n) => listedLocked.has(n) || deleteLocked.has(n))(r)) return false;
          revealed.add(r.object!); // from now on the listing shows the retention period too, as GCS would
          return true;
        },
        action: faults.retention('x'),
      });
      await deleteNow(e);
      const result = await e.h.result();
      expect(result).toMatchObject({
        outcome: 'deleted',
        deletion: { deletedObjects: 50, lockedObjects: 10, remainingObjects: 10, rewrittenObjects: 0 },
      });
      // Only the listed-as-locked objects were never sent a DELETE.
      const deleted = new Set(
        proxy.seen.filter((r) => r.bucket === e.bucket.name && r.method === 'DELETE').map((r) => r.object),
      );
      for (const n of listedLocked) expect(deleted.has(n)).toBe(false);
      for (const n of deleteLocked) expect(deleted.has(n)).toBe(true);
      const left = await listGcs(e.bucket);
      expect(left).toEqual([...listedLocked, ...deleteLocked, ...e.siblings].sort());
      for (const n of [...listedLocked, ...deleteLocked]) {
        const [md] = await e.bucket.file(n).getMetadata();
        expect(typeof md.customTime).toBe('string');
      }
      recordResult('F5 403 retention', { receipt: result.deletion });
    },
    180_000,
  );

  it.concurrent(
    'F6: 412 — objects rewritten after listing are left alone and reported',
    async () => {
      const e = await readyEntry('precond', 40);
      const rewritten = new Set(e.own.slice(3, 6));
      proxy.add({ match: on.deletes(e.bucket.name, (n) => rewritten.has(n)), action: faults.precondition });
      await deleteNow(e);
      const result = await e.h.result();
      expect(result).toMatchObject({
        outcome: 'deleted',
        deletion: { deletedObjects: 37, rewrittenObjects: 3, remainingObjects: 3, lockedObjects: 0 },
      });
      expect(await listGcs(e.bucket)).toEqual([...rewritten, ...e.siblings].sort());
      recordResult('F6 412 precondition failed', { receipt: result.deletion });
    },
    180_000,
  );

  it.concurrent(
    'F7: connection resets before and after forwarding are retried; the deletion completes exactly',
    async () => {
      const e = await readyEntry('reset', 400);
      let i = 0;
      const before = proxy.add({
        match: (r) => on.bucket(e.bucket.name)(r) && (r.list || r.method === 'DELETE') && ++i % 9 === 0,
        action: { kind: 'reset-before' },
      });
      let j = 0;
      const after = proxy.add({
        match: (r) => on.deletes(e.bucket.name)(r) && ++j % 13 === 0,
        action: { kind: 'reset-after' },
      });
      await deleteNow(e);
      const result = await e.h.result();
      expect(result).toMatchObject({ outcome: 'deleted', deletion: { deletedObjects: 400, remainingObjects: 0 } });
      expect(await listGcs(e.bucket)).toEqual(e.siblings);
      expect(before.fired).toBeGreaterThan(10);
      expect(after.fired).toBeGreaterThan(10);
      recordResult('F7 connection resets', {
        resetBefore: before.fired,
        resetAfter: after.fired,
        receipt: result.deletion,
      });
    },
    180_000,
  );

  it.concurrent(
    'F8: responses slower than the heartbeat timeout — the attempt times out, a new one resumes, the deletion completes',
    async () => {
      const e = await readyEntry('slow', 300, { workflow: false });
      // Only a BackupEntry being deleted may lose its backups (the deletion guard): held by a test finalizer meanwhile.
      await kube.custom.patchClusterCustomObject(
        {
          group: 'extensions.gardener.cloud',
          version: 'v1alpha1',
          plural: 'backupentries',
          name: e.name,
          body: { metadata: { finalizers: ['test.backupentry-lifecycle/hold'] } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      await kube.deleteEntry(e.name);
      // The first 24 deletes take 7 s each (heartbeat timeout 4 s): the first attempts stall and time out.
      const slow = proxy.add({ match: on.deletes(e.bucket.name), action: { kind: 'delay', ms: 7000 }, times: 24 });
      const h = await client.workflow.start('shortHeartbeatDeletion', {
        taskQueue: `${taskQueue}-hb`,
        workflowId: `rel-slow-${short()}`,
        args: [e.name],
      });
      cleanups.push(() => h.terminate('suite finished').catch(() => undefined));
      const receipt = await h.result();
      expect(receipt).toMatchObject({ remainingObjects: 0 });
      expect(await listGcs(e.bucket)).toEqual(e.siblings);
      const events = (await h.fetchHistory()).events ?? [];
      const started = events
        .map((x) => x.activityTaskStartedEventAttributes)
        .filter((x) => !!x)
        .at(-1)!;
      expect(Number(started.attempt)).toBeGreaterThanOrEqual(2);
      expect(started.lastFailure?.timeoutFailureInfo?.timeoutType).toBe(4 /* TIMEOUT_TYPE_HEARTBEAT */);
      const notFound = proxy.deletes.filter((d) => d.bucket === e.bucket.name && d.status === 404).length;
      recordResult('F8 responses slower than the heartbeat timeout', {
        slowResponses: slow.fired,
        attempts: Number(started.attempt),
        notFound,
        receipt,
      });
    },
    180_000,
  );
}

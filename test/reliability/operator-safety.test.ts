/**
 * Operator safety (docs/reliability.md, cases O1–O8): what a person can send through the Web UI or
 * `temporal workflow signal`, and decisions that must outlive a workflow run, played against the real stack — a real
 * worker process, the real kube-apiserver, the Temporal dev server and fake-gcs-server.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bucket } from '@google-cloud/storage';
import { WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { backupEntryWorkflow } from '../../workflows/backup-entry-workflow';
import {
  cancelCleanupUpdate,
  expediteUpdate,
  extendRetentionUpdate,
  reconcileSignal,
  statusQuery,
} from '../../workflows/messages';
import { stackEnv } from '../support/env';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';
import {
  ANN,
  Kube,
  createGcsBucket,
  entryName,
  gcsClient,
  listGcs,
  listLocal,
  pollFor,
  putGcs,
  putLocal,
  recordResult,
  serviceAccount,
  short,
  startEntryWorkflow,
  statusUntil,
  temporalClient,
} from './harness';

const DEADLINE_ANN = 'backupentry.extensions.gardener.cloud/deletion-deadline';
const kube = new Kube();
const storage = gcsClient();
const SA = serviceAccount();
const dir = mkdtempSync(join(tmpdir(), 'bel-rel-ops-'));
const localRoot = join(dir, 'local');
const taskQueue = `rel-ops-${short()}`;
const cluster = `rel-ops-${short()}`;
let worker: WorkerProcess;
let client: Client;
let gcsBucket: Bucket;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  mkdirSync(join(localRoot, 'bucket-a'), { recursive: true });
  mkdirSync(join(localRoot, 'bucket-b'), { recursive: true });
  gcsBucket = await createGcsBucket(storage, `rel-ops-${short()}`);
  await kube.ensureNamespace('garden');
  // 40 deletes/s on gcp: a deletion of 600 objects takes ~15 s, long enough to be interrupted. The entries are held
  // during retention (hold-entry): these cases play kubectl on the deleted entry; the default release-entry mode keeps
  // its decisions on its retention anchor instead (workflow tier and test/integration/watcher/gardenlet-retention.test.ts).
  worker = await startWorkerProcess({
    env: {
      BEL_RETENTION_MODE: 'hold-entry',
      BEL_TASK_QUEUE: taskQueue,
      BEL_CLUSTER_IDENTITY: cluster,
      BEL_PROVIDER_TYPES: 'gcp,local',
      BACKUP_LOCAL_DIR: localRoot,
      GCS_API_ENDPOINT: stackEnv('GCS_API_ENDPOINT'),
      BEL_GCS_MAX_WRITES_PER_SECOND: '40',
    },
    logFile: join(dir, 'worker.log'),
  });
  client = await temporalClient();
}, 300_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await worker?.stop();
  await client?.connection.close();
});

/** A live entry of `type` with its namespace, provider secret and backups (own prefix and siblings), Ready. */
async function readyEntry(
  label: string,
  type: 'local' | 'gcp',
  bucket: string,
  objects = 3,
): Promise<{
  name: string;
  own: string[];
  siblings: string[];
  h: WorkflowHandle<typeof backupEntryWorkflow>;
}> {
  const e = entryName(label);
  await kube.ensureNamespace(e.ns);
  await kube.createSecret(
    'garden',
    `entry-${e.name}`,
    type === 'gcp' ? { 'serviceaccount.json': SA.json } : { token: 'x' },
  );
  await kube.createEntry(e.name, {
    type,
    region: 'r',
    bucketName: bucket,
    secretRef: { name: `entry-${e.name}`, namespace: 'garden' },
  });
  cleanups.push(() => kube.forceRemove(e.name));
  const own = Array.from({ length: objects }, (_, i) => `${e.name}/etcd-main/v2/Incr-${String(i).padStart(6, '0')}.gz`);
  const siblings = [`${e.name}2/etcd-main/v2/Full-1.gz`, `${e.name}-x/Full-1.gz`];
  if (type === 'local') putLocal(localRoot, bucket, [...own, ...siblings]);
  else await putGcs(gcsBucket, [...own, ...siblings]);
  const h = await startEntryWorkflow(client, taskQueue, cluster, e.name);
  cleanups.push(() => h.terminate('suite finished'));
  await statusUntil(h, (v) => v.phase === 'Ready', 'Ready');
  return { name: e.name, own, siblings, h };
}

/** kubectl delete, as gardenlet does it, and the watcher's signal. */
async function deleteEntry(name: string, h: WorkflowHandle): Promise<void> {
  await kube.deleteEntry(name);
  await h.signal(reconcileSignal, { reason: 'deletion' });
}

async function refusalOf(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof WorkflowUpdateFailedError)) throw new Error(`expected a refused update, got ${String(err)}`);
  return (err.cause as Error | undefined)?.message ?? err.message;
}

/** A signal whose payload the SDK cannot decode, sent as `temporal workflow signal --input-meta` would. */
async function rawSignal(h: WorkflowHandle, signalName: string, encoding: string, data: string): Promise<void> {
  await client.workflowService.signalWorkflowExecution({
    namespace: stackEnv('TEMPORAL_NAMESPACE'),
    workflowExecution: { workflowId: h.workflowId },
    signalName,
    identity: 'rel-ops',
    input: { payloads: [{ metadata: { encoding: Buffer.from(encoding) }, data: Buffer.from(data) }] },
  });
}

const local = (bucket: string): string[] => listLocal(localRoot, bucket);

test('O1/O2: every malformed payload to every handler; the workflow still answers and completes the deletion; text is bounded', async () => {
  const { name, own, siblings, h } = await readyEntry('o1', 'local', 'bucket-a');
  await deleteEntry(name, h);
  await statusUntil(h, (v) => v.phase === 'Retaining', 'Retaining');
  const payloads: unknown[][] = [
    [],
    [null],
    ['text'],
    [7],
    [[1]],
    [new Uint8Array([1, 2, 3])],
    [{}],
    [{ reason: 1 }],
    [{ reason: 'x', by: 2 }],
    [{ reason: 'x', extra: true }],
    [{ reason: 'x', by: 24 }],
    [{ reason: 'x', until: 1 }],
  ];
  const tried: Record<string, string> = {};
  for (const signal of ['reconcile', 'expedite', 'cancelCleanup', 'extendRetention']) {
    for (const args of payloads) await h.signal(signal, ...args);
    await rawSignal(h, signal, 'json/plain', '{not json');
    await rawSignal(h, signal, 'application/x-unknown', 'zz');
  }
  for (const [label, update] of [
    ['expedite', expediteUpdate],
    ['cancelCleanup', cancelCleanupUpdate],
    ['extendRetention', extendRetentionUpdate],
  ] as const) {
    for (const args of payloads) {
      tried[`${label} ${JSON.stringify(args, (_k, v: unknown) => (v instanceof Uint8Array ? 'bytes' : v))}`] =
        await refusalOf(h.executeUpdate(update as typeof expediteUpdate, { args: args as never }));
    }
  }
  // 9999-12-31 would be accepted by nothing: the deadline is bounded to 10 years after the deletion.
  tried['extend until 9999-12-31'] = await refusalOf(
    h.executeUpdate(extendRetentionUpdate, { args: [{ until: '9999-12-31T23:59:59Z', reason: 'forever' }] }),
  );
  expect(tried['extend until 9999-12-31']).toMatch(/at most 87600h after the deletion/);
  // Two 1.5 MiB reasons (each under the server's 2 MiB payload limit) with forged log lines and escapes.
  const huge = `${'ä'.repeat(768 * 1024)}\n2026-11-30T00:00:00Z  expedite by root: ok\u001b[2J`;
  await h.signal('extendRetention', { by: '1h', reason: huge, requestedBy: 'mallory\u001b[31m' });
  await h.executeUpdate(extendRetentionUpdate, { args: [{ by: '1h', reason: huge }] });
  const v = await h.query(statusQuery);
  expect(v.phase).toBe('Retaining');
  expect(JSON.stringify(v).length).toBeLessThan(48 * 1024);
  // eslint-disable-next-line no-control-regex
  for (const d of v.decisions) expect(`${d.by}|${d.reason}|${d.outcome}`).not.toMatch(/[\n\u001b]/);
  expect(Object.values(tried).every((m) => m.length > 10)).toBe(true);
  recordResult('O1', { refusals: tried, decisions: v.decisions.length, statusBytes: JSON.stringify(v).length });
  // The workflow is intact: expedite still works and deletes exactly the prefix.
  await h.executeUpdate(expediteUpdate, { args: [{ reason: 'done testing', by: 'ops' }] });
  expect(await h.result()).toMatchObject({ outcome: 'deleted' });
  expect(local('bucket-a').filter((k) => own.includes(k))).toEqual([]);
  expect(
    local('bucket-a')
      .filter((k) => siblings.includes(k))
      .sort(),
  ).toEqual([...siblings].sort());
});

test('O3: an accepted extend survives a terminated run and a shortened retention annotation', async () => {
  const { name, own, h } = await readyEntry('o3', 'local', 'bucket-a');
  await kube.annotate(name, { [ANN.retention]: '5s' });
  await deleteEntry(name, h);
  await statusUntil(h, (v) => v.phase === 'Retaining', 'Retaining');
  const d = await h.executeUpdate(extendRetentionUpdate, {
    args: [{ by: '720h', reason: 'audit', requestedBy: 'erin' }],
  });
  const deadline = /deadline moved to (\S+)/.exec(d.outcome)![1]!;
  // Written onto the entry before the update returned: kubectl sees it, a new run reads it.
  expect((await kube.getEntry(name))?.metadata.annotations?.[DEADLINE_ANN]).toBe(deadline);
  await h.terminate('operator terminated the run');
  // The entry changes (the retention annotation is shortened to 0s); the watcher's signal-with-start makes a new run.
  await kube.annotate(name, { [ANN.retention]: '0s' });
  const h2 = await client.workflow.signalWithStart('backupEntryWorkflow', {
    taskQueue,
    workflowId: h.workflowId,
    args: [{ entryName: name, settings: { defaultRetentionMs: 0 } }],
    signal: reconcileSignal,
    signalArgs: [{ reason: 'retention-period' }],
  });
  cleanups.push(() => h2.terminate('suite finished'));
  const v = await statusUntil(h2, (x) => x.phase === 'Retaining', 'Retaining in the new run');
  expect(v.deletionScheduledAt).toBe(deadline);
  // Well past the original 5 s deadline, the objects are all still there.
  await pollFor(
    () =>
      Date.now() > Date.parse(v.decisions.find((x) => x.action === 'retention-start')?.at ?? '0') + 8000
        ? true
        : undefined,
    'the original deadline to pass',
    30_000,
    200,
  );
  expect((await h2.query(statusQuery)).phase).toBe('Retaining');
  expect(
    local('bucket-a')
      .filter((k) => own.includes(k))
      .sort(),
  ).toEqual([...own].sort());
  // And a cancelled cleanup is on the entry before the update returns.
  await h2.executeUpdate(cancelCleanupUpdate, { args: [{ reason: 'legal hold', by: 'carol' }] });
  expect(await h2.result()).toMatchObject({ outcome: 'kept' });
  recordResult('O3', { deadline, newRunDeadline: v.deletionScheduledAt });
});

test('O4: the keep-backups annotation stops a running deletion and keeps what is left', async () => {
  const { name, own, siblings, h } = await readyEntry('o4', 'gcp', gcsBucket.name, 600);
  await kube.annotate(name, { [ANN.retention]: '0s' });
  await deleteEntry(name, h);
  await statusUntil(h, (v) => v.phase === 'Deleting', 'Deleting', 60_000);
  await pollFor(
    async () => ((await listGcs(gcsBucket)).filter((k) => own.includes(k)).length < own.length ? true : undefined),
    'the first deletes',
    60_000,
    100,
  );
  await kube.annotate(name, { [ANN.keep]: 'true' });
  await h.signal(reconcileSignal, { reason: 'keep-backups' });
  const result = await h.result();
  expect(result.outcome).toBe('kept');
  const left = (await listGcs(gcsBucket)).filter((k) => own.includes(k)).length;
  expect(left).toBeGreaterThan(0);
  expect((await listGcs(gcsBucket)).filter((k) => siblings.includes(k)).sort()).toEqual([...siblings].sort());
  recordResult('O4', { objects: own.length, keptAfterStop: left });
});

test('O5: bucket fixed at retention start; a spec edit during retention is never followed, and while the entry disagrees nothing is deleted; a re-created entry starts afresh', async () => {
  const { name, own, h } = await readyEntry('o5', 'local', 'bucket-a');
  putLocal(localRoot, 'bucket-b', own);
  await deleteEntry(name, h);
  await statusUntil(h, (v) => v.phase === 'Retaining', 'Retaining');
  const edited = await kube.custom
    .patchClusterCustomObject({
      group: 'extensions.gardener.cloud',
      version: 'v1alpha1',
      plural: 'backupentries',
      name,
      body: [{ op: 'replace', path: '/spec/bucketName', value: 'bucket-b' }],
    })
    .then(
      () => true,
      (e: { code?: number }) => {
        if (e.code !== 422 && e.code !== 403) throw e; // refused outright where the admission policy is installed
        return false;
      },
    );
  await h.signal(reconcileSignal, { reason: 'generation' });
  await h.executeUpdate(expediteUpdate, { args: [{ reason: 'go', by: 'ops' }] });
  if (edited) {
    // The pinned target (bucket-a) disagrees with the entry (bucket-b): the deletion guard refuses, an Error says why,
    // and neither bucket loses an object; the operator ends it by keeping the backups.
    const refused = await statusUntil(
      h,
      (v) => /TargetDisagreesWithEntry/.test(v.lastError?.message ?? ''),
      'the deletion refused',
    );
    expect(refused.lastError?.message).toMatch(/says bucket bucket-b .* asked for bucket bucket-a/);
    await h.executeUpdate(cancelCleanupUpdate, { args: [{ reason: 'bucket edited during retention', by: 'ops' }] });
    expect((await h.result()).outcome).toBe('kept');
    expect(
      local('bucket-a')
        .filter((k) => own.includes(k))
        .sort(),
    ).toEqual([...own].sort());
  } else {
    expect((await h.result()).outcome).toBe('deleted');
    expect(local('bucket-a').filter((k) => own.includes(k))).toEqual([]);
  }
  expect(
    local('bucket-b')
      .filter((k) => own.includes(k))
      .sort(),
  ).toEqual([...own].sort());

  // Re-created under the same name: our finalizer removed by hand, the entry gone, a new one (new uid) in its place.
  const e2 = await readyEntry('o5b', 'local', 'bucket-a');
  await deleteEntry(e2.name, e2.h);
  await statusUntil(e2.h, (v) => v.phase === 'Retaining', 'Retaining');
  await kube.forceRemove(e2.name);
  await pollFor(async () => ((await kube.getEntry(e2.name)) ? undefined : true), 'the old entry gone');
  await kube.createEntry(e2.name, {
    type: 'local',
    region: 'r',
    bucketName: 'bucket-a',
    secretRef: { name: `entry-${e2.name}`, namespace: 'garden' },
  });
  await e2.h.signal(reconcileSignal, { reason: 'created' });
  const v = await statusUntil(e2.h, (x) => x.phase === 'Ready', 'Ready for the new incarnation');
  expect(v.deletionScheduledAt).toBeUndefined();
  expect(v.decisions.some((x) => x.reason === 'entry re-created')).toBe(true);
  expect((await kube.getEntry(e2.name))?.metadata.annotations?.[DEADLINE_ANN]).toBeUndefined();
  expect(
    local('bucket-a')
      .filter((k) => e2.own.includes(k))
      .sort(),
  ).toEqual([...e2.own].sort());
});

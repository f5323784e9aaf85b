/**
 * Forged state (issue 22, items 1–2): nothing remembered or forged deletes a live entry's backups. Played against the
 * real stack — a real worker process, the real kube-apiserver, the Temporal dev server and the `local` provider in a
 * temp folder — in both retention modes.
 *
 * Every case starts from a live, reconciled (Succeeded) BackupEntry X of type `local` in bucket B with objects under
 * `X/` and its credentials secret `garden/entry-X` (which carries our finalizer once X is reconciled). Then someone
 * who may patch Secrets in `garden`, or start workflows in the Temporal namespace, tries to make a workflow delete
 * `X/` (a `source-X` name has X's prefix):
 *
 * - F1: a forged retention record keyed `source-X` (past deadline, the workflow ID the watcher would use) on X's
 *   secret, and the run the watcher starts for it (`resume`: `{entryName, retainedSecret}`).
 * - F2: a hand-made start for `source-X` with a `carried` state (phase Retaining, deletion past its deadline, target
 *   bucket B / type local / X's secret); and the same for X itself, under a workflow ID of the attacker's choosing
 *   (X's own ID is taken by its live workflow).
 * - F3: a forged record keyed X itself and a start with `retainedSecret` for X.
 * - F4 (fast-check, 10 runs in release-entry, 5 in hold-entry, each on its own fresh X): generated forgeries — name
 *   (X, source-X), record / carried / both / none, deadline in the past (or an hour ahead, so that the run retains and
 *   a forged expedite would end it), bucket (B or another), type (local or gcp), uid (X's or random), then forged
 *   signals (expedite, cancelCleanup, extendRetention, reconcile) with arbitrary JSON or well-formed payloads. The
 *   draw favours forgeries aimed at X's prefix, and two examples always run first (the forged record; a
 *   forged carried state with a future deadline followed by a forged expedite).
 *
 * Each case waits until the forged workflow has settled (closed, or no workflow task and no activity in flight — a
 * deletion is a regular activity, so a run deciding to delete is never "settled" until the deletion ended or keeps
 * failing) and then asserts that every object under `X/` in B is still there and that the forged run did not end
 * `deleted` nor report deleted objects. No sleeps: every wait is a poll on a condition.
 *
 * On the code before the fix F1, F2 (source-X) and the F4 runs that aim a `source-X` record or carried state at
 * bucket B / type local (with a passed deadline, or a forged expedite) delete every object under `X/` (the deletion acts on the record or the carried state; nothing asks whether X is
 * alive). F2 (X) and F3 pass there too (X exists, so its run reconciles instead) and stay as guards. The forged
 * workflows are terminated in afterAll.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { workflowIdFor } from '../../domain';
import {
  ANNOTATION_RETENTION_RECORDS,
  LABEL_RETENTION_ANCHOR,
  retentionAnchorName,
  type RetentionRecord,
} from '../../domain/retention-record';
import { statusQuery, type StatusQueryResult } from '../../workflows/messages';
import { stackEnv } from '../support/env';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';
import {
  FAST,
  Kube,
  entryName,
  listLocal,
  pollFor,
  putLocal,
  recordResult,
  short,
  startEntryWorkflow,
  statusUntil,
  temporalClient,
} from './harness';

const SECRET_FINALIZER = 'extensions.gardener.cloud/backupentry';
const HOUR = 3_600_000;
const kube = new Kube();
const dir = mkdtempSync(join(tmpdir(), 'bel-rel-forged-'));
let client: Client;
/** Every workflow this file started (live entries' and forged ones): terminated in afterAll. */
const handles: WorkflowHandle[] = [];
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  await kube.ensureNamespace('garden');
  client = await temporalClient();
}, 120_000);

afterAll(async () => {
  for (const h of handles) await h.terminate('forged-state suite finished').catch(() => undefined);
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await client?.connection.close();
});

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const wfId = (cluster: string, name: string): string => {
  const id = workflowIdFor(cluster, name);
  if (!id.ok) throw new Error(id.error.message);
  return id.value;
};

/** A live entry X: namespace, credentials secret, objects under `X/` in its bucket, reconciled (Succeeded). */
interface Live {
  name: string;
  uid: string;
  secret: { namespace: string; name: string };
  bucket: string;
  own: string[];
}

/** The objects under `X/` in X's bucket now. */
const ownNow = (root: string, x: Live): string[] => listLocal(root, x.bucket).filter((k) => k.startsWith(`${x.name}/`));

/** What a forged run ended as, or how it stands once nothing is in flight. */
interface Settled {
  closed?: string;
  result?: { outcome?: string; deletion?: { deletedObjects?: number } };
  status?: StatusQueryResult;
}

/**
 * Waits until `h` is closed, or runs with no workflow task pending and no activity in flight (an activity retrying
 * after a failure counts as settled: it is failing, not deleting). The deletion is a regular activity, so a run that
 * decided to delete is settled only once that deletion ended. A running workflow must also show `minDecisions`
 * decision records (each expedite, cancelCleanup or extendRetention signal leaves one, accepted or refused).
 */
async function settled(h: WorkflowHandle, what: string, minDecisions = 0): Promise<Settled> {
  const s = await pollFor(
    async (): Promise<Settled | undefined> => {
      const d = await h.describe();
      if (d.status.name !== 'RUNNING') return { closed: d.status.name };
      if (d.raw.pendingWorkflowTask) return undefined;
      const busy = (d.raw.pendingActivities ?? []).some((a) => (a.attempt ?? 1) < 2 || !a.lastFailure);
      if (busy) return undefined;
      const status = await h.query(statusQuery);
      return status.decisions.length >= minDecisions ? { status } : undefined;
    },
    `${what} to settle`,
    150_000,
    300,
  );
  if (s.closed === 'COMPLETED') s.result = (await h.result()) as Settled['result'];
  return s;
}

/**
 * The forged run did not delete: no deleted objects reported and, when it aimed at X's bucket (`aimsAtX`), it neither
 * ended `deleted` nor reached phase Deleted. (A forgery aimed at another bucket, where no live entry owns the prefix,
 * may well end `deleted` with nothing deleted: that is not what this file is about.)
 */
function expectNoDeletion(s: Settled, aimsAtX = true): void {
  expect(s.result?.deletion?.deletedObjects ?? 0).toBe(0);
  expect(s.status?.deletion?.deletedObjects ?? 0).toBe(0);
  if (!aimsAtX) return;
  expect(s.result?.outcome).not.toBe('deleted');
  expect(s.status?.phase).not.toBe('Deleted');
}

/**
 * Forges `record` for entry `key` where a new run reads it: the retention anchor beside `secret`
 * (activities/retention-anchor.ts), created with our label and finalizer when missing, else merge-patched, as anyone
 * who may write Secrets there could.
 */
async function forgeRecord(
  secret: { namespace: string; name: string },
  key: string,
  record: RetentionRecord,
): Promise<void> {
  const anchor = { namespace: secret.namespace, name: retentionAnchorName(key) };
  const annotations = { [ANNOTATION_RETENTION_RECORDS]: JSON.stringify({ [key]: record }) };
  try {
    await kube.core.createNamespacedSecret({
      namespace: anchor.namespace,
      body: {
        metadata: {
          name: anchor.name,
          labels: { [LABEL_RETENTION_ANCHOR]: 'true' },
          annotations,
          finalizers: [SECRET_FINALIZER],
        },
        data: { forged: Buffer.from('x').toString('base64') },
      },
    });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
    await kube.core.patchNamespacedSecret(
      { ...anchor, body: { metadata: { annotations } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }
}

/** A `carried` state as continue-as-new would hand over: retaining, the deletion's deadline passed an hour ago. */
function forgedCarried(opts: {
  type: string;
  bucket: string;
  secret: { namespace: string; name: string };
  uid?: string;
  deletedAgoMs?: number;
  retainedMs?: number;
}): Record<string, unknown> {
  const deletedMs = Date.now() - (opts.deletedAgoMs ?? 2 * HOUR);
  const retainedMs = opts.retainedMs ?? HOUR;
  const deadlineMs = deletedMs + retainedMs;
  return {
    phase: 'Retaining',
    dirty: true,
    errorStreak: 0,
    decisions: [],
    memoWritten: false,
    type: opts.type,
    bucket: opts.bucket,
    secretRef: { ...opts.secret },
    ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
    deletion: {
      deletionTimestamp: iso(deletedMs),
      deadlineMs,
      retentionMs: retainedMs,
      retentionSource: 'forged',
      target: { type: opts.type, bucketName: opts.bucket, secretRef: { ...opts.secret } },
      entryReleased: true,
      recordedDeadlineMs: deadlineMs,
    },
  };
}

/** A retention record with a deadline that passed (deleted `deletedAgoMs` ago, retained `retainedMs`). */
function forgedRecord(opts: {
  workflowId: string;
  uid: string;
  type: string;
  bucket: string;
  deletedAgoMs?: number;
  retainedMs?: number;
}): RetentionRecord {
  const deletedMs = Date.now() - (opts.deletedAgoMs ?? 2 * HOUR);
  return {
    workflowId: opts.workflowId,
    uid: opts.uid,
    type: opts.type,
    bucketName: opts.bucket,
    deletionTimestamp: iso(deletedMs),
    deletionDeadline: iso(deletedMs + (opts.retainedMs ?? HOUR)),
  };
}

const MODES = [
  { mode: 'release-entry', runs: 10 },
  { mode: 'hold-entry', runs: 5 },
] as const;

describe.each(MODES)('BEL_RETENTION_MODE=$mode', ({ mode, runs }) => {
  const localRoot = join(dir, mode, 'local');
  const B = 'bucket-b';
  const C = 'bucket-c';
  const taskQueue = `rel-forged-${short()}`;
  const cluster = `rel-forged-${short()}`;
  let worker: WorkerProcess;

  beforeAll(async () => {
    mkdirSync(join(localRoot, B), { recursive: true });
    mkdirSync(join(localRoot, C), { recursive: true });
    worker = await startWorkerProcess({
      env: {
        BEL_RETENTION_MODE: mode,
        BEL_TASK_QUEUE: taskQueue,
        BEL_CLUSTER_IDENTITY: cluster,
        BEL_PROVIDER_TYPES: 'gcp,local',
        BACKUP_LOCAL_DIR: localRoot,
        GCS_API_ENDPOINT: stackEnv('GCS_API_ENDPOINT'),
      },
      logFile: join(dir, `worker-${mode}.log`),
    });
  }, 300_000);

  afterAll(async () => {
    await worker?.stop();
  });

  /** X: live, reconciled, our finalizer on its secret, `objects` backups under `X/` in B (and siblings). */
  async function liveEntry(label: string, objects = 4): Promise<Live> {
    const e = entryName(label);
    const secret = { namespace: 'garden', name: `entry-${e.name}` };
    await kube.ensureNamespace(e.ns);
    await kube.createSecret(secret.namespace, secret.name, { token: 'x' });
    await kube.createEntry(e.name, { type: 'local', region: 'r', bucketName: B, secretRef: secret });
    cleanups.push(() => kube.forceRemove(e.name));
    const own = Array.from(
      { length: objects },
      (_, i) => `${e.name}/etcd-main/v2/Incr-${String(i).padStart(6, '0')}.gz`,
    );
    putLocal(localRoot, B, [...own, `${e.name}2/etcd-main/v2/Full-1.gz`, `${e.name}-x/Full-1.gz`]);
    const h = await startEntryWorkflow(client, taskQueue, cluster, e.name);
    handles.push(h);
    await statusUntil(h, (v) => v.phase === 'Ready', 'X Ready');
    const entry = await kube.entryUntil(e.name, (x) => x?.status?.lastOperation?.state === 'Succeeded', 'X Succeeded');
    await pollFor(
      async () =>
        ((await kube.core.readNamespacedSecret(secret)).metadata?.finalizers ?? []).includes(SECRET_FINALIZER) ||
        undefined,
      'our finalizer on X secret',
    );
    const x = { name: e.name, uid: entry!.metadata.uid!, secret, bucket: B, own: [...own].sort() };
    expect(ownNow(localRoot, x)).toEqual(x.own);
    return x;
  }

  /** Starts backupEntryWorkflow by hand with any input (the Web UI's "Start Workflow"). */
  async function forgedStart(workflowId: string, input: Record<string, unknown>): Promise<WorkflowHandle> {
    const h = await client.workflow.start('backupEntryWorkflow', { taskQueue, workflowId, args: [input] });
    handles.push(h);
    return h;
  }

  test('F1: a forged retention record keyed source-X on the live X secret, resumed as the watcher does, leaves X/ alone', async () => {
    const x = await liveEntry('f1');
    const source = `source-${x.name}`;
    const id = wfId(cluster, source);
    await forgeRecord(x.secret, source, forgedRecord({ workflowId: id, uid: x.uid, type: 'local', bucket: B }));
    // starter/temporal-actions.ts 'resume': no entry source-X, a record on entry-X → start with retainedSecret.
    const h = await forgedStart(id, { entryName: source, settings: FAST, retainedSecret: x.secret });
    const s = await settled(h, 'the run resumed from the forged record');
    expect(ownNow(localRoot, x)).toEqual(x.own);
    expectNoDeletion(s);
    recordResult('F1', { mode, closed: s.closed ?? 'running', outcome: s.result?.outcome, phase: s.status?.phase });
  });

  test('F2: a hand-made start with a carried past-deadline deletion, for source-X and for the live X, leaves X/ alone', async () => {
    const x = await liveEntry('f2');
    const source = `source-${x.name}`;
    const carried = forgedCarried({ type: 'local', bucket: B, secret: x.secret });
    const hs = await forgedStart(wfId(cluster, source), { entryName: source, settings: FAST, carried });
    const ss = await settled(hs, 'the carried source-X run');
    expect(ownNow(localRoot, x)).toEqual(x.own);
    expectNoDeletion(ss);
    // X's own workflow ID is taken by its live run: an attacker picks another one (the ID is not checked).
    const carriedX = forgedCarried({ type: 'local', bucket: B, secret: x.secret, uid: x.uid });
    const hx = await forgedStart(`${wfId(cluster, x.name)}-${short()}`, {
      entryName: x.name,
      settings: FAST,
      carried: carriedX,
    });
    const sx = await settled(hx, 'the carried X run');
    expect(ownNow(localRoot, x)).toEqual(x.own);
    expectNoDeletion(sx);
    recordResult('F2', {
      mode,
      source: { closed: ss.closed ?? 'running', outcome: ss.result?.outcome, phase: ss.status?.phase },
      live: { closed: sx.closed ?? 'running', outcome: sx.result?.outcome, phase: sx.status?.phase },
    });
  });

  test('F3: a forged record keyed the live X itself and a start with retainedSecret for X leave X/ alone', async () => {
    const x = await liveEntry('f3');
    const id = `${wfId(cluster, x.name)}-${short()}`; // the record names the ID the forged start uses
    await forgeRecord(x.secret, x.name, forgedRecord({ workflowId: id, uid: x.uid, type: 'local', bucket: B }));
    const h = await forgedStart(id, { entryName: x.name, settings: FAST, retainedSecret: x.secret });
    const s = await settled(h, 'the run resumed from the forged record of X');
    expect(ownNow(localRoot, x)).toEqual(x.own);
    expectNoDeletion(s);
    recordResult('F3', { mode, closed: s.closed ?? 'running', outcome: s.result?.outcome, phase: s.status?.phase });
  });

  /** `value` drawn with the given weights (the forgeries that aim at X's prefix are drawn most often). */
  const weighted = <T>(...choices: Array<[T, number]>): fc.Arbitrary<T> =>
    fc.oneof(...choices.map(([v, weight]) => ({ arbitrary: fc.constant(v), weight })));
  const signalArb = fc.record({
    name: weighted<string>(['expedite', 3], ['cancelCleanup', 1], ['extendRetention', 1], ['reconcile', 1]),
    payload: fc.oneof(
      { arbitrary: fc.constant(undefined), weight: 1 },
      { arbitrary: fc.jsonValue({ maxDepth: 2 }), weight: 2 },
      {
        arbitrary: fc.record({
          reason: fc.constantFrom('forged', 'cleanup now', 'ticket 42'),
          by: fc.constantFrom('mallory', 'ops'),
        }),
        weight: 4,
      },
      {
        arbitrary: fc.record({ by: fc.constantFrom('1h', '0s', '-72h', '87600h'), reason: fc.constant('x') }),
        weight: 1,
      },
      {
        arbitrary: fc.record({
          until: fc.integer({ min: -30, max: 30 }).map((d) => iso(Date.now() + d * 24 * HOUR)),
          reason: fc.constant('x'),
        }),
        weight: 1,
      },
    ),
  });
  /**
   * One generated forgery. Its deadline passed (retained 0–1 h after a deletion 2 h to 90 days ago) or, for the
   * forged signals to matter, is an hour ahead (the run retains, and a forged expedite would end that at once).
   */
  const forgeryArb = fc.record({
    source: weighted([true, 3], [false, 1]),
    state: weighted<'record' | 'carried' | 'both' | 'none'>(['record', 3], ['carried', 3], ['both', 1], ['none', 1]),
    otherBucket: weighted([false, 3], [true, 1]),
    type: weighted(['local', 3], ['gcp', 1]),
    realUid: fc.boolean(),
    deletedAgoMs: fc.integer({ min: 2 * HOUR, max: 90 * 24 * HOUR }),
    retainedMs: fc.integer({ min: 0, max: HOUR }),
    deadlinePassed: weighted([true, 3], [false, 1]),
    signals: fc.array(signalArb, { maxLength: 3 }),
  });
  type Forgery = typeof forgeryArb extends fc.Arbitrary<infer F> ? F : never;
  /** Always tried first: the forged record, and a forged carried state followed by a forged expedite. */
  const examples: Array<[Forgery]> = [
    [
      {
        source: true,
        state: 'record',
        otherBucket: false,
        type: 'local',
        realUid: true,
        deletedAgoMs: 2 * HOUR,
        retainedMs: HOUR,
        deadlinePassed: true,
        signals: [],
      },
    ],
    [
      {
        source: true,
        state: 'carried',
        otherBucket: false,
        type: 'local',
        realUid: false,
        deletedAgoMs: 2 * HOUR,
        retainedMs: 0,
        deadlinePassed: false,
        signals: [{ name: 'expedite', payload: { reason: 'forged', by: 'mallory' } }],
      },
    ],
  ];

  test(`F4: generated forged records, starts and signals never touch a live entry's objects (${runs} runs)`, async () => {
    const seen: Array<Record<string, unknown>> = [];
    await fc.assert(
      fc.asyncProperty(forgeryArb, async (f) => {
        const x = await liveEntry('f4', 3);
        const name = f.source ? `source-${x.name}` : x.name;
        // source-X: the ID the watcher would use; X: its ID is taken by the live run, so another one.
        const id = f.source ? wfId(cluster, name) : `${wfId(cluster, name)}-${short()}`;
        const bucket = f.otherBucket ? C : B;
        const uid = f.realUid ? x.uid : randomUUID();
        const ages = {
          deletedAgoMs: f.deletedAgoMs,
          retainedMs: f.deadlinePassed ? f.retainedMs : f.deletedAgoMs + HOUR,
        };
        const input: Record<string, unknown> = { entryName: name, settings: FAST };
        if (f.state === 'record' || f.state === 'both') {
          await forgeRecord(x.secret, name, forgedRecord({ workflowId: id, uid, type: f.type, bucket, ...ages }));
          input.retainedSecret = x.secret;
        }
        if (f.state === 'carried' || f.state === 'both') {
          input.carried = forgedCarried({ type: f.type, bucket, secret: x.secret, uid, ...ages });
        }
        const h = await forgedStart(id, input);
        const first = await settled(h, 'the forged run');
        expect(ownNow(localRoot, x)).toEqual(x.own);
        expectNoDeletion(first, bucket === B);
        let after = first;
        if (!first.closed && f.signals.length) {
          for (const sig of f.signals) {
            const args = sig.payload === undefined ? [] : [sig.payload];
            await h.signal(sig.name, ...args).catch((e: unknown) => {
              if ((e as { name?: string }).name !== 'WorkflowNotFoundError') throw e; // closed meanwhile
            });
          }
          const noted = f.signals.filter((x) => x.name !== 'reconcile').length;
          after = await settled(h, 'the forged run after its signals', first.status!.decisions.length + noted);
        }
        expect(ownNow(localRoot, x)).toEqual(x.own);
        expectNoDeletion(after, bucket === B);
        seen.push({
          ...f,
          signals: f.signals.map((s) => s.name),
          closed: after.closed ?? 'running',
          outcome: after.result?.outcome,
          phase: after.status?.phase,
          decisions: after.status?.decisions.map((d) => `${d.action}: ${d.outcome}`.slice(0, 120)),
        });
      }),
      { numRuns: runs, endOnFailure: true, examples },
    );
    recordResult('F4', { mode, runs: seen });
  }, 900_000);
});

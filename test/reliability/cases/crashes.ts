/**
 * Crashes and restarts with real processes and SIGKILL at chosen points (docs/reliability.md, cases C1–C3):
 * - C1: the worker process is killed mid-deletion; another worker process resumes from the heartbeat cursor.
 * - C2/C3: the Temporal dev server (SQLite file) is killed and restarted on the same address during retention and
 *   during deletion; the retention timer fires at its deadline and the deletion completes.
 * The tests run concurrently: C1 spends most of its time waiting out the 20 s heartbeat timeout that tells
 * Temporal the killed worker is gone.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bucket } from '@google-cloud/storage';
import { defaultPayloadConverter } from '@temporalio/common';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { killProcess, startTemporalDevServer, toolPaths, type TemporalDevServer } from '../../../tools/stack';
import { reconcileSignal } from '../../../workflows/messages';
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy';
import { holdPort, stablePort } from '../../support/stable-port';
import { stackEnv } from '../../support/env';
import { startWorkerProcess, prepareWorkerBuild, type WorkerProcess } from '../../support/worker-process';
import {
  ANN,
  FULL,
  Kube,
  createGcsBucket,
  sleep,
  entryName,
  gcsClient,
  listGcs,
  pollFor,
  putGcs,
  putLocal,
  listLocal,
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
const logDir = mkdtempSync(join(tmpdir(), 'bel-rel-crash-'));
const cleanups: Array<() => Promise<unknown>> = [];

interface Heartbeat {
  cursor?: string;
  deletedObjects: number;
  listedObjects: number;
}

/** The pending deleteBackups activity's attempt and last heartbeat details, if any. */
async function pendingDelete(h: WorkflowHandle): Promise<{ attempt: number; hb?: Heartbeat } | undefined> {
  const d = await h.describe();
  const act = (d.raw.pendingActivities ?? []).find((a) => a.activityType?.name === 'deleteBackups');
  if (!act) return undefined;
  const p = act.heartbeatDetails?.payloads?.[0];
  return { attempt: act.attempt ?? 1, ...(p ? { hb: defaultPayloadConverter.fromPayload<Heartbeat>(p) } : {}) };
}

/** Namespace, provider secret (gcp service account or local token) and entry; returns the entry name. */
async function makeEntry(label: string, type: 'gcp' | 'local', bucket: string): Promise<{ name: string; ns: string }> {
  const e = entryName(label);
  await kube.ensureNamespace('garden');
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
  return e;
}

/** Keys under an entry's prefix (etcd-backup-restore style) and siblings that must survive. */
function keysFor(name: string, n: number): { own: string[]; siblings: string[] } {
  const own = Array.from(
    { length: n },
    (_, i) => `${name}/etcd-main/v2/Incr-${String(i).padStart(8, '0')}-${String(i + 1).padStart(8, '0')}.gz`,
  );
  const siblings = [`${name}2/etcd-main/v2/Full-1.gz`, `${name}-x/etcd-main/v2/Full-1.gz`, `${name}.old`, `${name}`];
  return { own, siblings };
}

/** Registers the crash and restart tests (hooks and concurrent tests) in the calling test file. */
export function crashTests(): void {
  beforeAll(async () => {
    await prepareWorkerBuild();
  }, 300_000);

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  const OBJECTS = FULL ? 5000 : 2000;

  test.concurrent(
    `C1: worker SIGKILLed mid-deletion of ${OBJECTS} objects; another worker resumes from the heartbeat cursor`,
    async () => {
      const proxy: FaultProxy = await startFaultProxy(stackEnv('GCS_API_ENDPOINT'));
      cleanups.push(() => proxy.stop());
      const client = await temporalClient();
      cleanups.push(() => client.connection.close());
      const bucket: Bucket = await createGcsBucket(storage, `rel-crash-${short()}`);
      const { name } = await makeEntry('crash', 'gcp', bucket.name);
      const { own, siblings } = keysFor(name, OBJECTS);
      await putGcs(bucket, [...own, ...siblings]);
      const taskQueue = `rel-crash-${short()}`;
      const cluster = `rel-crash-${short()}`;
      // 150 deletes/s: the first worker is well inside the deletion when it is killed.
      const env = {
        BEL_TASK_QUEUE: taskQueue,
        BEL_CLUSTER_IDENTITY: cluster,
        BEL_PROVIDER_TYPES: 'gcp',
        GCS_API_ENDPOINT: proxy.endpoint,
      };
      const a: WorkerProcess = await startWorkerProcess({
        env: { ...env, BEL_GCS_MAX_WRITES_PER_SECOND: '150' },
        logFile: join(logDir, 'worker-a.log'),
      });
      cleanups.push(() => a.stop());
      const h = await startEntryWorkflow(client, taskQueue, cluster, name);
      cleanups.push(() => h.terminate('suite finished').catch(() => undefined));
      await statusUntil(h, (v) => v.phase === 'Ready', 'Ready');
      await kube.annotate(name, { [ANN.retention]: '0s' });
      await kube.deleteEntry(name);
      await h.signal(reconcileSignal, { reason: 'deletion' });

      await pollFor(
        () => (proxy.deletes.length >= OBJECTS / 4 ? true : undefined),
        'a quarter of the objects deleted',
        120_000,
        20,
      );
      await a.kill();
      const tKill = Date.now();
      const deletedAtKill = proxy.deletes.filter((d) => d.status < 300).length;
      const leftAtKill = (await listGcs(bucket)).filter((k) => k.startsWith(`${name}/`)).length;
      const serverHb = (await pendingDelete(h))!;
      expect(serverHb.hb?.cursor).toBeDefined();
      // The server's copy of the progress is at most about 2 s old (150 deletes/s); with the SDK's default 60 s heartbeat
      // throttle it was the first heartbeat of the attempt (0 deleted).
      const heartbeatLag = deletedAtKill - serverHb.hb!.deletedObjects;
      expect(heartbeatLag).toBeLessThan(300);

      const b = await startWorkerProcess({
        env: { ...env, BEL_GCS_MAX_WRITES_PER_SECOND: '1000' },
        logFile: join(logDir, 'worker-b.log'),
      });
      cleanups.push(() => b.stop());
      const result = await h.result();
      const tDone = Date.now();

      expect(result).toMatchObject({ outcome: 'deleted', phase: 'Deleted', deletion: { remainingObjects: 0 } });
      expect(await listGcs(bucket)).toEqual([...siblings].sort());
      // The retried attempt ran on worker B, resumed after the cursor, and re-listed less than one page.
      const deletedByA = proxy.deletes.filter((d) => d.t <= tKill);
      const highestA = deletedByA
        .map((d) => d.name)
        .sort()
        .at(-1)!;
      const listedByB = proxy.listings.filter((l) => l.t > tKill).flatMap((l) => l.names);
      const cursor = serverHb.hb!.cursor!;
      // B resumed: its first listing started right after the heartbeat's cursor, not at the top of the prefix.
      const firstListByB = proxy.seen.find((r) => r.t > tKill && r.list && r.bucket === bucket.name)!;
      expect(firstListByB.query.get('startOffset')).toBe(cursor);
      expect(listedByB.every((n) => n > cursor)).toBe(true);
      const listedTwice = listedByB.filter((n) => n <= highestA).length;
      expect(listedTwice).toBeLessThan(1000);
      const deletedByB = proxy.deletes.filter((d) => d.t > tKill);
      expect(deletedByB.every((d) => d.name > cursor)).toBe(true);
      expect(deletedByB.filter((d) => d.status === 404).length).toBeLessThan(1000);
      // B listed at most what was left when A died (a delete A had on the wire may still have landed afterwards).
      expect(listedByB.length).toBeLessThanOrEqual(leftAtKill);
      const history = await h.fetchHistory();
      const attempts = (history.events ?? [])
        .filter((e) => e.activityTaskStartedEventAttributes)
        .map((e) => e.activityTaskStartedEventAttributes!.attempt);
      expect(Math.max(...attempts.map(Number))).toBeGreaterThanOrEqual(2);
      recordResult('C1 worker SIGKILL mid-deletion', {
        objects: OBJECTS,
        deletedAtKill,
        heartbeatLag,
        leftAtKill,
        cursorAtKill: cursor.slice(name.length),
        serverHeartbeatDeleted: serverHb.hb!.deletedObjects,
        listedTwice,
        deletesByA: deletedByA.length,
        deletesByB: deletedByB.length,
        notFoundByB: deletedByB.filter((d) => d.status === 404).length,
        receipt: result.deletion,
        resumeAfterKillMs: tDone - tKill,
        // Kill → the next worker's attempt starts (its first listing): the heartbeat timeout plus the retry delay.
        resumedAfterKillMs: firstListByB.t - tKill,
      });
    },
    480_000,
  );

  test.concurrent(
    'C2/C3: Temporal dev server (SQLite) killed and restarted during retention and during deletion',
    async () => {
      const tools = toolPaths();
      const dir = mkdtempSync(join(tmpdir(), 'bel-rel-temporal-'));
      mkdirSync(join(dir, 'srv'), { recursive: true });
      const dbFile = join(dir, 'temporal.db');
      // Below the ephemeral range: nobody else is handed these ports while the server is down.
      const [port, uiPort] = [await stablePort(), await stablePort()];
      const start = (): Promise<TemporalDevServer> =>
        startTemporalDevServer({ temporalBin: tools.TEMPORAL_CLI, dir: join(dir, 'srv'), dbFile, port, uiPort });
      let server = await start();
      cleanups.push(async () => {
        await server.stop();
        rmSync(join(dir, 'temporal.db'), { force: true });
      });
      const proxy = await startFaultProxy(stackEnv('GCS_API_ENDPOINT'));
      cleanups.push(() => proxy.stop());
      let client: Client = await temporalClient(server.address);
      const taskQueue = `rel-restart-${short()}`;
      const cluster = `rel-restart-${short()}`;
      const localRoot = join(dir, 'local');
      mkdirSync(join(localRoot, 'bucket-r'), { recursive: true });
      const w = await startWorkerProcess({
        env: {
          TEMPORAL_ADDRESS: server.address,
          BEL_TASK_QUEUE: taskQueue,
          BEL_CLUSTER_IDENTITY: cluster,
          BEL_PROVIDER_TYPES: 'gcp,local',
          BACKUP_LOCAL_DIR: localRoot,
          GCS_API_ENDPOINT: proxy.endpoint,
          BEL_GCS_MAX_WRITES_PER_SECOND: '100',
        },
        logFile: join(logDir, 'worker-restart.log'),
      });
      cleanups.push(() => w.stop());

      // R: retaining for 90 s (local provider); its deadline falls after both outages.
      const r = await makeEntry('restart-r', 'local', 'bucket-r');
      putLocal(localRoot, 'bucket-r', [`${r.name}/etcd-main/v2/Full-1.gz`, `${r.name}2/etcd-main/v2/Full-1.gz`]);
      const hr = await startEntryWorkflow(client, taskQueue, cluster, r.name);
      await statusUntil(hr, (v) => v.phase === 'Ready', 'R Ready');
      await kube.annotate(r.name, { [ANN.retention]: '90s' });
      await kube.deleteEntry(r.name);
      await hr.signal(reconcileSignal, { reason: 'deletion' });
      const retaining = await statusUntil(hr, (v) => v.phase === 'Retaining', 'R Retaining');
      const deadline = Date.parse(retaining.deletionScheduledAt!);

      // Restart 1, during R's retention.
      // SIGKILL, stay down for `downMs`, start again on the same ports and SQLite file. Returns when it is back.
      const restart = async (downMs: number): Promise<{ downMs: number; backAt: number }> => {
        const t0 = Date.now();
        await client.connection.close();
        await killProcess(server.process);
        const held = await Promise.all([holdPort(port), holdPort(uiPort)]); // belt and braces: keep the ports ours
        await sleep(downMs);
        for (const release of held) await release();
        server = await start();
        client = await temporalClient(server.address);
        return { downMs: Date.now() - t0, backAt: Date.now() };
      };
      const restart1 = await restart(5000);
      const afterRestart1 = await statusUntil(
        client.workflow.getHandle(hr.workflowId),
        (v) => v.phase === 'Retaining',
        'R still Retaining after restart',
      );
      expect(Date.parse(afterRestart1.deletionScheduledAt!)).toBe(deadline);

      // D: deleting 1500 objects at 100/s (gcp through the proxy); restart 2 in the middle of it.
      const bucket = await createGcsBucket(storage, `rel-restart-${short()}`);
      const d = await makeEntry('restart-d', 'gcp', bucket.name);
      const { own, siblings } = keysFor(d.name, 1500);
      await putGcs(bucket, [...own, ...siblings]);
      const hd = await startEntryWorkflow(client, taskQueue, cluster, d.name);
      await statusUntil(hd, (v) => v.phase === 'Ready', 'D Ready');
      await kube.annotate(d.name, { [ANN.retention]: '0s' });
      await kube.deleteEntry(d.name);
      await hd.signal(reconcileSignal, { reason: 'deletion' });
      const before = proxy.deletes.length;
      await pollFor(() => (proxy.deletes.length - before >= 300 ? true : undefined), 'D deleting', 120_000, 20);
      // Down for 15 s: the deletion (about 15 s at 100/s) goes on without the server and ends while it is away.
      const restart2 = await restart(15_000);

      const hdAfter = client.workflow.getHandle(hd.workflowId);
      const dResult = await hdAfter.result();
      const dDoneAfterRestartMs = Date.now() - restart2.backAt;
      const lastDeleteAt = Math.max(...proxy.deletes.map((x) => x.t));
      const dAttempts = ((await hdAfter.fetchHistory()).events ?? []).flatMap((e) =>
        e.activityTaskStartedEventAttributes ? [Number(e.activityTaskStartedEventAttributes.attempt)] : [],
      );
      expect(dResult).toMatchObject({ outcome: 'deleted', deletion: { remainingObjects: 0 } });
      expect(await listGcs(bucket)).toEqual([...siblings].sort());

      const hrAfter = client.workflow.getHandle(hr.workflowId);
      const rResult = await hrAfter.result();
      expect(rResult).toMatchObject({ outcome: 'deleted', deletion: { deletedObjects: 1, remainingObjects: 0 } });
      expect(listLocal(localRoot, 'bucket-r')).toEqual([`${r.name}2/etcd-main/v2/Full-1.gz`]);
      // The retention timer fired at its deadline (not early, and not late by more than scheduling slack).
      const events = (await hrAfter.fetchHistory()).events ?? [];
      const fired = events
        .filter((e) => e.timerFiredEventAttributes)
        .map((e) => Number(e.eventTime!.seconds) * 1000 + Math.round((e.eventTime!.nanos ?? 0) / 1e6));
      const firedAt = fired.find((t) => t >= deadline - 1000);
      expect(firedAt).toBeDefined();
      expect(firedAt! - deadline).toBeLessThan(10_000);
      expect(w.proc.exited).toBeUndefined(); // the worker rode out both restarts
      recordResult('C2/C3 Temporal restart during retention and deletion', {
        outage1Ms: restart1.downMs,
        outage2Ms: restart2.downMs,
        timerFiredLateMs: firedAt! - deadline,
        deletionEndedDuringOutage: lastDeleteAt < restart2.backAt,
        deletionResultAfterRestartMs: dDoneAfterRestartMs,
        maxActivityAttempt: Math.max(...dAttempts),
        dReceipt: dResult.deletion,
      });
    },
    480_000,
  );
}

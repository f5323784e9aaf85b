/**
 * Load (docs/reliability.md, case L1): many entries through their whole lifecycle at once on one worker process —
 * created, Ready, deleted — ending as Deleted after retention 0s, Deleted after a 20 s retention timer, Deleted early
 * by the force-deletion annotation, or Kept by the keep-backups annotation; half on `local`, half on `gcp`, all
 * entries of a type sharing one bucket with sibling objects next to every prefix. 60 entries by default, 500 with
 * BEL_RELIABILITY_FULL=1. Checks: every entry in its right end state, no object outside its prefix deleted, every
 * deleted prefix empty, kept prefixes whole, no workflow left running.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { type backupEntryWorkflow } from '../../workflows/backup-entry-workflow';
import { reconcileSignal } from '../../workflows/messages';
import { stackEnv } from '../support/env';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';
import {
  ANN,
  FAST,
  FULL,
  G,
  Kube,
  createGcsBucket,
  entryName,
  gcsClient,
  listGcs,
  listLocal,
  mapLimit,
  pollFor,
  putGcs,
  putLocal,
  recordResult,
  serviceAccount,
  short,
  startEntryWorkflow,
  temporalClient,
  type EntryObject,
} from './harness';

const N = FULL ? 500 : 60;
const kube = new Kube();
const storage = gcsClient();
const SA = serviceAccount();
const dir = mkdtempSync(join(tmpdir(), 'bel-rel-load-'));
const localRoot = join(dir, 'local');
const taskQueue = `rel-load-${short()}`;
const cluster = `rel-load-${short()}`;
let worker: WorkerProcess;
let client: Client;
const cleanups: Array<() => Promise<unknown>> = [];

type Fate = 'retention-0s' | 'retention-20s' | 'force-deletion' | 'keep-backups';
const FATES: Fate[] = [
  'retention-0s',
  'retention-20s',
  'retention-0s',
  'force-deletion',
  'retention-20s',
  'keep-backups',
];
const OBJECTS = [
  'etcd-main/v2/Full-00000000-00000001-1.gz',
  'etcd-main/v2/Incr-00000002-00000003-2.gz',
  'etcd-main/v2/Incr-00000004-00000005-3.gz',
  'etcd-events/v2/Full-00000000-00000001-1.gz',
  'etcd-main/v2/Full-x/0000000001',
];

interface LoadEntry {
  name: string;
  ns: string;
  type: 'local' | 'gcp';
  fate: Fate;
  h?: WorkflowHandle<typeof backupEntryWorkflow>;
}

beforeAll(async () => {
  mkdirSync(join(localRoot, 'bucket-load'), { recursive: true });
  worker = await startWorkerProcess({
    env: {
      BEL_TASK_QUEUE: taskQueue,
      BEL_CLUSTER_IDENTITY: cluster,
      BEL_PROVIDER_TYPES: 'gcp,local',
      BACKUP_LOCAL_DIR: localRoot,
      GCS_API_ENDPOINT: stackEnv('GCS_API_ENDPOINT'),
    },
    logFile: join(dir, 'worker.log'),
  });
  client = await temporalClient();
  await kube.ensureNamespace('garden');
}, 300_000);

afterAll(async () => {
  await mapLimit(cleanups, 16, (c) => c().catch(() => undefined));
  await worker?.stop();
  await client?.connection.close();
});

test(
  `L1: ${N} entries through their whole lifecycle at once on one worker`,
  async () => {
    const t0 = Date.now();
    const bucket = await createGcsBucket(storage, `rel-load-${short()}`);
    const entries: LoadEntry[] = Array.from({ length: N }, (_, i) => ({
      ...entryName('load'),
      type: i % 2 ? 'gcp' : 'local',
      fate: FATES[i % FATES.length]!,
    }));
    const own = (e: LoadEntry): string[] => OBJECTS.map((o) => `${e.name}/${o}`);
    const siblings = (e: LoadEntry): string[] => [`${e.name}2/${OBJECTS[0]}`, `${e.name}-x/${OBJECTS[1]}`];
    const gcpKeys = entries.filter((e) => e.type === 'gcp').flatMap((e) => [...own(e), ...siblings(e)]);
    await putGcs(bucket, gcpKeys, 32);
    putLocal(
      localRoot,
      'bucket-load',
      entries.filter((e) => e.type === 'local').flatMap((e) => [...own(e), ...siblings(e)]),
      64,
    );

    // Create every namespace, secret and entry, then start every workflow.
    await mapLimit(entries, 16, async (e) => {
      await kube.ensureNamespace(e.ns);
      await kube.createSecret(
        'garden',
        `entry-${e.name}`,
        e.type === 'gcp' ? { 'serviceaccount.json': SA.json } : { token: 'x' },
      );
      await kube.createEntry(e.name, {
        type: e.type,
        region: 'r',
        bucketName: e.type === 'gcp' ? bucket.name : 'bucket-load',
        secretRef: { name: `entry-${e.name}`, namespace: 'garden' },
      });
      cleanups.push(() => kube.forceRemove(e.name));
    });
    await mapLimit(entries, 32, async (e) => {
      e.h = await startEntryWorkflow(client, taskQueue, cluster, e.name, FAST);
      cleanups.push(() => e.h!.terminate('suite finished').catch(() => undefined));
    });
    const names = new Set(entries.map((e) => e.name));
    const listMine = async (): Promise<EntryObject[]> =>
      ((await kube.custom.listClusterCustomObject({ ...G })) as { items: EntryObject[] }).items.filter((o) =>
        names.has(o.metadata.name),
      );
    await pollFor(
      async () => {
        const ready = (await listMine()).filter((o) => o.status?.lastOperation?.state === 'Succeeded').length;
        return ready === N ? true : undefined;
      },
      `${N} entries Succeeded`,
      FULL ? 900_000 : 180_000,
      1000,
    );
    const tReady = Date.now();

    // Delete them all at once, each with its fate.
    await mapLimit(entries, 16, async (e) => {
      const annotations: Record<string, string> =
        e.fate === 'retention-0s'
          ? { [ANN.retention]: '0s' }
          : e.fate === 'retention-20s'
            ? { [ANN.retention]: '20s' }
            : e.fate === 'force-deletion'
              ? { [ANN.force]: 'true' }
              : { [ANN.keep]: 'true' };
      await kube.annotate(e.name, annotations);
      await kube.deleteEntry(e.name);
      await e.h!.signal(reconcileSignal, { reason: 'deletion' });
    });
    const tDeleted = Date.now();
    const results = await mapLimit(entries, 64, (e) => e.h!.result());
    const tDone = Date.now();

    const expected = (e: LoadEntry): string => (e.fate === 'keep-backups' ? 'kept' : 'deleted');
    const wrong = entries
      .filter((e, i) => results[i]!.outcome !== expected(e))
      .map((e, i) => `${e.name}: ${results[i]!.outcome}`);
    expect(wrong).toEqual([]);
    // Timers fired no earlier than their deadlines.
    for (const [i, e] of entries.entries()) {
      if (e.fate !== 'retention-20s') continue;
      const d = results[i]!.decisions.find((x) => x.action === 'retention-start');
      expect(d?.reason).toBe('retention 20s (annotation)');
    }
    // Objects: deleted prefixes empty, kept ones whole, every sibling there.
    const gcsLeft = new Set(await listGcs(bucket));
    const localLeft = new Set(listLocal(localRoot, 'bucket-load'));
    const outsideMissing: string[] = [];
    const ownWrong: string[] = [];
    for (const e of entries) {
      const left = e.type === 'gcp' ? gcsLeft : localLeft;
      for (const k of siblings(e)) if (!left.has(k)) outsideMissing.push(k);
      for (const k of own(e)) if (left.has(k) !== (e.fate === 'keep-backups')) ownWrong.push(k);
    }
    expect(outsideMissing).toEqual([]);
    expect(ownWrong).toEqual([]);
    // No workflow left running, no entry left behind.
    const running = (await mapLimit(entries, 32, async (e) => (await e.h!.describe()).status.name)).filter(
      (s) => s !== 'COMPLETED',
    );
    expect(running).toEqual([]);
    expect(await listMine()).toEqual([]);
    const warnings = worker.lines().filter((l) => l.level >= 40);
    recordResult(`L1 load, ${N} entries`, {
      entries: N,
      objects: N * (OBJECTS.length + 2),
      setupMs: tReady - t0,
      deleteRequestsMs: tDeleted - tReady,
      deletionToAllDoneMs: tDone - tDeleted,
      totalMs: tDone - t0,
      outcomes: Object.fromEntries(['deleted', 'kept'].map((o) => [o, results.filter((r) => r.outcome === o).length])),
      workerWarnings: warnings.length,
      warningMessages: [...new Set(warnings.map((l) => l.msg))].slice(0, 10),
    });
  },
  FULL ? 1_800_000 : 300_000,
);

/**
 * The watcher on the real stack (kube-apiserver + Temporal dev server + an in-process worker with the local provider):
 * each trigger Gardener defines reaches the workflow, and nothing else adds workflow history.
 */
import { existsSync } from 'node:fs';
import type { backupEntryWorkflow } from '../../../workflows/backup-entry-workflow';
import { statusQuery } from '../../../workflows/messages';
import type { WatcherHandle } from '../../../starter/start-watcher';
import { Harness, MERGE_PATCH, metricValue } from './watcher-harness';

const h = new Harness();
let w: WatcherHandle;

beforeAll(async () => {
  await h.setup();
  w = await h.leader();
});

afterAll(async () => {
  await h.teardown();
});

/** The history length of the entry's workflow when it is Ready and idle (no activity, no workflow task), else undefined. */
const idleHistoryLength = async (name: string): Promise<number | undefined> => {
  const handle = h.client.workflow.getHandle<typeof backupEntryWorkflow>(h.workflowId(name));
  if ((await handle.query(statusQuery)).phase !== 'Ready') return undefined;
  const d = await handle.describe();
  return (d.raw.pendingActivities ?? []).length === 0 && !d.raw.pendingWorkflowTask ? d.historyLength : undefined;
};

const etcdToken = async (ns: string): Promise<string | undefined> => {
  const s = await h.core.readNamespacedSecret({ namespace: ns, name: 'etcd-backup' });
  return s.data?.token ? Buffer.from(s.data.token, 'base64').toString() : undefined;
};

describe('watcher → workflow → Kubernetes', () => {
  it('a new entry gets its etcd-backup secret and a Succeeded status', async () => {
    const timed = async (): Promise<{
      e: Awaited<ReturnType<typeof h.createEntry>>;
      be: NonNullable<Awaited<ReturnType<typeof h.getEntry>>>;
      ms: number;
    }> => {
      const t0 = Date.now();
      const e = await h.createEntry({ secretData: { token: 'v1' } });
      const be = await h.until(
        async () => {
          const o = await h.getEntry(e.name);
          return o?.status?.lastOperation?.state === 'Succeeded' ? o : undefined;
        },
        'Succeeded',
        120_000,
        20,
      );
      return { e, be, ms: Date.now() - t0 };
    };
    const cold = await timed(); // the worker may still be starting (bundling the workflows)
    const { e, be, ms } = await timed();
    process.stderr.write(
      `[watcher] one entry: BackupEntry created → Succeeded status in ${ms} ms (first entry, worker starting: ${cold.ms} ms)\n`,
    );
    expect(be.status).toMatchObject({ lastOperation: { type: 'Create', state: 'Succeeded' }, observedGeneration: 1 });
    expect(be.metadata.finalizers).toEqual(['extensions.gardener.cloud/backupentry']);
    expect(await etcdToken(e.ns)).toBe('v1');
    expect(await h.runCount(e.name)).toBe(1);
  });

  it('a deleted entry with retention 0s has its backups deleted and disappears', async () => {
    const e = await h.createEntry({ annotations: { 'backupentry.extensions.gardener.cloud/retention-period': '0s' } });
    await h.untilSucceeded(e.name);
    const file = h.putObject(e.name);
    await h.deleteEntry(e.name);
    await h.untilGone(e.name);
    expect(existsSync(file)).toBe(false);
    await expect(h.core.readNamespacedSecret({ namespace: e.ns, name: 'etcd-backup' })).rejects.toMatchObject({
      code: 404,
    });
    const result = await h.client.workflow.getHandle(h.workflowId(e.name)).result();
    expect(result).toMatchObject({ outcome: 'deleted', phase: 'Deleted' });
  });

  it('the reconcile annotation is picked up and removed; a new timestamp with it triggers again', async () => {
    const e = await h.createEntry();
    await h.untilSucceeded(e.name, 'Create');
    await h.annotate(e.name, {
      'gardener.cloud/operation': 'reconcile',
      'gardener.cloud/timestamp': new Date().toISOString(),
    });
    await h.until(async () => {
      const o = await h.getEntry(e.name);
      return (
        o?.metadata.annotations?.['gardener.cloud/operation'] === undefined &&
        o?.status?.lastOperation?.type === 'Reconcile' &&
        o.status.lastOperation.state === 'Succeeded'
      );
    }, 'reconcile annotation removed and Reconcile Succeeded');
  });

  it('force-deletion ends the retention of a deleted entry at once', async () => {
    const e = await h.createEntry({ annotations: { 'backupentry.extensions.gardener.cloud/retention-period': '1h' } });
    await h.untilSucceeded(e.name);
    const file = h.putObject(e.name);
    await h.deleteEntry(e.name);
    const handle = h.client.workflow.getHandle<typeof backupEntryWorkflow>(h.workflowId(e.name));
    await h.until(async () => (await handle.query(statusQuery)).phase === 'Retaining', 'Retaining');
    expect(existsSync(file)).toBe(true);
    await h.annotate(e.name, { 'backupentry.core.gardener.cloud/force-deletion': 'true' });
    await h.untilGone(e.name);
    expect(existsSync(file)).toBe(false);
    const result = await handle.result();
    expect(result.decisions.some((d) => d.action === 'expedite' && d.by === 'kubectl-annotation')).toBe(true);
  });

  it('keep-backups releases a deleted entry and keeps its backups', async () => {
    const e = await h.createEntry({ annotations: { 'backupentry.extensions.gardener.cloud/retention-period': '1h' } });
    await h.untilSucceeded(e.name);
    const file = h.putObject(e.name);
    await h.deleteEntry(e.name);
    const handle = h.client.workflow.getHandle(h.workflowId(e.name));
    await h.until(async () => (await handle.query(statusQuery)).phase === 'Retaining', 'Retaining');
    await h.annotate(e.name, { 'backupentry.extensions.gardener.cloud/keep-backups': 'true' });
    await h.untilGone(e.name);
    expect(existsSync(file)).toBe(true);
    expect(await handle.result()).toMatchObject({ outcome: 'kept', phase: 'Kept' });
  });

  it('a longer retention-period annotation on a deleted entry extends its retention', async () => {
    const e = await h.createEntry({ annotations: { 'backupentry.extensions.gardener.cloud/retention-period': '1h' } });
    await h.untilSucceeded(e.name);
    await h.deleteEntry(e.name);
    const handle = h.client.workflow.getHandle(h.workflowId(e.name));
    const before = await h.until(async () => {
      const v = await handle.query(statusQuery);
      return v.phase === 'Retaining' ? v : undefined;
    }, 'Retaining');
    await h.annotate(e.name, { 'backupentry.extensions.gardener.cloud/retention-period': '3h' });
    const after = await h.until(async () => {
      const v = await handle.query(statusQuery);
      return v.deletionScheduledAt !== before.deletionScheduledAt ? v : undefined;
    }, 'deadline moved');
    expect(Date.parse(after.deletionScheduledAt!) - Date.parse(before.deletionScheduledAt!)).toBe(2 * 3600_000);
    // Leave it deleted: expedite so the shared API server keeps no entry of ours.
    await h.annotate(e.name, { 'backupentry.core.gardener.cloud/force-deletion': 'true' });
    await h.untilGone(e.name);
  });

  it('wait-for-state holds the entry until the annotation becomes restore', async () => {
    const e = await h.createEntry({ annotations: { 'gardener.cloud/operation': 'wait-for-state' } });
    const handle = h.client.workflow.getHandle(h.workflowId(e.name));
    await h.until(async () => (await handle.describe()).status.name === 'RUNNING', 'workflow ensured');
    expect((await h.getEntry(e.name))?.status?.lastOperation).toBeUndefined();
    await h.annotate(e.name, { 'gardener.cloud/operation': 'restore' });
    // Only a successful restore removes the annotation. The status may already say Reconcile: when the workflow's
    // first pass (from the start) saw `restore` itself, the watcher's signal for the change brings one more pass.
    await h.until(async () => {
      const o = await h.getEntry(e.name);
      return (
        o?.status?.lastOperation?.state === 'Succeeded' &&
        ['Restore', 'Reconcile'].includes(o.status.lastOperation.type) &&
        o.metadata.annotations?.['gardener.cloud/operation'] === undefined
      );
    }, 'restore done and annotation removed');
    expect(await etcdToken(e.ns)).toBeDefined();
  });

  it('migrate releases the entry and ends its workflow; a later restore starts a new run', async () => {
    const e = await h.createEntry();
    await h.untilSucceeded(e.name);
    await h.annotate(e.name, { 'gardener.cloud/operation': 'migrate' });
    const handle = h.client.workflow.getHandle(h.workflowId(e.name));
    expect(await handle.result()).toMatchObject({ outcome: 'migrated' });
    const migrated = await h.until(async () => {
      const o = await h.getEntry(e.name);
      return o?.metadata.annotations?.['gardener.cloud/operation'] === undefined ? o : undefined;
    }, 'migrate annotation removed');
    expect(migrated.status?.lastOperation).toMatchObject({ type: 'Migrate', state: 'Succeeded' });
    expect(migrated.metadata.finalizers ?? []).toEqual([]);
    await h.annotate(e.name, { 'gardener.cloud/operation': 'restore' });
    await h.untilSucceeded(e.name, 'Restore');
    await h.until(async () => (await h.runCount(e.name)) === 2, 'two runs: the migrated one and the restored one');
  });

  it('rotated provider secret data re-provisions the etcd-backup secret; a metadata-only change adds no history', async () => {
    const e = await h.createEntry({ secretData: { token: 'old' } });
    await h.untilSucceeded(e.name);
    expect(await etcdToken(e.ns)).toBe('old');
    await w.settled();
    const historyBefore = await h.historyLength(e.name);
    const signalsBefore = metricValue(await w.metrics.metrics(), 'bel_watcher_signals_total', {
      reason: 'secret-rotation',
    });
    // Labels and annotations change the resourceVersion, not the data: no signal.
    await h.core.patchNamespacedSecret(
      {
        namespace: 'garden',
        name: e.secretName,
        body: {
          metadata: {
            labels: { touched: 'yes' },
            annotations: { 'gardener.cloud/timestamp': new Date().toISOString() },
          },
        },
      },
      MERGE_PATCH,
    );
    await h.core.patchNamespacedSecret(
      { namespace: 'garden', name: e.secretName, body: { data: { token: Buffer.from('new').toString('base64') } } },
      MERGE_PATCH,
    );
    await h.until(async () => (await etcdToken(e.ns)) === 'new', 'etcd-backup secret holds the new data');
    await w.settled();
    const signalsAfter = metricValue(await w.metrics.metrics(), 'bel_watcher_signals_total', {
      reason: 'secret-rotation',
    });
    expect(signalsAfter - signalsBefore).toBe(1);
    expect(await h.historyLength(e.name)).toBeGreaterThan(historyBefore);
  });

  it('a forced relist (resync) adds no workflow history', async () => {
    const entries = await Promise.all([h.createEntry(), h.createEntry(), h.createEntry()]);
    await Promise.all(entries.map((e) => h.untilSucceeded(e.name)));
    await w.settled();
    // Count only once every workflow is idle (Ready, its last workflow task completed): while an activity runs, the
    // history does not move, so "unchanged for a while" would not do.
    const before = await Promise.all(entries.map((e) => h.until(() => idleHistoryLength(e.name), `${e.name} idle`)));
    const lengths = async (): Promise<number[]> => Promise.all(entries.map((e) => h.historyLength(e.name)));
    const text = (): Promise<string> => w.metrics.metrics();
    const relists = metricValue(await text(), 'bel_watcher_informer_restarts_total', {
      informer: 'backupentries',
      reason: 'relist',
    });
    const signals = metricValue(await text(), 'bel_watcher_signals_total');
    const ensured = metricValue(await text(), 'bel_watcher_workflows_ensured_total');
    w.relist();
    await h.until(
      async () =>
        metricValue(await text(), 'bel_watcher_informer_restarts_total', {
          informer: 'backupentries',
          reason: 'relist',
        }) > relists && w.isInSync(),
      'relisted and in sync again',
    );
    await w.settled();
    expect(await lengths()).toEqual(before);
    expect(metricValue(await text(), 'bel_watcher_signals_total')).toBe(signals);
    expect(metricValue(await text(), 'bel_watcher_workflows_ensured_total')).toBe(ensured);
  });

  it('serves /metrics, /healthz and /readyz', async () => {
    const base = `http://127.0.0.1:${w.httpPort}`;
    const get = async (path: string): Promise<{ status: number; text: string }> => {
      const r = await fetch(`${base}${path}`);
      return { status: r.status, text: await r.text() };
    };
    expect(await get('/healthz')).toEqual({ status: 200, text: 'ok\n' });
    expect(await get('/readyz')).toEqual({ status: 200, text: 'ok\n' });
    const m = await get('/metrics');
    expect(m.status).toBe(200);
    expect(metricValue(m.text, 'bel_watcher_leader')).toBe(1);
    expect(metricValue(m.text, 'bel_watcher_in_sync')).toBe(1);
    expect(metricValue(m.text, 'bel_watcher_signals_total', { reason: 'created' })).toBeGreaterThan(0);
    expect(metricValue(m.text, 'bel_watcher_events_total', { resource: 'backupentries' })).toBeGreaterThan(0);
    expect(m.text).toContain('bel_watcher_entries{intent="reconcile"}');
  });
});

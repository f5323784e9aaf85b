/**
 * Bursts and restarts on the real stack: a burst of new entries, a watcher replaced in the middle of a burst of
 * creates, updates and deletes, and the API server going away under a running watcher. Every entry must reach its
 * end state with at most one workflow run.
 */
import type { WatcherHandle } from '../../../starter/start-watcher';
import { ApiServerProxy, Harness, metricValue, type EntryRef } from './watcher-harness';
import { mapLimit } from '../../../tools/bench/live';

const h = new Harness();
const RETENTION_0 = { 'backupentry.extensions.gardener.cloud/retention-period': '0s' };
let current: WatcherHandle | undefined;

beforeAll(async () => {
  await h.setup();
  current = await h.leader();
  // Warm-up: the worker is ready once one entry went through.
  const e = await h.createEntry();
  await h.untilSucceeded(e.name, undefined, 120_000);
});

afterAll(async () => {
  await h.teardown();
});

const reconciled = async (name: string): Promise<boolean> => {
  const o = await h.getEntry(name);
  return (
    o?.status?.lastOperation?.state === 'Succeeded' &&
    o.metadata.annotations?.['gardener.cloud/operation'] === undefined
  );
};
const gone = async (name: string): Promise<boolean> => (await h.getEntry(name)) === undefined;

describe('bursts and restarts', () => {
  it('a burst of 30 new entries all reach Succeeded, one workflow each', async () => {
    const t0 = Date.now();
    const entries = await mapLimit(Array.from({ length: 30 }), 10, () => h.createEntry());
    const created = Date.now() - t0;
    await h.until(
      async () => (await Promise.all(entries.map((e) => reconciled(e.name)))).every(Boolean),
      'all 30 Succeeded',
      150_000,
      250,
    );
    const ms = Date.now() - t0;
    process.stderr.write(
      `[watcher] burst of 30: created in ${created} ms, all Succeeded ${ms} ms after the first create\n`,
    );
    for (const e of entries) expect(await h.runCount(e.name)).toBe(1);
  });

  it('a watcher restarted in the middle of a burst of creates, updates and deletes misses nothing', async () => {
    type Plan = 'keep' | 'reconcile' | 'delete';
    const plans: Plan[] = Array.from({ length: 30 }, (_, i) => (['keep', 'reconcile', 'delete'] as const)[i % 3]!);
    const t0 = Date.now();
    const refs: EntryRef[] = [];
    const act = async (e: EntryRef, plan: Plan): Promise<void> => {
      if (plan === 'reconcile')
        await h.annotate(e.name, {
          'gardener.cloud/operation': 'reconcile',
          'gardener.cloud/timestamp': new Date().toISOString(),
        });
      if (plan === 'delete') await h.deleteEntry(e.name);
    };
    // First half while the watcher runs.
    refs.push(
      ...(await mapLimit(plans.slice(0, 15), 5, (p) =>
        h.createEntry({ annotations: p === 'delete' ? RETENTION_0 : {} }),
      )),
    );
    // The watcher goes away in the middle of the burst (what it had not sent yet is dropped with it).
    await current!.stop();
    current = undefined;
    await mapLimit(refs, 5, (e, i) => act(e, plans[i]!));
    refs.push(
      ...(await mapLimit(plans.slice(15), 5, (p) => h.createEntry({ annotations: p === 'delete' ? RETENTION_0 : {} }))),
    );
    await mapLimit(refs.slice(15), 5, (e, i) => act(e, plans[15 + i]!));
    // A new watcher (no memory of the old one) takes over.
    current = await h.leader();
    await h.until(
      async () =>
        (await Promise.all(refs.map((e, i) => (plans[i] === 'delete' ? gone(e.name) : reconciled(e.name))))).every(
          Boolean,
        ),
      'every entry at its end state',
      150_000,
      250,
    );
    const ms = Date.now() - t0;
    process.stderr.write(
      `[watcher] burst of 30 with a watcher restart: every entry at its end state ${ms} ms after the first create\n`,
    );
    const runs = await Promise.all(refs.map((e) => h.runCount(e.name)));
    const noWorkflow: string[] = [];
    refs.forEach((e, i) => {
      expect(runs[i]).toBeLessThanOrEqual(1);
      if (plans[i] !== 'delete') expect(runs[i]).toBe(1);
      else if (runs[i] === 0) noWorkflow.push(e.name);
    });
    // A deleted entry that never got our finalizer disappears at once: it never needed a workflow.
    process.stderr.write(
      `[watcher] deleted before any watcher saw them (no workflow needed): ${noWorkflow.length} of 10\n`,
    );
    for (const e of refs.filter((_, i) => plans[i] === 'reconcile')) {
      expect((await h.getEntry(e.name))?.status?.lastOperation?.type).toMatch(/^(Create|Reconcile)$/);
    }
  });

  it('recovers when the API server goes away under it and misses nothing', async () => {
    await current!.stop();
    current = undefined;
    const proxy = await ApiServerProxy.start();
    try {
      const w = await h.leader({ kubeConfig: proxy.kubeConfig() });
      current = w;
      const [reconcileMe, deleteMe] = await Promise.all([h.createEntry(), h.createEntry({ annotations: RETENTION_0 })]);
      await Promise.all([h.untilSucceeded(reconcileMe.name), h.untilSucceeded(deleteMe.name)]);
      const errorsBefore = metricValue(await w.metrics.metrics(), 'bel_watcher_informer_restarts_total', {
        informer: 'backupentries',
        reason: 'error',
      });

      await proxy.down();
      await h.until(async () => !w.isInSync(), 'watcher notices the API server is gone', 30_000, 50);
      // Changes the watcher cannot see while the API server is away (made through a direct connection).
      let created!: EntryRef;
      await Promise.all([
        h.createEntry().then((e) => {
          created = e;
        }),
        h.annotate(reconcileMe.name, {
          'gardener.cloud/operation': 'reconcile',
          'gardener.cloud/timestamp': new Date().toISOString(),
        }),
        h.deleteEntry(deleteMe.name),
      ]);
      await proxy.up();

      await h.until(async () => w.isInSync(), 'in sync again', 60_000);
      await h.until(
        async () =>
          (await reconciled(created.name)) &&
          (await gone(deleteMe.name)) &&
          (await h.getEntry(reconcileMe.name))?.metadata.annotations?.['gardener.cloud/operation'] === undefined,
        'the changes made while the API server was away are all handled',
        90_000,
      );
      expect((await h.getEntry(reconcileMe.name))?.status?.lastOperation).toMatchObject({
        type: 'Reconcile',
        state: 'Succeeded',
      });
      expect(
        metricValue(await w.metrics.metrics(), 'bel_watcher_informer_restarts_total', {
          informer: 'backupentries',
          reason: 'error',
        }),
      ).toBeGreaterThan(errorsBefore);
    } finally {
      await current?.stop();
      current = undefined;
      await proxy.down();
    }
  });
});

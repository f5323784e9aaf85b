/**
 * What holding a deleted BackupEntry during retention costs gardenlet, and what releasing it saves
 * (docs/adr/0003-release-the-entry-during-retention.md): gardenlet's delete loop is played against the real API server
 * (test/support/gardenlet-delete-loop.ts) beside a real watcher and worker, once per retention mode.
 */
import { existsSync } from 'node:fs';
import { retentionAnchorName } from '../../../domain';
import { expediteUpdate, statusQuery } from '../../../workflows/messages';
import { playGardenletDeleteLoop, type DeleteLoopCost } from '../../support/gardenlet-delete-loop';
import type { WatcherHandle } from '../../../starter/start-watcher';
import { Harness } from './watcher-harness';

const hold = new Harness({ env: { BEL_RETENTION_MODE: 'hold-entry' } });
const release = new Harness({ env: { BEL_RETENTION_MODE: 'release-entry' } });
const costs: Record<string, DeleteLoopCost> = {};
let releaseWatcher: WatcherHandle;

beforeAll(async () => {
  await hold.setup();
  await release.setup();
  await hold.leader();
  releaseWatcher = await release.leader();
}, 180_000);

afterAll(async () => {
  await hold.teardown();
  await release.teardown();
  process.stderr.write(`[gardenlet-loop] ${JSON.stringify(costs)}\n`);
});

const secretExists = (h: Harness, name: string): Promise<boolean> =>
  h.core.readNamespacedSecret({ namespace: 'garden', name }).then(
    () => true,
    (e: { code?: number }) => {
      if (e.code === 404) return false;
      throw e;
    },
  );

it('hold-entry: gardenlet loops every 5 s for the whole retention (3 600 seed requests and 720 garden writes per hour per entry), adding no workflow history', async () => {
  const e = await hold.createEntry();
  hold.putObject(e.name);
  await hold.untilSucceeded(e.name);
  await hold.deleteEntry(e.name);
  // The pass ends with the Pending status and then the accepted deadline written onto the entry; then it is idle.
  await hold.until(async () => {
    const x = await hold.getEntry(e.name);
    return (
      x?.status?.lastOperation?.state === 'Pending' &&
      !!x.metadata.annotations?.['backupentry.extensions.gardener.cloud/deletion-deadline']
    );
  }, 'Pending and the deadline on the entry');
  const handle = hold.client.workflow.getHandle(hold.workflowId(e.name));
  const before = await hold.idleHistoryLength(e.name);
  const cost = await playGardenletDeleteLoop(hold.kc, {
    name: e.name,
    secretNamespace: 'garden',
    secretName: e.secretName,
    requeueMs: 300,
    maxRounds: 8,
    gardenNamespace: `garden-sim-${hold.suffix}`,
  });
  costs.hold = cost;
  expect(cost.finished).toBe(false);
  expect(cost.perHourWhileHeld.seedRequests).toBeGreaterThanOrEqual(3000);
  expect(cost.perHourWhileHeld.gardenWrites).toBe(720);
  // The loop's annotation and timestamp writes are no triggers: the workflow's history did not grow.
  expect(await hold.historyLength(e.name)).toBe(before);
  expect((await handle.query(statusQuery)).phase).toBe('Retaining');
});

it('release-entry: gardenlet finishes within seconds; retention goes on in the workflow, anchored on its own secret; expedite deletes', async () => {
  const e = await release.createEntry();
  const file = release.putObject(e.name);
  await release.untilSucceeded(e.name);
  await release.deleteEntry(e.name);
  const handle = release.client.workflow.getHandle(release.workflowId(e.name));
  await release.until(
    async () =>
      (await handle.query(statusQuery)).decisions.some((d) => d.reason === 'entry released during retention') ||
      undefined,
    'the entry released',
  );
  const cost = await playGardenletDeleteLoop(release.kc, {
    name: e.name,
    secretNamespace: 'garden',
    secretName: e.secretName,
    requeueMs: 300,
    maxRounds: 40,
    gardenNamespace: `garden-sim-${release.suffix}`,
  });
  costs.release = cost;
  expect(cost.finished).toBe(true);
  expect(cost.rounds).toBeLessThanOrEqual(2);
  // gardenlet deleted the extension secret, which we no longer hold: the retention's record and a copy of the
  // credentials are on its anchor (activities/retention-anchor.ts).
  expect(await secretExists(release, e.secretName)).toBe(false);
  expect(await secretExists(release, retentionAnchorName(e.name))).toBe(true);
  const v = await handle.query(statusQuery);
  expect(v.phase).toBe('Retaining');
  expect(existsSync(file)).toBe(true);

  // Never lose track: the run is terminated (no BackupEntry left to notice); the watcher finds the retention record on
  // the anchor at its next relist and starts a new run, which keeps the deadline.
  await handle.terminate('operator terminated the run');
  releaseWatcher.relist();
  const resumed = await release.until(async () => {
    const d = await release.client.workflow.getHandle(release.workflowId(e.name)).describe();
    return d.status.name === 'RUNNING' ? release.client.workflow.getHandle(release.workflowId(e.name)) : undefined;
  }, 'a new run started by the watcher from the retention record');
  const v2 = await release.until(async () => {
    const s = await resumed.query(statusQuery);
    return s.phase === 'Retaining' ? s : undefined;
  }, 'the new run retaining');
  expect(v2.deletionScheduledAt).toBe(v.deletionScheduledAt);
  expect(v2.decisions.some((d) => d.reason === 'resumed from the retention record')).toBe(true);
  await resumed.executeUpdate(expediteUpdate, { args: [{ reason: 'shoot gone for good', by: 'ops' }] });
  await release.until(async () => !existsSync(file) || undefined, 'the backups deleted');
  await release.until(
    async () => !(await secretExists(release, retentionAnchorName(e.name))) || undefined,
    'the anchor gone with the retention',
  );
});

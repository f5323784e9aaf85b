/**
 * A retention in `release-entry` mode with Gardener's own gardenlet BackupEntry reconciler (tools/gardenlet-harness,
 * Gardener v1.149.0) driving the seed, beside a real watcher and worker (issue 23, item 2). The seed is a kube-apiserver
 * of this file's own, so its watcher serves entries of the default class exactly as on a seed (gardenlet sets no class).
 *
 * What it shows: gardenlet's real delete loop ends in a few rounds once our worker has released the entry; its rounds
 * null every annotation and label on `garden/entry-<name>` and delete it, yet the retention lives on, anchored where
 * Gardener does not look (the anchor secret, our finalizer on the seed's BackupBucket); a lost run is resumed from the
 * anchor with the deadline an operator extended; expedite deletes only the prefix, and the anchor and the bucket's
 * finalizer go with the retention. (Which credentials the deletion uses: test/integration/kube/kube-activities.test.ts.)
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import {
  ANNOTATION_RETENTION_RECORDS,
  BUCKET_RETENTION_FINALIZER,
  FINALIZER,
  retentionAnchorName,
} from '../../../domain';
import type { WatcherHandle } from '../../../starter/start-watcher';
import {
  applyCrd,
  BACKUP_BUCKET_CRD,
  startKubeControlPlane,
  toolPaths,
  type KubeControlPlane,
} from '../../../tools/stack';
import { expediteUpdate, extendRetentionUpdate, statusQuery } from '../../../workflows/messages';
import { GardenletHarness, gardenletHarnessPath, type HarnessOutput } from '../../support/gardenlet-harness';
import { bucketFinalizers, createBackupBucket } from '../../support/backup-buckets';
import { BUCKET, Harness } from './watcher-harness';

const bin = gardenletHarnessPath();
const inCi = process.env.CI === 'true';
const MISSING =
  'gardenlet-harness is not installed (GARDENLET_HARNESS in <cache>/tools.env): run tools/scripts/install-tools.sh';
if (!bin && !inCi) process.stderr.write(`[gardenlet-retention.test] SKIPPED: ${MISSING}\n`);
if (!bin && inCi) {
  it('gardenlet-harness is installed (CI)', () => {
    throw new Error(MISSING);
  });
}

const BUCKET_SECRET = `bucket-${BUCKET}`;

/** A seed of its own (kube-apiserver + etcd), its extension BackupBucket, our worker and watcher, and gardenlet. */
class Seed {
  readonly dir = mkdtempSync(join(tmpdir(), 'bel-gardenlet-retention-'));
  plane!: KubeControlPlane;
  h!: Harness;
  watcher!: WatcherHandle;
  gardenlet!: GardenletHarness;

  async start(mode: 'release-entry' | 'hold-entry'): Promise<void> {
    const tools = toolPaths();
    this.plane = await startKubeControlPlane({
      etcdBin: tools.ETCD,
      apiserverBin: tools.KUBE_APISERVER,
      dir: join(this.dir, 'kube'),
    });
    const kc = new KubeConfig();
    kc.loadFromFile(this.plane.kubeconfig);
    await applyCrd(kc);
    await applyCrd(kc, BACKUP_BUCKET_CRD);
    this.h = new Harness({
      kubeConfig: kc,
      env: { BEL_RETENTION_MODE: mode, BEL_CLASSES: 'shoot', BEL_PROVIDER_SECRET_NAMESPACES: 'garden' },
    });
    await this.h.setup();
    this.watcher = await this.h.leader();
    this.gardenlet = new GardenletHarness(bin!, this.plane.kubeconfig, [
      '--max-wait',
      '100ms',
      '--event-timeout',
      '10s',
    ]);
    expect((await this.gardenlet.ready()).gardenerVersion).toBe('v1.149.0');
    // The seed's extension BackupBucket as gardenlet's BackupBucket controller keeps it: its current credentials.
    await this.h.core.createNamespacedSecret({
      namespace: 'garden',
      body: { metadata: { name: BUCKET_SECRET }, stringData: { hostPath: '/var/backups', token: 'current' } },
    });
    await createBackupBucket(this.h.custom, { name: BUCKET, secret: BUCKET_SECRET });
  }

  async stop(): Promise<void> {
    await this.gardenlet?.stop();
    await this.h?.teardown();
    await this.plane?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** An entry made by gardenlet's reconciler from a core BackupEntry, reconciled by our worker, with one object. */
  async entry(): Promise<{ name: string; own: string; neighbour: string }> {
    const { name, ns } = this.h.newName();
    await this.h.core.createNamespace({ body: { metadata: { name: ns } } });
    const created = await this.gardenlet.run(
      `create --name ${name} --bucket ${BUCKET} --provider local --data hostPath=/var/backups --data token=pinned --until succeeded --steps 20`,
      120_000,
    );
    // Our worker's Succeeded is an event gardenlet waits for; on a busy machine a step may end first: step again.
    let core: (typeof created.steps)[number]['core'] | undefined = created.steps.at(-1)?.core;
    for (let i = 0; i < 10 && core?.lastOperation?.state !== 'Succeeded'; i++) {
      await this.h.untilSucceeded(name);
      core = (await this.gardenlet.run(`step --name ${name} --until succeeded --steps 5`, 120_000)).steps.at(-1)?.core;
    }
    expect([core?.lastOperation?.state, created.stopped]).toEqual(['Succeeded', created.stopped]);
    await this.h.untilSucceeded(name);
    return { name, own: this.h.putObject(name), neighbour: this.h.putObject(`${name}x`) };
  }
}

const costs: Record<string, unknown> = {};
afterAll(() => process.stderr.write(`[gardenlet-retention] ${JSON.stringify(costs)}\n`));
const totals = (out: HarnessOutput) => ({ rounds: out.steps.length, ...out.totals });

(bin ? describe : describe.skip)('hold-entry under gardenlet’s own delete loop (Gardener v1.149.0)', () => {
  const s = new Seed();
  beforeAll(() => s.start('hold-entry'), 240_000);
  afterAll(() => s.stop());

  it('gardenlet re-runs its delete round every 5 s while our worker holds the entry (3 seed writes + 1 garden write each), adding no workflow history; expedite ends it', async () => {
    const { name, own, neighbour } = await s.entry();
    await s.gardenlet.run(`delete --name ${name} --steps 1`, 60_000);
    const handle = s.h.client.workflow.getHandle(s.h.workflowId(name));
    await s.h.until(async () => (await handle.query(statusQuery)).phase === 'Retaining' || undefined, 'Retaining');
    const before = await s.h.idleHistoryLength(name);
    const held = await s.gardenlet.run(`step --name ${name} --steps 4 --until never`, 120_000);
    costs.holdRounds = totals(held);
    for (const st of held.steps) {
      expect([st.outcome, st.requeueAfter, st.seedWrites, st.gardenWrites]).toEqual(['requeueAfter', '5s', 3, 1]);
    }
    const perHour = (n: number): number => (n / held.steps.length) * (3600 / 5);
    costs.holdPerHour = {
      seedWrites: perHour(held.totals.seedWrites),
      gardenWrites: perHour(held.totals.gardenWrites),
    };
    expect(costs.holdPerHour).toEqual({ seedWrites: 2160, gardenWrites: 720 });
    // gardenlet's rounds are no triggers of ours: the workflow's history did not grow, the entry is still held.
    expect(await s.h.historyLength(name)).toBe(before);
    expect(held.steps.at(-1)!.extension.finalizers).toContain(FINALIZER);
    expect(existsSync(own)).toBe(true);
    await handle.executeUpdate(expediteUpdate, { args: [{ reason: 'shoot gone for good', by: 'ops' }] });
    await s.h.until(async () => !existsSync(own) || undefined, 'the backups deleted');
    expect(existsSync(neighbour)).toBe(true);
    const done = await s.gardenlet.run(`step --name ${name} --until gone --steps 10`, 120_000);
    costs.holdFinalRounds = totals(done);
    expect(done.steps.at(-1)!.core.exists).toBe(false);
  });
});

(bin ? describe : describe.skip)('release-entry under gardenlet’s own delete loop (Gardener v1.149.0)', () => {
  const s = new Seed();
  beforeAll(() => s.start('release-entry'), 240_000);
  afterAll(() => s.stop());

  const secretOf = (name: string) =>
    s.h.core.readNamespacedSecret({ namespace: 'garden', name }).then(
      (s) => s,
      (e: { code?: number }) => {
        if (e.code === 404) return undefined;
        throw e;
      },
    );
  const finalizersOfBucket = (): Promise<string[]> => bucketFinalizers(s.h.custom, BUCKET);

  it('gardenlet finishes in a few rounds, its wipe leaves the retention anchored; a lost run resumes with the extended deadline; expedite deletes only the prefix', async () => {
    const { name, own, neighbour } = await s.entry();

    // The core entry is deleted: gardenlet's real rounds until it is gone from the garden.
    const deleted = await s.gardenlet.run(`delete --name ${name} --until gone --steps 40`, 180_000);
    costs.deleteRounds = totals(deleted);
    expect(deleted.steps.length).toBeLessThanOrEqual(6);
    const handle = s.h.client.workflow.getHandle(s.h.workflowId(name));
    const before = await handle.query(statusQuery);
    expect(before.phase).toBe('Retaining');
    expect(before.decisions.some((d) => d.reason === 'entry released during retention')).toBe(true);
    // gardenlet deleted its secret (we no longer hold it); the retention's anchor and the bucket's finalizer remain.
    expect(await secretOf(`entry-${name}`)).toBeUndefined();
    const anchor = await secretOf(retentionAnchorName(name));
    expect(anchor?.metadata?.finalizers).toEqual([FINALIZER]);
    expect(JSON.parse(anchor!.metadata!.annotations![ANNOTATION_RETENTION_RECORDS]!)[name]).toMatchObject({
      bucketName: BUCKET,
      deletionDeadline: before.deletionScheduledAt,
    });
    expect(await finalizersOfBucket()).toEqual([BUCKET_RETENTION_FINALIZER]);
    // After the release: gardenlet makes no more requests for this entry (an event-less step finds nothing to do).
    const idle = await s.gardenlet.run(`step --name ${name} --steps 1`, 60_000);
    costs.afterRelease = totals(idle);
    expect(idle.totals.seedWrites).toBe(0);
    expect(idle.totals.gardenWrites).toBe(0);

    // An operator extends the retention; then the run is lost (terminated). The watcher resumes it from the anchor.
    await handle.executeUpdate(extendRetentionUpdate, { args: [{ by: '24h', reason: 'audit', requestedBy: 'ops' }] });
    const extended = (await handle.query(statusQuery)).deletionScheduledAt!;
    expect(Date.parse(extended) - Date.parse(before.deletionScheduledAt!)).toBe(24 * 3_600_000);
    await handle.terminate('lost run');
    s.watcher.relist();
    const resumed = await s.h.until(async () => {
      const h = s.h.client.workflow.getHandle(s.h.workflowId(name));
      const v = await h.query(statusQuery).catch(() => undefined);
      return v?.phase === 'Retaining' && v.decisions.some((d) => d.reason === 'resumed from the retention record')
        ? { h, v }
        : undefined;
    }, 'a new run resumed from the anchor');
    expect(resumed.v.deletionScheduledAt).toBe(extended);
    expect(existsSync(own)).toBe(true);

    // Expedite: only the prefix goes; the anchor and the bucket's hold go with the retention.
    await resumed.h.executeUpdate(expediteUpdate, { args: [{ reason: 'shoot gone for good', by: 'ops' }] });
    await s.h.until(async () => !existsSync(own) || undefined, 'the backups deleted');
    expect(existsSync(neighbour)).toBe(true);
    await s.h.until(async () => (await secretOf(retentionAnchorName(name))) === undefined || undefined, 'anchor gone');
    await s.h.until(async () => (await finalizersOfBucket()).length === 0 || undefined, 'bucket let go');
    const end = await resumed.h.query(statusQuery);
    expect(end.phase).toBe('Deleted');
  });
});

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
  BACKUPENTRY_API,
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

const BB = { group: BACKUPENTRY_API.group, version: BACKUPENTRY_API.version, plural: 'backupbuckets' };
const BUCKET_SECRET = `bucket-${BUCKET}`;

(bin ? describe : describe.skip)('release-entry under gardenlet’s own delete loop (Gardener v1.149.0)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bel-gardenlet-retention-'));
  let plane: KubeControlPlane;
  let seed: Harness;
  let watcher: WatcherHandle;
  let gardenlet: GardenletHarness;
  const costs: Record<string, unknown> = {};

  beforeAll(async () => {
    const tools = toolPaths();
    plane = await startKubeControlPlane({
      etcdBin: tools.ETCD,
      apiserverBin: tools.KUBE_APISERVER,
      dir: join(dir, 'kube'),
    });
    const kc = new KubeConfig();
    kc.loadFromFile(plane.kubeconfig);
    await applyCrd(kc);
    await applyCrd(kc, BACKUP_BUCKET_CRD);
    seed = new Harness({
      kubeConfig: kc,
      env: { BEL_RETENTION_MODE: 'release-entry', BEL_CLASSES: 'shoot', BEL_PROVIDER_SECRET_NAMESPACES: 'garden' },
    });
    await seed.setup();
    watcher = await seed.leader();
    gardenlet = new GardenletHarness(bin!, plane.kubeconfig, ['--max-wait', '100ms', '--event-timeout', '10s']);
    expect((await gardenlet.ready()).gardenerVersion).toBe('v1.149.0');
    // The seed's extension BackupBucket as gardenlet's BackupBucket controller keeps it: its current credentials.
    await seed.core.createNamespacedSecret({
      namespace: 'garden',
      body: { metadata: { name: BUCKET_SECRET }, stringData: { hostPath: '/var/backups', token: 'current' } },
    });
    await seed.custom.createClusterCustomObject({
      ...BB,
      body: {
        apiVersion: BACKUPENTRY_API.apiVersion,
        kind: 'BackupBucket',
        metadata: { name: BUCKET },
        spec: { type: 'local', region: 'local', secretRef: { name: BUCKET_SECRET, namespace: 'garden' } },
      },
    });
  }, 240_000);

  afterAll(async () => {
    await gardenlet?.stop();
    await seed?.teardown();
    await plane?.stop();
    rmSync(dir, { recursive: true, force: true });
    process.stderr.write(`[gardenlet-retention] ${JSON.stringify(costs)}\n`);
  });

  const secretOf = (name: string) =>
    seed.core.readNamespacedSecret({ namespace: 'garden', name }).then(
      (s) => s,
      (e: { code?: number }) => {
        if (e.code === 404) return undefined;
        throw e;
      },
    );
  const bucketFinalizers = async (): Promise<string[]> =>
    ((await seed.custom.getClusterCustomObject({ ...BB, name: BUCKET })) as { metadata: { finalizers?: string[] } })
      .metadata.finalizers ?? [];
  const totals = (out: HarnessOutput) => ({ rounds: out.steps.length, ...out.totals });

  it('gardenlet finishes in a few rounds, its wipe leaves the retention anchored; a lost run resumes with the extended deadline; expedite deletes only the prefix', async () => {
    const { name, ns } = seed.newName();
    await seed.core.createNamespace({ body: { metadata: { name: ns } } });
    // gardenlet creates the extension entry and garden/entry-<name>; our watcher and worker reconcile it.
    const created = await gardenlet.run(
      `create --name ${name} --bucket ${BUCKET} --provider local --data hostPath=/var/backups --data token=pinned --until succeeded --steps 20`,
      120_000,
    );
    expect(created.steps.at(-1)!.core?.lastOperation?.state).toBe('Succeeded');
    await seed.untilSucceeded(name);
    const own = seed.putObject(name);
    const neighbour = seed.putObject(`${name}x`);

    // The core entry is deleted: gardenlet's real rounds until it is gone from the garden.
    const deleted = await gardenlet.run(`delete --name ${name} --until gone --steps 40`, 180_000);
    costs.deleteRounds = totals(deleted);
    expect(deleted.steps.length).toBeLessThanOrEqual(6);
    const handle = seed.client.workflow.getHandle(seed.workflowId(name));
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
    expect(await bucketFinalizers()).toEqual([BUCKET_RETENTION_FINALIZER]);
    // After the release: gardenlet makes no more requests for this entry (an event-less step finds nothing to do).
    const idle = await gardenlet.run(`step --name ${name} --steps 1`, 60_000);
    costs.afterRelease = totals(idle);
    expect(idle.totals.seedWrites).toBe(0);
    expect(idle.totals.gardenWrites).toBe(0);

    // An operator extends the retention; then the run is lost (terminated). The watcher resumes it from the anchor.
    await handle.executeUpdate(extendRetentionUpdate, { args: [{ by: '24h', reason: 'audit', requestedBy: 'ops' }] });
    const extended = (await handle.query(statusQuery)).deletionScheduledAt!;
    expect(Date.parse(extended) - Date.parse(before.deletionScheduledAt!)).toBe(24 * 3_600_000);
    await handle.terminate('lost run');
    watcher.relist();
    const resumed = await seed.until(async () => {
      const h = seed.client.workflow.getHandle(seed.workflowId(name));
      const s = await h.query(statusQuery).catch(() => undefined);
      return s?.phase === 'Retaining' && s.decisions.some((d) => d.reason === 'resumed from the retention record')
        ? { h, s }
        : undefined;
    }, 'a new run resumed from the anchor');
    expect(resumed.s.deletionScheduledAt).toBe(extended);
    expect(existsSync(own)).toBe(true);

    // Expedite: only the prefix goes; the anchor and the bucket's hold go with the retention.
    await resumed.h.executeUpdate(expediteUpdate, { args: [{ reason: 'shoot gone for good', by: 'ops' }] });
    await seed.until(async () => !existsSync(own) || undefined, 'the backups deleted');
    expect(existsSync(neighbour)).toBe(true);
    await seed.until(async () => (await secretOf(retentionAnchorName(name))) === undefined || undefined, 'anchor gone');
    await seed.until(async () => (await bucketFinalizers()).length === 0 || undefined, 'bucket let go');
    const end = await resumed.h.query(statusQuery);
    expect(end.phase).toBe('Deleted');
  });
});

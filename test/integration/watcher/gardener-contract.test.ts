/**
 * Gardener's small print, played as gardenlet plays it on the real kube-apiserver with a watcher and an in-process
 * worker (docs/gardener-behaviour.md): control-plane migration with a `source-` entry, the `reconcile` annotation on a
 * deleting entry, the Pending status clearing lastError, and an inventory that fails at retention start.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BACKUPENTRY_API } from '../../../domain';
import { cancelCleanupUpdate, statusQuery } from '../../../workflows/messages';
import { BUCKET, G, Harness } from './watcher-harness';

// The worker's default retention stays at 72h: nothing here may be deleted early except the source- entry.
const h = new Harness();

beforeAll(async () => {
  await h.setup();
  await h.leader();
});

afterAll(async () => {
  await h.teardown();
});

const files = (bucket: string, prefix: string): string[] => {
  const dir = join(h.root, bucket, prefix);
  return existsSync(dir)
    ? readdirSync(dir, { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.gz'))
        .sort()
    : [];
};
const secretExists = (ns: string, name: string): Promise<boolean> =>
  h.core.readNamespacedSecret({ namespace: ns, name }).then(
    () => true,
    (e: { code?: number }) => {
      if (e.code === 404) return false;
      throw e;
    },
  );

describe('control-plane migration: the source- entry', () => {
  it('is deleted at once (no retention, no annotation), empties only the old prefix and removes only source-etcd-backup', async () => {
    // The main entry on the new seed: live, Ready, its etcd-backup secret in the shoot namespace.
    const main = await h.createEntry();
    h.putObject(main.name, 'etcd-main/v2/Full-00000000-00000001-1.gz');
    await h.untilSucceeded(main.name);
    expect(await secretExists(main.ns, 'etcd-backup')).toBe(true);

    // gardenlet's restore creates source-<name> pointing at the old seed's bucket, then destroys it after the copy.
    const oldBucket = 'bucket-old-seed';
    mkdirSync(join(h.root, oldBucket), { recursive: true });
    const sourceName = `source-${main.name}`;
    await h.core.createNamespacedSecret({
      namespace: 'garden',
      body: { metadata: { name: `entry-${sourceName}` }, stringData: { token: 'old' } },
    });
    await h.custom.createClusterCustomObject({
      ...G,
      body: {
        apiVersion: BACKUPENTRY_API.apiVersion,
        kind: BACKUPENTRY_API.kind,
        metadata: { name: sourceName },
        spec: {
          type: 'local',
          class: h.cls,
          region: 'local',
          bucketName: oldBucket,
          secretRef: { name: `entry-${sourceName}`, namespace: 'garden' },
        },
      },
    });
    const old = ['etcd-main/v2/Full-00000000-00000009-1.gz', 'etcd-main/v2/Incr-00000010-00000020-2.gz'];
    for (const k of old) {
      const f = join(h.root, oldBucket, main.name, k);
      mkdirSync(join(f, '..'), { recursive: true });
      writeFileSync(f, 'x');
    }
    await h.untilSucceeded(sourceName);
    expect(await secretExists(main.ns, 'source-etcd-backup')).toBe(true);

    // DestroySourceBackupEntry: a plain delete, no force-deletion annotation (that one is set on the core object only).
    const t0 = Date.now();
    await h.deleteEntry(sourceName);
    await h.untilGone(sourceName, 60_000);
    const goneAfterMs = Date.now() - t0;
    expect(goneAfterMs).toBeLessThan(60_000);
    expect(files(oldBucket, main.name)).toEqual([]);
    expect(await secretExists(main.ns, 'source-etcd-backup')).toBe(false);
    // Untouched: the main entry, its prefix in the new bucket, its etcd-backup secret.
    expect(files(BUCKET, main.name)).toEqual(['etcd-main/v2/Full-00000000-00000001-1.gz']);
    expect(await secretExists(main.ns, 'etcd-backup')).toBe(true);
    expect((await h.getEntry(main.name))?.status?.lastOperation).toMatchObject({ state: 'Succeeded' });
    process.stderr.write(`[gardener-contract] source- entry gone ${goneAfterMs} ms after its deletion\n`);
  });
});

describe('the small print of a deletion', () => {
  it('removes a leftover reconcile annotation on delete, so gardenlet timestamp bumps start no passes', async () => {
    const e = await h.createEntry();
    await h.untilSucceeded(e.name);
    await h.deleteEntry(e.name);
    await h.until(async () => (await h.getEntry(e.name))?.status?.lastOperation?.state === 'Pending', 'Pending');
    await h.annotate(e.name, {
      'gardener.cloud/operation': 'reconcile',
      'gardener.cloud/timestamp': new Date().toISOString(),
    });
    await h.until(
      async () => (await h.getEntry(e.name))?.metadata.annotations?.['gardener.cloud/operation'] === undefined,
      'the reconcile annotation removed from the deleting entry',
    );
    // gardenlet bumps its timestamp every round; without the operation annotation that is no trigger.
    const before = await h.idleHistoryLength(e.name);
    for (let i = 0; i < 5; i++)
      await h.annotate(e.name, { 'gardener.cloud/timestamp': new Date(Date.now() + i * 1000).toISOString() });
    const probe = await h.createEntry();
    await h.untilSucceeded(probe.name); // the watcher has processed every event before this one
    expect(await h.historyLength(e.name)).toBe(before);
  });

  it('the Pending status clears a lastError left by a failed attempt', async () => {
    const e = await h.createEntry();
    await h.untilSucceeded(e.name);
    await h.annotate(e.name, { 'backupentry.extensions.gardener.cloud/keep-backups': 'maybe' });
    await h.deleteEntry(e.name);
    await h.until(async () => {
      const x = await h.getEntry(e.name);
      return x?.status?.lastOperation?.state === 'Error' && !!x.status.lastError;
    }, 'Error with lastError for the invalid keep-backups value');
    await h.annotate(e.name, { 'backupentry.extensions.gardener.cloud/keep-backups': null });
    const x = await h.until(async () => {
      const y = await h.getEntry(e.name);
      return y?.status?.lastOperation?.state === 'Pending' ? y : undefined;
    }, 'Pending after the fix');
    expect(x.status?.lastError ?? null).toBeNull();
  });

  it('a bucket gone during the retention blocks neither the retention nor cancel-cleanup (which cannot count what it keeps)', async () => {
    const e = await h.createEntry({ annotations: {} });
    await h.untilSucceeded(e.name);
    // The bucket disappears (deleted by hand, credentials revoked): nothing can be counted or listed in it.
    const saved = join(h.root, `${BUCKET}-moved-${e.name.slice(-8)}`);
    rmSync(saved, { recursive: true, force: true });
    renameSync(join(h.root, BUCKET), saved);
    try {
      await h.deleteEntry(e.name);
      const handle = h.client.workflow.getHandle(h.workflowId(e.name));
      // The retention touches no bucket (deleteBackups counts the objects when the deadline comes).
      const v = await h.until(async () => {
        const q = await handle.query(statusQuery);
        return q.phase === 'Retaining' ? q : undefined;
      }, 'Retaining');
      expect(v.inventory).toBeUndefined();
      await handle.executeUpdate(cancelCleanupUpdate, { args: [{ reason: 'bucket under investigation', by: 'ops' }] });
      await h.untilGone(e.name);
    } finally {
      renameSync(saved, join(h.root, BUCKET));
    }
  });
});

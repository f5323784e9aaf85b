import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { BUCKET_RETENTION_FINALIZER } from '../../../domain';
import { waitFor } from '../../../tools/stack/wait';
import { BB, answer, createBackupBucket } from '../../support/backup-buckets';
import { adminKubeConfig, uniqueName } from '../../support/env';
import { type K8sObject, ROOT, kubectl, objectsOf, renderChart } from '../../support/manifests';

const PLAIN = join(ROOT, 'deploy', 'admission', 'retained-buckets.yaml');
const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/**
 * Retained backups outlive a BackupBucket deletion: deploy/admission/retained-buckets.yaml (= the chart's
 * templates/retained-buckets-policy.yaml) on the real kube-apiserver refuses to delete an extension BackupBucket that
 * carries our retention finalizer, for every user, and lets every other bucket go.
 */
describe('the retained-buckets admission policy', () => {
  const kc = adminKubeConfig();
  const custom = kc.makeApiClient(CustomObjectsApi);
  const made: string[] = [];

  const makeBucket = async (finalizers: string[]): Promise<string> => {
    const name = uniqueName('retained');
    await createBackupBucket(custom, { name, secret: `bucket-${name}`, finalizers });
    made.push(name);
    return name;
  };
  const remove = (name: string) => answer(custom.deleteClusterCustomObject({ ...BB, name }));
  const bucketState = async (name: string) => {
    const got = await answer(custom.getClusterCustomObject({ ...BB, name }));
    if (got.code !== 200) return 'gone';
    const o = (await custom.getClusterCustomObject({ ...BB, name })) as { metadata: { deletionTimestamp?: string } };
    return o.metadata.deletionTimestamp ? 'terminating' : 'present';
  };

  beforeAll(async () => {
    await kubectl('apply', '-f', PLAIN);
    // A new policy takes a moment to reach the admission plugin: probe with a dry-run delete of a held bucket.
    const probe = await makeBucket([BUCKET_RETENTION_FINALIZER]);
    await waitFor(
      async () => (await answer(custom.deleteClusterCustomObject({ ...BB, name: probe, dryRun: 'All' }))).code === 403,
      {
        what: 'the retained-buckets policy to refuse a held bucket',
        timeoutMs: 30_000,
      },
    );
  });

  afterAll(async () => {
    for (const name of made) {
      await answer(custom.patchClusterCustomObject({ ...BB, name, body: { metadata: { finalizers: null } } }, MERGE));
      await remove(name);
    }
    await kubectl('delete', '--ignore-not-found', '-f', PLAIN).catch(() => undefined);
  });

  it('is the chart rendered with its defaults, and the API server accepts it', async () => {
    const strip = (o: K8sObject): object => ({ ...o, metadata: { name: o.metadata.name } });
    const chart = objectsOf(await renderChart('retained-buckets-seed')).filter(
      (o) => o.kind.startsWith('ValidatingAdmissionPolicy') && o.metadata.name.endsWith('-retained-buckets'),
    );
    expect(chart).toHaveLength(2);
    expect(objectsOf(readFileSync(PLAIN, 'utf8')).map(strip)).toEqual(chart.map(strip));
  });

  it('refuses to delete a bucket while a retention holds it, saying why; the bucket and its finalizer stay', async () => {
    const held = await makeBucket([BUCKET_RETENTION_FINALIZER, 'core.gardener.cloud/gardener']);
    const refused = await remove(held);
    expect(refused.code).toBe(403);
    expect(refused.message).toContain('backupentry-lifecycle-retained-buckets');
    expect(refused.message).toContain(
      `BackupBucket ${held} still holds backups of deleted BackupEntries in their retention period`,
    );
    expect(await bucketState(held)).toBe('present'); // not even terminating: the provider is never asked to delete it
    // The last retention ends (the worker removes its finalizer): the deletion goes through.
    await custom.patchClusterCustomObject(
      { ...BB, name: held, body: { metadata: { finalizers: ['core.gardener.cloud/gardener'] } } },
      MERGE,
    );
    expect((await remove(held)).code).toBe(200);
    expect(await bucketState(held)).toBe('terminating');
  });

  it('lets a bucket without our finalizer be deleted, whoever else holds it', async () => {
    const free = await makeBucket([]);
    expect((await remove(free)).code).toBe(200);
    expect(await bucketState(free)).toBe('gone');
    const other = await makeBucket(['core.gardener.cloud/gardener']);
    expect((await remove(other)).code).toBe(200);
    expect(await bucketState(other)).toBe('terminating');
  });
});

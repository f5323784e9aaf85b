import type { CustomObjectsApi } from '@kubernetes/client-node';
import { BACKUPENTRY_API } from '../../domain';

/** The seed's extension BackupBuckets (cluster-scoped, CRD deploy/crd/extensions.gardener.cloud_backupbuckets.yaml). */
export const BB = { group: BACKUPENTRY_API.group, version: BACKUPENTRY_API.version, plural: 'backupbuckets' };

/** Creates an extension BackupBucket whose current credentials are `garden/<secret>`, as gardenlet deploys it. */
export async function createBackupBucket(
  custom: CustomObjectsApi,
  o: { name: string; type?: string; secret: string; finalizers?: string[] },
): Promise<void> {
  await custom.createClusterCustomObject({
    ...BB,
    body: {
      apiVersion: BACKUPENTRY_API.apiVersion,
      kind: 'BackupBucket',
      metadata: { name: o.name, ...(o.finalizers ? { finalizers: o.finalizers } : {}) },
      spec: { type: o.type ?? 'local', region: 'local', secretRef: { name: o.secret, namespace: 'garden' } },
    },
  });
}

/** The finalizers on an extension BackupBucket. */
export async function bucketFinalizers(custom: CustomObjectsApi, name: string): Promise<string[]> {
  const o = (await custom.getClusterCustomObject({ ...BB, name })) as { metadata: { finalizers?: string[] } };
  return o.metadata.finalizers ?? [];
}

/** What the API server answered: 200 when the request succeeded, else the HTTP code and the Status message. */
export async function answer(p: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await p;
    return { code: 200, message: '' };
  } catch (e) {
    const { code, body } = e as { code?: number; body?: unknown };
    let status: { message?: string } | undefined;
    try {
      status = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: string } | undefined;
    } catch {
      status = undefined;
    }
    return { code: code ?? 0, message: status?.message ?? String(e) };
  }
}

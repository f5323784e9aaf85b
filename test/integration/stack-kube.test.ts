import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { adminKubeConfig, uniqueName } from '../support/env';

const GROUP = 'extensions.gardener.cloud';
const VERSION = 'v1alpha1';
const PLURAL = 'backupentries';

describe('kube-apiserver + etcd with the BackupEntry CRD', () => {
  const kc = adminKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);

  it('stores a BackupEntry and keeps spec and status apart through the status subresource', async () => {
    const ns = uniqueName('shoot--dev--t');
    await core.createNamespace({ body: { metadata: { name: ns } } });
    const name = `${ns}--0a1b2c3d-uid`;
    const body = {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'BackupEntry',
      metadata: { name },
      spec: {
        type: 'local',
        region: 'local',
        bucketName: 'bucket-1',
        secretRef: { name: 'entry-x', namespace: 'garden' },
      },
      status: { observedGeneration: 99 },
    };
    await custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, body });
    const created = await custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, name });
    expect(created.spec.bucketName).toBe('bucket-1');
    // With the status subresource, status in a create is dropped.
    expect(created.status).toBeUndefined();

    const status = {
      lastOperation: {
        type: 'Create',
        state: 'Succeeded',
        progress: 100,
        description: 'ok',
        lastUpdateTime: '2026-11-25T10:00:00Z',
      },
      observedGeneration: 1,
    };
    await custom.replaceClusterCustomObjectStatus({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      name,
      body: { ...created, status, spec: { ...created.spec, bucketName: 'ignored-by-status' } },
    });
    const after = await custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, name });
    expect(after.status.lastOperation.state).toBe('Succeeded');
    expect(after.spec.bucketName).toBe('bucket-1');
    expect(after.metadata.generation).toBe(1);
  });

  it('rejects a BackupEntry without the required spec fields', async () => {
    const body = {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'BackupEntry',
      metadata: { name: uniqueName('bad') },
      spec: { type: 'local' },
    };
    await expect(
      custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, body }),
    ).rejects.toMatchObject({ code: 422 });
  });
});

import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../../../config';
import { workflowIdFor } from '../../../domain';
import { runWorker } from '../../../worker/main';
import { backupEntryWorkflow } from '../../../workflows/backup-entry-workflow';
import { reconcileSignal, statusQuery } from '../../../workflows/messages';
import { adminKubeConfig, stackEnv } from '../../support/env';
import { historyText } from '../../support/history-text';
import { waitFor } from '../../../tools/stack/wait';

const G = { group: 'extensions.gardener.cloud', version: 'v1alpha1', plural: 'backupentries' };
const SECRET_MARKER = `lifecycle-secret-${randomBytes(12).toString('hex')}`;

describe('whole lifecycle with real activities: kube-apiserver + Temporal + local provider', () => {
  const kc = adminKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const taskQueue = `lifecycle-${randomUUID()}`;
  const cluster = `it-${randomUUID().slice(0, 8)}`;
  const root = join(stackEnv('BACKUP_LOCAL_DIR'), '..', `lifecycle-${randomUUID().slice(0, 8)}`);
  let stopWorker!: () => void;
  let workerDone: Promise<void>;
  let client: Client;
  const workflowIds: string[] = [];

  beforeAll(async () => {
    mkdirSync(join(root, 'bucket-l'), { recursive: true });
    const config = loadConfig({
      ...process.env,
      BACKUP_LOCAL_DIR: root,
      BEL_TASK_QUEUE: taskQueue,
      BEL_PROVIDER_TYPES: 'local',
      BEL_CLUSTER_IDENTITY: cluster,
      BEL_DEFAULT_RETENTION: '1h',
    });
    const stop = new Promise<void>((r) => (stopWorker = r));
    workerDone = runWorker({ config, kubeConfig: kc, stop });
    client = new Client({
      connection: await Connection.connect({ address: stackEnv('TEMPORAL_ADDRESS') }),
      namespace: stackEnv('TEMPORAL_NAMESPACE'),
    });
    await core.createNamespace({ body: { metadata: { name: 'garden' } } }).catch((e: { code?: number }) => {
      if (e.code !== 409) throw e;
    });
  });

  afterAll(async () => {
    await Promise.all(
      workflowIds.map((id) =>
        client.workflow
          .getHandle(id)
          .terminate('suite finished')
          .catch(() => undefined),
      ),
    );
    stopWorker?.();
    await workerDone;
    await client?.connection.close();
  });

  async function entry(): Promise<{ name: string; ns: string }> {
    const ns = `shoot--it--${randomUUID().slice(0, 8)}`;
    const name = `${ns}--${randomUUID()}`;
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await core.createNamespacedSecret({
      namespace: 'garden',
      body: { metadata: { name: `entry-${name}` }, stringData: { token: SECRET_MARKER } },
    });
    await custom.createClusterCustomObject({
      ...G,
      body: {
        apiVersion: `${G.group}/${G.version}`,
        kind: 'BackupEntry',
        metadata: { name },
        spec: {
          type: 'local',
          region: 'local',
          bucketName: 'bucket-l',
          secretRef: { name: `entry-${name}`, namespace: 'garden' },
        },
      },
    });
    return { name, ns };
  }

  function put(key: string): void {
    const file = join(root, 'bucket-l', key);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, randomBytes(64));
  }

  async function startWorkflow(name: string) {
    const id = workflowIdFor(cluster, name);
    if (!id.ok) throw new Error(id.error.message);
    workflowIds.push(id.value);
    return client.workflow.start(backupEntryWorkflow, {
      taskQueue,
      workflowId: id.value,
      args: [
        {
          entryName: name,
          settings: { defaultRetentionMs: 3600_000, initialRetryDelayMs: 500, maxRetryDelayMs: 2000 },
        },
      ],
    });
  }

  /** Waits until `fn` gives a value (errors count as "not yet"): the one wait helper, tools/stack/wait.ts. */
  const poll = <T>(fn: () => Promise<T | undefined>, what: string, timeoutMs = 60_000): Promise<T> =>
    waitFor(fn, { what, timeoutMs, intervalMs: 200 });

  it('creates the etcd-backup secret and a Succeeded status, then deletes exactly the prefix after retention 0', async () => {
    const { name, ns } = await entry();
    const h = await startWorkflow(name);
    const secret = await poll(
      async () => core.readNamespacedSecret({ name: 'etcd-backup', namespace: ns }),
      'etcd-backup secret',
    );
    expect(Object.keys(secret.data ?? {}).sort()).toEqual(['bucketName', 'hostPath', 'token']);
    expect(Buffer.from(secret.data!.bucketName!, 'base64').toString()).toBe('bucket-l');
    expect(Buffer.from(secret.data!.hostPath!, 'base64').toString()).toBe('/etc/gardener/local-backupbuckets');
    expect(Buffer.from(secret.data!.token!, 'base64').toString()).toBe(SECRET_MARKER);
    expect(secret.metadata?.annotations).toEqual({ 'backup.gardener.cloud/created-by': name });
    const be = await poll(async () => {
      const o = await custom.getClusterCustomObject({ ...G, name });
      return o.status?.lastOperation?.state === 'Succeeded' ? o : undefined;
    }, 'Succeeded status');
    expect(be.status).toMatchObject({
      lastOperation: { type: 'Create', state: 'Succeeded', progress: 100 },
      observedGeneration: 1,
    });
    expect(be.metadata.finalizers).toEqual(['extensions.gardener.cloud/backupentry']);
    const providerSecret = await core.readNamespacedSecret({ name: `entry-${name}`, namespace: 'garden' });
    expect(providerSecret.metadata?.finalizers).toEqual(['extensions.gardener.cloud/backupentry']);

    const own = [
      `${name}/etcd-main/v2/Full-00000000-00012345-1755684000.gz`,
      `${name}/etcd-main/v2/Incr-00012346-00012390-1755684300.gz`,
      `${name}/etcd-main/v2/Full-00000000-00012400-1755770400.gz/0000000001`,
    ];
    const siblings = [
      `${name}2/etcd-main/v2/Full-00000000-00000001-1755684000.gz`,
      `${name}-x/etcd-main/v2/Incr-1.gz`,
      `${name}.tar`,
    ];
    [...own, ...siblings].forEach(put);

    await custom.patchClusterCustomObject(
      {
        ...G,
        name,
        body: {
          metadata: {
            annotations: {
              'backupentry.extensions.gardener.cloud/retention-period': '0s',
            },
          },
        },
      },
      mergePatch(),
    );
    await custom.deleteClusterCustomObject({ ...G, name });
    await h.signal(reconcileSignal, { reason: 'deletion' });
    const result = await h.result();
    expect(result).toMatchObject({ outcome: 'deleted', deletion: { deletedObjects: 3, remainingObjects: 0 } });
    expect(existsSync(join(root, 'bucket-l', name))).toBe(false);
    for (const key of siblings) expect(existsSync(join(root, 'bucket-l', key))).toBe(true);
    await poll(
      async () =>
        custom.getClusterCustomObject({ ...G, name }).then(
          () => undefined,
          (e: { code?: number }) => (e.code === 404 ? true : undefined),
        ),
      'entry gone',
    );
    await expect(core.readNamespacedSecret({ name: 'etcd-backup', namespace: ns })).rejects.toMatchObject({
      code: 404,
    });
    const after = await core.readNamespacedSecret({ name: `entry-${name}`, namespace: 'garden' });
    expect(after.metadata?.finalizers ?? []).toEqual([]);
  });

  it('a missing namespace: Succeeded without the etcd-backup secret (as Gardener), which the next reconcile writes once it exists', async () => {
    const ns = `shoot--late--${randomUUID().slice(0, 8)}`;
    const name = `${ns}--${randomUUID()}`;
    await core.createNamespacedSecret({
      namespace: 'garden',
      body: { metadata: { name: `entry-${name}` }, stringData: { token: SECRET_MARKER } },
    });
    await custom.createClusterCustomObject({
      ...G,
      body: {
        apiVersion: `${G.group}/${G.version}`,
        kind: 'BackupEntry',
        metadata: { name },
        spec: {
          type: 'local',
          region: 'local',
          bucketName: 'bucket-l',
          secretRef: { name: `entry-${name}`, namespace: 'garden' },
        },
      },
    });
    const h = await startWorkflow(name);
    // As Gardener's generic actuator (deployEtcdBackupSecret): no etcd-backup secret, and the reconcile succeeds.
    const early = await poll(async () => {
      const o = await custom.getClusterCustomObject({ ...G, name });
      return o.status?.lastOperation?.state === 'Succeeded' ? o : undefined;
    }, 'Succeeded without the namespace');
    expect(early.status.lastError).toBeUndefined();
    expect((await h.query(statusQuery)).summary).toMatch(
      new RegExp(`no etcd-backup secret: namespace ${ns} does not exist`),
    );
    await expect(core.readNamespacedSecret({ name: 'etcd-backup', namespace: ns })).rejects.toMatchObject({
      code: 404,
    });
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await h.signal(reconcileSignal, { reason: 'namespace appeared' });
    await poll(
      async () => core.readNamespacedSecret({ name: 'etcd-backup', namespace: ns }),
      'etcd-backup after the namespace appears',
    );
    const ok = await poll(async () => {
      const o = await custom.getClusterCustomObject({ ...G, name });
      return o.status?.lastOperation?.state === 'Succeeded' ? o : undefined;
    }, 'Succeeded');
    expect(ok.status.lastError).toBeUndefined();
    expect((await h.query(statusQuery)).phase).toBe('Ready');
  });

  it('no workflow history of this suite holds the provider secret', async () => {
    expect(workflowIds.length).toBeGreaterThan(0);
    for (const id of workflowIds) {
      const text = historyText(await client.workflow.getHandle(id).fetchHistory());
      expect(text).toContain(id.split('/').pop()!); // the decoder works: the entry name is in the input payload
      expect(text).not.toContain(SECRET_MARKER);
      expect(text).not.toContain(Buffer.from(SECRET_MARKER).toString('base64'));
    }
    expect(readdirSync(join(root, 'bucket-l')).length).toBeGreaterThan(0);
  });
});

function mergePatch(): ReturnType<typeof setHeaderOptions> {
  return setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
}

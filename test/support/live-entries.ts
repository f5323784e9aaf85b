import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import {
  Client,
  Connection,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { loadConfig } from '../../config';
import { workflowIdFor } from '../../domain';
import { runWorker } from '../../worker/main';
import { backupEntryWorkflow } from '../../workflows/backup-entry-workflow';
import { type StatusQueryResult, reconcileSignal, statusQuery } from '../../workflows/messages';
import { waitFor } from '../../tools/stack';
import { adminKubeConfig, stackEnv } from './env';

const G = { group: 'extensions.gardener.cloud', version: 'v1alpha1', plural: 'backupentries' };

/** Etcd backup object names (relative to the entry's prefix) every {@link LiveEntries.createReady} entry gets. */
export const BACKUP_OBJECTS = [
  'etcd-main/v2/Full-00000000-00012345-1755684000.gz',
  'etcd-main/v2/Incr-00012346-00012390-1755684300.gz',
  'etcd-main/v2/Full-00000000-00012400-1755770400.gz',
] as const;
/** Size of each object in {@link BACKUP_OBJECTS}, in bytes (3 objects = 300 B). */
export const OBJECT_BYTES = 100;

/** A BackupEntry driven by the suite's real worker. */
export interface LiveEntry {
  name: string;
  workflowId: string;
  handle: WorkflowHandleWithFirstExecutionRunId<typeof backupEntryWorkflow>;
}

/**
 * Real BackupEntries on the test stack, each driven by its workflow on an in-process worker (real activities, the
 * `local` provider under a private root, a private task queue and cluster identity), as an operator would meet them.
 */
export interface LiveEntries {
  client: Client;
  /** `BEL_CLUSTER_IDENTITY` of this suite's worker: workflow IDs are `backupentry/<cluster>/<entry>`. */
  cluster: string;
  bucket: string;
  /** Creates namespace, provider secret, entry and backup objects, starts the workflow and waits for Ready. */
  createReady(): Promise<LiveEntry>;
  /** Annotates the entry's retention (default `1h`), deletes it, tells the workflow and waits for Retaining. */
  retain(entry: LiveEntry, retention?: string): Promise<StatusQueryResult>;
  /** Polls the status query until `check` holds (a condition, not a sleep). */
  until(
    h: WorkflowHandle,
    check: (v: StatusQueryResult) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<StatusQueryResult>;
  /** Object files still under the entry's prefix in the local bucket. */
  objectsOf(name: string): string[];
  /** Terminates what is still running, stops the worker, closes the client. */
  stop(): Promise<void>;
}

/** Starts a worker and a client for a suite (see {@link LiveEntries}); `label` prefixes queue and identity. */
export async function startLiveEntries(label: string): Promise<LiveEntries> {
  const kc = adminKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const taskQueue = `${label}-${randomUUID()}`;
  const cluster = `${label}-${randomUUID().slice(0, 8)}`;
  const root = join(stackEnv('BACKUP_LOCAL_DIR'), '..', `${label}-${randomUUID().slice(0, 8)}`);
  const bucket = `bucket-${label}`;
  mkdirSync(join(root, bucket), { recursive: true });
  const config = loadConfig({
    ...process.env,
    BACKUP_LOCAL_DIR: root,
    BEL_TASK_QUEUE: taskQueue,
    BEL_PROVIDER_TYPES: 'local',
    BEL_CLUSTER_IDENTITY: cluster,
  });
  let stopWorker!: () => void;
  const stop = new Promise<void>((r) => (stopWorker = r));
  const workerDone = runWorker({ config, kubeConfig: kc, stop });
  const client = new Client({
    connection: await Connection.connect({ address: stackEnv('TEMPORAL_ADDRESS') }),
    namespace: stackEnv('TEMPORAL_NAMESPACE'),
  });
  await core.createNamespace({ body: { metadata: { name: 'garden' } } }).catch((e: { code?: number }) => {
    if (e.code !== 409) throw e;
  });
  const handles: WorkflowHandle[] = [];

  const until: LiveEntries['until'] = async (h, check, what, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    let last: StatusQueryResult | undefined;
    while (Date.now() < deadline) {
      last = await h.query(statusQuery).catch(() => undefined);
      if (last && check(last)) return last;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`timed out waiting for ${what}; last status: ${JSON.stringify(last)}`);
  };

  return {
    client,
    cluster,
    bucket,
    until,
    async createReady() {
      const ns = `shoot--${label}--${randomUUID().slice(0, 8)}`;
      const name = `${ns}--${randomUUID()}`;
      await core.createNamespace({ body: { metadata: { name: ns } } });
      await core.createNamespacedSecret({
        namespace: 'garden',
        body: { metadata: { name: `entry-${name}` }, stringData: { token: 'x' } },
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
            bucketName: bucket,
            secretRef: { name: `entry-${name}`, namespace: 'garden' },
          },
        },
      });
      for (const key of BACKUP_OBJECTS) {
        const file = join(root, bucket, name, key);
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, randomBytes(OBJECT_BYTES));
      }
      const id = workflowIdFor(cluster, name);
      if (!id.ok) throw new Error(id.error.message);
      const handle = await client.workflow.start(backupEntryWorkflow, {
        taskQueue,
        workflowId: id.value,
        args: [
          {
            entryName: name,
            settings: { defaultRetentionMs: 72 * 3600_000, initialRetryDelayMs: 500, maxRetryDelayMs: 2000 },
          },
        ],
      });
      handles.push(handle);
      await until(handle, (v) => v.phase === 'Ready', 'Ready');
      return { name, workflowId: id.value, handle };
    },
    async retain(entry, retention = '1h') {
      await custom.patchClusterCustomObject(
        {
          ...G,
          name: entry.name,
          body: {
            metadata: {
              annotations: {
                'backupentry.extensions.gardener.cloud/retention-period': retention,
              },
            },
          },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      await custom.deleteClusterCustomObject({ ...G, name: entry.name });
      await entry.handle.signal(reconcileSignal, { reason: 'deletion' });
      // Retaining is set before the Pending status is written, and the pass then records the retention (on the entry,
      // or, with BEL_RETENTION_MODE=release-entry, on the secret before releasing the entry): wait for all of it, so
      // callers see the whole retention state and their own decisions come after the pass's.
      const released = config.retentionMode === 'release-entry';
      return until(
        entry.handle,
        (v) =>
          v.phase === 'Retaining' &&
          v.lastOperation?.state === 'Pending' &&
          (!released || v.decisions.some((d) => d.reason === 'entry released during retention')),
        'Retaining with the retention registered',
      ).then(async (v) => {
        if (!released) {
          await waitFor(
            async () => {
              const e = (await custom.getClusterCustomObject({ ...G, name: entry.name })) as {
                metadata?: { annotations?: Record<string, string> };
              };
              return e.metadata?.annotations?.['backupentry.extensions.gardener.cloud/deletion-deadline']
                ? true
                : undefined;
            },
            { what: 'the accepted deadline on the entry', timeoutMs: 60_000, intervalMs: 200 },
          );
        }
        return v;
      });
    },
    objectsOf(name) {
      const dir = join(root, bucket, name);
      return existsSync(dir)
        ? readdirSync(dir, { recursive: true, encoding: 'utf8' })
            .filter((f) => statSync(join(dir, f)).isFile())
            .sort()
        : [];
    },
    async stop() {
      await Promise.all(
        handles.map((h) =>
          client.workflow
            .getHandle(h.workflowId)
            .terminate('suite finished')
            .catch(() => undefined),
        ),
      );
      stopWorker();
      await workerDone;
      await client.connection.close();
    },
  };
}

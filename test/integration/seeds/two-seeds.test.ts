/**
 * Several seeds on one Temporal namespace: two seeds are two kube-apiservers (each with its etcd) —
 * seed A the stack's, seed B started here — and ONE Temporal dev server, the stack's. Each seed runs its own worker
 * and watcher as real processes (the product's entry points, configured only through the environment) with default
 * task queue settings: only BEL_CLUSTER_IDENTITY, the kubeconfig and the local bucket folder differ. The same
 * BackupEntry name exists on both seeds (as during a control-plane migration); each must get its own workflow, write
 * only into its own cluster, and a deletion on A must leave B's entry and backups alone.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import {
  ANNOTATION_RETENTION_PERIOD,
  BACKUPENTRY_API,
  DATA_KEY_BUCKET_NAME,
  FINALIZER,
  SECRET_ETCD_BACKUP,
  defaultTaskQueue,
  workflowIdFor,
} from '../../../domain';
import { applyCrd, startKubeControlPlane, toolPaths, waitFor, type KubeControlPlane } from '../../../tools/stack';
import { statusQuery } from '../../../workflows/messages';
import { annotateEntry, getEntry } from '../../support/entries';
import { stackEnv } from '../../support/env';
import { startWatcherProcess, startWorkerProcess, type WorkerProcess } from '../../support/worker-process';

const G = { group: BACKUPENTRY_API.group, version: BACKUPENTRY_API.version, plural: BACKUPENTRY_API.plural };
const suffix = randomUUID().slice(0, 8);
/** A class of our own: the stack's API server (seed A) is shared with other test files, whose entries are not ours. */
const cls = `seeds-${suffix}`;
const ns = `shoot--seeds--${suffix}`;
const name = `${ns}--${randomUUID()}`;
const dir = mkdtempSync(join(tmpdir(), 'bel-two-seeds-'));

interface EntryObject {
  metadata: { name: string; uid: string; finalizers?: string[]; deletionTimestamp?: string };
  spec: { bucketName: string };
  status?: { lastOperation?: { type: string; state: string }; observedGeneration?: number };
}

/** One seed: its API server, its controller processes and its own local bucket folder. */
class Seed {
  readonly root: string;
  readonly bucket: string;
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  readonly token = `token-${randomBytes(8).toString('hex')}`;
  /** Backup objects under the entry's prefix, relative to the bucket. */
  readonly objects = [
    `${name}/etcd-main/v2/Full-00000000-00000001-1.gz`,
    `${name}/etcd-main/v2/Incr-00000001-00000002-2.gz`,
  ];
  worker?: WorkerProcess;
  watcher?: WorkerProcess;

  constructor(
    readonly identity: string,
    readonly kubeconfig: string,
  ) {
    this.root = join(dir, identity, 'local-backupbuckets');
    mkdirSync(this.root, { recursive: true });
    this.bucket = `bucket-${identity}`;
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  get workflowId(): string {
    const id = workflowIdFor(this.identity, name);
    if (!id.ok) throw new Error(id.error.message);
    return id.value;
  }

  /** Worker and watcher of this seed: only the identity, the kubeconfig and the bucket folder are seed-specific. */
  async startController(): Promise<void> {
    const env = {
      KUBECONFIG: this.kubeconfig,
      BEL_CLUSTER_IDENTITY: this.identity,
      BEL_PROVIDER_TYPES: 'local',
      BEL_CLASSES: cls,
      BACKUP_LOCAL_DIR: this.root,
      BEL_WATCHER_LEASE_NAME: `seeds-${suffix}`,
      BEL_WATCHER_HTTP_PORT: '0',
      BEL_LOG_LEVEL: 'info',
    };
    [this.worker, this.watcher] = await Promise.all([
      startWorkerProcess({ env, logFile: join(dir, this.identity, 'worker.log') }),
      startWatcherProcess({ env, logFile: join(dir, this.identity, 'watcher.log') }),
    ]);
  }

  /** The shoot namespace, the provider secret in `garden`, backup objects in the bucket, then the BackupEntry. */
  async createEntry(): Promise<void> {
    mkdirSync(join(this.root, this.bucket), { recursive: true });
    for (const rel of this.objects) {
      const file = join(this.root, this.bucket, rel);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, randomBytes(64));
    }
    for (const n of ['garden', ns]) {
      await this.core.createNamespace({ body: { metadata: { name: n } } }).catch((e: { code?: number }) => {
        if (e.code !== 409) throw e;
      });
    }
    await this.core.createNamespacedSecret({
      namespace: 'garden',
      body: { metadata: { name: `entry-${name}` }, stringData: { token: this.token } },
    });
    await this.custom.createClusterCustomObject({
      ...G,
      body: {
        apiVersion: BACKUPENTRY_API.apiVersion,
        kind: BACKUPENTRY_API.kind,
        metadata: { name },
        spec: {
          type: 'local',
          class: cls,
          region: 'local',
          bucketName: this.bucket,
          secretRef: { name: `entry-${name}`, namespace: 'garden' },
        },
      },
    });
  }

  entry(): Promise<EntryObject | undefined> {
    return getEntry<EntryObject>(this.custom, name);
  }

  async etcdBackupSecret(): Promise<V1Secret | undefined> {
    return this.core.readNamespacedSecret({ name: SECRET_ETCD_BACKUP, namespace: ns }).catch((e: { code?: number }) => {
      if (e.code === 404) return undefined;
      throw e;
    });
  }

  /** Files left under the entry's prefix in this seed's bucket. */
  objectsLeft(): string[] {
    const walk = (d: string): string[] =>
      existsSync(d)
        ? readdirSync(d, { withFileTypes: true }).flatMap((e) =>
            e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)],
          )
        : [];
    return walk(join(this.root, this.bucket, name))
      .map((f) => f.slice(join(this.root, this.bucket).length + 1))
      .sort();
  }

  async stop(): Promise<void> {
    await Promise.all([this.watcher?.stop(), this.worker?.stop()]);
  }
}

/** Decodes a secret's data key. */
const dataOf = (s: V1Secret | undefined, key: string): string | undefined =>
  s?.data?.[key] === undefined ? undefined : Buffer.from(s.data[key], 'base64').toString();

describe('two seeds on one Temporal namespace: isolation by cluster identity', () => {
  let planeB: KubeControlPlane | undefined;
  let a: Seed;
  let b: Seed;
  let client: Client;

  beforeAll(async () => {
    const tools = toolPaths();
    // Seed B's control plane (seed A is the stack's); started while seed A's processes start.
    const planeStarted = startKubeControlPlane({
      etcdBin: tools.ETCD,
      apiserverBin: tools.KUBE_APISERVER,
      dir: join(dir, 'seed-b-kube'),
    }).then(async (p) => {
      planeB = p;
      const kc = new KubeConfig();
      kc.loadFromFile(p.kubeconfig);
      await applyCrd(kc);
      return p;
    });
    a = new Seed('seed-a', stackEnv('KUBECONFIG'));
    const [plane] = await Promise.all([planeStarted, a.startController()]);
    b = new Seed('seed-b', plane.kubeconfig);
    await b.startController();
    client = new Client({
      connection: await Connection.connect({ address: stackEnv('TEMPORAL_ADDRESS') }),
      namespace: stackEnv('TEMPORAL_NAMESPACE'),
    });
  }, 180_000);

  afterAll(async () => {
    // Nothing of this file keeps running on the shared Temporal server or the shared API server.
    for (const s of [a, b]) {
      await client?.workflow
        .getHandle(s?.workflowId ?? 'none')
        .terminate('two-seeds test finished')
        .catch(() => undefined);
    }
    await Promise.all([a?.stop(), b?.stop()]);
    if (a) {
      await a.custom
        .patchClusterCustomObject({ ...G, name, body: [{ op: 'remove', path: '/metadata/finalizers' }] })
        .catch(() => undefined);
      await a.custom.deleteClusterCustomObject({ ...G, name }).catch(() => undefined);
    }
    await client?.connection.close();
    await planeB?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('each seed polls its own default task queue (only the identity differs)', () => {
    for (const s of [a, b]) {
      const started = s.worker!.lines().find((l) => l.msg === 'Starting worker');
      expect(started).toMatchObject({ cluster: s.identity, taskQueue: `backupentry-lifecycle/${s.identity}` });
      expect(s.watcher!.lines().find((l) => typeof l.taskQueue === 'string')?.taskQueue).toBe(
        defaultTaskQueue(s.identity),
      );
      // A queue without the identity would have been warned about; the default contains it.
      expect(s.worker!.text()).not.toContain('does not contain BEL_CLUSTER_IDENTITY');
    }
  });

  it('the same entry name on both seeds: two workflows, each writing status and etcd-backup only into its own cluster', async () => {
    await Promise.all([a.createEntry(), b.createEntry()]);
    for (const s of [a, b]) {
      const entry = await waitFor(
        async () => {
          const e = await s.entry();
          return e?.status?.lastOperation?.state === 'Succeeded' ? e : undefined;
        },
        { what: `${s.identity}: ${name} Succeeded`, timeoutMs: 90_000, intervalMs: 250, process: s.worker!.proc },
      );
      expect(entry.metadata.finalizers).toContain(FINALIZER);
      const secret = await waitFor(() => s.etcdBackupSecret(), {
        what: `${s.identity}: etcd-backup secret`,
        timeoutMs: 30_000,
      });
      // Written from this seed's entry and provider secret, in this seed's cluster.
      expect(dataOf(secret, DATA_KEY_BUCKET_NAME)).toBe(s.bucket);
      expect(dataOf(secret, 'token')).toBe(s.token);
    }
    expect(a.workflowId).toBe(`backupentry/seed-a/${name}`);
    expect(b.workflowId).toBe(`backupentry/seed-b/${name}`);
    for (const s of [a, b]) {
      const h = client.workflow.getHandle(s.workflowId);
      const d = await h.describe();
      expect([d.status.name, d.taskQueue]).toEqual(['RUNNING', defaultTaskQueue(s.identity)]);
      const view = await waitFor(
        async () => {
          const v = await h.query(statusQuery);
          return v.phase === 'Ready' ? v : undefined;
        },
        { what: `${s.workflowId} Ready`, timeoutMs: 30_000, intervalMs: 250 },
      );
      expect(view).toMatchObject({ entryName: name, bucket: s.bucket, namespace: ns });
    }
    // Exactly these two workflows carry the entry's name in the shared namespace (no third, default-identity one).
    const ids = await waitFor(
      async () => {
        const found: string[] = [];
        for await (const w of client.workflow.list({ query: `BackupEntryName = "${name}"` })) found.push(w.workflowId);
        return found.length >= 2 ? found.sort() : undefined;
      },
      { what: 'both workflows in visibility', timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(ids).toEqual([a.workflowId, b.workflowId]);
  });

  it("deleting the entry on A (retention 0) deletes only A's objects; B's entry stays Ready with its objects and secret", async () => {
    expect(a.objectsLeft()).toEqual([...a.objects].sort());
    const bEntryBefore = (await b.entry())!;
    await annotateEntry(a.custom, name, { [ANNOTATION_RETENTION_PERIOD]: '0s' });
    await a.custom.deleteClusterCustomObject({ ...G, name });
    await waitFor(async () => (await a.entry()) === undefined, {
      what: 'seed-a: entry gone',
      timeoutMs: 90_000,
      intervalMs: 250,
      process: a.worker!.proc,
    });
    expect(a.objectsLeft()).toEqual([]);
    expect(await a.etcdBackupSecret()).toBeUndefined();
    const hA = client.workflow.getHandle(a.workflowId);
    await waitFor(async () => (await hA.describe()).status.name === 'COMPLETED', {
      what: 'seed-a workflow completed',
      timeoutMs: 30_000,
    });
    expect((await hA.query(statusQuery)).phase).toBe('Deleted');

    // Seed B: untouched.
    const hB = client.workflow.getHandle(b.workflowId);
    expect((await hB.describe()).status.name).toBe('RUNNING');
    const viewB = await hB.query(statusQuery);
    expect(viewB.phase).toBe('Ready');
    expect(viewB.deletion).toBeUndefined();
    const bEntry = (await b.entry())!;
    expect(bEntry.metadata.uid).toBe(bEntryBefore.metadata.uid);
    expect(bEntry.metadata.deletionTimestamp).toBeUndefined();
    expect(bEntry.metadata.finalizers).toContain(FINALIZER);
    expect(bEntry.status?.lastOperation?.state).toBe('Succeeded');
    expect(b.objectsLeft()).toEqual([...b.objects].sort());
    expect(dataOf(await b.etcdBackupSecret(), DATA_KEY_BUCKET_NAME)).toBe(b.bucket);
  });
});

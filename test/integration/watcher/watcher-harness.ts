/**
 * Shared set-up of the watcher tests on the real stack: a unique class, task queue, cluster identity, lease and local
 * bucket per test file (the API server and Temporal are shared by every test file and nothing is ever cleaned up
 * there), an in-process worker, watchers, and helpers that poll conditions instead of sleeping.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import pino, { type Logger } from 'pino';
import { type AppConfig, loadConfig } from '../../../config';
import { BACKUPENTRY_API, workflowIdFor } from '../../../domain';
import { startWatcher, type StartWatcherOptions, type WatcherHandle } from '../../../starter/start-watcher';
import { runWorker } from '../../../worker/main';
import { adminKubeConfig, stackEnv } from '../../support/env';
import { annotateEntry, getEntry } from '../../support/entries';
import { waitFor } from '../../../tools/stack';

/** Coordinates of the BackupEntry resource for CustomObjectsApi calls. */
export const G = { group: BACKUPENTRY_API.group, version: BACKUPENTRY_API.version, plural: BACKUPENTRY_API.plural };
/** client-node 2.x sends JSON Patch unless told otherwise: request options for a merge patch. */
export const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
/** The local bucket (a folder under this file's BACKUP_LOCAL_DIR) every test entry uses. */
export const BUCKET = 'bucket-w';

/** Options of {@link createHarness}. */
export interface HarnessOptions {
  /** Extra environment for loadConfig (e.g. short lease timings). */
  env?: Record<string, string>;
  /** Start an in-process worker (bundles the workflows: ~10 s of CPU). Default true. */
  worker?: boolean;
  /** The seed's API server. Default: the stack's (adminKubeConfig). */
  kubeConfig?: KubeConfig;
}

/** What a BackupEntry test needs. */
export interface EntryRef {
  name: string;
  ns: string;
  secretName: string;
}

/** Everything a watcher test file shares. */
export class Harness {
  readonly kc: KubeConfig;
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  readonly suffix = randomUUID().slice(0, 8);
  /** A class of our own: other test files' entries (class shoot) are not served by these watchers. */
  readonly cls = `w-${this.suffix}`;
  readonly root = join(stackEnv('BACKUP_LOCAL_DIR'), '..', `watcher-${this.suffix}`);
  readonly log: Logger = pino({ level: process.env.BEL_TEST_LOG_LEVEL ?? 'warn', base: { component: 'watcher-test' } });
  config!: AppConfig;
  client!: Client;
  private connection!: Connection;
  private stopWorker?: () => void;
  private workerDone?: Promise<void>;
  private readonly watchers: WatcherHandle[] = [];
  private readonly entries: string[] = [];

  constructor(private readonly opts: HarnessOptions = {}) {
    this.kc = opts.kubeConfig ?? adminKubeConfig();
    this.core = this.kc.makeApiClient(CoreV1Api);
    this.custom = this.kc.makeApiClient(CustomObjectsApi);
  }

  async setup(): Promise<void> {
    mkdirSync(join(this.root, BUCKET), { recursive: true });
    this.config = loadConfig({
      ...process.env,
      BACKUP_LOCAL_DIR: this.root,
      BEL_TASK_QUEUE: `watcher-${this.suffix}`,
      BEL_PROVIDER_TYPES: 'local',
      BEL_CLUSTER_IDENTITY: `wt-${this.suffix}`,
      BEL_CLASSES: this.cls,
      BEL_WATCHER_LEASE_NAME: `watcher-${this.suffix}`,
      // The watcher tests play kubectl on deleted entries (annotations during retention): the entry is held unless a
      // test says otherwise (gardenlet-retention.test.ts runs both modes).
      BEL_WATCHER_HTTP_PORT: '0',
      BEL_LOG_LEVEL: 'warn',
      BEL_RETENTION_MODE: 'hold-entry',
      ...this.opts.env,
    });
    this.connection = await Connection.connect({ address: stackEnv('TEMPORAL_ADDRESS') });
    this.client = new Client({ connection: this.connection, namespace: stackEnv('TEMPORAL_NAMESPACE') });
    await this.core.createNamespace({ body: { metadata: { name: 'garden' } } }).catch((e: { code?: number }) => {
      if (e.code !== 409) throw e;
    });
    if (this.opts.worker !== false) {
      const stop = new Promise<void>((r) => (this.stopWorker = r));
      this.workerDone = runWorker({ config: this.config, kubeConfig: this.kc, stop });
    }
  }

  async teardown(): Promise<void> {
    await Promise.all(this.watchers.map((w) => w.stop()));
    // Leave nothing running on the shared server.
    await Promise.all(
      this.entries.map((name) =>
        this.client?.workflow
          .getHandle(this.workflowId(name))
          .terminate('watcher test finished')
          .catch(() => undefined),
      ),
    );
    this.stopWorker?.();
    await this.workerDone;
    await this.connection?.close();
  }

  /** Starts a watcher with this file's configuration (plus `overrides`). */
  async watcher(overrides: Partial<StartWatcherOptions> = {}): Promise<WatcherHandle> {
    const w = await startWatcher({
      config: this.config,
      kubeConfig: this.kc,
      client: this.client,
      logger: this.log,
      ...overrides,
    });
    this.watchers.push(w);
    return w;
  }

  /** Starts a watcher and waits until it leads and is in sync. */
  async leader(overrides: Partial<StartWatcherOptions> = {}): Promise<WatcherHandle> {
    const w = await this.watcher(overrides);
    await this.until(async () => w.isLeader() && w.isInSync(), 'watcher leads and is in sync', 30_000);
    return w;
  }

  workflowId(name: string): string {
    const id = workflowIdFor(this.config.clusterIdentity, name);
    if (!id.ok) throw new Error(id.error.message);
    return id.value;
  }

  /** A unique entry name whose shoot namespace is `ns`. */
  newName(): { name: string; ns: string } {
    const ns = `shoot--w--${randomUUID().slice(0, 8)}`;
    return { ns, name: `${ns}--${randomUUID()}` };
  }

  /** Creates the shoot namespace, the provider secret `garden/entry-<name>` and a `local` BackupEntry of our class. */
  async createEntry(
    o: { annotations?: Record<string, string>; secretData?: Record<string, string>; namespace?: boolean } = {},
  ): Promise<EntryRef> {
    const { name, ns } = this.newName();
    const secretName = `entry-${name}`;
    this.entries.push(name);
    if (o.namespace !== false) await this.core.createNamespace({ body: { metadata: { name: ns } } });
    await this.core.createNamespacedSecret({
      namespace: 'garden',
      body: {
        metadata: { name: secretName },
        stringData: o.secretData ?? { token: `t-${randomBytes(8).toString('hex')}` },
      },
    });
    await this.custom.createClusterCustomObject({
      ...G,
      body: {
        apiVersion: BACKUPENTRY_API.apiVersion,
        kind: BACKUPENTRY_API.kind,
        metadata: { name, annotations: o.annotations ?? {} },
        spec: {
          type: 'local',
          class: this.cls,
          region: 'local',
          bucketName: BUCKET,
          secretRef: { name: secretName, namespace: 'garden' },
        },
      },
    });
    return { name, ns, secretName };
  }

  /** The entry as stored, or undefined when it does not exist. */
  async getEntry(name: string): Promise<EntryObject | undefined> {
    return getEntry<EntryObject>(this.custom, name);
  }

  async annotate(name: string, annotations: Record<string, string | null>): Promise<void> {
    await annotateEntry(this.custom, name, annotations);
  }

  async deleteEntry(name: string): Promise<void> {
    await this.custom.deleteClusterCustomObject({ ...G, name });
  }

  /** Writes an object into the entry's prefix in the local bucket. */
  putObject(name: string, rel = `etcd-main/v2/Full-00000000-00000001-${Date.now()}.gz`): string {
    const file = join(this.root, BUCKET, name, rel);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, randomBytes(64));
    return file;
  }

  /** Resolves when the entry's status says Succeeded for `type` (any type when omitted). */
  async untilSucceeded(name: string, type?: string, timeoutMs = 60_000): Promise<EntryObject> {
    return this.until(
      async () => {
        const e = await this.getEntry(name);
        const last = e?.status?.lastOperation;
        return last?.state === 'Succeeded' && (!type || last.type === type) ? e : undefined;
      },
      `${name} Succeeded${type ? ` (${type})` : ''}`,
      timeoutMs,
    );
  }

  async untilGone(name: string, timeoutMs = 60_000): Promise<void> {
    await this.until(
      async () => ((await this.getEntry(name)) === undefined ? true : undefined),
      `${name} gone`,
      timeoutMs,
    );
  }

  /** Number of events in the history of the entry's current workflow run. */
  async historyLength(name: string): Promise<number> {
    return (await this.client.workflow.getHandle(this.workflowId(name)).describe()).historyLength;
  }

  /**
   * The entry's workflow history length once the workflow is idle: no activity pending, no workflow task pending, and
   * the same length on two reads in a row.
   */
  async idleHistoryLength(name: string, timeoutMs = 60_000): Promise<number> {
    const handle = this.client.workflow.getHandle(this.workflowId(name));
    let last = -1;
    return this.until(
      async () => {
        const d = await handle.describe();
        const idle = (d.raw.pendingActivities ?? []).length === 0 && !d.raw.pendingWorkflowTask;
        const same = idle && d.historyLength === last;
        last = idle ? d.historyLength : -1;
        return same ? d.historyLength : undefined;
      },
      `${name}'s workflow idle`,
      timeoutMs,
      300,
    );
  }

  /** Number of workflow runs (all states) with the entry's workflow ID, per the visibility store. */
  async runCount(name: string): Promise<number> {
    let n = 0;
    for await (const _ of this.client.workflow.list({ query: `WorkflowId = '${this.workflowId(name)}'` })) n += 1;
    return n;
  }

  /** Polls `fn` until it returns something other than undefined/false; rejects with `what` after `timeoutMs`. */
  async until<T>(
    fn: () => Promise<T | undefined | false>,
    what: string,
    timeoutMs = 60_000,
    intervalMs = 200,
  ): Promise<T> {
    return waitFor(fn, { what, timeoutMs, intervalMs });
  }
}

/** The fields of a stored BackupEntry the tests look at. */
export interface EntryObject {
  metadata: {
    name: string;
    uid: string;
    generation: number;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string;
  };
  status?: { lastOperation?: { type: string; state: string }; observedGeneration?: number; lastError?: unknown };
}

export { metricValue } from '../../support/metric-value';

/**
 * A TCP proxy in front of the shared kube-apiserver: `down()` closes every connection and refuses new ones (what a
 * client sees while kube-apiserver restarts), `up()` accepts again on the same port. TLS passes through untouched.
 */
export class ApiServerProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;

  private constructor(private readonly target: { host: string; port: number }) {}

  static async start(): Promise<ApiServerProxy> {
    const url = new URL(adminKubeConfig().getCurrentCluster()!.server);
    const p = new ApiServerProxy({ host: url.hostname, port: Number(url.port) });
    await p.up();
    return p;
  }

  /** A KubeConfig like the admin one, through this proxy. */
  kubeConfig(): KubeConfig {
    const doc = JSON.parse(readFileSync(stackEnv('KUBECONFIG'), 'utf8')) as {
      clusters: { cluster: { server: string } }[];
    };
    for (const c of doc.clusters) c.cluster.server = `https://127.0.0.1:${this.port}`;
    const kc = new KubeConfig();
    kc.loadFromString(JSON.stringify(doc));
    return kc;
  }

  async up(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}

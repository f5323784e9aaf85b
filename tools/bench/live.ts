/**
 * The rig of the benchmarks that run the whole service: the local stack (kube-apiserver +
 * etcd + Temporal dev server, or an already running one), the worker and the watcher as the product's own processes
 * configured only through the environment, BackupEntry fixtures, an observer that timestamps what the API server
 * shows (entries, and provider secrets losing our finalizer), API-server request counts and process memory; workflow
 * histories are read by tools/bench/history.ts. Nothing here asserts a timing.
 */
import { reuseConnections } from '../../adapters/kubernetes/connection-reuse';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import pino from 'pino';
import { BACKUPENTRY_API, FINALIZER, LABEL_RETENTION_ANCHOR, retentionAnchorName, workflowIdFor } from '../../domain';
import { Reflector } from '../../adapters/kubernetes/list-watch';
import {
  processMemory,
  startProductProcess,
  startStack,
  WATCHER_READY,
  WORKER_READY,
  type ProductProcess,
  type Stack,
  type TemporalBackend,
} from '../stack';

/** BackupEntry API coordinates (the domain's, in the shape client-node's calls take). */
export const G = { group: BACKUPENTRY_API.group, version: BACKUPENTRY_API.version, plural: BACKUPENTRY_API.plural };
export { FINALIZER };
const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
/** The label on every object a benchmark run creates (entries, provider secrets): its run ID. */
export const RUN_LABEL = 'bench.backupentry-lifecycle/run';

/** The compiled product the rig starts: worker and watcher entry points and the prebuilt workflow bundle. */
export interface ProductBuild {
  worker: string;
  watcher: string;
  bundle: string;
}

/** The build `npm run build` writes under `<root>/dist`. */
export function distBuild(root: string): ProductBuild {
  const dist = resolve(root, 'dist');
  return {
    worker: join(dist, 'worker', 'main.js'),
    watcher: join(dist, 'starter', 'watcher.js'),
    bundle: join(dist, 'workflow-bundle.js'),
  };
}

/** Runs `fn` over `items` with at most `limit` at once; results in input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

/** The q-quantile (0..1) of `values` by nearest rank; NaN for none. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** p50 / p99 / max of a sample, rounded to milliseconds. */
export interface Spread {
  p50: number;
  p99: number;
  max: number;
  n: number;
}

/** {@link Spread} of `values`. */
export function spread(values: readonly number[]): Spread {
  const r = (x: number): number => Math.round(x);
  return {
    p50: r(quantile(values, 0.5)),
    p99: r(quantile(values, 0.99)),
    max: r(values.length ? Math.max(...values) : NaN),
    n: values.length,
  };
}

/** One BackupEntry of a benchmark: its name, its shoot namespace and its provider secret `garden/entry-<name>`. */
export interface BenchEntry {
  name: string;
  namespace: string;
}

/** `count` entry names under a run label: `shoot--bench--<run>-<i>--<uuid>`, namespace `shoot--bench--<run>-<i>`. */
export function benchEntries(run: string, count: number): BenchEntry[] {
  return Array.from({ length: count }, (_, i) => {
    const namespace = `shoot--bench--${run}-${i}`;
    return { name: `${namespace}--${randomUUID()}`, namespace };
  });
}

/** What {@link Rig.start} starts. */
export interface RigOptions {
  /** The stack environment of a running stack (KUBECONFIG, TEMPORAL_ADDRESS, ...; docs/design.md §1); unset = start an own stack. */
  stackEnv?: Record<string, string>;
  build: ProductBuild;
  /** Working folder (logs, local buckets of an own stack). */
  dir: string;
  /** Extra worker/watcher environment (e.g. `BEL_DEFAULT_RETENTION`). */
  env?: Record<string, string>;
  /** Extra environment of the worker process(es) only (e.g. the probe's `BENCH_WORKER_*`). */
  workerEnv?: Record<string, string>;
  /** Node flags of the worker process(es) (e.g. `--require` of tools/bench/worker-probe.js). */
  workerNodeArgs?: readonly string[];
  /**
   * Run the worker as two processes, `BEL_WORKER_ROLES=workflows` (the one {@link Rig.worker} names, probed) and
   * `BEL_WORKER_ROLES=storage` ({@link Rig.storageWorker}).
   * @default false (one process with both roles, the product's default)
   */
  splitRoles?: boolean;
  /** Temporal backend of an own stack. @default the stack's default (`BEL_STACK_TEMPORAL`, else the dev server) */
  temporalBackend?: TemporalBackend;
  log: (line: string) => void;
}

/**
 * A running service under test: stack, worker process, watcher process, and clients. The watcher serves one
 * BackupEntry class of its own (`bench-<run>`), so entries of other classes — the floor's, another test's — are not
 * its business; the task queue, cluster identity and Lease are the run's own too.
 */
export class Rig {
  readonly run = randomUUID().slice(0, 8);
  readonly cls = `bench-${this.run}`;
  readonly cluster = `bench-${this.run}`;
  readonly taskQueue = `bench-${this.run}`;
  readonly kc = new KubeConfig();
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  worker?: ProductProcess;
  /** The storage-role worker when {@link RigOptions.splitRoles}. */
  storageWorker?: ProductProcess;
  watcher?: ProductProcess;
  client?: Client;
  private stack?: Stack;

  private constructor(
    readonly o: RigOptions,
    readonly env: Record<string, string>,
    stack?: Stack,
  ) {
    this.stack = stack;
    this.kc.loadFromFile(env.KUBECONFIG!);
    // The floor and the bench's own requests keep their connections as the product does (client-node alone opens a
    // new TLS connection per request): the floor is client-node at its best, not at its default.
    reuseConnections(this.kc);
    this.core = this.kc.makeApiClient(CoreV1Api);
    this.custom = this.kc.makeApiClient(CustomObjectsApi);
  }

  /** Starts (or attaches to) the stack and connects; the service itself starts with {@link startService}. */
  static async start(o: RigOptions): Promise<Rig> {
    mkdirSync(o.dir, { recursive: true });
    let stack: Stack | undefined;
    let env = o.stackEnv;
    if (!env) {
      stack = await startStack({
        gcs: false,
        dir: join(o.dir, 'stack'),
        log: (m) => o.log(`[stack] ${m}`),
        ...(o.temporalBackend ? { temporalBackend: o.temporalBackend } : {}),
      });
      env = stack.env();
    }
    const rig = new Rig(o, env, stack);
    rig.client = new Client({
      connection: await Connection.connect({ address: env.TEMPORAL_ADDRESS! }),
      namespace: env.TEMPORAL_NAMESPACE!,
    });
    mkdirSync(rig.localRoot, { recursive: true });
    return rig;
  }

  /** Root of the `local` provider for this run: one folder per bucket. */
  get localRoot(): string {
    return join(this.o.dir, 'local-buckets');
  }

  /** The stack's Temporal server process id, when this rig started the stack (for its memory). */
  get temporalPid(): number | undefined {
    return this.stack?.temporal?.process.child.pid;
  }

  /** Process ids of the stack's servers and the service's processes (the benchmark samples their memory and CPU). */
  processPids(): Record<string, number | undefined> {
    const t = this.stack?.temporal;
    return {
      worker: this.worker?.proc.child.pid,
      ...(this.storageWorker ? { 'storage worker': this.storageWorker.proc.child.pid } : {}),
      watcher: this.watcher?.proc.child.pid,
      temporal: t?.process.child.pid,
      ...(t && 'postgres' in t ? { postgresql: t.postgres.child.pid } : {}),
      'kube-apiserver': this.stack?.kube?.apiserver.child.pid,
      etcd: this.stack?.kube?.etcd.child.pid,
      benchmark: process.pid,
    };
  }

  /** Starts the worker and the watcher processes; resolves once both are ready. */
  async startService(): Promise<void> {
    const common = this.common();
    this.worker = await this.startWorker(common, this.o.splitRoles ? 'workflows' : undefined);
    if (this.o.splitRoles) this.storageWorker = await this.startWorker(common, 'storage');
    this.watcher = await startProductProcess({
      name: 'watcher',
      script: this.o.build.watcher,
      logFile: join(this.o.dir, 'watcher.log'),
      ready: WATCHER_READY,
      env: {
        ...common,
        BEL_LOG_LEVEL: 'info',
        BEL_WATCHER_HTTP_PORT: '0',
        BEL_WATCHER_LEASE_NAME: `bench-${this.run}`,
      },
    });
  }

  /** The environment worker and watcher share. */
  private common(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      ...this.env,
      BEL_TASK_QUEUE: this.taskQueue,
      BEL_CLUSTER_IDENTITY: this.cluster,
      BEL_CLASSES: this.cls,
      BEL_PROVIDER_TYPES: 'local',
      BACKUP_LOCAL_DIR: this.localRoot,
      BEL_WORKFLOW_BUNDLE: this.o.build.bundle,
      BEL_LOG_LEVEL: 'warn',
      ...this.o.env,
    };
  }

  /** Starts one worker process (`role`: `BEL_WORKER_ROLES`, unset = the default, both); resolves once it polls. */
  async startWorker(common: NodeJS.ProcessEnv, role?: 'workflows' | 'storage'): Promise<ProductProcess> {
    const name = role ? `worker-${role}` : 'worker';
    // BENCH_WORKER_NODE_OPTIONS: Node flags for the worker alone (e.g. heap limits), not for the benchmark process.
    const fromEnv = process.env.BENCH_WORKER_NODE_OPTIONS?.split(/\s+/).filter(Boolean) ?? [];
    return startProductProcess({
      name,
      script: this.o.build.worker,
      logFile: join(this.o.dir, `${name}.log`),
      ready: WORKER_READY,
      nodeArgs: [...fromEnv, ...(role === 'storage' ? [] : (this.o.workerNodeArgs ?? []))],
      env: {
        ...common,
        BEL_LOG_LEVEL: 'info',
        BEL_WORKER_HTTP_PORT: '0',
        BEL_WORKER_SDK_METRICS_ADDRESS: '127.0.0.1:0',
        ...(role ? { BEL_WORKER_ROLES: role } : {}),
        ...(role === 'storage' ? {} : this.o.workerEnv),
      },
    });
  }

  /** Restarts the (workflows) worker process: SIGTERM, then a new one with the same settings (a cold cache). */
  async restartWorker(): Promise<void> {
    await this.worker?.stop(10_000);
    this.worker = await this.startWorker(this.common(), this.o.splitRoles ? 'workflows' : undefined);
  }

  /** Stops the service, the client and an own stack. */
  async stop(): Promise<void> {
    await Promise.all([this.watcher?.stop(5000), this.worker?.stop(5000), this.storageWorker?.stop(5000)]);
    await this.client?.connection.close();
    await this.stack?.stop();
  }

  /**
   * Creates each entry's shoot namespace and provider secret `garden/entry-<name>` (not timed by the callers), and
   * for `objects > 0` that many backup files under `<bucket>/<name>/` in the local root.
   */
  async prepare(entries: readonly BenchEntry[], bucket: string, objects = 0, concurrency = 32): Promise<void> {
    await this.core.createNamespace({ body: { metadata: { name: 'garden' } } }).catch(ignoreConflict);
    await mapLimit(entries, concurrency, async (e) => {
      await this.core.createNamespace({ body: { metadata: { name: e.namespace } } }).catch(ignoreConflict);
      // Labelled with the run, so a SecretObserver can watch this run's provider secrets (finalizer released = done).
      await this.core
        .createNamespacedSecret({
          namespace: 'garden',
          body: {
            metadata: { name: `entry-${e.name}`, labels: { [RUN_LABEL]: this.run } },
            stringData: { note: 'local provider: no credentials' },
          },
        })
        .catch(ignoreConflict);
      for (let i = 0; i < objects; i++) {
        const dir = join(this.localRoot, bucket, e.name, 'etcd-main', 'v2');
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, `Full-00000000-0000000${i}-1755684000.gz`), `backup ${i} of ${e.name}`);
      }
    });
  }

  /** Creates the BackupEntry object of `e` (type `local`, class `cls`, default: this rig's class). */
  async createEntry(e: BenchEntry, bucket: string, cls = this.cls): Promise<void> {
    await this.custom.createClusterCustomObject({
      ...G,
      body: {
        apiVersion: `${G.group}/${G.version}`,
        kind: 'BackupEntry',
        metadata: { name: e.name, labels: { [RUN_LABEL]: this.run } },
        spec: {
          type: 'local',
          class: cls,
          region: 'local',
          bucketName: bucket,
          secretRef: { name: `entry-${e.name}`, namespace: 'garden' },
        },
      },
    });
  }

  /** Deletes the BackupEntry object of `e` (finalizers keep it until the service releases them). */
  async deleteEntry(e: BenchEntry): Promise<void> {
    await this.custom.deleteClusterCustomObject({ ...G, name: e.name });
  }

  /** Merge-patches the entry (`status: true`: its status subresource). */
  async patchEntry(name: string, body: object, status = false): Promise<void> {
    if (status) await this.custom.patchClusterCustomObjectStatus({ ...G, name, body }, MERGE);
    else await this.custom.patchClusterCustomObject({ ...G, name, body }, MERGE);
  }

  /** Merge-patches a secret. */
  async patchSecret(namespace: string, name: string, body: object): Promise<void> {
    await this.core.patchNamespacedSecret({ namespace, name, body }, MERGE);
  }

  /** Names of the namespaces holding an `etcd-backup` secret. */
  async etcdBackupNamespaces(): Promise<Set<string>> {
    const list = await this.core.listSecretForAllNamespaces({ fieldSelector: 'metadata.name=etcd-backup' });
    return new Set(list.items.map((s) => s.metadata?.namespace ?? ''));
  }

  /** The workflow ID of an entry, as the watcher derives it. */
  workflowId(name: string): string {
    const id = workflowIdFor(this.cluster, name);
    if (!id.ok) throw new Error(id.error.message);
    return id.value;
  }

  /** The API server's `apiserver_request_total`, summed by `<verb> <resource>` (read with kubectl as admin). */
  apiRequestCounts(): Map<string, number> {
    const text = execFileSync(this.env.KUBECTL ?? 'kubectl', ['get', '--raw', '/metrics'], {
      encoding: 'utf8',
      env: { ...process.env, KUBECONFIG: this.env.KUBECONFIG },
      maxBuffer: 256 * 2 ** 20,
    });
    const counts = new Map<string, number>();
    for (const line of text.split('\n')) {
      if (!line.startsWith('apiserver_request_total{')) continue;
      const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
      const key = `${labels.verb} ${labels.resource}${labels.subresource ? `/${labels.subresource}` : ''}`;
      counts.set(key, (counts.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
    }
    return counts;
  }
}

/** Requests per entry between two {@link Rig.apiRequestCounts} readings, for the resources the service touches. */
export function requestsPerEntry(
  before: Map<string, number>,
  after: Map<string, number>,
  entries: number,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, n] of after) {
    const d = n - (before.get(key) ?? 0);
    if (d > 0 && /backupentries|secrets|events|namespaces/.test(key)) out[key] = Math.round((d / entries) * 100) / 100;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

function ignoreConflict(e: { code?: number }): void {
  if (e.code !== 409) throw e;
}

/** What {@link EntryObserver} remembers of one entry: when the bench first saw each thing, by its own clock. */
export interface Observed {
  succeededAt?: number;
  pendingAt?: number;
  deletionTimestamp?: string;
  goneAt?: number;
}

interface EntrySnapshot {
  name: string;
  state?: string;
  type?: string;
  deletionTimestamp?: string;
}

/**
 * Watches BackupEntries with the product's own reflector (list + watch, resumes, relists on 410) and timestamps, per
 * entry of one run label, the first time its status said Succeeded for a Create/Reconcile, Pending for a Delete,
 * its deletionTimestamp, and when it disappeared.
 */
export class EntryObserver {
  readonly seen = new Map<string, Observed>();
  private readonly reflector: Reflector<EntrySnapshot>;
  private waiters: Array<() => void> = [];

  constructor(kc: KubeConfig, run: string) {
    const custom = kc.makeApiClient(CustomObjectsApi);
    const selector = `${RUN_LABEL}=${run}`;
    this.reflector = new Reflector<EntrySnapshot>({
      name: 'bench-backupentries',
      kubeConfig: kc,
      path: `/apis/${G.group}/${G.version}/${G.plural}`,
      list: async ({ limit, continueToken }) =>
        (await custom.listClusterCustomObject({
          ...G,
          limit,
          labelSelector: selector,
          ...(continueToken ? { _continue: continueToken } : {}),
        })) as never,
      transform: (obj) => {
        const o = obj as {
          metadata?: { name?: string; labels?: Record<string, string>; deletionTimestamp?: string };
          status?: { lastOperation?: { state?: string; type?: string } };
        };
        if (o.metadata?.labels?.[RUN_LABEL] !== run || !o.metadata.name) return undefined;
        return {
          name: o.metadata.name,
          state: o.status?.lastOperation?.state,
          type: o.status?.lastOperation?.type,
          deletionTimestamp: o.metadata.deletionTimestamp,
        };
      },
      keyOf: (e) => e.name,
      onSync: (current, previous) => {
        for (const e of current.values()) this.note(e, false);
        // A relist (after a 410) shows deletions the watch missed only by their absence.
        for (const [k, e] of previous) if (!current.has(k)) this.note(e, true);
      },
      onEvent: (type, e) => this.note(e, type === 'DELETED'),
      idleTimeoutMs: 120_000,
      watchTimeoutMs: 300_000,
      log: pino({ level: 'silent' }),
    });
    this.reflector.start();
  }

  private note(e: EntrySnapshot, gone: boolean): void {
    const now = Date.now();
    const o = this.seen.get(e.name) ?? {};
    if (e.state === 'Succeeded' && (e.type === 'Create' || e.type === 'Reconcile')) o.succeededAt ??= now;
    if (e.state === 'Pending' && e.type === 'Delete') o.pendingAt ??= now;
    if (e.deletionTimestamp) o.deletionTimestamp ??= e.deletionTimestamp;
    if (gone) o.goneAt ??= now;
    this.seen.set(e.name, o);
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves once `done` holds for every name (re-checked on each event), or rejects after `timeoutMs` saying how many are missing. */
  async until(
    names: readonly string[],
    done: (o: Observed) => boolean,
    what: string,
    timeoutMs: number,
    progress?: (n: number) => void,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const missing = names.filter((n) => !done(this.seen.get(n) ?? {}));
      progress?.(names.length - missing.length);
      if (missing.length === 0) return;
      if (Date.now() > deadline)
        throw new Error(
          `${missing.length} of ${names.length} entries not ${what} after ${timeoutMs / 1000} s (first: ${missing[0]})`,
        );
      // Re-checked at most every 250 ms: with thousands of entries a check per event would cost the bench real CPU.
      await new Promise<void>((r) => {
        const t = setTimeout(r, 2000);
        this.waiters.push(() => {
          clearTimeout(t);
          setTimeout(r, 250);
        });
      });
    }
  }

  async stop(): Promise<void> {
    await this.reflector.stop();
  }
}

/** What {@link SecretObserver} remembers of one provider secret, by the bench's clock. */
export interface ObservedSecret {
  /** It carries our finalizer now. */
  held: boolean;
  /** Last time it was seen losing our finalizer (or deleted while holding it). */
  releasedAt?: number;
}

interface SecretSnapshot {
  name: string;
  held: boolean;
}

/**
 * Watches the provider secrets (`garden/entry-<name>`) of one run label with the product's reflector and timestamps
 * when each lost our finalizer: the end of a lifecycle in either retention mode (the entry's own finalizer goes at
 * retention start with `release-entry`, at the end with `hold-entry`; the secret's at the end in both).
 */
export class SecretObserver {
  readonly seen = new Map<string, ObservedSecret>();
  private readonly reflector: Reflector<SecretSnapshot>;

  /**
   * By default this run's provider secrets (`entry-<name>`, labelled with the run; "released" = our finalizer off).
   * `anchors`: the retention anchors instead (`backupentry-retention-<name>`; "released" = the anchor deleted).
   */
  constructor(
    kc: KubeConfig,
    run: string,
    namespace = 'garden',
    private readonly kind: 'provider-secrets' | 'anchors' = 'provider-secrets',
  ) {
    const core = kc.makeApiClient(CoreV1Api);
    const anchors = kind === 'anchors';
    const selector = anchors ? `${LABEL_RETENTION_ANCHOR}=true` : `${RUN_LABEL}=${run}`;
    this.reflector = new Reflector<SecretSnapshot>({
      name: `bench-secrets/${namespace}`,
      kubeConfig: kc,
      path: `/api/v1/namespaces/${namespace}/secrets`,
      list: async ({ limit, continueToken }) =>
        (await core.listNamespacedSecret({
          namespace,
          limit,
          labelSelector: selector,
          ...(continueToken ? { _continue: continueToken } : {}),
        })) as never,
      transform: (obj) => {
        const o = obj as { metadata?: { name?: string; labels?: Record<string, string>; finalizers?: string[] } };
        if (!o.metadata?.name) return undefined;
        if (anchors) return { name: o.metadata.name, held: true };
        if (o.metadata.labels?.[RUN_LABEL] !== run) return undefined;
        return { name: o.metadata.name, held: (o.metadata.finalizers ?? []).includes(FINALIZER) };
      },
      keyOf: (e) => e.name,
      onSync: (current, previous) => {
        for (const e of current.values()) this.note(e.name, e.held);
        for (const [k] of previous) if (!current.has(k)) this.note(k, false);
      },
      onEvent: (type, e) => this.note(e.name, type !== 'DELETED' && e.held),
      idleTimeoutMs: 120_000,
      watchTimeoutMs: 300_000,
      log: pino({ level: 'silent' }),
    });
    this.reflector.start();
  }

  private note(name: string, held: boolean): void {
    const o = this.seen.get(name) ?? { held: false };
    if (o.held && !held) o.releasedAt = Date.now();
    o.held = held;
    this.seen.set(name, o);
  }

  /** When the secret of `entry` lost our finalizer (its anchor was deleted), if it has and does not hold it again. */
  releasedAt(entry: string): number | undefined {
    const o = this.seen.get(this.kind === 'anchors' ? retentionAnchorName(entry) : `entry-${entry}`);
    return o && !o.held ? o.releasedAt : undefined;
  }

  /** Whether `entry`'s secret (anchor) was ever seen. */
  saw(entry: string): boolean {
    return this.seen.has(this.kind === 'anchors' ? retentionAnchorName(entry) : `entry-${entry}`);
  }

  async stop(): Promise<void> {
    await this.reflector.stop();
  }
}

/**
 * A runnable `.js` path for the bench script `tools/bench/<name>`: the compiled file next to this one, or (when the bench
 * runs from TypeScript sources, under jest) a boot file in `dir` that registers @swc/core as the `.ts` loader first.
 */
export function benchScript(name: string, dir: string): string {
  if (!__filename.endsWith('.ts')) return join(__dirname, `${name}.js`);
  mkdirSync(dir, { recursive: true });
  const boot = join(dir, `${name}.boot.js`);
  writeFileSync(
    boot,
    `
const { transformSync } = require(${JSON.stringify(require.resolve('@swc/core'))});
const { readFileSync } = require('node:fs');
require.extensions['.ts'] = (module, filename) => {
  const { code } = transformSync(readFileSync(filename, 'utf8'), { filename,
    jsc: { target: 'es2023', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } });
  module._compile(code, filename);
};
require(${JSON.stringify(join(__dirname, `${name}.ts`))});
`,
  );
  return boot;
}

/** Samples the resident memory of processes every `intervalMs` and keeps the peak of each (MiB). */
export class MemorySampler {
  readonly peak: Record<string, number> = {};
  private timer: NodeJS.Timeout;

  constructor(
    private readonly pids: () => Record<string, number | undefined>,
    intervalMs = 1000,
  ) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  /** Takes one sample now; returns the current RSS of each process. */
  sample(): Record<string, number> {
    const now: Record<string, number> = {};
    for (const [name, pid] of Object.entries(this.pids())) {
      const m = processMemory(pid);
      if (!m) continue;
      now[name] = Math.round(m.rssMiB * 10) / 10;
      this.peak[name] = Math.max(this.peak[name] ?? 0, Math.round(m.peakRssMiB * 10) / 10);
    }
    return now;
  }

  stop(): void {
    this.sample();
    clearInterval(this.timer);
  }
}

/** Seconds per clock tick of `/proc/<pid>/stat` (USER_HZ: 100 on every Linux the stack runs on). */
const CLOCK_TICK_S = 0.01;

/** Fields after the command name of `/proc/<pid>/stat` (`[0]` is the state, `[1]` the parent pid). */
function statFields(pid: number): string[] | undefined {
  try {
    // The command name (field 2) may hold spaces: split after its closing parenthesis.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds (user + system) `pid` has used so far, from `/proc`; with `tree`, also its waited-for children's and its
 * live descendants' (PostgreSQL forks a backend per connection). Undefined once it is gone.
 */
export function cpuSeconds(pid: number | undefined, tree = false): number | undefined {
  if (pid === undefined) return undefined;
  const own = statFields(pid);
  if (!own) return undefined;
  const ticks = (f: string[], withChildren: boolean): number =>
    Number(f[11]) + Number(f[12]) + (withChildren ? Number(f[13]) + Number(f[14]) : 0);
  let total = ticks(own, tree);
  if (!tree) return total * CLOCK_TICK_S;
  const parents = new Map<number, number>();
  const fields = new Map<number, string[]>();
  for (const name of readdirSync('/proc')) {
    const child = Number(name);
    if (!Number.isInteger(child) || child === pid) continue;
    const f = statFields(child);
    if (!f) continue;
    parents.set(child, Number(f[1]));
    fields.set(child, f);
  }
  const under = (p: number): boolean => {
    for (let q = parents.get(p); q !== undefined; q = parents.get(q)) if (q === pid) return true;
    return false;
  };
  for (const [child, f] of fields) if (under(child)) total += ticks(f, false);
  return total * CLOCK_TICK_S;
}

/** CPU time each named process used between {@link CpuMeter.start} and {@link CpuMeter.stop}, and the wall time. */
export interface CpuWindow {
  wallS: number;
  /** CPU seconds per process over the window (a process that was not there at both ends is left out). */
  cpuS: Record<string, number>;
}

/** "worker 36.8, temporal 18, …; all 74.3": CPU seconds per process, the largest first. */
export function cpuLine(w: CpuWindow): string {
  const parts = Object.entries(w.cpuS)
    .filter(([, s]) => s > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([name, s]) => `${name} ${s}`);
  const all = Object.values(w.cpuS).reduce((a, b) => a + b, 0);
  return `${parts.join(', ')}; all ${Math.round(all * 10) / 10}`;
}

/** Measures which process the CPU went to over a window (where a CPU-bound phase spends its time). */
export class CpuMeter {
  private at = 0;
  private begin: Record<string, number> = {};

  /** `trees`: the names whose descendants count too (a process forked per connection); the rest are counted alone. */
  constructor(
    private readonly pids: () => Record<string, number | undefined>,
    private readonly trees: readonly string[] = ['postgresql'],
  ) {}

  start(): void {
    this.at = Date.now();
    this.begin = this.read();
  }

  stop(): CpuWindow {
    const end = this.read();
    const cpuS: Record<string, number> = {};
    for (const [name, s] of Object.entries(end)) {
      const b = this.begin[name];
      if (b !== undefined) cpuS[name] = Math.round((s - b) * 100) / 100;
    }
    return { wallS: Math.round((Date.now() - this.at) / 100) / 10, cpuS };
  }

  private read(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, pid] of Object.entries(this.pids())) {
      const s = cpuSeconds(pid, this.trees.includes(name));
      if (s !== undefined) out[name] = s;
    }
    return out;
  }
}

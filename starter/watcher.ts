/**
 * The watcher: lists and watches BackupEntries (and the provider secrets they reference) and keeps one workflow per
 * served entry informed, as the leader of its replicas (SPEC §2–4, issue 5).
 *
 * - Only the leader (a `coordination.k8s.io/v1` Lease, see leader-election.ts) runs informers and talks to Temporal.
 *   Each leadership term builds its informers and work queue afresh; what the watcher remembers about entries (their
 *   last fingerprints) and secrets (data digests) outlives a term, so a new term adds no history for unchanged entries.
 * - Every served entry seen for the first time gets its workflow ensured (`USE_EXISTING` start: no history for a
 *   running workflow, a new run for a closed one) or, when Gardener's CREATE predicate says it needs a pass, a
 *   `reconcile` signal-with-start. Afterwards only meaningful changes are signalled (intent.ts): resyncs, status
 *   writes and finalizer edits add no history.
 * - A provider secret whose data changes gets every entry that references it (and is not being deleted) signalled
 *   with reason `secret-rotation`; on first sight of a secret, settled entries have their etcd-backup secret compared
 *   with it, so a rotation while no watcher ran is not missed either.
 * - `/metrics`, `/healthz` and `/readyz` on `BEL_WATCHER_HTTP_PORT`.
 *
 * Run: `node dist/starter/watcher.js` (configuration: README). Tests and the dev stack call {@link startWatcher}.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { type AppConfig, loadConfig } from '../config';
import { createLogger } from '../config/logger';
import { BACKUPENTRY_API, DATA_KEY_BUCKET_NAME, DATA_KEY_HOST_PATH, FINALIZER, parseEntryName, workflowIdFor } from '../domain';
import { type BackupEntryWorkflowInput, backupEntryWorkflow } from '../workflows/backup-entry-workflow';
import { reconcileSignal } from '../workflows/messages';
import { BACKUP_ENTRY_NAME } from '../workflows/search-attributes';
import { startHealthServer, type HealthServer, type Readiness } from '../adapters/http/health-server';
import { reuseConnections } from '../adapters/kubernetes/connection-reuse';
import {
  type EntryState, type Fingerprint, SignalReason, changeIntent, fingerprintOf, firstSightIntent, intentCategory, isServed,
  secretKey, toEntryState,
  releasedDuringRetention,
} from './intent';
import { type EntryHealth, FailingSince, summarizeEntries } from './entry-health';
import { type CalendarSnapshot, readRetentionCalendar } from './retention-calendar';
import { LeaderElector } from './leader-election';
import { Reflector, describeError } from './list-watch';
import { SecretWatch, secretDataDigest, type RetainedEntry, type SecretChange, type SecretFacts } from './secret-watch';
import { createWatcherMetrics, type WatcherMetrics } from './watcher-metrics';
import { type EntryAction, WorkQueue } from './work-queue';

/** Options of {@link startWatcher}. */
export interface StartWatcherOptions {
  config: AppConfig;
  kubeConfig: KubeConfig;
  /** Temporal client on `config.temporal.namespace`. Not closed by the watcher. */
  client: Client;
  logger: Logger;
  /** Holder identity in the Lease; default `config.watcher.identity`, else `<hostname>-<random>`. */
  identity?: string;
  /** Overrides `config.watcher.httpPort` (0 = a free port); `false` serves no HTTP endpoint. */
  httpPort?: number | false;
  /** Adds prom-client's process metrics to the registry (the watcher process does; tests do not). */
  defaultMetrics?: boolean;
  /** Timeout of one Temporal call. Default 30 s. */
  temporalTimeoutMs?: number;
}

/** A running watcher. */
export interface WatcherHandle {
  /** Stops acting (informers, queue; calls in flight finish), releases the lease, closes the endpoint. Idempotent. */
  stop(): Promise<void>;
  /** True while this replica is the leader. */
  isLeader(): boolean;
  /** True while this replica leads and its informers are listed and watching; false on a standby replica. */
  isInSync(): boolean;
  /** The holder identity in the Lease. */
  readonly identity: string;
  /** Port of the HTTP endpoint; undefined when none is served. */
  readonly httpPort: number | undefined;
  /** The metrics registry (also served on `/metrics`). */
  readonly metrics: Registry;
  /** Forces a fresh list of every informer now (a no-op on a standby replica). */
  relist(): void;
  /** Resolves when the leader has no entry action waiting or in flight (immediately on a standby replica). */
  settled(): Promise<void>;
}

/** What outlives a leadership term. */
interface Memory {
  fingerprints: Map<string, Fingerprint>;
  secrets: Map<string, SecretFacts>;
  /** Since when failing entries fail (for `bel_watcher_error_longest_seconds`). */
  failing: FailingSince;
}

const ENTRY_PATH = `/apis/${BACKUPENTRY_API.group}/${BACKUPENTRY_API.version}/${BACKUPENTRY_API.plural}`;
/** Keys of the etcd-backup secret that the controller sets itself; never compared with the provider secret. */
const OWN_KEYS = new Set<string>([DATA_KEY_BUCKET_NAME, DATA_KEY_HOST_PATH]);
/** Where gardenlet puts the extension secrets (`entry-<name>`) on a seed: always watched for retention records. */
const GARDEN_NAMESPACE = 'garden';

interface TermDeps {
  config: AppConfig;
  kubeConfig: KubeConfig;
  client: Client;
  log: Logger;
  metrics: WatcherMetrics;
  memory: Memory;
  temporalTimeoutMs: number;
}

/** One leadership term: the informers and the work queue, alive while this replica leads. */
class Term {
  readonly entries: Reflector<EntryState>;
  readonly secrets: SecretWatch;
  readonly queue: WorkQueue;
  /** Served entries by referenced secret key, and the reverse. */
  private readonly referrers = new Map<string, Set<string>>();
  /** Namespaces where a retention record of a released entry was seen (watched for good). */
  private readonly retainedNamespaces = new Set<string>();
  private readonly secretOf = new Map<string, string>();
  private resyncTimer?: NodeJS.Timeout;
  /** The retention calendar from Temporal visibility (metrics only), its refresh timer and whether a read runs. */
  private calendar?: CalendarSnapshot;
  private calendarTimer?: NodeJS.Timeout;
  private calendarReading = false;
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly abort = new AbortController();

  constructor(private readonly d: TermDeps) {
    const { config, kubeConfig, log, metrics } = d;
    const w = config.watcher;
    const custom = kubeConfig.makeApiClient(CustomObjectsApi);
    this.custom = custom;
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.queue = new WorkQueue({
      concurrency: w.concurrency, log, describe: describeError,
      handle: (name, action) => this.perform(name, action),
      onError: (action) => metrics.temporalErrors.inc({ action: action.kind }),
    });
    this.entries = new Reflector<EntryState>({
      name: 'backupentries', kubeConfig, path: ENTRY_PATH,
      list: async ({ limit, continueToken }) => (await custom.listClusterCustomObject({ group: BACKUPENTRY_API.group,
        version: BACKUPENTRY_API.version, plural: BACKUPENTRY_API.plural, limit,
        ...(continueToken ? { _continue: continueToken } : {}) })) as never,
      transform: toEntryState,
      keyOf: (e) => e.name,
      onSync: (current) => this.onEntrySync(current),
      onEvent: (type, e) => this.onEntryEvent(type, e),
      idleTimeoutMs: w.idleTimeoutMs, watchTimeoutMs: w.watchTimeoutMs, log,
      onRestart: (reason) => metrics.restarts.inc({ informer: 'backupentries', reason }),
      onEventSeen: (type) => metrics.events.inc({ resource: 'backupentries', type }),
    });
    this.secrets = new SecretWatch({
      kubeConfig, memory: d.memory.secrets, copyExclude: OWN_KEYS, idleTimeoutMs: w.idleTimeoutMs, watchTimeoutMs: w.watchTimeoutMs, log,
      onChange: (key, change) => this.onSecretChange(key, change),
      onRetained: (key, names) => this.onRetained(key, names),
      onRestart: (reason) => metrics.restarts.inc({ informer: 'secrets', reason }),
      onEventSeen: (type) => metrics.events.inc({ resource: 'secrets', type }),
    });
  }

  start(): void {
    this.entries.start();
    const period = this.d.config.watcher.resyncPeriodMs;
    if (period > 0) {
      this.resyncTimer = setInterval(() => this.relist('resync'), period);
      this.resyncTimer.unref();
    }
    const calendarPeriod = this.d.config.watcher.calendarPeriodMs;
    if (calendarPeriod > 0) {
      void this.readCalendar();
      this.calendarTimer = setInterval(() => void this.readCalendar(), calendarPeriod);
      this.calendarTimer.unref();
    }
  }

  /** Reads the retention calendar (retention-calendar.ts); a failure keeps the last one and is counted and logged. */
  private async readCalendar(): Promise<void> {
    if (this.calendarReading) return;
    this.calendarReading = true;
    try {
      const { client, config } = this.d;
      this.calendar = await this.temporal(() => readRetentionCalendar(client, config.clusterIdentity, Date.now()));
    } catch (err) {
      if (this.abort.signal.aborted) return;
      this.d.metrics.temporalErrors.inc({ action: 'calendar' });
      this.d.log.warn({ error: describeError(err) }, 'Could not read the retention calendar from Temporal visibility');
    } finally {
      this.calendarReading = false;
    }
  }

  relist(reason: 'relist' | 'resync' = 'relist'): void {
    this.entries.relist(reason);
    this.secrets.relist(reason);
  }

  isInSync(): boolean {
    return this.entries.isInSync() && this.secrets.isInSync();
  }

  /** Stops informers and queue; forgets decisions whose actions were not carried out, so the next term redoes them. */
  async stop(): Promise<void> {
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    if (this.calendarTimer) clearInterval(this.calendarTimer);
    await Promise.all([this.entries.stop(), this.secrets.stop()]);
    const stopping = this.queue.stop();
    this.abort.abort(); // calls in flight fail (their entries count as not done), so none lands after the term
    const dropped = await stopping;
    for (const name of dropped) {
      this.d.memory.fingerprints.delete(name);
      const key = this.secretOf.get(name);
      if (key) this.d.memory.secrets.delete(key);
    }
    if (dropped.length) this.d.log.info({ entries: dropped.length }, 'Leadership ended with entry actions not done; the next leader redoes them');
  }

  /** Phases, failures and the retention calendar of the served entries (entry-health.ts). */
  entryHealth(): EntryHealth {
    const served = [...this.entries.items().values()].filter((e) => this.served(e));
    // A calendar that could not be refreshed for long (Temporal unreachable) is dropped rather than trusted.
    const maxAge = Math.max(10 * this.d.config.watcher.calendarPeriodMs, 300_000);
    const calendar = this.calendar && Date.now() - this.calendar.atMs <= maxAge ? this.calendar : undefined;
    return summarizeEntries(served, Date.now(), this.d.memory.failing, calendar);
  }

  entriesByIntent(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const e of this.entries.items().values()) {
      if (!this.served(e)) continue;
      const c = intentCategory(e);
      counts[c] = (counts[c] ?? 0) + 1;
    }
    return counts;
  }

  private served(e: EntryState): boolean {
    return isServed(e, this.d.config);
  }

  // --- entries ------------------------------------------------------------------------------------------------------

  private onEntrySync(current: ReadonlyMap<string, EntryState>): void {
    const { fingerprints } = this.d.memory;
    for (const e of current.values()) {
      this.d.metrics.events.inc({ resource: 'backupentries', type: 'LISTED' });
      this.d.memory.failing.observe(e, Date.now());
      this.decide(e);
    }
    for (const name of [...fingerprints.keys()]) if (!current.has(name)) this.gone(name);
    this.d.memory.failing.keepOnly(current);
    this.referrers.clear();
    this.secretOf.clear();
    for (const e of current.values()) this.index(e);
    this.secrets.setNamespaces(this.referencedNamespaces());
  }

  private onEntryEvent(type: 'ADDED' | 'MODIFIED' | 'DELETED', e: EntryState): void {
    const before = this.referencedNamespaces();
    if (type === 'DELETED') {
      this.d.memory.failing.forget(e.name);
      this.unindex(e.name);
      if (releasedDuringRetention(e, this.d.config.retentionMode)) this.d.memory.fingerprints.delete(e.name);
      else this.gone(e.name);
    } else {
      this.d.memory.failing.observe(e, Date.now());
      this.decide(e);
      this.index(e);
    }
    const after = this.referencedNamespaces();
    if (before.size !== after.size || [...after].some((ns) => !before.has(ns))) this.secrets.setNamespaces(after);
  }

  /** Decides about one observed entry and remembers its fingerprint. */
  private decide(e: EntryState): void {
    const { fingerprints } = this.d.memory;
    if (!this.served(e)) {
      fingerprints.delete(e.name);
      return;
    }
    const prev = fingerprints.get(e.name);
    const intent = prev ? changeIntent(prev, e) : firstSightIntent(e);
    fingerprints.set(e.name, fingerprintOf(e));
    if (intent.kind === 'signal') this.queue.add(e.name, { kind: 'signal', reasons: intent.reasons });
    else if (intent.kind === 'ensure') this.queue.add(e.name, { kind: 'ensure' });
    if (intent.kind !== 'none') this.d.log.debug({ entry: e.name, intent }, 'Entry needs its workflow');
  }

  private gone(name: string): void {
    if (!this.d.memory.fingerprints.delete(name)) return;
    this.queue.add(name, { kind: 'gone' });
  }

  private index(e: EntryState): void {
    this.unindex(e.name);
    if (!this.served(e) || !e.secretRef) return;
    const key = secretKey(e.secretRef);
    this.secretOf.set(e.name, key);
    let set = this.referrers.get(key);
    if (!set) this.referrers.set(key, (set = new Set()));
    set.add(e.name);
  }

  private unindex(name: string): void {
    const key = this.secretOf.get(name);
    if (!key) return;
    this.secretOf.delete(name);
    const set = this.referrers.get(key);
    set?.delete(name);
    if (set?.size === 0) this.referrers.delete(key);
  }

  /**
   * Secret namespaces to watch: those referenced by served entries, plus Gardener's `garden` (where gardenlet puts the
   * extension secrets) and any where a retention record was seen: a released entry references nothing any more, yet
   * its record must still be found after a restart.
   */
  private referencedNamespaces(): Set<string> {
    return new Set([...this.referrers.keys()].map((k) => k.slice(0, k.indexOf('/'))).concat(GARDEN_NAMESPACE, ...this.retainedNamespaces));
  }

  // --- secrets ------------------------------------------------------------------------------------------------------

  private onSecretChange(key: string, change: SecretChange): void {
    const names = this.referrers.get(key);
    if (!names) return;
    for (const name of names) {
      const e = this.entries.items().get(name);
      if (!e || e.deletionTimestamp !== undefined) continue;
      if (change === 'first-sight') {
        // Only settled entries: the others get a pass anyway, which provisions from the current data.
        if (e.lastOperation?.state === 'Succeeded') this.queue.add(name, { kind: 'verify-secret' });
      } else {
        this.d.log.info({ entry: name, secret: key, change }, 'Provider secret data changed; re-provisioning the etcd-backup secret');
        this.queue.add(name, { kind: 'signal', reasons: [SignalReason.SecretRotation] });
      }
    }
  }

  /**
   * Entries released during retention keep a record on their credentials secret; one without a BackupEntry must have a
   * running workflow (after a terminated run or a reset, a new one resumes from the record): never lose track of it.
   */
  private onRetained(key: string, retained: readonly RetainedEntry[]): void {
    const slash = key.indexOf('/');
    const secret = { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
    for (const { entry, workflowId } of retained) {
      // Only this seed's records: another seed (or cluster identity) on the same API server keeps its own.
      const own = workflowIdFor(this.d.config.clusterIdentity, entry);
      if (!own.ok || own.value !== workflowId) continue;
      this.retainedNamespaces.add(secret.namespace);
      if (!this.entries.items().has(entry)) this.queue.add(entry, { kind: 'resume', secret });
    }
  }

  /** True when the entry's etcd-backup secret holds other values than its provider secret (rotation while away). */
  private async etcdSecretDiffers(name: string): Promise<boolean> {
    const e = this.entries.items().get(name);
    const facts = e?.secretRef ? this.d.memory.secrets.get(secretKey(e.secretRef)) : undefined;
    const id = parseEntryName(name);
    if (!e || !facts || !id.ok || e.deletionTimestamp !== undefined) return false;
    let data: Record<string, string>;
    try {
      data = (await this.core.readNamespacedSecret({ namespace: id.value.namespace, name: id.value.etcdSecretName })).data ?? {};
    } catch (err) {
      if ((err as { code?: unknown }).code === 404) return false; // not provisioned (yet): the workflow's business
      throw err;
    }
    const copy: Record<string, string> = {};
    for (const k of facts.keys) if (!OWN_KEYS.has(k) && data[k] !== undefined) copy[k] = data[k];
    return secretDataDigest(copy) !== facts.copyDigest;
  }

  // --- Temporal -----------------------------------------------------------------------------------------------------

  /** One Temporal call: with a deadline, and cancelled when the term ends (a former leader stops acting at once). */
  private temporal<T>(fn: () => Promise<T>): Promise<T> {
    const { client, temporalTimeoutMs } = this.d;
    return client.withAbortSignal(this.abort.signal, () => client.withDeadline(Date.now() + temporalTimeoutMs, fn));
  }

  /**
   * For a deleting entry, signal-with-start could start a second run just after the first one released the last
   * finalizer and ended. So a running workflow is signalled plainly; only when none runs is the entry re-read, and a
   * new run is wanted only while it still holds our finalizer (e.g. its workflow was terminated by hand). True =
   * signal-with-start; false = done (signalled, or nothing of ours left to clean).
   */
  private async deletionNeedsNewRun(name: string, reasons: string[]): Promise<boolean> {
    const { client, metrics, log } = this.d;
    const id = workflowIdFor(this.d.config.clusterIdentity, name);
    if (!id.ok) return false;
    try {
      await this.temporal(() => client.workflow.getHandle(id.value).signal(reconcileSignal, { reason: reasons.join(',') }));
      for (const reason of reasons) metrics.signals.inc({ reason });
      log.info({ entry: name, workflowId: id.value, reasons }, 'Signalled workflow');
      return false;
    } catch (err) {
      if ((err as { name?: unknown }).name !== 'WorkflowNotFoundError') throw err;
    }
    let finalizers: string[] = [];
    try {
      const o = (await this.custom.getClusterCustomObject({ group: BACKUPENTRY_API.group, version: BACKUPENTRY_API.version,
        plural: BACKUPENTRY_API.plural, name })) as { metadata?: { finalizers?: string[] } };
      finalizers = o.metadata?.finalizers ?? [];
    } catch (err) {
      if ((err as { code?: unknown }).code === 404) return false;
      throw err;
    }
    return finalizers.includes(FINALIZER);
  }

  private async perform(name: string, action: EntryAction): Promise<void> {
    const { config, client, metrics, log } = this.d;
    const id = workflowIdFor(config.clusterIdentity, name);
    if (!id.ok) {
      log.error({ entry: name, error: id.error.message }, 'Entry has no valid workflow ID; ignored');
      return;
    }
    const input: BackupEntryWorkflowInput = { entryName: name, settings: { defaultRetentionMs: config.defaultRetentionMs } };
    const start = {
      taskQueue: config.taskQueue, workflowId: id.value, args: [input] as [BackupEntryWorkflowInput],
      typedSearchAttributes: [{ key: BACKUP_ENTRY_NAME, value: name }], workflowIdConflictPolicy: 'USE_EXISTING' as const,
    };
    const signal = async (reasons: string[]): Promise<void> => {
      await this.temporal(() => client.workflow.signalWithStart(backupEntryWorkflow, {
        ...start, signal: reconcileSignal, signalArgs: [{ reason: reasons.join(',') }] }));
      for (const reason of reasons) metrics.signals.inc({ reason });
      log.info({ entry: name, workflowId: id.value, reasons }, 'Signalled workflow');
    };
    switch (action.kind) {
      case 'ensure':
        await this.temporal(() => client.workflow.start(backupEntryWorkflow, start));
        metrics.ensured.inc();
        log.debug({ entry: name, workflowId: id.value }, 'Ensured workflow');
        return;
      case 'signal':
        if (this.entries.items().get(name)?.deletionTimestamp !== undefined && !(await this.deletionNeedsNewRun(name, action.reasons))) return;
        return signal(action.reasons);
      case 'verify-secret':
        if (await this.etcdSecretDiffers(name)) {
          log.info({ entry: name }, 'The etcd-backup secret differs from the provider secret; re-provisioning it');
          return signal([SignalReason.SecretRotation]);
        }
        await this.temporal(() => client.workflow.start(backupEntryWorkflow, start));
        metrics.ensured.inc();
        return;
      case 'resume':
        if (this.entries.items().has(name)) return; // the entry exists again: its own events drive the workflow
        await this.temporal(() => client.workflow.start(backupEntryWorkflow, { ...start,
          args: [{ ...input, retainedSecret: action.secret }] as [BackupEntryWorkflowInput] }));
        metrics.ensured.inc();
        log.info({ entry: name, workflowId: id.value, secret: `${action.secret.namespace}/${action.secret.name}` },
          'Made sure the retention of a released entry runs (record on its credentials secret)');
        return;
      case 'gone':
        try {
          await this.temporal(() =>
            client.workflow.getHandle(id.value).signal(reconcileSignal, { reason: SignalReason.Gone }));
          metrics.signals.inc({ reason: SignalReason.Gone });
          log.info({ entry: name, workflowId: id.value }, 'Entry is gone; told its running workflow');
        } catch (err) {
          if ((err as { name?: unknown }).name !== 'WorkflowNotFoundError') throw err;
        }
        return;
    }
  }
}

/**
 * Starts a watcher replica: campaigns for the Lease, and while leading runs the informers and sends signals. Returns
 * once the HTTP endpoint (if any) listens; leadership is acquired in the background. Throws only when the endpoint
 * cannot listen.
 */
export async function startWatcher(opts: StartWatcherOptions): Promise<WatcherHandle> {
  const { config, client } = opts;
  const kubeConfig = reuseConnections(opts.kubeConfig);
  const w = config.watcher;
  const identity = opts.identity ?? w.identity ?? `${hostname()}-${randomUUID().slice(0, 8)}`;
  const log = opts.logger.child({ identity });
  const memory: Memory = { fingerprints: new Map(), secrets: new Map(), failing: new FailingSince() };
  let term: Term | undefined;
  let chain: Promise<void> = Promise.resolve();
  let stopped = false;

  const elector: LeaderElector = new LeaderElector({
    kubeConfig, namespace: w.leaseNamespace, name: w.leaseName, identity, leaseDurationMs: w.leaseDurationMs,
    renewDeadlineMs: w.renewDeadlineMs, retryPeriodMs: w.retryPeriodMs, log,
    onStartedLeading: () => {
      metrics.leaderTransitions.inc();
      chain = chain.then(() => {
        if (stopped || !elector.isLeader() || term) return;
        term = new Term({ config, kubeConfig, client, log, metrics, memory, temporalTimeoutMs: opts.temporalTimeoutMs ?? 30_000 });
        term.start();
        log.info({ types: config.providerTypes, classes: config.classes }, 'Leading: watching BackupEntries');
      });
    },
    onStoppedLeading: () => {
      chain = chain.then(async () => {
        const t = term;
        term = undefined;
        await t?.stop();
      });
      return chain;
    },
    onNewLeader: (holder) => log.info({ leader: holder || '(none)' }, 'Lease holder changed'),
  });

  const metrics = createWatcherMetrics({
    isLeader: () => elector.isLeader(),
    isInSync: () => term?.isInSync() ?? false,
    queueDepth: () => term?.queue.depth() ?? 0,
    entriesByIntent: () => term?.entriesByIntent() ?? {},
    entryHealth: () => (term ? term.entryHealth() : undefined) ?? summarizeEntries([], Date.now(), memory.failing),
  }, { defaultMetrics: opts.defaultMetrics ?? false });

  let temporalOk: { at: number; ok: boolean } | undefined;
  const temporalReachable = async (): Promise<boolean> => {
    if (temporalOk && Date.now() - temporalOk.at < 5000) return temporalOk.ok;
    const ok = await client.connection.withDeadline(Date.now() + 3000, () => client.workflowService.getSystemInfo({}))
      .then(() => true, () => false);
    temporalOk = { at: Date.now(), ok };
    return ok;
  };
  const ready = async (): Promise<Readiness> => {
    const detail: string[] = [];
    if (!(await temporalReachable())) detail.push(`temporal: ${config.temporal.address} is not reachable`);
    if (elector.isLeader() && !(term?.isInSync() ?? false)) detail.push('informers: not in sync (listing or restarting)');
    return { ok: detail.length === 0, detail };
  };

  const port = opts.httpPort === false ? undefined : (opts.httpPort ?? w.httpPort);
  let server: HealthServer | undefined;
  if (port !== undefined) {
    server = await startHealthServer({ port, registry: metrics.registry, live: () => !stopped, ready });
    log.info({ port: server.port }, 'Serving /metrics, /healthz and /readyz');
  }
  elector.start();
  log.info({ lease: `${w.leaseNamespace}/${w.leaseName}`, taskQueue: config.taskQueue, cluster: config.clusterIdentity },
    'Watcher started; campaigning for the lease');

  let stopping: Promise<void> | undefined;
  return {
    identity,
    httpPort: server?.port,
    metrics: metrics.registry,
    isLeader: () => elector.isLeader(),
    isInSync: () => elector.isLeader() && (term?.isInSync() ?? false),
    relist: () => term?.relist('relist'),
    settled: async () => {
      await chain;
      await term?.queue.idle();
    },
    stop: () => {
      stopping ??= (async () => {
        stopped = true;
        await elector.stop();
        await chain;
        await server?.close();
        log.info('Watcher stopped');
      })();
      return stopping;
    },
  };
}

async function connectWithRetry(config: AppConfig, log: Logger, abort: AbortSignal): Promise<Connection | undefined> {
  for (let attempt = 1; !abort.aborted; attempt++) {
    try {
      return await Connection.connect(config.temporal.connect.connectionOptions);
    } catch (err) {
      const delay = Math.min(30_000, 1000 * 2 ** Math.min(attempt - 1, 5));
      log.warn({ temporal: config.temporal.address, error: describeError(err), retryInMs: delay }, 'Temporal is not reachable yet');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        abort.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
      });
    }
  }
  return undefined;
}

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, 'watcher');
  for (const warning of config.warnings) logger.warn(warning);
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const abort = new AbortController();
  let watcher: WatcherHandle | undefined;
  const onSignal = (sig: string): void => {
    logger.info({ signal: sig }, 'Stopping');
    abort.abort();
    void watcher?.stop();
  };
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  const connection = await connectWithRetry(config, logger, abort.signal);
  if (!connection) return;
  try {
    const client = new Client({ connection, namespace: config.temporal.namespace });
    watcher = await startWatcher({ config, kubeConfig: kc, client, logger, defaultMetrics: true });
    if (abort.signal.aborted) await watcher.stop();
    await new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve(), { once: true }));
    await watcher.stop();
  } finally {
    await connection.close();
  }
}

if (require.main === module) {
  main().then(() => process.exit(0), (err: unknown) => {
    process.stderr.write(`watcher failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}

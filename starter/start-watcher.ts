/**
 * The watcher replica as a library: campaigns for the Lease and, while it leads, runs one leadership term
 * (leadership-term.ts) at a time; serves `/metrics`, `/healthz` and `/readyz`. The process around it is watcher.ts;
 * tests and the dev stack call {@link startWatcher} directly.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AppConfig } from '../config';
import { startHealthServer, type HealthServer, type Readiness } from '../adapters/http/health-server';
import type { LeaderElector } from '../adapters/kubernetes/leader-election';
import { temporalReachability } from '../adapters/temporal-probe';
import { type KubeConfig, WatcherKube } from '../adapters/kubernetes/watcher-kube';
import type { Memory } from './entry-decisions';
import { FailingSince, summarizeEntries } from './entry-health';
import { Term } from './leadership-term';
import { createWatcherMetrics } from './watcher-metrics';

/** Options of {@link startWatcher}. */
export interface StartWatcherOptions {
  config: AppConfig;
  /** Where the BackupEntries are (made to keep its connections alive). */
  kubeConfig: KubeConfig;
  /** Temporal client on `config.temporal.namespace`. Not closed by the watcher. */
  client: Client;
  logger: Logger;
  /**
   * Holder identity in the Lease.
   * @default `config.watcher.identity`, else `<hostname>-<random>`
   */
  identity?: string;
  /**
   * Overrides `config.watcher.httpPort` (0 = a free port); `false` serves no HTTP endpoint.
   * @default `config.watcher.httpPort`
   */
  httpPort?: number | false;
  /**
   * Adds prom-client's process metrics to the registry (the watcher process does; tests do not).
   * @default false
   */
  defaultMetrics?: boolean;
  /**
   * Timeout of one Temporal call.
   * @default 30_000 (30 s)
   */
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

/**
 * Starts a watcher replica: campaigns for the Lease, and while leading runs the informers and sends signals. Returns
 * once the HTTP endpoint (if any) listens; leadership is acquired in the background. Throws only when the endpoint
 * cannot listen.
 */
export async function startWatcher(opts: StartWatcherOptions): Promise<WatcherHandle> {
  const { config, client } = opts;
  const kube = new WatcherKube(opts.kubeConfig);
  const w = config.watcher;
  const identity = opts.identity ?? w.identity ?? `${hostname()}-${randomUUID().slice(0, 8)}`;
  const log = opts.logger.child({ identity });
  const memory: Memory = { fingerprints: new Map(), secrets: new Map(), failing: new FailingSince() };
  let term: Term | undefined;
  let chain: Promise<void> = Promise.resolve();
  let stopped = false;

  const elector: LeaderElector = kube.leaderElector({
    namespace: w.leaseNamespace,
    name: w.leaseName,
    identity,
    leaseDurationMs: w.leaseDurationMs,
    renewDeadlineMs: w.renewDeadlineMs,
    retryPeriodMs: w.retryPeriodMs,
    log,
    onStartedLeading: () => {
      metrics.leaderTransitions.inc();
      chain = chain.then(() => {
        if (stopped || !elector.isLeader() || term) return;
        term = new Term({
          config,
          kube,
          client,
          log,
          metrics,
          memory,
          temporalTimeoutMs: opts.temporalTimeoutMs ?? 30_000,
        });
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

  const metrics = createWatcherMetrics(
    {
      isLeader: () => elector.isLeader(),
      isInSync: () => term?.isInSync() ?? false,
      queueDepth: () => term?.queue.depth() ?? 0,
      entriesByIntent: () => term?.entriesByIntent() ?? {},
      entryHealth: () => (term ? term.entryHealth() : undefined) ?? summarizeEntries([], Date.now(), memory.failing),
    },
    { defaultMetrics: opts.defaultMetrics ?? false },
  );

  const temporalReachable = temporalReachability(() => client.connection);
  const ready = async (): Promise<Readiness> => {
    const detail: string[] = [];
    if (!(await temporalReachable())) detail.push(`temporal: ${config.temporal.address} is not reachable`);
    if (elector.isLeader() && !(term?.isInSync() ?? false))
      detail.push('informers: not in sync (listing or restarting)');
    return { ok: detail.length === 0, detail };
  };

  const port = opts.httpPort === false ? undefined : (opts.httpPort ?? w.httpPort);
  let server: HealthServer | undefined;
  if (port !== undefined) {
    server = await startHealthServer({ port, registry: metrics.registry, live: () => !stopped, ready });
    log.info({ port: server.port }, 'Serving /metrics, /healthz and /readyz');
  }
  elector.start();
  log.info(
    { lease: `${w.leaseNamespace}/${w.leaseName}`, taskQueue: config.taskQueue, cluster: config.clusterIdentity },
    'Watcher started; campaigning for the lease',
  );

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

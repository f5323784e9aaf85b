/**
 * Prometheus metrics of the watcher (prom-client), in a registry of their own so that several watchers in one
 * process (tests) do not collide. Names start with `bel_watcher_`.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** Live values the gauges read at scrape time. */
export interface WatcherGaugeSources {
  isLeader(): boolean;
  isInSync(): boolean;
  queueDepth(): number;
  /** Served entries by what they are about (intentCategory). */
  entriesByIntent(): Record<string, number>;
}

/** The watcher's metrics. */
export interface WatcherMetrics {
  registry: Registry;
  /** Watch events and list items seen, by resource (`backupentries`, `secrets`) and type (ADDED, ..., BOOKMARK, LISTED). */
  events: Counter<'resource' | 'type'>;
  /** `reconcile` signals sent, by reason (one increment per reason of a signal). */
  signals: Counter<'reason'>;
  /** Workflows made sure of with a `USE_EXISTING` start. */
  ensured: Counter<string>;
  /** Failed Temporal calls, by action. */
  temporalErrors: Counter<'action'>;
  /** Informer restarts by informer and reason (gone, error, idle, relist, resync). */
  restarts: Counter<'informer' | 'reason'>;
  /** Times this replica became leader. */
  leaderTransitions: Counter<string>;
}

/**
 * Creates the metrics in a new registry (or `registry`). `defaultMetrics` adds prom-client's process metrics
 * (the watcher process does; tests do not).
 */
export function createWatcherMetrics(src: WatcherGaugeSources, opts: { registry?: Registry; defaultMetrics?: boolean } = {}): WatcherMetrics {
  const registry = opts.registry ?? new Registry();
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const m: WatcherMetrics = {
    registry,
    events: new Counter({ name: 'bel_watcher_events_total', help: 'Watch events and listed objects seen', labelNames: ['resource', 'type'], registers }),
    signals: new Counter({ name: 'bel_watcher_signals_total', help: 'reconcile signals sent to workflows, by reason', labelNames: ['reason'], registers }),
    ensured: new Counter({ name: 'bel_watcher_workflows_ensured_total', help: 'Workflows started or found running (USE_EXISTING start)', registers }),
    temporalErrors: new Counter({ name: 'bel_watcher_temporal_errors_total', help: 'Failed Temporal calls, by action', labelNames: ['action'], registers }),
    restarts: new Counter({ name: 'bel_watcher_informer_restarts_total', help: 'Informer relists and watch restarts, by reason', labelNames: ['informer', 'reason'], registers }),
    leaderTransitions: new Counter({ name: 'bel_watcher_leader_transitions_total', help: 'Times this replica became leader', registers }),
  };
  new Gauge({ name: 'bel_watcher_leader', help: '1 while this replica is the leader', registers,
    collect() { this.set(src.isLeader() ? 1 : 0); } });
  new Gauge({ name: 'bel_watcher_in_sync', help: '1 while the informers are listed and watching (leader only)', registers,
    collect() { this.set(src.isInSync() ? 1 : 0); } });
  new Gauge({ name: 'bel_watcher_queue_depth', help: 'Entry actions waiting or in flight', registers,
    collect() { this.set(src.queueDepth()); } });
  new Gauge({ name: 'bel_watcher_entries', help: 'Served BackupEntries by intent (leader only)', labelNames: ['intent'], registers,
    collect() {
      this.reset();
      for (const [intent, n] of Object.entries(src.entriesByIntent())) this.set({ intent }, n);
    } });
  return m;
}

/**
 * Prometheus metrics of the watcher (prom-client), in a registry of their own so that several watchers in one
 * process (tests) do not collide. Names start with `bel_watcher_`. The entry gauges (phases, failing entries, the
 * retention calendar; entry-health.ts) are computed at scrape time from the leader's informer cache and its last read
 * of Temporal visibility (retention-calendar.ts); a standby replica reports zeros, so dashboards and alerts take the
 * `max` over replicas.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { DUE_WINDOWS, ERROR_CODE_LABELS, type EntryHealth, STATUS_PHASES, emptyHealth } from './entry-health';

/** Live values the gauges read at scrape time. */
export interface WatcherGaugeSources {
  isLeader(): boolean;
  isInSync(): boolean;
  queueDepth(): number;
  /** Served entries by what they are about (intentCategory). */
  entriesByIntent(): Record<string, number>;
  /** Phases, failures and the retention calendar of the served entries (zeros on a standby replica). */
  entryHealth?(): EntryHealth;
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
export function createWatcherMetrics(
  src: WatcherGaugeSources,
  opts: { registry?: Registry; defaultMetrics?: boolean } = {},
): WatcherMetrics {
  const registry = opts.registry ?? new Registry();
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const m: WatcherMetrics = {
    registry,
    events: new Counter({
      name: 'bel_watcher_events_total',
      help: 'Watch events and listed objects seen',
      labelNames: ['resource', 'type'],
      registers,
    }),
    signals: new Counter({
      name: 'bel_watcher_signals_total',
      help: 'reconcile signals sent to workflows, by reason',
      labelNames: ['reason'],
      registers,
    }),
    ensured: new Counter({
      name: 'bel_watcher_workflows_ensured_total',
      help: 'Workflows started or found running (USE_EXISTING start)',
      registers,
    }),
    temporalErrors: new Counter({
      name: 'bel_watcher_temporal_errors_total',
      help: 'Failed Temporal calls, by action',
      labelNames: ['action'],
      registers,
    }),
    restarts: new Counter({
      name: 'bel_watcher_informer_restarts_total',
      help: 'Informer relists and watch restarts, by reason',
      labelNames: ['informer', 'reason'],
      registers,
    }),
    leaderTransitions: new Counter({
      name: 'bel_watcher_leader_transitions_total',
      help: 'Times this replica became leader',
      registers,
    }),
  };
  new Gauge({
    name: 'bel_watcher_leader',
    help: '1 while this replica is the leader',
    registers,
    collect() {
      this.set(src.isLeader() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'bel_watcher_in_sync',
    help: '1 while the informers are listed and watching (leader only)',
    registers,
    collect() {
      this.set(src.isInSync() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'bel_watcher_queue_depth',
    help: 'Entry actions waiting or in flight',
    registers,
    collect() {
      this.set(src.queueDepth());
    },
  });
  new Gauge({
    name: 'bel_watcher_entries',
    help: 'Served BackupEntries by intent (leader only)',
    labelNames: ['intent'],
    registers,
    collect() {
      this.reset();
      for (const [intent, n] of Object.entries(src.entriesByIntent())) this.set({ intent }, n);
    },
  });
  // One summary per scrape for all the entry gauges below.
  let memo: { at: number; h: EntryHealth } | undefined;
  const health = (): EntryHealth => {
    if (!memo || Date.now() - memo.at > 200) memo = { at: Date.now(), h: src.entryHealth?.() ?? emptyHealth() };
    return memo.h;
  };
  new Gauge({
    name: 'bel_watcher_entries_by_phase',
    help: 'Served BackupEntries by the phase their status shows (New, Reconciling, Ready, Error, Retaining, Deleting, Deleted, Migrated; leader only)',
    labelNames: ['phase'],
    registers,
    collect() {
      for (const phase of STATUS_PHASES) this.set({ phase }, health().byPhase[phase]);
    },
  });
  new Gauge({
    name: 'bel_watcher_error_entries',
    help: 'Failing BackupEntries (status lastError set) by Gardener error code (leader only)',
    labelNames: ['code'],
    registers,
    collect() {
      for (const code of ERROR_CODE_LABELS) this.set({ code }, health().errorsByCode[code] ?? 0);
    },
  });
  new Gauge({
    name: 'bel_watcher_error_longest_seconds',
    help: 'How long the longest-failing BackupEntry has been failing, i.e. time since its last success as far as this watcher saw (0 = none failing)',
    registers,
    collect() {
      this.set(health().errorLongestSeconds);
    },
  });
  new Gauge({
    name: 'bel_watcher_retention_due_entries',
    help: 'Retaining BackupEntries whose deletion deadline is at most this far away (not yet passed; informer and Temporal visibility)',
    labelNames: ['within'],
    registers,
    collect() {
      for (const within of Object.keys(DUE_WINDOWS) as (keyof typeof DUE_WINDOWS)[])
        this.set({ within }, health().dueWithin[within]);
    },
  });
  new Gauge({
    name: 'bel_watcher_retaining_workflows',
    help: 'Running BackupEntry workflows in phase Retaining, from Temporal visibility (leader only; also entries released during retention)',
    registers,
    collect() {
      this.set(health().retainingWorkflows);
    },
  });
  new Gauge({
    name: 'bel_watcher_backups_left_behind_workflows',
    help: 'BackupEntry workflows that ended Orphaned: backups left in the bucket that nobody will delete (credentials gone at deletion, or a retention nothing could vouch for), from Temporal visibility (leader only)',
    registers,
    collect() {
      this.set(health().leftBehindWorkflows);
    },
  });
  new Gauge({
    name: 'bel_watcher_retention_overdue_entries',
    help: 'Retaining BackupEntries whose deadline has passed and whose deletion has not started',
    registers,
    collect() {
      this.set(health().overdue);
    },
  });
  new Gauge({
    name: 'bel_watcher_retention_overdue_longest_seconds',
    help: 'How far past its deadline the most overdue retaining BackupEntry is (0 = none overdue)',
    registers,
    collect() {
      this.set(health().overdueLongestSeconds);
    },
  });
  return m;
}

/**
 * One leadership term of the watcher: while this replica leads, the BackupEntry and secret informers run, their
 * reports become decisions (entry-decisions.ts), and the work queue carries the decided actions out against Temporal
 * (temporal-actions.ts). Each term builds its informers and queue afresh; the watcher's {@link Memory} outlives it.
 */
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { AppConfig } from '../config';
import { describeError, type Reflector } from '../adapters/kubernetes/list-watch';
import type { SecretWatch } from '../adapters/kubernetes/secret-watch';
import type { WatcherKube } from '../adapters/kubernetes/watcher-kube';
import { WorkQueue } from '../adapters/kubernetes/work-queue';
import { type EntryAction, mergeActions } from './entry-action';
import { EntryDecisions, type Memory, OWN_KEYS } from './entry-decisions';
import { type EntryHealth, summarizeEntries } from './entry-health';
import { type WatchedEntry, intentCategory, toWatchedEntry } from './intent';
import { CalendarRefresh, readRetentionCalendar } from './retention-calendar';
import { TemporalActions } from './temporal-actions';
import type { WatcherMetrics } from './watcher-metrics';

/** What a {@link Term} is built from. */
export interface TermDeps {
  config: AppConfig;
  kube: WatcherKube;
  client: Client;
  log: Logger;
  metrics: WatcherMetrics;
  memory: Memory;
  temporalTimeoutMs: number;
}

/** One leadership term: the informers and the work queue, alive while this replica leads. */
export class Term {
  readonly entries: Reflector<WatchedEntry>;
  readonly secrets: SecretWatch;
  readonly queue: WorkQueue<EntryAction>;
  private readonly decisions: EntryDecisions;
  private readonly actions: TemporalActions;
  /** The retention calendar from Temporal visibility (metrics only). */
  private readonly calendar: CalendarRefresh;
  private resyncTimer?: NodeJS.Timeout;
  /** Aborted when the term ends: Temporal calls in flight are cancelled. */
  private readonly abort = new AbortController();

  constructor(private readonly d: TermDeps) {
    const { config, kube, client, log, metrics, memory } = d;
    const w = config.watcher;
    this.decisions = new EntryDecisions({
      config,
      log,
      metrics,
      memory,
      entries: () => this.entries.items(),
      enqueue: (name, action) => this.queue.add(name, action),
      watchNamespaces: (namespaces) => this.secrets.setNamespaces(namespaces),
      readSecretData: (namespace, name) => kube.readSecretData(namespace, name),
      trackSecrets: () => this.secrets.track(),
    });
    this.actions = new TemporalActions({
      config,
      client,
      log,
      metrics,
      temporalTimeoutMs: d.temporalTimeoutMs,
      signal: this.abort.signal,
      entry: (name) => this.entries.items().get(name),
      readFinalizers: (name) => kube.readBackupEntryFinalizers(name),
      etcdSecretDiffers: (name) => this.decisions.etcdSecretDiffers(name),
    });
    this.queue = new WorkQueue<EntryAction>({
      concurrency: w.concurrency,
      log,
      describe: describeError,
      merge: mergeActions,
      handle: (name, action) => this.actions.perform(name, action),
      onError: (action) => metrics.temporalErrors.inc({ action: action.kind }),
    });
    this.entries = kube.backupEntryInformer<WatchedEntry>({
      transform: toWatchedEntry,
      keyOf: (e) => e.name,
      onSync: (current) => this.decisions.onEntrySync(current),
      onEvent: (type, e) => this.decisions.onEntryEvent(type, e),
      idleTimeoutMs: w.idleTimeoutMs,
      watchTimeoutMs: w.watchTimeoutMs,
      log,
      onRestart: (reason) => metrics.restarts.inc({ informer: 'backupentries', reason }),
      onEventSeen: (type) => metrics.events.inc({ resource: 'backupentries', type }),
    });
    this.secrets = kube.secretWatch({
      memory: memory.secrets,
      copyExclude: OWN_KEYS,
      idleTimeoutMs: w.idleTimeoutMs,
      watchTimeoutMs: w.watchTimeoutMs,
      log,
      isReferenced: (key) => this.decisions.isReferenced(key),
      onChange: (key, change) => this.decisions.onSecretChange(key, change),
      onRetained: (key, names) => this.decisions.onRetained(key, names),
      onRestart: (reason) => metrics.restarts.inc({ informer: 'secrets', reason }),
      onEventSeen: (type) => metrics.events.inc({ resource: 'secrets', type }),
    });
    this.calendar = new CalendarRefresh({
      periodMs: w.calendarPeriodMs,
      read: () => this.actions.call(() => readRetentionCalendar(client, config.clusterIdentity, Date.now())),
      onError: (err) => {
        if (this.abort.signal.aborted) return;
        metrics.temporalErrors.inc({ action: 'calendar' });
        log.warn({ error: describeError(err) }, 'Could not read the retention calendar from Temporal visibility');
      },
    });
  }

  /** Starts the BackupEntry informer (its lists start the secret informers), the resync and the calendar refresh. */
  start(): void {
    this.entries.start();
    const period = this.d.config.watcher.resyncPeriodMs;
    if (period > 0) {
      this.resyncTimer = setInterval(() => this.relist('resync'), period);
      this.resyncTimer.unref();
    }
    this.calendar.start();
  }

  /** Forces a fresh list of every informer. */
  relist(reason: 'relist' | 'resync' = 'relist'): void {
    this.entries.relist(reason);
    this.secrets.relist(reason);
  }

  /** True while every informer is listed and watching. */
  isInSync(): boolean {
    return this.entries.isInSync() && this.secrets.isInSync();
  }

  /** Stops informers and queue; forgets decisions whose actions were not carried out, so the next term redoes them. */
  async stop(): Promise<void> {
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.calendar.stop();
    await Promise.all([this.entries.stop(), this.secrets.stop()]);
    const stopping = this.queue.stop();
    this.abort.abort(); // calls in flight fail (their entries count as not done), so none lands after the term
    const dropped = await stopping;
    for (const name of dropped) {
      this.d.memory.fingerprints.delete(name);
      const key = this.decisions.secretOfEntry(name);
      if (key) this.d.memory.secrets.delete(key);
    }
    if (dropped.length)
      this.d.log.info(
        { entries: dropped.length },
        'Leadership ended with entry actions not done; the next leader redoes them',
      );
  }

  /** Phases, failures and the retention calendar of the served entries (entry-health.ts). */
  entryHealth(): EntryHealth {
    const served = [...this.entries.items().values()].filter((e) => this.decisions.served(e));
    return summarizeEntries(served, Date.now(), this.d.memory.failing, this.calendar.current(Date.now()));
  }

  /** Served entries by intent category (intent.ts). */
  entriesByIntent(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const e of this.entries.items().values()) {
      if (!this.decisions.served(e)) continue;
      const c = intentCategory(e);
      counts[c] = (counts[c] ?? 0) + 1;
    }
    return counts;
  }
}

/**
 * Prometheus metrics of the worker (prom-client), in a registry of their own. Names start with `bel_worker_`; the
 * Temporal SDK's own metrics (`temporal_*`, from the runtime's Prometheus exporter) are appended on the same
 * `/metrics` endpoint by worker/main.ts. Deletion rate = `rate(bel_worker_deleted_objects_total[5m])`.
 * Deletions in flight (`bel_worker_deletions_in_flight*`, `bel_worker_deletion_stalled_seconds`) come from the
 * running `deleteBackups` attempts of this worker, without per-entry labels (`backupentry list --phase Deleting` and
 * `backupentry status <entry>` name them).
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ActivityMetricsSink } from '../activities';
import type { DeletionTracker } from '../activities/metrics';

/** Worker states as the SDK names them (`Worker.getState()`). */
export const WORKER_STATES = [
  'INITIALIZED',
  'RUNNING',
  'STOPPED',
  'STOPPING',
  'DRAINING',
  'DRAINED',
  'FAILED',
] as const;

/** The worker's metrics and the sink the activities report to. */
export interface WorkerMetrics {
  registry: Registry;
  /** Pass to `createActivities({ metrics })`. */
  sink: ActivityMetricsSink;
}

/**
 * Creates the metrics. `state()` is read at scrape time (`undefined` before the SDK worker exists). `defaultMetrics`
 * adds prom-client's process metrics (the worker process does; tests need not).
 */
export function createWorkerMetrics(
  state: () => string | undefined,
  opts: { defaultMetrics?: boolean; now?: () => number } = {},
): WorkerMetrics {
  const now = opts.now ?? Date.now;
  const registry = new Registry();
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const deletedObjects = new Counter({
    name: 'bel_worker_deleted_objects_total',
    help: 'Backup objects deleted, by provider type',
    labelNames: ['provider'],
    registers,
  });
  const deletedBytes = new Counter({
    name: 'bel_worker_deleted_bytes_total',
    help: 'Bytes of the backup objects deleted, by provider type',
    labelNames: ['provider'],
    registers,
  });
  const locked = new Counter({
    name: 'bel_worker_locked_objects_total',
    help: 'Backup objects found under retention or hold (left for lifecycle expiry), by provider type',
    labelNames: ['provider'],
    registers,
  });
  const failures = new Counter({
    name: 'bel_worker_activity_failures_total',
    help: 'Failed activity attempts, by activity and Gardener error code',
    labelNames: ['activity', 'code'],
    registers,
  });
  new Gauge({
    name: 'bel_worker_state',
    help: "1 for the SDK worker's current state",
    labelNames: ['state'],
    registers,
    collect() {
      const current = state();
      for (const s of WORKER_STATES) this.set({ state: s }, s === current ? 1 : 0);
    },
  });
  const throttled = new Counter({
    name: 'bel_worker_storage_throttled_total',
    help: 'Object store answers asking to slow down (HTTP 429 or 503), each retried, by provider type and status',
    labelNames: ['provider', 'status'],
    registers,
  });
  const running = new Set<RunningDeletion>();
  new Gauge({
    name: 'bel_worker_deletions_in_flight',
    help: 'deleteBackups attempts running in this worker',
    registers,
    collect() {
      this.set(running.size);
    },
  });
  new Gauge({
    name: 'bel_worker_deletions_in_flight_objects',
    help: 'Objects of the running deletions: under their prefixes before deletion (inventoried, once counted) and deleted so far',
    labelNames: ['count'],
    registers,
    collect() {
      let inventoried = 0;
      let deleted = 0;
      for (const d of running) {
        inventoried += d.inventoried;
        deleted += d.deleted;
      }
      this.set({ count: 'inventoried' }, inventoried);
      this.set({ count: 'deleted' }, deleted);
    },
  });
  new Gauge({
    name: 'bel_worker_deletion_stalled_seconds',
    help: 'Longest time a running deletion has gone without progress (no object listed or deleted), 0 when none runs',
    registers,
    collect() {
      let longest = 0;
      for (const d of running) longest = Math.max(longest, (now() - d.lastProgressAt) / 1000);
      this.set(Math.round(longest * 1000) / 1000);
    },
  });
  return {
    registry,
    sink: {
      deleted: (provider, objects, bytes) => {
        deletedObjects.inc({ provider }, objects);
        deletedBytes.inc({ provider }, bytes);
      },
      locked: (provider, objects) => locked.inc({ provider }, objects),
      failed: (activity, code) => failures.inc({ activity, code }),
      throttled: (provider, status) => throttled.inc({ provider, status: String(status) }),
      deletionStarted: (provider) => trackDeletion(running, provider, now),
    },
  };
}

/** One running deleteBackups attempt, as the gauges see it. */
interface RunningDeletion {
  provider: string;
  inventoried: number;
  deleted: number;
  /** listed + deleted + locked + rewritten: grows with every bit of progress. */
  moved: number;
  lastProgressAt: number;
}

/** Adds a running deletion to `running` and returns its tracker (which removes it on `end`). */
function trackDeletion(running: Set<RunningDeletion>, provider: string, now: () => number): DeletionTracker {
  const d: RunningDeletion = { provider, inventoried: 0, deleted: 0, moved: 0, lastProgressAt: now() };
  running.add(d);
  return {
    progress(p) {
      if (p.inventoried !== undefined) d.inventoried = p.inventoried;
      if (p.deleted !== undefined) d.deleted = p.deleted;
      const moved = (p.listed ?? 0) + (p.deleted ?? 0) + (p.locked ?? 0) + (p.rewritten ?? 0);
      if (p.listing || moved > d.moved) d.lastProgressAt = now();
      if (p.listed !== undefined) d.moved = Math.max(d.moved, moved);
    },
    end() {
      running.delete(d);
    },
  };
}

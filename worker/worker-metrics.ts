/**
 * Prometheus metrics of the worker (prom-client), in a registry of their own. Names start with `bel_worker_`; the
 * Temporal SDK's own metrics (`temporal_*`, from the runtime's Prometheus exporter) are appended on the same
 * `/metrics` endpoint by worker/main.ts. Deletion rate = `rate(bel_worker_deleted_objects_total[5m])`.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ActivityMetricsSink } from '../activities';

/** Worker states as the SDK names them (`Worker.getState()`). */
export const WORKER_STATES = ['INITIALIZED', 'RUNNING', 'STOPPED', 'STOPPING', 'DRAINING', 'DRAINED', 'FAILED'] as const;

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
export function createWorkerMetrics(state: () => string | undefined, opts: { defaultMetrics?: boolean } = {}): WorkerMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const deletedObjects = new Counter({ name: 'bel_worker_deleted_objects_total', help: 'Backup objects deleted, by provider type',
    labelNames: ['provider'], registers });
  const deletedBytes = new Counter({ name: 'bel_worker_deleted_bytes_total', help: 'Bytes of the backup objects deleted, by provider type',
    labelNames: ['provider'], registers });
  const locked = new Counter({ name: 'bel_worker_locked_objects_total',
    help: 'Backup objects found under retention or hold (left for lifecycle expiry), by provider type', labelNames: ['provider'], registers });
  const failures = new Counter({ name: 'bel_worker_activity_failures_total',
    help: 'Failed activity attempts, by activity and Gardener error code', labelNames: ['activity', 'code'], registers });
  new Gauge({ name: 'bel_worker_state', help: '1 for the SDK worker\'s current state', labelNames: ['state'], registers,
    collect() {
      const current = state();
      for (const s of WORKER_STATES) this.set({ state: s }, s === current ? 1 : 0);
    } });
  return {
    registry,
    sink: {
      deleted: (provider, objects, bytes) => {
        deletedObjects.inc({ provider }, objects);
        deletedBytes.inc({ provider }, bytes);
      },
      locked: (provider, objects) => locked.inc({ provider }, objects),
      failed: (activity, code) => failures.inc({ activity, code }),
    },
  };
}

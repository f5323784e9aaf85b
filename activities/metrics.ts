/**
 * What the activities report for metrics: a small sink the worker implements with prom-client (worker/worker-metrics.ts)
 * and tests may leave out. Activities never import a metrics library themselves.
 */
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';

/** Receives counts from the activities. Every method must be cheap and must not throw. */
export interface ActivityMetricsSink {
  /** Objects and bytes deleted under an entry's prefix since the last report (deltas, reported while deleting). */
  deleted(provider: string, objects: number, bytes: number): void;
  /** Objects found locked (retention policy, hold) since the last report; they stay in the bucket. */
  locked(provider: string, objects: number): void;
  /** An activity failed with this Gardener error code (the ApplicationFailure type); cancellations are not failures. */
  failed(activity: string, code: string): void;
  /**
   * A `deleteBackups` attempt started on `provider`: the returned tracker receives its progress until `end()`, so the
   * worker can show deletions in flight, their progress and how long each has gone without any (optional).
   */
  deletionStarted?(provider: string): DeletionTracker;
  /** The object store asked to slow down (HTTP 429 or 503); the request is retried (optional). */
  throttled?(provider: string, status: number): void;
}

/** One running deletion attempt, as {@link ActivityMetricsSink.deletionStarted} follows it. Must not throw. */
export interface DeletionTracker {
  /**
   * Progress so far: objects under the prefix before deletion (`inventoried`, once known) and the running counts
   * (listed, deleted, locked, rewritten), cumulative over the attempts of this deletion. Any count that grew, or
   * `listing` (a listing page arrived, e.g. while counting), counts as progress.
   */
  progress(p: {
    inventoried?: number;
    listed?: number;
    deleted?: number;
    locked?: number;
    rewritten?: number;
    listing?: boolean;
  }): void;
  /** The attempt ended (done, failed or cancelled). Idempotent. */
  end(): void;
}

/**
 * Wraps every activity so that a failure is counted by activity and Gardener error code before it is rethrown
 * unchanged. Cancellations (the workflow or the worker's shutdown cancelled the activity) are not counted.
 */
export function countFailures<T extends object>(activities: T, sink: ActivityMetricsSink): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    if (typeof fn !== 'function') {
      wrapped[name] = fn;
      continue;
    }
    wrapped[name] = async (...args: unknown[]): Promise<unknown> => {
      try {
        return await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
      } catch (err) {
        if (!(err instanceof CancelledFailure)) sink.failed(name, failureCode(err));
        throw err;
      }
    };
  }
  return wrapped as T;
}

/** The Gardener code an activity error carries: the ApplicationFailure type, else `unknown`. */
function failureCode(err: unknown): string {
  if (err instanceof ApplicationFailure && err.type) return err.type;
  const type = (err as { type?: unknown } | null)?.type;
  return typeof type === 'string' && /^[A-Z_]{1,64}$/.test(type) ? type : 'unknown';
}

/**
 * The SDK worker options that follow from the configuration alone (roles, cache, slots, sticky queue, pollers,
 * heartbeats): one pure function, so what a role polls is unit-tested without a server.
 */
import type { WorkerOptions } from '@temporalio/worker';
import type { WorkerConfig } from '../config';

/** The options of {@link workerOptionsFor}: everything but connection, task queue, bundle and activities. */
export type RoleOptions = Pick<
  WorkerOptions,
  | 'maxCachedWorkflows'
  | 'maxConcurrentActivityTaskExecutions'
  | 'maxConcurrentWorkflowTaskExecutions'
  | 'enableNonLocalActivities'
  | 'shutdownGraceTime'
  | 'maxHeartbeatThrottleInterval'
>;

/**
 * Worker options for `w`'s roles. A `workflows` process keeps the workflow cache and task slots and runs the Kubernetes
 * steps as local activities; without `storage` it polls no activity tasks (`enableNonLocalActivities: false`). A
 * `storage`-only process registers no workflows (the caller passes no bundle), so it polls only activity tasks and
 * keeps no cache.
 */
export function workerOptionsFor(w: WorkerConfig): RoleOptions {
  return {
    maxCachedWorkflows: w.roles.workflows ? w.maxCachedWorkflows : 0,
    maxConcurrentActivityTaskExecutions: w.maxConcurrentActivityTaskExecutions,
    ...(w.roles.workflows ? { maxConcurrentWorkflowTaskExecutions: w.maxConcurrentWorkflowTaskExecutions } : {}),
    enableNonLocalActivities: w.roles.storage,
    // On shutdown (SIGTERM or `stop`) activities keep running this long, then they are cancelled; deleteBackups
    // stops at its next page and heartbeats its cursor, so the next attempt resumes there.
    shutdownGraceTime: w.shutdownGraceMs,
    // The SDK sends heartbeats at most every min(0.8 × heartbeat timeout, this) — 60 s by default, so a crashed
    // deletion resumed from a cursor up to a minute old and `status` showed minute-old progress. deleteBackups
    // already throttles its own heartbeats to one per second.
    maxHeartbeatThrottleInterval: '1s',
  };
}

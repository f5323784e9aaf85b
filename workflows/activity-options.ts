/**
 * Timeouts and retry policies of every activity the BackupEntry workflow calls, in one place.
 * Activities retry a few times on their own; after that the workflow writes an Error status with the Gardener codes
 * and retries the whole operation with its own backoff, as Gardener's reconciler requeues.
 */
import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';
import { STOP_RETRYING_CODES } from '../domain';

/**
 * Codes an attempt cannot fix by itself: the domain's one list ({@link STOP_RETRYING_CODES}). Our activities already
 * mark such failures non-retryable (activities/errors.ts `toApplicationFailure`); naming the types here as well stops
 * retries of any failure that carries one of these codes as its type without that flag.
 */
const NON_RETRYABLE: string[] = [...STOP_RETRYING_CODES];

/**
 * Kubernetes reads and writes, as local activities (docs/adr/0004): run by the worker that runs the workflow task,
 * recorded as one marker each instead of three events and a task round trip. Each is a few API requests, far inside
 * the workflow task timeout; retries after the first minute are timers.
 */
export const KUBE_LOCAL_ACTIVITY: LocalActivityOptions = {
  startToCloseTimeout: '10s',
  scheduleToCloseTimeout: '2m',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '10s',
    maximumAttempts: 4,
    nonRetryableErrorTypes: NON_RETRYABLE,
  },
};

/** Counting the objects under a prefix: one listing pass; bounded by its own limit. */
export const INVENTORY_ACTIVITY: ActivityOptions = {
  startToCloseTimeout: '10m',
  retry: {
    initialInterval: '2s',
    backoffCoefficient: 2,
    maximumInterval: '1m',
    maximumAttempts: 4,
    nonRetryableErrorTypes: NON_RETRYABLE,
  },
};

/**
 * Deleting the backups: long-running, heartbeating (the activity beats every second while it works; a lost worker is
 * noticed within 20 s and another attempt resumes from the last heartbeat's cursor a second later), cancellable by
 * cancel-cleanup (the workflow waits for the activity to acknowledge, so nothing is deleted after the workflow says
 * "kept").
 */
export const DELETE_ACTIVITY: ActivityOptions = {
  startToCloseTimeout: '12h',
  heartbeatTimeout: '20s',
  cancellationType: 'WAIT_CANCELLATION_COMPLETED',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '5m',
    maximumAttempts: 10,
    nonRetryableErrorTypes: NON_RETRYABLE,
  },
};

import type { GardenerErrorCode } from './error-codes';
import { Operation, OperationState } from './operation';
import { formatRfc3339Seconds, parseRfc3339 } from './time';

/** `status.lastOperation` of an extension resource. */
export interface LastOperation {
  type: Operation;
  state: OperationState;
  /** 0–100. */
  progress: number;
  description: string;
  /** RFC3339, seconds precision. */
  lastUpdateTime: string;
}

/** `status.lastError` of an extension resource. */
export interface LastError {
  description: string;
  codes: GardenerErrorCode[];
  lastUpdateTime: string;
}

/**
 * Body of a merge patch on the BackupEntry status subresource. Omitted fields stay as they are;
 * `lastError: null` clears the last error.
 */
export interface StatusPatch {
  lastOperation: LastOperation;
  lastError?: LastError | null;
  observedGeneration?: number;
}

/** Gardener's reconciler texts that precede the error in an Error status. */
const ERROR_TEXT: Readonly<Record<Operation, string>> = {
  [Operation.Create]: 'Error reconciling BackupEntry',
  [Operation.Reconcile]: 'Error reconciling BackupEntry',
  [Operation.Delete]: 'Error deleting BackupEntry',
  [Operation.Migrate]: 'Error migrating BackupEntry',
  [Operation.Restore]: 'Error restoring BackupEntry',
};

/**
 * `lastUpdateTime` for a status written at `nowMs`: RFC3339 with seconds precision, never earlier than the
 * `gardener.cloud/timestamp` annotation truncated to seconds (gardenlet only counts the entry as ready when
 * `lastUpdateTime >= timestamp`). An annotation that is not RFC3339 is ignored.
 */
export function lastUpdateTime(nowMs: number, timestampAnnotation?: string): string {
  const ts = timestampAnnotation === undefined ? undefined : parseRfc3339(timestampAnnotation);
  return formatRfc3339Seconds(ts?.ok ? Math.max(nowMs, ts.value) : nowMs);
}

/** Gardener's error description: `"<operation text>: <message>"` with the first letter upper-cased. */
export function errorDescription(op: Operation, message: string): string {
  const text = `${ERROR_TEXT[op]}: ${message}`;
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * Status when an operation starts: lastOperation {op, Processing, progress (default 1), description}.
 * observedGeneration and lastError are left as they are, as Gardener does.
 */
export function processingStatus(
  op: Operation,
  description: string,
  nowMs: number,
  timestampAnnotation?: string,
  progress = 1,
): StatusPatch {
  const p = Math.min(100, Math.max(0, Math.round(progress)));
  return {
    lastOperation: {
      type: op,
      state: OperationState.Processing,
      progress: p,
      description,
      lastUpdateTime: lastUpdateTime(nowMs, timestampAnnotation),
    },
  };
}

/**
 * Status when an operation failed: lastOperation {op, Error, 50} and lastError {same description, codes
 * (deduplicated; `[]` replaces old codes), lastUpdateTime}, observedGeneration = `generation`. The description is
 * {@link errorDescription}(op, message); `message` must not contain secret material.
 */
export function errorStatus(
  op: Operation,
  message: string,
  codes: readonly GardenerErrorCode[],
  generation: number,
  nowMs: number,
  timestampAnnotation?: string,
): StatusPatch {
  const time = lastUpdateTime(nowMs, timestampAnnotation);
  const description = errorDescription(op, message);
  return {
    lastOperation: { type: op, state: OperationState.Error, progress: 50, description, lastUpdateTime: time },
    lastError: { description, codes: [...new Set(codes)], lastUpdateTime: time },
    observedGeneration: generation,
  };
}

/** Status when an operation succeeded: lastOperation {op, Succeeded, 100}, lastError null, observedGeneration = `generation`. */
export function succeededStatus(
  op: Operation,
  description: string,
  generation: number,
  nowMs: number,
  timestampAnnotation?: string,
): StatusPatch {
  return {
    lastOperation: {
      type: op,
      state: OperationState.Succeeded,
      progress: 100,
      description,
      lastUpdateTime: lastUpdateTime(nowMs, timestampAnnotation),
    },
    lastError: null,
    observedGeneration: generation,
  };
}

/**
 * Status while a deleted entry waits for its retention deadline: lastOperation {Delete, Pending, 0, description}
 * (as gardenlet reports a scheduled deletion) and `lastError: null`: gardenlet copies the extension's lastError into
 * the core BackupEntry, so a stale one from a failed attempt would show a waiting entry as failing.
 * observedGeneration is left as it is.
 */
export function pendingStatus(
  op: typeof Operation.Delete,
  description: string,
  nowMs: number,
  timestampAnnotation?: string,
): StatusPatch {
  return {
    lastOperation: {
      type: op,
      state: OperationState.Pending,
      progress: 0,
      description,
      lastUpdateTime: lastUpdateTime(nowMs, timestampAnnotation),
    },
    lastError: null,
  };
}

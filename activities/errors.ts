/**
 * How activity errors leave an activity: as Temporal ApplicationFailures carrying the Gardener codes. Classified
 * errors themselves live in domain/errors.ts; whether to retry follows from domain `stopsRetrying`.
 */
import { ApplicationFailure } from '@temporalio/common';
import { classifyMessage, GardenerErrorCode, isClassifiedError, redact, stopsRetrying } from '../domain';

/** Details carried by every failure an activity raises: the Gardener codes for the entry's `lastError`. */
export interface FailureDetails {
  codes: GardenerErrorCode[];
  reason: string;
  /** The Gardener operation the failing step ran, when the workflow could not know it beforehand (e.g. `Create`). */
  operation?: string;
}

/** The failure `err` (an ApplicationFailure), its details naming the Gardener `operation` the step ran. */
export function withOperation(err: unknown, operation: string): unknown {
  if (!(err instanceof ApplicationFailure)) return err;
  const details = (err.details?.[0] ?? {}) as Partial<FailureDetails>;
  return ApplicationFailure.create({
    message: err.message,
    ...(err.type ? { type: err.type } : {}),
    nonRetryable: err.nonRetryable === true,
    details: [{ ...details, operation }],
  });
}

/**
 * Converts anything an activity caught into an ApplicationFailure whose `type` is the Gardener code (or
 * `ERR_RETRYABLE_INFRA_DEPENDENCIES` for unknown errors) and whose details carry the codes. Unclassified errors are
 * classified from their message (provider-gcp's regex approach) and stay retryable unless one of their codes
 * {@link stopsRetrying} (a ClassifiedError's `retryable` follows the same rule).
 * The cause is not attached, so no library error text (which may quote a request) reaches the workflow history.
 */
export function toApplicationFailure(err: unknown, context: string): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  if (isClassifiedError(err)) {
    const details: FailureDetails = { codes: [err.code], reason: err.reason };
    return ApplicationFailure.create({
      message: `${context}: ${err.message}`,
      type: err.code,
      nonRetryable: !err.retryable,
      details: [details],
    });
  }
  const message = redact(err instanceof Error ? err.message : String(err));
  const codes = classifyMessage(message);
  const code = codes[0] ?? GardenerErrorCode.RetryableInfraDependencies;
  const details: FailureDetails = { codes: codes.length ? codes : [], reason: 'Unclassified' };
  return ApplicationFailure.create({
    message: `${context}: ${message}`,
    type: code,
    nonRetryable: codes.some(stopsRetrying),
    details: [details],
  });
}

/** One redaction for every text that leaves the process (domain/redact.ts). */
export { redact };

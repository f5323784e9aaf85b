import type { GardenerErrorCode } from './error-codes';

/**
 * A problem found in input. `code` is the Gardener error code the status will carry, `reason` a short
 * CamelCase machine-readable word (e.g. `InvalidEntryName`), `message` one specific, human-readable sentence.
 * Messages never contain secret material.
 */
export interface DomainError {
  code: GardenerErrorCode;
  reason: string;
  message: string;
}

/** Outcome of a function whose input can be bad: a value, or an error describing why there is none. */
export type Result<T, E = DomainError> = { ok: true; value: T } | { ok: false; error: E };

/** Wraps a value as a successful {@link Result}. */
export function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

/** Wraps an error as a failed {@link Result}. */
export function err<E = DomainError>(error: E): { ok: false; error: E } {
  return { ok: false, error };
}

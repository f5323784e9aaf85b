/**
 * Classified errors: failures that already know their Gardener error code. Plain TypeScript (the domain is bundled
 * into workflow code); activities turn them into ApplicationFailures (activities/errors.ts `toApplicationFailure`).
 */
import { GardenerErrorCode, stopsRetrying } from './error-codes';

/**
 * Brand of every {@link ClassifiedError}, shared by all copies of this module (Jest's module registries, the
 * workflow bundle): `Symbol.for` returns the same symbol in each, so `instanceof` holds across copies, as with the
 * Temporal SDK's own error classes.
 */
const CLASSIFIED_ERROR = Symbol.for('backupentry-lifecycle.ClassifiedError');

/**
 * An error that already knows its Gardener error code; whether retrying can help follows from the code
 * ({@link stopsRetrying}). Adapters throw it; activities turn it into an ApplicationFailure. The message must never
 * contain secret material. `instanceof ClassifiedError` is brand-based, so it also holds for instances made by
 * another copy of this module; subclasses (e.g. the Kubernetes port's `KubeApiError`) use the ordinary prototype
 * check.
 */
export class ClassifiedError extends Error {
  override readonly name = 'ClassifiedError';
  /** False iff `code` is one of the codes on which retrying stops ({@link stopsRetrying}). */
  readonly retryable: boolean;

  /**
   * @param message what failed, for the operator; never secret material.
   * @param code the Gardener error code; decides `retryable`.
   * @param reason a short CamelCase word for the failure (kept in the failure's details).
   */
  constructor(
    message: string,
    readonly code: GardenerErrorCode,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.retryable = !stopsRetrying(code);
  }

  /** Brand check for `ClassifiedError` itself; subclasses fall back to the prototype chain. */
  static override [Symbol.hasInstance](this: unknown, value: unknown): boolean {
    if (this === ClassifiedError) {
      return (
        typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[CLASSIFIED_ERROR] === true
      );
    }
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }
}
Object.defineProperty(ClassifiedError.prototype, CLASSIFIED_ERROR, { value: true, enumerable: false });

/** True for a {@link ClassifiedError}, also one made by another copy of this module. */
export function isClassifiedError(err: unknown): err is ClassifiedError {
  return err instanceof ClassifiedError;
}

/** A specific configuration problem the operator must fix (non-retryable: retrying alone will not help). */
export function configurationProblem(reason: string, message: string): ClassifiedError {
  return new ClassifiedError(message, GardenerErrorCode.ConfigurationProblem, reason);
}

/** A condition that resolves by itself or by another controller (e.g. the shoot namespace is not there yet). */
export function retryableConfigurationProblem(reason: string, message: string): ClassifiedError {
  return new ClassifiedError(message, GardenerErrorCode.RetryableConfigurationProblem, reason);
}

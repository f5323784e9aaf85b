/** Reading the failures activities raise: their message and Gardener codes, and whether the deletion guard refused. */
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import { DELETION_REFUSED } from '../../domain';

/** The deletion activity's guard refused (domain/deletion-guard.ts): reason {@link DELETION_REFUSED} in the details. */
export function refusedDeletion(err: unknown): boolean {
  const app = err instanceof ActivityFailure ? err.cause : err;
  const details =
    app instanceof ApplicationFailure ? (app.details?.[0] as { reason?: unknown } | undefined) : undefined;
  return details?.reason === DELETION_REFUSED;
}

/**
 * Message and Gardener codes of a failure, from the ApplicationFailure the activity raised, and the operation the
 * step ran when it says so (a pass's observing step reconciles an entry that is due: only it knew the operation).
 */
export function describeFailure(err: unknown): { message: string; codes: string[]; operation?: string } {
  const app = err instanceof ActivityFailure ? err.cause : err;
  if (app instanceof ApplicationFailure) {
    const details = app.details?.[0] as { codes?: string[]; operation?: unknown } | undefined;
    const codes = details?.codes?.length ? details.codes : app.type && app.type.startsWith('ERR_') ? [app.type] : [];
    return {
      message: app.message,
      codes,
      ...(typeof details?.operation === 'string' ? { operation: details.operation } : {}),
    };
  }
  return { message: err instanceof Error ? err.message : String(err), codes: [] };
}

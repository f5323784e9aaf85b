import { GardenerErrorCode } from './error-codes';
import { err, ok, type Result } from './result';

/** First segment of the default task queue; the cluster identity follows (see {@link defaultTaskQueue}). */
export const TASK_QUEUE_PREFIX = 'backupentry-lifecycle';

/**
 * Default Temporal task queue of a seed's worker and watcher: `backupentry-lifecycle/<clusterIdentity>`. Seeds that
 * share a Temporal namespace thus never run each other's activities (which would act on the wrong API server).
 */
export function defaultTaskQueue(clusterIdentity: string): string {
  return `${TASK_QUEUE_PREFIX}/${clusterIdentity}`;
}
/** First segment of every workflow ID this project starts. */
export const WORKFLOW_ID_PREFIX = 'backupentry/';

const invalid = (reason: string, message: string): Result<never> =>
  err({ code: GardenerErrorCode.ConfigurationProblem, reason, message });

/**
 * Stable workflow ID of an entry: `backupentry/<clusterIdentity>/<entryName>`. `clusterIdentity` (configured,
 * one per seed) must be non-empty and free of whitespace; `entryName` must be non-empty, without whitespace or
 * `/`. The name is deliberately not parsed further so an entry with a bad name still gets a workflow that
 * reports the problem.
 */
export function workflowIdFor(clusterIdentity: string, entryName: string): Result<string> {
  if (clusterIdentity.length === 0 || /\s/.test(clusterIdentity)) {
    return invalid(
      'InvalidClusterIdentity',
      `cluster identity ${JSON.stringify(clusterIdentity)} must be non-empty and contain no whitespace`,
    );
  }
  if (entryName.length === 0 || /[\s/]/.test(entryName)) {
    return invalid(
      'InvalidEntryName',
      `BackupEntry name ${JSON.stringify(entryName)} must be non-empty and ` + 'contain no whitespace or "/"',
    );
  }
  return ok(`${WORKFLOW_ID_PREFIX}${clusterIdentity}/${entryName}`);
}

/** Inverse of {@link workflowIdFor}; undefined for IDs it did not make. The entry name is the last segment. */
export function parseWorkflowId(id: string): { clusterIdentity: string; entryName: string } | undefined {
  if (!id.startsWith(WORKFLOW_ID_PREFIX)) return undefined;
  const rest = id.slice(WORKFLOW_ID_PREFIX.length);
  const slash = rest.lastIndexOf('/');
  if (slash <= 0 || slash === rest.length - 1) return undefined;
  return { clusterIdentity: rest.slice(0, slash), entryName: rest.slice(slash + 1) };
}

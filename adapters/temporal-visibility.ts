/**
 * The worker's {@link VisibilityPort}: lists the runs of one workflow ID through the worker's own connection to
 * Temporal (the client API over the same NativeConnection) and reads the search attributes the newest other run published.
 */
import { Client, type ConnectionLike } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import type { PublishedRun, VisibilityPort } from '../activities/visibility-port';
import {
  BACKUP_BUCKET,
  BACKUP_ENTRY_PHASE,
  BACKUP_ENTRY_TYPE,
  DELETION_SCHEDULED_AT,
} from '../workflows/search-attributes';

/** A visibility reader on the worker's `connection` in `namespace`. */
export function createTemporalVisibility(connection: NativeConnection, namespace: string): VisibilityPort {
  // NativeConnection serves the same workflow service the client API needs (SDK ≥ 1.11).
  return visibilityOf(new Client({ connection: connection as unknown as ConnectionLike, namespace }));
}

/** A visibility reader through a client (tests pass theirs). */
export function visibilityOf(client: Client): VisibilityPort {
  return {
    async latestOtherRun(workflowId, runId): Promise<PublishedRun | undefined> {
      // Workflow IDs are `backupentry/<identity>/<name>`: DNS names and slashes, quoted; a quote would end the literal.
      if (workflowId.includes("'") || workflowId.includes('\\')) return undefined;
      for await (const wf of client.workflow.list({ query: `WorkflowId = '${workflowId}'`, pageSize: 20 })) {
        if (wf.runId === runId) continue;
        const sa = wf.typedSearchAttributes;
        const deadline = sa.get(DELETION_SCHEDULED_AT);
        return {
          runId: wf.runId,
          ...(sa.get(BACKUP_ENTRY_PHASE) !== undefined ? { phase: sa.get(BACKUP_ENTRY_PHASE) } : {}),
          ...(sa.get(BACKUP_ENTRY_TYPE) !== undefined ? { type: sa.get(BACKUP_ENTRY_TYPE) } : {}),
          ...(sa.get(BACKUP_BUCKET) !== undefined ? { bucket: sa.get(BACKUP_BUCKET) } : {}),
          ...(deadline ? { deadlineMs: deadline.getTime() } : {}),
        };
      }
      return undefined;
    },
  };
}

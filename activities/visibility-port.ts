/**
 * What Temporal's visibility store says a workflow's earlier run published (its search attributes): the truth a run
 * resumed from a retention record is checked against, since a record on a Secret can be written by anybody who may
 * write Secrets there, while search attributes are written only by the workflow itself. Implemented by the worker
 * (adapters/temporal-visibility.ts); tests pass their own.
 */
export interface PublishedRun {
  runId: string;
  /** `BackupEntryPhase` as last published. */
  phase?: string;
  /** `BackupEntryType`. */
  type?: string;
  /** `BackupBucket`. */
  bucket?: string;
  /** `DeletionScheduledAt` in epoch ms (published while Retaining). */
  deadlineMs?: number;
}

/** Reads the newest run of a workflow ID other than the given run. */
export interface VisibilityPort {
  /** Undefined when visibility knows no other run of `workflowId`. */
  latestOtherRun(workflowId: string, runId: string): Promise<PublishedRun | undefined>;
}

/**
 * The workflow's state: everything it knows about its entry, in one object that continue-as-new hands to the next run.
 * Pure data and pure helpers only; the phases change it, the loop persists what must be durable.
 */
import { DEFAULT_RETENTION_MS, Operation, Phase, formatRfc3339Seconds, parseRfc3339 } from '../../domain';
import type { EtcdSecretRef, SecretReference, StorageTarget } from '../../activities/types';
import type { DeletionReceipt } from '../../activities/storage-port';
import type { DecisionRecord } from '../messages';

/** Settings that shape the workflow's behaviour; fixed at start and carried across continue-as-new. */
export interface WorkflowSettings {
  /**
   * Retention after deletion when the entry has no retention annotation; superseded by the worker's
   * `BEL_DEFAULT_RETENTION` (reported by observeEntry).
   * @default 72h (DEFAULT_RETENTION_MS)
   */
  defaultRetentionMs: number;
  /** First delay before an operation that failed is tried again; doubles per failure up to `maxRetryDelayMs`. */
  initialRetryDelayMs: number;
  maxRetryDelayMs: number;
  /**
   * Continue-as-new after this many history events even if the server does not suggest it yet (tests use it).
   * @default undefined (only when the server suggests it)
   */
  continueAsNewAfterEvents?: number;
}

/** Defaults of {@link WorkflowSettings}. */
export const DEFAULT_WORKFLOW_SETTINGS: WorkflowSettings = {
  defaultRetentionMs: DEFAULT_RETENTION_MS,
  initialRetryDelayMs: 5_000,
  maxRetryDelayMs: 5 * 60_000,
};

/** Deletion bookkeeping, set when the entry's deletion is first seen. */
export interface DeletionState {
  deletionTimestamp: string;
  deadlineMs: number;
  retentionMs: number;
  retentionSource: string;
  inventory?: { objects: number; bytes: number; truncated: boolean };
  receipt?: DeletionReceipt;
  /** Bucket, type and credentials reference fixed when retention started. */
  target: StorageTarget;
  /** A later spec change was noted once already. */
  specChangeNoted?: boolean;
  /**
   * `BEL_RETENTION_MODE=release-entry`: the BackupEntry's finalizer was released once the retention was registered;
   * the retention record lives on the entry's retention anchor (activities/retention-anchor.ts).
   */
  entryReleased?: boolean;
  /** The deadline last written where a new run reads it (the entry's annotation or the anchor's record; epoch ms). */
  recordedDeadlineMs?: number;
  /** A cancelled cleanup was written there. */
  recordedKeep?: boolean;
  /**
   * The step that registers the retention (`beginDeletion`) was started but has not been seen to succeed: it may
   * have written the record and released the entry, or not. While it is set the deletion is not decided on: the next
   * pass registers again while the entry exists, and once the entry is gone asks the anchor instead of assuming
   * (issue 22: absence is not proof).
   */
  unconfirmed?: boolean;
}

/** An operator's cancel-cleanup, asked for and not yet applied by the loop (its outcome depends on what the loop finds). */
export interface CancelRequest {
  by: string;
  reason: string;
  /** Its sequence number (workflows/backup-entry/context.ts `Messages`). */
  seq: number;
  /** An update waits for the loop's answer. */
  answer?: boolean;
}

/** Everything the workflow knows; passed whole to the next run on continue-as-new. */
export interface CarriedState {
  phase: Phase;
  /** A pass over the entry is due (a signal arrived, a timer fired, or the run just started). */
  dirty: boolean;
  /** Epoch ms of a retry after an error, if one is scheduled. */
  retryAtMs?: number;
  errorStreak: number;
  type?: string;
  bucket?: string;
  deletion?: DeletionState;
  expedite?: DecisionRecord;
  /** The applied cancel-cleanup (every object is kept). */
  cancel?: DecisionRecord;
  /** A cancel-cleanup waiting for the loop. */
  cancelRequest?: CancelRequest;
  decisions: DecisionRecord[];
  lastOperation?: { type: string; state: string; description: string; at: string };
  lastError?: { message: string; codes: string[]; at: string };
  etcdBackupSecret?: EtcdSecretRef;
  /**
   * The entry's `spec.secretRef` as last observed, so the secret's finalizer can still be released once the entry is
   * gone and its spec unreadable.
   */
  secretRef?: SecretReference;
  /** `metadata.uid` of the incarnation this state belongs to. */
  uid?: string;
}

/** State of a run that starts from nothing (also after a re-created entry). */
export function initialState(): CarriedState {
  return { phase: Phase.Reconciling, dirty: true, errorStreak: 0, decisions: [] };
}

/** Phases in which a run has finished with its entry: its absence then says nothing new. */
export const FINISHED_PHASES: readonly Phase[] = [Phase.Kept, Phase.Migrated, Phase.Orphaned, Phase.Deleted];

/** A deletion whose registration was confirmed and whose backups are not deleted yet. */
export function openDeletion(s: CarriedState): DeletionState | undefined {
  const d = s.deletion;
  return d && !d.unconfirmed && !d.receipt ? d : undefined;
}

export function iso(ms: number): string {
  return formatRfc3339Seconds(ms);
}

export function nowIso(): string {
  return iso(Date.now());
}

/** Epoch ms of the entry's deletion (the deadline's base). */
export function deletionMsOf(d: DeletionState): number {
  const t = parseRfc3339(d.deletionTimestamp);
  return t.ok ? t.value : d.deadlineMs;
}

/** The operation an Error status names when the pass failed before it decided. */
export function currentOperation(s: CarriedState): Operation {
  if (s.deletion) return Operation.Delete;
  const t = s.lastOperation?.type;
  return t === Operation.Create || t === Operation.Restore || t === Operation.Migrate ? t : Operation.Reconcile;
}

/** Input of the workflow. */
export interface BackupEntryWorkflowInput {
  entryName: string;
  settings?: Partial<WorkflowSettings>;
  /** Set by continue-as-new only. */
  carried?: CarriedState;
  /**
   * Set by the watcher when it finds a retention record (an entry released during retention) on this credentials
   * secret and no workflow running for it: the new run carries the retention on from the record. Handed on by
   * continue-as-new until a pass has used it.
   */
  retainedSecret?: SecretReference;
}

/** How the workflow ended. */
export interface BackupEntryWorkflowResult {
  entryName: string;
  phase: Phase;
  outcome: 'deleted' | 'kept' | 'migrated' | 'orphaned' | 'gone';
  deletion?: DeletionReceipt;
  decisions: DecisionRecord[];
}

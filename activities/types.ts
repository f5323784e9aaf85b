/**
 * The activity interface the workflow sees. Every input and result here lands in workflow history, so none of it
 * may carry secret material: activities read secrets themselves and return references, counts and digests.
 */
import type { GardenerErrorCode, Operation, RetentionRecord } from '../domain';
import type { DeletionReceipt, Inventory } from './storage-port';
import type { PublishedRun } from './visibility-port';

/** The parts of a BackupEntry the workflow decides on (no secret data; annotations of interest only). */
export interface ObservedEntry {
  /** False when the entry does not exist (any more); the other fields are then empty. */
  exists: boolean;
  name: string;
  uid: string;
  generation: number;
  /** RFC3339; set once the entry is being deleted. */
  deletionTimestamp?: string;
  type: string;
  /** `spec.class`, `shoot` when empty. */
  class: string;
  bucketName: string;
  region: string;
  secretRef: { name: string; namespace: string };
  annotations: {
    operation?: string;
    timestamp?: string;
    forceDeletion?: string;
    retentionPeriod?: string;
    keepBackups?: string;
    /** A deadline an earlier run accepted (RFC3339), written by {@link KubeActivities.persistDecision}. */
    deletionDeadline?: string;
  };
  lastOperation?: { type: string; state: string };
  /** Our finalizer is on the entry. */
  hasFinalizer: boolean;
  /**
   * `metadata.resourceVersion` and `metadata.finalizers` as read: a write in the same pass is conditional on them, so
   * it needs no read of its own (a 409 costs one). Absent in views recorded before they were added.
   */
  resourceVersion?: string;
  finalizers?: string[];
  /**
   * The worker's configured default retention (`BEL_DEFAULT_RETENTION`), so that the retention applied never comes
   * from workflow input anybody can start a workflow with. Absent from fakes and from results recorded before it.
   */
  defaultRetentionMs?: number;
  /**
   * The worker's `BEL_RETENTION_MODE`: `hold-entry` keeps the BackupEntry (and gardenlet's delete loop) until the
   * backups are deleted; `release-entry` releases it once the retention is registered. Absent: `hold-entry`.
   */
  retentionMode?: RetentionMode;
}

/** What `observeEntry` returns for an entry that does not exist (any more): every field empty. */
export function goneEntry(name: string): ObservedEntry {
  return {
    exists: false,
    name,
    uid: '',
    generation: 0,
    type: '',
    class: '',
    bucketName: '',
    region: '',
    secretRef: { name: '', namespace: '' },
    annotations: {},
    hasFinalizer: false,
  };
}

/** How a deleted entry is retained (see {@link ObservedEntry.retentionMode}). */
export type RetentionMode = 'hold-entry' | 'release-entry';

/** A status to write on the entry's status subresource; the activity fills in times, generation and the form. */
export interface StatusWrite {
  kind: 'processing' | 'error' | 'succeeded' | 'pending';
  operation: Operation;
  /** For 'error' the error text (Gardener's prefix is added); otherwise the whole description. */
  description: string;
  codes?: GardenerErrorCode[];
  /** For 'processing' (default 1). */
  progress?: number;
  /**
   * `metadata.generation` the pass read (becomes `observedGeneration` of Error and Succeeded); absent: the generation
   * current at the write (reports recorded before it).
   */
  generation?: number;
  /**
   * What the pass read of the entry: its generation and `gardener.cloud/timestamp` annotation. With it the status is
   * written without reading the entry first; absent (reports recorded before it): the activity reads the entry.
   */
  observed?: { generation: number; timestamp?: string };
}

/** What {@link KubeActivities.reconcileEntry} is asked to do. */
export interface ReconcileRequest {
  /** Create, Reconcile or Restore (decided by the workflow from Gardener's operation table). */
  operation: Operation;
  /** The entry as this pass observed it: the writes are conditional on its resourceVersion. */
  entry: ObservedEntry;
}

/** What {@link KubeActivities.observeAndReconcile} is asked to do. */
export interface ObserveRequest {
  /** Reconcile only the incarnation with this `metadata.uid` (absent: whichever exists). */
  uid?: string;
}

/** What {@link KubeActivities.observeAndReconcile} saw and did. */
export interface ObservedPass {
  /** The entry as read (before any write of the reconcile). */
  entry: ObservedEntry;
  /** Set when the entry was due for a reconcile and this step did it (as {@link KubeActivities.reconcileEntry}). */
  reconciled?: { operation: Operation; etcdSecret: EtcdSecretRef };
}

/** What {@link KubeActivities.beginDeletion} is asked to do for a deleted entry first seen by the workflow. */
export interface BeginDeletionRequest {
  /** The entry as this pass observed it. */
  entry: ObservedEntry;
  /** The Pending status to write (absent: the deletion starts at once, or cleanup was cancelled). */
  pending?: StatusWrite;
  /** Release the entry during retention: write this record on its secretRef secret, then release the entry's finalizer. */
  record?: RetentionRecord;
  /** Hold the entry: write the accepted deadline onto it (as {@link KubeActivities.persistDecision}). */
  decision?: PersistedDecision;
}

/** What {@link KubeActivities.beginDeletion} did. */
export interface BeginDeletionResult {
  /** False: the secretRef secret is gone and nothing else was done (the backups cannot be deleted). */
  secretRefExists: boolean;
  etcdSecret?: EtcdSecretDeletion;
  /** The record was written and the entry's finalizer released. */
  released?: boolean;
  /** The decision was written onto the entry. */
  persisted?: boolean;
}

/** Where the etcd-backup secret was written, and a digest of its data to notice changes without seeing them. */
export interface EtcdSecretRef {
  namespace: string;
  name: string;
  resourceVersion: string;
  /** sha256 over the sorted keys and values, hex, first 16 characters; empty when `skipped`. */
  digest: string;
  /**
   * Not written, as Gardener's generic actuator does (`deployEtcdBackupSecret`): the shoot's control-plane namespace
   * does not exist (`NamespaceMissing`) or is being deleted (`NamespaceTerminating`); the reconcile still succeeds.
   * @default undefined (the secret was written)
   */
  skipped?: 'NamespaceMissing' | 'NamespaceTerminating';
}

/** Outcome of deleting the etcd-backup secret under the `created-by` guard. */
export type EtcdSecretDeletion = 'deleted' | 'absent' | 'kept-created-by-other';

/** Options of {@link KubeActivities.releaseFinalizers}. */
export interface ReleaseFinalizersOptions {
  /** Also release the secretRef secret (first). */
  secret: boolean;
  /**
   * Remove every finalizer of the entry, not only ours (migration).
   * @default false (only ours)
   */
  allEntryFinalizers?: boolean;
  /**
   * The entry's `spec.secretRef` as the caller last saw it; used when the entry is gone or has no complete
   * secretRef. Optional: workflows started before it existed call without it.
   * @default undefined (no secret is released when the entry is gone or has no complete secretRef)
   */
  secretRef?: SecretReference;
}

/** A namespaced reference to a Secret (names only). */
export interface SecretReference {
  namespace: string;
  name: string;
}

/** What {@link KubeActivities.persistDecision} writes; absent fields are left as they are. */
export interface PersistedDecision {
  /** The incarnation the decision belongs to. */
  uid: string;
  /** RFC3339: backups are not deleted before this time. */
  deletionDeadline?: string;
  /** Cleanup was cancelled: every object is kept. */
  keepBackups?: boolean;
}

/** A Kubernetes Event on the entry. */
export interface EntryEvent {
  type: 'Normal' | 'Warning';
  /** CamelCase reason, e.g. `RetentionStarted`. */
  reason: string;
  message: string;
  /** The entry's uid as the caller observed it (saves reading the entry); absent: read. */
  entryUid?: string;
}

/** Kubernetes-side activities (Gardener's generic reconciler and actuator). All idempotent. */
export interface KubeActivities {
  /** Reads the entry; `exists: false` when it is gone. */
  observeEntry(name: string): Promise<ObservedEntry>;
  /**
   * Reads the entry as {@link observeEntry} does and, when it is live (no deletionTimestamp), is the incarnation
   * asked for and Gardener's operation table (domain/operation.ts) says Create, Reconcile or Restore, reconciles it in
   * the same step as {@link reconcileEntry}: the workflow's usual pass is one local activity. Run as a local activity.
   */
  observeAndReconcile(name: string, request: ObserveRequest): Promise<ObservedPass>;
  /** Adds our finalizer to the entry and to its secretRef secret. Missing secret: non-retryable configuration error. */
  ensureFinalizers(name: string): Promise<void>;
  /** Writes the entry's status through the status subresource. NotFound = done. */
  writeStatus(name: string, report: StatusWrite): Promise<void>;
  /**
   * Creates or updates the etcd-backup secret in the shoot namespace from the secretRef secret's data + bucketName
   * (+ provider extras), annotated `backup.gardener.cloud/created-by`. Missing namespace: retryable error.
   */
  provisionEtcdBackupSecret(name: string): Promise<EtcdSecretRef>;
  /** Deletes the etcd-backup secret only when its created-by annotation is absent or names this entry. */
  deleteEtcdBackupSecret(name: string): Promise<EtcdSecretDeletion>;
  /** Removes `gardener.cloud/operation` when it still has `value`. */
  removeOperationAnnotation(name: string, value: string): Promise<void>;
  /**
   * Gardener's reconcile of a live entry in one step: the `reconcile` operation annotation removed, our finalizer on
   * the entry and on its secretRef secret, the Processing status, the etcd-backup secret provisioned (as
   * {@link provisionEtcdBackupSecret}), the Succeeded status, and for a Restore its annotation removed. Each write is
   * conditional on what the pass (or this step) read; on a new entry that is six requests. Run as a local activity.
   */
  reconcileEntry(name: string, request: ReconcileRequest): Promise<EtcdSecretRef>;
  /**
   * The first step of a deletion in one local activity: checks the secretRef secret exists (if not, does nothing
   * else), deletes the etcd-backup secret under the created-by guard, writes the Pending status, and either records
   * the retention on the secretRef secret and releases the entry (release-entry) or writes the deadline onto the
   * entry (hold-entry). Writes are conditional on what the pass and this step read.
   */
  beginDeletion(name: string, request: BeginDeletionRequest): Promise<BeginDeletionResult>;
  /** Whether the entry's secretRef secret exists (`ref`: the reference the caller observed, saving a read of the entry). */
  secretRefExists(name: string, ref?: SecretReference): Promise<boolean>;
  /**
   * Removes our finalizer from the secretRef secret (if `secret`), then from the entry (or all of the entry's
   * finalizers with `allEntryFinalizers`): Gardener's order. The secret is the entry's own `spec.secretRef` while the
   * entry exists and has a complete one; otherwise (the entry is gone, e.g. someone removed our finalizer by hand) it
   * is `secretRef`, the reference the workflow last saw, so the secret never keeps our finalizer forever. NotFound on
   * the secret or the entry counts as done; without a usable reference no secret is touched.
   */
  releaseFinalizers(name: string, opts: ReleaseFinalizersOptions): Promise<void>;
  /**
   * Writes an operator decision onto the entry itself, where a new run of the workflow (and `kubectl get`) reads it:
   * the accepted deletion deadline (annotation `deletion-deadline`, RFC3339) and/or a cancelled cleanup
   * (`keep-backups: "true"`). Guarded by the entry's `uid` (a merge-patch precondition), so a re-created entry of the
   * same name never inherits it. NotFound or another uid: `false` (nothing written); otherwise `true`.
   */
  persistDecision(name: string, decision: PersistedDecision): Promise<boolean>;
  /**
   * Writes (or, with `record` undefined, removes) the entry's {@link RetentionRecord} on its credentials secret `secretRef`,
   * with optimistic locking. Used when the BackupEntry is released during retention. Secret gone: `false`.
   */
  recordRetention(name: string, secretRef: SecretReference, record: RetentionRecord | undefined): Promise<boolean>;
  /** The entry's {@link RetentionRecord} on `secretRef`, if the secret exists, still carries our finalizer and has one. */
  readRetentionRecord(name: string, secretRef: SecretReference): Promise<RetentionRecord | undefined>;
  /** Records a Kubernetes Event on the entry; best effort (never fails the caller). */
  recordEvent(name: string, event: EntryEvent): Promise<void>;
}

/**
 * Where an entry's backups are, fixed by the workflow when retention starts: later edits of the entry's spec never
 * change what is deleted.
 */
export interface StorageTarget {
  type: string;
  bucketName: string;
  secretRef: SecretReference;
  /**
   * `metadata.uid` of the incarnation whose retention this is: the deletion refuses when the entry now has another
   * (domain/deletion-guard.ts). Absent: unknown, and then only an existing entry of the same name can vouch for it.
   */
  uid?: string;
}

/** Storage-side activities around the provider seam. */
export interface StorageActivities {
  /** Count and bytes under the entry's prefix (in `target` when given, else where the entry's spec says now). */
  inventoryBackups(name: string, target?: StorageTarget): Promise<Inventory>;
  /**
   * Deletes everything under the entry's prefix; heartbeats progress and resumes from the last heartbeat on retry;
   * stops promptly when cancelled; ends with a check that only locked/rewritten objects remain.
   */
  deleteBackups(name: string, target?: StorageTarget): Promise<DeletionReceipt>;
}

/** Reading Temporal's own record of earlier runs (activities/visibility-port.ts). Run as a local activity. */
export interface VisibilityActivities {
  /**
   * What the newest other run of `workflowId` published in its search attributes; undefined when Temporal knows no
   * other run (or the worker has no visibility access).
   */
  readPublishedRun(workflowId: string, runId: string): Promise<PublishedRun | undefined>;
}

/** Every activity the BackupEntry workflow calls. */
export type BackupEntryActivities = KubeActivities & StorageActivities & VisibilityActivities;

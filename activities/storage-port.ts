/**
 * The storage provider seam (Gardener's BackupEntryDelegate, re-cast): everything provider-specific about an entry's
 * backups. Providers never touch finalizers, status or Kubernetes; the activities do that around them.
 * Implementations: adapters/storage/gcs-provider.ts (`gcp`) and adapters/storage/local-provider.ts (`local`).
 */

/** The provider secret's data (`spec.secretRef`), as bytes. Never logged, never returned to a workflow. */
export type SecretData = Readonly<Record<string, Buffer>>;

/** Count and size of the objects under a prefix. */
export interface Inventory {
  objects: number;
  bytes: number;
  /** True when counting stopped at `limit` (the numbers are then lower bounds). */
  truncated: boolean;
}

/** Progress of a running prefix deletion; also the heartbeat a retried attempt resumes from. */
export interface DeletionProgress {
  /**
   * Opaque resume position: everything before it has been handled. Small (an object name at most), never a secret.
   * `undefined` = start from the beginning.
   */
  cursor?: string;
  deletedObjects: number;
  deletedBytes: number;
  /** Objects under retention or hold: marked for lifecycle expiry (GCS `customTime`) instead of deleted. */
  lockedObjects: number;
  /** Objects rewritten while deletion ran (GCS 412): left alone and reported. */
  rewrittenObjects: number;
  /** Objects listed so far (including ones a previous attempt handled after its last heartbeat). */
  listedObjects: number;
}

/** What a finished deletion did. */
export interface DeletionReceipt extends DeletionProgress {
  durationMs: number;
  /** deletedObjects / seconds of this attempt chain. */
  objectsPerSecond: number;
  /** Objects still under the prefix after the final check (locked or rewritten ones, or 0). */
  remainingObjects: number;
}

/** Options of {@link BucketSession.deletePrefix}. */
export interface DeletePrefixOptions {
  /** Resume from this progress (counts are added to, cursor is where listing restarts). */
  resume?: DeletionProgress;
  /** Aborted when the activity is cancelled; deletion stops promptly and throws. */
  signal: AbortSignal;
  /** Called often (per page and per batch); the caller throttles heartbeats. */
  onProgress(progress: DeletionProgress): void;
}

/** A provider's handle on one bucket with one set of credentials. */
export interface BucketSession {
  /** Counts objects and bytes under `prefix` (stops at `limit`). A missing bucket is a ClassifiedError. */
  inventory(prefix: string, opts: { signal: AbortSignal; limit?: number }): Promise<Inventory>;
  /**
   * Deletes every object (and, on versioned buckets, every noncurrent generation) whose name starts with `prefix`,
   * and nothing else. Deleting an empty or missing prefix succeeds. Safe to retry: an object that is already gone
   * counts as done. Memory stays flat however many objects there are.
   */
  deletePrefix(prefix: string, opts: DeletePrefixOptions): Promise<DeletionProgress>;
  /** Objects still under `prefix`, and how many of them are locked (retention/hold) or were rewritten. */
  remaining(prefix: string, opts: { signal: AbortSignal }): Promise<{ objects: number; locked: number }>;
  /** Releases connections. */
  close(): Promise<void>;
}

/** One storage provider type (`gcp`, `local`, ...). */
export interface StorageProvider {
  /** `spec.type` this provider serves. */
  readonly type: string;
  /**
   * Checks the provider secret's data (e.g. the service-account JSON's required fields) and returns what the
   * etcd-backup secret gets on top of the copied data and `bucketName` (e.g. `hostPath` for local).
   * Throws a ClassifiedError (ERR_CONFIGURATION_PROBLEM) naming the missing key or field, never a value.
   */
  etcdSecretExtras(data: SecretData): Record<string, Buffer>;
  /** Opens a session on `bucket` with the provider secret's data as credentials. */
  open(bucket: string, data: SecretData): BucketSession;
}

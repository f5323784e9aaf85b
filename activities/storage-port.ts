/**
 * The storage provider seam (Gardener's BackupEntryDelegate, re-cast): everything provider-specific about an entry's
 * backups. Providers never touch finalizers, status or Kubernetes; the activities do that around them.
 * Implemented by the storage adapters: storage/gcs-provider.ts (`gcp`) and storage/local-provider.ts (`local`).
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

/** Objects and bytes counted under a prefix at one point in time. */
export interface ObjectCount {
  objects: number;
  bytes: number;
}

/**
 * What a finished deletion did. `deletedObjects`/`deletedBytes` count every object deleted (or found already gone) one
 * by one, and are exact when the deletion ran in one attempt. An attempt that resumed from an earlier attempt's
 * heartbeat cannot see what that attempt deleted after its last heartbeat reached the server (those objects are gone
 * when it lists again), so it adds them from the inventory: see {@link DeletionReceipt.uncountedAfterResume}.
 */
export interface DeletionReceipt extends DeletionProgress {
  durationMs: number;
  /** deletedObjects / seconds of this attempt chain. */
  objectsPerSecond: number;
  /** Objects still under the prefix after the final check (locked or rewritten ones, or 0). */
  remainingObjects: number;
  /**
   * What was under the prefix before anything was deleted: counted by the first attempt before it deleted, and
   * carried to later attempts in the heartbeat. (If an attempt crashed before a heartbeat with it reached the server,
   * the next attempt counts again before it deletes; its inventory then misses what the crashed one deleted.)
   * Absent only for attempt chains started by a version without it.
   */
  inventoried?: ObjectCount;
  /**
   * Present when an attempt resumed from an earlier attempt's heartbeat: the part of `deletedObjects`/`deletedBytes`
   * inferred rather than counted, `max(0, (inventoried − remaining) − counted)` per field, where remaining is what
   * the final check found under the prefix (locked and rewritten objects included). `inventoried − remaining` is a
   * lower bound of what left the prefix since the inventory (objects written meanwhile only lower it), so the totals
   * stay lower bounds of the truth and are never inflated. Like a 404 on delete, an object removed by someone else
   * after the inventory counts as deleted.
   */
  uncountedAfterResume?: ObjectCount;
}

/** Options of {@link BucketSession.deletePrefix}. */
export interface DeletePrefixOptions {
  /**
   * Resume from this progress (counts are added to, cursor is where listing restarts).
   * @default undefined (no resume: counts start at 0, listing starts from the first name)
   */
  resume?: DeletionProgress;
  /** Aborted when the activity is cancelled; deletion stops promptly and throws. */
  signal: AbortSignal;
  /** Called often (per page and per batch); the caller throttles heartbeats. */
  onProgress(progress: DeletionProgress): void;
  /**
   * Awaited before each batch of deletions (local: each folder; gcp: each listing page of names); a throw stops the
   * deletion with that error before the batch's first DELETE. The deletion activity checks here that no live entry
   * owns the prefix (domain/deletion-guard.ts).
   * @default undefined (no check between batches)
   */
  beforeBatch?(): Promise<void>;
}

/** A provider's handle on one bucket with one set of credentials. */
export interface BucketSession {
  /**
   * Counts objects and bytes under `prefix` (stops at `limit`). A missing bucket is a ClassifiedError.
   * `onProgress`, if given, is called with the running count as counting goes (the caller throttles heartbeats).
   */
  inventory(
    prefix: string,
    opts: { signal: AbortSignal; limit?: number; onProgress?(counted: ObjectCount): void },
  ): Promise<Inventory>;
  /**
   * Deletes every object (and, on versioned buckets, every noncurrent generation) whose name starts with `prefix`,
   * and nothing else. Deleting an empty or missing prefix succeeds. Safe to retry: an object that is already gone
   * counts as done. Memory stays flat however many objects there are.
   */
  deletePrefix(prefix: string, opts: DeletePrefixOptions): Promise<DeletionProgress>;
  /**
   * Objects (and their bytes) still under `prefix`, and how many of them are locked (retention/hold).
   * `onProgress`, if given, is called with the running count as listing goes, after every counted object (or object
   * name with its generations); the caller throttles heartbeats. A listing that makes no progress calls nothing.
   */
  remaining(
    prefix: string,
    opts: { signal: AbortSignal; onProgress?(counted: ObjectCount): void },
  ): Promise<{ objects: number; locked: number; bytes: number }>;
  /** Releases connections. */
  close(): Promise<void>;
}

/**
 * How the provider secret is meant to be used, decided from its labels (never from its data) by the Kubernetes
 * activities.
 */
export interface SecretUse {
  /**
   * Labelled `security.gardener.cloud/purpose: workload-identity-token-requestor`: the data holds a provider `config`
   * and, once gardenlet's token requestor has written it, a `token` (a JWT) instead of static credentials.
   */
  workloadIdentity: boolean;
}

/** {@link SecretUse} for the etcd-backup secret of one entry. */
export interface EtcdSecretUse extends SecretUse {
  /** A `source-` (control-plane migration) entry: its secret is mounted at other paths in the etcd pods. */
  source: boolean;
}

/** One storage provider type (`gcp`, `local`, ...). */
export interface StorageProvider {
  /** `spec.type` this provider serves. */
  readonly type: string;
  /**
   * Checks the provider secret's data (e.g. the service-account JSON's required fields) and returns what the
   * etcd-backup secret gets on top of the copied data and `bucketName` (e.g. `hostPath` for local).
   * Throws a ClassifiedError (ERR_CONFIGURATION_PROBLEM) naming the missing key or field, never a value.
   * For a workload-identity secret (`use.workloadIdentity`), `data` holds only `config`, if the secret has it
   * (Gardener copies nothing else); the token requestor writes the etcd-backup secret's `token` itself. `use`
   * absent = a plain secret of a non-source entry.
   */
  etcdSecretExtras(data: SecretData, use?: EtcdSecretUse): Record<string, Buffer>;
  /**
   * Opens a session on `bucket` with the provider secret's data as credentials (`use` absent = a plain secret).
   * A workload-identity secret that cannot be used yet (no `token`) is a retryable ClassifiedError.
   */
  open(bucket: string, data: SecretData, use?: SecretUse): BucketSession;
}

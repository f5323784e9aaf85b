/** Finalizer this controller puts on each BackupEntry and on the secret its `spec.secretRef` points at. */
export const FINALIZER = 'extensions.gardener.cloud/backupentry';

/** Gardener's operation annotation; values in {@link OperationAnnotation}. */
export const ANNOTATION_OPERATION = 'gardener.cloud/operation';
/** Values of {@link ANNOTATION_OPERATION} that Gardener defines for extension resources. */
export const OperationAnnotation = {
  Reconcile: 'reconcile',
  Migrate: 'migrate',
  Restore: 'restore',
  WaitForState: 'wait-for-state',
} as const;
/** One of the operation annotation values Gardener defines. */
export type OperationAnnotation = (typeof OperationAnnotation)[keyof typeof OperationAnnotation];

/** RFC3339Nano time gardenlet sets when it (re)deploys the entry; our `lastUpdateTime` must never be earlier. */
export const ANNOTATION_TIMESTAMP = 'gardener.cloud/timestamp';
/** On the `etcd-backup` secret: name of the BackupEntry that created it (gardener/gardener#8709). */
export const ANNOTATION_CREATED_BY = 'backup.gardener.cloud/created-by';
/** Gardener's "delete now" annotation (`strconv.ParseBool` true); for us it expedites the retention wait. */
export const ANNOTATION_FORCE_DELETION = 'backupentry.core.gardener.cloud/force-deletion';
/** Gardener's deletion confirmation annotation, required to DELETE a deletion-protected resource. */
export const ANNOTATION_CONFIRM_DELETION = 'confirmation.gardener.cloud/deletion';
/** Ours: per-entry retention period, a Go duration such as `72h`, `1h30m` or `0s`. */
export const ANNOTATION_RETENTION_PERIOD = 'backupentry.extensions.gardener.cloud/retention-period';
/**
 * Ours, written by the controller: the retention deadline accepted for a deleted entry (RFC3339). A new run of the
 * workflow never deletes before it; `kubectl get backupentries` shows it.
 */
export const ANNOTATION_DELETION_DEADLINE = 'backupentry.extensions.gardener.cloud/deletion-deadline';
/** Ours: `"true"` keeps the bucket objects when the entry is deleted. */
export const ANNOTATION_KEEP_BACKUPS = 'backupentry.extensions.gardener.cloud/keep-backups';

/** Name of the secret written into the shoot control-plane namespace. */
export const SECRET_ETCD_BACKUP = 'etcd-backup';
/** Name of that secret for `source-` (control-plane migration) entries. */
export const SECRET_SOURCE_ETCD_BACKUP = 'source-etcd-backup';
/** Prefix of BackupEntry names that are control-plane-migration copies. */
export const SOURCE_PREFIX = 'source-';

/** Data key of the etcd-backup secret holding `spec.bucketName`. */
export const DATA_KEY_BUCKET_NAME = 'bucketName';
/** Data key the `local` provider adds: the directory where etcd pods see the buckets. */
export const DATA_KEY_HOST_PATH = 'hostPath';
/** Data key of the GCP service-account JSON in the secretRef secret (copied as is). */
export const DATA_KEY_SERVICE_ACCOUNT_JSON = 'serviceaccount.json';

/** Coordinates of the cluster-scoped `BackupEntry` resource. */
export const BACKUPENTRY_API = {
  group: 'extensions.gardener.cloud',
  version: 'v1alpha1',
  apiVersion: 'extensions.gardener.cloud/v1alpha1',
  plural: 'backupentries',
  kind: 'BackupEntry',
} as const;

/** `spec.class` the controller handles by default; an empty class means `shoot`. */
export const DEFAULT_CLASSES: readonly string[] = ['shoot'];
/** `spec.type` values handled by default (SPEC §3). */
export const DEFAULT_TYPES: readonly string[] = ['gcp', 'local'];
/** Default retention period after deletion (SPEC §4), as an annotation-style text. */
export const DEFAULT_RETENTION_PERIOD = '72h';

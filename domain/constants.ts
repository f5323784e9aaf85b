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

/*
 * Workload identity (Gardener's `pkg/apis/security/v1alpha1/constants`): a secret labelled
 * `security.gardener.cloud/purpose: workload-identity-token-requestor` holds a provider `config` and a `token` that
 * gardenlet's token requestor writes and renews for the WorkloadIdentity named in its annotations.
 */
/** Label whose value {@link PURPOSE_WORKLOAD_IDENTITY_TOKEN_REQUESTOR} marks a workload-identity secret. */
export const LABEL_SECURITY_PURPOSE = 'security.gardener.cloud/purpose';
/** Value of {@link LABEL_SECURITY_PURPOSE} on secrets the token requestor keeps a workload-identity token in. */
export const PURPOSE_WORKLOAD_IDENTITY_TOKEN_REQUESTOR = 'workload-identity-token-requestor';
/** Label: the provider type the workload-identity token is presented to (e.g. `gcp`). */
export const LABEL_WORKLOAD_IDENTITY_PROVIDER = 'workloadidentity.security.gardener.cloud/provider';
/** Annotation: name of the WorkloadIdentity the token is requested for. */
export const ANNOTATION_WORKLOAD_IDENTITY_NAME = 'workloadidentity.security.gardener.cloud/name';
/** Annotation: namespace of that WorkloadIdentity. */
export const ANNOTATION_WORKLOAD_IDENTITY_NAMESPACE = 'workloadidentity.security.gardener.cloud/namespace';
/** Annotation: the object the token is used in the context of (JSON), optional. */
export const ANNOTATION_WORKLOAD_IDENTITY_CONTEXT_OBJECT = 'workloadidentity.security.gardener.cloud/context-object';
/** Annotation the token requestor sets: when the token has to be renewed. */
export const ANNOTATION_WORKLOAD_IDENTITY_TOKEN_RENEW_TIMESTAMP =
  'workloadidentity.security.gardener.cloud/token-renew-timestamp';
/** Data key of the provider-specific workload-identity configuration. */
export const DATA_KEY_WORKLOAD_IDENTITY_CONFIG = 'config';
/** Data key of the workload-identity token (a JWT), written by the token requestor. */
export const DATA_KEY_WORKLOAD_IDENTITY_TOKEN = 'token';

/** True when `labels` mark a workload-identity secret (Gardener's test: the purpose label's value, nothing else). */
export function isWorkloadIdentitySecret(labels: Readonly<Record<string, string>> | undefined): boolean {
  return labels?.[LABEL_SECURITY_PURPOSE] === PURPOSE_WORKLOAD_IDENTITY_TOKEN_REQUESTOR;
}

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
/** `spec.type` values handled by default (docs/design.md §3). */
export const DEFAULT_TYPES: readonly string[] = ['gcp', 'local'];
/**
 * Retention after an entry's deletion when neither its annotation nor `BEL_DEFAULT_RETENTION` says otherwise: the one
 * home of this default (the configuration and the workflow's settings take it from here).
 * @default 72h
 */
export const DEFAULT_RETENTION_MS = 72 * 3600_000;

/**
 * Prefix of the extension secret gardenlet writes for a BackupEntry on the seed (`garden/entry-<name>`, its
 * `spec.secretRef`; gardenlet's backupentry component `reconcileBackupEntryExtensionSecret`).
 */
export const EXTENSION_SECRET_PREFIX = 'entry-';

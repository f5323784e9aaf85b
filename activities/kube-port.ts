/**
 * The Kubernetes port of the activities (beside the storage port, storage-port.ts): exactly the calls the
 * Kubernetes activities need, in the project's own small types (secret data as Buffers, times as RFC3339 strings),
 * and the port-level failure notions they branch on (not found, conflict). Implemented by the Kubernetes adapter
 * (`createKubeGateway`, kubernetes/kube-client.ts among the adapters); tests pass their own. Activities never import
 * adapters (eslint.config.mjs).
 */
import { ClassifiedError, type GardenerErrorCode } from '../domain';

/** JSON value as sent in a merge patch (`null` deletes a field). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
/** A JSON merge patch (RFC 7386) body. */
export type MergePatch = { [key: string]: JsonValue };

/** The object metadata the activities look at. Times are RFC3339 strings. */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
}

/** A BackupEntry as stored (cluster-scoped custom object; only the fields the controller reads are typed). */
export interface BackupEntryObject {
  metadata: ObjectMeta;
  spec?: {
    type?: string;
    class?: string;
    region?: string;
    bucketName?: string;
    secretRef?: { name?: string; namespace?: string };
  };
  status?: {
    lastOperation?: { type?: string; state?: string };
    observedGeneration?: number;
  };
}

/** The seed's extension BackupBucket (cluster-scoped; only what the controller reads). */
export interface BackupBucketObject {
  metadata: ObjectMeta;
  spec?: {
    type?: string;
    /** The bucket's credentials, which gardenlet keeps current while the bucket exists (`garden/bucket-<name>`). */
    secretRef?: { name?: string; namespace?: string };
  };
}

/** A Secret with its data decoded to bytes. Never log it. */
export interface SecretObject {
  metadata: ObjectMeta & {
    namespace: string;
    /** Passed through unchanged by {@link KubeGateway.replaceSecret}; opaque to the activities. */
    ownerReferences?: readonly unknown[];
  };
  /** Secret type; `Opaque` when created without one. Immutable once set. */
  type?: string;
  immutable?: boolean;
  data: Record<string, Buffer>;
}

/** The parts of a Namespace the activities look at. */
export interface NamespaceObject {
  metadata: ObjectMeta;
  /** `Active` or `Terminating`. */
  phase?: string;
}

/** A core/v1 Event about a BackupEntry (the gateway fills in names, namespace and times). */
export interface EntryEventSpec {
  entryName: string;
  /** UID of the entry, when known (ties the event to this incarnation of the name). */
  entryUid?: string;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  /** When it happened. */
  time: Date;
}

/** Preconditions of a delete: the server refuses with 409 when the object changed since it was read. */
export interface DeletePreconditions {
  resourceVersion?: string;
  uid?: string;
}

/**
 * A finalizer edit: gets the current list and the object's metadata, returns the wanted list. It may throw to
 * abort the edit (e.g. no new finalizer may be added once `deletionTimestamp` is set: the API server refuses).
 */
export type FinalizerEdit = (current: readonly string[], meta: ObjectMeta) => string[];

/**
 * Namespace of Events about cluster-scoped objects. client-go's recorder (`tools/record/event.go` makeEvent) puts
 * them in `default` with `involvedObject.namespace` empty, and `kubectl describe` finds them there.
 */
export const CLUSTER_SCOPED_EVENT_NAMESPACE = 'default';
/** Attempts of a read-modify-write under optimistic locking before a conflict is reported. */
export const CONFLICT_ATTEMPTS = 5;

/**
 * The Kubernetes calls of the activities. Every method throws a {@link ClassifiedError}: 404 and 409 are
 * recognised with {@link isNotFound} and {@link isConflict} (retryable when they escape), 401 is
 * ERR_INFRA_UNAUTHENTICATED and 403 ERR_INFRA_UNAUTHORIZED (both non-retryable), 429 is
 * ERR_INFRA_RATE_LIMITS_EXCEEDED and everything else (5xx, 422, network) ERR_RETRYABLE_INFRA_DEPENDENCIES, retryable.
 */
export interface KubeGateway {
  /** Reads a BackupEntry. */
  getBackupEntry(name: string): Promise<BackupEntryObject>;
  /** JSON-merge-patches a BackupEntry (metadata/spec); include `metadata.resourceVersion` for optimistic locking. */
  patchBackupEntry(name: string, patch: MergePatch): Promise<BackupEntryObject>;
  /**
   * JSON-merge-patches `status` through the status subresource (`{ status }` is sent, so omitted fields stay and
   * `null` fields are removed). `status` must be plain JSON, e.g. a domain `Status`.
   */
  patchBackupEntryStatus(name: string, status: object): Promise<void>;
  /**
   * Read-modify-write of the entry's finalizers with the resourceVersion in the merge patch; retries on 409 up to
   * {@link CONFLICT_ATTEMPTS} times. Returns false (and writes nothing) when the edit changes nothing. `known`: metadata
   * the caller read moments ago (with its resourceVersion); the first attempt edits it instead of reading again, and
   * only a 409 costs a fresh read.
   */
  editBackupEntryFinalizers(name: string, edit: FinalizerEdit, known?: ObjectMeta): Promise<boolean>;

  /** Reads the seed's extension BackupBucket `name` (the bucket's name). */
  getBackupBucket(name: string): Promise<BackupBucketObject>;
  /** Like {@link editBackupEntryFinalizers}, for an extension BackupBucket. */
  editBackupBucketFinalizers(name: string, edit: FinalizerEdit, known?: ObjectMeta): Promise<boolean>;

  /** Reads a Secret, data decoded. */
  getSecret(namespace: string, name: string): Promise<SecretObject>;
  /** JSON-merge-patches a Secret's metadata (never data); include `metadata.resourceVersion` for optimistic locking. */
  patchSecret(namespace: string, name: string, patch: MergePatch): Promise<SecretObject>;
  /** Like {@link editBackupEntryFinalizers}, for a Secret. */
  editSecretFinalizers(namespace: string, name: string, edit: FinalizerEdit, known?: ObjectMeta): Promise<boolean>;
  /**
   * Whether a Secret in `namespace` carrying the label `labelSelector` (`key=value`) has metadata for which `test`
   * holds. Reads metadata only (never data), a page at a time, and stops at the first match.
   */
  someSecretMetadata(
    namespace: string,
    labelSelector: string,
    test: (meta: SecretObject['metadata']) => boolean,
  ): Promise<boolean>;
  /** Creates a Secret (409 when it exists). */
  createSecret(secret: SecretObject): Promise<SecretObject>;
  /** Replaces a Secret wholesale; `metadata.resourceVersion` makes it conditional (409 when it changed). */
  replaceSecret(secret: SecretObject): Promise<SecretObject>;
  /** Deletes a Secret, conditionally on the preconditions (409 when they do not hold). */
  deleteSecret(namespace: string, name: string, preconditions: DeletePreconditions): Promise<void>;

  /** Reads a Namespace. */
  getNamespace(name: string): Promise<NamespaceObject>;
  /** Creates a core/v1 Event about a BackupEntry, in {@link CLUSTER_SCOPED_EVENT_NAMESPACE}. */
  createEntryEvent(event: EntryEventSpec): Promise<void>;
}

/**
 * The error every {@link KubeGateway} call throws: a {@link ClassifiedError} with the HTTP status of the API server's
 * answer (`undefined` when there was none: connection refused, TLS, DNS, timeouts). The adapter builds it; the
 * activities only ask {@link isNotFound}, {@link isConflict} and {@link httpStatusOf}.
 */
export class KubeApiError extends ClassifiedError {
  /**
   * @param message names the verb and the resource; never quotes secret data.
   * @param httpStatus the response's HTTP status, if there was a response.
   */
  constructor(
    message: string,
    code: GardenerErrorCode,
    reason: string,
    readonly httpStatus: number | undefined,
  ) {
    super(message, code, reason);
  }
}

/** True when `err` is the gateway's error for HTTP 404 (the object does not exist). */
export function isNotFound(err: unknown): boolean {
  return httpStatusOf(err) === 404;
}

/** True when `err` is the gateway's error for HTTP 409 (optimistic-lock conflict or already exists). */
export function isConflict(err: unknown): boolean {
  return httpStatusOf(err) === 409;
}

/**
 * The HTTP status a gateway error carries, if any: the `httpStatus` of a {@link ClassifiedError} (a
 * {@link KubeApiError}, or a test double that sets the field), compared by brand, not by class identity.
 */
export function httpStatusOf(err: unknown): number | undefined {
  if (err instanceof ClassifiedError) {
    const status = (err as ClassifiedError & { httpStatus?: unknown }).httpStatus;
    return typeof status === 'number' ? status : undefined;
  }
  return undefined;
}

/** The result of `read`, or undefined when the gateway answers 404 (the object does not exist). */
export async function orAbsent<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * Runs `step` (a fresh read, then a write guarded by the resourceVersion it read) again when the write meets a 409
 * Conflict, at most {@link CONFLICT_ATTEMPTS} times: the one optimistic-locking loop of the activities.
 */
export async function retryOnConflict<T>(step: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      if (!isConflict(err) || attempt >= CONFLICT_ATTEMPTS) throw err;
    }
  }
}

/**
 * The Kubernetes activities: Gardener's generic BackupEntry reconciler and actuator (docs/gardener-behaviour.md),
 * one idempotent step each, on top of the {@link KubeGateway}. Inputs and results carry names, references and
 * digests only; secret data is read here and written to the etcd-backup secret, never returned or logged.
 */
import { createHash } from 'node:crypto';
import {
  type BackupEntryObject,
  type KubeGateway,
  type NamespaceObject,
  type SecretObject,
  httpStatusOf,
  isConflict,
  isNotFound,
  orAbsent,
  retryOnConflict,
} from './kube-port';
import { createRetentionAnchors, type Credentials } from './retention-anchor';
import {
  ANNOTATION_CREATED_BY,
  ANNOTATION_DELETION_DEADLINE,
  isRetentionAnchorName,
  ANNOTATION_FORCE_DELETION,
  ANNOTATION_KEEP_BACKUPS,
  ANNOTATION_OPERATION,
  ANNOTATION_RETENTION_PERIOD,
  ANNOTATION_TIMESTAMP,
  ANNOTATION_WORKLOAD_IDENTITY_CONTEXT_OBJECT,
  ANNOTATION_WORKLOAD_IDENTITY_NAME,
  ANNOTATION_WORKLOAD_IDENTITY_NAMESPACE,
  ANNOTATION_WORKLOAD_IDENTITY_TOKEN_RENEW_TIMESTAMP,
  DATA_KEY_BUCKET_NAME,
  DATA_KEY_WORKLOAD_IDENTITY_CONFIG,
  DATA_KEY_WORKLOAD_IDENTITY_TOKEN,
  FINALIZER,
  LABEL_SECURITY_PURPOSE,
  LABEL_WORKLOAD_IDENTITY_PROVIDER,
  Operation,
  PURPOSE_WORKLOAD_IDENTITY_TOKEN_REQUESTOR,
  errorStatus,
  isWorkloadIdentitySecret,
  parseEntryName,
  decideOperation,
  pendingStatus,
  processingStatus,
  succeededStatus,
  type EntryIdentity,
  type StatusPatch,
  ClassifiedError,
  configurationProblem,
  isClassifiedError,
  deletionRefusal,
  deletionRefused,
  EXTENSION_SECRET_PREFIX,
  siblingName,
  type DeletionClaim,
  type PrefixOwner,
} from '../domain';
import { redact, toApplicationFailure, withOperation } from './errors';
import type { EtcdSecretUse, SecretData, StorageProvider } from './storage-port';
import type {
  BeginDeletionResult,
  EntryEvent,
  ObservedEntry,
  EtcdSecretDeletion,
  EtcdSecretRef,
  KubeActivities,
  ObservedPass,
  ObserveRequest,
  PersistedDecision,
  RetentionMode,
  SecretReference,
  StatusWrite,
  StorageTarget,
} from './types';
import { goneEntry } from './types';

/** Dependencies of {@link createKubeActivities}. */
export interface KubeActivityDeps {
  kube: KubeGateway;
  /** Storage providers by `spec.type`; decide the etcd-backup secret's extra keys. */
  providers: ReadonlyMap<string, StorageProvider>;
  /** Clock in epoch ms (default `Date.now`). */
  now?: () => number;
  /** The configured default retention, reported with every observed entry (see `ObservedEntry.defaultRetentionMs`). */
  defaultRetentionMs?: number;
  /** The configured retention mode, reported with every observed entry (see `ObservedEntry.retentionMode`). */
  retentionMode?: RetentionMode;
}

/** What the storage activities need to open a bucket session for an entry. Holds secret bytes: never log or return it. */
export interface EntryStorageAccess extends Credentials {
  type: string;
  bucketName: string;
  /** Further credentials to try, in order, when these are refused (401/403): the pinned copies during a retention. */
  fallbacks?: Credentials[];
}

/** The Kubernetes activities plus the storage activities' helper to read an entry's provider credentials. */
export type KubeActivitiesWithStorageAccess = KubeActivities & {
  /**
   * Not an activity: reads the entry and its secretRef secret for the storage activities. Throws a
   * {@link ClassifiedError}: entry missing (ERR_CONFIGURATION_PROBLEM `EntryMissing`), secret missing or empty
   * (`SecretRefMissing` / `SecretRefEmpty`; a workload-identity secret may be empty: its data comes later), or a
   * gateway error. The caller wraps it with toApplicationFailure.
   */
  readEntryForStorage(name: string, pinned?: StorageTarget): Promise<EntryStorageAccess>;
  /**
   * Not an activity: the truth at the moment of a deletion. Reads the entries that own `name`'s prefix (`X` and
   * `source-X`) and throws a non-retryable {@link ClassifiedError} (code ERR_CONFIGURATION_PROBLEM, reason
   * `DeletionRefused`, the rule's own reason in the message) when domain/deletion-guard.ts refuses the claim.
   * `pinned` is the target fixed at retention start; without it the claim is the entry as it is now.
   */
  verifyDeletionAllowed(name: string, pinned?: StorageTarget): Promise<void>;
};

/** The operation a live entry is due for when it is the incarnation asked for: Create, Reconcile or Restore. */
export function dueReconcile(entry: ObservedEntry, request: ObserveRequest): Operation | undefined {
  if (!entry.exists || entry.deletionTimestamp || (request.uid && entry.uid !== request.uid)) return undefined;
  if (!parseEntryName(entry.name).ok) return undefined;
  const d = decideOperation({
    ...(entry.annotations.operation ? { operationAnnotation: entry.annotations.operation } : {}),
    ...(entry.lastOperation ? { lastOperation: entry.lastOperation } : {}),
  });
  if (d.kind !== 'run') return undefined;
  return d.operation === Operation.Create || d.operation === Operation.Reconcile || d.operation === Operation.Restore
    ? d.operation
    : undefined;
}

/**
 * sha256 over the sorted keys and their values (each key and value length-prefixed, so no two different maps hash
 * alike), hex, first 16 characters. Lets a workflow notice that the etcd-backup secret changed without seeing it.
 */
export function secretDataDigest(data: SecretData): string {
  const hash = createHash('sha256');
  for (const key of Object.keys(data).sort()) {
    const value = data[key]!;
    hash.update(`${Buffer.byteLength(key)}:${key}:${value.length}:`);
    hash.update(value);
  }
  return hash.digest('hex').slice(0, 16);
}

function toView(name: string, entry: BackupEntryObject): ObservedEntry {
  const m = entry.metadata;
  const a = m.annotations ?? {};
  const spec = entry.spec ?? {};
  const last = entry.status?.lastOperation;
  const annotations: ObservedEntry['annotations'] = {};
  if (a[ANNOTATION_OPERATION] !== undefined) annotations.operation = a[ANNOTATION_OPERATION];
  if (a[ANNOTATION_TIMESTAMP] !== undefined) annotations.timestamp = a[ANNOTATION_TIMESTAMP];
  if (a[ANNOTATION_FORCE_DELETION] !== undefined) annotations.forceDeletion = a[ANNOTATION_FORCE_DELETION];
  if (a[ANNOTATION_RETENTION_PERIOD] !== undefined) annotations.retentionPeriod = a[ANNOTATION_RETENTION_PERIOD];
  if (a[ANNOTATION_KEEP_BACKUPS] !== undefined) annotations.keepBackups = a[ANNOTATION_KEEP_BACKUPS];
  if (a[ANNOTATION_DELETION_DEADLINE] !== undefined) annotations.deletionDeadline = a[ANNOTATION_DELETION_DEADLINE];
  return {
    exists: true,
    name,
    uid: m.uid ?? '',
    generation: m.generation ?? 0,
    ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}),
    type: spec.type ?? '',
    class: spec.class || 'shoot',
    bucketName: spec.bucketName ?? '',
    region: spec.region ?? '',
    secretRef: { name: spec.secretRef?.name ?? '', namespace: spec.secretRef?.namespace ?? '' },
    annotations,
    ...(last?.type && last.state ? { lastOperation: { type: last.type, state: last.state } } : {}),
    hasFinalizer: (m.finalizers ?? []).includes(FINALIZER),
    ...(m.resourceVersion ? { resourceVersion: m.resourceVersion } : {}),
    finalizers: [...(m.finalizers ?? [])],
  };
}

/** The entry as a view describes it: enough for the writes of a pass that already read it. */
function objectOf(view: ObservedEntry): BackupEntryObject {
  return {
    metadata: {
      name: view.name,
      uid: view.uid,
      generation: view.generation,
      finalizers: [...(view.finalizers ?? [])],
      ...(view.resourceVersion ? { resourceVersion: view.resourceVersion } : {}),
      ...(view.annotations.timestamp !== undefined
        ? { annotations: { [ANNOTATION_TIMESTAMP]: view.annotations.timestamp } }
        : {}),
    },
    spec: {
      type: view.type,
      class: view.class,
      region: view.region,
      bucketName: view.bucketName,
      secretRef: { ...view.secretRef },
    },
  };
}

/** The entry's `spec.secretRef`, or a configuration problem when it is incomplete. */
function secretRefOf(entry: BackupEntryObject): { namespace: string; name: string } {
  const ref = entry.spec?.secretRef;
  if (!ref?.name || !ref.namespace) {
    throw configurationProblem(
      'SecretRefInvalid',
      `backupentry ${entry.metadata.name} has no complete spec.secretRef (name and namespace are required)`,
    );
  }
  return { namespace: ref.namespace, name: ref.name };
}

function secretRefMissing(ref: { namespace: string; name: string }): ClassifiedError {
  return configurationProblem(
    'SecretRefMissing',
    `secret ${ref.namespace}/${ref.name} referenced by spec.secretRef does not exist`,
  );
}

/**
 * The shoot's control-plane namespace is missing or terminating: as Gardener's generic actuator
 * (`deployEtcdBackupSecret`, v1.149.0) the etcd-backup secret is then not written and the reconcile succeeds; the
 * shoot's next reconcile (which creates the namespace first) reconciles the entry again.
 */
class ShootNamespaceAbsent extends Error {
  constructor(readonly reason: NonNullable<EtcdSecretRef['skipped']>) {
    super(reason);
  }
}

const isTerminating = (ns: NamespaceObject | undefined): boolean =>
  ns !== undefined && (ns.metadata.deletionTimestamp !== undefined || ns.phase === 'Terminating');

/** The etcd-backup secret was not written: the shoot's namespace is missing or terminating. */
function skippedEtcdSecret(id: EntryIdentity, reason: NonNullable<EtcdSecretRef['skipped']>): EtcdSecretRef {
  return { namespace: id.namespace, name: id.etcdSecretName, resourceVersion: '', digest: '', skipped: reason };
}

function identityOf(name: string): EntryIdentity {
  const parsed = parseEntryName(name);
  if (!parsed.ok) throw new ClassifiedError(parsed.error.message, parsed.error.code, parsed.error.reason);
  return parsed.value;
}

const without = (list: readonly string[], item: string): string[] => list.filter((x) => x !== item);

/** What the etcd-backup secret gets from a workload-identity provider secret's metadata (Gardener's generic actuator). */
interface WorkloadIdentityRef {
  name: string;
  namespace: string;
  /** The provider type the token is for (label `workloadidentity.security.gardener.cloud/provider`). */
  provider: string;
  contextObject?: string;
}

/**
 * The workload-identity annotations and label of a provider secret labelled as one; a missing one is a configuration
 * problem, as in Gardener's `deployEtcdBackupSecret` ("BackupEntry is set to use workload identity but ...").
 */
function workloadIdentityRefOf(secret: SecretObject, ref: { namespace: string; name: string }): WorkloadIdentityRef {
  const a = secret.metadata.annotations ?? {};
  const l = secret.metadata.labels ?? {};
  const name = a[ANNOTATION_WORKLOAD_IDENTITY_NAME];
  const namespace = a[ANNOTATION_WORKLOAD_IDENTITY_NAMESPACE];
  const provider = l[LABEL_WORKLOAD_IDENTITY_PROVIDER];
  const missing = [
    ...(name === undefined ? [`annotation ${ANNOTATION_WORKLOAD_IDENTITY_NAME}`] : []),
    ...(namespace === undefined ? [`annotation ${ANNOTATION_WORKLOAD_IDENTITY_NAMESPACE}`] : []),
    ...(provider === undefined ? [`label ${LABEL_WORKLOAD_IDENTITY_PROVIDER}`] : []),
  ];
  if (name === undefined || namespace === undefined || provider === undefined) {
    throw configurationProblem(
      'WorkloadIdentityIncomplete',
      `secret ${ref.namespace}/${ref.name} referenced by spec.secretRef is labelled ${LABEL_SECURITY_PURPOSE}=` +
        `${PURPOSE_WORKLOAD_IDENTITY_TOKEN_REQUESTOR} but lacks the ${missing.join(' and the ')} (gardenlet sets them with the label)`,
    );
  }
  const contextObject = a[ANNOTATION_WORKLOAD_IDENTITY_CONTEXT_OBJECT];
  return { name, namespace, provider, ...(contextObject !== undefined ? { contextObject } : {}) };
}

/** Labels, annotations and data to write into the etcd-backup secret, given the one there (undefined: none yet). */
type EtcdSecretShape = (existing: SecretObject | undefined) => {
  /** Undefined: no labels (an existing secret's labels are cleared). */
  labels?: Record<string, string>;
  annotations: Record<string, string>;
  data: Record<string, Buffer>;
};

/** A plain secret's copy: data replaced wholesale, labels cleared, only our created-by annotation. */
const plainShape =
  (entryName: string, data: Record<string, Buffer>): EtcdSecretShape =>
  () => ({ annotations: { [ANNOTATION_CREATED_BY]: entryName }, data });

/**
 * A workload-identity secret's copy, as Gardener's generic actuator shapes it: labels reset to the purpose label and
 * the provider label; annotations reset to the token requestor's renew timestamp (kept from the existing secret), the
 * WorkloadIdentity's name, namespace and context object, and created-by; data replaced, except the `token` the token
 * requestor wrote into the existing etcd-backup secret, which is kept.
 */
const workloadIdentityShape =
  (entryName: string, wi: WorkloadIdentityRef, data: Record<string, Buffer>): EtcdSecretShape =>
  (existing) => {
    const renew = existing?.metadata.annotations?.[ANNOTATION_WORKLOAD_IDENTITY_TOKEN_RENEW_TIMESTAMP];
    const token = existing?.data[DATA_KEY_WORKLOAD_IDENTITY_TOKEN];
    return {
      labels: {
        [LABEL_SECURITY_PURPOSE]: PURPOSE_WORKLOAD_IDENTITY_TOKEN_REQUESTOR,
        [LABEL_WORKLOAD_IDENTITY_PROVIDER]: wi.provider,
      },
      annotations: {
        ...(renew !== undefined ? { [ANNOTATION_WORKLOAD_IDENTITY_TOKEN_RENEW_TIMESTAMP]: renew } : {}),
        [ANNOTATION_WORKLOAD_IDENTITY_NAME]: wi.name,
        [ANNOTATION_WORKLOAD_IDENTITY_NAMESPACE]: wi.namespace,
        ...(wi.contextObject !== undefined ? { [ANNOTATION_WORKLOAD_IDENTITY_CONTEXT_OBJECT]: wi.contextObject } : {}),
        [ANNOTATION_CREATED_BY]: entryName,
      },
      data: token !== undefined ? { ...data, [DATA_KEY_WORKLOAD_IDENTITY_TOKEN]: token } : data,
    };
  };

/**
 * Creates the Kubernetes activities (see {@link KubeActivities} for each contract). Every activity is idempotent;
 * its errors leave as ApplicationFailures from {@link toApplicationFailure} whose type is the Gardener error code
 * and whose message names what failed for which backupentry (never secret data).
 */
export function createKubeActivities(deps: KubeActivityDeps): KubeActivitiesWithStorageAccess {
  const { kube, providers } = deps;
  const now = deps.now ?? Date.now;

  /** Runs an activity body; every error leaves as an ApplicationFailure with `context` in front. */
  async function activity<T>(context: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toApplicationFailure(err, context);
    }
  }

  /** The entry, or undefined when it does not exist. */
  const findEntry = (name: string): Promise<BackupEntryObject | undefined> => orAbsent(kube.getBackupEntry(name));
  const findSecret = (namespace: string, name: string): Promise<SecretObject | undefined> =>
    orAbsent(kube.getSecret(namespace, name));
  const anchors = createRetentionAnchors(kube);

  async function requireEntry(name: string): Promise<BackupEntryObject> {
    const entry = await findEntry(name);
    if (!entry) throw configurationProblem('EntryMissing', `backupentry ${name} does not exist`);
    return entry;
  }

  /**
   * The secretRef secret; a missing secret, or an empty one that is not a workload-identity secret (whose data
   * gardenlet and its token requestor fill in), is a configuration problem.
   */
  async function providerSecret(entry: BackupEntryObject): Promise<SecretObject> {
    const ref = secretRefOf(entry);
    const secret = await findSecret(ref.namespace, ref.name);
    if (!secret) throw secretRefMissing(ref);
    if (Object.keys(secret.data).length === 0 && !isWorkloadIdentitySecret(secret.metadata.labels)) {
      throw configurationProblem(
        'SecretRefEmpty',
        `secret ${ref.namespace}/${ref.name} referenced by spec.secretRef has no data`,
      );
    }
    return secret;
  }

  function providerFor(entry: BackupEntryObject): StorageProvider {
    const type = entry.spec?.type ?? '';
    const provider = providers.get(type);
    if (!provider) {
      const known = [...providers.keys()].sort().join(', ') || 'none';
      throw configurationProblem(
        'UnknownType',
        `backupentry ${entry.metadata.name} has spec.type ${JSON.stringify(type.slice(0, 63))}, for which no storage provider is configured (known: ${known})`,
      );
    }
    return provider;
  }

  /** The provider's extra keys; a provider error that is not classified is replaced (its text may quote the data). */
  function extrasFor(
    provider: StorageProvider,
    data: SecretData,
    ref: { namespace: string; name: string },
    use: EtcdSecretUse,
  ): Record<string, Buffer> {
    try {
      return provider.etcdSecretExtras(data, use);
    } catch (err) {
      if (isClassifiedError(err)) throw err;
      throw configurationProblem(
        'InvalidProviderSecret',
        `the ${provider.type} provider rejected the data of secret ${ref.namespace}/${ref.name} referenced by spec.secretRef`,
      );
    }
  }

  /**
   * Creates or replaces the etcd-backup secret as `shape` says, retrying optimistic-lock conflicts: the replace
   * carries the resourceVersion read, so a concurrent write (e.g. the token requestor storing a new `token`) makes it
   * fail with 409, and the next attempt shapes the secret from the fresh read.
   */
  async function writeEtcdSecret(
    namespace: string,
    secretName: string,
    shape: EtcdSecretShape,
    createFirst = false,
  ): Promise<SecretObject> {
    if (createFirst) {
      // A new entry's secret does not exist yet: the create alone tells (and says whether the namespace exists).
      const { labels, annotations, data } = shape(undefined);
      try {
        return await kube.createSecret({
          metadata: { name: secretName, namespace, ...(labels ? { labels } : {}), annotations },
          type: 'Opaque',
          data,
        });
      } catch (err) {
        if (isNotFound(err)) throw new ShootNamespaceAbsent('NamespaceMissing');
        // Forbidden is also what creating in a terminating namespace answers.
        if (httpStatusOf(err) === 403 && isTerminating(await kube.getNamespace(namespace).catch(() => undefined)))
          throw new ShootNamespaceAbsent('NamespaceTerminating');
        if (!isConflict(err)) throw err;
      }
    }
    return retryOnConflict(async () => {
      const existing = await findSecret(namespace, secretName);
      const { labels, annotations, data } = shape(existing);
      if (!existing) {
        return kube.createSecret({
          metadata: { name: secretName, namespace, ...(labels ? { labels } : {}), annotations },
          type: 'Opaque',
          data,
        });
      }
      return kube.replaceSecret({
        metadata: {
          name: secretName,
          namespace,
          resourceVersion: existing.metadata.resourceVersion,
          ...(labels ? { labels } : {}),
          annotations,
          finalizers: existing.metadata.finalizers,
          ownerReferences: existing.metadata.ownerReferences,
        },
        // The type is immutable: keep what is there (Opaque when we created it).
        type: existing.type,
        immutable: existing.immutable,
        data,
      });
    });
  }

  function buildStatus(report: StatusWrite, entry: BackupEntryObject): StatusPatch {
    // Gardener's observedGeneration is the generation the operation acted on, not whatever is current when it reports.
    const generation = report.generation ?? entry.metadata.generation ?? 0;
    const timestamp = entry.metadata.annotations?.[ANNOTATION_TIMESTAMP];
    const t = now();
    switch (report.kind) {
      case 'processing':
        return processingStatus(report.operation, report.description, t, timestamp, report.progress ?? 1);
      case 'error':
        return errorStatus(report.operation, redact(report.description), report.codes ?? [], generation, t, timestamp);
      case 'succeeded':
        return succeededStatus(report.operation, report.description, generation, t, timestamp);
      case 'pending':
        if (report.operation !== Operation.Delete) {
          throw configurationProblem(
            'InvalidStatusReport',
            `a pending status is only defined for Delete, not ${report.operation}`,
          );
        }
        return pendingStatus(Operation.Delete, report.description, t, timestamp);
    }
  }

  /** Writes a status; the entry is read first only when the report does not say what the pass observed. */
  async function writeStatus(name: string, report: StatusWrite): Promise<void> {
    const entry = report.observed
      ? {
          metadata: {
            name,
            generation: report.observed.generation,
            ...(report.observed.timestamp !== undefined
              ? { annotations: { [ANNOTATION_TIMESTAMP]: report.observed.timestamp } }
              : {}),
          },
        }
      : await findEntry(name);
    if (!entry) return;
    try {
      await kube.patchBackupEntryStatus(name, buildStatus(report, entry));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /** Our finalizer on the secretRef secret (`known`: its metadata as just read); a terminating secret is refused. */
  async function addSecretFinalizer(
    ref: { namespace: string; name: string },
    known?: SecretObject['metadata'],
  ): Promise<void> {
    try {
      await kube.editSecretFinalizers(
        ref.namespace,
        ref.name,
        (f, meta) => {
          if (f.includes(FINALIZER)) return [...f];
          if (meta.deletionTimestamp) {
            throw configurationProblem(
              'SecretRefTerminating',
              `secret ${ref.namespace}/${ref.name} referenced by spec.secretRef is being deleted`,
            );
          }
          return [...f, FINALIZER];
        },
        known,
      );
    } catch (err) {
      if (isNotFound(err)) throw secretRefMissing(ref);
      throw err;
    }
  }

  /** Removes `gardener.cloud/operation` when it still says `value` (read, then a conditional patch). */
  function removeOperationAnnotation(name: string, value: string): Promise<void> {
    return retryOnConflict(async () => {
      const entry = await findEntry(name);
      if (!entry || entry.metadata.annotations?.[ANNOTATION_OPERATION] !== value) return;
      try {
        await kube.patchBackupEntry(name, {
          metadata: {
            resourceVersion: entry.metadata.resourceVersion ?? null,
            annotations: { [ANNOTATION_OPERATION]: null },
          },
        });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    });
  }

  /**
   * The end of `name`'s use of its credentials secret: its retention anchor (if any) is removed (activities/
   * retention-anchor.ts), and our finalizer on the secret is released unless another existing BackupEntry of the same
   * prefix (`X` / `source-X`) or named by the secret (`entry-<name>`) references it.
   */
  async function releaseSecret(name: string, ref: SecretReference): Promise<void> {
    await anchors.drop(name, ref);
    await releaseCredentials(name, ref);
  }

  /** Our finalizer off the credentials secret `ref`, unless a live entry of `name`'s prefix or secret still uses it. */
  async function releaseCredentials(name: string, ref: SecretReference, known?: SecretObject): Promise<void> {
    if (isRetentionAnchorName(ref.name)) return; // an anchor is dropped, not released
    const secret = known ?? (await findSecret(ref.namespace, ref.name));
    if (!secret || !(secret.metadata.finalizers ?? []).includes(FINALIZER)) return;
    const candidates = new Set([siblingName(name)]);
    if (ref.name.startsWith(EXTENSION_SECRET_PREFIX)) candidates.add(ref.name.slice(EXTENSION_SECRET_PREFIX.length));
    candidates.delete(name);
    const users = await Promise.all([...candidates].map((n) => findEntry(n)));
    const uses = (e: BackupEntryObject | undefined): boolean =>
      e?.spec?.secretRef?.name === ref.name && e.spec.secretRef.namespace === ref.namespace;
    if (users.some(uses)) return; // a live entry's credentials: its own workflow releases them at its end
    try {
      await kube.editSecretFinalizers(ref.namespace, ref.name, (f) => without(f, FINALIZER), secret.metadata);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /** Deletes the etcd-backup secret unless its created-by annotation names another entry. */
  function deleteEtcdBackupSecret(name: string): Promise<EtcdSecretDeletion> {
    const id = identityOf(name);
    return retryOnConflict(async (): Promise<EtcdSecretDeletion> => {
      const secret = await findSecret(id.namespace, id.etcdSecretName);
      if (!secret) return 'absent';
      const createdBy = secret.metadata.annotations?.[ANNOTATION_CREATED_BY];
      if (createdBy !== undefined && createdBy !== name) return 'kept-created-by-other';
      try {
        await kube.deleteSecret(id.namespace, id.etcdSecretName, {
          resourceVersion: secret.metadata.resourceVersion,
          uid: secret.metadata.uid,
        });
        return 'deleted';
      } catch (err) {
        if (isNotFound(err)) return 'absent';
        throw err;
      }
    });
  }

  /** Writes an operator decision onto the entry, guarded by its uid; false when the entry is gone or another. */
  async function persistDecision(name: string, decision: PersistedDecision): Promise<boolean> {
    const annotations: Record<string, string> = {};
    if (decision.deletionDeadline !== undefined) annotations[ANNOTATION_DELETION_DEADLINE] = decision.deletionDeadline;
    if (decision.keepBackups) annotations[ANNOTATION_KEEP_BACKUPS] = 'true';
    try {
      // metadata.uid in a patch is a precondition: a re-created entry of the same name refuses it with 409.
      await kube.patchBackupEntry(name, { metadata: { uid: decision.uid, annotations } });
      return true;
    } catch (err) {
      if (isNotFound(err) || isConflict(err)) return false;
      throw err;
    }
  }

  /** A provider for the entry's type and a bucket name, or the configuration problem. */
  function checkProvisionable(entry: BackupEntryObject): void {
    providerFor(entry);
    if (!entry.spec?.bucketName) {
      // An etcd-backup secret without a bucket would let etcd's backups fail later, far from the cause.
      throw configurationProblem('MissingBucketName', `backupentry ${entry.metadata.name} has no spec.bucketName`);
    }
  }

  /** Writes the etcd-backup secret from the provider secret (`createFirst`: try a create before reading). */
  async function provision(
    name: string,
    id: EntryIdentity,
    entry: BackupEntryObject,
    secret: SecretObject,
    createFirst: boolean,
  ): Promise<EtcdSecretRef> {
    const ref = secretRefOf(entry);
    const provider = providerFor(entry);
    // Gardener's generic actuator: of a workload-identity secret only `config` is copied (the token requestor
    // writes the etcd-backup secret's own `token`); of any other secret, all of its data.
    const wi = isWorkloadIdentitySecret(secret.metadata.labels) ? workloadIdentityRefOf(secret, ref) : undefined;
    const config = secret.data[DATA_KEY_WORKLOAD_IDENTITY_CONFIG];
    const source: Record<string, Buffer> = !wi
      ? secret.data
      : config !== undefined
        ? { [DATA_KEY_WORKLOAD_IDENTITY_CONFIG]: config }
        : {};
    const data: Record<string, Buffer> = {
      ...source,
      [DATA_KEY_BUCKET_NAME]: Buffer.from(entry.spec?.bucketName ?? ''),
      ...extrasFor(provider, source, ref, { workloadIdentity: wi !== undefined, source: id.source }),
    };
    let written: SecretObject;
    try {
      written = await writeEtcdSecret(
        id.namespace,
        id.etcdSecretName,
        wi ? workloadIdentityShape(name, wi, data) : plainShape(name, data),
        createFirst,
      );
    } catch (err) {
      if (!(err instanceof ShootNamespaceAbsent)) throw err;
      return skippedEtcdSecret(id, err.reason);
    }
    // The digest covers what is provisioned here; a kept `token` belongs to the token requestor (renewed often).
    return {
      namespace: id.namespace,
      name: id.etcdSecretName,
      resourceVersion: written.metadata.resourceVersion ?? '',
      digest: secretDataDigest(data),
    };
  }

  /** The entry as it is, with the worker's configured retention (see `ObservedEntry.defaultRetentionMs`). */
  async function observe(name: string): Promise<ObservedEntry> {
    const entry = await findEntry(name);
    const view = entry ? toView(name, entry) : goneEntry(name);
    return {
      ...view,
      ...(deps.defaultRetentionMs !== undefined ? { defaultRetentionMs: deps.defaultRetentionMs } : {}),
      ...(deps.retentionMode ? { retentionMode: deps.retentionMode } : {}),
    };
  }

  /** Gardener's reconcile of a live entry in one step, each write conditional on what `view` read. */
  async function reconcile(name: string, operation: Operation, view: ObservedEntry): Promise<EtcdSecretRef> {
    const id = identityOf(name);
    const entry = objectOf(view);
    checkProvisionable(entry);
    const ref = secretRefOf(entry);
    const observed = {
      generation: view.generation,
      ...(view.annotations.timestamp !== undefined ? { timestamp: view.annotations.timestamp } : {}),
    };
    let known: BackupEntryObject['metadata'] | undefined = entry.metadata;
    if (view.annotations.operation === 'reconcile') {
      await removeOperationAnnotation(name, 'reconcile');
      known = undefined; // the annotation's removal changed the resourceVersion
    }
    if (!view.hasFinalizer) {
      await kube.editBackupEntryFinalizers(
        name,
        (f, meta) => (f.includes(FINALIZER) || meta.deletionTimestamp ? [...f] : [...f, FINALIZER]),
        known,
      );
    }
    await writeStatus(name, {
      kind: 'processing',
      operation,
      description: 'Reconciling the BackupEntry',
      observed,
    });
    const secret = await providerSecret(entry);
    if (!(secret.metadata.finalizers ?? []).includes(FINALIZER)) await addSecretFinalizer(ref, secret.metadata);
    const written = await provision(name, id, entry, secret, true);
    await writeStatus(name, {
      kind: 'succeeded',
      operation,
      description: 'Successfully reconciled BackupEntry',
      observed,
    });
    if (operation === Operation.Restore) await removeOperationAnnotation(name, 'restore');
    return written;
  }

  return {
    observeEntry: (name) => activity(`observing backupentry ${name}`, () => observe(name)),

    observeAndReconcile: async (name, request): Promise<ObservedPass> => {
      const entry = await activity(`observing backupentry ${name}`, () => observe(name));
      const operation = dueReconcile(entry, request);
      if (!operation) return { entry };
      const etcdSecret = await activity(`reconciling backupentry ${name}`, () =>
        reconcile(name, operation, entry),
      ).catch((err: unknown) => {
        throw withOperation(err, operation);
      });
      return { entry, reconciled: { operation, etcdSecret } };
    },

    ensureFinalizers: (name) =>
      activity(`adding finalizers for backupentry ${name}`, async () => {
        const entry = await findEntry(name);
        if (!entry) return;
        // The API server admits no new finalizer once deletion started: a deleted entry keeps what it has.
        try {
          await kube.editBackupEntryFinalizers(name, (f, meta) =>
            f.includes(FINALIZER) || meta.deletionTimestamp ? [...f] : [...f, FINALIZER],
          );
        } catch (err) {
          if (isNotFound(err)) return;
          throw err;
        }
        await addSecretFinalizer(secretRefOf(entry));
      }),

    writeStatus: (name, report) =>
      activity(`writing the status for backupentry ${name}`, () => writeStatus(name, report)),

    provisionEtcdBackupSecret: (name) =>
      activity(`provisioning the etcd-backup secret for backupentry ${name}`, async (): Promise<EtcdSecretRef> => {
        const id = identityOf(name);
        const entry = await requireEntry(name);
        checkProvisionable(entry);
        let namespace;
        try {
          namespace = await kube.getNamespace(id.namespace);
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
        if (!namespace) return skippedEtcdSecret(id, 'NamespaceMissing');
        if (isTerminating(namespace)) return skippedEtcdSecret(id, 'NamespaceTerminating');
        return provision(name, id, entry, await providerSecret(entry), false);
      }),

    reconcileEntry: (name, { operation, entry }) =>
      activity(`reconciling backupentry ${name}`, () => reconcile(name, operation, entry)),

    deleteEtcdBackupSecret: (name) =>
      activity(`deleting the etcd-backup secret for backupentry ${name}`, () => deleteEtcdBackupSecret(name)),

    beginDeletion: (name, req) =>
      activity(`registering the deletion of backupentry ${name}`, async (): Promise<BeginDeletionResult> => {
        const ref = req.entry.secretRef;
        const secret = ref.name && ref.namespace ? await findSecret(ref.namespace, ref.name) : undefined;
        if (!secret) return { secretRefExists: false };
        const etcdSecret = await deleteEtcdBackupSecret(name);
        if (req.pending) await writeStatus(name, req.pending);
        if (req.record) {
          // The anchor first (record, a copy of the credentials, the bucket held), then the entry goes, and with it
          // our hold on gardenlet's secret, which the retention no longer needs.
          const recorded = await anchors.write(name, ref, req.record, secret);
          if (!recorded) return { secretRefExists: true, etcdSecret };
          try {
            await kube.editBackupEntryFinalizers(name, (f) => without(f, FINALIZER), objectOf(req.entry).metadata);
          } catch (err) {
            if (!isNotFound(err)) throw err;
          }
          await releaseCredentials(name, ref);
          return { secretRefExists: true, etcdSecret, released: true };
        }
        if (req.decision)
          return { secretRefExists: true, etcdSecret, persisted: await persistDecision(name, req.decision) };
        return { secretRefExists: true, etcdSecret };
      }),

    removeOperationAnnotation: (name, value) =>
      activity(`removing the ${ANNOTATION_OPERATION} annotation from backupentry ${name}`, () =>
        removeOperationAnnotation(name, value),
      ),

    recordRetention: (name, ref, record) => {
      const at = anchors.anchorOf(name, ref);
      return activity(`recording the retention of backupentry ${name} on its anchor ${at.namespace}/${at.name}`, () =>
        record ? anchors.write(name, ref, record) : anchors.drop(name, ref).then(() => true),
      );
    },

    readRetentionRecord: (name, ref) =>
      activity(`reading the retention record of backupentry ${name}`, () => anchors.read(name, ref)),

    persistDecision: (name, decision) =>
      activity(`recording the operator decision on backupentry ${name}`, () => persistDecision(name, decision)),

    secretRefExists: (name, known) =>
      activity(`checking the secretRef secret of backupentry ${name}`, async () => {
        let ref = known?.name && known.namespace ? known : undefined;
        if (!ref) {
          const entry = await findEntry(name);
          if (!entry) return false;
          ref = secretRefOf(entry);
        }
        return (await findSecret(ref.namespace, ref.name)) !== undefined;
      }),

    releaseFinalizers: (name, opts) =>
      activity(`releasing finalizers for backupentry ${name}`, async () => {
        const entry = await findEntry(name);
        if (opts.secret) {
          // A gone entry has no spec.secretRef to read: the workflow's remembered reference stands in for it.
          const own = entry?.spec?.secretRef;
          const ref = own?.name && own.namespace ? { namespace: own.namespace, name: own.name } : opts.secretRef;
          if (ref?.name && ref.namespace) await releaseSecret(name, { namespace: ref.namespace, name: ref.name });
        }
        if (!entry) return;
        try {
          await kube.editBackupEntryFinalizers(name, (f) => (opts.allEntryFinalizers ? [] : without(f, FINALIZER)));
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }),

    recordEvent: async (name: string, event: EntryEvent): Promise<void> => {
      try {
        const uid = event.entryUid || (await findEntry(name))?.metadata.uid;
        await kube.createEntryEvent({
          entryName: name,
          ...(uid ? { entryUid: uid } : {}),
          type: event.type,
          reason: event.reason,
          message: redact(event.message),
          time: new Date(now()),
        });
      } catch {
        // Best effort: an Event that cannot be written must not fail the workflow step.
      }
    },

    verifyDeletionAllowed: async (name, pinned) => {
      const [own, sibling] = await Promise.all([findEntry(name), findEntry(siblingName(name))]);
      const owner = (e: BackupEntryObject | undefined): PrefixOwner | undefined =>
        e && {
          name: e.metadata.name,
          uid: e.metadata.uid ?? '',
          bucketName: e.spec?.bucketName ?? '',
          type: e.spec?.type ?? '',
          deleting: Boolean(e.metadata.deletionTimestamp),
        };
      const ownNow = owner(own);
      const claim: DeletionClaim = pinned
        ? { name, bucketName: pinned.bucketName, type: pinned.type, ...(pinned.uid ? { uid: pinned.uid } : {}) }
        : {
            name,
            bucketName: ownNow?.bucketName ?? '',
            type: ownNow?.type ?? '',
            ...(ownNow ? { uid: ownNow.uid } : {}),
          };
      const refusal = deletionRefusal(claim, {
        ...(ownNow ? { own: ownNow } : {}),
        ...(sibling ? { sibling: owner(sibling)! } : {}),
      });
      if (refusal) throw deletionRefused(refusal);
    },

    readEntryForStorage: async (name, pinned): Promise<EntryStorageAccess> => {
      if (pinned) {
        // Fixed when retention started: a later spec edit never redirects the deletion to another bucket, and
        // nothing of the entry is read (released during retention, it is gone anyway). The credentials are the
        // bucket's current ones where they exist, then the pinned copies (activities/retention-anchor.ts).
        const [first, ...rest] = await anchors.credentials(name, pinned);
        if (!first) {
          throw configurationProblem(
            'NoUsableCredentials',
            `no credentials for the retained backups of backupentry ${name}: BackupBucket ${pinned.bucketName} has no ` +
              `current secret, and neither its retention anchor nor secret ${pinned.secretRef.namespace}/` +
              `${pinned.secretRef.name} is there`,
          );
        }
        return {
          type: pinned.type,
          bucketName: pinned.bucketName,
          ...first,
          ...(rest.length ? { fallbacks: rest } : {}),
        };
      }
      const entry = await requireEntry(name);
      const secret = await providerSecret(entry);
      const ref = secretRefOf(entry);
      return {
        type: entry.spec?.type ?? '',
        bucketName: entry.spec?.bucketName ?? '',
        secretData: secret.data,
        workloadIdentity: isWorkloadIdentitySecret(secret.metadata.labels),
        source: `secret ${ref.namespace}/${ref.name}`,
      };
    },
  };
}

/**
 * The Kubernetes gateway of the activities: the only module that talks to `@kubernetes/client-node` for them. It
 * implements the activities' Kubernetes port (activities/kube-port.ts) and turns every HTTP failure into a
 * {@link KubeApiError} whose message names the verb and the resource but never quotes a response body.
 */
import { randomInt } from 'node:crypto';
import {
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type CoreV1Event,
  type KubeConfig,
  type V1Namespace,
  type V1OwnerReference,
  type V1Secret,
} from '@kubernetes/client-node';
import {
  CLUSTER_SCOPED_EVENT_NAMESPACE,
  CONFLICT_ATTEMPTS,
  isConflict,
  KubeApiError,
  type BackupBucketObject,
  type BackupEntryObject,
  type FinalizerEdit,
  type KubeGateway,
  type MergePatch,
  type NamespaceObject,
  type ObjectMeta,
  type SecretObject,
} from '../../activities/kube-port';
import { reuseConnections } from './connection-reuse';
import { METADATA_LIST_ACCEPT } from './metadata-only';
import { BACKUPENTRY_API, GardenerErrorCode } from '../../domain';

/** Component name the controller reports in Events. */
export const EVENT_COMPONENT = 'backupentry-lifecycle';

/** Shape of client-node's ApiException (compared structurally: jest may load the library twice). */
interface ApiExceptionLike {
  code: number;
  body?: unknown;
}

function isApiException(err: unknown): err is ApiExceptionLike {
  return (
    err instanceof Error &&
    typeof (err as Partial<ApiExceptionLike>).code === 'number' &&
    err.message.startsWith('HTTP-Code:')
  );
}

/** `reason` and `message` of a Kubernetes `Status` body, if the body is one. */
function statusOf(body: unknown): { reason?: string; message?: string } {
  let parsed: unknown = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return {};
    }
  }
  if (typeof parsed !== 'object' || parsed === null) return {};
  const s = parsed as { kind?: unknown; reason?: unknown; message?: unknown };
  return {
    reason: typeof s.reason === 'string' && /^[A-Za-z]{1,40}$/.test(s.reason) ? s.reason : undefined,
    message: typeof s.message === 'string' ? s.message : undefined,
  };
}

/**
 * Translates a failed call into a {@link KubeApiError}. `what` is `"<verb> <resource> <name>"`. For Secrets only the
 * status reason is kept (a validation message might quote a value); other resources keep the server's message,
 * truncated, as it is what an operator needs (it never quotes secret data).
 */
function translate(err: unknown, what: string, quoteServerMessage: boolean): KubeApiError {
  if (isApiException(err)) {
    const status = err.code;
    const { reason, message } = statusOf(err.body);
    if (status === 401) {
      return new KubeApiError(
        `${what}: the API server did not accept the controller's credentials (HTTP 401)`,
        GardenerErrorCode.InfraUnauthenticated,
        'Unauthenticated',
        status,
      );
    }
    if (status === 403) {
      return new KubeApiError(
        `${what}: forbidden (HTTP 403); check the RBAC rules of the controller's service account`,
        GardenerErrorCode.InfraUnauthorized,
        'Forbidden',
        status,
      );
    }
    const detail = quoteServerMessage && message ? `: ${message.replace(/\s+/g, ' ').slice(0, 300)}` : '';
    const text = `${what}: HTTP ${status}${reason ? ` ${reason}` : ''}${detail}`;
    if (status === 404) return new KubeApiError(text, GardenerErrorCode.RetryableInfraDependencies, 'NotFound', status);
    if (status === 409) return new KubeApiError(text, GardenerErrorCode.RetryableInfraDependencies, 'Conflict', status);
    if (status === 429)
      return new KubeApiError(text, GardenerErrorCode.InfraRateLimitsExceeded, 'TooManyRequests', status);
    return new KubeApiError(text, GardenerErrorCode.RetryableInfraDependencies, reason ?? `HTTP${status}`, status);
  }
  // No response: connection refused, TLS, DNS, timeouts. Only the error code is kept (the text quotes the URL).
  const code = (err as { code?: unknown } | null)?.code;
  const cause = (err as { cause?: { code?: unknown } } | null)?.cause?.code;
  const sysCode = [code, cause].find((c): c is string => typeof c === 'string' && /^[A-Z_]{2,40}$/.test(c));
  return new KubeApiError(
    `${what}: the API server is unreachable${sysCode ? ` (${sysCode})` : ''}`,
    GardenerErrorCode.RetryableInfraDependencies,
    'ApiServerUnreachable',
    undefined,
  );
}

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
/** A list that returns metadata only (`PartialObjectMetadataList`): no secret's data reaches this process. */
const METADATA_LIST = setHeaderOptions('Accept', METADATA_LIST_ACCEPT);
/** Secrets per page of a metadata list (a match usually comes in the first). */
const METADATA_PAGE = 100;

/** Event message limit (core/v1 Events are not meant for essays; kubectl shows one line). */
const MAX_EVENT_MESSAGE = 1024;

function toSecretObject(s: V1Secret): SecretObject {
  const m = s.metadata ?? {};
  const data: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(s.data ?? {})) data[k] = Buffer.from(v, 'base64');
  return {
    metadata: {
      name: m.name ?? '',
      namespace: m.namespace ?? '',
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      generation: m.generation,
      deletionTimestamp: m.deletionTimestamp ? toIso(m.deletionTimestamp) : undefined,
      labels: m.labels,
      annotations: m.annotations,
      finalizers: m.finalizers,
      ownerReferences: m.ownerReferences,
    },
    type: s.type,
    immutable: s.immutable,
    data,
  };
}

function fromSecretObject(s: SecretObject): V1Secret {
  const m = s.metadata;
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.data)) data[k] = v.toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: m.name,
      namespace: m.namespace,
      resourceVersion: m.resourceVersion,
      labels: m.labels,
      annotations: m.annotations,
      finalizers: m.finalizers,
      ownerReferences: m.ownerReferences as V1OwnerReference[] | undefined,
    },
    type: s.type,
    immutable: s.immutable,
    data,
  };
}

function toIso(t: Date | string): string {
  return typeof t === 'string' ? t : t.toISOString();
}

function toNamespaceObject(ns: V1Namespace): NamespaceObject {
  const m = ns.metadata ?? {};
  return {
    metadata: {
      name: m.name ?? '',
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      deletionTimestamp: m.deletionTimestamp ? toIso(m.deletionTimestamp) : undefined,
      labels: m.labels,
      annotations: m.annotations,
      finalizers: m.finalizers,
    },
    phase: ns.status?.phase,
  };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Event name as client-go makes it (`<object>.<unix nanos, hex>`), shortened to stay a valid object name. */
function eventName(entryName: string, time: Date): string {
  const nanos = BigInt(time.getTime()) * 1_000_000n + BigInt(randomInt(1_000_000));
  const suffix = `.${nanos.toString(16)}`;
  return `${entryName.slice(0, 253 - suffix.length).replace(/[.-]+$/, '')}${suffix}`;
}

/**
 * Builds the gateway on a KubeConfig (in-cluster, a kubeconfig file, or the test stack's admin config). The
 * returned object holds two API clients and no other state.
 */
export function createKubeGateway(kc: KubeConfig): KubeGateway {
  reuseConnections(kc);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const be = { group: BACKUPENTRY_API.group, version: BACKUPENTRY_API.version, plural: BACKUPENTRY_API.plural };
  const bb = { group: BACKUPENTRY_API.group, version: BACKUPENTRY_API.version, plural: 'backupbuckets' };

  async function call<T>(what: string, fn: () => Promise<T>, quoteServerMessage = true): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw translate(err, what, quoteServerMessage);
    }
  }

  /** Read-modify-write of a finalizer list with the resourceVersion as precondition; retries on conflicts. */
  async function editFinalizers(
    read: () => Promise<ObjectMeta>,
    write: (patch: MergePatch) => Promise<unknown>,
    edit: FinalizerEdit,
    known?: ObjectMeta,
  ): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      const meta = attempt === 1 && known?.resourceVersion ? known : await read();
      const current = meta.finalizers ?? [];
      const wanted = edit(current, meta);
      if (sameList(current, wanted)) return false;
      try {
        await write({ metadata: { resourceVersion: meta.resourceVersion ?? null, finalizers: wanted } });
        return true;
      } catch (err) {
        if (!isConflict(err) || attempt >= CONFLICT_ATTEMPTS) throw err;
      }
    }
  }

  const gateway: KubeGateway = {
    getBackupEntry: (name) =>
      call(
        `get backupentry ${name}`,
        async () => (await custom.getClusterCustomObject({ ...be, name })) as BackupEntryObject,
      ),

    patchBackupEntry: (name, patch) =>
      call(
        `patch backupentry ${name}`,
        async () =>
          (await custom.patchClusterCustomObject({ ...be, name, body: patch }, MERGE_PATCH)) as BackupEntryObject,
      ),

    patchBackupEntryStatus: (name, status) =>
      call(`patch status of backupentry ${name}`, async () => {
        await custom.patchClusterCustomObjectStatus({ ...be, name, body: { status } }, MERGE_PATCH);
      }),

    editBackupEntryFinalizers: (name, edit, known) =>
      editFinalizers(
        async () => (await gateway.getBackupEntry(name)).metadata,
        (patch) => gateway.patchBackupEntry(name, patch),
        edit,
        known,
      ),

    getBackupBucket: (name) =>
      call(
        `get backupbucket ${name}`,
        async () => (await custom.getClusterCustomObject({ ...bb, name })) as BackupBucketObject,
      ),

    editBackupBucketFinalizers: (name, edit, known) =>
      editFinalizers(
        async () => (await gateway.getBackupBucket(name)).metadata,
        (patch) =>
          call(`patch backupbucket ${name}`, () =>
            custom.patchClusterCustomObject({ ...bb, name, body: patch }, MERGE_PATCH),
          ),
        edit,
        known,
      ),

    someSecretMetadata: (namespace, labelSelector, test) =>
      call(
        `list secrets in ${namespace} (${labelSelector})`,
        async () => {
          let token: string | undefined;
          do {
            const page = await core.listNamespacedSecret(
              { namespace, labelSelector, limit: METADATA_PAGE, ...(token ? { _continue: token } : {}) },
              METADATA_LIST,
            );
            // An empty metadata list comes back with `items: null`, not [].
            if ((page.items ?? []).some((item) => test(toSecretObject(item).metadata))) return true;
            token = page.metadata?._continue;
          } while (token);
          return false;
        },
        false,
      ),

    getSecret: (namespace, name) =>
      call(
        `get secret ${namespace}/${name}`,
        async () => toSecretObject(await core.readNamespacedSecret({ namespace, name })),
        false,
      ),

    patchSecret: (namespace, name, patch) =>
      call(
        `patch secret ${namespace}/${name}`,
        async () => toSecretObject(await core.patchNamespacedSecret({ namespace, name, body: patch }, MERGE_PATCH)),
        false,
      ),

    editSecretFinalizers: (namespace, name, edit, known) =>
      editFinalizers(
        async () => (await gateway.getSecret(namespace, name)).metadata,
        (patch) => gateway.patchSecret(namespace, name, patch),
        edit,
        known,
      ),

    createSecret: (secret) =>
      call(
        `create secret ${secret.metadata.namespace}/${secret.metadata.name}`,
        async () =>
          toSecretObject(
            await core.createNamespacedSecret({ namespace: secret.metadata.namespace, body: fromSecretObject(secret) }),
          ),
        false,
      ),

    replaceSecret: (secret) =>
      call(
        `replace secret ${secret.metadata.namespace}/${secret.metadata.name}`,
        async () =>
          toSecretObject(
            await core.replaceNamespacedSecret({
              namespace: secret.metadata.namespace,
              name: secret.metadata.name,
              body: fromSecretObject(secret),
            }),
          ),
        false,
      ),

    deleteSecret: (namespace, name, preconditions) =>
      call(
        `delete secret ${namespace}/${name}`,
        async () => {
          await core.deleteNamespacedSecret({ namespace, name, body: { preconditions } });
        },
        false,
      ),

    getNamespace: (name) =>
      call(`get namespace ${name}`, async () => toNamespaceObject(await core.readNamespace({ name }))),

    createEntryEvent: (e) =>
      call(`create event for backupentry ${e.entryName}`, async () => {
        const body: CoreV1Event = {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { name: eventName(e.entryName, e.time), namespace: CLUSTER_SCOPED_EVENT_NAMESPACE },
          involvedObject: {
            apiVersion: BACKUPENTRY_API.apiVersion,
            kind: BACKUPENTRY_API.kind,
            name: e.entryName,
            ...(e.entryUid ? { uid: e.entryUid } : {}),
          },
          type: e.type,
          reason: e.reason,
          message: e.message.slice(0, MAX_EVENT_MESSAGE),
          firstTimestamp: e.time,
          lastTimestamp: e.time,
          count: 1,
          source: { component: EVENT_COMPONENT },
          reportingComponent: EVENT_COMPONENT,
        };
        await core.createNamespacedEvent({ namespace: CLUSTER_SCOPED_EVENT_NAMESPACE, body });
      }),
  };
  return gateway;
}

/**
 * Watches the provider secrets that BackupEntries reference (`spec.secretRef`), one list+watch per referenced
 * namespace (in a Gardener seed that is `garden`), and reports when a secret's *data* changes. The list and the watch
 * carry metadata only (`PartialObjectMetadata`, as Gardener's own backupentry controller watches secrets): the
 * namespace holds many secrets this controller has no business reading. The data of a secret is read only while a
 * served entry references it (`isReferenced`), once per resourceVersion, by a list narrowed to its name; only a digest
 * of it and its key names are kept, the data is dropped as soon as the digest is computed and is never logged. A data
 * digest that did not change (labels, annotations, finalizers, gardenlet's timestamp bumps) is not a rotation.
 */
import { createHash } from 'node:crypto';
import { CoreV1Api, type KubeConfig, type RequestContext, setHeaderOptions } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  ANNOTATION_RETENTION_RECORDS,
  DATA_KEY_WORKLOAD_IDENTITY_TOKEN,
  FINALIZER,
  isWorkloadIdentitySecret,
  parseRetentionRecords,
} from '../../domain';
import { Reflector, type RestartReason } from './list-watch';
import { METADATA_LIST_ACCEPT, METADATA_WATCH_ACCEPT } from './metadata-only';

/** What is remembered about a secret: digests of its data and the names of its keys (never the data). */
export interface SecretFacts {
  /** {@link secretDataDigest} of all of the data: a change is a rotation. */
  digest: string;
  /** The same over the keys not in `SecretWatchOptions.copyExclude`: what a copy of the data must match. */
  copyDigest: string;
  /** Key names, sorted. */
  keys: string[];
}

/** An entry retained without its BackupEntry, as its record on the secret names it. */
export interface RetainedEntry {
  entry: string;
  /** The workflow that keeps the retention (its seed's). */
  workflowId: string;
}

/** How a secret's data came to be noticed. */
export type SecretChange =
  /** Seen before with other data: a rotation. */
  | 'rotated'
  /** Created (a watch event) while the watch was running. */
  | 'appeared'
  /** Listed, and not known before (start-up, a new namespace, a relist after 410). */
  | 'first-sight';

/**
 * Digest of secret data as the API returns it (base64 values by key): sha256 over the sorted keys and values, each
 * length-prefixed so that no two different maps hash alike; hex, 32 characters. The same data always gives the same
 * digest, whichever client produced the map.
 */
export function secretDataDigest(data: Readonly<Record<string, string>> | undefined): string {
  const hash = createHash('sha256');
  for (const key of Object.keys(data ?? {}).sort()) {
    const value = data![key] ?? '';
    hash.update(`${key.length}:${key}:${value.length}:${value};`);
  }
  return hash.digest('hex').slice(0, 32);
}

/** What the metadata-only watch keeps of a secret. */
interface SecretItem {
  key: string;
  resourceVersion: string;
  /** Entries retained without their BackupEntry whose record is on this secret (our finalizer still on it). */
  retained: RetainedEntry[];
}

function toSecretItem(obj: unknown): SecretItem | undefined {
  const meta = (obj as { metadata?: Record<string, unknown> } | null)?.metadata as
    | {
        name?: unknown;
        namespace?: unknown;
        resourceVersion?: unknown;
        annotations?: Record<string, string>;
        finalizers?: string[];
      }
    | undefined;
  const name = meta?.name;
  const namespace = meta?.namespace;
  if (typeof name !== 'string' || typeof namespace !== 'string') return undefined;
  const retained = (meta?.finalizers ?? []).includes(FINALIZER)
    ? Object.entries(parseRetentionRecords(meta?.annotations?.[ANNOTATION_RETENTION_RECORDS])).map(([entry, r]) => ({
        entry,
        workflowId: r.workflowId,
      }))
    : [];
  return {
    key: `${namespace}/${name}`,
    resourceVersion: typeof meta?.resourceVersion === 'string' ? meta.resourceVersion : '',
    retained,
  };
}

/** The facts of a secret's data (`labels` for the workload-identity rule); the data is not kept. */
function factsOf(
  data: Record<string, string> | undefined,
  labels: Record<string, string> | undefined,
  copyExclude: ReadonlySet<string>,
): SecretFacts {
  // A workload-identity secret's `token` is renewed by gardenlet's token requestor every few hours and is never copied
  // (the etcd-backup secret gets its own): a renewal is not a rotation, so it is left out of the digests and keys.
  const kept = Object.fromEntries(
    Object.entries(data ?? {}).filter(
      ([k]) => k !== DATA_KEY_WORKLOAD_IDENTITY_TOKEN || !isWorkloadIdentitySecret(labels),
    ),
  );
  const copied = Object.fromEntries(Object.entries(kept).filter(([k]) => !copyExclude.has(k)));
  return { digest: secretDataDigest(kept), copyDigest: secretDataDigest(copied), keys: Object.keys(kept).sort() };
}

/** `kc` whose requests ask for metadata only (the Watch of client-node sets no Accept header of its own). */
function metadataOnly(kc: KubeConfig): KubeConfig {
  const wrapped = Object.create(kc) as KubeConfig;
  wrapped.applySecurityAuthentication = async (ctx: RequestContext): Promise<void> => {
    await kc.applySecurityAuthentication(ctx);
    ctx.setHeaderParam('Accept', METADATA_WATCH_ACCEPT);
  };
  return wrapped;
}

/** Options of {@link SecretWatch}. */
export interface SecretWatchOptions {
  kubeConfig: KubeConfig;
  /** Facts by `namespace/name`; owned by the caller so they outlive one leadership term. */
  memory: Map<string, SecretFacts>;
  /**
   * Data reads in flight at most; the others wait their turn. Unbounded, a relist of thousands of referenced secrets
   * (a new leadership term, a 410) started every read at once: as many new TLS connections, the event loop blocked
   * for up to 20 s, the Lease not renewed, leadership lost — and the next term's relist did it again (measured at
   * 5 000 entries: leadership lost 21 times in 9 minutes).
   * @default 4
   */
  maxReadsInFlight?: number;
  /**
   * Keys left out of {@link SecretFacts.copyDigest} (those a copy overwrites).
   * @default an empty set (none)
   */
  copyExclude?: ReadonlySet<string>;
  idleTimeoutMs: number;
  watchTimeoutMs: number;
  log: Logger;
  /** A secret's data is new to this process; see {@link SecretChange}. */
  onChange(key: string, change: SecretChange): void;
  /**
   * Whether a served entry references the secret `key` (`namespace/name`): only then is its data read.
   * @default every secret is
   */
  isReferenced?(key: string): boolean;
  /**
   * The secret (listed, added or updated) carries retention records of entries released during retention
   * (`BEL_RETENTION_MODE=release-entry`): their workflows must be running.
   * @default a no-op
   */
  onRetained?(key: string, entries: readonly RetainedEntry[]): void;
  /**
   * Metric hook: one namespace's watch restarts, with the reason (see {@link ReflectorOptions.onRestart}).
   * @default a no-op
   */
  onRestart?(reason: RestartReason): void;
  /**
   * Metric hook: a watch event arrived, with its type; `LISTED` for each secret of a complete list.
   * @default a no-op
   */
  onEventSeen?(type: string): void;
  /**
   * The in-sync state may have changed (namespaces set, an informer in or out of sync); see `isInSync()`.
   * @default a no-op
   */
  onSyncChange?(): void;
}

/**
 * The per-namespace secret informers. Contract: `setNamespaces` starts a list+watch for each new namespace and stops
 * those no longer wanted (forgetting their secrets); `onChange` is called at most once per observed data change;
 * `isInSync()` is true when every wanted namespace is listed and watched.
 */
export class SecretWatch {
  private readonly core: CoreV1Api;
  private readonly metaKc: KubeConfig;
  private readonly reflectors = new Map<string, Reflector<SecretItem>>();
  /** The resourceVersion whose data each remembered digest was computed from. */
  private readonly digested = new Map<string, string>();
  /** Data reads in flight, by key (one at a time per secret). */
  private readonly reading = new Map<string, Promise<void>>();
  /** Secrets waiting for a read slot, in arrival order, with how their data came to be noticed. */
  private readonly waiting = new Map<string, 'first-sight' | 'appeared'>();

  constructor(private readonly o: SecretWatchOptions) {
    this.core = o.kubeConfig.makeApiClient(CoreV1Api);
    this.metaKc = metadataOnly(o.kubeConfig);
  }

  /** Makes the watched namespaces exactly `namespaces`. */
  setNamespaces(namespaces: Iterable<string>): void {
    const wanted = new Set(namespaces);
    for (const [ns, r] of this.reflectors) {
      if (wanted.has(ns)) continue;
      this.reflectors.delete(ns);
      void r.stop();
      for (const key of [...this.o.memory.keys()]) if (key.startsWith(`${ns}/`)) this.forget(key);
      this.o.log.info({ namespace: ns }, 'No entry references secrets in this namespace any more; stopped watching it');
    }
    for (const ns of wanted) {
      if (this.reflectors.has(ns)) continue;
      const r = this.makeReflector(ns);
      this.reflectors.set(ns, r);
      r.start();
      this.o.log.info({ namespace: ns }, 'Watching referenced secrets in this namespace');
    }
    this.o.onSyncChange?.();
  }

  /**
   * The referenced set may have grown (an entry appeared or changed its secretRef): reads the data of every listed
   * secret that is referenced now and has no digest yet.
   */
  track(): void {
    for (const r of this.reflectors.values()) {
      for (const item of r.items().values()) this.consider(item, 'first-sight');
    }
  }

  /** True when every wanted namespace is listed and watched (also when there is none) and no data read is pending. */
  isInSync(): boolean {
    return (
      this.reading.size === 0 && this.waiting.size === 0 && [...this.reflectors.values()].every((r) => r.isInSync())
    );
  }

  /** Forces a fresh list of every namespace. */
  relist(reason: 'relist' | 'resync' = 'relist'): void {
    for (const r of this.reflectors.values()) r.relist(reason);
  }

  /** Stops every informer. */
  async stop(): Promise<void> {
    const all = [...this.reflectors.values()];
    this.reflectors.clear();
    this.waiting.clear();
    await Promise.all([...all.map((r) => r.stop()), ...this.reading.values()]);
  }

  private forget(key: string): void {
    this.o.memory.delete(key);
    this.digested.delete(key);
  }

  /** Queues a read of a referenced secret whose resourceVersion has not been digested (see {@link read}). */
  private consider(item: SecretItem, unseen: 'first-sight' | 'appeared'): void {
    if (!(this.o.isReferenced?.(item.key) ?? true)) return;
    if (this.digested.get(item.key) === item.resourceVersion || this.reading.has(item.key)) return;
    if (this.waiting.has(item.key)) return; // its turn reads the version current then
    this.waiting.set(item.key, unseen);
    this.o.onSyncChange?.();
    this.pump();
  }

  /** Starts waiting reads while fewer than `maxReadsInFlight` run. */
  private pump(): void {
    const max = Math.max(1, this.o.maxReadsInFlight ?? 4);
    for (const [key, unseen] of this.waiting) {
      if (this.reading.size >= max) return;
      this.waiting.delete(key);
      const latest = this.latest(key);
      if (!latest || !(this.o.isReferenced?.(key) ?? true) || this.digested.get(key) === latest.resourceVersion) {
        this.o.onSyncChange?.();
        continue; // gone, no longer referenced, or read meanwhile
      }
      this.read(latest, unseen);
    }
  }

  /** The informer's current item for `key`, if its namespace is still watched and the secret still listed. */
  private latest(key: string): SecretItem | undefined {
    return this.reflectors
      .get(key.slice(0, key.indexOf('/')))
      ?.items()
      .get(key);
  }

  /** Reads the data of a secret and reports what changed. */
  private read(item: SecretItem, unseen: 'first-sight' | 'appeared'): void {
    const read = this.readFacts(item.key)
      .then((read) => {
        if (!read) return;
        const before = this.o.memory.get(item.key);
        this.o.memory.set(item.key, read.facts);
        this.digested.set(item.key, read.resourceVersion);
        if (!before) this.o.onChange(item.key, unseen);
        else if (before.digest !== read.facts.digest) this.o.onChange(item.key, 'rotated');
      })
      .catch((err: unknown) => {
        // The next event, relist or resync tries again (nothing was digested).
        this.o.log.warn(
          { secret: item.key, error: err instanceof Error ? err.message : String(err) },
          'Could not read a referenced secret',
        );
      })
      .finally(() => {
        this.reading.delete(item.key);
        this.o.onSyncChange?.();
        // A newer version seen while this read ran: read again.
        const latest = this.latest(item.key);
        if (latest && this.digested.has(item.key) && this.digested.get(item.key) !== latest.resourceVersion)
          this.consider(latest, 'appeared');
        this.pump();
      });
    this.reading.set(item.key, read);
  }

  /** The secret's data facts and resourceVersion, read by a list narrowed to its name (the watcher may list, not get). */
  private async readFacts(key: string): Promise<{ facts: SecretFacts; resourceVersion: string } | undefined> {
    const slash = key.indexOf('/');
    const list = await this.core.listNamespacedSecret({
      namespace: key.slice(0, slash),
      fieldSelector: `metadata.name=${key.slice(slash + 1)}`,
    });
    const secret = list.items[0];
    if (!secret) return undefined;
    return {
      facts: factsOf(secret.data, secret.metadata?.labels, this.o.copyExclude ?? new Set()),
      resourceVersion: secret.metadata?.resourceVersion ?? '',
    };
  }

  private makeReflector(namespace: string): Reflector<SecretItem> {
    return new Reflector<SecretItem>({
      name: `secrets/${namespace}`,
      kubeConfig: this.metaKc,
      path: `/api/v1/namespaces/${namespace}/secrets`,
      list: async ({ limit, continueToken }) =>
        this.core.listNamespacedSecret(
          { namespace, limit, ...(continueToken ? { _continue: continueToken } : {}) },
          setHeaderOptions('Accept', METADATA_LIST_ACCEPT),
        ) as Promise<never>,
      transform: (obj) => toSecretItem(obj),
      keyOf: (s) => s.key,
      onSync: (current) => {
        for (const item of current.values()) {
          this.o.onEventSeen?.('LISTED');
          if (item.retained.length) this.o.onRetained?.(item.key, item.retained);
          this.consider(item, 'first-sight');
        }
        for (const key of [...this.o.memory.keys()]) {
          if (key.startsWith(`${namespace}/`) && !current.has(key)) this.forget(key);
        }
      },
      onEvent: (type, item) => {
        if (type === 'DELETED') {
          this.forget(item.key);
          return;
        }
        if (item.retained.length) this.o.onRetained?.(item.key, item.retained);
        this.consider(item, 'appeared');
      },
      idleTimeoutMs: this.o.idleTimeoutMs,
      watchTimeoutMs: this.o.watchTimeoutMs,
      log: this.o.log,
      ...(this.o.onRestart ? { onRestart: this.o.onRestart } : {}),
      ...(this.o.onEventSeen ? { onEventSeen: this.o.onEventSeen } : {}),
      onSyncChange: () => this.o.onSyncChange?.(),
    });
  }
}

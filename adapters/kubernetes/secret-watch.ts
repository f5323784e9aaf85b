/**
 * Watches the provider secrets that BackupEntries reference (`spec.secretRef`), one list+watch per referenced
 * namespace (in a Gardener seed that is `garden`), and reports when a secret's *data* changes. Only a digest of each
 * secret's data and its key names are kept; the data itself is dropped as soon as the digest is computed and is
 * never logged. A changed resourceVersion alone (labels, annotations, finalizers, gardenlet's timestamp bumps) is
 * not a rotation.
 */
import { createHash } from 'node:crypto';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  ANNOTATION_RETENTION_RECORDS,
  DATA_KEY_WORKLOAD_IDENTITY_TOKEN,
  FINALIZER,
  isWorkloadIdentitySecret,
  parseRetentionRecords,
} from '../../domain';
import { Reflector, type RestartReason } from './list-watch';

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

interface SecretItem extends SecretFacts {
  key: string;
  /** Entries retained without their BackupEntry whose record is on this secret (our finalizer still on it). */
  retained: RetainedEntry[];
}

function toSecretItem(obj: unknown, copyExclude: ReadonlySet<string>): SecretItem | undefined {
  const o = obj as {
    metadata?: { name?: unknown; namespace?: unknown; labels?: Record<string, string> };
    data?: Record<string, string>;
  } | null;
  const name = o?.metadata?.name;
  const namespace = o?.metadata?.namespace;
  if (typeof name !== 'string' || typeof namespace !== 'string') return undefined;
  // A workload-identity secret's `token` is renewed by gardenlet's token requestor every few hours and is never copied
  // (the etcd-backup secret gets its own): a renewal is not a rotation, so it is left out of the digests and keys.
  const data = Object.fromEntries(
    Object.entries(o?.data ?? {}).filter(
      ([k]) => k !== DATA_KEY_WORKLOAD_IDENTITY_TOKEN || !isWorkloadIdentitySecret(o?.metadata?.labels),
    ),
  );
  const copied = Object.fromEntries(Object.entries(data).filter(([k]) => !copyExclude.has(k)));
  const meta = o?.metadata as { annotations?: Record<string, string>; finalizers?: string[] } | undefined;
  const retained = (meta?.finalizers ?? []).includes(FINALIZER)
    ? Object.entries(parseRetentionRecords(meta?.annotations?.[ANNOTATION_RETENTION_RECORDS])).map(([entry, r]) => ({
        entry,
        workflowId: r.workflowId,
      }))
    : [];
  return {
    key: `${namespace}/${name}`,
    digest: secretDataDigest(data),
    copyDigest: secretDataDigest(copied),
    keys: Object.keys(data).sort(),
    retained,
  };
}

/** Options of {@link SecretWatch}. */
export interface SecretWatchOptions {
  kubeConfig: KubeConfig;
  /** Facts by `namespace/name`; owned by the caller so they outlive one leadership term. */
  memory: Map<string, SecretFacts>;
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
  private readonly reflectors = new Map<string, Reflector<SecretItem>>();

  constructor(private readonly o: SecretWatchOptions) {
    this.core = o.kubeConfig.makeApiClient(CoreV1Api);
  }

  /** Makes the watched namespaces exactly `namespaces`. */
  setNamespaces(namespaces: Iterable<string>): void {
    const wanted = new Set(namespaces);
    for (const [ns, r] of this.reflectors) {
      if (wanted.has(ns)) continue;
      this.reflectors.delete(ns);
      void r.stop();
      for (const key of [...this.o.memory.keys()]) if (key.startsWith(`${ns}/`)) this.o.memory.delete(key);
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

  /** True when every wanted namespace is listed and watched (also when there is none). */
  isInSync(): boolean {
    return [...this.reflectors.values()].every((r) => r.isInSync());
  }

  /** Forces a fresh list of every namespace. */
  relist(reason: 'relist' | 'resync' = 'relist'): void {
    for (const r of this.reflectors.values()) r.relist(reason);
  }

  /** Stops every informer. */
  async stop(): Promise<void> {
    const all = [...this.reflectors.values()];
    this.reflectors.clear();
    await Promise.all(all.map((r) => r.stop()));
  }

  private makeReflector(namespace: string): Reflector<SecretItem> {
    const memory = this.o.memory;
    const remember = (item: SecretItem): SecretFacts | undefined => {
      const before = memory.get(item.key);
      memory.set(item.key, { digest: item.digest, copyDigest: item.copyDigest, keys: item.keys });
      return before;
    };
    return new Reflector<SecretItem>({
      name: `secrets/${namespace}`,
      kubeConfig: this.o.kubeConfig,
      path: `/api/v1/namespaces/${namespace}/secrets`,
      list: async ({ limit, continueToken }) =>
        this.core.listNamespacedSecret({
          namespace,
          limit,
          ...(continueToken ? { _continue: continueToken } : {}),
        }) as Promise<never>,
      transform: (obj) => toSecretItem(obj, this.o.copyExclude ?? new Set()),
      keyOf: (s) => s.key,
      onSync: (current) => {
        for (const item of current.values()) {
          this.o.onEventSeen?.('LISTED');
          if (item.retained.length) this.o.onRetained?.(item.key, item.retained);
          const before = remember(item);
          if (!before) this.o.onChange(item.key, 'first-sight');
          else if (before.digest !== item.digest) this.o.onChange(item.key, 'rotated');
        }
        for (const key of [...memory.keys()]) {
          if (key.startsWith(`${namespace}/`) && !current.has(key)) memory.delete(key);
        }
      },
      onEvent: (type, item) => {
        if (type === 'DELETED') {
          memory.delete(item.key);
          return;
        }
        if (item.retained.length) this.o.onRetained?.(item.key, item.retained);
        const before = remember(item);
        if (!before) this.o.onChange(item.key, 'appeared');
        else if (before.digest !== item.digest) this.o.onChange(item.key, 'rotated');
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

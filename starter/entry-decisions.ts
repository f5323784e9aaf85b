/**
 * The watcher's decisions on what its informers report: which entry needs which action (intent.ts) on a list or a
 * watch event, which entries a provider secret's data change concerns, which released entries must have their
 * retention resumed, and which secret namespaces to watch. Owned by one leadership term (leadership-term.ts).
 */
import type { Logger } from 'pino';
import type { AppConfig } from '../config';
import { DATA_KEY_BUCKET_NAME, DATA_KEY_HOST_PATH, parseEntryName, SOURCE_PREFIX, workflowIdFor } from '../domain';
import {
  type RetainedEntry,
  type SecretChange,
  type SecretFacts,
  secretDataDigest,
} from '../adapters/kubernetes/secret-watch';
import type { EntryAction } from './entry-action';
import type { FailingSince } from './entry-health';
import {
  type WatchedEntry,
  type Fingerprint,
  SignalReason,
  changeIntent,
  fingerprintOf,
  firstSightIntent,
  isServed,
  releasedDuringRetention,
  secretKey,
} from './intent';
import { SecretReferrers } from './secret-referrers';
import type { WatcherMetrics } from './watcher-metrics';

/** Keys of the etcd-backup secret that the controller sets itself; never compared with the provider secret. */
export const OWN_KEYS: ReadonlySet<string> = new Set<string>([DATA_KEY_BUCKET_NAME, DATA_KEY_HOST_PATH]);
/** What the watcher remembers across leadership terms, so a new term adds no history for unchanged entries. */
export interface Memory {
  /** Last decision per served entry. */
  fingerprints: Map<string, Fingerprint>;
  /** Digests and key names of the provider secrets, by `namespace/name`. */
  secrets: Map<string, SecretFacts>;
  /** Since when failing entries fail (for `bel_watcher_error_longest_seconds`). */
  failing: FailingSince;
}

/** What {@link EntryDecisions} works with. */
export interface EntryDecisionsDeps {
  config: AppConfig;
  log: Logger;
  metrics: WatcherMetrics;
  memory: Memory;
  /** The BackupEntry informer's cache. */
  entries(): ReadonlyMap<string, WatchedEntry>;
  /** Queues an action for an entry (the work queue merges it with what waits). */
  enqueue(name: string, action: EntryAction): void;
  /** Makes the secret informers watch exactly these namespaces. */
  watchNamespaces(namespaces: Set<string>): void;
  /** A secret's data; undefined when it does not exist. */
  readSecretData(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  /**
   * The referenced secrets may have changed: the secret informers read the data of newly referenced ones.
   * @default a no-op
   */
  trackSecrets?(): void;
}

/** The decisions of one leadership term. */
export class EntryDecisions {
  private readonly refs = new SecretReferrers();
  /** Referenced namespaces outside `providerSecretNamespaces` already warned about. */
  private readonly warnedNamespaces = new Set<string>();

  constructor(private readonly d: EntryDecisionsDeps) {}

  /** True when this controller serves the entry (its type and class). */
  served(e: WatchedEntry): boolean {
    return isServed(e, this.d.config);
  }

  /** True while a served entry references the secret `key` (`namespace/name`): only then is its data read. */
  isReferenced(key: string): boolean {
    return (this.refs.entriesOf(key)?.size ?? 0) > 0;
  }

  /** The key of the provider secret a served entry references, if any. */
  secretOfEntry(name: string): string | undefined {
    return this.refs.secretOfEntry(name);
  }

  // --- entries ------------------------------------------------------------------------------------------------------

  /** A complete list of the BackupEntries: decide about each, and tell the workflows of vanished ones. */
  onEntrySync(current: ReadonlyMap<string, WatchedEntry>): void {
    const { fingerprints } = this.d.memory;
    for (const e of current.values()) {
      this.d.metrics.events.inc({ resource: 'backupentries', type: 'LISTED' });
      this.d.memory.failing.observe(e, Date.now());
      this.decide(e);
    }
    for (const name of [...fingerprints.keys()]) if (!current.has(name)) this.gone(name);
    this.d.memory.failing.keepOnly(current);
    this.refs.clear();
    for (const e of current.values()) this.index(e);
    this.d.watchNamespaces(this.watchedNamespaces());
    this.d.trackSecrets?.();
  }

  /** A watch event of a BackupEntry. */
  onEntryEvent(type: 'ADDED' | 'MODIFIED' | 'DELETED', e: WatchedEntry): void {
    const before = this.watchedNamespaces();
    if (type === 'DELETED') {
      this.d.memory.failing.forget(e.name);
      this.refs.delete(e.name);
      if (releasedDuringRetention(e, this.d.config.retentionMode)) this.d.memory.fingerprints.delete(e.name);
      else this.gone(e.name);
    } else {
      this.d.memory.failing.observe(e, Date.now());
      this.decide(e);
      this.index(e);
    }
    const after = this.watchedNamespaces();
    if (before.size !== after.size || [...after].some((ns) => !before.has(ns))) this.d.watchNamespaces(after);
    if (type !== 'DELETED') this.d.trackSecrets?.();
  }

  /** Decides about one observed entry and remembers its fingerprint. */
  private decide(e: WatchedEntry): void {
    const { fingerprints } = this.d.memory;
    if (!this.served(e)) {
      fingerprints.delete(e.name);
      return;
    }
    const prev = fingerprints.get(e.name);
    const intent = prev ? changeIntent(prev, e) : firstSightIntent(e);
    fingerprints.set(e.name, fingerprintOf(e));
    if (intent.kind === 'signal') this.d.enqueue(e.name, { kind: 'signal', reasons: intent.reasons });
    else if (intent.kind === 'ensure') this.d.enqueue(e.name, { kind: 'ensure' });
    if (intent.kind !== 'none') this.d.log.debug({ entry: e.name, intent }, 'Entry needs its workflow');
  }

  private gone(name: string): void {
    if (!this.d.memory.fingerprints.delete(name)) return;
    this.d.enqueue(name, { kind: 'gone' });
  }

  private index(e: WatchedEntry): void {
    this.refs.set(e.name, this.served(e) ? e.secretRef : undefined);
  }

  /**
   * Secret namespaces to watch: every one of `providerSecretNamespaces` (in a seed `garden`, where gardenlet puts the
   * extension secrets), also when no entry references it, since a released entry references nothing any more, yet its
   * retention record must still be found after a restart; and no other. A served entry referencing a secret elsewhere
   * is not watched there (RBAC lets the processes read secrets only in those namespaces; a watch refused there would
   * keep the informers out of sync): a warning, once per namespace.
   */
  private watchedNamespaces(): Set<string> {
    const allowed = new Set(this.d.config.providerSecretNamespaces);
    for (const ns of this.refs.namespaces()) {
      if (allowed.has(ns) || this.warnedNamespaces.has(ns)) continue;
      this.warnedNamespaces.add(ns);
      this.d.log.warn(
        { namespace: ns, providerSecretNamespaces: [...allowed] },
        'An entry references a provider secret outside BEL_PROVIDER_SECRET_NAMESPACES; its rotations are not watched',
      );
    }
    return allowed;
  }

  // --- secrets ------------------------------------------------------------------------------------------------------

  /** A provider secret's data is new to this process (secret-watch.ts). */
  onSecretChange(key: string, change: SecretChange): void {
    const names = this.refs.entriesOf(key);
    if (!names) return;
    for (const name of names) {
      const e = this.d.entries().get(name);
      if (!e || e.deletionTimestamp !== undefined) continue;
      if (change === 'first-sight') {
        // Only settled entries: the others get a pass anyway, which provisions from the current data.
        if (e.lastOperation?.state === 'Succeeded') this.d.enqueue(name, { kind: 'verify-secret' });
      } else {
        this.d.log.info(
          { entry: name, secret: key, change },
          'Provider secret data changed; re-provisioning the etcd-backup secret',
        );
        this.d.enqueue(name, { kind: 'signal', reasons: [SignalReason.SecretRotation] });
      }
    }
  }

  /**
   * Entries released during retention keep a record on their credentials secret; one without a BackupEntry must have a
   * running workflow (after a terminated run or a reset, a new one resumes from the record): never lose track of it.
   */
  onRetained(key: string, retained: readonly RetainedEntry[]): void {
    const slash = key.indexOf('/');
    const secret = { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
    for (const { entry, workflowId } of retained) {
      // Only this seed's records: another seed (or cluster identity) on the same API server keeps its own.
      const own = workflowIdFor(this.d.config.clusterIdentity, entry);
      if (!own.ok || own.value !== workflowId) continue;
      if (entry.startsWith(SOURCE_PREFIX)) {
        // source- entries are never released during retention, so this controller never wrote such a record; its
        // prefix is the main entry's. (The workflow and the deletion guard refuse it too.)
        this.d.log.warn({ entry, secret: key }, 'Ignored a retention record for a source- entry (never written by us)');
        continue;
      }
      if (!this.d.entries().has(entry)) this.d.enqueue(entry, { kind: 'resume', secret });
    }
  }

  /** True when the entry's etcd-backup secret holds other values than its provider secret (rotation while away). */
  async etcdSecretDiffers(name: string): Promise<boolean> {
    const e = this.d.entries().get(name);
    const facts = e?.secretRef ? this.d.memory.secrets.get(secretKey(e.secretRef)) : undefined;
    const id = parseEntryName(name);
    if (!e || !facts || !id.ok || e.deletionTimestamp !== undefined) return false;
    const data = await this.d.readSecretData(id.value.namespace, id.value.etcdSecretName);
    if (!data) return false; // not provisioned (yet): the workflow's business
    const copy: Record<string, string> = {};
    for (const k of facts.keys) if (!OWN_KEYS.has(k) && data[k] !== undefined) copy[k] = data[k];
    return secretDataDigest(copy) !== facts.copyDigest;
  }
}

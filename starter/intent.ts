/**
 * Intent translation of the watcher: which BackupEntries it serves and when an observed entry needs its workflow's
 * attention. Pure functions over a reduced view of the entry, so the rules are unit-tested without servers.
 *
 * Gardener's predicates (docs/gardener-behaviour.md) trigger on every event that carries an operation annotation and on
 * every event of a deleting entry; a controller whose reconcile is a workflow must not do that, because each trigger
 * is a history event. The rules here signal only when something meaningful *changed* since the last decision
 * (remembered as a {@link Fingerprint}), and on first sight of an entry they apply Gardener's CREATE predicate, so an
 * entry created, changed or deleted while no watcher ran still gets its pass.
 */
import {
  ANNOTATION_DELETION_DEADLINE,
  ANNOTATION_FORCE_DELETION,
  ANNOTATION_KEEP_BACKUPS,
  ANNOTATION_OPERATION,
  ANNOTATION_RETENTION_PERIOD,
  ANNOTATION_TIMESTAMP,
  Operation,
  OperationAnnotation,
} from '../domain';

/** Reasons the watcher gives in a `reconcile` signal (also the `reason` label of the signals metric). */
export const SignalReason = {
  /** A new entry without a successful last operation (Gardener's create). */
  Created: 'created',
  /** `gardener.cloud/operation` became `reconcile`, `restore` or `migrate` (or left `wait-for-state`). */
  OperationAnnotation: 'operation-annotation',
  /** `deletionTimestamp` was set. */
  Deletion: 'deletion',
  /** `metadata.generation` changed, or differs from `status.observedGeneration` on first sight. */
  Generation: 'generation',
  /** First sight of an entry whose last operation did not succeed (restart recovery). */
  NotSucceeded: 'not-succeeded',
  /** Gardener's force-deletion annotation was set or changed (= expedite during retention). */
  ForceDeletion: 'force-deletion',
  /** The keep-backups annotation was set or changed (= cancel cleanup during retention). */
  KeepBackups: 'keep-backups',
  /** The retention-period annotation was set or changed (may extend the retention). */
  RetentionPeriod: 'retention-period',
  /** The provider secret referenced by `spec.secretRef` has new data. */
  SecretRotation: 'secret-rotation',
  /** The entry is gone from the API server (sent only to a workflow that is still running). */
  Gone: 'gone',
} as const;
/** One of {@link SignalReason}. */
export type SignalReason = (typeof SignalReason)[keyof typeof SignalReason];

/** The fields of a BackupEntry the watcher decides on. */
export interface WatchedEntry {
  name: string;
  uid: string;
  resourceVersion: string;
  generation: number;
  deletionTimestamp?: string;
  /** `spec.type`. */
  type: string;
  /** `spec.class`, `shoot` when empty. */
  class: string;
  /** `spec.bucketName`, when set (the workflow's start attributes and memo name it). */
  bucketName?: string;
  /** `spec.secretRef`, when complete. */
  secretRef?: { namespace: string; name: string };
  annotations: {
    operation?: string;
    timestamp?: string;
    forceDeletion?: string;
    keepBackups?: string;
    retentionPeriod?: string;
    /** The accepted deadline the workflow writes while the entry retains (RFC3339); read for metrics only. */
    deletionDeadline?: string;
  };
  /** `status.lastOperation`; `lastUpdateTime` and `description` are read for metrics only. */
  lastOperation?: { type: string; state: string; lastUpdateTime?: string; description?: string };
  /** `status.lastError` (null/absent = none), for metrics only. */
  lastError?: { codes: string[]; lastUpdateTime?: string };
  observedGeneration?: number;
}

/** What the watcher remembers about an entry after deciding on it: only what decides whether a change matters. */
export interface Fingerprint {
  uid: string;
  generation: number;
  deleting: boolean;
  operation?: string;
  timestamp?: string;
  forceDeletion?: string;
  keepBackups?: string;
  retentionPeriod?: string;
}

/** What to do about an entry: nothing, make sure its workflow exists (no history if it runs), or signal it. */
export type Intent = { kind: 'none' } | { kind: 'ensure' } | { kind: 'signal'; reasons: SignalReason[] };

/** Which entries this watcher serves. */
export interface ServeFilter {
  providerTypes: readonly string[];
  /** An entry without a class counts as `shoot`. */
  classes: readonly string[];
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * Reduces a BackupEntry object as the API server returns it (JSON) to an {@link WatchedEntry}; undefined when it has
 * no name (not a BackupEntry). Never throws.
 */
export function toWatchedEntry(obj: unknown): WatchedEntry | undefined {
  if (typeof obj !== 'object' || obj === null) return undefined;
  const o = obj as {
    metadata?: {
      name?: unknown;
      uid?: unknown;
      resourceVersion?: unknown;
      generation?: unknown;
      deletionTimestamp?: unknown;
      annotations?: Record<string, unknown>;
    };
    spec?: {
      type?: unknown;
      class?: unknown;
      bucketName?: unknown;
      secretRef?: { name?: unknown; namespace?: unknown };
    };
    status?: {
      lastOperation?: { type?: unknown; state?: unknown; lastUpdateTime?: unknown; description?: unknown };
      lastError?: { codes?: unknown; lastUpdateTime?: unknown } | null;
      observedGeneration?: unknown;
    };
  };
  const m = o.metadata ?? {};
  const name = str(m.name);
  if (!name) return undefined;
  const a = m.annotations ?? {};
  const annotations: WatchedEntry['annotations'] = {};
  const pick = (key: string, field: keyof WatchedEntry['annotations']): void => {
    const v = str(a[key]);
    if (v !== undefined) annotations[field] = v;
  };
  pick(ANNOTATION_OPERATION, 'operation');
  pick(ANNOTATION_TIMESTAMP, 'timestamp');
  pick(ANNOTATION_FORCE_DELETION, 'forceDeletion');
  pick(ANNOTATION_KEEP_BACKUPS, 'keepBackups');
  pick(ANNOTATION_RETENTION_PERIOD, 'retentionPeriod');
  pick(ANNOTATION_DELETION_DEADLINE, 'deletionDeadline');
  const deletion = m.deletionTimestamp instanceof Date ? m.deletionTimestamp.toISOString() : str(m.deletionTimestamp);
  const refName = str(o.spec?.secretRef?.name);
  const refNs = str(o.spec?.secretRef?.namespace);
  const lastType = str(o.status?.lastOperation?.type);
  const lastState = str(o.status?.lastOperation?.state);
  const lastTime = str(o.status?.lastOperation?.lastUpdateTime);
  const lastDescription = str(o.status?.lastOperation?.description);
  const err = o.status?.lastError;
  const errTime = typeof err === 'object' && err !== null ? str(err.lastUpdateTime) : undefined;
  const errCodes =
    typeof err === 'object' && err !== null && Array.isArray(err.codes)
      ? err.codes.filter((c): c is string => typeof c === 'string')
      : [];
  return {
    name,
    uid: str(m.uid) ?? '',
    resourceVersion: str(m.resourceVersion) ?? '',
    generation: typeof m.generation === 'number' ? m.generation : 0,
    ...(deletion ? { deletionTimestamp: deletion } : {}),
    type: str(o.spec?.type) ?? '',
    class: str(o.spec?.class) || 'shoot',
    ...(str(o.spec?.bucketName) ? { bucketName: str(o.spec?.bucketName) } : {}),
    ...(refName && refNs ? { secretRef: { namespace: refNs, name: refName } } : {}),
    annotations,
    ...(lastType && lastState
      ? {
          lastOperation: {
            type: lastType,
            state: lastState,
            ...(lastTime ? { lastUpdateTime: lastTime } : {}),
            ...(lastDescription ? { description: lastDescription } : {}),
          },
        }
      : {}),
    ...(typeof err === 'object' && err !== null
      ? { lastError: { codes: errCodes, ...(errTime ? { lastUpdateTime: errTime } : {}) } }
      : {}),
    ...(typeof o.status?.observedGeneration === 'number' ? { observedGeneration: o.status.observedGeneration } : {}),
  };
}

/** True when the entry's type and class are served (Gardener's class + type predicates). */
export function isServed(e: WatchedEntry, filter: ServeFilter): boolean {
  return filter.providerTypes.includes(e.type) && filter.classes.includes(e.class);
}

/**
 * An entry removed while its retention runs in `release-entry` mode (deleted, last status Delete/Pending): its
 * workflow released it on purpose and carries the retention on without it, so telling it "gone" would only cost a
 * workflow task. (Whoever removed it, the workflow deletes at the deadline as recorded: the same outcome.)
 */
export function releasedDuringRetention(e: WatchedEntry, mode: 'release-entry' | 'hold-entry'): boolean {
  return (
    mode === 'release-entry' &&
    e.deletionTimestamp !== undefined &&
    e.lastOperation?.type === 'Delete' &&
    e.lastOperation.state === 'Pending'
  );
}

/** The {@link Fingerprint} of an entry. */
export function fingerprintOf(e: WatchedEntry): Fingerprint {
  const a = e.annotations;
  return {
    uid: e.uid,
    generation: e.generation,
    deleting: e.deletionTimestamp !== undefined,
    ...(a.operation !== undefined ? { operation: a.operation } : {}),
    ...(a.timestamp !== undefined ? { timestamp: a.timestamp } : {}),
    ...(a.forceDeletion !== undefined ? { forceDeletion: a.forceDeletion } : {}),
    ...(a.keepBackups !== undefined ? { keepBackups: a.keepBackups } : {}),
    ...(a.retentionPeriod !== undefined ? { retentionPeriod: a.retentionPeriod } : {}),
  };
}

const TRIGGERING_OPERATIONS: readonly string[] = [
  OperationAnnotation.Reconcile,
  OperationAnnotation.Restore,
  OperationAnnotation.Migrate,
];

/** True when the operation annotation asks for a pass (`reconcile`, `restore`, `migrate`). */
export function isTriggeringOperation(op: string | undefined): boolean {
  return op !== undefined && TRIGGERING_OPERATIONS.includes(op);
}

/**
 * Intent for an entry this watcher has no memory of (start-up, a new entry, or after losing the memory): Gardener's
 * CREATE predicate plus a generation check, so entries changed while no watcher ran get their pass.
 * - migrated away (lastOperation Migrate/Succeeded) and not asked to restore or migrate: `none` (Gardener skips it;
 *   starting a workflow would only end it again);
 * - operation annotation `reconcile`/`restore`/`migrate`, deletionTimestamp, no lastOperation, a lastOperation that
 *   did not succeed, or `observedGeneration` behind `generation`: `signal` with every reason that applies;
 * - otherwise (settled, or `wait-for-state`): `ensure` — the workflow is started if it is not running, and an
 *   already running one gets no history.
 */
export function firstSightIntent(e: WatchedEntry): Intent {
  const op = e.annotations.operation;
  const last = e.lastOperation;
  if (
    last?.type === Operation.Migrate &&
    last.state === 'Succeeded' &&
    op !== OperationAnnotation.Restore &&
    op !== OperationAnnotation.Migrate
  ) {
    return { kind: 'none' };
  }
  if (op === OperationAnnotation.WaitForState) return { kind: 'ensure' };
  const reasons: SignalReason[] = [];
  if (isTriggeringOperation(op)) reasons.push(SignalReason.OperationAnnotation);
  if (e.deletionTimestamp !== undefined) reasons.push(SignalReason.Deletion);
  if (!last) reasons.push(SignalReason.Created);
  else if (last.state !== 'Succeeded' && e.deletionTimestamp === undefined) reasons.push(SignalReason.NotSucceeded);
  if (last && e.observedGeneration !== undefined && e.observedGeneration !== e.generation)
    reasons.push(SignalReason.Generation);
  return reasons.length ? { kind: 'signal', reasons } : { kind: 'ensure' };
}

/**
 * Intent for an entry seen before with fingerprint `prev`: `signal` when a meaningful field changed, else `none`.
 * Meaningful: a new incarnation (uid; then the first-sight rules apply), deletionTimestamp newly set, generation,
 * the operation annotation becoming `reconcile`/`restore`/`migrate` or leaving `wait-for-state`, gardenlet
 * re-requesting the same operation (new `gardener.cloud/timestamp` while the annotation is present), and the
 * force-deletion, keep-backups or retention-period annotation set or changed. Status writes, finalizer edits,
 * label edits and resyncs change none of these, so they add no history.
 */
export function changeIntent(prev: Fingerprint, e: WatchedEntry): Intent {
  if (prev.uid !== e.uid) return firstSightIntent(e);
  const cur = fingerprintOf(e);
  const reasons: SignalReason[] = [];
  if (cur.deleting && !prev.deleting) reasons.push(SignalReason.Deletion);
  if (cur.generation !== prev.generation) reasons.push(SignalReason.Generation);
  const opChanged = cur.operation !== prev.operation;
  if (
    (opChanged && isTriggeringOperation(cur.operation)) ||
    (opChanged && prev.operation === OperationAnnotation.WaitForState) ||
    (!opChanged && isTriggeringOperation(cur.operation) && cur.timestamp !== prev.timestamp)
  ) {
    reasons.push(SignalReason.OperationAnnotation);
  }
  if (cur.forceDeletion !== undefined && cur.forceDeletion !== prev.forceDeletion)
    reasons.push(SignalReason.ForceDeletion);
  if (cur.keepBackups !== undefined && cur.keepBackups !== prev.keepBackups) reasons.push(SignalReason.KeepBackups);
  if (cur.retentionPeriod !== undefined && cur.retentionPeriod !== prev.retentionPeriod)
    reasons.push(SignalReason.RetentionPeriod);
  return reasons.length ? { kind: 'signal', reasons } : { kind: 'none' };
}

/** What an entry is about, for the `entries by intent` gauge: the operation Gardener's table would pick. */
export function intentCategory(e: WatchedEntry): 'migrate' | 'delete' | 'restore' | 'wait-for-state' | 'reconcile' {
  const op = e.annotations.operation;
  if (op === OperationAnnotation.Migrate) return 'migrate';
  if (e.deletionTimestamp !== undefined) return 'delete';
  if (op === OperationAnnotation.Restore) return 'restore';
  if (op === OperationAnnotation.WaitForState) return 'wait-for-state';
  return 'reconcile';
}

/** `namespace/name` key of a secret. */
export function secretKey(ref: { namespace: string; name: string }): string {
  return `${ref.namespace}/${ref.name}`;
}

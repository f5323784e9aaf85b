/**
 * One durable workflow per BackupEntry: Gardener's generic BackupEntry reconciler re-cast as a Temporal workflow.
 *
 * The workflow never trusts a signal's content about the entry: every pass re-reads the entry (observeEntry) and
 * decides with Gardener's operation table (domain/operation.ts). Signals only say "look again"; operator messages
 * (expedite, cancel cleanup, extend) change the workflow's own state and are recorded with who asked and why.
 * Deterministic: workflow time only, no I/O outside activities, all state carried explicitly across continue-as-new.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import {
  ANNOTATION_FORCE_DELETION,
  ANNOTATION_KEEP_BACKUPS,
  DEFAULT_RETENTION_MS,
  formatBytes,
  DELETION_REFUSED,
  GardenerErrorCode,
  MAX_ACTOR_CHARS,
  MAX_REASON_CHARS,
  MAX_RETENTION_MS,
  Operation,
  Phase,
  SOURCE_PREFIX,
  backoffDelay,
  boundByBytes,
  decideOperation,
  extendDeadline,
  formatDuration,
  formatRfc3339Seconds,
  parseBoolAnnotation,
  parseDuration,
  parseEntryName,
  parseExtendRequest,
  parseOperatorRequest,
  parseRfc3339,
  reconcileReason,
  retentionDeadline,
  safeText,
  type CleanExtendRequest,
  type CleanOperatorRequest,
  type DomainError,
  type Result,
  isRetentionAnchorName,
  retentionAnchorName,
} from '../domain';
import type {
  BackupEntryActivities,
  EtcdSecretRef,
  ObservedEntry,
  SecretReference,
  StatusWrite,
  StorageTarget,
} from '../activities/types';
import type { DeletionReceipt } from '../activities/storage-port';
import { DELETE_ACTIVITY, INVENTORY_ACTIVITY, KUBE_ACTIVITY, KUBE_LOCAL_ACTIVITY } from './activity-options';
import { RETENTION_TIMER_SUMMARY, RETRY_TIMER_SUMMARY } from './timer-summaries';
import { oneAtATime } from './one-at-a-time';
import {
  type DecisionRecord,
  type StatusQueryResult,
  cancelCleanupSignal,
  cancelCleanupUpdate,
  expediteSignal,
  expediteUpdate,
  extendRetentionSignal,
  extendRetentionUpdate,
  reconcileSignal,
  statusQuery,
} from './messages';
import { invalidInput } from './workflow-input';
import {
  BACKUP_BUCKET,
  BACKUP_ENTRY_NAME,
  BACKUP_ENTRY_PHASE,
  BACKUP_ENTRY_TYPE,
  DELETION_SCHEDULED_AT,
} from './search-attributes';

/** Settings that shape the workflow's behaviour; fixed at start and carried across continue-as-new. */
export interface WorkflowSettings {
  /**
   * Retention after deletion when the entry has no retention annotation; superseded by the worker's
   * `BEL_DEFAULT_RETENTION` (reported by observeEntry).
   * @default 72h (DEFAULT_RETENTION_MS)
   */
  defaultRetentionMs: number;
  /** First delay before an operation that failed is tried again; doubles per failure up to `maxRetryDelayMs`. */
  initialRetryDelayMs: number;
  maxRetryDelayMs: number;
  /**
   * Continue-as-new after this many history events even if the server does not suggest it yet (tests use it).
   * @default undefined (only when the server suggests it)
   */
  continueAsNewAfterEvents?: number;
}

/** Defaults of {@link WorkflowSettings}. */
export const DEFAULT_WORKFLOW_SETTINGS: WorkflowSettings = {
  defaultRetentionMs: DEFAULT_RETENTION_MS,
  initialRetryDelayMs: 5_000,
  maxRetryDelayMs: 5 * 60_000,
};

/** Deletion bookkeeping, set when the entry's deletion is first seen. */
interface DeletionState {
  deletionTimestamp: string;
  deadlineMs: number;
  retentionMs: number;
  retentionSource: string;
  inventory?: { objects: number; bytes: number; truncated: boolean };
  receipt?: DeletionReceipt;
  /** Bucket, type and credentials reference fixed when retention started (absent in state from older runs). */
  target?: StorageTarget;
  /** A later spec change was noted once already. */
  specChangeNoted?: boolean;
  /**
   * `BEL_RETENTION_MODE=release-entry`: the BackupEntry's finalizer was released once the retention was registered;
   * the retention record lives on the credentials secret (domain/retention-record.ts) and this workflow carries on.
   */
  entryReleased?: boolean;
  /** The deadline last written into that record (epoch ms). */
  recordedDeadlineMs?: number;
  /**
   * The step that registers the retention (`beginDeletion`) was started but has not been seen to succeed: it may
   * have written the record and released the entry, or not. The next pass re-runs it while the entry exists, and
   * once the entry is gone asks the credentials secret instead of assuming (issue 22: absence is not proof).
   */
  unconfirmed?: boolean;
}

/** Everything the workflow knows; passed whole to the next run on continue-as-new. */
export interface CarriedState {
  phase: Phase;
  /** A pass over the entry is due (a signal arrived, a timer fired, or the run just started). */
  dirty: boolean;
  /** Epoch ms of a retry after an error, if one is scheduled. */
  retryAtMs?: number;
  errorStreak: number;
  type?: string;
  bucket?: string;
  deletion?: DeletionState;
  expedite?: DecisionRecord;
  cancel?: DecisionRecord;
  decisions: DecisionRecord[];
  lastOperation?: { type: string; state: string; description: string; at: string };
  lastError?: { message: string; codes: string[]; at: string };
  etcdBackupSecret?: EtcdSecretRef;
  memoWritten: boolean;
  /**
   * The entry's `spec.secretRef` as last observed, so the secret's finalizer can still be released once the entry is
   * gone and its spec unreadable. Absent in state carried over from runs that predate it (until the next pass).
   */
  secretRef?: SecretReference;
  /** `metadata.uid` of the incarnation this state belongs to (absent in state from older runs until the next pass). */
  uid?: string;
}

/** Input of {@link backupEntryWorkflow}. */
export interface BackupEntryWorkflowInput {
  entryName: string;
  settings?: Partial<WorkflowSettings>;
  /** Set by continue-as-new only. */
  carried?: CarriedState;
  /**
   * Set by the watcher when it finds a retention record (an entry released during retention) on this credentials
   * secret and no workflow running for it: the new run carries the retention on from the record.
   */
  retainedSecret?: SecretReference;
}

/** How the workflow ended. */
export interface BackupEntryWorkflowResult {
  entryName: string;
  phase: Phase;
  outcome: 'deleted' | 'kept' | 'migrated' | 'orphaned' | 'gone';
  deletion?: DeletionReceipt;
  decisions: DecisionRecord[];
}

const kubeRemote = proxyActivities<BackupEntryActivities>(KUBE_ACTIVITY);
const kubeLocal = proxyLocalActivities<BackupEntryActivities>(KUBE_LOCAL_ACTIVITY);
const { inventoryBackups } = proxyActivities<BackupEntryActivities>(INVENTORY_ACTIVITY);
const { deleteBackups } = proxyActivities<BackupEntryActivities>(DELETE_ACTIVITY);

const MAX_DECISIONS = 50;
/** The decision log keeps its newest entries within this many bytes of JSON (status query, continue-as-new input). */
const MAX_DECISION_LOG_BYTES = 32 * 1024;

/**
 * Patch ID of this version's new steps: the accepted deadline and a cancelled cleanup written onto the entry, the
 * keep-backups annotation watched during a deletion, `source-` entries deleted without retention, a best-effort
 * inventory at retention start, the `reconcile` annotation removed on delete, a re-created entry (new uid) starting
 * over. Histories recorded before it replay without these steps.
 */
export const PATCH_PERSIST_DECISIONS = 'persist-operator-decisions';

/** Patch ID of releasing the BackupEntry during retention (`BEL_RETENTION_MODE=release-entry`) and resuming from its record. */
export const PATCH_RELEASE_ENTRY = 'release-entry-during-retention';

/**
 * Patch ID (`patched`) of "release the secretRef secret's finalizer when the entry is found gone". Histories written
 * before it reach workflow completion there without scheduling an activity; they replay without the call.
 */
export const PATCH_RELEASE_SECRET_OF_GONE_ENTRY = 'release-secret-finalizer-of-gone-entry';

/**
 * Patch ID of the seed-scale shape: Kubernetes steps as local activities (one marker each), a reconcile in one step,
 * status writes without a read, search attributes written once per pass and only when a value changed, the inventory
 * counted beside the retention timer instead of before it. Histories recorded before it replay as they were written.
 */
export const PATCH_SEED_SCALE = 'seed-scale-local-steps';

/**
 * Patch ID of the current shape: the seed-scale shape (PATCH_SEED_SCALE) with one local activity in flight at a time
 * (workflows/one-at-a-time.ts) and each operator decision written once per run. Before it, an update handler's write
 * and the main loop's next step could be in flight together, and such a history (update accepted, two markers,
 * update completed, then the main loop's commands) did not replay: the replay put the main loop's next command
 * before the update's completion (TMPRL1100, found by the workflow tier's replay of its own histories).
 */
export const PATCH_ONE_LOCAL_STEP = 'one-local-step-at-a-time';

/** A pass ends either with "wait for the next trigger" or with the workflow's result. */
type PassOutcome = { final: false } | { final: true; result: BackupEntryWorkflowResult };
const CONTINUE: PassOutcome = { final: false };

/**
 * The lifecycle of one BackupEntry, from creation through retention to deletion of its backups (docs/design.md §4).
 * Workflow ID: `workflowIdFor(clusterIdentity, entryName)` (domain/workflow-id.ts).
 */
export async function backupEntryWorkflow(input: BackupEntryWorkflowInput): Promise<BackupEntryWorkflowResult> {
  const invalid =
    invalidInput(input) ??
    (input.carried !== undefined && !workflowInfo().continuedFromExecutionRunId
      ? '"carried" is accepted only on a run continued (continue-as-new) from this workflow, never on a new start'
      : undefined);
  if (invalid) throw ApplicationFailure.nonRetryable(`invalid workflow input: ${invalid}`, 'InvalidWorkflowInput');
  const settings: WorkflowSettings = { ...DEFAULT_WORKFLOW_SETTINGS, ...input.settings };
  const name = input.entryName;
  const s: CarriedState = input.carried ?? initialState();
  s.decisions = boundByBytes(s.decisions, MAX_DECISION_LOG_BYTES, MAX_DECISIONS);
  const identity = parseEntryName(name);
  const prefix = identity.ok ? identity.value.name.replace(/^source-/, '') + '/' : undefined;
  let deletionScope: CancellationScope | undefined;
  /** The current shape (PATCH_ONE_LOCAL_STEP); false while replaying a history written before it. */
  const current = (): boolean => patched(PATCH_ONE_LOCAL_STEP);
  /**
   * The seed-scale shape (PATCH_SEED_SCALE), which the current one includes; false while replaying a history written
   * before it. New runs record only the current patch's marker.
   */
  const fast = (): boolean => current() || patched(PATCH_SEED_SCALE);
  /**
   * The older patches' behaviour is part of this version's shape: once `fast()` holds they are not asked (each patch
   * costs two history events), and histories that predate this version still ask them where they did.
   */
  const since = (patchId: string): boolean => fast() || patched(patchId);
  /**
   * The Kubernetes steps: local activities one at a time in the current shape, local activities as called in
   * histories of the seed-scale shape, regular activities in older histories.
   */
  const kubeSerial = oneAtATime(kubeLocal);
  const kube = (): BackupEntryActivities => (current() ? kubeSerial : fast() ? kubeLocal : kubeRemote);
  /** The entry as the current pass read it (its writes say what they observed instead of reading again). */
  let passEntry: ObservedEntry | undefined;
  /** The persist write in flight (see `persist`). */
  let persisting: Promise<unknown> = Promise.resolve();
  /** The operation the current pass runs (for its Error status); undefined before the pass has decided. */
  let passOperation: Operation | undefined;
  /** `metadata.generation` the current pass read (its status reports name it as observedGeneration). */
  let passGeneration: number | undefined;

  const record = (r: Omit<DecisionRecord, 'at'>): DecisionRecord => {
    const full = { at: nowIso(), ...r };
    s.decisions = boundByBytes([...s.decisions, full], MAX_DECISION_LOG_BYTES, MAX_DECISIONS);
    log.info('Decision', { entry: name, ...full });
    return full;
  };
  const view = (): StatusQueryResult => ({
    entryName: name,
    phase: s.phase,
    decisions: [...s.decisions],
    summary: summary(s),
    ...(s.type ? { type: s.type } : {}),
    ...(s.bucket ? { bucket: s.bucket } : {}),
    ...(prefix ? { prefix } : {}),
    ...(identity.ok ? { namespace: identity.value.namespace } : {}),
    ...(s.deletion && !s.deletion.receipt
      ? {
          deletionScheduledAt: iso(s.deletion.deadlineMs),
          retention: { periodMs: s.deletion.retentionMs, source: s.deletion.retentionSource },
        }
      : {}),
    ...(s.deletion?.inventory ? { inventory: s.deletion.inventory } : {}),
    ...(s.deletion?.receipt ? { deletion: s.deletion.receipt } : {}),
    ...(s.lastOperation ? { lastOperation: s.lastOperation } : {}),
    ...(s.lastError ? { lastError: s.lastError } : {}),
    ...(s.etcdBackupSecret ? { etcdBackupSecret: s.etcdBackupSecret } : {}),
  });

  // --- operator messages -------------------------------------------------------------------------------------------
  // Every payload is validated (domain/operator-input.ts): an update is refused with the reason, a signal leaves a
  // refusal note in the decision log. No handler throws anything but a refusal, so no payload can fail a task.
  const refusal = {
    expedite(): string | undefined {
      if (s.phase === Phase.Deleting) return `entry ${name} is already deleting its backups`;
      if (s.phase !== Phase.Retaining)
        return `entry ${name} is not being deleted (phase ${s.phase}); there is no retention to expedite`;
      return undefined;
    },
    cancel(): string | undefined {
      if (s.phase !== Phase.Retaining && s.phase !== Phase.Deleting) {
        return `entry ${name} is not being deleted (phase ${s.phase}); there is no cleanup to cancel`;
      }
      return s.cancel ? `cleanup of ${name} was already cancelled by ${s.cancel.by}` : undefined;
    },
    extend(req: CleanExtendRequest): Result<number, string> {
      if (s.phase !== Phase.Retaining || !s.deletion)
        return { ok: false, error: `entry ${name} is not retaining backups (phase ${s.phase}); nothing to extend` };
      return extendDeadline(req, s.deletion.deadlineMs, deletionMsOf(s.deletion));
    },
  };
  /** A validated request, or the refusal (shape first, then whether it applies now). */
  const check = <T>(parsed: Result<T, string>, applies: (req: T) => string | undefined): Result<T, string> => {
    if (!parsed.ok) return parsed;
    const why = applies(parsed.value);
    return why ? { ok: false, error: why } : parsed;
  };
  const checkExpedite = (raw: unknown) => check(parseOperatorRequest(raw), () => refusal.expedite());
  const checkCancel = (raw: unknown) => check(parseOperatorRequest(raw), () => refusal.cancel());
  const checkExtend = (raw: unknown): Result<{ req: CleanExtendRequest; target: number }, string> => {
    const parsed = parseExtendRequest(raw);
    if (!parsed.ok) return parsed;
    const target = refusal.extend(parsed.value);
    return target.ok ? { ok: true, value: { req: parsed.value, target: target.value } } : target;
  };

  /**
   * Writes the accepted deadline / a cancelled cleanup where a new run reads it: onto the entry, or, once the entry was
   * released during retention, into the retention record on its anchor (activities/retention-anchor.ts). False when there was nothing to
   * write it on.
   */
  const persist = (what: { deadline?: true; keep?: true }): Promise<boolean> => {
    // One write at a time, each with the state as it is when it runs: an update handler and a pass persisting at once
    // could otherwise land in the wrong order and leave an older (earlier) deadline written last.
    const run = persisting.then(() => persistNow(what));
    persisting = run.catch(() => undefined);
    return run;
  };
  /** What this run last wrote successfully, so that the same decision is not written twice (PATCH_ONE_LOCAL_STEP). */
  let persisted: { uid?: string; released?: boolean; deadlineMs?: number; keep?: boolean } = {};
  const persistNow = async (what: { deadline?: true; keep?: true }): Promise<boolean> => {
    const del = s.deletion;
    if (!s.uid || !del || !since(PATCH_PERSIST_DECISIONS)) return false;
    const deadlineMs = del.deadlineMs;
    const keep = what.keep === true || s.cancel !== undefined;
    const released = Boolean(del.entryReleased && del.target);
    const same = persisted.uid === s.uid && persisted.released === released;
    const already =
      same &&
      (released
        ? persisted.deadlineMs === deadlineMs && persisted.keep === keep
        : (!what.deadline || persisted.deadlineMs === deadlineMs) && (!what.keep || persisted.keep === true));
    if (already && current()) return true;
    if (released && del.target) {
      const written = await kube().recordRetention(name, del.target.secretRef, {
        workflowId: workflowInfo().workflowId,
        uid: s.uid,
        type: del.target.type,
        bucketName: del.target.bucketName,
        deletionTimestamp: del.deletionTimestamp,
        deletionDeadline: iso(deadlineMs),
        ...(keep ? { keepBackups: true } : {}),
      });
      if (written) {
        del.recordedDeadlineMs = deadlineMs;
        persisted = { uid: s.uid, released, deadlineMs, keep };
      }
      return written;
    }
    const written = await kube().persistDecision(name, {
      uid: s.uid,
      ...(what.deadline ? { deletionDeadline: iso(deadlineMs) } : {}),
      ...(what.keep ? { keepBackups: true } : {}),
    });
    if (written) {
      persisted = {
        uid: s.uid,
        released,
        deadlineMs: what.deadline ? deadlineMs : same ? persisted.deadlineMs : undefined,
        keep: what.keep ? true : same ? persisted.keep : undefined,
      };
    }
    return written;
  };

  /**
   * `BEL_RETENTION_MODE=release-entry`: once the retention is registered, write the retention record on the anchor beside the credentials
   * secret and release the BackupEntry, so gardenlet finishes its deletion in seconds instead of re-running its delete
   * loop every 5 s for the whole retention (docs/adr/0003). Our finalizer on the secret keeps the credentials readable.
   */
  const releaseEntry = async (del: DeletionState): Promise<void> => {
    del.entryReleased = true;
    if (!(await persist({ deadline: true }))) {
      del.entryReleased = false; // no secret to keep the record on: keep holding the entry instead
      return;
    }
    await kube().releaseFinalizers(name, { secret: false });
    noteReleased(del);
  };
  /** `namespace/name` of this entry's retention anchor beside the credentials `ref` (activities/retention-anchor.ts). */
  const anchorOf = (ref: SecretReference): string =>
    `${ref.namespace}/${isRetentionAnchorName(ref.name) ? ref.name : retentionAnchorName(name)}`;
  const noteReleased = (del: DeletionState): void => {
    record({
      action: 'note',
      by: 'controller',
      reason: 'entry released during retention',
      outcome:
        `the BackupEntry was released (BEL_RETENTION_MODE=release-entry); retention continues on this workflow until ` +
        `${iso(del.deadlineMs)}, recorded on its retention anchor, secret ${anchorOf(del.target!.secretRef)}`,
    });
  };

  /** The entry as the deletion flow sees it once it was released: what was pinned at retention start. */
  const releasedView = (del: DeletionState): ObservedEntry => ({
    exists: false,
    name,
    uid: s.uid ?? '',
    generation: 0,
    deletionTimestamp: del.deletionTimestamp,
    type: del.target!.type,
    class: 'shoot',
    bucketName: del.target!.bucketName,
    region: '',
    secretRef: { ...del.target!.secretRef },
    annotations: {},
    hasFinalizer: false,
  });
  const doExpedite = (req: CleanOperatorRequest): DecisionRecord => {
    const d = record({
      action: 'expedite',
      by: req.by,
      reason: req.reason,
      outcome: 'retention ended early; deleting backups now',
    });
    s.expedite = d;
    s.dirty = true;
    return d;
  };
  const doCancel = (req: CleanOperatorRequest): DecisionRecord => {
    const during = s.phase === Phase.Deleting ? 'deletion stopped; remaining objects are kept' : 'every object is kept';
    const d = record({
      action: 'cancel-cleanup',
      by: req.by,
      reason: req.reason,
      outcome: `${during}; finalizers released`,
    });
    s.cancel = d;
    s.dirty = true;
    deletionScope?.cancel();
    return d;
  };
  const doExtend = ({ req, target }: { req: CleanExtendRequest; target: number }): DecisionRecord => {
    s.deletion!.deadlineMs = target;
    s.deletion!.retentionSource = 'extended';
    s.dirty = true;
    return record({
      action: 'extend',
      by: req.requestedBy,
      reason: req.reason,
      outcome: `deadline moved to ${iso(target)}`,
    });
  };
  const refuse = (action: string, raw: unknown, why: string): void => {
    const o = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
    const said = (v: unknown, max: number): string | undefined =>
      typeof v === 'string' ? safeText(v, max) || undefined : undefined;
    record({
      action: 'refused',
      by: said(o.by ?? o.requestedBy, MAX_ACTOR_CHARS) ?? 'unknown',
      reason: said(o.reason, MAX_REASON_CHARS) ?? '(none given)',
      outcome: `${action} ignored: ${why}`,
    });
  };
  /** The update's refusal: an ApplicationFailure (type `Refused`), shown as is by the Web UI and the CLI. */
  const orRefuse = <T>(r: Result<T, string>): T => {
    if (!r.ok) throw ApplicationFailure.create({ message: r.error, type: 'Refused', nonRetryable: true });
    return r.value;
  };

  setHandler(
    reconcileSignal,
    (intent: unknown) => {
      s.dirty = true;
      log.debug('Reconcile intent', { entry: name, reason: reconcileReason(intent) });
    },
    {
      description: 'Watcher: the BackupEntry changed; re-read it and act (payload: {reason}; any payload is accepted).',
    },
  );
  setHandler(expediteUpdate, (raw: unknown) => doExpedite(orRefuse(checkExpedite(raw))), {
    validator: (raw: unknown) => {
      orRefuse(checkExpedite(raw));
    },
    description: 'End the retention period now and delete the backups. Input: {"reason": "...", "by": "..."}.',
  });
  setHandler(
    expediteSignal,
    (raw: unknown) => {
      const r = checkExpedite(raw);
      if (r.ok) doExpedite(r.value);
      else refuse('expedite', raw, r.error);
    },
    { description: 'Signal form of expedite: ends retention now; recorded as a note when it does not apply.' },
  );
  setHandler(
    cancelCleanupUpdate,
    async (raw: unknown) => {
      const d = doCancel(orRefuse(checkCancel(raw)));
      await persist({ keep: true });
      return d;
    },
    {
      validator: (raw: unknown) => {
        orRefuse(checkCancel(raw));
      },
      description:
        'Keep every backup object of this deleted entry, release the finalizers and end as Kept. Input: {"reason": "...", "by": "..."}.',
    },
  );
  setHandler(
    cancelCleanupSignal,
    (raw: unknown) => {
      const r = checkCancel(raw);
      if (r.ok) doCancel(r.value);
      else refuse('cancel-cleanup', raw, r.error);
    },
    { description: 'Signal form of cancelCleanup: keeps the backups; recorded as a note when it does not apply.' },
  );
  setHandler(
    extendRetentionUpdate,
    async (raw: unknown) => {
      const d = doExtend(orRefuse(checkExtend(raw)));
      await persist({ deadline: true });
      return d;
    },
    {
      validator: (raw: unknown) => {
        orRefuse(checkExtend(raw));
      },
      description:
        'Move the retention deadline later, never earlier. At most 10 years after the deletion. Input: {"by": "24h"} or {"until": "2026-12-01T00:00:00Z"}, plus "reason" and optionally "requestedBy".',
    },
  );
  setHandler(
    extendRetentionSignal,
    (raw: unknown) => {
      const r = checkExtend(raw);
      if (r.ok) doExtend(r.value);
      else refuse('extend', raw, r.error);
    },
    { description: 'Signal form of extendRetention; recorded as a note when it does not apply.' },
  );
  setHandler(statusQuery, view, {
    description: 'Phase, deletion deadline, inventory, last operation, deletion receipt and decision log.',
  });

  // --- status helpers ------------------------------------------------------------------------------------------------
  const setPhase = (phase: Phase): void => {
    if (s.phase !== phase) log.info('Phase', { entry: name, from: s.phase, to: phase });
    s.phase = phase;
    if (!fast()) {
      upsertSearchAttributes([
        { key: BACKUP_ENTRY_PHASE, value: phase },
        {
          key: DELETION_SCHEDULED_AT,
          value: phase === Phase.Retaining && s.deletion ? new Date(s.deletion.deadlineMs) : null,
        },
      ]);
    }
    setCurrentDetails(summary(s));
  };
  /**
   * The search attributes the Web UI filters on, written once at the end of a pass and only those whose value
   * changed (each upsert is a history event); older histories upserted at every phase change instead.
   */
  const flushAttributes = (): void => {
    const have = workflowInfo().typedSearchAttributes;
    const deadline = s.phase === Phase.Retaining && s.deletion ? s.deletion.deadlineMs : null;
    const changed = [
      ...(have.get(BACKUP_ENTRY_PHASE) !== s.phase ? [{ key: BACKUP_ENTRY_PHASE, value: s.phase }] : []),
      ...((have.get(DELETION_SCHEDULED_AT)?.getTime() ?? null) !== deadline
        ? [{ key: DELETION_SCHEDULED_AT, value: deadline === null ? null : new Date(deadline) }]
        : []),
      ...(have.get(BACKUP_ENTRY_NAME) !== name ? [{ key: BACKUP_ENTRY_NAME, value: name }] : []),
      ...(s.type && have.get(BACKUP_ENTRY_TYPE) !== s.type ? [{ key: BACKUP_ENTRY_TYPE, value: s.type }] : []),
      ...(s.bucket && have.get(BACKUP_BUCKET) !== s.bucket ? [{ key: BACKUP_BUCKET, value: s.bucket }] : []),
    ];
    if (changed.length > 0) upsertSearchAttributes(changed as Parameters<typeof upsertSearchAttributes>[0]);
  };
  const report = async (r: StatusWrite): Promise<void> => {
    if (fast() && s.deletion?.entryReleased) {
      // The entry was released and is gone (or going): there is no status left to write.
    } else if (fast() && passEntry?.exists) {
      await kube().writeStatus(name, { ...r, ...observedOf(passEntry) });
    } else {
      await kube().writeStatus(name, passGeneration !== undefined ? { ...r, generation: passGeneration } : r);
    }
    const state = { processing: 'Processing', error: 'Error', succeeded: 'Succeeded', pending: 'Pending' }[r.kind];
    s.lastOperation = { type: r.operation, state, description: r.description, at: nowIso() };
    if (r.kind === 'succeeded' || r.kind === 'pending') s.lastError = undefined;
  };
  const final = (phase: Phase, outcome: BackupEntryWorkflowResult['outcome']): PassOutcome => {
    setPhase(phase);
    return {
      final: true,
      result: {
        entryName: name,
        phase,
        outcome,
        decisions: [...s.decisions],
        ...(s.deletion?.receipt ? { deletion: s.deletion.receipt } : {}),
      },
    };
  };

  /** Releases our finalizers (secret first); the remembered secretRef stands in for the spec of a vanished entry. */
  const release = (opts: { secret: boolean; allEntryFinalizers?: boolean }): Promise<void> =>
    kube().releaseFinalizers(name, { ...opts, ...(opts.secret && s.secretRef ? { secretRef: s.secretRef } : {}) });

  // --- operations ----------------------------------------------------------------------------------------------------
  const reconcile = async (entry: ObservedEntry, op: Operation): Promise<PassOutcome> => {
    if (fast()) {
      setPhase(Phase.Reconciling);
      s.etcdBackupSecret = await kube().reconcileEntry(name, { operation: op, entry });
      const state = 'Succeeded';
      s.lastOperation = { type: op, state, description: 'Successfully reconciled BackupEntry', at: nowIso() };
      s.lastError = undefined;
      setPhase(Phase.Ready);
      return CONTINUE;
    }
    if (entry.annotations.operation === 'reconcile') await kube().removeOperationAnnotation(name, 'reconcile');
    setPhase(Phase.Reconciling);
    await kube().ensureFinalizers(name);
    await report({ kind: 'processing', operation: op, description: 'Reconciling the BackupEntry' });
    s.etcdBackupSecret = await kube().provisionEtcdBackupSecret(name);
    await report({ kind: 'succeeded', operation: op, description: 'Successfully reconciled BackupEntry' });
    if (op === Operation.Restore) await kube().removeOperationAnnotation(name, 'restore');
    setPhase(Phase.Ready);
    return CONTINUE;
  };

  const migrate = async (): Promise<PassOutcome> => {
    // Gardener's order: status, then finalizers (secret, then all of the entry's), then the annotation.
    // The bucket and the etcd-backup secret are never touched: the destination seed takes over.
    await report({ kind: 'processing', operation: Operation.Migrate, description: 'Migrating the BackupEntry' });
    await report({ kind: 'succeeded', operation: Operation.Migrate, description: 'Successfully migrated BackupEntry' });
    await release({ secret: true, allEntryFinalizers: true });
    await kube().removeOperationAnnotation(name, 'migrate');
    return final(Phase.Migrated, 'migrated');
  };

  const keepBackups = async (): Promise<PassOutcome> => {
    const who = s.cancel ? `${s.cancel.by}: ${s.cancel.reason}` : 'keep-backups annotation';
    await persist({ keep: true });
    let kept = '';
    try {
      const inv = await inventoryBackups(name, s.deletion?.target);
      kept = ` (${inv.objects} objects, ${bytes(inv.bytes)} kept under ${prefix})`;
    } catch {
      kept = ` (objects kept under ${prefix})`;
    }
    await report({
      kind: 'succeeded',
      operation: Operation.Delete,
      description: `Cleanup cancelled by ${who}; backups kept${kept}`,
    });
    if (!(fast() && s.deletion?.entryReleased)) {
      await kube().recordEvent(name, {
        type: 'Warning',
        reason: 'BackupsKept',
        message: `Cleanup cancelled by ${who}; backups kept${kept}`,
        ...uidOf(passEntry),
      });
    }
    await release({ secret: true });
    return final(Phase.Kept, 'kept');
  };

  /** The retention of a just-deleted entry: its deadline, where the period came from, and a warning to show. */
  const retentionOf = (
    entry: ObservedEntry,
    deletedMs: number,
  ): { deadlineMs: number; retentionMs: number; source: string; warning?: DomainError } => {
    // Control-plane migration: gardenlet waits at most 10 minutes for a `source-` entry to go, so it is never retained
    // (and gardenlet's force-deletion annotation never reaches the extension object).
    if (name.startsWith(SOURCE_PREFIX) && since(PATCH_PERSIST_DECISIONS)) {
      return { deadlineMs: deletedMs, retentionMs: 0, source: 'control-plane migration copy: not retained' };
    }
    const r = retentionDeadline({
      deletionTimestampMs: deletedMs,
      defaultRetentionMs: entry.defaultRetentionMs ?? settings.defaultRetentionMs,
      ...(entry.annotations.retentionPeriod !== undefined ? { annotation: entry.annotations.retentionPeriod } : {}),
    });
    const accepted = acceptedDeadline(entry, deletedMs);
    const base =
      accepted !== undefined && accepted > r.deadlineMs
        ? { deadlineMs: accepted, retentionMs: accepted - deletedMs, source: 'accepted by an earlier run' }
        : { deadlineMs: r.deadlineMs, retentionMs: r.retentionMs, source: r.source as string };
    return r.warning ? { ...base, warning: r.warning } : base;
  };

  /** The secretRef secret is gone at deletion: Gardener releases the finalizer without cleanup (gardener/gardener#2557); so do we, loudly. */
  const orphaned = async (entry: ObservedEntry): Promise<PassOutcome> => {
    const msg =
      `secret ${entry.secretRef.namespace}/${entry.secretRef.name} is gone, so the backups under ${prefix} in ` +
      `bucket ${entry.bucketName} cannot be deleted and stay behind`;
    record({ action: 'note', by: 'controller', reason: 'secretRef missing at deletion', outcome: msg });
    await kube().recordEvent(name, { type: 'Warning', reason: 'BackupsOrphaned', message: msg, ...uidOf(entry) });
    await release({ secret: false });
    return final(Phase.Orphaned, 'orphaned');
  };

  /** A deletion first seen, in the shape of histories written before PATCH_SEED_SCALE (one activity per step). */
  const startDeletion = async (entry: ObservedEntry): Promise<PassOutcome | undefined> => {
    // This version writes Pending (or the deletion's Processing) right after, in the same workflow task.
    if (!fast())
      await report({ kind: 'processing', operation: Operation.Delete, description: 'Deleting the BackupEntry' });
    if (!(await kube().secretRefExists(name))) return orphaned(entry);
    const deletedAt = parseRfc3339(entry.deletionTimestamp!);
    const r = retentionOf(entry, deletedAt.ok ? deletedAt.value : Date.now());
    if (r.warning) {
      record({ action: 'note', by: 'controller', reason: r.warning.reason, outcome: r.warning.message });
      await kube().recordEvent(name, {
        type: 'Warning',
        reason: r.warning.reason,
        message: r.warning.message,
        ...uidOf(entry),
      });
    }
    const secret = await kube().deleteEtcdBackupSecret(name);
    if (secret === 'kept-created-by-other') {
      record({
        action: 'note',
        by: 'controller',
        reason: 'etcd-backup secret belongs to another entry',
        outcome: 'secret left in place',
      });
    }
    // What is deleted is fixed now: a later edit of the spec never redirects the deletion (see noteSpecChange).
    const target: StorageTarget = { type: entry.type, bucketName: entry.bucketName, secretRef: { ...entry.secretRef } };
    let inventory: DeletionState['inventory'];
    if (fast()) {
      // Counted beside the retention timer, not before it: the timer starts in this workflow task.
      if (r.deadlineMs > Date.now()) countInBackground(target);
    } else if (since(PATCH_PERSIST_DECISIONS)) {
      // Best effort: a bucket or credentials gone at this point must not block keep-backups or cancel-cleanup.
      try {
        inventory = await inventoryBackups(name, target);
      } catch (err) {
        record({
          action: 'note',
          by: 'controller',
          reason: 'inventory failed',
          outcome: `objects not counted: ${describeFailure(err).message}`,
        });
      }
    } else {
      inventory = await inventoryBackups(name);
    }
    s.deletion = {
      deletionTimestamp: entry.deletionTimestamp!,
      deadlineMs: r.deadlineMs,
      retentionMs: r.retentionMs,
      retentionSource: r.source,
      ...(inventory ? { inventory } : {}),
      target,
    };
    const what = inventory ? `${inventory.objects} objects (${bytes(inventory.bytes)})` : 'the objects';
    record({
      action: 'retention-start',
      by: 'controller',
      reason: `retention ${formatDuration(r.retentionMs)} (${r.source})`,
      outcome: `${what} under ${prefix} in bucket ${target.bucketName} are deleted at ${iso(r.deadlineMs)}`,
    });
    return undefined;
  };

  /** The Pending status of a retained entry: until when, and how to change it. */
  const pendingReport = (deadlineMs: number, inv?: DeletionState['inventory']): StatusWrite => ({
    kind: 'pending',
    operation: Operation.Delete,
    description:
      `Backups are retained until ${iso(deadlineMs)}${inv ? ` (${inv.objects} objects, ${bytes(inv.bytes)})` : ''}; ` +
      `to delete them now annotate ${ANNOTATION_FORCE_DELETION}=true or run "expedite", ` +
      `to keep them annotate ${ANNOTATION_KEEP_BACKUPS}=true or run "cancel-cleanup"`,
  });

  /**
   * A deletion first seen, in this version's shape: the retention is decided without I/O, then one local activity
   * checks the credentials, deletes the etcd-backup secret, writes Pending and records the deadline (or releases the
   * entry); the retention timer starts when this workflow task completes, and the inventory is counted beside it.
   */
  const beginDeletion = async (entry: ObservedEntry): Promise<PassOutcome | undefined> => {
    const deletedAt = parseRfc3339(entry.deletionTimestamp!);
    const r = retentionOf(entry, deletedAt.ok ? deletedAt.value : Date.now());
    const target: StorageTarget = {
      type: entry.type,
      bucketName: entry.bucketName,
      secretRef: { ...entry.secretRef },
      uid: entry.uid,
    };
    const del: DeletionState = {
      deletionTimestamp: entry.deletionTimestamp!,
      deadlineMs: r.deadlineMs,
      retentionMs: r.retentionMs,
      retentionSource: r.source,
      target,
      unconfirmed: true,
    };
    s.deletion = del;
    // The annotations are applied (and recorded) after retention-start, as before; whether they end it now is known here.
    const says = (v: string | undefined): boolean => {
      const b = v !== undefined ? parseBoolAnnotation(v) : undefined;
      return b?.ok === true && b.value;
    };
    const retain =
      !s.cancel &&
      !s.expedite &&
      !says(entry.annotations.forceDeletion) &&
      !says(entry.annotations.keepBackups) &&
      Date.now() < del.deadlineMs;
    const release = retain && entry.retentionMode === 'release-entry';
    const deadline = iso(del.deadlineMs);
    const res = await kube().beginDeletion(name, {
      entry,
      ...(retain ? { pending: { ...pendingReport(del.deadlineMs), ...observedOf(entry) } } : {}),
      ...(release
        ? {
            record: {
              workflowId: workflowInfo().workflowId,
              uid: entry.uid,
              type: target.type,
              bucketName: target.bucketName,
              deletionTimestamp: del.deletionTimestamp,
              deletionDeadline: deadline,
            },
          }
        : {}),
      ...(retain && !release && entry.annotations.deletionDeadline !== deadline
        ? { decision: { uid: entry.uid, deletionDeadline: deadline } }
        : {}),
    });
    del.unconfirmed = undefined;
    if (!res.secretRefExists) {
      s.deletion = undefined;
      return orphaned(entry);
    }
    if (r.warning) {
      record({ action: 'note', by: 'controller', reason: r.warning.reason, outcome: r.warning.message });
      await kube().recordEvent(name, {
        type: 'Warning',
        reason: r.warning.reason,
        message: r.warning.message,
        ...uidOf(entry),
      });
    }
    if (res.etcdSecret === 'kept-created-by-other') {
      record({
        action: 'note',
        by: 'controller',
        reason: 'etcd-backup secret belongs to another entry',
        outcome: 'secret left in place',
      });
    }
    record({
      action: 'retention-start',
      by: 'controller',
      reason: `retention ${formatDuration(r.retentionMs)} (${r.source})`,
      outcome: `the objects under ${prefix} in bucket ${target.bucketName} are deleted at ${deadline}`,
    });
    if (retain)
      s.lastOperation = {
        type: Operation.Delete,
        state: 'Pending',
        description: pendingReport(del.deadlineMs).description,
        at: nowIso(),
      };
    if (res.released) {
      del.entryReleased = true;
      del.recordedDeadlineMs = del.deadlineMs;
      noteReleased(del);
    }
    if (retain) countInBackground(target);
    return undefined;
  };

  /** Counts the objects under the prefix while the retention runs; the count shows in the status query and summary. */
  const countInBackground = (target: StorageTarget): void => {
    void inventoryBackups(name, target).then(
      (inv) => {
        if (!s.deletion || s.deletion.target !== target) return; // re-created meanwhile: the count is stale
        s.deletion.inventory = inv;
        record({
          action: 'note',
          by: 'controller',
          reason: 'inventory',
          outcome: `${inv.objects} objects (${bytes(inv.bytes)}) under ${prefix} in bucket ${target.bucketName}${inv.truncated ? ' (counting stopped at its limit)' : ''}`,
        });
        setCurrentDetails(summary(s));
      },
      (err: unknown) => {
        if (s.deletion?.target === target)
          record({
            action: 'note',
            by: 'controller',
            reason: 'inventory failed',
            outcome: `objects not counted: ${describeFailure(err).message}`,
          });
      },
    );
  };

  /** A deadline written on the entry (by an earlier run, or by hand), bounded to 10 years after the deletion. */
  const acceptedDeadline = (entry: ObservedEntry, deletedMs: number): number | undefined => {
    const text = entry.annotations.deletionDeadline;
    const t = text !== undefined ? parseRfc3339(text) : undefined;
    return t?.ok ? Math.min(t.value, deletedMs + MAX_RETENTION_MS) : undefined;
  };

  /** Gardener forbids spec changes on a deleting entry; where that is not enforced, say so once and keep the target. */
  const noteSpecChange = (entry: ObservedEntry): void => {
    const t = s.deletion?.target;
    if (!t || s.deletion!.specChangeNoted) return;
    if (
      entry.type === t.type &&
      entry.bucketName === t.bucketName &&
      entry.secretRef.name === t.secretRef.name &&
      entry.secretRef.namespace === t.secretRef.namespace
    )
      return;
    s.deletion!.specChangeNoted = true;
    record({
      action: 'note',
      by: 'controller',
      reason: 'spec changed after deletion',
      outcome:
        `the entry now says type ${entry.type}, bucket ${entry.bucketName}, secret ${entry.secretRef.namespace}/${entry.secretRef.name}; ` +
        `ignored: the backups are deleted where they were when retention started (type ${t.type}, bucket ${t.bucketName}, ` +
        `secret ${t.secretRef.namespace}/${t.secretRef.name})`,
    });
  };

  /** Annotations an operator with only kubectl uses to steer a deletion (docs/design.md §4). */
  const applyAnnotations = (entry: ObservedEntry): void => {
    const force = entry.annotations.forceDeletion;
    if (force !== undefined && !s.expedite && s.phase !== Phase.Deleting) {
      const v = parseBoolAnnotation(force);
      if (v.ok && v.value) doExpedite({ by: 'kubectl-annotation', reason: `${ANNOTATION_FORCE_DELETION}=${force}` });
      else if (!v.ok && !s.decisions.some((d) => d.reason === v.error.message)) {
        record({
          action: 'note',
          by: 'kubectl-annotation',
          reason: v.error.message,
          outcome: 'force-deletion ignored',
        });
      }
    }
    const keep = entry.annotations.keepBackups;
    if (keep !== undefined && !s.cancel) {
      const v = parseBoolAnnotation(keep);
      if (v.ok && v.value) doCancel({ by: 'kubectl-annotation', reason: `${ANNOTATION_KEEP_BACKUPS}=${keep}` });
    }
    const del = s.deletion;
    if (!del || del.receipt || s.phase === Phase.Deleting) return;
    const deletedMs = deletionMsOf(del);
    const period = entry.annotations.retentionPeriod;
    const d = period !== undefined ? parseDuration(period) : undefined;
    if (d?.ok && deletedMs + d.value > del.deadlineMs && !name.startsWith(SOURCE_PREFIX)) {
      doExtend({
        req: { requestedBy: 'kubectl-annotation', reason: `retention-period annotation changed to ${period}` },
        target: deletedMs + d.value,
      });
    }
    const accepted = acceptedDeadline(entry, deletedMs);
    if (accepted !== undefined && accepted > del.deadlineMs) {
      doExtend({
        req: {
          requestedBy: 'kubectl-annotation',
          reason: `deletion-deadline annotation says ${entry.annotations.deletionDeadline}`,
        },
        target: accepted,
      });
    }
  };

  /**
   * While the backups are being deleted, a `reconcile` signal (the watcher saw the entry change) is answered here:
   * the keep-backups annotation stops the deletion as cancel-cleanup does. Returns a function that ends the watch.
   */
  const watchKeepBackupsDuringDeletion = (): (() => Promise<void>) => {
    let deleting = true;
    const watching = (async () => {
      while (deleting) {
        await condition(() => s.dirty || !deleting);
        if (!deleting) return;
        s.dirty = false;
        try {
          const e = await kube().observeEntry(name);
          const keep = e.exists && e.uid === s.uid ? e.annotations.keepBackups : undefined;
          const v = keep !== undefined ? parseBoolAnnotation(keep) : undefined;
          if (deleting && !s.cancel && v?.ok && v.value)
            doCancel({ by: 'kubectl-annotation', reason: `${ANNOTATION_KEEP_BACKUPS}=${keep}` });
        } catch (err) {
          log.warn('Could not look at the entry during the deletion', {
            entry: name,
            error: describeFailure(err).message,
          });
        }
      }
    })();
    return async () => {
      deleting = false;
      await watching;
    };
  };

  const deleteFlow = async (entry: ObservedEntry): Promise<PassOutcome> => {
    if (!entry.hasFinalizer && !s.deletion) return CONTINUE; // never ours (or already released): nothing to clean
    // Gardener removes the reconcile annotation on every operation, delete included (left, it would re-trigger passes).
    if (entry.annotations.operation === 'reconcile' && since(PATCH_PERSIST_DECISIONS))
      await kube().removeOperationAnnotation(name, 'reconcile');
    const keep = entry.annotations.keepBackups;
    if (keep !== undefined) {
      const v = parseBoolAnnotation(keep);
      if (!v.ok)
        throw ApplicationFailure.nonRetryable(
          `${v.error.message}; nothing is deleted until it is fixed`,
          GardenerErrorCode.ConfigurationProblem,
        );
    }
    let registered = false;
    if (s.deletion?.unconfirmed && entry.exists && current()) s.deletion = undefined; // registration failed or timed out: again
    if (!s.deletion) {
      const ended = fast() ? await beginDeletion(entry) : await startDeletion(entry);
      if (ended) return ended;
      registered = fast();
    }
    noteSpecChange(entry);
    applyAnnotations(entry);
    const del = s.deletion!;
    if (s.cancel) return keepBackups();
    if (registered && !s.expedite && Date.now() < del.deadlineMs) {
      setPhase(Phase.Retaining); // beginDeletion wrote the Pending status and the deadline (or released the entry)
      return CONTINUE;
    }
    if (!s.expedite && Date.now() < del.deadlineMs) {
      setPhase(Phase.Retaining);
      const inv = del.inventory;
      await report(pendingReport(del.deadlineMs, inv));
      if (del.entryReleased) {
        if (del.recordedDeadlineMs !== del.deadlineMs) await persist({ deadline: true });
        return CONTINUE;
      }
      if (entry.annotations.deletionDeadline !== iso(del.deadlineMs)) await persist({ deadline: true });
      if (entry.retentionMode === 'release-entry' && del.target && since(PATCH_RELEASE_ENTRY)) await releaseEntry(del);
      return CONTINUE;
    }
    setPhase(Phase.Deleting);
    if (fast()) flushAttributes(); // a deletion can take hours: the Web UI shows it as Deleting meanwhile
    const bucket = del.target?.bucketName ?? entry.bucketName;
    await report({
      kind: 'processing',
      operation: Operation.Delete,
      description: `Deleting the backups under ${prefix} in bucket ${bucket}`,
      progress: 10,
    });
    const stopWatch = since(PATCH_PERSIST_DECISIONS) ? watchKeepBackupsDuringDeletion() : undefined;
    let cancelled = false;
    try {
      deletionScope = new CancellationScope();
      del.receipt = await deletionScope.run(() => (del.target ? deleteBackups(name, del.target) : deleteBackups(name)));
    } catch (err) {
      cancelled = s.cancel !== undefined && isCancellation(err);
      if (!cancelled && refusedDeletion(err) && !entry.exists) return refused(err);
      if (!cancelled) throw err;
    } finally {
      deletionScope = undefined;
      await stopWatch?.();
    }
    const rc = del.receipt;
    if (cancelled || !rc) return keepBackups(); // no receipt without a completed deletion: only cancellation leaves none
    const left = rc.remainingObjects
      ? `; ${rc.remainingObjects} objects remain (${rc.lockedObjects} locked for lifecycle expiry, ${rc.rewrittenObjects} rewritten during deletion)`
      : '';
    const unc = rc.uncountedAfterResume;
    const inferred =
      unc && (unc.objects > 0 || unc.bytes > 0)
        ? `; ${unc.objects} of them (${bytes(unc.bytes)}) deleted by an interrupted attempt after its last checkpoint, counted from the inventory taken before deletion`
        : '';
    const text = `Deleted ${rc.deletedObjects} objects (${bytes(rc.deletedBytes)}) under ${prefix} in ${formatDuration(Math.max(1, Math.round(rc.durationMs / 1000)) * 1000)}${inferred}${left}`;
    await report({ kind: 'succeeded', operation: Operation.Delete, description: text });
    if (!(fast() && del.entryReleased))
      await kube().recordEvent(name, { type: 'Normal', reason: 'BackupsDeleted', message: text, ...uidOf(passEntry) });
    await release({ secret: true });
    return final(Phase.Deleted, 'deleted');
  };

  /**
   * The deletion activity refused (a live entry owns the prefix, or the claim disagrees with the entries): for a run
   * without its BackupEntry nothing will change that, so every object is kept and the run ends, leaving the shared
   * credentials' finalizer to whoever still uses them. (With its entry present a refusal is an Error and retried: the
   * entry's status and the failing-entries alert show it, and the guard decides again on every attempt.)
   */
  const refused = async (err: unknown): Promise<PassOutcome> => {
    const { message } = describeFailure(err);
    sayKept('deletion refused', message, `${message}; every object is kept`);
    await release({ secret: true }); // drops this name's record; the finalizer stays while a live entry needs it
    return final(Phase.Kept, 'kept');
  };

  /** Why every object is kept: in the decision log (`outcome`) and as the last error (`message`). */
  const sayKept = (reason: string, message: string, outcome = message): void => {
    record({ action: 'note', by: 'controller', reason, outcome });
    s.lastError = { message, codes: [GardenerErrorCode.ConfigurationProblem], at: nowIso() };
  };

  /** A BackupEntry re-created under the same name (new uid) starts a fresh lifecycle: nothing of the old one carries over. */
  const startOverIfRecreated = async (entry: ObservedEntry): Promise<void> => {
    const recreated = s.uid !== undefined && s.uid !== '' && entry.uid !== '' && entry.uid !== s.uid;
    const old = s.deletion;
    if (recreated && old?.entryReleased && old.target && !old.receipt) {
      // The new entry's backups go to the same prefix: deleting the old incarnation's now would delete them too.
      await kube().recordRetention(name, old.target.secretRef, undefined);
      record({
        action: 'note',
        by: 'controller',
        reason: 'entry re-created during retention',
        outcome:
          `a new BackupEntry ${name} appeared while the released one was retained; they share the prefix ${prefix}, ` +
          'so the pending deletion is cancelled and every object is kept',
      });
    }
    if (recreated && since(PATCH_PERSIST_DECISIONS)) {
      const decisions = s.decisions;
      for (const key of Object.keys(s)) delete (s as unknown as Record<string, unknown>)[key];
      Object.assign(s, initialState(), { decisions });
      record({
        action: 'note',
        by: 'controller',
        reason: 'entry re-created',
        outcome: `a new BackupEntry ${name} (uid ${entry.uid}) replaced the one this workflow followed; its lifecycle starts afresh`,
      });
    }
    s.uid = entry.uid;
  };

  /**
   * The entry is gone while a retention was registered, or may have been (its registering step failed or timed out
   * after releasing it). Absence is not proof that nothing is left to do: the record on the credentials secret says
   * whether the release happened; a retention that was registered on a held entry whose finalizer someone removed goes
   * on from a record written now. False: nothing can vouch for the retention (the caller keeps the backups).
   */
  const carryOnWithoutEntry = async (del: DeletionState): Promise<boolean> => {
    const target = del.target!;
    const rec = await kube().readRetentionRecord(name, target.secretRef);
    const deadline = rec ? parseRfc3339(rec.deletionDeadline) : undefined;
    const ours =
      rec !== undefined &&
      deadline?.ok === true &&
      rec.workflowId === workflowInfo().workflowId &&
      rec.uid === s.uid &&
      rec.bucketName === target.bucketName &&
      rec.type === target.type;
    if (ours) {
      del.deadlineMs = Math.max(del.deadlineMs, deadline.value); // the later deadline wins
      del.recordedDeadlineMs = deadline.value;
    } else if (del.unconfirmed) {
      return false; // the step may or may not have released the entry: nothing says the retention is ours to finish
    }
    del.unconfirmed = undefined;
    del.entryReleased = true;
    if (!ours && !(await persist({ deadline: true }))) {
      del.entryReleased = false;
      return false; // the credentials secret is gone: the backups cannot be deleted
    }
    record({
      action: 'note',
      by: 'controller',
      reason: 'entry gone during retention',
      outcome:
        `the BackupEntry is gone${ours ? ' (released by an earlier step)' : ''}; retention continues until ` +
        `${iso(del.deadlineMs)}, recorded on its retention anchor, secret ${anchorOf(target.secretRef)}`,
    });
    return true;
  };

  /** Nothing vouches for a retention whose entry vanished: keep every object, say so everywhere, and end. */
  const keepUnverified = (del: DeletionState): PassOutcome => {
    const msg =
      `the BackupEntry vanished while its retention was being registered and no retention record of uid ${s.uid ?? '?'} ` +
      `is on its retention anchor ${anchorOf(del.target!.secretRef)}; the backups under ${prefix} in ` +
      `bucket ${del.target!.bucketName} are kept (delete them by hand once you know they are not needed)`;
    sayKept('retention unverifiable', msg);
    return final(Phase.Orphaned, 'orphaned');
  };

  /** A new run for an entry released during retention: the retention record on its anchor says where it stands. */
  const resumeFromRecord = async (ref: SecretReference, own = false): Promise<boolean> => {
    const rec = await kube().readRetentionRecord(name, ref);
    const deletedAt = rec ? parseRfc3339(rec.deletionTimestamp) : undefined;
    const deadline = rec ? parseRfc3339(rec.deletionDeadline) : undefined;
    if (!rec || rec.workflowId !== workflowInfo().workflowId || !deletedAt?.ok || !deadline?.ok) return false;
    if (own && rec.uid !== s.uid) return false; // this run followed another incarnation
    if (name.startsWith(SOURCE_PREFIX)) {
      // source- entries are never retained without their BackupEntry: such a record was not written by this controller.
      record({
        action: 'note',
        by: 'controller',
        reason: 'retention record refused',
        outcome: `a retention record names ${name}, but source- entries are never released during retention; nothing is deleted`,
      });
      return false;
    }
    // The record is a Secret annotation anybody who may write Secrets there can forge; the search attributes of the
    // previous run are written by the workflow alone. Resume only where they agree, and keep the later deadline.
    // (Histories written before PATCH_ONE_LOCAL_STEP resumed from the record alone, and replay so.)
    // (`own`: this run itself saw the incarnation the record names; its registering task was retried.)
    const checked = current() && !own;
    const pub = checked ? await kube().readPublishedRun(workflowInfo().workflowId, workflowInfo().runId) : undefined;
    const finished = pub?.phase === Phase.Deleted || pub?.phase === Phase.Kept;
    if (checked && (!pub || pub.type !== rec.type || pub.bucket !== rec.bucketName || finished)) {
      const what = !pub
        ? 'Temporal knows no earlier run of this workflow'
        : finished
          ? `the previous run ${pub.runId} ended ${pub.phase}`
          : `the previous run ${pub.runId} published type ${pub.type ?? '?'} and bucket ${pub.bucket ?? '?'}, the record says ${rec.type} and ${rec.bucketName}`;
      record({
        action: 'note',
        by: 'controller',
        reason: 'retention record refused',
        outcome: `${what}; the record is not trusted and nothing is deleted`,
      });
      return false;
    }
    s.uid = rec.uid;
    if (checked) {
      s.type = rec.type; // published again by this run, for the next one to check against
      s.bucket = rec.bucketName;
    }
    s.secretRef = { ...ref };
    s.deletion = {
      deletionTimestamp: rec.deletionTimestamp,
      deadlineMs: Math.min(Math.max(deadline.value, pub?.deadlineMs ?? 0), deletedAt.value + MAX_RETENTION_MS),
      retentionMs: deadline.value - deletedAt.value,
      retentionSource: 'retention record on the retention anchor',
      target: { type: rec.type, bucketName: rec.bucketName, secretRef: { ...ref }, uid: rec.uid },
      entryReleased: true,
      recordedDeadlineMs: deadline.value,
    };
    record({
      action: 'note',
      by: 'controller',
      reason: 'resumed from the retention record',
      outcome: `retention of the released entry continues until ${iso(s.deletion.deadlineMs)}${rec.keepBackups ? '; its cleanup was cancelled' : ''}`,
    });
    if (rec.keepBackups) doCancel({ by: 'retention-record', reason: 'cleanup cancelled before this run' });
    return true;
  };

  const pass = async (): Promise<PassOutcome> => {
    const entry = await kube().observeEntry(name);
    passEntry = entry;
    if (!entry.exists && !s.deletion && input.retainedSecret && since(PATCH_RELEASE_ENTRY))
      await resumeFromRecord(input.retainedSecret);
    // Gone before this run saw its deletion, though it followed the entry: a registering step may have released it in
    // a workflow task that was then retried (e.g. UnhandledCommand when a signal came in as the run completed).
    const vanished = !entry.exists && !s.deletion && Boolean(s.uid) && !FINISHED_PHASES.includes(s.phase) && current();
    if (vanished && s.secretRef) await resumeFromRecord(s.secretRef, true);
    // (Histories written before PATCH_ONE_LOCAL_STEP replay as they were: they took absence for the end.)
    if (
      !entry.exists &&
      s.deletion &&
      !s.deletion.entryReleased &&
      !s.deletion.receipt &&
      s.deletion.target &&
      current()
    ) {
      const carriesOn = await carryOnWithoutEntry(s.deletion);
      if (!carriesOn) return keepUnverified(s.deletion);
    }
    if (!entry.exists && s.deletion?.entryReleased && !s.deletion.receipt) return deleteFlow(releasedView(s.deletion));
    if (!entry.exists) {
      // Whoever removed the entry (our finalizer taken off by hand, or it vanished between our steps) left our
      // finalizer on its secretRef secret, which nothing else would ever remove.
      const released = s.secretRef !== undefined && since(PATCH_RELEASE_SECRET_OF_GONE_ENTRY);
      if (released) await release({ secret: true });
      if (s.deletion?.receipt) return final(Phase.Deleted, 'deleted');
      if (s.phase === Phase.Kept || s.phase === Phase.Migrated || s.phase === Phase.Orphaned)
        return final(s.phase, 'gone');
      const secret = released
        ? `; our finalizer on secret ${s.secretRef!.namespace}/${s.secretRef!.name} was released`
        : '';
      if (vanished && !s.deletion) {
        const msg =
          `the BackupEntry vanished before this workflow saw its deletion (someone removed our finalizer?) and no ` +
          `retention record of it is on its credentials secret${secret}; the backups under ${prefix} are kept: ` +
          'nothing will delete them';
        sayKept('entry vanished', msg);
        return final(Phase.Orphaned, 'orphaned');
      }
      record({
        action: 'note',
        by: 'controller',
        reason: 'entry disappeared',
        outcome: `the BackupEntry no longer exists${secret}; nothing left to do`,
      });
      return final(s.deletion ? Phase.Orphaned : s.phase, 'gone');
    }
    await startOverIfRecreated(entry);
    passGeneration = entry.generation;
    if (entry.secretRef.name && entry.secretRef.namespace) {
      s.secretRef = { namespace: entry.secretRef.namespace, name: entry.secretRef.name };
    }
    const bucket = s.deletion?.target?.bucketName ?? entry.bucketName;
    if (!s.memoWritten || s.type !== entry.type || s.bucket !== bucket) {
      s.type = entry.type;
      s.bucket = bucket;
      if (!fast()) {
        upsertSearchAttributes([
          { key: BACKUP_ENTRY_NAME, value: name },
          { key: BACKUP_ENTRY_TYPE, value: entry.type },
          { key: BACKUP_BUCKET, value: bucket },
        ]);
      }
      upsertMemo({ shootNamespace: identity.ok ? identity.value.namespace : '', bucket, prefix: prefix ?? '' });
      s.memoWritten = true;
    }
    if (!identity.ok) {
      throw ApplicationFailure.nonRetryable(identity.error.message, GardenerErrorCode.ConfigurationProblem);
    }
    const decision = decideOperation({
      ...(entry.annotations.operation ? { operationAnnotation: entry.annotations.operation } : {}),
      ...(entry.deletionTimestamp ? { deletionTimestamp: entry.deletionTimestamp } : {}),
      ...(entry.lastOperation ? { lastOperation: entry.lastOperation } : {}),
    });
    if (decision.kind === 'wait-for-state') return CONTINUE;
    if (decision.kind === 'skip-migrated') return final(Phase.Migrated, 'migrated');
    passOperation = decision.operation;
    switch (decision.operation) {
      case Operation.Migrate:
        return migrate();
      case Operation.Delete:
        return deleteFlow(entry);
      default:
        return reconcile(entry, decision.operation);
    }
  };

  const failed = async (err: unknown): Promise<void> => {
    const { message, codes } = describeFailure(err);
    s.errorStreak += 1;
    // min(max, initial · 2^min(streak − 1, 20)), no jitter: the same delays as before backoffDelay (replay-safe).
    const delay = backoffDelay(Math.min(s.errorStreak, 21), {
      initialMs: settings.initialRetryDelayMs,
      maxMs: settings.maxRetryDelayMs,
    });
    s.retryAtMs = Date.now() + delay;
    s.lastError = { message, codes, at: nowIso() };
    log.warn('Operation failed; retrying later', { entry: name, message, codes, retryInMs: delay });
    const op = passOperation ?? currentOperation(s);
    try {
      const observed = fast() ? observedOf(passEntry) : {};
      await kube().writeStatus(name, {
        kind: 'error',
        operation: op,
        description: message,
        codes: codes as GardenerErrorCode[],
        ...(passGeneration !== undefined ? { generation: passGeneration } : {}),
        ...observed,
      });
      s.lastOperation = { type: op, state: 'Error', description: message, at: nowIso() };
    } catch (statusErr) {
      log.warn('Could not write the Error status', { entry: name, error: describeFailure(statusErr).message });
    }
    if (s.phase !== Phase.Retaining && s.phase !== Phase.Deleting) setPhase(Phase.Error);
    else setCurrentDetails(summary(s));
  };

  // --- main loop -----------------------------------------------------------------------------------------------------
  setCurrentDetails(summary(s));
  for (;;) {
    if (s.dirty) {
      s.dirty = false;
      s.retryAtMs = undefined;
      passOperation = undefined;
      passGeneration = undefined;
      passEntry = undefined;
      try {
        const outcome = await pass();
        s.errorStreak = 0;
        if (fast()) flushAttributes();
        if (outcome.final) {
          await condition(allHandlersFinished);
          return outcome.result;
        }
      } catch (err) {
        if (isCancellation(err) && !s.cancel) throw err; // the workflow itself is being cancelled
        await failed(err);
        if (fast()) flushAttributes();
      }
    }
    const wakeAt = Math.min(
      s.retryAtMs ?? Infinity,
      s.phase === Phase.Retaining && s.deletion && !s.expedite ? s.deletion.deadlineMs : Infinity,
    );
    const canSuggested = (): boolean =>
      workflowInfo().continueAsNewSuggested ||
      (settings.continueAsNewAfterEvents !== undefined &&
        workflowInfo().historyLength >= settings.continueAsNewAfterEvents);
    const timer = { summary: wakeAt === s.retryAtMs ? RETRY_TIMER_SUMMARY : RETENTION_TIMER_SUMMARY };
    const woke =
      wakeAt === Infinity
        ? (await condition(() => s.dirty || canSuggested()), true)
        : wakeAt - Date.now() > 0
          ? await condition(() => s.dirty || canSuggested(), wakeAt - Date.now(), timer)
          : false;
    if (!woke) s.dirty = true; // the retry timer or the retention deadline fired
    if (!s.dirty && canSuggested()) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof backupEntryWorkflow>({ entryName: name, settings, carried: s });
    }
  }
}

// --- pure helpers ----------------------------------------------------------------------------------------------------

/** What a pass read of the entry, for a status report written without reading it again. */
function observedOf(entry: ObservedEntry | undefined): Pick<StatusWrite, 'observed'> {
  return entry?.exists
    ? {
        observed: {
          generation: entry.generation,
          ...(entry.annotations.timestamp !== undefined ? { timestamp: entry.annotations.timestamp } : {}),
        },
      }
    : {};
}

/** The entry's uid for an Event, when the pass read one (saves the activity a read). */
function uidOf(entry: ObservedEntry | undefined): { entryUid?: string } {
  return entry?.exists && entry.uid ? { entryUid: entry.uid } : {};
}

function iso(ms: number): string {
  return formatRfc3339Seconds(ms);
}

function nowIso(): string {
  return iso(Date.now());
}

/** Epoch ms of the entry's deletion (the deadline's base). */
function deletionMsOf(d: DeletionState): number {
  const t = parseRfc3339(d.deletionTimestamp);
  return t.ok ? t.value : d.deadlineMs;
}

/** Phases in which a run has finished with its entry: its absence then says nothing new. */
const FINISHED_PHASES: readonly Phase[] = [Phase.Kept, Phase.Migrated, Phase.Orphaned, Phase.Deleted];

/** State of a run that starts from nothing (also after a re-created entry). */
function initialState(): CarriedState {
  return { phase: Phase.Reconciling, dirty: true, errorStreak: 0, decisions: [], memoWritten: false };
}

const bytes = formatBytes;

function currentOperation(s: CarriedState): Operation {
  if (s.deletion) return Operation.Delete;
  const t = s.lastOperation?.type;
  return t === Operation.Create || t === Operation.Restore || t === Operation.Migrate ? t : Operation.Reconcile;
}

/** The deletion activity's guard refused (domain/deletion-guard.ts): reason {@link DELETION_REFUSED} in the details. */
function refusedDeletion(err: unknown): boolean {
  const app = err instanceof ActivityFailure ? err.cause : err;
  const details =
    app instanceof ApplicationFailure ? (app.details?.[0] as { reason?: unknown } | undefined) : undefined;
  return details?.reason === DELETION_REFUSED;
}

/** Message and Gardener codes of a failure, from the ApplicationFailure the activity raised. */
function describeFailure(err: unknown): { message: string; codes: string[] } {
  const app = err instanceof ActivityFailure ? err.cause : err;
  if (app instanceof ApplicationFailure) {
    const details = app.details?.[0] as { codes?: string[] } | undefined;
    const codes = details?.codes?.length ? details.codes : app.type && app.type.startsWith('ERR_') ? [app.type] : [];
    return { message: app.message, codes };
  }
  return { message: err instanceof Error ? err.message : String(err), codes: [] };
}

/** The one-line story shown as the workflow's current details in the Web UI. */
function summary(s: CarriedState): string {
  const d = s.deletion;
  const inv = d?.inventory
    ? `${d.inventory.objects.toLocaleString('en-US')} objects (${bytes(d.inventory.bytes)})`
    : 'backups';
  switch (s.phase) {
    case Phase.Retaining:
      return `Retaining ${inv} until ${d ? iso(d.deadlineMs).replace('T', ' ').replace('Z', ' UTC') : '?'} — expedite or cancel-cleanup`;
    case Phase.Deleting:
      return `Deleting ${inv}`;
    case Phase.Deleted:
      return `Deleted ${d?.receipt?.deletedObjects ?? 0} objects (${bytes(d?.receipt?.deletedBytes ?? 0)})`;
    case Phase.Kept:
      return `Cleanup cancelled — backups kept (${s.cancel?.by ?? 'annotation'}: ${s.cancel?.reason ?? ''})`;
    case Phase.Error:
      return `Error: ${s.lastError?.message ?? 'unknown'} — retrying`;
    case Phase.Ready: {
      const etcd = s.etcdBackupSecret;
      if (etcd?.skipped)
        return `Ready — no etcd-backup secret: namespace ${etcd.namespace} ${etcd.skipped === 'NamespaceMissing' ? 'does not exist' : 'is terminating'} (written at the next reconcile once it is active)`;
      return `Ready — etcd-backup secret ${etcd ? `${etcd.namespace}/${etcd.name}` : 'provisioned'}`;
    }
    default:
      return s.phase;
  }
}

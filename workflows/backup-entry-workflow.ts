/**
 * One durable workflow per BackupEntry: Gardener's generic BackupEntry reconciler re-cast as a Temporal workflow.
 *
 * The workflow never trusts a signal's content about the entry: every pass re-reads the entry (observeEntry) and
 * decides with Gardener's operation table (domain/operation.ts). Signals only say "look again"; operator messages
 * (expedite, cancel cleanup, extend) change the workflow's own state and are recorded with who asked and why.
 * Deterministic: workflow time only, no I/O outside activities, all state carried explicitly across continue-as-new.
 */
import {
  ActivityFailure, ApplicationFailure, CancellationScope, allHandlersFinished, condition, continueAsNew, isCancellation,
  log, patched, proxyActivities, setCurrentDetails, setHandler, upsertMemo, upsertSearchAttributes, workflowInfo,
} from '@temporalio/workflow';
import {
  ANNOTATION_FORCE_DELETION, ANNOTATION_KEEP_BACKUPS, GardenerErrorCode, Operation, Phase, decideOperation, formatDuration,
  formatRfc3339Seconds, parseBoolAnnotation, parseDuration, parseEntryName, parseRfc3339, retentionDeadline,
} from '../domain';
import type { BackupEntryActivities, EntryView, SecretReference, StatusReport } from '../activities/types';
import type { DeletionReceipt } from '../activities/storage-port';
import { DELETE_ACTIVITY, INVENTORY_ACTIVITY, KUBE_ACTIVITY } from './activity-options';
import {
  type DecisionRecord, type EntryStatusView, type ExtendRequest, type OperatorRequest, cancelCleanupSignal,
  cancelCleanupUpdate, expediteSignal, expediteUpdate, extendRetentionSignal, extendRetentionUpdate, reconcileSignal,
  statusQuery,
} from './messages';
import { BACKUP_BUCKET, BACKUP_ENTRY_NAME, BACKUP_ENTRY_PHASE, BACKUP_ENTRY_TYPE, DELETION_SCHEDULED_AT } from './search-attributes';

/** Settings that shape the workflow's behaviour; fixed at start and carried across continue-as-new. */
export interface WorkflowSettings {
  /** Retention after deletion when the entry has no retention annotation (SPEC §4: 72h). */
  defaultRetentionMs: number;
  /** First delay before an operation that failed is tried again; doubles per failure up to `maxRetryDelayMs`. */
  initialRetryDelayMs: number;
  maxRetryDelayMs: number;
  /** Continue-as-new after this many history events even if the server does not suggest it yet (tests use it). */
  continueAsNewAfterEvents?: number;
}

/** Defaults of {@link WorkflowSettings}. */
export const DEFAULT_WORKFLOW_SETTINGS: WorkflowSettings = {
  defaultRetentionMs: 72 * 3600_000, initialRetryDelayMs: 5_000, maxRetryDelayMs: 5 * 60_000,
};

/** Deletion bookkeeping, set when the entry's deletion is first seen. */
interface DeletionState {
  deletionTimestamp: string;
  deadlineMs: number;
  retentionMs: number;
  retentionSource: string;
  inventory?: { objects: number; bytes: number; truncated: boolean };
  receipt?: DeletionReceipt;
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
  etcdBackupSecret?: { namespace: string; name: string; resourceVersion: string; digest: string };
  memoWritten: boolean;
  /**
   * The entry's `spec.secretRef` as last observed, so the secret's finalizer can still be released once the entry is
   * gone and its spec unreadable. Absent in state carried over from runs that predate it (until the next pass).
   */
  secretRef?: SecretReference;
}

/** Input of {@link backupEntryWorkflow}. */
export interface BackupEntryWorkflowInput {
  entryName: string;
  settings?: Partial<WorkflowSettings>;
  /** Set by continue-as-new only. */
  carried?: CarriedState;
}

/** How the workflow ended. */
export interface BackupEntryWorkflowResult {
  entryName: string;
  phase: Phase;
  outcome: 'deleted' | 'kept' | 'migrated' | 'orphaned' | 'gone';
  deletion?: DeletionReceipt;
  decisions: DecisionRecord[];
}

const kube = proxyActivities<BackupEntryActivities>(KUBE_ACTIVITY);
const { inventoryBackups } = proxyActivities<BackupEntryActivities>(INVENTORY_ACTIVITY);
const { deleteBackups } = proxyActivities<BackupEntryActivities>(DELETE_ACTIVITY);

const MAX_DECISIONS = 50;

/**
 * Patch ID (`patched`) of "release the secretRef secret's finalizer when the entry is found gone". Histories written
 * before it reach workflow completion there without scheduling an activity; they replay without the call.
 */
export const PATCH_RELEASE_SECRET_OF_GONE_ENTRY = 'release-secret-finalizer-of-gone-entry';

/** A pass ends either with "wait for the next trigger" or with the workflow's result. */
type PassOutcome = { final: false } | { final: true; result: BackupEntryWorkflowResult };
const CONTINUE: PassOutcome = { final: false };

/**
 * The lifecycle of one BackupEntry, from creation through retention to deletion of its backups (SPEC §4).
 * Workflow ID: `workflowIdFor(clusterIdentity, entryName)` (domain/workflow-id.ts).
 */
export async function backupEntryWorkflow(input: BackupEntryWorkflowInput): Promise<BackupEntryWorkflowResult> {
  const settings: WorkflowSettings = { ...DEFAULT_WORKFLOW_SETTINGS, ...input.settings };
  const name = input.entryName;
  const s: CarriedState = input.carried ?? { phase: Phase.Reconciling, dirty: true, errorStreak: 0, decisions: [], memoWritten: false };
  const identity = parseEntryName(name);
  const prefix = identity.ok ? identity.value.name.replace(/^source-/, '') + '/' : undefined;
  let deletionScope: CancellationScope | undefined;
  /** The operation the current pass runs (for its Error status); undefined before the pass has decided. */
  let passOperation: Operation | undefined;

  const record = (r: Omit<DecisionRecord, 'at'>): DecisionRecord => {
    const full = { at: nowIso(), ...r };
    s.decisions.push(full);
    if (s.decisions.length > MAX_DECISIONS) s.decisions.splice(0, s.decisions.length - MAX_DECISIONS);
    log.info('Decision', { entry: name, ...full });
    return full;
  };
  const view = (): EntryStatusView => ({
    entryName: name, phase: s.phase, decisions: [...s.decisions], summary: summary(s),
    ...(s.type ? { type: s.type } : {}), ...(s.bucket ? { bucket: s.bucket } : {}), ...(prefix ? { prefix } : {}),
    ...(identity.ok ? { namespace: identity.value.namespace } : {}),
    ...(s.deletion && !s.deletion.receipt ? { deletionScheduledAt: iso(s.deletion.deadlineMs),
      retention: { periodMs: s.deletion.retentionMs, source: s.deletion.retentionSource } } : {}),
    ...(s.deletion?.inventory ? { inventory: s.deletion.inventory } : {}),
    ...(s.deletion?.receipt ? { deletion: s.deletion.receipt } : {}),
    ...(s.lastOperation ? { lastOperation: s.lastOperation } : {}), ...(s.lastError ? { lastError: s.lastError } : {}),
    ...(s.etcdBackupSecret ? { etcdBackupSecret: s.etcdBackupSecret } : {}),
  });

  // --- operator messages -------------------------------------------------------------------------------------------
  const refusal = {
    expedite(): string | undefined {
      if (s.phase === Phase.Deleting) return `entry ${name} is already deleting its backups`;
      if (s.phase !== Phase.Retaining) return `entry ${name} is not being deleted (phase ${s.phase}); there is no retention to expedite`;
      return undefined;
    },
    cancel(): string | undefined {
      if (s.phase !== Phase.Retaining && s.phase !== Phase.Deleting) {
        return `entry ${name} is not being deleted (phase ${s.phase}); there is no cleanup to cancel`;
      }
      return s.cancel ? `cleanup of ${name} was already cancelled by ${s.cancel.by}` : undefined;
    },
    extend(req: ExtendRequest): string | undefined {
      if (s.phase !== Phase.Retaining || !s.deletion) return `entry ${name} is not retaining backups (phase ${s.phase}); nothing to extend`;
      const target = extendTarget(req, s.deletion.deadlineMs);
      if (typeof target === 'string') return target;
      if (target <= s.deletion.deadlineMs) {
        return `extend must move the deadline later: ${iso(target)} is not after the current deadline ${iso(s.deletion.deadlineMs)}`;
      }
      return undefined;
    },
  };
  const doExpedite = (req: OperatorRequest): DecisionRecord => {
    const d = record({ action: 'expedite', by: by(req), reason: req.reason, outcome: 'retention ended early; deleting backups now' });
    s.expedite = d;
    s.dirty = true;
    return d;
  };
  const doCancel = (req: OperatorRequest): DecisionRecord => {
    const during = s.phase === Phase.Deleting ? 'deletion stopped; remaining objects are kept' : 'every object is kept';
    const d = record({ action: 'cancel-cleanup', by: by(req), reason: req.reason, outcome: `${during}; finalizers released` });
    s.cancel = d;
    s.dirty = true;
    deletionScope?.cancel();
    return d;
  };
  const doExtend = (req: ExtendRequest): DecisionRecord => {
    const target = extendTarget(req, s.deletion!.deadlineMs) as number;
    s.deletion!.deadlineMs = target;
    s.deletion!.retentionSource = 'extended';
    s.dirty = true;
    return record({ action: 'extend', by: who(req.requestedBy), reason: req.reason, outcome: `deadline moved to ${iso(target)}` });
  };
  // Signals carry whatever the sender typed (e.g. in the Web UI): a malformed payload is recorded, never thrown.
  const asNote = (action: string, req: Partial<OperatorRequest> | undefined, why: string): void => {
    record({ action: 'refused', by: who(req?.by), reason: typeof req?.reason === 'string' ? req.reason : '(none given)',
      outcome: `${action} ignored: ${why}` });
  };

  setHandler(reconcileSignal, (intent) => {
    s.dirty = true;
    log.debug('Reconcile intent', { entry: name, reason: intent.reason });
  }, { description: 'Watcher: the BackupEntry changed; re-read it and act (payload: {reason}).' });
  setHandler(expediteUpdate, (req) => doExpedite(req), {
    validator: (req) => throwIf(validRequest(req) ?? refusal.expedite()),
    description: 'End the retention period now and delete the backups. Input: {"reason": "...", "by": "..."}.',
  });
  setHandler(expediteSignal, (req) => {
    const why = validRequest(req) ?? refusal.expedite();
    if (why) asNote('expedite', req, why); else doExpedite(req);
  }, { description: 'Signal form of expedite: ends retention now; recorded as a note when it does not apply.' });
  setHandler(cancelCleanupUpdate, (req) => doCancel(req), {
    validator: (req) => throwIf(validRequest(req) ?? refusal.cancel()),
    description: 'Keep every backup object of this deleted entry, release the finalizers and end as Kept. Input: {"reason": "...", "by": "..."}.',
  });
  setHandler(cancelCleanupSignal, (req) => {
    const why = validRequest(req) ?? refusal.cancel();
    if (why) asNote('cancel-cleanup', req, why); else doCancel(req);
  }, { description: 'Signal form of cancelCleanup: keeps the backups; recorded as a note when it does not apply.' });
  setHandler(extendRetentionUpdate, (req) => doExtend(req), {
    validator: (req) => throwIf(validRequest(req) ?? refusal.extend(req)),
    description: 'Move the retention deadline later, never earlier. Input: {"by": "24h"} or {"until": "2026-12-01T00:00:00Z"}, plus "reason" and optionally "requestedBy".',
  });
  setHandler(extendRetentionSignal, (req) => {
    const why = validRequest(req) ?? refusal.extend(req);
    if (why) asNote('extend', req && typeof req === 'object' ? { reason: req.reason, by: req.requestedBy } : undefined, why); else doExtend(req);
  }, { description: 'Signal form of extendRetention; recorded as a note when it does not apply.' });
  setHandler(statusQuery, view, { description: 'Phase, deletion deadline, inventory, last operation, deletion receipt and decision log.' });

  // --- status helpers ------------------------------------------------------------------------------------------------
  const setPhase = (phase: Phase): void => {
    if (s.phase !== phase) log.info('Phase', { entry: name, from: s.phase, to: phase });
    s.phase = phase;
    upsertSearchAttributes([{ key: BACKUP_ENTRY_PHASE, value: phase },
      { key: DELETION_SCHEDULED_AT, value: phase === Phase.Retaining && s.deletion ? new Date(s.deletion.deadlineMs) : null }]);
    setCurrentDetails(summary(s));
  };
  const report = async (r: StatusReport): Promise<void> => {
    await kube.writeStatus(name, r);
    const state = { processing: 'Processing', error: 'Error', succeeded: 'Succeeded', pending: 'Pending' }[r.kind];
    s.lastOperation = { type: r.operation, state, description: r.description, at: nowIso() };
    if (r.kind === 'succeeded') s.lastError = undefined;
  };
  const final = (phase: Phase, outcome: BackupEntryWorkflowResult['outcome']): PassOutcome => {
    setPhase(phase);
    return { final: true, result: { entryName: name, phase, outcome, decisions: [...s.decisions],
      ...(s.deletion?.receipt ? { deletion: s.deletion.receipt } : {}) } };
  };

  /** Releases our finalizers (secret first); the remembered secretRef stands in for the spec of a vanished entry. */
  const release = (opts: { secret: boolean; allEntryFinalizers?: boolean }): Promise<void> =>
    kube.releaseFinalizers(name, { ...opts, ...(opts.secret && s.secretRef ? { secretRef: s.secretRef } : {}) });

  // --- operations ----------------------------------------------------------------------------------------------------
  const reconcile = async (entry: EntryView, op: Operation): Promise<PassOutcome> => {
    if (entry.annotations.operation === 'reconcile') await kube.removeOperationAnnotation(name, 'reconcile');
    setPhase(Phase.Reconciling);
    await kube.ensureFinalizers(name);
    await report({ kind: 'processing', operation: op, description: 'Reconciling the BackupEntry' });
    s.etcdBackupSecret = await kube.provisionEtcdBackupSecret(name);
    await report({ kind: 'succeeded', operation: op, description: 'Successfully reconciled BackupEntry' });
    if (op === Operation.Restore) await kube.removeOperationAnnotation(name, 'restore');
    setPhase(Phase.Ready);
    return CONTINUE;
  };

  const migrate = async (): Promise<PassOutcome> => {
    // Gardener's order: status, then finalizers (secret, then all of the entry's), then the annotation.
    // The bucket and the etcd-backup secret are never touched: the destination seed takes over.
    await report({ kind: 'processing', operation: Operation.Migrate, description: 'Migrating the BackupEntry' });
    await report({ kind: 'succeeded', operation: Operation.Migrate, description: 'Successfully migrated BackupEntry' });
    await release({ secret: true, allEntryFinalizers: true });
    await kube.removeOperationAnnotation(name, 'migrate');
    return final(Phase.Migrated, 'migrated');
  };

  const keepBackups = async (): Promise<PassOutcome> => {
    const who = s.cancel ? `${s.cancel.by}: ${s.cancel.reason}` : 'keep-backups annotation';
    let kept = '';
    try {
      const inv = await inventoryBackups(name);
      kept = ` (${inv.objects} objects, ${bytes(inv.bytes)} kept under ${prefix})`;
    } catch {
      kept = ` (objects kept under ${prefix})`;
    }
    await report({ kind: 'succeeded', operation: Operation.Delete, description: `Cleanup cancelled by ${who}; backups kept${kept}` });
    await kube.recordEvent(name, { type: 'Warning', reason: 'BackupsKept', message: `Cleanup cancelled by ${who}; backups kept${kept}` });
    await release({ secret: true });
    return final(Phase.Kept, 'kept');
  };

  const startDeletion = async (entry: EntryView): Promise<PassOutcome | undefined> => {
    await report({ kind: 'processing', operation: Operation.Delete, description: 'Deleting the BackupEntry' });
    if (!(await kube.secretRefExists(name))) {
      // Gardener releases the finalizer without cleanup here (gardener/gardener#2557); we do the same, loudly.
      const msg = `secret ${entry.secretRef.namespace}/${entry.secretRef.name} is gone, so the backups under ${prefix} in ` +
        `bucket ${entry.bucketName} cannot be deleted and stay behind`;
      record({ action: 'note', by: 'controller', reason: 'secretRef missing at deletion', outcome: msg });
      await kube.recordEvent(name, { type: 'Warning', reason: 'BackupsOrphaned', message: msg });
      await release({ secret: false });
      return final(Phase.Orphaned, 'orphaned');
    }
    const deletedAt = parseRfc3339(entry.deletionTimestamp!);
    const r = retentionDeadline({ deletionTimestampMs: deletedAt.ok ? deletedAt.value : Date.now(),
      defaultRetentionMs: settings.defaultRetentionMs, ...(entry.annotations.retentionPeriod !== undefined ? { annotation: entry.annotations.retentionPeriod } : {}) });
    if (r.warning) {
      record({ action: 'note', by: 'controller', reason: r.warning.reason, outcome: r.warning.message });
      await kube.recordEvent(name, { type: 'Warning', reason: r.warning.reason, message: r.warning.message });
    }
    const secret = await kube.deleteEtcdBackupSecret(name);
    if (secret === 'kept-created-by-other') {
      record({ action: 'note', by: 'controller', reason: 'etcd-backup secret belongs to another entry', outcome: 'secret left in place' });
    }
    const inventory = await inventoryBackups(name);
    s.deletion = { deletionTimestamp: entry.deletionTimestamp!, deadlineMs: r.deadlineMs, retentionMs: r.retentionMs,
      retentionSource: r.source, inventory };
    record({ action: 'retention-start', by: 'controller', reason: `retention ${formatDuration(r.retentionMs)} (${r.source})`,
      outcome: `${inventory.objects} objects (${bytes(inventory.bytes)}) under ${prefix} are deleted at ${iso(r.deadlineMs)}` });
    return undefined;
  };

  /** Annotations an operator with only kubectl uses to steer a deletion (SPEC §4). */
  const applyAnnotations = (entry: EntryView): void => {
    const force = entry.annotations.forceDeletion;
    if (force !== undefined && !s.expedite && s.phase !== Phase.Deleting) {
      const v = parseBoolAnnotation(force);
      if (v.ok && v.value) doExpedite({ by: 'kubectl-annotation', reason: `${ANNOTATION_FORCE_DELETION}=${force}` });
      else if (!v.ok && !s.decisions.some((d) => d.reason === v.error.message)) {
        record({ action: 'note', by: 'kubectl-annotation', reason: v.error.message, outcome: 'force-deletion ignored' });
      }
    }
    const keep = entry.annotations.keepBackups;
    if (keep !== undefined && !s.cancel) {
      const v = parseBoolAnnotation(keep);
      if (v.ok && v.value) doCancel({ by: 'kubectl-annotation', reason: `${ANNOTATION_KEEP_BACKUPS}=${keep}` });
    }
    const period = entry.annotations.retentionPeriod;
    if (period !== undefined && s.deletion && !s.deletion.receipt) {
      const d = parseDuration(period);
      const target = d.ok ? parseRfc3339(s.deletion.deletionTimestamp) : undefined;
      if (d.ok && target?.ok && target.value + d.value > s.deletion.deadlineMs) {
        doExtend({ requestedBy: 'kubectl-annotation', reason: `retention-period annotation changed to ${period}`,
          until: iso(target.value + d.value) });
      }
    }
  };

  const deleteFlow = async (entry: EntryView): Promise<PassOutcome> => {
    if (!entry.hasFinalizer && !s.deletion) return CONTINUE; // never ours (or already released): nothing to clean
    const keep = entry.annotations.keepBackups;
    if (keep !== undefined) {
      const v = parseBoolAnnotation(keep);
      if (!v.ok) throw ApplicationFailure.nonRetryable(`${v.error.message}; nothing is deleted until it is fixed`, GardenerErrorCode.ConfigurationProblem);
    }
    if (!s.deletion) {
      const ended = await startDeletion(entry);
      if (ended) return ended;
    }
    applyAnnotations(entry);
    const del = s.deletion!;
    if (s.cancel) return keepBackups();
    if (!s.expedite && Date.now() < del.deadlineMs) {
      setPhase(Phase.Retaining);
      const inv = del.inventory;
      await report({ kind: 'pending', operation: Operation.Delete, description:
        `Backups are retained until ${iso(del.deadlineMs)}${inv ? ` (${inv.objects} objects, ${bytes(inv.bytes)})` : ''}; ` +
        `to delete them now annotate ${ANNOTATION_FORCE_DELETION}=true or run "expedite", ` +
        `to keep them annotate ${ANNOTATION_KEEP_BACKUPS}=true or run "cancel-cleanup"` });
      return CONTINUE;
    }
    setPhase(Phase.Deleting);
    await report({ kind: 'processing', operation: Operation.Delete, description: `Deleting the backups under ${prefix} in bucket ${entry.bucketName}`, progress: 10 });
    try {
      deletionScope = new CancellationScope();
      del.receipt = await deletionScope.run(() => deleteBackups(name));
    } catch (err) {
      if (s.cancel && isCancellation(err)) return keepBackups();
      throw err;
    } finally {
      deletionScope = undefined;
    }
    const rc = del.receipt;
    const left = rc.remainingObjects ? `; ${rc.remainingObjects} objects remain (${rc.lockedObjects} locked for lifecycle expiry, ${rc.rewrittenObjects} rewritten during deletion)` : '';
    const unc = rc.uncountedAfterResume;
    const inferred = unc && (unc.objects > 0 || unc.bytes > 0)
      ? `; ${unc.objects} of them (${bytes(unc.bytes)}) deleted by an interrupted attempt after its last checkpoint, counted from the inventory taken before deletion`
      : '';
    const text = `Deleted ${rc.deletedObjects} objects (${bytes(rc.deletedBytes)}) under ${prefix} in ${formatDuration(Math.max(1, Math.round(rc.durationMs / 1000)) * 1000)}${inferred}${left}`;
    await report({ kind: 'succeeded', operation: Operation.Delete, description: text });
    await kube.recordEvent(name, { type: 'Normal', reason: 'BackupsDeleted', message: text });
    await release({ secret: true });
    return final(Phase.Deleted, 'deleted');
  };

  const pass = async (): Promise<PassOutcome> => {
    const entry = await kube.observeEntry(name);
    if (!entry.exists) {
      // Whoever removed the entry (our finalizer taken off by hand, or it vanished between our steps) left our
      // finalizer on its secretRef secret, which nothing else would ever remove.
      const released = s.secretRef !== undefined && patched(PATCH_RELEASE_SECRET_OF_GONE_ENTRY);
      if (released) await release({ secret: true });
      if (s.deletion?.receipt) return final(Phase.Deleted, 'deleted');
      if (s.phase === Phase.Kept || s.phase === Phase.Migrated || s.phase === Phase.Orphaned) return final(s.phase, 'gone');
      const secret = released ? `; our finalizer on secret ${s.secretRef!.namespace}/${s.secretRef!.name} was released` : '';
      record({ action: 'note', by: 'controller', reason: 'entry disappeared',
        outcome: `the BackupEntry no longer exists${secret}; nothing left to do` });
      return final(s.deletion ? Phase.Orphaned : s.phase, 'gone');
    }
    if (entry.secretRef.name && entry.secretRef.namespace) {
      s.secretRef = { namespace: entry.secretRef.namespace, name: entry.secretRef.name };
    }
    if (!s.memoWritten || s.type !== entry.type || s.bucket !== entry.bucketName) {
      s.type = entry.type;
      s.bucket = entry.bucketName;
      upsertSearchAttributes([{ key: BACKUP_ENTRY_NAME, value: name }, { key: BACKUP_ENTRY_TYPE, value: entry.type },
        { key: BACKUP_BUCKET, value: entry.bucketName }]);
      upsertMemo({ shootNamespace: identity.ok ? identity.value.namespace : '', bucket: entry.bucketName, prefix: prefix ?? '' });
      s.memoWritten = true;
    }
    if (!identity.ok) {
      throw ApplicationFailure.nonRetryable(identity.error.message, GardenerErrorCode.ConfigurationProblem);
    }
    const decision = decideOperation({ ...(entry.annotations.operation ? { operationAnnotation: entry.annotations.operation } : {}),
      ...(entry.deletionTimestamp ? { deletionTimestamp: entry.deletionTimestamp } : {}),
      ...(entry.lastOperation ? { lastOperation: entry.lastOperation } : {}) });
    if (decision.kind === 'wait-for-state') return CONTINUE;
    if (decision.kind === 'skip-migrated') return final(Phase.Migrated, 'migrated');
    passOperation = decision.operation;
    switch (decision.operation) {
      case Operation.Migrate: return migrate();
      case Operation.Delete: return deleteFlow(entry);
      default: return reconcile(entry, decision.operation);
    }
  };

  const failed = async (err: unknown): Promise<void> => {
    const { message, codes } = describeFailure(err);
    s.errorStreak += 1;
    const delay = Math.min(settings.maxRetryDelayMs, settings.initialRetryDelayMs * 2 ** Math.min(s.errorStreak - 1, 20));
    s.retryAtMs = Date.now() + delay;
    s.lastError = { message, codes, at: nowIso() };
    log.warn('Operation failed; retrying later', { entry: name, message, codes, retryInMs: delay });
    const op = passOperation ?? currentOperation(s);
    try {
      await kube.writeStatus(name, { kind: 'error', operation: op, description: message, codes: codes as GardenerErrorCode[] });
      s.lastOperation = { type: op, state: 'Error', description: message, at: nowIso() };
    } catch (statusErr) {
      log.warn('Could not write the Error status', { entry: name, error: describeFailure(statusErr).message });
    }
    if (s.phase !== Phase.Retaining && s.phase !== Phase.Deleting) setPhase(Phase.Error); else setCurrentDetails(summary(s));
  };

  // --- main loop -----------------------------------------------------------------------------------------------------
  setCurrentDetails(summary(s));
  for (;;) {
    if (s.dirty) {
      s.dirty = false;
      s.retryAtMs = undefined;
      passOperation = undefined;
      try {
        const outcome = await pass();
        s.errorStreak = 0;
        if (outcome.final) {
          await condition(allHandlersFinished);
          return outcome.result;
        }
      } catch (err) {
        if (isCancellation(err) && !s.cancel) throw err; // the workflow itself is being cancelled
        await failed(err);
      }
    }
    const wakeAt = Math.min(s.retryAtMs ?? Infinity, s.phase === Phase.Retaining && s.deletion && !s.expedite ? s.deletion.deadlineMs : Infinity);
    const canSuggested = (): boolean => workflowInfo().continueAsNewSuggested ||
      (settings.continueAsNewAfterEvents !== undefined && workflowInfo().historyLength >= settings.continueAsNewAfterEvents);
    const woke = wakeAt === Infinity
      ? (await condition(() => s.dirty || canSuggested()), true)
      : wakeAt - Date.now() > 0 ? await condition(() => s.dirty || canSuggested(), wakeAt - Date.now()) : false;
    if (!woke) s.dirty = true; // the retry timer or the retention deadline fired
    if (!s.dirty && canSuggested()) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof backupEntryWorkflow>({ entryName: name, settings, carried: s });
    }
  }
}

// --- pure helpers ----------------------------------------------------------------------------------------------------

function iso(ms: number): string {
  return formatRfc3339Seconds(ms);
}

function nowIso(): string {
  return iso(Date.now());
}

function by(req: OperatorRequest): string {
  return who(req.by);
}

function who(name: unknown): string {
  return (typeof name === 'string' && name.trim()) || 'unknown';
}

function throwIf(why: string | undefined): void {
  if (why) throw new Error(why);
}

function validRequest(req: { reason?: unknown } | undefined): string | undefined {
  if (!req || typeof req !== 'object') return 'the request must be an object like {"reason": "...", "by": "..."}';
  if (typeof req.reason !== 'string' || !req.reason.trim()) return 'a reason is required (who asked is recorded with why)';
  return undefined;
}

/** Deadline an extend request asks for, or why it cannot be understood. */
function extendTarget(req: ExtendRequest, currentDeadlineMs: number): number | string {
  if ((req.by === undefined) === (req.until === undefined)) return 'give exactly one of "by" (a duration such as 24h) or "until" (an RFC3339 time)';
  if (req.by !== undefined) {
    const d = parseDuration(req.by);
    if (!d.ok) return `"by": ${d.error.message}`;
    return currentDeadlineMs + d.value;
  }
  const t = parseRfc3339(req.until!);
  return t.ok ? t.value : `"until": ${t.error.message}`;
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

function currentOperation(s: CarriedState): Operation {
  if (s.deletion) return Operation.Delete;
  const t = s.lastOperation?.type;
  return t === Operation.Create || t === Operation.Restore || t === Operation.Migrate ? t : Operation.Reconcile;
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
  const inv = d?.inventory ? `${d.inventory.objects.toLocaleString('en-US')} objects (${bytes(d.inventory.bytes)})` : 'backups';
  switch (s.phase) {
    case Phase.Retaining:
      return `Retaining ${inv} until ${d ? iso(d.deadlineMs).replace('T', ' ').replace('Z', ' UTC') : '?'} — expedite or cancel-cleanup`;
    case Phase.Deleting: return `Deleting ${inv}`;
    case Phase.Deleted: return `Deleted ${d?.receipt?.deletedObjects ?? 0} objects (${bytes(d?.receipt?.deletedBytes ?? 0)})`;
    case Phase.Kept: return `Cleanup cancelled — backups kept (${s.cancel?.by ?? 'annotation'}: ${s.cancel?.reason ?? ''})`;
    case Phase.Error: return `Error: ${s.lastError?.message ?? 'unknown'} — retrying`;
    case Phase.Ready: return `Ready — etcd-backup secret ${s.etcdBackupSecret ? `${s.etcdBackupSecret.namespace}/${s.etcdBackupSecret.name}` : 'provisioned'}`;
    default: return s.phase;
  }
}

import { CancelledFailure, heartbeat, sleep as activitySleep } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { type BackupEntryActivities, type ObservedEntry, type StatusWrite, goneEntry } from '../../activities/types';
import type { DeletionReceipt } from '../../activities/storage-port';
import { dueReconcile } from '../../activities/kube-activities';
import { withOperation } from '../../activities/errors';
import type { VisibilityPort } from '../../activities/visibility-port';
import { DELETION_REFUSED, type DeletionRefusal, type RetentionRecord } from '../../domain';

/** A secret value planted in the fake provider secret: no workflow history may ever contain it. */
export const PLANTED_SECRET = 'PLANTED-SECRET-7f3c9a2e-do-not-leak';

/** A status the workflow wrote, with what the fake cluster held at that moment (to check the order of effects). */
export type WrittenStatus = StatusWrite & {
  world: { finalizers: boolean; etcdSecret: boolean; operationAnnotation?: string };
};

/** One entry in the fake cluster: what observeEntry reads and the activities change. */
export interface FakeEntry {
  view: ObservedEntry;
  statuses: WrittenStatus[];
  /** The secretRef secret (`spec.secretRef` at creation) and whether our finalizer is on it. */
  secret: { namespace: string; name: string };
  finalizerOnSecret: boolean;
  secretRefExists: boolean;
  etcdSecret?: { data: Record<string, string>; createdBy: string };
  objects: number;
  events: string[];
  /** How often deleteBackups ran, and whether a run of it was cancelled. */
  deletionRuns: number;
  deletionCancelled: boolean;
  /** Whether a release took every finalizer off the entry (migration), not only ours. */
  releasedAllFinalizers: boolean;
  /** Fail the next N provisionEtcdBackupSecret calls with a retryable NamespaceMissing failure. */
  failProvision: number;
  /** When set, deleteBackups heartbeats and waits until this promise resolves (or it is cancelled). */
  holdDeletion?: Promise<void>;
  deletionStarted?: () => void;
  /** Runs inside deleteBackups before it returns (e.g. to make the entry vanish meanwhile). */
  duringDeletion?: () => void;
  /** Retention records on the secretRef secret, by entry name (BEL_RETENTION_MODE=release-entry). */
  retentionRecords?: Record<string, RetentionRecord>;
  /** While true, releaseFinalizers fails (retryable), holding the workflow before it ends. */
  releaseBlocked?: boolean;
  /** The bucket deleteBackups was told to delete from (its pinned target, else the live spec). */
  deletedFrom?: string;
  /**
   * A step does its work, then fails (non-retryably) this many times: a local activity that timed out after its
   * effect landed. By activity name, e.g. `{ beginDeletion: 1, releaseFinalizers: 1 }`.
   */
  failAfterEffect?: Partial<Record<keyof BackupEntryActivities, number>>;
  /** With failAfterEffect.beginDeletion: the entry vanishes in that step without a record (hold-entry, finalizer taken). */
  vanishInBeginDeletion?: boolean;
  /** Fail the next N readRetentionRecord calls (retryable): a pass that fails before it resumed. */
  failReadRecord?: number;
  /** How many failures `failAfterEffect` injected. */
  faultsInjected?: number;
  /** deleteBackups ignores a cancellation and completes (its last batch was in flight when the cancel came). */
  completeDespiteCancel?: boolean;
  /** deleteBackups refuses as the real guard does (domain/deletion-guard.ts), with this rule. */
  refuseDeletion?: DeletionRefusal['reason'];
  /** Fields deleteBackups adds to (or overrides in) its receipt. */
  receiptExtras?: Partial<DeletionReceipt>;
}

/** The fake cluster + storage the workflow tests drive: typed as the real activities, in memory. */
export class FakeWorld {
  readonly entries = new Map<string, FakeEntry>();
  /** Temporal's visibility, for `readPublishedRun` (the workflow tier passes the real one of its dev server). */
  visibility?: VisibilityPort;

  add(name: string, over: Partial<ObservedEntry> = {}): FakeEntry {
    const view: ObservedEntry = {
      exists: true,
      name,
      uid: 'uid-1',
      generation: 1,
      type: 'local',
      class: 'shoot',
      bucketName: 'bucket-a',
      region: 'local',
      secretRef: { name: `entry-${name}`, namespace: 'garden' },
      annotations: {},
      hasFinalizer: false,
      ...over,
    };
    const e: FakeEntry = {
      view,
      statuses: [],
      secret: { ...view.secretRef },
      finalizerOnSecret: false,
      secretRefExists: true,
      objects: 12,
      events: [],
      deletionRuns: 0,
      deletionCancelled: false,
      releasedAllFinalizers: false,
      failProvision: 0,
    };
    this.entries.set(name, e);
    return e;
  }

  get(name: string): FakeEntry {
    const e = this.entries.get(name);
    if (!e) throw new Error(`no fake entry ${name}`);
    return e;
  }

  /** The activities, as the worker registers them. */
  activities(): BackupEntryActivities {
    const entryNamed = (name: string): FakeEntry => this.get(name);
    const beginDeletion: BackupEntryActivities['beginDeletion'] = async (name, req) => {
      const e = this.get(name);
      if (!(await acts.secretRefExists(name, req.entry.secretRef))) return { secretRefExists: false };
      const etcdSecret = await acts.deleteEtcdBackupSecret(name);
      if (req.pending) await acts.writeStatus(name, req.pending);
      if (req.record) {
        if (!(await acts.recordRetention(name, e.secret, req.record))) return { secretRefExists: true, etcdSecret };
        if (e.view.exists) {
          e.view.hasFinalizer = false;
          if (e.view.deletionTimestamp) e.view.exists = false;
        }
        return { secretRefExists: true, etcdSecret, released: true };
      }
      if (req.decision)
        return { secretRefExists: true, etcdSecret, persisted: await acts.persistDecision(name, req.decision) };
      return { secretRefExists: true, etcdSecret };
    };
    const acts: BackupEntryActivities = {
      // The real step in one local activity; here the same fakes in Gardener's order.
      reconcileEntry: async (name, { operation, entry }) => {
        if (entry.annotations.operation === 'reconcile') await acts.removeOperationAnnotation(name, 'reconcile');
        await acts.ensureFinalizers(name);
        await acts.writeStatus(name, { kind: 'processing', operation, description: 'Reconciling the BackupEntry' });
        const secret = await acts.provisionEtcdBackupSecret(name);
        await acts.writeStatus(name, {
          kind: 'succeeded',
          operation,
          description: 'Successfully reconciled BackupEntry',
        });
        if (operation === 'Restore') await acts.removeOperationAnnotation(name, 'restore');
        return secret;
      },
      beginDeletion: async (name, req) => {
        const e = this.get(name);
        const result = await beginDeletion(name, req);
        if (e.failAfterEffect?.beginDeletion && e.vanishInBeginDeletion) e.view.exists = false;
        return result;
      },
      observeAndReconcile: async (name, req) => {
        const entry = await acts.observeEntry(name);
        const operation = dueReconcile(entry, req);
        if (!operation) return { entry };
        const etcdSecret = await acts.reconcileEntry(name, { operation, entry }).catch((err: unknown) => {
          throw withOperation(err, operation);
        });
        return { entry, reconciled: { operation, etcdSecret } };
      },
      observeEntry: async (name) => {
        const e = this.entries.get(name);
        if (!e || !e.view.exists) return goneEntry(name);
        return structuredClone(e.view);
      },
      ensureFinalizers: async (name) => {
        const e = entryNamed(name);
        e.view.hasFinalizer = true;
        e.finalizerOnSecret = true;
      },
      writeStatus: async (name, report) => {
        const e = entryNamed(name);
        e.statuses.push({
          ...report,
          world: {
            finalizers: e.view.hasFinalizer && e.finalizerOnSecret,
            etcdSecret: e.etcdSecret !== undefined,
            ...(e.view.annotations.operation !== undefined
              ? { operationAnnotation: e.view.annotations.operation }
              : {}),
          },
        });
        e.view.lastOperation = {
          type: report.operation,
          state: { processing: 'Processing', error: 'Error', succeeded: 'Succeeded', pending: 'Pending' }[report.kind],
        };
      },
      provisionEtcdBackupSecret: async (name) => {
        const e = entryNamed(name);
        if (e.failProvision > 0) {
          e.failProvision -= 1;
          throw ApplicationFailure.create({
            message: 'waiting for namespace shoot--x to exist',
            type: 'ERR_RETRYABLE_CONFIGURATION_PROBLEM',
            nonRetryable: true,
            details: [{ codes: ['ERR_RETRYABLE_CONFIGURATION_PROBLEM'], reason: 'NamespaceMissing' }],
          });
        }
        e.etcdSecret = {
          data: { 'serviceaccount.json': PLANTED_SECRET, bucketName: e.view.bucketName },
          createdBy: name,
        };
        return { namespace: 'shoot--dev--x', name: 'etcd-backup', resourceVersion: '7', digest: 'abcdef0123456789' };
      },
      deleteEtcdBackupSecret: async (name) => {
        const e = entryNamed(name);
        if (!e.etcdSecret) return 'absent';
        e.etcdSecret = undefined;
        return 'deleted';
      },
      removeOperationAnnotation: async (name, value) => {
        const e = entryNamed(name);
        if (e.view.annotations.operation === value) delete e.view.annotations.operation;
      },
      secretRefExists: async (name) => entryNamed(name).secretRefExists,
      recordRetention: async (name, _ref, record) => {
        const e = entryNamed(name);
        e.retentionRecords ??= {};
        if (record) e.retentionRecords[name] = record;
        else delete e.retentionRecords[name];
        return true;
      },
      readPublishedRun: async (workflowId, runId) => this.visibility?.latestOtherRun(workflowId, runId),
      readRetentionRecord: async (name) => {
        const e = this.entries.get(name);
        if (e?.failReadRecord) {
          e.failReadRecord -= 1;
          throw ApplicationFailure.create({ message: 'API server busy', type: 'ERR_RETRYABLE', nonRetryable: true });
        }
        return e?.finalizerOnSecret ? e.retentionRecords?.[name] : undefined;
      },
      persistDecision: async (name, decision) => {
        const e = entryNamed(name);
        if (!e.view.exists || e.view.uid !== decision.uid) return false;
        if (decision.deletionDeadline) e.view.annotations.deletionDeadline = decision.deletionDeadline;
        if (decision.keepBackups) e.view.annotations.keepBackups = 'true';
        return true;
      },
      releaseFinalizers: async (name, opts) => {
        const e = entryNamed(name);
        if (e.releaseBlocked) throw ApplicationFailure.create({ message: 'API server busy', type: 'ERR_RETRYABLE' });
        // Like the real activity: the secret is found through the entry's spec.secretRef while the entry exists, and
        // only through the secretRef the workflow passes once it is gone.
        const ref = e.view.exists ? e.view.secretRef : opts.secretRef;
        if (opts.secret && ref?.namespace === e.secret.namespace && ref.name === e.secret.name) {
          delete e.retentionRecords?.[name]; // a finished record goes with the finalizer, as in the real activity
          e.finalizerOnSecret = false;
        }
        if (!e.view.exists) return;
        if (opts.allEntryFinalizers) e.releasedAllFinalizers = true;
        e.view.hasFinalizer = false;
        if (e.view.deletionTimestamp) e.view.exists = false; // the API server removes a deleted entry without finalizers
      },
      recordEvent: async (name, event) => {
        entryNamed(name).events.push(`${event.type}/${event.reason}: ${event.message}`);
      },
      inventoryBackups: async (name) => {
        const e = entryNamed(name);
        return { objects: e.objects, bytes: e.objects * 1024, truncated: false };
      },
      deleteBackups: async (name, target): Promise<DeletionReceipt> => {
        const e = entryNamed(name);
        if (e.refuseDeletion) {
          throw ApplicationFailure.create({
            message: `deleting backups of ${name}: deletion refused (${e.refuseDeletion}): a live entry owns the prefix`,
            type: 'ERR_CONFIGURATION_PROBLEM',
            nonRetryable: true,
            details: [{ codes: ['ERR_CONFIGURATION_PROBLEM'], reason: DELETION_REFUSED }],
          });
        }
        e.deletionRuns += 1;
        e.deletedFrom = target?.bucketName ?? e.view.bucketName;
        const total = e.objects;
        if (e.holdDeletion) {
          e.deletionStarted?.();
          let released = false;
          void e.holdDeletion.then(() => (released = true));
          while (!released) {
            heartbeat({ deletedObjects: 1 });
            try {
              await activitySleep(100);
            } catch (err) {
              if (err instanceof CancelledFailure || (err as Error).name === 'CancelledFailure') {
                e.deletionCancelled = true;
                if (e.completeDespiteCancel) break;
              }
              throw err;
            }
          }
        }
        e.duringDeletion?.();
        e.objects = 0;
        return {
          deletedObjects: total,
          deletedBytes: total * 1024,
          lockedObjects: 0,
          rewrittenObjects: 0,
          listedObjects: total,
          durationMs: 1500,
          objectsPerSecond: total / 1.5,
          remainingObjects: 0,
          ...e.receiptExtras,
        };
      },
    };
    return withFaults(acts, (name) => this.entries.get(name));
  }
}

/**
 * Every activity, wrapped: a step named in its entry's `failAfterEffect` runs, then fails as a local activity that
 * timed out after its effect landed (non-retryable, so the workflow sees it at once).
 */
function withFaults(
  acts: BackupEntryActivities,
  entryOf: (name: string) => FakeEntry | undefined,
): BackupEntryActivities {
  const wrapped: Record<string, unknown> = {};
  for (const [key, fn] of Object.entries(acts) as Array<[keyof BackupEntryActivities, (...a: unknown[]) => unknown]>) {
    wrapped[key] = async (...args: unknown[]) => {
      const result = await fn(...args);
      const e = typeof args[0] === 'string' ? entryOf(args[0]) : undefined;
      const left = e?.failAfterEffect?.[key];
      if (e && left) {
        e.failAfterEffect![key] = left - 1;
        e.faultsInjected = (e.faultsInjected ?? 0) + 1;
        throw ApplicationFailure.create({ message: `${key} timed out`, type: 'ERR_TIMEOUT', nonRetryable: true });
      }
      return result;
    };
  }
  return wrapped as unknown as BackupEntryActivities;
}

/**
 * Messages of the BackupEntry workflow, shared by the workflow, the watcher and the CLI so they cannot drift apart.
 * Payloads land in workflow history: they carry names, reasons and times, never secret material.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Phase } from '../domain';
import type { DeletionReceipt, Inventory } from '../activities/storage-port';
import type { EtcdSecretRef } from '../activities/types';

/** Why the watcher thinks the entry needs attention; the workflow always re-reads the entry itself. */
export interface ReconcileIntent {
  /** e.g. `created`, `operation-annotation`, `generation`, `deletion`, `force-deletion`, `secret-rotation`, `startup`. */
  reason: string;
}

/** An operator's request: who asks and why (recorded in the decision log). */
export interface OperatorRequest {
  reason: string;
  /** Who asked: a user name, `kubectl-annotation`, `web-ui`; `unknown` when not given. */
  by?: string;
}

/**
 * Move the retention deadline later: `by` a duration from the current deadline (`24h`) or `until` a time (RFC3339),
 * exactly one of them. Here `by` is the duration, so who asked goes in `requestedBy` (recorded in the decision log;
 * `unknown` when not given).
 */
export interface ExtendRequest {
  reason: string;
  by?: string;
  until?: string;
  /** Who asked: a user name, `kubectl-annotation`, `web-ui`. */
  requestedBy?: string;
}

/** One decision in the entry's life, with who asked and why. */
export interface DecisionRecord {
  /** RFC3339 (workflow time). */
  at: string;
  action: 'expedite' | 'cancel-cleanup' | 'extend' | 'retention-start' | 'note' | 'refused';
  by: string;
  reason: string;
  /** What came of it, e.g. `deadline moved to 2026-11-28T12:00:00Z`. */
  outcome: string;
}

/** Everything the `status` query returns: the entry's story so far. */
export interface StatusQueryResult {
  entryName: string;
  phase: Phase;
  type?: string;
  bucket?: string;
  prefix?: string;
  namespace?: string;
  /** RFC3339 time the backups are deleted, during retention. */
  deletionScheduledAt?: string;
  retention?: { periodMs: number; source: string };
  inventory?: Inventory;
  lastOperation?: { type: string; state: string; description: string; at: string };
  lastError?: { message: string; codes: string[]; at: string };
  etcdBackupSecret?: EtcdSecretRef;
  deletion?: DeletionReceipt;
  decisions: DecisionRecord[];
  /** One line for humans, also shown as the workflow's current details in the Web UI. */
  summary: string;
}

/** Watcher → workflow: something about the entry changed; look again. */
export const reconcileSignal = defineSignal<[ReconcileIntent]>('reconcile');

/** End the retention wait now and delete the backups (refused unless the entry is retaining). */
export const expediteUpdate = defineUpdate<DecisionRecord, [OperatorRequest]>('expedite');
/** Signal form of {@link expediteUpdate}: recorded as a note when it does not apply. */
export const expediteSignal = defineSignal<[OperatorRequest]>('expedite');

/** Keep every backup object, release the finalizers and end the workflow as `Kept`. */
export const cancelCleanupUpdate = defineUpdate<DecisionRecord, [OperatorRequest]>('cancelCleanup');
/** Signal form of {@link cancelCleanupUpdate}. */
export const cancelCleanupSignal = defineSignal<[OperatorRequest]>('cancelCleanup');

/** Move the retention deadline later (never earlier). */
export const extendRetentionUpdate = defineUpdate<DecisionRecord, [ExtendRequest]>('extendRetention');
/** Signal form of {@link extendRetentionUpdate}. */
export const extendRetentionSignal = defineSignal<[ExtendRequest]>('extendRetention');

/** The entry's current state and story. */
export const statusQuery = defineQuery<StatusQueryResult>('status');

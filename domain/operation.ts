import { OperationAnnotation } from './constants';

/** Gardener's `lastOperation.type` values for extension resources. */
export const Operation = {
  Create: 'Create',
  Reconcile: 'Reconcile',
  Delete: 'Delete',
  Migrate: 'Migrate',
  Restore: 'Restore',
} as const;
/** One of Gardener's `lastOperation.type` values. */
export type Operation = (typeof Operation)[keyof typeof Operation];

/** Gardener's `lastOperation.state` values. */
export const OperationState = {
  Processing: 'Processing',
  Succeeded: 'Succeeded',
  Error: 'Error',
  Failed: 'Failed',
  Pending: 'Pending',
  Aborted: 'Aborted',
} as const;
/** One of Gardener's `lastOperation.state` values. */
export type OperationState = (typeof OperationState)[keyof typeof OperationState];

/** The facts about a BackupEntry that decide what to do with it. */
export interface OperationFacts {
  /** Value of `gardener.cloud/operation`, if any (unknown values are ignored). */
  operationAnnotation?: string;
  /** `metadata.deletionTimestamp`, if set (only presence matters). */
  deletionTimestamp?: string;
  /** `status.lastOperation`, if any. */
  lastOperation?: { type: string; state: string };
}

/** What to do with an entry: nothing (`wait-for-state`), nothing because it migrated away, or run an operation. */
export type Decision = { kind: 'wait-for-state' } | { kind: 'skip-migrated' } | { kind: 'run'; operation: Operation };

const RESUMABLE: readonly string[] = [Operation.Create, Operation.Migrate, Operation.Restore];

/**
 * Gardener's `ComputeOperationType` plus the dispatch rules of the extension library's BackupEntry reconciler:
 * `wait-for-state` annotation → do nothing; else the operation is migrate (annotation) > Delete (deletionTimestamp)
 * > restore (annotation) > Create (no lastOperation) > the lastOperation's type if it is Create, Migrate or Restore
 * and not Succeeded > Reconcile; and an entry whose lastOperation is Migrate/Succeeded is skipped unless that
 * operation is Migrate or Restore (it has migrated away; above all, its deletion must not clean the bucket).
 */
export function decideOperation(facts: OperationFacts): Decision {
  const annotation = facts.operationAnnotation;
  if (annotation === OperationAnnotation.WaitForState) return { kind: 'wait-for-state' };
  const last = facts.lastOperation;
  let operation: Operation;
  if (annotation === OperationAnnotation.Migrate) operation = Operation.Migrate;
  else if (facts.deletionTimestamp !== undefined) operation = Operation.Delete;
  else if (annotation === OperationAnnotation.Restore) operation = Operation.Restore;
  else if (last === undefined) operation = Operation.Create;
  else if (RESUMABLE.includes(last.type) && last.state !== OperationState.Succeeded) operation = last.type as Operation;
  else operation = Operation.Reconcile;

  const migrated = last?.type === Operation.Migrate && last.state === OperationState.Succeeded;
  if (migrated && operation !== Operation.Migrate && operation !== Operation.Restore) return { kind: 'skip-migrated' };
  return { kind: 'run', operation };
}

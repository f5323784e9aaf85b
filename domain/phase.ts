/** Lifecycle phase of an entry's workflow, shown as the `BackupEntryPhase` search attribute (docs/design.md §4). */
export const Phase = {
  /** Provisioning the etcd-backup secret / running a create, reconcile, restore or migrate. */
  Reconciling: 'Reconciling',
  /** Live entry, last operation succeeded; waiting for changes or deletion. */
  Ready: 'Ready',
  /** Last operation failed; the status carries `lastError` and the workflow retries. */
  Error: 'Error',
  /** Deleted entry waiting on its durable retention timer before any object is removed. */
  Retaining: 'Retaining',
  /** Retention is over: deleting the objects under the entry's prefix. */
  Deleting: 'Deleting',
  /** Prefix emptied (or only locked objects left), finalizers released; workflow done. */
  Deleted: 'Deleted',
  /** Cleanup cancelled by an operator: objects kept, finalizers released; workflow done. */
  Kept: 'Kept',
  /** Entry migrated to another seed: no objects touched, finalizers released; workflow done. */
  Migrated: 'Migrated',
  /** Secret missing at deletion: finalizers released without cleanup, data left behind (loudly reported). */
  Orphaned: 'Orphaned',
} as const;
/** One of the workflow phases. */
export type Phase = (typeof Phase)[keyof typeof Phase];

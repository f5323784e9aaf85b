/** A live entry: Gardener's reconcile (Create, Reconcile, Restore) in one step, and its migration to another seed. */
import { Operation, Phase } from '../../../domain';
import type { ObservedEntry } from '../../../activities/types';
import { CONTINUE, type PassOutcome, type Run, final, setPhase } from '../context';
import { release, remember, report } from '../effects';
import { kube } from '../steps';

/**
 * Finalizers, Processing, the etcd-backup secret, Succeeded: one local activity, unless the pass's observing step
 * already did it (it reconciles an entry that is due while it reads it: one step per pass instead of two).
 */
export async function reconcile(run: Run, entry: ObservedEntry, op: Operation): Promise<PassOutcome> {
  setPhase(run, Phase.Reconciling);
  const done = run.reconciled?.operation === op ? run.reconciled.etcdSecret : undefined;
  run.s.etcdBackupSecret = done ?? (await kube.reconcileEntry(run.name, { operation: op, entry }));
  remember(run, { kind: 'succeeded', operation: op, description: 'Successfully reconciled BackupEntry' });
  setPhase(run, Phase.Ready);
  return CONTINUE;
}

/**
 * Gardener's order: status, then finalizers (secret, then all of the entry's), then the annotation. The bucket and
 * the etcd-backup secret are never touched: the destination seed takes over.
 */
export async function migrate(run: Run): Promise<PassOutcome> {
  await report(run, { kind: 'processing', operation: Operation.Migrate, description: 'Migrating the BackupEntry' });
  await report(run, {
    kind: 'succeeded',
    operation: Operation.Migrate,
    description: 'Successfully migrated BackupEntry',
  });
  await release(run, { secret: true, allEntryFinalizers: true });
  await kube.removeOperationAnnotation(run.name, 'migrate');
  return final(run, Phase.Migrated, 'migrated');
}

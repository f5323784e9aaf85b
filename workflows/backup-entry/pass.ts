/**
 * One pass over the entry: observe it (reconciling it in the same step when it is due), then decide (decide.ts) and
 * run the phase the decision names, until a phase ends the pass. Each gone-entry step changes the state and the
 * pass decides again; each runs at most once per pass.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import { GardenerErrorCode, Operation, Phase } from '../../domain';
import type { ObservedEntry } from '../../activities/types';
import { type PassOutcome, type Run, final, note } from './context';
import { type Tried, nextStep } from './decide';
import { deletion } from './phases/deletion';
import { migrate, reconcile } from './phases/reconcile';
import { carryOnWithoutEntry, resumeFromRecord } from './phases/records';
import { gone, keepUnverified } from './phases/terminal';
import { FINISHED_PHASES, initialState } from './state';
import { kube } from './steps';

export async function pass(run: Run): Promise<PassOutcome> {
  const { s } = run;
  const entry = await observe(run);
  if (entry.exists) await followEntry(run, entry);
  const tried: Tried = {};
  for (;;) {
    const next = nextStep(s, entry, run.identity.ok, run.retainedSecret !== undefined, tried);
    switch (next.kind) {
      case 'resume':
        if (next.from === 'start-input') tried.resumeStartInput = true;
        else tried.resumeOwnSecret = true;
        await resumeFromRecord(
          run,
          next.from === 'start-input' ? run.retainedSecret! : s.secretRef!,
          next.from === 'own-secret',
        );
        continue;
      case 'verify-retention':
        if (!(await carryOnWithoutEntry(run))) return keepUnverified(run);
        continue;
      case 'released-deletion':
        return deletion(run, releasedView(run));
      case 'gone':
        return gone(run);
      case 'recreated':
        throw new Error('unreachable: followEntry started over'); // followEntry adopted the new uid
      case 'invalid-name':
        throw ApplicationFailure.nonRetryable(
          run.identity.ok ? 'invalid name' : run.identity.error.message,
          GardenerErrorCode.ConfigurationProblem,
        );
      case 'wait-for-state':
        return { final: false };
      case 'skip-migrated':
        return final(run, Phase.Migrated, 'migrated');
      case 'migrate':
        run.operation = Operation.Migrate;
        return migrate(run);
      case 'deletion':
        run.operation = Operation.Delete;
        return deletion(run, entry);
      case 'reconcile':
        run.operation = next.operation;
        return reconcile(run, entry, next.operation);
    }
  }
}

/**
 * Reads the entry. While nothing says it is being deleted, the same local activity reconciles it when Gardener's
 * operation table says it is due (and it is the incarnation this run follows): one step instead of two.
 */
async function observe(run: Run): Promise<ObservedEntry> {
  const { s } = run;
  if (s.deletion || !run.identity.ok || FINISHED_PHASES.includes(s.phase)) {
    run.entry = await kube.observeEntry(run.name);
    return run.entry;
  }
  const seen = await kube.observeAndReconcile(run.name, { ...(s.uid ? { uid: s.uid } : {}) });
  run.entry = seen.entry;
  if (seen.reconciled) run.reconciled = seen.reconciled;
  return seen.entry;
}

/** What the run keeps of a live entry: its uid (a new one starts the lifecycle afresh), secretRef, type and bucket. */
async function followEntry(run: Run, entry: ObservedEntry): Promise<void> {
  const { s } = run;
  if (s.uid && entry.uid && entry.uid !== s.uid) await startOver(run, entry);
  s.uid = entry.uid;
  if (entry.secretRef.name && entry.secretRef.namespace)
    s.secretRef = { namespace: entry.secretRef.namespace, name: entry.secretRef.name };
  s.type = entry.type;
  s.bucket = s.deletion?.target.bucketName ?? entry.bucketName;
}

/** A BackupEntry re-created under the same name (new uid) starts a fresh lifecycle: nothing of the old one carries over. */
async function startOver(run: Run, entry: ObservedEntry): Promise<void> {
  const { s } = run;
  const old = s.deletion;
  if (old?.entryReleased && !old.receipt) {
    // The new entry's backups go to the same prefix: deleting the old incarnation's now would delete them too.
    await kube.recordRetention(run.name, old.target.secretRef, undefined);
    note(
      run,
      'entry re-created during retention',
      `a new BackupEntry ${run.name} appeared while the released one was retained; they share the prefix ${run.prefix}, ` +
        'so the pending deletion is cancelled and every object is kept',
    );
  }
  const decisions = s.decisions;
  for (const key of Object.keys(s)) delete (s as unknown as Record<string, unknown>)[key];
  Object.assign(s, initialState(), { decisions });
  note(
    run,
    'entry re-created',
    `a new BackupEntry ${run.name} (uid ${entry.uid}) replaced the one this workflow followed; its lifecycle starts afresh`,
  );
}

/** The entry as the deletion phase sees it once it was released: what was pinned at retention start. */
function releasedView(run: Run): ObservedEntry {
  const del = run.s.deletion!;
  return {
    exists: false,
    name: run.name,
    uid: run.s.uid ?? '',
    generation: 0,
    deletionTimestamp: del.deletionTimestamp,
    type: del.target.type,
    class: 'shoot',
    bucketName: del.target.bucketName,
    region: '',
    secretRef: { ...del.target.secretRef },
    annotations: {},
    hasFinalizer: false,
  };
}

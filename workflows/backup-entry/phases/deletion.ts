/**
 * A deleted entry: register its retention, keep its backups, wait, or delete them. Deleting runs one heartbeating
 * activity (which counts the objects first) in a scope that a cancel-cleanup, or the keep-backups annotation seen
 * meanwhile, cancels; what the activity reports decides the end, not what was asked meanwhile.
 */
import { ApplicationFailure, CancellationScope, condition, isCancellation, log } from '@temporalio/workflow';
import {
  ANNOTATION_KEEP_BACKUPS,
  GardenerErrorCode,
  Operation,
  Phase,
  formatBytes,
  formatDuration,
  parseBoolAnnotation,
} from '../../../domain';
import type { ObservedEntry } from '../../../activities/types';
import type { DeletionReceipt } from '../../../activities/storage-port';
import { CONTINUE, type PassOutcome, type Run, final, setPhase } from '../context';
import { deletionStep } from '../decide';
import { flushAttributes } from '../attributes';
import { describeFailure, refusedDeletion } from '../failures';
import { release, report, uidOf } from '../effects';
import { refuseCancel, requestCancel } from '../requests';
import { deleteBackups, kube } from '../steps';
import { applyAnnotations, noteSpecChange, register, retain } from './retention';
import { keepBackups, refused } from './terminal';

export async function deletion(run: Run, entry: ObservedEntry): Promise<PassOutcome> {
  const { s } = run;
  if (entry.annotations.operation === 'reconcile') await kube.removeOperationAnnotation(run.name, 'reconcile');
  const keep = entry.annotations.keepBackups;
  const parsed = keep !== undefined ? parseBoolAnnotation(keep) : undefined;
  if (parsed && !parsed.ok)
    throw ApplicationFailure.nonRetryable(
      `${parsed.error.message}; nothing is deleted until it is fixed`,
      GardenerErrorCode.ConfigurationProblem,
    );
  let step = deletionStep(s, entry, Date.now());
  if (step === 'not-ours') return CONTINUE;
  const registered = step === 'register';
  if (registered) {
    const ended = await register(run, entry);
    if (ended) return ended;
  }
  noteSpecChange(run, entry);
  applyAnnotations(run, entry);
  step = deletionStep(s, entry, Date.now());
  if (step === 'keep') return keepBackups(run);
  if (step === 'retain') return retain(run, entry, registered);
  return deleteNow(run, entry);
}

/** Deletes the backups; Deleted with a receipt, or Kept when a cancel-cleanup stopped the activity first. */
async function deleteNow(run: Run, entry: ObservedEntry): Promise<PassOutcome> {
  const del = run.s.deletion!;
  setPhase(run, Phase.Deleting);
  flushAttributes(run); // a deletion can take hours: the Web UI shows it as Deleting meanwhile
  await report(run, {
    kind: 'processing',
    operation: Operation.Delete,
    description: `Deleting the backups under ${run.prefix} in bucket ${del.target.bucketName}`,
    progress: 10,
  });
  let receipt: DeletionReceipt | undefined;
  try {
    receipt = await runDeletion(run, entry.exists);
  } catch (err) {
    if (refusedDeletion(err) && !entry.exists) return refused(run, describeFailure(err).message);
    throw err;
  }
  if (!receipt) return keepBackups(run); // stopped by a cancel-cleanup
  del.receipt = receipt;
  if (receipt.inventoried) del.inventory = { ...receipt.inventoried, truncated: false };
  // A cancel-cleanup that arrived as the deletion completed has nothing left to stop: refused, never "stopped".
  refuseCancel(run, 'the deletion had completed before it could be stopped; nothing is kept');
  const text = deletedText(run, receipt);
  await report(run, { kind: 'succeeded', operation: Operation.Delete, description: text });
  if (!del.entryReleased)
    await kube.recordEvent(run.name, { type: 'Normal', reason: 'BackupsDeleted', message: text, ...uidOf(run.entry) });
  await release(run, { secret: true });
  return final(run, Phase.Deleted, 'deleted');
}

/**
 * The deletion activity, cancelled when a cancel-cleanup is requested (or the keep-backups annotation appears)
 * while it runs. Undefined: it acknowledged the cancellation (what is left is kept).
 */
async function runDeletion(run: Run, watchEntry: boolean): Promise<DeletionReceipt | undefined> {
  const { s } = run;
  const scope = new CancellationScope();
  let deleting = true;
  const stop = condition(() => s.cancelRequest !== undefined || !deleting).then(() => {
    if (deleting) scope.cancel();
  });
  const watch = watchEntry ? watchKeepBackups(run, () => deleting) : Promise.resolve();
  try {
    return await scope.run(() => deleteBackups(run.name, s.deletion!.target));
  } catch (err) {
    if (isCancellation(err) && s.cancelRequest) return undefined;
    throw err;
  } finally {
    deleting = false;
    await Promise.all([stop, watch]);
  }
}

/** While the backups are deleted, a `reconcile` signal is answered here: the keep-backups annotation stops it. */
async function watchKeepBackups(run: Run, deleting: () => boolean): Promise<void> {
  const { s } = run;
  for (;;) {
    await condition(() => s.dirty || !deleting() || s.cancelRequest !== undefined);
    if (!deleting() || s.cancelRequest) return;
    s.dirty = false;
    try {
      const e = await kube.observeEntry(run.name);
      const keep = e.exists && e.uid === s.uid ? e.annotations.keepBackups : undefined;
      const v = keep !== undefined ? parseBoolAnnotation(keep) : undefined;
      if (deleting() && v?.ok && v.value)
        requestCancel(run, { by: 'kubectl-annotation', reason: `${ANNOTATION_KEEP_BACKUPS}=${keep}` }, false);
    } catch (err) {
      log.warn('Could not look at the entry during the deletion', {
        entry: run.name,
        error: describeFailure(err).message,
      });
    }
  }
}

function deletedText(run: Run, rc: DeletionReceipt): string {
  const left = rc.remainingObjects
    ? `; ${rc.remainingObjects} objects remain (${rc.lockedObjects} locked for lifecycle expiry, ${rc.rewrittenObjects} rewritten during deletion)`
    : '';
  const unc = rc.uncountedAfterResume;
  const inferred =
    unc && (unc.objects > 0 || unc.bytes > 0)
      ? `; ${unc.objects} of them (${formatBytes(unc.bytes)}) deleted by an interrupted attempt after its last checkpoint, counted from the inventory taken before deletion`
      : '';
  const took = formatDuration(Math.max(1, Math.round(rc.durationMs / 1000)) * 1000);
  return `Deleted ${rc.deletedObjects} objects (${formatBytes(rc.deletedBytes)}) under ${run.prefix} in ${took}${inferred}${left}`;
}

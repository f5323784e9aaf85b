/** How a run ends without deleting: backups kept (cancelled, refused, unverifiable), orphaned, or the entry gone. */
import { GardenerErrorCode, Operation, Phase, formatBytes } from '../../../domain';
import type { ObservedEntry } from '../../../activities/types';
import { type PassOutcome, type Run, final, note } from '../context';
import { vanished } from '../decide';
import { anchorOf, persist, release, report, uidOf } from '../effects';
import { applyCancel } from '../requests';
import { nowIso } from '../state';
import { inventoryBackups, kube } from '../steps';

/** Cleanup cancelled: the decision written where a new run reads it, every object kept, the finalizers released. */
export async function keepBackups(run: Run): Promise<PassOutcome> {
  applyCancel(run);
  const { s } = run;
  const who = s.cancel ? `${s.cancel.by}: ${s.cancel.reason}` : 'keep-backups annotation';
  await persist(run, { keep: true });
  let kept = '';
  try {
    const inv = await inventoryBackups(run.name, s.deletion?.target);
    kept = ` (${inv.objects} objects, ${formatBytes(inv.bytes)} kept under ${run.prefix})`;
  } catch {
    kept = ` (objects kept under ${run.prefix})`;
  }
  const message = `Cleanup cancelled by ${who}; backups kept${kept}`;
  await report(run, { kind: 'succeeded', operation: Operation.Delete, description: message });
  if (!s.deletion?.entryReleased)
    await kube.recordEvent(run.name, { type: 'Warning', reason: 'BackupsKept', message, ...uidOf(run.entry) });
  await release(run, { secret: true });
  return final(run, Phase.Kept, 'kept');
}

/** The secretRef secret is gone at deletion: Gardener releases the finalizer without cleanup (gardener/gardener#2557); so do we, loudly. */
export async function orphaned(run: Run, entry: ObservedEntry): Promise<PassOutcome> {
  const msg =
    `secret ${entry.secretRef.namespace}/${entry.secretRef.name} is gone, so the backups under ${run.prefix} in ` +
    `bucket ${entry.bucketName} cannot be deleted and stay behind`;
  note(run, 'secretRef missing at deletion', msg);
  await kube.recordEvent(run.name, { type: 'Warning', reason: 'BackupsOrphaned', message: msg, ...uidOf(entry) });
  await release(run, { secret: false });
  return final(run, Phase.Orphaned, 'orphaned');
}

/**
 * The deletion activity refused (a live entry owns the prefix, or the claim disagrees with the entries): for a run
 * without its BackupEntry nothing will change that, so every object is kept and the run ends, leaving the shared
 * credentials' finalizer to whoever still uses them.
 */
export async function refused(run: Run, message: string): Promise<PassOutcome> {
  sayKept(run, 'deletion refused', message, `${message}; every object is kept`);
  await release(run, { secret: true }); // drops this name's record; the finalizer stays while a live entry needs it
  return final(run, Phase.Kept, 'kept');
}

/** Why every object is kept: in the decision log (`outcome`) and as the last error (`message`). */
export function sayKept(run: Run, reason: string, message: string, outcome = message): void {
  note(run, reason, outcome);
  run.s.lastError = { message, codes: [GardenerErrorCode.ConfigurationProblem], at: nowIso() };
}

/** Nothing vouches for a retention whose entry vanished: keep every object, say so everywhere, and end. */
export function keepUnverified(run: Run): PassOutcome {
  const del = run.s.deletion!;
  const msg =
    `the BackupEntry vanished while its retention was being registered and no retention record of uid ${run.s.uid ?? '?'} ` +
    `is on its retention anchor ${anchorOf(run, del.target.secretRef)}; the backups under ${run.prefix} in ` +
    `bucket ${del.target.bucketName} are kept (delete them by hand once you know they are not needed)`;
  sayKept(run, 'retention unverifiable', msg);
  return final(run, Phase.Orphaned, 'orphaned');
}

/**
 * The entry is gone and nothing of it is left to delete. Whoever removed it (our finalizer taken off by hand, or it
 * vanished between our steps) left our finalizer on its secretRef secret, which nothing else would ever remove.
 */
export async function gone(run: Run): Promise<PassOutcome> {
  const { s } = run;
  const released = s.secretRef !== undefined;
  if (released) await release(run, { secret: true });
  if (s.deletion?.receipt) return final(run, Phase.Deleted, 'deleted');
  if (s.phase === Phase.Kept || s.phase === Phase.Migrated || s.phase === Phase.Orphaned)
    return final(run, s.phase, 'gone');
  const secret = released
    ? `; our finalizer on secret ${s.secretRef!.namespace}/${s.secretRef!.name} was released`
    : '';
  if (vanished(s)) {
    const msg =
      `the BackupEntry vanished before this workflow saw its deletion (someone removed our finalizer?) and no ` +
      `retention record of it is on its credentials secret${secret}; the backups under ${run.prefix} are kept: ` +
      'nothing will delete them';
    sayKept(run, 'entry vanished', msg);
    return final(run, Phase.Orphaned, 'orphaned');
  }
  note(run, 'entry disappeared', `the BackupEntry no longer exists${secret}; nothing left to do`);
  return final(run, s.deletion ? Phase.Orphaned : s.phase, 'gone');
}

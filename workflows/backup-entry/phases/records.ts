/**
 * An entry gone during its retention: the retention record on its anchor (activities/retention-anchor.ts) says
 * whether the retention goes on. A record is a Secret annotation anybody who may write Secrets there can forge, so
 * it is trusted only where Temporal's own record of the previous run agrees (issue 22).
 */
import { workflowInfo } from '@temporalio/workflow';
import { MAX_RETENTION_MS, Phase, SOURCE_PREFIX, parseRfc3339, type RetentionRecord } from '../../../domain';
import type { SecretReference } from '../../../activities/types';
import type { PublishedRun } from '../../../activities/visibility-port';
import { type Run, note } from '../context';
import { anchorOf, persist } from '../effects';
import { requestCancel } from '../requests';
import { type DeletionState, iso } from '../state';
import { kube } from '../steps';

/**
 * A run for an entry released during retention: resumes from the record when it is this workflow's and, unless
 * `own` (this run itself followed the incarnation the record names), when the previous run's published type and
 * bucket agree with it. Source- entries are never resumed. False: nothing resumed.
 */
export async function resumeFromRecord(run: Run, ref: SecretReference, own: boolean): Promise<boolean> {
  const { s } = run;
  const rec = await kube.readRetentionRecord(run.name, ref);
  const deletedAt = rec ? parseRfc3339(rec.deletionTimestamp) : undefined;
  const deadline = rec ? parseRfc3339(rec.deletionDeadline) : undefined;
  if (!rec || rec.workflowId !== workflowInfo().workflowId || !deletedAt?.ok || !deadline?.ok) return false;
  if (own && rec.uid !== s.uid) return false; // this run followed another incarnation
  if (run.name.startsWith(SOURCE_PREFIX)) {
    // source- entries are never retained without their BackupEntry: such a record was not written by this controller.
    const why = `a retention record names ${run.name}, but source- entries are never released during retention; nothing is deleted`;
    note(run, 'retention record refused', why);
    return false;
  }
  const pub = own ? undefined : await kube.readPublishedRun(workflowInfo().workflowId, workflowInfo().runId);
  const distrust = own ? undefined : distrusted(rec, pub);
  if (distrust) {
    note(run, 'retention record refused', `${distrust}; the record is not trusted and nothing is deleted`);
    return false;
  }
  s.uid = rec.uid;
  if (!own) {
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
    ...(rec.keepBackups ? { recordedKeep: true } : {}),
  };
  const cancelled = rec.keepBackups ? '; its cleanup was cancelled' : '';
  note(
    run,
    'resumed from the retention record',
    `retention of the released entry continues until ${iso(s.deletion.deadlineMs)}${cancelled}`,
  );
  if (rec.keepBackups)
    requestCancel(run, { by: 'retention-record', reason: 'cleanup cancelled before this run' }, false);
  return true;
}

/** Why the previous run's published search attributes do not vouch for `rec`; undefined when they do. */
function distrusted(rec: RetentionRecord, pub: PublishedRun | undefined): string | undefined {
  if (!pub) return 'Temporal knows no earlier run of this workflow';
  if (pub.phase === Phase.Deleted || pub.phase === Phase.Kept)
    return `the previous run ${pub.runId} ended ${pub.phase}`;
  if (pub.type !== rec.type || pub.bucket !== rec.bucketName)
    return `the previous run ${pub.runId} published type ${pub.type ?? '?'} and bucket ${pub.bucket ?? '?'}, the record says ${rec.type} and ${rec.bucketName}`;
  return undefined;
}

/**
 * The entry is gone while a retention was registered, or may have been (its registering step failed or timed out
 * after releasing it). Absence is not proof that nothing is left to do: the record on the anchor says whether the
 * release happened; a retention registered on a held entry whose finalizer someone removed goes on from a record
 * written now. False: nothing can vouch for the retention (the caller keeps the backups).
 */
export async function carryOnWithoutEntry(run: Run): Promise<boolean> {
  const { s } = run;
  const del: DeletionState = s.deletion!;
  const target = del.target;
  const rec = await kube.readRetentionRecord(run.name, target.secretRef);
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
  if (!ours) {
    del.recordedDeadlineMs = undefined;
    if (!(await persist(run, { deadline: true }))) {
      del.entryReleased = false;
      return false; // the credentials secret is gone: the backups cannot be deleted
    }
  }
  note(
    run,
    'entry gone during retention',
    `the BackupEntry is gone${ours ? ' (released by an earlier step)' : ''}; retention continues until ` +
      `${iso(del.deadlineMs)}, recorded on its retention anchor, secret ${anchorOf(run, target.secretRef)}`,
  );
  return true;
}

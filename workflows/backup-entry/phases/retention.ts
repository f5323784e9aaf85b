/**
 * A deleted entry's retention: registered once (deadline decided without I/O, then one step), waited out on the
 * timer, steered by annotations (force-deletion, keep-backups, retention-period, deletion-deadline).
 */
import { workflowInfo } from '@temporalio/workflow';
import {
  ANNOTATION_FORCE_DELETION,
  ANNOTATION_KEEP_BACKUPS,
  Operation,
  Phase,
  SOURCE_PREFIX,
  formatBytes,
  formatDuration,
  parseBoolAnnotation,
  parseDuration,
  parseRfc3339,
} from '../../../domain';
import type { ObservedEntry, StatusWrite, StorageTarget } from '../../../activities/types';
import { CONTINUE, type PassOutcome, type Run, note, record, setPhase } from '../context';
import { acceptedDeadline, retainsAtRegistration, retentionOf, says } from '../decide';
import { noteReleased, observedOf, persist, release, remember, report, uidOf } from '../effects';
import { applyExpedite, applyExtend, requestCancel } from '../requests';
import { type DeletionState, deletionMsOf, iso } from '../state';
import { kube } from '../steps';
import { orphaned } from './terminal';

/** The Pending status of a retained entry: until when, and how to change it. */
export function pendingReport(deadlineMs: number, inv?: DeletionState['inventory']): StatusWrite {
  return {
    kind: 'pending',
    operation: Operation.Delete,
    description:
      `Backups are retained until ${iso(deadlineMs)}${inv ? ` (${inv.objects} objects, ${formatBytes(inv.bytes)})` : ''}; ` +
      `to delete them now annotate ${ANNOTATION_FORCE_DELETION}=true or run "expedite", ` +
      `to keep them annotate ${ANNOTATION_KEEP_BACKUPS}=true or run "cancel-cleanup"`,
  };
}

/**
 * A deletion first seen: the retention is decided without I/O, then one local activity checks the credentials,
 * deletes the etcd-backup secret, writes Pending and records the deadline (or releases the entry). Until that step
 * is seen to succeed the registration is `unconfirmed` (it may have landed, or not). Returns an end when the
 * credentials are gone.
 */
export async function register(run: Run, entry: ObservedEntry): Promise<PassOutcome | undefined> {
  const { s } = run;
  const deletedAt = parseRfc3339(entry.deletionTimestamp!);
  const r = retentionOf(run.name, entry, run.settings.defaultRetentionMs, deletedAt.ok ? deletedAt.value : Date.now());
  const target: StorageTarget = { type: entry.type, bucketName: entry.bucketName, secretRef: { ...entry.secretRef } };
  target.uid = entry.uid;
  const del: DeletionState = {
    deletionTimestamp: entry.deletionTimestamp!,
    deadlineMs: r.deadlineMs,
    retentionMs: r.retentionMs,
    retentionSource: r.source,
    target,
    unconfirmed: true,
  };
  s.deletion = del;
  const retain = retainsAtRegistration(s, entry, del.deadlineMs, Date.now());
  const releasing = retain && entry.retentionMode === 'release-entry';
  const deadline = iso(del.deadlineMs);
  const res = await kube.beginDeletion(run.name, {
    entry,
    ...(retain ? { pending: { ...pendingReport(del.deadlineMs), ...observedOf(entry) } } : {}),
    ...(releasing ? { record: retentionRecord(run, del, entry.uid) } : {}),
    ...(retain && !releasing && entry.annotations.deletionDeadline !== deadline
      ? { decision: { uid: entry.uid, deletionDeadline: deadline } }
      : {}),
  });
  del.unconfirmed = undefined;
  if (!res.secretRefExists) {
    s.deletion = undefined;
    return orphaned(run, entry);
  }
  if (retain && !releasing) del.recordedDeadlineMs = del.deadlineMs;
  await noteRegistration(run, entry, r.warning, res.etcdSecret === 'kept-created-by-other');
  record(run, {
    action: 'retention-start',
    by: 'controller',
    reason: `retention ${formatDuration(r.retentionMs)} (${r.source})`,
    outcome: `the objects under ${run.prefix} in bucket ${target.bucketName} are deleted at ${deadline}`,
  });
  if (retain) remember(run, pendingReport(del.deadlineMs));
  if (res.released) {
    del.entryReleased = true;
    del.recordedDeadlineMs = del.deadlineMs;
    noteReleased(run);
  }
  return undefined;
}

function retentionRecord(run: Run, del: DeletionState, uid: string) {
  return {
    workflowId: workflowInfo().workflowId,
    uid,
    type: del.target.type,
    bucketName: del.target.bucketName,
    deletionTimestamp: del.deletionTimestamp,
    deletionDeadline: iso(del.deadlineMs),
  };
}

async function noteRegistration(
  run: Run,
  entry: ObservedEntry,
  warning: { reason: string; message: string } | undefined,
  etcdSecretOfAnother: boolean,
): Promise<void> {
  if (warning) {
    note(run, warning.reason, warning.message);
    await kube.recordEvent(run.name, {
      type: 'Warning',
      reason: warning.reason,
      message: warning.message,
      ...uidOf(entry),
    });
  }
  if (etcdSecretOfAnother) note(run, 'etcd-backup secret belongs to another entry', 'secret left in place');
}

/**
 * Waiting for the deadline: Pending on the held entry, the deadline written where a new run reads it, and in
 * `release-entry` mode the entry released once the retention is recorded on its anchor. `registered`: this pass
 * registered the retention, whose step wrote all of that already.
 */
export async function retain(run: Run, entry: ObservedEntry, registered: boolean): Promise<PassOutcome> {
  const del = run.s.deletion!;
  setPhase(run, Phase.Retaining);
  if (registered) return CONTINUE;
  await report(run, pendingReport(del.deadlineMs, del.inventory));
  if (del.entryReleased) {
    await persist(run, { deadline: true });
    return CONTINUE;
  }
  if (entry.annotations.deletionDeadline !== iso(del.deadlineMs)) {
    del.recordedDeadlineMs = undefined; // the entry says otherwise (edited by hand?): written again
    await persist(run, { deadline: true });
  }
  if (entry.retentionMode === 'release-entry' && entry.exists) await releaseEntry(run);
  return CONTINUE;
}

/**
 * `BEL_RETENTION_MODE=release-entry` for a retention registered on a held entry: the record on the anchor first,
 * then the entry's finalizer goes (docs/adr/0003). No anchor to keep the record on: the entry stays held.
 */
async function releaseEntry(run: Run): Promise<void> {
  const del = run.s.deletion!;
  del.entryReleased = true;
  del.recordedDeadlineMs = undefined;
  if (!(await persist(run, { deadline: true }))) {
    del.entryReleased = false;
    return;
  }
  await release(run, { secret: false });
  noteReleased(run);
}

/** Gardener forbids spec changes on a deleting entry; where that is not enforced, say so once and keep the target. */
export function noteSpecChange(run: Run, entry: ObservedEntry): void {
  const del = run.s.deletion;
  const t = del?.target;
  if (!del || !t || del.specChangeNoted || !entry.exists) return;
  const same =
    entry.type === t.type &&
    entry.bucketName === t.bucketName &&
    entry.secretRef.name === t.secretRef.name &&
    entry.secretRef.namespace === t.secretRef.namespace;
  if (same) return;
  del.specChangeNoted = true;
  note(
    run,
    'spec changed after deletion',
    `the entry now says type ${entry.type}, bucket ${entry.bucketName}, secret ${entry.secretRef.namespace}/${entry.secretRef.name}; ` +
      `ignored: the backups are deleted where they were when retention started (type ${t.type}, bucket ${t.bucketName}, ` +
      `secret ${t.secretRef.namespace}/${t.secretRef.name})`,
  );
}

/** Annotations an operator with only kubectl uses to steer a deletion (docs/design.md §4): state changes only. */
export function applyAnnotations(run: Run, entry: ObservedEntry): void {
  const { s } = run;
  const force = entry.annotations.forceDeletion;
  if (force !== undefined && !s.expedite && s.phase !== Phase.Deleting) {
    const v = parseBoolAnnotation(force);
    if (v.ok && v.value)
      applyExpedite(run, { by: 'kubectl-annotation', reason: `${ANNOTATION_FORCE_DELETION}=${force}` });
    else if (!v.ok && !s.decisions.some((d) => d.reason === v.error.message))
      record(run, {
        action: 'note',
        by: 'kubectl-annotation',
        reason: v.error.message,
        outcome: 'force-deletion ignored',
      });
  }
  const keep = entry.annotations.keepBackups;
  if (says(keep)) requestCancel(run, { by: 'kubectl-annotation', reason: `${ANNOTATION_KEEP_BACKUPS}=${keep}` }, false);
  applyDeadlineAnnotations(run, entry);
}

/** A longer retention-period annotation, or a later deletion-deadline annotation, extends the retention. */
function applyDeadlineAnnotations(run: Run, entry: ObservedEntry): void {
  const del = run.s.deletion;
  if (!del || del.receipt || run.s.phase === Phase.Deleting) return;
  const deletedMs = deletionMsOf(del);
  const period = entry.annotations.retentionPeriod;
  const d = period !== undefined ? parseDuration(period) : undefined;
  if (d?.ok && deletedMs + d.value > del.deadlineMs && !run.name.startsWith(SOURCE_PREFIX)) {
    applyExtend(run, {
      req: { requestedBy: 'kubectl-annotation', reason: `retention-period annotation changed to ${period}` },
      target: deletedMs + d.value,
    });
  }
  const accepted = acceptedDeadline(entry, deletedMs);
  if (accepted !== undefined && accepted > del.deadlineMs) {
    applyExtend(run, {
      req: {
        requestedBy: 'kubectl-annotation',
        reason: `deletion-deadline annotation says ${entry.annotations.deletionDeadline}`,
      },
      target: accepted,
    });
  }
}

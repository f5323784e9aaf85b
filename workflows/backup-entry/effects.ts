/**
 * The writes every phase shares, each one step: a status report, the release of our finalizers, and the durable
 * record of an operator decision (the accepted deadline, a cancelled cleanup) where a new run reads it.
 */
import { workflowInfo } from '@temporalio/workflow';
import { isRetentionAnchorName, retentionAnchorName } from '../../domain';
import type { ObservedEntry, SecretReference, StatusWrite } from '../../activities/types';
import { type Run, note } from './context';
import { iso, nowIso } from './state';
import { kube } from './steps';

const STATES = { processing: 'Processing', error: 'Error', succeeded: 'Succeeded', pending: 'Pending' } as const;

/** Writes a status on the entry (none once it was released) and remembers it as the last operation. */
export async function report(run: Run, r: StatusWrite): Promise<void> {
  if (!run.s.deletion?.entryReleased) await kube.writeStatus(run.name, { ...r, ...observedOf(run.entry) });
  remember(run, r);
}

/** The status as the workflow last wrote it (also for writes done inside a larger step). */
export function remember(run: Run, r: Pick<StatusWrite, 'kind' | 'operation' | 'description'>): void {
  run.s.lastOperation = { type: r.operation, state: STATES[r.kind], description: r.description, at: nowIso() };
  if (r.kind === 'succeeded' || r.kind === 'pending') run.s.lastError = undefined;
}

/** Releases our finalizers (secret first); the remembered secretRef stands in for the spec of a vanished entry. */
export function release(run: Run, opts: { secret: boolean; allEntryFinalizers?: boolean }): Promise<void> {
  const ref = opts.secret && run.s.secretRef ? { secretRef: run.s.secretRef } : {};
  return kube.releaseFinalizers(run.name, { ...opts, ...ref });
}

/**
 * Writes the accepted deadline and/or a cancelled cleanup where a new run reads it: onto the entry, or, once the
 * entry was released during retention, into the retention record on its anchor (activities/retention-anchor.ts).
 * Marks every operator update that came before it as persisted. False when there was nothing to write it on.
 */
export async function persist(run: Run, what: { deadline?: true; keep?: true }): Promise<boolean> {
  const { s } = run;
  const del = s.deletion;
  const upTo = run.msgs.next;
  if (!s.uid || !del) return persisted(run, upTo, false);
  const deadlineMs = del.deadlineMs;
  const keep = what.keep === true || (del.entryReleased === true && s.cancel !== undefined);
  const needed = (what.deadline && del.recordedDeadlineMs !== deadlineMs) || (keep && !del.recordedKeep);
  if (!needed) return persisted(run, upTo, true);
  const written = del.entryReleased
    ? await kube.recordRetention(run.name, del.target.secretRef, {
        workflowId: workflowInfo().workflowId,
        uid: s.uid,
        type: del.target.type,
        bucketName: del.target.bucketName,
        deletionTimestamp: del.deletionTimestamp,
        deletionDeadline: iso(deadlineMs),
        ...(keep ? { keepBackups: true } : {}),
      })
    : await kube.persistDecision(run.name, {
        uid: s.uid,
        ...(what.deadline ? { deletionDeadline: iso(deadlineMs) } : {}),
        ...(keep ? { keepBackups: true } : {}),
      });
  if (written && (what.deadline || del.entryReleased)) del.recordedDeadlineMs = deadlineMs;
  if (written && keep) del.recordedKeep = true;
  return persisted(run, upTo, written);
}

function persisted(run: Run, upTo: number, written: boolean): boolean {
  run.msgs.persisted = Math.max(run.msgs.persisted, upTo);
  return written;
}

/** `namespace/name` of this entry's retention anchor beside the credentials `ref` (activities/retention-anchor.ts). */
export function anchorOf(run: Run, ref: SecretReference): string {
  return `${ref.namespace}/${isRetentionAnchorName(ref.name) ? ref.name : retentionAnchorName(run.name)}`;
}

export function noteReleased(run: Run): void {
  const del = run.s.deletion!;
  note(
    run,
    'entry released during retention',
    `the BackupEntry was released (BEL_RETENTION_MODE=release-entry); retention continues on this workflow until ` +
      `${iso(del.deadlineMs)}, recorded on its retention anchor, secret ${anchorOf(run, del.target.secretRef)}`,
  );
}

/** What a pass read of the entry, for a status report written without reading it again. */
export function observedOf(entry: ObservedEntry | undefined): Pick<StatusWrite, 'observed'> {
  return entry?.exists
    ? {
        observed: {
          generation: entry.generation,
          ...(entry.annotations.timestamp !== undefined ? { timestamp: entry.annotations.timestamp } : {}),
        },
      }
    : {};
}

/** The entry's uid for an Event, when the pass read one (saves the activity a read). */
export function uidOf(entry: ObservedEntry | undefined): { entryUid?: string } {
  return entry?.exists && entry.uid ? { entryUid: entry.uid } : {};
}

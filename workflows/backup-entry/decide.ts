/**
 * The workflow's decisions, pure: state + the entry as observed + now → the next step. No I/O, no workflow APIs:
 * property-tested in test/unit/workflows/decide.test.ts. The phases carry the steps out and call these again with
 * the state they changed, until a step ends the pass.
 */
import {
  MAX_RETENTION_MS,
  Operation,
  SOURCE_PREFIX,
  decideOperation,
  parseBoolAnnotation,
  parseRfc3339,
  retentionDeadline,
  type DomainError,
} from '../../domain';
import type { ObservedEntry } from '../../activities/types';
import { type CarriedState, FINISHED_PHASES } from './state';

/** What a pass does next with the entry it observed. */
export type Next =
  /** Entry gone, no deletion known: the retention record on the anchor may say the retention goes on. */
  | { kind: 'resume'; from: 'start-input' | 'own-secret' }
  /** Entry gone while its (held, or maybe released) retention was registered: ask the anchor before going on. */
  | { kind: 'verify-retention' }
  /** Entry gone, released during retention: the deletion goes on from what was pinned. */
  | { kind: 'released-deletion' }
  /** Entry gone, nothing (more) to do for it. */
  | { kind: 'gone' }
  /** A new incarnation (another uid) under the same name: the old lifecycle ends here. */
  | { kind: 'recreated' }
  /** The entry's name is no BackupEntry name. */
  | { kind: 'invalid-name' }
  | { kind: 'wait-for-state' }
  | { kind: 'skip-migrated' }
  | { kind: 'migrate' }
  | { kind: 'deletion' }
  | { kind: 'reconcile'; operation: Operation };

/** What the pass already tried (each at most once per pass). */
export interface Tried {
  resumeStartInput?: boolean;
  resumeOwnSecret?: boolean;
}

/** The next step of a pass. `retained`: the run was started (or continued) with a retention record to resume. */
export function nextStep(s: CarriedState, e: ObservedEntry, validName: boolean, retained: boolean, tried: Tried): Next {
  if (!e.exists) return nextWithoutEntry(s, retained, tried);
  if (s.uid && e.uid && e.uid !== s.uid) return { kind: 'recreated' };
  if (!validName) return { kind: 'invalid-name' };
  const d = decideOperation({
    ...(e.annotations.operation ? { operationAnnotation: e.annotations.operation } : {}),
    ...(e.deletionTimestamp ? { deletionTimestamp: e.deletionTimestamp } : {}),
    ...(e.lastOperation ? { lastOperation: e.lastOperation } : {}),
  });
  if (d.kind !== 'run') return { kind: d.kind };
  if (d.operation === Operation.Migrate) return { kind: 'migrate' };
  if (d.operation === Operation.Delete) return { kind: 'deletion' };
  return { kind: 'reconcile', operation: d.operation };
}

function nextWithoutEntry(s: CarriedState, retained: boolean, tried: Tried): Next {
  const del = s.deletion;
  if (!del && retained && !tried.resumeStartInput) return { kind: 'resume', from: 'start-input' };
  if (!del && vanished(s) && s.secretRef && !tried.resumeOwnSecret) return { kind: 'resume', from: 'own-secret' };
  if (del && !del.receipt && !del.entryReleased) return { kind: 'verify-retention' };
  if (del && !del.receipt) return { kind: 'released-deletion' };
  return { kind: 'gone' };
}

/** The run followed an entry that is gone without this run having seen its deletion (nor finished with it). */
export function vanished(s: CarriedState): boolean {
  return !s.deletion && Boolean(s.uid) && !FINISHED_PHASES.includes(s.phase);
}

/** What the deletion phase does next. */
export type DeletionStep =
  /** Never ours (or already released): nothing to clean. */
  | 'not-ours'
  /** The deletion is first seen (or its registration was not confirmed): register the retention. */
  | 'register'
  /** Cleanup cancelled: keep every object. */
  | 'keep'
  /** Wait for the deadline. */
  | 'retain'
  /** Delete the backups now. */
  | 'delete';

export function deletionStep(s: CarriedState, e: ObservedEntry, now: number): DeletionStep {
  const del = s.deletion;
  if (e.exists && !e.hasFinalizer && !del) return 'not-ours';
  if (!del || (del.unconfirmed && e.exists)) return 'register';
  if (s.cancel || s.cancelRequest) return 'keep';
  if (!s.expedite && now < del.deadlineMs) return 'retain';
  return 'delete';
}

/** The retention of a just-deleted entry: its deadline, where the period came from, and a warning to show. */
export interface Retention {
  deadlineMs: number;
  retentionMs: number;
  source: string;
  warning?: DomainError;
}

export function retentionOf(name: string, e: ObservedEntry, defaultRetentionMs: number, deletedMs: number): Retention {
  // Control-plane migration: gardenlet waits at most 10 minutes for a `source-` entry to go, so it is never retained
  // (and gardenlet's force-deletion annotation never reaches the extension object).
  if (name.startsWith(SOURCE_PREFIX))
    return { deadlineMs: deletedMs, retentionMs: 0, source: 'control-plane migration copy: not retained' };
  const r = retentionDeadline({
    deletionTimestampMs: deletedMs,
    defaultRetentionMs: e.defaultRetentionMs ?? defaultRetentionMs,
    ...(e.annotations.retentionPeriod !== undefined ? { annotation: e.annotations.retentionPeriod } : {}),
  });
  const accepted = acceptedDeadline(e, deletedMs);
  const base =
    accepted !== undefined && accepted > r.deadlineMs
      ? { deadlineMs: accepted, retentionMs: accepted - deletedMs, source: 'accepted by an earlier run' }
      : { deadlineMs: r.deadlineMs, retentionMs: r.retentionMs, source: r.source as string };
  return r.warning ? { ...base, warning: r.warning } : base;
}

/** A deadline written on the entry (by an earlier run, or by hand), bounded to 10 years after the deletion. */
export function acceptedDeadline(e: ObservedEntry, deletedMs: number): number | undefined {
  const text = e.annotations.deletionDeadline;
  const t = text !== undefined ? parseRfc3339(text) : undefined;
  return t?.ok ? Math.min(t.value, deletedMs + MAX_RETENTION_MS) : undefined;
}

/** An annotation that says `true` (parsed as Gardener does). */
export function says(v: string | undefined): boolean {
  const b = v !== undefined ? parseBoolAnnotation(v) : undefined;
  return b?.ok === true && b.value;
}

/**
 * Whether a deletion first seen waits out a retention (and so gets a Pending status and a recorded deadline): not
 * when cleanup is cancelled or expedited already, by message or annotation, nor when the deadline has passed.
 */
export function retainsAtRegistration(s: CarriedState, e: ObservedEntry, deadlineMs: number, now: number): boolean {
  return (
    !s.cancel &&
    !s.cancelRequest &&
    !s.expedite &&
    !says(e.annotations.forceDeletion) &&
    !says(e.annotations.keepBackups) &&
    now < deadlineMs
  );
}

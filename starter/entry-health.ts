/**
 * What the watcher's operability gauges say about the served BackupEntries. From its informer cache: entries by the
 * phase their status shows, failing entries by Gardener error code and how long the longest has been failing, and
 * held retaining entries (status Delete/Pending with the deletion-deadline annotation). From Temporal visibility
 * (retention-calendar.ts, read every `BEL_WATCHER_CALENDAR_PERIOD`): every retaining workflow by deadline, which also
 * covers entries released during retention (`BEL_RETENTION_MODE=release-entry`: no BackupEntry left to watch). Merged:
 * entries due within 1 h / 24 h / 7 d, and entries whose deadline has passed while their deletion has not started,
 * with the age of the most overdue one. Pure functions plus a small clock of "failing since", so the rules are
 * unit-tested without servers. No per-entry labels: every label value comes from a fixed list.
 */
import { GardenerErrorCode, OperationState, parseRfc3339 } from '../domain';
import type { WatchedEntry } from './intent';
import type { CalendarSnapshot } from './retention-calendar';

/** Phases as an entry's status shows them (label values of `bel_watcher_entries_by_phase`). */
export const STATUS_PHASES = [
  'New',
  'Reconciling',
  'Ready',
  'Error',
  'Retaining',
  'Deleting',
  'Deleted',
  'Migrated',
] as const;
/** One of {@link STATUS_PHASES}. */
export type StatusPhase = (typeof STATUS_PHASES)[number];

/** Label values of `bel_watcher_error_entries{code}`: Gardener's codes, `other` (unknown text) and `none` (no code). */
export const ERROR_CODE_LABELS = [...Object.values(GardenerErrorCode), 'other', 'none'] as const;

/** Windows of `bel_watcher_retention_due_entries{within}`. */
export const DUE_WINDOWS = { '1h': 3600_000, '24h': 24 * 3600_000, '7d': 7 * 24 * 3600_000 } as const;
/** One of the {@link DUE_WINDOWS}. */
export type DueWindow = keyof typeof DUE_WINDOWS;

/**
 * The phase an entry's status shows: `New` (no status yet), `Error` (a `lastError` is set: the last attempt failed,
 * also while a retry runs — a retry writes Processing and keeps `lastError`), `Retaining` (Delete/Pending), `Deleting`
 * (deletion requested or running), `Deleted` (Delete/Succeeded, the finalizer is about to go), `Migrated`
 * (Migrate/Succeeded), `Ready` (Succeeded), `Reconciling` (anything else, e.g. Processing).
 */
export function statusPhase(e: WatchedEntry): StatusPhase {
  const last = e.lastOperation;
  if (!last) return 'New';
  if (e.lastError || last.state === OperationState.Error) return 'Error';
  if (e.deletionTimestamp !== undefined || last.type === 'Delete') {
    if (last.type === 'Delete' && last.state === OperationState.Pending) return 'Retaining';
    if (last.type === 'Delete' && last.state === OperationState.Succeeded) return 'Deleted';
    return 'Deleting';
  }
  if (last.type === 'Migrate' && last.state === OperationState.Succeeded) return 'Migrated';
  if (last.state === OperationState.Succeeded) return 'Ready';
  return 'Reconciling';
}

const RETAINED_UNTIL = /retained until (\S+?)(?:[ ;,]|$)/;

/**
 * The accepted deletion deadline (epoch ms) of a deleted entry: the `deletion-deadline` annotation the workflow writes
 * while retaining, else the time in the Pending status' description ("Backups are retained until <RFC3339>").
 * Undefined for an entry that is not being deleted or shows neither.
 */
export function deadlineOf(e: WatchedEntry): number | undefined {
  if (e.deletionTimestamp === undefined) return undefined;
  const fromAnnotation =
    e.annotations.deletionDeadline !== undefined ? parseRfc3339(e.annotations.deletionDeadline) : undefined;
  if (fromAnnotation?.ok) return fromAnnotation.value;
  const m = e.lastOperation?.type === 'Delete' ? RETAINED_UNTIL.exec(e.lastOperation.description ?? '') : null;
  const fromDescription = m ? parseRfc3339(m[1]!) : undefined;
  return fromDescription?.ok ? fromDescription.value : undefined;
}

/**
 * Since when each failing entry has been failing, as far as this watcher saw: set when it first sees a `lastError`
 * (to that error's `lastUpdateTime`, else now) and kept through retries (which rewrite the time), cleared when the
 * error is cleared (a success, or the Pending status of a retention) or the entry is re-created or gone. Lives as
 * long as the watcher process, across leadership terms; a new process starts from each failing entry's latest
 * error time, so after a restart an alert on it may take up to its threshold again.
 */
export class FailingSince {
  private readonly since = new Map<string, { uid: string; atMs: number }>();

  /** Looks at an entry's current state. */
  observe(e: WatchedEntry, nowMs: number): void {
    if (!e.lastError) {
      this.since.delete(e.name);
      return;
    }
    const known = this.since.get(e.name);
    if (known && known.uid === e.uid) return;
    const t = e.lastError.lastUpdateTime !== undefined ? parseRfc3339(e.lastError.lastUpdateTime) : undefined;
    this.since.set(e.name, { uid: e.uid, atMs: t?.ok ? Math.min(t.value, nowMs) : nowMs });
  }

  forget(name: string): void {
    this.since.delete(name);
  }

  /** Forgets every entry not in `names` (after a full list). */
  keepOnly(names: ReadonlySet<string> | ReadonlyMap<string, unknown>): void {
    for (const name of [...this.since.keys()]) if (!names.has(name)) this.since.delete(name);
  }

  /** When the entry started failing (epoch ms), if it is failing. */
  of(e: WatchedEntry): number | undefined {
    const known = this.since.get(e.name);
    return known && known.uid === e.uid ? known.atMs : undefined;
  }
}

/** What the gauges show. Times in seconds; 0 where there is nothing to measure. */
export interface EntryHealth {
  byPhase: Record<StatusPhase, number>;
  /** Failing entries by Gardener error code (an entry with two codes counts under both). */
  errorsByCode: Record<string, number>;
  /** How long the longest-failing entry has been failing. */
  errorLongestSeconds: number;
  /** Retaining entries whose deadline is in the future and at most this far away. */
  dueWithin: Record<DueWindow, number>;
  /** Retaining entries (deletion not started) whose deadline has passed. */
  overdue: number;
  /** How far past its deadline the most overdue of them is. */
  overdueLongestSeconds: number;
  /** Running workflows in phase Retaining (visibility; 0 without a calendar). */
  retainingWorkflows: number;
  /** Workflows that ended Orphaned, backups left behind (visibility; 0 without a calendar). */
  leftBehindWorkflows: number;
}

/** Health with every count zero (a standby watcher, or no entries). */
export function emptyHealth(): EntryHealth {
  return {
    byPhase: Object.fromEntries(STATUS_PHASES.map((p) => [p, 0])) as Record<StatusPhase, number>,
    errorsByCode: Object.fromEntries(ERROR_CODE_LABELS.map((c) => [c, 0])),
    errorLongestSeconds: 0,
    dueWithin: { '1h': 0, '24h': 0, '7d': 0 },
    overdue: 0,
    overdueLongestSeconds: 0,
    retainingWorkflows: 0,
    leftBehindWorkflows: 0,
  };
}

const KNOWN_CODES: ReadonlySet<string> = new Set(Object.values(GardenerErrorCode));

/**
 * Summarizes the (served) entries at `nowMs`; `failing` says since when failing entries fail. With a `calendar` from
 * visibility, overdue and due-within-1h entries are the union (by entry name) of what the informer and visibility
 * show — visibility sees released entries, the informer sees held entries whose workflow is not running (e.g.
 * terminated by hand) — and the 24 h / 7 d counts the larger of both.
 */
export function summarizeEntries(
  entries: Iterable<WatchedEntry>,
  nowMs: number,
  failing: FailingSince,
  calendar?: CalendarSnapshot,
): EntryHealth {
  const h = emptyHealth();
  const overdue = new Map<string, number>();
  const dueSoon = new Set<string>();
  for (const e of entries) {
    const phase = statusPhase(e);
    h.byPhase[phase] += 1;
    if (phase === 'Error') {
      const codes = new Set((e.lastError?.codes ?? []).map((c) => (KNOWN_CODES.has(c) ? c : 'other')));
      if (codes.size === 0) codes.add('none');
      for (const c of codes) h.errorsByCode[c] = (h.errorsByCode[c] ?? 0) + 1;
      const t = e.lastError?.lastUpdateTime !== undefined ? parseRfc3339(e.lastError.lastUpdateTime) : undefined;
      const since = failing.of(e) ?? (t?.ok ? t.value : nowMs);
      h.errorLongestSeconds = Math.max(h.errorLongestSeconds, (nowMs - since) / 1000);
    }
    if (phase !== 'Retaining') continue;
    const deadline = deadlineOf(e);
    if (deadline === undefined) continue;
    if (deadline <= nowMs) {
      overdue.set(e.name, deadline);
      continue;
    }
    if (deadline - nowMs <= DUE_WINDOWS['1h']) dueSoon.add(e.name);
    for (const [w, ms] of Object.entries(DUE_WINDOWS) as [DueWindow, number][])
      if (deadline - nowMs <= ms) h.dueWithin[w] += 1;
  }
  if (calendar) {
    let overdueInCalendar = 0;
    for (const { entry, deadlineMs } of calendar.soon) {
      if (deadlineMs <= nowMs) {
        overdueInCalendar += 1;
        overdue.set(entry, Math.min(deadlineMs, overdue.get(entry) ?? Infinity));
      } else if (deadlineMs - nowMs <= DUE_WINDOWS['1h']) dueSoon.add(entry);
    }
    h.dueWithin['1h'] = dueSoon.size;
    h.dueWithin['24h'] = Math.max(h.dueWithin['24h'], calendar.upTo24h - overdueInCalendar);
    h.dueWithin['7d'] = Math.max(h.dueWithin['7d'], calendar.upTo7d - overdueInCalendar);
    h.retainingWorkflows = calendar.retaining;
    h.leftBehindWorkflows = calendar.leftBehind ?? 0;
  }
  h.overdue = overdue.size;
  for (const deadline of overdue.values())
    h.overdueLongestSeconds = Math.max(h.overdueLongestSeconds, (nowMs - deadline) / 1000);
  h.errorLongestSeconds = Math.round(h.errorLongestSeconds * 1000) / 1000;
  h.overdueLongestSeconds = Math.round(h.overdueLongestSeconds * 1000) / 1000;
  return h;
}

/**
 * The retention calendar from Temporal visibility, for the watcher's metrics: every running BackupEntry workflow of
 * this seed in phase `Retaining` keeps its deadline in the `DeletionScheduledAt` search attribute, whatever the
 * retention mode. With `BEL_RETENTION_MODE=release-entry` (the default) a retained entry has left the API server, so
 * the informer cache alone cannot see it; visibility can. The leader reads it every `BEL_WATCHER_CALENDAR_PERIOD`
 * (default 30 s): the retaining workflows due within the next hour (names and deadlines, so overdue ones are judged
 * against the clock at scrape time), and counts for 24 h, 7 d and in total. A few cheap visibility calls per period.
 */
import type { Client } from '@temporalio/client';
import { buildListQuery } from './cli/commands';
import { BACKUP_ENTRY_NAME, DELETION_SCHEDULED_AT } from '../workflows/search-attributes';
import { parseWorkflowId, Phase } from '../domain';

/** What one read of visibility found. */
export interface CalendarSnapshot {
  /** When it was read (epoch ms). */
  atMs: number;
  /** Retaining workflows whose deadline is at most `atMs + 1 h` (overdue ones included): entry and deadline. */
  soon: Array<{ entry: string; deadlineMs: number }>;
  /** Retaining workflows whose deadline is at most `atMs + 24 h` / `+ 7 d` (overdue ones included). */
  upTo24h: number;
  upTo7d: number;
  /** Every running retaining workflow of this seed. */
  retaining: number;
  /**
   * Workflows of this seed that ended `Orphaned` (backups left behind that nobody will delete: the credentials were
   * gone at deletion, or the entry vanished while its retention was registered and nothing vouched for it), as long
   * as the namespace's retention keeps closed runs in visibility. Absent in snapshots taken before it was counted.
   */
  leftBehind?: number;
}

/** Horizon of {@link CalendarSnapshot.soon}. */
export const SOON_MS = 3600_000;

/**
 * Reads the calendar of `clusterIdentity`'s workflows at `nowMs` (same queries as `backupentry list --due-within`).
 * `maxRows` bounds the listing of the next hour (a burst of deadlines); beyond it the counts still hold.
 */
export async function readRetentionCalendar(
  client: Client,
  clusterIdentity: string,
  nowMs: number,
  maxRows = 10_000,
): Promise<CalendarSnapshot> {
  const q = (dueWithinMs?: number): string =>
    buildListQuery(
      clusterIdentity,
      dueWithinMs === undefined ? { running: true, phase: 'Retaining' } : { dueWithinMs },
      nowMs,
    );
  const soon: CalendarSnapshot['soon'] = [];
  for await (const wf of client.workflow.list({ query: q(SOON_MS), pageSize: 1000 })) {
    const due = wf.typedSearchAttributes.get(DELETION_SCHEDULED_AT);
    if (due)
      soon.push({
        entry:
          wf.typedSearchAttributes.get(BACKUP_ENTRY_NAME) ?? parseWorkflowId(wf.workflowId)?.entryName ?? wf.workflowId,
        deadlineMs: due.getTime(),
      });
    if (soon.length >= maxRows) break;
  }
  const orphaned = buildListQuery(clusterIdentity, { phase: Phase.Orphaned }, nowMs);
  const [upTo24h, upTo7d, retaining, leftBehind] = await Promise.all(
    [q(24 * 3600_000), q(7 * 24 * 3600_000), q(), orphaned].map(
      async (query) => (await client.workflow.count(query)).count,
    ),
  );
  return { atMs: nowMs, soon, upTo24h: upTo24h!, upTo7d: upTo7d!, retaining: retaining!, leftBehind: leftBehind! };
}

/** Options of {@link CalendarRefresh}. */
export interface CalendarRefreshOptions {
  /** Refresh period; 0 disables the calendar. */
  periodMs: number;
  /** One read (e.g. {@link readRetentionCalendar} through the term's Temporal deadline). */
  read(): Promise<CalendarSnapshot>;
  /** A read failed; the last snapshot is kept. */
  onError(err: unknown): void;
}

/**
 * The leader's periodic calendar read: one read at a time, the last good snapshot kept, and a snapshot that could not
 * be refreshed for long (Temporal unreachable) dropped rather than trusted.
 */
export class CalendarRefresh {
  private snapshot?: CalendarSnapshot;
  private timer?: NodeJS.Timeout;
  private reading = false;

  constructor(private readonly o: CalendarRefreshOptions) {}

  /** Reads now and then every period (nothing when the period is 0). */
  start(): void {
    if (this.o.periodMs <= 0) return;
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.o.periodMs);
    this.timer.unref();
  }

  /** Stops the refresh (a read in flight is left to end on its own). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** The last snapshot, unless it is older than ten periods (at least 5 min) at `nowMs`. */
  current(nowMs: number): CalendarSnapshot | undefined {
    const maxAge = Math.max(10 * this.o.periodMs, 300_000);
    return this.snapshot && nowMs - this.snapshot.atMs <= maxAge ? this.snapshot : undefined;
  }

  private async refresh(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    try {
      this.snapshot = await this.o.read();
    } catch (err) {
      this.o.onError(err);
    } finally {
      this.reading = false;
    }
  }
}

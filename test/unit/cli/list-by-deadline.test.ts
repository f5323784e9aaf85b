/**
 * `backupentry list --due-within <duration>` and `list --overdue`: the visibility query, the order (by deadline) and
 * the table, with a stand-in for the client's visibility listing (no server).
 */
import type { Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { buildListQuery, sortByDeadline } from '../../../starter/cli/commands';
import { type EntryRow, formatEntryTable } from '../../../starter/cli/format';
import { runCli } from '../../../starter/cli/program';
import {
  BACKUP_BUCKET,
  BACKUP_ENTRY_NAME,
  BACKUP_ENTRY_PHASE,
  BACKUP_ENTRY_TYPE,
  DELETION_SCHEDULED_AT,
} from '../../../workflows/search-attributes';

const NOW = Date.parse('2026-11-25T12:00:00Z');
const row = (entry: string, deletionDue?: string, phase = 'Retaining'): EntryRow => ({
  entry,
  workflowId: `backupentry/s/${entry}`,
  runId: 'r',
  status: 'Running',
  phase,
  ...(deletionDue ? { deletionDue } : {}),
});

describe('list by deadline (no server)', () => {
  it('asks visibility for running, retaining workflows due by now + the window, or overdue', () => {
    expect(buildListQuery('seed-a', { dueWithinMs: 24 * 3600_000 }, NOW)).toBe(
      'WorkflowType = "backupEntryWorkflow" AND ' +
        'WorkflowId STARTS_WITH "backupentry/seed-a/" AND ExecutionStatus = "Running" AND BackupEntryPhase = "Retaining" AND ' +
        'DeletionScheduledAt <= "2026-11-26T12:00:00.000Z"',
    );
    expect(buildListQuery('seed-a', { overdue: true, allClusters: true }, NOW)).toBe(
      'WorkflowType = "backupEntryWorkflow" AND ' +
        'ExecutionStatus = "Running" AND BackupEntryPhase = "Retaining" AND DeletionScheduledAt < "2026-11-25T12:00:00.000Z"',
    );
  });

  it('sorts by deadline, soonest (most overdue) first, rows without a deadline last in their order', () => {
    const rows = [
      row('c', '2026-11-25T15:00:00Z'),
      row('x'),
      row('a', '2026-11-25T11:00:00Z'),
      row('y'),
      row('b', '2026-11-25T12:30:00Z'),
    ];
    expect(sortByDeadline(rows).map((r) => r.entry)).toEqual(['a', 'b', 'c', 'x', 'y']);
  });

  it('marks a retaining entry whose deadline has passed as OVERDUE in the table', () => {
    expect(formatEntryTable([row('a', '2026-11-25T11:55:00Z'), row('b', '2026-11-25T13:00:00Z')], NOW)).toBe(
      [
        'ENTRY  TYPE  PHASE      BUCKET  DELETION DUE',
        'a      -     Retaining  -       2026-11-25T11:55:00Z (5m ago, OVERDUE)',
        'b      -     Retaining  -       2026-11-25T13:00:00Z (in 1h)',
        '',
      ].join('\n'),
    );
  });

  describe('through the command line', () => {
    const queries: string[] = [];
    const wf = (entry: string, due: string) => ({
      workflowId: `backupentry/seed-a/${entry}`,
      runId: 'r',
      status: { name: 'RUNNING' },
      typedSearchAttributes: new TypedSearchAttributes([
        { key: BACKUP_ENTRY_NAME, value: entry },
        { key: BACKUP_ENTRY_PHASE, value: 'Retaining' },
        { key: BACKUP_ENTRY_TYPE, value: 'gcp' },
        { key: BACKUP_BUCKET, value: 'bkt' },
        { key: DELETION_SCHEDULED_AT, value: new Date(due) },
      ]),
    });
    // Visibility order is not deadline order (the dev server's SQLite visibility cannot ORDER BY a search attribute).
    const listed = [
      wf('late', '2099-01-03T00:00:00Z'),
      wf('soon', '2099-01-01T00:00:00Z'),
      wf('mid', '2099-01-02T00:00:00Z'),
    ];
    const client = {
      workflow: {
        list: ({ query }: { query: string }) => {
          queries.push(query);
          return (async function* () {
            yield* listed;
          })();
        },
      },
    } as unknown as Client;
    const cli = async (...argv: string[]): Promise<{ code: number; out: string; err: string }> => {
      let out = '';
      let err = '';
      const code = await runCli(argv, {
        client,
        env: { BEL_CLUSTER_IDENTITY: 'seed-a' },
        out: { write: (t: string) => (out += t) },
        err: { write: (t: string) => (err += t) },
      });
      return { code, out, err };
    };

    it('--due-within 24h: every match, sorted by deadline, then the limit', async () => {
      const r = await cli('list', '--due-within', '24h', '--limit', '2', '-o', 'json');
      expect(r.code).toBe(0);
      expect((JSON.parse(r.out) as EntryRow[]).map((x) => x.entry)).toEqual(['soon', 'mid']);
      expect(queries.at(-1)).toMatch(
        /AND BackupEntryPhase = "Retaining" AND DeletionScheduledAt <= "\d{4}-\d\d-\d\dT[\d:.]+Z"$/,
      );
    });

    it('--overdue: the past-deadline query, sorted', async () => {
      const r = await cli('list', '--overdue');
      expect(r.code).toBe(0);
      expect(
        r.out
          .split('\n')
          .slice(1, 4)
          .map((l) => l.split(' ')[0]),
      ).toEqual(['soon', 'mid', 'late']);
      expect(queries.at(-1)).toMatch(/DeletionScheduledAt < "/);
    });

    it('refuses (exit 2) a bad duration and combinations that contradict each other', async () => {
      expect((await cli('list', '--due-within', 'soon')).code).toBe(2);
      expect(await cli('list', '--overdue', '--phase', 'Ready')).toMatchObject({ code: 2 });
      expect(await cli('list', '--overdue', '--due-within', '1h')).toMatchObject({ code: 2 });
      const n = queries.length;
      expect((await cli('list', '--due-within', '-1h')).code).toBe(2);
      expect(queries.length).toBe(n); // refused before asking Temporal
    });
  });
});

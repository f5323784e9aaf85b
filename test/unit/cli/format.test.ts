import { buildListQuery, parsePhase } from '../../../starter/cli/commands';
import { CliError } from '../../../starter/cli/errors';
import {
  formatBytes,
  formatDecision,
  formatEntryTable,
  formatRelative,
  formatStatus,
} from '../../../starter/cli/format';

const NOW = Date.parse('2026-11-25T12:00:00Z');

describe('CLI formatting and queries (no server)', () => {
  it('builds the visibility query: our type and seed, no continued-as-new runs, optional phase or running only', () => {
    expect(buildListQuery('seed-a')).toBe(
      'WorkflowType = "backupEntryWorkflow" AND WorkflowId STARTS_WITH "backupentry/seed-a/" ' +
        'AND ExecutionStatus != "ContinuedAsNew"',
    );
    expect(buildListQuery('seed-a', { phase: 'Retaining', running: true, allClusters: true })).toBe(
      'WorkflowType = "backupEntryWorkflow" AND ExecutionStatus = "Running" AND BackupEntryPhase = "Retaining"',
    );
  });

  it('reads phases case-insensitively and refuses unknown ones with exit code 2', () => {
    expect(parsePhase('retaining')).toBe('Retaining');
    expect(() => parsePhase('Gone')).toThrow(CliError);
    expect(() => parsePhase('Gone')).toThrow(/use one of Reconciling, Ready, Error, Retaining/);
  });

  it('formats sizes and relative times', () => {
    expect([formatBytes(0), formatBytes(300), formatBytes(5.6 * 1024 ** 3)]).toEqual(['0 B', '300 B', '5.6 GiB']);
    expect(formatRelative(NOW + 3599_400, NOW)).toBe('in 59m59s');
    expect(formatRelative(NOW - 90_000, NOW)).toBe('1m30s ago');
  });

  it('renders the list as aligned columns with the deletion due time and how far away it is', () => {
    const table = formatEntryTable(
      [
        {
          entry: 'shoot--a--b--1',
          workflowId: 'w1',
          runId: 'r1',
          status: 'Running',
          type: 'gcp',
          phase: 'Retaining',
          bucket: 'bkt',
          deletionDue: '2026-11-25T13:00:00Z',
        },
        {
          entry: 'shoot--a--c--2',
          workflowId: 'w2',
          runId: 'r2',
          status: 'Running',
          type: 'local',
          phase: 'Ready',
          bucket: 'bucket-long',
        },
      ],
      NOW,
    );
    expect(table).toBe(
      [
        'ENTRY           TYPE   PHASE      BUCKET       DELETION DUE',
        'shoot--a--b--1  gcp    Retaining  bkt          2026-11-25T13:00:00Z (in 1h)',
        'shoot--a--c--2  local  Ready      bucket-long  -',
        '',
      ].join('\n'),
    );
    expect(formatEntryTable([], NOW)).toBe('No BackupEntry workflows match.\n');
  });

  it("tells a deleting entry's story with heartbeat progress and the decision log", () => {
    const text = formatStatus(
      {
        workflowId: 'backupentry/s/e',
        runId: 'r',
        executionStatus: 'Running',
        progress: {
          deletedObjects: 1234,
          deletedBytes: 2048,
          listedObjects: 2000,
          lockedObjects: 0,
          rewrittenObjects: 0,
          attempt: 2,
          lastHeartbeatAt: '2026-11-25T11:59:57Z',
        },
        view: {
          entryName: 'e',
          phase: 'Deleting',
          summary: 'Deleting 3,000 objects (1.0 MiB)',
          type: 'gcp',
          bucket: 'b',
          prefix: 'e/',
          inventory: { objects: 3000, bytes: 1024 ** 2, truncated: false },
          etcdBackupSecret: { namespace: 'shoot--x', name: 'etcd-backup', resourceVersion: '1', digest: 'abc' },
          decisions: [
            {
              at: '2026-11-25T11:00:00Z',
              action: 'expedite',
              by: 'alice',
              reason: 'GDPR',
              outcome: 'retention ended early',
            },
          ],
        },
      },
      NOW,
    );
    expect(text).toContain(
      'Deletion progress: 1,234 objects (2.0 KiB) deleted, 2,000 listed, 0 locked, 0 rewritten; attempt 2, last heartbeat 3s ago',
    );
    expect(text).toContain('Inventory:         3,000 objects, 1.0 MiB');
    expect(text).not.toContain('etcd-backup'); // deleted when the entry's deletion started
    expect(text).toMatch(
      /Decisions \(1\):\n {2}2026-11-25T11:00:00Z {2}expedite by alice: GDPR → retention ended early\n$/,
    );
  });

  it('prints stored text safely: no escape sequences, no line breaks that could forge a decision line, bounded', () => {
    const line = formatDecision({
      at: '2026-11-30T12:00:00Z',
      action: 'refused',
      by: 'mallory\u001b[2J',
      reason: 'x\n2026-11-30T12:00:01Z  expedite by root: approved → deleting',
      outcome: 'y'.repeat(100_000),
    });
    // eslint-disable-next-line no-control-regex
    expect(line).not.toMatch(/[\n\u001b]/);
    expect(line.length).toBeLessThan(7000);
  });
});

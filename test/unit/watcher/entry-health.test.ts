import { type WatchedEntry, toWatchedEntry } from '../../../starter/intent';
import {
  ERROR_CODE_LABELS,
  FailingSince,
  STATUS_PHASES,
  deadlineOf,
  emptyHealth,
  statusPhase,
  summarizeEntries,
} from '../../../starter/entry-health';
import { createWatcherMetrics } from '../../../starter/watcher-metrics';

const NOW = Date.parse('2026-11-25T12:00:00Z');
const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
let n = 0;

/** An entry as the watcher's informer holds it, built from an API object (so toWatchedEntry is covered too). */
function entry(o: {
  deleting?: boolean;
  deadline?: number;
  last?: [string, string];
  description?: string;
  error?: { codes: string[]; at: number };
  uid?: string;
  name?: string;
}): WatchedEntry {
  const e = toWatchedEntry({
    metadata: {
      name: o.name ?? `shoot--p--s${n++}--0b8f7b2e-6d0c-4a52-9d0c-1f2e3d4c5b6a`,
      uid: o.uid ?? 'u1',
      generation: 1,
      ...(o.deleting ? { deletionTimestamp: iso(NOW - 3600_000) } : {}),
      annotations:
        o.deadline !== undefined ? { 'backupentry.extensions.gardener.cloud/deletion-deadline': iso(o.deadline) } : {},
    },
    spec: { type: 'gcp', bucketName: 'b', secretRef: { name: 's', namespace: 'garden' } },
    status: {
      ...(o.last
        ? {
            lastOperation: {
              type: o.last[0],
              state: o.last[1],
              progress: 0,
              lastUpdateTime: iso(NOW - 60_000),
              description: o.description ?? '',
            },
          }
        : {}),
      lastError: o.error ? { description: 'x', codes: o.error.codes, lastUpdateTime: iso(o.error.at) } : null,
    },
  });
  if (!e) throw new Error('not an entry');
  return e;
}

describe("entry health: what the watcher's entry gauges say (no per-entry labels)", () => {
  it('reads deadline, last operation and last error from the API object', () => {
    const e = entry({
      deleting: true,
      deadline: NOW + 5000,
      last: ['Delete', 'Pending'],
      error: { codes: ['ERR_INFRA_UNAUTHORIZED'], at: NOW },
    });
    expect(e.annotations.deletionDeadline).toBe(iso(NOW + 5000));
    expect(e.lastOperation).toMatchObject({ type: 'Delete', state: 'Pending', lastUpdateTime: iso(NOW - 60_000) });
    expect(e.lastError).toEqual({ codes: ['ERR_INFRA_UNAUTHORIZED'], lastUpdateTime: iso(NOW) });
    expect(entry({ last: ['Create', 'Succeeded'] }).lastError).toBeUndefined(); // lastError: null = none
  });

  it('maps status to a bounded phase; a retry (Processing with lastError kept) still counts as Error', () => {
    const cases: Array<[Parameters<typeof entry>[0], string]> = [
      [{}, 'New'],
      [{ last: ['Create', 'Processing'] }, 'Reconciling'],
      [{ last: ['Reconcile', 'Succeeded'] }, 'Ready'],
      [{ last: ['Reconcile', 'Error'], error: { codes: [], at: NOW } }, 'Error'],
      [{ last: ['Reconcile', 'Processing'], error: { codes: [], at: NOW } }, 'Error'],
      [{ deleting: true, last: ['Delete', 'Pending'] }, 'Retaining'],
      [{ deleting: true, last: ['Delete', 'Processing'] }, 'Deleting'],
      [{ deleting: true, last: ['Reconcile', 'Succeeded'] }, 'Deleting'],
      [{ deleting: true, last: ['Delete', 'Succeeded'] }, 'Deleted'],
      [{ last: ['Migrate', 'Succeeded'] }, 'Migrated'],
    ];
    for (const [o, phase] of cases) expect([o, statusPhase(entry(o))]).toEqual([o, phase]);
    expect(new Set(cases.map(([, p]) => p))).toEqual(new Set(STATUS_PHASES));
  });

  it('takes the deadline from the annotation, else from the Pending description', () => {
    expect(deadlineOf(entry({ deleting: true, deadline: NOW + 1000, last: ['Delete', 'Pending'] }))).toBe(NOW + 1000);
    expect(
      deadlineOf(
        entry({
          deleting: true,
          last: ['Delete', 'Pending'],
          description:
            'Backups are retained until 2026-11-26T12:00:00Z (3 objects, 300 B); to delete them now annotate ...',
        }),
      ),
    ).toBe(Date.parse('2026-11-26T12:00:00Z'));
    expect(deadlineOf(entry({ deadline: NOW, last: ['Reconcile', 'Succeeded'] }))).toBeUndefined(); // not deleted
  });

  it('builds the retention calendar of held entries: due within 1h/24h/7d, overdue count and the most overdue age', () => {
    const retaining = (deadline: number): WatchedEntry =>
      entry({ deleting: true, deadline, last: ['Delete', 'Pending'] });
    const h = summarizeEntries(
      [
        retaining(NOW + 30 * 60_000),
        retaining(NOW + 3 * 3600_000),
        retaining(NOW + 3 * 24 * 3600_000),
        retaining(NOW + 30 * 24 * 3600_000),
        retaining(NOW - 90_000),
        retaining(NOW - 10_000),
        // Deletion already started (or failed): not overdue, whatever its deadline.
        entry({ deleting: true, deadline: NOW - 3600_000, last: ['Delete', 'Processing'] }),
        entry({
          deleting: true,
          deadline: NOW - 3600_000,
          last: ['Delete', 'Error'],
          error: { codes: ['ERR_INFRA_UNAUTHORIZED'], at: NOW },
        }),
      ],
      NOW,
      new FailingSince(),
    );
    expect(h.dueWithin).toEqual({ '1h': 1, '24h': 2, '7d': 3 });
    expect(h.overdue).toBe(2);
    expect(h.overdueLongestSeconds).toBe(90);
    expect(h.byPhase).toMatchObject({ Retaining: 6, Deleting: 1, Error: 1 });
    expect(summarizeEntries([], NOW, new FailingSince())).toEqual(emptyHealth());
  });

  it('merges the calendar from visibility: released entries count, held ones are not counted twice', () => {
    const held = entry({ name: 'held', deleting: true, deadline: NOW - 60_000, last: ['Delete', 'Pending'] });
    const heldSoon = entry({ name: 'held-soon', deleting: true, deadline: NOW + 60_000, last: ['Delete', 'Pending'] });
    const h = summarizeEntries([held, heldSoon], NOW, new FailingSince(), {
      atMs: NOW - 5000,
      retaining: 40,
      leftBehind: 2,
      upTo24h: 12,
      upTo7d: 30,
      // `held` and `held-soon` are also running workflows; `released-*` left the API server (release-entry mode).
      soon: [
        { entry: 'held', deadlineMs: NOW - 60_000 },
        { entry: 'held-soon', deadlineMs: NOW + 60_000 },
        { entry: 'released-late', deadlineMs: NOW - 300_000 },
        { entry: 'released-soon', deadlineMs: NOW + 1000 },
        // Read 5 s ago as due in 2 s: overdue by now (judged against the clock at scrape time).
        { entry: 'released-now', deadlineMs: NOW - 3000 },
      ],
    });
    expect(h.overdue).toBe(3);
    expect(h.overdueLongestSeconds).toBe(300);
    expect(h.dueWithin).toEqual({ '1h': 2, '24h': 12 - 3, '7d': 30 - 3 });
    expect(h.retainingWorkflows).toBe(40);
    expect(h.leftBehindWorkflows).toBe(2); // ended Orphaned: backups nobody will delete
    expect(h.byPhase.Retaining).toBe(2); // the status view only sees held entries
  });

  it('counts failing entries by Gardener code (unknown text = other, no code = none)', () => {
    const h = summarizeEntries(
      [
        entry({
          last: ['Reconcile', 'Error'],
          error: { codes: ['ERR_CONFIGURATION_PROBLEM', 'ERR_INFRA_UNAUTHORIZED'], at: NOW },
        }),
        entry({ last: ['Reconcile', 'Error'], error: { codes: ['ERR_CONFIGURATION_PROBLEM'], at: NOW } }),
        entry({ last: ['Reconcile', 'Error'], error: { codes: ['made-up "code" with\nnewline'], at: NOW } }),
        entry({ last: ['Reconcile', 'Error'], error: { codes: [], at: NOW } }),
      ],
      NOW,
      new FailingSince(),
    );
    expect(h.errorsByCode).toMatchObject({
      ERR_CONFIGURATION_PROBLEM: 2,
      ERR_INFRA_UNAUTHORIZED: 1,
      other: 1,
      none: 1,
    });
    expect(Object.keys(h.errorsByCode).sort()).toEqual([...ERROR_CODE_LABELS].sort());
  });

  it('knows since when an entry fails: kept through retries, cleared by a success, reset by a new uid', () => {
    const failing = new FailingSince();
    const name = 'shoot--p--f--0b8f7b2e-6d0c-4a52-9d0c-1f2e3d4c5b6a';
    const firstError = entry({ name, last: ['Reconcile', 'Error'], error: { codes: [], at: NOW - 600_000 } });
    failing.observe(firstError, NOW - 590_000);
    // A retry: Processing with the error kept, then a new Error write with a later lastUpdateTime.
    failing.observe(
      entry({ name, last: ['Reconcile', 'Processing'], error: { codes: [], at: NOW - 600_000 } }),
      NOW - 300_000,
    );
    const retried = entry({ name, last: ['Reconcile', 'Error'], error: { codes: [], at: NOW - 60_000 } });
    failing.observe(retried, NOW - 60_000);
    expect(summarizeEntries([retried], NOW, failing).errorLongestSeconds).toBe(600);
    // First sight without memory (a new watcher process): from the error's own time.
    expect(summarizeEntries([retried], NOW, new FailingSince()).errorLongestSeconds).toBe(60);
    failing.observe(entry({ name, last: ['Reconcile', 'Succeeded'] }), NOW - 30_000);
    expect(failing.of(retried)).toBeUndefined();
    failing.observe(retried, NOW);
    expect(
      failing.of(entry({ name, uid: 'u2', last: ['Reconcile', 'Error'], error: { codes: [], at: NOW } })),
    ).toBeUndefined();
    failing.keepOnly(new Set());
    expect(failing.of(retried)).toBeUndefined();
  });

  it('serves the gauges with every label value present (zeros on a standby replica)', async () => {
    const retaining = entry({ deleting: true, deadline: NOW - 5000, last: ['Delete', 'Pending'] });
    const active = createWatcherMetrics({
      isLeader: () => true,
      isInSync: () => true,
      queueDepth: () => 0,
      entriesByIntent: () => ({}),
      entryHealth: () => summarizeEntries([retaining], Date.now(), new FailingSince()),
    });
    const text = await active.registry.metrics();
    expect(text).toMatch(/^bel_watcher_entries_by_phase\{phase="Retaining"\} 1$/m);
    expect(text).toMatch(/^bel_watcher_retention_overdue_entries 1$/m);
    expect(text).toMatch(/^bel_watcher_retention_due_entries\{within="24h"\} 0$/m);
    expect(Number(/^bel_watcher_retention_overdue_longest_seconds (\S+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(5);
    const standby = await createWatcherMetrics({
      isLeader: () => false,
      isInSync: () => false,
      queueDepth: () => 0,
      entriesByIntent: () => ({}),
    }).registry.metrics();
    for (const phase of STATUS_PHASES) expect(standby).toContain(`bel_watcher_entries_by_phase{phase="${phase}"} 0`);
    for (const code of ERROR_CODE_LABELS) expect(standby).toContain(`bel_watcher_error_entries{code="${code}"} 0`);
    expect(standby).toMatch(/^bel_watcher_error_longest_seconds 0$/m);
    expect(standby).toMatch(/^bel_watcher_retaining_workflows 0$/m);
    expect(standby).toMatch(/^bel_watcher_backups_left_behind_workflows 0$/m);
  });
});

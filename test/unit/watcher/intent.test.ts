import fc from 'fast-check';
import pino from 'pino';
import {
  type WatchedEntry,
  changeIntent,
  fingerprintOf,
  firstSightIntent,
  intentCategory,
  isServed,
  toWatchedEntry,
} from '../../../starter/intent';
import { WorkQueue } from '../../../adapters/kubernetes/work-queue';
import { type EntryAction, mergeActions } from '../../../starter/entry-action';

const base = (over: Partial<WatchedEntry> = {}): WatchedEntry => ({
  name: 'shoot--dev--a--0b1c',
  uid: 'u1',
  resourceVersion: '10',
  generation: 1,
  type: 'local',
  class: 'shoot',
  secretRef: { namespace: 'garden', name: 'entry-a' },
  annotations: {},
  lastOperation: { type: 'Create', state: 'Succeeded' },
  observedGeneration: 1,
  ...over,
});

describe('toWatchedEntry and isServed', () => {
  it('reads the fields the watcher decides on; an empty class is shoot', () => {
    const e = toWatchedEntry({
      metadata: {
        name: 'n',
        uid: 'u',
        resourceVersion: '3',
        generation: 2,
        deletionTimestamp: '2026-01-01T00:00:00Z',
        annotations: {
          'gardener.cloud/operation': 'reconcile',
          'gardener.cloud/timestamp': 't',
          other: 'x',
          'backupentry.core.gardener.cloud/force-deletion': 'true',
        },
      },
      spec: { type: 'gcp', class: '', secretRef: { name: 's', namespace: 'garden' } },
      status: { lastOperation: { type: 'Reconcile', state: 'Error' }, observedGeneration: 1 },
    });
    expect(e).toEqual({
      name: 'n',
      uid: 'u',
      resourceVersion: '3',
      generation: 2,
      deletionTimestamp: '2026-01-01T00:00:00Z',
      type: 'gcp',
      class: 'shoot',
      secretRef: { namespace: 'garden', name: 's' },
      annotations: { operation: 'reconcile', timestamp: 't', forceDeletion: 'true' },
      lastOperation: { type: 'Reconcile', state: 'Error' },
      observedGeneration: 1,
    });
    expect(isServed(e!, { providerTypes: ['gcp'], classes: ['shoot'] })).toBe(true);
    expect(isServed(e!, { providerTypes: ['local'], classes: ['shoot'] })).toBe(false);
    expect(isServed({ ...e!, class: 'seed' }, { providerTypes: ['gcp'], classes: ['shoot'] })).toBe(false);
  });

  it('never throws on malformed objects', () => {
    fc.assert(
      fc.property(fc.anything(), (v) => {
        const e = toWatchedEntry(v);
        expect(e === undefined || typeof e.name === 'string').toBe(true);
      }),
    );
    expect(toWatchedEntry({ metadata: {} })).toBeUndefined();
  });
});

describe('firstSightIntent (Gardener CREATE predicate + generation)', () => {
  it.each<[string, Partial<WatchedEntry>, ReturnType<typeof firstSightIntent>]>([
    [
      'new entry',
      { lastOperation: undefined, observedGeneration: undefined },
      { kind: 'signal', reasons: ['created'] },
    ],
    ['settled entry', {}, { kind: 'ensure' }],
    ['generation ahead of observedGeneration', { generation: 2 }, { kind: 'signal', reasons: ['generation'] }],
    [
      'last operation failed',
      { lastOperation: { type: 'Reconcile', state: 'Error' } },
      { kind: 'signal', reasons: ['not-succeeded'] },
    ],
    [
      'deleting (retaining)',
      { deletionTimestamp: 'x', lastOperation: { type: 'Delete', state: 'Pending' } },
      { kind: 'signal', reasons: ['deletion'] },
    ],
    [
      'reconcile annotation',
      { annotations: { operation: 'reconcile' } },
      { kind: 'signal', reasons: ['operation-annotation'] },
    ],
    ['wait-for-state', { annotations: { operation: 'wait-for-state' }, lastOperation: undefined }, { kind: 'ensure' }],
    ['migrated away', { lastOperation: { type: 'Migrate', state: 'Succeeded' } }, { kind: 'none' }],
    [
      'migrated, asked to restore',
      { lastOperation: { type: 'Migrate', state: 'Succeeded' }, annotations: { operation: 'restore' } },
      { kind: 'signal', reasons: ['operation-annotation'] },
    ],
  ])('%s', (_, over, want) => {
    expect(firstSightIntent(base(over))).toEqual(want);
  });
});

describe('changeIntent: only meaningful changes signal', () => {
  const prev = fingerprintOf(base());
  it.each<[string, Partial<WatchedEntry>, string[]]>([
    [
      'status write of our own',
      { resourceVersion: '11', lastOperation: { type: 'Reconcile', state: 'Processing' } },
      [],
    ],
    ['resync (same object)', {}, []],
    ['reconcile annotation added', { annotations: { operation: 'reconcile' } }, ['operation-annotation']],
    ['deletion', { deletionTimestamp: 'x' }, ['deletion']],
    ['generation', { generation: 2 }, ['generation']],
    ['force-deletion', { annotations: { forceDeletion: 'true' } }, ['force-deletion']],
    ['keep-backups', { annotations: { keepBackups: 'true' } }, ['keep-backups']],
    ['retention-period', { annotations: { retentionPeriod: '1h' } }, ['retention-period']],
    ['wait-for-state set', { annotations: { operation: 'wait-for-state' } }, []],
    [
      'deletion with force-deletion in one update',
      { deletionTimestamp: 'x', annotations: { forceDeletion: 'true' } },
      ['deletion', 'force-deletion'],
    ],
  ])('%s', (_, over, reasons) => {
    const got = changeIntent(prev, base(over));
    expect(got).toEqual(reasons.length ? { kind: 'signal', reasons } : { kind: 'none' });
  });

  it('the annotation being removed by the workflow is not a trigger; gardenlet re-requesting it (new timestamp) is', () => {
    const withOp = fingerprintOf(base({ annotations: { operation: 'reconcile', timestamp: 't1' } }));
    expect(changeIntent(withOp, base({ annotations: { timestamp: 't1' } }))).toEqual({ kind: 'none' });
    expect(changeIntent(withOp, base({ annotations: { operation: 'reconcile', timestamp: 't1' } }))).toEqual({
      kind: 'none',
    });
    expect(changeIntent(withOp, base({ annotations: { operation: 'reconcile', timestamp: 't2' } }))).toEqual({
      kind: 'signal',
      reasons: ['operation-annotation'],
    });
  });

  it('leaving wait-for-state is a trigger', () => {
    const waiting = fingerprintOf(base({ annotations: { operation: 'wait-for-state' } }));
    expect(changeIntent(waiting, base())).toEqual({ kind: 'signal', reasons: ['operation-annotation'] });
  });

  it('a new incarnation (uid) is judged like a first sight', () => {
    expect(changeIntent(prev, base({ uid: 'u2', lastOperation: undefined }))).toEqual({
      kind: 'signal',
      reasons: ['created'],
    });
  });

  it('a change is signalled once: deciding again on the same object gives none', () => {
    const e = base({ deletionTimestamp: 'x', annotations: { keepBackups: 'true' } });
    expect(changeIntent(prev, e).kind).toBe('signal');
    expect(changeIntent(fingerprintOf(e), e)).toEqual({ kind: 'none' });
  });

  it("intentCategory follows Gardener's operation order", () => {
    expect(intentCategory(base({ deletionTimestamp: 'x', annotations: { operation: 'migrate' } }))).toBe('migrate');
    expect(intentCategory(base({ deletionTimestamp: 'x', annotations: { operation: 'restore' } }))).toBe('delete');
    expect(intentCategory(base({ annotations: { operation: 'restore' } }))).toBe('restore');
    expect(intentCategory(base({ annotations: { operation: 'wait-for-state' } }))).toBe('wait-for-state');
    expect(intentCategory(base())).toBe('reconcile');
  });
});

describe('WorkQueue', () => {
  const log = pino({ level: 'silent' });
  const describe_ = (e: unknown): string => String(e);

  it('mergeActions: gone replaces and is replaced; signal > verify-secret > ensure; reasons united', () => {
    const s = (...reasons: string[]): EntryAction => ({ kind: 'signal', reasons: reasons as never });
    expect(mergeActions(s('created'), s('deletion', 'created'))).toEqual(s('created', 'deletion'));
    expect(mergeActions(s('created'), { kind: 'ensure' })).toEqual(s('created'));
    expect(mergeActions({ kind: 'ensure' }, { kind: 'verify-secret' })).toEqual({ kind: 'verify-secret' });
    expect(mergeActions(s('created'), { kind: 'gone' })).toEqual({ kind: 'gone' });
    expect(mergeActions({ kind: 'gone' }, { kind: 'ensure' })).toEqual({ kind: 'ensure' });
  });

  it('coalesces actions for a busy key, never overlaps a key, and retries failures', async () => {
    const calls: [string, EntryAction][] = [];
    let running = 0;
    let maxRunning = 0;
    let releaseA!: () => void;
    let aStarted!: () => void;
    const aRunning = new Promise<void>((r) => (aStarted = r));
    let bRetried!: () => void;
    const bDone = new Promise<void>((r) => (bRetried = r));
    let failOnce = true;
    const q = new WorkQueue<EntryAction>({
      merge: mergeActions,
      concurrency: 4,
      log,
      describe: describe_,
      backoff: { initialMs: 5, maxMs: 10 },
      handle: async (key, action) => {
        calls.push([key, action]);
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        try {
          if (key === 'a' && calls.filter(([k]) => k === 'a').length === 1) {
            const held = new Promise<void>((r) => (releaseA = r));
            aStarted();
            await held;
          }
          if (key === 'b' && failOnce) {
            failOnce = false;
            throw new Error('temporal unavailable');
          }
          if (key === 'b') bRetried();
        } finally {
          running -= 1;
        }
      },
    });
    q.add('a', { kind: 'ensure' });
    q.add('b', { kind: 'signal', reasons: ['created'] });
    await aRunning; // the first action of `a` is in flight: what is added now waits and is merged
    q.add('a', { kind: 'signal', reasons: ['deletion'] });
    q.add('a', { kind: 'signal', reasons: ['force-deletion'] });
    releaseA();
    await bDone;
    await q.idle();
    expect(calls.filter(([k]) => k === 'a').map(([, a]) => a)).toEqual([
      { kind: 'ensure' },
      { kind: 'signal', reasons: ['deletion', 'force-deletion'] },
    ]);
    expect(calls.filter(([k]) => k === 'b')).toHaveLength(2);
    expect(maxRunning).toBeLessThanOrEqual(2);
    expect(q.depth()).toBe(0);
  });

  it('stop() waits for calls in flight and returns the keys it dropped', async () => {
    let release!: () => void;
    const q = new WorkQueue<EntryAction>({
      merge: mergeActions,
      concurrency: 1,
      log,
      describe: describe_,
      handle: async (key) => {
        if (key === 'x') await new Promise<void>((r) => (release = r));
      },
    });
    q.add('x', { kind: 'ensure' });
    q.add('y', { kind: 'ensure' });
    q.add('x', { kind: 'signal', reasons: ['generation'] });
    const stopping = q.stop();
    release();
    expect((await stopping).sort()).toEqual(['x', 'y']);
    q.add('z', { kind: 'ensure' });
    expect(q.depth()).toBe(0);
  });
});

import fc from 'fast-check';
import { Phase } from '../../../domain';
import { goneEntry, type ObservedEntry } from '../../../activities/types';
import { deletionStep, nextStep, retentionOf } from '../../../workflows/backup-entry/decide';
import { type CarriedState, type DeletionState, initialState } from '../../../workflows/backup-entry/state';

const NAME = 'shoot--dev--a--0123';
const NOW = Date.parse('2026-06-01T00:00:00Z');
const decision = { at: '2026-06-01T00:00:00Z', action: 'note' as const, by: 'x', reason: 'r', outcome: 'o' };

const entryArb: fc.Arbitrary<ObservedEntry> = fc
  .record({
    exists: fc.boolean(),
    uid: fc.constantFrom('uid-1', 'uid-2'),
    deleting: fc.boolean(),
    hasFinalizer: fc.boolean(),
    operation: fc.constantFrom(undefined, 'reconcile', 'restore', 'migrate', 'wait-for-state'),
    forceDeletion: fc.constantFrom(undefined, 'true', 'false', 'maybe'),
    keepBackups: fc.constantFrom(undefined, 'true', 'false'),
    retentionPeriod: fc.constantFrom(undefined, '0s', '1h', 'junk'),
    last: fc.constantFrom(undefined, 'Create', 'Reconcile', 'Migrate'),
  })
  .map((r) =>
    !r.exists
      ? goneEntry(NAME)
      : {
          ...goneEntry(NAME),
          exists: true,
          uid: r.uid,
          generation: 1,
          type: 'local',
          class: 'shoot',
          bucketName: 'b',
          secretRef: { namespace: 'garden', name: 's' },
          hasFinalizer: r.hasFinalizer,
          ...(r.deleting ? { deletionTimestamp: '2026-05-31T23:00:00Z' } : {}),
          ...(r.last ? { lastOperation: { type: r.last, state: 'Succeeded' } } : {}),
          annotations: {
            ...(r.operation ? { operation: r.operation } : {}),
            ...(r.forceDeletion ? { forceDeletion: r.forceDeletion } : {}),
            ...(r.keepBackups ? { keepBackups: r.keepBackups } : {}),
            ...(r.retentionPeriod ? { retentionPeriod: r.retentionPeriod } : {}),
          },
        },
  );

const deletionArb: fc.Arbitrary<DeletionState | undefined> = fc.option(
  fc
    .record({
      deadlineOffset: fc.integer({ min: -3600_000, max: 3600_000 }),
      released: fc.boolean(),
      unconfirmed: fc.boolean(),
      receipt: fc.boolean(),
    })
    .map((d) => ({
      deletionTimestamp: '2026-05-31T23:00:00Z',
      deadlineMs: NOW + d.deadlineOffset,
      retentionMs: 3600_000,
      retentionSource: 'default',
      target: { type: 'local', bucketName: 'b', secretRef: { namespace: 'garden', name: 's' } },
      ...(d.released ? { entryReleased: true } : {}),
      ...(d.unconfirmed ? { unconfirmed: true } : {}),
      ...(d.receipt
        ? {
            receipt: {
              deletedObjects: 0,
              deletedBytes: 0,
              lockedObjects: 0,
              rewrittenObjects: 0,
              listedObjects: 0,
              durationMs: 1,
              objectsPerSecond: 0,
              remainingObjects: 0,
            },
          }
        : {}),
    })),
  { nil: undefined },
);

const stateArb: fc.Arbitrary<CarriedState> = fc
  .record({
    phase: fc.constantFrom(...Object.values(Phase)),
    uid: fc.constantFrom(undefined, 'uid-1'),
    deletion: deletionArb,
    expedite: fc.boolean(),
    cancel: fc.boolean(),
    cancelRequest: fc.boolean(),
    secretRef: fc.boolean(),
  })
  .map((r) => ({
    ...initialState(),
    phase: r.phase,
    ...(r.uid ? { uid: r.uid } : {}),
    ...(r.deletion ? { deletion: r.deletion } : {}),
    ...(r.expedite ? { expedite: decision } : {}),
    ...(r.cancel ? { cancel: decision } : {}),
    ...(r.cancelRequest ? { cancelRequest: { by: 'x', reason: 'r', seq: 1 } } : {}),
    ...(r.secretRef ? { secretRef: { namespace: 'garden', name: 's' } } : {}),
  }));

describe('decide (pure: state + observed entry + now → next step)', () => {
  it('never deletes before the deadline unless expedited, and never once cleanup is cancelled', () => {
    fc.assert(
      fc.property(stateArb, entryArb, (s, e) => {
        const step = deletionStep(s, e, NOW);
        if (step !== 'delete') return;
        const d = s.deletion!;
        expect(s.cancel ?? s.cancelRequest).toBeUndefined();
        expect(s.expedite !== undefined || d.deadlineMs <= NOW).toBe(true);
      }),
    );
  });

  it('an unconfirmed registration of a live entry is registered again, never acted on', () => {
    fc.assert(
      fc.property(stateArb, entryArb, (s, e) => {
        if (!s.deletion?.unconfirmed || !e.exists) return;
        expect(deletionStep(s, e, NOW)).toBe('register');
      }),
    );
  });

  it('a gone entry leads to a deletion only through a retention this run registered and saw confirmed or released', () => {
    fc.assert(
      fc.property(stateArb, fc.boolean(), (s, retained) => {
        const next = nextStep(s, goneEntry(NAME), true, retained, {});
        if (next.kind === 'released-deletion') expect(s.deletion?.entryReleased).toBe(true);
        if (next.kind === 'verify-retention') expect(s.deletion?.entryReleased).not.toBe(true);
        if (next.kind === 'resume' && next.from === 'start-input') expect(retained).toBe(true);
        if (s.deletion?.receipt) expect(next.kind).toBe('gone');
      }),
    );
  });

  it('tries each resume at most once per pass', () => {
    fc.assert(
      fc.property(stateArb, (s) => {
        const next = nextStep(s, goneEntry(NAME), true, true, { resumeStartInput: true, resumeOwnSecret: true });
        expect(next.kind).not.toBe('resume');
      }),
    );
  });

  it('a live entry of another uid starts over before anything else', () => {
    fc.assert(
      fc.property(stateArb, entryArb, (s, e) => {
        if (!e.exists || !s.uid || e.uid === s.uid) return;
        expect(nextStep(s, e, true, false, {}).kind).toBe('recreated');
      }),
    );
  });

  it('a source- entry is never retained; any other keeps at least its retention period', () => {
    fc.assert(
      fc.property(entryArb, fc.integer({ min: 0, max: 10 * 3600_000 }), (e, def) => {
        expect(retentionOf(`source-${NAME}`, e, def, NOW).deadlineMs).toBe(NOW);
        const r = retentionOf(NAME, e, def, NOW);
        expect(r.deadlineMs).toBeGreaterThanOrEqual(NOW);
        if (e.annotations.retentionPeriod === undefined) expect(r.deadlineMs).toBe(NOW + def);
      }),
    );
  });
});

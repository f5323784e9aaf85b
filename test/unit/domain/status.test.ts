import fc from 'fast-check';
import { errorStatus, lastUpdateTime, pendingStatus, processingStatus, succeededStatus } from '../../../domain/status';
import { formatRfc3339Seconds, parseRfc3339 } from '../../../domain/time';

const NOW = Date.UTC(2026, 7, 20, 10, 0, 3, 700);
const TS = '2026-08-20T10:00:00.123456789Z';

describe('status builders', () => {
  it('processing: progress 1, nothing else touched', () => {
    expect(processingStatus('Reconcile', 'Reconciling the backupentry', NOW, TS)).toEqual({
      lastOperation: {
        type: 'Reconcile',
        state: 'Processing',
        progress: 1,
        description: 'Reconciling the backupentry',
        lastUpdateTime: '2026-08-20T10:00:03Z',
      },
    });
    expect(processingStatus('Delete', 'Deleting objects', NOW, undefined, 42.4).lastOperation.progress).toBe(42);
  });

  it('error: progress 50, Gardener description, lastError with codes, observedGeneration', () => {
    const s = errorStatus(
      'Reconcile',
      'bucket "b" does not exist',
      ['ERR_CONFIGURATION_PROBLEM', 'ERR_CONFIGURATION_PROBLEM'],
      3,
      NOW,
    );
    const description = 'Error reconciling BackupEntry: bucket "b" does not exist';
    expect(s).toEqual({
      lastOperation: {
        type: 'Reconcile',
        state: 'Error',
        progress: 50,
        description,
        lastUpdateTime: '2026-08-20T10:00:03Z',
      },
      lastError: { description, codes: ['ERR_CONFIGURATION_PROBLEM'], lastUpdateTime: '2026-08-20T10:00:03Z' },
      observedGeneration: 3,
    });
    expect(errorStatus('Delete', 'x', [], 1, NOW).lastError).toMatchObject({
      description: 'Error deleting BackupEntry: x',
      codes: [],
    });
  });

  it('succeeded: progress 100, lastError cleared, observedGeneration', () => {
    expect(succeededStatus('Create', 'Successfully reconciled backupentry', 2, NOW)).toEqual({
      lastOperation: {
        type: 'Create',
        state: 'Succeeded',
        progress: 100,
        description: 'Successfully reconciled backupentry',
        lastUpdateTime: '2026-08-20T10:00:03Z',
      },
      lastError: null,
      observedGeneration: 2,
    });
  });

  it('pending: Delete, progress 0', () => {
    expect(pendingStatus('Delete', 'Deletion is scheduled for 2026-08-23T10:00:00Z', NOW).lastOperation).toMatchObject({
      type: 'Delete',
      state: 'Pending',
      progress: 0,
    });
  });

  it('pending clears lastError (gardenlet copies it into the core BackupEntry)', () => {
    expect(pendingStatus('Delete', 'retained', NOW).lastError).toBeNull();
  });
});

describe('lastUpdateTime', () => {
  it('is never before the gardener.cloud/timestamp annotation', () => {
    expect(lastUpdateTime(Date.UTC(2026, 7, 20, 9, 59, 59), '2026-08-20T10:00:05.999999999Z')).toBe(
      '2026-08-20T10:00:05Z',
    );
    expect(
      succeededStatus('Reconcile', 'ok', 1, Date.UTC(2026, 7, 20, 7), '2026-08-20T10:00:05.5+02:00').lastOperation
        .lastUpdateTime,
    ).toBe('2026-08-20T08:00:05Z');
  });

  it('ignores an annotation that is not a time', () => {
    expect(lastUpdateTime(NOW, 'yesterday')).toBe('2026-08-20T10:00:03Z');
  });

  it('property: >= timestamp truncated to seconds and >= now truncated to seconds', () => {
    const epoch = fc.integer({ min: 0, max: 4_102_444_800_000 });
    fc.assert(
      fc.property(epoch, epoch, (now, ts) => {
        const iso = new Date(ts).toISOString();
        const written = parseRfc3339(lastUpdateTime(now, iso));
        expect(written.ok && written.value).toBe(Math.max(Math.floor(now / 1000), Math.floor(ts / 1000)) * 1000);
      }),
    );
  });
});

describe('RFC3339', () => {
  it('parses nanoseconds and offsets, rejects impossible dates', () => {
    expect(parseRfc3339(TS)).toEqual({ ok: true, value: Date.UTC(2026, 7, 20, 10, 0, 0, 123) });
    expect(parseRfc3339('2026-08-20T12:00:00+02:00')).toEqual({ ok: true, value: Date.UTC(2026, 7, 20, 10) });
    expect(parseRfc3339('2026-02-30T00:00:00Z')).toMatchObject({ ok: false, error: { reason: 'InvalidTimestamp' } });
    expect(formatRfc3339Seconds(NOW)).toBe('2026-08-20T10:00:03Z');
  });
});

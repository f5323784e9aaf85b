import fc from 'fast-check';
import { formatDuration, MAX_DURATION_MS, parseDuration } from '../../../domain/duration';
import { parseBoolAnnotation, retentionDeadline } from '../../../domain/retention';

const H = 3_600_000;
const value = <T>(r: { ok: true; value: T } | { ok: false }): T | 'error' => (r.ok ? r.value : 'error');
const message = (r: { ok: boolean; error?: { message: string } }): string | undefined => r.error?.message;

describe('parseDuration', () => {
  it.each([
    ['72h', 72 * H],
    ['1h30m', 1.5 * H],
    ['0s', 0],
    ['0', 0],
    ['90m', 1.5 * H],
    ['1.5h', 1.5 * H],
    ['500ms', 500],
    ['2m3s500ms', 123_500],
    ['+1s', 1000],
    [' 24h ', 24 * H],
    ['-0s', 0],
    ['1500us', 2],
    ['.5s', 500],
  ])('parses %j', (text, ms) => {
    expect(value(parseDuration(text))).toBe(ms);
  });

  it.each([
    ['abc', 'duration "abc" is not a Go duration such as "72h", "1h30m" or "0s"'],
    ['-1h', 'duration "-1h" is negative; it must be zero or more'],
    ['100000h', 'duration "100000h" exceeds the maximum of 87600h'],
    ['', 'duration is empty; use a Go duration such as "72h", "1h30m" or "0s"'],
    ['5', 'duration "5" has no unit; add one of h, m, s, ms (e.g. "5h")'],
    ['1h30', 'duration "1h30" is not a Go duration such as "72h", "1h30m" or "0s"'],
    ['1d', 'duration "1d" is not a Go duration such as "72h", "1h30m" or "0s"'],
  ])('rejects %j', (text, expected) => {
    const r = parseDuration(text);
    expect(message(r)).toBe(expected);
    expect(r).toMatchObject({ error: { code: 'ERR_CONFIGURATION_PROBLEM', reason: 'InvalidDuration' } });
  });

  it('honours a custom maximum', () => {
    expect(message(parseDuration('2h', H))).toBe('duration "2h" exceeds the maximum of 1h');
    expect(value(parseDuration('1h', H))).toBe(H);
  });

  it('round-trips formatDuration', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_DURATION_MS }), (ms) => {
        expect(value(parseDuration(formatDuration(ms)))).toBe(ms);
      }),
    );
    expect(formatDuration(72 * H)).toBe('72h');
    expect(formatDuration(1.5 * H + 500)).toBe('1h30m500ms');
    expect(formatDuration(0)).toBe('0s');
  });
});

describe('parseBoolAnnotation', () => {
  it.each(['1', 't', 'T', 'TRUE', 'true', 'True'])('%j is true', (t) =>
    expect(value(parseBoolAnnotation(t))).toBe(true),
  );
  it.each(['0', 'f', 'F', 'FALSE', 'false', 'False'])('%j is false', (t) =>
    expect(value(parseBoolAnnotation(t))).toBe(false),
  );
  it.each(['maybe', 'yes', '', ' true', 'tRUE'])('%j is an error', (t) => {
    expect(parseBoolAnnotation(t)).toMatchObject({ ok: false, error: { reason: 'InvalidBoolean' } });
  });
  it('names the bad value', () => {
    expect(message(parseBoolAnnotation('maybe'))).toBe('value "maybe" is not a boolean; use "true" or "false"');
  });
});

describe('retentionDeadline', () => {
  const deletionTimestampMs = Date.UTC(2026, 7, 20, 10);
  it('uses the default without an annotation and the annotation when valid (shorter included)', () => {
    expect(retentionDeadline({ deletionTimestampMs, defaultRetentionMs: 72 * H })).toEqual({
      deadlineMs: deletionTimestampMs + 72 * H,
      retentionMs: 72 * H,
      source: 'default',
    });
    expect(retentionDeadline({ deletionTimestampMs, defaultRetentionMs: 72 * H, annotation: '0s' })).toEqual({
      deadlineMs: deletionTimestampMs,
      retentionMs: 0,
      source: 'annotation',
    });
    expect(retentionDeadline({ deletionTimestampMs, defaultRetentionMs: 72 * H, annotation: '240h' }).retentionMs).toBe(
      240 * H,
    );
  });

  it('falls back to the default with a warning when the annotation is invalid', () => {
    const r = retentionDeadline({ deletionTimestampMs, defaultRetentionMs: 72 * H, annotation: '-1h' });
    expect(r).toMatchObject({ deadlineMs: deletionTimestampMs + 72 * H, source: 'default' });
    expect(r.warning).toEqual({
      code: 'ERR_CONFIGURATION_PROBLEM',
      reason: 'InvalidRetentionPeriod',
      message:
        'annotation backupentry.extensions.gardener.cloud/retention-period: duration "-1h" is negative; ' +
        'it must be zero or more; using the default retention 72h',
    });
  });

  it('never ends before deletionTimestamp + default when the annotation is invalid', () => {
    const invalid = fc.string().filter((s) => !parseDuration(s).ok);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4e12 }),
        fc.integer({ min: 0, max: 1000 * H }),
        invalid,
        (ts, def, annotation) => {
          const r = retentionDeadline({ deletionTimestampMs: ts, defaultRetentionMs: def, annotation });
          expect(r.deadlineMs).toBeGreaterThanOrEqual(ts + def);
          expect(r.warning?.reason).toBe('InvalidRetentionPeriod');
        },
      ),
    );
  });
});

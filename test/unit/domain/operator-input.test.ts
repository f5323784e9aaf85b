import fc from 'fast-check';
import {
  MAX_ACTOR_CHARS,
  MAX_REASON_CHARS,
  boundByBytes,
  describePayload,
  extendDeadline,
  parseExtendRequest,
  parseOperatorRequest,
  reconcileReason,
  safeText,
  utf8Length,
} from '../../../domain';
import { invalidInput } from '../../../workflows/workflow-input';

const H = 3_600_000;
const T0 = Date.UTC(2026, 10, 30, 12, 0, 0);
const notJson = { undecodablePayload: { encoding: 'json/plain', bytes: 9 } };

/** Every shape a person can type into the Web UI's input box or `temporal workflow signal --input`. */
const MALFORMED: Array<[string, unknown]> = [
  ['no payload', undefined],
  ['null', null],
  ['a string', 'expedite please'],
  ['a number', 42],
  ['a boolean', true],
  ['an array', [{ reason: 'x' }]],
  ['binary', new Uint8Array([1, 2, 3])],
  ['not JSON', notJson],
  ['empty object', {}],
  ['reason a number', { reason: 7 }],
  ['reason empty', { reason: '   ' }],
  ['reason null', { reason: null }],
  ['by a number', { reason: 'x', by: 5 }],
  ['unknown field', { reason: 'x', reson: 'typo' }],
  ['reason an object', { reason: { text: 'x' } }],
];

describe('operator requests (expedite, cancel-cleanup)', () => {
  it.each(MALFORMED)('refuses %s with a specific message', (_label, payload) => {
    const r = parseOperatorRequest(payload);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/expected a JSON object|required|must be a string|unknown field|is empty/);
  });

  it('accepts a reason with or without who, and defaults who to "unknown"', () => {
    expect(parseOperatorRequest({ reason: 'shoot gone for good', by: 'alice' })).toEqual({
      ok: true,
      value: { reason: 'shoot gone for good', by: 'alice' },
    });
    expect(parseOperatorRequest({ reason: 'x' })).toEqual({ ok: true, value: { reason: 'x', by: 'unknown' } });
  });

  it('bounds and cleans free text: no control characters, no newlines, bounded length and bytes', () => {
    const r = parseOperatorRequest({
      reason: `a\nrefused 2026-01-01 by mallory\u001b[31m${'€'.repeat(3 * 1024 * 1024)}`,
      by: `\u202e${'b'.repeat(10_000)}`,
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    // eslint-disable-next-line no-control-regex
    expect(r.value.reason).not.toMatch(/[\n\r\u001b]/);
    expect(Array.from(r.value.reason).length).toBeLessThanOrEqual(MAX_REASON_CHARS);
    expect(utf8Length(r.value.reason)).toBeLessThanOrEqual(MAX_REASON_CHARS * 4);
    expect(r.value.by).not.toMatch(/\u202e/);
    expect(r.value.by.length).toBeLessThanOrEqual(MAX_ACTOR_CHARS);
  });

  it('safeText never yields unsafe characters or more than the bound (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 2000 }), fc.integer({ min: 2, max: 300 }), (text, max) => {
        const out = safeText(text, max);
        expect(Array.from(out).length).toBeLessThanOrEqual(max);
        expect(utf8Length(out)).toBeLessThanOrEqual(max * 4);
        // eslint-disable-next-line no-control-regex
        expect(out).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u061c\u2028-\u202e\u2060-\u2064\u2066-\u2069]/);
      }),
    );
  });

  it('safeText replaces the Arabic letter mark and the word joiner and invisible operators (U+061C, U+2060-U+2064)', () => {
    expect(safeText('a\u061cb\u2060c\u2061d\u2062e\u2063f\u2064g', 100)).toBe('a b c d e f g');
    expect(safeText('x\u061c\u2060\u2061\u2062\u2063\u2064y', 100)).toBe('x y');
    const invisible = fc.constantFrom('\u061c', '\u2060', '\u2061', '\u2062', '\u2063', '\u2064');
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string(), invisible)), (parts) => {
        expect(safeText(parts.join(''), 10_000)).not.toMatch(/[\u061c\u2060-\u2064]/);
      }),
    );
  });
});

describe('extend requests', () => {
  it.each([
    ...MALFORMED,
    ['by a number', { reason: 'x', by: 24 }],
    ['until a number', { reason: 'x', until: 1_800_000_000_000 }],
    ['both by and until', { reason: 'x', by: '1h', until: '2027-01-01T00:00:00Z' }],
    ['neither', { reason: 'x' }],
    ['by not a duration', { reason: 'x', by: 'tomorrow' }],
    ['by zero', { reason: 'x', by: '0s' }],
    ['by negative', { reason: 'x', by: '-1h' }],
    ['until not a time', { reason: 'x', until: 'next week' }],
  ] as Array<[string, unknown]>)('refuses %s', (_label, payload) => {
    expect(parseExtendRequest(payload).ok).toBe(false);
  });

  it('takes a duration or a time, with who in requestedBy', () => {
    expect(parseExtendRequest({ by: '24h', reason: 'audit', requestedBy: 'bob' })).toEqual({
      ok: true,
      value: { reason: 'audit', requestedBy: 'bob', byMs: 24 * H },
    });
    expect(parseExtendRequest({ until: '2027-01-01T00:00:00Z', reason: 'audit' })).toEqual({
      ok: true,
      value: { reason: 'audit', requestedBy: 'unknown', untilMs: Date.UTC(2027, 0, 1) },
    });
  });

  it('moves the deadline later only, and never beyond 10 years after the deletion', () => {
    const deadline = T0 + 72 * H;
    expect(extendDeadline({ reason: 'x', requestedBy: 'y', byMs: H }, deadline, T0)).toEqual({
      ok: true,
      value: deadline + H,
    });
    expect(extendDeadline({ reason: 'x', requestedBy: 'y', untilMs: deadline - 1 }, deadline, T0).ok).toBe(false);
    const far = parseExtendRequest({ until: '9999-12-31T23:59:59Z', reason: 'forever' });
    expect(far.ok && extendDeadline(far.value, deadline, T0)).toMatchObject({
      ok: false,
      error: expect.stringMatching(/at most 87600h after the deletion/),
    });
    // The case: 9999-12-31 then +1s would have produced a search attribute value the server rejects.
    const limit = T0 + 87_600 * H;
    expect(extendDeadline({ reason: 'x', requestedBy: 'y', byMs: 1000 }, limit, T0).ok).toBe(false);
  });
});

describe('reconcile signal and descriptions', () => {
  it('reads any payload as a bounded reason', () => {
    for (const [, p] of MALFORMED) expect(typeof reconcileReason(p)).toBe('string');
    expect(reconcileReason({ reason: 'deletion' })).toBe('deletion');
    expect(reconcileReason({ reason: 'x'.repeat(10_000) }).length).toBeLessThanOrEqual(128);
  });

  it('describes what was sent without echoing it whole', () => {
    expect(describePayload(undefined)).toBe('no payload');
    expect(describePayload(notJson)).toMatch(/not JSON \(encoding json\/plain, 9 bytes\)/);
    expect(describePayload('y'.repeat(5000)).length).toBeLessThan(100);
  });
});

describe('decision log bound', () => {
  it('keeps the newest entries within the byte budget, at least the newest one', () => {
    const items = Array.from({ length: 100 }, (_, i) => ({ i, text: 'x'.repeat(1000) }));
    const kept = boundByBytes(items, 10_000, 50);
    expect(kept.at(-1)).toEqual(items.at(-1));
    expect(utf8Length(JSON.stringify(kept))).toBeLessThanOrEqual(10_000 + 100);
    expect(boundByBytes([{ huge: 'y'.repeat(50_000) }], 10_000, 50)).toHaveLength(1);
  });
});

describe('workflow start input', () => {
  it.each([
    ['nothing', undefined],
    ['null', null],
    ['a string', 'shoot--a--b'],
    ['no entryName', {}],
    ['entryName a number', { entryName: 5 }],
    ['unknown field', { entryName: 'a', extra: 1 }],
    ['defaultRetentionMs as text', { entryName: 'a', settings: { defaultRetentionMs: '0' } }],
    ['negative retention', { entryName: 'a', settings: { defaultRetentionMs: -1 } }],
    ['unknown setting', { entryName: 'a', settings: { retention: 0 } }],
    ['retry delay 0', { entryName: 'a', settings: { initialRetryDelayMs: 0 } }],
    ['carried not an object', { entryName: 'a', carried: 'x' }],
    ['retainedSecret null', { entryName: 'a', retainedSecret: null }],
    ['retainedSecret a string', { entryName: 'a', retainedSecret: 'garden/entry-a' }],
    ['retainedSecret without a name', { entryName: 'a', retainedSecret: { namespace: 'garden' } }],
    ['retainedSecret with a numeric name', { entryName: 'a', retainedSecret: { namespace: 'garden', name: 5 } }],
    ['entryName huge', { entryName: 'x'.repeat(100_000) }],
    [
      'carried phase unknown',
      { entryName: 'a', carried: { phase: 'Gone', dirty: true, errorStreak: 0, decisions: [] } },
    ],
    [
      'carried deadline before the deletion',
      {
        entryName: 'a',
        carried: {
          phase: 'Retaining',
          dirty: true,
          errorStreak: 0,
          decisions: [],
          deletion: { deletionTimestamp: '2026-11-30T12:00:00Z', deadlineMs: 0 },
        },
      },
    ],
  ] as Array<[string, unknown]>)('refuses %s', (_label, input) => {
    expect(invalidInput(input)).toEqual(expect.any(String));
  });

  it('accepts what the watcher and continue-as-new send', () => {
    expect(invalidInput({ entryName: 'shoot--a--b', settings: { defaultRetentionMs: 72 * H } })).toBeUndefined();
    expect(
      invalidInput({ entryName: 'shoot--a--b', retainedSecret: { namespace: 'garden', name: 'entry-shoot--a--b' } }),
    ).toBeUndefined();
    expect(
      invalidInput({
        entryName: 'shoot--a--b',
        carried: {
          phase: 'Retaining',
          dirty: false,
          errorStreak: 0,
          decisions: [],
          deletion: { deletionTimestamp: '2026-11-30T12:00:00Z', deadlineMs: T0 + H },
        },
      }),
    ).toBeUndefined();
  });
});

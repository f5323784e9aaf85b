import {
  isRetentionAnchorName,
  parseRetentionRecords,
  retentionAnchorName,
  withRetentionRecord,
  type RetentionRecord,
} from '../../../domain';

const REC: RetentionRecord = {
  workflowId: 'backupentry/seed/a',
  uid: 'u1',
  type: 'gcp',
  bucketName: 'b',
  deletionTimestamp: '2026-11-30T12:00:00Z',
  deletionDeadline: '2026-12-03T12:00:00Z',
};

describe('retention records on the credentials secret (an annotation anybody with kubectl can edit)', () => {
  it.each([
    ['absent', undefined],
    ['empty', ''],
    ['not JSON', '{not json'],
    ['null', 'null'],
    ['a number', '42'],
    ['a string', '"x"'],
    ['an array', JSON.stringify([REC])],
    ['huge garbage', 'x'.repeat(300_000)],
  ])('reads %s as no records, without throwing', (_label, text) => {
    expect(parseRetentionRecords(text)).toEqual({});
  });

  it('drops malformed records and keeps the well-formed ones', () => {
    const text = JSON.stringify({
      good: REC,
      noWorkflowId: { ...REC, workflowId: undefined },
      deadlineNotATime: { ...REC, deletionDeadline: 'next week' },
      bucketEmpty: { ...REC, bucketName: '' },
      keepNotBoolean: { ...REC, keepBackups: 'yes' },
      aNumber: 7,
    });
    expect(parseRetentionRecords(text)).toEqual({ good: REC });
  });

  it("sets and removes one entry's record, leaving the others; nothing left gives no annotation", () => {
    const one = withRetentionRecord(undefined, 'a', REC);
    const two = withRetentionRecord(one, 'b', { ...REC, keepBackups: true });
    expect(Object.keys(parseRetentionRecords(two))).toEqual(['a', 'b']);
    expect(parseRetentionRecords(withRetentionRecord(two, 'a', undefined))).toEqual({
      b: { ...REC, keepBackups: true },
    });
    expect(withRetentionRecord(one, 'a', undefined)).toBeUndefined();
    // A malformed annotation is replaced, not merged into.
    expect(parseRetentionRecords(withRetentionRecord('{not json', 'a', REC))).toEqual({ a: REC });
  });
});

describe('retentionAnchorName', () => {
  it('spells the entry out when the Secret name fits, and is recognised as an anchor', () => {
    expect(retentionAnchorName('shoot--p--s--uid')).toBe('backupentry-retention-shoot--p--s--uid');
    expect(isRetentionAnchorName(retentionAnchorName('shoot--p--s--uid'))).toBe(true);
    expect(isRetentionAnchorName('entry-shoot--p--s--uid')).toBe(false);
  });

  it('a name too long for a Secret is cut to 253 characters and tagged, stably and distinctly', () => {
    const long = (tail: string): string => `shoot--p--${'a'.repeat(240)}--${tail}`;
    const a = retentionAnchorName(long('1'));
    const b = retentionAnchorName(long('2'));
    expect(a.length).toBeLessThanOrEqual(253);
    expect(a).toMatch(/^backupentry-retention-shoot--p--a+-[0-9a-f]{8}$/);
    expect(a).not.toBe(b);
    expect(retentionAnchorName(long('1'))).toBe(a);
    expect(isRetentionAnchorName(a)).toBe(true);
  });
});

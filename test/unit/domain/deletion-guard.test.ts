import fc from 'fast-check';
import {
  DELETION_REFUSED,
  deletionRefusal,
  deletionRefused,
  siblingName,
  type DeletionClaim,
  type PrefixOwner,
  type PrefixOwners,
} from '../../../domain';

const X = 'shoot--dev--a--1234';
const SRC = `source-${X}`;
const live = (name: string, over: Partial<PrefixOwner> = {}): PrefixOwner => ({
  name,
  uid: 'u-live',
  bucketName: 'b1',
  type: 'local',
  deleting: false,
  ...over,
});

describe('deletion guard: nothing remembered or forged deletes a live entry’s backups (domain/deletion-guard.ts)', () => {
  it('names the other owner of the prefix', () => {
    expect(siblingName(X)).toBe(SRC);
    expect(siblingName(SRC)).toBe(X);
  });

  it.each<[string, DeletionClaim, PrefixOwners, string | undefined]>([
    [
      'source-X while X lives in the same bucket',
      { name: SRC, bucketName: 'b1', type: 'local' },
      { sibling: live(X) },
      'PrefixOwnedByLiveEntry',
    ],
    [
      'source-X while X retains in the same bucket',
      { name: SRC, uid: 's', bucketName: 'b1', type: 'local' },
      { own: live(SRC, { uid: 's', deleting: true }), sibling: live(X, { deleting: true }) },
      'PrefixOwnedByLiveEntry',
    ],
    [
      'source-X with its entry deleting, X in another bucket',
      { name: SRC, uid: 's', bucketName: 'old', type: 'local' },
      { own: live(SRC, { uid: 's', bucketName: 'old', deleting: true }), sibling: live(X) },
      undefined,
    ],
    [
      'source-X whose entry is gone (forged record or start)',
      { name: SRC, uid: 's', bucketName: 'b9', type: 'local' },
      {},
      'SourceEntryGone',
    ],
    [
      'X while source-X lives in the same bucket (restore needs them)',
      { name: X, uid: 'u', bucketName: 'b1', type: 'local' },
      { own: live(X, { uid: 'u', deleting: true }), sibling: live(SRC) },
      'PrefixOwnedByLiveEntry',
    ],
    [
      'X while source-X is being deleted too',
      { name: X, uid: 'u', bucketName: 'b1', type: 'local' },
      { own: live(X, { uid: 'u', deleting: true }), sibling: live(SRC, { deleting: true }) },
      undefined,
    ],
    [
      'X that is not being deleted',
      { name: X, uid: 'u-live', bucketName: 'b1', type: 'local' },
      { own: live(X) },
      'EntryNotDeleted',
    ],
    [
      'X re-created with a new uid',
      { name: X, uid: 'old', bucketName: 'b1', type: 'local' },
      { own: live(X, { deleting: true }) },
      'EntryRecreated',
    ],
    [
      'X with another bucket than the claim',
      { name: X, uid: 'u-live', bucketName: 'b2', type: 'local' },
      { own: live(X, { deleting: true }) },
      'TargetDisagreesWithEntry',
    ],
    [
      'X with another type than the claim',
      { name: X, uid: 'u-live', bucketName: 'b1', type: 'gcp' },
      { own: live(X, { deleting: true }) },
      'TargetDisagreesWithEntry',
    ],
    [
      'X being deleted, all agreeing',
      { name: X, uid: 'u-live', bucketName: 'b1', type: 'local' },
      { own: live(X, { deleting: true }) },
      undefined,
    ],
    [
      'X released during retention (gone), with its uid',
      { name: X, uid: 'u', bucketName: 'b1', type: 'local' },
      {},
      undefined,
    ],
    ['X gone and no uid to tie the claim to', { name: X, bucketName: 'b1', type: 'local' }, {}, 'IncarnationUnknown'],
  ])('%s', (_label, claim, owners, reason) => {
    expect(deletionRefusal(claim, owners)?.reason).toBe(reason);
  });

  it('property: whatever the claim says, a live entry owning the prefix in that bucket refuses it', () => {
    const name = fc.constantFrom(X, SRC);
    const claim = fc.record({
      name,
      uid: fc.option(fc.constantFrom('u-live', 'u-old', ''), { nil: undefined }),
      bucketName: fc.constantFrom('b1', 'b2'),
      type: fc.constantFrom('local', 'gcp'),
    });
    const owner = (n: string) =>
      fc.option(
        fc.record({
          name: fc.constant(n),
          uid: fc.constantFrom('u-live', 'u-old'),
          bucketName: fc.constantFrom('b1', 'b2'),
          type: fc.constantFrom('local', 'gcp'),
          deleting: fc.boolean(),
        }),
        { nil: undefined },
      );
    fc.assert(
      fc.property(claim, owner(X), owner(SRC), (c, x, src) => {
        const cl: DeletionClaim = {
          name: c.name,
          bucketName: c.bucketName,
          type: c.type,
          ...(c.uid !== undefined ? { uid: c.uid } : {}),
        };
        const byName: Record<string, PrefixOwner | undefined> = { [X]: x, [SRC]: src };
        const own = byName[c.name];
        const sibling = byName[siblingName(c.name)];
        const verdict = deletionRefusal(cl, { ...(own ? { own } : {}), ...(sibling ? { sibling } : {}) });
        const liveInBucket = [x, src].some(
          (o) => o && !o.deleting && (o.bucketName === c.bucketName || o.name === c.name),
        );
        if (liveInBucket) expect(verdict).toBeDefined();
        // A source- claim never deletes without its own entry, nor while the main entry is in the same bucket.
        if (c.name === SRC && (!src || (x && x.bucketName === c.bucketName))) expect(verdict).toBeDefined();
        // The own entry, when present, must agree on uid, bucket and type.
        if (
          own &&
          (own.bucketName !== c.bucketName || own.type !== c.type || (c.uid !== undefined && c.uid !== own.uid))
        )
          expect(verdict).toBeDefined();
      }),
      { numRuns: 2000 },
    );
  });

  it('a refusal leaves as a non-retryable configuration problem naming the rule', () => {
    const err = deletionRefused({ reason: 'SourceEntryGone', message: 'm' });
    expect(err.retryable).toBe(false);
    expect(err.reason).toBe(DELETION_REFUSED);
    expect(err.message).toContain('SourceEntryGone');
  });
});

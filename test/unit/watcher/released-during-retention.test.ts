import { type WatchedEntry, releasedDuringRetention } from '../../../starter/intent';

const entry = (over: Partial<WatchedEntry> = {}): WatchedEntry => ({
  name: 'shoot--dev--a--0b1c',
  uid: 'u1',
  resourceVersion: '10',
  generation: 2,
  type: 'local',
  class: 'shoot',
  secretRef: { namespace: 'garden', name: 'entry-a' },
  annotations: {},
  deletionTimestamp: '2026-11-30T10:00:00Z',
  lastOperation: { type: 'Delete', state: 'Pending' },
  observedGeneration: 2,
  ...over,
});

describe('the watcher does not tell a workflow "gone" for an entry it released during retention', () => {
  it('release-entry mode: a deleted entry whose last status is Delete/Pending was released by its workflow', () => {
    expect(releasedDuringRetention(entry(), 'release-entry')).toBe(true);
  });

  it('hold-entry mode never releases during retention: every disappearance is news to the workflow', () => {
    expect(releasedDuringRetention(entry(), 'hold-entry')).toBe(false);
  });

  it.each<[string, Partial<WatchedEntry>]>([
    ['not deleted (a forced removal of a live entry)', { deletionTimestamp: undefined }],
    [
      'deleted while Ready (the workflow had not registered the deletion)',
      { lastOperation: { type: 'Create', state: 'Succeeded' } },
    ],
    ['deletion failed (Delete/Error)', { lastOperation: { type: 'Delete', state: 'Error' } }],
    ['deletion running (Delete/Processing)', { lastOperation: { type: 'Delete', state: 'Processing' } }],
    ['deletion done (Delete/Succeeded)', { lastOperation: { type: 'Delete', state: 'Succeeded' } }],
    ['no status at all', { lastOperation: undefined }],
  ])('release-entry mode, %s: the workflow is told', (_label, over) => {
    const e = entry(over);
    if ('deletionTimestamp' in over && over.deletionTimestamp === undefined) delete e.deletionTimestamp;
    if ('lastOperation' in over && over.lastOperation === undefined) delete e.lastOperation;
    expect(releasedDuringRetention(e, 'release-entry')).toBe(false);
  });
});

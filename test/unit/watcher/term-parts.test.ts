/**
 * Parts of the watcher's leadership term that need no server: the secret-reference index and the calendar refresh
 * (its staleness rule and that a failed read keeps the last snapshot).
 */
import { SecretReferrers } from '../../../starter/secret-referrers';
import { CalendarRefresh, type CalendarSnapshot } from '../../../starter/retention-calendar';

describe('SecretReferrers', () => {
  it('indexes entries by secret both ways and forgets them', () => {
    const refs = new SecretReferrers();
    refs.set('a', { namespace: 'garden', name: 's1' });
    refs.set('b', { namespace: 'garden', name: 's1' });
    refs.set('c', { namespace: 'other', name: 's2' });
    expect([...refs.entriesOf('garden/s1')!].sort()).toEqual(['a', 'b']);
    expect(refs.secretOfEntry('c')).toBe('other/s2');
    expect(refs.namespaces().sort()).toEqual(['garden', 'other']);
    refs.set('c', undefined); // no longer served, or no reference
    expect(refs.entriesOf('other/s2')).toBeUndefined();
    expect(refs.namespaces()).toEqual(['garden']);
    refs.set('a', { namespace: 'garden', name: 's3' }); // moved to another secret
    expect([...refs.entriesOf('garden/s1')!]).toEqual(['b']);
    refs.delete('b');
    expect(refs.entriesOf('garden/s1')).toBeUndefined();
    refs.clear();
    expect(refs.namespaces()).toEqual([]);
    expect(refs.secretOfEntry('a')).toBeUndefined();
  });
});

/** Runs every queued microtask (the refresh stores what its read returned one tick after the read). */
const flushMicrotasks = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('CalendarRefresh', () => {
  const snapshot = (atMs: number): CalendarSnapshot => ({ atMs, soon: [], upTo24h: 0, upTo7d: 0, retaining: 1 });

  it('reads at start, keeps the last snapshot when a read fails, and drops one older than ten periods (≥ 5 min)', async () => {
    const results: Array<CalendarSnapshot | Error> = [snapshot(1_000_000)];
    let read!: () => void;
    let readDone = new Promise<void>((r) => (read = r));
    const errors: unknown[] = [];
    const refresh = new CalendarRefresh({
      periodMs: 60_000,
      read: async () => {
        const next = results.shift()!;
        queueMicrotask(read);
        if (next instanceof Error) throw next;
        return next;
      },
      onError: (err) => errors.push(err),
    });
    expect(refresh.current(1_000_000)).toBeUndefined();
    refresh.start();
    await readDone;
    await flushMicrotasks();
    refresh.stop();
    expect(refresh.current(1_000_000)?.retaining).toBe(1);
    expect(refresh.current(1_000_000 + 600_000)).toBeDefined(); // ten periods
    expect(refresh.current(1_000_000 + 600_001)).toBeUndefined();

    // A failed read: counted by the owner, the last snapshot stays.
    results.push(new Error('visibility unavailable'));
    readDone = new Promise<void>((r) => (read = r));
    refresh.start();
    await readDone;
    await flushMicrotasks();
    refresh.stop();
    expect(errors).toHaveLength(1);
    expect(refresh.current(1_000_000)?.atMs).toBe(1_000_000);
  });

  it('a period of 0 reads nothing', () => {
    const refresh = new CalendarRefresh({
      periodMs: 0,
      read: () => Promise.reject(new Error('never')),
      onError: () => undefined,
    });
    refresh.start();
    refresh.stop();
    expect(refresh.current(Date.now())).toBeUndefined();
  });
});

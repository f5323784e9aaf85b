import { oneAtATime } from '../../../workflows/one-at-a-time';

/** A fake activity proxy whose calls finish when the test says so. */
function steps() {
  const started: string[] = [];
  const finish = new Map<string, { ok: () => void; fail: (e: Error) => void }>();
  const proxy = {
    write: (what: string): Promise<string> =>
      new Promise<string>((resolve, reject) => {
        started.push(what);
        finish.set(what, { ok: () => resolve(what), fail: reject });
      }),
    limit: 3,
  };
  return { proxy, started, finish };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('oneAtATime (local activities one at a time)', () => {
  it('starts each call only after the previous one has settled, in call order', async () => {
    const { proxy, started, finish } = steps();
    const serial = oneAtATime(proxy);
    const a = serial.write('a');
    const b = serial.write('b');
    const c = serial.write('c');
    await settle();
    expect(started).toEqual(['a']);
    finish.get('a')!.ok();
    await expect(a).resolves.toBe('a');
    await settle();
    expect(started).toEqual(['a', 'b']);
    finish.get('b')!.fail(new Error('409'));
    await expect(b).rejects.toThrow('409');
    await settle();
    expect(started).toEqual(['a', 'b', 'c']); // a failed call does not block the ones behind it
    finish.get('c')!.ok();
    await expect(c).resolves.toBe('c');
  });

  it('passes other properties through', () => {
    expect(oneAtATime(steps().proxy).limit).toBe(3);
  });
});

import { CursorTracker } from '../../../adapters/storage/prefix-guard';
import { AimdLimiter, TokenBucket } from '../../../adapters/storage/rate-control';

const never = new AbortController().signal;

describe('AimdLimiter', () => {
  it('slow start doubles per window until the first back-off, then grows by about one per window; halves on back-off (once per interval), never below min', async () => {
    let t = 0;
    const l = new AimdLimiter({ min: 1, max: 64, initial: 4, now: () => t });
    const succeed = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        await l.acquire(never);
        l.release(true);
      }
    };
    await succeed(4); // slow start: +1 per success, 4 → 8
    expect(l.limit).toBe(8);
    l.backOff();
    expect(l.limit).toBe(4);
    l.backOff(); // same interval: ignored
    expect(l.limit).toBe(4);
    await succeed(5); // congestion avoidance: 4 + 1/4 + 1/4.25 + ... ≈ 5.1
    expect(l.limit).toBe(5);
    t += 1000;
    l.backOff();
    expect(l.limit).toBe(2);
    t += 1000;
    l.backOff();
    t += 1000;
    l.backOff();
    expect(l.limit).toBe(1);
  });

  it('queues beyond the window and rejects an aborted waiter', async () => {
    const l = new AimdLimiter({ min: 1, max: 1, initial: 1 });
    await l.acquire(never);
    const ac = new AbortController();
    const waiting = l.acquire(ac.signal);
    ac.abort(new Error('gone'));
    await expect(waiting).rejects.toThrow('gone');
    const next = l.acquire(never);
    l.release(true);
    await next;
    expect(l.inFlight).toBe(1);
  });
});

describe('TokenBucket', () => {
  it('allows a burst, then paces at the rate', async () => {
    const b = new TokenBucket(200, { burst: 5 });
    const t0 = Date.now();
    for (let i = 0; i < 25; i++) await b.take(never);
    // 5 immediately, 20 more at 5 ms each: about 100 ms.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
  });
});

describe('CursorTracker', () => {
  it('advances only over a contiguous finished run', () => {
    const c = new CursorTracker('a');
    const [b, d, e] = [c.begin('b'), c.begin('d'), c.begin('e')];
    c.finish(d);
    expect(c.cursor).toBe('a');
    expect(c.window).toBe(3);
    c.finish(b);
    expect(c.cursor).toBe('d');
    c.finish(e);
    expect(c.cursor).toBe('e');
    expect(c.window).toBe(0);
  });

  it('keeps its memory bounded by the unfinished window', () => {
    const c = new CursorTracker(undefined);
    for (let i = 0; i < 10_000; i++) c.finish(c.begin(String(i).padStart(5, '0')));
    expect(c.window).toBe(0);
    expect(c.cursor).toBe('09999');
    expect((c as unknown as { names: string[] }).names.length).toBeLessThan(2100);
  });
});

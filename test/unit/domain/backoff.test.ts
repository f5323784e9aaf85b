import fc from 'fast-check';
import { backoffDelay } from '../../../domain/backoff';

describe('backoffDelay', () => {
  it('doubles from the initial delay and stops at the cap', () => {
    const policy = { initialMs: 500, maxMs: 4000 };
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, policy))).toEqual([500, 1000, 2000, 4000, 4000, 4000]);
  });

  it('treats a missing, fractional or huge attempt number sanely', () => {
    const policy = { initialMs: 100, maxMs: 60_000 };
    expect(backoffDelay(0, policy)).toBe(100);
    expect(backoffDelay(-3, policy)).toBe(100);
    expect(backoffDelay(Number.NaN, policy)).toBe(100);
    expect(backoffDelay(2.9, policy)).toBe(200);
    expect(backoffDelay(10_000, policy)).toBe(60_000);
    expect(backoffDelay(Number.POSITIVE_INFINITY, policy)).toBe(100);
  });

  it('spreads by the jitter fraction around the delay, using the given random source', () => {
    const policy = { initialMs: 1000, maxMs: 1000, jitter: 0.2 };
    expect(backoffDelay(1, policy, () => 0)).toBe(800);
    expect(backoffDelay(1, policy, () => 0.5)).toBe(1000);
    expect(backoffDelay(1, policy, () => 0.999_999)).toBe(1200);
  });

  it('stays within [(1 − jitter) · base, (1 + jitter) · base] and never exceeds (1 + jitter) · max', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 600_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 0.999_999, noNaN: true }),
        (attempt, initialMs, maxMs, jitter, r) => {
          const base = Math.min(maxMs, initialMs * 2 ** Math.min(attempt - 1, 30));
          const d = backoffDelay(attempt, { initialMs, maxMs, jitter }, () => r);
          expect(d).toBeGreaterThanOrEqual(Math.floor(base * (1 - jitter)));
          expect(d).toBeLessThanOrEqual(Math.ceil(base * (1 + jitter)));
        },
      ),
    );
  });
});

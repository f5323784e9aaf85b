import { backoffDelay } from '../../../domain';

/**
 * The hand-written delays that backoffDelay replaced give the same numbers: the workflow's `failed()` must
 * keep its delays exactly (recorded histories replay their timers), the others keep their distributions.
 */
describe('delays taken from backoffDelay', () => {
  it("the workflow's retry delay: min(max, initial · 2^min(streak − 1, 20)), whole settings as validated", () => {
    const initials = [10, 200, 1000, 5000, 3_600_000];
    const maxes = [10, 1000, 300_000, 24 * 3_600_000];
    for (const initialMs of initials) {
      for (const maxMs of maxes) {
        for (let streak = 1; streak <= 40; streak++) {
          const before = Math.min(maxMs, initialMs * 2 ** Math.min(streak - 1, 20));
          expect(backoffDelay(Math.min(streak, 21), { initialMs, maxMs })).toBe(before);
        }
      }
    }
  });

  it("the worker's connect delay: min(30 s, 1 s · 2^min(attempt − 1, 5))", () => {
    for (let attempt = 1; attempt <= 50; attempt++) {
      expect(backoffDelay(attempt, { initialMs: 1000, maxMs: 30_000 })).toBe(
        Math.min(30_000, 1000 * 2 ** Math.min(attempt - 1, 5)),
      );
    }
  });

  it("the storage adapter's request backoff base: min(10 s, 200 ms · 2^(attempt − 1))", () => {
    for (let attempt = 1; attempt <= 20; attempt++) {
      expect(backoffDelay(attempt, { initialMs: 200, maxMs: 10_000 })).toBe(Math.min(10_000, 200 * 2 ** (attempt - 1)));
    }
  });
});

/**
 * The one exponential backoff of the project: the workflow's retry delay, the watcher's work queue and list-watch
 * loop, the connection loops of worker and watcher and the storage request retries all take their delay from here
 * (see docs/adr/0006-one-retry-story.md for which layer retries what).
 */

/** How a retry delay grows. */
export interface BackoffPolicy {
  /** Delay before the first retry, in milliseconds. */
  initialMs: number;
  /** Upper bound of the delay, in milliseconds. */
  maxMs: number;
  /**
   * Spread around the delay, as a fraction: 0.2 draws from [0.8, 1.2] × the delay, 0.5 from [0.5, 1.5] ×.
   * @default 0
   */
  jitter?: number;
}

/**
 * The delay before retry number `attempt` (1 for the first retry): `initialMs · 2^(attempt − 1)`, capped at `maxMs`,
 * then spread by `jitter` using `random` (a number in [0, 1); `Math.random` by default, which is deterministic inside
 * a Temporal workflow). Never negative; a non-integer or smaller-than-1 attempt counts as 1.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const n = Number.isFinite(attempt) ? Math.max(1, Math.floor(attempt)) : 1;
  // Capped exponent: 2^30 × any sane initial delay is past every cap, and larger exponents would overflow to Infinity.
  const base = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(n - 1, 30));
  const jitter = Math.min(1, Math.max(0, policy.jitter ?? 0));
  if (jitter === 0) return Math.max(0, Math.round(base));
  return Math.max(0, Math.round(base * (1 - jitter + 2 * jitter * random())));
}

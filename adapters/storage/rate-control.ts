/**
 * Flow control for bulk object deletion: an AIMD concurrency limiter and a token bucket.
 *
 * Written by hand on purpose: the usual npm pools (p-limit, p-queue) have a fixed concurrency and no notion of
 * "the server says slow down"; adapting the window to 429/503 feedback (additive increase, multiplicative decrease,
 * as TCP does) and capping the request rate per bucket is a few dozen lines and keeps the dependency list short.
 */
import { sleep } from '../abortable-sleep';

/** Options of {@link AimdLimiter}. */
export interface AimdOptions {
  /** Lower bound of the window (≥ 1). */
  min: number;
  /** Upper bound of the window. */
  max: number;
  /** Window to start with (clamped to [min, max]). */
  initial: number;
  /**
   * At most one halving per this many milliseconds (one burst of 429s is one signal, not twenty).
   * @default 1000
   */
  decreaseIntervalMs?: number;
  /**
   * Clock, for tests.
   * @default Date.now
   */
  now?: () => number;
}

/**
 * An adaptive concurrency window: `acquire` waits until fewer than `window` operations are in flight. Until the first
 * back-off each success grows the window by 1 (slow start, as TCP: the window doubles every round trip, so a short
 * purge is not spent ramping up; the token bucket still caps the request rate); after it, by 1/window (about +1 per
 * round trip). {@link AimdLimiter.backOff} halves it (at most once per `decreaseIntervalMs`). Waiters are served first in, first out; an aborted waiter leaves the queue and rejects with
 * the signal's reason.
 */
export class AimdLimiter {
  private windowSize: number;
  private active = 0;
  private lastDecrease = Number.NEGATIVE_INFINITY;
  private slowStart = true;
  private readonly waiters: Array<() => void> = [];
  private readonly now: () => number;

  constructor(private readonly opts: AimdOptions) {
    this.windowSize = Math.min(opts.max, Math.max(opts.min, opts.initial));
    this.now = opts.now ?? Date.now;
  }

  /** The current window (whole operations). */
  get limit(): number {
    return Math.max(this.opts.min, Math.floor(this.windowSize));
  }

  /** Operations currently in flight. */
  get inFlight(): number {
    return this.active;
  }

  /** Waits for a free slot; the caller must call {@link AimdLimiter.release} exactly once afterwards. */
  async acquire(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (this.active < this.limit && this.waiters.length === 0) {
      this.active += 1;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.waiters.indexOf(wake);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal.reason);
      };
      const wake = (): void => {
        signal.removeEventListener('abort', onAbort);
        this.active += 1;
        resolve();
      };
      this.waiters.push(wake);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Frees a slot. `ok` grows the window (additive increase). */
  release(ok: boolean): void {
    this.active -= 1;
    if (ok) this.windowSize = Math.min(this.opts.max, this.windowSize + (this.slowStart ? 1 : 1 / this.windowSize));
    this.pump();
  }

  /** The server asked to slow down (429/503): halve the window, at most once per interval. */
  backOff(): void {
    const t = this.now();
    if (t - this.lastDecrease < (this.opts.decreaseIntervalMs ?? 1000)) return;
    this.lastDecrease = t;
    this.slowStart = false;
    this.windowSize = Math.max(this.opts.min, this.windowSize / 2);
  }

  private pump(): void {
    while (this.active < this.limit && this.waiters.length > 0) this.waiters.shift()!();
  }
}

/**
 * A token bucket, implemented as GCRA (each caller reserves the next slot and sleeps exactly until it, so many
 * waiters cost no polling): at most `ratePerSecond` operations per second on average, bursts up to `burst`. Meant to
 * be shared by every session on one bucket, so concurrent purges together stay under the bucket's write budget.
 */
export class TokenBucket {
  /** Theoretical arrival time of the next operation (ms). */
  private tat: number;
  private readonly intervalMs: number;
  private readonly toleranceMs: number;
  private readonly now: () => number;

  constructor(ratePerSecond: number, opts: { burst?: number; now?: () => number } = {}) {
    if (!(ratePerSecond > 0)) throw new RangeError(`rate must be positive, got ${ratePerSecond}`);
    const burst = Math.max(1, opts.burst ?? Math.ceil(ratePerSecond / 10));
    this.intervalMs = 1000 / ratePerSecond;
    this.toleranceMs = (burst - 1) * this.intervalMs;
    this.now = opts.now ?? Date.now;
    this.tat = this.now();
  }

  /** Takes one token, waiting as long as needed; rejects with the signal's reason when aborted (the slot is lost). */
  async take(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const t = this.now();
    const base = Math.max(this.tat, t);
    this.tat = base + this.intervalMs;
    const wait = base - this.toleranceMs - t;
    if (wait >= 1) await sleep(wait, signal);
  }
}

/**
 * A keyed, coalescing work queue with bounded concurrency and per-key retry backoff (client-go's workqueue, in small):
 * the watcher's buffer between Kubernetes events (synchronous, ordered) and Temporal calls (asynchronous, may fail).
 * One key is never handled twice at once; actions queued for the same key while it waits are merged by the owner's
 * `merge`, so a burst of events costs one call. Written by hand: p-queue and the like run queued tasks; none keeps
 * one mergeable action per key with a per-key retry backoff.
 */
import type { Logger } from 'pino';
import { backoffDelay } from '../../domain';

/** Options of {@link WorkQueue}; `A` is the owner's action type. */
export interface WorkQueueOptions<A extends { readonly kind: string }> {
  concurrency: number;
  /**
   * Merges a newly wanted action into one still waiting for the same key (`waiting` undefined: none waits). Whatever
   * it returns is what the handler eventually gets.
   */
  merge(waiting: A | undefined, next: A): A;
  /** Does the work; a rejection is retried after a backoff unless `isPermanent` says otherwise. */
  handle(key: string, action: A): Promise<void>;
  /**
   * Errors that retrying cannot fix (the action is dropped and logged).
   * @default undefined (every error is retried)
   */
  isPermanent?(err: unknown): boolean;
  /**
   * First retry delay and cap.
   * @default { initialMs: 500, maxMs: 60_000 }
   */
  backoff?: { initialMs: number; maxMs: number };
  log: Logger;
  /**
   * Called for every failed attempt.
   * @default a no-op
   */
  onError?(action: A, err: unknown): void;
  /** Describes an error for the log without secrets. */
  describe(err: unknown): string;
}

/**
 * The queue. Contract: after `add(key, a)` the handler eventually runs with `a` merged into what waited (see
 * {@link WorkQueueOptions.merge}) unless the queue is stopped first; per key, handler calls never overlap and run in
 * the order the actions were added. `stop()` lets calls in flight finish and returns every key whose action was
 * not done, so the caller can forget what it decided about them.
 */
export class WorkQueue<A extends { readonly kind: string }> {
  private readonly waiting = new Map<string, A>();
  private readonly ready: string[] = [];
  private readonly readySet = new Set<string>();
  private readonly delayed = new Map<string, NodeJS.Timeout>();
  private readonly attempts = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly o: WorkQueueOptions<A>) {}

  /** Queues (or merges) an action for `key`. Ignored after `stop()`. */
  add(key: string, action: A): void {
    if (this.stopped) return;
    this.waiting.set(key, this.o.merge(this.waiting.get(key), action));
    if (!this.inFlight.has(key) && !this.delayed.has(key)) this.markReady(key);
    this.pump();
  }

  /** Actions waiting or in flight. */
  depth(): number {
    return this.waiting.size + this.inFlight.size;
  }

  /** Resolves when nothing waits, nothing is delayed and nothing is in flight (tests, graceful stop). */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking work, waits for calls in flight, and returns the keys whose actions were dropped. */
  async stop(): Promise<string[]> {
    this.stopped = true;
    for (const t of this.delayed.values()) clearTimeout(t);
    const dropped = new Set<string>([...this.waiting.keys(), ...this.delayed.keys()]);
    this.delayed.clear();
    this.ready.length = 0;
    this.readySet.clear();
    await Promise.allSettled([...this.inFlight.values()]);
    for (const k of this.waiting.keys()) dropped.add(k);
    this.waiting.clear();
    this.notifyIdle();
    return [...dropped];
  }

  private isIdle(): boolean {
    return this.waiting.size === 0 && this.inFlight.size === 0 && this.delayed.size === 0;
  }

  private notifyIdle(): void {
    if (!this.isIdle() && !this.stopped) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private markReady(key: string): void {
    if (this.readySet.has(key)) return;
    this.readySet.add(key);
    this.ready.push(key);
  }

  private pump(): void {
    while (!this.stopped && this.inFlight.size < this.o.concurrency && this.ready.length > 0) {
      const key = this.ready.shift()!;
      this.readySet.delete(key);
      const action = this.waiting.get(key);
      if (!action || this.inFlight.has(key)) continue;
      this.waiting.delete(key);
      const run = this.runOne(key, action);
      this.inFlight.set(key, run);
    }
    this.notifyIdle();
  }

  private async runOne(key: string, action: A): Promise<void> {
    try {
      await this.o.handle(key, action);
      this.attempts.delete(key);
    } catch (err) {
      this.o.onError?.(action, err);
      if (this.stopped) {
        this.waiting.set(key, this.o.merge(action, this.waiting.get(key) ?? action));
      } else if (this.o.isPermanent?.(err)) {
        this.attempts.delete(key);
        this.o.log.error(
          { entry: key, action: action.kind, error: this.o.describe(err) },
          'Giving up on an entry action',
        );
      } else {
        const n = (this.attempts.get(key) ?? 0) + 1;
        this.attempts.set(key, n);
        const delay = backoffDelay(n, { ...(this.o.backoff ?? { initialMs: 500, maxMs: 60_000 }), jitter: 0.2 });
        this.o.log.warn(
          { entry: key, action: action.kind, error: this.o.describe(err), attempt: n, retryInMs: delay },
          'Entry action failed; retrying later',
        );
        // The failed action and anything queued meanwhile are merged (a newer `gone` wins).
        const newer = this.waiting.get(key);
        this.waiting.set(key, newer ? this.o.merge(action, newer) : action);
        this.delayed.set(
          key,
          setTimeout(() => {
            this.delayed.delete(key);
            if (this.waiting.has(key)) this.markReady(key);
            this.pump();
          }, delay),
        );
      }
    } finally {
      this.inFlight.delete(key);
      if (!this.stopped && this.waiting.has(key) && !this.delayed.has(key)) this.markReady(key);
      this.pump();
    }
  }
}

/**
 * A keyed, coalescing work queue with bounded concurrency and per-key retry backoff: the watcher's buffer between
 * Kubernetes events (synchronous, ordered) and Temporal calls (asynchronous, may fail). One entry is never handled
 * twice at once; actions queued for the same entry while it waits are merged, so a burst of events costs one call.
 */
import type { Logger } from 'pino';
import type { SignalReason } from './intent';

/** What the watcher does for one entry. */
export type EntryAction =
  /** Start the workflow if it is not running (`USE_EXISTING`: no history for a running one). */
  | { kind: 'ensure' }
  /** Signal-with-start `reconcile` with these reasons. */
  | { kind: 'signal'; reasons: SignalReason[] }
  /** Like `ensure`, then compare the etcd-backup secret with the provider secret and signal on a difference. */
  | { kind: 'verify-secret' }
  /** The entry is gone: signal the workflow only if it is still running. */
  | { kind: 'gone' }
  /**
   * No BackupEntry, but a retention record on its credentials secret (released during retention): make sure its
   * workflow runs, starting a new run from the record if none does.
   */
  | { kind: 'resume'; secret: { namespace: string; name: string } };

const STRENGTH = { resume: -1, ensure: 0, 'verify-secret': 1, signal: 2 } as const;

/**
 * Merges a newly wanted action into a waiting one: `gone` replaces everything and is replaced by anything newer
 * (the entry came back); otherwise the stronger wins (signal > verify-secret > ensure) and signal reasons are united.
 */
export function mergeActions(waiting: EntryAction | undefined, next: EntryAction): EntryAction {
  if (!waiting || waiting.kind === 'gone' || next.kind === 'gone') return next;
  if (waiting.kind === 'signal' && next.kind === 'signal') {
    return { kind: 'signal', reasons: [...new Set([...waiting.reasons, ...next.reasons])] };
  }
  return STRENGTH[next.kind] >= STRENGTH[waiting.kind] ? next : waiting;
}

/** Options of {@link WorkQueue}. */
export interface WorkQueueOptions {
  concurrency: number;
  /** Does the work; a rejection is retried after a backoff unless `isPermanent` says otherwise. */
  handle(key: string, action: EntryAction): Promise<void>;
  /** Errors that retrying cannot fix (the action is dropped and logged). Default: none. */
  isPermanent?(err: unknown): boolean;
  /** First retry delay and cap. Default 500 ms and 60 s. */
  backoff?: { initialMs: number; maxMs: number };
  log: Logger;
  /** Called for every failed attempt. */
  onError?(action: EntryAction, err: unknown): void;
  /** Describes an error for the log without secrets. */
  describe(err: unknown): string;
}

/**
 * The queue. Contract: after `add(key, a)` the handler eventually runs with an action at least as strong as `a`
 * (see {@link mergeActions}) unless the queue is stopped first; per key, handler calls never overlap and run in
 * the order the actions were added. `stop()` lets calls in flight finish and returns every key whose action was
 * not done, so the caller can forget what it decided about them.
 */
export class WorkQueue {
  private readonly waiting = new Map<string, EntryAction>();
  private readonly ready: string[] = [];
  private readonly readySet = new Set<string>();
  private readonly delayed = new Map<string, NodeJS.Timeout>();
  private readonly attempts = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly o: WorkQueueOptions) {}

  /** Queues (or merges) an action for `key`. Ignored after `stop()`. */
  add(key: string, action: EntryAction): void {
    if (this.stopped) return;
    this.waiting.set(key, mergeActions(this.waiting.get(key), action));
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

  private async runOne(key: string, action: EntryAction): Promise<void> {
    try {
      await this.o.handle(key, action);
      this.attempts.delete(key);
    } catch (err) {
      this.o.onError?.(action, err);
      if (this.stopped) {
        this.waiting.set(key, mergeActions(action, this.waiting.get(key) ?? action));
      } else if (this.o.isPermanent?.(err)) {
        this.attempts.delete(key);
        this.o.log.error({ entry: key, action: action.kind, error: this.o.describe(err) }, 'Giving up on an entry action');
      } else {
        const n = (this.attempts.get(key) ?? 0) + 1;
        this.attempts.set(key, n);
        const b = this.o.backoff ?? { initialMs: 500, maxMs: 60_000 };
        const delay = Math.round(Math.min(b.maxMs, b.initialMs * 2 ** Math.min(n - 1, 20)) * (0.8 + Math.random() * 0.4));
        this.o.log.warn({ entry: key, action: action.kind, error: this.o.describe(err), attempt: n, retryInMs: delay },
          'Entry action failed; retrying later');
        // The failed action and anything queued meanwhile are merged (a newer `gone` wins).
        const newer = this.waiting.get(key);
        this.waiting.set(key, newer ? mergeActions(action, newer) : action);
        this.delayed.set(key, setTimeout(() => {
          this.delayed.delete(key);
          if (this.waiting.has(key)) this.markReady(key);
          this.pump();
        }, delay));
      }
    } finally {
      this.inFlight.delete(key);
      if (!this.stopped && this.waiting.has(key) && !this.delayed.has(key)) this.markReady(key);
      this.pump();
    }
  }
}

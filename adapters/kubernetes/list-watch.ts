/**
 * A list+watch loop (a "reflector") on one Kubernetes collection, written by hand for the failure modes of
 * `@kubernetes/client-node` 2.0.1 (docs/adr/0005):
 * - client-node's `ListWatch` stops for good on any error but 410; this loop never stops until {@link Reflector.stop}:
 *   410 Gone (HTTP or watch `ERROR` event, also an expired `continue` token) relists at once, every other error
 *   restarts after an exponential backoff with jitter, resuming the watch from the last resourceVersion;
 * - client-node's `Watch` aborts a request that delivered no bytes for `requestTimeoutMs` (30 s by default). The loop
 *   asks for bookmarks (`allowWatchBookmarks`, the API server sends one about every minute on a quiet watch, which
 *   also keeps the resourceVersion fresh) and raises the timeout to `idleTimeoutMs`: it is the watchdog against
 *   silent hangs — a watch that delivers nothing, not even a bookmark, for that long is restarted;
 * - every watch request carries a server-side `timeoutSeconds` picked in [t, 2t) like client-go, so connections are
 *   recycled regularly; the list has its own timeout.
 * Objects are reduced by `transform` before they are stored (the secret watch keeps a digest, never the data).
 */
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { backoffDelay } from '../../domain';
import { sleepUnlessAborted } from '../abortable-sleep';

/** One page of a list call as the API returns it. */
export interface ListResult {
  items?: unknown[];
  metadata?: { resourceVersion?: string; _continue?: string; continue?: string };
}

/** Why a reflector restarted its watch (label of the restarts metric). */
export type RestartReason = 'gone' | 'error' | 'idle' | 'relist' | 'resync';

/** Options of {@link Reflector}. */
export interface ReflectorOptions<T> {
  /** Names the collection in logs and metrics, e.g. `backupentries`, `secrets/garden`. */
  name: string;
  kubeConfig: KubeConfig;
  /** Watch path, e.g. `/apis/extensions.gardener.cloud/v1alpha1/backupentries`. */
  path: string;
  /** One page of the list (`limit`, `continue` token). */
  list(page: { limit: number; continueToken?: string }): Promise<ListResult>;
  /** Reduces an API object to what is kept; undefined = ignore it. Must not throw. */
  transform(obj: unknown): T | undefined;
  /** Cache key of a kept object (its name, or namespace/name). */
  keyOf(obj: T): string;
  /**
   * After each complete list: the new content and the previous one (empty on the first list). Runs synchronously
   * before any watch event of the same round.
   */
  onSync(current: ReadonlyMap<string, T>, previous: ReadonlyMap<string, T>): void;
  /** A watch event; `old` is the cached object before it (undefined for a new one). */
  onEvent(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: T, old: T | undefined): void;
  /** Restart the watch when nothing (no event, no bookmark) arrived for this long. */
  idleTimeoutMs: number;
  /** Server-side timeout of one watch request (randomised to [t, 2t)). */
  watchTimeoutMs: number;
  /**
   * Timeout of one list page.
   * @default 60_000 (60 s)
   */
  listTimeoutMs?: number;
  /**
   * Page size of the list.
   * @default 500
   */
  pageSize?: number;
  /**
   * Backoff after errors: first delay and cap.
   * @default { initialMs: 500, maxMs: 30_000 }
   */
  backoff?: { initialMs: number; maxMs: number };
  log: Logger;
  /**
   * Metric hook: the watch restarts (relists or re-watches), with the reason.
   * @default a no-op
   */
  onRestart?(reason: RestartReason): void;
  /**
   * Metric hook: a watch event arrived, with its type (bookmarks and errors included).
   * @default a no-op
   */
  onEventSeen?(type: string): void;
  /**
   * Metric hook: the cache went in or out of sync (listed and watching).
   * @default a no-op
   */
  onSyncChange?(inSync: boolean): void;
}

/** The error a watch `ERROR` event becomes (the Status object's code and reason). */
export class WatchStatusError extends Error {
  override readonly name = 'WatchStatusError';
  constructor(
    readonly code: number | undefined,
    readonly reason: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** True when `err` says the resourceVersion (or continue token) is too old: HTTP or Status 410 Gone. */
export function isGone(err: unknown): boolean {
  const e = err as { statusCode?: unknown; code?: unknown } | null;
  return e?.statusCode === 410 || e?.code === 410;
}

/** A request of ours that took longer than we allow ({@link withTimeout}); its message is ours and names no secret. */
export class RequestTimeoutError extends Error {
  override readonly name = 'RequestTimeoutError';
}

/** A short, safe description of an error (no response bodies: they could quote objects). */
export function describeError(err: unknown): string {
  if (err instanceof WatchStatusError || err instanceof RequestTimeoutError) return err.message;
  const e = err as { name?: unknown; code?: unknown; statusCode?: unknown; cause?: { code?: unknown } } | null;
  const status = typeof e?.statusCode === 'number' ? e.statusCode : typeof e?.code === 'number' ? e.code : undefined;
  const sys = [e?.code, e?.cause?.code].find((c): c is string => typeof c === 'string');
  const name = typeof e?.name === 'string' ? e.name : 'Error';
  return `${name}${status !== undefined ? ` HTTP ${status}` : ''}${sys ? ` ${sys}` : ''}`;
}

type WatchOutcome = 'closed' | 'gone' | 'idle' | 'aborted';

/**
 * The list+watch loop. `start()` runs it in the background; it only ends with `stop()`. Not re-startable after
 * `stop()` (make a new one). Contract: `onSync` gets every complete list, `onEvent` every watch event in order;
 * after a watch error the watch resumes from the last resourceVersion (events are not lost); after 410 a fresh list
 * is diffed against the cache by the owner (`onSync` gets both).
 */
export class Reflector<T> {
  private cache = new Map<string, T>();
  private rv = '';
  private stopped = false;
  private started = false;
  private synced = false;
  private loop?: Promise<void>;
  private controller?: AbortController;
  private cancelWatch?: () => void;
  private abortReason?: 'stop' | 'relist' | 'resync';
  /** Aborts the current backoff sleep: `stop()` and `relist()` wake the loop through it. */
  private sleepAbort?: AbortController;
  private relistWanted?: RestartReason;
  private lastActivityMs = Date.now();
  private readonly stopSignal: Promise<never>;
  private signalStop!: () => void;

  constructor(private readonly o: ReflectorOptions<T>) {
    this.stopSignal = new Promise<never>((_, reject) => {
      this.signalStop = () => reject(new Error(`informer ${o.name} stopped`));
    });
    this.stopSignal.catch(() => undefined);
  }

  /** Starts the loop (idempotent). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.loop = this.run();
  }

  /** Stops the loop and waits until it has ended; the open watch is aborted. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abortReason = 'stop';
    this.signalStop();
    this.controller?.abort();
    this.cancelWatch?.();
    this.sleepAbort?.abort();
    await this.loop;
    this.setSynced(false);
  }

  /** True after a complete list while a watch from its resourceVersion is open or being resumed without error. */
  isInSync(): boolean {
    return this.synced;
  }

  /** Epoch ms of the last list, event or bookmark. */
  lastActivity(): number {
    return this.lastActivityMs;
  }

  /** The cached (transformed) objects. */
  items(): ReadonlyMap<string, T> {
    return this.cache;
  }

  /**
   * Forces a fresh list now (the open watch is closed; `onSync` sees the new list and the cache). `reason`
   * `resync` is the periodic one.
   */
  relist(reason: 'relist' | 'resync' = 'relist'): void {
    if (this.stopped) return;
    this.relistWanted = reason;
    this.abortReason = reason;
    this.controller?.abort();
    this.cancelWatch?.();
    this.sleepAbort?.abort();
  }

  /** Sleeps `ms`, or less when `stop()` or `relist()` wake the loop. */
  private async pause(ms: number): Promise<void> {
    const abort = new AbortController();
    this.sleepAbort = abort;
    try {
      await sleepUnlessAborted(ms, abort.signal);
    } finally {
      if (this.sleepAbort === abort) this.sleepAbort = undefined;
    }
  }

  private setSynced(v: boolean): void {
    if (this.synced !== v) {
      this.synced = v;
      this.o.onSyncChange?.(v);
    }
  }

  private async run(): Promise<void> {
    const backoff = this.o.backoff ?? { initialMs: 500, maxMs: 30_000 };
    let failures = 0;
    while (!this.stopped) {
      try {
        let periodic = false;
        if (this.relistWanted) {
          this.o.onRestart?.(this.relistWanted);
          periodic = this.relistWanted === 'resync';
          this.relistWanted = undefined;
          this.rv = '';
        }
        if (!this.rv) {
          if (!periodic) this.setSynced(false); // a periodic resync keeps a valid cache: still in sync meanwhile
          await this.listAll();
        }
        if (this.stopped) break;
        const startedAt = Date.now();
        const outcome = await this.watchOnce();
        if (outcome === 'closed' && Date.now() - startedAt < 1000) {
          // A watch the server ends at once, again and again, must not become a busy loop.
          failures += 1;
          await this.pause(backoffDelay(failures, backoff));
          continue;
        }
        failures = 0;
        if (outcome === 'gone') {
          this.o.log.info({ informer: this.o.name }, 'Watch expired (410 Gone); relisting');
          this.o.onRestart?.('gone');
          this.rv = '';
        } else if (outcome === 'idle') {
          this.o.log.warn(
            { informer: this.o.name, idleMs: this.o.idleTimeoutMs },
            'Watch delivered nothing, not even a bookmark; restarting it from the last resourceVersion',
          );
          this.o.onRestart?.('idle');
        }
      } catch (err) {
        if (this.stopped) break;
        if (isGone(err)) {
          this.o.log.info({ informer: this.o.name }, 'Resource version expired (410 Gone); relisting');
          this.o.onRestart?.('gone');
          this.rv = '';
          continue;
        }
        this.setSynced(false);
        failures += 1;
        const delay = backoffDelay(failures, { ...backoff, jitter: 0.2 });
        this.o.log.warn(
          { informer: this.o.name, error: describeError(err), failures, retryInMs: delay },
          'List/watch failed; restarting after a backoff',
        );
        this.o.onRestart?.('error');
        await this.pause(delay);
      }
    }
  }

  private async listAll(): Promise<void> {
    const limit = this.o.pageSize ?? 500;
    const timeoutMs = this.o.listTimeoutMs ?? 60_000;
    const next = new Map<string, T>();
    let rv = '';
    let token: string | undefined;
    do {
      const page = await Promise.race([
        this.stopSignal,
        withTimeout(
          this.o.list({ limit, ...(token ? { continueToken: token } : {}) }),
          timeoutMs,
          `list ${this.o.name} timed out after ${timeoutMs} ms`,
        ),
      ]);
      if (this.stopped) return;
      for (const raw of page.items ?? []) {
        const obj = this.o.transform(raw);
        if (obj !== undefined) next.set(this.o.keyOf(obj), obj);
      }
      if (!rv) rv = page.metadata?.resourceVersion ?? '';
      token = page.metadata?._continue ?? page.metadata?.continue ?? undefined;
    } while (token);
    const previous = this.cache;
    this.cache = next;
    this.rv = rv;
    this.lastActivityMs = Date.now();
    this.o.onSync(next, previous);
  }

  /** One watch request from the current resourceVersion; resolves when it ends normally, rejects on errors. */
  private watchOnce(): Promise<WatchOutcome> {
    if (this.relistWanted || this.stopped) return Promise.resolve('aborted');
    return new Promise<WatchOutcome>((resolve, reject) => {
      let settled = false;
      let gone = false;
      let statusError: WatchStatusError | undefined;
      const finish = (fn: () => void): void => {
        if (!settled) {
          settled = true;
          this.controller?.abort();
          this.controller = undefined;
          this.cancelWatch = undefined;
          fn();
        }
      };
      const watch = new Watch(this.o.kubeConfig);
      // client-node 2.0.1: an inactivity timeout (private field, 30 s). Raised to the watchdog's value.
      (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = this.o.idleTimeoutMs;
      const timeoutSeconds = Math.max(1, Math.round((this.o.watchTimeoutMs * (1 + Math.random())) / 1000));
      this.abortReason = undefined;
      const params = { resourceVersion: this.rv, allowWatchBookmarks: true, timeoutSeconds };
      const onEvent = (type: string, obj: unknown): void => {
        if (settled) return;
        this.lastActivityMs = Date.now();
        this.o.onEventSeen?.(type);
        const meta = (obj as { metadata?: { resourceVersion?: string } } | null)?.metadata;
        if (type === 'ERROR') {
          const s = obj as { code?: number; reason?: string; message?: string } | null;
          if (s?.code === 410) gone = true;
          else
            statusError = new WatchStatusError(
              s?.code,
              s?.reason,
              `watch ${this.o.name}: ERROR event ${s?.code ?? '?'} ${s?.reason ?? ''}`.trim(),
            );
          this.controller?.abort();
          return;
        }
        if (type === 'BOOKMARK') {
          if (meta?.resourceVersion) this.rv = meta.resourceVersion;
          return;
        }
        if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return;
        const item = this.o.transform(obj);
        if (meta?.resourceVersion) this.rv = meta.resourceVersion;
        if (item === undefined) return;
        const key = this.o.keyOf(item);
        const old = this.cache.get(key);
        if (type === 'DELETED') this.cache.delete(key);
        else this.cache.set(key, item);
        try {
          this.o.onEvent(type, item, old);
        } catch (err) {
          // client-node's Watch swallows exceptions thrown by the callback; never lose one silently.
          this.o.log.error(
            { informer: this.o.name, key, type, error: err instanceof Error ? err.message : String(err) },
            'Event handler failed',
          );
        }
      };
      const onDone = (err: unknown): void => {
        finish(() => {
          if (gone) resolve('gone');
          else if (statusError) reject(statusError);
          else if (this.abortReason) resolve('aborted');
          else if (!err) resolve('closed');
          else if ((err as { name?: unknown }).name === 'TimeoutError') resolve('idle');
          else reject(err);
        });
      };
      // stop() and relist() must not wait for a connect that hangs (the request timeout also covers the connect).
      this.cancelWatch = () => finish(() => resolve('aborted'));
      watch.watch(this.o.path, params, onEvent, onDone).then(
        (controller) => {
          if (settled) {
            controller.abort();
            return;
          }
          this.controller = controller;
          if (this.abortReason || gone || statusError) controller.abort();
          else this.setSynced(true);
        },
        (err: unknown) => finish(() => reject(err)),
      );
    });
  }
}

/** Resolves or rejects like `p`, or rejects with `message` after `ms` (the abandoned call is left to its own timeouts). */
export function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new RequestTimeoutError(message)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

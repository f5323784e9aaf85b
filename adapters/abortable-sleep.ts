/**
 * The one abortable sleep outside workflow code (workflows sleep on durable timers): storage request retries, the
 * watcher's list-watch loop and leader election, and the worker's and watcher's connection loops wait here.
 */
import { setTimeout as sleepTimer } from 'node:timers/promises';

/** Sleeps `ms`; rejects with the signal's reason as soon as `signal` aborts (at once if it already has). */
export async function sleep(ms: number, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  try {
    await sleepTimer(ms, undefined, { signal });
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    throw err;
  }
}

/** Sleeps `ms`, or less when `signal` aborts; never rejects. Resolves `true` when it was cut short by the signal. */
export async function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(ms, signal);
    return false;
  } catch {
    return true;
  }
}

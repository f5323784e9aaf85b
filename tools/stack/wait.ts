import { readFileSync } from 'node:fs';
import type { ManagedProcess } from './processes';

/** Options of {@link waitFor}. */
export interface WaitOptions {
  /** What is awaited, for the error message. */
  what: string;
  /** @default 60000 */
  timeoutMs?: number;
  /** @default 100 */
  intervalMs?: number;
  /** Fail at once (with the tail of its log) if this process exits while waiting. */
  process?: ManagedProcess;
}

/** Last `lines` lines of a log file, for error messages. */
export function logTail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Polls `check` until it returns a value other than `undefined`/`false` and returns that value.
 * Errors thrown by `check` count as "not yet". Throws a specific error on timeout or when `process` exits.
 */
export async function waitFor<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  opts: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let lastError: unknown;
  for (;;) {
    if (opts.process?.exited) {
      const { code, signal } = opts.process.exited;
      throw new Error(
        `${opts.process.name} exited (code ${code}, signal ${signal}) while waiting for ${opts.what}; ` +
          `log ${opts.process.logFile}:\n${logTail(opts.process.logFile)}`,
      );
    }
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? `: last error: ${lastError.message}` : '';
      const log = opts.process ? `; log ${opts.process.logFile}:\n${logTail(opts.process.logFile)}` : '';
      throw new Error(`timed out after ${opts.timeoutMs ?? 60_000} ms waiting for ${opts.what}${why}${log}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}

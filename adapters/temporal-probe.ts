/**
 * The readiness check both processes make of Temporal: one `GetSystemInfo` call within 3 s, its answer kept for 5 s so
 * that frequent `/readyz` probes do not each cost a round trip to the frontend.
 */

/** What the check needs of a connection: the client's `Connection` and the worker's `NativeConnection` both fit. */
export interface TemporalPingable {
  withDeadline<R>(deadline: number, fn: () => Promise<R>): Promise<R>;
  workflowService: { getSystemInfo(request: object): Promise<unknown> };
}

/** How long an answer is reused, milliseconds. */
const CACHE_MS = 5000;
/** How long one call may take, milliseconds. */
const DEADLINE_MS = 3000;

/**
 * Returns a check that answers whether Temporal is reachable through `connection()` (no connection yet: false).
 * Never throws.
 */
export function temporalReachability(connection: () => TemporalPingable | undefined): () => Promise<boolean> {
  let last: { at: number; ok: boolean } | undefined;
  return async () => {
    const c = connection();
    if (!c) return false;
    if (last && Date.now() - last.at < CACHE_MS) return last.ok;
    const ok = await c
      .withDeadline(Date.now() + DEADLINE_MS, () => c.workflowService.getSystemInfo({}))
      .then(
        () => true,
        () => false,
      );
    last = { at: Date.now(), ok };
    return ok;
  };
}

/**
 * The readiness check both processes make of Temporal: one `GetSystemInfo` call within 3 s, its answer kept for 5 s so
 * that frequent `/readyz` probes do not each cost a round trip to the frontend, and shared while it is in flight, so
 * that concurrent probes (kubelet, a load balancer, an operator's curl) wait for the same call instead of each making
 * one.
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
 * At most one call is in flight at a time: checks made meanwhile get its answer. Never throws.
 */
export function temporalReachability(connection: () => TemporalPingable | undefined): () => Promise<boolean> {
  let last: { at: number; ok: boolean } | undefined;
  let inFlight: Promise<boolean> | undefined;
  const ping = async (c: TemporalPingable): Promise<boolean> => {
    let ok: boolean;
    try {
      await c.withDeadline(Date.now() + DEADLINE_MS, () => c.workflowService.getSystemInfo({}));
      ok = true;
    } catch {
      ok = false;
    }
    last = { at: Date.now(), ok };
    return ok;
  };
  return async () => {
    const c = connection();
    if (!c) return false;
    if (last && Date.now() - last.at < CACHE_MS) return last.ok;
    if (!inFlight) {
      // `finally` runs in a later microtask, after the assignment: the slot is always cleared.
      const call: Promise<boolean> = ping(c).finally(() => {
        if (inFlight === call) inFlight = undefined;
      });
      inFlight = call;
    }
    return inFlight;
  };
}

/**
 * Local activities one at a time: a wrapper around an activity proxy whose calls start in call order, each after
 * the previous one has settled.
 *
 * Why: an update handler and the workflow's main loop both call Kubernetes steps, which are local activities. When two
 * of them are in flight at once, a live worker may resolve them in one activation (or in either order) while a
 * replay resolves them one marker at a time, so the handler's completion and the main loop's next commands can come
 * out in another order on replay than they were recorded in: a nondeterminism error (TMPRL1100) and a workflow stuck
 * after any cache eviction or worker restart. One local activity in flight keeps the order the same both ways.
 * Written by hand: the SDK has no option for it, and it is a promise chain.
 */
export function oneAtATime<T extends object>(proxy: T): T {
  let tail: Promise<unknown> = Promise.resolve();
  return new Proxy(proxy, {
    get(target, key) {
      const step = (target as Record<PropertyKey, unknown>)[key];
      if (typeof step !== 'function') return step;
      return (...args: unknown[]): Promise<unknown> => {
        // Started from the chain's continuation, which keeps the caller's cancellation scope.
        const run = tail.then(() => (step as (...a: unknown[]) => Promise<unknown>)(...args));
        tail = run.catch(() => undefined);
        return run;
      };
    },
  });
}

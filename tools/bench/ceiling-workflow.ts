/**
 * The no-op ceiling of the retention benchmark: a bench-only workflow with the BackupEntry workflow's retention shape
 * and nothing else — started, waits for the deletion signal, a durable timer until the deadline (named with the
 * product's retention timer summary, so the benchmark finds it the same way), one stub activity, complete. Run for
 * the same N as the product, it shows what Temporal alone (dev server + one SDK worker) sustains on the machine.
 * Bundled only for the bench's own worker (tools/bench/ceiling-worker.ts) on a task queue of its own.
 */
import { condition, defineSignal, proxyActivities, setHandler, sleep } from '@temporalio/workflow';
import { RETENTION_TIMER_SUMMARY } from '../../workflows/timer-summaries';

/** The activity the ceiling schedules where the product schedules `deleteBackups`. */
export interface CeilingActivities {
  stubDeleteBackups(): Promise<void>;
}

/** The deletion signal: the deadline (epoch ms) the timer waits for. */
export const ceilingDeleted = defineSignal<[{ deadlineMs?: unknown } | undefined]>('deleted');

const { stubDeleteBackups } = proxyActivities<CeilingActivities>({ startToCloseTimeout: '1 minute' });

/** Waits for `deleted`, sleeps until its deadline, runs the stub activity. */
export async function ceilingWorkflow(): Promise<void> {
  let deadlineMs: number | undefined;
  setHandler(ceilingDeleted, (arg) => {
    deadlineMs ??= typeof arg?.deadlineMs === 'number' ? arg.deadlineMs : Date.now();
  });
  await condition(() => deadlineMs !== undefined);
  const wait = deadlineMs! - Date.now();
  if (wait > 0) await sleep(wait, { summary: RETENTION_TIMER_SUMMARY });
  await stubDeleteBackups();
}

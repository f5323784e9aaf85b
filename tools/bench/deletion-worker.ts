/**
 * Child-process entry of the deletion benchmark: one process per deleter run, so that its peak RSS
 * (`process.resourceUsage().maxRSS`) belongs to that deleter alone. Receives one {@link DeletionJob} over IPC, runs
 * it, answers one {@link WorkerResult} and exits. Modules are loaded before the clock starts (those only `ours` needs
 * once the job says it is `ours`), so the measured time is the deletion only.
 */
import { prepareDeleter, type DeletionJob } from './deleters';

/** What the worker answers. */
export interface WorkerResult {
  /** Wall time of the deletion call, milliseconds. */
  ms: number;
  /** Objects the deleter reports deleted (`undefined` if it does not report). */
  deleted?: number;
  /** The deleter's error message, if it failed. */
  error?: string;
  /** Resident set size just before the deletion started (libraries loaded), MiB. */
  rssBeforeMiB: number;
  /** Peak resident set size of the whole child process, MiB. */
  peakRssMiB: number;
}

const MIB = 1024 * 1024;

async function run(job: DeletionJob): Promise<WorkerResult> {
  let deleted: number | undefined;
  let error: string | undefined;
  let rssBeforeMiB = NaN;
  let t0 = performance.now();
  try {
    const deleter = await prepareDeleter(job); // `ours` loads the worker's modules here, before the clock starts
    rssBeforeMiB = process.memoryUsage.rss() / MIB;
    t0 = performance.now();
    deleted = await deleter();
  } catch (err) {
    const e = err as { message?: unknown; code?: unknown };
    error = `${e.code !== undefined ? `[${String(e.code)}] ` : ''}${String(e.message ?? err)}`.slice(0, 500);
  }
  const ms = performance.now() - t0;
  return {
    ms,
    rssBeforeMiB,
    peakRssMiB: (process.resourceUsage().maxRSS * 1024) / MIB,
    ...(deleted !== undefined ? { deleted } : {}),
    ...(error !== undefined ? { error } : {}),
  };
}

if (!process.send) {
  console.error('deletion-worker must be started by the deletion benchmark (it talks over IPC)');
  process.exit(2);
}
// The benchmark went away (killed, timed out): do not keep deleting on our own.
process.once('disconnect', () => process.exit(1));
process.once('message', (job: DeletionJob) => {
  void run(job).then((result) => process.send!(result, () => process.exit(0)));
});

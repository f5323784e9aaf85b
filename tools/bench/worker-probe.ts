/**
 * A preload for the product's worker process in benchmarks (`node --require <this file> dist/worker/main.js`), never
 * loaded in production. Two things, each only when its variable is set:
 *
 * - `BENCH_WORKER_PROBE_FILE`: every `BENCH_WORKER_PROBE_INTERVAL_MS` (default 1000) appends one JSON line with the
 *   process's memory, split where it goes (see {@link MemorySample}): the main thread's V8 heap, each worker thread's
 *   V8 heap (the SDK runs the workflow sandbox in one: `workflowThreadPoolSize`), external and array buffers, and the
 *   kernel's view (`/proc/self/smaps_rollup`, `/proc/self/status`). A new number in `<probe file>.gc` asks every
 *   thread for a full GC (with `--expose-gc`) and then for a sample tagged `gc` (not a signal: the SDK's runtime treats
 *   SIGUSR2 as a shutdown signal).
 * - `BENCH_WORKER_OPTIONS`: a JSON object merged over the options the worker passes to `Worker.create` (the options the
 *   benchmark compares side by side — `stickyQueueScheduleToStartTimeout`, poller behaviours, a tuner,
 *   `reuseV8Context` — without a configuration variable for each). The merged keys are logged to stderr.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import v8 from 'node:v8';
import workerThreads from 'node:worker_threads';
import type * as WorkerModule from '@temporalio/worker';
import { parseSmapsRollup, parseStatusMemory, type MemorySample } from './memory-sample';

const probeFile = process.env.BENCH_WORKER_PROBE_FILE;
const optionsJson = process.env.BENCH_WORKER_OPTIONS;

// Worker threads inherit `--require`: the probe samples from the main thread (it reads the threads' heaps from there).
if (probeFile && workerThreads.isMainThread) {
  const threads = new Set<workerThreads.Worker>();
  const Original = workerThreads.Worker;
  // The SDK creates its workflow threads with `new worker_threads.Worker(...)`, looked up at call time.
  class TrackedWorker extends Original {
    constructor(...args: ConstructorParameters<typeof Original>) {
      super(...args);
      threads.add(this);
      this.once('exit', () => threads.delete(this));
    }
  }
  (workerThreads as { Worker: typeof Original }).Worker = TrackedWorker;

  const read = (path: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return '';
    }
  };
  const sample = async (tag?: string): Promise<void> => {
    const mu = process.memoryUsage();
    const hs = v8.getHeapStatistics();
    const threadHeaps = await Promise.all(
      [...threads].map(async (t) => {
        try {
          const s = await t.getHeapStatistics();
          return { used: s.used_heap_size, total: s.total_heap_size, physical: s.total_physical_size };
        } catch {
          return undefined;
        }
      }),
    );
    const line: MemorySample = {
      at: Date.now(),
      ...(tag ? { tag } : {}),
      rss: mu.rss,
      heapUsed: mu.heapUsed,
      heapTotal: mu.heapTotal,
      heapPhysical: hs.total_physical_size,
      external: mu.external,
      arrayBuffers: mu.arrayBuffers,
      mallocedMemory: hs.malloced_memory,
      threads: threadHeaps.filter((t) => t !== undefined),
      smaps: parseSmapsRollup(read('/proc/self/smaps_rollup')),
      status: parseStatusMemory(read('/proc/self/status')),
    };
    appendFileSync(probeFile, `${JSON.stringify(line)}\n`);
  };
  const every = Number(process.env.BENCH_WORKER_PROBE_INTERVAL_MS ?? 1000);
  // A GC is asked for by writing a new number into `<probe file>.gc` (no signal: the SDK's runtime stops the worker on
  // SIGUSR2 too); every thread collects (see below), then the sample is taken.
  let seenGc = readGcRequest();
  setInterval(() => {
    const asked = readGcRequest();
    if (asked !== seenGc) {
      seenGc = asked;
      (globalThis as { gc?: () => void }).gc?.();
      setTimeout(() => void sample('gc').catch(() => undefined), 1500);
    } else {
      void sample().catch(() => undefined);
    }
  }, every).unref();
}

/** The GC request counter in `<probe file>.gc` ('' when none). */
function readGcRequest(): string {
  try {
    return readFileSync(`${probeFile}.gc`, 'utf8');
  } catch {
    return '';
  }
}

// In each worker thread (the workflow sandbox): collect garbage when asked, so the thread's heap "used" is live data.
if (probeFile && !workerThreads.isMainThread) {
  let seen = readGcRequest();
  setInterval(() => {
    const asked = readGcRequest();
    if (asked !== seen) {
      seen = asked;
      (globalThis as { gc?: () => void }).gc?.();
    }
  }, 250).unref();
}

if (optionsJson && workerThreads.isMainThread) {
  const extra = JSON.parse(optionsJson) as Record<string, unknown>;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- patched before worker/main.ts loads it
  const sdk = require('@temporalio/worker') as typeof WorkerModule;
  const create = sdk.Worker.create.bind(sdk.Worker);
  sdk.Worker.create = (options) => {
    process.stderr.write(`bench worker options: ${JSON.stringify(extra)}\n`);
    return create({ ...options, ...extra } as typeof options);
  };
}

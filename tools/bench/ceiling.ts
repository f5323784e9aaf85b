/**
 * The retention benchmark's no-op ceiling: N workflows of tools/bench/ceiling-workflow.ts (the retention shape with a stub
 * activity) on the same Temporal server, run by a bench-only worker process (tools/bench/ceiling-worker.ts) with the product
 * worker's cache and slot settings. All N are started and left idle, then signalled at once with their deadline
 * (signal sent + retention); per workflow, from its history: the stub activity scheduled after the deadline (what the
 * product's `deleteBackups` scheduled is compared with), the timer firing, the timer set after the signal returned.
 * What Temporal alone sustains on this machine; nothing here asserts a timing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { bundleWorkflowCode } from '@temporalio/worker';
import { join } from 'node:path';
import { startProductProcess, type ProductProcess } from '../stack';
import { RETENTION_TIMER_SUMMARY } from '../../workflows/timer-summaries';
import { lifecycleHistory, type TaskFigures, taskFigures } from './history';
import {
  CpuMeter,
  type CpuWindow,
  MemorySampler,
  benchScript,
  mapLimit,
  quantile,
  spread,
  type Rig,
  type Spread,
} from './live';

/** Options of {@link runCeiling}. */
export interface CeilingOptions {
  entries: number;
  retentionSeconds: number;
  /** Starts and signals in flight (the product side's creates and deletes in flight). */
  concurrency: number;
  /** The product worker's settings, copied. */
  maxCachedWorkflows: number;
  activitySlots: number;
  workflowTaskSlots: number;
  /** Restart the ceiling worker once every timer is set (the cold-cache storm; see the retention benchmark). */
  coldRestart?: boolean;
  /** Merged over the ceiling worker's `Worker.create` options (as the product worker's, item 4). */
  workerOptions?: Record<string, unknown>;
  /** Working folder (the worker's log). */
  dir: string;
  log: (line: string) => void;
}

/** The ceiling's figures (milliseconds). */
export interface CeilingResult {
  entries: number;
  settings: { maxCachedWorkflows: number; activitySlots: number; workflowTaskSlots: number };
  /** Start of all N → every one idle after its first workflow task. */
  startAllMs: number;
  /** Signal calls: first → last returned. */
  signalBurstMs: number;
  /** After the deadline: the stub activity scheduled (the product: deleteBackups scheduled). */
  deletionStart: Spread;
  /** After the deadline: the timer fired. */
  timerFired: Spread;
  /** The workflow task the timer's firing scheduled (it schedules the stub): queue and run, as ours' `storm.afterTimer`. */
  afterTimer?: TaskFigures;
  /** CPU seconds of the ceiling's worker and Temporal from the restart (or the signals) until every workflow closed. */
  stormCpu?: CpuWindow;
  /**
   * With `coldRestart`: CPU seconds per process from the first signal until every timer was set (the benchmark's own
   * process includes its polling of every workflow's description).
   */
  registrationCpu?: CpuWindow;
  /** Timer started − the signal call returned. */
  timerSetAfterSignal: Spread;
  /** Last deadline → every workflow closed. */
  drainMs: number;
  /** Median history events per workflow. */
  historyEvents: number;
  /** Peak RSS of the ceiling worker process, MiB. */
  workerPeakRssMiB?: number;
  problems: string[];
}

const QUIET = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} };

/** Runs the ceiling on `rig`'s Temporal server (its stack stays up; the product's processes need not run). */
export async function runCeiling(rig: Rig, o: CeilingOptions): Promise<CeilingResult> {
  const client = rig.client!;
  const taskQueue = `ceiling-${rig.run}`;
  let worker: ProductProcess | undefined;
  let sampler: MemorySampler | undefined;
  mkdirSync(o.dir, { recursive: true });
  try {
    // A prebuilt bundle (as the product's worker gets one), built here, not in the measured process.
    const bundle = join(o.dir, 'ceiling-bundle.js');
    const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('./ceiling-workflow'), logger: QUIET });
    writeFileSync(bundle, code);
    const start = (): Promise<ProductProcess> =>
      startProductProcess({
        name: 'ceiling-worker',
        script: benchScript('ceiling-worker', o.dir),
        logFile: join(o.dir, 'ceiling-worker.log'),
        ready: /ceiling worker polling/,
        readyTimeoutMs: 180_000,
        env: {
          ...process.env,
          TEMPORAL_ADDRESS: rig.env.TEMPORAL_ADDRESS!,
          TEMPORAL_NAMESPACE: rig.env.TEMPORAL_NAMESPACE!,
          CEILING_TASK_QUEUE: taskQueue,
          CEILING_WORKFLOW_BUNDLE: bundle,
          ...(o.workerOptions ? { CEILING_WORKER_OPTIONS: JSON.stringify(o.workerOptions) } : {}),
          CEILING_MAX_CACHED_WORKFLOWS: String(o.maxCachedWorkflows),
          CEILING_ACTIVITY_SLOTS: String(o.activitySlots),
          CEILING_WORKFLOW_TASK_SLOTS: String(o.workflowTaskSlots),
        },
      });
    o.log(`ceiling: starting the bench-only worker (task queue ${taskQueue}; prebuilt bundle)`);
    worker = await start();
    sampler = new MemorySampler(() => ({ ceiling: worker?.proc.child.pid }));
    const ids = Array.from({ length: o.entries }, (_, i) => `ceiling/${rig.run}/${i}`);

    o.log(`ceiling: starting ${o.entries} workflows (${o.concurrency} in flight)`);
    const t0 = Date.now();
    await mapLimit(ids, o.concurrency, (workflowId) =>
      client.workflow.start('ceilingWorkflow', { taskQueue, workflowId, args: [] }),
    );
    // Idle = the first workflow task is done (the product's entries are idle too, all Succeeded, before the deletes).
    let pending = ids;
    const idleBy = Date.now() + 30 * 60_000;
    while (pending.length) {
      const still = await mapLimit(pending, 16, async (id) =>
        (await client.workflow.getHandle(id).describe()).raw.pendingWorkflowTask ? id : undefined,
      );
      pending = still.filter((id): id is string => id !== undefined);
      if (pending.length && Date.now() > idleBy)
        throw new Error(`ceiling: ${pending.length} workflows still have their first workflow task pending`);
      if (pending.length) await new Promise((r) => setTimeout(r, 500));
    }
    const startAllMs = Date.now() - t0;

    o.log(
      `ceiling: all idle in ${(startAllMs / 1000).toFixed(1)} s; signalling all ${o.entries} (retention ${o.retentionSeconds} s)`,
    );
    const pids = (): Record<string, number | undefined> => ({ ...rig.processPids(), worker: worker?.proc.child.pid });
    const registrationMeter = new CpuMeter(pids);
    registrationMeter.start();
    const s0 = Date.now();
    const sent = await mapLimit(ids, o.concurrency, async (id) => {
      const deadlineMs = Date.now() + o.retentionSeconds * 1000;
      await client.workflow.getHandle(id).signal('deleted', { deadlineMs });
      return { deadlineMs, returnedAt: Date.now() };
    });
    const signalBurstMs = Date.now() - s0;
    let registrationCpu: CpuWindow | undefined;
    if (o.coldRestart) {
      // Every timer set (no workflow task pending), then a restart: the deadlines wake uncached workflows.
      await mapLimit(ids, 16, async (id) => {
        for (;;) {
          const d = await client.workflow.getHandle(id).describe();
          if (!d.raw.pendingWorkflowTask && d.historyLength > 5) return;
          await new Promise((r) => setTimeout(r, 250));
        }
      });
      registrationCpu = registrationMeter.stop();
      o.log(`ceiling: every timer set; restarting the ceiling worker (cold cache)`);
      await worker.stop(10_000);
      worker = await start();
    }
    const cpu = new CpuMeter(pids);
    cpu.start();
    const closedBy = Date.now() + o.retentionSeconds * 1000 + 60 * 60_000;
    await mapLimit(ids, 16, async (id) => {
      const h = client.workflow.getHandle(id);
      while (Date.now() < closedBy) {
        try {
          await h.result();
          return;
        } catch (err) {
          if (!/timeout|deadline/i.test(String(err))) throw err; // a long poll that ran out: poll again
        }
      }
      throw new Error(`ceiling: ${id} did not close in time`);
    });
    sampler.stop();
    const stormCpu = cpu.stop();

    o.log(`ceiling: all closed; reading ${o.entries} histories`);
    const rows = await mapLimit(ids, 16, async (id, i) => {
      const h = await lifecycleHistory(client, id);
      const { deadlineMs, returnedAt } = sent[i]!;
      const timer = h.timers.find((t) => t.summary === RETENTION_TIMER_SUMMARY);
      const stub = h.activities.find((a) => a.type === 'stubDeleteBackups');
      return { deadlineMs, returnedAt, timer, stub, events: h.events, closedAt: h.closedAt, h };
    });
    const problems: string[] = [];
    const noStub = rows.filter((r) => !r.stub).length;
    if (noStub) problems.push(`ceiling: ${noStub} workflows never scheduled the stub activity`);
    const lastDeadline = Math.max(...rows.map((r) => r.deadlineMs));
    return {
      entries: o.entries,
      settings: {
        maxCachedWorkflows: o.maxCachedWorkflows,
        activitySlots: o.activitySlots,
        workflowTaskSlots: o.workflowTaskSlots,
      },
      startAllMs,
      signalBurstMs,
      deletionStart: spread(rows.flatMap((r) => (r.stub ? [r.stub.scheduled - r.deadlineMs] : []))),
      timerFired: spread(rows.flatMap((r) => (r.timer?.fired !== undefined ? [r.timer.fired - r.deadlineMs] : []))),
      afterTimer: taskFigures(rows.map((r) => ({ h: r.h, after: r.timer?.fired }))),
      stormCpu,
      ...(registrationCpu ? { registrationCpu } : {}),
      timerSetAfterSignal: spread(rows.flatMap((r) => (r.timer ? [r.timer.started - r.returnedAt] : []))),
      drainMs: Math.max(...rows.map((r) => r.closedAt ?? NaN)) - lastDeadline,
      historyEvents: quantile(
        rows.map((r) => r.events),
        0.5,
      ),
      ...(sampler.peak.ceiling ? { workerPeakRssMiB: sampler.peak.ceiling } : {}),
      problems,
    };
  } finally {
    sampler?.stop();
    await worker?.stop(10_000);
  }
}

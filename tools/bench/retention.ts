/**
 * The retention benchmark: N BackupEntries (type `local`, a few backup files
 * each) reconciled, then all deleted at once with a short retention (default 60 s, the worker's
 * `BEL_DEFAULT_RETENTION`), on the real stack with the worker and the watcher as processes. Per entry, against its
 * deadline (deletionTimestamp + retention, exactly what the workflow computes), from its workflow history (every run of
 * a continue-as-new chain):
 * - the retention timer: the TimerStarted event whose summary (user metadata) is `RETENTION_TIMER_SUMMARY`
 *   (workflows/timer-summaries.ts), decoded with the default payload converter; never guessed from a duration;
 * - deletion start: the `deleteBackups` ActivityTaskScheduled event (other activities, regular or local, are ignored);
 * - first delete call: that activity's ActivityTaskStarted event;
 * - retention timer set after the deletion: its TimerStarted event − the moment the bench's delete call returned
 *   (includes the watch delivery and the watcher's signal: an upper bound of "after the watcher saw it"); also shown
 *   against the first signal recorded after the delete call was sent (a lower bound);
 * - `historyEventsPerLifecycle`: every history event of the lifecycle create → retain → delete, median over entries.
 * And, by the bench's watches: deadline → entry gone with every finalizer released (the entry object gone and our
 * finalizer off its credentials secret), per entry and overall (last deadline → last release).
 *
 * In the same run, on the same stack, before our service starts: the floor (tools/bench/floor-retention.ts: the same deletes
 * and writes done directly with client-node, N other entries) and the no-op ceiling (tools/bench/ceiling.ts: N workflows of
 * the same shape with a stub activity, on a bench-only worker). Also: worker, watcher and Temporal server RSS (peak,
 * sampled each second), and that every prefix is empty, never before its deadline.
 */
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../config';
import { RETENTION_TIMER_SUMMARY } from '../../workflows/timer-summaries';
import { runCeiling, type CeilingResult } from './ceiling';
import { machineInfo, type MachineInfo } from './deletion';
import { FloorRetention } from './floor-retention';
import { lifecycleHistory, type TaskFigures, taskFigures } from './history';
import {
  EntryObserver,
  CpuMeter,
  cpuLine,
  type CpuWindow,
  MemorySampler,
  Rig,
  benchScript,
  SecretObserver,
  benchEntries,
  mapLimit,
  quantile,
  spread,
  type BenchEntry,
  type ProductBuild,
  type Spread,
} from './live';
import { temporalBackendFromEnv, type TemporalBackend } from '../stack';
import { floorReconcileEntry, TEMPORAL_NAMES } from './reconcile';
import { parsePrometheus, sdkSummary, type SdkSummary } from './sdk-metrics';

/** Options of {@link runRetentionBenchmark}. */
export interface RetentionBenchOptions {
  mode: 'full' | 'quick' | 'custom';
  entries: number;
  retentionSeconds: number;
  /** Backup files per entry. */
  objects: number;
  /** Creates and deletes in flight. */
  concurrency: number;
  /** The worker's workflow cache (`BEL_MAX_CACHED_WORKFLOWS`); default: the product's default. */
  maxCachedWorkflows?: number;
  /**
   * The cold-cache deadline storm (production: 72 h later nothing is cached): once every entry's retention is
   * registered, the worker is restarted (and the ceiling's worker once every ceiling timer is set), so every deadline
   * wakes a workflow that must be replayed. Use a retention longer than the registration takes.
   */
  coldRestart?: boolean;
  /**
   * Merged over the worker's `Worker.create` options through tools/bench/worker-probe.ts (item 4's candidates:
   * `stickyQueueScheduleToStartTimeout`, poller behaviours, a tuner), and over the ceiling worker's the same way.
   */
  workerOptions?: Record<string, unknown>;
  /** Skip the floor and the ceiling (faster; the ratios are then missing). */
  skipFloor?: boolean;
  skipCeiling?: boolean;
  build: ProductBuild;
  dir: string;
  stackEnv?: Record<string, string>;
  /** Temporal of an own stack. @default the stack's default (the dev server unless `BEL_STACK_TEMPORAL` says) */
  temporalBackend?: TemporalBackend;
  log?: (line: string) => void;
}

/** Deadline → every entry gone, for one side. */
export interface GoneFigures {
  /** Per entry: its deadline → its entry gone and our finalizer off its secret (ms; negative = before the deadline). */
  perEntry: Spread;
  /** Last deadline → last entry gone (ms). */
  overallMs: number;
  /** Entries never seen gone. */
  missing: number;
}

/** The result written under `retention` in the results JSON. */
export interface RetentionBenchResult {
  benchmark: 'retention';
  mode: RetentionBenchOptions['mode'];
  at: string;
  machine: MachineInfo;
  settings: {
    entries: number;
    retentionSeconds: number;
    objectsPerEntry: number;
    concurrency: number;
    maxCachedWorkflows: number;
    retentionMode?: string;
    activitySlots?: number;
    workflowTaskSlots?: number;
    /** The Temporal the run used. */
    backend?: TemporalBackend;
    /** Options merged over the workers' (item 4). */
    workerOptions?: Record<string, unknown>;
  };
  /** Create burst → all Succeeded. */
  reconcile: { totalMs: number; entriesPerSecond: number };
  /** Delete calls: first → last returned. */
  deleteBurstMs: number;
  /**
   * Per entry, milliseconds after its deadline (negative = early): the retention timer fired, `deleteBackups`
   * scheduled (deletion start), `deleteBackups` started (first delete call).
   */
  lateness: { timerFired: Spread; deletionStart: Spread; firstDeleteCall: Spread };
  /** Deletion start after the deadline, only for entries whose retention timer was set before the deadline. */
  deletionStartWithTimer: Spread;
  /** Retention timer started − the delete call returned (upper bound) / − the first signal after the delete call was sent (lower bound). */
  timerSetAfterDeletion?: { afterDeleteCall: Spread; afterSignal: Spread };
  /** Entries whose retention timer was started before their deadline. */
  timersSetBeforeDeadline?: number;
  /**
   * Registration, for every entry: the `beginDeletion` step's marker (the retention registered: status Pending and the
   * deadline written, the entry released in `release-entry`) − the entry's deletionTimestamp (whole seconds, so up to
   * 1 s early); `missing` = entries with no such marker.
   */
  registration?: { afterDeletion: Spread; missing: number };
  /** The worker was restarted once every retention was registered (the cold-cache storm). */
  coldRestart?: boolean;
  /** The worker's SDK metrics at the end (the workflows worker's; after a cold restart: since the restart). */
  sdk?: SdkSummary;
  /**
   * Where the deletion's time goes, per entry, from the workflow-task events: the task the retention timer's firing
   * scheduled (`afterTimer`, which schedules `deleteBackups`) and the one `deleteBackups`' completion scheduled
   * (`afterDeletion`, which ends the lifecycle): `queue` = started − scheduled (waiting for a worker's slot and poll),
   * `run` = completed − started (the worker's time, local activities included), `localActivities` = markers in it.
   */
  storm?: Record<'afterTimer' | 'afterDeletion', TaskFigures>;
  /**
   * CPU seconds each process used from the moment every retention was registered (after the restart, with
   * `coldRestart`) until every entry was gone: where a CPU-bound storm spends its time.
   */
  stormCpu?: CpuWindow;
  /**
   * With `coldRestart`: CPU seconds each process used from the first delete call until every retention was registered
   * (the deletion burst and its registration; the ceiling's counterpart: its signals until every timer was set).
   */
  registrationCpu?: CpuWindow;
  /** The entry whose deletion started last: its events from the retention timer's firing to the deletion's start. */
  slowestDeletion?: { entry: string; events: Array<{ type: string; afterDeadlineMs: number; detail?: string }> };
  /** Per entry: deletionTimestamp → Pending status seen (the workflow took over the deletion). */
  pendingAfterDeletionMs: Spread;
  /**
   * Per entry: the retention timer's own target (TimerStarted + its duration) − the deadline. Workflow time is the
   * workflow task's start, so a timer started after local activities in the same task is set to fire that much late.
   */
  timerTargetAfterDeadline?: Spread;
  /** Retention timers that fired, measured against the time they were set to fire (Temporal's own precision). */
  timerPrecisionMs: Spread;
  /** Entries whose workflow started no retention timer (no TimerStarted with the retention summary). */
  entriesWithoutTimer: number;
  /** Median over entries of all history events of the lifecycle (every run of a continue-as-new chain). */
  historyEventsPerLifecycle?: number;
  /** Per lifecycle: history events (spread), runs, regular and local activities, workflow tasks (medians). */
  history?: {
    events: Spread;
    runsMax: number;
    activities: number;
    localActivities: number;
    workflowTasks: number;
    timers: number;
    signals: number;
  };
  /** Deadline → every entry gone (finalizers released): ours, the floor, ours / floor (overall). */
  gone?: { ours: GoneFigures; floor?: GoneFigures; ratioToFloor?: number; ratioToFloorP99?: number };
  /** The floor's own timings (bench clock). */
  floor?: { registered: Spread; deleteStarted: Spread; problems: string[] };
  /** The no-op ceiling's figures. */
  ceiling?: CeilingResult;
  /** Peak RSS, MiB. */
  peakRssMiB: { worker?: number; watcher?: number; temporal?: number };
  /** Last deadline → every entry gone (ours; = gone.ours.overallMs). */
  drainMs: number;
  verified: boolean;
  problems: string[];
  targets: Array<{ target: string; value: string; met: boolean }>;
  ok: boolean;
}

/** The committed figures. */
export const RETENTION_FULL = { entries: 5000, retentionSeconds: 60, objects: 3, concurrency: 50 };
/** Tiny sizes: proves the benchmark works. */
export const RETENTION_QUICK = { entries: 8, retentionSeconds: 5, objects: 2, concurrency: 4 };

const BUCKET = 'bench-retention';

/** Waits (re-checking every 250 ms) until `done()`; throws `what` after `timeoutMs`. */
async function until(
  done: () => number,
  total: number,
  what: string,
  timeoutMs: number,
  progress?: (n: number) => void,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = done();
    progress?.(n);
    if (n >= total) return;
    if (Date.now() > deadline)
      throw new Error(`${total - n} of ${total} entries not ${what} after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** "worker 36.8, temporal 18, …; all 74.3": CPU seconds per process, the largest first. */
/**
 * Deadline → gone per entry: the latest of "entry object gone", "our finalizer off its secret" and, where the entry
 * had a retention anchor (`release-entry`), "its anchor deleted", by the watches.
 */
function goneFigures(
  names: readonly string[],
  deadlines: ReadonlyMap<string, number>,
  entries: EntryObserver,
  secrets: SecretObserver,
  anchors?: SecretObserver,
): GoneFigures {
  const per: number[] = [];
  let last = -Infinity;
  let missing = 0;
  for (const n of names) {
    const gone = goneAt(n, entries, secrets, anchors);
    if (gone === undefined) {
      missing += 1;
      continue;
    }
    per.push(gone - deadlines.get(n)!);
    last = Math.max(last, gone);
  }
  return { perEntry: spread(per), overallMs: last - Math.max(...deadlines.values()), missing };
}

/** When `name` was entirely gone (see goneFigures); undefined while any part remains. */
function goneAt(
  name: string,
  entries: EntryObserver,
  secrets: SecretObserver,
  anchors?: SecretObserver,
): number | undefined {
  const entryGone = entries.seen.get(name)?.goneAt;
  const released = secrets.releasedAt(name);
  if (entryGone === undefined || released === undefined) return undefined;
  if (!anchors?.saw(name)) return Math.max(entryGone, released);
  const anchorGone = anchors.releasedAt(name);
  return anchorGone === undefined ? undefined : Math.max(entryGone, released, anchorGone);
}

const goneCount = (
  names: readonly string[],
  entries: EntryObserver,
  secrets: SecretObserver,
  anchors?: SecretObserver,
): number => names.filter((n) => goneAt(n, entries, secrets, anchors) !== undefined).length;

/** Runs the benchmark (throws only when the rig cannot start or entries never reach a state). */
export async function runRetentionBenchmark(o: RetentionBenchOptions): Promise<RetentionBenchResult> {
  const log = o.log ?? (() => undefined);
  const machine = machineInfo();
  const defaults = loadConfig({ BACKUP_LOCAL_DIR: '/', BEL_PROVIDER_TYPES: 'local' });
  const maxCachedWorkflows = o.maxCachedWorkflows ?? defaults.worker.maxCachedWorkflows;
  const retentionMode = defaults.retentionMode;
  const rig = await Rig.start({
    build: o.build,
    dir: o.dir,
    log,
    ...(o.stackEnv ? { stackEnv: o.stackEnv } : {}),
    ...(o.temporalBackend ? { temporalBackend: o.temporalBackend } : {}),
    ...(o.workerOptions
      ? {
          workerNodeArgs: ['--require', benchScript('worker-probe', o.dir)],
          workerEnv: { BENCH_WORKER_OPTIONS: JSON.stringify(o.workerOptions) },
        }
      : {}),
    env: { BEL_DEFAULT_RETENTION: `${o.retentionSeconds}s`, BEL_MAX_CACHED_WORKFLOWS: String(maxCachedWorkflows) },
  });
  let sampler: MemorySampler | undefined;
  const problems: string[] = [];
  try {
    const entries = benchEntries(`r${rig.run}`, o.entries);
    const floorEntries = o.skipFloor ? [] : benchEntries(`rf${rig.run}`, o.entries);
    const names = entries.map((e) => e.name);
    log(
      `preparing ${entries.length + floorEntries.length} namespaces, provider secrets and ` +
        `${(entries.length + floorEntries.length) * o.objects} backup files (not timed)`,
    );
    await rig.prepare([...entries, ...floorEntries], BUCKET, o.objects, o.concurrency);
    const observer = new EntryObserver(rig.kc, rig.run);
    const secrets = new SecretObserver(rig.kc, rig.run);
    const anchors = new SecretObserver(rig.kc, rig.run, 'garden', 'anchors');
    try {
      const every = (what: string, total = o.entries): ((n: number) => void) => {
        let shown = 0;
        return (n) => {
          if (n >= shown + Math.max(1, total / 5)) {
            shown = n;
            log(`${what}: ${n}/${total}`);
          }
        };
      };

      // The floor first (no Temporal work of ours running), then the ceiling, then ours on the same stack.
      let floorGone: GoneFigures | undefined;
      let floorTimes: RetentionBenchResult['floor'];
      if (floorEntries.length) {
        const r = await runFloorSide(rig, floorEntries, o, retentionMode, observer, secrets, log, every);
        floorGone = r.gone;
        floorTimes = r.times;
        problems.push(...r.times.problems);
      }
      let ceiling: CeilingResult | undefined;
      if (!o.skipCeiling) {
        ceiling = await runCeiling(rig, {
          entries: o.entries,
          retentionSeconds: o.retentionSeconds,
          concurrency: o.concurrency,
          // Cache ≥ the ceiling's working set (every workflow wakes within the storm); other options as ours.
          maxCachedWorkflows: Math.max(maxCachedWorkflows, o.entries),
          activitySlots: defaults.worker.maxConcurrentActivityTaskExecutions,
          workflowTaskSlots: defaults.worker.maxConcurrentWorkflowTaskExecutions,
          dir: join(o.dir, 'ceiling'),
          ...(o.coldRestart ? { coldRestart: true } : {}),
          ...(o.workerOptions ? { workerOptions: o.workerOptions } : {}),
          log,
        });
        problems.push(...ceiling.problems);
      }

      await rig.startService();
      sampler = new MemorySampler(() => ({
        worker: rig.worker?.proc.child.pid,
        watcher: rig.watcher?.proc.child.pid,
        temporal: rig.temporalPid,
      }));
      const cpu = new CpuMeter(() => rig.processPids());
      log(`ours: creating ${o.entries} entries (${o.concurrency} in flight)`);
      const t0 = Date.now();
      await mapLimit(entries, o.concurrency, (e) => rig.createEntry(e, BUCKET));
      await observer.until(names, (x) => x.succeededAt !== undefined, 'Succeeded', 3600_000, every('ours: Succeeded'));
      const reconcileMs = Math.max(...names.map((n) => observer.seen.get(n)!.succeededAt!)) - t0;
      log(
        `ours: all Succeeded in ${(reconcileMs / 1000).toFixed(1)} s; deleting all ${o.entries} (retention ${o.retentionSeconds} s)`,
      );

      const registrationMeter = new CpuMeter(() => rig.processPids());
      registrationMeter.start();
      const d0 = Date.now();
      const deleteCalls = await mapLimit(entries, o.concurrency, async (e) => {
        const sentAt = Date.now();
        await rig.deleteEntry(e);
        return { sentAt, returnedAt: Date.now() };
      });
      const deleteBurstMs = Date.now() - d0;
      let registrationCpu: CpuWindow | undefined;
      if (o.coldRestart) {
        // Registered = released (release-entry) or Pending (hold-entry); then a restart empties the cache.
        await observer.until(
          names,
          (x) => x.goneAt !== undefined || x.pendingAt !== undefined,
          'registered',
          3600_000,
          every('ours: retention registered'),
        );
        registrationCpu = registrationMeter.stop();
        const left = Math.min(...deleteCalls.map((c) => c.sentAt)) + o.retentionSeconds * 1000 - Date.now();
        log(
          `ours: all registered; restarting the worker (cold cache), ${(left / 1000).toFixed(0)} s before the first deadline`,
        );
        if (left < 10_000) problems.push(`cold restart only ${Math.round(left / 1000)} s before the first deadline`);
        await rig.restartWorker();
      }
      cpu.start();
      await until(
        () => goneCount(names, observer, secrets, anchors),
        names.length,
        'gone with their finalizers released',
        3600_000 + o.retentionSeconds * 1000,
        every('ours: gone, finalizers released'),
      );
      // The lifecycle's history is complete once the workflow has closed.
      await mapLimit(entries, 16, (e) => rig.client!.workflow.getHandle(rig.workflowId(e.name)).result());
      sampler.stop();
      const stormCpu = cpu.stop();
      const sdk = await scrapeSdk(rig);

      log(`ours: all gone; reading ${o.entries} workflow histories`);
      const rows = await mapLimit(entries, 16, async (e, i) => {
        const seen = observer.seen.get(e.name)!;
        const deletedAt = Date.parse(seen.deletionTimestamp!);
        const deadline = deletedAt + o.retentionSeconds * 1000;
        const h = await lifecycleHistory(rig.client!, rig.workflowId(e.name));
        const retention = h.timers.filter((t) => t.summary === RETENTION_TIMER_SUMMARY);
        const set = retention[0];
        const fired = retention.filter((t) => t.fired !== undefined).at(-1);
        const del = h.activities.find((a) => a.type === 'deleteBackups');
        const registeredAt = h.localActivities.find(
          (a) => a.type === 'beginDeletion' && a.recorded >= deletedAt - 1000,
        )?.recorded;
        const call = deleteCalls[i]!;
        const signal = h.signals.find((s) => s.at >= call.sentAt);
        return {
          name: e.name,
          deadline,
          deletedAt,
          set,
          fired,
          retention,
          del,
          call,
          signal,
          pendingAt: seen.pendingAt,
          registeredAt,
          h,
        };
      });
      const deadlines = new Map(rows.map((r) => [r.name, r.deadline]));
      const gone = goneFigures(names, deadlines, observer, secrets, anchors);
      problems.unshift(
        ...verify(
          rig.localRoot,
          names,
          rows.map((r) => ({ deadline: r.deadline, start: r.del?.scheduled })),
        ),
      );
      if (floorEntries.length)
        problems.push(
          ...verify(
            rig.localRoot,
            floorEntries.map((e) => e.name),
            [],
          ).map((p) => `floor: ${p}`),
        );
      const lateness = {
        timerFired: spread(rows.flatMap((r) => (r.fired ? [r.fired.fired! - r.deadline] : []))),
        deletionStart: spread(rows.flatMap((r) => (r.del ? [r.del.scheduled - r.deadline] : []))),
        firstDeleteCall: spread(
          rows.flatMap((r) => (r.del?.started !== undefined ? [r.del.started - r.deadline] : [])),
        ),
      };
      const withTimer = spread(
        rows.flatMap((r) => (r.set && r.set.started < r.deadline && r.del ? [r.del.scheduled - r.deadline] : [])),
      );
      const timerSetAfterDeletion = {
        afterDeleteCall: spread(rows.flatMap((r) => (r.set ? [r.set.started - r.call.returnedAt] : []))),
        afterSignal: spread(rows.flatMap((r) => (r.set && r.signal ? [r.set.started - r.signal.at] : []))),
      };
      const med = (xs: number[]): number => quantile(xs, 0.5);
      const storm = {
        afterTimer: taskFigures(rows.map((r) => ({ h: r.h, after: r.fired?.fired }))),
        afterDeletion: taskFigures(rows.map((r) => ({ h: r.h, after: r.del?.closed }))),
      };
      const slow = rows.reduce<(typeof rows)[number] | undefined>(
        (a, r) => (r.del && (!a?.del || r.del.scheduled > a.del.scheduled) ? r : a),
        undefined,
      );
      const slowestDeletion = slow?.fired && {
        entry: slow.name,
        events: slow.h.timeline
          .filter((ev) => ev.at >= slow.fired!.fired! && ev.at <= slow.del!.scheduled)
          .map(({ at, ...ev }) => ({ ...ev, afterDeadlineMs: at - slow.deadline })),
      };
      const history = {
        events: spread(rows.map((r) => r.h.events)),
        runsMax: Math.max(...rows.map((r) => r.h.runs)),
        activities: med(rows.map((r) => r.h.activities.length)),
        localActivities: med(rows.map((r) => r.h.localActivities.length)),
        workflowTasks: med(rows.map((r) => r.h.workflowTasks)),
        timers: med(rows.map((r) => r.h.timers.length)),
        signals: med(rows.map((r) => r.h.signals.length)),
      };
      const historyEventsPerLifecycle = history.events.p50;
      const ratio = floorGone ? round(gone.overallMs / floorGone.overallMs, 2) : undefined;
      const ratioP99 = floorGone ? round(gone.perEntry.p99 / floorGone.perEntry.p99, 2) : undefined;
      const peak = sampler.peak;
      const full = o.mode === 'full';
      const workerMiB = peak.worker ?? NaN;
      return {
        benchmark: 'retention',
        mode: o.mode,
        at: new Date().toISOString(),
        machine: { ...machine, loadAverageEnd: os.loadavg().map((l) => Math.round(l * 100) / 100) },
        settings: {
          entries: o.entries,
          retentionSeconds: o.retentionSeconds,
          objectsPerEntry: o.objects,
          concurrency: o.concurrency,
          // Cache ≥ the ceiling's working set (every workflow wakes within the storm); other options as ours.
          maxCachedWorkflows: Math.max(maxCachedWorkflows, o.entries),
          retentionMode,
          activitySlots: defaults.worker.maxConcurrentActivityTaskExecutions,
          workflowTaskSlots: defaults.worker.maxConcurrentWorkflowTaskExecutions,
          backend: o.temporalBackend ?? temporalBackendFromEnv(),
          ...(o.workerOptions ? { workerOptions: o.workerOptions } : {}),
        },
        reconcile: { totalMs: reconcileMs, entriesPerSecond: Math.round((o.entries / (reconcileMs / 1000)) * 10) / 10 },
        deleteBurstMs,
        lateness,
        deletionStartWithTimer: withTimer,
        timerSetAfterDeletion,
        timersSetBeforeDeadline: rows.filter((r) => r.set && r.set.started < r.deadline).length,
        registration: {
          afterDeletion: spread(
            rows.flatMap((r) => (r.registeredAt !== undefined ? [r.registeredAt - r.deletedAt] : [])),
          ),
          missing: rows.filter((r) => r.registeredAt === undefined).length,
        },
        ...(o.coldRestart ? { coldRestart: true } : {}),
        ...(Object.keys(sdk).length ? { sdk } : {}),
        storm,
        stormCpu,
        ...(registrationCpu ? { registrationCpu } : {}),
        ...(slowestDeletion ? { slowestDeletion } : {}),
        pendingAfterDeletionMs: spread(
          rows.flatMap((r) => (r.pendingAt !== undefined ? [r.pendingAt - r.deletedAt] : [])),
        ),
        timerTargetAfterDeadline: spread(rows.flatMap((r) => (r.set ? [r.set.target - r.deadline] : []))),
        timerPrecisionMs: spread(
          rows.flatMap((r) => r.retention.filter((t) => t.fired !== undefined).map((t) => t.fired! - t.target)),
        ),
        entriesWithoutTimer: rows.filter((r) => !r.set).length,
        historyEventsPerLifecycle,
        history,
        gone: {
          ours: gone,
          ...(floorGone ? { floor: floorGone } : {}),
          ...(ratio !== undefined ? { ratioToFloor: ratio } : {}),
          ...(ratioP99 !== undefined ? { ratioToFloorP99: ratioP99 } : {}),
        },
        ...(floorTimes ? { floor: floorTimes } : {}),
        ...(ceiling ? { ceiling } : {}),
        peakRssMiB: {
          ...(peak.worker ? { worker: peak.worker } : {}),
          ...(peak.watcher ? { watcher: peak.watcher } : {}),
          ...(peak.temporal ? { temporal: peak.temporal } : {}),
        },
        drainMs: gone.overallMs,
        verified: problems.length === 0,
        problems,
        targets: full
          ? [
              {
                target: 'deletion start (deleteBackups scheduled) after the deadline, p99 < 5 s',
                value: `${(lateness.deletionStart.p99 / 1000).toFixed(2)} s`,
                met: lateness.deletionStart.p99 < 5000,
              },
              {
                target: 'deadline → every entry gone ≤ 2× the floor',
                value: ratio !== undefined ? `${ratio}×` : '–',
                met: ratio !== undefined && ratio <= 2,
              },
              { target: 'worker peak RSS < 500 MiB', value: `${Math.round(workerMiB)} MiB`, met: workerMiB < 500 },
              {
                target: 'retention timer set after the deletion, p99 < 1 s',
                value: `${(timerSetAfterDeletion.afterDeleteCall.p99 / 1000).toFixed(2)} s`,
                met: timerSetAfterDeletion.afterDeleteCall.p99 < 1000,
              },
              {
                target: 'historyEventsPerLifecycle ≤ 40',
                value: String(historyEventsPerLifecycle),
                met: historyEventsPerLifecycle <= 40,
              },
            ]
          : [],
        ok: problems.length === 0,
      };
    } finally {
      await anchors.stop();
      await secrets.stop();
      await observer.stop();
    }
  } finally {
    sampler?.stop();
    await rig.stop();
  }
}

/** The floor side: its entries reconciled by the floor's writes (not timed), deleted at once, carried to the end by {@link FloorRetention}. */
async function runFloorSide(
  rig: Rig,
  entries: readonly BenchEntry[],
  o: RetentionBenchOptions,
  mode: 'release-entry' | 'hold-entry',
  observer: EntryObserver,
  secrets: SecretObserver,
  log: (line: string) => void,
  every: (what: string, total?: number) => (n: number) => void,
): Promise<{ gone: GoneFigures; times: NonNullable<RetentionBenchResult['floor']> }> {
  const cls = `floor-${rig.run}`;
  const names = entries.map((e) => e.name);
  log(`floor: reconciling ${entries.length} entries with the floor's own writes (not timed)`);
  await mapLimit(entries, o.concurrency, (e) => floorReconcileEntry(rig, e, BUCKET, cls));
  const floor = new FloorRetention(rig, {
    cls,
    bucket: BUCKET,
    retentionMs: o.retentionSeconds * 1000,
    concurrency: o.concurrency,
    mode,
    entries,
  });
  try {
    log(`floor: deleting all ${entries.length} (retention ${o.retentionSeconds} s, ${mode})`);
    await mapLimit(entries, o.concurrency, (e) => rig.deleteEntry(e));
    await until(
      () => goneCount(names, observer, secrets),
      names.length,
      'gone (floor)',
      3600_000 + o.retentionSeconds * 1000,
      every('floor: gone, finalizers released', names.length),
    );
  } finally {
    await floor.stop();
  }
  const deadlines = new Map(names.map((n) => [n, floor.times.get(n)?.deadline ?? NaN]));
  const gone = goneFigures(names, deadlines, observer, secrets);
  // Not timed: the floor's provider secrets go, so our watcher (it watches garden) does not carry them in its cache.
  await mapLimit(entries, o.concurrency, (e) =>
    rig.core
      .deleteNamespacedSecret({ namespace: 'garden', name: `entry-${e.name}` })
      .catch((err: { code?: number }) => {
        if (err.code !== 404) throw err;
      }),
  );
  const times = [...floor.times.values()];
  log(`floor: last deadline → all gone ${(gone.overallMs / 1000).toFixed(2)} s`);
  return {
    gone,
    times: {
      registered: spread(times.flatMap((t) => (t.registeredAt !== undefined ? [t.registeredAt - t.seenAt] : []))),
      deleteStarted: spread(
        times.flatMap((t) => (t.deleteStartedAt !== undefined ? [t.deleteStartedAt - t.deadline] : [])),
      ),
      problems: [...floor.problems],
    },
  };
}

/** The (workflows) worker's SDK metrics from its `/metrics`; empty when it cannot be read. */
async function scrapeSdk(rig: Rig): Promise<SdkSummary> {
  const port = rig.worker?.httpPort();
  if (!port) return {};
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) });
    return res.ok ? sdkSummary(parsePrometheus(await res.text())) : {};
  } catch {
    return {};
  }
}

/** Every entry's prefix is empty and its deletion started after its deadline. */
function verify(root: string, names: readonly string[], rows: Array<{ deadline: number; start?: number }>): string[] {
  const problems: string[] = [];
  const left = names.filter(
    (n) =>
      existsSync(join(root, BUCKET, n)) &&
      readdirSync(join(root, BUCKET, n), { recursive: true, withFileTypes: true }).some((f) => f.isFile()),
  );
  if (left.length) problems.push(`${left.length} prefixes not empty (first ${left[0]})`);
  const early = rows.filter((r) => r.start !== undefined && r.start < r.deadline - 1000);
  if (early.length) problems.push(`${early.length} deletions (deleteBackups scheduled) before the deadline`);
  const never = rows.filter((r) => r.start === undefined);
  if (never.length) problems.push(`${never.length} workflows never scheduled deleteBackups`);
  return problems;
}

/** One line of the SDK summary for the report. */
export function taskLine(t: TaskFigures): string {
  return `queue ${t.queue.p50} / ${t.queue.p99}, run ${t.run.p50} / ${t.run.p99} (${t.localActivities} local activities, median)`;
}

export function sdkLine(s: SdkSummary): string {
  const h = (name: string, x?: { count: number; p50Ms: number; p99Ms: number; meanMs: number }): string[] =>
    x ? [`${name} n ${x.count}, mean ${x.meanMs} ms, p50 ≤ ${x.p50Ms} ms, p99 ≤ ${x.p99Ms} ms`] : [];
  return [
    `sticky cache size ${s.stickyCacheSize ?? '–'}, hits ${s.stickyCacheHits ?? '–'}, misses ${s.stickyCacheMisses ?? '–'}, forced evictions ${s.stickyCacheForcedEvictions ?? '–'}`,
    ...h('workflow task schedule-to-start', s.workflowTaskScheduleToStart),
    ...h('replay', s.workflowTaskReplay),
    ...h('workflow task execution', s.workflowTaskExecution),
    ...h('local activity', s.localActivityExecution),
    ...h('activity schedule-to-start', s.activityScheduleToStart),
    ...(s.workflowTaskFailures !== undefined ? [`workflow task failures ${s.workflowTaskFailures}`] : []),
  ].join('; ');
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** The markdown section of a result. */
export function renderRetentionMarkdown(r: RetentionBenchResult): string {
  const m = r.machine;
  const v = (ms: number | undefined): string => (ms !== undefined && Number.isFinite(ms) ? String(ms) : '–');
  const row = (what: string, x: Spread | undefined): string =>
    x ? `| ${what} | ${x.n} | ${v(x.p50)} | ${v(x.p99)} | ${v(x.max)} |` : `| ${what} | – | – | – | – |`;
  const s = (ms: number | undefined): string =>
    ms !== undefined && Number.isFinite(ms) ? (ms / 1000).toFixed(2) : '–';
  const c = r.ceiling;
  const g = r.gone;
  return [
    `### Retention (${r.mode}), ${r.at.slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB; Node ${m.node}. Load average ${m.loadAverageStart.join(' / ')} at start, ${m.loadAverageEnd.join(' / ')} at end.`,
    '',
    `Settings: ${r.settings.entries} entries of type local (${r.settings.objectsPerEntry} backup files each), reconciled, then all deleted ` +
      `(${r.settings.concurrency} delete calls in flight, burst took ${(r.deleteBurstMs / 1000).toFixed(1)} s) with retention ${r.settings.retentionSeconds} s` +
      `${r.settings.retentionMode ? ` (${r.settings.retentionMode})` : ''}; worker max cached workflows ${r.settings.maxCachedWorkflows}` +
      `${r.settings.activitySlots ? `, ${r.settings.activitySlots} activity slots, ${r.settings.workflowTaskSlots} workflow task slots` : ''}. ` +
      `Reconcile of all ${r.settings.entries}: ${(r.reconcile.totalMs / 1000).toFixed(1)} s (${r.reconcile.entriesPerSecond} entries/s). ` +
      'Deadline = deletionTimestamp + retention (what the workflow computes). The retention timer is the TimerStarted event with the ' +
      'summary `retention deadline`; deletion start is the `deleteBackups` ActivityTaskScheduled event. Same stack, in this order: floor, ceiling, ours.',
    '',
    ...(r.registration
      ? [
          '',
          `**Registration** (every entry: the \`beginDeletion\` marker − deletionTimestamp; ${r.registration.missing} without one): ` +
            `p50 ${v(r.registration.afterDeletion.p50)} ms, p99 ${v(r.registration.afterDeletion.p99)} ms, max ${v(r.registration.afterDeletion.max)} ms` +
            `${r.coldRestart ? '. The worker was restarted once every retention was registered (cold cache at the deadlines).' : '.'}`,
          '',
        ]
      : []),
    '| after the deadline (deletionTimestamp + retention) | entries | p50 (ms) | p99 (ms) | max (ms) |',
    '|---|---:|---:|---:|---:|',
    row('retention timer set to fire (its TimerStarted + duration)', r.timerTargetAfterDeadline),
    row('retention timer fired', r.lateness.timerFired),
    row('deletion start (deleteBackups scheduled)', r.lateness.deletionStart),
    row('first delete call (deleteBackups started)', r.lateness.firstDeleteCall),
    row('deletion start, entries whose retention timer was set before the deadline', r.deletionStartWithTimer),
    row('entry gone, every finalizer released — ours', g?.ours.perEntry),
    row('entry gone, every finalizer released — floor', g?.floor?.perEntry),
    row('no-op ceiling: stub activity scheduled', c?.deletionStart),
    row('no-op ceiling: timer fired', c?.timerFired),
    '',
    `**Deadline → every entry gone (finalizers released), last deadline → last release:** ours ${s(g?.ours.overallMs)} s, ` +
      `floor ${s(g?.floor?.overallMs)} s, ours / floor **${g?.ratioToFloor ?? '–'}×** (per-entry p99: ${g?.ratioToFloorP99 ?? '–'}×).` +
      (g?.ours.missing ? ` ${g.ours.missing} entries of ours never seen gone.` : ''),
    '',
    `**Retention timer set after the deletion** (TimerStarted − the bench's delete call returned; includes the watch delivery and the watcher's ` +
      `signal): p50 ${v(r.timerSetAfterDeletion?.afterDeleteCall.p50)} ms, p99 ${v(r.timerSetAfterDeletion?.afterDeleteCall.p99)} ms; against the first ` +
      `signal recorded after the delete call was sent: p50 ${v(r.timerSetAfterDeletion?.afterSignal.p50)} ms, p99 ${v(r.timerSetAfterDeletion?.afterSignal.p99)} ms. ` +
      `Timers set before their deadline: ${r.timersSetBeforeDeadline ?? '–'} of ${r.settings.entries}; entries without a retention timer: ${r.entriesWithoutTimer}.`,
    '',
    `**historyEventsPerLifecycle** (create → retain → delete, every run, median): **${r.historyEventsPerLifecycle ?? '–'}** ` +
      (r.history
        ? `(p99 ${r.history.events.p99}, max ${r.history.events.max}; runs per lifecycle ≤ ${r.history.runsMax}; median per lifecycle: ` +
          `${r.history.activities} activities, ${r.history.localActivities} local activities, ${r.history.workflowTasks} workflow tasks, ` +
          `${r.history.timers} timers, ${r.history.signals} signals).`
        : ''),
    '',
    c
      ? `**No-op ceiling** (tools/bench/ceiling-workflow.ts on a bench-only worker, same cache and slots, same N and retention): ` +
        `${c.entries} started and idle in ${s(c.startAllMs)} s, signalled in ${s(c.signalBurstMs)} s; stub activity scheduled after the deadline ` +
        `p50 ${v(c.deletionStart.p50)} ms, p99 ${v(c.deletionStart.p99)} ms; timer set after the signal returned p99 ${v(c.timerSetAfterSignal.p99)} ms; ` +
        `last deadline → all closed ${s(c.drainMs)} s; ${c.historyEvents} history events per workflow; worker peak RSS ${c.workerPeakRssMiB ?? '–'} MiB` +
        (c.stormCpu ? `; CPU until all closed (${c.stormCpu.wallS} s wall, CPU seconds): ${cpuLine(c.stormCpu)}.` : '.')
      : 'No-op ceiling: not run.',
    '',
    r.floor
      ? `Floor (tools/bench/floor-retention.ts): deletion seen → registered p99 ${v(r.floor.registered.p99)} ms; deadline → its deletion started p99 ${v(r.floor.deleteStarted.p99)} ms.`
      : 'Floor: not run.',
    '',
    `Deletion → Pending status seen (${r.pendingAfterDeletionMs.n} entries): p50 ${v(r.pendingAfterDeletionMs.p50)} ms, p99 ${v(r.pendingAfterDeletionMs.p99)} ms. ` +
      `Retention timer precision (fired − set to fire, ${r.timerPrecisionMs.n} timers): p50 ${v(r.timerPrecisionMs.p50)} ms, p99 ${v(r.timerPrecisionMs.p99)} ms.`,
    '',
    ...(r.storm
      ? [
          'Where the deletion goes (workflow-task events; queue = started − scheduled, run = completed − started, ' +
            `ms p50 / p99): the task after the retention timer fired ${taskLine(r.storm.afterTimer)}; ` +
            `the task after deleteBackups completed ${taskLine(r.storm.afterDeletion)}` +
            (r.ceiling?.afterTimer
              ? `; the no-op ceiling's task after its timer fired ${taskLine(r.ceiling.afterTimer)}.`
              : '.'),
          '',
        ]
      : []),
    ...(r.registrationCpu
      ? [
          `CPU from the first delete call to every retention registered (${r.registrationCpu.wallS} s wall; CPU seconds): ` +
            `${cpuLine(r.registrationCpu)}` +
            (c?.registrationCpu
              ? `; the ceiling from its first signal to every timer set (${c.registrationCpu.wallS} s wall): ${cpuLine(c.registrationCpu)}.`
              : '.'),
          '',
        ]
      : []),
    ...(r.stormCpu
      ? [
          `CPU from every retention registered to every entry gone (${r.stormCpu.wallS} s wall, ${os.cpus().length} cores; ` +
            'CPU seconds): ' +
            cpuLine(r.stormCpu) +
            '.',
          '',
        ]
      : []),
    ...(r.slowestDeletion
      ? [
          `The last deletion to start (${r.slowestDeletion.entry}), ms after its deadline: ` +
            r.slowestDeletion.events
              .map((e) => `${e.type}${e.detail ? ` ${e.detail}` : ''} ${e.afterDeadlineMs}`)
              .join(', ') +
            '.',
          '',
        ]
      : []),
    ...(r.sdk ? [`SDK metrics (workflows worker): ${sdkLine(r.sdk)}.`, ''] : []),
    `Peak RSS: worker ${r.peakRssMiB.worker ?? '–'} MiB, watcher ${r.peakRssMiB.watcher ?? '–'} MiB, ${TEMPORAL_NAMES[r.settings.backend ?? 'dev']} ${r.peakRssMiB.temporal ?? '– (not started by the benchmark)'} MiB. ` +
      `Verified (every prefix empty, every entry gone, no deletion before its deadline): ${r.verified ? 'yes' : `**no**: ${r.problems.join('; ')}`}.`,
    '',
    ...(r.targets.length
      ? [
          '| target | value | met |',
          '|---|---|---|',
          ...r.targets.map((t) => `| ${t.target} | ${t.value} | ${t.met ? 'yes' : '**no**'} |`),
          '',
        ]
      : []),
  ].join('\n');
}

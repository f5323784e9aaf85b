/**
 * The retention benchmark (issue 8, part 3): N BackupEntries (type `local`, a few backup files each) reconciled, then
 * all deleted at once with a short retention (default 60 s, the worker's `BEL_DEFAULT_RETENTION`), on the real stack
 * with the worker and the watcher as processes. Per entry, from its workflow history, against its deadline
 * (deletionTimestamp + retention, exactly what the workflow computes):
 * - timer lateness: the retention timer's fire event after the deadline;
 * - deletion start: the first activity the workflow scheduled after waking (it reads the entry, then deletes);
 * - first delete call: the deleteBackups activity starting (includes waiting for an activity slot).
 * Also: how long after deletion the workflow had reported Pending (backlog before the timer is even set), worker,
 * watcher and Temporal server RSS (peak, sampled each second), and that every prefix is empty and every entry gone.
 */
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config';
import { machineInfo, type MachineInfo } from './deletion';
import {
  EntryObserver, MemorySampler, Rig, benchEntries, historyTimings, mapLimit, spread, type ProductBuild, type Spread,
} from './live';

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
  build: ProductBuild;
  dir: string;
  stackEnv?: Record<string, string>;
  log?: (line: string) => void;
}

/** The result written under `retention` in the results JSON. */
export interface RetentionBenchResult {
  benchmark: 'retention';
  mode: RetentionBenchOptions['mode'];
  at: string;
  machine: MachineInfo;
  settings: { entries: number; retentionSeconds: number; objectsPerEntry: number; concurrency: number; maxCachedWorkflows: number };
  /** Create burst → all Succeeded. */
  reconcile: { totalMs: number; entriesPerSecond: number };
  /** Delete calls: first → last returned. */
  deleteBurstMs: number;
  /** Per entry, milliseconds after its deadline (negative = early). */
  lateness: { timerFired: Spread; deletionStart: Spread; firstDeleteCall: Spread };
  /**
   * Deletion start after the deadline, only for entries whose workflow had its retention timer running before the
   * deadline: the timer path itself, without the backlog of learning about the deletion.
   */
  deletionStartWithTimer: Spread;
  /** Per entry: deletionTimestamp → Pending status seen (the workflow took over the deletion). */
  pendingAfterDeletionMs: Spread;
  /** Timers that fired, measured against the time they were set to fire (Temporal's own precision). */
  timerPrecisionMs: Spread;
  /** Entries whose workflow set no retention timer (it learned of the deletion after the deadline). */
  entriesWithoutTimer: number;
  /** Peak RSS, MiB. */
  peakRssMiB: { worker?: number; watcher?: number; temporal?: number };
  /** Last deadline → every entry gone. */
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

/** Runs the benchmark (throws only when the rig cannot start or entries never reach a state). */
export async function runRetentionBenchmark(o: RetentionBenchOptions): Promise<RetentionBenchResult> {
  const log = o.log ?? (() => undefined);
  const machine = machineInfo();
  const maxCachedWorkflows = o.maxCachedWorkflows ?? loadConfig({ BACKUP_LOCAL_DIR: '/', BEL_PROVIDER_TYPES: 'local' }).worker.maxCachedWorkflows;
  const rig = await Rig.start({ build: o.build, dir: o.dir, log, ...(o.stackEnv ? { stackEnv: o.stackEnv } : {}),
    env: { BEL_DEFAULT_RETENTION: `${o.retentionSeconds}s`, BEL_MAX_CACHED_WORKFLOWS: String(maxCachedWorkflows) } });
  let sampler: MemorySampler | undefined;
  try {
    const entries = benchEntries(`r${rig.run}`, o.entries);
    const names = entries.map((e) => e.name);
    log(`preparing ${o.entries} namespaces, provider secrets and ${o.entries * o.objects} backup files (not timed)`);
    await rig.prepare(entries, BUCKET, o.objects, o.concurrency);
    await rig.startService();
    sampler = new MemorySampler(() => ({ worker: rig.worker?.proc.child.pid, watcher: rig.watcher?.proc.child.pid, temporal: rig.temporalPid }));
    const observer = new EntryObserver(rig.kc, rig.run);
    try {
      const every = (what: string): ((n: number) => void) => {
        let shown = 0;
        return (n) => {
          if (n >= shown + Math.max(1, o.entries / 5)) { shown = n; log(`${what}: ${n}/${o.entries}`); }
        };
      };
      log(`creating ${o.entries} entries (${o.concurrency} in flight)`);
      const t0 = Date.now();
      await mapLimit(entries, o.concurrency, (e) => rig.createEntry(e, BUCKET));
      await observer.until(names, (x) => x.succeededAt !== undefined, 'Succeeded', 3600_000, every('Succeeded'));
      const reconcileMs = Math.max(...names.map((n) => observer.seen.get(n)!.succeededAt!)) - t0;
      log(`all Succeeded in ${(reconcileMs / 1000).toFixed(1)} s; deleting all ${o.entries} (retention ${o.retentionSeconds} s)`);

      const d0 = Date.now();
      await mapLimit(entries, o.concurrency, (e) => rig.deleteEntry(e));
      const deleteBurstMs = Date.now() - d0;
      await observer.until(names, (x) => x.goneAt !== undefined, 'gone', 3600_000, every('gone'));
      // With BEL_RETENTION_MODE=release-entry (the default) the entries are gone once their retention is registered;
      // the deletion ends when the workflow does.
      const closedAt = await mapLimit(entries, 16, async (e) => {
        const handle = rig.client!.workflow.getHandle(rig.workflowId(e.name));
        await handle.result();
        return (await handle.describe()).closeTime?.getTime() ?? Date.now();
      });
      sampler.stop();

      log(`all gone; reading ${o.entries} workflow histories`);
      const rows = await mapLimit(entries, 16, async (e) => {
        const seen = observer.seen.get(e.name)!;
        const deadline = Date.parse(seen.deletionTimestamp!) + o.retentionSeconds * 1000;
        const h = await historyTimings(rig.client!, rig.workflowId(e.name));
        // The retention timer: the one set to fire at the deadline (± the second-truncation of deletionTimestamp).
        const timer = h.timers.find((t) => Math.abs(t.target - deadline) < 1500 && t.fired !== undefined);
        const woke = timer?.fired ?? deadline;
        const start = h.activities.find((a) => a.scheduled >= woke);
        const del = h.activities.find((a) => a.type === 'deleteBackups');
        return { deadline, timer, start: start?.scheduled, firstDelete: del?.started, deletedAt: Date.parse(seen.deletionTimestamp!),
          pendingAt: seen.pendingAt, allTimers: h.timers };
      });
      const lastDeadline = Math.max(...rows.map((r) => r.deadline));
      const drainMs = Math.max(...closedAt, ...names.map((n) => observer.seen.get(n)!.goneAt!)) - lastDeadline;
      const problems = verify(rig.localRoot, entries.map((e) => e.name), rows);
      const timerFired = rows.flatMap((r) => (r.timer ? [r.timer.fired! - r.deadline] : []));
      const deletionStart = rows.flatMap((r) => (r.start !== undefined ? [r.start - r.deadline] : []));
      const firstDeleteCall = rows.flatMap((r) => (r.firstDelete !== undefined ? [r.firstDelete - r.deadline] : []));
      const precision = rows.flatMap((r) => r.allTimers.filter((t) => t.fired !== undefined).map((t) => t.fired! - t.target));
      const lateness = { timerFired: spread(timerFired), deletionStart: spread(deletionStart), firstDeleteCall: spread(firstDeleteCall) };
      const withTimer = spread(rows.flatMap((r) => (r.timer && r.start !== undefined ? [r.start - r.deadline] : [])));
      const peak = sampler.peak;
      const full = o.mode === 'full';
      return {
        benchmark: 'retention', mode: o.mode, at: new Date().toISOString(),
        machine: { ...machine, loadAverageEnd: os.loadavg().map((l) => Math.round(l * 100) / 100) },
        settings: { entries: o.entries, retentionSeconds: o.retentionSeconds, objectsPerEntry: o.objects, concurrency: o.concurrency, maxCachedWorkflows },
        reconcile: { totalMs: reconcileMs, entriesPerSecond: Math.round(o.entries / (reconcileMs / 1000) * 10) / 10 },
        deleteBurstMs, lateness, deletionStartWithTimer: withTimer,
        pendingAfterDeletionMs: spread(rows.flatMap((r) => (r.pendingAt !== undefined ? [r.pendingAt - r.deletedAt] : []))),
        timerPrecisionMs: spread(precision), entriesWithoutTimer: rows.filter((r) => !r.timer).length,
        peakRssMiB: { ...(peak.worker ? { worker: peak.worker } : {}), ...(peak.watcher ? { watcher: peak.watcher } : {}),
          ...(peak.temporal ? { temporal: peak.temporal } : {}) },
        drainMs, verified: problems.length === 0, problems,
        targets: full ? [
          { target: 'p99 deadline → deletion start < 2 s', value: `${(lateness.deletionStart.p99 / 1000).toFixed(2)} s`, met: lateness.deletionStart.p99 < 2000 },
          { target: 'worker peak RSS < 500 MB', value: `${Math.round((peak.worker ?? NaN) * 1.048576)} MB`, met: (peak.worker ?? Infinity) * 1.048576 < 500 },
        ] : [],
        ok: problems.length === 0,
      };
    } finally {
      await observer.stop();
    }
  } finally {
    sampler?.stop();
    await rig.stop();
  }
}

/** Every entry's prefix is empty and its workflow deleted after its deadline. */
function verify(root: string, names: readonly string[], rows: Array<{ deadline: number; start?: number }>): string[] {
  const problems: string[] = [];
  const left = names.filter((n) => existsSync(join(root, BUCKET, n))
    && readdirSync(join(root, BUCKET, n), { recursive: true, withFileTypes: true }).some((f) => f.isFile()));
  if (left.length) problems.push(`${left.length} prefixes not empty (first ${left[0]})`);
  const early = rows.filter((r) => r.start !== undefined && r.start < r.deadline - 1000);
  if (early.length) problems.push(`${early.length} deletions started before the deadline`);
  const never = rows.filter((r) => r.start === undefined);
  if (never.length) problems.push(`${never.length} workflows never started a deletion`);
  return problems;
}

/** The markdown section of a result. */
export function renderRetentionMarkdown(r: RetentionBenchResult): string {
  const m = r.machine;
  const v = (ms: number): string => (Number.isFinite(ms) ? String(ms) : '–');
  const row = (what: string, x: Spread): string => `| ${what} | ${x.n} | ${v(x.p50)} | ${v(x.p99)} | ${v(x.max)} |`;
  return [
    `### Retention (${r.mode}), ${r.at.slice(0, 16).replace('T', ' ')} UTC`, '',
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB; Node ${m.node}. Load average ${m.loadAverageStart.join(' / ')} at start, ${m.loadAverageEnd.join(' / ')} at end.`, '',
    `Settings: ${r.settings.entries} entries of type local (${r.settings.objectsPerEntry} backup files each), reconciled, then all deleted ` +
    `(${r.settings.concurrency} delete calls in flight, burst took ${(r.deleteBurstMs / 1000).toFixed(1)} s) with retention ${r.settings.retentionSeconds} s; ` +
    `worker max cached workflows ${r.settings.maxCachedWorkflows}. Reconcile of all ${r.settings.entries}: ${(r.reconcile.totalMs / 1000).toFixed(1)} s ` +
    `(${r.reconcile.entriesPerSecond} entries/s).`, '',
    '| after the deadline (deletionTimestamp + retention) | entries | p50 (ms) | p99 (ms) | max (ms) |', '|---|---:|---:|---:|---:|',
    row('retention timer fired', r.lateness.timerFired), row('deletion start (first activity after waking)', r.lateness.deletionStart),
    row('first delete call (deleteBackups started)', r.lateness.firstDeleteCall),
    row('deletion start, entries whose retention timer was running before the deadline', r.deletionStartWithTimer), '',
    `Deletion → Pending status seen (${r.pendingAfterDeletionMs.n} entries): p50 ${v(r.pendingAfterDeletionMs.p50)} ms, p99 ${v(r.pendingAfterDeletionMs.p99)} ms. ` +
    `Timer precision (fired − set to fire, all ${r.timerPrecisionMs.n} timers that fired): p50 ${v(r.timerPrecisionMs.p50)} ms, p99 ${v(r.timerPrecisionMs.p99)} ms. ` +
    `Entries without a retention timer (learned of the deletion after the deadline): ${r.entriesWithoutTimer}. ` +
    `Last deadline → every entry gone: ${(r.drainMs / 1000).toFixed(1)} s.`, '',
    `Peak RSS: worker ${r.peakRssMiB.worker ?? '–'} MiB, watcher ${r.peakRssMiB.watcher ?? '–'} MiB, Temporal dev server ${r.peakRssMiB.temporal ?? '– (not started by the benchmark)'} MiB. ` +
    `Verified (every prefix empty, every entry gone, no deletion before its deadline): ${r.verified ? 'yes' : `**no**: ${r.problems.join('; ')}`}.`, '',
    ...(r.targets.length ? ['| target | value | met |', '|---|---|---|', ...r.targets.map((t) => `| ${t.target} | ${t.value} | ${t.met ? 'yes' : '**no**'} |`), ''] : []),
  ].join('\n');
}

/**
 * The worker-memory benchmark (issue 25 item 3): where the workflow worker's memory goes with N open workflows.
 * N BackupEntries are reconciled (N open workflows, idle), then deleted with a long retention (N workflows retaining on
 * their timer, `release-entry`: each entry is gone once its retention is registered). After each phase the worker is
 * left to settle, a sample is taken, then one after a forced GC of the main thread. Samples come from
 * tools/bench/worker-probe.ts inside the worker process (V8 heaps of the main thread and of the workflow thread, array
 * buffers, `/proc/self/smaps_rollup`, `/proc/self/status`), every second, so the peak is seen too; the SDK's own
 * metrics (sticky cache size, evictions) are read from the worker's `/metrics`.
 * Worker options under test come from `--worker-options` (JSON merged over the product's, through the probe) and the
 * worker's environment (`--env K=V`); nothing here asserts a figure.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { TemporalBackend } from '../stack';
import { machineInfo, type MachineInfo } from './deletion';
import { EntryObserver, Rig, benchEntries, benchScript, mapLimit, type ProductBuild } from './live';
import { breakdown, parseProbeFile, type MemoryBreakdown, type MemorySample } from './memory-sample';
import { parsePrometheus, sdkSummary, type SdkSummary } from './sdk-metrics';

/** Options of {@link runMemoryBenchmark}. */
export interface MemoryBenchOptions {
  mode: 'full' | 'quick' | 'custom';
  entries: number;
  concurrency: number;
  maxCachedWorkflows: number;
  /** Merged over the worker's `Worker.create` options (tools/bench/worker-probe.ts). */
  workerOptions?: Record<string, unknown>;
  /** Extra worker environment (e.g. `MALLOC_ARENA_MAX=2`, `BEL_WORKFLOW_BUNDLE=` for an in-process bundle). */
  workerEnv?: Record<string, string>;
  /** Node flags of the worker (e.g. `--max-old-space-size=192`), as `NODE_OPTIONS` would give them. */
  nodeArgs?: string[];
  splitRoles?: boolean;
  backend: TemporalBackend;
  /** A label for the report (the configuration under test). */
  label: string;
  /** Settle time after each phase before sampling. */
  settleMs?: number;
  build: ProductBuild;
  dir: string;
  log?: (line: string) => void;
}

/** One phase's figures. */
export interface MemoryPhase {
  phase: string;
  openWorkflows: number;
  /** Took (ms): first call → all entries in the phase's state. */
  tookMs: number;
  /** Peak during the phase (probe samples, RSS), MiB. */
  peakRssMiB: number;
  /** The sample with the highest RSS during the phase. */
  atPeak?: MemoryBreakdown;
  settled: MemoryBreakdown;
  afterGc?: MemoryBreakdown;
  sdk?: SdkSummary;
}

/** The result written to `raw/memory-*.json`. */
export interface MemoryBenchResult {
  benchmark: 'memory';
  mode: MemoryBenchOptions['mode'];
  at: string;
  machine: MachineInfo;
  settings: {
    label: string;
    entries: number;
    backend: TemporalBackend;
    maxCachedWorkflows: number;
    workerOptions?: Record<string, unknown>;
    workerEnv?: Record<string, string>;
    nodeArgs?: string[];
    splitRoles: boolean;
  };
  phases: MemoryPhase[];
  /** VmHWM of the (workflows) worker at the end, MiB. */
  peakRssMiB: number;
  problems: string[];
  ok: boolean;
}

export const MEMORY_QUICK = { entries: 8, concurrency: 4 };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Reads the worker's `/metrics` (ours and the SDK's). */
async function scrape(rig: Rig): Promise<string> {
  const port = rig.worker?.httpPort();
  if (!port) return '';
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) });
    return res.ok ? await res.text() : '';
  } catch {
    return '';
  }
}

/** Runs one configuration (throws only when the rig cannot start or entries never reach a state). */
export async function runMemoryBenchmark(o: MemoryBenchOptions): Promise<MemoryBenchResult> {
  const log = o.log ?? (() => undefined);
  const machine = machineInfo();
  const probeFile = join(o.dir, 'probe.jsonl');
  const settle = o.settleMs ?? 15_000;
  const rig = await Rig.start({
    build: o.build,
    dir: o.dir,
    log,
    temporalBackend: o.backend,
    ...(o.splitRoles ? { splitRoles: true } : {}),
    env: { BEL_DEFAULT_RETENTION: '4h', BEL_MAX_CACHED_WORKFLOWS: String(o.maxCachedWorkflows) },
    workerNodeArgs: [...(o.nodeArgs ?? []), '--require', benchScript('worker-probe', o.dir), '--expose-gc'],
    workerEnv: {
      BENCH_WORKER_PROBE_FILE: probeFile,
      ...(o.workerOptions ? { BENCH_WORKER_OPTIONS: JSON.stringify(o.workerOptions) } : {}),
      ...o.workerEnv,
    },
  });
  const problems: string[] = [];
  const samples = (): MemorySample[] => (existsSync(probeFile) ? parseProbeFile(readFileSync(probeFile, 'utf8')) : []);
  const phases: MemoryPhase[] = [];
  try {
    const entries = benchEntries(`m${rig.run}`, o.entries);
    const names = entries.map((e) => e.name);
    log(`preparing ${entries.length} namespaces and provider secrets (not timed)`);
    await rig.prepare(entries, 'bench-memory', 1, o.concurrency);
    await rig.startService();
    const observer = new EntryObserver(rig.kc, rig.run);
    const every = (what: string): ((n: number) => void) => {
      let shown = 0;
      return (n) => {
        if (rig.worker?.proc.exited) throw new Error(`the worker exited; log ${rig.worker.logFile}`);
        if (n >= shown + Math.max(1, o.entries / 5)) {
          shown = n;
          log(`${what}: ${n}/${o.entries}`);
        }
      };
    };
    const measure = async (phase: string, from: number, t0: number): Promise<void> => {
      const tookMs = Date.now() - t0;
      log(`${phase}: reached in ${(tookMs / 1000).toFixed(1)} s; settling ${settle / 1000} s`);
      await sleep(settle);
      const all = samples().filter((s) => s.at >= from);
      const peak = all.reduce<MemorySample | undefined>((a, s) => (!a || s.rss > a.rss ? s : a), undefined);
      const settled = all.filter((s) => !s.tag).at(-1);
      const before = Date.now();
      writeFileSync(`${probeFile}.gc`, String(before));
      let gc: MemorySample | undefined;
      for (let i = 0; i < 100 && !gc; i++) {
        await sleep(100);
        gc = samples().find((s) => s.tag === 'gc' && s.at >= before);
      }
      const sdk = sdkSummary(parsePrometheus(await scrape(rig)));
      if (!settled) throw new Error(`no memory sample from the worker (probe file ${probeFile})`);
      const p: MemoryPhase = {
        phase,
        openWorkflows: o.entries,
        tookMs,
        peakRssMiB: Math.round((Math.max(...all.map((s) => s.rss)) / 2 ** 20) * 10) / 10,
        ...(peak ? { atPeak: breakdown(peak) } : {}),
        settled: breakdown(settled),
        ...(gc ? { afterGc: breakdown(gc) } : {}),
        sdk,
      };
      phases.push(p);
      log(
        `${phase}: RSS ${p.settled.rss} MiB (peak ${p.peakRssMiB}); main heap ${p.settled.mainHeap} (used ${p.settled.mainHeapUsed}), ` +
          `workflow heap ${p.settled.workflowHeap} (used ${p.settled.workflowHeapUsed}), buffers ${p.settled.arrayBuffers}, ` +
          `files ${p.settled.fileBacked}, native ${p.settled.native}; cache ${sdk.stickyCacheSize ?? '?'}`,
      );
    };
    try {
      // Idle baseline: the worker polling, nothing open.
      const t00 = Date.now();
      await measure('0 open (started)', 0, t00);

      log(`creating ${o.entries} entries (${o.concurrency} in flight)`);
      const c0 = Date.now();
      await mapLimit(entries, o.concurrency, (e) => rig.createEntry(e, 'bench-memory'));
      await observer.until(names, (x) => x.succeededAt !== undefined, 'Succeeded', 3600_000, every('Succeeded'));
      await measure(`${o.entries} open, idle (Succeeded)`, c0, c0);

      log(`deleting all ${o.entries} (retention 4 h)`);
      const d0 = Date.now();
      await mapLimit(entries, o.concurrency, (e) => rig.deleteEntry(e));
      await observer.until(names, (x) => x.goneAt !== undefined, 'released', 3600_000, every('retention registered'));
      await measure(`${o.entries} open, retaining on their timer`, d0, d0);
    } finally {
      await observer.stop();
    }
    const last = samples().at(-1);
    return {
      benchmark: 'memory',
      mode: o.mode,
      at: new Date().toISOString(),
      machine: { ...machine, loadAverageEnd: os.loadavg().map((l) => Math.round(l * 100) / 100) },
      settings: {
        label: o.label,
        entries: o.entries,
        backend: o.backend,
        maxCachedWorkflows: o.maxCachedWorkflows,
        ...(o.workerOptions ? { workerOptions: o.workerOptions } : {}),
        ...(o.workerEnv ? { workerEnv: o.workerEnv } : {}),
        ...(o.nodeArgs ? { nodeArgs: o.nodeArgs } : {}),
        splitRoles: !!o.splitRoles,
      },
      phases,
      peakRssMiB: last ? Math.round((last.status.vmHwm / 2 ** 20) * 10) / 10 : NaN,
      problems,
      ok: problems.length === 0,
    };
  } finally {
    await rig.stop();
  }
}

/** The markdown section of a result. */
export function renderMemoryMarkdown(r: MemoryBenchResult): string {
  const m = r.machine;
  const row = (p: MemoryPhase, b: MemoryBreakdown, when: string): string =>
    `| ${p.phase} | ${when} | ${b.rss} | ${b.mainHeap} (${b.mainHeapUsed}) | ${b.workflowHeap} (${b.workflowHeapUsed}) | ` +
    `${b.arrayBuffers} | ${b.fileBacked} | ${b.native} | ${p.sdk?.stickyCacheSize ?? '–'} |`;
  return [
    `### Worker memory: ${r.settings.label} (${r.settings.entries} entries, ${r.settings.backend}), ${r.at.slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB; Node ${m.node}. Load average ${m.loadAverageStart.join(' / ')} at start, ${m.loadAverageEnd.join(' / ')} at end.`,
    `Settings: cache ${r.settings.maxCachedWorkflows}` +
      (r.settings.workerOptions ? `, worker options ${JSON.stringify(r.settings.workerOptions)}` : '') +
      (r.settings.workerEnv ? `, environment ${JSON.stringify(r.settings.workerEnv)}` : '') +
      (r.settings.nodeArgs ? `, node ${r.settings.nodeArgs.join(' ')}` : '') +
      (r.settings.splitRoles ? ', workflows and storage roles in two processes (the workflows one measured)' : '') +
      `. Worker peak RSS (VmHWM) ${r.peakRssMiB} MiB.`,
    '',
    '| phase | sample | RSS | main heap resident (used) | workflow-thread heap resident (used) | array buffers | file-backed | native rest | sticky cache |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
    ...r.phases.flatMap((p) => [
      ...(p.atPeak ? [row(p, p.atPeak, 'at the peak')] : []),
      row(p, p.settled, 'settled'),
      ...(p.afterGc ? [row(p, p.afterGc, 'after a full GC')] : []),
    ]),
    '',
  ].join('\n');
}

/**
 * The deletion benchmark: N objects under one entry prefix plus sibling prefixes that must
 * survive, deleted by each compared deleter (tools/bench/deleters.ts) on identical bucket contents, on two backends:
 * fake-gcs-server (N ≤ 5 000: its memory backend is O(N) per request) and the in-memory GCS stand-in
 * (tools/bench/gcs-stand-in.ts, with injected latency and a 429-enforced bucket write cap) for every N.
 *
 * Each deleter runs in a child process of its own (tools/bench/deletion-worker.ts), so peak RSS is per deleter. After
 * every run the bucket is listed (all generations): the prefix must be empty and every sibling present, else the run
 * is marked failed and the benchmark fails. Timings are reported, never asserted.
 */
import { fork, spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { Storage } from '@google-cloud/storage';
import { etcdBackupKeys } from '../scripts/demo';
import { startFakeGcs, type FakeGcs } from '../stack/fake-gcs';
import { toolPaths } from '../stack/tools';
import { DELETERS, type DeleterName, type DeletionJob } from './deleters';
import type { WorkerResult } from './deletion-worker';
import { startGcsStandIn, type GcsStandIn } from './gcs-stand-in';

/** Where a run's bucket lives. */
export type Backend = 'fake-gcs-server' | 'stand-in';

/** Largest N run against fake-gcs-server (docs/object-stores.md §3: it slows down with bucket size). */
export const FAKE_GCS_MAX_OBJECTS = 5000;

/** Options of {@link runDeletionBenchmark}. */
export interface DeletionBenchOptions {
  /** `full` (the committed figures), `quick` (tiny sizes, correctness only) or `custom` (any other flags). */
  mode: 'full' | 'quick' | 'custom';
  /** Object counts run on the stand-in. */
  standInSizes: number[];
  /** Object counts run on fake-gcs-server (each ≤ {@link FAKE_GCS_MAX_OBJECTS}); empty = skip that backend. */
  fakeGcsSizes: number[];
  /** Stand-in latency per request, milliseconds. */
  latencyMs: number;
  /** Bucket write cap: enforced by the stand-in (429) and configured in our deleter. */
  capPerSecond: number;
  /** Stand-in token-bucket depth; default cap / 10. */
  burst?: number;
  /** Deleters to compare, in run order. */
  deleters: DeleterName[];
  /** Use this running fake-gcs-server instead of starting one (tests attach to the stack's). */
  fakeGcsEndpoint?: string;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Free text stored with the results (e.g. "other test stacks were running"). */
  note?: string;
}

/** The committed benchmark: stand-in 1k/10k/100k, fake-gcs-server 1k/5k, 30 ms, 1 000 writes/s. */
export const FULL_OPTIONS: DeletionBenchOptions = {
  mode: 'full',
  standInSizes: [1000, 10_000, 100_000],
  fakeGcsSizes: [1000, 5000],
  latencyMs: 30,
  capPerSecond: 1000,
  deleters: [...DELETERS],
};

/** Quick mode (run by the test command): N = 200 on both backends, correctness only. */
export const QUICK_OPTIONS: DeletionBenchOptions = {
  ...FULL_OPTIONS,
  mode: 'quick',
  standInSizes: [200],
  fakeGcsSizes: [200],
};

/** One deleter on one backend and size. */
export interface DeletionRun {
  backend: Backend;
  objects: number;
  deleter: DeleterName;
  seconds: number;
  objectsPerSecond: number;
  /** objectsPerSecond as a percentage of the write cap. */
  capPercent: number;
  /** objectsPerSecond divided by the same-size `deleteFiles` / `gardener` figure. */
  ratioToDeleteFiles?: number;
  ratioToGardener?: number;
  /** 429s the stand-in served during the run (stand-in only). */
  throttled?: number;
  /** Requests the stand-in answered during the run (stand-in only). */
  requests?: number;
  /** List requests among them (stand-in only): `ours` lists for its inventory, while deleting, and for its final check. */
  lists?: number;
  /**
   * The best time any deleter can achieve on the stand-in, {@link achievableSeconds}(N, cap, burst, latency), and
   * `achievableSeconds / seconds` as a percentage (stand-in only: fake-gcs-server has no cap and no injected latency).
   */
  achievableSeconds?: number;
  achievablePercent?: number;
  /** Peak RSS of the deleter's child process, MiB. */
  peakRssMiB: number;
  /** RSS of that process right before the deletion started, MiB. */
  rssBeforeMiB: number;
  /** Objects the deleter says it deleted (when it says). */
  reportedDeleted?: number;
  /** Prefix empty and every sibling intact afterwards, and the deleter did not fail. */
  verified: boolean;
  /** Why not verified: the deleter's error and/or what the final listing showed. */
  problems: string[];
}

/** The machine and tool versions a result was measured with. */
export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  go: string;
  tools: Record<string, string>;
  /** 1/5/15-minute load averages when the benchmark started and ended (other work on the machine shows here). */
  loadAverageStart: number[];
  loadAverageEnd: number[];
}

/** One target of the deletion benchmark checked against the figures. */
export interface TargetCheck {
  target: string;
  objects?: number;
  value: string;
  met: boolean;
}

/** Everything a deletion benchmark run produced (also the JSON written to tools/bench/results). */
export interface DeletionBenchResult {
  benchmark: 'deletion';
  mode: DeletionBenchOptions['mode'];
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  settings: {
    latencyMs: number;
    capPerSecond: number;
    burst: number;
    standInSizes: number[];
    fakeGcsSizes: number[];
    deleters: DeleterName[];
    note?: string;
  };
  runs: DeletionRun[];
  targets: TargetCheck[];
  /** Every run verified. */
  ok: boolean;
}

/** Exactly `n` realistic etcd-backup-restore keys under `<entry>/` (full and delta snapshots, chunk parts). */
export function benchKeys(entry: string, n: number): string[] {
  return etcdBackupKeys(entry, Math.ceil(n / 7) + 1).slice(0, n);
}

/** Objects beside the prefix that every deleter must leave alone: `<entry>2/`, `<entry>-x/` and a bare `<entry>`. */
export function siblingKeys(entry: string): string[] {
  return [...etcdBackupKeys(`${entry}2`, 1), ...etcdBackupKeys(`${entry}-x`, 1), entry];
}

/** Reads the version of an npm package installed next to this file (without `exports` restrictions). */
function packageVersion(name: string): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'node_modules', name, 'package.json');
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return 'unknown';
}

/** Machine, runtime and tool versions (fake-gcs-server's from the tool cache's folder name). */
export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  let go = 'unknown';
  let fakeGcs = 'unknown';
  try {
    go = execFileSync('go', ['version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .trim()
      .replace(/^go version /, '');
  } catch {
    // not on PATH: the tool cache names the Go version it built with
  }
  try {
    const bin = toolPaths().FAKE_GCS_SERVER;
    const m = /fake-gcs-server-(v[^/-]+)-(go[^/]+)/.exec(bin);
    if (m) {
      fakeGcs = `${m[1]} (built with ${m[2]})`;
      if (go === 'unknown') go = m[2]!;
    }
  } catch {
    // tools not installed
  }
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    go,
    tools: {
      'fake-gcs-server': fakeGcs,
      '@google-cloud/storage': packageVersion('@google-cloud/storage'),
      typescript: packageVersion('typescript'),
    },
    loadAverageStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
    loadAverageEnd: [],
  };
}

/**
 * Registers @swc/core as the `.ts` loader, then loads the worker: used when the benchmark itself runs from TypeScript
 * sources (jest), where no compiled worker exists.
 */
const TS_WORKER_BOOT = `
const { transformSync } = require(process.env.BENCH_SWC_CORE);
const { readFileSync } = require('node:fs');
require.extensions['.ts'] = (module, filename) => {
  const { code } = transformSync(readFileSync(filename, 'utf8'), { filename,
    jsc: { target: 'es2023', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } });
  module._compile(code, filename);
};
require(process.env.BENCH_WORKER);
`;

function startWorker(): ChildProcess {
  const stdio: ['ignore', 'inherit', 'inherit', 'ipc'] = ['ignore', 'inherit', 'inherit', 'ipc'];
  if (__filename.endsWith('.ts')) {
    return spawn(process.execPath, ['-e', TS_WORKER_BOOT], {
      stdio,
      env: {
        ...process.env,
        BENCH_SWC_CORE: require.resolve('@swc/core'),
        BENCH_WORKER: join(__dirname, 'deletion-worker.ts'),
      },
    });
  }
  return fork(join(__dirname, 'deletion-worker.js'), [], { stdio, execArgv: [] });
}

/** Runs one job in a fresh child process; resolves once the child has answered and exited. */
async function runInChild(job: DeletionJob, timeoutMs: number): Promise<WorkerResult> {
  const child = startWorker();
  return new Promise<WorkerResult>((resolve, reject) => {
    let answer: WorkerResult | undefined;
    let failure: Error | undefined;
    const timer = setTimeout(() => {
      failure = new Error(`${job.deleter} did not finish within ${Math.round(timeoutMs / 1000)} s`);
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('message', (m) => {
      answer = m as WorkerResult;
    });
    child.once('error', (err) => {
      failure ??= err;
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (answer) resolve(answer);
      else
        reject(
          failure ?? new Error(`the ${job.deleter} worker exited (code ${code}, signal ${signal}) without an answer`),
        );
    });
    child.send(job);
  });
}

/** A backend the orchestrator can create, seed, list and clean buckets on. */
interface BackendHandle {
  backend: Backend;
  endpoint: string;
  createAndSeed(bucket: string, names: string[]): Promise<void>;
  /** All names (every generation) in the bucket. */
  listAll(bucket: string): Promise<string[]>;
  cleanup(bucket: string): Promise<void>;
  /** Stand-in counters, reset before each run. */
  standIn?: GcsStandIn;
}

function standInBackend(standIn: GcsStandIn): BackendHandle {
  const storage = new Storage({ apiEndpoint: standIn.endpoint, projectId: 'bench' });
  return {
    backend: 'stand-in',
    endpoint: standIn.endpoint,
    standIn,
    async createAndSeed(bucket, names) {
      standIn.createBucket(bucket);
      standIn.seed(bucket, names);
    },
    async listAll(bucket) {
      // Through the JSON API, as any client would see it; the stand-in's own index is not trusted for the verdict.
      const [files] = await storage.bucket(bucket).getFiles({ versions: true });
      return files.map((f) => f.name);
    },
    async cleanup(bucket) {
      standIn.dropBucket(bucket);
    },
  };
}

function fakeGcsBackend(endpoint: string): BackendHandle {
  const storage = new Storage({ apiEndpoint: endpoint, projectId: 'bench' });
  return {
    backend: 'fake-gcs-server',
    endpoint,
    async createAndSeed(bucket, names) {
      await storage.createBucket(bucket);
      const queue = [...names];
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          for (let name = queue.pop(); name !== undefined; name = queue.pop()) {
            const url =
              `${endpoint}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=media&name=` +
              encodeURIComponent(name);
            const res = await fetch(url, {
              method: 'POST',
              body: `data of ${name}`,
              headers: { 'content-type': 'application/octet-stream' },
            });
            if (!res.ok) throw new Error(`seeding ${name} into ${bucket}: HTTP ${res.status} ${await res.text()}`);
            await res.arrayBuffer();
          }
        }),
      );
    },
    async listAll(bucket) {
      const [files] = await storage.bucket(bucket).getFiles({ versions: true });
      return files.map((f) => f.name);
    },
    async cleanup(bucket) {
      const b = storage.bucket(bucket);
      const [files] = await b.getFiles({ versions: true });
      await Promise.all(files.map((f) => f.delete().catch(() => undefined)));
      await b.delete().catch(() => undefined);
    },
  };
}

/**
 * Compares a bucket's final listing with what must be left: nothing under `prefix`, and beside it exactly
 * `siblings` (none deleted, none added). Returns the problems found; empty = verified.
 */
export function verifyListing(names: string[], prefix: string, siblings: string[]): string[] {
  const problems: string[] = [];
  const under = names.filter((n) => n.startsWith(prefix));
  if (under.length > 0) problems.push(`${under.length} object(s) left under ${prefix} (first: ${under[0]})`);
  const left = new Set(names.filter((n) => !n.startsWith(prefix)));
  const missing = siblings.filter((s) => !left.has(s));
  if (missing.length > 0)
    problems.push(`${missing.length} sibling(s) outside the prefix were deleted (first: ${missing[0]})`);
  const expected = new Set(siblings);
  const extra = [...left].filter((n) => !expected.has(n));
  if (extra.length > 0) problems.push(`${extra.length} unexpected object(s) outside the prefix (first: ${extra[0]})`);
  return problems;
}

const round = (v: number, digits = 1): number => Math.round(v * 10 ** digits) / 10 ** digits;

/**
 * The best time achievable for deleting `n` objects against a bucket whose writes pass a token bucket of `burst`
 * tokens (full at the start) refilled at `capPerSecond`, each request answered after `latencyMs`: one list round trip
 * before the first delete can be sent, then the deletes as fast as the bucket admits them (`burst` at once, the rest
 * at the cap), then the last delete's round trip: `2·latency + max(0, n − burst) / cap`. With a burst the first second
 * can exceed the cap (a small N can beat 100 % of the cap); a deleter that ramps up under-runs it. Nothing more is
 * assumed about the deleter (any concurrency, listings overlapped with deletes).
 */
export function achievableSeconds(n: number, capPerSecond: number, burst: number, latencyMs: number): number {
  return (2 * latencyMs) / 1000 + Math.max(0, n - burst) / capPerSecond;
}

/** Fills in the ratio of every run to the same-backend, same-N baselines. */
function addRatios(runs: DeletionRun[]): void {
  for (const r of runs) {
    const peer = (d: DeleterName): DeletionRun | undefined =>
      runs.find((x) => x.backend === r.backend && x.objects === r.objects && x.deleter === d && x.verified);
    const df = peer('deleteFiles');
    const ga = peer('gardener');
    if (df && r.verified) r.ratioToDeleteFiles = round(r.objectsPerSecond / df.objectsPerSecond, 2);
    if (ga && r.verified) r.ratioToGardener = round(r.objectsPerSecond / ga.objectsPerSecond, 2);
  }
}

/**
 * The deletion benchmark's targets for our deleter on the stand-in: ≥ 90 % of the write cap, ≥ 3× Gardener's algorithm, peak RSS
 * flat from 10k to 100k objects (at most 10 % more).
 */
export function evaluateTargets(runs: DeletionRun[]): TargetCheck[] {
  const ours = runs.filter((r) => r.backend === 'stand-in' && r.deleter === 'ours');
  const checks: TargetCheck[] = [];
  for (const r of ours) {
    checks.push({
      target: '≥ 90 % of the write cap',
      objects: r.objects,
      value: `${r.capPercent} %`,
      met: r.verified && r.capPercent >= 90,
    });
    if (r.ratioToGardener !== undefined) {
      checks.push({
        target: "≥ 3× Gardener's algorithm",
        objects: r.objects,
        value: `${r.ratioToGardener}×`,
        met: r.ratioToGardener >= 3,
      });
    }
  }
  const r10k = ours.find((r) => r.objects === 10_000);
  const r100k = ours.find((r) => r.objects === 100_000);
  if (r10k && r100k) {
    const growth = (r100k.peakRssMiB / r10k.peakRssMiB - 1) * 100;
    checks.push({
      target: 'peak RSS flat from 10k to 100k (≤ +10 %)',
      value: `${r10k.peakRssMiB} → ` + `${r100k.peakRssMiB} MiB (${growth >= 0 ? '+' : ''}${round(growth)} %)`,
      met: growth <= 10,
    });
  }
  return checks;
}

/**
 * Runs the deletion benchmark: for each backend and N, each deleter on freshly seeded, identical contents, in its own
 * child process, verified afterwards. Starts (and stops) fake-gcs-server and the stand-in as needed. Never throws
 * for a slow or failing deleter: failures are in {@link DeletionRun.problems} and `ok` is false.
 */
export async function runDeletionBenchmark(opts: DeletionBenchOptions): Promise<DeletionBenchResult> {
  const log = opts.log ?? (() => undefined);
  for (const n of opts.fakeGcsSizes) {
    if (n > FAKE_GCS_MAX_OBJECTS) {
      throw new Error(
        `fake-gcs-server sizes must be ≤ ${FAKE_GCS_MAX_OBJECTS} (got ${n}): its memory backend scans ` +
          'the whole bucket per request; use the stand-in for larger N',
      );
    }
  }
  const burst = Math.max(1, opts.burst ?? Math.ceil(opts.capPerSecond / 10));
  const startedAt = new Date().toISOString();
  const machine = machineInfo();
  const runs: DeletionRun[] = [];
  let fake: FakeGcs | undefined;
  let fakeDir: string | undefined;
  let standIn: GcsStandIn | undefined;
  try {
    const backends: Array<{ handle: BackendHandle; sizes: number[] }> = [];
    if (opts.fakeGcsSizes.length > 0) {
      let endpoint = opts.fakeGcsEndpoint;
      if (!endpoint) {
        fakeDir = mkdtempSync(join(os.tmpdir(), 'bel-bench-gcs-'));
        fake = await startFakeGcs({ bin: toolPaths().FAKE_GCS_SERVER, dir: fakeDir, log });
        endpoint = fake.endpoint;
      }
      backends.push({ handle: fakeGcsBackend(endpoint), sizes: opts.fakeGcsSizes });
    }
    if (opts.standInSizes.length > 0) {
      standIn = await startGcsStandIn({ latencyMs: opts.latencyMs, writesPerSecond: opts.capPerSecond, burst });
      log(
        `GCS stand-in on ${standIn.endpoint} (latency ${opts.latencyMs} ms, write cap ${opts.capPerSecond}/s, ` +
          `burst ${burst})`,
      );
      backends.push({ handle: standInBackend(standIn), sizes: opts.standInSizes });
    }
    for (const { handle, sizes } of backends) {
      for (const n of sizes) {
        const entry = `shoot--bench--n${n}--${randomUUID()}`;
        const prefix = `${entry}/`;
        const keys = benchKeys(entry, n);
        const siblings = siblingKeys(entry);
        for (const deleter of opts.deleters) {
          const bucket =
            `bench-${handle.backend === 'stand-in' ? 'si' : 'fg'}-${n}-${deleter.toLowerCase()}-` +
            randomBytes(3).toString('hex');
          log(
            `${handle.backend} N=${n} ${deleter}: seeding ${keys.length} + ${siblings.length} objects into ${bucket}`,
          );
          await handle.createAndSeed(bucket, [...keys, ...siblings]);
          handle.standIn?.resetStats();
          const job: DeletionJob = {
            deleter,
            endpoint: handle.endpoint,
            bucket,
            prefix,
            capPerSecond: opts.capPerSecond,
          };
          let result: WorkerResult;
          try {
            result = await runInChild(job, 120_000 + n * 20);
          } catch (err) {
            result = {
              ms: Number.NaN,
              rssBeforeMiB: Number.NaN,
              peakRssMiB: Number.NaN,
              error: (err as Error).message,
            };
          }
          const stats = handle.standIn ? { ...handle.standIn.stats } : undefined;
          const problems = result.error ? [`deleter failed: ${result.error}`] : [];
          problems.push(...verifyListing(await handle.listAll(bucket), prefix, siblings));
          if (result.deleted !== undefined && !result.error && result.deleted !== n) {
            problems.push(`deleter reported ${result.deleted} deleted objects, expected ${n}`);
          }
          await handle.cleanup(bucket);
          const seconds = result.ms / 1000;
          const ops = n / seconds;
          const best =
            handle.backend === 'stand-in' ? achievableSeconds(n, opts.capPerSecond, burst, opts.latencyMs) : undefined;
          const run: DeletionRun = {
            backend: handle.backend,
            objects: n,
            deleter,
            seconds: round(seconds, 2),
            objectsPerSecond: Math.round(ops),
            capPercent: round((ops / opts.capPerSecond) * 100),
            peakRssMiB: round(result.peakRssMiB),
            rssBeforeMiB: round(result.rssBeforeMiB),
            verified: problems.length === 0,
            problems,
            ...(stats ? { throttled: stats.throttled, requests: stats.requests, lists: stats.lists } : {}),
            ...(best !== undefined && Number.isFinite(seconds)
              ? { achievableSeconds: round(best, 3), achievablePercent: round((best / seconds) * 100) }
              : {}),
            ...(result.deleted !== undefined ? { reportedDeleted: result.deleted } : {}),
          };
          runs.push(run);
          log(
            `${handle.backend} N=${n} ${deleter}: ${run.verified ? 'verified' : `FAILED: ${problems.join('; ')}`}, ` +
              `${run.seconds} s, ${run.objectsPerSecond} objects/s, ${run.achievablePercent !== undefined ? `${run.achievablePercent} % of achievable, ` : ''}` +
              `${stats ? `${stats.throttled} × 429, ${stats.lists} lists, ` : ''}` +
              `peak RSS ${run.peakRssMiB} MiB`,
          );
        }
      }
    }
  } finally {
    await standIn?.close();
    await fake?.stop();
    if (fakeDir) rmSync(fakeDir, { recursive: true, force: true });
  }
  addRatios(runs);
  machine.loadAverageEnd = os.loadavg().map((l) => round(l, 2));
  return {
    benchmark: 'deletion',
    mode: opts.mode,
    startedAt,
    finishedAt: new Date().toISOString(),
    machine,
    settings: {
      latencyMs: opts.latencyMs,
      capPerSecond: opts.capPerSecond,
      burst,
      standInSizes: opts.standInSizes,
      fakeGcsSizes: opts.fakeGcsSizes,
      deleters: opts.deleters,
      ...(opts.note ? { note: opts.note } : {}),
    },
    // Targets need real sizes; quick mode only proves the benchmark still works.
    runs,
    targets: opts.mode === 'quick' ? [] : evaluateTargets(runs),
    ok: runs.every((r) => r.verified),
  };
}

const fmtN = (n: number): string => (n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n));
const fmtRatio = (v: number | undefined): string => (v === undefined ? '–' : `${v.toFixed(2)}×`);

/** The results as markdown: machine and settings, one table of runs, the targets. */
export function renderDeletionMarkdown(r: DeletionBenchResult): string {
  const m = r.machine;
  const lines = [
    `### Deletion (${r.mode}), ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}; Node ${m.node}, Go ${m.go}; ` +
      `${Object.entries(m.tools)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}. Load average (1/5/15 min) ` +
      `${m.loadAverageStart.join(' / ')} at start, ${m.loadAverageEnd.join(' / ')} at end.` +
      (r.settings.note ? ` ${r.settings.note}` : ''),
    '',
    `Settings: stand-in latency ${r.settings.latencyMs} ms per request, bucket write cap ` +
      `${r.settings.capPerSecond}/s (token bucket, depth ${r.settings.burst}, 429 above it); our deleter configured ` +
      `with the same cap; fake-gcs-server runs at loopback speed with no cap. One child process per run; peak RSS is ` +
      "that process's maxRSS (before = RSS with the libraries loaded, before deleting). **ours** is the product's `deleteBackups` " +
      "activity as the worker builds and runs it (storage activities over the worker's providers and metrics, in the SDK's activity " +
      'wrapper), its inventory listing, paged deletion and final check included; the entry read through Kubernetes is stubbed. ' +
      `**% of achievable** = the best time any deleter can reach on the stand-in, 2 × latency + max(0, N − burst) / cap ` +
      '(one list round trip, the burst at once, the rest at the cap, the last round trip), divided by the measured time.',
    '',
    '| backend | N | deleter | time (s) | objects/s | × deleteFiles | × Gardener | % of cap | best (s) | % of achievable | 429s | lists | peak RSS MiB (before) | verified |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...r.runs.map(
      (x) =>
        `| ${x.backend} | ${fmtN(x.objects)} | ${x.deleter} | ${x.seconds} | ${x.objectsPerSecond} | ` +
        `${fmtRatio(x.ratioToDeleteFiles)} | ${fmtRatio(x.ratioToGardener)} | ${x.capPercent} % | ${x.achievableSeconds ?? '–'} | ` +
        `${x.achievablePercent !== undefined ? `${x.achievablePercent} %` : '–'} | ${x.throttled ?? '–'} | ${x.lists ?? '–'} | ` +
        `${x.peakRssMiB} (${x.rssBeforeMiB}) | ${x.verified ? 'yes' : `**NO**: ${x.problems.join('; ')}`} |`,
    ),
  ];
  if (r.targets.length > 0) {
    lines.push(
      '',
      '| target (ours, stand-in) | N | value | met |',
      '|---|---:|---|---|',
      ...r.targets.map(
        (t) =>
          `| ${t.target} | ${t.objects !== undefined ? fmtN(t.objects) : '10k→100k'} | ${t.value} | ` +
          `${t.met ? 'yes' : '**no**'} |`,
      ),
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Benchmark entry point: `npm run build && npm run bench -- [all|deletion|reconcile|retention|report] [flags]`.
 * Without a name, all three run one after the other (the committed figures).
 *
 * Common flags:
 *   --runs R                runs of each benchmark (default 3 for a full run, 1 otherwise); each run starts afresh
 *   --quick                 tiny sizes, proves the benchmarks work; timings meaningless
 *   --note TEXT             stored with the results (e.g. what else ran on the machine)
 *   --out DIR               where to write; default tools/bench/results (full run) or tools/bench/results/tmp (others)
 *
 * Flags (deletion):
 *   --sizes 1000,10000      object counts on the GCS stand-in (default 1000,10000,100000)
 *   --fake-gcs-sizes 1000   object counts on fake-gcs-server, each ≤ 5000 (default 1000,5000; "none" skips it)
 *   --latency-ms 30         stand-in latency per request
 *   --cap 1000              bucket write cap (stand-in 429s; our deleter's configured rate)
 *   --burst 100             stand-in token-bucket depth (default cap / 10)
 *   --deleters ours,gardener   subset/order of ours, deleteFiles, gardener (and deletePrefix: the provider call alone)
 *   --fake-gcs-endpoint URL use a running fake-gcs-server instead of starting one
 *
 * Flags (reconcile): --entries 200, --concurrency 50 (creates in flight, the worker's activity slots, the floor's
 * entries in flight). Flags (retention): --entries 5000, --retention-seconds 60, --objects 3, --concurrency 50,
 * --max-cached-workflows N (the worker's BEL_MAX_CACHED_WORKFLOWS; default: the product's default), --no-floor and
 * --no-ceiling (skip those sides), --cold-restart (pre-register, restart the worker, then the deadline storm),
 * --worker-options JSON (extra Worker.create options, priced by tools/bench/worker-probe.ts). Both start their own
 * stack (kube-apiserver + etcd + Temporal) and the worker and watcher from `dist/`; --backend dev|postgres picks the
 * Temporal (default: `BEL_STACK_TEMPORAL`, else the dev server) and is recorded in the result's settings.
 *
 * Every run's whole result goes to `<out>/raw/<benchmark>-<start time>.json` (with its set: this invocation, run i of
 * R). After each run the report is regenerated from the raw files only (tools/bench/summary.ts): `<out>/latest.md` and
 * `<out>/latest.json` for a full run, `<out>/<mode>.md` and `.json` otherwise. `report` regenerates it without running
 * anything (`--out`, `--mode quick|custom|full`). Exits 1 if any run failed its verification.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DELETERS, EXTRA_DELETERS, type DeleterName } from './deleters';
import {
  FULL_OPTIONS,
  QUICK_OPTIONS,
  renderDeletionMarkdown,
  runDeletionBenchmark,
  type DeletionBenchOptions,
} from './deletion';
import { distBuild } from './live';
import { RECONCILE_FULL, RECONCILE_QUICK, renderReconcileMarkdown, runReconcileBenchmark } from './reconcile';
import { RETENTION_FULL, RETENTION_QUICK, renderRetentionMarkdown, runRetentionBenchmark } from './retention';
import { writeRaw, writeReport, type RunSet } from './summary';
import {
  MEMORY_QUICK,
  renderMemoryMarkdown,
  runMemoryBenchmark,
  type MemoryBenchOptions,
  type MemoryBenchResult,
} from './memory';
import { writeMemoryReport } from './memory-report';
import type { TemporalBackend } from '../stack';

/** The repository root: the nearest folder above this file with the project's package.json. */
export function repoRoot(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (
      existsSync(pkg) &&
      (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'backupentry-lifecycle'
    ) {
      return dir;
    }
  }
  throw new Error(`no backupentry-lifecycle package.json above ${__dirname}`);
}

const sizes = (v: string | undefined, fallback: number[]): number[] => {
  if (v === undefined) return fallback;
  if (v === 'none' || v === '') return [];
  return v.split(',').map((s) => {
    const n = Number(s.trim().replace(/k$/i, '000'));
    if (!Number.isInteger(n) || n < 1) throw new Error(`not an object count: ${s}`);
    return n;
  });
};

const positive = (v: string | undefined, name: string, fallback: number): number => {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!(n >= 0) || !Number.isFinite(n)) throw new Error(`--${name} must be a number ≥ 0, got ${v}`);
  return n;
};

/** Parses the deletion benchmark's flags into options. */
export function parseDeletionArgs(argv: string[]): { options: DeletionBenchOptions; out?: string } {
  const { values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      quick: { type: 'boolean' },
      sizes: { type: 'string' },
      'fake-gcs-sizes': { type: 'string' },
      'latency-ms': { type: 'string' },
      cap: { type: 'string' },
      burst: { type: 'string' },
      deleters: { type: 'string' },
      'fake-gcs-endpoint': { type: 'string' },
      note: { type: 'string' },
      out: { type: 'string' },
    },
  });
  const base = values.quick ? QUICK_OPTIONS : FULL_OPTIONS;
  const custom = ['sizes', 'fake-gcs-sizes', 'latency-ms', 'cap', 'burst', 'deleters'].some((k) => k in values);
  const deleters =
    values.deleters === undefined
      ? base.deleters
      : values.deleters.split(',').map((d) => {
          const known: readonly string[] = [...DELETERS, ...EXTRA_DELETERS];
          if (!known.includes(d)) throw new Error(`unknown deleter ${d} (known: ${known.join(', ')})`);
          return d as DeleterName;
        });
  const options: DeletionBenchOptions = {
    mode: values.quick ? 'quick' : custom ? 'custom' : 'full',
    standInSizes: sizes(values.sizes, base.standInSizes),
    fakeGcsSizes: sizes(values['fake-gcs-sizes'], base.fakeGcsSizes),
    latencyMs: positive(values['latency-ms'], 'latency-ms', base.latencyMs),
    capPerSecond: positive(values.cap, 'cap', base.capPerSecond),
    deleters,
    ...(values.burst !== undefined ? { burst: positive(values.burst, 'burst', 1) } : {}),
    ...(values['fake-gcs-endpoint'] ? { fakeGcsEndpoint: values['fake-gcs-endpoint'] } : {}),
    ...(values.note ? { note: values.note } : {}),
  };
  if (options.capPerSecond <= 0) throw new Error('--cap must be > 0');
  return { options, ...(values.out ? { out: values.out } : {}) };
}

const START = (name: string): string => `<!-- bench:${name}:start -->`;
const END = (name: string): string => `<!-- bench:${name}:end -->`;

/**
 * Writes `result` under its benchmark's key and `markdown` as its marked section, keeping other benchmarks' entries
 * (for ad-hoc result files; `npm run bench` writes raw results and a report built from them, tools/bench/summary.ts).
 */
export function writeResults(
  dir: string,
  base: string,
  result: { benchmark: string },
  markdown: string,
): { json: string; md: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, `${base}.json`);
  const md = join(dir, `${base}.md`);
  const all = existsSync(json) ? (JSON.parse(readFileSync(json, 'utf8')) as Record<string, unknown>) : {};
  all[result.benchmark] = result;
  writeFileSync(json, `${JSON.stringify(all, null, 2)}\n`);
  const section = `${START(result.benchmark)}\n${markdown}${markdown.endsWith('\n') ? '' : '\n'}${END(result.benchmark)}\n`;
  let text = existsSync(md)
    ? readFileSync(md, 'utf8')
    : '# Benchmark results\n\nWritten by `npm run bench` ' +
      '(tools/bench/run.ts); see the README section "Benchmarks".\n\n';
  const from = text.indexOf(START(result.benchmark));
  const to = text.indexOf(END(result.benchmark));
  text =
    from >= 0 && to > from
      ? text.slice(0, from) + section + text.slice(to + END(result.benchmark).length + 1)
      : `${text}${section}`;
  writeFileSync(md, text);
  return { json, md };
}

/** Parses the flags of the reconcile and retention benchmarks. */
export function parseLiveArgs(
  name: 'reconcile' | 'retention',
  argv: string[],
): {
  mode: 'full' | 'quick' | 'custom';
  entries: number;
  concurrency: number;
  retentionSeconds: number;
  objects: number;
  maxCachedWorkflows?: number;
  skipFloor?: boolean;
  skipCeiling?: boolean;
  coldRestart?: boolean;
  backend?: TemporalBackend;
  workerOptions?: Record<string, unknown>;
  note?: string;
  out?: string;
} {
  const { values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      quick: { type: 'boolean' },
      entries: { type: 'string' },
      concurrency: { type: 'string' },
      note: { type: 'string' },
      out: { type: 'string' },
      backend: { type: 'string' },
      ...(name === 'retention'
        ? {
            'retention-seconds': { type: 'string' as const },
            objects: { type: 'string' as const },
            'max-cached-workflows': { type: 'string' as const },
            'no-floor': { type: 'boolean' as const },
            'no-ceiling': { type: 'boolean' as const },
            'cold-restart': { type: 'boolean' as const },
            'worker-options': { type: 'string' as const },
          }
        : {}),
    },
  });
  const base: { entries: number; concurrency: number; retentionSeconds?: number; objects?: number } =
    name === 'reconcile'
      ? values.quick
        ? RECONCILE_QUICK
        : RECONCILE_FULL
      : values.quick
        ? RETENTION_QUICK
        : RETENTION_FULL;
  const v = values as Record<string, string | boolean | undefined>;
  const int = (key: string, fallback: number): number => {
    const n = positive(v[key] as string | undefined, key, fallback);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${key} must be a whole number ≥ 1, got ${String(v[key])}`);
    return n;
  };
  const custom = [
    'entries',
    'concurrency',
    'retention-seconds',
    'objects',
    'max-cached-workflows',
    'no-floor',
    'no-ceiling',
    'cold-restart',
    'backend',
    'worker-options',
  ].some((k) => k in values);
  const backend = v.backend as string | undefined;
  if (backend !== undefined && backend !== 'dev' && backend !== 'postgres')
    throw new Error(`--backend must be dev or postgres, not ${backend}`);
  return {
    mode: values.quick ? 'quick' : custom ? 'custom' : 'full',
    entries: int('entries', base.entries),
    concurrency: int('concurrency', base.concurrency),
    retentionSeconds: int('retention-seconds', base.retentionSeconds ?? 60),
    objects: int('objects', base.objects ?? 1),
    ...(v['max-cached-workflows'] !== undefined ? { maxCachedWorkflows: int('max-cached-workflows', 1) } : {}),
    ...(v['no-floor'] ? { skipFloor: true } : {}),
    ...(v['no-ceiling'] ? { skipCeiling: true } : {}),
    ...(v['cold-restart'] ? { coldRestart: true } : {}),
    ...(backend ? { backend: backend as TemporalBackend } : {}),
    ...(v['worker-options'] !== undefined
      ? { workerOptions: JSON.parse(v['worker-options'] as string) as Record<string, unknown> }
      : {}),
    ...(values.note ? { note: values.note } : {}),
    ...(values.out ? { out: values.out } : {}),
  };
}

/** Parses the memory benchmark's flags. */
export function parseMemoryArgs(argv: string[]): Omit<MemoryBenchOptions, 'build' | 'dir' | 'log' | 'splitRoles'> & {
  splitRoles: boolean;
  note?: string;
  out?: string;
} {
  const { values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      quick: { type: 'boolean' },
      entries: { type: 'string' },
      concurrency: { type: 'string' },
      'max-cached-workflows': { type: 'string' },
      'worker-options': { type: 'string' },
      env: { type: 'string', multiple: true },
      'node-args': { type: 'string' },
      'split-roles': { type: 'boolean' },
      backend: { type: 'string' },
      label: { type: 'string' },
      'settle-seconds': { type: 'string' },
      note: { type: 'string' },
      out: { type: 'string' },
    },
  });
  const int = (v: string | undefined, name: string, fallback: number): number => {
    const n = positive(v, name, fallback);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a whole number ≥ 1, got ${String(v)}`);
    return n;
  };
  const backend = values.backend ?? 'dev';
  if (backend !== 'dev' && backend !== 'postgres') throw new Error(`--backend must be dev or postgres, not ${backend}`);
  const workerOptions =
    values['worker-options'] !== undefined
      ? (JSON.parse(values['worker-options']) as Record<string, unknown>)
      : undefined;
  const workerEnv = values.env?.length
    ? Object.fromEntries(
        values.env.map((kv) => {
          const i = kv.indexOf('=');
          if (i < 1) throw new Error(`--env takes KEY=VALUE, got ${kv}`);
          return [kv.slice(0, i), kv.slice(i + 1)];
        }),
      )
    : undefined;
  const entries = int(values.entries, 'entries', values.quick ? MEMORY_QUICK.entries : 5000);
  const maxCachedWorkflows = int(values['max-cached-workflows'], 'max-cached-workflows', 500);
  return {
    mode: values.quick ? 'quick' : 'custom',
    entries,
    concurrency: int(values.concurrency, 'concurrency', values.quick ? MEMORY_QUICK.concurrency : 50),
    maxCachedWorkflows,
    ...(workerOptions ? { workerOptions } : {}),
    ...(workerEnv ? { workerEnv } : {}),
    ...(values['node-args'] ? { nodeArgs: values['node-args'].split(/\s+/).filter(Boolean) } : {}),
    splitRoles: !!values['split-roles'],
    backend,
    label: values.label ?? `cache ${maxCachedWorkflows}`,
    ...(values['settle-seconds'] !== undefined
      ? { settleMs: positive(values['settle-seconds'], 'settle-seconds', 15) * 1000 }
      : {}),
    ...(values.note ? { note: values.note } : {}),
    ...(values.out ? { out: values.out } : {}),
  };
}

/** Runs the memory benchmark once per `--runs`; raw results and the report under `<out>` (default results/memory). */
async function runMemory(argv: string[], runs: number, root: string): Promise<number> {
  const a = parseMemoryArgs(argv);
  const outDir = resolve(
    root,
    a.out ?? (a.mode === 'quick' ? 'tools/bench/results/tmp/memory' : 'tools/bench/results/memory'),
  );
  const setId = new Date().toISOString();
  for (let i = 1; i <= runs; i++) {
    const t0 = Date.now();
    const log = (line: string): void =>
      console.error(
        `[bench memory ${runs > 1 ? `${i}/${runs} ` : ''}${((Date.now() - t0) / 1000).toFixed(1)} s] ${line}`,
      );
    const dir = mkdtempSync(join(tmpdir(), 'bel-bench-memory-'));
    const runStartedAt = new Date().toISOString();
    let result: MemoryBenchResult;
    try {
      result = await runMemoryBenchmark({ ...a, build: distBuild(root), dir, log });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const set: RunSet = { id: setId, index: i, of: runs, runStartedAt, argv, ...(a.note ? { note: a.note } : {}) };
    const raw = writeRaw(outDir, result, set);
    const md = writeMemoryReport(outDir);
    console.log(renderMemoryMarkdown(result));
    console.error(`[bench memory] wrote ${raw}; report ${md}`);
  }
  return 0;
}

const BENCHMARKS = ['deletion', 'reconcile', 'retention'] as const;
type BenchName = (typeof BENCHMARKS)[number];

type AnyResult = Parameters<typeof writeRaw>[1];

async function runOne(
  name: BenchName,
  argv: string[],
  root: string,
  log: (line: string) => void,
): Promise<{ result: AnyResult; markdown: string; mode: string; note?: string; out?: string }> {
  if (name === 'deletion') {
    const { options, out } = parseDeletionArgs(argv);
    const result = await runDeletionBenchmark({ ...options, log });
    return {
      result,
      markdown: renderDeletionMarkdown(result),
      mode: options.mode,
      ...(options.note ? { note: options.note } : {}),
      ...(out ? { out } : {}),
    };
  }
  const a = parseLiveArgs(name, argv);
  const dir = mkdtempSync(join(tmpdir(), `bel-bench-${name}-`));
  const common = { mode: a.mode, entries: a.entries, concurrency: a.concurrency, build: distBuild(root), dir, log };
  const extra = { ...(a.note ? { note: a.note } : {}), ...(a.out ? { out: a.out } : {}) };
  try {
    if (name === 'reconcile') {
      const result = await runReconcileBenchmark({
        ...common,
        ...(a.backend ? { temporalBackend: a.backend } : {}),
      });
      return { result, markdown: renderReconcileMarkdown(result), mode: a.mode, ...extra };
    }
    const result = await runRetentionBenchmark({
      ...common,
      retentionSeconds: a.retentionSeconds,
      objects: a.objects,
      ...(a.maxCachedWorkflows ? { maxCachedWorkflows: a.maxCachedWorkflows } : {}),
      ...(a.skipFloor ? { skipFloor: true } : {}),
      ...(a.skipCeiling ? { skipCeiling: true } : {}),
      ...(a.coldRestart ? { coldRestart: true } : {}),
      ...(a.backend ? { temporalBackend: a.backend } : {}),
      ...(a.workerOptions ? { workerOptions: a.workerOptions } : {}),
    });
    return { result, markdown: renderRetentionMarkdown(result), mode: a.mode, ...extra };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Takes `--runs R` out of `argv` (the benchmarks' own parsers are strict). */
export function takeRuns(argv: readonly string[]): { runs?: number; rest: string[] } {
  const rest: string[] = [];
  let runs: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = a === '--runs' ? argv[++i] : a.startsWith('--runs=') ? a.slice('--runs='.length) : undefined;
    if (a === '--runs' || a.startsWith('--runs=')) {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--runs must be a whole number ≥ 1, got ${String(value)}`);
      runs = n;
    } else {
      rest.push(a);
    }
  }
  return { ...(runs !== undefined ? { runs } : {}), rest };
}

/** Report file base name for a mode. */
const reportBase = (mode: string): string => (mode === 'full' ? 'latest' : mode);

async function main(argv: string[]): Promise<number> {
  const [first] = argv;
  const name = first && !first.startsWith('-') ? first : 'all';
  const { runs: asked, rest } = takeRuns(first && !first.startsWith('-') ? argv.slice(1) : argv);
  const root = repoRoot();
  if (name === 'report') {
    const { values } = parseArgs({ args: rest, options: { out: { type: 'string' }, mode: { type: 'string' } } });
    const mode = values.mode ?? 'full';
    const dir = resolve(root, values.out ?? (mode === 'full' ? 'tools/bench/results' : 'tools/bench/results/tmp'));
    const files = writeReport(dir, reportBase(mode), mode);
    console.error(`[bench] wrote ${files.md} and ${files.json}`);
    return 0;
  }
  if (name === 'memory') return runMemory(rest, asked ?? 1, root);
  if (name !== 'all' && !(BENCHMARKS as readonly string[]).includes(name)) {
    console.error(`unknown benchmark ${name} (available: all, ${BENCHMARKS.join(', ')}, memory, report)`);
    return 2;
  }
  const names: BenchName[] = name === 'all' ? [...BENCHMARKS] : [name as BenchName];
  if (name === 'all') {
    const { values } = parseArgs({
      args: rest,
      options: { quick: { type: 'boolean' }, note: { type: 'string' }, out: { type: 'string' } },
    });
    if (!values.quick && Object.keys(values).some((k) => k !== 'note' && k !== 'out'))
      throw new Error('all: only --quick, --runs, --note and --out');
  }
  let failed = false;
  for (const bench of names) {
    const setId = new Date().toISOString();
    let runs = asked ?? 1;
    for (let i = 1; i <= runs; i++) {
      const t0 = Date.now();
      const log = (line: string): void =>
        console.error(
          `[bench ${bench}${runs > 1 ? ` ${i}/${runs}` : ''} ${((Date.now() - t0) / 1000).toFixed(1)} s] ${line}`,
        );
      const runStartedAt = new Date().toISOString();
      const { result, markdown, mode, note, out } = await runOne(bench, rest, root, log);
      if (i === 1 && asked === undefined && mode === 'full') runs = 3; // a full run's figures are medians of 3
      const dir = resolve(root, out ?? (mode === 'full' ? 'tools/bench/results' : 'tools/bench/results/tmp'));
      const set: RunSet = { id: setId, index: i, of: runs, runStartedAt, argv: rest, ...(note ? { note } : {}) };
      const raw = writeRaw(dir, result, set);
      const files = writeReport(dir, reportBase(mode), mode);
      console.log(markdown);
      console.error(`[bench ${bench}] wrote ${raw}; report ${files.md}`);
      if (!result.ok) {
        console.error(`[bench ${bench}] FAILED: a run did not verify (see the table)`);
        failed = true;
      }
    }
  }
  return failed ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}

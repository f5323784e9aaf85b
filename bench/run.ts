/**
 * Benchmark entry point: `npm run build && npm run bench -- [deletion] [flags]`.
 *
 * Flags (deletion):
 *   --quick                 tiny sizes (N = 200 on both backends), proves the benchmark works; timings meaningless
 *   --sizes 1000,10000      object counts on the GCS stand-in (default 1000,10000,100000)
 *   --fake-gcs-sizes 1000   object counts on fake-gcs-server, each ≤ 5000 (default 1000,5000; "none" skips it)
 *   --latency-ms 30         stand-in latency per request
 *   --cap 1000              bucket write cap (stand-in 429s; our deleter's configured rate)
 *   --burst 100             stand-in token-bucket depth (default cap / 10)
 *   --deleters ours,gardener   subset/order of ours, deleteFiles, gardener
 *   --fake-gcs-endpoint URL use a running fake-gcs-server instead of starting one
 *   --note TEXT             stored with the results (e.g. what else ran on the machine)
 *   --out DIR               where to write; default bench/results (full run) or bench/results/tmp (others)
 *
 * Prints the markdown table and writes `<out>/latest.json` + `<out>/latest.md` for a full run, `<out>/<mode>.json` +
 * `.md` otherwise. Each benchmark owns its key in the JSON and its marked section in the markdown, so later
 * benchmarks (reconcile, retention) can share the files. Exits 1 if any run failed its verification.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DELETERS, type DeleterName } from './deleters';
import {
  FULL_OPTIONS, QUICK_OPTIONS, renderDeletionMarkdown, runDeletionBenchmark, type DeletionBenchOptions,
  type DeletionBenchResult,
} from './deletion';

/** The repository root: the nearest folder above this file with the project's package.json. */
export function repoRoot(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'backupentry-lifecycle') {
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
  const { values } = parseArgs({ args: argv, allowPositionals: true, options: {
    quick: { type: 'boolean' }, sizes: { type: 'string' }, 'fake-gcs-sizes': { type: 'string' },
    'latency-ms': { type: 'string' }, cap: { type: 'string' }, burst: { type: 'string' }, deleters: { type: 'string' },
    'fake-gcs-endpoint': { type: 'string' }, note: { type: 'string' }, out: { type: 'string' },
  } });
  const base = values.quick ? QUICK_OPTIONS : FULL_OPTIONS;
  const custom = ['sizes', 'fake-gcs-sizes', 'latency-ms', 'cap', 'burst', 'deleters'].some((k) => k in values);
  const deleters = values.deleters === undefined ? base.deleters : values.deleters.split(',').map((d) => {
    if (!(DELETERS as readonly string[]).includes(d)) throw new Error(`unknown deleter ${d} (known: ${DELETERS.join(', ')})`);
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

/** Writes `result` under its benchmark's key / marked section, keeping other benchmarks' entries. */
export function writeResults(dir: string, base: string, result: DeletionBenchResult): { json: string; md: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, `${base}.json`);
  const md = join(dir, `${base}.md`);
  const all = existsSync(json) ? JSON.parse(readFileSync(json, 'utf8')) as Record<string, unknown> : {};
  all[result.benchmark] = result;
  writeFileSync(json, `${JSON.stringify(all, null, 2)}\n`);
  const section = `${START(result.benchmark)}\n${renderDeletionMarkdown(result)}${END(result.benchmark)}\n`;
  let text = existsSync(md) ? readFileSync(md, 'utf8') : '# Benchmark results\n\nWritten by `npm run bench` ' +
    '(bench/run.ts); see the README section "Benchmarks".\n\n';
  const from = text.indexOf(START(result.benchmark));
  const to = text.indexOf(END(result.benchmark));
  text = from >= 0 && to > from ? text.slice(0, from) + section + text.slice(to + END(result.benchmark).length + 1)
    : `${text}${section}`;
  writeFileSync(md, text);
  return { json, md };
}

async function main(argv: string[]): Promise<number> {
  const [first] = argv;
  const name = first && !first.startsWith('-') ? first : 'deletion';
  const rest = first && !first.startsWith('-') ? argv.slice(1) : argv;
  if (name !== 'deletion') {
    console.error(`unknown benchmark ${name} (available: deletion)`);
    return 2;
  }
  const { options, out } = parseDeletionArgs(rest);
  const t0 = Date.now();
  const result = await runDeletionBenchmark({ ...options,
    log: (line) => console.error(`[bench ${((Date.now() - t0) / 1000).toFixed(1)} s] ${line}`) });
  const root = repoRoot();
  const dir = resolve(root, out ?? (options.mode === 'full' ? 'bench/results' : 'bench/results/tmp'));
  const files = writeResults(dir, options.mode === 'full' ? 'latest' : options.mode, result);
  console.log(renderDeletionMarkdown(result));
  console.error(`[bench] wrote ${files.json} and ${files.md}`);
  if (!result.ok) {
    console.error('[bench] FAILED: at least one run did not verify (see the table)');
    return 1;
  }
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}

/**
 * The worker and the watcher as real, separate processes, for crash and restart tests: `node <build>/worker/main.js`
 * and `node <build>/starter/watcher.js`, i.e. the product's own entry points (configuration from the environment, the
 * pino logger with the Temporal runtime bridged into it), started through tools/stack/processes (own process group,
 * parent-death signal) so a test can SIGKILL them and read their JSON log lines.
 *
 * The product is transpiled with swc (what jest uses) into a private folder per content hash, and the workflow bundle
 * is prebuilt once (`BEL_WORKFLOW_BUNDLE`), so a process starts in about a second and no test depends on `dist/` or on
 * every file being type-correct at the time.
 */
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { transformSync } from '@swc/core';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOW_CODE } from '../../worker/workflow-code';
import { productFolders } from './product-folders';
import { startProductProcess, WATCHER_READY, WORKER_READY, type LogLine, type ProductProcess } from '../../tools/stack';

const ROOT = resolve(__dirname, '..', '..');
/** Folders worker/main.ts and starter/watcher.ts need at run time: the product's. */
const SOURCE_DIRS = productFolders();
const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} };

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? tsFiles(join(dir, e.name))
      : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')
        ? [join(dir, e.name)]
        : [],
  );
}

/** A transpiled copy of the product with a prebuilt workflow bundle. */
export interface WorkerBuild {
  dir: string;
  /** `<dir>/worker/main.js` */
  main: string;
  /** `<dir>/starter/watcher.js` */
  watcher: string;
  /** Prebuilt workflow bundle (`BEL_WORKFLOW_BUNDLE`). */
  bundle: string;
}

let building: Promise<WorkerBuild> | undefined;

/**
 * Transpiles config, domain, workflows, activities, adapters and worker into `<tmp>/bel-worker-build-<hash>` (reused
 * while the sources are unchanged) and bundles the workflows. `node_modules` is linked in, so requires resolve as in
 * the repository.
 */
export function prepareWorkerBuild(): Promise<WorkerBuild> {
  building ??= (async () => {
    const files = SOURCE_DIRS.flatMap((d) => tsFiles(join(ROOT, d))).sort();
    const hash = createHash('sha256');
    for (const f of files) hash.update(relative(ROOT, f)).update('\0').update(readFileSync(f)).update('\0');
    const dir = join(tmpdir(), `bel-worker-build-${hash.digest('hex').slice(0, 16)}`);
    const build = {
      dir,
      main: join(dir, 'worker', 'main.js'),
      watcher: join(dir, 'starter', 'watcher.js'),
      bundle: join(dir, 'workflow-bundle.js'),
    };
    if (existsSync(join(dir, '.complete'))) return build;
    const work = `${dir}.${process.pid}.${Date.now()}`;
    for (const f of files) {
      const out = join(work, relative(ROOT, f)).replace(/\.ts$/, '.js');
      mkdirSync(dirname(out), { recursive: true });
      const { code } = transformSync(readFileSync(f, 'utf8'), {
        filename: f,
        sourceMaps: 'inline',
        jsc: { parser: { syntax: 'typescript' }, target: 'es2023' },
        module: { type: 'commonjs' },
      });
      writeFileSync(out, code);
    }
    symlinkSync(join(ROOT, 'node_modules'), join(work, 'node_modules'), 'dir');
    const { code } = await bundleWorkflowCode({ ...WORKFLOW_CODE, logger: quiet });
    writeFileSync(join(work, 'workflow-bundle.js'), code);
    writeFileSync(join(work, '.complete'), new Date().toISOString());
    try {
      renameSync(work, dir);
    } catch {
      rmSync(work, { recursive: true, force: true }); // another test file finished the same build first
    }
    // Builds of older sources are not used any more (a day leaves any run still using one alone).
    for (const old of readdirSync(tmpdir()).filter(
      (n) => n.startsWith('bel-worker-build-') && join(tmpdir(), n) !== dir,
    )) {
      const path = join(tmpdir(), old);
      if (Date.now() - statSync(path).mtimeMs > 24 * 3600_000) rmSync(path, { recursive: true, force: true });
    }
    return build;
  })();
  return building;
}

/** A worker or watcher process started by {@link startWorkerProcess} / {@link startWatcherProcess}. */
export type WorkerProcess = ProductProcess;
export type { LogLine };

/**
 * Starts `node <build>/worker/main.js` with the given environment on top of this process's (the stack environment, docs/design.md §1
 * variables come from there). Resolves once the worker logged that it is polling (or rejects with its log).
 */
export async function startWorkerProcess(opts: {
  env: Record<string, string>;
  logFile: string;
  readyTimeoutMs?: number;
}): Promise<WorkerProcess> {
  const build = await prepareWorkerBuild();
  // Several workers run at once: any free port for /metrics and for the Temporal runtime's exporter, unless given.
  const env = { BEL_WORKER_HTTP_PORT: '0', BEL_WORKER_SDK_METRICS_ADDRESS: '127.0.0.1:0', ...opts.env };
  return startProductProcess({
    name: 'worker',
    script: build.main,
    env: { ...process.env, BEL_WORKFLOW_BUNDLE: build.bundle, ...env },
    logFile: opts.logFile,
    ready: WORKER_READY,
    ...(opts.readyTimeoutMs ? { readyTimeoutMs: opts.readyTimeoutMs } : {}),
  });
}

/**
 * Starts `node <build>/starter/watcher.js` (the watcher's own entry point) the same way; resolves once it serves its
 * HTTP endpoint.
 */
export async function startWatcherProcess(opts: {
  env: Record<string, string>;
  logFile: string;
  readyTimeoutMs?: number;
}): Promise<WorkerProcess> {
  const build = await prepareWorkerBuild();
  return startProductProcess({
    name: 'watcher',
    script: build.watcher,
    env: { ...process.env, BEL_WORKFLOW_BUNDLE: build.bundle, ...opts.env },
    logFile: opts.logFile,
    ready: WATCHER_READY,
    ...(opts.readyTimeoutMs ? { readyTimeoutMs: opts.readyTimeoutMs } : {}),
  });
}

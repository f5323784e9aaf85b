/**
 * The product's own entry points (`worker/main.js`, `starter/watcher.js`) as real processes: started through
 * {@link startProcess} (own process group, parent-death signal), with their JSON log lines readable and a ready
 * condition awaited on the log. Shared by the crash/restart tests and the benchmarks, which both need the worker and
 * the watcher exactly as an operator runs them, configured only through the environment.
 */
import { existsSync, readFileSync } from 'node:fs';
import { killProcess, startProcess, stopProcess, type ManagedProcess } from './processes';

/** One JSON log line of a product process (pino). */
export interface LogLine {
  level: number;
  msg?: string;
  [k: string]: unknown;
}

/** A product process started by {@link startProductProcess}. */
export interface ProductProcess {
  proc: ManagedProcess;
  /** stdout + stderr of the process. */
  logFile: string;
  /** The whole log as text. */
  text(): string;
  /** The JSON log lines so far (other lines are skipped). */
  lines(): LogLine[];
  /**
   * Port of its `/metrics`, `/healthz` and `/readyz`, from its log (undefined before it serves them); the last one
   * logged, so a process restarted onto the same log file gives its own.
   */
  httpPort(): number | undefined;
  /** SIGKILL, no grace. */
  kill(): Promise<void>;
  /** SIGTERM (the SDK shuts down gracefully), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** What {@link startProductProcess} starts. */
export interface ProductProcessOptions {
  /** Name in messages and in the process registry. */
  name: string;
  /** The compiled entry point, e.g. `dist/worker/main.js`. */
  script: string;
  /** The complete environment of the process (nothing is inherited implicitly). */
  env: NodeJS.ProcessEnv;
  logFile: string;
  /** Resolves once the log matches this. */
  ready: RegExp;
  /** Default 60 s; on timeout or exit the process is killed and the error carries the log's tail. */
  readyTimeoutMs?: number;
  /**
   * Node flags before the script (benchmarks: `--require` of a probe, `--expose-gc`).
   * @default [] (only `--enable-source-maps`)
   */
  nodeArgs?: readonly string[];
}

/** The ready pattern of the worker: the SDK logs "Worker state changed" → RUNNING once it polls. */
export const WORKER_READY = /"state":"RUNNING"/;
/** The ready pattern of the watcher: it serves its HTTP endpoint. */
export const WATCHER_READY = /Serving \/metrics/;

/**
 * Starts `node --enable-source-maps <script>` with `env`; resolves once its log matches `ready`, rejects with the log's
 * tail if it exits or does not get ready in time. `NODE_OPTIONS` is removed (a test runner's flags are not the
 * product's).
 */
export async function startProductProcess(opts: ProductProcessOptions): Promise<ProductProcess> {
  const env: NodeJS.ProcessEnv = { ...opts.env };
  delete env.NODE_OPTIONS;
  const { logFile, name } = opts;
  const proc = startProcess(
    name,
    process.execPath,
    ['--enable-source-maps', ...(opts.nodeArgs ?? []), opts.script],
    logFile,
    env,
  );
  const text = (): string => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  const p: ProductProcess = {
    proc,
    logFile,
    text,
    lines: () =>
      text()
        .split('\n')
        .flatMap((l) => {
          if (!l.startsWith('{')) return [];
          try {
            return [JSON.parse(l) as LogLine];
          } catch {
            return [];
          }
        }),
    httpPort: () =>
      p
        .lines()
        .map((l) => (l.msg === 'Serving /metrics, /healthz and /readyz' ? Number(l.port) : undefined))
        .filter((port) => port !== undefined)
        .at(-1),
    kill: () => killProcess(proc),
    stop: (graceMs = 15_000) => stopProcess(proc, graceMs),
  };
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  while (!opts.ready.test(text())) {
    if (proc.exited || Date.now() > deadline) {
      if (!proc.exited) await killProcess(proc);
      throw new Error(
        `${name} process did not start (exit ${JSON.stringify(proc.exited)}); log ${logFile}:\n${text().slice(-3000)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return p;
}

/** Resident set size now and at its peak (`VmRSS`, `VmHWM` of /proc/<pid>/status), MiB; undefined once gone. */
export function processMemory(pid: number | undefined): { rssMiB: number; peakRssMiB: number } | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    const rssMiB = kib('VmRSS') / 1024;
    const peakRssMiB = kib('VmHWM') / 1024;
    // A process that has exited but not been reaped (a zombie, e.g. the worker at a restart) has a status file
    // without memory lines: no sample, rather than a NaN that would poison every later Math.max.
    if (!Number.isFinite(rssMiB) || !Number.isFinite(peakRssMiB)) return undefined;
    return { rssMiB, peakRssMiB };
  } catch {
    return undefined;
  }
}

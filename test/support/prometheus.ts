/**
 * A real Prometheus for the `prometheus` tier: Debian's `prometheus` and `promtool` (tools/scripts/install-prometheus.sh),
 * started on a free loopback port with a configuration of the test's own, and its HTTP API (targets, rules, alerts,
 * instant queries). Every wait polls with a bound; nothing sleeps for a fixed time.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { freePort, startProcess, stopProcess, waitFor, type ManagedProcess } from '../../tools/stack';

const run = promisify(execFile);
export const PROMETHEUS_BIN = process.env.BEL_PROMETHEUS ?? '/usr/bin/prometheus';
export const PROMTOOL_BIN = process.env.BEL_PROMTOOL ?? '/usr/bin/promtool';
/** The oldest Prometheus the rule file and the tier are proven with (Debian bookworm's). */
export const MIN_VERSION = [2, 42] as const;

/** Throws a message naming the install script when prometheus/promtool are missing or too old; returns the version. */
export async function requirePrometheus(): Promise<string> {
  for (const bin of [PROMETHEUS_BIN, PROMTOOL_BIN]) {
    if (!existsSync(bin))
      throw new Error(
        `${bin} is missing: run tools/scripts/install-prometheus.sh (apt: prometheus), as tools/scripts/test.sh does`,
      );
  }
  const { stdout } = await run(PROMETHEUS_BIN, ['--version']);
  const m = /version (\d+)\.(\d+)\.(\d+)/.exec(stdout);
  if (!m) throw new Error(`cannot read the version of ${PROMETHEUS_BIN}: ${stdout.slice(0, 200)}`);
  const [major, minor] = [Number(m[1]), Number(m[2])];
  if (major < MIN_VERSION[0] || (major === MIN_VERSION[0] && minor < MIN_VERSION[1])) {
    throw new Error(`${PROMETHEUS_BIN} is ${m[0]}; the prometheus tier needs >= ${MIN_VERSION.join('.')}`);
  }
  return `${m[1]}.${m[2]}.${m[3]}`;
}

/** Runs promtool; resolves to stdout + stderr, rejects with both on a non-zero exit. */
export async function promtool(...args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run(PROMTOOL_BIN, args, { maxBuffer: 16 << 20 });
    return `${stdout}${stderr}`;
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`promtool ${args.join(' ')} failed: ${x.message}\n${x.stdout ?? ''}${x.stderr ?? ''}`);
  }
}

/** One alert as `/api/v1/alerts` reports it (active alerts only: pending or firing). */
export interface ActiveAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
  activeAt: string;
  value: string;
}

/** A running Prometheus. */
export interface TestPrometheus {
  url: string;
  proc: ManagedProcess;
  /** Active alerts. */
  alerts(): Promise<ActiveAlert[]>;
  /** An instant query; the result vector as {labels, value}. */
  query(expr: string): Promise<Array<{ metric: Record<string, string>; value: number }>>;
  /** Waits until the alert is in `state` ('firing' by default); returns it. */
  untilAlert(name: string, opts?: { state?: 'pending' | 'firing'; timeoutMs?: number }): Promise<ActiveAlert>;
  /** Waits until the alert is neither pending nor firing (resolved). */
  untilResolved(name: string, timeoutMs?: number): Promise<void>;
  /** Waits until every scrape target's last scrape succeeded. */
  untilTargetsUp(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** What the test Prometheus scrapes and evaluates. */
export interface PrometheusOptions {
  dir: string;
  /** Scrape jobs: job name → `host:port` targets. */
  jobs: Record<string, string[]>;
  /** Rule files to load. */
  ruleFiles: string[];
  /** Scrape and evaluation interval; default `1s`. */
  interval?: string;
}

async function api<T>(url: string): Promise<T> {
  const res = await fetch(url);
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${url}: ${body.error ?? res.status}`);
  return body.data;
}

/** Starts Prometheus with the jobs and rule files given; resolves once it is ready. */
export async function startPrometheus(o: PrometheusOptions): Promise<TestPrometheus> {
  const interval = o.interval ?? '1s';
  mkdirSync(join(o.dir, 'data'), { recursive: true });
  const config = join(o.dir, 'prometheus.yml');
  writeFileSync(
    config,
    stringify({
      global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
      rule_files: o.ruleFiles,
      scrape_configs: Object.entries(o.jobs).map(([job, targets]) => ({
        job_name: job,
        static_configs: [{ targets }],
      })),
    }),
  );
  await promtool('check', 'config', config);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = startProcess(
    'prometheus',
    PROMETHEUS_BIN,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(o.dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ],
    join(o.dir, 'prometheus.log'),
  );
  await waitFor(async () => (await fetch(`${url}/-/ready`)).ok || undefined, {
    what: 'Prometheus ready',
    timeoutMs: 60_000,
    process: proc,
  });

  const p: TestPrometheus = {
    url,
    proc,
    alerts: async () => (await api<{ alerts: ActiveAlert[] }>(`${url}/api/v1/alerts`)).alerts,
    query: async (expr) =>
      (
        await api<{ result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(
          `${url}/api/v1/query?query=${encodeURIComponent(expr)}`,
        )
      ).result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) })),
    untilAlert: async (name, opts = {}) => {
      const state = opts.state ?? 'firing';
      let seen: ActiveAlert[] = [];
      try {
        return await waitFor(
          async () => {
            seen = await p.alerts();
            return seen.find((a) => a.labels.alertname === name && a.state === state);
          },
          { what: `alert ${name} ${state}`, timeoutMs: opts.timeoutMs ?? 90_000, intervalMs: 250, process: proc },
        );
      } catch (e) {
        throw new Error(
          `${(e as Error).message}; active alerts: ${JSON.stringify(seen.map((a) => `${a.labels.alertname}:${a.state}`))}`,
        );
      }
    },
    untilResolved: async (name, timeoutMs = 90_000) => {
      await waitFor(async () => !(await p.alerts()).some((a) => a.labels.alertname === name) || undefined, {
        what: `alert ${name} resolved`,
        timeoutMs,
        intervalMs: 250,
        process: proc,
      });
    },
    untilTargetsUp: async (timeoutMs = 60_000) => {
      let last = '';
      try {
        await waitFor(
          async () => {
            const t = await api<{ activeTargets: Array<{ health: string; scrapeUrl: string; lastError: string }> }>(
              `${url}/api/v1/targets`,
            );
            last = JSON.stringify(t.activeTargets.map((x) => [x.scrapeUrl, x.health, x.lastError]));
            return t.activeTargets.length > 0 && t.activeTargets.every((x) => x.health === 'up') ? true : undefined;
          },
          { what: 'every scrape target up', timeoutMs, intervalMs: 250, process: proc },
        );
      } catch (e) {
        throw new Error(`${(e as Error).message}; targets: ${last}`);
      }
    },
    stop: () => stopProcess(proc, 5000),
  };
  return p;
}

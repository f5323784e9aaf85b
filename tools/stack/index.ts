import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { applyCrd, BACKUP_BUCKET_CRD } from './crd';
import { startFakeGcs, type FakeGcs } from './fake-gcs';
import { startKubeControlPlane, type KubeControlPlane } from './kube';
import { startTemporalDevServer, type TemporalDevServer } from './temporal';
import { startTemporalPostgres, type TemporalPostgresServer } from './temporal-postgres';
import { temporalPostgresToolPaths, toolPaths, type ToolPaths } from './tools';

export { killProcess, startProcess, stopProcess, type ManagedProcess } from './processes';
export {
  startProductProcess,
  processMemory,
  WORKER_READY,
  WATCHER_READY,
  type ProductProcess,
  type ProductProcessOptions,
  type LogLine,
} from './product-process';
export { waitFor, logTail } from './wait';
export { freePort } from './ports';
export {
  toolPaths,
  temporalPostgresToolPaths,
  helmPath,
  cacheDir,
  type ToolPaths,
  type TemporalPostgresToolPaths,
} from './tools';
export { applyCrd, BACKUP_BUCKET_CRD, BACKUP_ENTRY_CRD } from './crd';
export { startKubeControlPlane, kubeconfigForUser, type KubeControlPlane } from './kube';
export { startTemporalDevServer, type TemporalDevServer } from './temporal';
export { startTemporalPostgres, type TemporalPostgresServer, type TemporalPostgresOptions } from './temporal-postgres';
export { startFakeGcs, type FakeGcs } from './fake-gcs';

/**
 * Which Temporal the stack runs: `dev` is the CLI's dev server (SQLite, one shard, Web UI); `postgres` is
 * `temporal-server start` on PostgreSQL with SQL visibility and 16 shards (tools/stack/temporal-postgres.ts), no Web UI.
 */
export type TemporalBackend = 'dev' | 'postgres';

/** The backend named by `BEL_STACK_TEMPORAL` (`dev` when unset); throws on any other value. */
export function temporalBackendFromEnv(env: NodeJS.ProcessEnv = process.env): TemporalBackend {
  const v = env.BEL_STACK_TEMPORAL?.trim() || 'dev';
  if (v !== 'dev' && v !== 'postgres') throw new Error(`BEL_STACK_TEMPORAL must be dev or postgres, not "${v}"`);
  return v;
}

/** Which parts of the local stack to start. All default to true. */
export interface StackOptions {
  kube?: boolean;
  temporal?: boolean;
  gcs?: boolean;
  /** Working folder; a new temp folder when unset. Removed on stop only when it was created here. */
  dir?: string;
  /** Temporal SQLite file (restart tests); in memory when unset. Dev server only. */
  temporalDbFile?: string;
  /** Which Temporal to run; default `BEL_STACK_TEMPORAL`, else `dev` (see {@link TemporalBackend}). */
  temporalBackend?: TemporalBackend;
  /** Progress lines (the dev stack prints them). */
  log?: (msg: string) => void;
}

/** The running local stack: what tests, the dev stack and the benchmarks share. */
export interface Stack {
  dir: string;
  tools: ToolPaths;
  kube?: KubeControlPlane;
  temporal?: TemporalDevServer | TemporalPostgresServer;
  gcs?: FakeGcs;
  /** Root of the `local` storage provider: one folder per bucket. */
  localDir: string;
  /** The stack environment (docs/design.md §1): KUBECONFIG, TEMPORAL_ADDRESS, ... (only keys of started parts). */
  env(): Record<string, string>;
  /** Writes {@link Stack.env} as shell `KEY=value` lines. */
  writeEnvFile(file: string): void;
  /** Stops everything that was started, in reverse order; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts the local stack: etcd + kube-apiserver with the BackupEntry CRD, the Temporal dev server (Web UI included,
 * search attributes registered) — or, with `temporalBackend: 'postgres'` / `BEL_STACK_TEMPORAL=postgres`,
 * temporal-server on PostgreSQL — and fake-gcs-server, on free ports. If any part fails, the parts already started are
 * stopped before the error is rethrown.
 */
export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const tools = toolPaths();
  const backend = opts.temporalBackend ?? temporalBackendFromEnv();
  if (backend === 'postgres' && opts.temporalDbFile) throw new Error('temporalDbFile is for the dev server only');
  // Checked before anything starts, so a missing tool fails at once with the command that installs it.
  const pgTools = backend === 'postgres' && opts.temporal !== false ? temporalPostgresToolPaths() : undefined;
  const ownDir = !opts.dir;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'bel-stack-'));
  const localDir = join(dir, 'local-backupbuckets');
  mkdirSync(localDir, { recursive: true });
  const log = opts.log;
  const stack: Stack = {
    dir,
    tools,
    localDir,
    env() {
      const e: Record<string, string> = {
        BACKUP_LOCAL_DIR: localDir,
        KUBECTL: tools.KUBECTL,
        TEMPORAL_CLI: tools.TEMPORAL_CLI,
      };
      if (this.kube) e.KUBECONFIG = this.kube.kubeconfig;
      if (this.temporal) {
        Object.assign(e, {
          TEMPORAL_ADDRESS: this.temporal.address,
          TEMPORAL_NAMESPACE: this.temporal.namespace,
          ...(this.temporal.uiUrl ? { TEMPORAL_UI_URL: this.temporal.uiUrl } : {}),
        });
      }
      if (this.gcs) e.GCS_API_ENDPOINT = this.gcs.endpoint;
      return e;
    },
    writeEnvFile(file) {
      const body = Object.entries(this.env())
        .map(([k, v]) => `${k}=${shellQuote(v)}`)
        .join('\n');
      writeFileSync(file, `${body}\n`);
    },
    async stop() {
      const parts = [this.gcs, this.temporal, this.kube];
      this.gcs = this.temporal = this.kube = undefined;
      for (const p of parts) await p?.stop();
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    // The three parts are independent: start them side by side, and wait for all before judging, so nothing is
    // still starting when a failure stops the others.
    const results = await Promise.allSettled([
      opts.kube !== false &&
        (async () => {
          stack.kube = await withRetries('kube-apiserver + etcd', log, (attempt) =>
            startKubeControlPlane({
              etcdBin: tools.ETCD,
              apiserverBin: tools.KUBE_APISERVER,
              dir: join(dir, attempt === 1 ? 'kube' : `kube-${attempt}`),
              ...(log ? { log } : {}),
            }),
          );
          const kc = new KubeConfig();
          kc.loadFromFile(stack.kube.kubeconfig);
          await applyCrd(kc);
          await applyCrd(kc, BACKUP_BUCKET_CRD);
          log?.('BackupEntry and BackupBucket CRDs established');
        })(),
      opts.temporal !== false &&
        (async () => {
          mkdirSync(join(dir, 'temporal'), { recursive: true });
          if (pgTools) {
            stack.temporal = await withRetries('temporal-server on postgresql', log, (attempt) =>
              startTemporalPostgres({
                tools: pgTools,
                temporalCli: tools.TEMPORAL_CLI,
                dir: join(dir, attempt === 1 ? 'temporal' : `temporal-${attempt}`),
                ...(log ? { log } : {}),
              }),
            );
            return;
          }
          stack.temporal = await withRetries('temporal dev server', log, () =>
            startTemporalDevServer({
              temporalBin: tools.TEMPORAL_CLI,
              dir: join(dir, 'temporal'),
              ...(opts.temporalDbFile ? { dbFile: opts.temporalDbFile } : {}),
              ...(log ? { log } : {}),
            }),
          );
        })(),
      opts.gcs !== false &&
        (async () => {
          mkdirSync(join(dir, 'gcs'), { recursive: true });
          stack.gcs = await withRetries('fake-gcs-server', log, () =>
            startFakeGcs({ bin: tools.FAKE_GCS_SERVER, dir: join(dir, 'gcs'), ...(log ? { log } : {}) }),
          );
        })(),
    ]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  } catch (err) {
    await stack.stop().catch(() => undefined);
    throw err;
  }
  return stack;
}

/**
 * Starts a part up to 3 times: free ports are only free until used, so another process can take one first
 * (envtest retries the same way). A process left over from a failed attempt (an etcd whose API server lost its port)
 * is killed with the rest when this process exits.
 */
async function withRetries<T>(
  what: string,
  log: ((m: string) => void) | undefined,
  start: (attempt: number) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await start(attempt);
    } catch (err) {
      if (attempt >= 3) throw err;
      log?.(
        `${what} did not start (attempt ${attempt}): ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}; retrying`,
      );
    }
  }
}

function shellQuote(v: string): string {
  return /^[A-Za-z0-9_./:@=-]*$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`;
}

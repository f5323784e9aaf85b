/**
 * Configuration of the worker and the watcher: read from the environment once, validated, typed and frozen.
 * The only module that reads `process.env` (the Temporal connection is read by @temporalio/envconfig, called from
 * here too). Every option is documented in the README's configuration table with its default.
 */
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { z } from 'zod';
import {
  DEFAULT_CLASSES,
  DEFAULT_RETENTION_MS,
  DEFAULT_TYPES,
  defaultTaskQueue,
  formatDuration,
  parseDuration,
} from '../domain';

const duration = (name: string) =>
  z.string().transform((text, ctx) => {
    const d = parseDuration(text);
    if (!d.ok) {
      ctx.addIssue({ code: 'custom', message: `${name}: ${d.error.message}` });
      return z.NEVER;
    }
    return d.value;
  });
const list = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean),
);
const positiveInt = z.coerce.number().int().positive();

/**
 * What a worker process serves (`BEL_WORKER_ROLES`): `workflows` = the BackupEntry workflow and its Kubernetes steps
 * (local activities, run by the worker that runs the workflow task); `storage` = the activities scheduled on the task
 * queue (inventory and deletion of backups, and the Kubernetes steps of histories from before the local-activity
 * patch).
 */
export const WORKER_ROLES = ['workflows', 'storage'] as const;
/** One of {@link WORKER_ROLES}. */
export type WorkerRole = (typeof WORKER_ROLES)[number];

/**
 * The built-in cluster identity: fine for one seed (dev stack, tests), but two seeds left at it would share workflow IDs
 * and task queues. {@link checkClusterIdentity} refuses it inside a Kubernetes pod.
 */
export const DEFAULT_CLUSTER_IDENTITY = 'local-seed';

const schema = z.object({
  BEL_CLUSTER_IDENTITY: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'lowercase letters, digits, "-" and "."')
    .default(DEFAULT_CLUSTER_IDENTITY),
  /** Unset: `backupentry-lifecycle/<BEL_CLUSTER_IDENTITY>` (domain `defaultTaskQueue`), distinct per seed. */
  BEL_TASK_QUEUE: z.string().min(1).optional(),
  BEL_PROVIDER_TYPES: list.prefault(DEFAULT_TYPES.join(',')),
  BEL_CLASSES: list.prefault(DEFAULT_CLASSES.join(',')),
  BEL_PROVIDER_SECRET_NAMESPACES: list
    .pipe(
      z
        .array(
          z
            .string()
            .max(63)
            .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'namespace names, comma-separated'),
        )
        .min(1, 'at least one namespace'),
    )
    .prefault('garden'),
  BEL_DEFAULT_RETENTION: duration('BEL_DEFAULT_RETENTION').prefault(formatDuration(DEFAULT_RETENTION_MS)),
  BEL_RETENTION_MODE: z.enum(['release-entry', 'hold-entry']).default('release-entry'),
  BACKUP_LOCAL_DIR: z.string().min(1).optional(),
  BEL_LOCAL_HOST_PATH: z.string().min(1).default('/etc/gardener/local-backupbuckets'),
  GCS_API_ENDPOINT: z.url().optional(),
  BEL_GCS_MAX_WRITES_PER_SECOND: positiveInt.default(1000),
  BEL_GCP_STS_ENDPOINT: z.url({ protocol: /^https?$/ }).default('https://sts.googleapis.com/v1/token'),
  BEL_GCP_IAM_CREDENTIALS_ENDPOINT: z.url({ protocol: /^https?$/ }).default('https://iamcredentials.googleapis.com'),
  BEL_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
  BEL_MAX_CACHED_WORKFLOWS: positiveInt.default(500),
  BEL_WORKER_ROLES: list
    .pipe(
      z
        .array(z.enum(WORKER_ROLES, { message: `each of ${WORKER_ROLES.join(', ')}, comma-separated` }))
        .min(1, `at least one of ${WORKER_ROLES.join(', ')}`),
    )
    .prefault(WORKER_ROLES.join(',')),
  BEL_SHUTDOWN_GRACE: duration('BEL_SHUTDOWN_GRACE').prefault('30s'),
  BEL_WORKFLOW_BUNDLE: z.string().min(1).optional(),
  BEL_MAX_CONCURRENT_ACTIVITY_TASKS: positiveInt.max(10_000).default(50),
  BEL_MAX_CONCURRENT_WORKFLOW_TASKS: positiveInt.max(10_000).default(40),
  BEL_WORKER_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  BEL_WORKER_SDK_METRICS_ADDRESS: z
    .string()
    .transform((text, ctx) => {
      if (text === 'off') return undefined;
      const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
      const port = m ? Number(m[2]) : NaN;
      if (!m || port > 65535) {
        ctx.addIssue({
          code: 'custom',
          message: 'BEL_WORKER_SDK_METRICS_ADDRESS: "<host>:<port>" (port 0 = a free port) or "off"',
        });
        return z.NEVER;
      }
      return { host: m[1]!, port };
    })
    .prefault('127.0.0.1:9464'),
  BEL_WATCHER_LEASE_NAME: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'a DNS subdomain name')
    .default('backupentry-lifecycle-watcher'),
  BEL_WATCHER_LEASE_NAMESPACE: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a namespace name')
    .default('default'),
  BEL_WATCHER_IDENTITY: z.string().min(1).max(128).optional(),
  BEL_WATCHER_LEASE_DURATION: duration('BEL_WATCHER_LEASE_DURATION').prefault('15s'),
  BEL_WATCHER_RENEW_DEADLINE: duration('BEL_WATCHER_RENEW_DEADLINE').prefault('10s'),
  BEL_WATCHER_RETRY_PERIOD: duration('BEL_WATCHER_RETRY_PERIOD').prefault('2s'),
  BEL_WATCHER_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8081),
  BEL_WATCHER_IDLE_TIMEOUT: duration('BEL_WATCHER_IDLE_TIMEOUT').prefault('3m'),
  BEL_WATCHER_WATCH_TIMEOUT: duration('BEL_WATCHER_WATCH_TIMEOUT').prefault('5m'),
  BEL_WATCHER_RESYNC_PERIOD: duration('BEL_WATCHER_RESYNC_PERIOD').prefault('30m'),
  BEL_WATCHER_CONCURRENCY: positiveInt.max(256).default(8),
  BEL_WATCHER_CALENDAR_PERIOD: duration('BEL_WATCHER_CALENDAR_PERIOD').prefault('30s'),
});

/**
 * Every variable {@link loadConfig} reads besides the Temporal connection (`TEMPORAL_*`, read by envconfig) and
 * `KUBECONFIG` (read by the Kubernetes client). Tests check that the README documents each and that the deployment
 * files set no other `BEL_*` variable.
 */
export const CONFIG_VARIABLES: readonly string[] = Object.freeze(Object.keys(schema.shape));

/** Validated configuration. */
export interface AppConfig {
  /**
   * `BEL_CLUSTER_IDENTITY`: names this seed in workflow IDs (`backupentry/<identity>/<entry>`); must stay stable across
   * restarts.
   * @default 'local-seed' ({@link DEFAULT_CLUSTER_IDENTITY}; refused in a Kubernetes pod: {@link checkClusterIdentity})
   */
  clusterIdentity: string;
  /**
   * `BEL_TASK_QUEUE`, default `backupentry-lifecycle/<clusterIdentity>`: each seed polls its own queue.
   * @default computed: `backupentry-lifecycle/<BEL_CLUSTER_IDENTITY>` (domain `defaultTaskQueue`)
   */
  taskQueue: string;
  /**
   * Accepted but risky settings, for the processes to log as warnings at start (e.g. a `BEL_TASK_QUEUE` without the
   * cluster identity). Never contains a value that could be a credential.
   */
  warnings: readonly string[];
  /**
   * `BEL_PROVIDER_TYPES` (comma-separated): BackupEntry `spec.type` values this controller serves.
   * @default ['gcp', 'local'] (`gcp,local`; domain `DEFAULT_TYPES`)
   */
  providerTypes: readonly string[];
  /**
   * `BEL_CLASSES` (comma-separated): BackupEntry `spec.class` values served (empty class = `shoot`).
   * @default ['shoot'] (`shoot`; domain `DEFAULT_CLASSES`)
   */
  classes: readonly string[];
  /**
   * `BEL_PROVIDER_SECRET_NAMESPACES` (comma-separated): the namespaces of the provider secrets, the Helm chart's
   * `providerSecretNamespaces` (where its RBAC lets the processes read secrets). The watcher lists and watches secrets
   * in each of them and in no other namespace: an entry whose `spec.secretRef` points elsewhere gets no rotation
   * watch (a warning says so), and `garden` is not watched unless listed.
   * @default ['garden'] (`garden`, where gardenlet puts the extension secrets on a seed)
   */
  providerSecretNamespaces: readonly string[];
  /**
   * `BEL_DEFAULT_RETENTION` (Go duration): retention after an entry's deletion when the entry has no retention
   * annotation.
   * @default 72h (259 200 000 ms; domain `DEFAULT_RETENTION_MS`)
   */
  defaultRetentionMs: number;
  /**
   * `BEL_RETENTION_MODE`: `release-entry` releases a deleted BackupEntry once its retention is registered (gardenlet
   * finishes in seconds; the retention lives on in the workflow and in a record on the credentials secret);
   * `hold-entry` keeps the entry until its backups are deleted (kubectl sees it; gardenlet re-runs its delete loop every
   * 5 s meanwhile). See docs/adr/0003-release-the-entry-during-retention.md.
   * @default 'release-entry'
   */
  retentionMode: 'release-entry' | 'hold-entry';
  local: {
    /**
     * `BACKUP_LOCAL_DIR`: root folder of the `local` provider, one folder per bucket.
     * @default undefined (required when `BEL_PROVIDER_TYPES` includes `local`, as it does by default)
     */
    rootDir?: string;
    /**
     * `BEL_LOCAL_HOST_PATH`: the `hostPath` written into `local` etcd-backup secrets.
     * @default '/etc/gardener/local-backupbuckets'
     */
    hostPath: string;
  };
  gcs: {
    /**
     * `GCS_API_ENDPOINT`: GCS JSON API endpoint override (emulators).
     * @default undefined (Google's endpoint)
     */
    apiEndpoint?: string;
    /**
     * `BEL_GCS_MAX_WRITES_PER_SECOND`: per-bucket delete rate cap (GCS's initial bucket write budget).
     * @default 1000
     */
    maxWritesPerSecond: number;
    /**
     * `BEL_GCP_STS_ENDPOINT`: the token exchange (STS) endpoint where workload-identity tokens are exchanged for
     * access tokens. It wins over the `token_url` of a secret's credential config: where this process sends a
     * credential is the operator's choice, not the secret's (the config's `token_url` is still copied into the
     * etcd-backup secret for etcd-backup-restore).
     * @default 'https://sts.googleapis.com/v1/token'
     */
    stsEndpoint: string;
    /**
     * `BEL_GCP_IAM_CREDENTIALS_ENDPOINT`: base URL of the IAM Service Account Credentials API, used when a workload
     * identity config impersonates a service account (only the account's email is taken from the config).
     * @default 'https://iamcredentials.googleapis.com'
     */
    iamCredentialsEndpoint: string;
  };
  /**
   * `BEL_LOG_LEVEL`: the lowest level logged.
   * @default 'info'
   */
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  worker: WorkerConfig;
  temporal: { address: string; namespace: string; connect: ReturnType<typeof loadClientConnectConfig> };
  watcher: WatcherConfig;
}

/** Options of the worker process (worker/main.ts); durations in ms. */
export interface WorkerConfig {
  /**
   * `BEL_WORKER_ROLES` (comma-separated: `workflows`, `storage`): what this process serves. Both (the default) is one
   * process for a seed; `workflows` alone polls workflow tasks and runs the Kubernetes steps as local activities but
   * polls no activity tasks; `storage` alone polls only activity tasks (deletions), so a long deletion's memory and
   * CPU never share a process with the workflow cache. Every role polls the same task queue; a seed needs each role
   * served by at least one process.
   * @default { workflows: true, storage: true } (`workflows,storage`)
   */
  roles: Readonly<Record<WorkerRole, boolean>>;
  /**
   * `BEL_MAX_CACHED_WORKFLOWS`: sticky cache size: workflows kept in memory between tasks (evicted ones are replayed
   * when they wake).
   * @default 500
   */
  maxCachedWorkflows: number;
  /**
   * `BEL_SHUTDOWN_GRACE` (Go duration): time activities get to finish or checkpoint after SIGTERM before they are
   * cancelled.
   * @default 30s (30 000 ms)
   */
  shutdownGraceMs: number;
  /**
   * `BEL_WORKFLOW_BUNDLE`: a prebuilt workflow bundle (production).
   * @default undefined (the workflows are bundled at start)
   */
  workflowBundlePath?: string;
  /**
   * `BEL_MAX_CONCURRENT_ACTIVITY_TASKS`: activity task slots (deletions, Kubernetes calls) in flight at once.
   * @default 50
   */
  maxConcurrentActivityTaskExecutions: number;
  /**
   * `BEL_MAX_CONCURRENT_WORKFLOW_TASKS`: workflow task slots in flight at once.
   * @default 40
   */
  maxConcurrentWorkflowTaskExecutions: number;
  /**
   * `BEL_WORKER_HTTP_PORT`: port of `/metrics`, `/healthz` and `/readyz`; 0 picks a free port (tests).
   * @default 8080
   */
  httpPort: number;
  /**
   * `BEL_WORKER_SDK_METRICS_ADDRESS` (`<host>:<port>` or `off`): where the Temporal runtime's Prometheus exporter
   * listens (its metrics are also appended to `/metrics`); port 0 picks a free port at start; undefined
   * (`BEL_WORKER_SDK_METRICS_ADDRESS=off`) = no SDK metrics.
   * @default { host: '127.0.0.1', port: 9464 } (`127.0.0.1:9464`; `BEL_WORKER_SDK_METRICS_ADDRESS` unset)
   */
  sdkMetrics?: { host: string; port: number };
}

/** Options of the watcher (starter/watcher.ts); durations in ms. */
export interface WatcherConfig {
  /**
   * `BEL_WATCHER_LEASE_NAME`: the `coordination.k8s.io/v1` Lease the replicas elect a leader on.
   * @default 'backupentry-lifecycle-watcher'
   */
  leaseName: string;
  /**
   * `BEL_WATCHER_LEASE_NAMESPACE`: namespace of that Lease.
   * @default 'default'
   */
  leaseNamespace: string;
  /**
   * `BEL_WATCHER_IDENTITY`: holder identity written into the Lease.
   * @default undefined (a `<hostname>-<random>` value is picked at start)
   */
  identity?: string;
  /**
   * `BEL_WATCHER_LEASE_DURATION` (Go duration), client-go semantics: a non-leader takes the lease over when its holder
   * has not renewed it for this long.
   * @default 15s (15 000 ms)
   */
  leaseDurationMs: number;
  /**
   * `BEL_WATCHER_RENEW_DEADLINE` (Go duration): a leader that could not renew for this long stops acting (always <
   * leaseDurationMs).
   * @default 10s (10 000 ms)
   */
  renewDeadlineMs: number;
  /**
   * `BEL_WATCHER_RETRY_PERIOD` (Go duration): interval between acquire/renew attempts (1.2 × retryPeriodMs <
   * renewDeadlineMs).
   * @default 2s (2 000 ms)
   */
  retryPeriodMs: number;
  /**
   * `BEL_WATCHER_HTTP_PORT`: port of `/metrics`, `/healthz` and `/readyz`; 0 picks a free port (tests).
   * @default 8081
   */
  httpPort: number;
  /**
   * `BEL_WATCHER_IDLE_TIMEOUT` (Go duration, at least 1s): a watch that delivered nothing (no event, no bookmark) for
   * this long is restarted: the silent-hang watchdog.
   * @default 3m (180 000 ms)
   */
  idleTimeoutMs: number;
  /**
   * `BEL_WATCHER_WATCH_TIMEOUT` (Go duration, at least 1s): server-side timeout of one watch request; each request uses
   * a random value in [t, 2t), as client-go does.
   * @default 5m (300 000 ms)
   */
  watchTimeoutMs: number;
  /**
   * `BEL_WATCHER_RESYNC_PERIOD` (Go duration): full relist period (level-based safety net; adds no workflow history);
   * 0 disables.
   * @default 30m (1 800 000 ms)
   */
  resyncPeriodMs: number;
  /**
   * `BEL_WATCHER_CONCURRENCY`: Temporal calls (start/signal) in flight at once.
   * @default 8
   */
  concurrency: number;
  /**
   * `BEL_WATCHER_CALENDAR_PERIOD` (Go duration): how often the leader reads the retention calendar (retaining workflows
   * by deadline) from Temporal visibility for its metrics (starter/retention-calendar.ts); 0 disables.
   * @default 30s (30 000 ms)
   */
  calendarPeriodMs: number;
}

/** Validates `env` against `s`; throws {@link ConfigError} listing every bad variable (names and rules, never values). */
function parseEnv<S extends z.ZodType>(s: S, env: NodeJS.ProcessEnv): z.output<S> {
  const parsed = s.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'environment'}: ${i.message}`);
  throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
}

/**
 * The cluster identity rule shared by the worker, the watcher and the CLI: inside a Kubernetes pod
 * (`KUBERNETES_SERVICE_HOST` set, as the kubelet does for every container) the built-in default identity is refused,
 * because every seed left at it would share workflow IDs (and, by default, the task queue) in a shared Temporal
 * namespace. Outside a cluster (dev stack, tests) the default stays usable. Returns the problem, or undefined.
 */
export function checkClusterIdentity(identity: string, env: NodeJS.ProcessEnv): string | undefined {
  if (identity !== DEFAULT_CLUSTER_IDENTITY || !env.KUBERNETES_SERVICE_HOST) return undefined;
  return (
    `BEL_CLUSTER_IDENTITY: running in a Kubernetes pod (KUBERNETES_SERVICE_HOST is set) with the built-in default ` +
    `identity "${DEFAULT_CLUSTER_IDENTITY}"; set BEL_CLUSTER_IDENTITY to this seed's cluster identity, unique among the ` +
    `seeds that share the Temporal namespace (the Helm chart sets it from gardener.seed.clusterIdentity, which gardenlet ` +
    `injects, or from the chart value clusterIdentity)`
  );
}

/** Thrown when the environment does not describe a valid configuration; lists every problem at once. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Reads and validates the configuration from `env` (default `process.env`). Throws {@link ConfigError} naming each
 * bad variable and why; never includes a value that could be a credential.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<AppConfig> {
  const c = parseEnv(schema, env);
  const identityProblem = checkClusterIdentity(c.BEL_CLUSTER_IDENTITY, env);
  if (identityProblem) throw new ConfigError(`invalid configuration:\n  ${identityProblem}`);
  const taskQueue = c.BEL_TASK_QUEUE ?? defaultTaskQueue(c.BEL_CLUSTER_IDENTITY);
  const warnings =
    c.BEL_TASK_QUEUE !== undefined && !c.BEL_TASK_QUEUE.includes(c.BEL_CLUSTER_IDENTITY)
      ? [
          `BEL_TASK_QUEUE "${c.BEL_TASK_QUEUE}" does not contain BEL_CLUSTER_IDENTITY "${c.BEL_CLUSTER_IDENTITY}": if another seed's ` +
            `workers poll the same queue in this Temporal namespace, they run this seed's activities against their own API server ` +
            `(unset BEL_TASK_QUEUE for the default ${defaultTaskQueue(c.BEL_CLUSTER_IDENTITY)})`,
        ]
      : [];
  if (c.BEL_PROVIDER_TYPES.includes('local') && !c.BACKUP_LOCAL_DIR) {
    throw new ConfigError(
      'invalid configuration:\n  BACKUP_LOCAL_DIR: required when BEL_PROVIDER_TYPES includes "local" (root folder with one folder per bucket)',
    );
  }
  const w = {
    lease: c.BEL_WATCHER_LEASE_DURATION,
    renew: c.BEL_WATCHER_RENEW_DEADLINE,
    retry: c.BEL_WATCHER_RETRY_PERIOD,
  };
  const leaderProblems = [
    ...(w.renew >= w.lease ? ['BEL_WATCHER_RENEW_DEADLINE: must be shorter than BEL_WATCHER_LEASE_DURATION'] : []),
    ...(w.retry * 1.2 >= w.renew
      ? ['BEL_WATCHER_RETRY_PERIOD: 1.2 × the retry period must be shorter than BEL_WATCHER_RENEW_DEADLINE']
      : []),
    ...(w.retry <= 0 ? ['BEL_WATCHER_RETRY_PERIOD: must be positive'] : []),
    ...(c.BEL_WATCHER_IDLE_TIMEOUT < 1000 ? ['BEL_WATCHER_IDLE_TIMEOUT: must be at least 1s'] : []),
    ...(c.BEL_WATCHER_WATCH_TIMEOUT < 1000 ? ['BEL_WATCHER_WATCH_TIMEOUT: must be at least 1s'] : []),
  ];
  if (leaderProblems.length) throw new ConfigError(`invalid configuration:\n  ${leaderProblems.join('\n  ')}`);
  const connect = loadClientConnectConfig({ overrideEnvVars: env as Record<string, string> });
  const address = connect.connectionOptions.address ?? 'localhost:7233';
  return Object.freeze({
    clusterIdentity: c.BEL_CLUSTER_IDENTITY,
    taskQueue,
    warnings: Object.freeze(warnings),
    providerTypes: c.BEL_PROVIDER_TYPES,
    classes: c.BEL_CLASSES,
    providerSecretNamespaces: Object.freeze([...new Set(c.BEL_PROVIDER_SECRET_NAMESPACES)]),
    defaultRetentionMs: c.BEL_DEFAULT_RETENTION,
    retentionMode: c.BEL_RETENTION_MODE,
    local: { ...(c.BACKUP_LOCAL_DIR ? { rootDir: c.BACKUP_LOCAL_DIR } : {}), hostPath: c.BEL_LOCAL_HOST_PATH },
    gcs: {
      ...(c.GCS_API_ENDPOINT ? { apiEndpoint: c.GCS_API_ENDPOINT } : {}),
      maxWritesPerSecond: c.BEL_GCS_MAX_WRITES_PER_SECOND,
      stsEndpoint: c.BEL_GCP_STS_ENDPOINT,
      iamCredentialsEndpoint: c.BEL_GCP_IAM_CREDENTIALS_ENDPOINT,
    },
    logLevel: c.BEL_LOG_LEVEL,
    worker: {
      roles: Object.freeze({
        workflows: c.BEL_WORKER_ROLES.includes('workflows'),
        storage: c.BEL_WORKER_ROLES.includes('storage'),
      }),
      maxCachedWorkflows: c.BEL_MAX_CACHED_WORKFLOWS,
      shutdownGraceMs: c.BEL_SHUTDOWN_GRACE,
      ...(c.BEL_WORKFLOW_BUNDLE ? { workflowBundlePath: c.BEL_WORKFLOW_BUNDLE } : {}),
      maxConcurrentActivityTaskExecutions: c.BEL_MAX_CONCURRENT_ACTIVITY_TASKS,
      maxConcurrentWorkflowTaskExecutions: c.BEL_MAX_CONCURRENT_WORKFLOW_TASKS,
      httpPort: c.BEL_WORKER_HTTP_PORT,
      ...(c.BEL_WORKER_SDK_METRICS_ADDRESS ? { sdkMetrics: c.BEL_WORKER_SDK_METRICS_ADDRESS } : {}),
    },
    temporal: { address, namespace: connect.namespace ?? 'default', connect },
    watcher: {
      leaseName: c.BEL_WATCHER_LEASE_NAME,
      leaseNamespace: c.BEL_WATCHER_LEASE_NAMESPACE,
      ...(c.BEL_WATCHER_IDENTITY ? { identity: c.BEL_WATCHER_IDENTITY } : {}),
      leaseDurationMs: w.lease,
      renewDeadlineMs: w.renew,
      retryPeriodMs: w.retry,
      httpPort: c.BEL_WATCHER_HTTP_PORT,
      idleTimeoutMs: c.BEL_WATCHER_IDLE_TIMEOUT,
      watchTimeoutMs: c.BEL_WATCHER_WATCH_TIMEOUT,
      resyncPeriodMs: c.BEL_WATCHER_RESYNC_PERIOD,
      concurrency: c.BEL_WATCHER_CONCURRENCY,
      calendarPeriodMs: c.BEL_WATCHER_CALENDAR_PERIOD,
    },
  });
}

/** Configuration of the operators' CLI (`starter/cli.ts`): only what it needs, so it runs without storage settings. */
export interface CliConfig {
  /** Same as the worker's: workflow IDs are `backupentry/<clusterIdentity>/<entry>`. */
  clusterIdentity: string;
  /** Default of `--by`/`--as` (who asked, recorded in the decision log): `$USER`, else `$LOGNAME`, else `unknown`. */
  user: string;
  /** How long a command waits for the worker to answer a query or an update before giving up (`BEL_CLI_TIMEOUT`, default 60s). */
  timeoutMs: number;
  /** The Temporal connection, read by @temporalio/envconfig from the same variables (and profiles) as the worker's. */
  temporal: AppConfig['temporal'];
}

const cliSchema = z.object({
  BEL_CLUSTER_IDENTITY: schema.shape.BEL_CLUSTER_IDENTITY,
  BEL_CLI_TIMEOUT: duration('BEL_CLI_TIMEOUT').prefault('60s'),
  USER: z.string().optional(),
  LOGNAME: z.string().optional(),
});

/**
 * Reads and validates the CLI's configuration from `env` (default `process.env`): `BEL_CLUSTER_IDENTITY`,
 * `BEL_CLI_TIMEOUT`, `USER`/`LOGNAME` and the Temporal connection (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`,
 * `TEMPORAL_API_KEY`, `TEMPORAL_TLS_*`, profiles). Throws {@link ConfigError} naming each bad variable.
 */
export function loadCliConfig(env: NodeJS.ProcessEnv = process.env): Readonly<CliConfig> {
  const c = parseEnv(cliSchema, env);
  const identityProblem = checkClusterIdentity(c.BEL_CLUSTER_IDENTITY, env);
  if (identityProblem) throw new ConfigError(`invalid configuration:\n  ${identityProblem}`);
  const connect = loadClientConnectConfig({ overrideEnvVars: env as Record<string, string> });
  const address = connect.connectionOptions.address ?? 'localhost:7233';
  return Object.freeze({
    clusterIdentity: c.BEL_CLUSTER_IDENTITY,
    user: c.USER?.trim() || c.LOGNAME?.trim() || 'unknown',
    timeoutMs: c.BEL_CLI_TIMEOUT,
    temporal: { address, namespace: connect.namespace ?? 'default', connect },
  });
}

/**
 * Configuration of the worker and the watcher: read from the environment once, validated, typed and frozen.
 * The only module that reads `process.env` (the Temporal connection is read by @temporalio/envconfig, called from
 * here too). Every option is documented in the README's configuration table with its default.
 */
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { z } from 'zod';
import { DEFAULT_CLASSES, DEFAULT_TYPES, TASK_QUEUE_DEFAULT, parseDuration } from '../domain';

const duration = (name: string) => z.string().transform((text, ctx) => {
  const d = parseDuration(text);
  if (!d.ok) {
    ctx.addIssue({ code: 'custom', message: `${name}: ${d.error.message}` });
    return z.NEVER;
  }
  return d.value;
});
const list = z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));
const positiveInt = z.coerce.number().int().positive();

const schema = z.object({
  BEL_CLUSTER_IDENTITY: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'lowercase letters, digits, "-" and "."').default('local-seed'),
  BEL_TASK_QUEUE: z.string().min(1).default(TASK_QUEUE_DEFAULT),
  BEL_PROVIDER_TYPES: list.prefault(DEFAULT_TYPES.join(',')),
  BEL_CLASSES: list.prefault(DEFAULT_CLASSES.join(',')),
  BEL_DEFAULT_RETENTION: duration('BEL_DEFAULT_RETENTION').prefault('72h'),
  BACKUP_LOCAL_DIR: z.string().min(1).optional(),
  BEL_LOCAL_HOST_PATH: z.string().min(1).default('/etc/gardener/local-backupbuckets'),
  GCS_API_ENDPOINT: z.url().optional(),
  BEL_GCS_MAX_WRITES_PER_SECOND: positiveInt.default(1000),
  BEL_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
  BEL_MAX_CACHED_WORKFLOWS: positiveInt.default(500),
  BEL_SHUTDOWN_GRACE: duration('BEL_SHUTDOWN_GRACE').prefault('30s'),
  BEL_WORKFLOW_BUNDLE: z.string().min(1).optional(),
});

/** Validated configuration. */
export interface AppConfig {
  /** Names this seed in workflow IDs (`backupentry/<identity>/<entry>`); must stay stable across restarts. */
  clusterIdentity: string;
  taskQueue: string;
  /** BackupEntry `spec.type` values this controller serves. */
  providerTypes: readonly string[];
  /** BackupEntry `spec.class` values served (empty class = `shoot`). */
  classes: readonly string[];
  defaultRetentionMs: number;
  local: { rootDir?: string; hostPath: string };
  gcs: { apiEndpoint?: string; maxWritesPerSecond: number };
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  /** `workflowBundlePath`: a prebuilt workflow bundle (production); bundled at start when unset. */
  worker: { maxCachedWorkflows: number; shutdownGraceMs: number; workflowBundlePath?: string };
  temporal: { address: string; namespace: string; connect: ReturnType<typeof loadClientConnectConfig> };
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
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'environment'}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const c = parsed.data;
  if (c.BEL_PROVIDER_TYPES.includes('local') && !c.BACKUP_LOCAL_DIR) {
    throw new ConfigError('invalid configuration:\n  BACKUP_LOCAL_DIR: required when BEL_PROVIDER_TYPES includes "local" (root folder with one folder per bucket)');
  }
  const connect = loadClientConnectConfig({ overrideEnvVars: env as Record<string, string> });
  const address = connect.connectionOptions.address ?? 'localhost:7233';
  return Object.freeze({
    clusterIdentity: c.BEL_CLUSTER_IDENTITY, taskQueue: c.BEL_TASK_QUEUE, providerTypes: c.BEL_PROVIDER_TYPES, classes: c.BEL_CLASSES,
    defaultRetentionMs: c.BEL_DEFAULT_RETENTION,
    local: { ...(c.BACKUP_LOCAL_DIR ? { rootDir: c.BACKUP_LOCAL_DIR } : {}), hostPath: c.BEL_LOCAL_HOST_PATH },
    gcs: { ...(c.GCS_API_ENDPOINT ? { apiEndpoint: c.GCS_API_ENDPOINT } : {}), maxWritesPerSecond: c.BEL_GCS_MAX_WRITES_PER_SECOND },
    logLevel: c.BEL_LOG_LEVEL,
    worker: { maxCachedWorkflows: c.BEL_MAX_CACHED_WORKFLOWS, shutdownGraceMs: c.BEL_SHUTDOWN_GRACE,
      ...(c.BEL_WORKFLOW_BUNDLE ? { workflowBundlePath: c.BEL_WORKFLOW_BUNDLE } : {}) },
    temporal: { address, namespace: connect.namespace ?? 'default', connect },
  });
}

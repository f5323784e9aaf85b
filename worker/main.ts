/**
 * The worker process: hosts the BackupEntry workflow and its activities. Composition root: the only place that
 * builds real adapters (Kubernetes client, storage providers) from the configuration.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import type { StorageProvider } from '../activities/storage-port';
import { createKubeGateway } from '../adapters/kubernetes/kube-client';
import { createGcsProvider } from '../adapters/storage/gcs-provider';
import { createLocalProvider } from '../adapters/storage/local-provider';
import { type AppConfig, loadConfig } from '../config';
import { createLogger, installTemporalRuntime } from '../config/logger';

/** Storage providers for the configured types. */
export function createProviders(config: AppConfig): Map<string, StorageProvider> {
  const providers = new Map<string, StorageProvider>();
  if (config.providerTypes.includes('local') && config.local.rootDir) {
    providers.set('local', createLocalProvider({ rootDir: config.local.rootDir, hostPath: config.local.hostPath }));
  }
  if (config.providerTypes.includes('gcp')) {
    providers.set('gcp', createGcsProvider({ ...(config.gcs.apiEndpoint ? { apiEndpoint: config.gcs.apiEndpoint } : {}),
      maxWritesPerSecond: config.gcs.maxWritesPerSecond }));
  }
  return providers;
}

/** Options of {@link runWorker}. */
export interface RunWorkerOptions {
  config: AppConfig;
  kubeConfig: KubeConfig;
  /** Resolves to stop the worker gracefully. */
  stop?: Promise<unknown>;
}

/** Runs a worker until `stop` resolves (or SIGINT/SIGTERM, which the SDK handles); resolves when it has stopped. */
export async function runWorker(opts: RunWorkerOptions): Promise<void> {
  const { config } = opts;
  const connection = await NativeConnection.connect(config.temporal.connect.connectionOptions);
  try {
    const worker = await Worker.create({
      connection, namespace: config.temporal.namespace, taskQueue: config.taskQueue,
      ...(config.worker.workflowBundlePath ? { workflowBundle: { codePath: config.worker.workflowBundlePath } } : { workflowsPath: require.resolve('../workflows') }),
      activities: createActivities({ kube: createKubeGateway(opts.kubeConfig), providers: createProviders(config) }),
      maxCachedWorkflows: config.worker.maxCachedWorkflows,
      shutdownGraceTime: config.worker.shutdownGraceMs,
      // The SDK sends heartbeats at most every min(0.8 × heartbeat timeout, this) — 60 s by default, so a crashed
      // deletion resumed from a cursor up to a minute old and `status` showed minute-old progress. deleteBackups
      // already throttles its own heartbeats to one per second.
      maxHeartbeatThrottleInterval: '1s',
    });
    // The SDK also stops the worker on SIGINT/SIGTERM itself; only ask for a shutdown while it is still running.
    if (opts.stop) void opts.stop.then(() => { if (worker.getState() === 'RUNNING') worker.shutdown(); });
    await worker.run();
  } finally {
    await connection.close();
  }
}

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, 'worker');
  installTemporalRuntime(logger, config.logLevel);
  const kc = new KubeConfig();
  kc.loadFromDefault();
  logger.info({ taskQueue: config.taskQueue, temporal: config.temporal.address, namespace: config.temporal.namespace,
    providers: config.providerTypes }, 'Starting worker');
  await runWorker({ config, kubeConfig: kc });
  logger.info('Worker stopped');
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`worker failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}

/**
 * The worker process: hosts the BackupEntry workflow and its activities. Composition root: the only place that
 * builds real adapters (Kubernetes client, storage providers) from the configuration.
 *
 * Production: a prebuilt workflow bundle (`BEL_WORKFLOW_BUNDLE`, written by `npm run build`), slot and cache sizes
 * from the configuration, `/metrics` (our `bel_worker_*` metrics followed by the Temporal runtime's `temporal_*`
 * ones), `/healthz` and `/readyz` on `BEL_WORKER_HTTP_PORT`, and a graceful stop on SIGTERM: the worker stops
 * polling, running activities get `BEL_SHUTDOWN_GRACE` to finish or checkpoint (deleteBackups heartbeats its cursor),
 * then they are cancelled and the process exits.
 */
import { createServer } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Logger } from 'pino';
import { createActivities, type ActivityMetricsSink } from '../activities';
import type { StorageProvider } from '../activities/storage-port';
import { startHealthServer, type HealthServer, type Readiness } from '../adapters/http/health-server';
import { createKubeGateway } from '../adapters/kubernetes/kube-client';
import { sleepUnlessAborted } from '../adapters/abortable-sleep';
import { temporalReachability } from '../adapters/temporal-probe';
import { createTemporalVisibility } from '../adapters/temporal-visibility';
import { createGcsProvider } from '../adapters/storage/gcs-provider';
import { createLocalProvider } from '../adapters/storage/local-provider';
import { type AppConfig, loadConfig } from '../config';
import { createLogger, installTemporalRuntime } from '../config/logger';
import { backoffDelay, type BackoffPolicy } from '../domain';
import { createWorkerMetrics } from './worker-metrics';
import { WORKFLOW_CODE } from './workflow-code';
import { workerOptionsFor } from './worker-options';

/** Storage providers for the configured types; `metrics` counts the object stores' 429/503 answers. */
export function createProviders(config: AppConfig, metrics?: ActivityMetricsSink): Map<string, StorageProvider> {
  const providers = new Map<string, StorageProvider>();
  if (config.providerTypes.includes('local') && config.local.rootDir) {
    providers.set('local', createLocalProvider({ rootDir: config.local.rootDir, hostPath: config.local.hostPath }));
  }
  if (config.providerTypes.includes('gcp')) {
    providers.set(
      'gcp',
      createGcsProvider({
        ...(config.gcs.apiEndpoint ? { apiEndpoint: config.gcs.apiEndpoint } : {}),
        maxWritesPerSecond: config.gcs.maxWritesPerSecond,
        stsEndpoint: config.gcs.stsEndpoint,
        iamCredentialsEndpoint: config.gcs.iamCredentialsEndpoint,
        ...(metrics?.throttled ? { onThrottled: (status: number) => metrics.throttled?.('gcp', status) } : {}),
      }),
    );
  }
  return providers;
}

/** Options of {@link runWorker}. */
export interface RunWorkerOptions {
  config: AppConfig;
  kubeConfig: KubeConfig;
  /**
   * Resolves to stop the worker gracefully.
   * @default a promise that never resolves (the worker runs until SIGINT/SIGTERM)
   */
  stop?: Promise<unknown>;
  /**
   * Serve `/metrics`, `/healthz` and `/readyz` on this port (0 = a free one); the worker process passes
   * `config.worker.httpPort`.
   * @default undefined (no endpoint: tests run several workers in one process)
   */
  httpPort?: number;
  /**
   * Prometheus text appended to `/metrics` (the worker process passes the Temporal runtime's exporter).
   * @default undefined (nothing appended)
   */
  extraMetrics?: () => Promise<string>;
  /**
   * Adds prom-client's process metrics to the registry (the worker process does).
   * @default false
   */
  defaultMetrics?: boolean;
  /**
   * Called once the endpoint listens, with its port.
   * @default a no-op
   */
  onListening?: (port: number) => void;
  /**
   * Progress and connection retries.
   * @default undefined (silent)
   */
  logger?: Logger;
}

/** Delay between attempts to connect to Temporal: 1 s doubling to at most 30 s, no jitter. */
const CONNECT_BACKOFF: BackoffPolicy = { initialMs: 1000, maxMs: 30_000 };

/**
 * Runs a worker until `stop` resolves (or SIGINT/SIGTERM, which the SDK handles); resolves when it has stopped.
 * With an HTTP endpoint it also retries connecting to Temporal (with backoff, until `stop`) instead of failing, so
 * a pod started before Temporal is live and not ready; without one the first failed connection rejects (tests).
 */
export async function runWorker(opts: RunWorkerOptions): Promise<void> {
  const { config, logger } = opts;
  const stop = opts.stop ?? new Promise<never>(() => undefined);
  let stopRequested = false;
  // Aborted when `stop` resolves: cuts the wait between connection attempts short.
  const stopping = new AbortController();
  void stop.then(() => {
    stopRequested = true;
    stopping.abort();
  });
  let connection: NativeConnection | undefined;
  let worker: Worker | undefined;
  const metrics = createWorkerMetrics(() => worker?.getState(), { defaultMetrics: opts.defaultMetrics ?? false });

  const temporalReachable = temporalReachability(() => connection);
  const ready = async (): Promise<Readiness> => {
    const detail: string[] = [];
    if (!(await temporalReachable())) detail.push(`temporal: ${config.temporal.address} is not reachable`);
    const state = worker?.getState();
    if (state !== 'RUNNING') detail.push(`worker: ${state ?? 'not created yet'} (polls only while RUNNING)`);
    return { ok: detail.length === 0, detail };
  };
  // Live until the SDK worker failed: a worker that is starting, draining or waiting for Temporal is fine.
  const live = (): boolean => worker?.getState() !== 'FAILED';

  let server: HealthServer | undefined;
  if (opts.httpPort !== undefined) {
    server = await startHealthServer({
      port: opts.httpPort,
      registry: metrics.registry,
      live,
      ready,
      ...(opts.extraMetrics ? { extraMetrics: opts.extraMetrics } : {}),
    });
    opts.onListening?.(server.port);
    logger?.info({ port: server.port }, 'Serving /metrics, /healthz and /readyz');
  }
  try {
    for (let attempt = 1; !connection; attempt++) {
      try {
        connection = await NativeConnection.connect(config.temporal.connect.connectionOptions);
      } catch (err) {
        if (!server) throw err;
        const delay = backoffDelay(attempt, CONNECT_BACKOFF);
        logger?.warn(
          {
            temporal: config.temporal.address,
            error: err instanceof Error ? err.message : String(err),
            retryInMs: delay,
          },
          'Temporal is not reachable yet',
        );
        if (stopRequested || (await sleepUnlessAborted(delay, stopping.signal))) return;
      }
    }
    if (stopRequested) return;
    const roles = config.worker.roles;
    const w = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.taskQueue,
      // A storage-only process registers no workflow, so it polls no workflow tasks.
      ...(!roles.workflows
        ? {}
        : config.worker.workflowBundlePath
          ? { workflowBundle: { codePath: config.worker.workflowBundlePath } }
          : { workflowsPath: WORKFLOW_CODE.workflowsPath }),
      // A prebuilt bundle carries the converter already (worker/build-workflow-bundle.ts); activities use it from here.
      dataConverter: { payloadConverterPath: WORKFLOW_CODE.payloadConverterPath },
      // Every role registers every activity: a workflows process runs the Kubernetes steps as local activities, a
      // storage process the activities scheduled on the queue.
      activities: createActivities({
        kube: createKubeGateway(opts.kubeConfig),
        providers: createProviders(config, metrics.sink),
        metrics: metrics.sink,
        defaultRetentionMs: config.defaultRetentionMs,
        retentionMode: config.retentionMode,
        visibility: createTemporalVisibility(connection, config.temporal.namespace),
      }),
      ...workerOptionsFor(config.worker),
    });
    worker = w;
    // The SDK also stops the worker on SIGINT/SIGTERM itself; only ask for a shutdown while it is still running.
    void stop.then(() => {
      if (w.getState() === 'RUNNING') w.shutdown();
    });
    await w.run();
  } finally {
    await connection?.close();
    await server?.close();
  }
}

/** A free TCP port on `host` (bound and released; for `BEL_WORKER_SDK_METRICS_ADDRESS` with port 0). */
function freePortOn(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Reads the Temporal runtime's Prometheus exporter (loopback is enough: it runs in this process). */
function sdkMetricsReader(host: string, port: number): () => Promise<string> {
  const target = host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host;
  return async () => {
    const res = await fetch(`http://${target}:${port}/metrics`, { signal: AbortSignal.timeout(3000) });
    return res.ok ? res.text() : '';
  };
}

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, 'worker');
  const sdk = config.worker.sdkMetrics;
  const sdkPort = sdk ? sdk.port || (await freePortOn(sdk.host.replace(/^\[(.*)\]$/, '$1'))) : undefined;
  installTemporalRuntime(
    logger,
    config.logLevel,
    sdk && sdkPort ? { prometheusBindAddress: `${sdk.host}:${sdkPort}` } : {},
  );
  const kc = new KubeConfig();
  kc.loadFromDefault();
  // The SDK's runtime stops the worker on SIGINT/SIGTERM; this also ends a wait for Temporal at start.
  let onSignal!: (sig: string) => void;
  const stop = new Promise<string>((resolve) => (onSignal = resolve));
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  void stop.then((signal) =>
    logger.info(
      { signal, graceMs: config.worker.shutdownGraceMs },
      'Stopping: no new tasks; activities get the grace time',
    ),
  );
  for (const warning of config.warnings) logger.warn(warning);
  logger.info(
    {
      cluster: config.clusterIdentity,
      taskQueue: config.taskQueue,
      temporal: config.temporal.address,
      namespace: config.temporal.namespace,
      providers: config.providerTypes,
      bundle: config.worker.workflowBundlePath ?? '(bundled at start)',
      roles: Object.entries(config.worker.roles)
        .filter(([, on]) => on)
        .map(([role]) => role),
      maxCachedWorkflows: config.worker.maxCachedWorkflows,
      activitySlots: config.worker.maxConcurrentActivityTaskExecutions,
      workflowTaskSlots: config.worker.maxConcurrentWorkflowTaskExecutions,
      sdkMetrics: sdk && sdkPort ? `${sdk.host}:${sdkPort}` : 'off',
    },
    'Starting worker',
  );
  await runWorker({
    config,
    kubeConfig: kc,
    stop,
    logger,
    httpPort: config.worker.httpPort,
    defaultMetrics: true,
    ...(sdk && sdkPort ? { extraMetrics: sdkMetricsReader(sdk.host, sdkPort) } : {}),
  });
  logger.info('Worker stopped');
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`worker failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}

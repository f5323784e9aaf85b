/**
 * The worker process of the retention benchmark's no-op ceiling (tools/bench/ceiling-workflow.ts): one SDK worker on its
 * own task queue with the product worker's cache and slot settings, so the ceiling differs from the product only in
 * what the workflow does. Configured by the environment: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, CEILING_TASK_QUEUE,
 * CEILING_MAX_CACHED_WORKFLOWS, CEILING_ACTIVITY_SLOTS, CEILING_WORKFLOW_TASK_SLOTS, CEILING_WORKFLOW_BUNDLE (a prebuilt
 * bundle; unset = bundled at start). Prints CEILING_READY once it
 * polls; stops on SIGTERM/SIGINT (the SDK's own shutdown signals).
 */
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import type { CeilingActivities } from './ceiling-workflow';

/** Printed once the worker polls (tools/bench/ceiling.ts waits for this text). */
const CEILING_READY = 'ceiling worker polling';

async function main(): Promise<void> {
  const env = (k: string): string => {
    const v = process.env[k];
    if (!v) throw new Error(`${k} is not set`);
    return v;
  };
  const num = (k: string): number => Number(env(k));
  Runtime.install({
    logger: {
      log: () => undefined,
      trace: () => undefined,
      debug: () => undefined,
      info: () => undefined,
      warn: (m) => console.error(`warn: ${m}`),
      error: (m) => console.error(`error: ${m}`),
    },
  });
  const connection = await NativeConnection.connect({ address: env('TEMPORAL_ADDRESS') });
  const activities: CeilingActivities = { stubDeleteBackups: async () => undefined };
  const worker = await Worker.create({
    connection,
    namespace: env('TEMPORAL_NAMESPACE'),
    taskQueue: env('CEILING_TASK_QUEUE'),
    ...(process.env.CEILING_WORKFLOW_BUNDLE
      ? { workflowBundle: { codePath: process.env.CEILING_WORKFLOW_BUNDLE } }
      : { workflowsPath: require.resolve('./ceiling-workflow') }),
    activities,
    maxCachedWorkflows: num('CEILING_MAX_CACHED_WORKFLOWS'),
    maxConcurrentActivityTaskExecutions: num('CEILING_ACTIVITY_SLOTS'),
    maxConcurrentWorkflowTaskExecutions: num('CEILING_WORKFLOW_TASK_SLOTS'),
    // The options under comparison, as merged over the product worker's (tools/bench/worker-probe.ts).
    ...(process.env.CEILING_WORKER_OPTIONS ? (JSON.parse(process.env.CEILING_WORKER_OPTIONS) as object) : {}),
  });
  const running = worker.run();
  console.log(CEILING_READY);
  await running;
  await connection.close();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`ceiling worker failed: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  },
);

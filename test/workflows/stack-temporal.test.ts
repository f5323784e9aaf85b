import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, bundleWorkflowCode } from '@temporalio/worker';
import { stackEnv, uniqueName } from '../support/env';
import { echoWorkflow } from './fixtures/echo-workflow';

describe('Temporal dev server', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await TestWorkflowEnvironment.createFromExistingServer({
      address: stackEnv('TEMPORAL_ADDRESS'),
      namespace: stackEnv('TEMPORAL_NAMESPACE'),
    });
  });
  afterAll(async () => env?.teardown());

  it('runs a workflow with an activity on a real worker', async () => {
    const taskQueue = uniqueName('smoke');
    const workflowBundle = await bundleWorkflowCode({
      workflowsPath: require.resolve('./fixtures/echo-workflow'),
      logger: quiet,
    });
    const worker = await Worker.create({
      connection: env.nativeConnection,
      namespace: stackEnv('TEMPORAL_NAMESPACE'),
      taskQueue,
      workflowBundle,
      activities: { shout: async (t: string) => t.toUpperCase() },
    });
    const result = await worker.runUntil(
      env.client.workflow.execute(echoWorkflow, { taskQueue, workflowId: taskQueue, args: ['hello'] }),
    );
    expect(result).toBe('echo: HELLO');
  });
});

const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} };

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../../tools/stack';
import { startWorkerProcess, type WorkerProcess } from '../../support/worker-process';
import { Harness, metricValue } from '../watcher/watcher-harness';

/**
 * `BEL_WORKER_ROLES`: the workflow worker and the storage-activity worker as two processes on one task queue, each
 * `worker/main.js` with a prebuilt bundle. The workflows process alone carries an entry to Succeeded (its Kubernetes
 * steps are local activities) and through retention registration, but never takes the scheduled deletion (it polls no
 * activity task); the storage process, started later, does, and the lifecycle ends.
 */
describe('worker roles: workflows and storage in separate processes', () => {
  const h = new Harness({ worker: false });
  let workflows: WorkerProcess | undefined;
  let storage: WorkerProcess | undefined;

  const start = async (role: string): Promise<{ proc: WorkerProcess; port: number }> => {
    const port = await freePort();
    const proc = await startWorkerProcess({
      logFile: join(h.root, `worker-${role}.log`),
      env: {
        BACKUP_LOCAL_DIR: h.root,
        BEL_TASK_QUEUE: h.config.taskQueue,
        BEL_CLUSTER_IDENTITY: h.config.clusterIdentity,
        BEL_PROVIDER_TYPES: 'local',
        BEL_LOG_LEVEL: 'info',
        BEL_WORKER_HTTP_PORT: String(port),
        BEL_WORKER_ROLES: role,
      },
    });
    return { proc, port };
  };
  const metrics = async (port: number): Promise<string> =>
    (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();

  beforeAll(async () => {
    await h.setup();
  });

  afterAll(async () => {
    await workflows?.kill();
    await storage?.kill();
    await h.teardown();
  });

  it('create → Succeeded and retention registered by the workflows process; the deletion only once storage runs', async () => {
    const w = await start('workflows');
    workflows = w.proc;
    expect(w.proc.lines().find((l) => l.msg === 'Starting worker')).toMatchObject({ roles: ['workflows'] });
    await h.leader({ httpPort: false });
    const e = await h.createEntry();
    const files = [h.putObject(e.name, 'etcd-main/v2/Full-1.gz'), h.putObject(e.name, 'etcd-main/v2/Incr-2.gz')];
    await h.untilSucceeded(e.name);

    await h.annotate(e.name, { 'backupentry.extensions.gardener.cloud/retention-period': '0s' });
    await h.deleteEntry(e.name);
    // The workflow schedules its first storage activity on the queue; the workflows process does not take it.
    const handle = h.client.workflow.getHandle(h.workflowId(e.name));
    const pending = await h.until(
      async () => {
        const p = (await handle.describe()).raw.pendingActivities ?? [];
        return p.length ? p : undefined;
      },
      'a storage activity scheduled',
      60_000,
    );
    await new Promise((r) => setTimeout(r, 3000));
    const still = (await handle.describe()).raw.pendingActivities ?? [];
    expect(still.map((a) => [a.activityType?.name, a.attempt, a.lastStartedTime ?? null])).toEqual(
      pending.map((a) => [a.activityType?.name, 1, null]),
    );
    expect(files.every((f) => existsSync(f))).toBe(true);

    const s = await start('storage');
    storage = s.proc;
    expect(s.proc.lines().find((l) => l.msg === 'Starting worker')).toMatchObject({ roles: ['storage'] });
    await h.until(async () => files.every((f) => !existsSync(f)), 'backups deleted', 60_000);
    await handle.result();

    // Who did what: the deletion counted by the storage process only; the workflow tasks ran in the workflows one.
    expect(metricValue(await metrics(s.port), 'bel_worker_deleted_objects_total', { provider: 'local' })).toBe(2);
    expect(metricValue(await metrics(w.port), 'bel_worker_deleted_objects_total', { provider: 'local' })).toBe(0);
    const history = await handle.fetchHistory();
    const identities = (key: 'activityTaskStartedEventAttributes' | 'workflowTaskStartedEventAttributes') =>
      new Set(history.events?.flatMap((ev) => (ev[key]?.identity ? [ev[key].identity] : [])));
    const pidOf = (p: WorkerProcess): string => `${p.proc.child.pid}@`;
    expect([...identities('activityTaskStartedEventAttributes')].every((i) => i.startsWith(pidOf(s.proc)))).toBe(true);
    expect([...identities('workflowTaskStartedEventAttributes')].every((i) => i.startsWith(pidOf(w.proc)))).toBe(true);
  });
});

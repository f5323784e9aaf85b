/**
 * The watcher under crashes (docs/reliability.md, cases W1–W2), with the real watcher and worker processes:
 * - W1: the watcher is SIGKILLed in the middle of a burst of creations and again in the middle of a burst of
 *   deletions; a new replica takes the lease over and every entry reaches its right end state.
 * - W2: the kube-apiserver (a control plane of this test's own) is SIGKILLed and restarted under the watcher and the
 *   worker; the watcher's informers resume, a workflow pass that failed during the outage recovers, and entries
 *   created and deleted after the restart are handled.
 * Each test serves a class of its own, so no other test file's entries are touched.
 */
import { readFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { workflowIdFor } from '../../../domain';
import { reconcileSignal, statusQuery } from '../../../workflows/messages';
import {
  applyCrd,
  freePort,
  killProcess,
  startKubeControlPlane,
  startProcess,
  toolPaths,
  type KubeControlPlane,
  type ManagedProcess,
} from '../../../tools/stack';
import { holdPort } from '../../support/stable-port';
import { startWatcherProcess, startWorkerProcess, type WorkerProcess } from '../../support/worker-process';
import {
  ANN,
  G,
  Kube,
  entryName,
  listLocal,
  mapLimit,
  pollFor,
  putLocal,
  recordResult,
  short,
  sleep,
  temporalClient,
  type EntryObject,
} from '../harness';

/** Registers the watcher crash tests (hooks and concurrent tests) in the calling test file. */
export function watcherTests(): void {
  const cleanups: Array<() => Promise<unknown>> = [];
  let client: Client;

  beforeAll(async () => {
    client = await temporalClient();
  }, 120_000);

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await client?.connection.close();
  });

  /** Environment shared by one test's worker and watcher replicas: own class, queue, identity, lease; quick failover. */
  function suiteEnv(label: string, localRoot: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      BEL_TASK_QUEUE: `rel-${label}-${short()}`,
      BEL_CLUSTER_IDENTITY: `rel-${label}-${short()}`,
      BEL_CLASSES: `rel-${label}-${short()}`,
      BEL_PROVIDER_TYPES: 'local',
      BACKUP_LOCAL_DIR: localRoot,
      BEL_WATCHER_LEASE_NAME: `rel-${label}-${short()}`,
      BEL_WATCHER_LEASE_DURATION: '6s',
      BEL_WATCHER_RENEW_DEADLINE: '4s',
      BEL_WATCHER_RETRY_PERIOD: '1s',
      BEL_WATCHER_HTTP_PORT: '0',
      ...extra,
    };
  }

  type Fate = 'deleted' | 'kept';

  /** Creates an entry of the suite's class with two objects and a sibling in the local bucket. */
  async function createEntry(kube: Kube, env: Record<string, string>, root: string, label: string): Promise<string> {
    const e = entryName(label);
    putLocal(root, 'bucket', [
      `${e.name}/etcd-main/v2/Full-1.gz`,
      `${e.name}/etcd-main/v2/Incr-2.gz`,
      `${e.name}2/etcd-main/v2/Full-1.gz`,
    ]);
    await kube.ensureNamespace(e.ns);
    await kube.createSecret('garden', `entry-${e.name}`, { token: 'x' });
    await kube.createEntry(e.name, {
      type: 'local',
      class: env.BEL_CLASSES,
      region: 'r',
      bucketName: 'bucket',
      secretRef: { name: `entry-${e.name}`, namespace: 'garden' },
    });
    cleanups.push(() => kube.forceRemove(e.name));
    return e.name;
  }

  function handle(env: Record<string, string>, name: string): WorkflowHandle {
    const id = workflowIdFor(env.BEL_CLUSTER_IDENTITY!, name);
    if (!id.ok) throw new Error(id.error.message);
    return client.workflow.getHandle(id.value);
  }

  /** All of `names` have a Succeeded status written by their workflows (started by the watcher). */
  async function allSucceeded(kube: Kube, names: readonly string[], timeoutMs: number): Promise<void> {
    const want = new Set(names);
    await pollFor(
      async () => {
        const items = ((await kube.custom.listClusterCustomObject({ ...G })) as { items: EntryObject[] }).items;
        const ok = items.filter(
          (o) => want.has(o.metadata.name) && o.status?.lastOperation?.state === 'Succeeded',
        ).length;
        return ok === want.size ? true : undefined;
      },
      `${want.size} entries Succeeded`,
      timeoutMs,
      500,
    );
  }

  test.concurrent(
    'W1: watcher SIGKILLed during a creation burst and during a deletion burst; every entry reaches its end state',
    async () => {
      const kube = new Kube();
      const dir = mkdtempSync(join(tmpdir(), 'bel-rel-w1-'));
      const root = join(dir, 'local');
      mkdirSync(join(root, 'bucket'), { recursive: true });
      const env = suiteEnv('w1', root);
      await kube.ensureNamespace('garden');
      const worker = await startWorkerProcess({ env, logFile: join(dir, 'worker.log') });
      cleanups.push(() => worker.stop());
      let replica = 0;
      const watcher = async (): Promise<WorkerProcess> => {
        const w = await startWatcherProcess({
          env: { ...env, BEL_WATCHER_IDENTITY: `w1-replica-${++replica}` },
          logFile: join(dir, `watcher-${replica}.log`),
        });
        cleanups.push(() => w.stop());
        return w;
      };
      let w = await watcher();
      const N = 24;
      // Creation burst; the watcher dies after a third of it, a new replica starts at once and waits for the lease.
      const names: string[] = [];
      let killedAtCreate = -1;
      await mapLimit(
        Array.from({ length: N }, (_, i) => i),
        4,
        async (i) => {
          names[i] = await createEntry(kube, env, root, 'w1');
          if (names.filter(Boolean).length === Math.floor(N / 3) && killedAtCreate < 0) {
            killedAtCreate = names.filter(Boolean).length;
            await w.kill();
            w = await watcher();
          }
        },
      );
      const tCreated = Date.now();
      await allSucceeded(kube, names, 120_000);
      const readyAfterMs = Date.now() - tCreated;

      // Deletion burst with fates; the watcher dies again halfway.
      const fate = (i: number): Fate => (i % 4 === 3 ? 'kept' : 'deleted');
      let killedAtDelete = -1;
      let done = 0;
      await mapLimit(names, 4, async (name) => {
        const i = names.indexOf(name);
        await kube.annotate(name, fate(i) === 'kept' ? { [ANN.keep]: 'true' } : { [ANN.retention]: '0s' });
        await kube.deleteEntry(name);
        if (++done === N / 2 && killedAtDelete < 0) {
          killedAtDelete = done;
          await w.kill();
          w = await watcher();
        }
      });
      const results = await Promise.all(names.map((n) => handle(env, n).result() as Promise<{ outcome: string }>));
      expect(results.map((r) => r.outcome)).toEqual(names.map((_, i) => fate(i)));
      const left = listLocal(root, 'bucket');
      const expected = names
        .flatMap((n, i) => [
          `${n}2/etcd-main/v2/Full-1.gz`,
          ...(fate(i) === 'kept' ? [`${n}/etcd-main/v2/Full-1.gz`, `${n}/etcd-main/v2/Incr-2.gz`] : []),
        ])
        .sort();
      expect(left).toEqual(expected);
      for (const n of names) expect(await kube.getEntry(n)).toBeUndefined();
      const lastLog = w.text();
      expect(lastLog).toMatch(/Leading: watching BackupEntries/);
      recordResult('W1 watcher SIGKILL during bursts', {
        entries: N,
        killedAfterCreated: killedAtCreate,
        killedAfterDeleted: killedAtDelete,
        replicas: replica,
        allReadyAfterBurstMs: readyAfterMs,
        outcomes: {
          deleted: results.filter((r) => r.outcome === 'deleted').length,
          kept: results.filter((r) => r.outcome === 'kept').length,
        },
      });
    },
    300_000,
  );

  test.concurrent(
    'W2: kube-apiserver SIGKILLed and restarted under the watcher and the worker; both recover',
    async () => {
      const tools = toolPaths();
      const dir = mkdtempSync(join(tmpdir(), 'bel-rel-w2-'));
      const root = join(dir, 'local');
      mkdirSync(join(root, 'bucket'), { recursive: true });
      const cp: KubeControlPlane = await startKubeControlPlane({
        etcdBin: tools.ETCD,
        apiserverBin: tools.KUBE_APISERVER,
        dir: join(dir, 'kube'),
      });
      let apiserver: ManagedProcess = cp.apiserver;
      cleanups.push(async () => {
        await killProcess(apiserver);
        await cp.stop();
        rmSync(join(dir, 'kube'), { recursive: true, force: true }); // etcd data: tens of MB
      });
      const kc = new KubeConfig();
      kc.loadFromFile(cp.kubeconfig);
      await applyCrd(kc);
      const kube = new Kube(kc);
      await kube.ensureNamespace('garden');
      const env = suiteEnv('w2', root, { KUBECONFIG: cp.kubeconfig, BEL_WATCHER_HTTP_PORT: String(await freePort()) });
      const worker = await startWorkerProcess({ env, logFile: join(dir, 'worker.log') });
      cleanups.push(() => worker.stop());
      const watcher = await startWatcherProcess({ env, logFile: join(dir, 'watcher.log') });
      cleanups.push(() => watcher.stop());

      const before = await Promise.all([0, 1, 2, 3].map(() => createEntry(kube, env, root, 'w2')));
      await allSucceeded(kube, before, 90_000);

      // SIGKILL the API server; while it is down, a workflow pass runs (and fails), then it comes back on the same port.
      // Same binary and flags (port, certificates, etcd) as the control plane started it with.
      const apiArgs = readFileSync(`/proc/${apiserver.child.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      expect(apiArgs[0]).toMatch(/kube-apiserver$/);
      const apiPort = Number(new URL(cp.server).port);
      await killProcess(apiserver);
      const release = await holdPort(apiPort); // nobody else gets the port while the API server is down
      const tDown = Date.now();
      await handle(env, before[0]!).signal(reconcileSignal, { reason: 'outage test' });
      await pollFor(
        () => (/Operation failed; retrying later/.test(worker.text()) ? true : undefined),
        'a failed pass during the outage',
        60_000,
        200,
      );
      await sleep(3000);
      await release();
      apiserver = startProcess(
        'kube-apiserver',
        apiArgs[0]!,
        apiArgs.slice(1),
        join(dir, 'kube', 'kube-apiserver.log'),
      );
      await pollFor(
        async () => ((await kube.getEntry(before[1]!)) ? true : undefined),
        'kube-apiserver back',
        120_000,
        500,
      );
      const downMs = Date.now() - tDown;

      // The workflow that failed during the outage recovers (its retry succeeds) ...
      await pollFor(
        async () => {
          const v = await handle(env, before[0]!).query(statusQuery);
          return v.phase === 'Ready' && !v.lastError ? true : undefined;
        },
        'entry 0 Ready again',
        90_000,
        500,
      );
      // ... and the watcher sees what happens after the restart: new entries, and deletions of old ones.
      const after = await Promise.all([0, 1].map(() => createEntry(kube, env, root, 'w2')));
      await allSucceeded(kube, after, 120_000);
      for (const n of before) {
        await kube.annotate(n, { [ANN.retention]: '0s' });
        await kube.deleteEntry(n);
      }
      const results = await Promise.all(before.map((n) => handle(env, n).result() as Promise<{ outcome: string }>));
      expect(results.map((r) => r.outcome)).toEqual(['deleted', 'deleted', 'deleted', 'deleted']);
      for (const n of before) expect(listLocal(root, 'bucket').filter((k) => k.startsWith(`${n}/`))).toEqual([]);
      for (const n of after) expect(listLocal(root, 'bucket').filter((k) => k.startsWith(`${n}/`))).toHaveLength(2);
      expect(watcher.proc.exited).toBeUndefined();
      expect(worker.proc.exited).toBeUndefined();
      recordResult('W2 kube-apiserver restart under watcher and worker', {
        apiserverDownMs: downMs,
        watcherRestarts: (watcher.text().match(/restart/gi) ?? []).length,
        workerFailedPasses: (worker.text().match(/Operation failed; retrying later/g) ?? []).length,
      });
    },
    300_000,
  );
}

/**
 * The whole lifecycle on a production-shaped Temporal instead of the CLI's dev server: `temporal-server start`
 * (go.temporal.io/server v1.29.1) on PostgreSQL with SQL visibility and 16 history shards, the `default` namespace and
 * our search attributes registered with `temporal operator ...` as docker-compose.yml does (tools/stack/temporal-
 * postgres.ts). The stack's kube-apiserver is shared; the Temporal server, the worker and the watcher are this file's,
 * the two controllers as real processes (the product's entry points, configured only through the environment).
 *
 * An entry is created → Succeeded; deleted → Retaining on a 1 h timer; the worker restarts during retention (the new
 * one replays the history from PostgreSQL and keeps the one timer); `backupentry expedite` (the CLI's update) → the
 * objects are deleted from the bucket and the workflow ends Deleted. Along the way the search attributes are read back
 * through SQL visibility (the SDK's list, the CLI's queries, and the executions_visibility rows themselves).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import {
  ANNOTATION_RETENTION_PERIOD,
  BACKUPENTRY_API,
  FINALIZER,
  SECRET_ETCD_BACKUP,
  workflowIdFor,
} from '../../../domain';
import { runCli } from '../../../starter/cli/program';
import type { EntryRow } from '../../../starter/cli/format';
import {
  startTemporalPostgres,
  temporalPostgresToolPaths,
  toolPaths,
  waitFor,
  type TemporalPostgresServer,
} from '../../../tools/stack';
import type { backupEntryWorkflow } from '../../../workflows/backup-entry-workflow';
import { type StatusQueryResult, statusQuery } from '../../../workflows/messages';
import { BACKUP_ENTRY_PHASE } from '../../../workflows/search-attributes';
import { annotateEntry, getEntry } from '../../support/entries';
import { stackEnv } from '../../support/env';
import { startWatcherProcess, startWorkerProcess, type WorkerProcess } from '../../support/worker-process';

const G = { group: BACKUPENTRY_API.group, version: BACKUPENTRY_API.version, plural: BACKUPENTRY_API.plural };
const suffix = randomUUID().slice(0, 8);
/** A class of our own: the stack's API server is shared with other test files, whose entries are not ours. */
const cls = `pg-${suffix}`;
const cluster = `pg-${suffix}`;
const ns = `shoot--pg--${suffix}`;
const name = `${ns}--${randomUUID()}`;
const bucket = 'bucket-pg';
const dir = mkdtempSync(join(tmpdir(), 'bel-production-temporal-'));
const root = join(dir, 'local-backupbuckets');
const OBJECTS = [
  `${name}/etcd-main/v2/Full-00000000-00000001-1755684000.gz`,
  `${name}/etcd-main/v2/Incr-00000001-00000009-1755684300.gz`,
  `${name}/etcd-main/v2/Full-00000000-00000010-1755770400.gz`,
];
/** A neighbour whose name starts with the entry's: the prefix deletion must leave it alone. */
const NEIGHBOUR = `${name}2/etcd-main/v2/Full-00000000-00000001-1755684000.gz`;
const RETENTION_MS = 3600_000;

/** google.protobuf Timestamp / Duration → ms. */
const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
  Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;

/** Files under `rel` in the bucket, relative to the bucket. */
function filesUnder(rel: string): string[] {
  const base = join(root, bucket);
  const walk = (d: string): string[] =>
    existsSync(d)
      ? readdirSync(d, { withFileTypes: true }).flatMap((e) =>
          e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)],
        )
      : [];
  return walk(join(base, rel))
    .map((f) => f.slice(base.length + 1))
    .sort();
}

describe('whole lifecycle on temporal-server with PostgreSQL (SQL visibility, 16 history shards)', () => {
  const kc = new KubeConfig();
  kc.loadFromFile(stackEnv('KUBECONFIG'));
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  let temporal: TemporalPostgresServer;
  let client: Client;
  let env: Record<string, string>;
  let worker: WorkerProcess | undefined;
  let watcher: WorkerProcess | undefined;
  let handle: WorkflowHandle<typeof backupEntryWorkflow>;
  let workerStarts = 0;
  const t0 = Date.now();
  const report: string[] = [];

  const startWorker = (): Promise<WorkerProcess> =>
    startWorkerProcess({ env, logFile: join(dir, `worker-${(workerStarts += 1)}.log`) });
  const status = (): Promise<StatusQueryResult> => handle.query(statusQuery);
  const untilStatus = (check: (v: StatusQueryResult) => boolean, what: string): Promise<StatusQueryResult> =>
    waitFor(
      async () => {
        const v = await status();
        return check(v) ? v : undefined;
      },
      { what, timeoutMs: 60_000, intervalMs: 250 },
    );
  /** Timers started in the workflow's history, and the ones neither fired nor cancelled (with their fire time). */
  const timers = async (): Promise<{ started: number; open: Array<{ id: string; firesAtMs: number }> }> => {
    const events = (await handle.fetchHistory()).events ?? [];
    const closed = new Set(
      events.map((e) => e.timerFiredEventAttributes?.timerId ?? e.timerCanceledEventAttributes?.timerId),
    );
    const started = events.filter((e) => e.timerStartedEventAttributes);
    return {
      started: started.length,
      open: started
        .filter((e) => !closed.has(e.timerStartedEventAttributes!.timerId))
        .map((e) => ({
          id: e.timerStartedEventAttributes!.timerId!,
          firesAtMs: ms(e.eventTime) + ms(e.timerStartedEventAttributes!.startToFireTimeout),
        })),
    };
  };
  /** The SDK's visibility list (SQL visibility here) of workflows carrying this entry's name. */
  const listByName = async (): Promise<Array<{ workflowId: string; status: string; phase?: string }>> => {
    const rows: Array<{ workflowId: string; status: string; phase?: string }> = [];
    for await (const w of client.workflow.list({ query: `BackupEntryName = "${name}"` })) {
      const phase = w.typedSearchAttributes.get(BACKUP_ENTRY_PHASE);
      rows.push({ workflowId: w.workflowId, status: w.status.name, ...(phase ? { phase } : {}) });
    }
    return rows;
  };
  /** The CLI (starter/cli) in-process on this file's client: exit code and both streams. */
  const cli = async (...argv: string[]): Promise<{ code: number; out: string; err: string }> => {
    let out = '';
    let err = '';
    const code = await runCli(argv, {
      out: { write: (s: string) => (out += s) },
      err: { write: (s: string) => (err += s) },
      env: { ...process.env, ...env, USER: 'pg-tester', BEL_CLI_TIMEOUT: '60s' },
      client,
      progressIntervalMs: 5000,
    });
    return { code, out, err };
  };

  beforeAll(async () => {
    mkdirSync(join(root, bucket), { recursive: true });
    const tools = toolPaths();
    const pgTools = temporalPostgresToolPaths();
    temporal = await startTemporalPostgres({
      tools: pgTools,
      temporalCli: tools.TEMPORAL_CLI,
      dir: join(dir, 'temporal'),
    });
    report.push(
      `temporal-server + postgresql ready in ${temporal.timings.total} ms ${JSON.stringify(temporal.timings)}`,
    );
    env = {
      KUBECONFIG: stackEnv('KUBECONFIG'),
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: temporal.namespace,
      BEL_CLUSTER_IDENTITY: cluster,
      BEL_PROVIDER_TYPES: 'local',
      BEL_CLASSES: cls,
      BACKUP_LOCAL_DIR: root,
      BEL_DEFAULT_RETENTION: '1h',
      BEL_WATCHER_LEASE_NAME: `pg-${suffix}`,
      BEL_WATCHER_HTTP_PORT: '0',
      BEL_LOG_LEVEL: 'info',
    };
    [worker, watcher] = await Promise.all([
      startWorker(),
      startWatcherProcess({ env, logFile: join(dir, 'watcher.log') }),
    ]);
    client = new Client({
      connection: await Connection.connect({ address: temporal.address }),
      namespace: temporal.namespace,
    });
    const id = workflowIdFor(cluster, name);
    if (!id.ok) throw new Error(id.error.message);
    handle = client.workflow.getHandle<typeof backupEntryWorkflow>(id.value);
    report.push(`server, worker and watcher ready after ${Date.now() - t0} ms`);
  }, 180_000);

  afterAll(async () => {
    await client?.workflow
      .getHandle(handle?.workflowId ?? 'none')
      .terminate('production-temporal test finished')
      .catch(() => undefined);
    await Promise.all([watcher?.stop(), worker?.stop()]);
    await custom
      .patchClusterCustomObject({ ...G, name, body: [{ op: 'remove', path: '/metadata/finalizers' }] })
      .catch(() => undefined);
    await custom.deleteClusterCustomObject({ ...G, name }).catch(() => undefined);
    await client?.connection.close();
    const tStop = Date.now();
    await temporal?.stop();
    report.push(`stopped temporal-server + postgresql in ${Date.now() - tStop} ms; whole file ${Date.now() - t0} ms`);
    process.stderr.write(`[production-temporal] ${report.join('\n[production-temporal] ')}\n`);
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('runs on PostgreSQL: 16 history shards in the temporal database, the namespace and its attributes registered', async () => {
    expect(await temporal.psql('temporal', 'SELECT count(*) FROM shards')).toBe('16');
    expect(await temporal.psql('temporal', 'SELECT name FROM namespaces ORDER BY name')).toBe(
      ['default', 'temporal-system'].join('\n'),
    );
    // The frontend, history, matching and worker services of the one process joined the ring through the database.
    expect(Number(await temporal.psql('temporal', 'SELECT count(DISTINCT role) FROM cluster_membership'))).toBe(4);
    const conn = await Connection.connect({ address: temporal.address });
    try {
      const sa = await conn.operatorService.listSearchAttributes({ namespace: temporal.namespace });
      expect(sa.customAttributes).toMatchObject({
        BackupEntryPhase: 2, // INDEXED_VALUE_TYPE_KEYWORD
        BackupEntryName: 2,
        BackupEntryType: 2,
        BackupBucket: 2,
        DeletionScheduledAt: 6, // INDEXED_VALUE_TYPE_DATETIME
      });
      expect(sa.storageSchema).toEqual({}); // SQL visibility: no Elasticsearch mapping
    } finally {
      await conn.close();
    }
  });

  it('an entry is created → Succeeded: the watcher starts its workflow, which writes status and etcd-backup', async () => {
    for (const rel of [...OBJECTS, NEIGHBOUR]) {
      const file = join(root, bucket, rel);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, randomBytes(64));
    }
    for (const n of ['garden', ns]) {
      await core.createNamespace({ body: { metadata: { name: n } } }).catch((e: { code?: number }) => {
        if (e.code !== 409) throw e;
      });
    }
    await core.createNamespacedSecret({
      namespace: 'garden',
      body: { metadata: { name: `entry-${name}` }, stringData: { token: `token-${suffix}` } },
    });
    const tCreate = Date.now();
    await custom.createClusterCustomObject({
      ...G,
      body: {
        apiVersion: BACKUPENTRY_API.apiVersion,
        kind: BACKUPENTRY_API.kind,
        metadata: { name },
        spec: {
          type: 'local',
          class: cls,
          region: 'local',
          bucketName: bucket,
          secretRef: { name: `entry-${name}`, namespace: 'garden' },
        },
      },
    });
    const entry = await waitFor(
      async () => {
        const e = await getEntry<{
          metadata: { finalizers?: string[] };
          status?: { lastOperation?: { state: string } };
        }>(custom, name);
        return e?.status?.lastOperation?.state === 'Succeeded' ? e : undefined;
      },
      { what: `${name} Succeeded`, timeoutMs: 90_000, intervalMs: 250, process: worker!.proc },
    );
    report.push(`created → Succeeded in ${Date.now() - tCreate} ms`);
    expect(entry.metadata.finalizers).toContain(FINALIZER);
    const secret = await core.readNamespacedSecret({ name: SECRET_ETCD_BACKUP, namespace: ns });
    expect(Buffer.from(secret.data!.bucketName!, 'base64').toString()).toBe(bucket);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    expect(await untilStatus((v) => v.phase === 'Ready', 'Ready')).toMatchObject({ entryName: name, bucket });
    // SQL visibility: the workflow is found by its name, and the row in temporal_visibility carries the attributes.
    expect(
      await waitFor(
        async () => {
          const rows = await listByName();
          return rows[0]?.phase === 'Ready' ? rows : undefined;
        },
        { what: 'the workflow listed by BackupEntryName in phase Ready', timeoutMs: 30_000, intervalMs: 250 },
      ),
    ).toEqual([{ workflowId: handle.workflowId, status: 'RUNNING', phase: 'Ready' }]);
    const row = await temporal.psql(
      'temporal_visibility',
      `SELECT search_attributes FROM executions_visibility WHERE workflow_id = '${handle.workflowId}'`,
    );
    const attributes = Object.values(JSON.parse(row) as Record<string, unknown>);
    expect(attributes).toEqual(expect.arrayContaining([name, 'Ready', 'local', bucket]));
  });

  it('deleted → Retaining on a durable 1 h timer, found through SQL visibility by phase and deadline', async () => {
    await annotateEntry(custom, name, { [ANNOTATION_RETENTION_PERIOD]: '1h' });
    const tDelete = Date.now();
    await custom.deleteClusterCustomObject({ ...G, name });
    // The whole retention pass: Pending status written and (BEL_RETENTION_MODE=release-entry, the default) the entry
    // released with its retention recorded on the secret, as test/support/live-entries.ts waits for.
    const v = await untilStatus(
      (s) =>
        s.phase === 'Retaining' &&
        !!s.deletionScheduledAt &&
        s.lastOperation?.state === 'Pending' &&
        s.decisions.some((d) => d.reason === 'entry released during retention'),
      'Retaining with the retention registered',
    );
    report.push(`deleted → Retaining in ${Date.now() - tDelete} ms`);
    const deadline = Date.parse(v.deletionScheduledAt!);
    expect(deadline).toBeGreaterThan(tDelete + RETENTION_MS - 60_000);
    expect(deadline).toBeLessThan(Date.now() + RETENTION_MS + 60_000);
    expect(filesUnder(name)).toEqual([...OBJECTS].sort());
    // The durable timer is in the history (stored in PostgreSQL) and fires at the deadline.
    const open = await waitFor(
      async () => {
        const t = await timers();
        return t.open.length > 0 ? t.open : undefined;
      },
      {
        what: 'the retention timer in the history',
        timeoutMs: 30_000,
        intervalMs: 250,
      },
    );
    expect(open).toHaveLength(1);
    expect(Math.abs(open[0]!.firesAtMs - deadline)).toBeLessThan(2000);
    // The Datetime attribute through SQL: the CLI's `list --due-within` (WorkflowId STARTS_WITH, ExecutionStatus,
    // BackupEntryPhase, DeletionScheduledAt <= ...) finds the entry with its deadline.
    const rows = await waitFor(
      async () => {
        const r = await cli('list', '--due-within', '2h', '--output', 'json');
        if (r.code !== 0) throw new Error(r.err);
        const found = (JSON.parse(r.out) as EntryRow[]).filter((x) => x.entry === name);
        return found.length > 0 ? found : undefined;
      },
      { what: 'list --due-within 2h shows the entry', timeoutMs: 30_000, intervalMs: 250 },
    );
    expect(rows).toEqual([
      expect.objectContaining({ workflowId: handle.workflowId, status: 'Running', phase: 'Retaining', bucket }),
    ]);
    expect(Date.parse(rows[0]!.deletionDue!)).toBe(Math.floor(deadline / 1000) * 1000);
    const none = await cli('list', '--due-within', '30m', '--output', 'json');
    expect((JSON.parse(none.out) as EntryRow[]).map((x) => x.entry)).not.toContain(name);
  });

  it('a worker restart during retention: the new worker replays the history from PostgreSQL and keeps the one timer', async () => {
    const before = await status();
    const timersBefore = await timers();
    expect(timersBefore.open).toHaveLength(1);
    const { runId } = await handle.describe();
    const tRestart = Date.now();
    await worker!.stop();
    worker = await startWorker();
    // A query needs a worker to replay the workflow: the new process answers with the same deadline and decisions.
    const after = await untilStatus((v) => v.phase === 'Retaining', 'Retaining after the restart');
    report.push(`worker restart (stop, start, first query answered) in ${Date.now() - tRestart} ms`);
    expect(worker.text()).toContain('"state":"RUNNING"');
    expect(after.deletionScheduledAt).toBe(before.deletionScheduledAt);
    expect(after.decisions).toEqual(before.decisions);
    const d = await handle.describe();
    expect([d.runId, d.status.name]).toEqual([runId, 'RUNNING']);
    // Replaying kept the durable timer: one pending, firing when the one before the restart would have.
    const { open } = await timers();
    expect(open).toHaveLength(1);
    expect(Math.abs(open[0]!.firesAtMs - timersBefore.open[0]!.firesAtMs)).toBeLessThan(2000);
    expect(filesUnder(name)).toEqual([...OBJECTS].sort());
  });

  it('expedite (the CLI update) → the objects are deleted and the workflow ends Deleted, also in SQL visibility', async () => {
    const tExpedite = Date.now();
    const r = await cli('expedite', name, '--reason', 'production-temporal test', '--by', 'pg-tester', '--wait');
    expect(r).toMatchObject({ code: 0 });
    const result = await handle.result();
    report.push(`expedite → workflow Deleted in ${Date.now() - tExpedite} ms`);
    expect(result).toMatchObject({ outcome: 'deleted', deletion: { deletedObjects: 3, remainingObjects: 0 } });
    expect(filesUnder(name)).toEqual([]);
    expect(filesUnder(`${name}2`)).toEqual([NEIGHBOUR]);
    const v = await status();
    expect(v.phase).toBe('Deleted');
    expect(v.decisions).toEqual(
      expect.arrayContaining([expect.objectContaining({ action: 'expedite', by: 'pg-tester' })]),
    );
    expect((await handle.describe()).status.name).toBe('COMPLETED');
    await waitFor(async () => (await getEntry(custom, name)) === undefined, {
      what: 'the entry gone from the API server',
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    await expect(core.readNamespacedSecret({ name: SECRET_ETCD_BACKUP, namespace: ns })).rejects.toMatchObject({
      code: 404,
    });
    // SQL visibility after the close: the completed run, phase Deleted, and a closed row in executions_visibility.
    expect(
      await waitFor(
        async () => {
          const rows = await listByName();
          return rows[0]?.status === 'COMPLETED' && rows[0].phase === 'Deleted' ? rows : undefined;
        },
        { what: 'the closed workflow in visibility', timeoutMs: 30_000, intervalMs: 250 },
      ),
    ).toEqual([{ workflowId: handle.workflowId, status: 'COMPLETED', phase: 'Deleted' }]);
    expect(
      await temporal.psql(
        'temporal_visibility',
        `SELECT status, close_time IS NOT NULL FROM executions_visibility WHERE workflow_id = '${handle.workflowId}'`,
      ),
    ).toBe('2|t'); // WORKFLOW_EXECUTION_STATUS_COMPLETED, closed
  });
});

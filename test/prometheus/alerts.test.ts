/**
 * The alert rules on real components: a real Prometheus (Debian's, tools/scripts/install-prometheus.sh) scrapes a
 * worker and a watcher started as real processes (their own entry points, test/support/worker-process.ts) every
 * second and evaluates the chart's rules — rendered from the chart with short thresholds — every second. Each alert's
 * condition is brought about on the real stack (kube-apiserver + etcd, Temporal dev server, local bucket and
 * fake-gcs-server behind a fault proxy), the alert is awaited as firing through Prometheus's HTTP API, the condition
 * is fixed, and the alert is awaited as resolved. Every wait polls with a bound.
 *
 * | alert | brought about by | fixed by |
 * |---|---|---|
 * | BackupEntryFailing | an entry whose secretRef secret is missing (Create/Error, ERR_CONFIGURATION_PROBLEM) | creating the secret, `gardener.cloud/operation: reconcile` |
 * | BackupEntryWorkerNotPolling | SIGKILL of the only worker | starting a worker again |
 * | BackupEntryDeletionOverdue | the worker dead while a retaining entry's deadline (15 s) passes | the new worker deletes it |
 * | BackupEntryDeletionStalled | every DELETE of a `gcp` deletion held 8 s by the fault proxy (after three 429s) | releasing the DELETEs |
 * | BackupEntryWatcherNoLeader | SIGKILL of the only watcher | a watcher leading again |
 * | BackupEntryWatcherNotInSync | that new watcher runs as a user RBAC does not let list BackupEntries | granting list/watch |
 *
 * The tests of this file run in order and share the processes; each serves a class of its own.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { kubeconfigForUser } from '../../tools/stack';
import { runCli } from '../../starter/cli/program';
import type { EntryRow } from '../../starter/cli/format';
import { CHART, helm, objectsOf } from '../support/manifests';
import { dashboardExpressions, exposedNames, metricNames } from '../support/promql';
import { promtool, requirePrometheus, startPrometheus, type TestPrometheus } from '../support/prometheus';
import { stablePort } from '../support/stable-port';
import { startWatcherProcess, startWorkerProcess, type WorkerProcess } from '../support/worker-process';
import { stackEnv } from '../support/env';
import { faults, on, startFaultProxy, type FaultProxy } from '../support/fault-proxy';
import {
  ANN,
  Kube,
  createGcsBucket,
  entryName,
  gcsClient,
  listLocal,
  pollFor,
  putGcs,
  putLocal,
  serviceAccount,
  short,
  statusUntil,
  temporalClient,
} from '../reliability/harness';
import { workflowIdFor } from '../../domain';
import type { Client } from '@temporalio/client';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';

const DASHBOARD = join(CHART, 'dashboards', 'backupentry-lifecycle.json');
const RULES_PLAIN = join(CHART, '..', '..', 'monitoring', 'rules.yaml');
/** Short thresholds: the chart's values, overridden as an operator would. */
const SHORT = {
  'alerts.failing.afterSeconds': '2',
  'alerts.failing.for': '1s',
  'alerts.deletionOverdue.afterSeconds': '2',
  'alerts.deletionOverdue.for': '1s',
  'alerts.deletionStalled.afterSeconds': '3',
  'alerts.deletionStalled.for': '1s',
  'alerts.watcherNoLeader.for': '1s',
  // A starting leader lists for a moment before it is in sync; 2 s keeps that from firing.
  'alerts.watcherNotInSync.for': '2s',
  'alerts.workerNotPolling.for': '1s',
  'alerts.backupsLeftBehind.for': '1s',
};

describe('alerts on a real Prometheus scraping real worker and watcher processes', () => {
  const t0 = Date.now();
  const kube = new Kube();
  const dir = mkdtempSync(join(tmpdir(), 'bel-prom-'));
  const root = join(dir, 'local');
  const label = `prom-${short()}`;
  const env: Record<string, string> = {
    BEL_TASK_QUEUE: `${label}-q`,
    BEL_CLUSTER_IDENTITY: `${label}-seed`,
    BEL_CLASSES: label,
    BEL_PROVIDER_TYPES: 'local,gcp',
    BACKUP_LOCAL_DIR: root,
    BEL_WATCHER_LEASE_NAME: `${label}-lease`,
    BEL_WATCHER_LEASE_DURATION: '6s',
    BEL_WATCHER_RENEW_DEADLINE: '4s',
    BEL_WATCHER_RETRY_PERIOD: '1s',
    BEL_LOG_LEVEL: 'info',
    // The leader reads the retention calendar from visibility every second (default 30 s).
    BEL_WATCHER_CALENDAR_PERIOD: '1s',
  };
  let prom: TestPrometheus;
  let client: Client;
  let proxy: FaultProxy;
  let worker: WorkerProcess | undefined;
  let watcher: WorkerProcess | undefined;
  let workerPort: number;
  let watcherPort: number;
  let procs = 0;
  const cleanups: Array<() => Promise<unknown>> = [];

  const startWorker = async (): Promise<WorkerProcess> =>
    startWorkerProcess({
      env: { ...env, GCS_API_ENDPOINT: proxy.endpoint, BEL_WORKER_HTTP_PORT: String(workerPort) },
      logFile: join(dir, `worker-${++procs}.log`),
    });
  const startWatcher = async (extra: Record<string, string> = {}): Promise<WorkerProcess> =>
    startWatcherProcess({
      env: { ...env, BEL_WATCHER_HTTP_PORT: String(watcherPort), ...extra },
      logFile: join(dir, `watcher-${++procs}.log`),
    });

  /** A served entry (type local unless given) with its shoot namespace and, unless `secret: false`, its provider secret. */
  async function createEntry(o: { secret?: boolean; gcp?: { bucket: string; sa: string } } = {}): Promise<string> {
    const e = entryName('prom');
    await kube.ensureNamespace(e.ns);
    const secret = `entry-${e.name}`;
    if (o.secret !== false)
      await kube.createSecret('garden', secret, o.gcp ? { 'serviceaccount.json': o.gcp.sa } : { token: 'x' });
    await kube.createEntry(e.name, {
      type: o.gcp ? 'gcp' : 'local',
      class: label,
      region: 'r',
      bucketName: o.gcp?.bucket ?? 'bucket',
      secretRef: { name: secret, namespace: 'garden' },
    });
    cleanups.push(() => kube.forceRemove(e.name));
    return e.name;
  }
  const succeeded = (name: string): Promise<unknown> =>
    kube.entryUntil(name, (x) => x?.status?.lastOperation?.state === 'Succeeded', 'Succeeded', 90_000);
  const gone = (name: string): Promise<unknown> =>
    pollFor(async () => ((await kube.getEntry(name)) ? undefined : true), `${name} gone`, 90_000);

  beforeAll(async () => {
    await requirePrometheus();
    client = await temporalClient();
    cleanups.push(() => client.connection.close());
    mkdirSync(join(root, 'bucket'), { recursive: true });
    await kube.ensureNamespace('garden');
    proxy = await startFaultProxy(stackEnv('GCS_API_ENDPOINT'));
    cleanups.push(() => proxy.stop());
    // Fixed ports below the ephemeral range: a restarted process comes back where Prometheus scrapes.
    [workerPort, watcherPort] = [await stablePort(), await stablePort()];
    worker = await startWorker();
    watcher = await startWatcher();

    // The chart's rules with short thresholds, as the PrometheusRule would carry them.
    const sets = Object.entries(SHORT).flatMap(([k, v]) => ['--set', `monitoring.prometheusRule.${k}=${v}`]);
    const rendered = await helm(
      'template',
      'bel',
      CHART,
      '--set',
      'clusterIdentity=prom',
      '--set',
      'monitoring.prometheusRule.enabled=true',
      '--show-only',
      'templates/prometheusrule.yaml',
      ...sets,
    );
    const rule = objectsOf(rendered).find((o) => o.kind === 'PrometheusRule')!;
    const rules = join(dir, 'rules.yaml');
    writeFileSync(rules, stringify(rule.spec));
    await promtool('check', 'rules', rules);
    prom = await startPrometheus({
      dir: join(dir, 'prometheus'),
      ruleFiles: [rules],
      jobs: {
        'backupentry-lifecycle-worker': [`127.0.0.1:${workerPort}`],
        'backupentry-lifecycle-watcher': [`127.0.0.1:${watcherPort}`],
      },
    });
    cleanups.push(() => prom.stop());
    await prom.untilTargetsUp();
    // Baseline: the watcher leads and is in sync, the worker polls, nothing fails yet.
    for (const name of [
      'BackupEntryWatcherNoLeader',
      'BackupEntryWatcherNotInSync',
      'BackupEntryWorkerNotPolling',
      'BackupEntryFailing',
    ]) {
      await prom.untilResolved(name, 30_000);
    }
  }, 180_000);

  afterAll(async () => {
    await Promise.all([worker?.stop(5000), watcher?.stop(5000)]);
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    process.stderr.write(
      `[prometheus tier] alerts.test.ts took ${Math.round((Date.now() - t0) / 1000)} s; logs in ${dir}\n`,
    );
    if (process.env.BEL_KEEP_PROMETHEUS_LOGS !== '1') rmSync(dir, { recursive: true, force: true });
  });

  test('BackupEntryFailing fires for an entry in Error longer than the threshold and resolves once it is fixed', async () => {
    const name = await createEntry({ secret: false });
    await kube.untilErrorStatus(name);
    const alert = await prom.untilAlert('BackupEntryFailing');
    expect(alert.labels).toMatchObject({ severity: 'warning', type: 'seed', visibility: 'operator' });
    expect(alert.annotations.runbook_url).toBe('docs/runbook.md#backupentryfailing');
    expect(Number(alert.value)).toBeGreaterThan(2);
    expect(
      (await prom.query('max(bel_watcher_error_entries{code="ERR_CONFIGURATION_PROBLEM"})'))[0]?.value,
    ).toBeGreaterThanOrEqual(1);
    expect((await prom.query('max(bel_watcher_entries_by_phase{phase="Error"})'))[0]?.value).toBeGreaterThanOrEqual(1);
    // Fix: the secret appears; gardenlet's way of asking for another pass.
    await kube.createSecret('garden', `entry-${name}`, { token: 'x' });
    await kube.annotate(name, { 'gardener.cloud/operation': 'reconcile' });
    await succeeded(name);
    await prom.untilResolved('BackupEntryFailing');
    expect((await prom.query('max(bel_watcher_error_longest_seconds)'))[0]?.value).toBe(0);
  });

  test('BackupEntryBackupsLeftBehind fires for an entry deleted without its credentials and resolves once its run is deleted', async () => {
    const name = await createEntry();
    await succeeded(name);
    // The credentials secret vanishes under the entry (someone took our finalizer off and deleted it).
    await kube.core.patchNamespacedSecret(
      { namespace: 'garden', name: `entry-${name}`, body: { metadata: { finalizers: null } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await kube.core.deleteNamespacedSecret({ namespace: 'garden', name: `entry-${name}` });
    await kube.deleteEntry(name);
    const id = workflowIdFor(env.BEL_CLUSTER_IDENTITY!, name);
    if (!id.ok) throw new Error(id.error.message);
    const alert = await prom.untilAlert('BackupEntryBackupsLeftBehind');
    expect(alert.labels).toMatchObject({ severity: 'warning', type: 'seed', visibility: 'operator' });
    expect(alert.annotations.runbook_url).toBe('docs/runbook.md#backupentrybackupsleftbehind');
    // The run that left them says why (decision log), and the prefix is still in the bucket.
    const orphaned = [];
    for await (const wf of client.workflow.list({
      query: `WorkflowId = '${id.value}' AND BackupEntryPhase = 'Orphaned'`,
    }))
      orphaned.push(wf);
    expect(orphaned.length).toBe(1);
    const run = client.workflow.getHandle(id.value, orphaned[0]!.runId);
    // Either the deletion found the credentials gone, or (a signal arriving as that run completed made its workflow task
    // run again) the entry had vanished by then: both keep the backups and say so.
    const reasons = (await run.result()).decisions.map((d: { reason: string }) => d.reason);
    expect(reasons.some((r: string) => r === 'secretRef missing at deletion' || r === 'entry vanished')).toBe(true);
    // What the runbook says to do once the backups are dealt with: delete the run from Temporal.
    await client.workflowService.deleteWorkflowExecution({
      namespace: stackEnv('TEMPORAL_NAMESPACE'),
      workflowExecution: { workflowId: id.value, runId: orphaned[0]!.runId },
    });
    await prom.untilResolved('BackupEntryBackupsLeftBehind');
  });

  test('the dashboard and the rules query only metric names the live worker and watcher export', async () => {
    const scrape = async (port: number): Promise<string> => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    // The Temporal runtime exports a regular activity's metrics once one has run, and the Kubernetes steps are local
    // activities: an entry deleted at once (retention 0s) runs deleteBackups first.
    const name = await createEntry();
    putLocal(root, 'bucket', [`${name}/etcd-main/v2/Full-1.gz`]);
    await succeeded(name);
    await kube.annotate(name, { [ANN.retention]: '0s' });
    await kube.deleteEntry(name);
    await gone(name);
    await pollFor(
      async () =>
        /^temporal_activity_schedule_to_start_latency_bucket/m.test(await scrape(workerPort)) ? true : undefined,
      'the worker exporting activity metrics',
      60_000,
    );
    const exposed = new Set([...exposedNames(await scrape(workerPort)), ...exposedNames(await scrape(watcherPort))]);
    // Prometheus's own series for every query (ALERTS etc. are not used).
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as unknown;
    const exprs = [
      ...dashboardExpressions(dashboard),
      ...(
        parse(readFileSync(RULES_PLAIN, 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> }
      ).groups.flatMap((g) => g.rules.map((r) => ({ panel: `rule ${r.alert}`, expr: r.expr }))),
    ];
    expect(exprs.length).toBeGreaterThan(30);
    const unknown = exprs.flatMap(({ panel, expr }) =>
      metricNames(expr)
        .filter((n) => !exposed.has(n))
        .map((n) => `${panel}: ${n}`),
    );
    expect(unknown).toEqual([]);
    // Negative control: the check does see a name nobody exports.
    expect(
      metricNames('sum(rate(bel_worker_no_such_metric_total{a="b"}[$__rate_interval]))').filter((n) => !exposed.has(n)),
    ).toEqual(['bel_worker_no_such_metric_total']);
    // And every query is valid PromQL to this Prometheus (Grafana's $__rate_interval stands in as 1m).
    for (const { panel, expr } of exprs) {
      await expect(
        prom.query(expr.replaceAll('$__rate_interval', '1m')).then(
          () => 'ok',
          (e: Error) => `${panel}: ${e.message}`,
        ),
      ).resolves.toBe('ok');
    }
  });

  test('BackupEntryWorkerNotPolling and BackupEntryDeletionOverdue fire while no worker runs past a deadline; both resolve once one runs', async () => {
    const name = await createEntry();
    putLocal(root, 'bucket', [`${name}/etcd-main/v2/Full-1.gz`, `${name}2/etcd-main/v2/Full-1.gz`]);
    await succeeded(name);
    await kube.annotate(name, { [ANN.retention]: '15s' });
    await kube.deleteEntry(name);
    // Retaining, as the workflow says (with BEL_RETENTION_MODE=release-entry the BackupEntry is released meanwhile).
    const id = workflowIdFor(env.BEL_CLUSTER_IDENTITY!, name);
    if (!id.ok) throw new Error(id.error.message);
    const handle = client.workflow.getHandle(id.value);
    const view = await statusUntil(handle, (v) => v.phase === 'Retaining' && !!v.deletionScheduledAt, 'Retaining');
    const deadline = Date.parse(view.deletionScheduledAt!);
    expect(deadline).toBeGreaterThan(Date.now());
    await pollFor(
      async () => ((await prom.query('max(bel_watcher_retaining_workflows)'))[0]?.value === 1 ? true : undefined),
      'the calendar from visibility shows the retaining workflow',
      30_000,
    );
    await worker!.kill();
    worker = undefined;
    await prom.untilAlert('BackupEntryWorkerNotPolling');
    const overdue = await prom.untilAlert('BackupEntryDeletionOverdue');
    expect(Date.now()).toBeGreaterThan(deadline + 2000);
    expect(overdue.labels.severity).toBe('critical');
    expect((await prom.query('max(bel_watcher_retention_overdue_entries)'))[0]?.value).toBe(1);
    const held = await kube.getEntry(name);
    process.stderr.write(
      `[prometheus tier] overdue entry ${held ? 'held (informer and visibility)' : 'released (visibility only)'}\n`,
    );
    // What the runbook says to run: the CLI lists it as overdue (real Temporal visibility, DeletionScheduledAt).
    let out = '';
    const code = await runCli(['list', '--overdue', '-o', 'json'], {
      env: { ...process.env, BEL_CLUSTER_IDENTITY: env.BEL_CLUSTER_IDENTITY },
      out: { write: (t: string) => (out += t) },
      err: { write: () => undefined },
    });
    expect(code).toBe(0);
    expect((JSON.parse(out) as EntryRow[]).map((r) => r.entry)).toEqual([name]);
    // Fix: a worker again; the retention timer fires at once and the deletion runs.
    worker = await startWorker();
    await prom.untilResolved('BackupEntryWorkerNotPolling');
    await statusUntil(handle, (v) => v.phase === 'Deleted', 'Deleted', 90_000);
    await gone(name);
    await prom.untilResolved('BackupEntryDeletionOverdue');
    expect(listLocal(root, 'bucket').filter((k) => k.startsWith(`${name}`))).toEqual([
      `${name}2/etcd-main/v2/Full-1.gz`,
    ]);
  });

  test('BackupEntryDeletionStalled fires while a deletion makes no progress and resolves once it completes (429s counted)', async () => {
    const storage = gcsClient();
    const bucketName = `prom-${short()}`;
    const bucket = await createGcsBucket(storage, bucketName);
    const name = await createEntry({ gcp: { bucket: bucketName, sa: serviceAccount().json } });
    await putGcs(
      bucket,
      Array.from({ length: 20 }, (_, i) => `${name}/etcd-main/v2/Incr-${String(i).padStart(4, '0')}.gz`),
    );
    await succeeded(name);
    // Every DELETE of this bucket is held 8 s; the first three are answered 429 (retried) before that.
    proxy.add({ match: on.deletes(bucketName), action: { kind: 'delay', ms: 8000 } });
    const throttle = proxy.add({ match: on.deletes(bucketName), action: faults.status429, times: 3 });
    await kube.annotate(name, { [ANN.retention]: '0s' });
    await kube.deleteEntry(name);
    const alert = await prom.untilAlert('BackupEntryDeletionStalled');
    expect(Number(alert.value)).toBeGreaterThan(3);
    expect((await prom.query('sum(bel_worker_deletions_in_flight)'))[0]?.value).toBe(1);
    expect((await prom.query('sum(bel_worker_deletions_in_flight_objects{count="inventoried"})'))[0]?.value).toBe(20);
    expect(throttle.fired).toBe(3);
    expect((await prom.query('sum(bel_worker_storage_throttled_total{provider="gcp",status="429"})'))[0]?.value).toBe(
      3,
    );
    // Fix: the object store answers again.
    proxy.clear();
    const id = workflowIdFor(env.BEL_CLUSTER_IDENTITY!, name);
    if (!id.ok) throw new Error(id.error.message);
    await statusUntil(client.workflow.getHandle(id.value), (v) => v.phase === 'Deleted', 'Deleted', 90_000);
    await prom.untilResolved('BackupEntryDeletionStalled');
    await pollFor(
      async () => ((await prom.query('sum(bel_worker_deletions_in_flight)'))[0]?.value === 0 ? true : undefined),
      'no deletion in flight',
      30_000,
    );
    await gone(name);
    expect((await storage.bucket(bucketName).getFiles())[0]).toEqual([]);
  });

  test('BackupEntryWatcherNoLeader fires without a watcher; BackupEntryWatcherNotInSync while the leader cannot list; both resolve', async () => {
    await watcher!.kill();
    watcher = undefined;
    await prom.untilAlert('BackupEntryWatcherNoLeader');
    // A watcher that may take a Lease but, by RBAC, not list BackupEntries: it leads, its informer cannot sync.
    const user = `${label}-watcher`;
    const rbac = kube.kc.makeApiClient(RbacAuthorizationV1Api);
    const leaseNs = 'default';
    await rbac.createNamespacedRole({
      namespace: leaseNs,
      body: {
        metadata: { name: user },
        rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: leaseNs,
      body: {
        metadata: { name: user },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: user },
        subjects: [{ kind: 'User', name: user }],
      },
    });
    cleanups.push(
      () => rbac.deleteNamespacedRoleBinding({ namespace: leaseNs, name: user }),
      () => rbac.deleteNamespacedRole({ namespace: leaseNs, name: user }),
    );
    const kubeconfig = kubeconfigForUser(stackEnv('KUBECONFIG'), user, []);
    watcher = await startWatcher({ KUBECONFIG: kubeconfig, BEL_WATCHER_LEASE_NAME: `${label}-restricted` });
    await prom.untilResolved('BackupEntryWatcherNoLeader');
    await prom.untilAlert('BackupEntryWatcherNotInSync');
    expect(watcher.text()).toMatch(/List\/watch failed; restarting after a backoff/);
    // Fix: grant what the chart's ClusterRole grants for reading entries and provider secrets.
    await rbac.createClusterRole({
      body: {
        metadata: { name: user },
        rules: [
          { apiGroups: ['extensions.gardener.cloud'], resources: ['backupentries'], verbs: ['get', 'list', 'watch'] },
          { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'] },
        ],
      },
    });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: user },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: user },
        subjects: [{ kind: 'User', name: user }],
      },
    });
    cleanups.push(
      () => rbac.deleteClusterRoleBinding({ name: user }),
      () => rbac.deleteClusterRole({ name: user }),
    );
    await prom.untilResolved('BackupEntryWatcherNotInSync');
    expect((await prom.query('max(bel_watcher_in_sync)'))[0]?.value).toBe(1);
  });
});

import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { BACKUPENTRY_API, FINALIZER } from '../../../domain';
import { kubeconfigForUser } from '../../../tools/stack';
import { runWorker } from '../../../worker/main';
import { stackEnv } from '../../support/env';
import { CHART, helm, kubectl, objectsOf } from '../../support/manifests';
import { G, Harness, metricValue } from '../watcher/watcher-harness';

const run = promisify(execFile);

/** Resolves to the HTTP status a client-node call failed with (or 200 when it succeeded). */
async function statusOf(call: Promise<unknown>): Promise<number> {
  return call.then(
    () => 200,
    (e: { code?: unknown }) => (typeof e.code === 'number' ? e.code : -1),
  );
}

/**
 * Least privilege, proven on a real kube-apiserver with RBAC authorization: the chart's two ServiceAccounts (worker,
 * watcher), ClusterRoles, Roles and bindings, and the worker's Secret admission policy
 * (templates/worker-secrets-policy.yaml) are applied as rendered; the worker and the watcher each run with their own
 * identity (a client certificate CN=system:serviceaccount:<ns>:<sa>, O=system:serviceaccounts[:<ns>], which RBAC and
 * admission treat like the ServiceAccount) through a whole lifecycle, and a few things neither ever does are refused
 * with 403. test/integration/deploy/least-privilege.test.ts probes the admission policy request by request.
 */
describe("RBAC: the chart's rules are enough for a whole lifecycle, and no more", () => {
  const suffix = randomUUID().slice(0, 6);
  // Short names: the identity is a certificate CN, at most 64 characters (system:serviceaccount:<ns>:<sa>). Cluster-scoped
  // objects keep the chart's names; applying them again (a rerun on an attached stack) only rebinds them here. The
  // admission policy matches this namespace's worker only.
  const ns = `rb-${suffix}`;
  const lease = `rbac-${suffix}`;
  const release = 'backupentry-lifecycle';
  const h = new Harness({ worker: false, env: { BEL_WATCHER_LEASE_NAMESPACE: ns, BEL_WATCHER_LEASE_NAME: lease } });
  const dir = mkdtempSync(join(tmpdir(), 'bel-rbac-'));
  const file = join(dir, 'rbac.yaml');
  const sa = { worker: '', watcher: '' };
  const saKubeconfig = { worker: '', watcher: '' };
  let workerKc: KubeConfig;
  let watcherKc: KubeConfig;
  let policy = '';
  let stopWorker!: () => void;
  let workerDone: Promise<void> | undefined;
  let workerPort: number | undefined;

  beforeAll(async () => {
    await h.setup();
    await h.core.createNamespace({ body: { metadata: { name: ns } } });
    const rendered = await helm(
      'template',
      release,
      CHART,
      '--namespace',
      ns,
      '--set',
      `watcher.leaseName=${lease}`,
      '--set',
      `clusterIdentity=rbac-${suffix}`,
      '--show-only',
      'templates/serviceaccount.yaml',
      '--show-only',
      'templates/rbac.yaml',
      '--show-only',
      'templates/worker-secrets-policy.yaml',
    );
    writeFileSync(file, rendered);
    await kubectl('apply', '-f', file);
    const objs = objectsOf(rendered);
    policy = objs.find((o) => o.kind === 'ValidatingAdmissionPolicy')!.metadata.name;
    const kubeConfigOf = (process: 'worker' | 'watcher'): KubeConfig => {
      sa[process] = objs.find(
        (o) => o.kind === 'ServiceAccount' && o.metadata.labels?.['app.kubernetes.io/component'] === process,
      )!.metadata.name;
      saKubeconfig[process] = kubeconfigForUser(stackEnv('KUBECONFIG'), `system:serviceaccount:${ns}:${sa[process]}`, [
        'system:serviceaccounts',
        `system:serviceaccounts:${ns}`,
      ]);
      const kc = new KubeConfig();
      kc.loadFromFile(saKubeconfig[process]);
      return kc;
    };
    workerKc = kubeConfigOf('worker');
    watcherKc = kubeConfigOf('watcher');
    // The policy in force before the worker starts (the admission plugin loads a new policy within a moment): a dry-run
    // create of a stray secret by the worker is refused by it.
    const workerCore = workerKc.makeApiClient(CoreV1Api);
    await h.until(
      async () =>
        workerCore.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'probe' } }, dryRun: 'All' }).then(
          () => false,
          (e: { code?: number; body?: unknown }) =>
            e.code === 403 && (typeof e.body === 'string' ? e.body : JSON.stringify(e.body)).includes(policy),
        ),
      `the admission policy ${policy} in force`,
      60_000,
    );
    const stop = new Promise<void>((r) => (stopWorker = r));
    workerDone = runWorker({
      config: h.config,
      kubeConfig: workerKc,
      stop,
      httpPort: 0,
      onListening: (p) => (workerPort = p),
    });
  });

  afterAll(async () => {
    stopWorker?.();
    await workerDone;
    await h.teardown();
    // The policy matches this run's worker only; remove it (and its binding) rather than leave it in the shared server.
    await kubectl(
      'delete',
      '--ignore-not-found',
      'validatingadmissionpolicybinding,validatingadmissionpolicy',
      policy,
    ).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('the ServiceAccount identities are what RBAC sees: a worker that writes, a watcher that reads', async () => {
    expect(sa).toEqual({ worker: 'backupentry-lifecycle-worker', watcher: 'backupentry-lifecycle-watcher' });
    for (const process of ['worker', 'watcher'] as const) {
      const { stdout } = await run(stackEnv('KUBECTL'), [
        '--kubeconfig',
        saKubeconfig[process],
        'auth',
        'whoami',
        '-o',
        'json',
      ]);
      const who = JSON.parse(stdout) as { status: { userInfo: { username: string; groups: string[] } } };
      expect(who.status.userInfo.username).toBe(`system:serviceaccount:${ns}:${sa[process]}`);
      expect(who.status.userInfo.groups).toEqual(
        expect.arrayContaining(['system:serviceaccounts', `system:serviceaccounts:${ns}`]),
      );
    }
    // The API server's own view of each SA's rights (impersonated by the admin) agrees with the chart.
    const can = async (process: 'worker' | 'watcher', ...a: string[]): Promise<string> =>
      (
        await kubectl('auth', 'can-i', ...a, '--as', `system:serviceaccount:${ns}:${sa[process]}`).catch(
          (e: { stdout: string }) => e,
        )
      ).stdout.trim();
    const rights = async (process: 'worker' | 'watcher'): Promise<Record<string, string>> => {
      const asks: Record<string, string[]> = {
        'get backupentries': ['get', 'backupentries.extensions.gardener.cloud'],
        'watch backupentries': ['watch', 'backupentries.extensions.gardener.cloud'],
        'patch backupentries': ['patch', 'backupentries.extensions.gardener.cloud'],
        'patch backupentries/status': ['patch', 'backupentries.extensions.gardener.cloud/status'],
        'get namespaces': ['get', 'namespaces'],
        'watch secrets in garden': ['watch', 'secrets', '-n', 'garden'],
        'get secrets in garden': ['get', 'secrets/x', '-n', 'garden'],
        'patch secrets in garden': ['patch', 'secrets/x', '-n', 'garden'],
        'watch secrets in kube-system': ['watch', 'secrets', '-n', 'kube-system'],
        'create secrets': ['create', 'secrets', '-n', 'kube-system'],
        'get etcd-backup': ['get', 'secrets/etcd-backup', '-n', 'kube-system'],
        'update etcd-backup': ['update', 'secrets/etcd-backup', '-n', 'kube-system'],
        'update other secrets': ['update', 'secrets/other', '-n', 'kube-system'],
        'create events in default': ['create', 'events', '-n', 'default'],
        'update its lease': ['update', `leases.coordination.k8s.io/${lease}`, '-n', ns],
      };
      const out: Record<string, string> = {};
      for (const [what, args] of Object.entries(asks)) out[what] = await can(process, ...args);
      return out;
    };
    expect(await rights('worker')).toEqual({
      'get backupentries': 'yes',
      'watch backupentries': 'no',
      'patch backupentries': 'yes',
      'patch backupentries/status': 'yes',
      'get namespaces': 'yes',
      'watch secrets in garden': 'no',
      'get secrets in garden': 'yes',
      'patch secrets in garden': 'yes',
      'watch secrets in kube-system': 'no',
      'create secrets': 'yes',
      'get etcd-backup': 'yes',
      'update etcd-backup': 'yes',
      'update other secrets': 'no',
      'create events in default': 'yes',
      'update its lease': 'no',
    });
    expect(await rights('watcher')).toEqual({
      'get backupentries': 'yes',
      'watch backupentries': 'yes',
      'patch backupentries': 'no',
      'patch backupentries/status': 'no',
      'get namespaces': 'no',
      'watch secrets in garden': 'yes',
      'get secrets in garden': 'no',
      'patch secrets in garden': 'no',
      'watch secrets in kube-system': 'no',
      'create secrets': 'no',
      'get etcd-backup': 'yes',
      'update etcd-backup': 'no',
      'update other secrets': 'no',
      'create events in default': 'no',
      'update its lease': 'yes',
    });
  });

  it('worker and watcher with only these rights: create → Succeeded + etcd-backup, delete (retention 0s) → gone', async () => {
    const watcher = await h.leader({ kubeConfig: watcherKc, httpPort: false });
    expect(watcher.isLeader()).toBe(true);
    const e = await h.createEntry();
    h.putObject(e.name);
    h.putObject(e.name, 'etcd-main/v2/Incr-00000002-00000003-1755684300.gz');
    await h.untilSucceeded(e.name, 'Create');
    const etcd = await h.core.readNamespacedSecret({ namespace: e.ns, name: 'etcd-backup' });
    expect(etcd.metadata?.annotations?.['backup.gardener.cloud/created-by']).toBe(e.name);
    const provider = await h.core.readNamespacedSecret({ namespace: 'garden', name: e.secretName });
    expect(provider.metadata?.finalizers).toContain(FINALIZER);
    // The watcher's Lease, in the release namespace, held by this watcher.
    const l = await h.kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace: ns, name: lease });
    expect(l.spec?.holderIdentity).toBe(watcher.identity);

    await h.annotate(e.name, { 'backupentry.extensions.gardener.cloud/retention-period': '0s' });
    await h.deleteEntry(e.name);
    await h.untilGone(e.name, 90_000);
    expect(await statusOf(h.core.readNamespacedSecret({ namespace: e.ns, name: 'etcd-backup' }))).toBe(404);
    const after = await h.core.readNamespacedSecret({ namespace: 'garden', name: e.secretName });
    expect(after.metadata?.finalizers ?? []).not.toContain(FINALIZER);
    // Events about the entry were recorded (in `default`) by the controller's identity.
    const events = await h.core.listNamespacedEvent({
      namespace: 'default',
      fieldSelector: `involvedObject.name=${e.name}`,
    });
    expect(events.items.length).toBeGreaterThan(0);
    // Not one activity attempt was refused on the way.
    const metrics = await (await fetch(`http://127.0.0.1:${workerPort}/metrics`)).text();
    expect(metricValue(metrics, 'bel_worker_activity_failures_total', { code: 'ERR_INFRA_UNAUTHORIZED' })).toBe(0);
    expect(metricValue(metrics, 'bel_worker_deleted_objects_total', { provider: 'local' })).toBe(2);
  });

  it('refuses (403) what the worker never does', async () => {
    const core = workerKc.makeApiClient(CoreV1Api);
    const custom = workerKc.makeApiClient(CustomObjectsApi);
    const leases = workerKc.makeApiClient(CoordinationV1Api);
    await h.core.createNamespacedSecret({
      namespace: 'kube-system',
      body: { metadata: { name: `not-ours-${suffix}` }, stringData: { k: 'v' } },
    });
    const other = await h.createEntry();
    const refused: Record<string, Promise<unknown>> = {
      'delete a BackupEntry': custom.deleteClusterCustomObject({ ...G, name: other.name }),
      'create a BackupEntry': custom.createClusterCustomObject({
        ...G,
        body: {
          apiVersion: BACKUPENTRY_API.apiVersion,
          kind: BACKUPENTRY_API.kind,
          metadata: { name: `x-${suffix}` },
          spec: { type: 'local', region: 'r', bucketName: 'b', secretRef: { name: 'x', namespace: 'garden' } },
        },
      }),
      'update (PUT) a BackupEntry': h
        .getEntry(other.name)
        .then((o) => custom.replaceClusterCustomObject({ ...G, name: other.name, body: o! })),
      'list pods cluster-wide': core.listPodForAllNamespaces(),
      'list pods in its own namespace': core.listNamespacedPod({ namespace: ns }),
      'list secrets cluster-wide': core.listSecretForAllNamespaces(),
      'list secrets in kube-system': core.listNamespacedSecret({ namespace: 'kube-system' }),
      'read a secret in kube-system': core.readNamespacedSecret({
        namespace: 'kube-system',
        name: `not-ours-${suffix}`,
      }),
      'patch a secret outside the provider namespaces': core.patchNamespacedSecret({
        namespace: 'kube-system',
        name: `not-ours-${suffix}`,
        body: [{ op: 'add', path: '/metadata/labels', value: { x: 'y' } }],
      }),
      'delete a provider secret': core.deleteNamespacedSecret({ namespace: 'garden', name: other.secretName }),
      'create a namespace': core.createNamespace({ body: { metadata: { name: `x-${suffix}` } } }),
      'delete a shoot namespace': core.deleteNamespace({ name: other.ns }),
      "read the watcher's Lease": leases.readNamespacedLease({ namespace: ns, name: lease }),
      'create a Lease': leases.createNamespacedLease({ namespace: ns, body: { metadata: { name: `x-${suffix}` } } }),
      'create a Lease elsewhere': leases.createNamespacedLease({
        namespace: 'kube-system',
        body: { metadata: { name: `x-${suffix}` } },
      }),
      'create an Event outside default': core.createNamespacedEvent({
        namespace: ns,
        body: { metadata: { name: `x-${suffix}` }, involvedObject: { kind: 'Namespace', name: ns } },
      }),
    };
    const results: Record<string, number> = {};
    for (const [what, call] of Object.entries(refused)) results[what] = await statusOf(call);
    expect(results).toEqual(Object.fromEntries(Object.keys(refused).map((k) => [k, 403])));
    // And what it does need still works with the same client (the control for the refusals above).
    expect(await statusOf(core.readNamespacedSecret({ namespace: 'garden', name: other.secretName }))).toBe(200);
    expect(await statusOf(custom.getClusterCustomObject({ ...G, name: other.name }))).toBe(200);
  });
});

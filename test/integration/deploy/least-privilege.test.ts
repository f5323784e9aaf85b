import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Secret,
} from '@kubernetes/client-node';
import { createKubeGateway } from '../../../adapters/kubernetes/kube-client';
import { BACKUPENTRY_API, BUCKET_RETENTION_FINALIZER, FINALIZER, retentionAnchorName } from '../../../domain';
import { createRetentionAnchors } from '../../../activities/retention-anchor';
import { ANNOTATION_RETENTION_RECORDS } from '../../../domain/retention-record';
import { waitFor } from '../../../tools/stack/wait';
import { BB, answer, createBackupBucket } from '../../support/backup-buckets';
import { adminKubeConfig, uniqueName } from '../../support/env';
import { CHART, type K8sObject, ROOT, helm, kubectl, objectsOf, renderChart } from '../../support/manifests';

const PLAIN = join(ROOT, 'deploy', 'admission', 'worker-secrets.yaml');
const POLICY_TEMPLATE = 'templates/worker-secrets-policy.yaml';
const G = { group: BACKUPENTRY_API.group, version: BACKUPENTRY_API.version, plural: BACKUPENTRY_API.plural };
const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
/** Someone else's finalizer and annotation on the provider secret: the worker must leave them alone. */
const FOREIGN_FINALIZER = 'example.com/keep';
const FOREIGN_ANNOTATION = 'workloadidentity.security.gardener.cloud/name';

type Policy = K8sObject & {
  spec: { matchConditions: Array<{ name: string; expression: string }> };
};

/** A KubeConfig for the stack's API server that authenticates with a bearer token (a ServiceAccount's). */
function tokenKubeConfig(admin: KubeConfig, token: string): KubeConfig {
  const cluster = admin.getCurrentCluster()!;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: 'sa', token }],
    contexts: [{ name: 'sa', cluster: cluster.name, user: 'sa' }],
    currentContext: 'sa',
  });
  return kc;
}

/**
 * Least privilege on the real kube-apiserver: the chart's two ServiceAccounts with their RBAC, and the admission policy
 * templates/worker-secrets-policy.yaml (= deploy/admission/worker-secrets.yaml) bounding the worker's Secret writes.
 * The chart is installed here under a release name of its own (every cluster-scoped object gets a unique name, and the
 * policy matches only this release's worker user), in a release namespace of its own; the two processes authenticate
 * with real ServiceAccount tokens (TokenRequest API). RBAC lets the worker create any Secret anywhere and update or
 * delete any Secret named etcd-backup: every refusal below that names the policy is the policy's alone.
 */
describe('least privilege: a read-only watcher, and a worker bounded by the API server', () => {
  const admin = adminKubeConfig();
  const core = admin.makeApiClient(CoreV1Api);
  const custom = admin.makeApiClient(CustomObjectsApi);
  const dir = mkdtempSync(join(tmpdir(), 'bel-least-privilege-'));
  const release = uniqueName('lp');
  const ns = release;
  const shootNs = `shoot--lp--${release.replace(/^lp-/, '')}`;
  /** Where the worker's allowed writes are tried: untouched by the refused ones (which a broken policy lets through). */
  const cleanShootNs = `shoot--lp2--${release.replace(/^lp-/, '')}`;
  const providerSecret = `${release}-provider`;
  const cleanProviderSecret = `${release}-provider-2`;
  const entryName = `${shootNs}--${release.slice(-6)}`;
  const file = join(dir, 'release.yaml');
  let policyName = '';
  let policyInForce = false;
  let workerUser = '';
  let watcherUser = '';
  let worker!: { core: CoreV1Api; custom: CustomObjectsApi; kc: KubeConfig };
  let watcher!: { core: CoreV1Api; custom: CustomObjectsApi };

  const ignore409 = (e: { code?: number }): void => {
    if (e.code !== 409) throw e;
  };
  const readSecret = (namespace: string, name: string): Promise<V1Secret> =>
    core.readNamespacedSecret({ namespace, name });
  const exists = async (namespace: string, name: string): Promise<boolean> =>
    (await answer(readSecret(namespace, name))).code === 200;
  /** A refusal by this test's policy (403 with its name), with the message for the failure report. */
  const byPolicy = (r: { code: number; message: string }): { code: number; policy: boolean } => ({
    code: r.code,
    policy: r.message.includes(`ValidatingAdmissionPolicy '${policyName}'`),
  });
  const REFUSED_BY_POLICY = { code: 403, policy: true };
  const can = async (user: string, ...args: string[]): Promise<string> =>
    (await kubectl('auth', 'can-i', ...args, '--as', user).catch((e: { stdout: string }) => e)).stdout.trim();

  beforeAll(async () => {
    for (const name of [ns, shootNs, cleanShootNs, 'garden']) {
      await core.createNamespace({ body: { metadata: { name } } }).catch(ignore409);
    }
    const rendered = await helm(
      'template',
      release,
      CHART,
      '--namespace',
      ns,
      '--set',
      `clusterIdentity=${release}`,
      '--show-only',
      'templates/serviceaccount.yaml',
      '--show-only',
      'templates/rbac.yaml',
      '--show-only',
      POLICY_TEMPLATE,
    );
    writeFileSync(file, rendered);
    await kubectl('apply', '-f', file);
    const objs = objectsOf(rendered);
    policyName = objs.find((o) => o.kind === 'ValidatingAdmissionPolicy')!.metadata.name;
    const sa = (component: string): string =>
      objs.find((o) => o.kind === 'ServiceAccount' && o.metadata.labels?.['app.kubernetes.io/component'] === component)!
        .metadata.name;
    workerUser = `system:serviceaccount:${ns}:${sa('worker')}`;
    watcherUser = `system:serviceaccount:${ns}:${sa('watcher')}`;
    const token = async (name: string): Promise<string> =>
      (
        await core.createNamespacedServiceAccountToken({
          namespace: ns,
          name,
          body: { spec: { audiences: [], expirationSeconds: 3600 } },
        })
      ).status!.token!;
    const workerKc = tokenKubeConfig(admin, await token(sa('worker')));
    const watcherKc = tokenKubeConfig(admin, await token(sa('watcher')));
    worker = {
      core: workerKc.makeApiClient(CoreV1Api),
      custom: workerKc.makeApiClient(CustomObjectsApi),
      kc: workerKc,
    };
    watcher = { core: watcherKc.makeApiClient(CoreV1Api), custom: watcherKc.makeApiClient(CustomObjectsApi) };

    // Provider secrets as Gardener keeps them in `garden`, with someone else's finalizer, annotation and label.
    for (const name of [providerSecret, cleanProviderSecret]) {
      await core.createNamespacedSecret({
        namespace: 'garden',
        body: {
          metadata: {
            name,
            labels: { 'provider.shoot.gardener.cloud/gcp': 'true' },
            annotations: { [FOREIGN_ANNOTATION]: 'gcp-identity' },
            finalizers: [FOREIGN_FINALIZER],
          },
          type: 'Opaque',
          stringData: { 'serviceaccount.json': '{"type":"service_account"}' },
        },
      });
    }
    // What the watcher reads by name (no test writes it).
    await core
      .createNamespacedSecret({
        namespace: 'garden',
        body: { metadata: { name: 'source-etcd-backup' }, type: 'Opaque', stringData: { bucketName: 'b' } },
      })
      .catch(ignore409);
    // Secrets named etcd-backup outside a shoot namespace: RBAC lets the worker update and delete them (by name).
    for (const namespace of [ns, 'garden']) {
      await core
        .createNamespacedSecret({
          namespace,
          body: { metadata: { name: 'etcd-backup' }, type: 'Opaque', stringData: { bucketName: 'b' } },
        })
        .catch(ignore409);
    }
    await custom.createClusterCustomObject({
      ...G,
      body: {
        apiVersion: BACKUPENTRY_API.apiVersion,
        kind: BACKUPENTRY_API.kind,
        metadata: { name: entryName },
        spec: {
          type: 'local',
          class: `least-privilege-${release}`,
          region: 'local',
          bucketName: 'bucket-a',
          secretRef: { name: providerSecret, namespace: 'garden' },
        },
      },
    });
    // RBAC and a new policy take a moment to reach the authorizer's and the admission plugin's caches: probe (dry
    // run, nothing persisted) until the worker's create of a stray secret is refused by the policy. A policy that never
    // refuses it is not an error here: the tests below say what it lets through.
    policyInForce = await waitFor(
      async () =>
        byPolicy(
          await answer(
            worker.core.createNamespacedSecret({
              namespace: shootNs,
              body: { metadata: { name: 'probe' }, type: 'Opaque' },
              dryRun: 'All',
            }),
          ),
        ).policy,
      { what: `the ValidatingAdmissionPolicy ${policyName} to refuse the worker's stray secret`, timeoutMs: 30_000 },
    ).then(
      () => true,
      () => false,
    );
  });

  afterAll(async () => {
    const gone = (e: { code?: number }): void => {
      if (e.code !== 404) throw e;
    };
    for (const name of [providerSecret, cleanProviderSecret]) {
      await core
        .patchNamespacedSecret({ namespace: 'garden', name, body: { metadata: { finalizers: null } } }, MERGE)
        .catch(gone);
      await core.deleteNamespacedSecret({ namespace: 'garden', name }).catch(gone);
    }
    for (const name of ['etcd-backup', 'source-etcd-backup']) {
      await core.deleteNamespacedSecret({ namespace: 'garden', name }).catch(gone);
    }
    await custom.deleteClusterCustomObject({ ...G, name: entryName }).catch(gone);
    await kubectl('delete', '--ignore-not-found', '--wait=false', '-f', file).catch(() => undefined);
    for (const name of [ns, shootNs, cleanShootNs]) await core.deleteNamespace({ name }).catch(gone);
    rmSync(dir, { recursive: true, force: true });
  });

  it("deploy/admission/worker-secrets.yaml is the chart rendered with its defaults, bound to the Deployment's ServiceAccount; the API server accepts it", async () => {
    expect(policyInForce).toBe(true);
    const plain = objectsOf(readFileSync(PLAIN, 'utf8'));
    const all = objectsOf(await renderChart('least-privilege-seed'));
    const strip = (o: K8sObject): object => ({ ...o, metadata: { name: o.metadata.name } });
    expect(plain.map(strip)).toEqual(
      all
        .filter((o) => o.kind.startsWith('ValidatingAdmissionPolicy') && o.metadata.name.endsWith('-worker-secrets'))
        .map(strip),
    );
    const deployment = all.find((o) => o.kind === 'Deployment' && o.metadata.name.endsWith('-worker')) as unknown as {
      spec: { template: { spec: { serviceAccountName: string } } };
    };
    expect((plain[0] as Policy).spec.matchConditions).toEqual([
      {
        name: 'worker-service-account',
        expression: `request.userInfo.username == 'system:serviceaccount:backupentry-lifecycle:${deployment.spec.template.spec.serviceAccountName}'`,
      },
    ]);
    const { stdout } = await kubectl('apply', '--dry-run=server', '--validate=strict', '-f', PLAIN);
    expect(stdout).toMatch(
      /validatingadmissionpolicy\.admissionregistration\.k8s\.io\/backupentry-lifecycle-worker-secrets (created|configured|unchanged) \(server dry run\)/,
    );
    // (No kube-controller-manager runs here, so no status.typeChecking: an expression that does not compile fails every
    // request it matches, which the tests that expect the worker's requests to pass would show.)
  });

  it('the worker cannot mint a service-account-token secret, though RBAC lets it create secrets anywhere', async () => {
    expect(await can(workerUser, 'create', 'secrets', '-n', 'kube-system')).toBe('yes');
    const tokenSecret = (name: string): V1Secret => ({
      metadata: { name, annotations: { 'kubernetes.io/service-account.name': 'default' } },
      type: 'kubernetes.io/service-account-token',
    });
    const attempts = {
      'in its own namespace': { namespace: ns, name: `${release}-token` },
      'in kube-system': { namespace: 'kube-system', name: `${release}-token` },
      'named etcd-backup in a shoot namespace': { namespace: shootNs, name: 'etcd-backup' },
      'named source-etcd-backup in a shoot namespace': { namespace: shootNs, name: 'source-etcd-backup' },
    };
    const results: Record<string, object> = {};
    for (const [what, { namespace, name }] of Object.entries(attempts)) {
      results[what] = byPolicy(
        await answer(worker.core.createNamespacedSecret({ namespace, body: tokenSecret(name) })),
      );
      expect([what, await exists(namespace, name)]).toEqual([what, false]);
    }
    expect(results).toEqual(Object.fromEntries(Object.keys(attempts).map((k) => [k, REFUSED_BY_POLICY])));
  });

  it('the worker cannot create a secret named otherwise in a shoot namespace, nor any secret elsewhere; an admin still can', async () => {
    const opaque = (name: string, type = 'Opaque'): V1Secret => ({ metadata: { name }, type, stringData: { k: 'v' } });
    const attempts: Record<string, { namespace: string; body: V1Secret }> = {
      'another name in a shoot namespace': { namespace: shootNs, body: opaque('cloudprovider') },
      'etcd-backup of another type in a shoot namespace': {
        namespace: shootNs,
        body: opaque('etcd-backup', 'example.com/other'),
      },
      'a secret in garden': { namespace: 'garden', body: opaque(`${release}-forged`) },
      'etcd-backup in a namespace that is not a shoot namespace': {
        namespace: 'kube-system',
        body: opaque('etcd-backup'),
      },
    };
    const results: Record<string, object> = {};
    for (const [what, { namespace, body }] of Object.entries(attempts)) {
      results[what] = byPolicy(await answer(worker.core.createNamespacedSecret({ namespace, body })));
    }
    expect(results).toEqual(Object.fromEntries(Object.keys(attempts).map((k) => [k, REFUSED_BY_POLICY])));
    expect(await exists(shootNs, 'cloudprovider')).toBe(false);
    // The policy matches the worker's user only.
    await core.createNamespacedSecret({ namespace: shootNs, body: opaque('cloudprovider') });
    expect(await exists(shootNs, 'cloudprovider')).toBe(true);
  });

  it("the worker cannot rewrite a garden secret's data, stringData, type, labels, or others' finalizers and annotations", async () => {
    const before = await readSecret('garden', providerSecret);
    const patch = (body: object): Promise<unknown> =>
      worker.core.patchNamespacedSecret({ namespace: 'garden', name: providerSecret, body }, MERGE);
    const attempts: Record<string, object> = {
      data: { data: { 'serviceaccount.json': Buffer.from('{"forged":true}').toString('base64') } },
      'data, a new key': { data: { extra: Buffer.from('x').toString('base64') } },
      stringData: { stringData: { 'serviceaccount.json': '{"forged":true}' } },
      labels: { metadata: { labels: { 'provider.shoot.gardener.cloud/gcp': null, forged: 'true' } } },
      'another finalizer removed': { metadata: { finalizers: [FINALIZER] } },
      'another annotation changed': { metadata: { annotations: { [FOREIGN_ANNOTATION]: 'attacker-identity' } } },
      'an annotation outside our domain added': { metadata: { annotations: { 'example.com/note': 'x' } } },
      immutable: { immutable: true },
    };
    const results: Record<string, object> = {};
    for (const [what, body] of Object.entries(attempts)) results[what] = byPolicy(await answer(patch(body)));
    expect(results).toEqual(Object.fromEntries(Object.keys(attempts).map((k) => [k, REFUSED_BY_POLICY])));
    // The type: the API server's own rule (type is immutable, 422) answers before admission; refused either way.
    const type = await answer(patch({ type: 'kubernetes.io/service-account-token' }));
    expect([403, 422]).toContain(type.code);
    // Deleting it: RBAC refuses (no delete on secrets by other names).
    expect((await answer(worker.core.deleteNamespacedSecret({ namespace: 'garden', name: providerSecret }))).code).toBe(
      403,
    );
    const after = await readSecret('garden', providerSecret);
    expect(after.data).toEqual(before.data);
    expect(after.type).toBe('Opaque');
    expect(after.immutable).toBeFalsy();
    expect(after.metadata?.labels).toEqual(before.metadata?.labels);
    expect(after.metadata?.annotations).toEqual(before.metadata?.annotations);
    expect(after.metadata?.finalizers).toEqual([FOREIGN_FINALIZER]);
  });

  it('the worker cannot change or delete a secret named etcd-backup outside a shoot namespace (RBAC would let it)', async () => {
    expect(await can(workerUser, 'delete', 'secrets/etcd-backup', '-n', 'garden')).toBe('yes');
    const attempts: Record<string, Promise<unknown>> = {
      'delete in garden': worker.core.deleteNamespacedSecret({ namespace: 'garden', name: 'etcd-backup' }),
      'delete in the release namespace': worker.core.deleteNamespacedSecret({ namespace: ns, name: 'etcd-backup' }),
      'rewrite its data in garden': worker.core.patchNamespacedSecret(
        { namespace: 'garden', name: 'etcd-backup', body: { stringData: { bucketName: 'other' } } },
        MERGE,
      ),
    };
    const results: Record<string, object> = {};
    for (const [what, call] of Object.entries(attempts)) results[what] = byPolicy(await answer(call));
    expect(results).toEqual(Object.fromEntries(Object.keys(attempts).map((k) => [k, REFUSED_BY_POLICY])));
    expect(await exists('garden', 'etcd-backup')).toBe(true);
    expect(await exists(ns, 'etcd-backup')).toBe(true);
  });

  it('the worker can add and remove its finalizer and retention records on a garden secret (as the activities do)', async () => {
    const gw = createKubeGateway(worker.kc);
    expect(await gw.editSecretFinalizers('garden', cleanProviderSecret, (f) => [...f, FINALIZER])).toBe(true);
    const record = JSON.stringify({ [entryName]: { workflowId: 'x' } });
    await gw.patchSecret('garden', cleanProviderSecret, {
      metadata: { annotations: { [ANNOTATION_RETENTION_RECORDS]: record } },
    });
    let s = await readSecret('garden', cleanProviderSecret);
    expect(s.metadata?.finalizers).toEqual([FOREIGN_FINALIZER, FINALIZER]);
    expect(s.metadata?.annotations).toEqual({
      [FOREIGN_ANNOTATION]: 'gcp-identity',
      [ANNOTATION_RETENTION_RECORDS]: record,
    });
    await gw.patchSecret('garden', cleanProviderSecret, {
      metadata: { annotations: { [ANNOTATION_RETENTION_RECORDS]: null } },
    });
    expect(await gw.editSecretFinalizers('garden', cleanProviderSecret, (f) => f.filter((x) => x !== FINALIZER))).toBe(
      true,
    );
    s = await readSecret('garden', cleanProviderSecret);
    expect(s.metadata?.finalizers).toEqual([FOREIGN_FINALIZER]);
    expect(s.metadata?.annotations).toEqual({ [FOREIGN_ANNOTATION]: 'gcp-identity' });
  });

  it('the worker can anchor a retention as the activities do (anchor secret, bucket finalizer), and make no other secret in garden', async () => {
    const bucket = `${release}-bucket`;
    await createBackupBucket(custom, { name: bucket, type: 'gcp', secret: providerSecret });
    const anchors = createRetentionAnchors(createKubeGateway(worker.kc));
    const ref = { namespace: 'garden', name: cleanProviderSecret };
    const rec = {
      workflowId: 'x',
      uid: 'u',
      type: 'gcp',
      bucketName: bucket,
      deletionTimestamp: '2026-03-01T08:00:00Z',
      deletionDeadline: '2026-03-04T08:00:00Z',
    };
    expect(await anchors.write(entryName, ref, rec)).toBe(true);
    expect(await anchors.write(entryName, ref, { ...rec, keepBackups: true })).toBe(true);
    expect(await anchors.read(entryName, ref)).toEqual({ ...rec, keepBackups: true });
    const held = (await custom.getClusterCustomObject({ ...BB, name: bucket })) as {
      metadata: { finalizers?: string[] };
    };
    expect(held.metadata.finalizers).toEqual([BUCKET_RETENTION_FINALIZER]);
    const copy = await readSecret('garden', retentionAnchorName(entryName));
    expect(copy.data).toEqual((await readSecret('garden', cleanProviderSecret)).data);
    await anchors.drop(entryName, ref);
    expect(await exists('garden', retentionAnchorName(entryName))).toBe(false);
    const released = (await custom.getClusterCustomObject({ ...BB, name: bucket })) as {
      metadata: { finalizers?: string[] };
    };
    expect(released.metadata.finalizers ?? []).toEqual([]);
    await custom.deleteClusterCustomObject({ ...BB, name: bucket });
    // An anchor is its own kind of secret: of another type, or under another name, the policy refuses it.
    const stray = (name: string, type = 'Opaque') =>
      answer(worker.core.createNamespacedSecret({ namespace: 'garden', body: { metadata: { name }, type } }));
    expect(byPolicy(await stray(retentionAnchorName(entryName), 'example.com/other'))).toEqual(REFUSED_BY_POLICY);
    expect(byPolicy(await stray(`${release}-not-an-anchor`))).toEqual(REFUSED_BY_POLICY);
  });

  it('the worker can create, update and delete etcd-backup and source-etcd-backup of type Opaque in a shoot namespace', async () => {
    const gw = createKubeGateway(worker.kc);
    for (const name of ['etcd-backup', 'source-etcd-backup']) {
      const created = await gw.createSecret({
        metadata: {
          name,
          namespace: cleanShootNs,
          labels: { 'security.gardener.cloud/purpose': 'workload-identity-token-requestor' },
          annotations: { 'backup.gardener.cloud/created-by': entryName },
        },
        type: 'Opaque',
        data: { bucketName: Buffer.from('bucket-a') },
      });
      // Rotation: a replace with new data, labels and annotations.
      await gw.replaceSecret({
        ...created,
        metadata: { ...created.metadata, labels: {}, annotations: { 'backup.gardener.cloud/created-by': entryName } },
        data: { bucketName: Buffer.from('bucket-b'), 'serviceaccount.json': Buffer.from('{}') },
      });
      const s = await readSecret(cleanShootNs, name);
      expect([name, Buffer.from(s.data!.bucketName!, 'base64').toString()]).toEqual([name, 'bucket-b']);
      await gw.deleteSecret(cleanShootNs, name, { uid: s.metadata!.uid, resourceVersion: s.metadata!.resourceVersion });
      expect([name, await exists(cleanShootNs, name)]).toEqual([name, false]);
    }
  });

  it('the watcher reads what it watches and can patch, create or delete nothing', async () => {
    // What it needs works (the control for the refusals below).
    const reads: Record<string, Promise<unknown>> = {
      'list+watch BackupEntries': watcher.custom.listClusterCustomObject({ ...G, limit: 1 }),
      'get a BackupEntry': watcher.custom.getClusterCustomObject({ ...G, name: entryName }),
      'list secrets in garden': watcher.core.listNamespacedSecret({ namespace: 'garden', limit: 1 }),
      'get source-etcd-backup': watcher.core.readNamespacedSecret({ namespace: 'garden', name: 'source-etcd-backup' }),
    };
    const ok: Record<string, number> = {};
    for (const [what, call] of Object.entries(reads)) ok[what] = (await answer(call)).code;
    expect(ok).toEqual(Object.fromEntries(Object.keys(reads).map((k) => [k, 200])));
    const before = await readSecret('garden', providerSecret);
    const writes: Record<string, Promise<unknown>> = {
      'patch a garden secret (finalizer)': watcher.core.patchNamespacedSecret(
        {
          namespace: 'garden',
          name: providerSecret,
          body: { metadata: { finalizers: [FOREIGN_FINALIZER, FINALIZER] } },
        },
        MERGE,
      ),
      'patch a garden secret (annotation)': watcher.core.patchNamespacedSecret(
        {
          namespace: 'garden',
          name: providerSecret,
          body: { metadata: { annotations: { [ANNOTATION_RETENTION_RECORDS]: '{}' } } },
        },
        MERGE,
      ),
      'update source-etcd-backup': watcher.core.patchNamespacedSecret(
        { namespace: 'garden', name: 'source-etcd-backup', body: { metadata: { annotations: { x: 'y' } } } },
        MERGE,
      ),
      'create a secret': watcher.core.createNamespacedSecret({
        namespace: shootNs,
        body: { metadata: { name: 'etcd-backup' }, type: 'Opaque' },
      }),
      'delete source-etcd-backup': watcher.core.deleteNamespacedSecret({
        namespace: 'garden',
        name: 'source-etcd-backup',
      }),
      'patch a BackupEntry': watcher.custom.patchClusterCustomObject(
        { ...G, name: entryName, body: { metadata: { annotations: { 'gardener.cloud/operation': 'reconcile' } } } },
        MERGE,
      ),
      'patch a BackupEntry status': watcher.custom.patchClusterCustomObjectStatus(
        { ...G, name: entryName, body: { status: { lastError: null } } },
        MERGE,
      ),
      'delete a BackupEntry': watcher.custom.deleteClusterCustomObject({ ...G, name: entryName }),
      'create an Event': watcher.core.createNamespacedEvent({
        namespace: 'default',
        body: { metadata: { name: `${release}.x` }, involvedObject: { kind: 'BackupEntry', name: entryName } },
      }),
    };
    const refused: Record<string, number> = {};
    for (const [what, call] of Object.entries(writes)) refused[what] = (await answer(call)).code;
    expect(refused).toEqual(Object.fromEntries(Object.keys(writes).map((k) => [k, 403])));
    expect(await can(watcherUser, 'patch', 'secrets', '-n', 'garden')).toBe('no');
    expect(await can(watcherUser, 'patch', 'backupentries.extensions.gardener.cloud')).toBe('no');
    expect((await readSecret('garden', providerSecret)).metadata).toEqual(before.metadata);
  });
});

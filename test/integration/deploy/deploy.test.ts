import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { adminKubeConfig } from '../../support/env';
import { CHART, type K8sObject, ROOT, helm, kubectl, objectsOf, renderChart } from '../../support/manifests';

const PLAIN = join(ROOT, 'deploy', 'kubernetes', 'backupentry-lifecycle.yaml');
const CRD = join(ROOT, 'deploy', 'crd', 'extensions.gardener.cloud_backupentries.yaml');
const GARDENER = join(ROOT, 'deploy', 'gardener', 'controller-registration.yaml');
/** The chart has no default cluster identity; tools/scripts/render-manifests.sh renders the plain manifests with this one. */
const PLAIN_IDENTITY = ['--set', 'clusterIdentity=REPLACE-WITH-THE-SEED-CLUSTER-IDENTITY'];

/** `kubectl apply --dry-run=server` of `files` against the stack; returns both streams (rejects on failure). */
function dryRun(files: string[]): Promise<{ stdout: string; stderr: string }> {
  return kubectl('apply', '--dry-run=server', '--validate=strict', ...files.flatMap((f) => ['-f', f]));
}

/** The chart, its plain rendering and the Gardener registration: lint, render, and the API server's verdict. */
describe('deploy/: Helm chart, plain manifests, Gardener registration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bel-deploy-'));
  const core = adminKubeConfig().makeApiClient(CoreV1Api);

  beforeAll(async () => {
    // The plain manifests' namespace, with the same Pod Security labels, so admission judges the pods as it would there.
    const plainNs = objectsOf(readFileSync(PLAIN, 'utf8')).find((o) => o.kind === 'Namespace')!;
    for (const metadata of [plainNs.metadata, { name: 'garden' }]) {
      await core.createNamespace({ body: { metadata } }).catch((e: { code?: number }) => {
        if (e.code !== 409) throw e;
      });
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('helm lint --strict passes', async () => {
    const out = await helm('lint', '--strict', CHART, '--set', 'gardener.seed.clusterIdentity=lint-seed');
    expect(out).toContain('1 chart(s) linted, 0 chart(s) failed');
  });

  it('deploy/kubernetes is exactly the chart rendered with its defaults (tools/scripts/render-manifests.sh)', async () => {
    const rendered = await helm(
      'template',
      'backupentry-lifecycle',
      CHART,
      '--namespace',
      'backupentry-lifecycle',
      ...PLAIN_IDENTITY,
    );
    const plain = readFileSync(PLAIN, 'utf8');
    expect(plain.slice(plain.indexOf('\n---\n') + 1)).toBe(rendered);
    expect(readFileSync(join(CHART, 'crds', 'extensions.gardener.cloud_backupentries.yaml'), 'utf8')).toBe(
      readFileSync(CRD, 'utf8'),
    );
  });

  it('renders what the issue asks for: SA, bindings, two Deployments with probes, resources and a restricted context', () => {
    const objs = objectsOf(readFileSync(PLAIN, 'utf8'));
    const kinds = objs.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    expect(kinds).toEqual([
      'ClusterRole/backupentry-lifecycle-watcher',
      'ClusterRole/backupentry-lifecycle-watcher-provider-secrets',
      'ClusterRole/backupentry-lifecycle-worker',
      'ClusterRole/backupentry-lifecycle-worker-provider-secrets',
      'ClusterRoleBinding/backupentry-lifecycle-watcher',
      'ClusterRoleBinding/backupentry-lifecycle-worker',
      'Deployment/backupentry-lifecycle-watcher',
      'Deployment/backupentry-lifecycle-worker',
      'Namespace/backupentry-lifecycle',
      'PodDisruptionBudget/backupentry-lifecycle-watcher',
      'PodDisruptionBudget/backupentry-lifecycle-worker',
      'Role/backupentry-lifecycle-events',
      'Role/backupentry-lifecycle-leader-election',
      'RoleBinding/backupentry-lifecycle-events',
      'RoleBinding/backupentry-lifecycle-leader-election',
      'RoleBinding/backupentry-lifecycle-watcher-provider-secrets',
      'RoleBinding/backupentry-lifecycle-worker-provider-secrets',
      'ServiceAccount/backupentry-lifecycle-watcher',
      'ServiceAccount/backupentry-lifecycle-worker',
      'ValidatingAdmissionPolicy/backupentry-lifecycle-deletion-spec-immutable',
      'ValidatingAdmissionPolicy/backupentry-lifecycle-retained-buckets',
      'ValidatingAdmissionPolicy/backupentry-lifecycle-worker-secrets',
      'ValidatingAdmissionPolicyBinding/backupentry-lifecycle-deletion-spec-immutable',
      'ValidatingAdmissionPolicyBinding/backupentry-lifecycle-retained-buckets',
      'ValidatingAdmissionPolicyBinding/backupentry-lifecycle-worker-secrets',
    ]);
    interface Container {
      securityContext: object;
      env: Array<{ name: string; value?: string }>;
      resources: { requests?: object; limits: { memory?: string } };
      livenessProbe: { httpGet: { path: string } };
      readinessProbe: { httpGet: { path: string } };
    }
    type Pod = {
      spec: {
        serviceAccountName: string;
        securityContext: object;
        terminationGracePeriodSeconds: number;
        containers: Container[];
      };
    };
    for (const name of ['worker', 'watcher']) {
      const d = objs.find((o) => o.kind === 'Deployment' && o.metadata.name.endsWith(name)) as unknown as {
        spec: { template: Pod };
      };
      const pod = d.spec.template.spec;
      // Each process runs as its own ServiceAccount (least privilege: the watcher only reads).
      expect(pod.serviceAccountName).toBe(`backupentry-lifecycle-${name}`);
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      const c = pod.containers[0]!;
      expect(c.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
      expect(c.livenessProbe.httpGet.path).toBe('/healthz');
      expect(c.readinessProbe.httpGet.path).toBe('/readyz');
      expect(c.resources.requests).toBeDefined();
      expect(c.resources.limits.memory).toBeDefined();
      const env = Object.fromEntries(c.env.map((e) => [e.name, e.value]));
      expect(env.TEMPORAL_ADDRESS).toBeTruthy();
      if (name === 'worker') {
        expect(env.BEL_WORKFLOW_BUNDLE).toBe('/app/dist/workflow-bundle.js');
        // The pod outlives the activities' grace time.
        expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(Number(env.BEL_SHUTDOWN_GRACE!.replace(/s$/, '')));
      }
    }
  });

  it("worker and watcher pods carry Gardener's NetworkPolicy labels; an override replaces them", async () => {
    const podLabels = async (...args: string[]): Promise<Record<string, Record<string, string>>> => {
      const objs = objectsOf(await renderChart('labels-seed', ...args));
      const labels = (name: string): Record<string, string> =>
        (
          objs.find((o) => o.kind === 'Deployment' && o.metadata.name.endsWith(`-${name}`)) as unknown as {
            spec: { template: { metadata: { labels: Record<string, string> } } };
          }
        ).spec.template.metadata.labels;
      return { worker: labels('worker'), watcher: labels('watcher') };
    };
    const network = (l: Record<string, string>): Record<string, string> =>
      Object.fromEntries(Object.entries(l).filter(([k]) => k.startsWith('networking.gardener.cloud/')));
    const gardener = {
      'networking.gardener.cloud/to-runtime-apiserver': 'allowed',
      'networking.gardener.cloud/to-dns': 'allowed',
      'networking.gardener.cloud/to-public-networks': 'allowed',
      'networking.gardener.cloud/to-private-networks': 'allowed',
    };
    const defaults = await podLabels();
    for (const pod of ['worker', 'watcher']) {
      expect([pod, network(defaults[pod]!)]).toEqual([pod, gardener]);
      expect(defaults[pod]!['app.kubernetes.io/component']).toBe(pod);
    }
    // Helm merges an override into the default map key by key: null drops a label, a new key adds one.
    const values = join(dir, 'network-values.yaml');
    writeFileSync(
      values,
      JSON.stringify({
        podNetworkLabels: {
          'networking.gardener.cloud/to-private-networks': null,
          'networking.gardener.cloud/to-blocked-cidrs': 'allowed',
        },
      }),
    );
    const changed = await podLabels('-f', values);
    // The whole map null: no NetworkPolicy labels (clusters without Gardener's policies); podLabels still apply.
    const none = await podLabels('--set-json', 'podNetworkLabels=null', '--set', 'podLabels.team=storage');
    for (const pod of ['worker', 'watcher']) {
      expect([pod, network(changed[pod]!)]).toEqual([
        pod,
        {
          'networking.gardener.cloud/to-runtime-apiserver': 'allowed',
          'networking.gardener.cloud/to-dns': 'allowed',
          'networking.gardener.cloud/to-public-networks': 'allowed',
          'networking.gardener.cloud/to-blocked-cidrs': 'allowed',
        },
      ]);
      expect([pod, network(none[pod]!)]).toEqual([pod, {}]);
      expect(none[pod]!.team).toBe('storage');
    }
    // admissionPolicy.enabled=false leaves the ValidatingAdmissionPolicy out.
    const kinds = objectsOf(await renderChart('labels-seed', '--set', 'admissionPolicy.enabled=false')).map(
      (o) => o.kind,
    );
    expect(kinds).toContain('Deployment');
    expect(kinds.filter((k) => k.startsWith('ValidatingAdmissionPolicy'))).toEqual([]);
    // admissionPolicy.workerSecrets.enabled=false leaves out only the worker's Secret policy.
    const names = objectsOf(await renderChart('labels-seed', '--set', 'admissionPolicy.workerSecrets.enabled=false'))
      .filter((o) => o.kind === 'ValidatingAdmissionPolicy')
      .map((o) => o.metadata.name);
    expect(names).toEqual(['backupentry-lifecycle-deletion-spec-immutable', 'backupentry-lifecycle-retained-buckets']);
    // admissionPolicy.retainedBuckets.enabled=false leaves out only the retained-buckets policy.
    const kept = objectsOf(await renderChart('labels-seed', '--set', 'admissionPolicy.retainedBuckets.enabled=false'))
      .filter((o) => o.kind === 'ValidatingAdmissionPolicy')
      .map((o) => o.metadata.name);
    expect(kept).toEqual(['backupentry-lifecycle-deletion-spec-immutable', 'backupentry-lifecycle-worker-secrets']);
    // The former single serviceAccount.name is refused, not silently ignored.
    await expect(renderChart('x', '--set', 'serviceAccount.name=bel')).rejects.toThrow(
      /serviceAccount\.name was split into serviceAccount\.worker\.name and serviceAccount\.watcher\.name/,
    );
  });

  it('the API server accepts the CRD and the plain manifests (server-side dry run), with no Pod Security warning', async () => {
    const { stdout, stderr } = await dryRun([CRD, PLAIN]);
    expect(stdout).toMatch(
      /deployment\.apps\/backupentry-lifecycle-worker (created|configured|unchanged) \(server dry run\)/,
    );
    expect(stdout).toMatch(
      /clusterrole\.rbac\.authorization\.k8s\.io\/backupentry-lifecycle-worker (created|configured|unchanged) \(server dry run\)/,
    );
    expect(stdout).toMatch(
      /validatingadmissionpolicy\.admissionregistration\.k8s\.io\/backupentry-lifecycle-worker-secrets (created|configured|unchanged) \(server dry run\)/,
    );
    // (kubectl's "missing the last-applied-configuration annotation" warnings for the pre-created CRD and namespace are fine)
    expect(stderr).not.toMatch(/PodSecurity|hides previous definition|unknown field/i);
  });

  it('variants render valid objects too (TLS, API key, digest, scheduling); a hostPath variant is flagged by Pod Security', async () => {
    const variant = join(dir, 'variant.yaml');
    writeFileSync(
      variant,
      await renderChart(
        'variant-seed',
        '--set',
        'temporal.tls.secretName=temporal-tls',
        '--set',
        'temporal.tls.serverName=temporal.example',
        '--set',
        'temporal.apiKeySecret.name=temporal-key',
        '--set',
        'image.tag=sha256:0123456789abcdef',
        '--set',
        'nodeSelector.role=seed',
        '--set',
        'priorityClassName=system-cluster-critical',
        '--set-json',
        'worker.extraEnv=[{"name":"NODE_OPTIONS","value":"--max-old-space-size=768"}]',
      ),
    );
    const ok = await dryRun([variant]);
    expect(ok.stderr).not.toMatch(/PodSecurity|hides previous definition|unknown field/i);
    // Negative control: the local provider mounts a hostPath, which the restricted profile forbids; admission says so.
    const local = join(dir, 'local.yaml');
    writeFileSync(
      local,
      await renderChart('variant-seed', '--set', 'local.enabled=true', '--set', 'providerTypes={local}'),
    );
    const flagged = await dryRun([local]);
    expect(flagged.stderr).toMatch(/would violate PodSecurity "restricted:latest".*hostPath/);
  });

  it('worker.splitRoles renders two worker Deployments, one per BEL_WORKER_ROLES role, each with its PDB and VPA', async () => {
    const split = join(dir, 'split.yaml');
    writeFileSync(
      split,
      await renderChart('split-seed', '--set', 'worker.splitRoles=true', '--set', 'vpa.enabled=true'),
    );
    const objs = objectsOf(readFileSync(split, 'utf8'));
    const deployments = objs.filter((o) => o.kind === 'Deployment' && /-worker/.test(o.metadata.name));
    const rolesOf = (o: K8sObject): unknown => {
      const env = (
        o as unknown as {
          spec: { template: { spec: { containers: Array<{ env: Array<{ name: string; value?: string }> }> } } };
        }
      ).spec.template.spec.containers[0]!.env;
      return env.find((e) => e.name === 'BEL_WORKER_ROLES')?.value;
    };
    expect(deployments.map((o) => [o.metadata.name, rolesOf(o)])).toEqual([
      ['backupentry-lifecycle-worker', 'workflows'],
      ['backupentry-lifecycle-worker-storage', 'storage'],
    ]);
    for (const kind of ['PodDisruptionBudget', 'VerticalPodAutoscaler'])
      expect(objs.some((o) => o.kind === kind && o.metadata.name === 'backupentry-lifecycle-worker-storage')).toBe(
        true,
      );
    // The default renders one worker Deployment without the variable (both roles).
    const plain = objectsOf(readFileSync(PLAIN, 'utf8')).filter(
      (o) => o.kind === 'Deployment' && /-worker/.test(o.metadata.name),
    );
    expect(plain.map((o) => [o.metadata.name, rolesOf(o)])).toEqual([['backupentry-lifecycle-worker', undefined]]);
    // The VPA CRD is not on the test stack: only the rest goes to the API server.
    const withoutVpa = join(dir, 'split-no-vpa.yaml');
    writeFileSync(withoutVpa, await renderChart('split-seed', '--set', 'worker.splitRoles=true'));
    const ok = await dryRun([withoutVpa]);
    expect(ok.stderr).not.toMatch(/PodSecurity|hides previous definition|unknown field/i);
  });

  it('the Gardener registration refers to its deployment, and its values render with the chart', async () => {
    const [reg, dep] = objectsOf(readFileSync(GARDENER, 'utf8')) as [
      K8sObject,
      K8sObject & { helm: { values: object } },
    ];
    expect(reg).toMatchObject({
      apiVersion: 'core.gardener.cloud/v1beta1',
      kind: 'ControllerRegistration',
      spec: {
        // BackupBucket (non-primary) keeps the installation on a seed during a retention: controller-installation.test.ts
        resources: [
          { kind: 'BackupEntry', type: 'gcp' },
          { kind: 'BackupBucket', type: 'gcp', primary: false },
        ],
        deployment: { deploymentRefs: [{ name: dep.metadata.name }] },
      },
    });
    expect(dep).toMatchObject({ apiVersion: 'core.gardener.cloud/v1', kind: 'ControllerDeployment' });
    const values = join(dir, 'gardener-values.json');
    // gardenlet adds its own values (gardener.seed.clusterIdentity among them); the chart must render with them present.
    writeFileSync(
      values,
      JSON.stringify({
        ...dep.helm.values,
        gardener: { version: '1.120.0', seed: { name: 'seed-1', clusterIdentity: 'seed-1-identity' } },
      }),
    );
    const out = objectsOf(
      await helm(
        'template',
        'backupentry-lifecycle',
        CHART,
        '--namespace',
        'extension-backupentry-lifecycle-x',
        '-f',
        values,
      ),
    );
    const worker = out.find((o) => o.kind === 'Deployment' && o.metadata.name.endsWith('-worker')) as unknown as {
      spec: {
        template: { spec: { containers: Array<{ image: string; env: Array<{ name: string; value?: string }> }> } };
      };
    };
    expect(worker.spec.template.spec.containers[0]!.image).toBe(
      'registry.example.com/images/backupentry-lifecycle:0.1.0',
    );
    expect(worker.spec.template.spec.containers[0]!.env).toContainEqual({
      name: 'BEL_CLUSTER_IDENTITY',
      value: 'seed-1-identity',
    });
  });
});

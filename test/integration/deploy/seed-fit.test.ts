import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { adminKubeConfig } from '../../support/env';
import { type K8sObject, ROOT, kubectl, objectsOf, renderChart } from '../../support/manifests';
import { PROVIDER_GCP_VERSION, type ProviderGcp, providerGcp, renderProviderGcp } from './provider-gcp';

const GARDENER = join(ROOT, 'deploy', 'gardener', 'controller-registration.yaml');
const PLAIN = join(ROOT, 'deploy', 'kubernetes', 'backupentry-lifecycle.yaml');
const ID = 'seed-fit';

interface PodTemplate {
  metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    priorityClassName?: string;
    containers: Array<{ env: Array<{ name: string; value?: string; valueFrom?: unknown }>; volumeMounts?: unknown[] }>;
    volumes: Array<{ name: string; secret?: { secretName: string; items?: Array<{ key: string; path: string }> } }>;
  };
}
type Deployment = K8sObject & {
  metadata: { annotations?: Record<string, string> };
  spec: { replicas: number; selector: { matchLabels: Record<string, string> }; template: PodTemplate };
};

const deployments = (objs: K8sObject[]): Deployment[] => objs.filter((o) => o.kind === 'Deployment') as Deployment[];
const byKind = (objs: K8sObject[], kind: string): Array<K8sObject & { spec: Record<string, unknown> }> =>
  objs.filter((o) => o.kind === kind) as Array<K8sObject & { spec: Record<string, unknown> }>;
const selects = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);
const envOf = (d: Deployment): Record<string, unknown> =>
  Object.fromEntries(d.spec.template.spec.containers[0]!.env.map((e) => [e.name, e.value ?? e.valueFrom]));

/**
 * Issue 23 item 4: the chart fits a Gardener seed the way provider-gcp's chart does (priority class, PDB, VPA, the High
 * Availability Config label), reaches a Temporal inside the seed through Gardener's network policies, and takes the
 * Temporal credentials as values (gardenlet names the extension namespace). Rendered with helm; where the kind exists
 * on the test kube-apiserver, accepted by it in a server-side dry run (the VPA CRD is not installed: render only).
 */
describe('deploy/helm: the chart fits a Gardener seed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bel-seed-fit-'));
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  let gcp: K8sObject[];
  let p: ProviderGcp;

  /** Server-side dry run of a rendering in the chart's namespace; returns both streams (rejects on refusal). */
  const dryRun = async (rendered: string): Promise<{ stdout: string; stderr: string }> => {
    const file = join(dir, `render-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, rendered);
    return kubectl('apply', '--dry-run=server', '--validate=strict', '-f', file);
  };

  beforeAll(async () => {
    // The plain manifests' namespace with its Pod Security labels (as deploy.test.ts creates it: whichever runs first).
    const plainNs = objectsOf(readFileSync(PLAIN, 'utf8')).find((o) => o.kind === 'Namespace')!;
    for (const metadata of [plainNs.metadata, { name: 'garden' }]) {
      await core.createNamespace({ body: { metadata } }).catch((e: { code?: number }) => {
        if (e.code !== 409) throw e;
      });
    }
    p = await providerGcp();
    // provider-gcp's chart with its defaults, as gardenlet renders it for a seed: what ours is compared with.
    gcp = await renderProviderGcp(p, {});
  }, 900_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(`priorityClassName gardener-system-900 by default, as provider-gcp ${PROVIDER_GCP_VERSION} has it; a value changes it`, async () => {
    const gcpPriority = deployments(gcp)[0]!.spec.template.spec.priorityClassName;
    expect(gcpPriority).toBe('gardener-system-900');
    for (const d of deployments(objectsOf(await renderChart(ID))))
      expect([d.metadata.name, d.spec.template.spec.priorityClassName]).toEqual([d.metadata.name, gcpPriority]);
    for (const d of deployments(objectsOf(await renderChart(ID, '--set', 'priorityClassName='))))
      expect(d.spec.template.spec.priorityClassName).toBeUndefined();
  });

  it("the High Availability Config label on both Deployments (type controller; provider-gcp's is server), the replicas kept by annotation", async () => {
    const key = 'high-availability-config.resources.gardener.cloud/type';
    expect(deployments(gcp)[0]!.metadata.labels![key]).toBe('server');
    const ds = deployments(objectsOf(await renderChart(ID, '--set', 'worker.replicas=3')));
    expect(ds).toHaveLength(2);
    for (const d of ds) {
      expect([d.metadata.name, d.metadata.labels![key]]).toEqual([d.metadata.name, 'controller']);
      expect(d.metadata.annotations!['high-availability-config.resources.gardener.cloud/replicas']).toBe(
        String(d.spec.replicas),
      );
    }
    expect(ds.find((d) => d.metadata.name.endsWith('-worker'))!.spec.replicas).toBe(3);
    for (const d of deployments(objectsOf(await renderChart(ID, '--set', 'highAvailability.type=')))) {
      expect(d.metadata.labels![key]).toBeUndefined();
      expect(d.metadata.annotations).toBeUndefined();
    }
  });

  it("a PodDisruptionBudget per Deployment, shaped like provider-gcp's; the API server accepts them", async () => {
    const [gcpPdb] = byKind(gcp, 'PodDisruptionBudget');
    expect(gcpPdb!.apiVersion).toBe('policy/v1');
    const rendered = await renderChart(ID);
    const objs = objectsOf(rendered);
    const pdbs = byKind(objs, 'PodDisruptionBudget');
    expect(pdbs.map((o) => o.metadata.name).sort()).toEqual([
      'backupentry-lifecycle-watcher',
      'backupentry-lifecycle-worker',
    ]);
    for (const pdb of pdbs) {
      expect(pdb.apiVersion).toBe(gcpPdb!.apiVersion);
      expect({ ...pdb.spec, selector: undefined }).toEqual({ ...gcpPdb!.spec, selector: undefined });
      // Each selects exactly its own Deployment's pods.
      const selector = (pdb.spec.selector as { matchLabels: Record<string, string> }).matchLabels;
      const hit = deployments(objs).filter((d) => selects(selector, d.spec.template.metadata.labels));
      expect(hit.map((d) => d.metadata.name)).toEqual([pdb.metadata.name]);
    }
    const { stdout } = await dryRun(rendered);
    expect(stdout).toMatch(
      /poddisruptionbudget\.policy\/backupentry-lifecycle-worker (created|configured|unchanged) \(server dry run\)/,
    );
    expect(stdout).toMatch(
      /poddisruptionbudget\.policy\/backupentry-lifecycle-watcher (created|configured|unchanged) \(server dry run\)/,
    );
    expect(
      byKind(objectsOf(await renderChart(ID, '--set', 'podDisruptionBudget.enabled=false')), 'PodDisruptionBudget'),
    ).toEqual([]);
  });

  it("a VerticalPodAutoscaler per Deployment when vpa.enabled (our registration example sets it), shaped like provider-gcp's (render only: no VPA CRD here)", async () => {
    const [gcpVpa] = byKind(gcp, 'VerticalPodAutoscaler');
    expect(gcpVpa!.apiVersion).toBe('autoscaling.k8s.io/v1');
    expect(byKind(objectsOf(await renderChart(ID)), 'VerticalPodAutoscaler')).toEqual([]);
    const objs = objectsOf(await renderChart(ID, '--set', 'vpa.enabled=true'));
    const vpas = byKind(objs, 'VerticalPodAutoscaler');
    expect(vpas).toHaveLength(2);
    for (const vpa of vpas) {
      expect(vpa.apiVersion).toBe('autoscaling.k8s.io/v1');
      expect(vpa.spec.updatePolicy).toEqual(gcpVpa!.spec.updatePolicy);
      expect(vpa.spec.resourcePolicy).toEqual(gcpVpa!.spec.resourcePolicy);
      const target = vpa.spec.targetRef as { apiVersion: string; kind: string; name: string };
      expect(target).toMatchObject({ apiVersion: 'apps/v1', kind: 'Deployment' });
      expect(deployments(objs).map((d) => d.metadata.name)).toContain(target.name);
    }
    expect(vpas.map((v) => (v.spec.targetRef as { name: string }).name).sort()).toEqual(
      deployments(objs)
        .map((d) => d.metadata.name)
        .sort(),
    );
    // The registration example turns it on for seeds.
    const dep = objectsOf(readFileSync(GARDENER, 'utf8'))[1] as K8sObject & {
      helm: { values: { vpa?: { enabled: boolean } } };
    };
    expect(dep.helm.values.vpa?.enabled).toBe(true);
  });

  it("an in-seed Temporal: Gardener's to-<namespace>-<service>-tcp-<port> label on both pods (alias, off, too long)", async () => {
    const labelsOf = async (...args: string[]): Promise<Array<Record<string, string>>> =>
      deployments(objectsOf(await renderChart(ID, ...args))).map((d) => d.spec.template.metadata.labels);
    const gardenerLabels = (l: Record<string, string>): Record<string, string> =>
      Object.fromEntries(Object.entries(l).filter(([k]) => k.startsWith('networking.resources.gardener.cloud/')));
    // Default: Temporal outside the seed, no such label.
    for (const l of await labelsOf()) expect(gardenerLabels(l)).toEqual({});
    const inSeed = ['--set', 'temporal.inCluster.namespace=temporal'];
    const labels = await labelsOf(...inSeed);
    expect(labels).toHaveLength(2);
    for (const l of labels) {
      expect(gardenerLabels(l)).toEqual({
        'networking.resources.gardener.cloud/to-temporal-temporal-frontend-tcp-7233': 'allowed',
      });
      // Gardener's other allow labels stay.
      expect(l['networking.gardener.cloud/to-dns']).toBe('allowed');
    }
    for (const l of await labelsOf(
      ...inSeed,
      '--set',
      'temporal.inCluster.namespaceAlias=all-temporals',
      '--set',
      'temporal.inCluster.port=7234',
    ))
      expect(gardenerLabels(l)).toEqual({
        'networking.resources.gardener.cloud/to-all-temporals-temporal-frontend-tcp-7234': 'allowed',
      });
    for (const l of await labelsOf(...inSeed, '--set', 'temporal.inCluster.gardenerLabel=false'))
      expect(gardenerLabels(l)).toEqual({});
    await expect(renderChart(ID, '--set', `temporal.inCluster.namespace=${'n'.repeat(50)}`)).rejects.toThrow(
      /longer than 63 characters/,
    );
    // The API server accepts the labelled Deployments.
    const { stdout } = await dryRun(await renderChart(ID, ...inSeed));
    expect(stdout).toMatch(
      /deployment\.apps\/backupentry-lifecycle-worker (created|configured|unchanged) \(server dry run\)/,
    );
  });

  it('an in-seed Temporal: the egress NetworkPolicy the chart ships selects both pods, allows the frontend port; the API server accepts it', async () => {
    expect(
      byKind(objectsOf(await renderChart(ID, '--set', 'temporal.inCluster.namespace=temporal')), 'NetworkPolicy'),
    ).toEqual([]);
    const rendered = await renderChart(
      ID,
      '--set',
      'temporal.inCluster.namespace=temporal',
      '--set',
      'temporal.inCluster.networkPolicy.enabled=true',
      '--set',
      'temporal.inCluster.networkPolicy.podSelector.matchLabels.app\\.kubernetes\\.io/component=frontend',
    );
    const objs = objectsOf(rendered);
    const [np, ...more] = byKind(objs, 'NetworkPolicy');
    expect(more).toEqual([]);
    expect(np!.metadata.namespace).toBe('backupentry-lifecycle');
    const selector = (np!.spec.podSelector as { matchLabels: Record<string, string> }).matchLabels;
    expect(deployments(objs).filter((d) => selects(selector, d.spec.template.metadata.labels))).toHaveLength(2);
    expect(np!.spec.policyTypes).toEqual(['Egress']);
    expect(np!.spec.egress).toEqual([
      {
        to: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'temporal' } },
            podSelector: { matchLabels: { 'app.kubernetes.io/component': 'frontend' } },
          },
        ],
        ports: [{ protocol: 'TCP', port: 7233 }],
      },
    ]);
    const { stdout, stderr } = await dryRun(rendered);
    expect(stdout).toMatch(
      /networkpolicy\.networking\.k8s\.io\/backupentry-lifecycle-to-temporal (created|configured|unchanged) \(server dry run\)/,
    );
    expect(stderr).not.toMatch(/unknown field/i);
  });

  it('Temporal API key and TLS material as values: a Secret in the release namespace, env and a read-only mount; the API server accepts them', async () => {
    const rendered = await renderChart(
      ID,
      '--set',
      'temporal.apiKey=key-1',
      '--set',
      'temporal.tls.cert=CERT',
      '--set',
      'temporal.tls.key=KEY',
      '--set',
      'temporal.tls.ca=CA',
      '--set',
      'temporal.tls.serverName=temporal.example',
    );
    const objs = objectsOf(rendered);
    const [secret, ...more] = byKind(objs, 'Secret') as unknown as Array<K8sObject & { data: Record<string, string> }>;
    expect(more).toEqual([]);
    expect(secret!.metadata).toMatchObject({
      name: 'backupentry-lifecycle-temporal',
      namespace: 'backupentry-lifecycle',
    });
    const decoded = Object.fromEntries(
      Object.entries(secret!.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]),
    );
    expect(decoded).toEqual({ 'api-key': 'key-1', 'tls.crt': 'CERT', 'tls.key': 'KEY', 'ca.crt': 'CA' });
    for (const d of deployments(objs)) {
      const env = envOf(d);
      expect(env.TEMPORAL_API_KEY).toEqual({
        secretKeyRef: { name: 'backupentry-lifecycle-temporal', key: 'api-key' },
      });
      expect(env).toMatchObject({
        TEMPORAL_TLS: 'true',
        TEMPORAL_TLS_CLIENT_CERT_PATH: '/etc/backupentry-lifecycle/temporal-tls/tls.crt',
        TEMPORAL_TLS_CLIENT_KEY_PATH: '/etc/backupentry-lifecycle/temporal-tls/tls.key',
        TEMPORAL_TLS_SERVER_CA_CERT_PATH: '/etc/backupentry-lifecycle/temporal-tls/ca.crt',
        TEMPORAL_TLS_SERVER_NAME: 'temporal.example',
      });
      // Only the TLS files are mounted, not the API key.
      const vol = d.spec.template.spec.volumes.find((v) => v.name === 'temporal-tls')!;
      expect(vol.secret).toEqual({
        secretName: 'backupentry-lifecycle-temporal',
        items: [
          { key: 'tls.crt', path: 'tls.crt' },
          { key: 'tls.key', path: 'tls.key' },
          { key: 'ca.crt', path: 'ca.crt' },
        ],
      });
      expect(d.spec.template.metadata.annotations!['checksum/temporal-secret']).toMatch(/^[0-9a-f]{64}$/);
    }
    const { stdout, stderr } = await dryRun(rendered);
    expect(stdout).toMatch(/secret\/backupentry-lifecycle-temporal (created|configured|unchanged) \(server dry run\)/);
    expect(stderr).not.toMatch(/PodSecurity|unknown field/i);

    // A rotated key rolls the pods (the checksum changes).
    const checksum = async (...args: string[]): Promise<string> =>
      deployments(objectsOf(await renderChart(ID, ...args)))[0]!.spec.template.metadata.annotations![
        'checksum/temporal-secret'
      ]!;
    expect(await checksum('--set', 'temporal.apiKey=key-2')).not.toBe(await checksum('--set', 'temporal.apiKey=key-1'));
    // CA only (server TLS with a private CA, no client certificate); TLS with the system CAs; none.
    const caOnly = deployments(objectsOf(await renderChart(ID, '--set', 'temporal.tls.ca=CA')))[0]!;
    expect(envOf(caOnly)).toMatchObject({ TEMPORAL_TLS: 'true', TEMPORAL_TLS_SERVER_CA_CERT_PATH: expect.any(String) });
    expect(envOf(caOnly).TEMPORAL_TLS_CLIENT_CERT_PATH).toBeUndefined();
    expect(envOf(caOnly).TEMPORAL_API_KEY).toBeUndefined();
    const system = envOf(deployments(objectsOf(await renderChart(ID, '--set', 'temporal.tls.enabled=true')))[0]!);
    expect(system.TEMPORAL_TLS).toBe('true');
    expect(system.TEMPORAL_TLS_SERVER_CA_CERT_PATH).toBeUndefined();
    const plain = objectsOf(await renderChart(ID));
    expect(byKind(plain, 'Secret')).toEqual([]);
    expect(envOf(deployments(plain)[0]!).TEMPORAL_TLS).toBeUndefined();
    // Contradictions are refused.
    await expect(renderChart(ID, '--set', 'temporal.tls.cert=C')).rejects.toThrow(
      /cert and temporal\.tls\.key go together/,
    );
    await expect(renderChart(ID, '--set', 'temporal.tls.secretName=s', '--set', 'temporal.tls.ca=C')).rejects.toThrow(
      /not both/,
    );
    await expect(
      renderChart(ID, '--set', 'temporal.apiKey=k', '--set', 'temporal.apiKeySecret.name=s'),
    ).rejects.toThrow(/not both/);
  });
});

import { readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import {
  ApiextensionsV1Api,
  type KubeConfig,
  loadYaml,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { waitFor } from './wait';

/** Path of the BackupEntry CRD shipped in deploy/. */
export const BACKUP_ENTRY_CRD = join(
  __dirname,
  ...(__dirname.includes(`${sep}dist${sep}`) ? ['..', '..', '..'] : ['..', '..']),
  'deploy',
  'crd',
  'extensions.gardener.cloud_backupentries.yaml',
);

/** Path of the (seed's extension) BackupBucket CRD shipped in deploy/ for tests and the dev stack. */
export const BACKUP_BUCKET_CRD = BACKUP_ENTRY_CRD.replace('backupentries', 'backupbuckets');

/**
 * Creates (or replaces) a CRD and waits until it is Established and its plural is served by discovery,
 * as envtest does, so the first request of a test cannot race the API server.
 */
export async function applyCrd(kc: KubeConfig, file = BACKUP_ENTRY_CRD): Promise<void> {
  const crd = loadYaml<V1CustomResourceDefinition>(readFileSync(file, 'utf8'));
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const name = crd.metadata!.name!;
  try {
    await api.createCustomResourceDefinition({ body: crd });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
    const current = await api.readCustomResourceDefinition({ name });
    crd.metadata!.resourceVersion = current.metadata!.resourceVersion;
    await api.replaceCustomResourceDefinition({ name, body: crd });
  }
  await waitFor(
    async () => {
      const c = await api.readCustomResourceDefinition({ name });
      const ok = (t: string): boolean => !!c.status?.conditions?.some((x) => x.type === t && x.status === 'True');
      return ok('Established') && ok('NamesAccepted');
    },
    { what: `CRD ${name} Established`, timeoutMs: 30_000 },
  );
  const group = crd.spec.group;
  const plural = crd.spec.names.plural;
  for (const v of crd.spec.versions.filter((x) => x.served)) {
    await waitFor(
      async () => {
        const res = await fetchDiscovery(kc, `/apis/${group}/${v.name}`);
        return res.resources?.some((r) => r.name === plural) ?? false;
      },
      { what: `discovery of ${plural}.${group}/${v.name}`, timeoutMs: 30_000 },
    );
  }
}

async function fetchDiscovery(kc: KubeConfig, path: string): Promise<{ resources?: { name: string }[] }> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const opts: {
    headers?: Record<string, string>;
    ca?: Buffer | string;
    cert?: Buffer | string;
    key?: Buffer | string;
  } = {};
  await kc.applyToHTTPSOptions(opts);
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = request(`${cluster.server}${path}`, { ...opts, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () =>
        res.statusCode === 200 ? resolve(JSON.parse(body)) : reject(new Error(`GET ${path}: ${res.statusCode}`)),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

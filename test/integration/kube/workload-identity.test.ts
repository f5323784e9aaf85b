/**
 * provisionEtcdBackupSecret with a workload-identity provider secret against the real kube-apiserver: the etcd-backup
 * secret's shape (Gardener's generic actuator), the token and renew timestamp the token requestor wrote kept across
 * updates, and the optimistic lock proven with a real concurrent write between the read and the replace (the server
 * answers 409 and the retry keeps the newer token).
 */
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { type ApplicationFailure } from '@temporalio/common';
import { toApplicationFailure } from '../../../activities/errors';
import { createKubeActivities } from '../../../activities/kube-activities';
import type { StorageProvider } from '../../../activities/storage-port';
import { createGcsProvider } from '../../../adapters/storage/gcs-provider';
import type { KubeGateway } from '../../../activities/kube-port';
import { createKubeGateway } from '../../../adapters/kubernetes/kube-client';
import { BACKUPENTRY_API, GardenerErrorCode } from '../../../domain';
import { adminKubeConfig, uniqueName } from '../../support/env';

const be = { group: BACKUPENTRY_API.group, version: BACKUPENTRY_API.version, plural: BACKUPENTRY_API.plural };
const TOKEN = `eyJhbGciOiJSUzI1NiJ9.${Buffer.from('{"sub":"garden:wi"}').toString('base64url')}.${Math.random().toString(36).slice(2)}`;
const RENEWED = `${TOKEN}-renewed`;
const AUDIENCE = '//iam.googleapis.com/projects/11111111/locations/global/workloadIdentityPools/pool/providers/prov';
const CONFIG = JSON.stringify({
  apiVersion: 'gcp.provider.extensions.gardener.cloud/v1alpha1',
  kind: 'WorkloadIdentityConfig',
  projectID: 'wi-proj',
  credentialsConfig: {
    universe_domain: 'googleapis.com',
    type: 'external_account',
    audience: AUDIENCE,
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    token_url: 'https://sts.googleapis.com/v1/token',
  },
});
const PURPOSE = { 'security.gardener.cloud/purpose': 'workload-identity-token-requestor' };
const PROVIDER = { 'workloadidentity.security.gardener.cloud/provider': 'gcp' };
const WI_NAME = 'workloadidentity.security.gardener.cloud/name';
const WI_NAMESPACE = 'workloadidentity.security.gardener.cloud/namespace';
const RENEW = 'workloadidentity.security.gardener.cloud/token-renew-timestamp';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const decode = (data: Record<string, string> | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));

describe('workload-identity etcd-backup secret against a real kube-apiserver', () => {
  const kc = adminKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const providers = new Map<string, StorageProvider>([['gcp', createGcsProvider()]]);
  const seen: string[] = [];

  beforeAll(async () => {
    await core.createNamespace({ body: { metadata: { name: 'garden' } } }).catch((e: { code?: number }) => {
      if (e.code !== 409) throw e;
    });
  });

  /** The shoot namespace, a gardenlet-style workload-identity provider secret in `garden`, and a gcp BackupEntry. */
  async function makeEntry(): Promise<{ name: string; ns: string; secretName: string }> {
    const ns = uniqueName('shoot--wi');
    const name = `${ns}--${Math.random().toString(36).slice(2, 10)}`;
    const secretName = `entry-${name}`;
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await core.createNamespacedSecret({
      namespace: 'garden',
      body: {
        metadata: {
          name: secretName,
          labels: { ...PURPOSE, ...PROVIDER, 'gardener.cloud/role': 'not-copied' },
          annotations: {
            [WI_NAME]: 'backup',
            [WI_NAMESPACE]: 'garden-dev',
            [RENEW]: '2026-03-01T00:00:00Z',
            other: 'not-copied',
          },
        },
        data: { config: b64(CONFIG), token: b64(TOKEN), other: b64('not copied') },
      },
    });
    await custom.createClusterCustomObject({
      ...be,
      body: {
        apiVersion: BACKUPENTRY_API.apiVersion,
        kind: BACKUPENTRY_API.kind,
        metadata: { name },
        spec: {
          type: 'gcp',
          region: 'europe-west1',
          bucketName: 'bucket-wi',
          secretRef: { name: secretName, namespace: 'garden' },
        },
      },
    });
    return { name, ns, secretName };
  }

  it("writes Gardener's shape and keeps the token requestor's token and renew timestamp on update", async () => {
    const { name, ns } = await makeEntry();
    const acts = createKubeActivities({ kube: createKubeGateway(kc), providers });
    seen.push(JSON.stringify(await acts.provisionEtcdBackupSecret(name)));
    let etcd = await core.readNamespacedSecret({ namespace: ns, name: 'etcd-backup' });
    const data = decode(etcd.data);
    expect(Object.keys(data).sort()).toEqual([
      'bucketName',
      'config',
      'credentialsConfig',
      'projectID',
      'serviceaccount.json',
    ]);
    expect(data.config).toBe(CONFIG);
    expect(data.projectID).toBe('wi-proj');
    expect(JSON.parse(data['serviceaccount.json']!)).toEqual({
      universe_domain: 'googleapis.com',
      type: 'external_account',
      audience: AUDIENCE,
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      token_url: 'https://sts.googleapis.com/v1/token',
      credential_source: { file: '/var/.gcp/token', format: { type: 'text' } },
    });
    expect(etcd.metadata?.labels).toEqual({ ...PURPOSE, ...PROVIDER });
    expect(etcd.metadata?.annotations).toEqual({
      [WI_NAME]: 'backup',
      [WI_NAMESPACE]: 'garden-dev',
      'backup.gardener.cloud/created-by': name,
    });

    // gardenlet's token requestor fills the etcd-backup secret's own token in, and someone adds a label and an annotation.
    await core.patchNamespacedSecret({
      namespace: ns,
      name: 'etcd-backup',
      body: [
        { op: 'add', path: '/data/token', value: b64(TOKEN) },
        {
          op: 'add',
          path: '/metadata/annotations/workloadidentity.security.gardener.cloud~1token-renew-timestamp',
          value: '2026-03-01T06:00:00Z',
        },
        { op: 'add', path: '/metadata/annotations/stale', value: 'x' },
        { op: 'add', path: '/metadata/labels/stale', value: 'y' },
      ],
    });
    seen.push(JSON.stringify(await acts.provisionEtcdBackupSecret(name)));
    etcd = await core.readNamespacedSecret({ namespace: ns, name: 'etcd-backup' });
    expect(decode(etcd.data).token).toBe(TOKEN);
    expect(etcd.metadata?.labels).toEqual({ ...PURPOSE, ...PROVIDER });
    expect(etcd.metadata?.annotations).toEqual({
      [RENEW]: '2026-03-01T06:00:00Z',
      [WI_NAME]: 'backup',
      [WI_NAMESPACE]: 'garden-dev',
      'backup.gardener.cloud/created-by': name,
    });
  });

  it('a token written between our read and our replace is kept: the server refuses the stale replace with 409, the retry re-reads', async () => {
    const { name, ns } = await makeEntry();
    const real = createKubeGateway(kc);
    seen.push(JSON.stringify(await createKubeActivities({ kube: real, providers }).provisionEtcdBackupSecret(name)));
    await core.patchNamespacedSecret({
      namespace: ns,
      name: 'etcd-backup',
      body: [{ op: 'add', path: '/data/token', value: b64(TOKEN) }],
    });
    let raced = 0;
    const replaced: string[] = [];
    // The first replace is preceded by a real write through the API (the token requestor renewing the token).
    const racing: KubeGateway = {
      ...real,
      replaceSecret: async (secret) => {
        if (raced++ === 0) {
          await core.patchNamespacedSecret({
            namespace: ns,
            name: 'etcd-backup',
            body: [{ op: 'replace', path: '/data/token', value: b64(RENEWED) }],
          });
        }
        try {
          const out = await real.replaceSecret(secret);
          replaced.push('ok');
          return out;
        } catch (err) {
          replaced.push(String((err as { httpStatus?: number }).httpStatus));
          throw err;
        }
      },
    };
    seen.push(JSON.stringify(await createKubeActivities({ kube: racing, providers }).provisionEtcdBackupSecret(name)));
    expect(replaced).toEqual(['409', 'ok']);
    expect(decode((await core.readNamespacedSecret({ namespace: ns, name: 'etcd-backup' })).data).token).toBe(RENEWED);
  });

  it('the storage side sees the label; a secret without the token yet is "waiting for the token requestor", retryable', async () => {
    const { name, secretName } = await makeEntry();
    const acts = createKubeActivities({ kube: createKubeGateway(kc), providers });
    const access = await acts.readEntryForStorage(name);
    expect(access.workloadIdentity).toBe(true);
    await core.patchNamespacedSecret({
      namespace: 'garden',
      name: secretName,
      body: [{ op: 'remove', path: '/data/token' }],
    });
    const without = await acts.readEntryForStorage(name);
    let failure: ApplicationFailure | undefined;
    try {
      createGcsProvider().open(without.bucketName, without.secretData, { workloadIdentity: without.workloadIdentity });
    } catch (err) {
      failure = toApplicationFailure(err, `deleting backups of ${name}`);
    }
    expect(failure?.type).toBe(GardenerErrorCode.RetryableConfigurationProblem);
    expect(failure?.nonRetryable).toBe(false);
    expect(failure?.message).toContain('waiting for the token requestor');
    seen.push(failure?.message ?? '', JSON.stringify(failure?.details ?? []));
  });

  it('never put the token or the config into a result or a failure', () => {
    expect(seen.length).toBeGreaterThan(3);
    const all = seen.join('\n');
    for (const needle of [TOKEN, b64(TOKEN), CONFIG, b64(CONFIG), AUDIENCE, 'wi-proj'])
      expect(all).not.toContain(needle);
  });
});

/**
 * provisionEtcdBackupSecret with a workload-identity provider secret, against an in-memory API server: the shape of
 * the etcd-backup secret (Gardener's generic actuator, `deployEtcdBackupSecret`), the token kept across updates, the
 * optimistic lock, the refusals, and that plain secrets keep their old treatment.
 */
import { ApplicationFailure } from '@temporalio/common';
import { createKubeActivities, secretDataDigest } from '../../../activities/kube-activities';
import type { EtcdSecretUse, SecretData, StorageProvider } from '../../../activities/storage-port';
import type { BackupEntryObject, KubeGateway, SecretObject } from '../../../activities/kube-port';
import { ClassifiedError, GardenerErrorCode } from '../../../domain';

const NS = 'shoot--dev--wi';
const ENTRY = `${NS}--3f1c6a7e`;
const REF = { namespace: 'garden', name: `entry-${ENTRY}` };
const TOKEN = `eyJhbGciOiJSUzI1NiJ9.${Buffer.from('{"sub":"wi"}').toString('base64url')}.sig-${Math.random().toString(36).slice(2)}`;
const CONFIG = JSON.stringify({
  apiVersion: 'gcp.provider.extensions.gardener.cloud/v1alpha1',
  kind: 'WorkloadIdentityConfig',
  projectID: 'proj-wi',
  credentialsConfig: { type: 'external_account', audience: '//iam.googleapis.com/projects/1/x' },
});
const CONTEXT = '{"kind":"BackupEntry","apiVersion":"core.gardener.cloud/v1beta1","name":"x","uid":"u"}';
const WI_LABELS = {
  'security.gardener.cloud/purpose': 'workload-identity-token-requestor',
  'workloadidentity.security.gardener.cloud/provider': 'gcp',
  'other/label': 'not copied',
};
const WI_ANNOTATIONS = {
  'workloadidentity.security.gardener.cloud/name': 'backup-wi',
  'workloadidentity.security.gardener.cloud/namespace': 'garden-proj',
  'workloadidentity.security.gardener.cloud/context-object': CONTEXT,
  'other/annotation': 'not copied',
};
const RENEW = 'workloadidentity.security.gardener.cloud/token-renew-timestamp';

function httpError(status: number, what: string): Error {
  return Object.assign(
    new ClassifiedError(`${what}: HTTP ${status}`, GardenerErrorCode.RetryableInfraDependencies, 'Http'),
    { httpStatus: status },
  );
}

/** structuredClone turns Buffers into Uint8Arrays: clone the data by hand. */
const clone = (s: SecretObject): SecretObject => ({
  ...structuredClone({ ...s, data: {} }),
  data: Object.fromEntries(Object.entries(s.data).map(([k, v]) => [k, Buffer.from(v)])),
});

const text = (data: Record<string, Buffer> | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, v.toString('utf8')]));

/** A namespace, one entry and secrets; replace honours resourceVersion (409 when stale); every write is logged. */
class MemoryKube {
  entry: BackupEntryObject = {
    metadata: { name: ENTRY, uid: 'u1' },
    spec: { type: 'gcp', bucketName: 'bucket-wi', secretRef: REF },
  };
  readonly secrets = new Map<string, SecretObject>();
  readonly writes: Array<{ verb: 'create' | 'replace'; secret: SecretObject }> = [];
  private rv = 1;
  /** Runs once before the next replace reaches the store (a concurrent writer, e.g. the token requestor). */
  beforeReplace: (() => void) | undefined;

  put(s: SecretObject): void {
    this.secrets.set(
      `${s.metadata.namespace}/${s.metadata.name}`,
      clone({ ...s, metadata: { ...s.metadata, resourceVersion: String(this.rv++) } }),
    );
  }

  get(namespace: string, name: string): SecretObject | undefined {
    return this.secrets.get(`${namespace}/${name}`);
  }

  gateway(): KubeGateway {
    const unused = (): never => {
      throw new Error('not used in this test');
    };
    return {
      getBackupEntry: async () => structuredClone(this.entry),
      getNamespace: async (name) => ({ metadata: { name }, phase: 'Active' }),
      getSecret: async (namespace, name) => {
        const s = this.get(namespace, name);
        if (!s) throw httpError(404, `get secret ${namespace}/${name}`);
        return clone(s);
      },
      createSecret: async (secret) => {
        if (this.get(secret.metadata.namespace, secret.metadata.name)) throw httpError(409, 'create secret');
        this.writes.push({ verb: 'create', secret: clone(secret) });
        this.put(secret);
        return clone(this.get(secret.metadata.namespace, secret.metadata.name)!);
      },
      replaceSecret: async (secret) => {
        const hook = this.beforeReplace;
        this.beforeReplace = undefined;
        hook?.();
        const current = this.get(secret.metadata.namespace, secret.metadata.name);
        if (!current) throw httpError(404, 'replace secret');
        if (secret.metadata.resourceVersion !== current.metadata.resourceVersion)
          throw httpError(409, 'replace secret');
        this.writes.push({ verb: 'replace', secret: clone(secret) });
        this.put(secret);
        return clone(this.get(secret.metadata.namespace, secret.metadata.name)!);
      },
      patchBackupEntry: unused,
      patchBackupEntryStatus: unused,
      editBackupEntryFinalizers: unused,
      patchSecret: unused,
      editSecretFinalizers: unused,
      deleteSecret: unused,
      createEntryEvent: unused,
      getBackupBucket: unused,
      editBackupBucketFinalizers: unused,
      someSecretMetadata: unused,
    };
  }
}

/** A provider that records what it was asked and adds one key. */
function recordingProvider(): StorageProvider & {
  calls: Array<{ data: Record<string, string>; use?: EtcdSecretUse }>;
} {
  const calls: Array<{ data: Record<string, string>; use?: EtcdSecretUse }> = [];
  return {
    type: 'gcp',
    calls,
    etcdSecretExtras: (data: SecretData, use?: EtcdSecretUse) => {
      calls.push({ data: text(data as Record<string, Buffer>), ...(use ? { use } : {}) });
      return { extra: Buffer.from(use?.workloadIdentity ? 'wi' : 'plain') };
    },
    open: () => {
      throw new Error('not used in this test');
    },
  };
}

async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApplicationFailure) return err;
    throw err;
  }
  throw new Error('expected a failure');
}

describe('provisionEtcdBackupSecret with a workload-identity provider secret', () => {
  let kube: MemoryKube;
  let provider: ReturnType<typeof recordingProvider>;
  const acts = () => createKubeActivities({ kube: kube.gateway(), providers: new Map([['gcp', provider]]) });
  const providerSecret = (
    data: Record<string, string>,
    labels: Record<string, string> = WI_LABELS,
    annotations: Record<string, string> = WI_ANNOTATIONS,
  ) =>
    kube.put({
      metadata: { ...REF, labels, annotations },
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v)])),
    });
  /** Everything returned or thrown, checked for the token and the config at the end of each test. */
  let seen: string[];

  beforeEach(() => {
    kube = new MemoryKube();
    provider = recordingProvider();
    seen = [];
  });
  afterEach(() => {
    const all = seen.join('\n');
    expect(all).not.toContain(TOKEN);
    expect(all).not.toContain(CONFIG);
    expect(all).not.toContain('proj-wi');
  });

  it("copies only config, adds bucketName and the provider's keys, and sets Gardener's labels and annotations", async () => {
    providerSecret({ config: CONFIG, token: TOKEN, other: 'not copied' });
    const ref = await acts().provisionEtcdBackupSecret(ENTRY);
    seen.push(JSON.stringify(ref));
    const etcd = kube.get(NS, 'etcd-backup')!;
    expect(text(etcd.data)).toEqual({ config: CONFIG, bucketName: 'bucket-wi', extra: 'wi' });
    expect(etcd.metadata.labels).toEqual({
      'security.gardener.cloud/purpose': 'workload-identity-token-requestor',
      'workloadidentity.security.gardener.cloud/provider': 'gcp',
    });
    expect(etcd.metadata.annotations).toEqual({
      'workloadidentity.security.gardener.cloud/name': 'backup-wi',
      'workloadidentity.security.gardener.cloud/namespace': 'garden-proj',
      'workloadidentity.security.gardener.cloud/context-object': CONTEXT,
      'backup.gardener.cloud/created-by': ENTRY,
    });
    expect(etcd.type).toBe('Opaque');
    expect(provider.calls).toEqual([{ data: { config: CONFIG }, use: { workloadIdentity: true, source: false } }]);
    expect(ref).toEqual({
      namespace: NS,
      name: 'etcd-backup',
      resourceVersion: etcd.metadata.resourceVersion,
      digest: secretDataDigest({
        config: Buffer.from(CONFIG),
        bucketName: Buffer.from('bucket-wi'),
        extra: Buffer.from('wi'),
      }),
    });
  });

  it("on update keeps the token requestor's token and renew timestamp, resets everything else, under the resourceVersion read", async () => {
    providerSecret({ config: CONFIG });
    kube.put({
      metadata: {
        namespace: NS,
        name: 'etcd-backup',
        labels: { stale: 'label' },
        finalizers: ['example.com/keep'],
        annotations: {
          [RENEW]: '2026-03-01T10:00:00Z',
          'backup.gardener.cloud/created-by': 'someone-else',
          stale: 'x',
        },
      },
      type: 'Opaque',
      data: { token: Buffer.from(TOKEN), stale: Buffer.from('old'), config: Buffer.from('{}') },
    });
    const before = kube.get(NS, 'etcd-backup')!.metadata.resourceVersion;
    const ref = await acts().provisionEtcdBackupSecret(ENTRY);
    seen.push(JSON.stringify(ref));
    expect(kube.writes.map((w) => [w.verb, w.secret.metadata.resourceVersion])).toEqual([['replace', before]]);
    const etcd = kube.get(NS, 'etcd-backup')!;
    expect(text(etcd.data)).toEqual({ config: CONFIG, bucketName: 'bucket-wi', extra: 'wi', token: TOKEN });
    expect(etcd.metadata.labels).toEqual({
      'security.gardener.cloud/purpose': 'workload-identity-token-requestor',
      'workloadidentity.security.gardener.cloud/provider': 'gcp',
    });
    expect(etcd.metadata.annotations).toEqual({
      [RENEW]: '2026-03-01T10:00:00Z',
      'workloadidentity.security.gardener.cloud/name': 'backup-wi',
      'workloadidentity.security.gardener.cloud/namespace': 'garden-proj',
      'workloadidentity.security.gardener.cloud/context-object': CONTEXT,
      'backup.gardener.cloud/created-by': ENTRY,
    });
    expect(etcd.metadata.finalizers).toEqual(['example.com/keep']);
    // The digest is over what is provisioned: a renewed token changes nothing the workflow sees.
    const etcd2 = kube.get(NS, 'etcd-backup')!;
    kube.put({ ...etcd2, data: { ...etcd2.data, token: Buffer.from(`${TOKEN}-renewed`) } });
    const again = await acts().provisionEtcdBackupSecret(ENTRY);
    seen.push(JSON.stringify(again));
    expect(again.digest).toBe(ref.digest);
    expect(text(kube.get(NS, 'etcd-backup')!.data).token).toBe(`${TOKEN}-renewed`);
  });

  it('a token written concurrently (409 on the replace) is kept: the retry shapes the secret from a fresh read', async () => {
    providerSecret({ config: CONFIG });
    kube.put({ metadata: { namespace: NS, name: 'etcd-backup' }, type: 'Opaque', data: { config: Buffer.from('{}') } });
    kube.beforeReplace = () => {
      const s = kube.get(NS, 'etcd-backup')!;
      kube.put({
        ...s,
        metadata: { ...s.metadata, annotations: { [RENEW]: '2026-03-02T00:00:00Z' } },
        data: { ...s.data, token: Buffer.from(TOKEN) },
      });
    };
    seen.push(JSON.stringify(await acts().provisionEtcdBackupSecret(ENTRY)));
    expect(kube.writes.map((w) => w.verb)).toEqual(['replace']);
    const etcd = kube.get(NS, 'etcd-backup')!;
    expect(text(etcd.data).token).toBe(TOKEN);
    expect(etcd.metadata.annotations?.[RENEW]).toBe('2026-03-02T00:00:00Z');
  });

  it('a source- entry tells the provider, and its secret is source-etcd-backup', async () => {
    kube.entry = { ...kube.entry, metadata: { name: `source-${ENTRY}`, uid: 'u2' } };
    providerSecret({ config: CONFIG });
    seen.push(JSON.stringify(await acts().provisionEtcdBackupSecret(`source-${ENTRY}`)));
    expect(provider.calls[0]?.use).toEqual({ workloadIdentity: true, source: true });
    expect(kube.get(NS, 'source-etcd-backup')?.metadata.labels?.['security.gardener.cloud/purpose']).toBe(
      'workload-identity-token-requestor',
    );
  });

  it("an empty workload-identity secret (nothing written yet) is not SecretRefEmpty: only bucketName and the provider's keys", async () => {
    providerSecret({});
    seen.push(JSON.stringify(await acts().provisionEtcdBackupSecret(ENTRY)));
    expect(text(kube.get(NS, 'etcd-backup')!.data)).toEqual({ bucketName: 'bucket-wi', extra: 'wi' });
    const access = await acts().readEntryForStorage(ENTRY);
    expect(access.workloadIdentity).toBe(true);
    expect(access.secretData).toEqual({});
  });

  it.each([
    [
      'the name annotation',
      { 'workloadidentity.security.gardener.cloud/name': undefined },
      {},
      'lacks the annotation workloadidentity.security.gardener.cloud/name',
    ],
    [
      'the namespace annotation',
      { 'workloadidentity.security.gardener.cloud/namespace': undefined },
      {},
      'lacks the annotation workloadidentity.security.gardener.cloud/namespace',
    ],
    [
      'the provider label',
      {},
      { 'workloadidentity.security.gardener.cloud/provider': undefined },
      'lacks the label workloadidentity.security.gardener.cloud/provider',
    ],
  ] as const)(
    'refuses a secret without %s (non-retryable ERR_CONFIGURATION_PROBLEM) and writes nothing',
    async (_w, ann, lab, msg) => {
      const strip = (m: Record<string, string>, drop: Record<string, undefined>) =>
        Object.fromEntries(Object.entries(m).filter(([k]) => !(k in drop)));
      providerSecret({ config: CONFIG, token: TOKEN }, strip(WI_LABELS, lab), strip(WI_ANNOTATIONS, ann));
      const f = await failure(acts().provisionEtcdBackupSecret(ENTRY));
      seen.push(f.message, JSON.stringify(f.details));
      expect(f.type).toBe(GardenerErrorCode.ConfigurationProblem);
      expect(f.nonRetryable).toBe(true);
      expect(f.details).toEqual([
        { codes: [GardenerErrorCode.ConfigurationProblem], reason: 'WorkloadIdentityIncomplete' },
      ]);
      expect(f.message).toContain(
        `secret garden/entry-${ENTRY} referenced by spec.secretRef is labelled ` +
          'security.gardener.cloud/purpose=workload-identity-token-requestor but',
      );
      expect(f.message).toContain(msg);
      expect(kube.writes).toEqual([]);
    },
  );

  it('a plain secret keeps its treatment: all data copied, labels cleared, only created-by; the provider hears "not workload identity"', async () => {
    providerSecret(
      { 'serviceaccount.json': '{"type":"service_account"}', token: 'plain-token' },
      { stale: 'x' },
      { stale: 'y' },
    );
    kube.put({
      metadata: {
        namespace: NS,
        name: 'etcd-backup',
        labels: { 'security.gardener.cloud/purpose': 'workload-identity-token-requestor' },
        annotations: { [RENEW]: 'x' },
      },
      type: 'Opaque',
      data: { token: Buffer.from('requested') },
    });
    seen.push(JSON.stringify(await acts().provisionEtcdBackupSecret(ENTRY)));
    const etcd = kube.get(NS, 'etcd-backup')!;
    expect(text(etcd.data)).toEqual({
      'serviceaccount.json': '{"type":"service_account"}',
      token: 'plain-token',
      bucketName: 'bucket-wi',
      extra: 'plain',
    });
    expect(etcd.metadata.labels).toBeUndefined();
    expect(etcd.metadata.annotations).toEqual({ 'backup.gardener.cloud/created-by': ENTRY });
    expect(provider.calls[0]?.use).toEqual({ workloadIdentity: false, source: false });
    expect((await acts().readEntryForStorage(ENTRY)).workloadIdentity).toBe(false);
  });
});

import { createServer, type AddressInfo } from 'node:net';
import { CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { configurationProblem } from '../../../domain/errors';
import { createKubeActivities, secretDataDigest } from '../../../activities/kube-activities';
import type { SecretData, StorageProvider } from '../../../activities/storage-port';
import { createKubeGateway } from '../../../adapters/kubernetes/kube-client';
import {
  ANNOTATION_CREATED_BY,
  ANNOTATION_OPERATION,
  ANNOTATION_TIMESTAMP,
  BACKUPENTRY_API,
  ANNOTATION_RETENTION_RECORDS,
  BUCKET_RETENTION_FINALIZER,
  FINALIZER,
  LABEL_RETENTION_ANCHOR,
  retentionAnchorName,
  GardenerErrorCode,
  Operation,
} from '../../../domain';
import { bucketFinalizers, createBackupBucket } from '../../support/backup-buckets';
import { adminKubeConfig, uniqueName } from '../../support/env';

const be = { group: BACKUPENTRY_API.group, version: BACKUPENTRY_API.version, plural: BACKUPENTRY_API.plural };
const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const HOST_PATH = '/etc/gardener/local-backupbuckets';
/** A value that must never show up in an error, a result or an event. */
const SECRET_MARK = `s3cr3t-${Math.random().toString(36).slice(2)}-value`;
const NOW = Date.parse('2026-03-01T08:00:00.000Z');

const unusedSession = (): never => {
  throw new Error('not used in this test');
};

/** Like provider-local: adds `hostPath`. */
const localStub: StorageProvider = {
  type: 'local',
  etcdSecretExtras: () => ({ hostPath: Buffer.from(HOST_PATH) }),
  open: unusedSession,
};

/** Like provider-gcp: requires `serviceaccount.json` with a few fields, adds nothing. */
const gcpStub: StorageProvider = {
  type: 'gcp',
  etcdSecretExtras: (data: SecretData) => {
    const raw = data['serviceaccount.json'];
    if (!raw) throw configurationProblem('MissingServiceAccountJson', 'the secret has no "serviceaccount.json" key');
    let sa: Record<string, unknown>;
    try {
      sa = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw configurationProblem('InvalidServiceAccountJson', '"serviceaccount.json" is not valid JSON');
    }
    for (const field of ['type', 'project_id', 'client_email', 'private_key']) {
      if (typeof sa[field] !== 'string')
        throw configurationProblem('InvalidServiceAccountJson', `"serviceaccount.json" lacks "${field}"`);
    }
    return {};
  },
  open: unusedSession,
};

/** A careless provider whose plain Error quotes the data: the activity must not pass that text on. */
const leakyStub: StorageProvider = {
  type: 'leaky',
  etcdSecretExtras: (data) => {
    throw new Error(
      `bad credentials ${Object.values(data)
        .map((v) => v.toString())
        .join(',')}`,
    );
  },
  open: unusedSession,
};

const providers = new Map<string, StorageProvider>([
  ['local', localStub],
  ['gcp', gcpStub],
  ['leaky', leakyStub],
]);

const serviceAccount = (): string =>
  JSON.stringify({
    type: 'service_account',
    project_id: 'proj-1',
    client_email: 'sa@proj-1.iam.gserviceaccount.com',
    private_key: `-----BEGIN PRIVATE KEY-----\n${SECRET_MARK}\n-----END PRIVATE KEY-----\n`,
  });

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApplicationFailure) return err;
    throw err;
  }
  throw new Error('expected the activity to fail');
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const decode = (data: Record<string, string> | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));

describe('Kubernetes activities against a real kube-apiserver', () => {
  const kc = adminKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const acts = createKubeActivities({ kube: createKubeGateway(kc), providers, now: () => NOW });
  /** Everything an activity returned or threw in this file, checked for secret bytes at the end. */
  const seen: string[] = [];
  const record = <T>(v: T): T => {
    seen.push(JSON.stringify(v));
    return v;
  };
  const fail = async (p: Promise<unknown>): Promise<ApplicationFailure> => {
    const f = await failureOf(p);
    seen.push(f.message, JSON.stringify(f.details ?? []));
    return f;
  };

  beforeAll(async () => {
    await core.createNamespace({ body: { metadata: { name: 'garden' } } }).catch((e: { code?: number }) => {
      if (e.code !== 409) throw e;
    });
  });

  interface EntryOpts {
    type?: string;
    source?: boolean;
    namespace?: boolean;
    secret?: Record<string, string> | null;
    annotations?: Record<string, string>;
    finalizers?: string[];
    bucket?: string;
  }

  /** Creates (optionally) the shoot namespace, the secretRef secret in `garden`, and the BackupEntry. */
  async function makeEntry(opts: EntryOpts = {}): Promise<{ name: string; ns: string; secretName: string }> {
    const ns = uniqueName('shoot--t');
    const name = `${opts.source ? 'source-' : ''}${ns}--${Math.random().toString(36).slice(2, 10)}`;
    const secretName = `entry-${name}`;
    if (opts.namespace !== false) await core.createNamespace({ body: { metadata: { name: ns } } });
    if (opts.secret !== null) {
      const data = opts.secret ?? { username: 'u', password: SECRET_MARK };
      await core.createNamespacedSecret({
        namespace: 'garden',
        body: {
          metadata: { name: secretName },
          data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
        },
      });
    }
    await custom.createClusterCustomObject({
      ...be,
      body: {
        apiVersion: BACKUPENTRY_API.apiVersion,
        kind: BACKUPENTRY_API.kind,
        metadata: { name, annotations: opts.annotations ?? {}, finalizers: opts.finalizers ?? [] },
        spec: {
          type: opts.type ?? 'local',
          region: 'local',
          bucketName: opts.bucket ?? 'bucket-1',
          secretRef: { name: secretName, namespace: 'garden' },
        },
      },
    });
    return { name, ns, secretName };
  }

  const getEntry = async (name: string) => custom.getClusterCustomObject({ ...be, name });
  const readSecret = (namespace: string, name: string) => core.readNamespacedSecret({ namespace, name });
  /** The HTTP code of a read (200, or the API server's error code). */
  const answerOf = (p: Promise<unknown>): Promise<{ code: number }> =>
    p.then(
      () => ({ code: 200 }),
      (e: { code?: number }) => ({ code: e.code ?? 0 }),
    );
  const anchorOf = (entry: string) => answerOf(readSecret('garden', retentionAnchorName(entry)));

  describe('observeEntry', () => {
    it('returns the view of an entry and exists:false for a missing one', async () => {
      const { name, secretName } = await makeEntry({
        type: 'gcp',
        annotations: {
          [ANNOTATION_OPERATION]: 'reconcile',
          [ANNOTATION_TIMESTAMP]: '2026-03-01T07:00:00Z',
          'backupentry.extensions.gardener.cloud/retention-period': '1h',
          'unrelated/annotation': 'x',
        },
      });
      const view = record(await acts.observeEntry(name));
      expect(view).toEqual({
        exists: true,
        name,
        uid: expect.any(String),
        resourceVersion: expect.any(String),
        finalizers: [],
        generation: 1,
        type: 'gcp',
        class: 'shoot',
        bucketName: 'bucket-1',
        region: 'local',
        secretRef: { name: secretName, namespace: 'garden' },
        annotations: { operation: 'reconcile', timestamp: '2026-03-01T07:00:00Z', retentionPeriod: '1h' },
        hasFinalizer: false,
      });
      expect(view.uid).not.toBe('');
      expect(await acts.observeEntry('shoot--nope--123')).toEqual(
        expect.objectContaining({ exists: false, name: 'shoot--nope--123' }),
      );
    });
  });

  describe('provisionEtcdBackupSecret', () => {
    it('local: copies the provider data and adds bucketName and hostPath, annotated created-by', async () => {
      const { name, ns } = await makeEntry({ type: 'local' });
      const ref = record(await acts.provisionEtcdBackupSecret(name));
      const secret = await readSecret(ns, 'etcd-backup');
      const data = decode(secret.data);
      expect(data).toEqual({ username: 'u', password: SECRET_MARK, bucketName: 'bucket-1', hostPath: HOST_PATH });
      expect(secret.type).toBe('Opaque');
      expect(secret.metadata?.annotations).toEqual({ [ANNOTATION_CREATED_BY]: name });
      expect(secret.metadata?.labels ?? {}).toEqual({});
      expect(ref).toEqual({
        namespace: ns,
        name: 'etcd-backup',
        resourceVersion: secret.metadata?.resourceVersion,
        digest: secretDataDigest(Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v)]))),
      });
      expect(ref.digest).toMatch(/^[0-9a-f]{16}$/);
      // Idempotent: a second run changes nothing the workflow sees.
      expect((await acts.provisionEtcdBackupSecret(name)).digest).toBe(ref.digest);
    });

    it('gcp: copies serviceaccount.json and adds bucketName only', async () => {
      const { name, ns } = await makeEntry({ type: 'gcp', secret: { 'serviceaccount.json': serviceAccount() } });
      record(await acts.provisionEtcdBackupSecret(name));
      const data = decode((await readSecret(ns, 'etcd-backup')).data);
      expect(data).toEqual({ 'serviceaccount.json': serviceAccount(), bucketName: 'bucket-1' });
    });

    it('a source- entry gets source-etcd-backup in the namespace without the prefix', async () => {
      const { name, ns } = await makeEntry({ source: true });
      expect(name.startsWith('source-')).toBe(true);
      const ref = record(await acts.provisionEtcdBackupSecret(name));
      expect(ref).toMatchObject({ namespace: ns, name: 'source-etcd-backup' });
      const secret = await readSecret(ns, 'source-etcd-backup');
      expect(secret.metadata?.annotations).toEqual({ [ANNOTATION_CREATED_BY]: name });
      await expect(readSecret(ns, 'etcd-backup')).rejects.toMatchObject({ code: 404 });
    });

    it('updates an existing secret wholesale: data replaced, labels cleared, annotations reset', async () => {
      const { name, ns, secretName } = await makeEntry();
      await core.createNamespacedSecret({
        namespace: ns,
        body: {
          metadata: {
            name: 'etcd-backup',
            labels: { stale: 'label' },
            annotations: { [ANNOTATION_CREATED_BY]: 'someone-else', other: 'x' },
            finalizers: ['example.com/keep'],
          },
          data: { stale: b64('old'), username: b64('old-user') },
        },
      });
      const first = record(await acts.provisionEtcdBackupSecret(name));
      let secret = await readSecret(ns, 'etcd-backup');
      expect(decode(secret.data)).toEqual({
        username: 'u',
        password: SECRET_MARK,
        bucketName: 'bucket-1',
        hostPath: HOST_PATH,
      });
      expect(secret.metadata?.labels ?? {}).toEqual({});
      expect(secret.metadata?.annotations).toEqual({ [ANNOTATION_CREATED_BY]: name });
      expect(secret.metadata?.finalizers).toEqual(['example.com/keep']);

      // The provider secret changes: the next provisioning follows, and the digest tells.
      await core.replaceNamespacedSecret({
        namespace: 'garden',
        name: secretName,
        body: { metadata: { name: secretName }, data: { token: b64('rotated') } },
      });
      const second = record(await acts.provisionEtcdBackupSecret(name));
      expect(second.digest).not.toBe(first.digest);
      expect(second.resourceVersion).not.toBe(first.resourceVersion);
      secret = await readSecret(ns, 'etcd-backup');
      expect(decode(secret.data)).toEqual({ token: 'rotated', bucketName: 'bucket-1', hostPath: HOST_PATH });
      await core.patchNamespacedSecret({
        namespace: ns,
        name: 'etcd-backup',
        body: [{ op: 'remove', path: '/metadata/finalizers' }],
      });
    });

    it('a missing or terminating namespace: nothing written, and success (as Gardener); the secret once it is active', async () => {
      const { name, ns } = await makeEntry({ namespace: false });
      expect(record(await acts.provisionEtcdBackupSecret(name))).toEqual({
        namespace: ns,
        name: 'etcd-backup',
        resourceVersion: '',
        digest: '',
        skipped: 'NamespaceMissing',
      });
      await expect(readSecret(ns, 'etcd-backup')).rejects.toMatchObject({ code: 404 });
      await core.createNamespace({ body: { metadata: { name: ns } } });
      const written = record(await acts.provisionEtcdBackupSecret(name));
      expect(written.skipped).toBeUndefined();
      expect(decode((await readSecret(ns, 'etcd-backup')).data).bucketName).toBe('bucket-1');
      // Terminating (no namespace controller runs here, so it stays so): not written again, still a success.
      const other = await makeEntry();
      await core.createNamespacedConfigMap({ namespace: other.ns, body: { metadata: { name: 'keep' } } });
      await core.deleteNamespace({ name: other.ns });
      expect(record(await acts.provisionEtcdBackupSecret(other.name))).toMatchObject({
        skipped: 'NamespaceTerminating',
      });
      await expect(readSecret(other.ns, 'etcd-backup')).rejects.toMatchObject({ code: 404 });
    });

    it.each([
      [
        'a missing provider secret',
        { secret: null },
        'SecretRefMissing',
        'referenced by spec.secretRef does not exist',
      ],
      ['an empty provider secret', { secret: {} }, 'SecretRefEmpty', 'referenced by spec.secretRef has no data'],
      [
        'an unknown type',
        { type: 'azure' },
        'UnknownType',
        'no storage provider is configured (known: gcp, leaky, local)',
      ],
      ['gcp without serviceaccount.json', { type: 'gcp' }, 'MissingServiceAccountJson', 'no "serviceaccount.json" key'],
      [
        'gcp with malformed JSON',
        { type: 'gcp', secret: { 'serviceaccount.json': `{"private_key": "${SECRET_MARK}"` } },
        'InvalidServiceAccountJson',
        'is not valid JSON',
      ],
      [
        'a provider error that quotes the data',
        { type: 'leaky' },
        'InvalidProviderSecret',
        'the leaky provider rejected the data',
      ],
    ] as const)('fails non-retryably on %s and writes no secret', async (_what, opts, reason, text) => {
      const { name, ns } = await makeEntry(opts as EntryOpts);
      const f = await fail(acts.provisionEtcdBackupSecret(name));
      expect(f.type).toBe(GardenerErrorCode.ConfigurationProblem);
      expect(f.nonRetryable).toBe(true);
      expect(f.details).toEqual([{ codes: [GardenerErrorCode.ConfigurationProblem], reason }]);
      expect(f.message).toContain(`for backupentry ${name}: `);
      expect(f.message).toContain(text);
      await expect(readSecret(ns, 'etcd-backup')).rejects.toMatchObject({ code: 404 });
    });

    it('rejects a name that does not parse', async () => {
      const name = uniqueName('noseparator');
      const f = await fail(acts.provisionEtcdBackupSecret(name));
      expect(f.type).toBe(GardenerErrorCode.ConfigurationProblem);
      expect(f.details).toEqual([{ codes: [GardenerErrorCode.ConfigurationProblem], reason: 'InvalidEntryName' }]);
    });
  });

  describe('deleteEtcdBackupSecret', () => {
    it("deletes our secret, keeps another entry's, and reports a missing one as absent", async () => {
      const { name, ns } = await makeEntry();
      expect(await acts.deleteEtcdBackupSecret(name)).toBe('absent');
      record(await acts.provisionEtcdBackupSecret(name));
      expect(await acts.deleteEtcdBackupSecret(name)).toBe('deleted');
      await expect(readSecret(ns, 'etcd-backup')).rejects.toMatchObject({ code: 404 });

      await core.createNamespacedSecret({
        namespace: ns,
        body: {
          metadata: { name: 'etcd-backup', annotations: { [ANNOTATION_CREATED_BY]: `${ns}--other-shoot-uid` } },
          data: { a: b64('b') },
        },
      });
      expect(await acts.deleteEtcdBackupSecret(name)).toBe('kept-created-by-other');
      expect((await readSecret(ns, 'etcd-backup')).metadata?.name).toBe('etcd-backup');

      // No created-by annotation (a secret from before gardener/gardener#8709): ours to delete.
      await core.replaceNamespacedSecret({
        namespace: ns,
        name: 'etcd-backup',
        body: { metadata: { name: 'etcd-backup' }, data: { a: b64('b') } },
      });
      expect(await acts.deleteEtcdBackupSecret(name)).toBe('deleted');
    });
  });

  describe('finalizers', () => {
    it('adds ours to the entry and the secretRef secret, idempotently, and releases them', async () => {
      const { name, secretName } = await makeEntry({ finalizers: ['example.com/other'] });
      await acts.ensureFinalizers(name);
      await acts.ensureFinalizers(name);
      expect((await getEntry(name)).metadata.finalizers).toEqual(['example.com/other', FINALIZER]);
      expect((await readSecret('garden', secretName)).metadata?.finalizers).toEqual([FINALIZER]);
      expect((await acts.observeEntry(name)).hasFinalizer).toBe(true);

      await acts.releaseFinalizers(name, { secret: true });
      expect((await getEntry(name)).metadata.finalizers).toEqual(['example.com/other']);
      expect((await readSecret('garden', secretName)).metadata?.finalizers ?? []).toEqual([]);

      await acts.ensureFinalizers(name);
      await acts.releaseFinalizers(name, { secret: false, allEntryFinalizers: true });
      expect((await getEntry(name)).metadata.finalizers ?? []).toEqual([]);
      expect((await readSecret('garden', secretName)).metadata?.finalizers).toEqual([FINALIZER]);
      await acts.releaseFinalizers(name, { secret: true });
      expect((await readSecret('garden', secretName)).metadata?.finalizers ?? []).toEqual([]);
    });

    it('fails with SecretRefMissing when the secretRef secret does not exist, after finalizing the entry', async () => {
      const { name, secretName } = await makeEntry({ secret: null });
      const f = await fail(acts.ensureFinalizers(name));
      expect(f.type).toBe(GardenerErrorCode.ConfigurationProblem);
      expect(f.nonRetryable).toBe(true);
      expect(f.message).toBe(
        `adding finalizers for backupentry ${name}: secret garden/${secretName} referenced by ` +
          'spec.secretRef does not exist',
      );
      expect(await acts.secretRefExists(name)).toBe(false);
      // Release tolerates the missing secret.
      await acts.releaseFinalizers(name, { secret: true });
      expect((await getEntry(name)).metadata.finalizers ?? []).toEqual([]);
    });

    it('reports a secretRef secret that is being deleted (no finalizer can be added any more)', async () => {
      const { name, secretName } = await makeEntry();
      await core.patchNamespacedSecret({
        namespace: 'garden',
        name: secretName,
        body: [{ op: 'add', path: '/metadata/finalizers', value: ['example.com/hold'] }],
      });
      await core.deleteNamespacedSecret({ namespace: 'garden', name: secretName });
      const f = await fail(acts.ensureFinalizers(name));
      expect(f.type).toBe(GardenerErrorCode.ConfigurationProblem);
      expect(f.details).toEqual([{ codes: [GardenerErrorCode.ConfigurationProblem], reason: 'SecretRefTerminating' }]);
      await core.patchNamespacedSecret({
        namespace: 'garden',
        name: secretName,
        body: [{ op: 'remove', path: '/metadata/finalizers' }],
      });
      expect(await acts.secretRefExists(name)).toBe(false);
    });

    it('adds no entry finalizer once deletion started, and a deleted entry is observed as gone', async () => {
      const { name, secretName } = await makeEntry({ finalizers: ['example.com/hold'] });
      await custom.deleteClusterCustomObject({ ...be, name });
      const view = await acts.observeEntry(name);
      expect(view.deletionTimestamp).toEqual(expect.any(String));
      await acts.ensureFinalizers(name);
      expect((await getEntry(name)).metadata.finalizers).toEqual(['example.com/hold']);
      expect((await readSecret('garden', secretName)).metadata?.finalizers).toEqual([FINALIZER]);
      expect(await acts.secretRefExists(name)).toBe(true);

      await acts.releaseFinalizers(name, { secret: true, allEntryFinalizers: true });
      expect((await readSecret('garden', secretName)).metadata?.finalizers ?? []).toEqual([]);
      expect((await acts.observeEntry(name)).exists).toBe(false);
      // Everything on a gone entry is a no-op.
      await acts.releaseFinalizers(name, { secret: true });
      await acts.ensureFinalizers(name);
      await acts.writeStatus(name, { kind: 'processing', operation: Operation.Delete, description: 'x' });
      await acts.removeOperationAnnotation(name, 'reconcile');
    });
  });

  describe('reconcileEntry and beginDeletion (the local-activity steps)', () => {
    /** The activities over a gateway that counts its calls by method. */
    const counted = () => {
      const calls: Record<string, number> = {};
      const inner = createKubeGateway(kc);
      const kube = new Proxy(inner, {
        get: (t, p: string) => {
          const v = (t as unknown as Record<string, unknown>)[p];
          return typeof v === 'function'
            ? (...args: unknown[]) => {
                calls[p] = (calls[p] ?? 0) + 1;
                return (v as (...a: unknown[]) => unknown).apply(t, args);
              }
            : v;
        },
      });
      return { calls, acts: createKubeActivities({ kube, providers, now: () => NOW }) };
    };

    it('reconciles a new entry in one step from the observed view, without reading the entry again', async () => {
      const { name, ns, secretName } = await makeEntry({
        finalizers: ['example.com/other'],
        annotations: { [ANNOTATION_OPERATION]: 'reconcile' },
      });
      const view = await acts.observeEntry(name);
      const { calls, acts: a } = counted();
      const written = record(await a.reconcileEntry(name, { operation: Operation.Create, entry: view }));
      expect(written).toMatchObject({
        namespace: ns,
        name: 'etcd-backup',
        digest: expect.stringMatching(/^[0-9a-f]{16}$/),
      });
      const entry = await getEntry(name);
      expect(entry.metadata.finalizers).toEqual(['example.com/other', FINALIZER]);
      expect(entry.metadata.annotations?.[ANNOTATION_OPERATION]).toBeUndefined();
      expect(entry.status?.lastOperation).toMatchObject({ type: 'Create', state: 'Succeeded' });
      expect((await readSecret('garden', secretName)).metadata?.finalizers).toEqual([FINALIZER]);
      expect(decode((await readSecret(ns, 'etcd-backup')).data)).toMatchObject({
        bucketName: 'bucket-1',
        hostPath: HOST_PATH,
      });
      // One read of the entry: the operation annotation's conditional removal; no namespace read; the secret created.
      expect(calls).toMatchObject({ getBackupEntry: 1, createSecret: 1, patchBackupEntryStatus: 2, getSecret: 1 });
      expect(calls.getNamespace).toBeUndefined();
      expect(calls.replaceSecret).toBeUndefined();

      // Again on the same (now stale) view: the 409s cost a read each, the existing etcd-backup secret is replaced.
      const again = counted();
      await again.acts.reconcileEntry(name, { operation: Operation.Reconcile, entry: { ...view, annotations: {} } });
      expect((await getEntry(name)).metadata.finalizers).toEqual(['example.com/other', FINALIZER]);
      expect(again.calls.replaceSecret).toBe(1);
    });

    it('observeAndReconcile reads the entry and reconciles it in the same step when it is due (and the uid asked for)', async () => {
      const { name, ns } = await makeEntry({});
      const other = await acts.observeAndReconcile(name, { uid: 'another-incarnation' });
      expect(other.entry).toMatchObject({ exists: true, name });
      expect(other.reconciled).toBeUndefined();
      expect((await getEntry(name)).status?.lastOperation).toBeUndefined();
      const first = await acts.observeAndReconcile(name, { uid: other.entry.uid });
      expect(first.reconciled).toMatchObject({ operation: Operation.Create, etcdSecret: { namespace: ns } });
      expect((await getEntry(name)).status?.lastOperation).toMatchObject({ type: 'Create', state: 'Succeeded' });
      const second = await acts.observeAndReconcile(name, {});
      expect(second.entry.lastOperation).toMatchObject({ type: 'Create', state: 'Succeeded' });
      expect(second.reconciled?.operation).toBe(Operation.Reconcile);
      expect(record(second.reconciled!.etcdSecret)).toMatchObject({ name: 'etcd-backup' });
      const gone = await acts.observeAndReconcile(`${name}x`, {});
      expect(gone).toEqual({ entry: expect.objectContaining({ exists: false }) });
    });

    it('a missing namespace, learnt from the create: no secret, status Succeeded (as Gardener)', async () => {
      const { name, ns } = await makeEntry({ namespace: false });
      const ref = record(
        await acts.reconcileEntry(name, { operation: Operation.Create, entry: await acts.observeEntry(name) }),
      );
      expect(ref).toMatchObject({ namespace: ns, skipped: 'NamespaceMissing' });
      const entry = (await getEntry(name)) as { status?: { lastOperation?: { state?: string } } };
      expect(entry.status?.lastOperation?.state).toBe('Succeeded');
      await expect(readSecret(ns, 'etcd-backup')).rejects.toMatchObject({ code: 404 });
    });

    it('beginDeletion releases the entry with the record on its secret, holds it with the deadline, or does nothing without a secret', async () => {
      const record1 = {
        workflowId: 'wf-1',
        uid: '',
        type: 'local',
        bucketName: 'bucket-1',
        deletionTimestamp: '2026-03-01T08:00:00Z',
        deletionDeadline: '2026-03-04T08:00:00Z',
      };
      const pending = {
        kind: 'pending' as const,
        operation: Operation.Delete,
        description: 'Backups are retained until 2026-03-04T08:00:00Z',
      };
      // release-entry
      const a = await makeEntry();
      await acts.ensureFinalizers(a.name);
      await acts.provisionEtcdBackupSecret(a.name);
      await custom.deleteClusterCustomObject({ ...be, name: a.name });
      const viewA = await acts.observeEntry(a.name);
      const released = record(
        await acts.beginDeletion(a.name, {
          entry: viewA,
          pending: { ...pending, observed: { generation: viewA.generation } },
          record: { ...record1, uid: viewA.uid },
        }),
      );
      expect(released).toEqual({ secretRefExists: true, etcdSecret: 'deleted', released: true });
      expect((await acts.observeEntry(a.name)).exists).toBe(false);
      expect(await acts.readRetentionRecord(a.name, { namespace: 'garden', name: a.secretName })).toMatchObject({
        workflowId: 'wf-1',
        uid: viewA.uid,
      });
      // hold-entry
      const b = await makeEntry();
      await acts.ensureFinalizers(b.name);
      await custom.deleteClusterCustomObject({ ...be, name: b.name });
      const viewB = await acts.observeEntry(b.name);
      const held = await acts.beginDeletion(b.name, {
        entry: viewB,
        pending: { ...pending, observed: { generation: viewB.generation } },
        decision: { uid: viewB.uid, deletionDeadline: '2026-03-04T08:00:00Z' },
      });
      expect(held).toEqual({ secretRefExists: true, etcdSecret: 'absent', persisted: true });
      const entryB = await getEntry(b.name);
      expect(entryB.metadata.finalizers).toEqual([FINALIZER]);
      expect(entryB.status?.lastOperation).toMatchObject({ type: 'Delete', state: 'Pending' });
      expect(entryB.metadata.annotations?.['backupentry.extensions.gardener.cloud/deletion-deadline']).toBe(
        '2026-03-04T08:00:00Z',
      );
      // no secret: nothing written
      const c = await makeEntry({ secret: null });
      const viewC = await acts.observeEntry(c.name);
      expect(await acts.beginDeletion(c.name, { entry: viewC, pending })).toEqual({ secretRefExists: false });
      expect((await getEntry(c.name)).status?.lastOperation).toBeUndefined();
      await acts.releaseFinalizers(b.name, { secret: true });
    });
  });

  describe('writeStatus', () => {
    it("writes Processing, Error, Succeeded and Pending in Gardener's form, never before gardener.cloud/timestamp", async () => {
      const future = '2030-05-01T12:00:00.123456789Z';
      const { name } = await makeEntry({ annotations: { [ANNOTATION_TIMESTAMP]: future } });
      const status = async () => (await getEntry(name)).status;

      await acts.writeStatus(name, {
        kind: 'processing',
        operation: Operation.Create,
        description: 'Reconciling the BackupEntry',
      });
      expect(await status()).toEqual({
        lastOperation: {
          type: 'Create',
          state: 'Processing',
          progress: 1,
          description: 'Reconciling the BackupEntry',
          lastUpdateTime: '2030-05-01T12:00:00Z',
        },
      });

      await acts.writeStatus(name, {
        kind: 'error',
        operation: Operation.Create,
        description: 'bucket bucket-1 does not exist',
        codes: [GardenerErrorCode.ConfigurationProblem],
      });
      const desc = 'Error reconciling BackupEntry: bucket bucket-1 does not exist';
      expect(await status()).toEqual({
        lastOperation: {
          type: 'Create',
          state: 'Error',
          progress: 50,
          description: desc,
          lastUpdateTime: '2030-05-01T12:00:00Z',
        },
        lastError: { description: desc, codes: ['ERR_CONFIGURATION_PROBLEM'], lastUpdateTime: '2030-05-01T12:00:00Z' },
        observedGeneration: 1,
      });

      await acts.writeStatus(name, {
        kind: 'succeeded',
        operation: Operation.Create,
        description: 'Successfully reconciled BackupEntry',
      });
      expect(await status()).toEqual({
        lastOperation: {
          type: 'Create',
          state: 'Succeeded',
          progress: 100,
          description: 'Successfully reconciled BackupEntry',
          lastUpdateTime: '2030-05-01T12:00:00Z',
        },
        observedGeneration: 1,
      });

      // Without a future timestamp the injected clock counts.
      await custom.patchClusterCustomObject({
        ...be,
        name,
        body: [{ op: 'remove', path: `/metadata/annotations/${ANNOTATION_TIMESTAMP.replace('/', '~1')}` }],
      });
      await acts.writeStatus(name, {
        kind: 'pending',
        operation: Operation.Delete,
        description: 'Backups kept until 2026-03-04T08:00:00Z',
      });
      expect(await status()).toEqual({
        lastOperation: {
          type: 'Delete',
          state: 'Pending',
          progress: 0,
          description: 'Backups kept until 2026-03-04T08:00:00Z',
          lastUpdateTime: '2026-03-01T08:00:00Z',
        },
        observedGeneration: 1,
      });
      const f = await fail(acts.writeStatus(name, { kind: 'pending', operation: Operation.Create, description: 'x' }));
      expect(f.nonRetryable).toBe(true);
    });

    it('observedGeneration follows a spec change', async () => {
      const { name } = await makeEntry();
      await custom.patchClusterCustomObject({
        ...be,
        name,
        body: [{ op: 'replace', path: '/spec/region', value: 'other' }],
      });
      await acts.writeStatus(name, { kind: 'succeeded', operation: Operation.Reconcile, description: 'ok' });
      const entry = await getEntry(name);
      expect(entry.metadata.generation).toBe(2);
      expect(entry.status.observedGeneration).toBe(2);
    });
  });

  describe('removeOperationAnnotation', () => {
    it('removes gardener.cloud/operation only when it still has the given value', async () => {
      const { name } = await makeEntry({ annotations: { [ANNOTATION_OPERATION]: 'restore', keep: 'me' } });
      await acts.removeOperationAnnotation(name, 'reconcile');
      expect((await getEntry(name)).metadata.annotations).toEqual({ [ANNOTATION_OPERATION]: 'restore', keep: 'me' });
      await acts.removeOperationAnnotation(name, 'restore');
      expect((await getEntry(name)).metadata.annotations).toEqual({ keep: 'me' });
      await acts.removeOperationAnnotation(name, 'restore');
    });
  });

  describe('recordEvent', () => {
    it('records a core/v1 Event in namespace default about the cluster-scoped entry', async () => {
      const { name } = await makeEntry();
      const uid = (await acts.observeEntry(name)).uid;
      await acts.recordEvent(name, {
        type: 'Warning',
        reason: 'BackupsOrphaned',
        message: 'secret gone; backups stay',
      });
      const list = await core.listNamespacedEvent({
        namespace: 'default',
        fieldSelector: `involvedObject.name=${name}`,
      });
      expect(list.items).toHaveLength(1);
      const ev = list.items[0]!;
      expect(ev).toMatchObject({
        type: 'Warning',
        reason: 'BackupsOrphaned',
        message: 'secret gone; backups stay',
        count: 1,
        involvedObject: { apiVersion: BACKUPENTRY_API.apiVersion, kind: 'BackupEntry', name, uid },
        source: { component: 'backupentry-lifecycle' },
      });
      expect(ev.involvedObject.namespace).toBeUndefined();
      expect(ev.firstTimestamp?.toISOString()).toBe('2026-03-01T08:00:00.000Z');
      // Defence in depth: credentials pasted into a message are redacted before they reach the API server.
      await acts.recordEvent(name, { type: 'Warning', reason: 'Pasted', message: `oops ${serviceAccount()}` });
      const pasted = (
        await core.listNamespacedEvent({
          namespace: 'default',
          fieldSelector: `involvedObject.name=${name},reason=Pasted`,
        })
      ).items;
      expect(pasted).toHaveLength(1);
      expect(pasted[0]!.message).toContain('[redacted');
      expect(pasted[0]!.message).not.toContain(SECRET_MARK);
      // Best effort: an event on a missing entry does not throw.
      await expect(
        acts.recordEvent('shoot--gone--x', { type: 'Normal', reason: 'X', message: 'y' }),
      ).resolves.toBeUndefined();
    });
  });

  describe('readEntryForStorage', () => {
    it('returns type, bucket and the provider secret bytes (for the storage activities only)', async () => {
      const { name } = await makeEntry({ type: 'gcp', secret: { 'serviceaccount.json': serviceAccount() } });
      const access = await acts.readEntryForStorage(name);
      expect(access.type).toBe('gcp');
      expect(access.bucketName).toBe('bucket-1');
      expect(access.secretData['serviceaccount.json']?.toString()).toBe(serviceAccount());
      await expect(acts.readEntryForStorage('shoot--gone--x')).rejects.toMatchObject({
        name: 'ClassifiedError',
        code: GardenerErrorCode.ConfigurationProblem,
        reason: 'EntryMissing',
      });
    });
  });

  describe('the truth at the moment of deletion (verifyDeletionAllowed) and the end of a secret’s use', () => {
    const local = (secretName: string, uid: string, bucketName = 'bucket-1') => ({
      type: 'local',
      bucketName,
      secretRef: { namespace: 'garden', name: secretName },
      uid,
    });
    const refusalOf = async (p: Promise<unknown>): Promise<string> => {
      const err = (await p.then(
        () => undefined,
        (e: unknown) => e,
      )) as { reason?: string; message?: string; retryable?: boolean } | undefined;
      expect(err).toMatchObject({ reason: 'DeletionRefused', retryable: false });
      return err!.message!;
    };

    it('refuses source-X (record or start forged) while X lives in the same bucket, and X itself while it lives', async () => {
      const { name, secretName } = await makeEntry();
      const uid = (await getEntry(name)).metadata.uid as string;
      expect(await refusalOf(acts.verifyDeletionAllowed(`source-${name}`, local(secretName, 'forged')))).toMatch(
        /PrefixOwnedByLiveEntry/,
      );
      expect(await refusalOf(acts.verifyDeletionAllowed(name, local(secretName, uid)))).toMatch(/EntryNotDeleted/);
      expect(await refusalOf(acts.verifyDeletionAllowed(name))).toMatch(/EntryNotDeleted/);
    });

    it('lets a deleting entry’s own deletion run, and refuses another uid, bucket or type than the entry has', async () => {
      const { name, secretName } = await makeEntry({ finalizers: ['example.com/hold'] });
      const uid = (await getEntry(name)).metadata.uid as string;
      await custom.deleteClusterCustomObject({ ...be, name });
      await expect(acts.verifyDeletionAllowed(name, local(secretName, uid))).resolves.toBeUndefined();
      await expect(acts.verifyDeletionAllowed(name)).resolves.toBeUndefined();
      expect(await refusalOf(acts.verifyDeletionAllowed(name, local(secretName, 'old-uid')))).toMatch(/EntryRecreated/);
      expect(await refusalOf(acts.verifyDeletionAllowed(name, local(secretName, uid, 'bucket-2')))).toMatch(
        /TargetDisagreesWithEntry/,
      );
      // Gone (released during retention): a main entry's retention may finish, a source- one never.
      await custom.patchClusterCustomObject({ ...be, name, body: { metadata: { finalizers: null } } }, MERGE);
      await expect(acts.verifyDeletionAllowed(name, local(secretName, uid))).resolves.toBeUndefined();
      expect(await refusalOf(acts.verifyDeletionAllowed(`source-${name}`, local(secretName, 's')))).toMatch(
        /SourceEntryGone/,
      );
    });

    it('a finished run removes its own record but keeps our finalizer while a live entry still uses the secret', async () => {
      const { name, secretName } = await makeEntry();
      await acts.ensureFinalizers(name);
      const forged = {
        workflowId: `backupentry/x/source-${name}`,
        uid: 'forged',
        type: 'local',
        bucketName: 'bucket-1',
        deletionTimestamp: '2026-01-01T00:00:00Z',
        deletionDeadline: '2026-01-01T00:00:00Z',
      };
      const ref = { namespace: 'garden', name: secretName };
      expect(await acts.recordRetention(`source-${name}`, ref, forged)).toBe(true);
      expect(await acts.readRetentionRecord(`source-${name}`, ref)).toEqual(forged);
      await acts.releaseFinalizers(`source-${name}`, { secret: true, secretRef: ref });
      expect(await acts.readRetentionRecord(`source-${name}`, ref)).toBeUndefined(); // its anchor is gone
      expect((await anchorOf(`source-${name}`)).code).toBe(404);
      const secret = await readSecret('garden', secretName);
      expect(secret.metadata?.finalizers).toEqual([FINALIZER]); // X still needs its credentials
    });
  });

  describe('retention anchors (release-entry): nothing the retention needs lives on what gardenlet rewrites', () => {
    const readBucket = async (name: string) => ({ metadata: { finalizers: await bucketFinalizers(custom, name) } });

    /** The seed's extension BackupBucket and its current credentials `garden/bucket-<name>`, as gardenlet keeps them. */
    async function makeBucket(password: string): Promise<{ bucket: string; secret: string }> {
      const bucket = uniqueName('bucket');
      const secret = `bucket-${bucket}`;
      await core.createNamespacedSecret({
        namespace: 'garden',
        body: { metadata: { name: secret }, data: { username: b64('u'), password: b64(password) } },
      });
      await createBackupBucket(custom, { name: bucket, secret });
      return { bucket, secret };
    }

    /** An entry of `bucket`, set up and deleted, then released with its record as the workflow's step does. */
    async function releaseEntry(bucket: string): Promise<{ name: string; ref: { namespace: string; name: string } }> {
      const { name, secretName } = await makeEntry({ bucket, secret: { username: 'u', password: 'pinned' } });
      await acts.ensureFinalizers(name);
      await custom.deleteClusterCustomObject({ ...be, name });
      const view = await acts.observeEntry(name);
      const res = await acts.beginDeletion(name, {
        entry: view,
        record: {
          workflowId: `wf-${name}`,
          uid: view.uid,
          type: 'local',
          bucketName: bucket,
          deletionTimestamp: '2026-03-01T08:00:00Z',
          deletionDeadline: '2026-03-04T08:00:00Z',
        },
      });
      expect(res).toMatchObject({ secretRefExists: true, released: true });
      return { name, ref: { namespace: 'garden', name: secretName } };
    }

    const pinnedOf = (name: string, bucket: string, ref: { namespace: string; name: string }) => ({
      type: 'local',
      bucketName: bucket,
      secretRef: ref,
      uid: 'u',
    });
    const passwordOf = (data: Record<string, Buffer> | undefined): string | undefined => data?.password?.toString();

    it("the anchor holds the record and a copy of the credentials; the bucket is held; gardenlet's secret is let go and may be wiped", async () => {
      const { bucket } = await makeBucket('current');
      const { name, ref } = await releaseEntry(bucket);
      const anchor = await readSecret('garden', retentionAnchorName(name));
      expect(anchor.metadata?.labels).toEqual({ [LABEL_RETENTION_ANCHOR]: 'true' });
      expect(anchor.metadata?.finalizers).toEqual([FINALIZER]);
      expect(anchor.type).toBe('Opaque');
      expect(decode(anchor.data)).toEqual({ username: 'u', password: 'pinned' });
      expect(JSON.parse(anchor.metadata!.annotations![ANNOTATION_RETENTION_RECORDS]!)).toEqual({
        [name]: expect.objectContaining({ bucketName: bucket, deletionDeadline: '2026-03-04T08:00:00Z' }),
      });
      expect((await readSecret('garden', ref.name)).metadata?.finalizers ?? []).toEqual([]);
      expect((await readBucket(bucket)).metadata.finalizers).toEqual([BUCKET_RETENTION_FINALIZER]);
      // gardenlet's delete round: every annotation and label of entry-<name> nulled, then the secret deleted.
      await core.patchNamespacedSecret(
        { namespace: 'garden', name: ref.name, body: { metadata: { annotations: null, labels: null } } },
        MERGE,
      );
      await core.deleteNamespacedSecret({ namespace: 'garden', name: ref.name });
      expect((await answerOf(readSecret('garden', ref.name))).code).toBe(404);
      // What a new run reads still says where the retention stands.
      expect(await acts.readRetentionRecord(name, ref)).toMatchObject({ bucketName: bucket });
      // A cancelled cleanup is written on the anchor, not on the gone secret.
      const rec = (await acts.readRetentionRecord(name, ref))!;
      expect(await acts.recordRetention(name, ref, { ...rec, keepBackups: true })).toBe(true);
      expect(await acts.readRetentionRecord(name, { namespace: 'garden', name: retentionAnchorName(name) })).toEqual({
        ...rec,
        keepBackups: true,
      });
    });

    it("the deadline's deletion uses the bucket's current credentials, then the anchor's copy, else NoUsableCredentials", async () => {
      const { bucket, secret } = await makeBucket('current');
      const { name, ref } = await releaseEntry(bucket);
      const pinned = pinnedOf(name, bucket, ref);
      let access = await acts.readEntryForStorage(name, pinned);
      expect(passwordOf(access.secretData)).toBe('current');
      expect(access.source).toBe(`secret garden/${secret} of BackupBucket ${bucket}`);
      expect(access.fallbacks?.map((f) => [f.source, passwordOf(f.secretData)])).toEqual([
        [`the copy on retention anchor garden/${retentionAnchorName(name)}`, 'pinned'],
        [`secret garden/${ref.name}`, 'pinned'],
      ]);
      // gardenlet rotates the bucket's secret: the next deletion attempt sees the new data.
      await core.patchNamespacedSecret(
        { namespace: 'garden', name: secret, body: { data: { password: b64('rotated') } } },
        MERGE,
      );
      access = await acts.readEntryForStorage(name, pinned);
      expect(passwordOf(access.secretData)).toBe('rotated');
      // The bucket's secret and gardenlet's entry secret gone: the anchor's copy.
      await core.deleteNamespacedSecret({ namespace: 'garden', name: secret });
      await core.deleteNamespacedSecret({ namespace: 'garden', name: ref.name });
      access = await acts.readEntryForStorage(name, pinned);
      expect([access.source, passwordOf(access.secretData), access.fallbacks]).toEqual([
        `the copy on retention anchor garden/${retentionAnchorName(name)}`,
        'pinned',
        undefined,
      ]);
      // A resumed run knows only the anchor: the same answer.
      access = await acts.readEntryForStorage(
        name,
        pinnedOf(name, bucket, { namespace: 'garden', name: retentionAnchorName(name) }),
      );
      expect(passwordOf(access.secretData)).toBe('pinned');
      // The retention ends: the anchor goes and nothing is left to use.
      await acts.releaseFinalizers(name, { secret: true, secretRef: ref });
      expect((await anchorOf(name)).code).toBe(404);
      const none = acts.readEntryForStorage(name, pinned);
      await expect(none).rejects.toMatchObject({
        reason: 'NoUsableCredentials',
        code: GardenerErrorCode.ConfigurationProblem,
        message: expect.stringContaining(`no credentials for the retained backups of backupentry ${name}`),
      });
    });

    it('the bucket stays held while any anchor names it, and is let go with the last one', async () => {
      const { bucket } = await makeBucket('current');
      const a = await releaseEntry(bucket);
      const b = await releaseEntry(bucket);
      expect((await readBucket(bucket)).metadata.finalizers).toEqual([BUCKET_RETENTION_FINALIZER]);
      await acts.releaseFinalizers(a.name, { secret: true, secretRef: a.ref });
      expect((await readBucket(bucket)).metadata.finalizers).toEqual([BUCKET_RETENTION_FINALIZER]);
      await acts.releaseFinalizers(b.name, { secret: true, secretRef: b.ref });
      expect((await readBucket(bucket)).metadata.finalizers ?? []).toEqual([]);
      // No BackupBucket object at all (a seed without one, the dev stack): the anchor is written all the same.
      const c = await releaseEntry(uniqueName('no-such-bucket'));
      expect(await acts.readRetentionRecord(c.name, c.ref)).toBeDefined();
    });
  });

  describe('someSecretMetadata (the bucket-hold check): metadata a page at a time, stopping at the first match', () => {
    it('reads past the first page when it must, stops as soon as one matches, and says false when none does', async () => {
      const gw = createKubeGateway(kc);
      const ns = uniqueName('anchors');
      await core.createNamespace({ body: { metadata: { name: ns } } });
      const label = `${LABEL_RETENTION_ANCHOR}=true`;
      // 130 labelled secrets (more than a page of 100) and one unlabelled; names sort in creation order.
      for (let i = 0; i < 131; i++) {
        await core.createNamespacedSecret({
          namespace: ns,
          body: {
            metadata: {
              name: `a-${String(i).padStart(3, '0')}`,
              labels: i === 130 ? {} : { [LABEL_RETENTION_ANCHOR]: 'true' },
              annotations: { mark: String(i) },
            },
            data: { password: b64(SECRET_MARK) },
          },
        });
      }
      const probe = (hit: (n: number) => boolean) => {
        const seenMeta: unknown[] = [];
        const found = gw.someSecretMetadata(ns, label, (m) => {
          seenMeta.push(m);
          return hit(Number(m.annotations?.mark));
        });
        return found.then((result) => ({ result, calls: seenMeta.length, text: JSON.stringify(seenMeta) }));
      };
      const late = await probe((n) => n === 129);
      expect([late.result, late.calls]).toEqual([true, 130]);
      const early = await probe((n) => n === 3);
      expect(early.result).toBe(true);
      expect(early.calls).toBeLessThanOrEqual(100);
      const none = await probe((n) => n === 130);
      expect([none.result, none.calls]).toEqual([false, 130]);
      for (const r of [late, early, none]) expect(r.text).not.toContain(SECRET_MARK);
      // No labelled secret at all (the API server answers an empty metadata list with `items: null`).
      expect(await gw.someSecretMetadata(ns, `${LABEL_RETENTION_ANCHOR}=no-such-value`, () => true)).toBe(false);
    });
  });

  describe('API errors', () => {
    function configFor(user: Record<string, unknown>): KubeConfig {
      const cluster = kc.getCurrentCluster()!;
      const out = new KubeConfig();
      out.loadFromOptions({
        clusters: [cluster],
        users: [{ name: 'u', ...user }],
        contexts: [{ name: 'c', cluster: cluster.name, user: 'u' }],
        currentContext: 'c',
      });
      return out;
    }

    it('maps 401 to ERR_INFRA_UNAUTHENTICATED and 403 to ERR_INFRA_UNAUTHORIZED, non-retryable, naming verb and resource', async () => {
      const { name } = await makeEntry();
      const badToken = createKubeActivities({
        kube: createKubeGateway(configFor({ token: 'not-a-valid-token' })),
        providers,
      });
      const f401 = await fail(badToken.observeEntry(name));
      expect(f401.type).toBe(GardenerErrorCode.InfraUnauthenticated);
      expect(f401.nonRetryable).toBe(true);
      expect(f401.message).toBe(
        `observing backupentry ${name}: get backupentry ${name}: the API server did not accept ` +
          "the controller's credentials (HTTP 401)",
      );

      const anonymous = createKubeActivities({ kube: createKubeGateway(configFor({})), providers });
      const f403 = await fail(anonymous.provisionEtcdBackupSecret(name));
      expect(f403.type).toBe(GardenerErrorCode.InfraUnauthorized);
      expect(f403.nonRetryable).toBe(true);
      expect(f403.message).toContain(`get backupentry ${name}: forbidden (HTTP 403)`);
      // Best effort even when forbidden.
      await expect(anonymous.recordEvent(name, { type: 'Normal', reason: 'X', message: 'y' })).resolves.toBeUndefined();
    });

    it('maps an unreachable API server to a retryable ERR_RETRYABLE_INFRA_DEPENDENCIES', async () => {
      // A port nobody listens on (not a fetch "bad port" such as 1, which fails before connecting).
      const probe = createServer();
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      const port = (probe.address() as AddressInfo).port;
      await new Promise((resolve) => probe.close(resolve));
      const out = new KubeConfig();
      out.loadFromOptions({
        clusters: [{ name: 'x', server: `https://127.0.0.1:${port}`, skipTLSVerify: true }],
        users: [{ name: 'u', token: 't' }],
        contexts: [{ name: 'c', cluster: 'x', user: 'u' }],
        currentContext: 'c',
      });
      const acts2 = createKubeActivities({ kube: createKubeGateway(out), providers });
      const f = await fail(acts2.observeEntry('shoot--a--b'));
      expect(f.type).toBe(GardenerErrorCode.RetryableInfraDependencies);
      expect(f.nonRetryable).toBe(false);
      expect(f.message).toBe(
        'observing backupentry shoot--a--b: get backupentry shoot--a--b: the API server is unreachable (ECONNREFUSED)',
      );
    });
  });

  // Runs last (jest keeps the order within a file): everything the activities returned or threw above.
  it("never put the provider secret's bytes into a result, an error message or failure details", () => {
    expect(seen.length).toBeGreaterThan(15);
    const all = seen.join('\n');
    expect(all).not.toContain(SECRET_MARK);
    expect(all).not.toContain(b64(SECRET_MARK));
    expect(all).not.toContain(b64(serviceAccount()));
  });
});

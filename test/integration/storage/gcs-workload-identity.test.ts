/**
 * `gcp` deletion with workload-identity credentials, end to end against fake-gcs-server: the provider exchanges the
 * secret's token at a token-exchange stand-in on 127.0.0.1 (which checks the subject token and audience) and a
 * recording proxy in front of fake-gcs-server shows every storage request carrying `Authorization: Bearer <the
 * exchanged token>` (or the impersonated account's token). A refused token reaches no storage request at all.
 */
import { type Bucket, Storage } from '@google-cloud/storage';
import { isClassifiedError, type ClassifiedError } from '../../../domain/errors';
import type { DeletionProgress, SecretData } from '../../../activities/storage-port';
import { createGcsProvider } from '../../../adapters/storage/gcs-provider';
import { GardenerErrorCode } from '../../../domain';
import { stackEnv, uniqueName } from '../../support/env';
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy';
import { startStsStandIn, type StsStandIn } from '../../support/sts-stand-in';

const ENTRY = 'shoot--dev--wi--3f1c6a7e-2b4d-4c8e-9a0b-1234567890ab';
const PREFIX = `${ENTRY}/`;
const never = new AbortController().signal;
const AUDIENCE = '//iam.googleapis.com/projects/11111111/locations/global/workloadIdentityPools/pool/providers/prov';
const EMAIL = 'etcd-backup@wi-proj.iam.gserviceaccount.com';
const jwt = (sub: string): string =>
  `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify({ sub, exp: Math.floor(Date.now() / 1000) + 3600 })).toString(
    'base64url',
  )}.c2lnbmF0dXJl`;
const TOKEN = jwt(`system:serviceaccount:garden:${Math.random().toString(36).slice(2)}`);
const ACCESS = `ya29.exchanged-${Math.random().toString(36).slice(2)}`;
const IMPERSONATED = `ya29.impersonated-${Math.random().toString(36).slice(2)}`;

function secret(opts: { token?: string; impersonate?: boolean } = {}): SecretData {
  const credentialsConfig = {
    universe_domain: 'googleapis.com',
    type: 'external_account',
    audience: AUDIENCE,
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    token_url: 'https://sts.googleapis.com/v1/token',
    ...(opts.impersonate
      ? {
          service_account_impersonation_url: `https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/${EMAIL}:generateAccessToken`,
        }
      : {}),
  };
  return {
    config: Buffer.from(
      JSON.stringify({
        apiVersion: 'gcp.provider.extensions.gardener.cloud/v1alpha1',
        kind: 'WorkloadIdentityConfig',
        projectID: 'wi-proj',
        credentialsConfig,
      }),
    ),
    token: Buffer.from(opts.token ?? TOKEN),
  };
}

let storage: Storage;
let proxy: FaultProxy;
let sts: StsStandIn;

beforeAll(async () => {
  delete process.env.STORAGE_EMULATOR_HOST;
  storage = new Storage({ apiEndpoint: stackEnv('GCS_API_ENDPOINT'), projectId: 'test' });
  proxy = await startFaultProxy(stackEnv('GCS_API_ENDPOINT'));
  sts = await startStsStandIn({
    subjectToken: TOKEN,
    audience: AUDIENCE,
    accessToken: ACCESS,
    impersonation: { email: EMAIL, accessToken: IMPERSONATED },
  });
});
afterAll(async () => {
  await proxy?.stop();
  await sts?.stop();
});
beforeEach(() => {
  proxy.seen.length = 0;
  sts.seen.length = 0;
});

const provider = () =>
  createGcsProvider({
    apiEndpoint: proxy.endpoint,
    pageSize: 3,
    stsEndpoint: sts.stsEndpoint,
    iamCredentialsEndpoint: sts.iamCredentialsEndpoint,
  });

async function bucketWith(keys: string[]): Promise<Bucket> {
  const [bucket] = await storage.createBucket(uniqueName('bel-wi'));
  for (const k of keys) await bucket.file(k).save(Buffer.from(`data of ${k}`), { resumable: false });
  return bucket;
}

const names = async (bucket: Bucket): Promise<string[]> => (await bucket.getFiles())[0].map((f) => f.name).sort();
const KEYS = [
  `${PREFIX}etcd-main/v2/Full-00000000-00000001-1755684000.gz`,
  `${PREFIX}etcd-main/v2/Incr-00000002-00000003-1755684300.gz`,
  `${PREFIX}etcd-main/v2/Incr-00000004-00000005-1755684600.gz`,
  `${PREFIX}etcd-events/v2/Full-00000000-00000001-1755684000.gz`,
];
const SIBLING = `${ENTRY}2/etcd-main/v2/Full-00000000-00000001-1755684000.gz`;

async function deleteAll(session: ReturnType<ReturnType<typeof provider>['open']>): Promise<DeletionProgress> {
  return session.deletePrefix(PREFIX, { signal: never, onProgress: () => undefined });
}

describe('gcp provider with workload identity against fake-gcs-server', () => {
  it('exchanges the token at the stand-in and every storage request carries the exchanged bearer token', async () => {
    const bucket = await bucketWith([...KEYS, SIBLING]);
    const session = provider().open(bucket.name, secret(), { workloadIdentity: true });
    expect(await session.inventory(PREFIX, { signal: never })).toMatchObject({
      objects: KEYS.length,
      truncated: false,
    });
    const done = await deleteAll(session);
    expect(done.deletedObjects).toBe(KEYS.length);
    expect(await session.remaining(PREFIX, { signal: never })).toMatchObject({ objects: 0 });
    expect(await names(bucket)).toEqual([SIBLING]);

    const storageRequests = proxy.seen.filter((r) => r.bucket === bucket.name);
    expect(storageRequests.filter((r) => r.method === 'DELETE')).toHaveLength(KEYS.length);
    expect(storageRequests.filter((r) => r.list).length).toBeGreaterThanOrEqual(3); // pages of 3, three passes
    expect(new Set(storageRequests.map((r) => r.authorization))).toEqual(new Set([`Bearer ${ACCESS}`]));
    // One exchange (the token is cached for its hour), of the secret's token, for the configured audience.
    expect(sts.seen.map((r) => [r.path, r.status, r.form?.subject_token === TOKEN, r.form?.audience])).toEqual([
      ['/v1/token', 200, true, AUDIENCE],
    ]);
  });

  it('impersonates the configured service account: the storage requests carry its token', async () => {
    const bucket = await bucketWith(KEYS.slice(0, 2));
    const session = provider().open(bucket.name, secret({ impersonate: true }), { workloadIdentity: true });
    expect((await deleteAll(session)).deletedObjects).toBe(2);
    expect(await names(bucket)).toEqual([]);
    expect(new Set(proxy.seen.filter((r) => r.bucket === bucket.name).map((r) => r.authorization))).toEqual(
      new Set([`Bearer ${IMPERSONATED}`]),
    );
    expect(sts.seen.map((r) => [r.path, r.status, r.authorization])).toEqual([
      ['/v1/token', 200, undefined],
      [`/v1/projects/-/serviceAccounts/${EMAIL}:generateAccessToken`, 200, `Bearer ${ACCESS}`],
    ]);
  });

  it('a token the exchange refuses: ERR_INFRA_UNAUTHENTICATED, nothing deleted, no storage request sent', async () => {
    const bucket = await bucketWith(KEYS.slice(0, 2));
    const err = await deleteAll(
      provider().open(bucket.name, secret({ token: jwt('someone-else') }), { workloadIdentity: true }),
    ).catch((e: unknown) => e);
    expect(isClassifiedError(err)).toBe(true);
    expect([(err as ClassifiedError).code, (err as ClassifiedError).retryable]).toEqual([
      GardenerErrorCode.InfraUnauthenticated,
      false,
    ]);
    expect((err as ClassifiedError).message).not.toContain('someone-else');
    expect(proxy.seen.filter((r) => r.bucket === bucket.name)).toEqual([]);
    expect(await names(bucket)).toEqual(KEYS.slice(0, 2).sort());
  });
});

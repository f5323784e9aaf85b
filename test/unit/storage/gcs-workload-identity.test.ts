/**
 * The `gcp` provider with workload-identity secrets, without the stack: the config checks and their refusals, the
 * etcd-backup keys (compared with provider-gcp's own test expectation), the token refusals ("waiting for the token
 * requestor"), and the token exchange against the loopback stand-in in front of a minimal JSON API stub: the bearer
 * token on the storage requests, impersonation, and how a refused or failing exchange is reported.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { type ClassifiedError, isClassifiedError } from '../../../domain/errors';
import type { SecretData } from '../../../activities/storage-port';
import {
  parseWorkloadIdentityConfig,
  SERVICE_ACCOUNT_EMAIL,
  tokenExchangeError,
  workloadIdentityEtcdSecretData,
} from '../../../adapters/storage/gcp-workload-identity';
import { createGcsProvider } from '../../../adapters/storage/gcs-provider';
import { GardenerErrorCode } from '../../../domain';
import { startStsStandIn, type StsStandIn } from '../../support/sts-stand-in';

const PREFIX = 'shoot--dev--wi--uid1/';
const never = new AbortController().signal;
const AUDIENCE =
  '//iam.googleapis.com/projects/11111111/locations/global/workloadIdentityPools/foopool/providers/fooprovider';
const SA_EMAIL = 'backup@proj-1234.iam.gserviceaccount.com';
const impersonationUrl = (email: string): string =>
  `https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/${email}:generateAccessToken`;
const IMPERSONATION = impersonationUrl(SA_EMAIL);
const jwt = (payload: object): string =>
  `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.c2lnbmF0dXJlLW5vdC1jaGVja2Vk`;
const TOKEN = jwt({
  sub: 'system:serviceaccount:garden:wi',
  exp: Math.floor(Date.now() / 1000) + 3600,
  n: Math.random(),
});
const ACCESS = `ya29.exchanged-${Math.random().toString(36).slice(2)}`;
const IMPERSONATED = `ya29.impersonated-${Math.random().toString(36).slice(2)}`;

function credentialsConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    universe_domain: 'googleapis.com',
    type: 'external_account',
    audience: AUDIENCE,
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    token_url: 'https://sts.googleapis.com/v1/token',
    ...extra,
  };
}
function config(cc: Record<string, unknown> = credentialsConfig(), top: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'gcp.provider.extensions.gardener.cloud/v1alpha1',
    kind: 'WorkloadIdentityConfig',
    projectID: 'test-proj',
    credentialsConfig: cc,
    ...top,
  });
}
/** The secret's data; `token` null = none written yet. */
const secret = (cfg: string, token: string | null = TOKEN): SecretData => ({
  config: Buffer.from(cfg),
  ...(token !== null ? { token: Buffer.from(token) } : {}),
});
const WI = { workloadIdentity: true };

function classified(fn: () => unknown): ClassifiedError {
  try {
    fn();
  } catch (err) {
    if (isClassifiedError(err)) return err;
    throw err;
  }
  throw new Error('expected a ClassifiedError');
}

describe('workload identity config', () => {
  it.each([
    ['no config key', undefined, 'WorkloadIdentityConfigMissing', 'has no "config" key'],
    ['config that is not JSON', 'apiVersion: v1\nkind: x', 'InvalidWorkloadIdentityConfig', 'is not valid JSON'],
    [
      'another kind',
      config(credentialsConfig(), { kind: 'CloudProfileConfig' }),
      'InvalidWorkloadIdentityConfig',
      'is not a WorkloadIdentityConfig',
    ],
    [
      'no projectID',
      config(credentialsConfig(), { projectID: '' }),
      'InvalidWorkloadIdentityConfig',
      'lacks "projectID"',
    ],
    [
      'a service account instead',
      config({ type: 'service_account' }),
      'InvalidWorkloadIdentityConfig',
      '"credentialsConfig.type"',
    ],
    [
      'no audience',
      config(credentialsConfig({ audience: undefined })),
      'InvalidWorkloadIdentityConfig',
      'lacks "credentialsConfig.audience"',
    ],
    [
      'another subject token type',
      config(credentialsConfig({ subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' })),
      'InvalidWorkloadIdentityConfig',
      '"credentialsConfig.subject_token_type"',
    ],
    [
      'another universe',
      config(credentialsConfig({ universe_domain: 'example.com' })),
      'UnsupportedUniverseDomain',
      'universe_domain',
    ],
    [
      'an impersonation URL outside the allow-list',
      config(
        credentialsConfig({
          service_account_impersonation_url:
            'https://evil.example/v1/projects/-/serviceAccounts/a@b:generateAccessToken',
        }),
      ),
      'UnsupportedImpersonationUrl',
      "outside Gardener's default allow-list",
    ],
  ] as const)(
    'refuses %s with a specific, non-retryable ERR_CONFIGURATION_PROBLEM that quotes nothing',
    (_what, cfg, reason, text) => {
      const data: SecretData = cfg === undefined ? { token: Buffer.from(TOKEN) } : secret(cfg);
      for (const call of [
        () => parseWorkloadIdentityConfig(data),
        () => createGcsProvider().open('b', data, WI),
        () => createGcsProvider().etcdSecretExtras(data, { workloadIdentity: true, source: false }),
      ]) {
        const e = classified(call);
        expect([e.code, e.retryable, e.reason]).toEqual([GardenerErrorCode.ConfigurationProblem, false, reason]);
        expect(e.message).toContain(text);
        expect(e.message).not.toContain(AUDIENCE);
        expect(e.message).not.toContain('test-proj');
        expect(e.message).not.toContain('evil.example');
      }
    },
  );

  it('etcd-backup keys: projectID, and credentialsConfig = serviceaccount.json with the token file source (as provider-gcp writes them)', () => {
    const cfg = config(
      credentialsConfig({
        service_account_impersonation_url: impersonationUrl(SA_EMAIL),
        extra_field: 'dropped',
      }),
    );
    const extras = createGcsProvider().etcdSecretExtras(secret(cfg, null), { workloadIdentity: true, source: false });
    // provider-gcp's pkg/controller/backupentry/actuator_test.go, "should successfully inject data" (with a real
    // service account email in place of its placeholder SERVICE_ACCOUNT_EMAIL, which the email grammar refuses).
    const expected =
      '{"audience":"//iam.googleapis.com/projects/11111111/locations/global/workloadIdentityPools/foopool/providers/fooprovider",' +
      '"credential_source":{"file":"/var/.gcp/token","format":{"type":"text"}},' +
      `"service_account_impersonation_url":"${impersonationUrl(SA_EMAIL)}",` +
      '"subject_token_type":"urn:ietf:params:oauth:token-type:jwt","token_url":"https://sts.googleapis.com/v1/token",' +
      '"type":"external_account","universe_domain":"googleapis.com"}';
    expect(Object.fromEntries(Object.entries(extras).map(([k, v]) => [k, v.toString()]))).toEqual({
      projectID: 'test-proj',
      credentialsConfig: expected,
      'serviceaccount.json': expected,
    });
    const source = workloadIdentityEtcdSecretData(parseWorkloadIdentityConfig(secret(config())), true);
    expect(JSON.parse(source.credentialsConfig!.toString()).credential_source).toEqual({
      file: '/var/.source-gcp/token',
      format: { type: 'text' },
    });
  });

  it('a plain secret is still a service-account key: a workload-identity config alone is refused without the label', () => {
    expect(classified(() => createGcsProvider().open('b', secret(config()))).reason).toBe('MissingServiceAccount');
    expect(classified(() => createGcsProvider().etcdSecretExtras(secret(config()))).reason).toBe(
      'MissingServiceAccount',
    );
  });
});

describe('workload identity impersonation target', () => {
  const impersonating = (email: string): SecretData =>
    secret(config(credentialsConfig({ service_account_impersonation_url: impersonationUrl(email) })));

  it.each([
    ['a backslash (changes the request path)', 'backup\\..\\..\\x@proj-1234.iam.gserviceaccount.com'],
    ['a backslash in the domain', 'backup@proj-1234.iam.gserviceaccount.com\\..\\..'],
    ['a percent-encoded slash', 'backup%2F..%2F..@proj-1234.iam.gserviceaccount.com'],
    ['dot segments', '..@proj-1234.iam.gserviceaccount.com'],
    ['another domain', 'backup@proj-1234.example.com'],
    ['no domain', 'backup'],
    ['upper case', 'Backup@proj-1234.iam.gserviceaccount.com'],
    ['an account ID of 5 characters', 'backu@proj-1234.iam.gserviceaccount.com'],
    ['an account ID of 31 characters', `${'a'.repeat(31)}@proj-1234.iam.gserviceaccount.com`],
    ['an account ID ending with a hyphen', 'backup-@proj-1234.iam.gserviceaccount.com'],
    ['an account ID starting with a digit', '1backup@proj-1234.iam.gserviceaccount.com'],
    ['a project ID of 5 characters', 'backup@proj1.iam.gserviceaccount.com'],
    ['a project ID ending with a hyphen', 'backup@proj-1234-.iam.gserviceaccount.com'],
    ['a compute account of a project ID', 'proj-1234-compute@developer.gserviceaccount.com'],
    ['an App Engine account of a number', '123456789012@appspot.gserviceaccount.com'],
    ['a trailing newline', 'backup@proj-1234.iam.gserviceaccount.com\n'],
  ])(
    'refuses an account with %s: specific, non-retryable ERR_CONFIGURATION_PROBLEM, quoting nothing',
    (_what, email) => {
      for (const call of [
        () => parseWorkloadIdentityConfig(impersonating(email)),
        () => createGcsProvider().open('b', impersonating(email), WI),
        () => createGcsProvider().etcdSecretExtras(impersonating(email), { workloadIdentity: true, source: false }),
      ]) {
        const e = classified(call);
        expect([e.code, e.retryable]).toEqual([GardenerErrorCode.ConfigurationProblem, false]);
        // The URL allow-list refuses some of these already (a newline); the rest must meet the email grammar.
        expect(['InvalidImpersonationTarget', 'UnsupportedImpersonationUrl']).toContain(e.reason);
        expect(e.message).not.toContain(email.split('@')[0]);
      }
      if (!/[/:?#\s]/.test(email)) {
        const e = classified(() => parseWorkloadIdentityConfig(impersonating(email)));
        expect(e.reason).toBe('InvalidImpersonationTarget');
        expect(e.message).toContain('is not a Google service account email');
      }
    },
  );

  it.each([
    SA_EMAIL,
    `a${'b'.repeat(28)}c@${'p'.repeat(30)}.iam.gserviceaccount.com`,
    'etcd-backup@wi-proj.iam.gserviceaccount.com',
    '123456789012-compute@developer.gserviceaccount.com',
    'proj-1234@appspot.gserviceaccount.com',
  ])('accepts %s', (email) => {
    expect(parseWorkloadIdentityConfig(impersonating(email)).impersonate).toBe(email);
  });

  const idOf = (min: number, max: number): fc.Arbitrary<string> =>
    fc
      .tuple(
        fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'),
        fc.string({
          unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-'),
          minLength: min - 2,
          maxLength: max - 2,
        }),
        fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'),
      )
      .map(([a, b, c]) => `${a}${b}${c}`);

  it('accepts every user-managed account email of the documented grammar (property)', () => {
    fc.assert(
      fc.property(idOf(6, 30), idOf(6, 30), (account, project) => {
        const email = `${account}@${project}.iam.gserviceaccount.com`;
        expect(parseWorkloadIdentityConfig(impersonating(email)).impersonate).toBe(email);
      }),
    );
  });

  it('refuses an email with any character outside lowercase letters, digits, "-", "." and "@" (property)', () => {
    const bad = fc
      .string({ minLength: 1, maxLength: 1 })
      .filter((c) => !/^[a-z0-9.@-]$/.test(c) && !/[/:?#\s]/.test(c));
    fc.assert(
      fc.property(idOf(6, 30), bad, fc.nat(), (account, c, at) => {
        const i = at % (account.length + 1);
        const email = `${account.slice(0, i)}${c}${account.slice(i)}@proj-1234.iam.gserviceaccount.com`;
        expect(SERVICE_ACCOUNT_EMAIL.test(email)).toBe(false);
        expect(classified(() => parseWorkloadIdentityConfig(impersonating(email))).reason).toBe(
          'InvalidImpersonationTarget',
        );
      }),
    );
  });
});

describe('workload identity token', () => {
  it.each([
    [
      'no token yet',
      null,
      'WorkloadIdentityTokenMissing',
      'waiting for the token requestor: the workload identity secret has no "token" yet',
    ],
    ['an empty token', '', 'WorkloadIdentityTokenMissing', 'waiting for the token requestor'],
    [
      'an expired JWT',
      jwt({ exp: Math.floor(Date.now() / 1000) - 60 }),
      'WorkloadIdentityTokenExpired',
      'has expired and was not renewed yet',
    ],
  ] as const)(
    '%s: retryable ERR_RETRYABLE_CONFIGURATION_PROBLEM "waiting for the token requestor"',
    (_what, token, reason, text) => {
      const e = classified(() => createGcsProvider().open('b', secret(config(), token), WI));
      expect([e.code, e.retryable, e.reason]).toEqual([GardenerErrorCode.RetryableConfigurationProblem, true, reason]);
      expect(e.message).toContain(text);
    },
  );

  it('maps exchange failures by status, naming stage and host only', () => {
    const ep = { sts: 'http://127.0.0.1:1/v1/token', iamCredentials: 'http://127.0.0.1:2' };
    const cases: Array<[unknown, string, boolean, string]> = [
      [
        { status: 400, message: `Error code invalid_grant: bad ${TOKEN}`, config: { url: ep.sts, data: TOKEN } },
        GardenerErrorCode.InfraUnauthenticated,
        false,
        'the token exchange at 127.0.0.1:1 did not accept the workload identity token (HTTP 400, invalid_grant)',
      ],
      [
        {
          response: { status: 403 },
          message: 'denied',
          config: { url: `${ep.iamCredentials}/v1/projects/-/serviceAccounts/a:generateAccessToken` },
        },
        GardenerErrorCode.InfraUnauthorized,
        false,
        'the service account impersonation at 127.0.0.1:2 denied the workload identity permission (HTTP 403)',
      ],
      [{ status: 429 }, GardenerErrorCode.InfraRateLimitsExceeded, true, 'is rate limited (HTTP 429)'],
      [{ status: 503 }, GardenerErrorCode.RetryableInfraDependencies, true, 'is unavailable (HTTP 503)'],
      [
        Object.assign(new Error(`connect ECONNREFUSED ${TOKEN}`), { code: 'ECONNREFUSED' }),
        GardenerErrorCode.RetryableInfraDependencies,
        true,
        'the token exchange at 127.0.0.1:1 failed without a response (ECONNREFUSED)',
      ],
    ];
    for (const [err, code, retryable, text] of cases) {
      const e = tokenExchangeError(err, ep);
      expect([e.code, e.retryable]).toEqual([code, retryable]);
      expect(e.message).toContain(text);
      expect(e.message).not.toContain(TOKEN);
      expect(e.cause).toBeUndefined();
    }
  });
});

describe('workload identity exchange against the loopback stand-in', () => {
  let api: Server;
  let apiEndpoint: string;
  const apiAuth: Array<string | undefined> = [];
  let sts: StsStandIn;

  beforeAll(async () => {
    api = createServer((req, res) => {
      apiAuth.push(req.headers.authorization);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ items: [] }));
    });
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
    apiEndpoint = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    sts = await startStsStandIn({
      subjectToken: TOKEN,
      audience: AUDIENCE,
      accessToken: ACCESS,
      impersonation: { email: SA_EMAIL, accessToken: IMPERSONATED },
    });
  });
  afterAll(async () => {
    await sts.stop();
    await new Promise((r) => api.close(r));
  });
  beforeEach(() => {
    apiAuth.length = 0;
    sts.seen.length = 0;
    sts.failWith = undefined;
  });
  const provider = () =>
    createGcsProvider({
      apiEndpoint,
      stsEndpoint: sts.stsEndpoint,
      iamCredentialsEndpoint: sts.iamCredentialsEndpoint,
    });

  it("exchanges the secret's token at the configured endpoint (not the config's token_url) and sends the access token", async () => {
    const session = provider().open('bucket', secret(config()), WI);
    expect(await session.inventory(PREFIX, { signal: never })).toEqual({ objects: 0, bytes: 0, truncated: false });
    await session.inventory(PREFIX, { signal: never });
    expect(apiAuth).toEqual([`Bearer ${ACCESS}`, `Bearer ${ACCESS}`]);
    expect(sts.seen.map((r) => [r.path, r.status, r.form?.subject_token === TOKEN, r.form?.scope])).toEqual([
      ['/v1/token', 200, true, 'https://www.googleapis.com/auth/devstorage.full_control'],
    ]); // cached for the second call
  });

  it("impersonates the config's service account through the configured IAM endpoint", async () => {
    const session = provider().open(
      'bucket',
      secret(config(credentialsConfig({ service_account_impersonation_url: IMPERSONATION }))),
      WI,
    );
    await session.inventory(PREFIX, { signal: never });
    expect(apiAuth).toEqual([`Bearer ${IMPERSONATED}`]);
    expect(sts.seen.map((r) => [r.path, r.status, r.authorization])).toEqual([
      ['/v1/token', 200, undefined],
      [`/v1/projects/-/serviceAccounts/${SA_EMAIL}:generateAccessToken`, 200, `Bearer ${ACCESS}`],
    ]);
  });

  it('a token the exchange refuses: ERR_INFRA_UNAUTHENTICATED, non-retryable, and no storage request is sent', async () => {
    const other = jwt({ sub: 'someone-else', exp: Math.floor(Date.now() / 1000) + 600 });
    const err = await provider()
      .open('bucket', secret(config(), other), WI)
      .inventory(PREFIX, { signal: never })
      .catch((e: unknown) => e);
    expect(isClassifiedError(err)).toBe(true);
    const e = err as ClassifiedError;
    expect([e.code, e.retryable, e.reason]).toEqual([
      GardenerErrorCode.InfraUnauthenticated,
      false,
      'WorkloadIdentityUnauthenticated',
    ]);
    expect(e.message).toBe(
      `the token exchange at ${new URL(sts.stsEndpoint).host} did not accept the workload identity token (HTTP 400, invalid_grant)`,
    );
    expect(apiAuth).toEqual([]);
  });

  it('a failing exchange is retryable ERR_RETRYABLE_INFRA_DEPENDENCIES', async () => {
    sts.failWith = 503;
    const err = await provider()
      .open('bucket', secret(config()), WI)
      .inventory(PREFIX, { signal: never })
      .catch((e: unknown) => e);
    expect([(err as ClassifiedError).code, (err as ClassifiedError).retryable]).toEqual([
      GardenerErrorCode.RetryableInfraDependencies,
      true,
    ]);
    expect(apiAuth).toEqual([]);
  });
});

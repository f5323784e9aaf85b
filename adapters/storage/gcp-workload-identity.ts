/**
 * GCP workload identity federation for the `gcp` provider (what provider-gcp does in `pkg/gcp/credentialsconfig.go`,
 * `pkg/gcp/workloadidentity.go` and its client factory): a provider secret labelled
 * `security.gardener.cloud/purpose: workload-identity-token-requestor` holds, under `config`, the WorkloadIdentity's
 * provider config (JSON, as gardenlet writes it: `apiVersion: gcp.provider.extensions.gardener.cloud/v1alpha1`,
 * `kind: WorkloadIdentityConfig`, `projectID`, `credentialsConfig` = an `external_account` credential config without a
 * credential source) and, once gardenlet's token requestor has written it, under `token` a JWT issued for the
 * WorkloadIdentity. That JWT is the subject token of an STS token exchange (and, when the credential config names
 * one, of a service account impersonation); the resulting access token authenticates the storage requests.
 *
 * Nothing in here puts the token, the exchanged tokens or any part of the config into an error message: messages name
 * the key, the field and the endpoint host, never a value.
 */
import { IdentityPoolClient, type IdentityPoolClientOptions } from 'google-auth-library';
import type { SecretData } from '../../activities/storage-port';
import {
  ClassifiedError,
  configurationProblem,
  DATA_KEY_WORKLOAD_IDENTITY_CONFIG,
  DATA_KEY_WORKLOAD_IDENTITY_TOKEN,
  GardenerErrorCode,
  isClassifiedError,
  retryableConfigurationProblem,
} from '../../domain';

/** Google's token exchange (STS) endpoint: the default of `BEL_GCP_STS_ENDPOINT`. */
export const DEFAULT_GCP_STS_ENDPOINT = 'https://sts.googleapis.com/v1/token';
/** Google's IAM Service Account Credentials API: the default of `BEL_GCP_IAM_CREDENTIALS_ENDPOINT`. */
export const DEFAULT_GCP_IAM_CREDENTIALS_ENDPOINT = 'https://iamcredentials.googleapis.com';

/** `apiVersion` and `kind` of provider-gcp's WorkloadIdentityConfig. */
const CONFIG_API_VERSION = 'gcp.provider.extensions.gardener.cloud/v1alpha1';
const CONFIG_KIND = 'WorkloadIdentityConfig';
/** The only subject token type provider-gcp admits: the token requestor issues JWTs. */
const SUBJECT_TOKEN_TYPE_JWT = 'urn:ietf:params:oauth:token-type:jwt';
/** Credential config fields provider-gcp keeps (`usedCredentialsConfigFields`); the rest is dropped. */
const USED_FIELDS = [
  'audience',
  'service_account_impersonation_url',
  'subject_token_type',
  'token_url',
  'type',
  'universe_domain',
] as const;
/**
 * Gardener's default allow-list for impersonation URLs (provider-gcp's `allowedServiceAccountImpersonationURLRegExps`),
 * capturing the service account's email. Only the email is taken from the secret; the host is ours.
 */
const IMPERSONATION_URL =
  /^https:\/\/iamcredentials\.googleapis\.com\/v1\/projects\/-\/serviceAccounts\/([^/:?#\s]{1,200}):generateAccessToken$/;
/**
 * A project ID as Google documents it: 6-30 characters, lowercase letters, digits and hyphens, starting with a letter
 * and not ending with a hyphen.
 */
const PROJECT_ID = '[a-z][a-z0-9-]{4,28}[a-z0-9]';
/**
 * The service accounts a workload identity may impersonate, as Google documents their emails:
 * - a user-managed account `<account-id>@<project-id>.iam.gserviceaccount.com`, whose account ID is 6-30 characters
 *   matching `[a-z]([-a-z0-9]*[a-z0-9])` (IAM `CreateServiceAccountRequest.account_id`, RFC 1035);
 * - Compute Engine's default account `<project-number>-compute@developer.gserviceaccount.com`;
 * - App Engine's default account `<project-id>@appspot.gserviceaccount.com`.
 * Anything else (another domain, upper case, `\`, `%`, `.`, `..` in the local part) is refused: the email becomes part of
 * the IAM request path, where such characters could change the path.
 */
export const SERVICE_ACCOUNT_EMAIL = new RegExp(
  `^(?:[a-z][a-z0-9-]{4,28}[a-z0-9]@${PROJECT_ID}\\.iam\\.gserviceaccount\\.com` +
    `|[1-9][0-9]{0,19}-compute@developer\\.gserviceaccount\\.com` +
    `|${PROJECT_ID}@appspot\\.gserviceaccount\\.com)$`,
);
/** provider-gcp's storage scope (`storage.ScopeFullControl`). */
const STORAGE_SCOPE = 'https://www.googleapis.com/auth/devstorage.full_control';
/** Where etcd-backup-restore finds the token requestor's token (provider-gcp's `getTokenMountDir`). */
const TOKEN_MOUNT_DIR = '/var/.gcp';
const SOURCE_TOKEN_MOUNT_DIR = '/var/.source-gcp';

/** A checked WorkloadIdentityConfig (held in memory only, never logged). */
export interface WorkloadIdentityConfig {
  projectId: string;
  /** The credential config reduced to {@link USED_FIELDS}. */
  credentialsConfig: Record<string, string>;
  audience: string;
  /**
   * Email of the service account to impersonate, from `service_account_impersonation_url`.
   * @default undefined (no impersonation: the exchanged token is used as it is)
   */
  impersonate?: string;
}

const invalid = (message: string): ClassifiedError =>
  configurationProblem(
    'InvalidWorkloadIdentityConfig',
    `the "${DATA_KEY_WORKLOAD_IDENTITY_CONFIG}" key of the workload identity secret ${message}`,
  );

/**
 * Reads and checks the `config` key of a workload-identity secret. Throws a non-retryable ClassifiedError
 * (ERR_CONFIGURATION_PROBLEM): `WorkloadIdentityConfigMissing`, `InvalidWorkloadIdentityConfig` (naming the field),
 * `UnsupportedUniverseDomain` (only `googleapis.com`), `UnsupportedImpersonationUrl` (outside Gardener's default
 * allow-list), `InvalidImpersonationTarget` (the account is not a {@link SERVICE_ACCOUNT_EMAIL}). Messages never contain any part of the config.
 */
export function parseWorkloadIdentityConfig(data: SecretData): WorkloadIdentityConfig {
  const raw = data[DATA_KEY_WORKLOAD_IDENTITY_CONFIG];
  if (!raw || raw.length === 0) {
    throw configurationProblem(
      'WorkloadIdentityConfigMissing',
      `the workload identity secret has no ` +
        `"${DATA_KEY_WORKLOAD_IDENTITY_CONFIG}" key (gardenlet writes the WorkloadIdentity's provider config there)`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    throw invalid('is not valid JSON (gardenlet writes it as JSON)');
  }
  const obj = isObject(parsed) ? parsed : undefined;
  if (!obj) throw invalid('is not a JSON object');
  if (obj.apiVersion !== CONFIG_API_VERSION || obj.kind !== CONFIG_KIND) {
    throw invalid(`is not a ${CONFIG_KIND} of ${CONFIG_API_VERSION} (apiVersion/kind)`);
  }
  if (typeof obj.projectID !== 'string' || obj.projectID.length === 0) throw invalid('lacks "projectID"');
  const cc = isObject(obj.credentialsConfig) ? obj.credentialsConfig : undefined;
  if (!cc) throw invalid('lacks the object "credentialsConfig"');
  if (cc.type !== 'external_account') throw invalid('has a "credentialsConfig.type" other than "external_account"');
  if (typeof cc.audience !== 'string' || cc.audience.length === 0) throw invalid('lacks "credentialsConfig.audience"');
  if (cc.subject_token_type !== SUBJECT_TOKEN_TYPE_JWT) {
    throw invalid(`has a "credentialsConfig.subject_token_type" other than "${SUBJECT_TOKEN_TYPE_JWT}"`);
  }
  const credentialsConfig: Record<string, string> = {};
  for (const f of USED_FIELDS) {
    const v = cc[f];
    if (v === undefined) continue;
    if (typeof v !== 'string') throw invalid(`has a non-string "credentialsConfig.${f}"`);
    credentialsConfig[f] = v;
  }
  if (credentialsConfig.universe_domain !== undefined && credentialsConfig.universe_domain !== 'googleapis.com') {
    throw configurationProblem(
      'UnsupportedUniverseDomain',
      'the workload identity config names a universe_domain other ' +
        'than "googleapis.com"; only the default universe is supported',
    );
  }
  let impersonate: string | undefined;
  const url = credentialsConfig.service_account_impersonation_url;
  if (url !== undefined) {
    impersonate = IMPERSONATION_URL.exec(url)?.[1];
    if (impersonate === undefined) {
      throw configurationProblem(
        'UnsupportedImpersonationUrl',
        'the workload identity config has a ' +
          "service_account_impersonation_url outside Gardener's default allow-list " +
          '(https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/<email>:generateAccessToken)',
      );
    }
    if (!SERVICE_ACCOUNT_EMAIL.test(impersonate)) {
      throw configurationProblem(
        'InvalidImpersonationTarget',
        'the workload identity config has a service_account_impersonation_url whose service account is not a ' +
          'Google service account email (<account-id>@<project-id>.iam.gserviceaccount.com with a 6-30 character ' +
          'account ID and project ID of lowercase letters, digits and hyphens, starting with a letter and not ending ' +
          'with a hyphen; or <project-number>-compute@developer.gserviceaccount.com, <project-id>@appspot.gserviceaccount.com)',
      );
    }
  }
  return {
    projectId: obj.projectID as string,
    credentialsConfig,
    audience: cc.audience,
    ...(impersonate !== undefined ? { impersonate } : {}),
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** JSON with object keys sorted at every level, as Go's `json.Marshal` of a map writes it. */
function sortedJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(sortedJson).join(',')}]`;
  if (isObject(v))
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${sortedJson(v[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/**
 * The keys provider-gcp's `GetETCDSecretData` adds to a workload-identity etcd-backup secret: `projectID`,
 * `credentialsConfig` (the reduced credential config plus a file credential source at the token's mount path in the
 * etcd pods, `/var/.gcp/token` or, for `source-` entries, `/var/.source-gcp/token`) and the same as
 * `serviceaccount.json` (etcd-druid points `GOOGLE_APPLICATION_CREDENTIALS` there). The config's own `token_url` is
 * kept: etcd-backup-restore exchanges the token itself.
 */
export function workloadIdentityEtcdSecretData(
  config: WorkloadIdentityConfig,
  source: boolean,
): Record<string, Buffer> {
  const credentials = sortedJson({
    ...config.credentialsConfig,
    credential_source: {
      file: `${source ? SOURCE_TOKEN_MOUNT_DIR : TOKEN_MOUNT_DIR}/token`,
      format: { type: 'text' },
    },
  });
  return {
    projectID: Buffer.from(config.projectId),
    credentialsConfig: Buffer.from(credentials),
    'serviceaccount.json': Buffer.from(credentials),
  };
}

/** `exp` (seconds since the epoch) of a JWT, or undefined when `token` is not a JWT with a numeric `exp`. */
function jwtExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as unknown;
    return isObject(payload) && typeof payload.exp === 'number' ? payload.exp : undefined;
  } catch {
    return undefined;
  }
}

/** Endpoints of the exchange and the clock. */
export interface WorkloadIdentityEndpoints {
  /** STS token endpoint (full URL). */
  sts: string;
  /** Base URL of the IAM Service Account Credentials API. */
  iamCredentials: string;
  now: () => number;
}

/**
 * The subject token of a workload-identity secret, checked: absent or empty = the token requestor has not written it
 * yet; a JWT whose `exp` has passed = it has not renewed it yet. Both are retryable configuration problems (the next
 * attempt reads the secret again), as they resolve through gardenlet without anyone acting.
 */
export function subjectTokenOf(data: SecretData, now: () => number): string {
  const raw = data[DATA_KEY_WORKLOAD_IDENTITY_TOKEN];
  const token = raw?.toString('utf8').trim() ?? '';
  if (token.length === 0) {
    throw retryableConfigurationProblem(
      'WorkloadIdentityTokenMissing',
      'waiting for the token requestor: the workload ' +
        `identity secret has no "${DATA_KEY_WORKLOAD_IDENTITY_TOKEN}" yet (gardenlet's token requestor writes it)`,
    );
  }
  assertNotExpired(token, now);
  return token;
}

function assertNotExpired(token: string, now: () => number): void {
  const exp = jwtExpiry(token);
  if (exp !== undefined && exp * 1000 <= now()) {
    throw retryableConfigurationProblem(
      'WorkloadIdentityTokenExpired',
      'waiting for the token requestor: the ' +
        `workload identity token in "${DATA_KEY_WORKLOAD_IDENTITY_TOKEN}" has expired and was not renewed yet`,
    );
  }
}

const hostOf = (url: string): string => {
  try {
    return new URL(url).host;
  } catch {
    return 'an invalid URL';
  }
};

interface GaxiosLike {
  status?: unknown;
  code?: unknown;
  message?: unknown;
  response?: { status?: unknown };
  config?: { url?: unknown };
}

/**
 * Turns a failed token exchange into a ClassifiedError naming the stage, the host and the HTTP status (plus the
 * OAuth error code, a fixed word), never the library's text: its error objects carry the request, i.e. the token.
 * 400/401 = ERR_INFRA_UNAUTHENTICATED and 403 = ERR_INFRA_UNAUTHORIZED (non-retryable, like a rejected key), 429 =
 * ERR_INFRA_RATE_LIMITS_EXCEEDED, 5xx, 408 and no response = ERR_RETRYABLE_INFRA_DEPENDENCIES (retryable).
 */
export function tokenExchangeError(
  err: unknown,
  endpoints: Pick<WorkloadIdentityEndpoints, 'sts' | 'iamCredentials'>,
): ClassifiedError {
  if (isClassifiedError(err)) return err;
  const e = (err ?? {}) as GaxiosLike;
  const statusOf = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
  const status = statusOf(e.status) ?? statusOf(e.response?.status);
  const url = typeof e.config?.url === 'string' ? e.config.url : String(e.config?.url ?? '');
  const stage =
    url.startsWith(endpoints.iamCredentials) && /:generateAccessToken$/.test(url)
      ? `the service account impersonation at ${hostOf(endpoints.iamCredentials)}`
      : `the token exchange at ${hostOf(endpoints.sts)}`;
  const oauth = /^Error code ([a-z_]{1,40})\b/.exec(String(e.message ?? ''))?.[1];
  const detail = status !== undefined ? `HTTP ${status}${oauth ? `, ${oauth}` : ''}` : '';
  if (status === undefined) {
    const code = typeof e.code === 'string' && /^E[A-Z_]{2,30}$/.test(e.code) ? ` (${e.code})` : '';
    return new ClassifiedError(
      `${stage} failed without a response${code}`,
      GardenerErrorCode.RetryableInfraDependencies,
      'WorkloadIdentityExchangeUnavailable',
    );
  }
  if (status === 429) {
    return new ClassifiedError(
      `${stage} is rate limited (${detail})`,
      GardenerErrorCode.InfraRateLimitsExceeded,
      'WorkloadIdentityExchangeRateLimited',
    );
  }
  if (status >= 500 || status === 408) {
    return new ClassifiedError(
      `${stage} is unavailable (${detail})`,
      GardenerErrorCode.RetryableInfraDependencies,
      'WorkloadIdentityExchangeUnavailable',
    );
  }
  if (status === 403) {
    return new ClassifiedError(
      `${stage} denied the workload identity permission (${detail})`,
      GardenerErrorCode.InfraUnauthorized,
      'WorkloadIdentityUnauthorized',
    );
  }
  return new ClassifiedError(
    `${stage} did not accept the workload identity token (${detail})`,
    GardenerErrorCode.InfraUnauthenticated,
    'WorkloadIdentityUnauthenticated',
  );
}

/** An IdentityPoolClient whose failures are {@link tokenExchangeError}s (never the library's error objects). */
class WorkloadIdentityClient extends IdentityPoolClient {
  constructor(
    options: IdentityPoolClientOptions,
    private readonly endpoints: WorkloadIdentityEndpoints,
  ) {
    super(options);
  }

  override async getAccessToken(): ReturnType<IdentityPoolClient['getAccessToken']> {
    try {
      return await super.getAccessToken();
    } catch (err) {
      throw tokenExchangeError(err, this.endpoints);
    }
  }
}

/**
 * An auth client for the storage requests of one session: an external account (`IdentityPoolClient`) whose subject
 * token is the secret's `token`, exchanged at `endpoints.sts` for an access token with the storage scope, and, when
 * the config names a service account to impersonate, exchanged again at `endpoints.iamCredentials` for that account's
 * token. The config's `token_url` is not used here: where this process sends the token is the operator's
 * configuration (`BEL_GCP_STS_ENDPOINT`), not the secret's; Gardener's admission pins it to the same default.
 * Refreshes (the access token lives an hour) reuse the token read when the session opened; if that has expired by
 * then, the request fails with the retryable `WorkloadIdentityTokenExpired` and the next attempt reads the secret again.
 */
export function workloadIdentityAuthClient(
  config: WorkloadIdentityConfig,
  token: string,
  endpoints: WorkloadIdentityEndpoints,
): IdentityPoolClient {
  const base = endpoints.iamCredentials.replace(/\/+$/, '');
  return new WorkloadIdentityClient(
    {
      type: 'external_account',
      audience: config.audience,
      subject_token_type: SUBJECT_TOKEN_TYPE_JWT,
      token_url: endpoints.sts,
      scopes: [STORAGE_SCOPE],
      ...(config.impersonate !== undefined
        ? {
            service_account_impersonation_url: `${base}/v1/projects/-/serviceAccounts/${config.impersonate}:generateAccessToken`,
          }
        : {}),
      subject_token_supplier: {
        getSubjectToken: async () => {
          assertNotExpired(token, endpoints.now);
          return token;
        },
      },
    },
    { ...endpoints, iamCredentials: base },
  );
}

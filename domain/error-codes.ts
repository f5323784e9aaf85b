/** Gardener's error codes (`pkg/apis/core/v1beta1/types_common.go`), carried in `status.lastError.codes`. */
export const GardenerErrorCode = {
  InfraUnauthenticated: 'ERR_INFRA_UNAUTHENTICATED',
  InfraUnauthorized: 'ERR_INFRA_UNAUTHORIZED',
  InfraQuotaExceeded: 'ERR_INFRA_QUOTA_EXCEEDED',
  InfraRateLimitsExceeded: 'ERR_INFRA_RATE_LIMITS_EXCEEDED',
  InfraDependencies: 'ERR_INFRA_DEPENDENCIES',
  RetryableInfraDependencies: 'ERR_RETRYABLE_INFRA_DEPENDENCIES',
  InfraResourcesDepleted: 'ERR_INFRA_RESOURCES_DEPLETED',
  CleanupClusterResources: 'ERR_CLEANUP_CLUSTER_RESOURCES',
  ConfigurationProblem: 'ERR_CONFIGURATION_PROBLEM',
  RetryableConfigurationProblem: 'ERR_RETRYABLE_CONFIGURATION_PROBLEM',
  ProblematicWebhook: 'ERR_PROBLEMATIC_WEBHOOK',
} as const;
/** One of Gardener's error codes. */
export type GardenerErrorCode = (typeof GardenerErrorCode)[keyof typeof GardenerErrorCode];

/** Codes Gardener treats as non-retryable (`HasNonRetryableErrorCode`, `pkg/api/core/v1beta1/helper/errors.go`). */
export const NON_RETRYABLE_CODES: ReadonlySet<GardenerErrorCode> = new Set<GardenerErrorCode>([
  GardenerErrorCode.InfraUnauthenticated,
  GardenerErrorCode.InfraUnauthorized,
  GardenerErrorCode.InfraDependencies,
  GardenerErrorCode.InfraQuotaExceeded,
  GardenerErrorCode.InfraRateLimitsExceeded,
  GardenerErrorCode.ConfigurationProblem,
  GardenerErrorCode.ProblematicWebhook,
]);

/** True iff Gardener would stop auto-retrying on `code` (it is in {@link NON_RETRYABLE_CODES}). */
export function isNonRetryableCode(code: string): boolean {
  return NON_RETRYABLE_CODES.has(code as GardenerErrorCode);
}

/**
 * The one exception to {@link NON_RETRYABLE_CODES}: a rate limit is reported to Gardener as non-retryable, but our
 * own layers retry it (the storage adapter has already shrunk its request window; the activity retry policy's backoff
 * gives the server the rest of the time it asks for).
 */
export const RETRIED_DESPITE_GARDENER: ReadonlySet<GardenerErrorCode> = new Set<GardenerErrorCode>([
  GardenerErrorCode.InfraRateLimitsExceeded,
]);

/**
 * The single list of codes on which retrying stops at once, derived from {@link NON_RETRYABLE_CODES} minus
 * {@link RETRIED_DESPITE_GARDENER}. Everything else derives from it: a ClassifiedError's `retryable`, the
 * `nonRetryable` flag of the ApplicationFailure an activity raises, and the activity retry policies'
 * `nonRetryableErrorTypes` (docs/adr/0006-one-retry-story.md).
 */
export const STOP_RETRYING_CODES: readonly GardenerErrorCode[] = [...NON_RETRYABLE_CODES].filter(
  (code) => !RETRIED_DESPITE_GARDENER.has(code),
);

/** True iff a failure with `code` must not be retried by our own layers (it is in {@link STOP_RETRYING_CODES}). */
export function stopsRetrying(code: string): boolean {
  return STOP_RETRYING_CODES.includes(code as GardenerErrorCode);
}

/** `Error 403`, `status 429`, `code: 503`, `statusCode=500`, `HTTP/1.1 502`, … followed by the given status pattern. */
const http = (status: string): string =>
  `(?:\\berror|\\bcode|\\bstatus(?:code)?|\\bhttp(?:/[\\d.]+)?)[\\s:=#"']{0,3}${status}\\b`;

/** Regex table modelled on provider-gcp's `pkg/apis/gcp/helper/error_codes.go`, tuned for `@google-cloud/storage` and Node errors. */
const TABLE: ReadonlyArray<readonly [GardenerErrorCode, RegExp]> = [
  [
    GardenerErrorCode.InfraUnauthenticated,
    new RegExp(
      `${http('401')}|invalid_grant|invalid_client|invalid_rapt|unauthenticated|cannot fetch token|invalid credentials|authentication failed|anonymous caller`,
      'i',
    ),
  ],
  [
    GardenerErrorCode.InfraUnauthorized,
    new RegExp(
      `${http('403')}|accessdenied|access denied|forbidden|not authorized|permission denied|permission_denied|(?<!anonymous caller )does not have [\\w.]+ access`,
      'i',
    ),
  ],
  [
    GardenerErrorCode.InfraRateLimitsExceeded,
    new RegExp(`${http('429')}|ratelimitexceeded|rate limit|too many requests|throttl|slowdown`, 'i'),
  ],
  [GardenerErrorCode.InfraQuotaExceeded, /quota/i],
  [
    GardenerErrorCode.ConfigurationProblem,
    /notfound|invalid value|bucket does not exist|bucket doesn't exist|no such bucket|invalid bucket name/i,
  ],
  [
    GardenerErrorCode.RetryableInfraDependencies,
    new RegExp(
      `${http('5\\d\\d')}|internal server error|service unavailable|bad gateway|gateway timeout|backenderror|econnreset|econnrefused|etimedout|eai_again|epipe|socket hang up|timed out|timeout|deadline_exceeded|deadline exceeded`,
      'i',
    ),
  ],
];

/**
 * Gardener error codes whose patterns match `message` (possibly several, each at most once, in table order;
 * empty if none match). Patterns: 403/AccessDenied/forbidden → ERR_INFRA_UNAUTHORIZED; 401/invalid_grant/
 * unauthenticated/"cannot fetch token" → ERR_INFRA_UNAUTHENTICATED; 429/rateLimitExceeded → ERR_INFRA_RATE_LIMITS_EXCEEDED;
 * quota → ERR_INFRA_QUOTA_EXCEEDED; notFound/"Invalid value"/missing bucket → ERR_CONFIGURATION_PROBLEM;
 * 5xx/ECONNRESET/timeouts → ERR_RETRYABLE_INFRA_DEPENDENCIES. HTTP statuses only count next to a word such as
 * `Error`, `code`, `status` or `HTTP`, so counts like "503 objects" do not match.
 */
export function classifyMessage(message: string): GardenerErrorCode[] {
  return TABLE.filter(([, re]) => re.test(message)).map(([code]) => code);
}

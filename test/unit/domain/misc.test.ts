import { classifyMessage, isNonRetryableCode, NON_RETRYABLE_CODES } from '../../../domain/error-codes';
import { defaultTaskQueue, parseWorkflowId, workflowIdFor } from '../../../domain/workflow-id';
import * as domain from '../../../domain';

describe('classifyMessage', () => {
  it.each([
    [
      'googleapi: Error 403: sa@p.iam.gserviceaccount.com does not have storage.objects.delete access',
      ['ERR_INFRA_UNAUTHORIZED'],
    ],
    ['AccessDenied: Access denied.', ['ERR_INFRA_UNAUTHORIZED']],
    ['request failed with status 401', ['ERR_INFRA_UNAUTHENTICATED']],
    ['oauth2: cannot fetch token: 400 Bad Request, "error": "invalid_grant"', ['ERR_INFRA_UNAUTHENTICATED']],
    [
      'Anonymous caller does not have storage.objects.list access to the Google Cloud Storage bucket.',
      ['ERR_INFRA_UNAUTHENTICATED'],
    ],
    ['code 429: rateLimitExceeded', ['ERR_INFRA_RATE_LIMITS_EXCEEDED']],
    ['Quota exceeded for quota metric', ['ERR_INFRA_QUOTA_EXCEEDED']],
    ['The specified bucket does not exist.', ['ERR_CONFIGURATION_PROBLEM']],
    ['googleapi: Error 400: Invalid value for field', ['ERR_CONFIGURATION_PROBLEM']],
    ['HTTP 503 Service Unavailable', ['ERR_RETRYABLE_INFRA_DEPENDENCIES']],
    ['read ECONNRESET', ['ERR_RETRYABLE_INFRA_DEPENDENCIES']],
    ['deleted 503 objects, 401 left', []],
    ['something odd happened', []],
  ])('%j', (msg, codes) => {
    expect(classifyMessage(msg)).toEqual(codes);
  });

  it("knows Gardener's non-retryable codes", () => {
    expect(NON_RETRYABLE_CODES.size).toBe(7);
    expect(isNonRetryableCode('ERR_INFRA_UNAUTHORIZED')).toBe(true);
    expect(isNonRetryableCode('ERR_RETRYABLE_INFRA_DEPENDENCIES')).toBe(false);
    expect(isNonRetryableCode('nonsense')).toBe(false);
  });
});

describe('workflowIdFor', () => {
  it('builds and parses backupentry/<cluster>/<entry>', () => {
    expect(workflowIdFor('seed-a', 'shoot--dev--demo--u1')).toEqual({
      ok: true,
      value: 'backupentry/seed-a/shoot--dev--demo--u1',
    });
    expect(parseWorkflowId('backupentry/seed-a/shoot--dev--demo--u1')).toEqual({
      clusterIdentity: 'seed-a',
      entryName: 'shoot--dev--demo--u1',
    });
    expect(parseWorkflowId('other/x')).toBeUndefined();
    expect(defaultTaskQueue('seed-a')).toBe('backupentry-lifecycle/seed-a');
  });
  it('rejects empty or whitespace cluster identities with a clear message', () => {
    expect(workflowIdFor('', 'x')).toMatchObject({
      ok: false,
      error: {
        reason: 'InvalidClusterIdentity',
        message: 'cluster identity "" must be non-empty and contain no whitespace',
      },
    });
    expect(workflowIdFor('seed a', 'x')).toMatchObject({ ok: false, error: { reason: 'InvalidClusterIdentity' } });
    expect(workflowIdFor('seed', '')).toMatchObject({ ok: false, error: { reason: 'InvalidEntryName' } });
  });
});

describe('domain index', () => {
  it('re-exports the public API', () => {
    for (const name of [
      'parseEntryName',
      'decideOperation',
      'parseDuration',
      'retentionDeadline',
      'errorStatus',
      'workflowIdFor',
      'Phase',
      'GardenerErrorCode',
      'FINALIZER',
      'ok',
      'err',
    ]) {
      expect(domain).toHaveProperty(name);
    }
  });
});

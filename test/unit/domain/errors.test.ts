import { ApplicationFailure } from '@temporalio/common';
import { toApplicationFailure } from '../../../activities/errors';
import { httpStatusOf, isConflict, isNotFound, KubeApiError } from '../../../activities/kube-port';
import {
  ClassifiedError,
  configurationProblem,
  GardenerErrorCode,
  isClassifiedError,
  NON_RETRYABLE_CODES,
  RETRIED_DESPITE_GARDENER,
  retryableConfigurationProblem,
  STOP_RETRYING_CODES,
  stopsRetrying,
} from '../../../domain';
import type * as ErrorsModule from '../../../domain/errors';
import { DELETE_ACTIVITY, INVENTORY_ACTIVITY, KUBE_LOCAL_ACTIVITY } from '../../../workflows/activity-options';

describe('ClassifiedError', () => {
  it('is recognised by its brand, also when made by another copy of the module', () => {
    let Other: typeof ClassifiedError | undefined;
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      Other = (require('../../../domain/errors') as typeof ErrorsModule).ClassifiedError;
    });
    expect(Other).toBeDefined();
    expect(Other).not.toBe(ClassifiedError);
    const foreign = new Other!('x', GardenerErrorCode.ConfigurationProblem, 'Bad');
    expect(foreign instanceof ClassifiedError).toBe(true);
    expect(isClassifiedError(foreign)).toBe(true);
    expect(new ClassifiedError('x', GardenerErrorCode.ConfigurationProblem, 'Bad') instanceof Other!).toBe(true);
  });

  it('is not fooled by a plain error that only borrows the name', () => {
    const impostor = Object.assign(new Error('x'), {
      name: 'ClassifiedError',
      code: GardenerErrorCode.ConfigurationProblem,
    });
    expect(impostor instanceof ClassifiedError).toBe(false);
    expect(isClassifiedError(impostor)).toBe(false);
    expect(isClassifiedError(undefined)).toBe(false);
    expect(isClassifiedError('ClassifiedError')).toBe(false);
  });

  it('keeps the prototype check for subclasses', () => {
    const kube = new KubeApiError(
      'get secret a/b: HTTP 404',
      GardenerErrorCode.RetryableInfraDependencies,
      'NotFound',
      404,
    );
    expect(kube instanceof ClassifiedError).toBe(true);
    expect(kube instanceof KubeApiError).toBe(true);
    expect(new ClassifiedError('x', GardenerErrorCode.ConfigurationProblem, 'Bad') instanceof KubeApiError).toBe(false);
    expect(kube).toMatchObject({
      name: 'ClassifiedError',
      code: GardenerErrorCode.RetryableInfraDependencies,
      retryable: true,
      reason: 'NotFound',
      httpStatus: 404,
    });
  });

  it('takes `retryable` from its code', () => {
    expect(configurationProblem('Bad', 'x').retryable).toBe(false);
    expect(retryableConfigurationProblem('Later', 'x').retryable).toBe(true);
    for (const code of Object.values(GardenerErrorCode)) {
      expect(new ClassifiedError('x', code, 'R').retryable).toBe(!STOP_RETRYING_CODES.includes(code));
    }
    // Gardener calls a rate limit non-retryable; our layers retry it.
    expect(new ClassifiedError('x', GardenerErrorCode.InfraRateLimitsExceeded, 'R').retryable).toBe(true);
    expect(new ClassifiedError('x', GardenerErrorCode.InfraDependencies, 'R').retryable).toBe(false);
  });
});

describe('the one list of codes that stop retries', () => {
  it("is Gardener's non-retryable codes except the rate limit", () => {
    expect([...RETRIED_DESPITE_GARDENER]).toEqual([GardenerErrorCode.InfraRateLimitsExceeded]);
    expect([...STOP_RETRYING_CODES].sort()).toEqual(
      [...NON_RETRYABLE_CODES].filter((c) => c !== GardenerErrorCode.InfraRateLimitsExceeded).sort(),
    );
    expect(stopsRetrying('ERR_INFRA_UNAUTHORIZED')).toBe(true);
    expect(stopsRetrying('ERR_INFRA_RATE_LIMITS_EXCEEDED')).toBe(false);
    expect(stopsRetrying('nonsense')).toBe(false);
  });

  it('is what every activity retry policy names as non-retryable', () => {
    for (const opts of [KUBE_LOCAL_ACTIVITY, INVENTORY_ACTIVITY, DELETE_ACTIVITY]) {
      expect(opts.retry?.nonRetryableErrorTypes).toEqual([...STOP_RETRYING_CODES]);
    }
  });

  it('decides the nonRetryable flag of the failures activities raise', () => {
    const classified = toApplicationFailure(
      new ClassifiedError('x', GardenerErrorCode.InfraDependencies, 'Stuck'),
      'list',
    );
    expect(classified).toMatchObject({ type: GardenerErrorCode.InfraDependencies, nonRetryable: true });
    const rateLimited = toApplicationFailure(new Error('HTTP 429 Too Many Requests'), 'list');
    expect(rateLimited).toMatchObject({ type: GardenerErrorCode.InfraRateLimitsExceeded, nonRetryable: false });
    const denied = toApplicationFailure(new Error('Error 403: permission denied'), 'list');
    expect(denied).toMatchObject({ type: GardenerErrorCode.InfraUnauthorized, nonRetryable: true });
    expect(denied).toBeInstanceOf(ApplicationFailure);
  });
});

describe('Kubernetes port failure notions', () => {
  it('reads the HTTP status of any classified error', () => {
    const notFound = new KubeApiError('x', GardenerErrorCode.RetryableInfraDependencies, 'NotFound', 404);
    const conflict = Object.assign(new ClassifiedError('x', GardenerErrorCode.RetryableInfraDependencies, 'Conflict'), {
      httpStatus: 409,
    });
    expect([isNotFound(notFound), isConflict(notFound), httpStatusOf(notFound)]).toEqual([true, false, 404]);
    expect([isNotFound(conflict), isConflict(conflict), httpStatusOf(conflict)]).toEqual([false, true, 409]);
    expect(httpStatusOf(Object.assign(new Error('x'), { httpStatus: 404 }))).toBeUndefined();
    expect(
      httpStatusOf(
        new KubeApiError('x', GardenerErrorCode.RetryableInfraDependencies, 'ApiServerUnreachable', undefined),
      ),
    ).toBeUndefined();
  });
});

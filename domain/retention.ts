import { ANNOTATION_RETENTION_PERIOD } from './constants';
import { formatDuration, parseDuration } from './duration';
import { GardenerErrorCode } from './error-codes';
import { err, ok, type DomainError, type Result } from './result';

const TRUE = ['1', 't', 'T', 'TRUE', 'true', 'True'];
const FALSE = ['0', 'f', 'F', 'FALSE', 'false', 'False'];

/**
 * Parses a boolean annotation value with Go `strconv.ParseBool` semantics, as Gardener does for
 * `force-deletion`: exactly 1, t, T, TRUE, true, True / 0, f, F, FALSE, false, False (no trimming).
 * Anything else is an error: ERR_CONFIGURATION_PROBLEM, reason `InvalidBoolean`.
 */
export function parseBoolAnnotation(text: string): Result<boolean> {
  if (TRUE.includes(text)) return ok(true);
  if (FALSE.includes(text)) return ok(false);
  const shown = JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
  return err({
    code: GardenerErrorCode.ConfigurationProblem,
    reason: 'InvalidBoolean',
    message: `value ${shown} is not a boolean; use "true" or "false"`,
  });
}

/** When the objects of a deleted entry may be removed, and why. */
export interface RetentionDeadline {
  /** Epoch ms: deletionTimestamp + retentionMs. */
  deadlineMs: number;
  /** Retention period applied. */
  retentionMs: number;
  /** Where the period came from. */
  source: 'default' | 'annotation';
  /** Set when the annotation was present but invalid and the default was used instead. */
  warning?: DomainError;
}

/**
 * Retention deadline of a deleted entry: `deletionTimestampMs + retention`, where retention is the
 * `retention-period` annotation when it parses (it may be shorter than the default, `0` included: an operator set
 * it on purpose) and `defaultRetentionMs` otherwise. An annotation that does not parse never shortens retention
 * silently: the default applies and `warning` (reason `InvalidRetentionPeriod`) says why, for the status and log.
 * Pure: the same input always gives the same deadline, so restarts never move it.
 */
export function retentionDeadline(input: {
  deletionTimestampMs: number;
  defaultRetentionMs: number;
  annotation?: string;
}): RetentionDeadline {
  const { deletionTimestampMs, defaultRetentionMs, annotation } = input;
  const byDefault = {
    deadlineMs: deletionTimestampMs + defaultRetentionMs,
    retentionMs: defaultRetentionMs,
    source: 'default' as const,
  };
  if (annotation === undefined) return byDefault;
  const parsed = parseRetentionPeriod(annotation);
  if (parsed.ok)
    return { deadlineMs: deletionTimestampMs + parsed.value, retentionMs: parsed.value, source: 'annotation' };
  const message = `${parsed.error.message}; using the default retention ${formatDuration(defaultRetentionMs)}`;
  return { ...byDefault, warning: { ...parsed.error, message } };
}

/** Parses a retention period text like {@link parseDuration}, with the annotation's name in the error message. */
export function parseRetentionPeriod(text: string): Result<number> {
  const parsed = parseDuration(text);
  if (parsed.ok) return parsed;
  return err({
    ...parsed.error,
    reason: 'InvalidRetentionPeriod',
    message: `annotation ${ANNOTATION_RETENTION_PERIOD}: ${parsed.error.message}`,
  });
}

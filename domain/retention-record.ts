/**
 * The retention record kept on an entry's credentials secret when the BackupEntry itself is released during
 * retention (`BEL_RETENTION_MODE=release-entry`, docs/adr/0003). The extension object is gone then, so what a new
 * workflow run needs to carry on — where the backups are, since when they are retained, until when, and whether the
 * cleanup was cancelled — lives in one annotation of the secret our finalizer still holds: a JSON object keyed by
 * entry name (one secret may serve several entries). No secret material is in it.
 */
import { parseRfc3339 } from './time';

/** Annotation on the credentials secret holding the records of entries retained without their BackupEntry. */
export const ANNOTATION_RETENTION_RECORDS = 'backupentry.extensions.gardener.cloud/retention-records';

/** One retained entry, as written on its credentials secret. */
export interface RetentionRecord {
  /**
   * ID of the workflow that keeps the retention (`backupentry/<cluster identity>/<entry>`): only that seed's watcher
   * may start a new run from the record (several seeds or test suites can share one API server).
   */
  workflowId: string;
  /** `metadata.uid` of the BackupEntry that was deleted. */
  uid: string;
  type: string;
  bucketName: string;
  /** RFC3339: when the BackupEntry was deleted. */
  deletionTimestamp: string;
  /** RFC3339: backups are not deleted before this time. */
  deletionDeadline: string;
  /** Cleanup cancelled: every object is kept. */
  keepBackups?: boolean;
}

const isRecord = (v: unknown): v is RetentionRecord => {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return (
    typeof r.workflowId === 'string' &&
    typeof r.uid === 'string' &&
    typeof r.type === 'string' &&
    typeof r.bucketName === 'string' &&
    r.bucketName !== '' &&
    typeof r.deletionTimestamp === 'string' &&
    parseRfc3339(r.deletionTimestamp).ok &&
    typeof r.deletionDeadline === 'string' &&
    parseRfc3339(r.deletionDeadline).ok &&
    (r.keepBackups === undefined || typeof r.keepBackups === 'boolean')
  );
};

/** The records in an annotation value; malformed entries are dropped (never thrown), as is a value that is not JSON. */
export function parseRetentionRecords(text: string | undefined): Record<string, RetentionRecord> {
  if (!text) return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
    return Object.fromEntries(
      Object.entries(parsed as Record<string, unknown>).filter(([, v]) => isRecord(v)),
    ) as Record<string, RetentionRecord>;
  } catch {
    return {};
  }
}

/** The annotation value with `name`'s record set (or removed with `undefined`); `undefined` when no record is left. */
export function withRetentionRecord(
  text: string | undefined,
  name: string,
  record: RetentionRecord | undefined,
): string | undefined {
  const records = parseRetentionRecords(text);
  if (record) records[name] = record;
  else delete records[name];
  return Object.keys(records).length ? JSON.stringify(records) : undefined;
}

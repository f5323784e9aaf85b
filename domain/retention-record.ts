/**
 * The retention record kept when the BackupEntry itself is released during retention (`BEL_RETENTION_MODE=release-entry`,
 * docs/adr/0003). The extension object is gone then, so what a new workflow run needs to carry on — where the backups
 * are, since when they are retained, until when, and whether the cleanup was cancelled — lives on the entry's
 * *retention anchor*: a Secret of ours ({@link retentionAnchorName}) beside the credentials secret, which Gardener
 * neither rewrites nor deletes (gardenlet rewrites every annotation and label of `entry-<name>` in each delete round
 * and then deletes it). The record is one annotation, a JSON object keyed by entry name; no secret material is in it.
 * The anchor's data is a copy of the credentials as they were when the retention began (the fallback when the
 * bucket's current credentials are unavailable).
 */
import { parseRfc3339 } from './time';

/** Annotation on a retention anchor holding the record of the entry retained without its BackupEntry. */
export const ANNOTATION_RETENTION_RECORDS = 'backupentry.extensions.gardener.cloud/retention-records';

/** Label on every retention anchor (value `"true"`): how the watcher and the worker list them. */
export const LABEL_RETENTION_ANCHOR = 'backupentry.extensions.gardener.cloud/retention-anchor';
/** Annotation on a retention anchor: `"true"` when the copied credentials are a workload-identity secret's. */
export const ANNOTATION_ANCHOR_WORKLOAD_IDENTITY = 'backupentry.extensions.gardener.cloud/workload-identity';
/** Name prefix of retention anchors (the admission policy lets the worker create and delete only these and etcd-backup). */
export const RETENTION_ANCHOR_PREFIX = 'backupentry-retention-';
/**
 * Our finalizer on the seed's extension BackupBucket while a retention of one of its entries runs without the entry:
 * the admission policy `backupentry-lifecycle-retained-buckets` refuses to delete a BackupBucket that carries it.
 */
export const BUCKET_RETENTION_FINALIZER = 'backupentry.extensions.gardener.cloud/retention';

const MAX_SECRET_NAME = 253;

/**
 * FNV-1a (32 bit), hex: a short, stable tag for a name too long to be spelled out. Written by hand because this module
 * is also bundled into the workflow sandbox, where node:crypto is not available; it needs no cryptographic strength
 * (the anchor's record names its entry in full).
 */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/**
 * Name of the retention anchor of entry `entry`: `backupentry-retention-<entry>`, or, where that exceeds a Secret
 * name's 253 characters, the entry's name cut to fit and tagged with a hash of the whole name.
 */
export function retentionAnchorName(entry: string): string {
  const whole = RETENTION_ANCHOR_PREFIX + entry;
  if (whole.length <= MAX_SECRET_NAME) return whole;
  const tag = `-${fnv1a(entry)}`;
  return whole.slice(0, MAX_SECRET_NAME - tag.length).replace(/[-.]+$/, '') + tag;
}

/** True for a Secret name that is a retention anchor's. */
export const isRetentionAnchorName = (secretName: string): boolean => secretName.startsWith(RETENTION_ANCHOR_PREFIX);

/** One retained entry, as written on its retention anchor. */
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

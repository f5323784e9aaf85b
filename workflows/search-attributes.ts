import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Phase of the entry's lifecycle (values of `Phase` in domain/phase.ts); the Web UI filters on it. */
export const BACKUP_ENTRY_PHASE = defineSearchAttributeKey('BackupEntryPhase', SearchAttributeType.KEYWORD);
/** Name of the BackupEntry resource. */
export const BACKUP_ENTRY_NAME = defineSearchAttributeKey('BackupEntryName', SearchAttributeType.KEYWORD);
/** Provider type of the entry (`gcp`, `local`). */
export const BACKUP_ENTRY_TYPE = defineSearchAttributeKey('BackupEntryType', SearchAttributeType.KEYWORD);
/** Bucket that holds the entry's backups. */
export const BACKUP_BUCKET = defineSearchAttributeKey('BackupBucket', SearchAttributeType.KEYWORD);
/** When the retention period ends and deletion of the backups starts (unset while the entry lives). */
export const DELETION_SCHEDULED_AT = defineSearchAttributeKey('DeletionScheduledAt', SearchAttributeType.DATETIME);

/** Every search attribute the workflow writes; the Temporal namespace must have them registered (docs/design.md §4). */
export const SEARCH_ATTRIBUTES = [
  BACKUP_ENTRY_PHASE,
  BACKUP_ENTRY_NAME,
  BACKUP_ENTRY_TYPE,
  BACKUP_BUCKET,
  DELETION_SCHEDULED_AT,
] as const;

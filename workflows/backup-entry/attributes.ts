/**
 * What the Web UI and a later run read without a query: search attributes and memo. The watcher sets the static ones
 * when it starts the run (workflows/start-attributes.ts); the workflow writes only what changed, once per pass (each
 * upsert is a history event).
 */
import { upsertMemo, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { Phase } from '../../domain';
import {
  BACKUP_BUCKET,
  BACKUP_ENTRY_NAME,
  BACKUP_ENTRY_PHASE,
  BACKUP_ENTRY_TYPE,
  DELETION_SCHEDULED_AT,
} from '../search-attributes';
import { entryMemo } from '../start-attributes';
import type { Run } from './context';

/** Writes the search attributes whose value changed (one upsert), and the memo when it differs. */
export function flushAttributes(run: Run): void {
  const { s, name } = run;
  const have = workflowInfo().typedSearchAttributes;
  const del = s.deletion;
  const deadline = s.phase === Phase.Retaining && del && !del.unconfirmed ? del.deadlineMs : null;
  const changed = [
    ...(have.get(BACKUP_ENTRY_PHASE) !== s.phase ? [{ key: BACKUP_ENTRY_PHASE, value: s.phase }] : []),
    ...((have.get(DELETION_SCHEDULED_AT)?.getTime() ?? null) !== deadline
      ? [{ key: DELETION_SCHEDULED_AT, value: deadline === null ? null : new Date(deadline) }]
      : []),
    ...(have.get(BACKUP_ENTRY_NAME) !== name ? [{ key: BACKUP_ENTRY_NAME, value: name }] : []),
    ...(s.type && have.get(BACKUP_ENTRY_TYPE) !== s.type ? [{ key: BACKUP_ENTRY_TYPE, value: s.type }] : []),
    ...(s.bucket && have.get(BACKUP_BUCKET) !== s.bucket ? [{ key: BACKUP_BUCKET, value: s.bucket }] : []),
  ];
  if (changed.length > 0) upsertSearchAttributes(changed as Parameters<typeof upsertSearchAttributes>[0]);
  if (s.bucket === undefined) return;
  const memo = entryMemo(name, s.bucket);
  const now = workflowInfo().memo ?? {};
  if (Object.entries(memo).some(([k, v]) => now[k] !== v)) upsertMemo(memo);
}

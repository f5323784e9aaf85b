/**
 * What the watcher sets when it starts an entry's workflow: the search attributes that never change during a
 * lifecycle (name, type, bucket) and the memo. The workflow writes them only when they differ (e.g. a run resumed
 * from a retention record, started without the entry's spec), so a lifecycle spends no history event on them.
 */
import { parseEntryName } from '../domain';
import { BACKUP_BUCKET, BACKUP_ENTRY_NAME, BACKUP_ENTRY_TYPE } from './search-attributes';

/** The memo of an entry's workflow: where its backups are. */
export function entryMemo(name: string, bucket: string): Record<string, string> {
  const id = parseEntryName(name);
  const prefix = id.ok ? `${id.value.name.replace(/^source-/, '')}/` : '';
  return { shootNamespace: id.ok ? id.value.namespace : '', bucket, prefix };
}

/** Start options (search attributes and memo) for entry `name`; `spec` when the entry's spec is known. */
export function startAttributes(name: string, spec?: { type: string; bucketName: string }) {
  return {
    typedSearchAttributes: [
      { key: BACKUP_ENTRY_NAME, value: name },
      ...(spec?.type ? [{ key: BACKUP_ENTRY_TYPE, value: spec.type }] : []),
      ...(spec?.bucketName ? [{ key: BACKUP_BUCKET, value: spec.bucketName }] : []),
    ],
    ...(spec?.bucketName ? { memo: entryMemo(name, spec.bucketName) } : {}),
  };
}

/** What the workflow shows: the `status` query's answer and the one-line summary (the Web UI's current details). */
import { Phase, formatBytes, type EntryIdentity, type Result, type DomainError } from '../../domain';
import type { StatusQueryResult } from '../messages';
import { type CarriedState, iso } from './state';

/** The `status` query's answer. */
export function statusView(
  name: string,
  s: CarriedState,
  identity: Result<EntryIdentity, DomainError>,
  prefix: string | undefined,
): StatusQueryResult {
  const d = s.deletion && !s.deletion.unconfirmed ? s.deletion : undefined;
  return {
    entryName: name,
    phase: s.phase,
    decisions: [...s.decisions],
    summary: summary(s),
    ...(s.type ? { type: s.type } : {}),
    ...(s.bucket ? { bucket: s.bucket } : {}),
    ...(prefix ? { prefix } : {}),
    ...(identity.ok ? { namespace: identity.value.namespace } : {}),
    ...(d && !d.receipt
      ? {
          deletionScheduledAt: iso(d.deadlineMs),
          retention: { periodMs: d.retentionMs, source: d.retentionSource },
        }
      : {}),
    ...(d?.inventory ? { inventory: d.inventory } : {}),
    ...(d?.receipt ? { deletion: d.receipt } : {}),
    ...(s.lastOperation ? { lastOperation: s.lastOperation } : {}),
    ...(s.lastError ? { lastError: s.lastError } : {}),
    ...(s.etcdBackupSecret ? { etcdBackupSecret: s.etcdBackupSecret } : {}),
  };
}

/** The one-line story shown as the workflow's current details in the Web UI. */
export function summary(s: CarriedState): string {
  const d = s.deletion;
  const inv = d?.inventory
    ? `${d.inventory.objects.toLocaleString('en-US')} objects (${formatBytes(d.inventory.bytes)})`
    : 'backups';
  switch (s.phase) {
    case Phase.Retaining:
      return `Retaining ${inv} until ${d ? iso(d.deadlineMs).replace('T', ' ').replace('Z', ' UTC') : '?'} — expedite or cancel-cleanup`;
    case Phase.Deleting:
      return `Deleting ${inv}`;
    case Phase.Deleted:
      return `Deleted ${d?.receipt?.deletedObjects ?? 0} objects (${formatBytes(d?.receipt?.deletedBytes ?? 0)})`;
    case Phase.Kept:
      return `Cleanup cancelled — backups kept (${s.cancel?.by ?? 'annotation'}: ${s.cancel?.reason ?? ''})`;
    case Phase.Error:
      return `Error: ${s.lastError?.message ?? 'unknown'} — retrying`;
    case Phase.Ready:
      return readySummary(s);
    default:
      return s.phase;
  }
}

function readySummary(s: CarriedState): string {
  const etcd = s.etcdBackupSecret;
  if (etcd?.skipped)
    return `Ready — no etcd-backup secret: namespace ${etcd.namespace} ${etcd.skipped === 'NamespaceMissing' ? 'does not exist' : 'is terminating'} (written at the next reconcile once it is active)`;
  return `Ready — etcd-backup secret ${etcd ? `${etcd.namespace}/${etcd.name}` : 'provisioned'}`;
}

/**
 * What the watcher wants done for one entry, and how two such wishes merge while the first still waits in the work
 * queue (adapters/kubernetes/work-queue.ts): a burst of events for one entry costs one Temporal call.
 */
import type { SignalReason } from './intent';

/** What the watcher does for one entry. */
export type EntryAction =
  /** Start the workflow if it is not running (`USE_EXISTING`: no history for a running one). */
  | { kind: 'ensure' }
  /** Signal-with-start `reconcile` with these reasons. */
  | { kind: 'signal'; reasons: SignalReason[] }
  /** Like `ensure`, then compare the etcd-backup secret with the provider secret and signal on a difference. */
  | { kind: 'verify-secret' }
  /** The entry is gone: signal the workflow only if it is still running. */
  | { kind: 'gone' }
  /**
   * No BackupEntry, but a retention record on its credentials secret (released during retention): make sure its
   * workflow runs, starting a new run from the record if none does.
   */
  | { kind: 'resume'; secret: { namespace: string; name: string } };

const STRENGTH = { resume: -1, ensure: 0, 'verify-secret': 1, signal: 2 } as const;

/**
 * Merges a newly wanted action into a waiting one: `gone` replaces everything and is replaced by anything newer
 * (the entry came back); otherwise the stronger wins (signal > verify-secret > ensure) and signal reasons are united.
 */
export function mergeActions(waiting: EntryAction | undefined, next: EntryAction): EntryAction {
  if (!waiting || waiting.kind === 'gone' || next.kind === 'gone') return next;
  if (waiting.kind === 'signal' && next.kind === 'signal') {
    return { kind: 'signal', reasons: [...new Set([...waiting.reasons, ...next.reasons])] };
  }
  return STRENGTH[next.kind] >= STRENGTH[waiting.kind] ? next : waiting;
}

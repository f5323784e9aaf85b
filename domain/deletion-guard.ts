/**
 * The invariant checked where backup objects are deleted: nothing a workflow remembers, a record says or an input
 * claims may delete objects that a live BackupEntry still owns. The deletion activity reads the entries that own the
 * prefix (an entry `X` and its control-plane-migration copy `source-X` share the prefix `X/`) right before its first
 * DELETE and again before each batch, and asks {@link deletionRefusal}. Pure, so the rule is property-tested alone.
 */
import { SOURCE_PREFIX } from './constants';
import { GardenerErrorCode } from './error-codes';
import { ClassifiedError } from './errors';

/** Reason (failure details) of a deletion the guard refused; the workflow keeps the backups instead of retrying. */
export const DELETION_REFUSED = 'DeletionRefused';

/** What a deletion claims: whose prefix, in which bucket and store, for which incarnation of the entry. */
export interface DeletionClaim {
  /** The entry name the deletion runs for (`X` or `source-X`). */
  name: string;
  /** `metadata.uid` of the incarnation whose retention ended; absent: unknown (then the entry must exist). */
  uid?: string;
  bucketName: string;
  type: string;
}

/** A BackupEntry as read from the API server at the moment of the check. */
export interface PrefixOwner {
  name: string;
  uid: string;
  bucketName: string;
  type: string;
  /** `metadata.deletionTimestamp` is set. */
  deleting: boolean;
}

/** The entries that own the claim's prefix, as read now (absent: not found). */
export interface PrefixOwners {
  /** The entry named like the claim. */
  own?: PrefixOwner;
  /** The other owner of the same prefix: `source-X` for `X`, `X` for `source-X`. */
  sibling?: PrefixOwner;
}

/** Why a deletion must not run (reason is CamelCase, for the error type and the decision log). */
export interface DeletionRefusal {
  reason:
    | 'PrefixOwnedByLiveEntry'
    | 'EntryNotDeleted'
    | 'EntryRecreated'
    | 'TargetDisagreesWithEntry'
    | 'SourceEntryGone'
    | 'IncarnationUnknown';
  message: string;
}

/** The name of the other entry that shares `name`'s prefix. */
export function siblingName(name: string): string {
  return name.startsWith(SOURCE_PREFIX) ? name.slice(SOURCE_PREFIX.length) : `${SOURCE_PREFIX}${name}`;
}

/**
 * Undefined when the claim may delete now; otherwise why not. The rules, in order:
 * 1. The other owner of the prefix exists in the same bucket and is not being deleted: its live backups are there.
 *    For a `source-` claim any existing main entry in the same bucket refuses (its retention governs the prefix).
 * 2. The claim's own entry exists: it must be being deleted and be the same incarnation (uid), bucket and type.
 * 3. The claim's own entry is gone: a `source-` entry is never released during retention, so nothing proves such a
 *    deletion; a claim without a uid cannot be tied to the incarnation that was deleted. Otherwise (a main entry
 *    released during retention) the deletion may run: its start was checked against Temporal's own record of the run.
 */
export function deletionRefusal(claim: DeletionClaim, owners: PrefixOwners): DeletionRefusal | undefined {
  const { own, sibling } = owners;
  const source = claim.name.startsWith(SOURCE_PREFIX);
  if (sibling && sibling.bucketName === claim.bucketName && (source || !sibling.deleting)) {
    return {
      reason: 'PrefixOwnedByLiveEntry',
      message:
        `BackupEntry ${sibling.name} (uid ${sibling.uid}) owns the same prefix in bucket ${claim.bucketName} and is ` +
        `${sibling.deleting ? 'retaining its backups' : 'not being deleted'}; nothing is deleted for ${claim.name}`,
    };
  }
  if (own) {
    if (!own.deleting) {
      return {
        reason: 'EntryNotDeleted',
        message: `BackupEntry ${own.name} (uid ${own.uid}) exists and is not being deleted; its backups are kept`,
      };
    }
    if (claim.uid !== undefined && claim.uid !== own.uid) {
      return {
        reason: 'EntryRecreated',
        message:
          `BackupEntry ${own.name} now has uid ${own.uid}, not ${claim.uid} whose retention ended; ` +
          'the backups under the shared prefix are kept',
      };
    }
    if (own.bucketName !== claim.bucketName || own.type !== claim.type) {
      return {
        reason: 'TargetDisagreesWithEntry',
        message:
          `BackupEntry ${own.name} says bucket ${own.bucketName} (type ${own.type}), the deletion was asked for ` +
          `bucket ${claim.bucketName} (type ${claim.type}); nothing is deleted`,
      };
    }
    return undefined;
  }
  if (source) {
    return {
      reason: 'SourceEntryGone',
      message:
        `BackupEntry ${claim.name} does not exist; source- entries are never retained without their BackupEntry, ` +
        'so nothing proves this deletion and the backups are kept',
    };
  }
  if (claim.uid === undefined || claim.uid === '') {
    return {
      reason: 'IncarnationUnknown',
      message: `BackupEntry ${claim.name} does not exist and the deletion names no uid; the backups are kept`,
    };
  }
  return undefined;
}

/** The non-retryable error a refused deletion leaves with (reason {@link DELETION_REFUSED}; the rule names itself). */
export function deletionRefused(refusal: DeletionRefusal): ClassifiedError {
  return new ClassifiedError(
    `deletion refused (${refusal.reason}): ${refusal.message}`,
    GardenerErrorCode.ConfigurationProblem,
    DELETION_REFUSED,
  );
}

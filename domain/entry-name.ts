import { SECRET_ETCD_BACKUP, SECRET_SOURCE_ETCD_BACKUP, SOURCE_PREFIX } from './constants';
import { GardenerErrorCode } from './error-codes';
import { err, ok, type Result } from './result';

/** What a BackupEntry name tells about the shoot it belongs to and where its data lives. */
export interface EntryIdentity {
  /** The BackupEntry name as given. */
  name: string;
  /** True for `source-` entries (control-plane-migration copies). */
  source: boolean;
  /** Shoot technical ID, e.g. `shoot--dev--demo`. */
  technicalId: string;
  /** The trailing `--<uid>` token without the dashes. */
  shootUid: string;
  /** Control-plane namespace of the shoot (= technical ID), a DNS-1123 label. */
  namespace: string;
  /** `source-etcd-backup` for source entries, else `etcd-backup`. */
  etcdSecretName: string;
  /** Bucket prefix owned by the entry: name minus a leading `source-`, plus `/`. */
  prefix: string;
}

/** Longest Kubernetes object name (DNS-1123 subdomain). */
export const MAX_NAME_LENGTH = 253;
/** Longest namespace name (DNS-1123 label). */
export const MAX_NAMESPACE_LENGTH = 63;

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const invalid = (message: string): Result<never> =>
  err({ code: GardenerErrorCode.ConfigurationProblem, reason: 'InvalidEntryName', message });

/** Quotes a name for a message, shortened so a 10 kB name does not become a 10 kB status. */
const q = (s: string): string => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);

/**
 * Parses a BackupEntry name (`[source-]<technicalID>--<shootUID>`) the way Gardener's
 * `ExtractShootDetailsFromBackupEntryName` does, but strictly: the name must be a lower-case DNS subdomain
 * (≤253 characters) without `/` or `..` and not just `source-`; the last `--` token is the shoot UID (lower-case
 * alphanumerics and `-`, starting and ending alphanumeric); everything before it is the technical ID, which is the
 * namespace and must be a DNS-1123 label (≤63). Errors: code ERR_CONFIGURATION_PROBLEM, reason `InvalidEntryName`.
 */
export function parseEntryName(name: string): Result<EntryIdentity> {
  if (name.length === 0) return invalid('BackupEntry name is empty');
  if (name.includes('/')) return invalid(`BackupEntry name ${q(name)} must not contain "/"`);
  if (name.includes('..')) return invalid(`BackupEntry name ${q(name)} must not contain ".."`);
  if (name.length > MAX_NAME_LENGTH) {
    return invalid(`BackupEntry name ${q(name)} is ${name.length} characters long; the maximum is ${MAX_NAME_LENGTH}`);
  }
  if (name !== name.toLowerCase()) {
    return invalid(`BackupEntry name ${q(name)} contains upper-case letters; names are lower-case DNS subdomains`);
  }
  if (name === SOURCE_PREFIX)
    return invalid(`BackupEntry name ${q(name)} has nothing after the "${SOURCE_PREFIX}" prefix`);
  if (!SUBDOMAIN.test(name)) {
    return invalid(
      `BackupEntry name ${q(name)} is not a DNS subdomain (lower-case alphanumerics, "-" and ".", ` +
        'starting and ending with an alphanumeric)',
    );
  }
  const source = name.startsWith(SOURCE_PREFIX);
  const base = source ? name.slice(SOURCE_PREFIX.length) : name;
  const tokens = base.split('--');
  if (tokens.length < 2) return invalid(`BackupEntry name ${q(name)} has no "--<shoot UID>" token`);
  const shootUid = tokens[tokens.length - 1] ?? '';
  if (!LABEL.test(shootUid)) {
    return invalid(
      `BackupEntry name ${q(name)} ends in "--${shootUid}", which is not a shoot UID ` +
        '(lower-case alphanumerics and "-", starting and ending with an alphanumeric)',
    );
  }
  const technicalId = tokens.slice(0, -1).join('--');
  if (technicalId.length === 0)
    return invalid(`BackupEntry name ${q(name)} has nothing before its "--<shoot UID>" token`);
  if (technicalId.length > MAX_NAMESPACE_LENGTH || !LABEL.test(technicalId)) {
    return invalid(
      `BackupEntry name ${q(name)} yields namespace ${q(technicalId)}, which is not a DNS-1123 label ` +
        `(lower-case alphanumerics and "-", at most ${MAX_NAMESPACE_LENGTH} characters)`,
    );
  }
  return ok({
    name,
    source,
    technicalId,
    shootUid,
    namespace: technicalId,
    etcdSecretName: source ? SECRET_SOURCE_ETCD_BACKUP : SECRET_ETCD_BACKUP,
    prefix: `${base}/`,
  });
}

/**
 * The bucket prefix an entry owns (`<name minus source->/`), only for names {@link parseEntryName} accepts.
 * `source-X` and `X` share a prefix: the source entry's data lives under the original name (gardener/gardener#8730).
 */
export function entryPrefix(name: string): Result<string> {
  const parsed = parseEntryName(name);
  return parsed.ok ? ok(parsed.value.prefix) : parsed;
}

/**
 * Last-line guard of a filesystem-backed provider before deleting `key`: true iff `prefix` is non-empty and ends in
 * `/`, `key` starts with it, and `key` has no `..` path segment (so it can never resolve outside the prefix; such
 * keys are left alone rather than deleted). Object stores with flat names (gcp) check the prefix string only
 * (adapters/storage/prefix-guard.ts `isFlatKeyInPrefix`): there `..` is an ordinary part of a name.
 */
export function assertKeyInPrefix(prefix: string, key: string): boolean {
  if (prefix.length < 2 || !prefix.endsWith('/') || !key.startsWith(prefix)) return false;
  return !key.split('/').includes('..');
}

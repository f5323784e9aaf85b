/**
 * Retention anchors: where a retention without its BackupEntry (`BEL_RETENTION_MODE=release-entry`, docs/adr/0003)
 * keeps what it depends on, on objects Gardener neither rewrites nor deletes on its own schedule.
 *
 * - The **anchor** is a Secret of ours, `<namespace of the credentials>/backupentry-retention-<entry>`: the retention
 *   record (annotation, no secret material), a copy of the credentials as they were when the retention began (data),
 *   our finalizer, and the label the watcher lists anchors by. gardenlet's own `entry-<name>` is no place for any of it:
 *   each of its delete rounds nulls every annotation and label on it and then deletes it (Gardener v1.132+,
 *   `reconcileBackupEntryExtensionSecret`; checked against v1.149.0 by test/integration/watcher/gardenlet-harness.test.ts).
 * - The seed's extension **BackupBucket** carries our {@link BUCKET_RETENTION_FINALIZER} while any anchor names it;
 *   the admission policy `backupentry-lifecycle-retained-buckets` refuses to delete a bucket that carries it, so the
 *   provider's bucket deletion (which removes every object at once for provider-local) waits for the retentions.
 * - At the deadline the deletion uses the bucket's **current** credentials (its `spec.secretRef`, which gardenlet keeps
 *   current: rotations, renewed workload-identity tokens), then the anchor's copy.
 */
import {
  ANNOTATION_ANCHOR_WORKLOAD_IDENTITY,
  ANNOTATION_RETENTION_RECORDS,
  BUCKET_RETENTION_FINALIZER,
  FINALIZER,
  LABEL_RETENTION_ANCHOR,
  isRetentionAnchorName,
  isWorkloadIdentitySecret,
  parseRetentionRecords,
  retentionAnchorName,
  withRetentionRecord,
  type RetentionRecord,
} from '../domain';
import { type KubeGateway, type SecretObject, isNotFound, orAbsent, retryOnConflict } from './kube-port';
import type { SecretData } from './storage-port';
import type { SecretReference, StorageTarget } from './types';

/** Credentials a storage session can be opened with, and where they come from (named in errors, never the data). */
export interface Credentials {
  secretData: SecretData;
  workloadIdentity: boolean;
  /** e.g. `secret garden/bucket-x of BackupBucket x`. */
  source: string;
}

const without = (list: readonly string[], item: string): string[] => list.filter((f) => f !== item);

/** The anchor operations, on one gateway. */
export function createRetentionAnchors(kube: KubeGateway) {
  const findSecret = (namespace: string, name: string): Promise<SecretObject | undefined> =>
    orAbsent(kube.getSecret(namespace, name));

  /** The anchor of `name` beside `ref` (or `ref` itself when it is an anchor: a resumed run knows only that). */
  const anchorOf = (name: string, ref: SecretReference): SecretReference => ({
    namespace: ref.namespace,
    name: isRetentionAnchorName(ref.name) ? ref.name : retentionAnchorName(name),
  });

  const recordOn = (secret: SecretObject | SecretObject['metadata'] | undefined, name: string) => {
    const meta = secret && 'metadata' in secret ? secret.metadata : secret;
    return parseRetentionRecords(meta?.annotations?.[ANNOTATION_RETENTION_RECORDS])[name];
  };

  /**
   * Our finalizer on the bucket, so that the admission policy keeps it while a retention needs it. A bucket that does
   * not exist (a seed without Gardener's BackupBucket, the dev stack) or is already being deleted (no finalizer can be
   * added then) is left as it is: there is nothing left to hold.
   */
  async function holdBucket(bucketName: string): Promise<void> {
    try {
      await kube.editBackupBucketFinalizers(bucketName, (f, meta) =>
        f.includes(BUCKET_RETENTION_FINALIZER) || meta.deletionTimestamp ? [...f] : [...f, BUCKET_RETENTION_FINALIZER],
      );
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /** True while an anchor in `namespace` other than one being deleted names `bucketName`. */
  async function bucketInUse(bucketName: string, namespace: string): Promise<boolean> {
    return kube.someSecretMetadata(
      namespace,
      `${LABEL_RETENTION_ANCHOR}=true`,
      (m) =>
        !m.deletionTimestamp &&
        Object.values(parseRetentionRecords(m.annotations?.[ANNOTATION_RETENTION_RECORDS])).some(
          (r) => r.bucketName === bucketName,
        ),
    );
  }

  /**
   * Our finalizer off the bucket once no anchor names it. An anchor written between the two looks re-adds it (its
   * writer added the finalizer before or after our removal; the second look catches the "before").
   */
  async function releaseBucket(bucketName: string, namespace: string): Promise<void> {
    if (await bucketInUse(bucketName, namespace)) return;
    try {
      await kube.editBackupBucketFinalizers(bucketName, (f) => without(f, BUCKET_RETENTION_FINALIZER));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      return;
    }
    if (await bucketInUse(bucketName, namespace)) await holdBucket(bucketName);
  }

  /**
   * Writes `name`'s record on its anchor, creating the anchor (with a copy of the credentials `ref`, `known` when just
   * read) if there is none, then holds the bucket. False when there is no anchor and no credentials to make one from.
   */
  function write(name: string, ref: SecretReference, record: RetentionRecord, known?: SecretObject): Promise<boolean> {
    const at = anchorOf(name, ref);
    const written = retryOnConflict(async (): Promise<boolean> => {
      const anchor = await findSecret(at.namespace, at.name);
      if (anchor) {
        const value = withRetentionRecord(anchor.metadata.annotations?.[ANNOTATION_RETENTION_RECORDS], name, record);
        const finalizers = anchor.metadata.finalizers ?? [];
        await kube.patchSecret(at.namespace, at.name, {
          metadata: {
            resourceVersion: anchor.metadata.resourceVersion ?? null,
            annotations: { [ANNOTATION_RETENTION_RECORDS]: value ?? null },
            ...(finalizers.includes(FINALIZER) ? {} : { finalizers: [...finalizers, FINALIZER] }),
          },
        });
        return true;
      }
      if (isRetentionAnchorName(ref.name)) return false; // the anchor itself is gone: nothing to copy from
      const creds = known?.metadata.name === ref.name ? known : await findSecret(ref.namespace, ref.name);
      if (!creds) return false;
      await kube.createSecret({
        metadata: {
          name: at.name,
          namespace: at.namespace,
          labels: { [LABEL_RETENTION_ANCHOR]: 'true' },
          annotations: {
            [ANNOTATION_RETENTION_RECORDS]: withRetentionRecord(undefined, name, record)!,
            ...(isWorkloadIdentitySecret(creds.metadata.labels)
              ? { [ANNOTATION_ANCHOR_WORKLOAD_IDENTITY]: 'true' }
              : {}),
          },
          finalizers: [FINALIZER],
        },
        type: 'Opaque',
        data: creds.data,
      });
      return true;
    });
    return written.then(async (ok) => {
      if (ok) await holdBucket(record.bucketName);
      return ok;
    });
  }

  /** `name`'s record, from its anchor (only an anchor that still carries our finalizer counts). */
  async function read(name: string, ref: SecretReference): Promise<RetentionRecord | undefined> {
    const at = anchorOf(name, ref);
    const anchor = await findSecret(at.namespace, at.name);
    if (!anchor || !(anchor.metadata.finalizers ?? []).includes(FINALIZER)) return undefined;
    return recordOn(anchor, name);
  }

  /** The end of `name`'s retention: its anchor goes (finalizer, then the object), and the bucket is let go if unused. */
  async function drop(name: string, ref: SecretReference): Promise<void> {
    const at = anchorOf(name, ref);
    const anchor = await findSecret(at.namespace, at.name);
    if (!anchor) return;
    const bucketName = recordOn(anchor, name)?.bucketName;
    try {
      await kube.editSecretFinalizers(at.namespace, at.name, (f) => without(f, FINALIZER), anchor.metadata);
      await kube.deleteSecret(at.namespace, at.name, anchor.metadata.uid ? { uid: anchor.metadata.uid } : {});
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (bucketName) await releaseBucket(bucketName, at.namespace);
  }

  /**
   * The credentials a retention's deletion tries, in order: the bucket's current ones (the extension BackupBucket's
   * `spec.secretRef`, when the bucket exists with the pinned type), then the copy on the anchor, then the pinned
   * `secretRef` itself (a held entry's secret, which gardenlet keeps current). Secrets without data that are not
   * workload-identity ones are skipped. Empty when none is there.
   */
  async function credentials(name: string, pinned: StorageTarget): Promise<Credentials[]> {
    const found: Credentials[] = [];
    const add = (secret: SecretObject | undefined, source: string, workloadIdentity: boolean): void => {
      if (!secret) return;
      if (Object.keys(secret.data).length === 0 && !workloadIdentity) return;
      found.push({ secretData: secret.data, workloadIdentity, source });
    };
    const bucket = await orAbsent(kube.getBackupBucket(pinned.bucketName));
    const bref = bucket?.spec?.secretRef;
    if (bucket && bucket.spec?.type === pinned.type && bref?.name && bref.namespace) {
      const s = await findSecret(bref.namespace, bref.name);
      add(
        s,
        `secret ${bref.namespace}/${bref.name} of BackupBucket ${pinned.bucketName}`,
        isWorkloadIdentitySecret(s?.metadata.labels),
      );
    }
    const at = anchorOf(name, pinned.secretRef);
    const anchor = await findSecret(at.namespace, at.name);
    add(
      anchor,
      `the copy on retention anchor ${at.namespace}/${at.name}`,
      anchor?.metadata.annotations?.[ANNOTATION_ANCHOR_WORKLOAD_IDENTITY] === 'true',
    );
    if (!isRetentionAnchorName(pinned.secretRef.name)) {
      const own = await findSecret(pinned.secretRef.namespace, pinned.secretRef.name);
      add(
        own,
        `secret ${pinned.secretRef.namespace}/${pinned.secretRef.name}`,
        isWorkloadIdentitySecret(own?.metadata.labels),
      );
    }
    return found;
  }

  return { anchorOf, write, read, drop, holdBucket, credentials };
}

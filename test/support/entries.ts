import { PatchStrategy, setHeaderOptions, type CustomObjectsApi } from '@kubernetes/client-node';
import { BACKUPENTRY_API } from '../../domain';

const G = { group: BACKUPENTRY_API.group, version: BACKUPENTRY_API.version, plural: BACKUPENTRY_API.plural };

/** A stored BackupEntry as the tests see it (untyped beyond what they read). */
export type StoredEntry = {
  metadata: { name: string; annotations?: Record<string, string>; finalizers?: string[]; generation?: number };
  spec: Record<string, unknown>;
  status?: Record<string, unknown>;
} & Record<string, unknown>;

/** Reads a BackupEntry; `undefined` when it does not exist (404), other errors are thrown. */
export async function getEntry<T = StoredEntry>(custom: CustomObjectsApi, name: string): Promise<T | undefined> {
  try {
    return (await custom.getClusterCustomObject({ ...G, name })) as T;
  } catch (e) {
    if ((e as { code?: number }).code === 404) return undefined;
    throw e;
  }
}

/** Sets (string) or removes (null) annotations on a BackupEntry with a JSON merge patch. */
export async function annotateEntry(
  custom: CustomObjectsApi,
  name: string,
  annotations: Record<string, string | null>,
): Promise<void> {
  await custom.patchClusterCustomObject(
    { ...G, name, body: { metadata: { annotations } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

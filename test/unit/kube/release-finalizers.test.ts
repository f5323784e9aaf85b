import { createKubeActivities } from '../../../activities/kube-activities';
import type {
  BackupEntryObject,
  FinalizerEdit,
  KubeGateway,
  ObjectMeta,
  SecretObject,
} from '../../../activities/kube-port';
import { ClassifiedError, FINALIZER, GardenerErrorCode } from '../../../domain';

const ENTRY = 'shoot--dev--demo--3f1c6a7e';
const REF = { namespace: 'garden', name: `entry-${ENTRY}` };
const OTHER = 'example.com/other';

/** The gateway's error for HTTP 404, as `isNotFound` recognises it. */
function notFound(what: string): Error {
  return Object.assign(
    new ClassifiedError(`${what}: HTTP 404 NotFound`, GardenerErrorCode.RetryableInfraDependencies, 'NotFound'),
    { httpStatus: 404 },
  );
}

/** An in-memory API server holding at most one entry and some secrets; every write is logged in `writes`. */
class MemoryKube {
  entry: BackupEntryObject | undefined;
  readonly secrets = new Map<string, SecretObject>();
  readonly writes: string[] = [];

  addEntry(finalizers: string[], secretRef: { namespace?: string; name?: string } = REF): void {
    this.entry = {
      metadata: { name: ENTRY, uid: 'u1', finalizers: [...finalizers] },
      spec: { type: 'local', bucketName: 'b', secretRef },
    };
  }

  addSecret(ref: { namespace: string; name: string }, finalizers: string[]): void {
    this.secrets.set(`${ref.namespace}/${ref.name}`, { metadata: { ...ref, finalizers: [...finalizers] }, data: {} });
  }

  secretFinalizers(ref: { namespace: string; name: string }): string[] | undefined {
    return this.secrets.get(`${ref.namespace}/${ref.name}`)?.metadata.finalizers;
  }

  gateway(): KubeGateway {
    const unused = (): never => {
      throw new Error('not used in this test');
    };
    const edit = (meta: ObjectMeta, fn: FinalizerEdit, what: string): boolean => {
      const next = fn(meta.finalizers ?? [], meta);
      if (next.join() === (meta.finalizers ?? []).join()) return false;
      meta.finalizers = next;
      this.writes.push(what);
      return true;
    };
    return {
      getBackupEntry: async (name) => {
        if (!this.entry || name !== ENTRY) throw notFound(`get backupentry ${name}`);
        return structuredClone(this.entry);
      },
      editBackupEntryFinalizers: async (name, fn) => {
        if (!this.entry || name !== ENTRY) throw notFound(`get backupentry ${name}`);
        const changed = edit(this.entry.metadata, fn, `backupentry ${name}`);
        // The API server removes a deleted object once its last finalizer is gone; here: any object without one.
        if (changed && this.entry.metadata.finalizers?.length === 0) this.entry = undefined;
        return changed;
      },
      getSecret: async (namespace, name) => {
        const s = this.secrets.get(`${namespace}/${name}`);
        if (!s) throw notFound(`get secret ${namespace}/${name}`);
        return structuredClone(s);
      },
      editSecretFinalizers: async (namespace, name, fn) => {
        const s = this.secrets.get(`${namespace}/${name}`);
        if (!s) throw notFound(`get secret ${namespace}/${name}`);
        return edit(s.metadata, fn, `secret ${namespace}/${name}`);
      },
      patchBackupEntry: unused,
      patchBackupEntryStatus: unused,
      patchSecret: unused,
      createSecret: unused,
      replaceSecret: unused,
      deleteSecret: unused,
      getNamespace: unused,
      createEntryEvent: unused,
      getBackupBucket: unused,
      editBackupBucketFinalizers: unused,
      someSecretMetadata: unused,
    };
  }
}

describe('releaseFinalizers', () => {
  let kube: MemoryKube;
  const acts = () => createKubeActivities({ kube: kube.gateway(), providers: new Map() });
  beforeEach(() => {
    kube = new MemoryKube();
  });

  it("removes ours from the secretRef secret first, then from the entry (Gardener's order)", async () => {
    kube.addEntry([OTHER, FINALIZER]);
    kube.addSecret(REF, [FINALIZER, OTHER]);
    await acts().releaseFinalizers(ENTRY, { secret: true, secretRef: REF });
    expect(kube.writes).toEqual([`secret ${REF.namespace}/${REF.name}`, `backupentry ${ENTRY}`]);
    expect(kube.secretFinalizers(REF)).toEqual([OTHER]);
    expect(kube.entry?.metadata.finalizers).toEqual([OTHER]);
  });

  it("an existing entry's own spec.secretRef wins over the one passed in", async () => {
    const current = { namespace: 'garden', name: 'entry-renamed' };
    kube.addEntry([FINALIZER], current);
    kube.addSecret(current, [FINALIZER]);
    kube.addSecret(REF, [FINALIZER]);
    await acts().releaseFinalizers(ENTRY, { secret: true, secretRef: REF });
    expect(kube.secretFinalizers(current)).toEqual([]);
    expect(kube.secretFinalizers(REF)).toEqual([FINALIZER]);
  });

  it('uses the passed secretRef when the entry has none', async () => {
    kube.addEntry([FINALIZER], {});
    kube.addSecret(REF, [FINALIZER]);
    await acts().releaseFinalizers(ENTRY, { secret: true, secretRef: REF });
    expect(kube.secretFinalizers(REF)).toEqual([]);
    expect(kube.entry).toBeUndefined();
  });

  it("the entry is already gone: releases the secret's finalizer through the secretRef the workflow remembered", async () => {
    kube.addSecret(REF, [OTHER, FINALIZER]);
    await acts().releaseFinalizers(ENTRY, { secret: true, secretRef: REF });
    expect(kube.secretFinalizers(REF)).toEqual([OTHER]);
    expect(kube.writes).toEqual([`secret ${REF.namespace}/${REF.name}`]);
  });

  it('the entry and the secret are both gone: done, without an error', async () => {
    await expect(acts().releaseFinalizers(ENTRY, { secret: true, secretRef: REF })).resolves.toBeUndefined();
    expect(kube.writes).toEqual([]);
  });

  it('touches no secret when not asked to, or when the entry is gone and no secretRef is known', async () => {
    kube.addSecret(REF, [FINALIZER]);
    await acts().releaseFinalizers(ENTRY, { secret: false, secretRef: REF });
    await acts().releaseFinalizers(ENTRY, { secret: true });
    expect(kube.secretFinalizers(REF)).toEqual([FINALIZER]);
    kube.addEntry([FINALIZER]);
    await acts().releaseFinalizers(ENTRY, { secret: false, secretRef: REF });
    expect(kube.secretFinalizers(REF)).toEqual([FINALIZER]);
    expect(kube.entry).toBeUndefined();
  });
});

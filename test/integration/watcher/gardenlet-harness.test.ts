/**
 * Gardener's own gardenlet BackupEntry reconciler (tools/gardenlet-harness: github.com/gardener/gardener at
 * GARDENER_VERSION in tools/scripts/versions.env) against the stack's kube-apiserver as seed, the garden in a fake
 * client. This test plays the extension by hand (finalizers, status, our retention record on the secret) and records
 * what gardenlet's delete rounds do to the extension secret `garden/entry-<name>` (issue 23, finding 1) and what each
 * round costs. No worker or watcher runs here: the entries use a provider type no watcher serves.
 *
 * gardenlet's code read at v1.149.0 (pkg/gardenlet/controller/backupentry/reconciler.go):
 *   deleteBackupEntry, once the grace period is over, every round: updateBackupEntryStatusOperationStart (garden),
 *   reconcileBackupEntryExtensionSecret -> controllerutils.GetAndCreateOrMergePatch with Annotations =
 *   {gardener.cloud/timestamp}, Labels = nil, Data = the bucket's credentials (a JSON merge patch computed against
 *   the cached secret: every other annotation and every label is sent as null; finalizers are not touched), then
 *   component.Destroy (extensions.DeleteExtensionObject: gardenerutils.ConfirmDeletion patch + Delete), then a Get of
 *   the extension object: still there -> RequeueAfter 5 s; gone -> Delete of the secret, status Succeeded, finalizer
 *   `gardener` removed from the core entry.
 *   reconcileBackupEntry patches the secret only when it is missing, its data differ from the credentials or it has no
 *   timestamp annotation.
 */
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { ANNOTATION_RETENTION_RECORDS, BACKUPENTRY_API, FINALIZER } from '../../../domain';
import { adminKubeConfig, stackEnv, uniqueName } from '../../support/env';
import { GardenletHarness, gardenletHarnessPath, type HarnessStep } from '../../support/gardenlet-harness';

const bin = gardenletHarnessPath();
const inCi = process.env.CI === 'true';
const MISSING =
  'gardenlet-harness is not installed (GARDENLET_HARNESS in <cache>/tools.env): run tools/scripts/install-tools.sh';
if (!bin && !inCi) process.stderr.write(`[gardenlet-harness.test] SKIPPED: ${MISSING}\n`);

const G = { group: BACKUPENTRY_API.group, version: BACKUPENTRY_API.version, plural: BACKUPENTRY_API.plural };
const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
/** A provider type no watcher of the other test files serves: this file plays the extension by hand. */
const PROVIDER = 'gardenlet-harness';
const TIMESTAMP = 'gardener.cloud/timestamp';

const secretPath = (name: string): string => `/api/v1/namespaces/garden/secrets/entry-${name}`;
const extPath = (name: string): string => `/apis/extensions.gardener.cloud/v1alpha1/backupentries/${name}`;

if (!bin && inCi) {
  it('gardenlet-harness is installed (CI)', () => {
    throw new Error(MISSING);
  });
}

(bin ? describe : describe.skip)("gardenlet's BackupEntry reconciler (Gardener's code) on the seed", () => {
  const kc = bin ? adminKubeConfig() : undefined;
  const core = kc?.makeApiClient(CoreV1Api);
  const custom = kc?.makeApiClient(CustomObjectsApi);
  let h: GardenletHarness;
  const rounds: Record<string, unknown> = {};

  beforeAll(async () => {
    await core!.createNamespace({ body: { metadata: { name: 'garden' } } }).catch(() => undefined);
    h = new GardenletHarness(bin!, stackEnv('KUBECONFIG'), ['--max-wait', '100ms', '--event-timeout', '5s']);
    const ready = await h.ready();
    expect(ready.gardenerVersion).toBe('v1.149.0');
    expect(ready.seedReads).toBe('cache');
  }, 60_000);

  afterAll(async () => {
    await h?.stop();
    process.stderr.write(`[gardenlet-harness] ${JSON.stringify(rounds)}\n`);
  });

  /** What the extension does once gardenlet created the objects: our finalizers, the record, status Succeeded. */
  async function playExtensionReconciled(name: string, record: string): Promise<void> {
    await core!.patchNamespacedSecret(
      {
        namespace: 'garden',
        name: `entry-${name}`,
        body: {
          metadata: {
            finalizers: [FINALIZER],
            annotations: { [ANNOTATION_RETENTION_RECORDS]: record },
            labels: { 'backupentry.extensions.gardener.cloud/ours': 'true' },
          },
        },
      },
      MERGE,
    );
    await custom!.patchClusterCustomObject({ ...G, name, body: { metadata: { finalizers: [FINALIZER] } } }, MERGE);
    await custom!.patchClusterCustomObjectStatus(
      {
        ...G,
        name,
        body: {
          status: {
            lastOperation: {
              type: 'Create',
              state: 'Succeeded',
              progress: 100,
              description: 'reconciled by the test',
              lastUpdateTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
            },
          },
        },
      },
      MERGE,
    );
  }

  /** Removes our finalizer from the secret (as our worker does once the backups are gone). */
  async function releaseSecret(name: string): Promise<void> {
    await core!
      .patchNamespacedSecret(
        { namespace: 'garden', name: `entry-${name}`, body: { metadata: { finalizers: null } } },
        MERGE,
      )
      .catch(() => undefined);
  }

  const heldRoundCalls = (name: string): string[] => [
    `PATCH ${secretPath(name)} 200`,
    `PATCH ${extPath(name)} 200`,
    `DELETE ${extPath(name)} 200`,
  ];

  it('every delete round merge-patches the extension secret with annotations {gardener.cloud/timestamp} and labels null: the retention record and our labels are gone after the first round and again in the round that ends the loop; finalizers survive', async () => {
    const name = uniqueName('gh');
    const record = JSON.stringify([{ entry: name, deadline: '2099-01-01T00:00:00Z' }]);

    // Create: gardenlet creates the secret (timestamp annotation only) and the extension object, then waits for it.
    const created = await h.run(`create --name ${name} --provider ${PROVIDER} --until extension-exists`);
    const c1 = created.steps[0]!;
    expect(c1.secret.exists).toBe(true);
    expect(Object.keys(c1.secret.annotations ?? {})).toEqual([TIMESTAMP]);
    expect(c1.extension.exists).toBe(true);
    expect(c1.seedCalls).toEqual([
      'POST /api/v1/namespaces/garden/secrets 201',
      'POST /apis/extensions.gardener.cloud/v1alpha1/backupentries 201',
    ]);

    // The extension reconciles; gardenlet's next round (the status change is its watch event) marks the core entry
    // Succeeded and leaves the secret alone: same data and a timestamp, so no patch.
    await playExtensionReconciled(name, record);
    const ok = await h.run(`step --name ${name} --until succeeded --steps 3`);
    const okStep = ok.steps.at(-1)!;
    expect(okStep.core.lastOperation?.state).toBe('Succeeded');
    expect(okStep.seedCalls).toEqual([]);
    expect(okStep.secret.annotations?.[ANNOTATION_RETENTION_RECORDS]).toBe(record);
    expect(okStep.secret.labels).toEqual({ 'backupentry.extensions.gardener.cloud/ours': 'true' });

    // Delete (grace period 0): every round patches the secret first. Our finalizer on the extension object holds it.
    const del = await h.run(`delete --name ${name} --steps 3 --until never`);
    expect(del.steps).toHaveLength(3);
    for (const s of del.steps) {
      expect(s.outcome).toBe('requeueAfter');
      expect(s.requeueAfter).toBe('5s');
      expect(s.seedCalls).toEqual(heldRoundCalls(name));
      expect(s.gardenWrites).toBe(1); // the core entry's status: "Deletion of BackupEntry state initialized."
      expect(s.gardenCalls.filter((x) => !x.startsWith('get '))).toEqual([
        `patch status BackupEntry garden-dev/${name}`,
      ]);
      expect(s.secret.exists).toBe(true);
      expect(s.secret.deletionTimestamp).toBeUndefined();
      expect(Object.keys(s.secret.annotations ?? {})).toEqual([TIMESTAMP]); // the retention record is gone
      expect(s.secret.labels).toBeNull(); // our labels are gone
      expect(s.secret.finalizers).toEqual([FINALIZER]); // finalizers are not in the patch
      expect(s.extension.exists).toBe(true);
      expect(s.extension.deletionTimestamp).toBeDefined();
      expect(s.extension.finalizers).toEqual([FINALIZER]);
      expect(s.extension.annotations?.['confirmation.gardener.cloud/deletion']).toBe('true');
    }
    expect(del.steps[1]!.trigger).toBe('requeueAfter');
    expect(del.steps[1]!.waited).toBe('5s');
    rounds.held = { seedRequests: del.steps[1]!.seedRequests, gardenWrites: del.steps[1]!.gardenWrites };

    // Release: the extension writes its record back onto the secret and lets the object go (release-entry mode).
    // gardenlet's next round patches the secret before it reads the extension object, so the record is wiped in the
    // very round that ends the loop; then it deletes the secret, which our finalizer keeps, Terminating.
    await core!.patchNamespacedSecret(
      {
        namespace: 'garden',
        name: `entry-${name}`,
        body: { metadata: { annotations: { [ANNOTATION_RETENTION_RECORDS]: record } } },
      },
      MERGE,
    );
    await custom!.patchClusterCustomObject({ ...G, name, body: { metadata: { finalizers: null } } }, MERGE);
    const end = await h.run(`step --name ${name} --until gone --steps 3`);
    const last: HarnessStep = end.steps.at(-1)!;
    expect(end.steps).toHaveLength(1);
    expect(last.outcome).toBe('done');
    expect(last.seedCalls).toEqual([
      `PATCH ${secretPath(name)} 200`,
      `PATCH ${extPath(name)} 404`, // ConfirmDeletion on the object that is gone; DeleteExtensionObject ignores NotFound
      `DELETE ${secretPath(name)} 200`,
    ]);
    expect(last.gardenCalls.filter((x) => !x.startsWith('get '))).toEqual([
      `patch status BackupEntry garden-dev/${name}`,
      `patch status BackupEntry garden-dev/${name}`,
      `patch BackupEntry garden-dev/${name}`,
    ]);
    expect(last.core.exists).toBe(false);
    expect(last.extension.exists).toBe(false);
    expect(last.secret.exists).toBe(true);
    expect(last.secret.deletionTimestamp).toBeDefined();
    expect(last.secret.finalizers).toEqual([FINALIZER]);
    expect(last.secret.annotations?.[ANNOTATION_RETENTION_RECORDS]).toBeUndefined();
    expect(Object.keys(last.secret.annotations ?? {})).toEqual([TIMESTAMP]);
    expect(last.secret.labels).toBeNull();
    rounds.final = { seedRequests: last.seedRequests, gardenWrites: last.gardenWrites };

    await releaseSecret(name);
  });

  it('a record written after gardenlet has finished stays: nothing patches the secret once the core entry is gone', async () => {
    const name = uniqueName('gh');
    await h.run(`create --name ${name} --provider ${PROVIDER} --until extension-exists`);
    await playExtensionReconciled(name, 'first');
    await h.run(`step --name ${name} --until succeeded --steps 3`);
    await custom!.patchClusterCustomObject({ ...G, name, body: { metadata: { finalizers: null } } }, MERGE);
    const end = await h.run(`delete --name ${name} --until gone --steps 3`);
    expect(end.steps.at(-1)!.secret.annotations?.[ANNOTATION_RETENTION_RECORDS]).toBeUndefined();
    await core!.patchNamespacedSecret(
      {
        namespace: 'garden',
        name: `entry-${name}`,
        body: { metadata: { annotations: { [ANNOTATION_RETENTION_RECORDS]: 'after' } } },
      },
      MERGE,
    );
    // The core entry is gone: a further event finds nothing to do and sends nothing to the seed.
    const after = await h.run(`step --name ${name}`);
    expect(after.steps[0]!.seedCalls).toEqual([]);
    expect(after.steps[0]!.secret.annotations?.[ANNOTATION_RETENTION_RECORDS]).toBe('after');
    await releaseSecret(name);
  });
  it('deletionGracePeriodHours: the Pending round touches nothing on the seed; the first round after the grace period wipes the record', async () => {
    const name = uniqueName('gh');
    const record = 'held-through-grace';
    await h.run(`create --name ${name} --provider ${PROVIDER} --until extension-exists`);
    await playExtensionReconciled(name, record);
    await h.run(`step --name ${name} --until succeeded --steps 3`);
    // --max-wait caps the 24 h requeue at 100 ms; the reconciler's clock counts the rest as elapsed.
    const del = await h.run(`delete --name ${name} --grace-hours 24 --steps 2 --until never`);
    const [pending, first] = del.steps;
    expect(pending!.outcome).toBe('requeueAfter');
    expect(pending!.requeueAfter).toMatch(/^2[34]h/);
    expect(pending!.core.lastOperation?.state).toBe('Pending');
    expect(pending!.seedCalls).toEqual([]);
    expect(pending!.gardenWrites).toBe(1);
    expect(pending!.secret.annotations?.[ANNOTATION_RETENTION_RECORDS]).toBe(record);
    expect(first!.seedCalls).toEqual(heldRoundCalls(name));
    expect(first!.secret.annotations?.[ANNOTATION_RETENTION_RECORDS]).toBeUndefined();
    expect(first!.secret.labels).toBeNull();
    await custom!.patchClusterCustomObject({ ...G, name, body: { metadata: { finalizers: null } } }, MERGE);
    expect((await h.run(`step --name ${name} --until gone --steps 2`)).steps.at(-1)!.core.exists).toBe(false);
    await releaseSecret(name);
  });

  it("rotating the bucket's credentials: the next reconcile of a live entry rewrites the secret the same way (record and labels gone) and redeploys the extension object", async () => {
    const name = uniqueName('gh');
    const bucket = uniqueName('bucket');
    await h.run(
      `create --name ${name} --bucket ${bucket} --provider ${PROVIDER} --data key=v1 --until extension-exists`,
    );
    await playExtensionReconciled(name, 'live-record');
    await h.run(`step --name ${name} --until succeeded --steps 3`);
    const rotated = await h.run(`credentials --name ${name} --bucket ${bucket} --data key=v2`);
    const s = rotated.steps[0]!;
    expect(s.seedCalls).toEqual([`PATCH ${secretPath(name)} 200`, `PATCH ${extPath(name)} 200`]);
    expect(s.secret.annotations?.[ANNOTATION_RETENTION_RECORDS]).toBeUndefined();
    expect(Object.keys(s.secret.annotations ?? {})).toEqual([TIMESTAMP]);
    expect(s.secret.labels).toBeNull();
    expect(s.secret.finalizers).toEqual([FINALIZER]);
    await custom!.patchClusterCustomObject({ ...G, name, body: { metadata: { finalizers: null } } }, MERGE);
    await h.run(`delete --name ${name} --until gone --steps 2`);
    await releaseSecret(name);
  });
});

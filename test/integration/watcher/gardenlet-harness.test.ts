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
 *   Grace period: computeGracePeriod (deletionGracePeriodHours, for every purpose or only the listed
 *   deletionGracePeriodShootPurposes); while it runs, deleteBackupEntry only writes status Pending to the garden. The
 *   force-deletion annotation is read only there (`present ||`): it skips the grace period, nothing more.
 *   `source-` entries: no case in reconciler.go (the prefix matters to the botanist, the extensions' genericactuator
 *   and the SeedRestriction webhook). Migration: migrateBackupEntry (spec.seedName != status.seedName); restore:
 *   reconcileBackupEntryExtension (isRestorePhase -> component.Restore with the owner Shoot's ShootState).
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
const FORCE = 'backupentry.core.gardener.cloud/force-deletion';

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

  /** The extension reports `type` Succeeded on the extension object's status (what our worker writes). */
  async function reportSucceeded(name: string, type: string, description: string): Promise<void> {
    await custom!.patchClusterCustomObjectStatus(
      {
        ...G,
        name,
        body: {
          status: {
            lastOperation: {
              type,
              state: 'Succeeded',
              progress: 100,
              description,
              lastUpdateTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
            },
          },
        },
      },
      MERGE,
    );
  }

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
    await reportSucceeded(name, 'Create', 'reconciled by the test');
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

  /** Lets the extension object go (our finalizer removed), steps gardenlet until the core entry is gone and releases
   * the secret; returns the last round. */
  async function finish(name: string, flags = ''): Promise<HarnessStep> {
    await custom!.patchClusterCustomObject({ ...G, name, body: { metadata: { finalizers: null } } }, MERGE);
    const last = (await h.run(`step --name ${name} --until gone --steps 3 ${flags}`)).steps.at(-1)!;
    expect(last.core.exists).toBe(false);
    expect(last.extension.exists).toBe(false);
    await releaseSecret(name);
    return last;
  }

  /** Waits (polling the API server) until the extension secret is gone. */
  async function waitSecretGone(name: string): Promise<void> {
    for (;;) {
      const gone = await core!
        .readNamespacedSecret({ namespace: 'garden', name: `entry-${name}` })
        .then(() => false)
        .catch(() => true);
      if (gone) return;
      await new Promise((r) => setTimeout(r, 50));
    }
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
  it('deletionGracePeriodHours (deleteBackupEntry, computeGracePeriod): every round during the grace period is Pending and sends nothing to the seed; the extension object is deleted only in the first round after it, which wipes the record', async () => {
    const name = uniqueName('gh');
    const record = 'held-through-grace';
    await h.run(`create --name ${name} --provider ${PROVIDER} --until extension-exists`);
    await playExtensionReconciled(name, record);
    await h.run(`step --name ${name} --until succeeded --steps 3`);
    // The first rounds: r.Clock.Since(deletionTimestamp) <= gracePeriod -> updateBackupEntryStatusPending (garden only)
    // and RequeueAfter = deletionTimestamp + gracePeriod - Now. A further event meanwhile (`step`) is Pending again.
    const pendingRounds = [
      (await h.run(`delete --name ${name} --grace-hours 24`)).steps[0]!,
      (await h.run(`step --name ${name} --grace-hours 24`)).steps[0]!,
    ];
    for (const pending of pendingRounds) {
      expect(pending.outcome).toBe('requeueAfter');
      expect(pending.requeueAfter).toMatch(/^2[34]h/);
      expect(pending.core.lastOperation?.type).toBe('Delete');
      expect(pending.core.lastOperation?.state).toBe('Pending');
      expect(pending.core.lastOperation?.description).toMatch(/^Deletion of backup entry is scheduled for /);
      expect(pending.seedRequests).toBe(0);
      expect(pending.seedCalls).toEqual([]);
      expect(pending.gardenCalls.filter((x) => !x.startsWith('get '))).toEqual([
        `patch status BackupEntry garden-dev/${name}`,
      ]);
      expect(pending.secret.annotations?.[ANNOTATION_RETENTION_RECORDS]).toBe(record);
      expect(pending.extension.exists).toBe(true);
      expect(pending.extension.deletionTimestamp).toBeUndefined();
      expect(pending.extension.annotations?.['confirmation.gardener.cloud/deletion']).toBeUndefined();
    }
    // --max-wait caps the 24 h requeue at 100 ms; the reconciler's clock counts the rest as elapsed: the next round is
    // the first delete round (secret patched, extension object confirmed and deleted).
    const [again, first] = (await h.run(`step --name ${name} --grace-hours 24 --steps 2 --until never`)).steps;
    expect(again!.seedRequests).toBe(0);
    expect(first!.trigger).toBe('requeueAfter');
    expect(first!.seedCalls).toEqual(heldRoundCalls(name));
    expect(first!.core.lastOperation?.state).toBe('Processing');
    expect(first!.extension.deletionTimestamp).toBeDefined();
    expect(first!.secret.annotations?.[ANNOTATION_RETENTION_RECORDS]).toBeUndefined();
    expect(first!.secret.labels).toBeNull();
    await finish(name, '--grace-hours 24');
  });

  it('deletionGracePeriodShootPurposes (computeGracePeriod): an entry whose shoot.gardener.cloud/purpose is not listed gets no grace period; a listed one is Pending until backupentry.core.gardener.cloud/force-deletion is set, which ends the grace at once', async () => {
    // Grace periods far beyond the clock offset earlier tests left (the harness keeps one clock per process).
    const grace = '--grace-hours 100000 --grace-purposes production';
    const evaluation = uniqueName('gh');
    const production = uniqueName('gh');
    for (const [n, purpose] of [
      [evaluation, 'evaluation'],
      [production, 'production'],
    ] as const) {
      await h.run(`create --name ${n} --provider ${PROVIDER} --purpose ${purpose} --until extension-exists`);
      await playExtensionReconciled(n, 'r');
      await h.run(`step --name ${n} --until succeeded --steps 3`);
    }
    const immediate = (await h.run(`delete --name ${evaluation} ${grace}`)).steps[0]!;
    expect(immediate.core.annotations?.['shoot.gardener.cloud/purpose']).toBe('evaluation');
    expect(immediate.core.lastOperation?.state).toBe('Processing');
    expect(immediate.seedCalls).toEqual(heldRoundCalls(evaluation));

    const pending = (await h.run(`delete --name ${production} ${grace}`)).steps[0]!;
    expect(pending.core.lastOperation?.state).toBe('Pending');
    expect(pending.requeueAfter).toMatch(/^(99999|100000)h/);
    expect(pending.seedRequests).toBe(0);
    // The force-deletion annotation on the deleting entry (the API server's mustIncreaseGeneration bumps the generation
    // for it, so gardenlet's GenerationChangedPredicate lets it through): deleteBackupEntry's `present ||` skips the
    // grace period.
    const forced = (await h.run(`patch-core --name ${production} --annotate ${FORCE}=true ${grace} --until never`))
      .steps[0]!;
    expect(forced.core.lastOperation?.state).toBe('Processing');
    expect(forced.seedCalls).toEqual(heldRoundCalls(production));
    expect(forced.extension.annotations?.[FORCE]).toBeUndefined();
    for (const n of [evaluation, production]) await finish(n, grace);
  });

  it('force-deletion (deleteBackupEntry): the annotation only skips the grace period; the extension object gets the same ConfirmDeletion annotation and Delete as in any delete round (no force-deletion annotation), the secret the same patch and, once the object is gone, Delete', async () => {
    const name = uniqueName('gh');
    await h.run(`create --name ${name} --provider ${PROVIDER} --until extension-exists`);
    await playExtensionReconciled(name, 'forced-record');
    await h.run(`step --name ${name} --until succeeded --steps 3`);
    const del = await h.run(`delete --name ${name} --force --grace-hours 100000 --steps 2 --until never`);
    for (const s of del.steps) {
      expect(s.outcome).toBe('requeueAfter');
      expect(s.requeueAfter).toBe('5s');
      expect(s.seedCalls).toEqual(heldRoundCalls(name));
      expect(s.core.annotations?.[FORCE]).toBe('true');
      expect(s.core.lastOperation).toMatchObject({ type: 'Delete', state: 'Processing' });
      expect(s.extension.deletionTimestamp).toBeDefined();
      expect(s.extension.finalizers).toEqual([FINALIZER]); // gardenlet does not remove finalizers
      expect(s.extension.annotations?.['confirmation.gardener.cloud/deletion']).toBe('true');
      expect(s.extension.annotations?.[FORCE]).toBeUndefined();
      expect(Object.keys(s.secret.annotations ?? {})).toEqual([TIMESTAMP]);
      expect(s.secret.finalizers).toEqual([FINALIZER]);
    }
    const last = await finish(name, '--grace-hours 100000');
    expect(last.seedCalls).toEqual([
      `PATCH ${secretPath(name)} 200`,
      `PATCH ${extPath(name)} 404`,
      `DELETE ${secretPath(name)} 200`,
    ]);
  });

  it('a source- entry (as the botanist creates for a restore): gardenlet has no case for the prefix; emptyExtensionSecret names its secret entry-source-<name> and the lifecycle is that of any entry', async () => {
    const name = `source-${uniqueName('gh')}`;
    const created = (await h.run(`create --name ${name} --provider ${PROVIDER} --until extension-exists`)).steps[0]!;
    expect(created.seedCalls).toEqual([
      'POST /api/v1/namespaces/garden/secrets 201',
      'POST /apis/extensions.gardener.cloud/v1alpha1/backupentries 201',
    ]);
    expect(created.secret.exists).toBe(true);
    await core!.readNamespacedSecret({ namespace: 'garden', name: `entry-${name}` });
    const ext = (await custom!.getClusterCustomObject({ ...G, name })) as {
      spec: { secretRef: { name: string; namespace: string } };
    };
    expect(ext.spec.secretRef).toEqual({ name: `entry-${name}`, namespace: 'garden' });
    await playExtensionReconciled(name, 'source-record');
    await h.run(`step --name ${name} --until succeeded --steps 3`);
    const del = (await h.run(`delete --name ${name} --until never`)).steps[0]!;
    expect(del.seedCalls).toEqual(heldRoundCalls(name));
    expect(del.secret.annotations?.[ANNOTATION_RETENTION_RECORDS]).toBeUndefined();
    const last = await finish(name);
    expect(last.seedCalls.at(-1)).toBe(`DELETE /api/v1/namespaces/garden/secrets/entry-${name} 200`);
  });

  it('migration (migrateBackupEntry, spec.seedName moved to another seed): annotates the extension object gardener.cloud/operation=migrate, deletes it once it reports Migrate Succeeded, then deletes the secret and clears status.seedName; this gardenlet then leaves the entry alone until it is the destination of a restore (component.Restore from the ShootState)', async () => {
    const name = uniqueName('gh');
    await h.run(`create --name ${name} --provider ${PROVIDER} --shoot shoot-${name} --until extension-exists`);
    await playExtensionReconciled(name, 'migrating-record');
    const ok = (await h.run(`step --name ${name} --until succeeded --steps 3`)).steps.at(-1)!;
    expect(ok.core.statusSeedName).toBe('local');

    // shouldMigrateBackupEntry: status.seedName local != spec.seedName other. The extension's lastOperation is Create:
    // component.Migrate (extensions.MigrateExtensionObject -> AnnotateObjectWithOperation); the secret is not touched.
    const m1 = (await h.run(`patch-core --name ${name} --seed other`)).steps[0]!;
    expect(m1.outcome).toBe('done');
    expect(m1.seedCalls).toEqual([`PATCH ${extPath(name)} 200`]);
    expect(m1.core.lastOperation).toMatchObject({ type: 'Migrate', state: 'Processing' });
    expect(m1.extension.annotations?.['gardener.cloud/operation']).toBe('migrate');
    expect(m1.extension.deletionTimestamp).toBeUndefined();
    expect(m1.secret.annotations?.[ANNOTATION_RETENTION_RECORDS]).toBe('migrating-record');

    // The extension reports Migrate Succeeded: component.Destroy (ConfirmDeletion + Delete), RequeueAfter 5 s.
    await reportSucceeded(name, 'Migrate', 'migrated by the test');
    const m2 = (await h.run(`step --name ${name}`)).steps[0]!;
    expect(m2.outcome).toBe('requeueAfter');
    expect(m2.requeueAfter).toBe('5s');
    expect(m2.seedCalls).toEqual([`PATCH ${extPath(name)} 200`, `DELETE ${extPath(name)} 200`]);
    expect(m2.extension.deletionTimestamp).toBeDefined();
    expect(m2.secret.deletionTimestamp).toBeUndefined();

    // Our finalizer goes: the extension object is gone; the next round deletes the secret (no patch before it, unlike
    // deleteBackupEntry) and ends Migrate Succeeded with status.seedName unset (updateBackupEntryStatusSucceeded).
    await custom!.patchClusterCustomObject({ ...G, name, body: { metadata: { finalizers: null } } }, MERGE);
    const m3 = (await h.run(`step --name ${name} --until idle --steps 3`)).steps.at(-1)!;
    expect(m3.outcome).toBe('done');
    expect(m3.seedCalls).toEqual([`DELETE ${secretPath(name)} 200`]);
    expect(m3.core.lastOperation).toMatchObject({ type: 'Migrate', state: 'Succeeded' });
    expect(m3.core.statusSeedName).toBeUndefined();
    expect(m3.core.specSeedName).toBe('other');
    expect(m3.extension.exists).toBe(false);
    expect(m3.secret.deletionTimestamp).toBeDefined(); // our finalizer holds it
    expect(m3.secret.annotations?.[ANNOTATION_RETENTION_RECORDS]).toBe('migrating-record');

    // GetResponsibleSeedName is now `other`: this gardenlet skips the entry and sends nothing to the seed.
    const after = (await h.run(`step --name ${name}`)).steps[0]!;
    expect(after.seedCalls).toEqual([]);
    expect(after.gardenWrites).toBe(0);
    await releaseSecret(name);

    // Restore, as the destination seed's gardenlet does (here this one: spec.seedName back to `local`, status.seedName
    // unset, gardener.cloud/operation=restore as the shoot's migration flow sets it; the source seed's secret is gone).
    // ComputeOperationType -> Restore; reconcileBackupEntry creates the secret (it is missing), and
    // reconcileBackupEntryExtension (isRestorePhase) reads the ShootState of the owner Shoot and calls
    // component.Restore: extensions.RestoreExtensionWithDeployFunction deploys the object (wait-for-state), restores
    // status.state from the ShootState (nothing in an empty one) and annotates it gardener.cloud/operation=restore.
    await waitSecretGone(name);
    const r1 = (await h.run(`patch-core --name ${name} --seed local --annotate gardener.cloud/operation=restore`))
      .steps[0]!;
    expect(r1.outcome).toBe('done');
    expect(r1.seedCalls).toEqual([
      'POST /api/v1/namespaces/garden/secrets 201',
      'POST /apis/extensions.gardener.cloud/v1alpha1/backupentries 201',
      `PATCH ${extPath(name)} 200`,
    ]);
    expect(r1.gardenCalls).toContain(`get ShootState garden-dev/shoot-${name}`);
    expect(r1.core.lastOperation).toMatchObject({ type: 'Restore', state: 'Processing' });
    expect(r1.core.statusSeedName).toBe('local');
    expect(r1.extension.annotations?.['gardener.cloud/operation']).toBe('restore');
    expect(Object.keys(r1.secret.annotations ?? {})).toEqual([TIMESTAMP]);

    // The extension reports Restore Succeeded: gardenlet's next round (the lastOperation change is its event) sends
    // nothing to the seed, marks the core entry Restore Succeeded and removes the restore annotation
    // (removeGardenerOperationAnnotation).
    await reportSucceeded(name, 'Restore', 'restored by the test');
    const r2 = (await h.run(`step --name ${name} --until succeeded --steps 2`)).steps.at(-1)!;
    expect(r2.seedCalls).toEqual([]);
    expect(r2.core.lastOperation).toMatchObject({ type: 'Restore', state: 'Succeeded' });
    expect(r2.core.annotations?.['gardener.cloud/operation']).toBeUndefined();
    expect(r2.gardenCalls.filter((x) => !x.startsWith('get '))).toEqual([
      `patch status BackupEntry garden-dev/${name}`,
      `patch status BackupEntry garden-dev/${name}`,
      `patch BackupEntry garden-dev/${name}`,
    ]);
    const gone = (await h.run(`delete --name ${name} --until gone --steps 3`)).steps.at(-1)!;
    expect(gone.extension.exists).toBe(false);
    expect(gone.secret.exists).toBe(false);
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

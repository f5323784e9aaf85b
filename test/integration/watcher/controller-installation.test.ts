/**
 * Does Gardener keep our ControllerInstallation on a seed while a retention runs? (issue 23: the installation is our
 * worker on that seed.) Gardener's own code at GARDENER_VERSION (tools/scripts/versions.env), through
 * tools/gardenlet-harness's garden commands:
 *   - gardener-controller-manager's ControllerInstallation reconciler (pkg/controllermanager/controller/
 *     controllerregistration/controllerinstallation, Kind seed) against a fake garden: the seed, provider-gcp's
 *     registration (its v1.50.0 example, BackupEntry taken away as deploy/gardener/controller-registration.yaml tells
 *     operators to), ours, the seed's core BackupBucket and core BackupEntries;
 *   - gardenlet's required controller (pkg/gardenlet/controller/controllerinstallation/required) against the stack's
 *     kube-apiserver as seed, which sets the installation's Required condition from the extension objects there;
 *   - Gardener's ControllerRegistration validation and the ControllerRegistrationResources admission plugin;
 *   - gardener-apiserver's WorkloadIdentity TokenRequest storage (resolveContextObject).
 * What the reconciler keeps (reconciler.go at v1.149.0): the registrations needed by the kind/types of the seed's
 * BackupBuckets (computeKindTypesForBackupBuckets), of its BackupEntries (computeKindTypesForBackupEntries: every
 * entry listed, terminating ones too), of its shoots and of the seed itself, plus every installation whose Required
 * condition is True (installedAndRequiredRegistrationNames); deleteUnneededInstallations deletes the rest.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { adminKubeConfig, stackEnv, uniqueName } from '../../support/env';
import { type GardenOutput, GardenletHarness, gardenletHarnessPath } from '../../support/gardenlet-harness';
import { type K8sObject, ROOT, objectsOf } from '../../support/manifests';
import { PROVIDER_GCP_MODULE, PROVIDER_GCP_VERSION, goModDir } from '../deploy/provider-gcp';

const bin = gardenletHarnessPath();
const inCi = process.env.CI === 'true';
const MISSING =
  'gardenlet-harness is not installed (GARDENLET_HARNESS in <cache>/tools.env): run tools/scripts/install-tools.sh';
if (!bin && !inCi) process.stderr.write(`[controller-installation.test] SKIPPED: ${MISSING}\n`);
if (!bin && inCi) {
  it('gardenlet-harness is installed (CI)', () => {
    throw new Error(MISSING);
  });
}

const OURS = join(ROOT, 'deploy', 'gardener', 'controller-registration.yaml');
const REGISTRATION = 'backupentry-lifecycle';
const EXT = { group: 'extensions.gardener.cloud', version: 'v1alpha1' };

type Resource = { kind: string; type: string; primary?: boolean };
type Registration = K8sObject & { spec: { resources: Resource[] } };

/** The registration file's objects with the ControllerRegistration's resources changed by `edit`. */
function withResources(objects: K8sObject[], edit: (r: Resource[]) => Resource[]): K8sObject[] {
  return objects.map((o) =>
    o.kind === 'ControllerRegistration'
      ? { ...o, spec: { ...(o as Registration).spec, resources: edit((o as Registration).spec.resources) } }
      : o,
  );
}

/** Every resource of type gcp as type `type` (a type no other test file's extension objects use). */
const retyped = (type: string) => (rs: Resource[]) => rs.map((r) => (r.type === 'gcp' ? { ...r, type } : r));

(bin ? describe : describe.skip)("Gardener's ControllerInstallation reconcilers and our registration", () => {
  const dir = mkdtempSync(join(tmpdir(), 'bel-ci-'));
  const custom = bin ? adminKubeConfig().makeApiClient(CustomObjectsApi) : undefined;
  const figures: Record<string, unknown> = {};
  const cleanup: (() => Promise<unknown>)[] = [];
  let h: GardenletHarness;
  const files: Record<string, string> = {};

  function write(name: string, objects: K8sObject[]): string {
    const f = join(dir, `${name}.yaml`);
    writeFileSync(f, objects.map((o) => stringify(o)).join('---\n'));
    files[name] = f;
    return f;
  }

  beforeAll(async () => {
    h = new GardenletHarness(bin!, stackEnv('KUBECONFIG'));
    expect((await h.ready()).gardenerVersion).toBe('v1.149.0');
    const ours = objectsOf(readFileSync(OURS, 'utf8'));
    // OLD: our registration before this change (BackupEntry/gcp only).
    write(
      'old',
      withResources(ours, (rs) => rs.filter((r) => r.kind === 'BackupEntry')),
    );
    // provider-gcp's own registration (its example, with its ControllerDeployment), BackupEntry taken away as our
    // registration's comment tells operators to before ours is applied; and as shipped.
    const gcpDir = await goModDir(PROVIDER_GCP_MODULE, PROVIDER_GCP_VERSION);
    const gcp = objectsOf(readFileSync(join(gcpDir, 'example', 'controller-registration.yaml'), 'utf8'));
    write('provider-gcp-shipped', gcp);
    write(
      'provider-gcp',
      withResources(gcp, (rs) => rs.filter((r) => r.kind !== 'BackupEntry')),
    );
    // Ours with `primary: false` left out of the BackupBucket resource (negative control of the admission check).
    write(
      'ours-bucket-primary',
      withResources(ours, (rs) => rs.map((r) => (r.kind === 'BackupBucket' ? { kind: r.kind, type: r.type } : r))),
    );
  }, 900_000);

  afterAll(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
    await h?.stop();
    rmSync(dir, { recursive: true, force: true });
    process.stderr.write(`[controller-installation] ${JSON.stringify(figures)}\n`);
  });

  /** Names of the registrations that have an installation for the seed (not in deletion). */
  const installed = (o: GardenOutput): string[] =>
    o.installations
      .filter((i) => i.seed === 'local' && !i.deletionTimestamp)
      .map((i) => i.registration)
      .sort();
  const ours = (o: GardenOutput) => o.installations.find((i) => i.registration === REGISTRATION);

  /** A fresh garden with these registration files, and core BackupEntries `entries` on the seed `local`. */
  async function garden(registrations: string[], entries: string[], provider = 'gcp'): Promise<void> {
    await h.garden('reset');
    for (const r of registrations) await h.garden(`registration --file ${files[r] ?? r}`);
    for (const e of entries)
      await h.run(`create --name ${e} --provider ${provider} --region europe-west1 --no-reconcile`);
  }

  it('the reconciler installs both registrations for live entries; an entry in deletion still counts (c)', async () => {
    await garden(['provider-gcp', 'old'], ['e1', 'e2']);
    const first = await h.garden('installations');
    expect(first.reconciles![0]!.outcome).toBe('done');
    expect(first.backupBuckets).toEqual(['bucket-local']);
    expect(installed(first)).toEqual([REGISTRATION, 'provider-gcp']);
    expect(first.reconciles![0]!.gardenCalls.filter((c) => c.startsWith('create ControllerInstallation'))).toHaveLength(
      2,
    );
    // An entry gardenlet still holds (its finalizer), deleted: listed, so still needing BackupEntry/gcp.
    await h.garden('reset');
    for (const r of ['provider-gcp', 'old']) await h.garden(`registration --file ${files[r]}`);
    await h.run('create --name e1 --provider gcp --region europe-west1 --finalizer gardener --no-reconcile');
    await h.garden('installations');
    await h.run('delete --name e1 --no-reconcile');
    const terminating = await h.garden('installations');
    expect(terminating.backupEntries).toEqual(['garden-dev/e1 (terminating)']);
    expect(installed(terminating)).toEqual([REGISTRATION, 'provider-gcp']);
    figures.live = { installations: installed(first), terminating: installed(terminating) };
  });

  it('FINDING (a): with BackupEntry alone, the last core BackupEntry gone, Gardener deletes our installation', async () => {
    await garden(['provider-gcp', 'old'], ['e1', 'e2']);
    const before = await h.garden('installations');
    expect(installed(before)).toEqual([REGISTRATION, 'provider-gcp']);
    await h.run('delete --name e1 --no-reconcile');
    const oneLeft = await h.garden('installations');
    expect(installed(oneLeft)).toEqual([REGISTRATION, 'provider-gcp']);
    await h.run('delete --name e2 --no-reconcile');
    const after = await h.garden('installations');
    expect(after.backupEntries).toEqual([]);
    expect(after.backupBuckets).toEqual(['bucket-local']);
    expect(after.reconciles![0]).toMatchObject({ outcome: 'done' });
    expect(after.reconciles![0]!.gardenCalls).toContain(`delete ControllerInstallation ${ours(before)!.name}`);
    expect(installed(after)).toEqual(['provider-gcp']);
    figures.old = { before: installed(before), afterLastEntry: installed(after) };
  });

  it('FIX (b): with our registration (BackupBucket/gcp, primary: false) the installation stays while the seed has its bucket', async () => {
    const reg = (objectsOf(readFileSync(OURS, 'utf8'))[0] as Registration).spec.resources;
    expect(reg).toEqual([
      { kind: 'BackupEntry', type: 'gcp', primary: true },
      { kind: 'BackupBucket', type: 'gcp', primary: false },
    ]);
    await garden(['provider-gcp', OURS], ['e1', 'e2']);
    const before = await h.garden('installations');
    expect(installed(before)).toEqual([REGISTRATION, 'provider-gcp']);
    await h.run('delete --name e1 --no-reconcile');
    await h.run('delete --name e2 --no-reconcile');
    const after = await h.garden('installations');
    expect(after.backupEntries).toEqual([]);
    expect(after.reconciles![0]!.gardenCalls.filter((c) => c.startsWith('delete '))).toEqual([]);
    expect(installed(after)).toEqual([REGISTRATION, 'provider-gcp']);
    expect(ours(after)!.name).toBe(ours(before)!.name);
    // What keeps it is the seed's BackupBucket: once that is gone too, ours goes (provider-gcp stays for the seed's
    // own ControlPlane/Infrastructure/Worker of type gcp).
    await h.garden('delete-bucket');
    const noBucket = await h.garden('installations');
    expect(noBucket.backupBuckets).toEqual([]);
    expect(installed(noBucket)).toEqual(['provider-gcp']);
    figures.ours = { afterLastEntry: installed(after), afterBucket: installed(noBucket) };
  });

  it("admission: our non-primary BackupBucket/gcp is accepted beside provider-gcp's primary one; a primary one is refused", async () => {
    await garden(['provider-gcp'], []);
    const ok = await h.garden(`admit --file ${OURS}`);
    expect(ok.admission).toEqual([{ name: REGISTRATION, validation: [], allowed: true }]);
    const primary = await h.garden(`admit --file ${files['ours-bucket-primary']}`);
    expect(primary.admission![0]!.allowed).toBe(false);
    expect(primary.admission![0]!.admission).toContain(
      'another ControllerRegistration resource already exists that controls resource BackupBucket/gcp primarily',
    );
    // provider-gcp as shipped still claims BackupEntry/gcp: ours is refused for that (the takeover precondition).
    await garden(['provider-gcp-shipped'], []);
    const shipped = await h.garden(`admit --file ${OURS}`);
    expect(shipped.admission![0]!.admission).toContain('controls resource BackupEntry/gcp primarily');
    figures.admission = { ours: ok.admission![0], bucketPrimary: primary.admission![0]!.admission };
  });

  it('WorkloadIdentity token: a deleted core BackupEntry as context object fails, the BackupBucket works', async () => {
    await garden(['provider-gcp', OURS], ['e1']);
    const live = await h.garden('token --kind BackupEntry --name e1');
    expect(live.token).toMatchObject({ issued: true });
    expect(live.token!.claims!['gardener.cloud']).toMatchObject({
      backupEntry: { name: 'e1', namespace: 'garden-dev' },
      backupBucket: { name: 'bucket-local' },
      seed: { name: 'local' },
    });
    await h.run('delete --name e1 --no-reconcile');
    const gone = await h.garden('token --kind BackupEntry --name e1');
    expect(gone.token!.issued).toBe(false);
    expect(gone.token!.error).toMatch(/failed to resolve context object: .*"e1" not found/);
    const bucket = await h.garden('token --kind BackupBucket --name bucket-local');
    expect(bucket.token).toMatchObject({ issued: true });
    expect(bucket.token!.claims!['gardener.cloud']).toMatchObject({
      backupBucket: { name: 'bucket-local' },
      seed: { name: 'local' },
    });
    figures.token = { deletedEntry: gone.token!.error, bucketClaims: bucket.token!.claims!['gardener.cloud'] };
  });

  describe("gardenlet's required controller on the stack's seed (an extension BackupBucket there, no BackupEntry)", () => {
    // A type only this file uses: other test files create extension BackupEntries of type gcp in the same seed.
    const T = uniqueName('ci').replace(/[^a-z0-9-]/g, '');
    const bucketName = uniqueName('ci-bucket');

    beforeAll(async () => {
      const crd = await h.garden('seed-crd --kind BackupBucket');
      expect(crd.crd!.name).toBe('backupbuckets.extensions.gardener.cloud');
      figures.crdCreatedByHarness = crd.crd!.created;
      const ours = objectsOf(readFileSync(OURS, 'utf8'));
      write('ours-T', withResources(ours, retyped(T)));
      write(
        'old-T',
        withResources(
          withResources(ours, (rs) => rs.filter((r) => r.kind === 'BackupEntry')),
          retyped(T),
        ),
      );
      const gcp = objectsOf(readFileSync(files['provider-gcp']!, 'utf8'));
      write('provider-T', withResources(gcp, retyped(T)));
      // The seed's extension BackupBucket, as gardenlet creates it for the seed's core BackupBucket.
      await custom!.createClusterCustomObject({
        ...EXT,
        plural: 'backupbuckets',
        body: {
          apiVersion: 'extensions.gardener.cloud/v1alpha1',
          kind: 'BackupBucket',
          metadata: { name: bucketName },
          spec: { type: T, region: 'europe-west1', secretRef: { name: `bucket-${bucketName}`, namespace: 'garden' } },
        },
      });
      cleanup.push(() => custom!.deleteClusterCustomObject({ ...EXT, plural: 'backupbuckets', name: bucketName }));
    }, 120_000);

    /** Installs with one live entry, deletes it, runs gardenlet's required controller, then the reconciler. */
    async function afterLastEntry(registration: string): Promise<{ required: GardenOutput; after: GardenOutput }> {
      await garden(['provider-T', registration], ['e1'], T);
      expect(installed(await h.garden('installations'))).toEqual([REGISTRATION, 'provider-gcp']);
      await h.run('delete --name e1 --no-reconcile');
      const required = await h.garden('required');
      expect(required.reconciles!.every((r) => r.outcome === 'done')).toBe(true);
      expect(required.kindToRequiredTypes!.BackupBucket).toContain(T);
      return { required, after: await h.garden('installations') };
    }

    it('OLD registration: Required False (no extension BackupEntry of the type), so the installation goes (d)', async () => {
      const { required, after } = await afterLastEntry('old-T');
      expect(required.kindToRequiredTypes!.BackupEntry).not.toContain(T);
      expect(ours(required)!.required).toMatchObject({ status: 'False', reason: 'NoExtensionObjects' });
      expect(installed(after)).toEqual(['provider-gcp']);
      figures.requiredOld = ours(required)!.required;
    });

    it('OLD registration while the extension BackupEntry is still in the seed: Required True keeps it (d)', async () => {
      const entry = uniqueName('ci-entry');
      await custom!.createClusterCustomObject({
        ...EXT,
        plural: 'backupentries',
        body: {
          apiVersion: 'extensions.gardener.cloud/v1alpha1',
          kind: 'BackupEntry',
          metadata: { name: entry },
          spec: {
            type: T,
            region: 'europe-west1',
            bucketName,
            secretRef: { name: `entry-${entry}`, namespace: 'garden' },
          },
        },
      });
      try {
        const { required, after } = await afterLastEntry('old-T');
        expect(required.kindToRequiredTypes!.BackupEntry).toContain(T);
        expect(ours(required)!.required).toMatchObject({ status: 'True', reason: 'ExtensionObjectsExist' });
        expect(ours(required)!.required!.message).toContain(`BackupEntry/${T}`);
        expect(installed(after)).toEqual([REGISTRATION, 'provider-gcp']);
        figures.requiredOldWithExtensionEntry = ours(required)!.required;
      } finally {
        await custom!.deleteClusterCustomObject({ ...EXT, plural: 'backupentries', name: entry });
      }
    });

    it('OUR registration: Required True from the extension BackupBucket alone, and the installation stays (d)', async () => {
      const { required, after } = await afterLastEntry('ours-T');
      expect(required.kindToRequiredTypes!.BackupEntry).not.toContain(T);
      expect(ours(required)!.required).toMatchObject({ status: 'True', reason: 'ExtensionObjectsExist' });
      expect(ours(required)!.required!.message).toContain(`BackupBucket/${T}`);
      expect(installed(after)).toEqual([REGISTRATION, 'provider-gcp']);
      figures.requiredOurs = ours(required)!.required;
    });
  });
});

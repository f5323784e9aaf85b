import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { BACKUPENTRY_API } from '../../../domain';
import { waitFor } from '../../../tools/stack/wait';
import { getEntry as readEntry, type StoredEntry } from '../../support/entries';
import { adminKubeConfig, uniqueName } from '../../support/env';
import { type K8sObject, ROOT, kubectl, objectsOf, renderChart } from '../../support/manifests';

const POLICY_FILE = join(ROOT, 'deploy', 'admission', 'backupentry-deletion-spec-immutable.yaml');
const G = { group: BACKUPENTRY_API.group, version: BACKUPENTRY_API.version, plural: BACKUPENTRY_API.plural };
const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
/** Keeps a deleted entry in its deleting state until the test releases it. */
const FINALIZER = 'test.backupentry-lifecycle/admission';
const DEADLINE_ANNOTATION = 'backupentry.extensions.gardener.cloud/deletion-deadline';

type Entry = StoredEntry & { metadata: StoredEntry['metadata'] & { deletionTimestamp?: string } };
type Policy = K8sObject & {
  spec: { validations: Array<{ message: string; messageExpression: string; expression: string }> };
};
type Binding = K8sObject & { spec: { policyName: string; validationActions: string[]; matchResources?: object } };

/** What the API server answered to a refused request: HTTP code and the Status message. */
async function refusal(p: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await p;
  } catch (e) {
    const { code, body } = e as { code?: number; body?: unknown };
    const status = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: string } | undefined;
    return { code: code ?? 0, message: status?.message ?? String(e) };
  }
  throw new Error('the request was accepted, a refusal was expected');
}

/**
 * deploy/admission's ValidatingAdmissionPolicy on the real kube-apiserver (Gardener's rule: a deleting BackupEntry's
 * spec is frozen) and the CRD's own rules (spec.type immutable, printer columns).
 * The API server is shared by every test file of the run, so the shipped policy is bound here with an object selector
 * that matches only this file's entries (the shipped binding is the same apart from that and its name); entries use a
 * class no watcher serves.
 */
describe('deploy/admission: spec frozen once deletion started; CRD: spec.type immutable', () => {
  const custom = adminKubeConfig().makeApiClient(CustomObjectsApi);
  const dir = mkdtempSync(join(tmpdir(), 'bel-admission-'));
  const suffix = uniqueName('adm');
  const [policy, shippedBinding] = objectsOf(readFileSync(POLICY_FILE, 'utf8')) as [Policy, Binding];
  const binding: Binding = {
    ...shippedBinding,
    metadata: { name: `${shippedBinding.metadata.name}-${suffix}` },
    spec: {
      ...shippedBinding.spec,
      matchResources: { objectSelector: { matchLabels: { 'backupentry-lifecycle.test/admission': suffix } } },
    },
  };
  const names = { deleting: `${suffix}-deleting`, live: `${suffix}-live` };

  const createEntry = (name: string): Promise<unknown> =>
    custom.createClusterCustomObject({
      ...G,
      body: {
        apiVersion: BACKUPENTRY_API.apiVersion,
        kind: BACKUPENTRY_API.kind,
        metadata: { name, labels: { 'backupentry-lifecycle.test/admission': suffix }, finalizers: [FINALIZER] },
        spec: {
          type: 'local',
          class: `admission-${suffix}`,
          region: 'local',
          bucketName: 'bucket-a',
          secretRef: { name: `entry-${name}`, namespace: 'garden' },
        },
      },
    });
  const getEntry = (c: CustomObjectsApi, name: string): Promise<Entry | undefined> => readEntry<Entry>(c, name);
  const patch = (name: string, body: object, dryRun?: 'All'): Promise<unknown> =>
    custom.patchClusterCustomObject({ ...G, name, body, ...(dryRun ? { dryRun } : {}) }, MERGE);

  beforeAll(async () => {
    const files = { policy: join(dir, 'policy.yaml'), binding: join(dir, 'binding.yaml') };
    writeFileSync(files.policy, JSON.stringify(policy));
    writeFileSync(files.binding, JSON.stringify(binding));
    await kubectl('apply', '--server-side', '--force-conflicts', '-f', files.policy, '-f', files.binding);
    await createEntry(names.deleting);
    await createEntry(names.live);
    // With the finalizer, the entry stays: deletionTimestamp set, deleting.
    await custom.deleteClusterCustomObject({ ...G, name: names.deleting });
    await waitFor(async () => !!(await getEntry(custom, names.deleting))?.metadata.deletionTimestamp, {
      what: 'deletionTimestamp on the deleting entry',
      timeoutMs: 30_000,
    });
    // A new policy takes a moment to be loaded by the admission plugin: probe (dry run, nothing persisted) until refused.
    await waitFor(
      async () => {
        const r = await refusal(patch(names.deleting, { spec: { region: 'probe' } }, 'All')).catch(() => undefined);
        return r?.code === 403 && r.message.includes(policy.metadata.name);
      },
      {
        what: 'the ValidatingAdmissionPolicy to refuse a spec change of the deleting entry',
        timeoutMs: 60_000,
        intervalMs: 250,
      },
    );
  });

  afterAll(async () => {
    // Releasing the finalizer of the deleting entry is a metadata change, which the policy allows: the entry goes.
    const gone = (e: unknown): void => {
      if ((e as { code?: number }).code !== 404) throw e;
    };
    for (const name of Object.values(names)) {
      await patch(name, { metadata: { finalizers: null } }).catch(gone);
      await custom.deleteClusterCustomObject({ ...G, name }).catch(gone);
      await waitFor(async () => (await getEntry(custom, name)) === undefined, {
        what: `BackupEntry ${name} gone`,
        timeoutMs: 30_000,
      });
    }
    await kubectl('delete', '--ignore-not-found', 'validatingadmissionpolicybinding', binding.metadata.name).catch(
      () => undefined,
    );
    await kubectl('delete', '--ignore-not-found', 'validatingadmissionpolicy', policy.metadata.name).catch(
      () => undefined,
    );
    rmSync(dir, { recursive: true, force: true });
  });

  it('the API server accepts deploy/admission as shipped (server-side dry run), and the chart renders the same objects', async () => {
    const { stdout } = await kubectl('apply', '--dry-run=server', '--validate=strict', '-f', POLICY_FILE);
    expect(stdout).toMatch(
      /validatingadmissionpolicy\.admissionregistration\.k8s\.io\/backupentry-lifecycle-deletion-spec-immutable (created|configured|unchanged) \(server dry run\)/,
    );
    expect(stdout).toMatch(
      /validatingadmissionpolicybinding\.admissionregistration\.k8s\.io\/backupentry-lifecycle-deletion-spec-immutable (created|configured|unchanged) \(server dry run\)/,
    );
    const rendered = objectsOf(await renderChart('admission-seed', '--show-only', 'templates/admission-policy.yaml'));
    const strip = (o: K8sObject): object => ({ ...o, metadata: { name: o.metadata.name } });
    expect(rendered.map(strip)).toEqual([policy, shippedBinding].map(strip));
    expect(binding.spec.policyName).toBe(policy.metadata.name);
  });

  it("refuses a change of spec.bucketName on a deleting entry, with the policy's message", async () => {
    const r = await refusal(patch(names.deleting, { spec: { bucketName: 'bucket-b' } }));
    expect(r.code).toBe(403);
    expect(r.message).toContain(`ValidatingAdmissionPolicy '${policy.metadata.name}'`);
    expect(r.message).toContain(
      `BackupEntry ${names.deleting}: spec cannot be changed once its deletion has started ` +
        '(metadata.deletionTimestamp is set); only metadata such as annotations and finalizers may change',
    );
    expect((await getEntry(custom, names.deleting))!.spec.bucketName).toBe('bucket-a');
  });

  it('allows an annotation change on the deleting entry', async () => {
    await patch(names.deleting, {
      metadata: { annotations: { 'backupentry.extensions.gardener.cloud/retention-period': '96h' } },
    });
    const entry = (await getEntry(custom, names.deleting))!;
    expect(entry.metadata.annotations?.['backupentry.extensions.gardener.cloud/retention-period']).toBe('96h');
    expect(entry.metadata.deletionTimestamp).toBeTruthy();
  });

  it("refuses a change of spec.type on a live entry (the CRD's rule)", async () => {
    const r = await refusal(patch(names.live, { spec: { type: 'gcp' } }));
    expect(r.code).toBe(422);
    expect(r.message).toMatch(/spec\.type: Invalid value: .*spec\.type is immutable/);
    expect((await getEntry(custom, names.live))!.spec.type).toBe('local');
  });

  it('allows a change of spec.bucketName on a live entry', async () => {
    await patch(names.live, { spec: { bucketName: 'bucket-b' } });
    expect((await getEntry(custom, names.live))!.spec.bucketName).toBe('bucket-b');
  });

  it('kubectl get backupentries shows Type, Region, Bucket, State, Deletion Deadline and Age', async () => {
    const deadline = '2026-12-03T12:00:00Z';
    await patch(names.deleting, { metadata: { annotations: { [DEADLINE_ANNOTATION]: deadline } } });
    const { stdout } = await kubectl('get', 'backupentries', names.deleting, names.live);
    const [header, ...rows] = stdout.trimEnd().split('\n');
    const columns = header!.trim().split(/\s{2,}/);
    expect(columns).toEqual(['NAME', 'TYPE', 'REGION', 'BUCKET', 'STATE', 'DELETION DEADLINE', 'AGE']);
    // kubectl aligns cells under their headers; an empty cell is blank.
    const starts = columns.map((c) => header!.indexOf(c));
    const cells = (row: string): string[] => starts.map((s, i) => row.slice(s, starts[i + 1]).trim());
    const byName = Object.fromEntries(rows.map((r) => [cells(r)[0], cells(r)]));
    expect(byName[names.deleting]).toEqual([
      names.deleting,
      'local',
      'local',
      'bucket-a',
      '',
      deadline,
      expect.stringMatching(/^\d+s$/),
    ]);
    // A live entry has no deadline yet.
    expect(byName[names.live]).toEqual([
      names.live,
      'local',
      'local',
      'bucket-b',
      '',
      '',
      expect.stringMatching(/^\d+s$/),
    ]);
  });
});

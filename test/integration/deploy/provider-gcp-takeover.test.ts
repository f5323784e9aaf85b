import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { FINALIZER } from '../../../domain/constants';
import { type K8sObject, ROOT, objectsOf, renderChart } from '../../support/manifests';
import { PROVIDER_GCP_VERSION, type ProviderGcp, commandOf, providerGcp, renderProviderGcp } from './provider-gcp';

const GARDENER = join(ROOT, 'deploy', 'gardener', 'controller-registration.yaml');
const BEGIN = '# BEGIN provider-gcp ControllerDeployment values';
const END = '# END provider-gcp ControllerDeployment values';

/** The provider-gcp ControllerDeployment values our registration example tells operators to set (a comment block). */
function providerGcpValuesFromOurExample(): Record<string, unknown> {
  const text = readFileSync(GARDENER, 'utf8');
  const from = text.indexOf(BEGIN);
  const to = text.indexOf(END);
  expect([from, to].every((i) => i >= 0) && from < to).toBe(true);
  const block = text
    .slice(from + BEGIN.length, to)
    .split('\n')
    .map((l) => l.replace(/^# ?/, ''))
    .join('\n');
  const doc = parse(block) as { helm: { values: Record<string, unknown> } };
  return doc.helm.values;
}

/** Go source of a package folder (non-test files), concatenated. */
function goSource(dir: string): string {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.go') && !f.endsWith('_test.go'))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n');
}

/**
 * The controller switches provider-gcp's binary registers (pkg/cmd/options.go ControllerSwitchOptions), each resolved to
 * its name: `controllercmd.Switch(<alias>.ControllerName, ...)`, <alias> imported from Gardener's
 * extensions/pkg/controller/<pkg>, whose ControllerName constant is read from the Gardener module provider-gcp requires.
 */
function switchNames(p: ProviderGcp): Map<string, string> {
  const options = readFileSync(join(p.dir, 'pkg', 'cmd', 'options.go'), 'utf8');
  const imports = new Map(
    [...options.matchAll(/^\s*(\w+)\s+"github\.com\/gardener\/gardener\/(extensions\/pkg\/controller\/[\w/]+)"/gm)].map(
      (m) => [m[1]!, m[2]!],
    ),
  );
  const names = new Map<string, string>();
  for (const m of options.matchAll(/controllercmd\.Switch\((\w+)\.ControllerName,\s*([\w.]+)\)/g)) {
    const pkg = imports.get(m[1]!);
    if (!pkg) throw new Error(`options.go: no Gardener import for ${m[1]}`);
    const name = /ControllerName\s*=\s*"([^"]+)"/.exec(goSource(join(p.gardenerDir, pkg)))?.[1];
    if (!name) throw new Error(`${pkg}: no ControllerName`);
    names.set(name, m[2]!);
  }
  return names;
}

/**
 * Which controllers provider-gcp's process runs with these arguments, the way Gardener's
 * extensions/pkg/controller/cmd SwitchOptions decides: --controllers (default: all) minus --disable-controllers, an
 * unknown name in either is a start-up error (Complete: "cannot disable unknown controller").
 */
function runningControllers(args: string[], known: string[]): string[] {
  const list = (flag: string): string[] | undefined => {
    const a = args.find((x) => x.startsWith(`--${flag}=`));
    return a === undefined
      ? undefined
      : a
          .slice(flag.length + 3)
          .replace(/^"|"$/g, '')
          .split(',')
          .filter(Boolean);
  };
  const enabled = list('controllers') ?? known;
  const disabled = list('disable-controllers') ?? [];
  for (const n of [...enabled, ...disabled])
    if (!known.includes(n)) throw new Error(`provider-gcp would refuse to start: unknown controller "${n}"`);
  return known.filter((n) => enabled.includes(n) && !disabled.includes(n));
}

/**
 * Issue 23 item 3: taking over `gcp` BackupEntries from provider-gcp. Only provider-gcp's `disableControllers` value
 * (flag --disable-controllers) stops its BackupEntry controller; both controllers share the finalizer, so both must never
 * run. provider-gcp's sources come from the Go module proxy (see ./provider-gcp.ts), nothing is vendored.
 */
describe(`taking over from gardener-extension-provider-gcp ${PROVIDER_GCP_VERSION}`, () => {
  let p: ProviderGcp;
  let known: string[];

  beforeAll(async () => {
    p = await providerGcp();
    known = [...switchNames(p).keys()];
  }, 900_000);

  it("provider-gcp's binary has a `backupentry` controller switch, and its chart maps disableControllers onto the flag Gardener's SwitchOptions reads", () => {
    expect(known).toContain('backupentry');
    expect(switchNames(p).get('backupentry')).toBe('backupentrycontroller.AddToManager');
    const cmdOptions = readFileSync(
      join(p.gardenerDir, 'extensions', 'pkg', 'controller', 'cmd', 'options.go'),
      'utf8',
    );
    expect(cmdOptions).toMatch(/DisableFlag\s*=\s*"disable-controllers"/);
    expect(cmdOptions).toContain('cannot disable unknown controller');
    const deployment = readFileSync(join(p.chart, 'templates', 'deployment.yaml'), 'utf8');
    expect(deployment).toContain('- --disable-controllers={{ .Values.disableControllers | join "," }}');
    expect(parse(readFileSync(join(p.chart, 'values.yaml'), 'utf8'))).toMatchObject({ disableControllers: [] });
    // provider-gcp's own registration claims BackupEntry/gcp, as ours does.
    const reg = objectsOf(readFileSync(join(p.dir, 'example', 'controller-registration.yaml'), 'utf8')).find(
      (o) => o.kind === 'ControllerRegistration',
    ) as K8sObject & { spec: { resources: Array<{ kind: string; type: string }> } };
    expect(reg.spec.resources).toContainEqual({ kind: 'BackupEntry', type: 'gcp' });
  });

  it('both controllers hold BackupEntries of type gcp with the same finalizer (why both must never run)', async () => {
    // provider-gcp's BackupEntry controller is Gardener's generic one (backupentry.Add, Type gcp.Type = "gcp") ...
    const add = goSource(join(p.dir, 'pkg', 'controller', 'backupentry'));
    expect(add).toContain('"github.com/gardener/gardener/extensions/pkg/controller/backupentry"');
    expect(add).toMatch(/backupentry\.Add\(mgr, backupentry\.AddArgs\{[\s\S]*Type:\s*gcp\.Type/);
    expect(readFileSync(join(p.dir, 'pkg', 'gcp', 'predicate.go'), 'utf8')).toMatch(/Type\s*=\s*"gcp"/);
    // ... whose reconciler puts FinalizerName on the entry and its secret, and deletes the backups on deletion.
    const generic = goSource(join(p.gardenerDir, 'extensions', 'pkg', 'controller', 'backupentry'));
    const finalizer = /FinalizerName\s*=\s*"([^"]+)"/.exec(generic)?.[1];
    expect(finalizer).toBe('extensions.gardener.cloud/backupentry');
    expect(generic).toMatch(/AddFinalizers\(ctx, r\.client, be, FinalizerName\)/);
    expect(generic).toMatch(/RemoveFinalizers\(ctx, r\.client, be, FinalizerName\)/);
    // provider-gcp's Delete removes every object under the entry's prefix at once: no retention.
    expect(readFileSync(join(p.dir, 'pkg', 'controller', 'backupentry', 'actuator.go'), 'utf8')).toMatch(
      /DeleteObjectsWithPrefix\(ctx, be\.Spec\.BucketName, fmt\.Sprintf\("%s\/", entryName\)\)/,
    );
    // Ours: the same finalizer name, on the same entries (our example serves type gcp).
    expect(FINALIZER).toBe(finalizer);
    const ours = objectsOf(readFileSync(GARDENER, 'utf8'))[1] as K8sObject & {
      helm: { values: { providerTypes: string[] } };
    };
    expect(ours.helm.values.providerTypes).toContain('gcp');
    const worker = objectsOf(
      await renderChart(
        'takeover-seed',
        '--set-json',
        `providerTypes=${JSON.stringify(ours.helm.values.providerTypes)}`,
      ),
    ).find((o) => o.kind === 'Deployment' && o.metadata.name.endsWith('-worker')) as unknown as {
      spec: { template: { spec: { containers: Array<{ env: Array<{ name: string; value?: string }> }> } } };
    };
    expect(worker.spec.template.spec.containers[0]!.env).toContainEqual({ name: 'BEL_PROVIDER_TYPES', value: 'gcp' });
  });

  it("provider-gcp's chart with its default values runs the BackupEntry controller (negative control)", async () => {
    const [deployment] = await renderProviderGcp(p, {}, 'templates/deployment.yaml');
    expect(commandOf(deployment!)).toContain('--disable-controllers=');
    expect(runningControllers(commandOf(deployment!), known)).toContain('backupentry');
  });

  it("with the values our registration example gives for provider-gcp's ControllerDeployment, its BackupEntry controller is off and nothing else", async () => {
    const values = providerGcpValuesFromOurExample();
    expect(values).toEqual({ disableControllers: ['backupentry'] });
    const [deployment] = await renderProviderGcp(p, values, 'templates/deployment.yaml');
    const args = commandOf(deployment!);
    expect(args).toContain('--disable-controllers=backupentry');
    const running = runningControllers(args, known);
    expect(running).not.toContain('backupentry');
    // Its other controllers (BackupBucket among them) keep running: only the BackupEntry controller changes hands.
    expect(running.sort()).toEqual(known.filter((n) => n !== 'backupentry').sort());
    expect(running).toContain('backupbucket');
  });

  it('the example and the README say so', () => {
    const text = readFileSync(GARDENER, 'utf8');
    expect(text).toMatch(/`primary: false` on provider-gcp's BackupEntry resource does NOT stop its controller/);
    expect(text).toContain('extensions.gardener.cloud/backupentry');
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain('disableControllers: [backupentry]');
  });
});

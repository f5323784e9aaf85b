/**
 * gardener-extension-provider-gcp's own sources, for the deploy tests that compare our chart and registration with it:
 * fetched through the Go module proxy at an exact tag (`go mod download`; the module zip includes its charts/ folder)
 * and kept in the Go module cache, so only the first run downloads (~1 MB for provider-gcp, ~32 MB for the Gardener
 * module its go.mod requires). Nothing of it is vendored into this repository.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type K8sObject, helm, objectsOf } from '../../support/manifests';

const run = promisify(execFile);

/**
 * The provider-gcp release read. v1.50.0 is the newest tag the proxy served when this was written (v1.51.0 to v1.55.0
 * answered 403 "not available"); raise it when a newer one resolves.
 */
export const PROVIDER_GCP_VERSION = 'v1.50.0';
export const PROVIDER_GCP_MODULE = 'github.com/gardener/gardener-extension-provider-gcp';
export const GARDENER_MODULE = 'github.com/gardener/gardener';

/** `go mod download -json <module>@<version>`: the module's folder in the Go module cache (downloads on first use). */
export async function goModDir(module: string, version: string): Promise<string> {
  // Outside any module (a temp dir), so this repository's go.work/go.mod files play no part; the local toolchain only.
  const cwd = mkdtempSync(join(tmpdir(), 'bel-gomod-'));
  try {
    const { stdout } = await run('go', ['mod', 'download', '-json', `${module}@${version}`], {
      cwd,
      env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=mod' },
      maxBuffer: 4 << 20,
      timeout: 600_000,
    }).catch((e: Error & { stdout?: string; code?: string }) => {
      if (e.code === 'ENOENT') throw new Error('`go` is not on PATH (source tools/scripts/lib/env.sh)');
      if (e.stdout) return { stdout: e.stdout };
      throw e;
    });
    const info = JSON.parse(stdout) as { Dir?: string; Error?: string };
    if (!info.Dir) throw new Error(`go mod download ${module}@${version}: ${info.Error ?? stdout}`);
    return info.Dir;
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

/** provider-gcp's module folder and the folder of the Gardener module version its go.mod requires. */
export interface ProviderGcp {
  dir: string;
  chart: string;
  gardenerVersion: string;
  gardenerDir: string;
}

export async function providerGcp(): Promise<ProviderGcp> {
  const dir = await goModDir(PROVIDER_GCP_MODULE, PROVIDER_GCP_VERSION);
  const goMod = readFileSync(join(dir, 'go.mod'), 'utf8');
  const gardenerVersion = /^\s*github\.com\/gardener\/gardener (v\S+)/m.exec(goMod)?.[1];
  if (!gardenerVersion)
    throw new Error(`${PROVIDER_GCP_MODULE}@${PROVIDER_GCP_VERSION}: no gardener require in go.mod`);
  return {
    dir,
    chart: join(dir, 'charts', 'gardener-extension-provider-gcp'),
    gardenerVersion,
    gardenerDir: await goModDir(GARDENER_MODULE, gardenerVersion),
  };
}

/**
 * `helm template` of provider-gcp's chart the way gardenlet renders it for a seed: release = the ControllerRegistration's
 * name, namespace extension-<installation>, the ControllerDeployment's helm.values merged with gardenlet's gardener.*
 * values (pkg/gardenlet/controller/controllerinstallation/controllerinstallation/reconciler.go: utils.MergeMaps(helmValues,
 * gardenerValues)). `showOnly` limits it to some templates.
 */
export async function renderProviderGcp(
  p: ProviderGcp,
  values: Record<string, unknown>,
  ...showOnly: string[]
): Promise<K8sObject[]> {
  const tmp = mkdtempSync(join(tmpdir(), 'bel-provider-gcp-'));
  try {
    const file = join(tmp, 'values.json');
    writeFileSync(
      file,
      JSON.stringify({
        ...values,
        gardener: {
          version: p.gardenerVersion.replace(/^v/, ''),
          gardenlet: { featureGates: {} },
          seed: {
            name: 'seed-1',
            clusterIdentity: 'seed-1-identity',
            provider: 'gcp',
            spec: { settings: { topologyAwareRouting: { enabled: false } } },
          },
        },
      }),
    );
    return objectsOf(
      await helm(
        'template',
        'provider-gcp',
        p.chart,
        '--namespace',
        'extension-provider-gcp-x',
        '-f',
        file,
        ...showOnly.flatMap((t) => ['--show-only', t]),
      ),
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The containers' command of a rendered Deployment. */
export function commandOf(deployment: K8sObject): string[] {
  const spec = deployment.spec as { template: { spec: { containers: Array<{ command?: string[] }> } } };
  return spec.template.spec.containers[0]!.command ?? [];
}

import { loadConfig } from '../../../config';
import { CHART, type K8sObject, helm, objectsOf } from '../../support/manifests';

type Env = Array<{ name: string; value?: string }>;

/** Renders the chart with `args`; the env of the worker and the watcher container. */
async function envOf(...args: string[]): Promise<{ worker: Env; watcher: Env }> {
  const objs = objectsOf(
    await helm('template', 'backupentry-lifecycle', CHART, '--namespace', 'extension-bel', ...args),
  );
  const env = (suffix: string): Env => {
    const d = objs.find((o) => o.kind === 'Deployment' && o.metadata.name.endsWith(suffix)) as K8sObject & {
      spec: { template: { spec: { containers: Array<{ env: Env }> } } };
    };
    return d.spec.template.spec.containers[0]!.env;
  };
  return { worker: env('-worker'), watcher: env('-watcher') };
}
const valueOf = (env: Env, name: string): string | undefined => env.find((e) => e.name === name)?.value;

/** Renders the chart and expects helm to refuse; resolves to its error output. */
async function renderError(...args: string[]): Promise<string> {
  return helm('template', 'backupentry-lifecycle', CHART, '--namespace', 'extension-bel', ...args).then(
    (out) => {
      throw new Error(`rendering succeeded without a cluster identity:\n${out.slice(0, 2000)}`);
    },
    (e: { stderr?: string }) => e.stderr ?? String(e),
  );
}

/**
 * Several seeds on one Temporal namespace: the chart names each seed by the identity gardenlet injects into every
 * extension chart it deploys (gardener.seed.clusterIdentity = the Seed's status.clusterIdentity; gardener/gardener
 * pkg/gardenlet/controller/controllerinstallation/controllerinstallation/reconciler.go), falls back to the
 * clusterIdentity value, and refuses to render with neither.
 */
describe('Helm chart: the cluster identity comes from gardener.seed.clusterIdentity', () => {
  it('both processes get BEL_CLUSTER_IDENTITY from gardener.seed.clusterIdentity and no BEL_TASK_QUEUE (the per-seed default)', async () => {
    const { worker, watcher } = await envOf(
      '--set',
      'gardener.seed.name=seed-1',
      '--set',
      'gardener.seed.clusterIdentity=seed-1-4f2c9a',
    );
    for (const env of [worker, watcher]) {
      expect(valueOf(env, 'BEL_CLUSTER_IDENTITY')).toBe('seed-1-4f2c9a');
      expect(env.some((e) => e.name === 'BEL_TASK_QUEUE')).toBe(false);
      // What the pod's process makes of it, in the pod (KUBERNETES_SERVICE_HOST set): it starts, on its own queue.
      const vars = Object.fromEntries(env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
      const config = loadConfig({ ...vars, KUBERNETES_SERVICE_HOST: '10.96.0.1' });
      expect(config).toMatchObject({
        clusterIdentity: 'seed-1-4f2c9a',
        taskQueue: 'backupentry-lifecycle/seed-1-4f2c9a',
        warnings: [],
      });
    }
  });

  it("gardenlet's value wins over the clusterIdentity value; the value alone is the fallback outside Gardener", async () => {
    const both = await envOf(
      '--set',
      'clusterIdentity=from-value',
      '--set',
      'gardener.seed.clusterIdentity=from-gardenlet',
    );
    expect(valueOf(both.worker, 'BEL_CLUSTER_IDENTITY')).toBe('from-gardenlet');
    const fallback = await envOf('--set', 'clusterIdentity=from-value');
    expect(valueOf(fallback.worker, 'BEL_CLUSTER_IDENTITY')).toBe('from-value');
    expect(valueOf(fallback.watcher, 'BEL_CLUSTER_IDENTITY')).toBe('from-value');
  });

  it('an explicit taskQueue value is passed through as BEL_TASK_QUEUE', async () => {
    const { worker, watcher } = await envOf('--set', 'clusterIdentity=seed-1', '--set', 'taskQueue=bel-seed-1-canary');
    expect([valueOf(worker, 'BEL_TASK_QUEUE'), valueOf(watcher, 'BEL_TASK_QUEUE')]).toEqual([
      'bel-seed-1-canary',
      'bel-seed-1-canary',
    ]);
  });

  it("rendering fails without an identity, naming both sources, also with Gardener's other seed values present", async () => {
    for (const args of [
      [],
      ['--set', 'gardener.seed.name=seed-1', '--set', 'gardener.version=1.120.0'],
      ['--set', 'clusterIdentity='],
    ]) {
      const err = await renderError(...args);
      expect(err).toContain('no cluster identity (BEL_CLUSTER_IDENTITY)');
      expect(err).toContain('gardener.seed.clusterIdentity');
      expect(err).toContain('set the value clusterIdentity');
    }
  });
});

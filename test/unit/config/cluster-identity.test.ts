import {
  ConfigError,
  DEFAULT_CLUSTER_IDENTITY,
  checkClusterIdentity,
  loadCliConfig,
  loadConfig,
} from '../../../config';

/** What every process of one seed shares: the identity names its workflows and, by default, its task queue. */
describe('cluster identity and task queue (several seeds on one Temporal namespace)', () => {
  // Only gcp: no BACKUP_LOCAL_DIR needed. Explicit environments, never process.env (the runner may itself be a pod).
  const base = { BEL_PROVIDER_TYPES: 'gcp' };
  const inPod = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };

  it('derives the default task queue from the identity, so two seeds never poll the same queue', () => {
    const a = loadConfig({ ...base, BEL_CLUSTER_IDENTITY: 'seed-a' });
    const b = loadConfig({ ...base, BEL_CLUSTER_IDENTITY: 'seed-b' });
    expect(a.taskQueue).toBe('backupentry-lifecycle/seed-a');
    expect(b.taskQueue).toBe('backupentry-lifecycle/seed-b');
    expect(a.warnings).toEqual([]);
    expect(loadConfig(base)).toMatchObject({
      clusterIdentity: DEFAULT_CLUSTER_IDENTITY,
      taskQueue: 'backupentry-lifecycle/local-seed',
    });
  });

  it('an explicit BEL_TASK_QUEUE wins; one without the identity is accepted with a warning naming both variables', () => {
    const withId = loadConfig({ ...base, BEL_CLUSTER_IDENTITY: 'seed-a', BEL_TASK_QUEUE: 'bel-seed-a-canary' });
    expect(withId.taskQueue).toBe('bel-seed-a-canary');
    expect(withId.warnings).toEqual([]);
    const shared = loadConfig({ ...base, BEL_CLUSTER_IDENTITY: 'seed-a', BEL_TASK_QUEUE: 'backupentry-lifecycle' });
    expect(shared.taskQueue).toBe('backupentry-lifecycle');
    expect(shared.warnings).toHaveLength(1);
    expect(shared.warnings[0]).toMatch(
      /^BEL_TASK_QUEUE "backupentry-lifecycle" does not contain BEL_CLUSTER_IDENTITY "seed-a"/,
    );
    expect(shared.warnings[0]).toContain('backupentry-lifecycle/seed-a');
  });

  it('in a pod (KUBERNETES_SERVICE_HOST set) the built-in identity is refused, with the variable and the chart value named', () => {
    for (const env of [
      { ...base, ...inPod },
      { ...base, ...inPod, BEL_CLUSTER_IDENTITY: DEFAULT_CLUSTER_IDENTITY },
    ]) {
      expect(() => loadConfig(env)).toThrow(ConfigError);
      expect(() => loadConfig(env)).toThrow(
        /BEL_CLUSTER_IDENTITY: running in a Kubernetes pod \(KUBERNETES_SERVICE_HOST is set\) with the built-in default identity "local-seed"/,
      );
      expect(() => loadConfig(env)).toThrow(/gardener\.seed\.clusterIdentity.*clusterIdentity/);
    }
    // The CLI reads the same rule: in a pod it would otherwise look for another seed's workflows.
    expect(() => loadCliConfig({ ...inPod })).toThrow(/BEL_CLUSTER_IDENTITY: running in a Kubernetes pod/);
  });

  it('in a pod any other identity starts; outside a cluster (dev stack, tests) the default still works', () => {
    expect(loadConfig({ ...base, ...inPod, BEL_CLUSTER_IDENTITY: 'seed-a' }).taskQueue).toBe(
      'backupentry-lifecycle/seed-a',
    );
    expect(loadCliConfig({ ...inPod, BEL_CLUSTER_IDENTITY: 'seed-a' }).clusterIdentity).toBe('seed-a');
    expect(loadConfig(base).clusterIdentity).toBe('local-seed');
    expect(loadCliConfig({}).clusterIdentity).toBe('local-seed');
    // An empty KUBERNETES_SERVICE_HOST is not a pod.
    expect(checkClusterIdentity(DEFAULT_CLUSTER_IDENTITY, { KUBERNETES_SERVICE_HOST: '' })).toBeUndefined();
    expect(checkClusterIdentity('seed-a', inPod)).toBeUndefined();
  });

  it('an identity in the wrong form is refused by its format rule, in a pod or not', () => {
    expect(() => loadConfig({ ...base, ...inPod, BEL_CLUSTER_IDENTITY: 'Seed A' })).toThrow(
      /BEL_CLUSTER_IDENTITY: lowercase letters, digits/,
    );
  });
});

import { ConfigError, loadConfig } from '../../../config';
import { workerOptionsFor } from '../../../worker/worker-options';

/** `BEL_WORKER_ROLES`: what a worker process serves, read once in config/, and the SDK options each role gets. */
const ENV: NodeJS.ProcessEnv = { BACKUP_LOCAL_DIR: '/srv/backups' };
const roles = (value?: string) =>
  loadConfig(value === undefined ? ENV : { ...ENV, BEL_WORKER_ROLES: value }).worker.roles;

describe('BEL_WORKER_ROLES', () => {
  it('defaults to both roles in one process', () => {
    expect(roles()).toEqual({ workflows: true, storage: true });
  });

  it.each([
    ['workflows', { workflows: true, storage: false }],
    ['storage', { workflows: false, storage: true }],
    [' storage , workflows ', { workflows: true, storage: true }],
    ['workflows,workflows', { workflows: true, storage: false }],
  ])('%j → %j', (value, expected) => {
    expect(roles(value)).toEqual(expected);
  });

  it.each([
    ['', /BEL_WORKER_ROLES: at least one of workflows, storage/],
    [',', /BEL_WORKER_ROLES: at least one of workflows, storage/],
    ['activities', /BEL_WORKER_ROLES.*each of workflows, storage/],
    ['workflows,Storage', /BEL_WORKER_ROLES.*each of workflows, storage/],
  ])('refuses %j', (value, message) => {
    expect(() => roles(value)).toThrow(ConfigError);
    expect(() => roles(value)).toThrow(message);
  });
});

describe('workerOptionsFor', () => {
  const worker = (value?: string) => loadConfig(value === undefined ? ENV : { ...ENV, BEL_WORKER_ROLES: value }).worker;

  it('both roles: the cache, workflow slots and activity polling', () => {
    const o = workerOptionsFor(worker());
    expect(o).toMatchObject({
      maxCachedWorkflows: 500,
      maxConcurrentWorkflowTaskExecutions: 40,
      maxConcurrentActivityTaskExecutions: 50,
      enableNonLocalActivities: true,
    });
  });

  it('workflows only: polls no activity tasks (the Kubernetes steps run as local activities)', () => {
    const o = workerOptionsFor(worker('workflows'));
    expect(o.enableNonLocalActivities).toBe(false);
    expect(o.maxCachedWorkflows).toBe(500);
    expect(o.maxConcurrentWorkflowTaskExecutions).toBe(40);
  });

  it('storage only: no cache and no workflow slots', () => {
    const o = workerOptionsFor(worker('storage'));
    expect(o.enableNonLocalActivities).toBe(true);
    expect(o.maxCachedWorkflows).toBe(0);
    expect(o).not.toHaveProperty('maxConcurrentWorkflowTaskExecutions');
  });
});

/**
 * Leader election and informer robustness on the real kube-apiserver (short lease timings; no worker needed: a
 * started workflow is proof enough that a watcher acted).
 */
import { CoordinationV1Api, V1MicroTime } from '@kubernetes/client-node';
import type { WatcherHandle } from '../../../starter/start-watcher';
import { ApiServerProxy, Harness, metricValue } from './watcher-harness';

const LEASE = { BEL_WATCHER_LEASE_DURATION: '3s', BEL_WATCHER_RENEW_DEADLINE: '2s', BEL_WATCHER_RETRY_PERIOD: '500ms' };
const h = new Harness({ worker: false, env: LEASE });
let coord: CoordinationV1Api;

beforeAll(async () => {
  await h.setup();
  coord = h.kc.makeApiClient(CoordinationV1Api);
});

afterAll(async () => {
  await h.teardown();
});

const readLease = () =>
  coord.readNamespacedLease({ name: h.config.watcher.leaseName, namespace: h.config.watcher.leaseNamespace });
const workflowStarted = async (name: string): Promise<boolean> => {
  try {
    await h.client.workflow.getHandle(h.workflowId(name)).describe();
    return true;
  } catch {
    return false;
  }
};

describe('leader election on a Lease', () => {
  let a: WatcherHandle;
  let b: WatcherHandle;

  it('two watchers: exactly one leads, and the Lease names it with MicroTime timestamps', async () => {
    [a, b] = await Promise.all([h.watcher({ identity: `a-${h.suffix}` }), h.watcher({ identity: `b-${h.suffix}` })]);
    await h.until(async () => a.isLeader() || b.isLeader(), 'a leader', 20_000, 50);
    // Over several retry periods there is never more than one leader.
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline) {
      expect(Number(a.isLeader()) + Number(b.isLeader())).toBe(1);
      await new Promise((r) => setTimeout(r, 100));
    }
    const leader = a.isLeader() ? a : b;
    const lease = await readLease();
    expect(lease.spec?.holderIdentity).toBe(leader.identity);
    expect(lease.spec?.leaseDurationSeconds).toBe(3);
    // client-node 2.0.1 leaves MicroTime as the server's text: six fractional digits.
    expect(String(lease.spec?.renewTime)).toMatch(/\.\d{6}Z$/);
    await h.until(async () => leader.isInSync(), 'leader in sync');
    expect(a.isLeader() ? b.isInSync() : a.isInSync()).toBe(false);
    const e = await h.createEntry();
    await h.until(() => workflowStarted(e.name), "the leader starts the new entry's workflow");
    const standby = a.isLeader() ? b : a;
    expect(metricValue(await standby.metrics.metrics(), 'bel_watcher_signals_total')).toBe(0);
    // The leader counts the signal once the signal-with-start call has returned, a moment after the workflow exists.
    await h.until(
      async () =>
        metricValue(await leader.metrics.metrics(), 'bel_watcher_signals_total', { reason: 'created' }) > 0 ||
        undefined,
      'the leader counted its created signal',
      10_000,
      50,
    );
  });

  it('the leader stops: it releases the lease and the other takes over within the lease duration', async () => {
    const [leader, standby] = a.isLeader() ? [a, b] : [b, a];
    const t0 = Date.now();
    await leader.stop();
    expect(leader.isLeader()).toBe(false);
    await h.until(async () => standby.isLeader() && standby.isInSync(), 'the standby takes over', 3000, 20);
    const ms = Date.now() - t0;
    process.stderr.write(
      `[watcher] leader stopped → standby leading and in sync after ${ms} ms (lease duration 3 s)\n`,
    );
    expect(ms).toBeLessThan(3000);
    const e = await h.createEntry();
    await h.until(() => workflowStarted(e.name), 'the new leader acts');
    await standby.stop();
  });

  it('a leader cut off from the API server stops acting before its lease expires; the other takes over', async () => {
    const proxy = await ApiServerProxy.start();
    try {
      const cut = await h.watcher({ identity: `cut-${h.suffix}`, kubeConfig: proxy.kubeConfig() });
      await h.until(async () => cut.isLeader() && cut.isInSync(), 'the proxied watcher leads', 20_000, 50);
      const other = await h.watcher({ identity: `other-${h.suffix}` });
      const t0 = Date.now();
      await proxy.down(); // like a crash as far as the lease is concerned: no renewal, no release
      await h.until(async () => !cut.isLeader(), 'the cut-off leader steps down', 5000, 20);
      const steppedDown = Date.now() - t0;
      expect(cut.isInSync()).toBe(false);
      await h.until(async () => other.isLeader(), 'the other takes over', 10_000, 20);
      const tookOver = Date.now() - t0;
      process.stderr.write(
        `[watcher] leader cut off: stepped down after ${steppedDown} ms (renew deadline 2 s), ` +
          `the other leads after ${tookOver} ms (lease duration 3 s + retry jitter)\n`,
      );
      expect(steppedDown).toBeLessThanOrEqual(2000 + 500);
      expect(steppedDown).toBeLessThan(tookOver);
      expect(tookOver).toBeLessThan(3000 + 2 * 1100 + 1000);
      const lease = await readLease();
      expect(lease.spec?.holderIdentity).toBe(other.identity);
      await Promise.all([cut.stop(), other.stop()]);
    } finally {
      await proxy.down();
    }
  });

  it('a leader that finds the lease taken over steps down at once', async () => {
    const w = await h.leader({ identity: `victim-${h.suffix}` });
    const lease = await readLease();
    const now = new V1MicroTime(Date.now());
    await coord.replaceNamespacedLease({
      name: lease.metadata!.name!,
      namespace: lease.metadata!.namespace!,
      body: {
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: `intruder-${h.suffix}`,
          renewTime: now,
          acquireTime: now,
          leaseDurationSeconds: 60,
        },
      },
    });
    await h.until(async () => !w.isLeader(), 'the leader steps down', 2000 + 1000, 20);
    expect(w.isInSync()).toBe(false);
    await w.stop();
    // The intruder never renews: give the lease back for the next test.
    const l2 = await readLease();
    await coord.replaceNamespacedLease({
      name: l2.metadata!.name!,
      namespace: l2.metadata!.namespace!,
      body: { ...l2, spec: { ...l2.spec, holderIdentity: '', leaseDurationSeconds: 1 } },
    });
  });
});

describe('informer robustness', () => {
  it('the idle watchdog restarts a quiet watch, which resumes without a relist and misses no event', async () => {
    const w = await h.leader({ config: { ...h.config, watcher: { ...h.config.watcher, idleTimeoutMs: 1000 } } });
    const text = (): Promise<string> => w.metrics.metrics();
    const listed = metricValue(await text(), 'bel_watcher_events_total', { resource: 'backupentries', type: 'LISTED' });
    await h.until(
      async () =>
        metricValue(await text(), 'bel_watcher_informer_restarts_total', {
          informer: 'backupentries',
          reason: 'idle',
        }) >= 2,
      'two idle restarts',
      20_000,
    );
    expect(w.isInSync()).toBe(true);
    // No relist happened: the LISTED count is unchanged.
    expect(metricValue(await text(), 'bel_watcher_events_total', { resource: 'backupentries', type: 'LISTED' })).toBe(
      listed,
    );
    const e = await h.createEntry();
    await h.until(() => workflowStarted(e.name), 'the entry created after the restarts is seen');
    await w.stop();
  });
});

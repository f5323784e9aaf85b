/**
 * The watcher's leader election (adapters/kubernetes/leader-election.ts) on the real API server's Lease, played as
 * client-go's semantics say: one leader at a time, a clean hand-over on stop, a silent holder taken over only after its
 * lease duration has passed unchanged, and a leader that sees another holder stops acting at once.
 */
import { CoordinationV1Api, V1MicroTime } from '@kubernetes/client-node';
import pino from 'pino';
import { LeaderElector } from '../../../adapters/kubernetes/leader-election';
import { waitFor } from '../../../tools/stack/wait';
import { adminKubeConfig, uniqueName } from '../../support/env';

const NAMESPACE = 'default';
/** Short, in client-go's proportions (lease > renew deadline > retry period). */
const TIMING = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 200 };

/** What happened to one candidate, in order: `started`, `stopped`, `stop-done` (onStoppedLeading returned). */
type Event = { who: string; what: 'started' | 'stopped' | 'stop-done'; atMs: number };

const api = adminKubeConfig().makeApiClient(CoordinationV1Api);
const readLease = (name: string) => api.readNamespacedLease({ name, namespace: NAMESPACE });

function candidate(lease: string, identity: string, events: Event[]): LeaderElector {
  return new LeaderElector({
    kubeConfig: adminKubeConfig(),
    namespace: NAMESPACE,
    name: lease,
    identity,
    ...TIMING,
    log: pino({ level: 'silent' }),
    onStartedLeading: () => events.push({ who: identity, what: 'started', atMs: Date.now() }),
    onStoppedLeading: async () => {
      events.push({ who: identity, what: 'stopped', atMs: Date.now() });
      await new Promise((r) => setTimeout(r, 50)); // work a real leader winds down (in-flight signals)
      events.push({ who: identity, what: 'stop-done', atMs: Date.now() });
    },
  });
}

/** Fails when two candidates' leadership intervals overlap (a second `started` before the first `stop-done`). */
function expectOneLeaderAtATime(events: readonly Event[]): void {
  let leader: string | undefined;
  for (const e of events) {
    if (e.what === 'started') {
      expect({ started: e.who, whileLeading: leader }).toEqual({ started: e.who, whileLeading: undefined });
      leader = e.who;
    } else if (e.what === 'stop-done' && e.who === leader) {
      leader = undefined;
    }
  }
}

const running: LeaderElector[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => c.stop()));
});

describe('leader election on a Lease (real API server)', () => {
  it('two candidates: one leads and holds the lease; on stop it winds down, releases, and the other takes over', async () => {
    const lease = uniqueName('le-handover');
    const events: Event[] = [];
    const a = candidate(lease, 'replica-a', events);
    const b = candidate(lease, 'replica-b', events);
    running.push(a, b);
    a.start();
    b.start();
    const first = await waitFor(() => (a.isLeader() ? a : b.isLeader() ? b : undefined), { what: 'a leader' });
    const [firstId, other] = first === a ? ['replica-a', b] : ['replica-b', a];
    expect((await readLease(lease)).spec?.holderIdentity).toBe(firstId);
    const transitions = (await readLease(lease)).spec?.leaseTransitions ?? 0;

    await first.stop();
    expect(first.isLeader()).toBe(false);
    await waitFor(() => other.isLeader(), { what: 'the standby to take over' });
    const after = await readLease(lease);
    expect(after.spec?.holderIdentity).not.toBe(firstId);
    expect(after.spec?.leaseTransitions).toBe(transitions + 1);
    expectOneLeaderAtATime(events);
    // The leader stopped acting (onStoppedLeading returned) before it gave the lease up.
    const done = events.find((e) => e.who === firstId && e.what === 'stop-done')!;
    const otherStarted = events.find((e) => e.who !== firstId && e.what === 'started')!;
    expect(done.atMs).toBeLessThanOrEqual(otherStarted.atMs);
  });

  it('a holder that went silent without releasing is taken over only after its lease duration, by our own clock', async () => {
    const lease = uniqueName('le-silent');
    const now = new V1MicroTime(Date.now());
    await api.createNamespacedLease({
      namespace: NAMESPACE,
      body: {
        metadata: { name: lease, namespace: NAMESPACE },
        spec: { holderIdentity: 'crashed-replica', leaseDurationSeconds: 2, acquireTime: now, renewTime: now },
      },
    });
    const events: Event[] = [];
    const c = candidate(lease, 'replica-c', events);
    running.push(c);
    const startedAt = Date.now();
    c.start();
    await waitFor(() => c.isLeader(), { what: 'the takeover' });
    // It first saw the record at startedAt or later, and must have watched it unchanged for 2 s before taking it.
    expect(events[0]!.atMs - startedAt).toBeGreaterThanOrEqual(2000);
    const taken = await readLease(lease);
    expect(taken.spec?.holderIdentity).toBe('replica-c');
    expect(taken.spec?.leaseTransitions).toBe(1);
  });

  it('a leader that finds another holder in the lease stops leading at once', async () => {
    const lease = uniqueName('le-usurped');
    const events: Event[] = [];
    const d = candidate(lease, 'replica-d', events);
    running.push(d);
    d.start();
    await waitFor(() => d.isLeader(), { what: 'replica-d leading' });
    // Another writer takes the lease (as a replica with a skewed view would): a fresh record under another name.
    await waitFor(
      async () => {
        const current = await readLease(lease);
        const now = new V1MicroTime(Date.now());
        await api.replaceNamespacedLease({
          name: lease,
          namespace: NAMESPACE,
          body: { ...current, spec: { ...current.spec, holderIdentity: 'intruder', renewTime: now, acquireTime: now } },
        });
        return true; // a 409 (replica-d renewed in between) throws and is tried again
      },
      { what: 'the lease overwritten' },
    );
    await waitFor(() => !d.isLeader(), { what: 'replica-d to step down' });
    // onStoppedLeading runs on after isLeader() turned false: await its return (on a loaded machine it can lag).
    await waitFor(() => events.some((e) => e.what === 'stop-done'), { what: 'replica-d done stopping' });
    expect(events.map((e) => e.what)).toEqual(['started', 'stopped', 'stop-done']);
  });
});

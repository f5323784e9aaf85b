/**
 * Leader election on a `coordination.k8s.io/v1` Lease with client-go's semantics (`tools/leaderelection`):
 * - a candidate tries to acquire or renew every `retryPeriod` (with client-go's 1.2 jitter while it is not leading);
 * - it takes the lease over only when the holder's record has not changed for the record's `leaseDurationSeconds`,
 *   measured by the candidate's *own* clock from when it first saw that record (no clock comparison across hosts);
 * - every write is a `replace` carrying the `resourceVersion` that was read (optimistic locking: 409 = lost race);
 * - times are MicroTime with 6 fractional digits (client-node's `V1MicroTime`);
 * - a leader that has not renewed successfully for `renewDeadline` stops leading — a timer fires even while a request
 *   hangs — so it stops acting before its lease (`leaseDuration` > `renewDeadline`) can be taken over. It also stops
 *   at once when it sees another holder;
 * - on `stop()` a leader first stops acting, then releases the lease (empty holder, duration 1 s) so a standby
 *   replica takes over within one retry period instead of a lease duration.
 * Written by hand: `@kubernetes/client-node` 2.0.1 ships no leader election (docs/adr/0005).
 */
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { sleepUnlessAborted } from '../abortable-sleep';
import { describeError, withTimeout } from './list-watch';

/** Options of {@link LeaderElector}. */
export interface LeaderElectionOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  /** This replica's holder identity (unique per process). */
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  log: Logger;
  /** Called when this replica becomes leader. */
  onStartedLeading(): void;
  /** Called when it stops leading (lost, could not renew, or stopping); awaited before the lease is released. */
  onStoppedLeading(): Promise<void> | void;
  /**
   * Called when the observed holder changes (any replica; '' = nobody).
   * @default a no-op
   */
  onNewLeader?(identity: string): void;
  /**
   * Timeout of one API call.
   * @default half of `renewDeadlineMs`, at least 500
   */
  requestTimeoutMs?: number;
}

/** The parts of the lease record compared to notice that the holder is alive. */
interface Record {
  holder: string;
  renewTime: string;
  acquireTime: string;
  leaseDurationSeconds: number;
  leaseTransitions: number;
}

const microTimeText = (v: unknown): string => (v instanceof Date ? v.toISOString() : typeof v === 'string' ? v : '');

function recordOf(lease: V1Lease): Record {
  const s = lease.spec ?? {};
  // client-node 2.0.1 does not deserialize MicroTime fields: they arrive as strings despite the declared type.
  return {
    holder: s.holderIdentity ?? '',
    renewTime: microTimeText(s.renewTime),
    acquireTime: microTimeText(s.acquireTime),
    leaseDurationSeconds: s.leaseDurationSeconds ?? 0,
    leaseTransitions: s.leaseTransitions ?? 0,
  };
}

const sameRecord = (a: Record, b: Record): boolean =>
  a.holder === b.holder &&
  a.renewTime === b.renewTime &&
  a.acquireTime === b.acquireTime &&
  a.leaseDurationSeconds === b.leaseDurationSeconds &&
  a.leaseTransitions === b.leaseTransitions;

const apiCode = (err: unknown): number | undefined => {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'number' ? c : undefined;
};

/**
 * One candidate. Contract: `isLeader()` is true only between `onStartedLeading` and `onStoppedLeading`, and only
 * while the last successful renewal is younger than `renewDeadlineMs`; `stop()` ends the loop, stops leading
 * (awaiting `onStoppedLeading`) and releases the lease if this replica holds it. Never throws from its loop.
 */
export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private leading = false;
  private stopped = false;
  private loop?: Promise<void>;
  /** Aborts the wait between two rounds: `stop()` ends the loop through it. */
  private readonly stopAbort = new AbortController();
  private deadman?: NodeJS.Timeout;
  private observed?: Record;
  private observedAtMs = 0;
  private lastLease?: V1Lease;
  private stopping?: Promise<void>;
  private lastHolder?: string;

  constructor(private readonly o: LeaderElectionOptions) {
    this.api = o.kubeConfig.makeApiClient(CoordinationV1Api);
  }

  /** Starts campaigning (idempotent). */
  start(): void {
    this.loop ??= this.run();
  }

  /** True while this replica leads. */
  isLeader(): boolean {
    return this.leading;
  }

  /** Stops campaigning; a leader stops acting, then releases the lease. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopAbort.abort();
    await this.loop;
    await this.stepDown('shutdown');
    await this.release();
  }

  private get timeoutMs(): number {
    return this.o.requestTimeoutMs ?? Math.max(500, Math.floor(this.o.renewDeadlineMs / 2));
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let ok = false;
      try {
        ok = await this.tryAcquireOrRenew();
      } catch (err) {
        this.o.log.warn({ lease: this.leaseName, error: describeError(err) }, 'Could not acquire or renew the lease');
      }
      if (this.stopped) break;
      if (ok) {
        this.armDeadman();
        if (!this.leading) {
          this.leading = true;
          this.o.log.info({ lease: this.leaseName }, 'Became leader');
          try {
            this.o.onStartedLeading();
          } catch (err) {
            this.o.log.error({ error: describeError(err) }, 'onStartedLeading failed');
          }
        }
      }
      const wait = this.leading ? this.o.retryPeriodMs : this.o.retryPeriodMs * (1 + Math.random() * 1.2);
      await sleepUnlessAborted(wait, this.stopAbort.signal);
    }
  }

  private get leaseName(): string {
    return `${this.o.namespace}/${this.o.name}`;
  }

  /** (Re)arms the timer that ends leadership when no renewal succeeds within the renew deadline. */
  private armDeadman(): void {
    if (this.deadman) clearTimeout(this.deadman);
    this.deadman = setTimeout(() => {
      this.deadman = undefined;
      void this.stepDown('renew deadline passed');
    }, this.o.renewDeadlineMs);
  }

  private async stepDown(why: string): Promise<void> {
    if (this.deadman) {
      clearTimeout(this.deadman);
      this.deadman = undefined;
    }
    if (this.stopping) return this.stopping;
    if (!this.leading) return;
    this.leading = false;
    if (why === 'shutdown') this.o.log.info({ lease: this.leaseName }, 'Stopped leading (shutdown)');
    else this.o.log.warn({ lease: this.leaseName, why }, 'Stopped leading');
    this.stopping = (async () => {
      try {
        await this.o.onStoppedLeading();
      } catch (err) {
        this.o.log.error({ error: describeError(err) }, 'onStoppedLeading failed');
      }
    })().finally(() => {
      this.stopping = undefined;
    });
    return this.stopping;
  }

  private noteHolder(holder: string): void {
    if (holder !== this.lastHolder) {
      this.lastHolder = holder;
      this.o.onNewLeader?.(holder);
    }
  }

  private call<T>(what: string, p: Promise<T>): Promise<T> {
    return withTimeout(p, this.timeoutMs, `${what} lease ${this.leaseName} timed out after ${this.timeoutMs} ms`);
  }

  private newSpec(nowMs: number, old: Record | undefined): V1Lease['spec'] {
    const mine = old?.holder === this.o.identity;
    const now = new V1MicroTime(nowMs);
    return {
      holderIdentity: this.o.identity,
      leaseDurationSeconds: Math.max(1, Math.ceil(this.o.leaseDurationMs / 1000)),
      // An unchanged acquireTime is passed back as the server sent it (a string; see recordOf).
      acquireTime: mine && old.acquireTime ? (old.acquireTime as unknown as V1MicroTime) : now,
      renewTime: now,
      leaseTransitions: mine ? old.leaseTransitions : (old?.leaseTransitions ?? -1) + 1,
    };
  }

  /** One round of client-go's tryAcquireOrRenew; true when this replica holds the lease afterwards. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = Date.now();
    let lease: V1Lease;
    try {
      lease = await this.call('read', this.api.readNamespacedLease({ name: this.o.name, namespace: this.o.namespace }));
    } catch (err) {
      if (apiCode(err) !== 404) throw err;
      try {
        this.lastLease = await this.call(
          'create',
          this.api.createNamespacedLease({
            namespace: this.o.namespace,
            body: {
              apiVersion: 'coordination.k8s.io/v1',
              kind: 'Lease',
              metadata: { name: this.o.name, namespace: this.o.namespace },
              spec: this.newSpec(now, undefined),
            },
          }),
        );
      } catch (createErr) {
        if (apiCode(createErr) === 409) return false;
        throw createErr;
      }
      this.observed = recordOf(this.lastLease);
      this.observedAtMs = now;
      this.noteHolder(this.o.identity);
      return true;
    }
    const rec = recordOf(lease);
    if (!this.observed || !sameRecord(this.observed, rec)) {
      this.observed = rec;
      this.observedAtMs = now;
    }
    this.noteHolder(rec.holder);
    const durationMs = (rec.leaseDurationSeconds || Math.ceil(this.o.leaseDurationMs / 1000)) * 1000;
    if (rec.holder && rec.holder !== this.o.identity && this.observedAtMs + durationMs > now) {
      if (this.leading) void this.stepDown(`lease is held by ${rec.holder}`);
      return false;
    }
    const body: V1Lease = { ...lease, spec: { ...lease.spec, ...this.newSpec(now, rec) } };
    try {
      this.lastLease = await this.call(
        'update',
        this.api.replaceNamespacedLease({ name: this.o.name, namespace: this.o.namespace, body }),
      );
    } catch (err) {
      if (apiCode(err) === 409) return false;
      throw err;
    }
    this.observed = recordOf(this.lastLease);
    this.observedAtMs = now;
    this.noteHolder(this.o.identity);
    return true;
  }

  /** Gives the lease up if this replica holds it (client-go's ReleaseOnCancel). Best effort; never throws. */
  private async release(): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const lease =
          attempt === 0 && this.lastLease
            ? this.lastLease
            : await this.call('read', this.api.readNamespacedLease({ name: this.o.name, namespace: this.o.namespace }));
        if (lease.spec?.holderIdentity !== this.o.identity) return;
        const now = new V1MicroTime(Date.now());
        await this.call(
          'release',
          this.api.replaceNamespacedLease({
            name: this.o.name,
            namespace: this.o.namespace,
            body: {
              ...lease,
              spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now, acquireTime: now },
            },
          }),
        );
        this.o.log.info({ lease: this.leaseName }, 'Released the lease');
        return;
      } catch (err) {
        if (apiCode(err) !== 409) {
          this.o.log.warn({ lease: this.leaseName, error: describeError(err) }, 'Could not release the lease');
          return;
        }
      }
    }
  }
}

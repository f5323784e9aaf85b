/**
 * The retention benchmark's floor: a minimal controller, in the bench process, that does per deleted entry the
 * deletes and writes our service makes for a retained deletion, directly with client-node and `fs`, with no Temporal
 * and no re-reads. It learns of deletions through a watch (list + watch, the product's reflector), like our watcher.
 *
 * When it sees an entry's deletionTimestamp (not timed against the deadline, like ours): status Delete/Pending,
 * delete the shoot's `etcd-backup` secret, write the retention record onto the credentials secret and, in
 * `release-entry` mode (the product's default), release the entry's finalizer (the entry goes); then a plain timer until
 * the deadline (deletionTimestamp + retention, what the workflow computes). At the deadline: delete the entry's
 * backup files under `<bucket>/<entry>/` (one recursive `fs.rm`), then one patch of the credentials secret that
 * drops the record and our finalizer (and in `hold-entry` mode one patch of the entry that drops its finalizer). At
 * most `concurrency` entries are worked on at once (our worker's activity slots).
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CustomObjectsApi } from '@kubernetes/client-node';
import pino from 'pino';
import { ANNOTATION_RETENTION_RECORDS, SECRET_ETCD_BACKUP, withRetentionRecord } from '../../domain';
import { Reflector } from '../../adapters/kubernetes/list-watch';
import { G, RUN_LABEL, type BenchEntry, type Rig } from './live';

/** Per entry, by the bench's clock. */
export interface FloorEntryTimes {
  seenAt: number;
  registeredAt?: number;
  deadline: number;
  /** The files' deletion started (the deadline job got a slot). */
  deleteStartedAt?: number;
  /** The last write returned. */
  doneAt?: number;
}

interface Seen {
  name: string;
  cls?: string;
  uid?: string;
  deletionTimestamp?: string;
}

/** A bounded pool of async jobs, first in first out. */
class Pool {
  private active = 0;
  private readonly queue: Array<() => Promise<void>> = [];
  constructor(private readonly limit: number) {}
  push(job: () => Promise<void>): void {
    this.queue.push(job);
    this.pump();
  }
  private pump(): void {
    while (this.active < this.limit && this.queue.length) {
      const job = this.queue.shift()!;
      this.active += 1;
      void job().finally(() => {
        this.active -= 1;
        this.pump();
      });
    }
  }
}

/** The floor controller; {@link FloorRetention.stop} stops its watch (timers of entries not yet due are dropped). */
export class FloorRetention {
  readonly times = new Map<string, FloorEntryTimes>();
  readonly problems: string[] = [];
  private readonly reflector: Reflector<Seen>;
  private readonly pool: Pool;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly byName: Map<string, BenchEntry>;

  constructor(
    private readonly rig: Rig,
    private readonly o: {
      cls: string;
      bucket: string;
      retentionMs: number;
      concurrency: number;
      mode: 'release-entry' | 'hold-entry';
      entries: readonly BenchEntry[];
    },
  ) {
    this.pool = new Pool(o.concurrency);
    this.byName = new Map(o.entries.map((e) => [e.name, e]));
    const custom = rig.kc.makeApiClient(CustomObjectsApi);
    const selector = `${RUN_LABEL}=${rig.run}`;
    this.reflector = new Reflector<Seen>({
      name: 'bench-floor-backupentries',
      kubeConfig: rig.kc,
      path: `/apis/${G.group}/${G.version}/${G.plural}`,
      list: async ({ limit, continueToken }) =>
        (await custom.listClusterCustomObject({
          ...G,
          limit,
          labelSelector: selector,
          ...(continueToken ? { _continue: continueToken } : {}),
        })) as never,
      transform: (obj) => {
        const x = obj as {
          metadata?: { name?: string; uid?: string; deletionTimestamp?: string };
          spec?: { class?: string };
        };
        if (!x.metadata?.name || x.spec?.class !== o.cls) return undefined;
        return {
          name: x.metadata.name,
          cls: x.spec.class,
          uid: x.metadata.uid,
          deletionTimestamp: x.metadata.deletionTimestamp,
        };
      },
      keyOf: (e) => e.name,
      onSync: (current) => {
        for (const e of current.values()) this.see(e);
      },
      onEvent: (type, e) => {
        if (type !== 'DELETED') this.see(e);
      },
      idleTimeoutMs: 120_000,
      watchTimeoutMs: 300_000,
      log: pino({ level: 'silent' }),
    });
    this.reflector.start();
  }

  private see(e: Seen): void {
    const entry = this.byName.get(e.name);
    if (!entry || !e.deletionTimestamp || this.times.has(e.name)) return;
    const deletedAt = Date.parse(e.deletionTimestamp);
    const t: FloorEntryTimes = { seenAt: Date.now(), deadline: deletedAt + this.o.retentionMs };
    this.times.set(e.name, t);
    this.pool.push(() =>
      this.guard(e.name, async () => {
        await this.register(entry, e, t);
        t.registeredAt = Date.now();
      }),
    );
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        this.pool.push(() =>
          this.guard(e.name, async () => {
            t.deleteStartedAt = Date.now();
            await this.finish(entry);
            t.doneAt = Date.now();
          }),
        );
      },
      Math.max(0, t.deadline - Date.now()),
    );
    this.timers.add(timer);
  }

  private async guard(name: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if (this.problems.length < 10)
        this.problems.push(`floor ${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Deletion registered: Pending status, etcd-backup secret deleted, retention record written, entry released. */
  private async register(entry: BenchEntry, e: Seen, t: FloorEntryTimes): Promise<void> {
    const rig = this.rig;
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await rig.patchEntry(
      entry.name,
      {
        status: {
          lastOperation: {
            type: 'Delete',
            state: 'Pending',
            progress: 0,
            description: 'Retaining backups until the deadline',
            lastUpdateTime: now,
          },
        },
      },
      true,
    );
    await rig.core
      .deleteNamespacedSecret({ namespace: entry.namespace, name: SECRET_ETCD_BACKUP })
      .catch(ignoreNotFound);
    const record = withRetentionRecord(undefined, entry.name, {
      workflowId: `floor/${entry.name}`,
      uid: e.uid ?? '',
      type: 'local',
      bucketName: this.o.bucket,
      deletionTimestamp: e.deletionTimestamp!,
      deletionDeadline: new Date(t.deadline).toISOString(),
    });
    await rig.patchSecret('garden', `entry-${entry.name}`, {
      metadata: { annotations: { [ANNOTATION_RETENTION_RECORDS]: record } },
    });
    if (this.o.mode === 'release-entry')
      await rig.patchEntry(entry.name, { metadata: { finalizers: null } }).catch(ignoreNotFound);
  }

  /** At the deadline: the backup files, then the secret's record and finalizer (and the entry's in hold-entry mode). */
  private async finish(entry: BenchEntry): Promise<void> {
    await rm(join(this.rig.localRoot, this.o.bucket, entry.name), { recursive: true, force: true });
    await this.rig.patchSecret('garden', `entry-${entry.name}`, {
      metadata: { finalizers: null, annotations: { [ANNOTATION_RETENTION_RECORDS]: null } },
    });
    if (this.o.mode === 'hold-entry')
      await this.rig.patchEntry(entry.name, { metadata: { finalizers: null } }).catch(ignoreNotFound);
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await this.reflector.stop();
  }
}

function ignoreNotFound(e: { code?: number }): void {
  if (e.code !== 404) throw e;
}

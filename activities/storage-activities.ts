/**
 * Storage-side activities around the provider seam: count what an entry's prefix holds, and delete it with
 * heartbeated, resumable progress. The prefix comes from the entry name (domain `entryPrefix`) and is checked before
 * anything else happens; providers only ever see a validated prefix.
 */
import { Context } from '@temporalio/activity';
import { ClassifiedError, configurationProblem, entryPrefix, GardenerErrorCode } from '../domain';
import { toApplicationFailure } from './errors';
import type { ActivityMetricsSink, DeletionTracker } from './metrics';
import type {
  BucketSession,
  DeletionProgress,
  DeletionReceipt,
  Inventory,
  ObjectCount,
  SecretData,
  StorageProvider,
} from './storage-port';
import type { StorageActivities, StorageTarget } from './types';

/** One set of credentials for a bucket; `source` names where it came from (for errors; never the data). */
export interface StorageCredentials {
  secretData: SecretData;
  workloadIdentity?: boolean;
  source?: string;
}

/** The entry's storage and its credentials, with the ones to try next when these are refused. */
export interface StorageAccess extends StorageCredentials {
  type: string;
  bucketName: string;
  /** Tried in order when the credentials before them are refused (401/403). @default none */
  fallbacks?: StorageCredentials[];
}

/** The credentials were refused by the store (401/403): the next ones may work. */
const refused = (err: unknown): err is ClassifiedError =>
  err instanceof ClassifiedError &&
  (err.code === GardenerErrorCode.InfraUnauthenticated || err.code === GardenerErrorCode.InfraUnauthorized);

/** What the storage activities need. */
export interface StorageActivityDeps {
  /**
   * The entry's provider type, bucket and provider secret data, and whether that secret is a workload-identity one
   * (throws a ClassifiedError when unavailable).
   */
  readEntry(name: string, target?: StorageTarget): Promise<StorageAccess>;
  /**
   * The truth at the moment of deletion: throws a non-retryable ClassifiedError when a live entry owns the prefix or
   * the claim disagrees with the entry (domain/deletion-guard.ts). Called before the first DELETE and before each batch.
   * @default undefined (no check: unit tests of the deletion mechanics only; the worker always passes it)
   */
  verifyDeletionAllowed?(name: string, target?: StorageTarget): Promise<void>;
  /** Storage providers by `spec.type`. */
  providers: ReadonlyMap<string, StorageProvider>;
  /** Clock (epoch ms) for durations; default `Date.now`. */
  now?: () => number;
  /** `inventoryBackups` stops counting here and reports `truncated`. Default 100 000. */
  inventoryLimit?: number;
  /** Minimum time between two heartbeats of `deleteBackups`. Default 1000 ms. */
  heartbeatIntervalMs?: number;
  /** Receives deleted and locked object counts as deletion progresses (optional). */
  metrics?: ActivityMetricsSink;
}

/**
 * Heartbeat details of `deleteBackups`: the provider's progress (cursor + counts), when the first attempt started,
 * and what was under the prefix before deletion began, so a retried attempt resumes where the last heartbeat left
 * off, the receipt's duration spans attempts, and the receipt can account for what a crashed attempt deleted after
 * its last heartbeat (see `DeletionReceipt.uncountedAfterResume`).
 */
export interface DeletionHeartbeat extends DeletionProgress {
  startedAtMs: number;
  /** Set once the inventory before deletion is taken; absent in heartbeats of older versions. */
  inventoried?: ObjectCount;
}

const COUNT_KEYS = ['deletedObjects', 'deletedBytes', 'lockedObjects', 'rewrittenObjects', 'listedObjects'] as const;

/**
 * Reads heartbeat details of an earlier attempt; anything malformed counts as "no earlier attempt", except a
 * malformed `inventoried`, which only counts as "no inventory".
 */
export function parseDeletionHeartbeat(details: unknown): DeletionHeartbeat | undefined {
  if (typeof details !== 'object' || details === null) return undefined;
  const d = details as Record<string, unknown>;
  const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  if (!isCount(d.startedAtMs) || !COUNT_KEYS.every((k) => isCount(d[k]))) return undefined;
  if (d.cursor !== undefined && d.cursor !== null && typeof d.cursor !== 'string') return undefined;
  const hb: DeletionHeartbeat = {
    startedAtMs: d.startedAtMs,
    deletedObjects: d.deletedObjects as number,
    deletedBytes: d.deletedBytes as number,
    lockedObjects: d.lockedObjects as number,
    rewrittenObjects: d.rewrittenObjects as number,
    listedObjects: d.listedObjects as number,
  };
  if (typeof d.cursor === 'string') hb.cursor = d.cursor;
  const inv = d.inventoried as Record<string, unknown> | null | undefined;
  if (typeof inv === 'object' && inv !== null && isCount(inv.objects) && isCount(inv.bytes)) {
    hb.inventoried = { objects: inv.objects, bytes: inv.bytes };
  }
  return hb;
}

/** The entry's validated prefix, or a ClassifiedError (non-retryable configuration problem). */
function prefixOf(name: string): string {
  const prefix = entryPrefix(name);
  if (!prefix.ok) throw configurationProblem(prefix.error.reason, prefix.error.message);
  return prefix.value;
}

/**
 * Creates `inventoryBackups` and `deleteBackups` (contracts in {@link StorageActivities}). Both validate the entry's
 * prefix before reading the entry or calling a provider; an unknown `spec.type` or an empty bucket name is a
 * non-retryable configuration error. Every error leaves as an ApplicationFailure built by `toApplicationFailure`
 * (Gardener code as type); a cancellation leaves as the SDK's CancelledFailure. `deleteBackups` resumes from the
 * previous attempt's heartbeat, heartbeats at most once per `heartbeatIntervalMs` (plus a trailing beat), passes the
 * activity's cancellation signal to the provider, and ends with a check (one listing pass, heartbeating as it goes)
 * that only locked or rewritten objects remain (otherwise it fails retryably and resets the cursor, so the next
 * attempt re-lists the whole prefix). Before it deletes anything, an attempt without an inventory in its heartbeat
 * details counts the prefix (one listing pass, heartbeating as it goes) and carries the count in every later
 * heartbeat; a resumed attempt uses it to add what an earlier attempt deleted after its last heartbeat to the
 * receipt (`DeletionReceipt.uncountedAfterResume`).
 */
export function createStorageActivities(deps: StorageActivityDeps): StorageActivities {
  const now = deps.now ?? Date.now;
  const inventoryLimit = deps.inventoryLimit ?? 100_000;
  const heartbeatIntervalMs = deps.heartbeatIntervalMs ?? 1000;

  /**
   * Runs `use` on a session opened with the entry's credentials. Credentials the store refuses (401/403) give way to
   * the next ones (`fallbacks`: during a retention, the pinned copies after the bucket's current secret); when every
   * one is refused, the error names each source and why (`NoUsableCredentials`, the last refusal's code).
   */
  async function withSession<T>(
    name: string,
    target: StorageTarget | undefined,
    use: (session: BucketSession, type: string) => Promise<T>,
  ): Promise<T> {
    const entry = await deps.readEntry(name, target);
    const provider = deps.providers.get(entry.type);
    if (!provider) {
      const known = [...deps.providers.keys()].map((t) => `"${t}"`).join(', ');
      throw configurationProblem(
        'UnsupportedType',
        `storage type ${JSON.stringify(entry.type)} is not served by this controller (known: ${known || 'none'})`,
      );
    }
    if (!entry.bucketName) throw configurationProblem('MissingBucketName', 'the BackupEntry has no spec.bucketName');
    const all: StorageCredentials[] = [entry, ...(entry.fallbacks ?? [])];
    const refusals: string[] = [];
    for (const [i, creds] of all.entries()) {
      let session: BucketSession | undefined;
      try {
        session = await provider.open(entry.bucketName, creds.secretData, {
          workloadIdentity: creds.workloadIdentity === true,
        });
        return await use(session, entry.type);
      } catch (err) {
        if (!refused(err) || all.length === 1) throw err;
        refusals.push(`${creds.source ?? `credentials ${i + 1}`}: ${err.message}`);
        if (i === all.length - 1) {
          throw new ClassifiedError(
            `every credential for bucket ${entry.bucketName} was refused (${refusals.join('; ')})`,
            err.code,
            'NoUsableCredentials',
          );
        }
      } finally {
        await session?.close();
      }
    }
    throw new Error('unreachable: withSession tried no credentials');
  }

  /** Rethrows cancellation as is (the SDK reports it as cancelled); converts anything else. */
  function failure(err: unknown, context: string): unknown {
    const signal = Context.current().cancellationSignal;
    if (signal.aborted) return signal.reason ?? err;
    return toApplicationFailure(err, context);
  }

  return {
    async inventoryBackups(name: string, target?: StorageTarget): Promise<Inventory> {
      const context = `counting backups of ${name}`;
      try {
        const prefix = prefixOf(name);
        return await withSession(name, target, (session) =>
          session.inventory(prefix, { signal: Context.current().cancellationSignal, limit: inventoryLimit }),
        );
      } catch (err) {
        throw failure(err, context);
      }
    },

    async deleteBackups(name: string, target?: StorageTarget): Promise<DeletionReceipt> {
      const context = `deleting backups of ${name}`;
      const ctx = Context.current();
      const beat = new ThrottledHeartbeat(ctx, heartbeatIntervalMs);
      let tracker: DeletionTracker | undefined; // deletions in flight and their progress, for the worker's metrics
      try {
        const prefix = prefixOf(name);
        const verify = async (): Promise<void> => deps.verifyDeletionAllowed?.(name, target);
        await verify(); // before anything is opened, counted or deleted
        const resume = parseDeletionHeartbeat(ctx.info.heartbeatDetails);
        const startedAtMs = resume?.startedAtMs ?? now();
        return await withSession(name, target, async (session, type) => {
          tracker ??= deps.metrics?.deletionStarted?.(type);
          // Metrics get what this attempt deleted: the deltas since the progress it resumed from.
          let counted: DeletionProgress = resume ?? zeroProgress();
          const count = (p: DeletionProgress): void => {
            const sink = deps.metrics;
            if (!sink) return;
            const objects = p.deletedObjects - counted.deletedObjects;
            const bytes = p.deletedBytes - counted.deletedBytes;
            const locked = p.lockedObjects - counted.lockedObjects;
            if (objects > 0 || bytes > 0) sink.deleted(type, Math.max(0, objects), Math.max(0, bytes));
            if (locked > 0) sink.locked(type, locked);
            counted = p;
          };
          {
            const signal = ctx.cancellationSignal;
            let inventoried = resume?.inventoried;
            const toDetails = (p: DeletionProgress): DeletionHeartbeat => ({
              ...p,
              startedAtMs,
              ...(inventoried ? { inventoried } : {}),
            });
            const track = (p: DeletionProgress): void =>
              tracker?.progress({
                ...(inventoried ? { inventoried: inventoried.objects } : {}),
                listed: p.listedObjects,
                deleted: p.deletedObjects,
                locked: p.lockedObjects,
                rewritten: p.rewrittenObjects,
              });
            track(resume ?? zeroProgress());
            if (!resume) beat.now(toDetails(zeroProgress())); // record the start time right away
            if (!inventoried) {
              // Before this attempt deletes anything: the baseline a resumed attempt checks its counts against.
              const before = resume ?? zeroProgress();
              const inv = await session.inventory(prefix, {
                signal,
                onProgress: () => {
                  tracker?.progress({ listing: true });
                  beat.maybe(toDetails(before));
                },
              });
              inventoried = { objects: inv.objects, bytes: inv.bytes };
              track(before);
              beat.now(toDetails(before));
            }
            const progress = await session.deletePrefix(prefix, {
              signal,
              ...(resume ? { resume } : {}),
              beforeBatch: verify,
              onProgress: (p) => {
                count(p);
                track(p);
                beat.maybe(toDetails(p));
              },
            });
            count(progress);
            track(progress);
            beat.now(toDetails(progress));
            // The final check lists the whole prefix again: heartbeat as it goes (a quiet listing of a large prefix
            // would otherwise outlast the heartbeat timeout), with the finished progress (a retry resumes at its end).
            const rest = await session.remaining(prefix, {
              signal,
              onProgress: () => {
                tracker?.progress({ listing: true });
                beat.maybe(toDetails(progress));
              },
            });
            const unexpected = rest.objects - rest.locked - progress.rewrittenObjects;
            if (unexpected > 0) {
              const { cursor: _done, ...counts } = progress;
              beat.now(toDetails(counts)); // no cursor: the next attempt lists the prefix from the start
              throw new ClassifiedError(
                `${unexpected} object(s) are still under prefix "${prefix}" after deletion ` +
                  '(written while deleting?); the next attempt deletes them',
                GardenerErrorCode.RetryableInfraDependencies,
                'PrefixNotEmpty',
              );
            }
            // A resumed attempt never saw what earlier attempts deleted after their last heartbeat reached the server.
            const uncounted = resume ? uncountedAfterResume(inventoried, rest, progress) : undefined;
            const deletedObjects = progress.deletedObjects + (uncounted?.objects ?? 0);
            const deletedBytes = progress.deletedBytes + (uncounted?.bytes ?? 0);
            const durationMs = Math.max(0, now() - startedAtMs);
            const objectsPerSecond =
              durationMs > 0 ? Math.round((deletedObjects / (durationMs / 1000)) * 10) / 10 : deletedObjects;
            return {
              ...progress,
              deletedObjects,
              deletedBytes,
              durationMs,
              objectsPerSecond,
              remainingObjects: rest.objects,
              inventoried,
              ...(uncounted ? { uncountedAfterResume: uncounted } : {}),
            };
          }
        });
      } catch (err) {
        beat.flush(); // the latest progress, for the next attempt
        throw failure(err, context);
      } finally {
        beat.stop();
        tracker?.end();
      }
    },
  };
}

/**
 * What left the prefix since the inventory (`inventoried − remaining`, a lower bound: objects written meanwhile only
 * lower it) beyond what was counted one by one, per field and never below 0.
 */
export function uncountedAfterResume(
  inventoried: ObjectCount,
  remaining: ObjectCount,
  counted: DeletionProgress,
): ObjectCount {
  return {
    objects: Math.max(0, inventoried.objects - remaining.objects - counted.deletedObjects),
    bytes: Math.max(0, inventoried.bytes - remaining.bytes - counted.deletedBytes),
  };
}

function zeroProgress(): DeletionProgress {
  return { deletedObjects: 0, deletedBytes: 0, lockedObjects: 0, rewrittenObjects: 0, listedObjects: 0 };
}

/**
 * Heartbeats at most once per interval, with a trailing beat so the last progress before a quiet spell is sent too.
 * (The SDK throttles as well, but only to its heartbeat-timeout-derived rate; this keeps details traffic low.)
 */
class ThrottledHeartbeat {
  private last = Number.NEGATIVE_INFINITY;
  private pending: DeletionHeartbeat | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: Context,
    private readonly intervalMs: number,
  ) {}

  /** Heartbeats now. */
  now(details: DeletionHeartbeat): void {
    this.clear();
    this.last = Date.now();
    this.ctx.heartbeat(details);
  }

  /** Sends a scheduled trailing beat right away, if there is one. */
  flush(): void {
    if (this.pending) this.now(this.pending);
  }

  /** Heartbeats if the interval has passed, otherwise schedules a trailing beat with the latest details. */
  maybe(details: DeletionHeartbeat): void {
    const wait = this.last + this.intervalMs - Date.now();
    if (wait <= 0) {
      this.now(details);
      return;
    }
    this.pending = details;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      const d = this.pending;
      this.pending = undefined;
      if (d) this.now(d);
    }, wait);
    this.timer.unref();
  }

  /** Drops a scheduled trailing beat (the activity is over). */
  stop(): void {
    this.clear();
  }

  private clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }
}

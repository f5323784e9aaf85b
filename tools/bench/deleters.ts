/**
 * The prefix deleters the deletion benchmark compares, each given the same bucket contents:
 * - `ours`: the product's `deleteBackups` activity as the worker runs it — the storage activities
 *   (`createStorageActivities`, activities/storage-activities.ts) over the worker's own providers (`createProviders`
 *   from worker/main.ts, configured through `loadConfig` with the benchmark's endpoint and write cap) and the worker's
 *   metrics sink, executed by the SDK's activity wrapper (`MockActivityEnvironment` wraps the worker's `Activity`
 *   class: context, heartbeats, cancellation signal). Its listings are included: the inventory before deleting, the
 *   paged deletion, the final check. Not included: the entry and secret read through Kubernetes (a stub returns the
 *   bucket and credentials) and the heartbeat's trip to the server;
 * - `deletePrefix` (only on request, `--deleters`): the `gcp` provider's `deletePrefix` alone
 *   (adapters/storage/gcs-provider.ts), with the same cap: the deletion without the activity's two extra listings;
 * - `deleteFiles`: `@google-cloud/storage`'s `bucket.deleteFiles({ prefix })`, as a Node developer would call it;
 * - `gardener`: Gardener provider-gcp's algorithm (`DeleteObjectsWithPrefix`, docs/object-stores.md §4),
 *   re-created here for the benchmark only: list every object under the prefix into memory, then delete with 10
 *   requests in flight, errgroup-style (the first real error stops new deletes and is returned after the in-flight
 *   ones end), a 404 counting as done, no retries (plain deletes carry no precondition).
 */
import { Storage, type File } from '@google-cloud/storage';
import type { SecretData } from '../../activities/storage-port';
import type * as DeleterActivity from './deleter-activity';
import { createGcsProvider } from '../../adapters/storage/gcs-provider';

/** Names of the compared deleters, in the order they run by default. */
export const DELETERS = ['ours', 'deleteFiles', 'gardener'] as const;

/** Deleters run only when asked for with `--deleters`. */
export const EXTRA_DELETERS = ['deletePrefix'] as const;

/** One of {@link DELETERS} or {@link EXTRA_DELETERS}. */
export type DeleterName = (typeof DELETERS)[number] | (typeof EXTRA_DELETERS)[number];

/** What a deleter is asked to do. */
export interface DeletionJob {
  deleter: DeleterName;
  /** JSON API endpoint (`http://127.0.0.1:PORT`) of fake-gcs-server or the stand-in. */
  endpoint: string;
  bucket: string;
  /** `<entry name>/`. */
  prefix: string;
  /** Per-bucket write cap our deleter is configured with (writes per second). */
  capPerSecond: number;
}

/** A service-account key that passes the provider's checks; never used, as custom endpoints send no credentials. */
export const BENCH_CREDENTIALS: SecretData = {
  'serviceaccount.json': Buffer.from(
    JSON.stringify({
      type: 'service_account',
      project_id: 'bench',
      client_email: 'bench@bench.iam.gserviceaccount.com',
      private_key_id: 'bench',
      private_key: '-----BEGIN PRIVATE KEY-----\nnot-a-real-key\n-----END PRIVATE KEY-----\n',
      token_uri: 'https://oauth2.googleapis.com/token',
    }),
  ),
};

const GARDENER_CONCURRENCY = 10;

function httpStatus(err: unknown): number | undefined {
  const c = (err as { code?: unknown } | undefined)?.code;
  return typeof c === 'number' ? c : undefined;
}

/** Gardener's algorithm (see the module comment): all names in memory, then 10 plain deletes in flight, fail-fast. */
async function gardenerDeleteObjectsWithPrefix(storage: Storage, bucketName: string, prefix: string): Promise<number> {
  const bucket = storage.bucket(bucketName);
  // Like Go's iterator drained into a slice: every listed object (with its metadata) is held until the end.
  const [files]: [File[], ...unknown[]] = await bucket.getFiles({ prefix });
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!failure && next < files.length) {
      const file = files[next++]!;
      try {
        await file.delete();
      } catch (err) {
        if (httpStatus(err) !== 404) failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: GARDENER_CONCURRENCY }, worker));
  if (failure) throw failure.err;
  return files.length;
}

/**
 * Runs one deleter on `job.prefix` and returns how many objects it reports deleted (`undefined` when the deleter does
 * not say: `deleteFiles`). Each call builds its own `Storage` client, as the library toggles retry settings on it.
 */
export async function runDeleter(job: DeletionJob): Promise<number | undefined> {
  switch (job.deleter) {
    case 'ours':
      return (await prepareDeleter(job))();
    case 'deletePrefix': {
      const session = createGcsProvider({ apiEndpoint: job.endpoint, maxWritesPerSecond: job.capPerSecond }).open(
        job.bucket,
        BENCH_CREDENTIALS,
      );
      try {
        const done = await session.deletePrefix(job.prefix, {
          signal: new AbortController().signal,
          onProgress: () => undefined,
        });
        return done.deletedObjects;
      } finally {
        await session.close();
      }
    }
    case 'deleteFiles':
      await new Storage({ apiEndpoint: job.endpoint, projectId: 'bench' })
        .bucket(job.bucket)
        .deleteFiles({ prefix: job.prefix });
      return undefined;
    case 'gardener':
      return gardenerDeleteObjectsWithPrefix(
        new Storage({ apiEndpoint: job.endpoint, projectId: 'bench' }),
        job.bucket,
        job.prefix,
      );
    default: {
      const never: never = job.deleter;
      throw new Error(`unknown deleter ${String(never)}`);
    }
  }
}

type DeleterActivityModule = typeof DeleterActivity;

/**
 * Everything a deleter needs before it starts, loaded and built; the returned function runs the deletion alone (the
 * benchmark times only that). For `ours` this loads the worker's modules (the SDK's native bridge among them) and
 * builds the activity; only `ours` loads them, so they do not weigh on the other deleters' RSS.
 */
export async function prepareDeleter(job: DeletionJob): Promise<() => Promise<number | undefined>> {
  if (job.deleter !== 'ours') return () => runDeleter(job);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { prepareDeleteBackupsActivity } = require('./deleter-activity') as DeleterActivityModule;
  return prepareDeleteBackupsActivity(job);
}

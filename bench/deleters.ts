/**
 * The prefix deleters the deletion benchmark compares, each given the same bucket contents:
 * - `ours`: the `gcp` provider's `deletePrefix` (adapters/storage/gcs-provider.ts) with its default settings and the
 *   per-bucket write cap the benchmark runs with;
 * - `deleteFiles`: `@google-cloud/storage`'s `bucket.deleteFiles({ prefix })`, as a Node developer would call it;
 * - `gardener`: Gardener provider-gcp's algorithm (`DeleteObjectsWithPrefix`, research note object-store §4),
 *   re-created here for the benchmark only: list every object under the prefix into memory, then delete with 10
 *   requests in flight, errgroup-style (the first real error stops new deletes and is returned after the in-flight
 *   ones end), a 404 counting as done, no retries (plain deletes carry no precondition).
 */
import { Storage, type File } from '@google-cloud/storage';
import type { SecretData } from '../activities/storage-port';
import { createGcsProvider } from '../adapters/storage/gcs-provider';

/** Names of the compared deleters, in the order they run. */
export const DELETERS = ['ours', 'deleteFiles', 'gardener'] as const;

/** One of {@link DELETERS}. */
export type DeleterName = (typeof DELETERS)[number];

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
const BENCH_CREDENTIALS: SecretData = {
  'serviceaccount.json': Buffer.from(JSON.stringify({ type: 'service_account', project_id: 'bench',
    client_email: 'bench@bench.iam.gserviceaccount.com', private_key_id: 'bench',
    private_key: '-----BEGIN PRIVATE KEY-----\nnot-a-real-key\n-----END PRIVATE KEY-----\n',
    token_uri: 'https://oauth2.googleapis.com/token' })),
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
    case 'ours': {
      const session = createGcsProvider({ apiEndpoint: job.endpoint, maxWritesPerSecond: job.capPerSecond })
        .open(job.bucket, BENCH_CREDENTIALS);
      try {
        const done = await session.deletePrefix(job.prefix, { signal: new AbortController().signal,
          onProgress: () => undefined });
        return done.deletedObjects;
      } finally {
        await session.close();
      }
    }
    case 'deleteFiles':
      await new Storage({ apiEndpoint: job.endpoint, projectId: 'bench' }).bucket(job.bucket)
        .deleteFiles({ prefix: job.prefix });
      return undefined;
    case 'gardener':
      return gardenerDeleteObjectsWithPrefix(new Storage({ apiEndpoint: job.endpoint, projectId: 'bench' }), job.bucket,
        job.prefix);
    default: {
      const never: never = job.deleter;
      throw new Error(`unknown deleter ${String(never)}`);
    }
  }
}

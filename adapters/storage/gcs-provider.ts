/**
 * The `gcp` storage provider: Google Cloud Storage through `@google-cloud/storage`, with a deletion loop of our own.
 *
 * Why not `bucket.deleteFiles({ prefix })` (docs/object-stores.md §1): it keeps 10 plain deletes in flight
 * with a drain barrier every 1 000 files, never retries (no preconditions), reports no progress, and rejects while
 * queued deletes keep running. Here: pages of ≤1 000 names listed with `versions: true` (noncurrent generations go
 * too), the next page fetched while the current one deletes, each generation deleted with
 * `generation` + `ifGenerationMatch` (a retry can never remove a newer write), an AIMD window capped by a per-bucket
 * token bucket, outcomes counted per object, and a resume cursor.
 */
import { Storage, type Bucket, type GetFilesResponse, type StorageOptions } from '@google-cloud/storage';
import type {
  BucketSession,
  DeletePrefixOptions,
  DeletionProgress,
  EtcdSecretUse,
  Inventory,
  ObjectCount,
  SecretData,
  SecretUse,
  StorageProvider,
} from '../../activities/storage-port';
import {
  backoffDelay,
  type BackoffPolicy,
  ClassifiedError,
  DATA_KEY_SERVICE_ACCOUNT_JSON,
  GardenerErrorCode,
  redact,
} from '../../domain';
import {
  DEFAULT_GCP_IAM_CREDENTIALS_ENDPOINT,
  DEFAULT_GCP_STS_ENDPOINT,
  parseWorkloadIdentityConfig,
  subjectTokenOf,
  workloadIdentityAuthClient,
  workloadIdentityEtcdSecretData,
} from './gcp-workload-identity';
import {
  assertUsablePrefix,
  CursorTracker,
  isFlatKeyInPrefix,
  outsidePrefixError,
  quote,
  startProgress,
} from './prefix-guard';
import { sleep } from '../abortable-sleep';
import { AimdLimiter, TokenBucket } from './rate-control';

/** Options of {@link createGcsProvider}. */
export interface GcsProviderOptions {
  /**
   * JSON API endpoint of an emulator (`http://127.0.0.1:PORT`); requests with a service-account key then carry no
   * credentials, requests with workload identity still carry the exchanged token.
   * @default undefined (the Cloud Storage API itself)
   */
  apiEndpoint?: string;
  /**
   * Token exchange (STS) endpoint for workload-identity secrets.
   * @default {@link DEFAULT_GCP_STS_ENDPOINT} (`https://sts.googleapis.com/v1/token`)
   */
  stsEndpoint?: string;
  /**
   * Base URL of the IAM Service Account Credentials API, for workload-identity configs that impersonate a service
   * account.
   * @default {@link DEFAULT_GCP_IAM_CREDENTIALS_ENDPOINT} (`https://iamcredentials.googleapis.com`)
   */
  iamCredentialsEndpoint?: string;
  /**
   * Per-bucket cap on object writes (deletes, metadata updates) per second, shared by all sessions.
   * @default 1000
   */
  maxWritesPerSecond?: number;
  /**
   * Upper bound of the adaptive number of names being deleted at once.
   * @default 64
   */
  maxConcurrency?: number;
  /**
   * Names per list page, 1..1000.
   * @default 1000
   */
  pageSize?: number;
  /**
   * Per-request timeout in milliseconds.
   * @default 60_000
   */
  requestTimeoutMs?: number;
  /**
   * Attempts per request for transient failures (408/429/5xx/connection errors).
   * @default 6
   */
  maxAttempts?: number;
  /**
   * Clock (customTime stamps, lock checks), for tests.
   * @default Date.now
   */
  now?: () => number;
  /**
   * Called for every 429/503 answer (the request is retried); the worker counts them
   * (`bel_worker_storage_throttled_total`).
   * @default a no-op
   */
  onThrottled?: (status: number) => void;
}

/** Fields of a service-account key file we need; all must be non-empty strings. */
const REQUIRED_SA_FIELDS = [
  'type',
  'project_id',
  'client_email',
  'private_key_id',
  'private_key',
  'token_uri',
] as const;

/** The parsed service-account key (only ever held in memory, never logged). */
export interface ServiceAccount {
  type: 'service_account';
  project_id: string;
  client_email: string;
  private_key_id: string;
  private_key: string;
  token_uri: string;
  [k: string]: unknown;
}

const configProblem = (reason: string, message: string): ClassifiedError =>
  new ClassifiedError(message, GardenerErrorCode.ConfigurationProblem, reason);

/**
 * Reads and checks the `serviceaccount.json` key of a provider secret. Throws a non-retryable ClassifiedError
 * (ERR_CONFIGURATION_PROBLEM) naming the missing key or field, or saying the JSON is malformed; messages never
 * contain any part of the secret's content.
 */
export function parseServiceAccount(data: SecretData): ServiceAccount {
  const raw = data[DATA_KEY_SERVICE_ACCOUNT_JSON];
  if (!raw || raw.length === 0) {
    throw configProblem(
      'MissingServiceAccount',
      `the provider secret has no "${DATA_KEY_SERVICE_ACCOUNT_JSON}" key (a GCP service-account key file is required)`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    throw configProblem(
      'InvalidServiceAccount',
      `the "${DATA_KEY_SERVICE_ACCOUNT_JSON}" key of the provider secret is not valid JSON`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw configProblem(
      'InvalidServiceAccount',
      `the "${DATA_KEY_SERVICE_ACCOUNT_JSON}" key of the provider secret is not a JSON object`,
    );
  }
  const obj = parsed as Record<string, unknown>;
  for (const field of REQUIRED_SA_FIELDS) {
    const v = obj[field];
    if (typeof v !== 'string' || v.length === 0) {
      throw configProblem(
        'InvalidServiceAccount',
        `the service account in "${DATA_KEY_SERVICE_ACCOUNT_JSON}" lacks ` +
          `the field "${field}" (or it is not a non-empty string)`,
      );
    }
  }
  if (obj.type !== 'service_account') {
    throw configProblem(
      'InvalidServiceAccount',
      `the field "type" of "${DATA_KEY_SERVICE_ACCOUNT_JSON}" must be "service_account"`,
    );
  }
  return obj as ServiceAccount;
}

/**
 * Creates the `gcp` provider. Contract, beyond {@link StorageProvider}:
 * - `etcdSecretExtras` validates the service account and adds nothing; `open` validates it too and builds a
 *   `Storage` client of its own per session (the library toggles retry settings on its instance while deleting).
 *   With `apiEndpoint` the client sends no credentials (the library skips auth for custom endpoints).
 * - Workload identity (the secret is labelled as one, see gcp-workload-identity.ts): `etcdSecretExtras` checks
 *   `config` and adds provider-gcp's `projectID`, `credentialsConfig` and `serviceaccount.json`; `open` exchanges
 *   the secret's `token` at `stsEndpoint` (and impersonates, if configured, at `iamCredentialsEndpoint`) and sends
 *   the resulting bearer token, also to an `apiEndpoint`. No `token` yet, or an expired one: retryable
 *   ERR_RETRYABLE_CONFIGURATION_PROBLEM ("waiting for the token requestor").
 * - Missing bucket: non-retryable ERR_CONFIGURATION_PROBLEM. Gardener's provider-gcp returns the listing error and
 *   requeues, i.e. retries forever; a wrong `bucketName` does not fix itself, and treating it as "nothing to delete"
 *   would report a successful purge while the data may well exist elsewhere, so we stop with a clear message.
 * - HTTP 401 → ERR_INFRA_UNAUTHENTICATED, 403 (other than retention/hold) → ERR_INFRA_UNAUTHORIZED, both
 *   non-retryable. 429/5xx/connection errors are retried per request with backoff, then surface as retryable.
 * - Per object: 404 = already gone (counted as deleted); 412 = rewritten after listing (counted, left alone);
 *   403 retention/hold, or a hold/retention visible in the listing = locked: `customTime` is stamped (if unset) so
 *   the bucket's `daysSinceCustomTime` lifecycle rule reaps it later, as Gardener does.
 * - Every listed name is checked with `isFlatKeyInPrefix` before deletion: GCS names are flat strings, so a name is
 *   the entry's iff it starts with the prefix, `..` and `.` segments included (such names are deleted like any
 *   other; refusing them would stop the cleanup for good). A name outside the prefix is never deleted and fails
 *   the run (non-retryable, reason `ListingOutsidePrefix`).
 */
export function createGcsProvider(opts: GcsProviderOptions = {}): StorageProvider {
  const cfg = {
    maxWritesPerSecond: opts.maxWritesPerSecond ?? 1000,
    maxConcurrency: Math.max(1, opts.maxConcurrency ?? 64),
    pageSize: Math.min(1000, Math.max(1, Math.floor(opts.pageSize ?? 1000))),
    requestTimeoutMs: opts.requestTimeoutMs ?? 60_000,
    maxAttempts: Math.max(1, opts.maxAttempts ?? 6),
    now: opts.now ?? Date.now,
    onThrottled: opts.onThrottled ?? ((): void => undefined),
  };
  const rates = new Map<string, TokenBucket>();
  const rateFor = (bucket: string): TokenBucket => {
    let r = rates.get(bucket);
    if (!r) rates.set(bucket, (r = new TokenBucket(cfg.maxWritesPerSecond)));
    return r;
  };
  return {
    type: 'gcp',
    etcdSecretExtras(data: SecretData, use?: EtcdSecretUse): Record<string, Buffer> {
      if (use?.workloadIdentity) return workloadIdentityEtcdSecretData(parseWorkloadIdentityConfig(data), use.source);
      parseServiceAccount(data);
      return {};
    },
    open(bucket: string, data: SecretData, use?: SecretUse): BucketSession {
      if (use?.workloadIdentity) {
        const wi = parseWorkloadIdentityConfig(data);
        const token = subjectTokenOf(data, cfg.now);
        if (bucket.length === 0) throw configProblem('InvalidBucketName', 'bucket name is empty');
        const authClient = workloadIdentityAuthClient(wi, token, {
          sts: opts.stsEndpoint ?? DEFAULT_GCP_STS_ENDPOINT,
          iamCredentials: opts.iamCredentialsEndpoint ?? DEFAULT_GCP_IAM_CREDENTIALS_ENDPOINT,
          now: cfg.now,
        });
        const storageOpts: StorageOptions = {
          projectId: wi.projectId,
          retryOptions: { autoRetry: false, maxRetries: 0 },
          timeout: cfg.requestTimeoutMs,
          authClient,
          useAuthWithCustomEndpoint: true,
        };
        if (opts.apiEndpoint) storageOpts.apiEndpoint = opts.apiEndpoint;
        return new GcsBucketSession(new Storage(storageOpts), bucket, cfg, rateFor(bucket));
      }
      const sa = parseServiceAccount(data);
      if (bucket.length === 0) throw configProblem('InvalidBucketName', 'bucket name is empty');
      const storageOpts: StorageOptions = {
        projectId: sa.project_id,
        // Our own retry loop (abortable, feeds the AIMD window); the library's would sleep through cancellation.
        retryOptions: { autoRetry: false, maxRetries: 0 },
        timeout: cfg.requestTimeoutMs,
      };
      if (opts.apiEndpoint) storageOpts.apiEndpoint = opts.apiEndpoint;
      else storageOpts.credentials = sa;
      return new GcsBucketSession(new Storage(storageOpts), bucket, cfg, rateFor(bucket));
    },
  };
}

type Cfg = Required<Omit<GcsProviderOptions, 'apiEndpoint' | 'stsEndpoint' | 'iamCredentialsEndpoint'>>;

/** The listing fields we read (`fields` trims responses; `nextPageToken` must be named when paginating by hand). */
const LIST_FIELDS =
  'items(name,generation,size,timeDeleted,customTime,temporaryHold,eventBasedHold,' +
  'retentionExpirationTime,retention),nextPageToken';

/** An object generation as listed (`fields` makes the library return plain JSON, not `File`s). */
interface RawObject {
  name?: string;
  generation?: string | number;
  size?: string | number;
  timeDeleted?: string;
  customTime?: string;
  temporaryHold?: boolean;
  eventBasedHold?: boolean;
  retentionExpirationTime?: string;
  retention?: { retainUntilTime?: string };
}

interface Version {
  generation: string;
  size: number;
  customTime?: string;
  /** Under a hold or an unexpired retention period, per the listing. */
  locked: boolean;
}

/** All listed generations of one name: the unit of deletion and of the cursor. */
interface NameGroup {
  name: string;
  versions: Version[];
}

interface ListQuery {
  prefix: string;
  versions: true;
  autoPaginate: false;
  maxResults: number;
  fields: string;
  startOffset?: string;
  pageToken?: string;
}

/** Orders names as GCS does (UTF-8 bytes), not as JS does (UTF-16 code units). */
function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

interface ApiErrorLike {
  code?: unknown;
  message?: unknown;
  errors?: Array<{ reason?: string; message?: string }>;
}

function httpStatus(err: unknown): number | undefined {
  const c = (err as ApiErrorLike | undefined)?.code;
  return typeof c === 'number' ? c : undefined;
}

const TRANSIENT_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const TRANSIENT_NET =
  /ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|EAI_AGAIN|ECONNABORTED|socket hang up|network timeout|timed out|unexpected connection closure/i;
/** Per-request retry delay before the jitter: 200 ms doubling to at most 10 s (docs/adr/0006-one-retry-story.md). */
const REQUEST_BACKOFF: BackoffPolicy = { initialMs: 200, maxMs: 10_000 };

function isTransient(err: unknown): boolean {
  const status = httpStatus(err);
  if (status !== undefined) return TRANSIENT_STATUS.has(status);
  const e = err as ApiErrorLike | undefined;
  return TRANSIENT_NET.test(`${String(e?.code ?? '')} ${String(e?.message ?? '')}`);
}

function isRetentionOrHold(err: unknown): boolean {
  if (httpStatus(err) !== 403) return false;
  const e = err as ApiErrorLike;
  if (e.errors?.some((x) => x.reason === 'retentionPolicyNotMet' || x.reason === 'objectUnderActiveHold')) return true;
  return /retention policy|retentionPolicyNotMet|under active hold|objectUnderActiveHold|event-based hold|temporary hold/i.test(
    String(e.message ?? ''),
  );
}

/** A short, redacted description of a library error for our messages. */
function describe(err: unknown): string {
  const status = httpStatus(err);
  const text = redact(String((err as ApiErrorLike | undefined)?.message ?? err)).slice(0, 300);
  return status !== undefined ? `HTTP ${status}: ${text}` : text;
}

/**
 * Maps access errors to ClassifiedErrors (401/403 non-retryable, 429 after our retries retryable); returns
 * `undefined` for anything else (the activity classifies those by message and keeps them retryable).
 */
function accessError(err: unknown, what: string): ClassifiedError | undefined {
  const status = httpStatus(err);
  if (status === 401) {
    return new ClassifiedError(
      `${what}: the service account was not accepted (${describe(err)})`,
      GardenerErrorCode.InfraUnauthenticated,
      'Unauthenticated',
    );
  }
  if (status === 403) {
    return new ClassifiedError(
      `${what}: permission denied (${describe(err)})`,
      GardenerErrorCode.InfraUnauthorized,
      'Unauthorized',
    );
  }
  if (status === 429) {
    return new ClassifiedError(
      `${what}: still rate limited after retries (${describe(err)})`,
      GardenerErrorCode.InfraRateLimitsExceeded,
      'RateLimited',
    );
  }
  return undefined;
}

/** Resolves the next time {@link Pulse.fire} is called, or rejects when the signal aborts. */
class Pulse {
  private waiters: Array<() => void> = [];
  fire(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  async wait(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }
}

/** Settles like `p`, or rejects with the signal's reason as soon as `signal` aborts (`p` keeps running). */
async function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([p, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort!);
  }
}

/** How long an aborted deletion waits for requests already on the wire before it throws. */
const ABORT_GRACE_MS = 1000;

class GcsBucketSession implements BucketSession {
  private readonly bucket: Bucket;
  private closed = false;

  constructor(
    private readonly storage: Storage,
    private readonly bucketName: string,
    private readonly cfg: Cfg,
    private readonly rate: TokenBucket,
  ) {
    this.bucket = storage.bucket(bucketName);
  }

  async inventory(
    prefix: string,
    opts: { signal: AbortSignal; limit?: number; onProgress?(counted: ObjectCount): void },
  ): Promise<Inventory> {
    assertUsablePrefix(prefix);
    const limit = opts.limit ?? Number.POSITIVE_INFINITY;
    let objects = 0;
    let bytes = 0;
    for await (const group of this.groups(prefix, undefined, opts.signal)) {
      if (!isFlatKeyInPrefix(prefix, group.name)) continue;
      for (const v of group.versions) {
        if (objects >= limit) return { objects, bytes, truncated: true };
        objects += 1;
        bytes += v.size;
      }
      opts.onProgress?.({ objects, bytes });
    }
    return { objects, bytes, truncated: false };
  }

  async remaining(
    prefix: string,
    opts: { signal: AbortSignal; onProgress?(counted: ObjectCount): void },
  ): Promise<{ objects: number; locked: number; bytes: number }> {
    assertUsablePrefix(prefix);
    let objects = 0;
    let locked = 0;
    let bytes = 0;
    for await (const group of this.groups(prefix, undefined, opts.signal)) {
      if (!isFlatKeyInPrefix(prefix, group.name)) continue;
      objects += group.versions.length;
      locked += group.versions.filter((v) => v.locked).length;
      bytes += group.versions.reduce((n, v) => n + v.size, 0);
      opts.onProgress?.({ objects, bytes });
    }
    return { objects, locked, bytes };
  }

  async close(): Promise<void> {
    this.closed = true; // the library keeps no connections we could close; stop further use
  }

  async deletePrefix(prefix: string, opts: DeletePrefixOptions): Promise<DeletionProgress> {
    assertUsablePrefix(prefix);
    const progress = startProgress(opts.resume);
    const resumeAfter = progress.cursor;
    const tracker = new CursorTracker(resumeAfter);
    const limiter = new AimdLimiter({
      min: 1,
      max: this.cfg.maxConcurrency,
      initial: Math.min(8, this.cfg.maxConcurrency),
    });
    const maxWindow = 2 * this.cfg.pageSize;
    const finished = new Pulse();
    // Internal stop: the caller's abort, or our first fatal error (stops retry sleeps and the listing).
    const stop = new AbortController();
    const onAbort = (): void => stop.abort(opts.signal.reason);
    opts.signal.addEventListener('abort', onAbort, { once: true });
    let failure: { err: unknown } | undefined;
    const fail = (err: unknown): void => {
      if (failure || opts.signal.aborted) return;
      failure = { err };
      stop.abort(err);
    };
    const report = (): void => opts.onProgress({ ...progress, cursor: tracker.cursor });
    const inflight = new Set<Promise<void>>();
    let sinceCheck = 0; // names since the last `beforeBatch`: one check per listing page's worth of names
    try {
      for await (const group of this.groups(prefix, resumeAfter, stop.signal)) {
        if (resumeAfter !== undefined && compareNames(group.name, resumeAfter) <= 0) continue; // startOffset is inclusive
        if (sinceCheck === 0 && opts.beforeBatch) await opts.beforeBatch();
        sinceCheck = (sinceCheck + 1) % this.cfg.pageSize;
        progress.listedObjects += group.versions.length;
        if (!isFlatKeyInPrefix(prefix, group.name)) {
          fail(outsidePrefixError(prefix, group.name, group.versions.length));
          break;
        }
        while (tracker.window >= maxWindow) await finished.wait(stop.signal); // one slow name must not grow memory
        await limiter.acquire(stop.signal);
        const ticket = tracker.begin(group.name);
        const task = this.deleteGroup(group, progress, limiter, stop.signal)
          .then(
            () => {
              limiter.release(true);
              tracker.finish(ticket);
              report();
            },
            (err: unknown) => {
              limiter.release(false);
              fail(err);
            },
          )
          .finally(() => {
            inflight.delete(task);
            finished.fire();
          });
        inflight.add(task);
        report();
      }
    } catch (err) {
      fail(err);
    } finally {
      opts.signal.removeEventListener('abort', onAbort);
      const drained = Promise.allSettled([...inflight]);
      if (stop.signal.aborted) {
        // Stop promptly: requests on the wire get a short grace (our retry sleeps already ended), then we go.
        await Promise.race([drained, new Promise((r) => setTimeout(r, ABORT_GRACE_MS).unref())]);
      } else {
        await drained;
      }
      report();
    }
    if (opts.signal.aborted) throw opts.signal.reason;
    if (failure) throw failure.err;
    return { ...progress, cursor: tracker.cursor };
  }

  /** Deletes (or, when locked, stamps) every listed generation of one name. */
  private async deleteGroup(
    group: NameGroup,
    progress: DeletionProgress,
    limiter: AimdLimiter,
    signal: AbortSignal,
  ): Promise<void> {
    for (const v of group.versions) {
      if (v.locked) {
        await this.markForExpiry(group.name, v, signal, limiter);
        progress.lockedObjects += 1;
        continue;
      }
      await this.rate.take(signal);
      const file = this.bucket.file(group.name, { generation: v.generation });
      try {
        await this.withRetries(() => file.delete({ ifGenerationMatch: v.generation }), signal, limiter);
        progress.deletedObjects += 1;
        progress.deletedBytes += v.size;
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        const status = httpStatus(err);
        if (status === 404) {
          progress.deletedObjects += 1; // already gone (maybe by an earlier attempt after its last heartbeat)
          progress.deletedBytes += v.size;
        } else if (status === 412) {
          progress.rewrittenObjects += 1; // written again after we listed it: not ours to remove blindly
        } else if (isRetentionOrHold(err)) {
          await this.markForExpiry(group.name, v, signal, limiter);
          progress.lockedObjects += 1;
        } else {
          throw accessError(err, `deleting ${quote(group.name)} in bucket ${quote(this.bucketName)}`) ?? err;
        }
      }
    }
  }

  /** Stamps `customTime` (if unset) so the bucket's `daysSinceCustomTime` lifecycle rule deletes the object later. */
  private async markForExpiry(name: string, v: Version, signal: AbortSignal, limiter: AimdLimiter): Promise<void> {
    if (v.customTime) return;
    await this.rate.take(signal);
    const file = this.bucket.file(name, { generation: v.generation });
    try {
      await this.withRetries(
        () => file.setMetadata({ customTime: new Date(this.cfg.now()).toISOString() }),
        signal,
        limiter,
      );
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      const status = httpStatus(err);
      if (status === 404 || status === 412) return; // gone or changed meanwhile: nothing to stamp
      throw accessError(err, `marking locked object ${quote(name)} for lifecycle expiry`) ?? err;
    }
  }

  private isLocked(item: RawObject): boolean {
    const t = this.cfg.now();
    const until = (s?: string): boolean => s !== undefined && Date.parse(s) > t;
    return (
      item.temporaryHold === true ||
      item.eventBasedHold === true ||
      until(item.retentionExpirationTime) ||
      until(item.retention?.retainUntilTime)
    );
  }

  /** Runs one request, retrying transient failures with jittered exponential backoff; 429/503 shrink the window. */
  private async withRetries<T>(op: () => Promise<T>, signal: AbortSignal, limiter?: AimdLimiter): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      signal.throwIfAborted();
      if (this.closed) throw new Error(`session on bucket ${quote(this.bucketName)} is closed`);
      try {
        return await op();
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        if (!isTransient(err) || attempt >= this.cfg.maxAttempts) throw err;
        const status = httpStatus(err);
        if (status === 429 || status === 503) {
          limiter?.backOff();
          this.cfg.onThrottled(status);
        }
        // min(10 s, 200 ms · 2^(attempt − 1)), then a uniform draw from [backoff/2, backoff) ("equal jitter").
        const backoff = backoffDelay(attempt, REQUEST_BACKOFF);
        await sleep(backoff / 2 + Math.random() * (backoff / 2), signal);
      }
    }
  }

  /**
   * Pages of raw listed generations under `prefix` (from `startOffset` on), the next page requested while the
   * caller works on the current one. A missing bucket and access errors become ClassifiedErrors.
   */
  private async *pages(
    prefix: string,
    startOffset: string | undefined,
    signal: AbortSignal,
  ): AsyncGenerator<RawObject[]> {
    const first: ListQuery = {
      prefix,
      versions: true,
      autoPaginate: false,
      maxResults: this.cfg.pageSize,
      fields: LIST_FIELDS,
    };
    if (startOffset !== undefined) first.startOffset = startOffset;
    type Page = { items: RawObject[]; next: ListQuery | undefined };
    const fetchPage = (query: ListQuery): Promise<Page> => {
      const p = this.withRetries(async () => {
        const [files, next]: GetFilesResponse = await this.bucket.getFiles(query);
        return { items: files as unknown as RawObject[], next: (next ?? undefined) as ListQuery | undefined };
      }, signal).catch((err: unknown) => {
        if (signal.aborted) throw signal.reason;
        if (httpStatus(err) === 404) {
          throw configProblem(
            'BucketNotFound',
            `bucket ${quote(this.bucketName)} does not exist (or is not visible ` +
              "to the service account); check the BackupEntry's bucketName",
          );
        }
        throw accessError(err, `listing bucket ${quote(this.bucketName)}`) ?? err;
      });
      p.catch(() => undefined); // a prefetched page may fail while the consumer is busy; it is awaited later
      return p;
    };
    let query = first;
    let pending: Promise<Page> | undefined = fetchPage(first);
    while (pending) {
      const page: Page = await abortable(pending, signal);
      const { items, next } = page;
      if (next && next.pageToken !== undefined && next.pageToken === query.pageToken) {
        throw new ClassifiedError(
          `listing bucket ${quote(this.bucketName)} did not advance (page token repeated)`,
          GardenerErrorCode.InfraDependencies,
          'ListingStuck',
        );
      }
      pending = next ? fetchPage(next) : undefined;
      if (next) query = next;
      yield items;
    }
  }

  /**
   * Listed generations grouped by name, in ascending name order. The last name of a page is held back until the
   * next page shows a different name (its generations may continue there; emulators may even repeat them).
   */
  private async *groups(
    prefix: string,
    startOffset: string | undefined,
    signal: AbortSignal,
  ): AsyncGenerator<NameGroup> {
    let held: NameGroup | undefined;
    for await (const items of this.pages(prefix, startOffset, signal)) {
      for (const item of items) {
        if (typeof item.name !== 'string' || item.generation === undefined) continue;
        const version: Version = {
          generation: String(item.generation),
          size: Number(item.size ?? 0),
          locked: this.isLocked(item),
        };
        if (item.customTime) version.customTime = item.customTime;
        if (held && item.name === held.name) {
          if (!held.versions.some((v) => v.generation === version.generation)) held.versions.push(version);
          continue;
        }
        if (held) {
          if (compareNames(item.name, held.name) < 0) {
            throw new ClassifiedError(
              `listing bucket ${quote(this.bucketName)} returned names out of order ` +
                `(${quote(item.name)} after ${quote(held.name)})`,
              GardenerErrorCode.InfraDependencies,
              'ListingOutOfOrder',
            );
          }
          yield held;
        }
        held = { name: item.name, versions: [version] };
      }
    }
    if (held) yield held;
  }
}

/**
 * A fast, in-memory stand-in for the subset of the Google Cloud Storage JSON API that our GCS provider and the
 * deletion baselines use, for benchmarks at sizes fake-gcs-server cannot serve (its memory backend scans the whole
 * bucket per request, docs/object-stores.md §3).
 *
 * Served: bucket get / insert / delete / list; objects list (`prefix`, `startOffset`, `endOffset`, `pageToken`,
 * `maxResults` ≤ 1000 (default 1000, as GCS), `versions`, `fields`); object get (metadata, or `alt=media`); media and
 * multipart upload (`ifGenerationMatch`, 0 = "must not exist"); delete (`generation`, `ifGenerationMatch` → 412);
 * patch (`customTime`, `metadata`, `contentType`; `ifGenerationMatch` / `ifMetagenerationMatch`). Versioned buckets
 * keep noncurrent generations (with `timeDeleted`). Anything else (resumable uploads, `delimiter`, `matchGlob`,
 * `softDeleted`, …) is answered with an explicit 400/501, never silently ignored.
 *
 * Realism knobs: every request is answered after an injected latency (default 30 ms), and object writes (upload,
 * delete, patch) are limited per bucket by a token bucket (default 1 000/s, GCS's initial bucket write budget,
 * docs/object-stores.md §2); writes over the cap get GCS's 429 `rateLimitExceeded`, which are counted.
 *
 * Speed: each bucket keeps its generations in an array sorted by (name, generation) plus maps by name and by
 * (name, generation); a list page is a binary search plus a scan of that page, so it costs O(page + log N), not
 * O(N). Removed entries are tombstoned in the array and compacted once they are half of it.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Options of {@link startGcsStandIn}. */
export interface GcsStandInOptions {
  /** Delay before each request is answered, in milliseconds. Default 30. */
  latencyMs?: number;
  /** Per-bucket cap on object writes (upload, delete, patch) per second; `Infinity` or 0 = no cap. Default 1000. */
  writesPerSecond?: number;
  /** Token-bucket depth: writes allowed at once after an idle period. Default `writesPerSecond / 10` (100 ms worth). */
  burst?: number;
  /** Address to listen on. Default 127.0.0.1. */
  host?: string;
  /** Port to listen on; 0 (default) = a free port. */
  port?: number;
}

/** Request counters of a {@link GcsStandIn} (since start or the last {@link GcsStandIn.resetStats}). */
export interface GcsStandInStats {
  /** Every request answered. */
  requests: number;
  /** Object list pages served. */
  lists: number;
  /** Object write requests (upload, delete, patch), including the ones refused with 429. */
  writes: number;
  /** Deletes that removed a generation (204). */
  deletes: number;
  /** Deletes answered 404 (nothing to delete). */
  deletesNotFound: number;
  /** Writes refused with 429 because the bucket's write cap was exceeded. */
  throttled: number;
  /** Answers with status ≥ 400 other than 429 (404s included). */
  errors: number;
}

/** A running stand-in. */
export interface GcsStandIn {
  /** `http://127.0.0.1:<port>`: pass it as `apiEndpoint` to `@google-cloud/storage`. */
  readonly endpoint: string;
  /** Live counters; copy them with `{ ...standIn.stats }` to keep a snapshot. */
  readonly stats: Readonly<GcsStandInStats>;
  /** Sets every counter to 0. */
  resetStats(): void;
  /** Changes the injected latency for requests that arrive from now on. */
  setLatency(ms: number): void;
  /** Creates a bucket directly (no request, no latency); throws if it exists. */
  createBucket(name: string, opts?: { versioning?: boolean }): void;
  /**
   * Inserts objects directly (no request, no latency, no write cap): benchmark seeding. Creates the bucket if
   * missing. Content defaults to `data of <name>`.
   */
  seed(bucket: string, names: Iterable<string>, content?: (name: string) => Buffer): void;
  /** Names of the generations in `bucket` under `prefix` (live only unless `versions`), in listing order. */
  names(bucket: string, opts?: { prefix?: string; versions?: boolean }): string[];
  /** Removes a bucket and everything in it at once (frees memory between benchmark runs). */
  dropBucket(name: string): void;
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

/** An object generation. */
interface Obj {
  name: string;
  generation: number;
  metageneration: number;
  data: Buffer;
  contentType: string;
  createdMs: number;
  updatedMs: number;
  customTime?: string;
  metadata?: Record<string, string>;
  /** Set when the generation became noncurrent (versioned buckets). */
  deletedMs?: number;
  /** Permanently removed; still in the sorted array until the next compaction. */
  gone: boolean;
  /** Name has UTF-16 surrogates: compare by code point, not by code unit. */
  astral: boolean;
  md5?: string;
  crc32c?: string;
}

const SURROGATE = /[\uD800-\uDFFF]/;

/** Code-point order (= UTF-8 byte order, GCS's order) for strings that contain surrogates. */
function slowCompare(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i += 1) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (0xD800–0xDFFF) encode code points ≥ 0x10000, which sort after 0xE000–0xFFFF.
    const fx = x >= 0xd800 && x <= 0xdfff ? x + 0x10000 : x;
    const fy = y >= 0xd800 && y <= 0xdfff ? y + 0x10000 : y;
    return fx - fy;
  }
  return a.length - b.length;
}

function compareNames(a: string, aAstral: boolean, b: string, bAstral: boolean): number {
  if (aAstral || bAstral) return slowCompare(a, b);
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareKey(o: Obj, name: string, astral: boolean, generation: number): number {
  const c = compareNames(o.name, o.astral, name, astral);
  return c !== 0 ? c : o.generation - generation;
}

/** One bucket: generations sorted by (name, generation), with maps for O(1) lookups. */
class BucketStore {
  readonly createdMs = Date.now();
  private sorted: Obj[] = [];
  private unsorted = false;
  private goneInArray = 0;
  private readonly liveByName = new Map<string, Obj>();
  private readonly byGeneration = new Map<string, Obj>();
  writeCap: WriteCap | undefined;

  constructor(
    readonly name: string,
    public versioning: boolean,
  ) {}

  get size(): number {
    return this.byGeneration.size;
  }

  live(name: string): Obj | undefined {
    return this.liveByName.get(name);
  }

  generation(name: string, generation: number): Obj | undefined {
    return this.byGeneration.get(`${generation} ${name}`);
  }

  /** Adds a new live generation; the previous live one becomes noncurrent (versioned) or is removed. */
  insert(obj: Obj, bulk = false): void {
    const previous = this.liveByName.get(obj.name);
    if (previous) {
      if (this.versioning) previous.deletedMs = obj.createdMs;
      else this.remove(previous);
    }
    this.liveByName.set(obj.name, obj);
    this.byGeneration.set(`${obj.generation} ${obj.name}`, obj);
    const last = this.sorted[this.sorted.length - 1];
    if (this.unsorted || bulk) {
      this.sorted.push(obj);
      this.unsorted =
        this.unsorted || (last !== undefined && compareKey(last, obj.name, obj.astral, obj.generation) > 0);
    } else if (!last || compareKey(last, obj.name, obj.astral, obj.generation) < 0) {
      this.sorted.push(obj);
    } else {
      this.sorted.splice(this.lowerBound(obj.name, obj.astral, obj.generation), 0, obj);
    }
  }

  /** Makes the live generation noncurrent (versioned) or removes it. */
  deleteLive(obj: Obj, nowMs: number): void {
    this.liveByName.delete(obj.name);
    if (this.versioning) obj.deletedMs = nowMs;
    else this.remove(obj);
  }

  /** Removes a generation permanently. */
  remove(obj: Obj): void {
    if (obj.gone) return;
    obj.gone = true;
    if (this.liveByName.get(obj.name) === obj) this.liveByName.delete(obj.name);
    this.byGeneration.delete(`${obj.generation} ${obj.name}`);
    this.goneInArray += 1;
    if (!this.unsorted && this.goneInArray > 1024 && this.goneInArray * 2 > this.sorted.length) this.compact();
  }

  /**
   * One page of a listing, from the first generation at or after (`fromName`, `fromGeneration`), limited to names
   * starting with `prefix` and before `endOffset`. Returns the page and the first generation of the next page.
   */
  page(q: {
    prefix: string;
    fromName: string;
    fromGeneration: number;
    endOffset?: string;
    versions: boolean;
    max: number;
  }): { items: Obj[]; next?: Obj } {
    this.ensureSorted();
    const items: Obj[] = [];
    const endAstral = q.endOffset !== undefined && SURROGATE.test(q.endOffset);
    for (
      let i = this.lowerBound(q.fromName, SURROGATE.test(q.fromName), q.fromGeneration);
      i < this.sorted.length;
      i += 1
    ) {
      const o = this.sorted[i]!;
      if (o.gone) continue;
      // Names with the prefix form one contiguous range of the order, starting at the prefix itself.
      if (!o.name.startsWith(q.prefix)) break;
      if (q.endOffset !== undefined && compareNames(o.name, o.astral, q.endOffset, endAstral) >= 0) break;
      if (!q.versions && o.deletedMs !== undefined) continue;
      if (items.length === q.max) return { items, next: o };
      items.push(o);
    }
    return { items };
  }

  private lowerBound(name: string, astral: boolean, generation: number): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKey(this.sorted[mid]!, name, astral, generation) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private ensureSorted(): void {
    if (!this.unsorted) return;
    this.sorted = this.sorted.filter((o) => !o.gone);
    this.goneInArray = 0;
    this.sorted.sort((a, b) => compareKey(a, b.name, b.astral, b.generation));
    this.unsorted = false;
  }

  private compact(): void {
    this.sorted = this.sorted.filter((o) => !o.gone);
    this.goneInArray = 0;
  }
}

/** Token bucket deciding, per write, whether the bucket's write budget allows it now. */
class WriteCap {
  private tokens: number;
  private last = performance.now();

  constructor(
    private readonly ratePerSecond: number,
    private readonly depth: number,
  ) {
    this.tokens = depth;
  }

  tryTake(): boolean {
    const t = performance.now();
    this.tokens = Math.min(this.depth, this.tokens + ((t - this.last) * this.ratePerSecond) / 1000);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** CRC-32C (Castagnoli) lookup table, for the `crc32c` field. */
const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i += 1) {
    let c = i;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

function crc32c(data: Buffer): string {
  let c = 0xffffffff;
  for (const byte of data) c = CRC32C_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  const out = Buffer.alloc(4);
  out.writeUInt32BE((c ^ 0xffffffff) >>> 0);
  return out.toString('base64');
}

/** A GCS-style error answer. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly domain = 'global',
  ) {
    super(message);
  }
}

const notFound = (what: string): HttpError => new HttpError(404, 'notFound', what);
const preconditionFailed = (): HttpError => new HttpError(412, 'conditionNotMet', 'Precondition Failed');

/** Parses GCS's partial-response `fields` syntax (`items(name,generation),nextPageToken`, `items/name`). */
export type FieldMask = { [field: string]: FieldMask | true };

/** Parses a `fields` selector into a tree; throws on unbalanced parentheses. */
export function parseFields(spec: string): FieldMask {
  let i = 0;
  const parseList = (): FieldMask => {
    const mask: FieldMask = {};
    for (;;) {
      let name = '';
      while (i < spec.length && !',()/'.includes(spec[i]!)) name += spec[i++];
      name = name.trim();
      let sub: FieldMask | true = true;
      if (spec[i] === '(') {
        i += 1;
        sub = parseList();
        if (spec[i] !== ')') throw new HttpError(400, 'invalidParameter', `Invalid field selection ${spec}`);
        i += 1;
      } else if (spec[i] === '/') {
        i += 1;
        sub = parseList();
      }
      if (name) mask[name] = mergeMasks(mask[name], sub);
      if (spec[i] === ',') {
        i += 1;
        continue;
      }
      return mask;
    }
  };
  const mask = parseList();
  if (i !== spec.length) throw new HttpError(400, 'invalidParameter', `Invalid field selection ${spec}`);
  return mask;
}

function mergeMasks(a: FieldMask | true | undefined, b: FieldMask | true): FieldMask | true {
  if (a === undefined) return b;
  if (a === true || b === true) return true;
  const out: FieldMask = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = mergeMasks(out[k], v);
  return out;
}

/** Keeps only the fields of `value` selected by `mask` (arrays are filtered element-wise). */
export function applyFields(value: unknown, mask: FieldMask | true): unknown {
  if (mask === true || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => applyFields(v, mask));
  const out: Record<string, unknown> = {};
  for (const [k, sub] of Object.entries(mask)) {
    const v = (value as Record<string, unknown>)[k];
    if (v !== undefined) out[k] = applyFields(v, sub);
  }
  return out;
}

const UNSUPPORTED_LIST_PARAMS = ['delimiter', 'matchGlob', 'softDeleted', 'includeFoldersAsPrefixes', 'filter'];

/**
 * Starts the stand-in on 127.0.0.1 (a free port unless `port` is given). Buckets and objects live in this process's
 * memory only; nothing is authenticated.
 */
export async function startGcsStandIn(opts: GcsStandInOptions = {}): Promise<GcsStandIn> {
  let latencyMs = Math.max(0, opts.latencyMs ?? 30);
  const rate = opts.writesPerSecond ?? 1000;
  const capped = rate > 0 && Number.isFinite(rate);
  const depth = Math.max(1, opts.burst ?? Math.ceil(rate / 10));
  const buckets = new Map<string, BucketStore>();
  const stats: GcsStandInStats = {
    requests: 0,
    lists: 0,
    writes: 0,
    deletes: 0,
    deletesNotFound: 0,
    throttled: 0,
    errors: 0,
  };
  let lastGeneration = 0;
  let endpoint = '';
  /** Strictly increasing generations (microseconds since the epoch, like GCS). */
  const nextGeneration = (): number => (lastGeneration = Math.max(lastGeneration + 1, Date.now() * 1000));

  const newBucket = (name: string, versioning: boolean): BucketStore => {
    const b = new BucketStore(name, versioning);
    if (capped) b.writeCap = new WriteCap(rate, depth);
    buckets.set(name, b);
    return b;
  };
  const bucketOrThrow = (name: string): BucketStore => {
    const b = buckets.get(name);
    if (!b) throw notFound('The specified bucket does not exist.');
    return b;
  };
  const newObject = (name: string, data: Buffer, contentType: string, nowMs: number): Obj => ({
    name,
    generation: nextGeneration(),
    metageneration: 1,
    data,
    contentType,
    createdMs: nowMs,
    updatedMs: nowMs,
    gone: false,
    astral: SURROGATE.test(name),
  });

  const objectResource = (bucket: string, o: Obj): Record<string, unknown> => {
    o.md5 ??= createHash('md5').update(o.data).digest('base64');
    o.crc32c ??= crc32c(o.data);
    const enc = encodeURIComponent(o.name);
    const r: Record<string, unknown> = {
      kind: 'storage#object',
      id: `${bucket}/${o.name}/${o.generation}`,
      selfLink: `${endpoint}/storage/v1/b/${bucket}/o/${enc}`,
      mediaLink: `${endpoint}/download/storage/v1/b/${bucket}/o/${enc}?generation=${o.generation}&alt=media`,
      name: o.name,
      bucket,
      generation: String(o.generation),
      metageneration: String(o.metageneration),
      contentType: o.contentType,
      storageClass: 'STANDARD',
      size: String(o.data.length),
      md5Hash: o.md5,
      crc32c: o.crc32c,
      etag: o.md5,
      timeCreated: new Date(o.createdMs).toISOString(),
      updated: new Date(o.updatedMs).toISOString(),
      timeStorageClassUpdated: new Date(o.createdMs).toISOString(),
    };
    if (o.customTime) r.customTime = o.customTime;
    if (o.metadata) r.metadata = o.metadata;
    if (o.deletedMs !== undefined) r.timeDeleted = new Date(o.deletedMs).toISOString();
    return r;
  };
  const bucketResource = (b: BucketStore): Record<string, unknown> => ({
    kind: 'storage#bucket',
    id: b.name,
    name: b.name,
    selfLink: `${endpoint}/storage/v1/b/${b.name}`,
    projectNumber: '0',
    metageneration: '1',
    location: 'US-CENTRAL1',
    locationType: 'region',
    storageClass: 'STANDARD',
    timeCreated: new Date(b.createdMs).toISOString(),
    updated: new Date(b.createdMs).toISOString(),
    versioning: { enabled: b.versioning },
    etag: 'CAE=',
  });

  /** Counts an object write against the bucket's cap; throws GCS's 429 when over it. */
  const chargeWrite = (b: BucketStore): void => {
    stats.writes += 1;
    if (b.writeCap && !b.writeCap.tryTake()) {
      stats.throttled += 1;
      throw new HttpError(
        429,
        'rateLimitExceeded',
        'The object exceeded the rate limit for object mutation ' +
          'operations (create, update, and delete). Please reduce your request rate.',
        'usageLimits',
      );
    }
  };

  const intParam = (q: URLSearchParams, key: string): number | undefined => {
    const v = q.get(key);
    if (v === null) return undefined;
    if (!/^\d+$/.test(v)) throw new HttpError(400, 'invalid', `Invalid value for ${key}: ${v}`);
    return Number(v);
  };

  const checkPreconditions = (q: URLSearchParams, o: Obj | undefined): void => {
    const gm = intParam(q, 'ifGenerationMatch');
    if (gm !== undefined && (o ? o.generation !== gm : gm !== 0)) throw preconditionFailed();
    const gnm = intParam(q, 'ifGenerationNotMatch');
    if (gnm !== undefined && (o ? o.generation === gnm : gnm === 0)) throw preconditionFailed();
    const mm = intParam(q, 'ifMetagenerationMatch');
    if (mm !== undefined && (!o || o.metageneration !== mm)) throw preconditionFailed();
  };

  /** The generation a request addresses: `?generation=` or the live one. */
  const target = (b: BucketStore, name: string, q: URLSearchParams): Obj | undefined => {
    const g = intParam(q, 'generation');
    return g === undefined ? b.live(name) : b.generation(name, g);
  };

  const encodeToken = (o: Obj): string => Buffer.from(JSON.stringify([o.name, o.generation])).toString('base64url');
  const decodeToken = (t: string): [string, number] => {
    try {
      const v = JSON.parse(Buffer.from(t, 'base64url').toString('utf8')) as unknown;
      if (Array.isArray(v) && typeof v[0] === 'string' && typeof v[1] === 'number') return [v[0], v[1]];
    } catch {
      // fall through
    }
    throw new HttpError(400, 'invalid', 'Invalid page token');
  };

  const list = (b: BucketStore, q: URLSearchParams): unknown => {
    for (const p of UNSUPPORTED_LIST_PARAMS) {
      if (q.has(p)) throw new HttpError(400, 'notImplemented', `the GCS stand-in does not implement list "${p}"`);
    }
    stats.lists += 1;
    const prefix = q.get('prefix') ?? '';
    const max = Math.min(1000, Math.max(1, intParam(q, 'maxResults') ?? 1000));
    let fromName = prefix;
    let fromGeneration = -1;
    const startOffset = q.get('startOffset');
    if (startOffset !== null && slowCompare(startOffset, fromName) > 0) fromName = startOffset;
    const token = q.get('pageToken');
    if (token) {
      const [n, g] = decodeToken(token);
      const c = slowCompare(n, fromName);
      if (c > 0 || (c === 0 && g > fromGeneration)) [fromName, fromGeneration] = [n, g];
    }
    const endOffset = q.get('endOffset') ?? undefined;
    const { items, next } = b.page({
      prefix,
      fromName,
      fromGeneration,
      versions: q.get('versions') === 'true',
      max,
      ...(endOffset ? { endOffset } : {}),
    });
    const body: Record<string, unknown> = { kind: 'storage#objects' };
    if (items.length > 0) body.items = items.map((o) => objectResource(b.name, o));
    if (next) body.nextPageToken = encodeToken(next);
    return body;
  };

  const upload = (b: BucketStore, q: URLSearchParams, headers: IncomingMessage['headers'], body: Buffer): unknown => {
    const type = q.get('uploadType') ?? 'media';
    let name = q.get('name') ?? undefined;
    let data = body;
    let meta: Record<string, unknown> = {};
    let contentType = headers['content-type'] ?? 'application/octet-stream';
    if (type === 'multipart') {
      const parts = parseMultipart(body, contentType);
      if (parts.length !== 2) throw new HttpError(400, 'invalid', 'multipart upload needs metadata and media parts');
      meta = JSON.parse(parts[0]!.body.toString('utf8') || '{}') as Record<string, unknown>;
      data = parts[1]!.body;
      contentType =
        typeof meta.contentType === 'string' ? meta.contentType : (parts[1]!.contentType ?? 'application/octet-stream');
      if (typeof meta.name === 'string') name = meta.name;
    } else if (type !== 'media') {
      throw new HttpError(
        501,
        'notImplemented',
        `the GCS stand-in does not implement uploadType=${type} ` + '(use resumable: false)',
      );
    }
    if (!name) throw new HttpError(400, 'required', 'Required parameter: name');
    chargeWrite(b);
    checkPreconditions(q, b.live(name));
    const nowMs = Date.now();
    const o = newObject(name, data, contentType, nowMs);
    if (typeof meta.customTime === 'string') o.customTime = meta.customTime;
    if (meta.metadata && typeof meta.metadata === 'object') o.metadata = meta.metadata as Record<string, string>;
    b.insert(o);
    return objectResource(b.name, o);
  };

  const handle = async (
    req: IncomingMessage,
    body: Buffer,
  ): Promise<{ status: number; json?: unknown; raw?: { data: Buffer; contentType: string } }> => {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const q = url.searchParams;
    const path = url.pathname;
    const method = req.method ?? 'GET';
    let m: RegExpExecArray | null;
    if (path === '/storage/v1/b') {
      if (method === 'POST') {
        const spec = JSON.parse(body.toString('utf8') || '{}') as { name?: string; versioning?: { enabled?: boolean } };
        if (!spec.name) throw new HttpError(400, 'required', 'Required parameter: name');
        if (buckets.has(spec.name)) {
          throw new HttpError(409, 'conflict', `The requested bucket name ${spec.name} is not available.`);
        }
        return { status: 200, json: bucketResource(newBucket(spec.name, spec.versioning?.enabled === true)) };
      }
      if (method === 'GET')
        return { status: 200, json: { kind: 'storage#buckets', items: [...buckets.values()].map(bucketResource) } };
    } else if ((m = /^\/storage\/v1\/b\/([^/]+)$/.exec(path))) {
      const name = decodeURIComponent(m[1]!);
      if (method === 'GET') return { status: 200, json: bucketResource(bucketOrThrow(name)) };
      if (method === 'DELETE') {
        const b = bucketOrThrow(name);
        if (b.size > 0) throw new HttpError(409, 'conflict', 'The bucket you tried to delete is not empty.');
        buckets.delete(name);
        return { status: 204 };
      }
    } else if ((m = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(path))) {
      if (method === 'GET') return { status: 200, json: list(bucketOrThrow(decodeURIComponent(m[1]!)), q) };
    } else if ((m = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(path))) {
      if (method === 'POST')
        return { status: 200, json: upload(bucketOrThrow(decodeURIComponent(m[1]!)), q, req.headers, body) };
    } else if ((m = /^\/(storage|download\/storage)\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(path))) {
      const b = bucketOrThrow(decodeURIComponent(m[2]!));
      const name = decodeURIComponent(m[3]!);
      const media = m[1] === 'download/storage' || q.get('alt') === 'media';
      if (method === 'GET') {
        const o = target(b, name, q);
        if (!o) throw notFound(`No such object: ${b.name}/${name}`);
        checkPreconditions(q, o);
        return media
          ? { status: 200, raw: { data: o.data, contentType: o.contentType } }
          : { status: 200, json: objectResource(b.name, o) };
      }
      if (method === 'DELETE') {
        chargeWrite(b);
        const o = target(b, name, q);
        if (!o) {
          stats.deletesNotFound += 1;
          throw notFound(`No such object: ${b.name}/${name}`);
        }
        checkPreconditions(q, o);
        if (q.has('generation')) b.remove(o);
        else b.deleteLive(o, Date.now());
        stats.deletes += 1;
        return { status: 204 };
      }
      if (method === 'PATCH' || method === 'PUT') {
        chargeWrite(b);
        const o = target(b, name, q);
        if (!o) throw notFound(`No such object: ${b.name}/${name}`);
        checkPreconditions(q, o);
        const patch = JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown>;
        if (typeof patch.customTime === 'string') o.customTime = patch.customTime;
        if (typeof patch.contentType === 'string') o.contentType = patch.contentType;
        if (patch.metadata && typeof patch.metadata === 'object') {
          o.metadata = { ...o.metadata, ...(patch.metadata as Record<string, string>) };
        }
        o.metageneration += 1;
        o.updatedMs = Date.now();
        return { status: 200, json: objectResource(b.name, o) };
      }
    } else {
      throw notFound(`the GCS stand-in does not serve ${method} ${path}`);
    }
    throw new HttpError(405, 'methodNotAllowed', `the GCS stand-in does not serve ${method} ${path}`);
  };

  const send = (res: ServerResponse, status: number, json: unknown, fields: string | null): void => {
    if (json === undefined) {
      res.writeHead(status);
      res.end();
      return;
    }
    const shaped = fields && status < 300 ? applyFields(json, parseFields(fields)) : json;
    const text = JSON.stringify(shaped);
    res.writeHead(status, {
      'content-type': 'application/json; charset=UTF-8',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answer = async (): Promise<void> => {
        const delay = latencyMs;
        if (delay > 0) await new Promise((r) => setTimeout(r, delay));
        stats.requests += 1;
        const fields = new URL(req.url ?? '/', 'http://stand-in').searchParams.get('fields');
        try {
          const out = await handle(req, Buffer.concat(chunks));
          if (out.raw) {
            res.writeHead(out.status, { 'content-type': out.raw.contentType, 'content-length': out.raw.data.length });
            res.end(out.raw.data);
          } else {
            send(res, out.status, out.json, fields);
          }
        } catch (err) {
          const e =
            err instanceof HttpError
              ? err
              : new HttpError(
                  err instanceof SyntaxError ? 400 : 500,
                  err instanceof SyntaxError ? 'parseError' : 'backendError',
                  String((err as Error).message ?? err),
                );
          if (e.status !== 429) stats.errors += 1;
          send(
            res,
            e.status,
            {
              error: {
                code: e.status,
                message: e.message,
                errors: [{ domain: e.domain, reason: e.reason, message: e.message }],
              },
            },
            null,
          );
        }
      };
      void answer();
    });
  });
  server.keepAliveTimeout = 60_000; // clients keep pooled connections; do not make them reconnect mid-benchmark
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  endpoint = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;

  return {
    endpoint,
    stats,
    resetStats() {
      for (const k of Object.keys(stats) as (keyof GcsStandInStats)[]) stats[k] = 0;
    },
    setLatency(ms) {
      latencyMs = Math.max(0, ms);
    },
    createBucket(name, o = {}) {
      if (buckets.has(name)) throw new Error(`bucket ${name} exists`);
      newBucket(name, o.versioning === true);
    },
    seed(bucket, names, content = (n) => Buffer.from(`data of ${n}`)) {
      const b = buckets.get(bucket) ?? newBucket(bucket, false);
      const nowMs = Date.now();
      for (const n of names) b.insert(newObject(n, content(n), 'application/octet-stream', nowMs), true);
    },
    names(bucket, o = {}) {
      const b = bucketOrThrow(bucket);
      const out: string[] = [];
      let from: Obj | undefined;
      for (;;) {
        const { items, next } = b.page({
          prefix: o.prefix ?? '',
          fromName: from?.name ?? o.prefix ?? '',
          fromGeneration: from?.generation ?? -1,
          versions: o.versions === true,
          max: 10_000,
        });
        for (const it of items) out.push(it.name);
        if (!next) return out;
        from = next;
      }
    },
    dropBucket(name) {
      buckets.delete(name);
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Splits a `multipart/related` body into parts (headers lower-cased). */
function parseMultipart(body: Buffer, contentType: string): Array<{ contentType?: string; body: Buffer }> {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  if (!m) throw new HttpError(400, 'invalid', 'multipart upload without boundary');
  const delimiter = Buffer.from(`--${m[1] ?? m[2]!.trim()}`);
  const parts: Array<{ contentType?: string; body: Buffer }> = [];
  let pos = body.indexOf(delimiter);
  while (pos >= 0) {
    let start = pos + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break; // closing delimiter
    if (body.subarray(start, start + 2).toString() === '\r\n') start += 2;
    const next = body.indexOf(delimiter, start);
    if (next < 0) break;
    let end = next;
    if (body.subarray(end - 2, end).toString() === '\r\n') end -= 2;
    const part = body.subarray(start, end);
    const split = part.indexOf('\r\n\r\n');
    const head = split >= 0 ? part.subarray(0, split).toString('utf8') : '';
    const ct = /^content-type:\s*(.+)$/im.exec(head)?.[1]?.trim();
    parts.push({ ...(ct ? { contentType: ct } : {}), body: split >= 0 ? part.subarray(split + 4) : part });
    pos = next;
  }
  return parts;
}

/**
 * The GCS outcomes fake-gcs-server cannot produce (403 retention/hold, 412, 429, 401/403, a listing that strays
 * outside the prefix), against a loopback stub of the JSON API that also records the request shapes.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SecretData } from '../../../activities/storage-port';
import { createGcsProvider } from '../../../adapters/storage/gcs-provider';
import { fakeServiceAccountSecret } from '../../support/fake-service-account';

type Behaviour = 'ok' | 'rewritten' | 'retention' | 'throttled-twice' | 'forbidden' | 'hold-listed';
interface StubObject {
  name: string;
  generation: string;
  size: number;
  behaviour: Behaviour;
}

const PREFIX = 'shoot--dev--demo--uid1/';
const never = new AbortController().signal;
const CREDS: SecretData = fakeServiceAccountSecret();

let server: Server;
let endpoint: string;
let objects: StubObject[];
let listStatus: number | undefined;
let extraListed: string[];
const deletes: Array<{ name: string; query: URLSearchParams }> = [];
const patches: Array<{ name: string; query: URLSearchParams; body: Record<string, unknown> }> = [];
const attempts = new Map<string, number>();

function sendError(res: ServerResponse, code: number, reason: string, message: string): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { code, message, errors: [{ domain: 'global', reason, message }] } }));
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://stub');
  const m = /^\/storage\/v1\/b\/([^/]+)\/o(?:\/(.+))?$/.exec(url.pathname);
  if (!m) return sendError(res, 404, 'notFound', 'Not Found');
  const name = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
  if (req.method === 'GET' && name === undefined) {
    if (listStatus)
      return sendError(res, listStatus, listStatus === 401 ? 'required' : 'forbidden', 'Anonymous caller');
    const prefix = url.searchParams.get('prefix') ?? '';
    const start = url.searchParams.get('startOffset') ?? '';
    const names = [...objects.map((o) => o.name), ...extraListed]
      .filter((n) => (n.startsWith(prefix) || extraListed.includes(n)) && n >= start)
      .sort();
    const max = Number(url.searchParams.get('maxResults') ?? 1000);
    // Page token = the next name, as GCS positions are by name (an index would shift while we delete).
    const token = url.searchParams.get('pageToken');
    const from = token === null ? 0 : names.findIndex((n) => n >= token);
    const page = names.slice(from, from + max).map((n) => {
      const o = objects.find((x) => x.name === n);
      return {
        name: n,
        generation: o?.generation ?? '1',
        size: String(o?.size ?? 1),
        ...(o?.behaviour === 'hold-listed' ? { temporaryHold: true } : {}),
      };
    });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({ items: page, ...(from + max < names.length ? { nextPageToken: names[from + max] } : {}) }),
    );
    return;
  }
  const o = objects.find((x) => x.name === name);
  if (req.method === 'DELETE' && name !== undefined) {
    deletes.push({ name, query: url.searchParams });
    if (!o) return sendError(res, 404, 'notFound', 'No such object');
    const n = (attempts.get(name) ?? 0) + 1;
    attempts.set(name, n);
    switch (o.behaviour) {
      case 'rewritten':
        return sendError(res, 412, 'conditionNotMet', 'Precondition Failed');
      case 'retention':
        return sendError(
          res,
          403,
          'retentionPolicyNotMet',
          `Object '${name}' is subject to bucket's retention policy and cannot be deleted until 2030-01-01`,
        );
      case 'forbidden':
        return sendError(
          res,
          403,
          'forbidden',
          'a@test.iam.gserviceaccount.com does not have storage.objects.delete access',
        );
      case 'throttled-twice':
        if (n <= 2) return sendError(res, 429, 'rateLimitExceeded', 'slow down');
        break;
      default:
        break;
    }
    objects = objects.filter((x) => x !== o);
    res.writeHead(204);
    res.end();
    return;
  }
  if (req.method === 'PATCH' && name !== undefined) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown>;
    patches.push({ name, query: url.searchParams, body });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ name, generation: o?.generation ?? '1', ...body }));
    return;
  }
  sendError(res, 405, 'invalid', 'unsupported');
}

beforeAll(async () => {
  server = createServer((req, res) => {
    void handle(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  objects = [];
  listStatus = undefined;
  extraListed = [];
  deletes.length = 0;
  patches.length = 0;
  attempts.clear();
});

const session = () => createGcsProvider({ apiEndpoint: endpoint, pageSize: 2 }).open('bucket', CREDS);
const obj = (leaf: string, behaviour: Behaviour, generation = '1700000000000001'): StubObject => ({
  name: `${PREFIX}${leaf}`,
  generation,
  size: 10,
  behaviour,
});

describe('gcs provider outcome mapping (stub JSON API)', () => {
  it('maps 204/404/412/403-retention/hold/429 to deleted, rewritten and locked, with safe preconditions', async () => {
    objects = [
      obj('a', 'ok'),
      obj('b', 'rewritten'),
      obj('c', 'retention'),
      obj('d', 'throttled-twice'),
      obj('e', 'hold-listed'),
    ];
    extraListed = [`${PREFIX}f-already-gone`];
    const done = await session().deletePrefix(PREFIX, { signal: never, onProgress: () => undefined });
    expect(done).toMatchObject({
      deletedObjects: 3,
      deletedBytes: 21,
      rewrittenObjects: 1,
      lockedObjects: 2,
      listedObjects: 6,
      cursor: `${PREFIX}f-already-gone`,
    });
    // Every delete names the generation it listed and carries it as precondition.
    for (const d of deletes) {
      expect(d.query.get('ifGenerationMatch')).toBe(d.query.get('generation'));
      expect(d.query.get('generation')).toBeTruthy();
    }
    expect(attempts.get(`${PREFIX}d`)).toBe(3); // two 429s, then success
    expect(deletes.some((d) => d.name === `${PREFIX}e`)).toBe(false); // held per listing: not even tried
    expect(patches.map((p) => p.name).sort()).toEqual([`${PREFIX}c`, `${PREFIX}e`]);
    for (const p of patches) expect(typeof p.body.customTime).toBe('string');
  });

  it('a 403 that is not retention is ERR_INFRA_UNAUTHORIZED, non-retryable', async () => {
    objects = [obj('a', 'forbidden')];
    await expect(session().deletePrefix(PREFIX, { signal: never, onProgress: () => undefined })).rejects.toMatchObject({
      name: 'ClassifiedError',
      code: 'ERR_INFRA_UNAUTHORIZED',
      retryable: false,
    });
  });

  it('a 401 on listing is ERR_INFRA_UNAUTHENTICATED, non-retryable', async () => {
    listStatus = 401;
    await expect(session().inventory(PREFIX, { signal: never })).rejects.toMatchObject({
      code: 'ERR_INFRA_UNAUTHENTICATED',
      retryable: false,
    });
  });

  it('deletes names with ".." or "." segments under the prefix: they are flat names, not paths', async () => {
    const odd = ['etcd-main/../x', 'a/./b', '..', '../shoot--dev--demo--uid12/x'];
    objects = odd.map((n) => obj(n, 'ok'));
    const done = await session().deletePrefix(PREFIX, { signal: never, onProgress: () => undefined });
    expect(done).toMatchObject({ deletedObjects: odd.length, listedObjects: odd.length });
    expect(deletes.map((d) => d.name).sort()).toEqual(odd.map((n) => `${PREFIX}${n}`).sort());
    expect(objects).toEqual([]);
  });

  it('never deletes a listed name outside the prefix', async () => {
    objects = [obj('a', 'ok'), { name: 'shoot--dev--demo--uid12/x', generation: '1', size: 1, behaviour: 'ok' }];
    extraListed = ['shoot--dev--demo--uid12/x']; // the "listing" misbehaves and returns a sibling's object
    await expect(session().deletePrefix(PREFIX, { signal: never, onProgress: () => undefined })).rejects.toMatchObject({
      code: 'ERR_INFRA_DEPENDENCIES',
      reason: 'ListingOutsidePrefix',
      retryable: false,
    });
    expect(deletes.map((d) => d.name)).not.toContain('shoot--dev--demo--uid12/x');
  });
});

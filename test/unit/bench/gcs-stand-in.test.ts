/**
 * The GCS stand-in's own behaviour (tools/bench/gcs-stand-in.ts): listing order and pagination, generations and
 * preconditions, the write cap and its 429s, latency, and refusing what it does not implement. Its agreement with
 * fake-gcs-server is test/integration/bench/gcs-stand-in-conformance.test.ts.
 */
import { Storage } from '@google-cloud/storage';
import { applyFields, parseFields, startGcsStandIn, type GcsStandIn } from '../../../tools/bench/gcs-stand-in';

let si: GcsStandIn;
const opened: GcsStandIn[] = [];
async function open(opts: Parameters<typeof startGcsStandIn>[0] = {}): Promise<GcsStandIn> {
  const s = await startGcsStandIn({ latencyMs: 0, ...opts });
  opened.push(s);
  return s;
}
beforeEach(async () => {
  si = await open();
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});

const api = (path: string, init?: RequestInit): Promise<Response> => fetch(`${si.endpoint}${path}`, init);
const enc = encodeURIComponent;

async function listAll(bucket: string, query: string): Promise<{ names: string[]; pages: number }> {
  const names: string[] = [];
  let pages = 0;
  let token: string | undefined;
  do {
    const res = await api(`/storage/v1/b/${bucket}/o?${query}${token ? `&pageToken=${enc(token)}` : ''}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { items?: Array<{ name: string }>; nextPageToken?: string };
    names.push(...(body.items ?? []).map((i) => i.name));
    token = body.nextPageToken;
    pages += 1;
  } while (token);
  return { names, pages };
}

describe('GCS stand-in', () => {
  it('lists in byte order under a prefix, page by page, without straying into sibling prefixes', async () => {
    const inside = Array.from({ length: 25 }, (_, i) => `e/obj-${String(i).padStart(3, '0')}`);
    const outside = ['e', 'e-x/a', 'e.old/a', 'e0/a', 'e2/a', 'd/a', 'f/a'];
    si.seed('b', [...[...inside].reverse(), ...outside]); // unsorted on purpose
    const all = await listAll('b', `prefix=${enc('e/')}&maxResults=7`);
    expect(all).toEqual({ names: inside, pages: 4 });
    // Default page size is GCS's 1000; larger requests are clamped to it.
    si.seed(
      'big',
      Array.from({ length: 2500 }, (_, i) => `p/${String(i).padStart(5, '0')}`),
    );
    expect((await listAll('big', 'prefix=p/&maxResults=5000')).pages).toBe(3);
    expect((await listAll('big', 'prefix=p/')).pages).toBe(3);
    // startOffset / endOffset
    expect(
      (await listAll('b', `prefix=${enc('e/')}&startOffset=${enc('e/obj-020')}&endOffset=${enc('e/obj-023')}`)).names,
    ).toEqual(['e/obj-020', 'e/obj-021', 'e/obj-022']);
    // Code-point (UTF-8 byte) order, not UTF-16 order: U+FF5E sorts before U+1F600.
    si.seed('u', ['u/\u{1F600}', 'u/\uFF5E', 'u/a']);
    expect((await listAll('u', 'prefix=u/&maxResults=1')).names).toEqual(['u/a', 'u/\uFF5E', 'u/\u{1F600}']);
  });

  it('keeps noncurrent generations in versioned buckets and deletes a generation with preconditions', async () => {
    si.createBucket('v', { versioning: true });
    const put = async (name: string, data: string, q = ''): Promise<Response> =>
      api(`/upload/storage/v1/b/v/o?uploadType=media&name=${enc(name)}${q}`, { method: 'POST', body: data });
    const first = (await (await put('k/a', 'one')).json()) as { generation: string };
    const second = (await (await put('k/a', 'two')).json()) as { generation: string };
    expect(BigInt(second.generation)).toBeGreaterThan(BigInt(first.generation));
    expect((await put('k/a', 'three', '&ifGenerationMatch=0')).status).toBe(412); // exists already
    const versions = (await (await api('/storage/v1/b/v/o?versions=true')).json()) as {
      items: Array<{ generation: string; timeDeleted?: string }>;
    };
    expect(versions.items.map((i) => [i.generation, i.timeDeleted !== undefined])).toEqual([
      [first.generation, true],
      [second.generation, false],
    ]);
    expect((await listAll('v', '')).names).toEqual(['k/a']);
    expect(await (await api(`/storage/v1/b/v/o/${enc('k/a')}?alt=media`)).text()).toBe('two');
    expect(await (await api(`/storage/v1/b/v/o/${enc('k/a')}?alt=media&generation=${first.generation}`)).text()).toBe(
      'one',
    );
    // Wrong precondition: 412, nothing deleted; right one: 204; again: 404.
    const del = (q: string): Promise<Response> => api(`/storage/v1/b/v/o/${enc('k/a')}?${q}`, { method: 'DELETE' });
    expect((await del(`generation=${first.generation}&ifGenerationMatch=${second.generation}`)).status).toBe(412);
    expect((await del(`generation=${first.generation}&ifGenerationMatch=${first.generation}`)).status).toBe(204);
    expect((await del(`generation=${first.generation}`)).status).toBe(404);
    // A plain delete in a versioned bucket makes the live generation noncurrent.
    expect((await del('')).status).toBe(204);
    expect((await listAll('v', '')).names).toEqual([]);
    expect((await listAll('v', 'versions=true')).names).toEqual(['k/a']);
    expect(si.stats).toMatchObject({ deletes: 2, deletesNotFound: 1 });
  });

  it('patches customTime and shapes responses with fields', async () => {
    si.seed('b', ['x/1']);
    const res = await api(`/storage/v1/b/b/o/${enc('x/1')}?fields=name,customTime,metageneration`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ customTime: '2030-01-01T00:00:00.000Z' }),
    });
    expect(await res.json()).toEqual({ name: 'x/1', customTime: '2030-01-01T00:00:00.000Z', metageneration: '2' });
    const list = await (await api('/storage/v1/b/b/o?fields=items(name,size),nextPageToken')).json();
    expect(list).toEqual({ items: [{ name: 'x/1', size: '11' }] }); // "data of x/1"
    expect(parseFields('items(name,generation),nextPageToken')).toEqual({
      items: { name: true, generation: true },
      nextPageToken: true,
    });
    expect(applyFields({ a: { b: 1, c: 2 }, d: 3 }, parseFields('a/b'))).toEqual({ a: { b: 1 } });
  });

  it('refuses what it does not implement instead of ignoring it', async () => {
    si.seed('b', ['x/1']);
    expect((await api('/storage/v1/b/b/o?delimiter=/')).status).toBe(400);
    expect((await api('/storage/v1/b/b/o?matchGlob=x/**')).status).toBe(400);
    expect((await api('/upload/storage/v1/b/b/o?uploadType=resumable&name=y', { method: 'POST' })).status).toBe(501);
    expect((await api('/storage/v1/b/missing/o')).status).toBe(404);
  });

  it('enforces the bucket write cap with 429 rateLimitExceeded and counts them; reads are not capped', async () => {
    const capped = await open({ writesPerSecond: 5, burst: 3 });
    capped.seed(
      'b',
      Array.from({ length: 10 }, (_, i) => `x/${i}`),
    );
    const statuses = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        fetch(`${capped.endpoint}/storage/v1/b/b/o/${enc(`x/${i}`)}`, { method: 'DELETE' }).then(async (r) => {
          if (r.status === 429)
            expect(await r.json()).toMatchObject({ error: { code: 429, errors: [{ reason: 'rateLimitExceeded' }] } });
          return r.status;
        }),
      ),
    );
    expect(statuses.filter((s) => s === 204).length).toBe(3);
    expect(statuses.filter((s) => s === 429).length).toBe(7);
    expect(capped.stats).toMatchObject({ writes: 10, throttled: 7, deletes: 3 });
    const reads = await Promise.all(Array.from({ length: 20 }, () => fetch(`${capped.endpoint}/storage/v1/b/b/o`)));
    expect(reads.every((r) => r.status === 200)).toBe(true);
    capped.resetStats();
    expect(capped.stats.throttled).toBe(0);
  });

  it('answers after the injected latency', async () => {
    const slow = await open({ latencyMs: 60 });
    slow.seed('b', ['x/1']);
    const t0 = performance.now();
    await (await fetch(`${slow.endpoint}/storage/v1/b/b/o`)).json();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(55); // a lower bound only
  });

  it('serves @google-cloud/storage: bucket, multipart upload, list, download, delete', async () => {
    delete process.env.STORAGE_EMULATOR_HOST;
    const storage = new Storage({ apiEndpoint: si.endpoint, projectId: 'test' });
    const [bucket] = await storage.createBucket('lib');
    await expect(storage.createBucket('lib')).rejects.toMatchObject({ code: 409 });
    await bucket.file('p/a.gz').save(Buffer.from('hello'), { resumable: false });
    await bucket.file('p/b').save(Buffer.from('world'), { resumable: false, metadata: { contentType: 'text/plain' } });
    const [files] = await bucket.getFiles({ prefix: 'p/' });
    expect(files.map((f) => [f.name, f.metadata.size, f.metadata.contentType])).toEqual([
      ['p/a.gz', '5', 'application/gzip'],
      ['p/b', '5', 'text/plain'],
    ]);
    const [content] = await bucket.file('p/a.gz').download();
    expect(content.toString()).toBe('hello');
    await bucket.file('p/a.gz').delete();
    await expect(bucket.file('p/a.gz').delete()).rejects.toMatchObject({ code: 404 });
    expect((await bucket.file('p/b').exists())[0]).toBe(true);
  });
});

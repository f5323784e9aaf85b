/**
 * The GCS stand-in (tools/bench/gcs-stand-in.ts) answers the JSON API subset we use as fake-gcs-server does: the same
 * `@google-cloud/storage` calls, run against both, give the same observations (names, pages, sizes, hashes, contents,
 * generations' shape and order, error codes). Volatile values (timestamps, generation numbers) are reduced to what
 * callers rely on.
 *
 * Deliberate differences, not compared here (the stand-in follows GCS where fake-gcs-server v1.56.1 does not):
 * - delete with a mismatching `ifGenerationMatch`: GCS and the stand-in answer 412; fake-gcs-server deletes anyway
 *   (docs/object-stores.md §3; fake-gcs-server #1282); asserted for the stand-in at the end;
 * - list without `maxResults`: GCS and the stand-in page at 1 000; fake-gcs-server returns everything in one page;
 * - `fields`: the stand-in trims responses as GCS does; fake-gcs-server ignores it (only the selected fields are
 *   compared);
 * - order of generations within one name (versions=true): the stand-in lists them by ascending generation,
 *   fake-gcs-server newest first; our provider groups them by name and depends on neither (sets are compared);
 * - page tokens are opaque (the stand-in's encode name + generation, fake-gcs-server's are the next name).
 */
import { type Bucket, type GetFilesResponse, Storage } from '@google-cloud/storage';
import { startGcsStandIn, type GcsStandIn } from '../../../tools/bench/gcs-stand-in';
import { stackEnv, uniqueName } from '../../support/env';

const ENTRY = 'shoot--dev--conf--3f1c6a7e-2b4d-4c8e-9a0b-1234567890ab';
const KEYS = [
  `${ENTRY}/etcd-main/v2/Full-00000000-00012345-1755684000.gz`,
  ...Array.from(
    { length: 8 },
    (_, i) =>
      `${ENTRY}/etcd-main/v2/Incr-${String(12346 + i * 100).padStart(8, '0')}-${String(12445 + i * 100).padStart(8, '0')}-${1755684300 + i * 300}.gz`,
  ),
  `${ENTRY}/etcd-main/v2/Full-00000000-00012999-1755770400/0000000001`,
  `${ENTRY}/etcd-events/v2/Full-00000000-00000042-1755684000.gz`,
];
const SIBLINGS = [
  `${ENTRY}2/etcd-main/v2/Full-00000000-00000001-1755684000.gz`,
  `${ENTRY}-x/etcd-main/v2/Full-00000000-00000001-1755684000.gz`,
  ENTRY,
];
const PREFIX = `${ENTRY}/`;

const isGeneration = (g: unknown): boolean => typeof g === 'string' && /^[1-9]\d*$/.test(g);
const code = async (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => 'ok',
    (e: { code?: unknown }) => e.code,
  );

type Query = {
  prefix: string;
  maxResults: number;
  autoPaginate: false;
  pageToken?: string;
  versions?: boolean;
  startOffset?: string;
  endOffset?: string;
  fields?: string;
};

async function pages(bucket: Bucket, q: Query): Promise<unknown[][]> {
  const out: unknown[][] = [];
  let query: Query | null = q;
  while (query) {
    const [files, next]: GetFilesResponse = await bucket.getFiles(query);
    out.push(files.map((f) => (q.fields ? (f as unknown as { name: string }).name : f.name)));
    query = (next as Query | null) ?? null;
  }
  return out;
}

/** Bucket names of the scenario: the same on both backends (each is its own server). */
const NAMES = { main: uniqueName('conf'), missing: uniqueName('nope'), versioned: uniqueName('conf-v') };

/** Runs the scenario on one backend and returns everything observable, normalised. */
async function observe(endpoint: string): Promise<Record<string, unknown>> {
  const storage = new Storage({ apiEndpoint: endpoint, projectId: 'test' });
  const o: Record<string, unknown> = {};
  const name = NAMES.main;
  const [bucket] = await storage.createBucket(name);
  o.bucketExists = (await bucket.exists())[0];
  o.bucketName = (await bucket.getMetadata())[0].name;
  o.createAgain = await code(storage.createBucket(name));
  o.missingBucketList = await code(storage.bucket(NAMES.missing).getFiles({ prefix: 'x/' }));

  const uploaded = [];
  for (const k of [...KEYS, ...SIBLINGS]) {
    const file = bucket.file(k);
    await file.save(Buffer.from(`data of ${k}`), { resumable: false });
    uploaded.push({
      name: file.metadata.name,
      size: file.metadata.size,
      md5: file.metadata.md5Hash,
      crc32c: file.metadata.crc32c,
      contentType: file.metadata.contentType,
      generation: isGeneration(file.metadata.generation),
    });
  }
  o.uploaded = uploaded;
  o.createOnlyIfAbsent = await code(
    bucket.file(KEYS[0]!).save(Buffer.from('x'), { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } }),
  );

  o.pagesOf4 = await pages(bucket, { prefix: PREFIX, maxResults: 4, autoPaginate: false });
  o.pagesVersions = await pages(bucket, { prefix: PREFIX, maxResults: 5, autoPaginate: false, versions: true });
  o.pagesFields = await pages(bucket, {
    prefix: PREFIX,
    maxResults: 6,
    autoPaginate: false,
    fields: 'items(name,generation),nextPageToken',
  });
  o.startOffset = await pages(bucket, {
    prefix: PREFIX,
    maxResults: 100,
    autoPaginate: false,
    startOffset: `${PREFIX}etcd-main/v2/Incr-00012546`,
  });
  o.endOffset = await pages(bucket, {
    prefix: PREFIX,
    maxResults: 100,
    autoPaginate: false,
    endOffset: `${PREFIX}etcd-main/v2/Incr`,
  });
  o.emptyPrefix = await pages(bucket, { prefix: `${ENTRY}/nothing/`, maxResults: 10, autoPaginate: false });
  const [fieldItems] = await bucket.getFiles({
    prefix: PREFIX,
    maxResults: 2,
    autoPaginate: false,
    fields: 'items(name,generation),nextPageToken',
  });
  o.fieldItems = fieldItems.map((f) => {
    const raw = f as unknown as { name: string; generation: string };
    return { name: raw.name, generation: isGeneration(raw.generation) };
  });

  const file = bucket.file(KEYS[1]!);
  const [meta] = await file.getMetadata();
  o.metadata = {
    name: meta.name,
    bucket: meta.bucket,
    size: meta.size,
    md5: meta.md5Hash,
    crc32c: meta.crc32c,
    generation: isGeneration(meta.generation),
    metageneration: meta.metageneration,
    storageClass: meta.storageClass,
  };
  o.download = (await file.download())[0].toString();
  await file.setMetadata({ customTime: '2030-01-02T03:04:05Z' });
  o.customTime = new Date(String((await file.getMetadata())[0].customTime)).toISOString();

  await file.delete();
  o.afterDelete = {
    exists: (await file.exists())[0],
    get: await code(file.getMetadata()),
    again: await code(file.delete()),
  };
  o.deleteMissing = await code(bucket.file(`${PREFIX}never-was`).delete());
  o.remaining = await pages(bucket, { prefix: '', maxResults: 1000, autoPaginate: false });

  // Versioned bucket: overwrite, list generations, delete one generation, then the live one.
  const [vb] = await storage.createBucket(NAMES.versioned, { versioning: { enabled: true } });
  const vf = vb.file(KEYS[0]!);
  await vf.save(Buffer.from('one'), { resumable: false });
  const firstGen = String(vf.metadata.generation);
  await vf.save(Buffer.from('two'), { resumable: false });
  await vb.file(KEYS[2]!).save(Buffer.from('other'), { resumable: false });
  const versions = async (): Promise<unknown> => {
    const [files] = await vb.getFiles({ prefix: PREFIX, versions: true });
    return files
      .map(
        (f) =>
          `${f.name} ${f.metadata.generation === firstGen ? 'first' : 'later'} ` +
          `${f.metadata.timeDeleted ? 'noncurrent' : 'live'}`,
      )
      .sort();
  };
  o.versionsAfterOverwrite = await versions();
  o.liveAfterOverwrite = (await vb.getFiles({ prefix: PREFIX }))[0].map((f) => f.name);
  o.downloadFirstGeneration = (await vb.file(KEYS[0]!, { generation: firstGen }).download())[0].toString();
  await vb.file(KEYS[0]!, { generation: firstGen }).delete();
  o.versionsAfterGenerationDelete = await versions();
  await vb.file(KEYS[0]!).delete();
  o.versionsAfterLiveDelete = await versions();
  o.liveAfterLiveDelete = (await vb.getFiles({ prefix: PREFIX }))[0].map((f) => f.name);
  return o;
}

let standIn: GcsStandIn;
beforeAll(async () => {
  delete process.env.STORAGE_EMULATOR_HOST; // its URL rules differ from apiEndpoint's; we never use it
  standIn = await startGcsStandIn({ latencyMs: 0 });
});
afterAll(async () => {
  await standIn.close();
});

describe('GCS stand-in conformance with fake-gcs-server', () => {
  it('gives the same observations for the same @google-cloud/storage calls', async () => {
    const fake = await observe(stackEnv('GCS_API_ENDPOINT'));
    const ours = await observe(standIn.endpoint);
    // Sanity: the scenario observed what it meant to (not two identical failures).
    expect(fake).toMatchObject({
      bucketExists: true,
      createAgain: 409,
      missingBucketList: 404,
      createOnlyIfAbsent: 412,
      deleteMissing: 404,
      afterDelete: { exists: false, get: 404, again: 404 },
      download: `data of ${KEYS[1]}`,
    });
    expect((fake.pagesOf4 as unknown[][]).map((p) => p.length)).toEqual([4, 4, 3]);
    expect(ours).toEqual(fake);
  });

  it('answers 412 to a delete whose ifGenerationMatch does not match (as GCS; fake-gcs-server ignores it)', async () => {
    const storage = new Storage({ apiEndpoint: standIn.endpoint, projectId: 'test' });
    const [bucket] = await storage.createBucket(uniqueName('conf-412'));
    const file = bucket.file(KEYS[0]!);
    await file.save(Buffer.from('x'), { resumable: false });
    const gen = Number(file.metadata.generation);
    await expect(
      bucket.file(KEYS[0]!, { generation: gen }).delete({ ifGenerationMatch: gen + 1 }),
    ).rejects.toMatchObject({ code: 412 });
    expect((await file.exists())[0]).toBe(true);
    await bucket.file(KEYS[0]!, { generation: gen }).delete({ ifGenerationMatch: gen });
    expect((await file.exists())[0]).toBe(false);
  });
});

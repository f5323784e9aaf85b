import { generateKeyPairSync } from 'node:crypto';
import { type Bucket, Storage } from '@google-cloud/storage';
import type { DeletionProgress, SecretData } from '../../../activities/storage-port';
import { createGcsProvider } from '../../../adapters/storage/gcs-provider';
import { stackEnv, uniqueName } from '../../support/env';

const ENTRY = 'shoot--dev--demo--3f1c6a7e-2b4d-4c8e-9a0b-1234567890ab';
const PREFIX = `${ENTRY}/`;
const never = new AbortController().signal;

/** A syntactically complete service-account key with a freshly generated RSA key (never a real one). */
function serviceAccount(): Record<string, string> {
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return {
    type: 'service_account',
    project_id: 'test',
    private_key_id: 'f00dfeedf00dfeedf00dfeedf00dfeedf00dfeed',
    private_key: privateKey,
    client_email: 'backup@test.iam.gserviceaccount.com',
    client_id: '1234567890',
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: 'https://oauth2.googleapis.com/token',
  };
}
const SA = serviceAccount();
const secret = (json: string): SecretData => ({ 'serviceaccount.json': Buffer.from(json) });
const CREDS = secret(JSON.stringify(SA));

/** Realistic etcd-backup-restore keys under a prefix: enough to span several pages of 7. */
function etcdKeys(entry: string, incrementals = 20): string[] {
  const v2 = `${entry}/etcd-main/v2`;
  return [
    `${v2}/Full-00000000-00012345-1755684000.gz`,
    ...Array.from(
      { length: incrementals },
      (_, i) =>
        `${v2}/Incr-${String(12346 + i * 100).padStart(8, '0')}-${String(12445 + i * 100).padStart(8, '0')}-${1755684300 + i * 300}.gz`,
    ),
    `${v2}/Full-00000000-00012999-1755770400/0000000001`,
    `${v2}/Full-00000000-00012999-1755770400/0000000002`,
    `${entry}/etcd-events/v2/Full-00000000-00000042-1755684000.gz`,
  ];
}
const SIBLINGS = [
  `${ENTRY}2/etcd-main/v2/Full-00000000-00000001-1755684000.gz`,
  `${ENTRY}-x/etcd-main/v2/Full-00000000-00000001-1755684000.gz`,
  ENTRY, // a bare object named like the entry
  `${ENTRY}.old/etcd-main/v2/Incr-00000002-00000003-1755684000.gz`,
];

let storage: Storage;
beforeAll(() => {
  delete process.env.STORAGE_EMULATOR_HOST; // its URL rules differ from apiEndpoint's; we never use it
  storage = new Storage({ apiEndpoint: stackEnv('GCS_API_ENDPOINT'), projectId: 'test' });
});
const provider = (opts: Parameters<typeof createGcsProvider>[0] = {}) =>
  createGcsProvider({ apiEndpoint: stackEnv('GCS_API_ENDPOINT'), pageSize: 7, ...opts });

async function newBucket(versioned = false): Promise<Bucket> {
  const [bucket] = await storage.createBucket(
    uniqueName('bel-gcs'),
    versioned ? { versioning: { enabled: true } } : {},
  );
  return bucket;
}

/** Uploads `keys` (each with content `data of <key>`), `parallel` at a time. */
async function upload(bucket: Bucket, keys: string[], parallel = 16): Promise<void> {
  const queue = [...keys];
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let k = queue.shift(); k !== undefined; k = queue.shift()) {
        await bucket.file(k).save(Buffer.from(`data of ${k}`), { resumable: false });
      }
    }),
  );
}

async function names(bucket: Bucket, versions = false): Promise<string[]> {
  const [files] = await bucket.getFiles({ versions });
  return files.map((f) => f.name).sort();
}

const bytesOf = (keys: string[]): number => keys.reduce((n, k) => n + Buffer.byteLength(`data of ${k}`), 0);

describe('gcs provider against fake-gcs-server', () => {
  it('counts and deletes everything under the prefix, page by page, and nothing beside it', async () => {
    const bucket = await newBucket();
    const keys = etcdKeys(ENTRY);
    await upload(bucket, [...keys, ...SIBLINGS]);
    const session = provider().open(bucket.name, CREDS);
    expect(await session.inventory(PREFIX, { signal: never })).toEqual({
      objects: keys.length,
      bytes: bytesOf(keys),
      truncated: false,
    });
    expect(await session.inventory(PREFIX, { signal: never, limit: 5 })).toMatchObject({ objects: 5, truncated: true });
    const seen: DeletionProgress[] = [];
    const done = await session.deletePrefix(PREFIX, { signal: never, onProgress: (p) => seen.push(p) });
    expect(done).toMatchObject({
      deletedObjects: keys.length,
      deletedBytes: bytesOf(keys),
      listedObjects: keys.length,
      lockedObjects: 0,
      rewrittenObjects: 0,
      cursor: [...keys].sort().at(-1),
    });
    // The cursor only ever moves forward.
    const cursors = seen.map((p) => p.cursor).filter((c): c is string => c !== undefined);
    expect(cursors).toEqual([...cursors].sort());
    expect(await names(bucket)).toEqual([...SIBLINGS].sort());
    expect(await session.remaining(PREFIX, { signal: never })).toEqual({ objects: 0, locked: 0, bytes: 0 });
    // A retry after success finds nothing to do.
    expect((await session.deletePrefix(PREFIX, { signal: never, onProgress: () => undefined })).deletedObjects).toBe(0);
    await session.close();
  });

  it('asks beforeBatch before each page of names and stops before the page it refuses (the deletion guard)', async () => {
    const bucket = await newBucket();
    const keys = etcdKeys(ENTRY); // more than two pages of 7
    await upload(bucket, keys);
    const session = provider().open(bucket.name, CREDS);
    let asked = 0;
    const err = await session
      .deletePrefix(PREFIX, {
        signal: never,
        onProgress: () => undefined,
        beforeBatch: async () => {
          asked += 1;
          if (asked === 2) throw new Error('refused: a live entry owns the prefix');
        },
      })
      .catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/refused: a live entry owns the prefix/);
    expect(asked).toBe(2);
    // At most the first page (7 names) went; everything after the refusal is still there.
    const left = await names(bucket);
    expect(left.length).toBeGreaterThanOrEqual(keys.length - 7);
    expect(left.length).toBeLessThan(keys.length);
    await session.close();
  });

  it('removes noncurrent generations in a versioned bucket', async () => {
    const bucket = await newBucket(true);
    const keys = etcdKeys(ENTRY, 8);
    await upload(bucket, [...keys, ...SIBLINGS]);
    await upload(bucket, [...keys, ...SIBLINGS]); // every object now has a noncurrent generation too
    expect((await names(bucket, true)).length).toBe(2 * (keys.length + SIBLINGS.length));
    const session = provider().open(bucket.name, CREDS);
    expect((await session.inventory(PREFIX, { signal: never })).objects).toBe(2 * keys.length);
    const done = await session.deletePrefix(PREFIX, { signal: never, onProgress: () => undefined });
    expect(done).toMatchObject({ deletedObjects: 2 * keys.length, listedObjects: 2 * keys.length });
    expect(await names(bucket, true)).toEqual([...SIBLINGS, ...SIBLINGS].sort());
    expect(await session.remaining(PREFIX, { signal: never })).toEqual({ objects: 0, locked: 0, bytes: 0 });
  });

  it('deletes names with ".." or "." segments under the prefix (flat names, not paths) and nothing beside it', async () => {
    const bucket = await newBucket();
    // Each starts with the prefix string, so each is the entry's object whatever a path reading would make of it.
    const odd = [
      `${PREFIX}etcd-main/../x`,
      `${PREFIX}a/./b`,
      `${PREFIX}..`,
      `${PREFIX}../${ENTRY}2/etcd-main/y`,
      `${PREFIX}./c`,
      `${PREFIX}/double-slash`,
    ];
    const keys = [...etcdKeys(ENTRY, 3), ...odd];
    await upload(bucket, [...keys, ...SIBLINGS]);
    expect(await names(bucket)).toEqual([...keys, ...SIBLINGS].sort()); // the emulator keeps the names as given
    const session = provider().open(bucket.name, CREDS);
    expect(await session.inventory(PREFIX, { signal: never })).toEqual({
      objects: keys.length,
      bytes: bytesOf(keys),
      truncated: false,
    });
    const done = await session.deletePrefix(PREFIX, { signal: never, onProgress: () => undefined });
    expect(done).toMatchObject({ deletedObjects: keys.length, listedObjects: keys.length });
    expect(await names(bucket)).toEqual([...SIBLINGS].sort());
    expect(await session.remaining(PREFIX, { signal: never })).toEqual({ objects: 0, locked: 0, bytes: 0 });
  });

  it('resumes after a cursor without listing the names before it', async () => {
    const bucket = await newBucket();
    const keys = [...etcdKeys(ENTRY)].sort();
    await upload(bucket, keys);
    const cursor = keys[9]!;
    const resume: DeletionProgress = {
      cursor,
      deletedObjects: 10,
      deletedBytes: 0,
      lockedObjects: 0,
      rewrittenObjects: 0,
      listedObjects: 10,
    };
    const done = await provider()
      .open(bucket.name, CREDS)
      .deletePrefix(PREFIX, { signal: never, resume, onProgress: () => undefined });
    expect(done).toMatchObject({ deletedObjects: keys.length, listedObjects: keys.length });
    // Names up to the cursor were "handled" by an earlier attempt, so this one must not have touched them.
    expect(await names(bucket)).toEqual(keys.slice(0, 10));
  });

  it('stops when aborted and a resumed run finishes the job', async () => {
    const bucket = await newBucket();
    const keys = etcdKeys(ENTRY, 40);
    await upload(bucket, keys);
    const session = provider({ maxConcurrency: 4 }).open(bucket.name, CREDS);
    const ac = new AbortController();
    let last: DeletionProgress | undefined;
    await expect(
      session.deletePrefix(PREFIX, {
        signal: ac.signal,
        onProgress: (p) => {
          last = p;
          if (p.deletedObjects >= 10) ac.abort(new Error('stop now'));
        },
      }),
    ).rejects.toThrow('stop now');
    expect(last?.cursor).toBeDefined();
    const left = (await names(bucket)).length;
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(keys.length);
    // Everything up to the cursor is gone.
    expect((await names(bucket)).every((n) => n > last!.cursor!)).toBe(true);
    const done = await session.deletePrefix(PREFIX, { signal: never, resume: last!, onProgress: () => undefined });
    expect(done.deletedObjects).toBeGreaterThanOrEqual(keys.length); // in-flight deletes after the cursor count twice at most
    expect(await names(bucket)).toEqual([]);
  });

  it('reports a missing bucket as a configuration problem', async () => {
    const session = provider().open(uniqueName('bel-missing'), CREDS);
    await expect(session.deletePrefix(PREFIX, { signal: never, onProgress: () => undefined })).rejects.toMatchObject({
      name: 'ClassifiedError',
      code: 'ERR_CONFIGURATION_PROBLEM',
      retryable: false,
      message: expect.stringContaining('does not exist'),
    });
    await expect(session.inventory(PREFIX, { signal: never })).rejects.toMatchObject({
      code: 'ERR_CONFIGURATION_PROBLEM',
      reason: 'BucketNotFound',
    });
  });

  it('rejects malformed or incomplete service-account JSON with a specific message and no key material', () => {
    const p = provider();
    const key = SA.private_key!;
    const keyLine = key.split('\n')[1]!;
    const cases: Array<[SecretData, RegExp]> = [
      [{}, /no "serviceaccount\.json" key/],
      [secret(`{"private_key": ${JSON.stringify(key)}, oops`), /not valid JSON/],
      [secret('[1,2]'), /not a JSON object/],
      [secret(JSON.stringify({ ...SA, private_key_id: undefined })), /lacks the field "private_key_id"/],
      [secret(JSON.stringify({ ...SA, token_uri: '' })), /lacks the field "token_uri"/],
      [secret(JSON.stringify({ ...SA, type: 'authorized_user' })), /"type" .* must be "service_account"/],
    ];
    for (const [data, message] of cases) {
      for (const call of [() => p.open('any-bucket', data), () => p.etcdSecretExtras(data)]) {
        let thrown: unknown;
        try {
          call();
        } catch (err) {
          thrown = err;
        }
        expect(thrown).toMatchObject({ name: 'ClassifiedError', code: 'ERR_CONFIGURATION_PROBLEM', retryable: false });
        const text = (thrown as Error).message;
        expect(text).toMatch(message);
        expect(text).not.toContain(keyLine);
        expect(text).not.toContain('PRIVATE KEY');
      }
    }
    expect(p.etcdSecretExtras(CREDS)).toEqual({});
  });

  it('measures deletion of 1000 objects next to bucket.deleteFiles (figures only)', async () => {
    const n = 1000;
    const keys = Array.from(
      { length: n },
      (_, i) =>
        `${PREFIX}etcd-main/v2/Incr-${String(i * 100).padStart(8, '0')}-${String(i * 100 + 99).padStart(8, '0')}-1755684000.gz`,
    );
    const measure = async (
      run: () => Promise<unknown>,
    ): Promise<{ ms: number; peakRssMb: number; deltaRssMb: number }> => {
      const base = process.memoryUsage.rss();
      let peak = base;
      const timer = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage.rss());
      }, 5);
      const t0 = performance.now();
      try {
        await run();
      } finally {
        clearInterval(timer);
      }
      const ms = performance.now() - t0;
      peak = Math.max(peak, process.memoryUsage.rss());
      return { ms, peakRssMb: peak / 2 ** 20, deltaRssMb: (peak - base) / 2 ** 20 };
    };
    const ours = await newBucket();
    await upload(ours, [...keys, ...SIBLINGS], 32);
    const session = createGcsProvider({ apiEndpoint: stackEnv('GCS_API_ENDPOINT') }).open(ours.name, CREDS);
    const a = await measure(() => session.deletePrefix(PREFIX, { signal: never, onProgress: () => undefined }));
    expect(await names(ours)).toEqual([...SIBLINGS].sort());
    const uncapped = await newBucket();
    await upload(uncapped, [...keys, ...SIBLINGS], 32);
    const session2 = createGcsProvider({ apiEndpoint: stackEnv('GCS_API_ENDPOINT'), maxWritesPerSecond: 1e6 }).open(
      uncapped.name,
      CREDS,
    );
    const c = await measure(() => session2.deletePrefix(PREFIX, { signal: never, onProgress: () => undefined }));
    expect(await names(uncapped)).toEqual([...SIBLINGS].sort());
    const theirs = await newBucket();
    await upload(theirs, [...keys, ...SIBLINGS], 32);
    const b = await measure(() => theirs.deleteFiles({ prefix: PREFIX }));
    expect(await names(theirs)).toEqual([...SIBLINGS].sort());
    const line = (label: string, m: { ms: number; peakRssMb: number; deltaRssMb: number }): string =>
      `${label}: ${n} objects in ${m.ms.toFixed(0)} ms = ${(n / (m.ms / 1000)).toFixed(0)} objects/s, ` +
      `peak RSS ${m.peakRssMb.toFixed(1)} MiB (+${m.deltaRssMb.toFixed(1)} MiB)`;
    // eslint-disable-next-line no-console -- the benchmark's figures are the point of this test
    console.log(
      `fake-gcs-server deletion benchmark\n${line('gcs-provider deletePrefix (cap 1000/s)', a)}\n` +
        `${line('gcs-provider deletePrefix (uncapped)', c)}\n${line('bucket.deleteFiles({prefix})', b)}`,
    );
  });
});

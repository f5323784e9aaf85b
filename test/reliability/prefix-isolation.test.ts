/**
 * Prefix isolation, property-based (docs/reliability.md, cases P1–P4): for generated entry names and object keys
 * (siblings such as `<name>2/`, `<name>-x/`, `<name>.old`, shortened names, other entries, `source-` forms, unicode,
 * dots and spaces), deleting entry A removes exactly the keys under A's prefix and nothing else — through the real
 * `deleteBackups` activity (name → prefix) and through an interrupted-then-resumed deletion (cursor logic), on the
 * `local` provider (temp folder) and the `gcp` provider (fake-gcs-server, pages of 3 names).
 */
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createStorageActivities } from '../../activities/storage-activities';
import type { DeletionProgress, StorageProvider } from '../../activities/storage-port';
import { createGcsProvider } from '../../adapters/storage/gcs-provider';
import { createLocalProvider } from '../../adapters/storage/local-provider';
import { parseEntryName } from '../../domain';
import { stackEnv } from '../support/env';
import {
  FULL,
  createGcsBucket,
  gcsClient,
  listGcs,
  listLocal,
  putGcs,
  putLocal,
  recordResult,
  serviceAccount,
  short,
} from './harness';

const SA = { 'serviceaccount.json': Buffer.from(serviceAccount().json) };
const root = mkdtempSync(join(tmpdir(), 'bel-rel-prefix-'));
const storage = gcsClient();
afterAll(() => rmSync(root, { recursive: true, force: true }));

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?$/);
/** Valid entry names: `[source-]shoot--<project>--<shoot>--<uid>`. */
const entryNameArb = fc
  .record({ project: label, shoot: label, uid: fc.oneof(fc.uuid(), label), source: fc.boolean() })
  .map(({ project, shoot, uid, source }) => `${source ? 'source-' : ''}shoot--${project}--${shoot}--${uid}`)
  .filter((n) => parseEntryName(n).ok); // e.g. `--a-` next to `--` makes no valid UID token: the activity refuses such names
/** One path segment: ASCII letters, digits and punctuation, spaces, dots and a few multi-byte characters. */
const segment = fc
  .string({ unit: fc.constantFrom(...Array.from('abcxyz019-_.~ +=,@äÖ日本🙂')), minLength: 1, maxLength: 8 })
  .filter((s) => s !== '.' && s !== '..');
const path = fc.array(segment, { minLength: 1, maxLength: 3 }).map((p) => p.join('/'));

interface Scenario {
  a: string;
  keys: string[];
}

/** Entry A, the keys under its prefix, and keys that are near misses or belong to others. */
const scenarioArb = fc
  .record({
    a: entryNameArb,
    others: fc.array(entryNameArb, { maxLength: 3 }),
    own: fc.array(path, { minLength: 0, maxLength: 8 }),
    near: fc.array(
      fc.tuple(
        fc.constantFrom('2', '-x', '.old', '-', '_', ' ', '0', '~', 'ä', ''),
        fc.option(path, { nil: undefined }),
      ),
      { maxLength: 6 },
    ),
    cut: fc.array(fc.tuple(fc.nat(), path), { maxLength: 3 }),
    foreign: fc.array(fc.tuple(fc.nat({ max: 2 }), path), { maxLength: 6 }),
  })
  .map(({ a, others, own, near, cut, foreign }): Scenario => {
    const base = a.replace(/^source-/, '');
    const keys = new Set<string>();
    for (const p of own) keys.add(`${base}/${p}`);
    for (const [suffix, p] of near) keys.add(p === undefined ? `${base}${suffix}` : `${base}${suffix}/${p}`);
    for (const [n, p] of cut) keys.add(`${base.slice(0, 1 + (n % base.length))}/${p}`);
    for (const [i, p] of foreign) {
      const o = others[i % Math.max(1, others.length)];
      keys.add(o ? `${o.replace(/^source-/, '')}/${p}` : `source-${base}/${p}`);
    }
    keys.add(`source-${base}/etcd-main/v2/Full-1.gz`); // the literal source- name is not the source entry's prefix
    // A filesystem cannot hold both `x` and `x/...`: drop a key that is a folder of another key.
    const all = [...keys];
    return { a, keys: all.filter((k) => !all.some((o) => o !== k && o.startsWith(`${k}/`))) };
  });

const ownOf = (s: Scenario): string[] => s.keys.filter((k) => k.startsWith(`${s.a.replace(/^source-/, '')}/`)).sort();
const othersOf = (s: Scenario): string[] =>
  s.keys.filter((k) => !k.startsWith(`${s.a.replace(/^source-/, '')}/`)).sort();

interface Backend {
  provider: StorageProvider;
  bucket(): Promise<{ name: string; put(keys: string[]): Promise<void>; list(): Promise<string[]> }>;
}

const local: Backend = {
  provider: createLocalProvider({ rootDir: root }),
  bucket: async () => {
    const name = `b-${short()}`;
    mkdirSync(join(root, name));
    return { name, put: async (keys) => putLocal(root, name, keys, 4), list: async () => listLocal(root, name) };
  },
};
const gcp: Backend = {
  provider: createGcsProvider({ apiEndpoint: stackEnv('GCS_API_ENDPOINT'), pageSize: 3 }),
  bucket: async () => {
    const b = await createGcsBucket(storage, `rel-prefix-${short()}`);
    return { name: b.name, put: (keys) => putGcs(b, keys, 8), list: () => listGcs(b) };
  },
};

const RUNS = { local: FULL ? 500 : 100, gcp: FULL ? 100 : 25 };
const runs = new Map<string, { runs: number; keys: number; own: number }>();
const count = (id: string, s: Scenario): void => {
  const r = runs.get(id) ?? { runs: 0, keys: 0, own: 0 };
  runs.set(id, { runs: r.runs + 1, keys: r.keys + s.keys.length, own: r.own + ownOf(s).length });
};
afterAll(() => {
  for (const [id, r] of runs) recordResult(id, r);
});

describe.each([
  ['local', local, RUNS.local],
  ['gcp', gcp, RUNS.gcp],
] as const)('%s provider', (type, backend, numRuns) => {
  it(`P${type === 'local' ? 1 : 2}: the deleteBackups activity removes exactly the keys under the entry's prefix (${numRuns} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (s) => {
        const b = await backend.bucket();
        await b.put(s.keys);
        const activities = createStorageActivities({
          providers: new Map([[type, backend.provider]]),
          heartbeatIntervalMs: 0,
          readEntry: async () => ({ type, bucketName: b.name, secretData: type === 'gcp' ? SA : {} }),
        });
        const receipt = await new MockActivityEnvironment().run(activities.deleteBackups, s.a);
        expect(await b.list()).toEqual(othersOf(s));
        expect(receipt).toMatchObject({ deletedObjects: ownOf(s).length, remainingObjects: 0 });
        count(`P${type === 'local' ? 1 : 2} prefix isolation, ${type}, whole deletion`, s);
      }),
      { numRuns, endOnFailure: true },
    );
  }, 240_000);

  it(`P${type === 'local' ? 3 : 4}: an interrupted deletion resumed from its cursor still removes exactly the entry's keys (${numRuns} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, fc.nat(), async (s, stopAfter) => {
        const b = await backend.bucket();
        await b.put(s.keys);
        const prefix = `${s.a.replace(/^source-/, '')}/`;
        const session = backend.provider.open(b.name, type === 'gcp' ? SA : {});
        const abort = new AbortController();
        const limit = ownOf(s).length === 0 ? 0 : stopAfter % ownOf(s).length;
        let last: DeletionProgress | undefined;
        await session
          .deletePrefix(prefix, {
            signal: abort.signal,
            onProgress: (p) => {
              last = p;
              if (p.deletedObjects >= limit) abort.abort(new Error('interrupted'));
            },
          })
          .catch((err: unknown) => {
            if (!abort.signal.aborted) throw err;
          });
        // The interruption never touched anything outside the prefix.
        expect((await b.list()).filter((k) => !k.startsWith(prefix))).toEqual(othersOf(s));
        await session.deletePrefix(prefix, {
          signal: new AbortController().signal,
          onProgress: () => undefined,
          ...(last ? { resume: last } : {}),
        });
        expect(await b.list()).toEqual(othersOf(s));
        expect((await session.remaining(prefix, { signal: new AbortController().signal })).objects).toBe(0);
        count(`P${type === 'local' ? 3 : 4} prefix isolation, ${type}, interrupted and resumed`, s);
      }),
      { numRuns, endOnFailure: true },
    );
  }, 240_000);
});

it('P5: gcp keys with ".." or "." segments under A\'s prefix are A\'s (flat names): deleted; B\'s object and A\'s siblings survive', async () => {
  const a = 'shoot--p5--a--0d1c2b3a';
  const b = await gcp.bucket();
  const others = [
    'shoot--p5--b--9f8e7d6c/etcd-main/v2/Full-1.gz',
    `${a}2/etcd-main/v2/Full-1.gz`,
    `${a}-x/etcd-main/v2/Full-1.gz`,
  ];
  // `<a>/../<b>/…` names no path: it starts with `<a>/`, so it is A's object, not B's.
  const own = [`${a}/../${others[0]}`, `${a}/etcd-main/./v2/Full-1.gz`, `${a}/..`, `${a}/x`];
  await b.put([...own, ...others]);
  const activities = createStorageActivities({
    providers: new Map([['gcp', gcp.provider]]),
    readEntry: async () => ({ type: 'gcp', bucketName: b.name, secretData: SA }),
  });
  const receipt = await new MockActivityEnvironment().run(activities.deleteBackups, a);
  expect(receipt).toMatchObject({ deletedObjects: own.length, remainingObjects: 0 });
  expect(await b.list()).toEqual([...others].sort());
  recordResult('P5 ".." and "." keys under a gcp prefix', { own, others, left: await b.list() });
}, 60_000);

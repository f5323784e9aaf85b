import {
  type Dirent,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import fc from 'fast-check';
import type { DeletionProgress } from '../../../activities/storage-port';
import { createLocalProvider, DEFAULT_LOCAL_HOST_PATH } from '../../../adapters/storage/local-provider';

const ENTRY = 'shoot--dev--demo--3f1c6a7e-2b4d-4c8e-9a0b-1234567890ab';
const PREFIX = `${ENTRY}/`;

/** Realistic etcd-backup-restore keys under one entry prefix. */
function etcdKeys(entry: string): string[] {
  const v2 = `${entry}/etcd-main/v2`;
  return [
    `${v2}/Full-00000000-00012345-1755684000.gz`,
    `${v2}/Incr-00012346-00012400-1755684300.gz`,
    `${v2}/Incr-00012401-00012480-1755684600.gz`,
    `${v2}/Full-00000000-00012999-1755770400/0000000001`,
    `${v2}/Full-00000000-00012999-1755770400/0000000002`,
    `${v2}/Full-00000000-00012999-1755770400/0000000003`,
    `${entry}/etcd-events/v2/Full-00000000-00000042-1755684000.gz`,
  ];
}

/**
 * Keys that share a textual prefix with the entry but belong to others: all must survive. (A bare file named like
 * the entry cannot coexist with the entry's folder on a filesystem; it has a test of its own.)
 */
const SIBLINGS = [
  `${ENTRY}2/etcd-main/v2/Full-00000000-00000001-1755684000.gz`,
  `${ENTRY}-x/etcd-main/v2/Full-00000000-00000001-1755684000.gz`,
  `${ENTRY}.old/etcd-main/v2/Incr-00000002-00000003-1755684000.gz`,
  `${ENTRY}2.tar.gz`,
];

let root: string;
const bucket = 'backups';
const never = new AbortController().signal;

function put(keys: string[], b = bucket): void {
  for (const k of keys) {
    const p = join(root, b, ...k.split('/'));
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, `data of ${k}`);
  }
}

/** Every file (and symlink) under a folder, as `/`-separated paths relative to it, sorted. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as Dirent[])
    .filter((d) => !d.isDirectory())
    .map((d) => relative(dir, join(d.parentPath, d.name)).split(sep).join('/'))
    .sort();
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'bel-local-'));
  mkdirSync(join(root, bucket));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const provider = () => createLocalProvider({ rootDir: root });

describe('local provider', () => {
  it('deletes everything under the prefix and nothing beside it', async () => {
    put([...etcdKeys(ENTRY), ...SIBLINGS]);
    const session = provider().open(bucket, {});
    const before = await session.inventory(PREFIX, { signal: never });
    expect(before.objects).toBe(7);
    expect(before.bytes).toBe(etcdKeys(ENTRY).reduce((n, k) => n + `data of ${k}`.length, 0));
    const seen: DeletionProgress[] = [];
    const done = await session.deletePrefix(PREFIX, { signal: never, onProgress: (p) => seen.push(p) });
    expect(done).toMatchObject({
      deletedObjects: 7,
      listedObjects: 7,
      lockedObjects: 0,
      rewrittenObjects: 0,
      deletedBytes: before.bytes,
    });
    // The cursor is the last key in key order, and progress arrived in key order.
    const sorted = [...etcdKeys(ENTRY)].sort();
    expect(done.cursor).toBe(sorted[sorted.length - 1]);
    expect([...new Set(seen.map((p) => p.cursor).filter(Boolean))]).toEqual(sorted);
    expect(filesUnder(join(root, bucket))).toEqual([...SIBLINGS].sort());
    expect(existsSync(join(root, bucket, ENTRY, 'etcd-main'))).toBe(false); // emptied folders go too
    expect(await session.remaining(PREFIX, { signal: never })).toEqual({ objects: 0, locked: 0, bytes: 0 });
    // Deleting again (a retry) succeeds with nothing to do.
    expect((await session.deletePrefix(PREFIX, { signal: never, onProgress: () => undefined })).deletedObjects).toBe(0);
  });

  it('leaves a bare file named like the entry alone (nothing under the prefix)', async () => {
    put([ENTRY, ...SIBLINGS]);
    const session = provider().open(bucket, {});
    expect(await session.inventory(PREFIX, { signal: never })).toEqual({ objects: 0, bytes: 0, truncated: false });
    const done = await session.deletePrefix(PREFIX, { signal: never, onProgress: () => undefined });
    expect(done.deletedObjects).toBe(0);
    expect(filesUnder(join(root, bucket))).toEqual([ENTRY, ...SIBLINGS].sort());
  });

  it('never follows a symlink: the link inside the prefix goes, its target survives', async () => {
    put(etcdKeys(ENTRY));
    const outside = mkdtempSync(join(tmpdir(), 'bel-outside-'));
    try {
      writeFileSync(join(outside, 'precious'), 'keep me');
      mkdirSync(join(outside, 'dir'));
      writeFileSync(join(outside, 'dir', 'inner'), 'keep me too');
      symlinkSync(join(outside, 'precious'), join(root, bucket, ENTRY, 'etcd-main', 'link-to-file'));
      symlinkSync(join(outside, 'dir'), join(root, bucket, ENTRY, 'link-to-dir'));
      const done = await provider()
        .open(bucket, {})
        .deletePrefix(PREFIX, { signal: never, onProgress: () => undefined });
      expect(done.deletedObjects).toBe(9);
      expect(filesUnder(outside)).toEqual(['dir/inner', 'precious']);
      expect(existsSync(join(root, bucket, ENTRY))).toBe(false);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('dot names: files that only look like traversal are deleted; "a/../x" cannot exist, the path resolves inside', async () => {
    const odd = [
      `${PREFIX}etcd-main/...`,
      `${PREFIX}etcd-main/..x`,
      `${PREFIX}.hidden`,
      `${PREFIX}..y/z`,
      `${PREFIX}x..`,
    ];
    put([...odd, ...SIBLINGS]);
    // A filesystem has no file named ".." or ".": writing "<entry>/etcd-main/../x" writes "<entry>/x".
    put([`${PREFIX}etcd-main/../x`]);
    expect(filesUnder(join(root, bucket, ENTRY))).toEqual(
      ['.hidden', '..y/z', 'etcd-main/...', 'etcd-main/..x', 'x', 'x..'].sort(),
    );
    const session = provider().open(bucket, {});
    const keys: string[] = [];
    const done = await session.deletePrefix(PREFIX, {
      signal: never,
      onProgress: (p) => {
        if (p.cursor) keys.push(p.cursor);
      },
    });
    expect(done.deletedObjects).toBe(odd.length + 1);
    // No key the walk produced has a "." or ".." segment: the strict per-key guard never has to refuse one.
    expect(keys.every((k) => !k.split('/').some((seg) => seg === '.' || seg === '..'))).toBe(true);
    expect(filesUnder(join(root, bucket))).toEqual([...SIBLINGS].sort());
  });

  it('refuses a prefix folder that is itself a symlink', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'bel-outside-'));
    try {
      writeFileSync(join(outside, 'precious'), 'keep me');
      symlinkSync(outside, join(root, bucket, ENTRY));
      await expect(
        provider()
          .open(bucket, {})
          .deletePrefix(PREFIX, { signal: never, onProgress: () => undefined }),
      ).rejects.toMatchObject({ name: 'ClassifiedError', code: 'ERR_CONFIGURATION_PROBLEM' });
      expect(filesUnder(outside)).toEqual(['precious']);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('resumes after a cursor: deletes the rest and does not list the earlier keys again', async () => {
    const keys = [...etcdKeys(ENTRY)].sort();
    put([...keys, ...SIBLINGS]);
    // Pretend an earlier attempt handled everything up to and including the 4th key (its files are gone).
    const cursor = keys[3]!;
    for (const k of keys.slice(0, 4)) rmSync(join(root, bucket, ...k.split('/')));
    const resume: DeletionProgress = {
      cursor,
      deletedObjects: 4,
      deletedBytes: 100,
      lockedObjects: 0,
      rewrittenObjects: 0,
      listedObjects: 4,
    };
    // A file that sorts before the cursor but was (re)written later must not be listed by the resumed walk.
    put([keys[0]!]);
    const cursors: string[] = [];
    const done = await provider()
      .open(bucket, {})
      .deletePrefix(PREFIX, {
        signal: never,
        resume,
        onProgress: (p) => {
          if (p.cursor) cursors.push(p.cursor);
        },
      });
    expect(done.listedObjects).toBe(4 + keys.length - 4);
    expect(done.deletedObjects).toBe(keys.length);
    expect(cursors.every((c) => c > cursor)).toBe(true);
    expect(filesUnder(join(root, bucket))).toEqual([keys[0]!, ...SIBLINGS].sort());
  });

  it('stops when aborted and resumes from the reported cursor', async () => {
    const keys = Array.from({ length: 50 }, (_, i) => `${PREFIX}etcd-main/v2/Incr-${String(i).padStart(8, '0')}-x.gz`);
    put(keys);
    const ac = new AbortController();
    let last: DeletionProgress | undefined;
    const session = provider().open(bucket, {});
    await expect(
      session.deletePrefix(PREFIX, {
        signal: ac.signal,
        onProgress: (p) => {
          last = p;
          if (p.deletedObjects === 10) ac.abort(new Error('cancelled by test'));
        },
      }),
    ).rejects.toThrow('cancelled by test');
    expect(last?.deletedObjects).toBe(10);
    expect(filesUnder(join(root, bucket, ENTRY)).length).toBe(40);
    const done = await session.deletePrefix(PREFIX, { signal: never, resume: last!, onProgress: () => undefined });
    expect(done.deletedObjects).toBe(50);
    expect(done.listedObjects).toBe(50);
    expect(existsSync(join(root, bucket, ENTRY))).toBe(false);
  });

  it('reports a missing bucket folder and bad bucket names as configuration problems', async () => {
    await expect(
      provider()
        .open('nope', {})
        .deletePrefix(PREFIX, { signal: never, onProgress: () => undefined }),
    ).rejects.toMatchObject({
      code: 'ERR_CONFIGURATION_PROBLEM',
      retryable: false,
      message: expect.stringContaining('"nope"'),
    });
    await expect(provider().open('nope', {}).inventory(PREFIX, { signal: never })).rejects.toMatchObject({
      code: 'ERR_CONFIGURATION_PROBLEM',
    });
    for (const bad of ['', '.', '..', 'a/b', '../x', 'a\\b']) {
      expect(() => provider().open(bad, {})).toThrow(expect.objectContaining({ code: 'ERR_CONFIGURATION_PROBLEM' }));
    }
  });

  it('refuses unusable prefixes', async () => {
    const session = provider().open(bucket, {});
    for (const bad of ['', '/', 'x', '../', 'a/../', '/abs/']) {
      await expect(session.deletePrefix(bad, { signal: never, onProgress: () => undefined })).rejects.toMatchObject({
        code: 'ERR_CONFIGURATION_PROBLEM',
      });
    }
  });

  it('adds hostPath to the etcd-backup secret and ignores credentials', () => {
    expect(createLocalProvider({ rootDir: root }).etcdSecretExtras({})).toEqual({
      hostPath: Buffer.from(DEFAULT_LOCAL_HOST_PATH),
    });
    expect(createLocalProvider({ rootDir: root, hostPath: '/x' }).etcdSecretExtras({ any: Buffer.from('y') })).toEqual({
      hostPath: Buffer.from('/x'),
    });
  });

  it('inventory reports its running count; remaining counts bytes too', async () => {
    put(etcdKeys(ENTRY));
    const session = provider().open(bucket, {});
    const counts: Array<{ objects: number; bytes: number }> = [];
    const inv = await session.inventory(PREFIX, { signal: never, onProgress: (c) => counts.push(c) });
    expect(counts.map((c) => c.objects)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(counts.at(-1)).toEqual({ objects: inv.objects, bytes: inv.bytes });
    expect(await session.remaining(PREFIX, { signal: never })).toEqual({ objects: 7, locked: 0, bytes: inv.bytes });
  });

  it('inventory stops at the limit', async () => {
    put(etcdKeys(ENTRY));
    expect(await provider().open(bucket, {}).inventory(PREFIX, { signal: never, limit: 3 })).toMatchObject({
      objects: 3,
      truncated: true,
    });
  });

  it("property: deleting entry A never removes a key outside A's prefix", async () => {
    const segment = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,6}$/);
    const entryName = fc
      .tuple(fc.stringMatching(/^[a-z][a-z0-9-]{0,8}[a-z0-9]$/), fc.stringMatching(/^[a-z0-9]{1,6}$/))
      .map(([t, u]) => `shoot--${t}--${u}`);
    await fc.assert(
      fc.asyncProperty(
        entryName,
        entryName,
        fc.constantFrom('', '2', '-x', '.bak', '--y'),
        fc.uniqueArray(fc.array(segment, { minLength: 1, maxLength: 3 }), { maxLength: 12 }),
        async (a, b, siblingSuffix, paths) => {
          rmSync(join(root, bucket), { recursive: true, force: true });
          mkdirSync(join(root, bucket));
          // Keys for A, for B, for a textual sibling of A, and the bare name of A, without file/folder clashes.
          const owners = [a, b, `${a}${siblingSuffix}`];
          const keys = new Set<string>();
          for (const owner of owners) for (const p of paths) keys.add(`${owner}/${p.join('/')}`);
          const all = [...keys].filter((k) => ![...keys].some((o) => o !== k && o.startsWith(`${k}/`)));
          const bare = owners.includes(a) && !all.some((k) => k.startsWith(`${a}/`)) ? [a] : [];
          put([...all, ...bare]);
          const before = filesUnder(join(root, bucket));
          await provider()
            .open(bucket, {})
            .deletePrefix(`${a}/`, { signal: never, onProgress: () => undefined });
          const after = filesUnder(join(root, bucket));
          expect(after).toEqual(before.filter((k) => !k.startsWith(`${a}/`)));
        },
      ),
      { numRuns: 60 },
    );
  });
});

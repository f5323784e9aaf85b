/**
 * The local provider against a concurrent symlink swap (a TOCTOU race): while a prefix is being deleted, a
 * "swapper" keeps renaming a folder inside the prefix away and putting a symlink to an outside folder in its place,
 * and back. The outside folder holds sentinel files with the same names (and the same sub-folder layout) as the
 * swapped folder, so any path-based operation that follows the swapped-in link lands on a sentinel. Real filesystem,
 * no mocks. Every sentinel must survive every iteration, and a count taken during the swap must never exceed what the
 * prefix itself can hold (the outside folder has extra files); deletion and counting may succeed or stop with the
 * provider's "tree changed" error (retryable), nothing else.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { rename, symlink, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalProvider } from '../../../adapters/storage/local-provider';

const ENTRY = 'shoot--dev--demo--3f1c6a7e-2b4d-4c8e-9a0b-1234567890ab';
const PREFIX = `${ENTRY}/`;
const bucket = 'backups';
const never = new AbortController().signal;
/** Iterations of build → race → check; bounded by time too so a slow machine stays well under 30 s. */
const ITERATIONS = 200;
const TIME_BUDGET_MS = 15_000;
/** Files per folder: the swapped folder and the outside folder both hold these names. */
const NAMES = Array.from({ length: 12 }, (_, i) => `Incr-${String(i).padStart(8, '0')}.gz`);
/** Files only the outside folder holds: a listing that strays into it counts more than the prefix can hold. */
const OUTSIDE_ONLY = Array.from({ length: 30 }, (_, i) => `zz-outside-${i}`);
/** Most objects the prefix ever holds: `etcd-main/*`, `etcd-main/v2/*`, `etcd-events/*` (or a link instead). */
const MAX_IN_PREFIX = NAMES.length * 3;

let root: string;
let outside: string;

/** The swapped folder `<entry>/etcd-main` holds files and a `v2/` sub-folder with files; so does the outside one. */
function buildPrefix(): void {
  const main = join(root, bucket, ENTRY, 'etcd-main');
  mkdirSync(join(main, 'v2'), { recursive: true });
  mkdirSync(join(root, bucket, ENTRY, 'etcd-events'), { recursive: true });
  for (const n of NAMES) {
    writeFileSync(join(main, n), 'backup');
    writeFileSync(join(main, 'v2', n), 'backup');
    writeFileSync(join(root, bucket, ENTRY, 'etcd-events', n), 'backup');
  }
}

function sentinels(): string[] {
  return [...NAMES, ...OUTSIDE_ONLY].flatMap((n) => [join(outside, n), join(outside, 'v2', n)]);
}

function buildSentinels(): void {
  mkdirSync(join(outside, 'v2'), { recursive: true });
  for (const s of sentinels()) writeFileSync(s, 'keep me');
}

/** Swaps `<entry>/etcd-main` ⇄ symlink to `outside` until `stop()` is true; every step may lose a race (ignored). */
async function swapper(stop: () => boolean): Promise<number> {
  const dir = join(root, bucket, ENTRY, 'etcd-main');
  const away = join(root, 'away'); // outside the bucket
  let swaps = 0;
  const attempt = async (op: () => Promise<void>): Promise<void> => {
    try {
      await op();
    } catch {
      // The deletion removed or replaced something first: go on swapping.
    }
  };
  while (!stop()) {
    await attempt(() => rename(dir, away));
    await attempt(() => symlink(outside, dir));
    swaps += 1;
    await new Promise<void>((r) => setImmediate(r));
    await attempt(() => unlink(dir));
    await attempt(() => rename(away, dir));
    await new Promise<void>((r) => setImmediate(r));
  }
  return swaps;
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'bel-race-'));
  outside = mkdtempSync(join(tmpdir(), 'bel-race-outside-'));
  mkdirSync(join(root, bucket));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

describe('local provider under a concurrent symlink swap', () => {
  it('never lists or deletes a file outside the prefix, whatever is swapped in while it walks', async () => {
    const session = createLocalProvider({ rootDir: root }).open(bucket, {});
    const failures: Array<{ iteration: number; missing: number }> = [];
    const overCounts: Array<{ iteration: number; objects: number }> = [];
    const outcomes = { completed: 0, treeChanged: 0, other: [] as string[] };
    let swaps = 0;
    let iterations = 0;
    const started = Date.now();
    for (let i = 0; i < ITERATIONS && Date.now() - started < TIME_BUDGET_MS; i += 1) {
      iterations += 1;
      rmSync(join(root, bucket, ENTRY), { recursive: true, force: true });
      rmSync(join(root, 'away'), { recursive: true, force: true });
      buildPrefix();
      buildSentinels();
      let done = false;
      const racing = swapper(() => done);
      const outcome = async (step: () => Promise<void>): Promise<void> => {
        try {
          await step();
          outcomes.completed += 1;
        } catch (err) {
          const e = err as { reason?: string; code?: string; retryable?: boolean; message?: string };
          if (
            e.reason === 'PrefixChangedDuringWalk' &&
            e.code === 'ERR_RETRYABLE_CONFIGURATION_PROBLEM' &&
            e.retryable
          ) {
            outcomes.treeChanged += 1;
          } else {
            outcomes.other.push(`${e.code ?? ''} ${e.message ?? String(err)}`.slice(0, 200));
          }
        }
      };
      try {
        await outcome(async () => {
          const { objects } = await session.inventory(PREFIX, { signal: never });
          if (objects > MAX_IN_PREFIX) overCounts.push({ iteration: i, objects });
        });
        await outcome(async () => {
          await session.deletePrefix(PREFIX, { signal: never, onProgress: () => undefined });
        });
      } finally {
        done = true;
        swaps += await racing;
      }
      const missing = sentinels().filter((s) => !existsSync(s)).length;
      if (missing > 0) failures.push({ iteration: i, missing });
    }
    // One line for the record (old code vs new code comparisons quote it).
    process.stdout.write(
      `symlink race: ${iterations} iterations, ${swaps} swaps, ${failures.length} iteration(s) lost ` +
        `sentinels (${failures.reduce((n, f) => n + f.missing, 0)} files), ${overCounts.length} count(s) strayed outside; ` +
        `walks completed ${outcomes.completed}, tree-changed ${outcomes.treeChanged}, other errors ` +
        `${outcomes.other.length}\n`,
    );
    expect(iterations).toBeGreaterThanOrEqual(50);
    expect(failures).toEqual([]);
    expect(overCounts).toEqual([]);
    expect(outcomes.other).toEqual([]);
  }, 30_000);
});

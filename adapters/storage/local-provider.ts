/**
 * The `local` storage provider (Gardener provider-local's filesystem buckets): bucket = folder `<rootDir>/<bucket>`,
 * object = regular file (or symlink, or other non-directory) under it, key = path relative to the bucket folder with
 * `/` separators. Unlike provider-local's `os.RemoveAll(<dir>/<bucket>/<entry>)`, deletion walks the prefix in key
 * order, checks every key against the prefix, never follows a symlink (not even one swapped in while it runs), and
 * can resume from a cursor.
 */
import { constants as fsConstants } from 'node:fs';
import { type FileHandle, lstat, open, opendir, rmdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type {
  BucketSession,
  DeletePrefixOptions,
  DeletionProgress,
  Inventory,
  ObjectCount,
  SecretData,
  StorageProvider,
} from '../../activities/storage-port';
import {
  assertKeyInPrefix,
  ClassifiedError,
  DATA_KEY_HOST_PATH,
  GardenerErrorCode,
  retryableConfigurationProblem,
} from '../../domain';
import { assertUsablePrefix, outsidePrefixError, quote, startProgress } from './prefix-guard';

/** Where etcd pods see the local buckets by default (provider-local's `--container-mount-path`). */
export const DEFAULT_LOCAL_HOST_PATH = '/etc/gardener/local-backupbuckets';

/** Options of {@link createLocalProvider}. */
export interface LocalProviderOptions {
  /** Folder holding one sub-folder per bucket. */
  rootDir: string;
  /**
   * Value of the `hostPath` key in the etcd-backup secret.
   * @default {@link DEFAULT_LOCAL_HOST_PATH} (`/etc/gardener/local-backupbuckets`)
   */
  hostPath?: string;
}

const configProblem = (reason: string, message: string): ClassifiedError =>
  new ClassifiedError(message, GardenerErrorCode.ConfigurationProblem, reason);

/** A walked non-directory entry under the prefix: its key and its name in the folder that holds it. */
interface Leaf {
  key: string;
  name: string;
}

/** Opening a folder: read-only, must be a folder, and a symlink as last component fails instead of being followed. */
const DIR_FLAGS = fsConstants.O_RDONLY | fsConstants.O_DIRECTORY | fsConstants.O_NOFOLLOW;

/** Leaves handed out after one re-verification of their folder chain (bounds the window described at the session). */
const VERIFY_EVERY = 32;

/**
 * A folder the walk holds open. Everything done inside it goes through `at` = `/proc/self/fd/<fd>`: the kernel
 * resolves that magic link to the open folder itself (it jumps to the descriptor's file, it does not re-walk a path),
 * so `${at}/${name}` looks `name` up in exactly this folder, as `openat(fd, name)`/`unlinkat(fd, name)` would.
 */
interface HeldDir {
  readonly handle: FileHandle;
  readonly at: string;
  /** Identity of the folder as opened (fstat), compared against an lstat by name on every re-verification. */
  readonly dev: bigint;
  readonly ino: bigint;
  /** The held folder it was opened in (`undefined` for the bucket folder) and its name there. */
  readonly parent: HeldDir | undefined;
  readonly name: string;
  /** Key prefix of its entries (`''` for the bucket folder, `<entry>/…/` below). */
  readonly key: string;
}

/** Consecutive leaves of one held folder, in key order. */
interface Batch {
  dir: HeldDir;
  leaves: Leaf[];
}

/** Why a folder could not be held: nothing there, a symlink, something else, or it changed between check and open. */
type NotHeld = 'missing' | 'symlink' | 'other' | 'changed';

/**
 * Creates the `local` provider. Contract: credentials are ignored (the secret data may be empty);
 * `etcdSecretExtras` returns `{ hostPath }`; `open` rejects bucket names that are empty, `.`/`..`, or contain `/`,
 * `\`, `..` or NUL (ClassifiedError ERR_CONFIGURATION_PROBLEM); a missing bucket folder is the same error on first
 * use. Deletion: keys are visited in ascending key order (children sorted by `name` for files and `name/` for
 * folders, so the depth-first walk order is the key order); the cursor is the last handled key and a resumed walk
 * skips whole folders before it without listing them. Symlinks are never followed, not even one swapped in while a
 * walk runs (folders are held by descriptor; see `LocalBucketSession`): a link inside the prefix is unlinked itself,
 * its target is untouched, and a folder that changes under a walk stops it with a retryable
 * ERR_RETRYABLE_CONFIGURATION_PROBLEM. Emptied folders are removed, the bucket folder never is. Memory: one
 * folder's names at a time per level (a folder's entries must be sorted). Linux only (needs /proc/self/fd).
 */
export function createLocalProvider(opts: LocalProviderOptions): StorageProvider {
  const hostPath = opts.hostPath ?? DEFAULT_LOCAL_HOST_PATH;
  return {
    type: 'local',
    etcdSecretExtras(_data: SecretData): Record<string, Buffer> {
      return { [DATA_KEY_HOST_PATH]: Buffer.from(hostPath) };
    },
    open(bucket: string, _data: SecretData): BucketSession {
      validateBucketName(bucket);
      return new LocalBucketSession(opts.rootDir, bucket);
    },
  };
}

function validateBucketName(bucket: string): void {
  if (bucket.length === 0) throw configProblem('InvalidBucketName', 'bucket name is empty');
  if (bucket === '.' || bucket.includes('..') || /[/\\\0]/.test(bucket)) {
    throw configProblem(
      'InvalidBucketName',
      `bucket name ${quote(bucket)} must not contain "/", "\\", ".." or NUL for the local provider`,
    );
  }
}

const isNotFound = (err: unknown): boolean => (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';

const errCode = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | undefined)?.code;

/**
 * One bucket folder. Nothing is ever looked up through a path that a concurrent writer could swap: the bucket folder
 * is opened `O_NOFOLLOW|O_DIRECTORY` and checked (lstat by path, then fstat of the descriptor: same dev+ino), and every
 * folder below it is opened the same way *inside its held parent* (`/proc/self/fd/<parent>/<name>`, see
 * {@link HeldDir}), listed through its own descriptor, and its entries are sized (lstat), unlinked and removed
 * (rmdir) as `/proc/self/fd/<fd>/<name>`. lstat, unlink and rmdir never follow the last component, and the folder
 * part resolves through the held descriptor, so whatever is swapped in (a symlink to elsewhere, another folder,
 * a file), an operation can only reach an entry of a folder the walk itself opened from its verified parent, from
 * the bucket folder down: a folder that was inside the prefix when it was opened. Before each batch of at most
 * {@link VERIFY_EVERY} leaves and before each rmdir, the chain of held folders is re-verified up to the bucket folder
 * (lstat each by name in its held parent, the bucket folder by path: same dev+ino as held). Any mismatch, or a folder
 * that turns into something else between listing and opening, stops the walk there with a retryable
 * ERR_RETRYABLE_CONFIGURATION_PROBLEM (`PrefixChangedDuringWalk`); the cursor is the last key handled before it,
 * so the next attempt resumes there and sees the tree as it then is (a symlink is then an object, unlinked itself).
 *
 * Residual window (Node has no `unlinkat`/`openat`; the `/proc/self/fd` names give the same semantics, so none
 * comes from that): a folder can be renamed out of the prefix (elsewhere in the bucket or on the filesystem)
 * between the re-verification and the unlinks of that batch; the leaves of the batch, listed in that folder while it
 * was under the prefix, are then still unlinked at their new place. Those are objects that were under the prefix
 * when listed, moved out by whoever renamed their folder, never files that were outside it: no system call checks
 * "this folder is still at that path" and unlinks atomically (`unlinkat` on a held descriptor has the same window),
 * so the window is bounded to one batch and the next check stops the walk. Hard links inside the prefix lose the
 * link only. Needs Linux with /proc mounted; this is checked on every walk (ERR_CONFIGURATION_PROBLEM otherwise),
 * since without it a lookup would fail as "not found" and an unwalked prefix would look empty.
 */
class LocalBucketSession implements BucketSession {
  private readonly bucketDir: string;

  constructor(
    rootDir: string,
    private readonly bucket: string,
  ) {
    this.bucketDir = join(rootDir, bucket);
  }

  async inventory(
    prefix: string,
    opts: { signal: AbortSignal; limit?: number; onProgress?(counted: ObjectCount): void },
  ): Promise<Inventory> {
    assertUsablePrefix(prefix);
    const limit = opts.limit ?? Number.POSITIVE_INFINITY;
    let objects = 0;
    let bytes = 0;
    for await (const { dir, leaves } of this.walk(prefix, undefined, opts.signal, false)) {
      for (const leaf of leaves) {
        if (objects >= limit) return { objects, bytes, truncated: true };
        if (!assertKeyInPrefix(prefix, leaf.key)) continue;
        objects += 1;
        bytes += await sizeOf(`${dir.at}/${leaf.name}`);
        opts.onProgress?.({ objects, bytes });
      }
    }
    return { objects, bytes, truncated: false };
  }

  async deletePrefix(prefix: string, opts: DeletePrefixOptions): Promise<DeletionProgress> {
    assertUsablePrefix(prefix);
    const progress = startProgress(opts.resume);
    const report = (): void => opts.onProgress({ ...progress });
    let outside = 0;
    let firstOutside = '';
    for await (const { dir, leaves } of this.walk(prefix, progress.cursor, opts.signal, true)) {
      // The walk re-verified `dir`'s chain right before handing out this batch.
      if (leaves.length > 0) await opts.beforeBatch?.();
      for (const leaf of leaves) {
        opts.signal.throwIfAborted();
        progress.listedObjects += 1;
        if (!assertKeyInPrefix(prefix, leaf.key)) {
          // Cannot happen with this walk (it only enters the prefix folder); never delete, and stop.
          outside += 1;
          firstOutside ||= leaf.key;
          break;
        }
        const path = `${dir.at}/${leaf.name}`; // `leaf.name` in the held folder, never followed
        const size = await sizeOf(path);
        try {
          await unlink(path); // removes a symlink itself, never its target
          progress.deletedObjects += 1;
          progress.deletedBytes += size;
        } catch (err) {
          if (errCode(err) === 'EISDIR') throw this.changed(prefix, `${quote(leaf.key)} turned into a folder`);
          if (!isNotFound(err)) throw err;
          progress.deletedObjects += 1; // already gone: done
        }
        progress.cursor = leaf.key;
        report();
      }
      if (outside > 0) break;
    }
    if (outside > 0) throw outsidePrefixError(prefix, firstOutside, outside);
    report();
    return progress;
  }

  async remaining(
    prefix: string,
    opts: { signal: AbortSignal; onProgress?(counted: ObjectCount): void },
  ): Promise<{ objects: number; locked: number; bytes: number }> {
    assertUsablePrefix(prefix);
    let objects = 0;
    let bytes = 0;
    for await (const { dir, leaves } of this.walk(prefix, undefined, opts.signal, false)) {
      for (const leaf of leaves) {
        objects += 1;
        bytes += await sizeOf(`${dir.at}/${leaf.name}`);
        opts.onProgress?.({ objects, bytes });
      }
    }
    return { objects, locked: 0, bytes };
  }

  async close(): Promise<void> {
    // Nothing to release (every walk closes the folders it held).
  }

  /** The error that stops a walk whose tree changed under it (retryable: the next attempt sees the new tree). */
  private changed(prefix: string, what: string): ClassifiedError {
    return retryableConfigurationProblem(
      'PrefixChangedDuringWalk',
      `the folders under prefix ${quote(prefix)} in ` +
        `bucket ${quote(this.bucket)} changed while being walked (${what}); stopped there without following anything, ` +
        'the next attempt continues',
    );
  }

  /** Holds the bucket folder (never a symlink) and checks that /proc/self/fd resolves to it. */
  private async openBucket(prefix: string): Promise<HeldDir> {
    const held = await openHeld(undefined, '', this.bucketDir, '');
    if (held === 'missing') {
      throw configProblem(
        'BucketNotFound',
        `bucket ${quote(this.bucket)} does not exist ` + '(no such folder in the local backup buckets directory)',
      );
    }
    if (held === 'symlink' || held === 'other') {
      throw configProblem(
        'BucketNotFound',
        `bucket ${quote(this.bucket)} is not a folder in the local backup buckets ` +
          'directory (symlinks are not followed)',
      );
    }
    if (held === 'changed') throw this.changed(prefix, 'the bucket folder was replaced');
    const viaProc = await stat(held.at, { bigint: true }).catch(() => undefined);
    if (!viaProc || viaProc.dev !== held.dev || viaProc.ino !== held.ino) {
      await held.handle.close();
      throw configProblem(
        'ProcUnavailable',
        'the local provider needs /proc/self/fd (Linux, /proc mounted) to walk ' +
          'bucket folders without following symlinks',
      );
    }
    return held;
  }

  /** Re-verifies that every held folder from `dir` up to the bucket folder is still where it was opened. */
  private async verify(dir: HeldDir, prefix: string): Promise<void> {
    for (let d: HeldDir | undefined = dir; d; d = d.parent) {
      const path = d.parent ? `${d.parent.at}/${d.name}` : this.bucketDir;
      const st = await lstat(path, { bigint: true }).catch((err: unknown) => {
        if (isNotFound(err)) return undefined;
        throw err;
      });
      if (!st || st.dev !== d.dev || st.ino !== d.ino) {
        throw this.changed(
          prefix,
          d.parent ? `${quote(d.key)} was moved or replaced` : 'the bucket folder was replaced',
        );
      }
    }
  }

  /** Removes `name` in held folder `parent` if it is an empty folder (after re-verifying `parent`). */
  private async removeIfEmpty(parent: HeldDir, name: string, key: string, prefix: string): Promise<void> {
    await this.verify(parent, prefix);
    await rmdir(`${parent.at}/${name}`).catch((err: unknown) => {
      const code = errCode(err);
      if (code === 'ENOTDIR') throw this.changed(prefix, `${quote(key)} is no longer a folder`);
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOENT') throw err;
    });
  }

  /**
   * Yields every non-directory under `<bucket>/<prefix>` in ascending key order, skipping keys ≤ `after`, in batches
   * per folder whose chain was re-verified right before the batch is handed out. With `prune`, folders emptied by the
   * consumer are removed on the way back up (the prefix folder too, the bucket folder never).
   */
  private async *walk(
    prefix: string,
    after: string | undefined,
    signal: AbortSignal,
    prune: boolean,
  ): AsyncGenerator<Batch> {
    const held: HeldDir[] = [];
    try {
      let dir = await this.openBucket(prefix);
      held.push(dir);
      for (const segment of prefix.slice(0, -1).split('/')) {
        const next = await openHeld(dir, segment, `${dir.at}/${segment}`, `${dir.key}${segment}/`);
        if (next === 'missing' || next === 'other') return; // nothing under the prefix (a file named like it is not)
        if (next === 'symlink') {
          // `<bucket>/<name>` leads somewhere else: not ours to enter, and reporting "empty" would be a lie.
          throw configProblem(
            'PrefixIsSymlink',
            `the prefix folder ${quote(prefix)} in bucket ${quote(this.bucket)} ` +
              'is a symlink; refusing to follow or delete it',
          );
        }
        if (next === 'changed')
          throw this.changed(prefix, `${quote(`${dir.key}${segment}/`)} was replaced while opened`);
        held.push(next);
        dir = next;
      }
      yield* this.walkDir(dir, after, signal, prune, prefix);
      if (prune && dir.parent) await this.removeIfEmpty(dir.parent, dir.name, dir.key, prefix);
    } finally {
      for (const h of held.reverse()) await h.handle.close();
    }
  }

  private async *walkDir(
    dir: HeldDir,
    after: string | undefined,
    signal: AbortSignal,
    prune: boolean,
    prefix: string,
  ): AsyncGenerator<Batch> {
    signal.throwIfAborted();
    const children: Array<{ sortKey: string; name: string; isDir: boolean }> = [];
    try {
      for await (const d of await opendir(dir.at)) {
        // lists the held folder itself, whatever its path is now
        // Dirent types come from lstat semantics: a symlink to a folder is not a directory here.
        const isDir = d.isDirectory();
        children.push({ sortKey: isDir ? `${d.name}/` : d.name, name: d.name, isDir });
      }
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    children.sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
    let leaves: Leaf[] = [];
    const batch = async (): Promise<Batch> => {
      await this.verify(dir, prefix);
      const b = { dir, leaves };
      leaves = [];
      return b;
    };
    for (const child of children) {
      signal.throwIfAborted();
      const key = dir.key + child.sortKey;
      if (child.isDir) {
        if (leaves.length > 0) yield await batch(); // keys before this folder's
        // Every key in this folder starts with `key`; all of them are ≤ `after` iff `after` is past the folder.
        if (after !== undefined && after > key && !after.startsWith(key)) {
          // Handled by an earlier attempt; it may have stopped before removing the emptied folder.
          if (prune) await this.removeIfEmpty(dir, child.name, key, prefix);
          continue;
        }
        const sub = await openHeld(dir, child.name, `${dir.at}/${child.name}`, key);
        if (sub === 'missing') continue; // removed meanwhile: nothing left in it
        if (typeof sub === 'string')
          throw this.changed(prefix, `${quote(key)} is no longer the folder that was listed`);
        try {
          yield* this.walkDir(sub, after, signal, prune, prefix);
        } finally {
          await sub.handle.close();
        }
        if (prune) await this.removeIfEmpty(dir, child.name, key, prefix);
      } else {
        if (after !== undefined && key <= after) continue;
        leaves.push({ key, name: child.name });
        if (leaves.length >= VERIFY_EVERY) yield await batch();
      }
    }
    if (leaves.length > 0) yield await batch();
  }
}

/**
 * Opens the folder at `path` (the bucket folder's path, or `<parent.at>/<name>`) without following a symlink, and
 * holds it only if the descriptor is the very folder an lstat saw there just before (same dev+ino).
 */
async function openHeld(
  parent: HeldDir | undefined,
  name: string,
  path: string,
  key: string,
): Promise<HeldDir | NotHeld> {
  const seen = await lstat(path, { bigint: true }).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
  if (!seen) return 'missing';
  if (seen.isSymbolicLink()) return 'symlink';
  if (!seen.isDirectory()) return 'other';
  let handle: FileHandle;
  try {
    handle = await open(path, DIR_FLAGS);
  } catch (err) {
    const code = errCode(err);
    if (code === 'ENOENT') return 'missing';
    if (code === 'ENOTDIR' || code === 'ELOOP') return 'changed'; // swapped for a symlink or a file since the lstat
    throw err;
  }
  let keep = false;
  try {
    const st = await handle.stat({ bigint: true });
    if (st.dev !== seen.dev || st.ino !== seen.ino) return 'changed';
    keep = true;
    return { handle, at: `/proc/self/fd/${handle.fd}`, dev: st.dev, ino: st.ino, parent, name, key };
  } finally {
    if (!keep) await handle.close();
  }
}

/** Size of an entry (lstat: a symlink's own size); 0 if it is gone. */
async function sizeOf(path: string): Promise<number> {
  try {
    return (await lstat(path)).size;
  } catch (err) {
    if (isNotFound(err)) return 0;
    throw err;
  }
}

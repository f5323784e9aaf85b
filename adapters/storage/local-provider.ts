/**
 * The `local` storage provider (Gardener provider-local's filesystem buckets): bucket = folder `<rootDir>/<bucket>`,
 * object = regular file (or symlink, or other non-directory) under it, key = path relative to the bucket folder with
 * `/` separators. Unlike provider-local's `os.RemoveAll(<dir>/<bucket>/<entry>)`, deletion walks the prefix in key
 * order, checks every key against the prefix, never follows a symlink, and can resume from a cursor.
 */
import { lstat, opendir, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ClassifiedError } from '../../activities/errors';
import type {
  BucketSession, DeletePrefixOptions, DeletionProgress, Inventory, ObjectCount, SecretData, StorageProvider,
} from '../../activities/storage-port';
import { assertKeyInPrefix, DATA_KEY_HOST_PATH, GardenerErrorCode } from '../../domain';
import { assertUsablePrefix, outsidePrefixError, quote, startProgress } from './prefix-guard';

/** Where etcd pods see the local buckets by default (provider-local's `--container-mount-path`). */
export const DEFAULT_LOCAL_HOST_PATH = '/etc/gardener/local-backupbuckets';

/** Options of {@link createLocalProvider}. */
export interface LocalProviderOptions {
  /** Folder holding one sub-folder per bucket. */
  rootDir: string;
  /** Value of the `hostPath` key in the etcd-backup secret; default {@link DEFAULT_LOCAL_HOST_PATH}. */
  hostPath?: string;
}

const configProblem = (reason: string, message: string): ClassifiedError =>
  new ClassifiedError(message, GardenerErrorCode.ConfigurationProblem, false, reason);

/** A walked non-directory entry under the prefix. */
interface Leaf {
  key: string;
  path: string;
}

/**
 * Creates the `local` provider. Contract: credentials are ignored (the secret data may be empty);
 * `etcdSecretExtras` returns `{ hostPath }`; `open` rejects bucket names that are empty, `.`/`..`, or contain `/`,
 * `\`, `..` or NUL (ClassifiedError ERR_CONFIGURATION_PROBLEM); a missing bucket folder is the same error on first
 * use. Deletion: keys are visited in ascending key order (children sorted by `name` for files and `name/` for
 * folders, so the depth-first walk order is the key order); the cursor is the last handled key and a resumed walk
 * skips whole folders before it without listing them. Symlinks are never followed: a link inside the prefix is
 * unlinked itself, its target is untouched. Emptied folders are removed, the bucket folder never is. Memory: one
 * folder's names at a time per level (a folder's entries must be sorted).
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
    throw configProblem('InvalidBucketName',
      `bucket name ${quote(bucket)} must not contain "/", "\\", ".." or NUL for the local provider`);
  }
}

const isNotFound = (err: unknown): boolean => (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';

class LocalBucketSession implements BucketSession {
  private readonly bucketDir: string;

  constructor(rootDir: string, private readonly bucket: string) {
    this.bucketDir = join(rootDir, bucket);
  }

  async inventory(prefix: string, opts: { signal: AbortSignal; limit?: number; onProgress?(counted: ObjectCount): void }):
  Promise<Inventory> {
    assertUsablePrefix(prefix);
    await this.checkBucket();
    const limit = opts.limit ?? Number.POSITIVE_INFINITY;
    let objects = 0;
    let bytes = 0;
    for await (const leaf of this.walk(prefix, undefined, opts.signal, false)) {
      if (objects >= limit) return { objects, bytes, truncated: true };
      if (!assertKeyInPrefix(prefix, leaf.key)) continue;
      objects += 1;
      bytes += await sizeOf(leaf.path);
      opts.onProgress?.({ objects, bytes });
    }
    return { objects, bytes, truncated: false };
  }

  async deletePrefix(prefix: string, opts: DeletePrefixOptions): Promise<DeletionProgress> {
    assertUsablePrefix(prefix);
    await this.checkBucket();
    const progress = startProgress(opts.resume);
    const report = (): void => opts.onProgress({ ...progress });
    let outside = 0;
    let firstOutside = '';
    for await (const leaf of this.walk(prefix, progress.cursor, opts.signal, true)) {
      progress.listedObjects += 1;
      if (!assertKeyInPrefix(prefix, leaf.key)) {
        // Cannot happen with this walk (it only enters the prefix folder); never delete, and stop.
        outside += 1;
        firstOutside ||= leaf.key;
        break;
      }
      const size = await sizeOf(leaf.path);
      try {
        await unlink(leaf.path); // removes a symlink itself, never its target
        progress.deletedObjects += 1;
        progress.deletedBytes += size;
      } catch (err) {
        if (!isNotFound(err)) throw err;
        progress.deletedObjects += 1; // already gone: done
      }
      progress.cursor = leaf.key;
      report();
    }
    if (outside > 0) throw outsidePrefixError(prefix, firstOutside, outside);
    report();
    return progress;
  }

  async remaining(prefix: string, opts: { signal: AbortSignal }):
  Promise<{ objects: number; locked: number; bytes: number }> {
    assertUsablePrefix(prefix);
    await this.checkBucket();
    let objects = 0;
    let bytes = 0;
    for await (const leaf of this.walk(prefix, undefined, opts.signal, false)) {
      objects += 1;
      bytes += await sizeOf(leaf.path);
    }
    return { objects, locked: 0, bytes };
  }

  async close(): Promise<void> {
    // Nothing to release.
  }

  private async checkBucket(): Promise<void> {
    const st = await lstat(this.bucketDir).catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
    if (!st) {
      throw configProblem('BucketNotFound', `bucket ${quote(this.bucket)} does not exist ` +
        '(no such folder in the local backup buckets directory)');
    }
    if (!st.isDirectory()) {
      throw configProblem('BucketNotFound', `bucket ${quote(this.bucket)} is not a folder in the local backup buckets ` +
        'directory (symlinks are not followed)');
    }
  }

  /**
   * Yields every non-directory under `<bucket>/<prefix>` in ascending key order, skipping keys ≤ `after`.
   * With `prune`, folders emptied by the consumer are removed on the way back up.
   */
  private async *walk(prefix: string, after: string | undefined, signal: AbortSignal, prune: boolean):
  AsyncGenerator<Leaf> {
    // lstat each segment without a trailing slash (a trailing slash would make lstat follow a symlink).
    let top = this.bucketDir;
    for (const segment of prefix.slice(0, -1).split('/')) {
      top = join(top, segment);
      const st = await lstat(top).catch((err: unknown) => {
        if (isNotFound(err)) return undefined;
        throw err;
      });
      if (!st) return; // nothing under the prefix
      if (st.isSymbolicLink()) {
        // `<bucket>/<name>` leads somewhere else: not ours to enter, and reporting "empty" would be a lie.
        throw configProblem('PrefixIsSymlink', `the prefix folder ${quote(prefix)} in bucket ${quote(this.bucket)} ` +
          'is a symlink; refusing to follow or delete it');
      }
      if (!st.isDirectory()) return; // a file named like the entry (not under the prefix): nothing to do

    }
    yield* this.walkDir(top, prefix, after, signal, prune);
  }

  private async *walkDir(dir: string, keyPrefix: string, after: string | undefined, signal: AbortSignal,
    prune: boolean): AsyncGenerator<Leaf> {
    signal.throwIfAborted();
    const children: Array<{ sortKey: string; name: string; isDir: boolean }> = [];
    try {
      for await (const d of await opendir(dir)) {
        // Dirent types come from lstat semantics: a symlink to a folder is not a directory here.
        const isDir = d.isDirectory();
        children.push({ sortKey: isDir ? `${d.name}/` : d.name, name: d.name, isDir });
      }
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    children.sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
    for (const child of children) {
      signal.throwIfAborted();
      const key = keyPrefix + child.sortKey;
      if (child.isDir) {
        // Every key in this folder starts with `key`; all of them are ≤ `after` iff `after` is past the folder.
        if (after !== undefined && after > key && !after.startsWith(key)) {
          // Handled by an earlier attempt; it may have stopped before removing the emptied folder.
          if (prune) await removeIfEmpty(join(dir, child.name));
          continue;
        }
        yield* this.walkDir(join(dir, child.name), key, after, signal, prune);
      } else {
        if (after !== undefined && key <= after) continue;
        yield { key, path: join(dir, child.name) };
      }
    }
    if (prune) await removeIfEmpty(dir);
  }
}

/** Removes a folder if it is empty; a non-empty or missing folder is left as it is. */
async function removeIfEmpty(dir: string): Promise<void> {
  await rmdir(dir).catch((err: unknown) => {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOENT') throw err;
  });
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await lstat(path)).size;
  } catch (err) {
    if (isNotFound(err)) return 0;
    throw err;
  }
}

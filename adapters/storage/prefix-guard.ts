/**
 * Guards and bookkeeping shared by the storage providers: the prefix check every provider runs before touching a
 * bucket, the error for a listing that strayed outside the prefix, and the resume cursor of out-of-order deletion.
 */
import type { DeletionProgress } from '../../activities/storage-port';
import { ClassifiedError, GardenerErrorCode } from '../../domain';

/** Quotes a name for a message, shortened. Names are not secret; they are shortened so messages stay small. */
export function quote(s: string): string {
  return JSON.stringify(s.length > 120 ? `${s.slice(0, 120)}…` : s);
}

/**
 * Throws a non-retryable ClassifiedError (ERR_CONFIGURATION_PROBLEM, reason `InvalidPrefix`) unless `prefix` is a
 * usable entry prefix: at least one character before a trailing `/`, no leading `/`, no `..` segment, no NUL.
 * Providers call this themselves, on top of the activity's entry-name validation (defence in depth).
 */
export function assertUsablePrefix(prefix: string): void {
  const bad =
    prefix.length < 2 ||
    !prefix.endsWith('/') ||
    prefix.startsWith('/') ||
    prefix.includes('\0') ||
    prefix.split('/').some((seg) => seg === '..' || seg === '.');
  if (bad) {
    throw new ClassifiedError(
      `refusing to work on prefix ${quote(prefix)}: a prefix must be "<entry name>/"`,
      GardenerErrorCode.ConfigurationProblem,
      'InvalidPrefix',
    );
  }
}

/**
 * Whether `key`, a flat object name as in GCS, lies under `prefix`: iff it starts with the prefix string. In such
 * names `/`, `.` and `..` are ordinary characters (`<entry>/a/../x` is the entry's object, never `<entry>/x` or
 * anything outside), so no segment check applies; path semantics are only real for filesystem-backed providers,
 * which use the domain's stricter `assertKeyInPrefix`. `prefix` must have passed {@link assertUsablePrefix}; as a
 * last line, an empty or slash-less prefix matches nothing.
 */
export function isFlatKeyInPrefix(prefix: string, key: string): boolean {
  return prefix.length >= 2 && prefix.endsWith('/') && key.startsWith(prefix);
}

/**
 * The error for a listed name outside the prefix: the listing misbehaved (a provider or emulator bug). Nothing
 * outside the prefix is ever deleted; retrying will not help, so it is non-retryable.
 */
export function outsidePrefixError(prefix: string, key: string, count: number): ClassifiedError {
  return new ClassifiedError(
    `listing under prefix ${quote(prefix)} returned ${count} object(s) outside it ` +
      `(first: ${quote(key)}); they were not deleted and deletion stopped`,
    GardenerErrorCode.InfraDependencies,
    'ListingOutsidePrefix',
  );
}

/** Counts of a fresh deletion, or the ones to resume from (copied, never mutated). */
export function startProgress(resume?: DeletionProgress): DeletionProgress {
  return {
    cursor: resume?.cursor,
    deletedObjects: resume?.deletedObjects ?? 0,
    deletedBytes: resume?.deletedBytes ?? 0,
    lockedObjects: resume?.lockedObjects ?? 0,
    rewrittenObjects: resume?.rewrittenObjects ?? 0,
    listedObjects: resume?.listedObjects ?? 0,
  };
}

/**
 * The resume cursor of a deletion whose items complete out of order. Items are begun in listing order (names
 * strictly increasing); the cursor is the name of the last item of the longest fully finished run from the start,
 * so everything up to and including the cursor is handled, whatever is still in flight after it.
 */
export class CursorTracker {
  private names: string[] = [];
  private done: boolean[] = [];
  private head = 0;
  private base = 0;

  constructor(private current: string | undefined) {}

  /** Last name of the finished run (`undefined` while nothing is finished and nothing was resumed from). */
  get cursor(): string | undefined {
    return this.current;
  }

  /** Items begun but not yet covered by the cursor (finished-out-of-order ones included): the memory held. */
  get window(): number {
    return this.names.length - this.head;
  }

  /** Registers the next item in listing order; returns its ticket for {@link CursorTracker.finish}. */
  begin(name: string): number {
    this.names.push(name);
    this.done.push(false);
    return this.base + this.names.length - 1;
  }

  /** Marks an item finished and advances the cursor over the contiguous finished run. */
  finish(ticket: number): void {
    this.done[ticket - this.base] = true;
    while (this.head < this.names.length && this.done[this.head]) {
      this.current = this.names[this.head];
      this.head += 1;
    }
    if (this.head > 1024 && this.head * 2 > this.names.length) {
      this.names = this.names.slice(this.head);
      this.done = this.done.slice(this.head);
      this.base += this.head;
      this.head = 0;
    }
  }
}

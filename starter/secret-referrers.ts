/**
 * Which served entries reference which provider secret (`spec.secretRef`), both ways: a secret's data change must
 * reach every entry that references it, and the secret informers watch exactly the namespaces referenced.
 */
import { secretKey } from './intent';

/** The index; keys of secrets are `namespace/name` ({@link secretKey}). */
export class SecretReferrers {
  /** Entry names by secret key. */
  private readonly referrers = new Map<string, Set<string>>();
  /** Secret key by entry name. */
  private readonly secretOf = new Map<string, string>();

  /** Records that entry `name` references `ref` (undefined: nothing; an earlier reference is dropped). */
  set(name: string, ref: { namespace: string; name: string } | undefined): void {
    this.delete(name);
    if (!ref) return;
    const key = secretKey(ref);
    this.secretOf.set(name, key);
    let set = this.referrers.get(key);
    if (!set) this.referrers.set(key, (set = new Set()));
    set.add(name);
  }

  /** Forgets entry `name`. */
  delete(name: string): void {
    const key = this.secretOf.get(name);
    if (!key) return;
    this.secretOf.delete(name);
    const set = this.referrers.get(key);
    set?.delete(name);
    if (set?.size === 0) this.referrers.delete(key);
  }

  /** Forgets everything. */
  clear(): void {
    this.referrers.clear();
    this.secretOf.clear();
  }

  /** The key of the secret entry `name` references, if any. */
  secretOfEntry(name: string): string | undefined {
    return this.secretOf.get(name);
  }

  /** Entries referencing the secret `key`. */
  entriesOf(key: string): ReadonlySet<string> | undefined {
    return this.referrers.get(key);
  }

  /** Namespaces of the referenced secrets. */
  namespaces(): string[] {
    return [...this.referrers.keys()].map((k) => k.slice(0, k.indexOf('/')));
  }
}

import type { VerifiableKey } from './model';

interface Entry { key: VerifiableKey | null; expiresAtMs: number }

/**
 * Keys by the hex digest of their secret, for a short lifetime (the bound on staleness when a
 * change notification is missed). Unknown digests are cached too, so guessing costs no lookup.
 */
export class KeyCache {
  private entries = new Map<string, Entry>();
  private digestsByKey = new Map<string, Set<string>>();
  /** Bumped on every invalidation: a lookup that started before one must not be cached. */
  generation = 0;

  constructor(private readonly ttlMs: number, private readonly maxEntries = 200_000) {}

  get size(): number {
    return this.entries.size;
  }

  /** The cached answer, or undefined when there is none (or it is too old). */
  get(digest: string, now = Date.now()): VerifiableKey | null | undefined {
    const entry = this.entries.get(digest);
    if (!entry) return undefined;
    if (entry.expiresAtMs <= now) {
      this.delete(digest);
      return undefined;
    }
    return entry.key;
  }

  set(digest: string, key: VerifiableKey | null, generation: number, now = Date.now()): void {
    if (this.ttlMs === 0 || generation !== this.generation) return;
    if (this.entries.size >= this.maxEntries) {
      // drop the oldest entry (Map keeps insertion order)
      const oldest = this.entries.keys().next().value as string;
      this.delete(oldest);
    }
    this.entries.set(digest, { key, expiresAtMs: now + this.ttlMs });
    if (key) {
      const set = this.digestsByKey.get(key.id) ?? new Set<string>();
      set.add(digest);
      this.digestsByKey.set(key.id, set);
    }
  }

  /** Forgets every secret of these keys. */
  invalidateKeys(keyIds: Iterable<string>): void {
    this.generation++;
    for (const id of keyIds) {
      for (const digest of this.digestsByKey.get(id) ?? []) this.entries.delete(digest);
      this.digestsByKey.delete(id);
    }
  }

  clear(): void {
    this.generation++;
    this.entries.clear();
    this.digestsByKey.clear();
  }

  private delete(digest: string): void {
    const entry = this.entries.get(digest);
    this.entries.delete(digest);
    if (entry?.key) this.digestsByKey.get(entry.key.id)?.delete(digest);
  }
}

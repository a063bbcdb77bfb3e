import type { Clock } from '../../lib/clock';
import type { VerifiableKey } from './model';

interface Entry { key: VerifiableKey; expiresAtMs: number }

/**
 * Keys by the hex digest of their secret, for a short lifetime (the bound on staleness when a
 * change notification is missed). Unknown digests are cached too, so guessing costs no lookup,
 * but apart and bounded on their own: a flood of guesses cannot push known keys out.
 */
export class KeyCache {
  private entries = new Map<string, Entry>();
  /** Digests that matched no key, with the time their answer expires. */
  private unknown = new Map<string, number>();
  private digestsByKey = new Map<string, Set<string>>();
  /** Bumped on every invalidation: a lookup that started before one must not be cached. */
  generation = 0;

  constructor(private readonly ttlMs: number, private readonly clock: Clock, private readonly maxEntries = 200_000, private readonly maxUnknown = 50_000) {}

  get size(): number {
    return this.entries.size + this.unknown.size;
  }

  /** The cached answer, or undefined when there is none (or it is too old). */
  get(digest: string, now = this.clock()): VerifiableKey | null | undefined {
    const entry = this.entries.get(digest);
    if (entry) {
      if (entry.expiresAtMs > now) return entry.key;
      this.delete(digest);
      return undefined;
    }
    const unknownUntil = this.unknown.get(digest);
    if (unknownUntil === undefined) return undefined;
    if (unknownUntil > now) return null;
    this.unknown.delete(digest);
    return undefined;
  }

  set(digest: string, key: VerifiableKey | null, generation: number, now = this.clock()): void {
    if (this.ttlMs === 0 || generation !== this.generation) return;
    if (!key) {
      // drop the oldest (Map keeps insertion order)
      if (this.unknown.size >= this.maxUnknown) this.unknown.delete(this.unknown.keys().next().value as string);
      this.unknown.set(digest, now + this.ttlMs);
      return;
    }
    if (this.entries.size >= this.maxEntries) this.delete(this.entries.keys().next().value as string);
    this.entries.set(digest, { key, expiresAtMs: now + this.ttlMs });
    const set = this.digestsByKey.get(key.id) ?? new Set<string>();
    set.add(digest);
    this.digestsByKey.set(key.id, set);
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
    this.unknown.clear();
    this.digestsByKey.clear();
  }

  private delete(digest: string): void {
    const entry = this.entries.get(digest);
    this.entries.delete(digest);
    const digests = entry && this.digestsByKey.get(entry.key.id);
    if (!entry || !digests) return;
    digests.delete(digest);
    if (digests.size === 0) this.digestsByKey.delete(entry.key.id);
  }
}

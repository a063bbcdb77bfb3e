import type { KeyFilter } from './store';

interface Kept { count: number; stamp: number; validUntil: number }

/**
 * Counts of keys by (account, filter), each with the account's count stamp it was counted at
 * (migrations/20261201000020_key_count_stamps.ts) and, for a filter on status, the time the next
 * key expires. A kept count is used only when the stamp read in the request's own transaction is
 * still the same and that time has not come: it is then exactly what counting again would give.
 * Bounded: past `max` entries, the least recently used goes.
 */
export class KeyCounts {
  private readonly kept = new Map<string, Kept>();

  constructor(private readonly max = 10_000) {}

  static keyOf(accountId: string, f: KeyFilter): string {
    return JSON.stringify([accountId, f.search, [...f.teamIds].sort(), f.withoutTeam, [...f.developerIds].sort(), [...f.channelIds].sort(),
      [...f.instanceIds].sort(), [...f.clouds].sort(), [...f.statuses].sort(), f.expiresBefore?.toISOString() ?? null, f.expiresAfter?.toISOString() ?? null]);
  }

  get(key: string, stamp: number, now: number): number | undefined {
    const kept = this.kept.get(key);
    if (!kept) return undefined;
    if (kept.stamp !== stamp || now >= kept.validUntil) {
      this.kept.delete(key);
      return undefined;
    }
    // the map's order is the order of last use
    this.kept.delete(key);
    this.kept.set(key, kept);
    return kept.count;
  }

  set(key: string, count: number, stamp: number, validUntil: number): void {
    this.kept.delete(key);
    if (this.kept.size >= this.max) this.kept.delete(this.kept.keys().next().value as string);
    this.kept.set(key, { count, stamp, validUntil });
  }

  get size(): number {
    return this.kept.size;
  }
}

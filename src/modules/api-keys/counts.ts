import { hash } from 'node:crypto';
import type { KeyFilter } from './store';

export interface Kept<T> { value: T; stamp: number; validUntil: number }

/**
 * A key for kept values: the SHA-256 of the parts as JSON, 44 characters however long they are (a
 * filter may name 1,000 teams: 34 KB as JSON, 340 MB over 10,000 kept counts).
 */
export const keptKey = (parts: unknown[]): string => hash('sha256', JSON.stringify(parts), 'base64');

/**
 * Counts of keys by (account, filter) (`totalCount`, facets), each with the account's count stamp
 * it was counted at (migrations/20261201000020_key_count_stamps.ts) and the time it stops being
 * true with no write at all (the next key to expire, or to enter an "expiring soon" window). A kept
 * value is used only when the stamp read in the request's own transaction is still the same and
 * that time has not come: it is then exactly what counting again would give. Bounded: past `max`
 * entries, the least recently used goes.
 */
export class KeyCounts<T = number> {
  private readonly kept = new Map<string, Kept<T>>();
  private readonly running = new Map<string, Promise<Kept<T>>>();

  constructor(private readonly max = 10_000) {}

  static keyOf(accountId: string, f: KeyFilter): string {
    return keptKey([accountId, f.search, [...f.teamIds].sort(), f.withoutTeam, [...f.developerIds].sort(), [...f.channelIds].sort(),
      [...f.instanceIds].sort(), [...f.clouds].sort(), [...f.statuses].sort(), f.expiresBefore?.toISOString() ?? null, f.expiresAfter?.toISOString() ?? null]);
  }

  get(key: string, stamp: number, now: number): T | undefined {
    const kept = this.kept.get(key);
    if (!kept) return undefined;
    if (kept.stamp !== stamp || now >= kept.validUntil) {
      this.kept.delete(key);
      return undefined;
    }
    // the map's order is the order of last use
    this.kept.delete(key);
    this.kept.set(key, kept);
    return kept.value;
  }

  /** The kept value of a key and the stamp it goes with, while its time has not come (the caller checks the stamp). */
  peek(key: string, now: number): { value: T; stamp: number } | undefined {
    const kept = this.kept.get(key);
    if (!kept || now >= kept.validUntil) return undefined;
    this.kept.delete(key);
    this.kept.set(key, kept);
    return { value: kept.value, stamp: kept.stamp };
  }

  /**
   * Counts once for every request that asks for the same key while it is being counted: the
   * others wait for it (and check its stamp against their own) instead of counting again, which
   * many requests at once for a filter nobody asked for lately would otherwise all do.
   */
  async once(key: string, count: () => Promise<Kept<T>>): Promise<Kept<T>> {
    const running = this.running.get(key);
    if (running) return running;
    const started = count().then((kept) => {
      this.set(key, kept.value, kept.stamp, kept.validUntil);
      return kept;
    }).finally(() => this.running.delete(key));
    this.running.set(key, started);
    return started;
  }

  set(key: string, value: T, stamp: number, validUntil: number): void {
    this.kept.delete(key);
    if (this.kept.size >= this.max) this.kept.delete(this.kept.keys().next().value as string);
    this.kept.set(key, { value, stamp, validUntil });
  }

  get size(): number {
    return this.kept.size;
  }
}

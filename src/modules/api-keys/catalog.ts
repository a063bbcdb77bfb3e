import type { ChannelRecord } from '../channels/model';
import type { DeveloperRecord } from '../developers/model';
import type { InstanceRecord } from '../instances/model';

/** The records a listing shows beside its keys that the service keeps between pages. */
export interface CatalogRecords {
  developers: Map<string, DeveloperRecord>;
  instances: Map<string, InstanceRecord>;
  channels: Map<string, ChannelRecord>;
}

export type CatalogKind = keyof CatalogRecords;

interface Kept extends CatalogRecords { stamp: number; size: number }

/**
 * The developers, instances and channels that listings showed, per account, each with the
 * account's catalog stamp it was read at (migrations/20261201000070_catalog_stamps.ts). A page
 * reads the stamp in the statement that reads what it does not hold: while the stamp has not
 * moved, what is held is exactly what reading it again would give; once it has, the account's
 * records are dropped. Records are shared by requests and never changed. Bounded: past `max`
 * records in all, the accounts used least recently go (one account alone holds at most `max`).
 */
export class CatalogCache {
  private readonly accounts = new Map<string, Kept>();
  private records = 0;

  constructor(private readonly max = 20_000) {}

  /** What is held for an account, and the stamp it goes with. */
  held(accountId: string): (CatalogRecords & { stamp: number }) | undefined {
    const kept = this.accounts.get(accountId);
    if (kept) this.touch(accountId, kept);
    return kept;
  }

  /**
   * Adds records read at `stamp`. Held records of another stamp are dropped first: they are
   * older, or newer than these, and either way not to be mixed with them.
   */
  add(accountId: string, stamp: number, read: { developers: readonly DeveloperRecord[]; instances: readonly InstanceRecord[]; channels: readonly ChannelRecord[] }): void {
    let kept = this.accounts.get(accountId);
    if (kept && kept.stamp !== stamp) {
      this.drop(accountId);
      kept = undefined;
    }
    kept ??= { stamp, size: 0, developers: new Map(), instances: new Map(), channels: new Map() };
    this.touch(accountId, kept);
    for (const d of read.developers) this.put(kept, kept.developers, d);
    for (const i of read.instances) this.put(kept, kept.instances, i);
    for (const c of read.channels) this.put(kept, kept.channels, c);
    for (const [oldest] of this.accounts) {
      if (this.records <= this.max || oldest === accountId) break;
      this.drop(oldest);
    }
  }

  /** Records held, in all accounts. */
  get size(): number {
    return this.records;
  }

  /** Makes the account the most recently used: the map's order is the order of last use. */
  private touch(accountId: string, kept: Kept): void {
    this.accounts.delete(accountId);
    this.accounts.set(accountId, kept);
  }

  private put<R extends { id: string }>(kept: Kept, map: Map<string, R>, record: R): void {
    if (!map.has(record.id)) {
      // one account alone holds at most `max`; past that, its pages read the rest
      if (kept.size >= this.max) return;
      kept.size++;
      this.records++;
    }
    map.set(record.id, record);
  }

  private drop(accountId: string): void {
    const kept = this.accounts.get(accountId);
    if (!kept) return;
    this.records -= kept.size;
    this.accounts.delete(accountId);
  }
}

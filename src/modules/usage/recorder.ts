import { randomInt } from 'node:crypto';
import type { Database } from '../../db/database';
import { ALL_ACCOUNTS } from '../../db/tenant';
import { ApiError, fromDatabaseError } from '../../errors';
import type { Clock } from '../../lib/clock';
import { recordLastUse } from '../api-keys/store';
import { addCounts, noCounts, REJECTION_CODES, type RecordedCounts, type RejectionCode, type UsageDims } from './model';
import { addToRollups } from './store';

const HOUR = 3_600_000;

interface Bucket {
  dims: UsageDims; hour: number; counts: RecordedCounts;
  /** The latest verification counted in it (the key's lastUsedAt). */
  lastAt: number;
  /** The flush generation whose buffer holds it. */
  generation: number;
  /** Flushes in which this bucket alone failed to be written. */
  failures: number;
}

/** What a bucket the database refused (and that was dropped) held, for the log. */
export interface DroppedBucket {
  accountId: string; apiKeyId: string; hour: Date; valid: number; rejected: number; failures: number;
}

/** Flushes a bucket may fail on its own before its counts are dropped. */
export const MAX_BUCKET_FAILURES = 3;

/** True when the database could not be reached: every count waits for the next flush. */
const unreachable = (err: unknown) => {
  const mapped = fromDatabaseError(err);
  return mapped instanceof ApiError && mapped.code === 'SERVICE_UNAVAILABLE';
};

const dimsKey = (d: UsageDims) =>
  `${d.accountId}\u0000${d.apiKeyId}\u0000${d.channelId}\u0000${d.instanceId}\u0000${d.developerId}\u0000${d.cloud}\u0000${d.teamIds.join(',')}`;

function isSorted(ids: readonly string[]): boolean {
  for (let i = 1; i < ids.length; i++) if (ids[i - 1] > ids[i]) return false;
  return true;
}

export interface UsageRecorderOptions {
  flushIntervalMs: number;
  flushSize: number;
  onError?: (err: unknown) => void;
  /** A bucket refused by the database {@link MAX_BUCKET_FAILURES} times, whose counts are dropped. */
  onDropped?: (bucket: DroppedBucket, err: unknown) => void;
  /** The roll-ups' shard this process writes into (default: one of {@link USAGE_SHARDS}, at random). */
  shard?: number;
}

/**
 * Shards of the roll-ups (migration 20261201000050): each process adds its counts to rows of its
 * own shard, so concurrent flushes of several processes do not wait for each other's row locks.
 */
export const USAGE_SHARDS = 16;

/**
 * Counts verifications in memory, per hour and dimensions, and adds them to the hourly
 * roll-ups in one statement per flush (on an interval, or at once when the buffer is full).
 * A flush that cannot reach the database keeps its counts for the next one; `stop` flushes what
 * is left. A flush the database refuses for what a bucket holds is split in halves until the
 * refused buckets stand alone: the others are written, and a bucket refused in
 * {@link MAX_BUCKET_FAILURES} flushes is dropped (reported through `onDropped`), so one bad
 * bucket never stops the counting of every other.
 */
export class UsageRecorder {
  private buffer = new Map<string, Bucket>();
  /** Bumped whenever the buffer is taken for a flush. */
  private generation = 0;
  /** The bucket a dimension object was last counted in: a cached key's verifications skip the buffer's lookup. */
  private latest = new WeakMap<UsageDims, Bucket>();
  /** Keys of dimension objects recorded again and again (a verified key's are reused while it is cached). */
  private dimsKeys = new WeakMap<UsageDims, string>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private pending = 0;
  /** A flush asked for by a full buffer is queued or running: don't queue another per record. */
  private sizeFlushQueued = false;

  private readonly shard: number;

  constructor(private readonly db: Database, private readonly options: UsageRecorderOptions, private readonly clock: Clock) {
    this.shard = options.shard ?? randomInt(USAGE_SHARDS);
  }

  private bucketKey(d: UsageDims, hour: number): string {
    let key = this.dimsKeys.get(d);
    if (key === undefined) {
      key = dimsKey(d);
      this.dimsKeys.set(d, key);
    }
    return `${hour}\u0000${key}`;
  }

  /** Buffered counts not yet written. */
  get depth(): number {
    return this.pending;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.flush(), this.options.flushIntervalMs);
    this.timer.unref();
  }

  /** Counts one verification: VALID, or the reason it was rejected. */
  record(given: UsageDims, code: 'VALID' | RejectionCode, at = this.clock()): void {
    const hour = at - (at % HOUR);
    let bucket = this.latest.get(given);
    if (bucket === undefined || bucket.hour !== hour || bucket.generation !== this.generation) {
      bucket = this.bucketFor(given, hour);
      this.latest.set(given, bucket);
    }
    if (code === 'VALID') bucket.counts.valid++;
    else {
      bucket.counts.rejected++;
      bucket.counts.reasons[REJECTION_CODES.indexOf(code)]++;
    }
    if (at > bucket.lastAt) bucket.lastAt = at;
    this.pending++;
    if (this.buffer.size >= this.options.flushSize && !this.sizeFlushQueued) {
      this.sizeFlushQueued = true;
      void this.flush().finally(() => { this.sizeFlushQueued = false; });
    }
  }

  private bucketFor(given: UsageDims, hour: number): Bucket {
    // one roll-up row per team set: the same teams in another order must not become a second row of one statement
    const dims = isSorted(given.teamIds) ? given : { ...given, teamIds: [...given.teamIds].sort() };
    const key = this.bucketKey(dims, hour);
    let bucket = this.buffer.get(key);
    if (!bucket) {
      bucket = { dims, hour, counts: noCounts(), lastAt: 0, generation: this.generation, failures: 0 };
      this.buffer.set(key, bucket);
    }
    return bucket;
  }

  /** Writes everything buffered so far; concurrent calls share one flush at a time. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.buffer.size === 0) return;
    const buckets = [...this.buffer.values()];
    this.buffer = new Map();
    this.generation++;
    this.pending = 0;
    this.flushing = this.write(buckets).catch(async (err: unknown) => {
      const kept = unreachable(err) ? buckets : await this.writeApart(buckets, err);
      // keep the counts for the next flush
      for (const b of kept) this.merge(b);
      this.pending += kept.reduce((n, b) => n + b.counts.valid + b.counts.rejected, 0);
      if (kept.length) this.options.onError?.(err);
    }).finally(() => { this.flushing = null; });
    await this.flushing;
  }

  /**
   * Writes the buckets of a refused flush in halves until each refused bucket stands alone;
   * returns those to keep for the next flush (a refused bucket until its last allowed failure,
   * and every bucket once the database cannot be reached).
   */
  private async writeApart(buckets: Bucket[], err: unknown): Promise<Bucket[]> {
    if (buckets.length === 1) {
      const [bucket] = buckets;
      bucket.failures++;
      if (bucket.failures < MAX_BUCKET_FAILURES) return buckets;
      this.options.onDropped?.({
        accountId: bucket.dims.accountId, apiKeyId: bucket.dims.apiKeyId, hour: new Date(bucket.hour),
        valid: bucket.counts.valid, rejected: bucket.counts.rejected, failures: bucket.failures,
      }, err);
      return [];
    }
    const middle = Math.ceil(buckets.length / 2);
    const kept: Bucket[] = [];
    for (const half of [buckets.slice(0, middle), buckets.slice(middle)]) {
      try {
        await this.write(half);
      } catch (halfErr) {
        if (unreachable(halfErr)) return [...kept, ...buckets.slice(buckets.indexOf(half[0]))];
        kept.push(...(await this.writeApart(half, halfErr)));
      }
    }
    return kept;
  }

  private merge(b: Bucket): void {
    const into = this.bucketFor(b.dims, b.hour);
    addCounts(into.counts, b.counts);
    into.lastAt = Math.max(into.lastAt, b.lastAt);
    into.failures = Math.max(into.failures, b.failures);
  }

  private async write(unordered: Bucket[]): Promise<void> {
    // Processes on one shard flush the same hot rows: a fixed order of row locks keeps their flushes from deadlocking.
    const buckets = unordered.map((b) => ({ b, key: this.bucketKey(b.dims, b.hour) }))
      .sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0)).map((x) => x.b);
    const lastUse = new Map<string, Date>();
    for (const { dims: { apiKeyId }, lastAt } of buckets) {
      if (apiKeyId && lastAt > (lastUse.get(apiKeyId)?.getTime() ?? 0)) lastUse.set(apiKeyId, new Date(lastAt));
    }
    // one flush writes the roll-ups of many accounts
    await this.db.transaction(ALL_ACCOUNTS, async (tx) => {
      await addToRollups(tx, this.shard, buckets.map(({ dims, hour, counts }) => ({ ...dims, hour: new Date(hour), counts })));
      await recordLastUse(tx, lastUse);
    });
  }

  /** Stops the timer and writes what is left (retrying while the database is away, up to `deadlineMs`). */
  async stop(deadlineMs = 10_000): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const end = Date.now() + deadlineMs;
    await this.flush();
    // real time: the shutdown's deadline, whatever the service's clock says
    while (this.buffer.size > 0 && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 200));
      await this.flush();
    }
  }
}

import type { Knex } from 'knex';
import { ALL_ACCOUNTS, scopedTransaction } from '../../db/scope';
import type { UsageDims } from './model';

const HOUR = 3_600_000;

interface Bucket {
  dims: UsageDims; hour: number; valid: number; rejected: number;
  /** The latest verification counted in it (the key's lastUsedAt). */
  lastAt: number;
  /** The flush generation whose buffer holds it. */
  generation: number;
}

const dimsKey = (d: UsageDims) =>
  `${d.accountId}\u0000${d.apiKeyId}\u0000${d.channelId}\u0000${d.instanceId}\u0000${d.developerId}\u0000${d.cloud}\u0000${d.teamIds.join(',')}`;

/** Keys of dimension objects recorded again and again (a verified key's are reused while it is cached). */
const dimsKeys = new WeakMap<UsageDims, string>();

function bucketKey(d: UsageDims, hour: number): string {
  let key = dimsKeys.get(d);
  if (key === undefined) {
    key = dimsKey(d);
    dimsKeys.set(d, key);
  }
  return `${hour}\u0000${key}`;
}

function isSorted(ids: readonly string[]): boolean {
  for (let i = 1; i < ids.length; i++) if (ids[i - 1] > ids[i]) return false;
  return true;
}

export interface UsageRecorderOptions {
  flushIntervalMs: number;
  flushSize: number;
  onError?: (err: unknown) => void;
}

/**
 * Counts verifications in memory, per hour and dimensions, and adds them to the hourly
 * roll-ups in one statement per flush (on an interval, or at once when the buffer is full).
 * A failed flush keeps its counts for the next one; `stop` flushes what is left.
 */
export class UsageRecorder {
  private buffer = new Map<string, Bucket>();
  /** Bumped whenever the buffer is taken for a flush. */
  private generation = 0;
  /** The bucket a dimension object was last counted in: a cached key's verifications skip the buffer's lookup. */
  private latest = new WeakMap<UsageDims, Bucket>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private pending = 0;
  /** A flush asked for by a full buffer is queued or running: don't queue another per record. */
  private sizeFlushQueued = false;

  constructor(private readonly db: Knex, private readonly options: UsageRecorderOptions) {}

  /** Buffered counts not yet written. */
  get depth(): number {
    return this.pending;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.flush(), this.options.flushIntervalMs);
    this.timer.unref();
  }

  record(given: UsageDims, valid: boolean, at = Date.now()): void {
    const hour = at - (at % HOUR);
    let bucket = this.latest.get(given);
    if (bucket === undefined || bucket.hour !== hour || bucket.generation !== this.generation) {
      bucket = this.bucketFor(given, hour);
      this.latest.set(given, bucket);
    }
    if (valid) bucket.valid++;
    else bucket.rejected++;
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
    const key = bucketKey(dims, hour);
    let bucket = this.buffer.get(key);
    if (!bucket) {
      bucket = { dims, hour, valid: 0, rejected: 0, lastAt: 0, generation: this.generation };
      this.buffer.set(key, bucket);
    }
    return bucket;
  }

  /** Writes everything buffered so far; concurrent calls share one flush at a time. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.buffer.size === 0) return;
    const buckets = [...this.buffer.values()];
    const count = this.pending;
    this.buffer = new Map();
    this.generation++;
    this.pending = 0;
    this.flushing = this.write(buckets).catch((err: unknown) => {
      // keep the counts for the next flush
      for (const b of buckets) this.merge(b);
      this.pending += count;
      this.options.onError?.(err);
    }).finally(() => { this.flushing = null; });
    await this.flushing;
  }

  private merge(b: Bucket): void {
    const into = this.bucketFor(b.dims, b.hour);
    into.valid += b.valid;
    into.rejected += b.rejected;
    into.lastAt = Math.max(into.lastAt, b.lastAt);
  }

  private async write(unordered: Bucket[]): Promise<void> {
    // Replicas flush the same hot rows: a fixed order of row locks keeps their flushes from deadlocking.
    const buckets = unordered.map((b) => ({ b, key: bucketKey(b.dims, b.hour) }))
      .sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0)).map((x) => x.b);
    const lastUsed = new Map<string, number>();
    for (const { dims: { apiKeyId }, lastAt } of buckets) {
      if (apiKeyId) lastUsed.set(apiKeyId, Math.max(lastUsed.get(apiKeyId) ?? 0, lastAt));
    }
    // one flush writes the roll-ups of many accounts
    await scopedTransaction(this.db, ALL_ACCOUNTS, async (trx) => {
      await trx.raw(
        `insert into usage_hourly as u (account_id, hour, api_key_id, channel_id, instance_id, developer_id, cloud, team_ids, valid, rejected)
         select a, h, k, c, i, d, cl, case when t = '' then '{}'::text[] else string_to_array(t, ',') end, v, r
         from unnest(?::text[], ?::timestamptz[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::int[], ?::int[])
              as x(a, h, k, c, i, d, cl, t, v, r)
         on conflict (account_id, hour, api_key_id, channel_id, instance_id, developer_id, cloud, team_ids)
         do update set valid = u.valid + excluded.valid, rejected = u.rejected + excluded.rejected`,
        [
          buckets.map((b) => b.dims.accountId),
          buckets.map((b) => new Date(b.hour).toISOString()),
          buckets.map((b) => b.dims.apiKeyId),
          buckets.map((b) => b.dims.channelId),
          buckets.map((b) => b.dims.instanceId),
          buckets.map((b) => b.dims.developerId),
          buckets.map((b) => b.dims.cloud),
          buckets.map((b) => b.dims.teamIds.join(',')),
          buckets.map((b) => b.valid),
          buckets.map((b) => b.rejected),
        ],
      );
      if (lastUsed.size > 0) {
        const ids = [...lastUsed.keys()];
        // locked in ID order first, as every change of many keys locks them: the update alone would lock
        // them in its plan's order, and could deadlock with such a change (which then fails)
        await trx.raw('select 1 from api_keys where id = any(?::text[]) order by id for no key update', [ids]);
        await trx.raw(
          `update api_keys set last_used_at = x.at
           from unnest(?::text[], ?::timestamptz[]) as x(id, at)
           where api_keys.id = x.id and (api_keys.last_used_at is null or api_keys.last_used_at < x.at)`,
          [ids, [...lastUsed.values()].map((t) => new Date(t).toISOString())],
        );
      }
    });
  }

  /** Stops the timer and writes what is left (retrying while the database is away, up to `deadlineMs`). */
  async stop(deadlineMs = 10_000): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const end = Date.now() + deadlineMs;
    await this.flush();
    while (this.buffer.size > 0 && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 200));
      await this.flush();
    }
  }
}

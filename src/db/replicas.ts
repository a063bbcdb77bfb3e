import type { Driver, PoolStats } from './driver';

const sum = (all: PoolStats[], field: keyof PoolStats) => all.reduce((total, s) => total + s[field], 0);

/** How far behind the primary a replica is allowed to be, and how often that is measured. */
export interface ReplicaOptions {
  /** A replica whose reads could be older than this is out of rotation. */
  maxLagMs: number;
  /** Time between two measurements. */
  checkMs: number;
}

/** One replica as `/readyz` and `/metrics` show it. */
export interface ReplicaState {
  /** host:port/database of its URL (never the credentials). */
  name: string;
  /** Whether requests' reads may go to it now. */
  inRotation: boolean;
  /** Now: how old the newest primary write the replica may not have replayed yet can be, at most (0: it had replayed everything at the last measurement, within the bound; null: never measured). The same bound decides `inRotation`. */
  lagMs: number | null;
  /** At the last measurement: WAL bytes the primary had written that the replica had not replayed. */
  bytesBehind: number | null;
  /** Why the last measurement failed, if it did. */
  error: string | null;
}

export interface Replica {
  name: string;
  /** The requests' connections to it. */
  requests: Driver;
  /** A connection of its own for the lag measurement, so a busy pool cannot hide a caught-up replica. */
  monitor: Driver;
}

/** A WAL location (`0/3000148`) as a number of bytes. */
export function lsnBytes(lsn: string): bigint {
  const [high, low] = lsn.split('/');
  return (BigInt(`0x${high}`) << 32n) + BigInt(`0x${low}`);
}

/** A primary WAL location and when it was read. */
interface Sample { at: number; lsn: bigint }

class Tracked {
  /** Every primary write before this time is replayed on the replica (0: not known). */
  visibleAt = 0;
  bytesBehind: number | null = null;
  error: string | null = null;

  constructor(readonly replica: Replica) {}
}

/**
 * The read replicas of the requests' reads, and how stale each may be.
 *
 * Every `checkMs` the primary's WAL location is read, then each replica's replayed location.
 * A replica that has replayed a location the primary had at time t holds every write committed
 * before t, so its reads are at most `now − t` old: the bound is known at every moment, not
 * only at measurements, and it holds whether the primary is busy or idle. A replica is in
 * rotation while that bound is within `maxLagMs`; out of it (lagging, paused, unreachable, or
 * not a standby) its share of reads goes to the primary until it has caught up.
 */
export class ReplicaSet {
  private readonly tracked: Tracked[];
  /** The primary's recent WAL locations, oldest first (no older than the lag allowed). */
  private samples: Sample[] = [];
  private next = 0;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    replicas: Replica[],
    private readonly primaryLsn: () => Promise<string>,
    private readonly options: ReplicaOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.tracked = replicas.map((r) => new Tracked(r));
  }

  /** Measures once, then every `checkMs`. */
  async start(): Promise<void> {
    await this.check();
    this.timer = setInterval(() => { void this.check(); }, this.options.checkMs);
    this.timer.unref();
  }

  /** One measurement of every replica (a measurement still running is awaited instead). */
  check(): Promise<void> {
    this.running ??= this.measure().finally(() => { this.running = null; });
    return this.running;
  }

  private async measure(): Promise<void> {
    const at = this.now();
    let primary: bigint;
    try {
      primary = lsnBytes(await this.primaryLsn());
    } catch {
      return; // the primary cannot be read: nothing is learnt, and the bounds keep growing
    }
    this.samples.push({ at, lsn: primary });
    // samples older than the lag allowed cannot put a replica back in rotation
    const horizon = at - this.options.maxLagMs - this.options.checkMs;
    while (this.samples.length > 1 && this.samples[0].at < horizon) this.samples.shift();
    await Promise.all(this.tracked.map(async (t) => {
      try {
        const [row] = await t.replica.monitor.once<{ lsn: string | null }>('select pg_last_wal_replay_lsn()::text as lsn');
        if (row?.lsn == null) throw new Error('not a standby (pg_last_wal_replay_lsn() is null)');
        const replayed = lsnBytes(row.lsn);
        // the newest sample the replica has replayed up to: every write before it is there
        for (let i = this.samples.length - 1; i >= 0; i--) {
          if (this.samples[i].lsn <= replayed) {
            t.visibleAt = Math.max(t.visibleAt, this.samples[i].at);
            break;
          }
        }
        t.bytesBehind = Number(primary > replayed ? primary - replayed : 0n);
        t.error = null;
      } catch (err) {
        t.error = (err as Error).message;
      }
    }));
  }

  /** How old the replica's reads could be now (null: never measured). */
  private lag(t: Tracked, now: number): number | null {
    if (t.visibleAt === 0) return null;
    const bound = now - t.visibleAt;
    return t.error === null && t.bytesBehind === 0 && bound <= this.options.maxLagMs ? 0 : bound;
  }

  private usable(t: Tracked, now: number): boolean {
    const lag = this.lag(t, now);
    return t.error === null && lag !== null && lag <= this.options.maxLagMs;
  }

  /** The requests' connections of a replica in rotation (in turn), or null: read from the primary. */
  pick(): Driver | null {
    const now = this.now();
    for (let i = 0; i < this.tracked.length; i++) {
      const t = this.tracked[(this.next + i) % this.tracked.length];
      if (this.usable(t, now)) {
        this.next = (this.next + i + 1) % this.tracked.length;
        return t.replica.requests;
      }
    }
    return null;
  }

  states(): ReplicaState[] {
    const now = this.now();
    return this.tracked.map((t) => ({
      name: t.replica.name, inRotation: this.usable(t, now), lagMs: this.lag(t, now), bytesBehind: t.bytesBehind, error: t.error,
    }));
  }

  /** The requests' pools of the replicas, together. */
  stats(): PoolStats {
    const all = this.tracked.map((t) => t.replica.requests.stats());
    return { used: sum(all, 'used'), idle: sum(all, 'idle'), waiting: sum(all, 'waiting'), statements: sum(all, 'statements') };
  }

  get drivers(): Driver[] {
    return this.tracked.flatMap((t) => [t.replica.requests, t.replica.monitor]);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}

/** The NOTIFY channel on which every process hears which principal just wrote (payload: JSON [account, subject]). */
export const RECENT_WRITERS_CHANNEL = 'qckeys_recent_writers';

/**
 * Read-your-writes: the principals that wrote within the last `windowMs`, whose reads go to the
 * primary. Kept in insertion order, so expired entries are dropped from the front: the map holds
 * at most the principals that wrote within one window.
 */
export class RecentWriters {
  private readonly until = new Map<string, number>();
  /** Everyone's reads go to the primary until then (notifications may have been missed). */
  private everyoneUntil = 0;

  constructor(readonly windowMs: number, private readonly now: () => number = Date.now) {}

  static key(accountId: string, subject: string): string {
    return JSON.stringify([accountId, subject]);
  }

  /** The principal (a {@link RecentWriters.key}) wrote now. */
  wrote(key: string): void {
    const now = this.now();
    this.until.delete(key);
    this.until.set(key, now + this.windowMs);
    for (const [k, until] of this.until) {
      if (until > now) break;
      this.until.delete(k);
    }
  }

  /** Writes of anyone may have gone unheard: every principal reads from the primary for one window. */
  everyone(): void {
    this.everyoneUntil = this.now() + this.windowMs;
  }

  /** Whether the principal's reads must go to the primary. */
  recent(key: string): boolean {
    const now = this.now();
    return now < this.everyoneUntil || (this.until.get(key) ?? 0) > now;
  }
}

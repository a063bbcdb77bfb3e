import type { Knex } from 'knex';

/**
 * Monthly partitions of the usage roll-ups (migrations/20261201000040_usage_partitions.ts).
 *
 * `usage_hourly` (by `hour`) and `usage_daily_channels` (by `day`) are partitioned by UTC month,
 * with the same bounds, so that a month's daily rows live and die with its hourly rows. Each may
 * have one partition from before the conversion (`…_history`, from MINVALUE to the month it ended
 * on) and a DEFAULT partition for rows outside every other partition, so that a flush never
 * fails for want of one.
 *
 * {@link maintainUsagePartitions}, run by the service at start and hourly:
 *
 * - creates the current month and the next `monthsAhead` ones, and any month the DEFAULT
 *   partitions hold rows of (within the retention): the new table is filled with those rows and
 *   then attached, which locks only the DEFAULT partition exclusively (flushes and reports of
 *   other months go on); it gets the parent's row-level security and grants;
 * - drops every month that ended before the start of the month `retentionDays` ago: the retention
 *   is kept in whole months, so rows stay up to one month longer than `retentionDays`. Dropping a
 *   partition locks its parent exclusively for a moment;
 * - deletes the rows older than that from partitions that are not whole months (the history, the
 *   DEFAULT), in small batches through the parent, whose triggers keep the daily roll-up equal.
 *
 * It runs as the connecting user, who owns the tables (DDL); concurrent runs (replicas) take turns
 * on an advisory lock, and a run that would wait for a lock longer than `lockTimeoutMs` gives up
 * until the next one.
 */

export interface PartitionMaintenanceOptions {
  /** Rows older than this many days go, in whole months. */
  retentionDays: number;
  /** Months after the current one that have their partitions already (default 3). */
  monthsAhead?: number;
  /** The time to maintain for (default: now). */
  now?: Date;
  /** Rows per DELETE from partitions that are not whole months (default 5000). */
  batch?: number;
  /** Longest wait for a table lock (default 2000 ms). */
  lockTimeoutMs?: number;
}

export interface PartitionMaintenanceResult {
  /** Partitions created. */
  created: string[];
  /** Partitions dropped. */
  dropped: string[];
  /** Hourly rows deleted from partitions that are not whole months. */
  deleted: number;
  /** Rows moved out of the DEFAULT partitions into new ones. */
  moved: number;
  /** Another run held the maintenance lock: creating and dropping were left to it. */
  busy: boolean;
}

export interface UsagePartition {
  name: string;
  /** Lower bound; null: MINVALUE (or the DEFAULT partition). */
  from: Date | null;
  /** Upper bound (exclusive); null: MAXVALUE (or the DEFAULT partition). */
  to: Date | null;
  isDefault: boolean;
}

interface RolledUp { table: string; column: string }
export const USAGE_HOURLY: RolledUp = { table: 'usage_hourly', column: 'hour' };
export const USAGE_DAILY: RolledUp = { table: 'usage_daily_channels', column: 'day' };
/** In the order writers lock them: a flush writes the hourly rows, whose triggers write the daily ones. */
const TABLES = [USAGE_HOURLY, USAGE_DAILY];
const MAINTENANCE_LOCK = 7261126050;
const DAY_MS = 86_400_000;

/** A time as a literal: DDL takes no parameters (an ISO string holds nothing to escape). */
const literal = (time: Date) => `'${time.toISOString()}'::timestamptz`;

async function rows<T>(db: Knex, sql: string, bindings: readonly Knex.RawBinding[] = []): Promise<T[]> {
  return ((await db.raw(sql, bindings)) as { rows: T[] }).rows;
}

export const monthStart = (at: Date): Date => new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
export const addMonths = (month: Date, n: number): Date => new Date(Date.UTC(month.getUTCFullYear(), month.getUTCMonth() + n, 1));

/** `usage_hourly_2027_01` for January 2027. */
export function partitionName(table: string, month: Date): string {
  return `${table}_${month.getUTCFullYear()}_${String(month.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** The start of the oldest month kept: every row before it is past the retention. */
export function retentionBoundary(now: Date, retentionDays: number): Date {
  return monthStart(new Date(now.getTime() - retentionDays * DAY_MS));
}

/** The partitions of `parent` with their bounds; empty when it is not partitioned. */
export async function usagePartitions(db: Knex, parent: string): Promise<UsagePartition[]> {
  // bounds are printed in the session's time zone with its offset, and read back in the same session
  const found = await rows<{ name: string; bound: string; from: Date | null; to: Date | null }>(db, `
    select c.relname as name, b.bound,
           (regexp_match(b.bound, 'FROM \\(''([^'']*)''\\)'))[1]::timestamptz as "from",
           (regexp_match(b.bound, 'TO \\(''([^'']*)''\\)'))[1]::timestamptz as "to"
    from pg_inherits i
    join pg_class c on c.oid = i.inhrelid
    cross join lateral (select pg_get_expr(c.relpartbound, c.oid) as bound) b
    where i.inhparent = to_regclass(?)
    order by 3 nulls first, 1`, [parent]);
  return found.map((p) => ({
    name: p.name,
    from: p.from ? new Date(p.from) : null,
    to: p.to ? new Date(p.to) : null,
    isDefault: p.bound === 'DEFAULT',
  }));
}

function covers(p: UsagePartition, from: Date, to: Date): boolean {
  return !p.isDefault && (p.from === null || p.from <= from) && (p.to === null || p.to >= to);
}

/** Begins the statements' transaction: every account's rows (row-level security is forced on the owner too), bounded lock waits. */
async function begin(trx: Knex, lockTimeoutMs: number): Promise<void> {
  await trx.raw(`select set_config('app.cross_account', 'on', true), set_config('lock_timeout', ?, true), set_config('statement_timeout', '0', true)`,
    [`${lockTimeoutMs}ms`]);
}

async function tryLock(trx: Knex): Promise<boolean> {
  const [{ locked }] = await rows<{ locked: boolean }>(trx, 'select pg_try_advisory_xact_lock(?) as locked', [MAINTENANCE_LOCK]);
  return locked;
}

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * What makes a partition as safe as its parent when it is queried by name: the parent's row-level
 * security (enabled, forced, the same policies) and grants, as statements for a partition's name.
 */
async function securityOf(db: Knex, parent: string): Promise<(partition: string) => string[]> {
  const [flags] = await rows<{ enabled: boolean; forced: boolean }>(db,
    'select relrowsecurity as enabled, relforcerowsecurity as forced from pg_class where oid = ?::regclass', [parent]);
  const policies = await rows<{ name: string; permissive: boolean; command: string; roles: string[]; qual: string | null; check: string | null }>(db, `
    select polname as name, polpermissive as permissive, polcmd::text as command,
           array(select case when r = 0 then 'public' else r::regrole::text end from unnest(polroles) r) as roles,
           pg_get_expr(polqual, polrelid) as qual, pg_get_expr(polwithcheck, polrelid) as check
    from pg_policy where polrelid = ?::regclass order by polname`, [parent]);
  const grants = await rows<{ grantee: string; privileges: string }>(db, `
    select case when a.grantee = 0 then 'public' else a.grantee::regrole::text end as grantee, string_agg(a.privilege_type, ', ' order by a.privilege_type) as privileges
    from pg_class c, aclexplode(c.relacl) a where c.oid = ?::regclass and a.grantee <> c.relowner group by 1 order by 1`, [parent]);
  const commands: Record<string, string> = { r: 'select', a: 'insert', w: 'update', d: 'delete', '*': 'all' };
  return (partition) => [
    ...(flags.enabled ? [`alter table ${ident(partition)} enable row level security`] : []),
    ...(flags.forced ? [`alter table ${ident(partition)} force row level security`] : []),
    ...policies.map((p) => `create policy ${ident(p.name)} on ${ident(partition)} as ${p.permissive ? 'permissive' : 'restrictive'}`
      + ` for ${commands[p.command]} to ${p.roles.join(', ')}${p.qual ? ` using (${p.qual})` : ''}${p.check ? ` with check (${p.check})` : ''}`),
    ...grants.map((g) => `grant ${g.privileges} on ${ident(partition)} to ${g.grantee}`),
  ];
}

type Security = Map<string, (partition: string) => string[]>;

/**
 * Creates the month starting at `month` in every table that lacks it: a table of its own filled with
 * the DEFAULT partition's rows of that month, then attached, then secured like its parent.
 * Returns the rows moved, or null when another run holds the maintenance lock.
 */
async function createMonth(db: Knex, month: Date, lockTimeoutMs: number, security: Security, created: string[]): Promise<number | null> {
  const next = addMonths(month, 1);
  return db.transaction(async (trx) => {
    await begin(trx, lockTimeoutMs);
    if (!(await tryLock(trx))) return null;
    let moved = 0;
    for (const { table, column } of TABLES) {
      const partitions = await usagePartitions(trx, table);
      if (partitions.some((p) => covers(p, month, next))) continue;
      const name = partitionName(table, month);
      const fallback = partitions.find((p) => p.isDefault)?.name;
      // taken first, in the writers' order: attaching takes it anyway, and no row of the month may come in between
      if (fallback) await trx.raw('lock table ?? in access exclusive mode', [fallback]);
      await trx.raw('create table ?? (like ?? including defaults)', [name, table]);
      let filled = 0;
      if (fallback) {
        const result = await trx.raw(`with moved as (delete from ?? where ?? >= ? and ?? < ? returning *) insert into ?? select * from moved`,
          [fallback, column, month, column, next, name]);
        filled = (result as { rowCount?: number }).rowCount ?? 0;
        moved += filled;
      }
      // checks the new table's rows (those just moved) and that the DEFAULT partition has none of the month left
      await trx.raw(`alter table ?? attach partition ?? for values from (${literal(month)}) to (${literal(next)})`, [table, name]);
      // the planner's statistics of rows moved in, rather than its guesses until autovacuum comes by
      if (filled > 0) await trx.raw('analyze ??', [name]);
      let secure = security.get(table);
      if (!secure) {
        secure = await securityOf(trx, table);
        security.set(table, secure);
      }
      for (const statement of secure(name)) await trx.raw(statement);
      created.push(name);
    }
    return moved;
  });
}

/** Months of the DEFAULT partitions' rows in [from, to). */
async function strayMonths(db: Knex, from: Date, to: Date): Promise<Date[]> {
  const months = new Set<number>();
  await db.transaction(async (trx) => {
    await begin(trx, 0);
    for (const { table, column } of TABLES) {
      const fallback = (await usagePartitions(trx, table)).find((p) => p.isDefault);
      if (!fallback) continue;
      const found = await rows<{ month: Date }>(trx, `
        select distinct date_trunc('month', ?? at time zone 'UTC') at time zone 'UTC' as month
        from ?? where ?? >= ? and ?? < ?`, [column, fallback.name, column, from, column, to]);
      for (const r of found) months.add(new Date(r.month).getTime());
    }
  });
  return [...months].sort((a, b) => a - b).map((t) => new Date(t));
}

/** Creates, drops and prunes the usage partitions for `now`; see the module's comment. */
export async function maintainUsagePartitions(db: Knex, options: PartitionMaintenanceOptions): Promise<PartitionMaintenanceResult> {
  const now = options.now ?? new Date();
  const monthsAhead = options.monthsAhead ?? 3;
  const batch = options.batch ?? 5000;
  const lockTimeoutMs = options.lockTimeoutMs ?? 2000;
  const result: PartitionMaintenanceResult = { created: [], dropped: [], deleted: 0, moved: 0, busy: false };
  const [kind] = await rows<{ relkind: string }>(db, `select relkind from pg_class where oid = to_regclass('usage_hourly')`);
  if (kind?.relkind !== 'p') return result;

  const boundary = retentionBoundary(now, options.retentionDays);
  const current = monthStart(now);
  const end = addMonths(current, monthsAhead + 1);
  const failures: unknown[] = [];

  // 1. months: the current one and those ahead, and any the DEFAULT partitions hold rows of
  const wanted = new Map<number, Date>();
  for (let m = current; m < end; m = addMonths(m, 1)) wanted.set(m.getTime(), m);
  try {
    for (const m of await strayMonths(db, boundary, end)) wanted.set(m.getTime(), m);
  } catch (err) {
    failures.push(err);
  }
  const existing = await Promise.all(TABLES.map(({ table }) => usagePartitions(db, table)));
  const missing = [...wanted.values()].sort((a, b) => a.getTime() - b.getTime())
    .filter((m) => existing.some((partitions) => !partitions.some((p) => covers(p, m, addMonths(m, 1)))));
  const security: Security = new Map();
  for (const month of missing) {
    try {
      const moved = await createMonth(db, month, lockTimeoutMs, security, result.created);
      if (moved === null) {
        result.busy = true;
        break;
      }
      result.moved += moved;
    } catch (err) {
      failures.push(err);
    }
  }

  // 2. rows past the retention in partitions that are not whole months, through the parent (its triggers keep the daily roll-up)
  try {
    for (const p of await usagePartitions(db, USAGE_HOURLY.table)) {
      if (!(p.isDefault || ((p.from === null || p.from < boundary) && (p.to === null || p.to > boundary)))) continue;
      for (;;) {
        const deleted = await db.transaction(async (trx) => {
          await begin(trx, lockTimeoutMs);
          const r = await trx.raw(
            `delete from usage_hourly u where u.hour < ? and u.tableoid = ?::regclass
               and u.ctid = any(array(select ctid from ?? where hour < ? limit ?))`,
            [boundary, p.name, p.name, boundary, batch],
          );
          return (r as { rowCount?: number }).rowCount ?? 0;
        });
        result.deleted += deleted;
        if (deleted < batch) break;
      }
    }
  } catch (err) {
    failures.push(err);
  }

  // 3. whole partitions past the retention, hourly and daily in one transaction (their months are the same)
  if (!result.busy) {
    try {
      await db.transaction(async (trx) => {
        await begin(trx, lockTimeoutMs);
        if (!(await tryLock(trx))) {
          result.busy = true;
          return;
        }
        const dropped: string[] = [];
        for (const { table } of TABLES) {
          for (const p of await usagePartitions(trx, table)) {
            if (p.isDefault || p.to === null || p.to > boundary) continue;
            await trx.raw('drop table ??', [p.name]);
            dropped.push(p.name);
          }
        }
        result.dropped.push(...dropped);
      });
    } catch (err) {
      failures.push(err);
    }
  }

  // Autovacuum never analyses a partitioned table: its statistics (the planner's guess of a report's
  // groups) are renewed when its partitions change
  if (result.created.length || result.dropped.length || result.moved) {
    try {
      for (const { table } of TABLES) await db.raw('analyze ??', [table]);
    } catch (err) {
      failures.push(err);
    }
  }

  if (failures.length) {
    const first = failures[0] instanceof Error ? failures[0] : new Error(String(failures[0]));
    throw Object.assign(new Error(`usage partition maintenance: ${first.message}`, { cause: first }), { result });
  }
  return result;
}

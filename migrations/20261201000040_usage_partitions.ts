import type { Knex } from 'knex';
import { protect } from './20261201000010_tenant_roles';

// The hourly roll-ups (usage_hourly) and the daily roll-up kept from them (usage_daily_channels)
// become tables partitioned by UTC month, without rewriting what they hold:
//
// 1. a CHECK constraint `hour < U` (`day < U`) is added NOT VALID, U being the first month
//    boundary after every row and after now; a moment's ACCESS EXCLUSIVE lock, no scan;
// 2. it is validated in a transaction of its own: one scan, under a lock that lets flushes and
//    reports go on;
// 3. in one short transaction: the tables are renamed `…_history`, a partitioned parent takes
//    the old name (same columns, primary key, row-level security and grants; the roll-up
//    triggers move to it), a DEFAULT partition is created, and the old table is attached FOR
//    VALUES FROM (MINVALUE) TO (U): the validated CHECK implies the partition constraint, so
//    PostgreSQL skips the scan, and its primary key becomes the partition's index of the
//    parent's. Then the monthly partitions from U to three months after the current one.
//
// An empty table (a new database) is dropped instead, and no month is created here: what this
// migration leaves does not depend on the date it ran (the embedded database's template is made
// once and used for months). src/modules/usage/partitions.ts creates months ahead, moves rows
// out of the DEFAULT partition and drops months past the retention; the service runs it at start
// and hourly.
//
// The DEFAULT partition catches a row outside every partition (far past or future, or when the
// maintenance could not run): a flush writes all its rows in one statement, and one row without
// a partition would fail all of them, again and again.

export const config = { transaction: false };

interface RolledUp { table: string; column: string; triggers: boolean }
const HOURLY: RolledUp = { table: 'usage_hourly', column: 'hour', triggers: true };
const DAILY: RolledUp = { table: 'usage_daily_channels', column: 'day', triggers: false };
const TABLES = [HOURLY, DAILY];
const MONTHS_AHEAD = 3;

const KEY: Record<string, string> = {
  usage_hourly: 'account_id, hour, api_key_id, channel_id, instance_id, developer_id, cloud, team_ids',
  usage_daily_channels: 'account_id, day, channel_id, cloud',
};

// the roll-up triggers of migration 20261126000010, on usage_hourly
const TRIGGERS: [name: string, definition: string][] = [
  ['usage_daily_channels_insert', `after insert on usage_hourly referencing new table as new_rows for each statement execute function usage_daily_channels_on_insert()`],
  ['usage_daily_channels_update', `after update on usage_hourly referencing old table as old_rows new table as new_rows for each statement execute function usage_daily_channels_on_update()`],
  ['usage_daily_channels_delete', `after delete on usage_hourly referencing old table as old_rows for each statement execute function usage_daily_channels_on_delete()`],
  ['usage_daily_channels_truncate', `after truncate on usage_hourly for each statement execute function usage_daily_channels_on_truncate()`],
];

const bounds = (table: string) => `${table}_bounds`;
/** A time as a literal: DDL takes no parameters (an ISO string holds nothing to escape). */
const at = (time: Date) => `'${time.toISOString()}'::timestamptz`;

async function rows<T>(knex: Knex, sql: string, bindings: readonly Knex.RawBinding[] = []): Promise<T[]> {
  return ((await knex.raw(sql, bindings)) as { rows: T[] }).rows;
}

/** Row-level security forces its policy on the owner too: these statements read and move every account's rows. */
async function begin(trx: Knex, lockTimeout = '0'): Promise<void> {
  await trx.raw(`select set_config('app.cross_account', 'on', true), set_config('statement_timeout', '0', true), set_config('lock_timeout', ?, true)`, [lockTimeout]);
}

async function isPartitioned(knex: Knex, table: string): Promise<boolean> {
  const found = await rows<{ relkind: string }>(knex, `select relkind from pg_class where oid = to_regclass(?)`, [table]);
  return found[0]?.relkind === 'p';
}

/** The first UTC month boundary after every row of both tables and after now; null when both are empty. */
async function upperBound(knex: Knex): Promise<Date | null> {
  const [row] = await rows<{ upper: Date | null }>(knex, `
    select (date_trunc('month', greatest(now(), (select max(hour) from usage_hourly), (select max(day) from usage_daily_channels)) at time zone 'UTC')
            + interval '1 month') at time zone 'UTC' as upper
    where exists (select 1 from usage_hourly) or exists (select 1 from usage_daily_channels)`);
  return row ? new Date(row.upper as Date) : null;
}

function monthName(table: string, month: Date): string {
  return `${table}_${month.getUTCFullYear()}_${String(month.getUTCMonth() + 1).padStart(2, '0')}`;
}

const addMonths = (month: Date, n: number) => new Date(Date.UTC(month.getUTCFullYear(), month.getUTCMonth() + n, 1));

/** A partition gets its parent's policy (forced) and grants: row-level security holds when it is queried by name. */
async function secureLikeParent(knex: Knex, partition: string, parent: string): Promise<void> {
  const [flags] = await rows<{ enabled: boolean; forced: boolean }>(knex,
    'select relrowsecurity as enabled, relforcerowsecurity as forced from pg_class where oid = ?::regclass', [parent]);
  if (flags.enabled) await knex.raw('alter table ?? enable row level security', [partition]);
  if (flags.forced) await knex.raw('alter table ?? force row level security', [partition]);
  const policies = await rows<{ name: string; permissive: boolean; command: string; roles: string[]; qual: string | null; check: string | null }>(knex, `
    select polname as name, polpermissive as permissive, polcmd::text as command,
           array(select case when r = 0 then 'public' else r::regrole::text end from unnest(polroles) r) as roles,
           pg_get_expr(polqual, polrelid) as qual, pg_get_expr(polwithcheck, polrelid) as check
    from pg_policy where polrelid = ?::regclass order by polname`, [parent]);
  const commands: Record<string, string> = { r: 'select', a: 'insert', w: 'update', d: 'delete', '*': 'all' };
  for (const p of policies) {
    await knex.raw(`create policy ?? on ?? as ${p.permissive ? 'permissive' : 'restrictive'} for ${commands[p.command]} to ${p.roles.join(', ')}`
      + `${p.qual ? ` using (${p.qual})` : ''}${p.check ? ` with check (${p.check})` : ''}`, [p.name, partition]);
  }
  const grants = await rows<{ grantee: string; privilege: string }>(knex, `
    select case when a.grantee = 0 then 'public' else a.grantee::regrole::text end as grantee, a.privilege_type as privilege
    from pg_class c, aclexplode(c.relacl) a where c.oid = ?::regclass and a.grantee <> c.relowner`, [parent]);
  for (const g of grants) await knex.raw(`grant ${g.privilege} on ?? to ${g.grantee}`, [partition]);
}

/** The partitioned parent under the table's name, with its DEFAULT partition. */
async function createParent(trx: Knex, t: RolledUp, like: string): Promise<void> {
  await trx.raw(`create table ?? (like ?? including defaults) partition by range (??)`, [t.table, like, t.column]);
  await trx.raw(`alter table ?? add constraint ?? primary key (${KEY[t.table]})`, [t.table, `${t.table}_pkey`]);
  await protect(trx, t.table);
  await trx.raw('create table ?? partition of ?? default', [`${t.table}_default`, t.table]);
  await secureLikeParent(trx, `${t.table}_default`, t.table);
  if (t.triggers) for (const [name, definition] of TRIGGERS) await trx.raw(`create trigger ${name} ${definition}`);
}

export async function up(knex: Knex): Promise<void> {
  if (await isPartitioned(knex, HOURLY.table)) return;

  // 1. the bound, as a constraint not yet checked
  const upper = await knex.transaction(async (trx) => {
    await begin(trx, '5s');
    const u = await upperBound(trx);
    for (const t of TABLES) {
      await trx.raw('alter table ?? drop constraint if exists ??', [t.table, bounds(t.table)]);
      if (u) await trx.raw(`alter table ?? add constraint ?? check (?? < ${at(u)}) not valid`, [t.table, bounds(t.table), t.column]);
    }
    return u;
  });
  try {
    // 2. checked, one table at a time; writers go on meanwhile
    if (upper) {
      for (const t of TABLES) {
        await knex.transaction(async (trx) => {
          await begin(trx, '5s');
          await trx.raw('alter table ?? validate constraint ??', [t.table, bounds(t.table)]);
        });
      }
    }
    // 3. the swap
    const converted = await knex.transaction(async (trx) => {
      await begin(trx, '10s');
      await trx.raw('lock table usage_hourly, usage_daily_channels in access exclusive mode');
      // rows may have come since the bound was taken: they are below it (the constraint holds them to it)
      const [{ empty }] = await rows<{ empty: boolean }>(trx,
        'select not exists (select 1 from usage_hourly) and not exists (select 1 from usage_daily_channels) as empty');
      let u = upper;
      if (!empty && !u) {
        u = await upperBound(trx);
        for (const t of TABLES) await trx.raw(`alter table ?? add constraint ?? check (?? < ${at(u!)})`, [t.table, bounds(t.table), t.column]);
      }
      if (!empty && u) {
        await convert(trx, u);
        return true;
      } else {
        for (const [name] of TRIGGERS) await trx.raw(`drop trigger ${name} on usage_hourly`);
        for (const t of TABLES) {
          await trx.raw('alter table ?? rename to ??', [t.table, `${t.table}_empty`]);
          await trx.raw('alter table ?? rename constraint ?? to ??', [`${t.table}_empty`, `${t.table}_pkey`, `${t.table}_empty_pkey`]);
          await createParent(trx, t, `${t.table}_empty`);
          await trx.raw('drop table ??', [`${t.table}_empty`]);
        }
        return false;
      }
    });
    // Autovacuum never analyses a partitioned table, and without statistics of its own the planner
    // guesses how many groups a report makes (and then which plan): the parents' statistics now
    if (converted) for (const t of TABLES) await knex.raw('analyze ??', [t.table]);
  } catch (err) {
    // a bound left behind would refuse next month's flushes
    await knex.transaction(async (trx) => {
      for (const t of TABLES) {
        if (!(await isPartitioned(trx, t.table))) await trx.raw('alter table ?? drop constraint if exists ??', [t.table, bounds(t.table)]);
      }
    }).catch(() => undefined);
    throw err;
  }
}

/** Attaches the tables as the partitions before `upper`, then creates the months from there. */
async function convert(trx: Knex, upper: Date): Promise<void> {
  for (const [name] of TRIGGERS) await trx.raw(`drop trigger ${name} on usage_hourly`);
  for (const t of TABLES) {
    const history = `${t.table}_history`;
    await trx.raw('alter table ?? rename to ??', [t.table, history]);
    await trx.raw('alter table ?? rename constraint ?? to ??', [history, `${t.table}_pkey`, `${history}_pkey`]);
    if (t === HOURLY) await trx.raw('alter index usage_hourly_hour_idx rename to usage_hourly_history_hour_idx');
    await createParent(trx, t, history);
    // no scan: the validated bound implies the partition's constraint; the primary key's index is adopted
    await trx.raw(`alter table ?? attach partition ?? for values from (minvalue) to (${at(upper)})`, [t.table, history]);
    await trx.raw('alter table ?? drop constraint ??', [history, bounds(t.table)]);
  }
  const now = new Date();
  const last = addMonths(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)), MONTHS_AHEAD);
  for (let month = upper; month <= last; month = addMonths(month, 1)) {
    for (const t of TABLES) {
      const name = monthName(t.table, month);
      await trx.raw(`create table ?? partition of ?? for values from (${at(month)}) to (${at(addMonths(month, 1))})`, [name, t.table]);
      await secureLikeParent(trx, name, t.table);
    }
  }
}

export async function down(knex: Knex): Promise<void> {
  if (!(await isPartitioned(knex, HOURLY.table))) return;
  await knex.transaction(async (trx) => {
    await begin(trx, '10s');
    await trx.raw('lock table usage_hourly, usage_daily_channels in access exclusive mode');
    for (const t of TABLES) {
      const history = `${t.table}_history`;
      const attached = await rows(trx, `select 1 from pg_inherits where inhrelid = to_regclass(?) and inhparent = ?::regclass`, [history, t.table]);
      let keepsIndexes: boolean;
      if (attached.length) {
        // the table from before the partitions, with the other partitions' rows added
        await trx.raw('alter table ?? detach partition ??', [t.table, history]);
        keepsIndexes = true;
      } else {
        await trx.raw('create table ?? (like ?? including defaults)', [history, t.table]);
        await secureLikeParent(trx, history, t.table);
        keepsIndexes = false;
      }
      await trx.raw('insert into ?? select * from ??', [history, t.table]);
      await trx.raw('drop table ??', [t.table]);
      await trx.raw('alter table ?? rename to ??', [history, t.table]);
      if (keepsIndexes) {
        await trx.raw('alter table ?? rename constraint ?? to ??', [t.table, `${history}_pkey`, `${t.table}_pkey`]);
        if (t === HOURLY) {
          await trx.raw('alter index if exists usage_hourly_history_hour_idx rename to usage_hourly_hour_idx');
        }
      } else {
        await trx.raw(`alter table ?? add constraint ?? primary key (${KEY[t.table]})`, [t.table, `${t.table}_pkey`]);
      }
      if (t === HOURLY) await trx.raw('create index if not exists usage_hourly_hour_idx on usage_hourly (hour)');
    }
    for (const [name, definition] of TRIGGERS) await trx.raw(`create trigger ${name} ${definition}`);
  });
}

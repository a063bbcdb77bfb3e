// The usage roll-ups partitioned by month (migrations/20261201000040_usage_partitions.ts,
// src/modules/usage/partitions.ts): the conversion of tables holding rows keeps every row and
// rewrites nothing, flushes land in the month's partition (or the DEFAULT one), reports read
// only the months they ask for, retention drops whole months and nothing else, and `down`
// gives back plain tables with every row.
import type { Knex } from 'knex';
import type { DatabaseTarget } from '../../src/config';
import { createDatabase, type Database } from '../../src/db/database';
import { statementOf, type Db, type Query } from '../../src/db/db';
import { migrationSource } from '../../src/db/migrations';
import { ALL_ACCOUNTS } from '../../src/db/tenant';
import { systemClock } from '../../src/lib/clock';
import type { UsageDimension, UsageGranularity } from '../../src/generated/graphql';
import type { UsageDims } from '../../src/modules/usage/model';
import {
  addMonths, maintainUsagePartitions, monthStart, partitionName, usagePartitions, type UsagePartition,
} from '../../src/modules/usage/partitions';
import { UsageRecorder } from '../../src/modules/usage/recorder';
import { usageByDimension, type UsageQuery } from '../../src/modules/usage/store';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { seedAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';
import { verifyRest } from '../verification/verify';

const MIGRATION = '20261201000040_usage_partitions';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let testDb: TestDatabase;
let db: Database;
let knex: Knex;

const all = migrationSource();
const upTo = (keep: (name: string) => boolean): Knex.MigrationSource<string> => ({ ...all, getMigrations: async (extensions) => (await all.getMigrations(extensions)).filter(keep) });
const before = upTo((m) => m < MIGRATION);
// the conversion and its way back, without the later migrations (which change the roll-ups' keys)
const through = upTo((m) => m <= MIGRATION);
// the roll-ups as the service writes them (the writer's shard in their key, the rejections' reasons): for the recorder's flushes
const withShards = () => knex.migrate.latest({ migrationSource: all });
/** Back to the conversion: the later migrations' ways back, the last first (the shards' rows summed into one). */
const withoutShards = async () => {
  const later = (await all.getMigrations([])).filter((m: string) => m > MIGRATION).reverse();
  for (const name of later) await knex.migrate.down({ migrationSource: all, name } as Knex.MigratorConfig);
};

beforeAll(async () => {
  testDb = await createTestDatabase();
  const target: DatabaseTarget = testDb.url === 'memory://' ? { kind: 'pglite', dataDir: null } : { kind: 'postgres', url: testDb.url };
  db = createDatabase({ target, timeoutMs: 5000, poolMax: 2 });
  knex = db.knex;
  await knex.migrate.latest({ migrationSource: before });
}, 120_000);
afterAll(async () => {
  await db?.close();
  await testDb?.drop();
}, 60_000);

async function rows<T>(sql: string, bindings: readonly Knex.RawBinding[] = []): Promise<T[]> {
  return ((await knex.raw(sql, bindings)) as { rows: T[] }).rows;
}

interface Hourly { account: string; hour: number; key: string; channel: string; cloud: string; teams: string[]; valid: number; rejected: number }

async function insertHourly(list: Hourly[]): Promise<void> {
  await knex.raw(
    `insert into usage_hourly (account_id, hour, api_key_id, channel_id, instance_id, developer_id, cloud, team_ids, valid, rejected)
     select a, h, k, c, 'ins_1', 'dev_1', cl, case when t = '' then '{}'::text[] else string_to_array(t, ',') end, v, r
     from unnest(?::text[], ?::timestamptz[], ?::text[], ?::text[], ?::text[], ?::text[], ?::int[], ?::int[]) as x(a, h, k, c, cl, t, v, r)`,
    [list.map((r) => r.account), list.map((r) => new Date(r.hour).toISOString()), list.map((r) => r.key), list.map((r) => r.channel),
      list.map((r) => r.cloud), list.map((r) => r.teams.join(',')), list.map((r) => r.valid), list.map((r) => r.rejected)],
  );
}

/** A few rows of two accounts, two channels, two clouds, spread over the month starting at `month`. */
function monthRows(month: Date, seed: number): Hourly[] {
  const list: Hourly[] = [];
  for (let i = 0; i < 6; i++) {
    list.push({
      account: i % 2 ? 'part-a' : 'part-b', hour: month.getTime() + (i * 97 + seed * 13) % (27 * 24) * HOUR, key: `key_${i % 3}`,
      channel: `chn_${i % 2}`, cloud: i % 3 ? 'SALESFORCE' : 'M365', teams: i % 2 ? ['team_a', 'team_b'] : [], valid: 1 + ((i + seed) % 5), rejected: (i * seed) % 3,
    });
  }
  return list;
}

const HOURLY_ROWS = `select account_id, hour, api_key_id, channel_id, instance_id, developer_id, cloud, team_ids, valid, rejected from usage_hourly
  order by account_id, hour, api_key_id, channel_id, cloud, team_ids`;
const DAILY_ROWS = `select account_id, day, channel_id, cloud, valid::int as valid, rejected::int as rejected from usage_daily_channels
  order by account_id, day, channel_id, cloud`;
// what the daily roll-up must hold: the hourly rows summed per UTC day
const DAILY_FROM_HOURLY = `select account_id, date_trunc('day', hour at time zone 'UTC') at time zone 'UTC' as day, channel_id, cloud,
    sum(valid)::int as valid, sum(rejected)::int as rejected from usage_hourly
  group by 1, 2, 3, 4 having sum(valid) <> 0 or sum(rejected) <> 0 order by 1, 2, 3, 4`;

async function snapshot(): Promise<{ hourly: unknown[]; daily: unknown[] }> {
  const daily = await rows(DAILY_ROWS);
  expect(daily).toEqual(await rows(DAILY_FROM_HOURLY));
  return { hourly: await rows(HOURLY_ROWS), daily };
}

/** Rows per partition, by partition name. */
async function placement(table: string): Promise<Record<string, number>> {
  const found = await rows<{ p: string; n: number }>(`select tableoid::regclass::text as p, count(*)::int as n from ?? group by 1`, [table]);
  return Object.fromEntries(found.map((r) => [r.p, r.n]));
}

const names = (partitions: UsagePartition[]) => partitions.map((p) => p.name).sort();

async function relation(name: string): Promise<{ oid: number; relfilenode: number; relkind: string } | undefined> {
  return (await rows<{ oid: number; relfilenode: number; relkind: string }>(
    `select oid::int as oid, relfilenode::int as relfilenode, relkind::text as relkind from pg_class where oid = to_regclass(?)`, [name]))[0];
}

const dims = (accountId: string, channelId: string): UsageDims => ({
  accountId, apiKeyId: 'key_flush', channelId, instanceId: 'ins_1', developerId: 'dev_1', cloud: 'SALESFORCE', teamIds: ['team_a'],
});

/** The partitions an EXPLAIN of each statement of a report reads, statement by statement. */
async function partitionsRead(query: UsageQuery, dimension: UsageDimension, granularity: UsageGranularity): Promise<{ read: string[][]; total: number }> {
  const statements: { sql: string; bindings: unknown[] }[] = [];
  // the report's statements as the service runs them, each one kept to be explained
  const result = await db.transaction(ALL_ACCOUNTS, (tx) => {
    const keep = (q: Query) => { const s = statementOf(q); statements.push({ sql: s.text, bindings: [...(s.values ?? [])] }); };
    const capturing: Db = {
      rows: (q) => { keep(q); return tx.rows(q); },
      first: (q) => { keep(q); return tx.first(q); },
      execute: (q) => tx.execute(q),
    };
    return usageByDimension(capturing, query, dimension, granularity, true);
  });
  expect(statements.length).toBeGreaterThan(0);
  const read: string[][] = [];
  for (const s of statements) {
    // the statement has positional parameters, in the order of its bindings
    const explained = await rows<{ 'QUERY PLAN': unknown }>(`explain (format json) ${s.sql.replace(/\$\d+/g, '?')}`, s.bindings as Knex.RawBinding[]);
    const plan = explained[0]['QUERY PLAN'];
    const relations = new Set<string>();
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) { node.forEach(walk); return; }
      if (node && typeof node === 'object') {
        const n = node as Record<string, unknown>;
        if (typeof n['Relation Name'] === 'string') relations.add(n['Relation Name']);
        Object.values(n).forEach(walk);
      }
    };
    walk(typeof plan === 'string' ? JSON.parse(plan) : plan);
    read.push([...relations].sort());
  }
  const sum = (counts: number[]) => counts.reduce((a, b) => a + b, 0);
  return { read, total: result.rows.reduce((n, r) => n + sum(r.valid) + sum(r.rejected), 0) };
}

describe('converting tables that hold rows', () => {
  let current: Date;
  /** The history partition's upper bound: the first month partition. */
  let upper: Date;
  const history: Hourly[] = [];
  let original: { hourly: unknown[]; daily: unknown[] };
  let files: Record<string, { oid: number; relfilenode: number }>;

  test('keeps every row, rewrites neither table, and attaches them as the months before the conversion', async () => {
    current = monthStart(new Date());
    for (let m = -4; m <= 0; m++) history.push(...monthRows(addMonths(current, m), m + 10));
    await insertHourly(history);
    original = await snapshot();
    expect(original.hourly).toHaveLength(history.length);
    expect(original.daily.length).toBeGreaterThan(10);
    files = {};
    for (const table of ['usage_hourly', 'usage_daily_channels']) {
      const r = await relation(table);
      expect(r?.relkind).toBe('r');
      files[table] = { oid: r!.oid, relfilenode: r!.relfilenode };
    }

    const [, applied] = (await knex.migrate.latest({ migrationSource: through })) as [number, string[]];
    expect(applied).toContain(MIGRATION);

    for (const table of ['usage_hourly', 'usage_daily_channels']) {
      expect((await relation(table))?.relkind).toBe('p');
      // the same table, the same file: attached, not copied
      const old = await relation(`${table}_history`);
      expect(old).toEqual({ ...files[table], relkind: 'r' });
      const partitions = await usagePartitions(knex, table);
      const historical = partitions.find((p) => p.name === `${table}_history`)!;
      expect(historical.from).toBeNull();
      upper = historical.to!;
      // the month after the last row, and after the conversion's "now"
      expect([addMonths(current, 1).getTime(), addMonths(current, 2).getTime()]).toContain(upper.getTime());
      const months: string[] = [];
      for (let m = upper; m <= addMonths(monthStart(new Date()), 3); m = addMonths(m, 1)) months.push(partitionName(table, m));
      expect(names(partitions)).toEqual([`${table}_default`, `${table}_history`, ...months].sort());
      // no constraint left behind on the old table
      expect(await rows(`select conname from pg_constraint where conrelid = ?::regclass and contype = 'c'`, [`${table}_history`])).toEqual([]);
    }
    expect(await snapshot()).toEqual(original);
    expect(await placement('usage_hourly')).toEqual({ usage_hourly_history: history.length });
  }, 60_000);

  test('the parent has the primary key, the policy and the grants; every partition has the policy, forced', async () => {
    const indexes = await rows<{ tablename: string; indexdef: string }>(
      `select tablename, indexdef from pg_indexes where tablename in ('usage_hourly', 'usage_daily_channels', 'usage_hourly_history')`);
    const def = (table: string) => indexes.filter((i) => i.tablename === table).map((i) => i.indexdef.replace(/.* USING /, '')).sort();
    expect(def('usage_hourly')).toEqual(['btree (account_id, hour, api_key_id, channel_id, instance_id, developer_id, cloud, team_ids)']);
    expect(def('usage_daily_channels')).toEqual(['btree (account_id, day, channel_id, cloud)']);
    // the old table keeps its hour index, for the deletes of the retention
    expect(def('usage_hourly_history')).toEqual(['btree (account_id, hour, api_key_id, channel_id, instance_id, developer_id, cloud, team_ids)', 'btree (hour)']);

    const secured = await rows<{ relname: string; rls: boolean; forced: boolean; policies: number; app: boolean }>(`
      select c.relname, c.relrowsecurity as rls, c.relforcerowsecurity as forced,
             (select count(*)::int from pg_policy p where p.polrelid = c.oid and p.polname = 'account_isolation') as policies,
             has_table_privilege('qckeys_app', c.oid, 'select, insert, update, delete') as app
      from pg_class c where c.relname like 'usage_hourly%' or c.relname like 'usage_daily_channels%' and c.relkind in ('r', 'p')`);
    const tables = secured.filter((r) => !r.relname.endsWith('_pkey') && !r.relname.endsWith('_idx'));
    expect(tables.length).toBeGreaterThanOrEqual(2 * 6);
    expect(tables.filter((r) => !(r.rls && r.forced && r.policies === 1 && r.app))).toEqual([]);

    // the app role sees its account's rows only, through the parent and through a partition by name
    const seen = await knex.transaction(async (trx) => {
      await trx.raw(`select set_config('role', 'qckeys_app', true), set_config('app.account_id', 'part-a', true)`);
      const q = async (sql: string) => ((await trx.raw(sql)) as { rows: { account_id: string }[] }).rows.map((r) => r.account_id);
      return { parent: await q('select distinct account_id from usage_hourly'), partition: await q('select distinct account_id from usage_hourly_history'),
        daily: await q('select distinct account_id from usage_daily_channels') };
    });
    expect(seen).toEqual({ parent: ['part-a'], partition: ['part-a'], daily: ['part-a'] });
  });

  test('flushes land in their month, in the history or in the DEFAULT partition, and the daily roll-up follows', async () => {
    await withShards();
    const recorder = new UsageRecorder(db, { flushIntervalMs: 60_000, flushSize: 10_000, shard: 5 }, systemClock);
    const last = addMonths(upper, -1); // a month in the history
    const at = [
      [upper.getTime() + 5 * DAY + 3 * HOUR, 4], // the first month partition
      [upper.getTime() + 27 * DAY, 2],
      [addMonths(upper, 1).getTime() + HOUR, 3], // the next
      [last.getTime() + 2 * DAY, 5], // the history
    ] as const;
    for (const [time, n] of at) for (let i = 0; i < n; i++) recorder.record(dims('part-a', 'chn_flush'), i % 2 === 0 ? 'VALID' : 'REVOKED', time);
    await recorder.flush();
    expect(recorder.depth).toBe(0);
    await recorder.flush(); // the same hours again: ON CONFLICT adds to the rows
    for (const [time] of at) recorder.record(dims('part-a', 'chn_flush'), 'VALID', time);
    await recorder.flush();
    expect(recorder.depth).toBe(0);

    const flushed = await rows<{ p: string; hour: Date; valid: number; rejected: number }>(
      `select tableoid::regclass::text as p, hour, valid, rejected from usage_hourly where channel_id = 'chn_flush' order by hour`);
    expect(flushed.map((r) => [r.p, new Date(r.hour).getTime(), r.valid + r.rejected])).toEqual([
      ['usage_hourly_history', at[3][0], 6],
      [partitionName('usage_hourly', upper), at[0][0], 5],
      [partitionName('usage_hourly', upper), at[1][0], 3],
      [partitionName('usage_hourly', addMonths(upper, 1)), at[2][0], 4],
    ]);
    const daily = await rows<{ p: string }>(`select tableoid::regclass::text as p from usage_daily_channels where channel_id = 'chn_flush' order by day`);
    expect(daily.map((r) => r.p)).toEqual(['usage_daily_channels_history', partitionName('usage_daily_channels', upper),
      partitionName('usage_daily_channels', upper), partitionName('usage_daily_channels', addMonths(upper, 1))]);
    await snapshot();
  });

  test('reports read only the partitions of the month asked for', async () => {
    await insertHourly([...monthRows(upper, 3), ...monthRows(addMonths(upper, 1), 4)]);
    const query = (from: Date, to: Date, accountId = 'part-a'): UsageQuery => ({
      accountId, from, to, channelIds: [], instanceIds: [], teamIds: [], developerIds: [], apiKeyIds: [], clouds: [],
    });
    const expectedTotal = async (q: UsageQuery) => (await rows<{ n: number }>(
      'select coalesce(sum(valid + rejected), 0)::int as n from usage_hourly where account_id = ? and hour >= ? and hour < ?', [q.accountId, q.from, q.to]))[0].n;
    const month = (table: string, m: Date) => partitionName(table, m);
    const next = addMonths(upper, 1);

    // the hourly rows (by key), whole month
    const byKey = query(upper, next);
    const keyReport = await partitionsRead(byKey, 'API_KEY', 'DAY');
    expect(keyReport.read).toEqual([[month('usage_hourly', upper)]]);
    expect(keyReport.total).toBe(await expectedTotal(byKey));
    expect(keyReport.total).toBeGreaterThan(0);

    // the daily roll-up (by channel), whole month
    const channelReport = await partitionsRead(byKey, 'CHANNEL', 'DAY');
    expect(channelReport.read).toEqual([[month('usage_daily_channels', upper)]]);
    expect(channelReport.total).toBe(await expectedTotal(byKey));

    // partial first and last days: the daily rows of the whole days and the hourly rows of the others, of that month only
    const partial = query(new Date(upper.getTime() + 5 * HOUR), new Date(next.getTime() - 7 * HOUR));
    const partialReport = await partitionsRead(partial, 'CHANNEL', 'WEEK');
    expect(partialReport.read).toEqual([[month('usage_daily_channels', upper), month('usage_hourly', upper)]]);
    expect(partialReport.total).toBe(await expectedTotal(partial));

    // a team's usage by hour in the month before the first partition: the history only
    const last = addMonths(upper, -1);
    const inHistory = { ...query(last, upper), teamIds: ['team_a'] };
    const historyReport = await partitionsRead(inHistory, 'TEAM', 'HOUR');
    expect(historyReport.read).toEqual([['usage_hourly_history']]);
    expect(historyReport.total).toBeGreaterThan(0);
  });

  test('retention deletes, in batches, the history\'s rows of the months past it, and drops nothing', async () => {
    const boundary = addMonths(upper, -3);
    const expired = (await rows<{ n: number }>('select count(*)::int as n from usage_hourly where hour < ?', [boundary]))[0].n;
    expect(expired).toBeGreaterThan(4);
    const kept = await rows(`${HOURLY_ROWS.replace('order by', 'where hour >= ? order by')}`, [boundary]);
    const partitionsBefore = { hourly: names(await usagePartitions(knex, 'usage_hourly')), daily: names(await usagePartitions(knex, 'usage_daily_channels')) };

    // "now" is 400 days after the first day of the boundary's month, plus some hours: rows before that month go
    const now = new Date(boundary.getTime() + 400 * DAY + 12 * HOUR);
    const deletes: string[] = [];
    const onQuery = (q: { sql: string }) => { if (/^\s*delete from usage_hourly/i.test(q.sql)) deletes.push(q.sql); };
    knex.on('query', onQuery);
    let result;
    try {
      result = await maintainUsagePartitions(knex, { retentionDays: 400, now, batch: 2 });
    } finally {
      knex.off('query', onQuery);
    }
    expect(result.dropped).toEqual([]);
    expect(result.deleted).toBe(expired);
    // two rows a statement, in the history and in the (empty) DEFAULT partition
    expect(deletes).toHaveLength(Math.floor(expired / 2) + 1 + 1);
    // the months of that "now" and after were created, empty
    expect(result.created).toContain(partitionName('usage_hourly', monthStart(now)));
    const { hourly, daily } = await snapshot();
    expect(hourly).toEqual(kept);
    expect((daily as { day: Date }[]).every((r) => new Date(r.day) >= boundary)).toBe(true);
    const after = { hourly: names(await usagePartitions(knex, 'usage_hourly')), daily: names(await usagePartitions(knex, 'usage_daily_channels')) };
    expect(after.hourly).toEqual(expect.arrayContaining(partitionsBefore.hourly));
    expect(after.daily).toEqual(expect.arrayContaining(partitionsBefore.daily));
  });

  test('down gives back the plain tables, the old files with every row of every partition, and their triggers', async () => {
    const everything = await snapshot();
    await withoutShards();
    await knex.migrate.down({ migrationSource: through, name: MIGRATION } as Knex.MigratorConfig);
    for (const table of ['usage_hourly', 'usage_daily_channels']) {
      expect(await relation(table)).toEqual({ ...files[table], relkind: 'r' });
      expect(await relation(`${table}_history`)).toBeUndefined();
      expect(await relation(`${table}_default`)).toBeUndefined();
    }
    expect(await snapshot()).toEqual(everything);
    const indexes = await rows<{ indexname: string }>(`select indexname from pg_indexes where tablename in ('usage_hourly', 'usage_daily_channels') order by 1`);
    expect(indexes.map((i) => i.indexname)).toEqual(['usage_daily_channels_pkey', 'usage_hourly_hour_idx', 'usage_hourly_pkey']);
    // the triggers keep the daily roll-up again
    await insertHourly(monthRows(addMonths(current, -1), 7));
    await snapshot();
  });

  let reconverted: Date;

  test('up again: the tables, with the rows of the months written meanwhile, become the history again', async () => {
    const rowsBefore = await snapshot();
    await knex.migrate.latest({ migrationSource: through });
    for (const table of ['usage_hourly', 'usage_daily_channels']) {
      expect(await relation(`${table}_history`)).toEqual({ ...files[table], relkind: 'r' });
      reconverted = (await usagePartitions(knex, table)).find((p) => p.name === `${table}_history`)!.to!;
      // after the latest row, which is in the month after the first conversion's first month
      expect(reconverted.getTime()).toBe(Math.max(addMonths(upper, 2).getTime(), addMonths(monthStart(new Date()), 1).getTime()));
    }
    expect(await snapshot()).toEqual(rowsBefore);
  }, 60_000);

  test('a row outside every partition goes to the DEFAULT partition without failing the flush; its month, once created, takes it', async () => {
    const far = addMonths(reconverted, 40);
    const at = far.getTime() + 3 * DAY + 5 * HOUR;
    await withShards();
    const recorder = new UsageRecorder(db, { flushIntervalMs: 60_000, flushSize: 10_000 }, systemClock);
    recorder.record(dims('part-b', 'chn_far'), 'VALID', at);
    recorder.record(dims('part-b', 'chn_far'), 'REVOKED', at);
    recorder.record(dims('part-b', 'chn_near'), 'VALID', reconverted.getTime() + HOUR);
    await recorder.flush();
    expect(recorder.depth).toBe(0);
    expect((await placement('usage_hourly')).usage_hourly_default).toBe(1);
    expect((await placement('usage_daily_channels')).usage_daily_channels_default).toBe(1);
    const rowsBefore = await snapshot();

    const result = await maintainUsagePartitions(knex, { retentionDays: 36_500, now: new Date(at + DAY) });
    expect(result.moved).toBe(2);
    expect(result.dropped).toEqual([]);
    expect(result.created).toEqual(expect.arrayContaining([partitionName('usage_hourly', far), partitionName('usage_daily_channels', far)]));
    expect((await placement('usage_hourly')).usage_hourly_default).toBeUndefined();
    expect((await placement('usage_daily_channels')).usage_daily_channels_default).toBeUndefined();
    const moved = await rows<{ p: string }>(`select tableoid::regclass::text as p from usage_hourly where channel_id = 'chn_far'`);
    expect(moved).toEqual([{ p: partitionName('usage_hourly', far) }]);
    expect(await snapshot()).toEqual(rowsBefore);
    // nothing left to do the second time
    expect(await maintainUsagePartitions(knex, { retentionDays: 36_500, now: new Date(at + DAY) }))
      .toEqual({ created: [], dropped: [], deleted: 0, moved: 0, busy: false });
  });

  test('retention drops the months past it, hourly and daily together, and nothing else', async () => {
    const boundary = addMonths(reconverted, 1);
    await insertHourly([...monthRows(boundary, 5), ...monthRows(addMonths(boundary, 1), 6)]);
    const partitionsBefore = [...names(await usagePartitions(knex, 'usage_hourly')), ...names(await usagePartitions(knex, 'usage_daily_channels'))];
    const kept = await rows(`${HOURLY_ROWS.replace('order by', 'where hour >= ? order by')}`, [boundary]);
    expect(kept.length).toBeGreaterThan(10);
    expect((await rows<{ n: number }>('select count(*)::int as n from usage_hourly where hour < ?', [boundary]))[0].n).toBeGreaterThan(10);

    const now = new Date(boundary.getTime() + 400 * DAY + 12 * HOUR);
    const result = await maintainUsagePartitions(knex, { retentionDays: 400, now });
    const gone = ['usage_hourly_history', partitionName('usage_hourly', reconverted), 'usage_daily_channels_history', partitionName('usage_daily_channels', reconverted)];
    expect(result.dropped).toEqual(gone);
    expect(result.deleted).toBe(0);
    const partitionsAfter = [...names(await usagePartitions(knex, 'usage_hourly')), ...names(await usagePartitions(knex, 'usage_daily_channels'))];
    expect(partitionsAfter).toEqual(expect.arrayContaining(partitionsBefore.filter((p) => !gone.includes(p))));
    expect(partitionsAfter.filter((p) => gone.includes(p))).toEqual([]);
    const { hourly } = await snapshot();
    expect(hourly).toEqual(kept);

    // with the history gone, a row from long ago goes to the DEFAULT partition, and the next run deletes it
    const recorder = new UsageRecorder(db, { flushIntervalMs: 60_000, flushSize: 10_000 }, systemClock);
    recorder.record(dims('part-b', 'chn_old'), 'VALID', Date.UTC(2001, 0, 1, 5));
    await recorder.flush();
    expect(recorder.depth).toBe(0);
    expect((await placement('usage_hourly')).usage_hourly_default).toBe(1);
    const again = await maintainUsagePartitions(knex, { retentionDays: 400, now });
    expect(again).toMatchObject({ created: [], dropped: [], deleted: 1, moved: 0 });
    expect(await snapshot()).toEqual({ hourly: kept, daily: expect.anything() });
  });

  test('down without the history makes new plain tables holding every row', async () => {
    const everything = await snapshot();
    await withoutShards();
    await knex.migrate.down({ migrationSource: through, name: MIGRATION } as Knex.MigratorConfig);
    for (const table of ['usage_hourly', 'usage_daily_channels']) expect((await relation(table))?.relkind).toBe('r');
    expect(await snapshot()).toEqual(everything);
    const indexes = await rows<{ indexname: string }>(`select indexname from pg_indexes where tablename in ('usage_hourly', 'usage_daily_channels') order by 1`);
    expect(indexes.map((i) => i.indexname)).toEqual(['usage_daily_channels_pkey', 'usage_hourly_hour_idx', 'usage_hourly_pkey']);
    const policies = await rows<{ tablename: string }>(`select tablename from pg_policies where tablename in ('usage_hourly', 'usage_daily_channels') order by 1`);
    expect(policies.map((p) => p.tablename)).toEqual(['usage_daily_channels', 'usage_hourly']);
    await insertHourly(monthRows(addMonths(current, -2), 8).map((r) => ({ ...r, account: 'part-c' })));
    await snapshot();
    await knex.migrate.latest({ migrationSource: through });
  }, 60_000);
});

describe('the service', () => {
  let server: TestServer;
  beforeAll(async () => { server = await startTestServer(); }, 120_000);
  afterAll(async () => { await server?.stop(); });

  test('creates the current month and the next three at start, and counts verifications in the current one', async () => {
    const current = monthStart(new Date());
    for (const table of ['usage_hourly', 'usage_daily_channels']) {
      const partitions = await usagePartitions(server.knex, table);
      const months = [0, 1, 2, 3].map((m) => partitionName(table, addMonths(current, m)));
      expect(names(partitions)).toEqual(expect.arrayContaining([`${table}_default`, ...months]));
    }
    const acme = await seedAccount(server, 'part-service');
    const key = await acme.createKey({ name: 'partitioned' });
    expect((await verifyRest(server, acme.verifier, key.secret)).valid).toBe(true);
    await server.service.services.usage.flush();
    const placed = await server.knex.raw(`select tableoid::regclass::text as p, hour from usage_hourly where api_key_id = ?`, [key.id]);
    const [row] = (placed as { rows: { p: string; hour: Date }[] }).rows;
    expect(row.p).toBe(partitionName('usage_hourly', monthStart(new Date(row.hour))));
  }, 60_000);
});

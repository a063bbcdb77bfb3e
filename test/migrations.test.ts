import fs from 'node:fs';
import path from 'node:path';
import type { DatabaseTarget } from '../src/config';
import { createDatabase, type Database } from '../src/db/database';
import { createTestDatabase, type TestDatabase } from './helpers/database';

// Every migration is reversible: latest, rollback of all, latest again ends with the same schema.
let testDb: TestDatabase;
let db: Database;

beforeAll(async () => {
  testDb = await createTestDatabase();
  const target: DatabaseTarget = testDb.url === 'memory://' ? { kind: 'pglite', dataDir: null } : { kind: 'postgres', url: testDb.url };
  db = createDatabase({ target, timeoutMs: 5000, poolMax: 2 });
}, 60_000);
afterAll(async () => {
  await db?.close();
  await testDb?.drop();
}, 60_000);

const MIGRATION_FILES = fs.readdirSync(path.resolve(__dirname, '../migrations')).filter((f) => /^\d+_.+\.ts$/.test(f)).map((f) => f.slice(0, -'.ts'.length)).sort();

interface SchemaShape { tables: string[]; columns: string[]; indexes: string[]; constraints: string[] }

/** The application's tables, columns, indexes and constraints (knex's own bookkeeping left out). */
async function schemaShape(): Promise<SchemaShape> {
  const rows = async <T>(sql: string): Promise<T[]> => ((await db.knex.raw(sql)) as { rows: T[] }).rows;
  const notKnex = (name: string) => !name.startsWith('knex_migrations');
  const tables = (await rows<{ table_name: string }>(
    `select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by 1`,
  )).map((r) => r.table_name).filter(notKnex);
  const columns = (await rows<{ c: string; table_name: string }>(
    `select table_name, table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') as c
       from information_schema.columns where table_schema = 'public' order by table_name, column_name`,
  )).filter((r) => notKnex(r.table_name)).map((r) => r.c);
  const indexes = (await rows<{ tablename: string; indexdef: string }>(
    `select tablename, indexdef from pg_indexes where schemaname = 'public' order by indexname`,
  )).filter((r) => notKnex(r.tablename)).map((r) => r.indexdef);
  const constraints = (await rows<{ table: string; def: string }>(
    `select conrelid::regclass::text as table, conname || ' ' || pg_get_constraintdef(oid) as def
       from pg_constraint where connamespace = 'public'::regnamespace order by conname`,
  )).filter((r) => notKnex(r.table)).map((r) => r.def);
  return { tables, columns, indexes, constraints };
}

let afterFirstLatest: SchemaShape;

test('latest applies every migration file on a fresh database', async () => {
  const [batch, applied] = (await db.knex.migrate.latest()) as [number, string[]];
  expect(batch).toBe(1);
  expect(applied.map((f) => path.basename(f))).toEqual(MIGRATION_FILES);
  afterFirstLatest = await schemaShape();
  expect(afterFirstLatest.tables).toEqual(expect.arrayContaining([
    'api_key_events', 'api_key_secrets', 'api_key_teams', 'api_keys', 'channels', 'developer_instances', 'developers',
    'instance_channels', 'instances', 'teams', 'usage_hourly',
  ]));
  // names carry no extension, so the built service (.js) shares this history
  // a second run has nothing to do
  const [, again] = (await db.knex.migrate.latest()) as [number, string[]];
  expect(again).toEqual([]);
}, 60_000);

test('the listing, sort and uniqueness indexes of api_keys exist', async () => {
  const { rows } = (await db.knex.raw(`select indexname, indexdef from pg_indexes where tablename = 'api_keys'`)) as { rows: { indexname: string; indexdef: string }[] };
  const byName = new Map(rows.map((r) => [r.indexname, r.indexdef.replace(/\s+/g, ' ')]));
  const expectIndex = (name: string, ...fragments: RegExp[]) => {
    const def = byName.get(name);
    expect({ name, exists: def !== undefined }).toEqual({ name, exists: true });
    for (const fragment of fragments) expect(def).toMatch(fragment);
  };
  const live = /WHERE \(deleted_at IS NULL\)/i;
  // one index per sort order of the listing: account, sort value, then the ID tie-breaker
  expectIndex('api_keys_created_idx', /\(account_id, created_at, id\) INCLUDE \(expires_at, revoked_at, developer_id, channel_id, instance_id, cloud, name\)/, live);
  expectIndex('api_keys_name_idx', /\(account_id, lower\(name\), id\)/, live);
  expectIndex('api_keys_expires_idx', /\(account_id, expires_at, id\)/, live);
  expectIndex('api_keys_last_used_idx', /\(account_id, COALESCE\(last_used_at, '-infinity'::timestamp with time zone\), id\)/i, live);
  // names unique per instance among live keys
  expectIndex('api_keys_instance_name_uq', /CREATE UNIQUE INDEX/, /\(instance_id, lower\(name\)\)/, live);
  // filters
  expectIndex('api_keys_developer_idx', /\(developer_id, expires_at\)/);
  expectIndex('api_keys_developer_live_idx', /\(developer_id\)/, live);
  expectIndex('api_keys_instance_idx', /\(instance_id\)/, live);
  expectIndex('api_keys_channel_idx', /\(channel_id\)/, live);
  expectIndex('api_keys_pkey', /UNIQUE INDEX/, /\(id\)/);

  // a key's links to teams, looked up by key with the account row-level security checks: index-only
  const links = (await db.knex.raw(`select indexdef from pg_indexes where indexname = 'api_key_teams_pkey'`)) as { rows: { indexdef: string }[] };
  expect(links.rows.map((r) => r.indexdef)).toEqual([expect.stringMatching(/UNIQUE INDEX .*\(api_key_id, team_id\) INCLUDE \(account_id\)/)]);
  // a team's keys in the listing's default order
  const byTeam = (await db.knex.raw(`select indexdef from pg_indexes where indexname = 'api_key_teams_team_created_idx'`)) as { rows: { indexdef: string }[] };
  expect(byTeam.rows.map((r) => r.indexdef)).toEqual([expect.stringMatching(/\(team_id, key_created_at, api_key_id\) INCLUDE \(account_id\)/)]);

  const catalog = (await db.knex.raw(`select indexname from pg_indexes where schemaname = 'public'`)) as { rows: { indexname: string }[] };
  expect(catalog.rows.map((r) => r.indexname)).toEqual(expect.arrayContaining([
    'channels_account_name_uq', 'instances_account_name_uq', 'teams_account_name_uq', 'developers_account_name_uq',
    'api_key_teams_team_created_idx', 'api_key_events_account_idx', 'api_key_events_key_idx', 'developer_instances_instance_idx',
  ]));
});

test('the keys\' tables are autovacuumed after 1 % of their rows changed or were added, not a fifth', async () => {
  for (const table of ['api_keys', 'api_key_teams']) {
    const { rows } = (await db.knex.raw(`select reloptions from pg_class where oid = ?::regclass`, [table])) as { rows: { reloptions: string[] | null }[] };
    expect({ table, options: rows[0].reloptions }).toEqual({ table, options: expect.arrayContaining([
      'autovacuum_vacuum_scale_factor=0.01', 'autovacuum_vacuum_threshold=1000',
      'autovacuum_vacuum_insert_scale_factor=0.01', 'autovacuum_vacuum_insert_threshold=1000',
    ]) });
  }
});

test('the schema enforces case-insensitive uniqueness of names per account', async () => {
  await db.knex('teams').insert({ id: 'team_mig_1', account_id: 'mig', name: 'Core' });
  await expect(db.knex('teams').insert({ id: 'team_mig_2', account_id: 'mig', name: 'CORE' })).rejects.toMatchObject({ code: '23505' });
  await db.knex('teams').insert({ id: 'team_mig_3', account_id: 'other', name: 'CORE' });
});

test('rollback of all migrations, with data in the tables, leaves no application table', async () => {
  const [, rolledBack] = (await db.knex.migrate.rollback({}, true)) as [number, string[]];
  expect(rolledBack.map((f) => path.basename(f)).sort()).toEqual(MIGRATION_FILES);
  const shape = await schemaShape();
  expect(shape).toEqual({ tables: [], columns: [], indexes: [], constraints: [] });
  expect(await db.knex.migrate.currentVersion()).toBe('none');
}, 60_000);

test('latest after the rollback rebuilds exactly the same schema', async () => {
  const [, applied] = (await db.knex.migrate.latest()) as [number, string[]];
  expect(applied.map((f) => path.basename(f))).toEqual(MIGRATION_FILES);
  expect(await schemaShape()).toEqual(afterFirstLatest);
  const [, rolledBack] = (await db.knex.migrate.rollback({}, true)) as [number, string[]];
  expect(rolledBack).toHaveLength(MIGRATION_FILES.length);
  await db.knex.migrate.latest();
  expect(await schemaShape()).toEqual(afterFirstLatest);
}, 90_000);

test('history written before events had one shape is rewritten to { field: { from, to } } and back', async () => {
  await db.knex.migrate.rollback({}, true);
  const HISTORY = '20261201000030_history_shape';
  for (const file of MIGRATION_FILES.slice(0, MIGRATION_FILES.indexOf(HISTORY))) await db.knex.migrate.up({ name: file });
  const at = '2026-11-20T10:00:00.000Z';
  const event = (id: string, type: string, changes: unknown) =>
    ({ id, account_id: 'mig', api_key_id: 'key_mig', api_key_name: 'ci', type, actor: 'admin', at, changes: changes === null ? null : JSON.stringify(changes) });
  const old = {
    CREATED: { instanceId: 'inst_1', channelId: 'chan_1', developerId: 'dev_1', teams: ['team_1'], expiresAt: '2027-01-01T00:00:00.000Z' },
    RENEWED: { expiresAt: { from: '2027-01-01T00:00:00.000Z', to: '2027-06-01T00:00:00.000Z' }, gracePeriodSeconds: 3600 },
  };
  await db.knex('api_key_events').insert([
    event('ev_1', 'CREATED', old.CREATED),
    event('ev_2', 'RENEWED', old.RENEWED),
    event('ev_3', 'REVOKED', { reason: 'leaked' }),
    event('ev_4', 'REVOKED', null),
    event('ev_5', 'DELETED', null),
    event('ev_6', 'UPDATED', { name: { from: 'ci', to: 'ci-2' } }),
  ]);
  const changes = async () => Object.fromEntries(((await db.knex('api_key_events').select('id', 'changes').orderBy('id')) as { id: string; changes: unknown }[])
    .map((r) => [r.id, r.changes]));
  const before = await changes();

  await db.knex.migrate.up({ name: HISTORY });
  expect(await changes()).toEqual({
    ev_1: {
      instanceId: { from: null, to: 'inst_1' }, channelId: { from: null, to: 'chan_1' }, developerId: { from: null, to: 'dev_1' },
      teams: { from: [], to: ['team_1'] }, expiresAt: { from: null, to: '2027-01-01T00:00:00.000Z' },
    },
    ev_2: { expiresAt: { from: '2027-01-01T00:00:00.000Z', to: '2027-06-01T00:00:00.000Z' }, gracePeriodSeconds: { from: null, to: 3600 } },
    ev_3: { status: { from: null, to: 'REVOKED' }, revokedAt: { from: null, to: '2026-11-20T10:00:00.000Z' }, revocationReason: { from: null, to: 'leaked' } },
    ev_4: { status: { from: null, to: 'REVOKED' }, revokedAt: { from: null, to: '2026-11-20T10:00:00.000Z' }, revocationReason: { from: null, to: null } },
    ev_5: { deletedAt: { from: null, to: '2026-11-20T10:00:00.000Z' } },
    ev_6: { name: { from: 'ci', to: 'ci-2' } },
  });
  // a second run changes nothing
  const once = await changes();
  await db.knex.migrate.down({ name: HISTORY });
  expect(await changes()).toEqual(before);
  await db.knex.migrate.up({ name: HISTORY });
  expect(await changes()).toEqual(once);
  await db.knex.migrate.latest();
}, 90_000);

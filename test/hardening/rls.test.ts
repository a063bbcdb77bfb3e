import pg from 'pg';
import { ConfigError, loadConfig } from '../../src/config';
import { createDatabase, migrateLatest } from '../../src/db/database';
import type { Statement } from '../../src/db/driver';
import { PgDriver } from '../../src/db/pg-driver';
import { ALL_ACCOUNTS, scopeSql } from '../../src/db/tenant';
import { serverUrl } from '../helpers/database';
import { seedAccount, type SeededAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';
import { verifyRest } from '../verification/verify';

// Row-level security as the backstop of tenant isolation: the service's transactions run as
// qckeys_app with the account set, and PostgreSQL itself refuses other accounts' rows. Most of
// this needs a server's roles and logins; the embedded database's scope is tested at the end.
const describeOnPostgres = serverUrl() ? describe : describe.skip;

const APP_ROLE = 'qckeys_app';

test('DATABASE_ROLE: a role name, none, or unset for qckeys_app', () => {
  const url = 'postgres://u@db:5432/keys';
  expect(loadConfig({ DATABASE_URL: url }).database).toEqual({ kind: 'postgres', url });
  expect(loadConfig({ DATABASE_URL: url, DATABASE_ROLE: 'keys_app' }).database).toEqual({ kind: 'postgres', url, role: 'keys_app' });
  expect(loadConfig({ DATABASE_URL: url, DATABASE_ROLE: 'none' }).database).toEqual({ kind: 'postgres', url, role: null });
  expect(() => loadConfig({ DATABASE_URL: url, DATABASE_ROLE: 'app; drop table x' })).toThrow(ConfigError);
  expect(() => loadConfig({ DATABASE_URL: url, DATABASE_ROLE: 'App' })).toThrow('DATABASE_ROLE');
});

describeOnPostgres('row-level security (PostgreSQL)', () => {
  let server: TestServer;
  let a: SeededAccount;
  let b: SeededAccount;
  let aKey: { id: string; secret: string };
  let bKey: { id: string; secret: string };
  let tables: string[];

  /** A session of the test's own, as the app role, in a transaction with `account` set (or none). */
  async function asApp<T>(account: string | null, work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: server.database.url });
    await client.connect();
    try {
      await client.query('begin');
      await client.query(`set local role ${APP_ROLE}`);
      if (account !== null) await client.query(`select set_config('app.account_id', $1, true)`, [account]);
      try {
        return await work(client);
      } finally {
        await client.query('rollback');
      }
    } finally {
      await client.end();
    }
  }

  /** Runs `sql` in a savepoint: its error code, or null when it succeeded. */
  async function failure(client: pg.Client, sql: string, values: unknown[] = []): Promise<string | null> {
    await client.query('savepoint attempt');
    try {
      await client.query(sql, values);
      await client.query('release savepoint attempt');
      return null;
    } catch (err) {
      await client.query('rollback to savepoint attempt');
      return (err as { code?: string }).code ?? 'unknown';
    }
  }

  const count = async (client: pg.Client, table: string, account: string): Promise<number> =>
    (await client.query<{ n: number }>(`select count(*)::int as n from ${table} where account_id = $1`, [account])).rows[0].n;

  beforeAll(async () => {
    server = await startTestServer();
    a = await seedAccount(server, 'rls-a');
    b = await seedAccount(server, 'rls-b');
    aKey = await a.createKey({ name: 'a key', newTeamNames: ['A team'] });
    bKey = await b.createKey({ name: 'b key', newTeamNames: ['B team'] });
    for (const [account, key] of [[a, aKey], [b, bKey]] as const) {
      expect((await verifyRest(server, account.verifier, key.secret)).valid).toBe(true);
    }
    await server.service.services.usage.flush();
    tables = (await server.knex.raw(`select tablename from pg_policies where policyname = 'account_isolation' order by 1`) as { rows: { tablename: string }[] })
      .rows.map((r) => r.tablename);
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  test('every table with an account has the policy, enabled and forced, but the names kept for search', async () => {
    const { rows } = (await server.knex.raw(
      `select c.relname, c.relrowsecurity, c.relforcerowsecurity from pg_class c
         join pg_attribute att on att.attrelid = c.oid and att.attname = 'account_id'
       where c.relnamespace = current_schema()::regnamespace and c.relkind in ('r', 'p') and c.relname <> 'api_key_names' order by 1`,
    )) as { rows: { relname: string; relrowsecurity: boolean; relforcerowsecurity: boolean }[] };
    expect(rows.map((r) => r.relname)).toEqual(tables);
    expect(tables).toEqual(expect.arrayContaining([
      'api_key_events', 'api_key_secrets', 'api_key_teams', 'api_keys', 'channels', 'developer_instances', 'developers',
      'idempotency_keys', 'instance_channels', 'instances', 'teams', 'usage_daily_channels', 'usage_hourly',
    ]));
    expect(rows.every((r) => r.relrowsecurity && r.relforcerowsecurity)).toBe(true);
  });

  test('the names kept for search are out of the app role\'s reach but through the search function, for its own account', async () => {
    await asApp('rls-b', async (client) => {
      expect(await failure(client, 'select * from api_key_names')).toBe('42501');
      expect(await failure(client, `insert into api_key_names values ('key_x', 'rls-b', 'planted')`)).toBe('42501');
      expect(await failure(client, `delete from api_key_names where account_id = 'rls-a'`)).toBe('42501');
      const named = async (account: string, pattern: string) =>
        (await client.query<{ id: string }>('select api_key_ids_named_like($1, $2) as id', [account, pattern])).rows.map((r) => r.id);
      expect(await named('rls-b', '%key%')).toEqual([bKey.id]);
      // another account's names, asked for by name: nothing
      expect(await named('rls-a', '%key%')).toEqual([]);
      expect(await named('rls-a', '%')).toEqual([]);
    });
    // a transaction with no account set learns nothing either
    await asApp(null, async (client) => {
      expect(await failure(client, 'select * from api_key_names')).toBe('42501');
      expect((await client.query('select api_key_ids_named_like($1, $2)', ['rls-a', '%'])).rows).toEqual([]);
    });
  });

  test('the app role cannot bypass row-level security and owns nothing', async () => {
    const { rows } = (await server.knex.raw(
      `select rolbypassrls, rolsuper, rolcanlogin,
              (select count(*)::int from pg_class where relowner = r.oid) as owned
       from pg_roles r where rolname = ?`, [APP_ROLE],
    )) as { rows: { rolbypassrls: boolean; rolsuper: boolean; rolcanlogin: boolean; owned: number }[] };
    expect(rows).toEqual([{ rolbypassrls: false, rolsuper: false, rolcanlogin: false, owned: 0 }]);
  });

  test('both accounts work normally through the service, each seeing only its own', async () => {
    const list = 'query { apiKeys { totalCount edges { node { id name teams { name } } } } teams { edges { node { name } } } }';
    type Page = { apiKeys: { totalCount: number; edges: { node: { id: string; name: string; teams: { name: string }[] } }[] }; teams: { edges: { node: { name: string } }[] } };
    const seenByA = await server.ok<Page>(a.viewer, list);
    const seenByB = await server.ok<Page>(b.viewer, list);
    expect(seenByA.apiKeys.edges.map((e) => e.node.id)).toEqual([aKey.id]);
    expect(seenByA.apiKeys.edges[0].node.teams).toEqual([{ name: 'A team' }]);
    expect(seenByB.apiKeys.edges.map((e) => e.node.id)).toEqual([bKey.id]);
    expect(seenByB.teams.edges.map((e) => e.node.name)).toEqual(['B team']);

    // a mutation, and another account's ID refused as unknown
    const renamed = await server.ok<{ updateApiKey: { apiKey: { name: string } } }>(a.admin,
      'mutation($id: ID!) { updateApiKey(input: { id: $id, name: "renamed a key" }) { apiKey { name } } }', { id: aKey.id });
    expect(renamed.updateApiKey.apiKey.name).toBe('renamed a key');
    const foreign = await server.gql<{ node: unknown }>(a.viewer, 'query($id: ID!) { node(id: $id) { id } }', { id: bKey.id });
    expect(foreign.data?.node).toBeNull();

    // usage written by the flush (all accounts) reads back per account
    const usage = 'query($f: UsageFilter!) { usage(filter: $f) { total } }';
    const filter = { f: { from: new Date(Date.now() - 86_400_000).toISOString(), to: new Date(Date.now() + 3_600_000).toISOString() } };
    expect((await server.ok<{ usage: { total: number } }>(a.viewer, usage, filter)).usage.total).toBe(1);
    expect((await server.ok<{ usage: { total: number } }>(b.viewer, usage, filter)).usage.total).toBe(1);
    const lastUsed = await server.ok<{ apiKey: { lastUsedAt: string | null } }>(b.viewer, 'query($id: ID!) { apiKey(id: $id) { lastUsedAt } }', { id: bKey.id });
    expect(lastUsed.apiKey.lastUsedAt).not.toBeNull();
  });

  test("a query's statements each run with the scope in a round trip of their own; a mutation's in one transaction", async () => {
    const seen: { kind: 'begin' | 'reader' | 'read'; setup: string }[] = [];
    const { begin, reader } = PgDriver.prototype;
    PgDriver.prototype.begin = function (setup) { seen.push({ kind: 'begin', setup }); return begin.call(this, setup); };
    PgDriver.prototype.reader = async function (setup) {
      seen.push({ kind: 'reader', setup });
      const held = await reader.call(this, setup);
      return { ...held, query: (statement) => { seen.push({ kind: 'read', setup }); return held.query(statement); } };
    };
    // the calls made for account A (the service's own work across accounts may run meanwhile)
    const ofA = () => seen.splice(0).filter((c) => c.setup.includes("'rls-a'")).map((c) => c.kind);
    try {
      const page = await server.ok<{ apiKeys: { totalCount: number } }>(a.viewer, 'query { apiKeys(first: 10) { totalCount edges { node { id developer { name } teams { name } } } } }');
      expect(page.apiKeys.totalCount).toBe(1);
      const [first, ...reads] = ofA();
      expect(first).toBe('reader');
      expect(reads.length).toBeGreaterThanOrEqual(2);
      expect(new Set(reads)).toEqual(new Set(['read']));
      await server.ok(a.admin, 'mutation($id: ID!) { updateApiKey(input: { id: $id, name: "renamed a key" }) { apiKey { name } } }', { id: aKey.id });
      expect(ofA()).toEqual(['begin']);
      // every place was given back
      expect(server.service.db.stats().requests).toMatchObject({ used: 0, waiting: 0 });
    } finally {
      Object.assign(PgDriver.prototype, { begin, reader });
    }
  });

  test('an account with quotes is refused at the token; the scope would quote it as a literal anyway', async () => {
    const tricky = `o'brien'); select set_config('app.cross_account', 'on', true); --`;
    const res = await server.gql(await server.token({ account: tricky, roles: ['viewer'] }), '{ channels { id } }');
    expect(res.status).toBe(401);
    expect(scopeSql({ account: APP_ROLE, system: 'qckeys_system' }, tricky))
      .toBe(`select set_config('role', 'qckeys_app', true), set_config('app.account_id', 'o''brien''); select set_config(''app.cross_account'', ''on'', true); --', true), set_config('max_parallel_workers_per_gather', '0', true)`);
  });

  test('as the app role, setting app.cross_account reveals and opens nothing', async () => {
    await asApp('rls-b', async (client) => {
      await client.query(`select set_config('app.cross_account', 'on', true)`);
      for (const table of tables) expect({ table, rows: await count(client, table, 'rls-a') }).toEqual({ table, rows: 0 });
      expect((await client.query(`update api_keys set name = 'stolen' where account_id = 'rls-a'`)).rowCount).toBe(0);
      expect(await failure(client, `insert into teams (id, account_id, name) values ('team_rls_c', 'rls-a', 'Planted')`)).toBe('42501');
      expect((await client.query('select api_key_ids_named_like($1, $2) as id', ['rls-a', '%'])).rows).toEqual([]);
    });
  });

  test('the requests\' login (qckeys_authenticator) cannot leave the app role: no reset, no other role', async () => {
    const url = new URL(server.database.url);
    url.username = 'qckeys_authenticator';
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    try {
      await client.query('begin');
      await client.query(`select set_config('role', 'qckeys_app', true), set_config('app.account_id', 'rls-b', true)`);
      expect(await count(client, 'api_keys', 'rls-b')).toBe(1);
      // what an injected statement could try
      expect(await failure(client, 'set local role qckeys_system')).toBe('42501');
      expect(await failure(client, 'set local role postgres')).toBe('42501');
      await client.query('reset role');
      expect((await client.query<{ who: string }>('select current_user as who')).rows[0].who).toBe('qckeys_authenticator');
      expect(await failure(client, 'select count(*) from api_keys')).toBe('42501');
      await client.query('rollback');
    } finally {
      await client.end();
    }
  });

  test('every foreign key includes the account: no role can link one account\'s key to another\'s team, instance, channel or developer', async () => {
    const bTeam = (await server.knex('teams').where({ account_id: 'rls-b' }).first('id')) as { id: string };
    const attempts: [string, unknown[]][] = [
      ['insert into api_key_teams (account_id, api_key_id, team_id, key_created_at) values ($1, $2, $3, now())', ['rls-a', aKey.id, bTeam.id]],
      ['insert into api_key_teams (account_id, api_key_id, team_id, key_created_at) values ($1, $2, $3, now())', ['rls-b', aKey.id, bTeam.id]],
      ['update api_keys set instance_id = $1 where id = $2', [b.instances.prod.id, aKey.id]],
      ['update api_keys set channel_id = $1 where id = $2', [b.channels.ide.id, aKey.id]],
      ['update api_keys set developer_id = (select id from developers where account_id = $1 limit 1) where id = $2', ['rls-b', aKey.id]],
      ['insert into instance_channels (account_id, instance_id, channel_id) values ($1, $2, $3)', ['rls-a', a.instances.prod.id, b.channels.ci.id]],
    ];
    // even as the owner, which row-level security does not stop here (a superuser)
    const client = new pg.Client({ connectionString: server.database.url });
    await client.connect();
    try {
      await client.query('begin');
      for (const [sql, values] of attempts) expect({ sql, code: await failure(client, sql, values) }).toEqual({ sql, code: '23503' });
      await client.query('rollback');
    } finally {
      await client.end();
    }
  });

  test("the service's transactions run as the app role with the account set", async () => {
    const who = await server.service.db.transaction('rls-a', (tx) =>
      tx.first({ text: `select current_user as role, current_setting('app.account_id', true) as account` }));
    expect(who).toEqual({ role: APP_ROLE, account: 'rls-a' });

    // proof from the server's side: without the grant the request fails (a superuser would not)
    await server.knex.raw(`revoke select on channels from ${APP_ROLE}`);
    try {
      const denied = await server.gql(a.viewer, '{ channels { id } }');
      expect(denied.errors?.[0].extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    } finally {
      await server.knex.raw(`grant select on channels to ${APP_ROLE}`);
    }
    expect((await server.ok<{ channels: unknown[] }>(a.viewer, '{ channels { id } }')).channels).toHaveLength(2);
  });

  test("as the app role for account B, account A's rows are invisible and cannot be written", async () => {
    await asApp('rls-b', async (client) => {
      for (const table of tables) {
        expect({ table, rows: await count(client, table, 'rls-a') }).toEqual({ table, rows: 0 });
        const all = (await client.query<{ n: number }>(`select count(*)::int as n, count(*) filter (where account_id <> 'rls-b')::int as other from ${table}`)).rows[0];
        expect({ table, other: all }).toEqual({ table, other: { n: all.n, other: 0 } });
      }
      expect(await count(client, 'api_keys', 'rls-b')).toBe(1);

      // updates and deletes of A's rows touch nothing
      expect((await client.query(`update api_keys set name = 'stolen' where account_id = 'rls-a'`)).rowCount).toBe(0);
      expect((await client.query(`update api_keys set revoked_at = now() where id = $1`, [aKey.id])).rowCount).toBe(0);
      expect((await client.query(`delete from api_key_secrets where account_id = 'rls-a'`)).rowCount).toBe(0);
      expect((await client.query(`delete from api_key_events where account_id = 'rls-a'`)).rowCount).toBe(0);
      expect((await client.query(`delete from usage_hourly where account_id = 'rls-a'`)).rowCount).toBe(0);

      // rows for A cannot be inserted, and B's rows cannot be moved to A
      expect(await failure(client, `insert into teams (id, account_id, name) values ('team_rls_x', 'rls-a', 'Planted')`)).toBe('42501');
      expect(await failure(client, `insert into channels (id, account_id, name) values ('ch_rls_x', 'rls-a', 'Planted')`)).toBe('42501');
      expect(await failure(client, `update teams set account_id = 'rls-a' where account_id = 'rls-b'`)).toBe('42501');
      // B's own rows are writable
      expect(await failure(client, `insert into teams (id, account_id, name) values ('team_rls_y', 'rls-b', 'Own')`)).toBeNull();
    });
    // A's data is untouched
    const [{ name }] = await server.knex('api_keys').where({ id: aKey.id }).select('name');
    expect(name).toBe('renamed a key');
    expect(await server.knex('api_key_secrets').where({ account_id: 'rls-a' }).count<{ n: number }[]>({ n: '*' })).toEqual([{ n: 1 }]);
  });

  test('as the app role with no account set, nothing is visible or writable', async () => {
    await asApp(null, async (client) => {
      for (const table of tables) {
        const { n } = (await client.query<{ n: number }>(`select count(*)::int as n from ${table}`)).rows[0];
        expect({ table, n }).toEqual({ table, n: 0 });
      }
      expect(await failure(client, `insert into teams (id, account_id, name) values ('team_rls_z', 'rls-a', 'Planted')`)).toBe('42501');
      expect((await client.query(`delete from api_keys`)).rowCount).toBe(0);
    });
  });

  test('start-up stops when the connecting user cannot switch to DATABASE_ROLE', async () => {
    const db = createDatabase({ target: { kind: 'postgres', url: server.database.url, role: 'qckeys_no_such_role' }, timeoutMs: 5000, poolMax: 1 });
    try {
      await expect(migrateLatest(db)).rejects.toThrow(/DATABASE_ROLE qckeys_no_such_role/);
    } finally {
      await db.close();
    }
  });

  test('the account and the role do not outlive the transaction on a pooled connection', async () => {
    const pool = await server.knex.transaction(async (trx) => ((await trx.raw(
      `select current_user as role, coalesce(current_setting('app.account_id', true), '') as account, coalesce(current_setting('app.cross_account', true), '') as cross`,
    )) as { rows: unknown[] }).rows[0]);
    expect(pool).toEqual({ role: 'postgres', account: '', cross: '' });
  });

  test('a statement read apart runs scoped and leaves nothing on its pooled connection, even when it fails', async () => {
    // one connection: every statement below shares it
    const driver = new PgDriver({ url: server.database.url, max: 1, waitMs: 5000, connectTimeoutMs: 5000, statementTimeoutMs: 10_000, applicationName: 'qckeys-test', prepared: true });
    const roles = { account: APP_ROLE, system: 'qckeys_system' };
    const unscoped = `select current_user as role, coalesce(current_setting('app.account_id', true), '') as account,
      coalesce(current_setting('app.cross_account', true), '') as cross, current_setting('max_parallel_workers_per_gather') as workers`;
    const left = { role: 'postgres', account: '', cross: '', workers: '2' };
    /** One statement read apart, its place given back at once. */
    const read = async (setup: string, statement: Statement) => {
      const reader = await driver.reader(setup);
      try {
        return await reader.query(statement);
      } finally {
        reader.end();
      }
    };
    try {
      for (const name of ['qk_test_scoped', undefined]) {
        const { rows } = await read(scopeSql(roles, 'rls-a'), {
          name, text: `select current_user as role, current_setting('app.account_id') as account, current_setting('max_parallel_workers_per_gather') as workers,
            (select count(*)::int from api_keys where account_id = any($1::text[])) as keys`, values: [['rls-a', 'rls-b']],
        });
        expect(rows).toEqual([{ role: APP_ROLE, account: 'rls-a', workers: '0', keys: 1 }]);
        expect(await driver.once(unscoped)).toEqual([left]);
      }
      const cross = await read(scopeSql(roles, ALL_ACCOUNTS), { text: `select current_user as role, count(*)::int as keys from api_keys where account_id = any($1::text[])`, values: [['rls-a', 'rls-b']] });
      expect(cross.rows).toEqual([{ role: 'qckeys_system', keys: 2 }]);
      expect(await driver.once(unscoped)).toEqual([left]);

      // a failure in the statement, and a named statement whose text does not parse, twice: each gets its own error
      await expect(read(scopeSql(roles, 'rls-a'), { text: 'select 1 / $1::int', values: [0] })).rejects.toMatchObject({ code: '22012' });
      for (let i = 0; i < 2; i++) {
        await expect(read(scopeSql(roles, 'rls-a'), { name: 'qk_test_unparsable', text: 'select no_such_column from api_keys' })).rejects.toMatchObject({ code: '42703' });
      }
      expect(await driver.once(unscoped)).toEqual([left]);
      // the scope itself refused (an account role the login cannot take): the statement does not run unscoped
      await expect(read(scopeSql({ account: 'qckeys_no_such_role', system: null }, 'rls-a'), { text: 'select count(*) from api_keys' })).rejects.toMatchObject({ code: '22023' });
      expect(await driver.once(unscoped)).toEqual([left]);
      expect(driver.stats()).toMatchObject({ used: 0, waiting: 0 });
    } finally {
      await driver.end();
    }
  });
});

describe('the embedded database and the server alike', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
    await seedAccount(server, 'scope-a');
    await seedAccount(server, 'scope-b');
  }, 60_000);
  afterAll(async () => { await server?.stop(); });

  test("a request's transactions run as the app role, seeing its account's rows only, whatever it sets", async () => {
    const seen = await server.service.db.transaction('scope-b', async (tx) => {
      await tx.rows({ text: `select set_config('app.cross_account', 'on', true)` });
      return tx.first<{ who: string; a: number; b: number }>({
        text: `select current_user as who, count(*) filter (where account_id = 'scope-a')::int as a, count(*) filter (where account_id = 'scope-b')::int as b from channels`,
      });
    });
    expect(seen).toEqual({ who: 'qckeys_app', a: 0, b: 2 });
  });

  test("every scoped transaction plans without parallel workers: a request's, a mutation's, the cross-account work's", async () => {
    const setting = { text: `select current_setting('max_parallel_workers_per_gather') as workers` };
    const request = server.service.db.request('scope-a');
    const fromRequest = await request.first<{ workers: string }>(setting);
    await request.end(true);
    expect(fromRequest).toEqual({ workers: '0' });
    expect(await server.service.db.transaction('scope-a', (tx) => tx.first(setting))).toEqual({ workers: '0' });
    expect(await server.service.db.transaction(ALL_ACCOUNTS, (tx) => tx.first(setting))).toEqual({ workers: '0' });
    // PostgreSQL's default is 2 (the embedded database has no workers at all): the scope sets it
  });

  test("a query's statements each run scoped, one that fails as well, and leave nothing to the connection's next user", async () => {
    const request = server.service.db.request('scope-a');
    expect(request.readsApart()).toBe(true);
    await expect(request.first({ text: 'select 1 / 0' })).rejects.toMatchObject({ code: '22012' });
    const who = { text: `select current_user as who, current_setting('app.account_id') as account, count(*)::int as channels from channels` };
    expect(await request.first(who)).toEqual({ who: 'qckeys_app', account: 'scope-a', channels: 2 });
    await request.end(true);
    // on the embedded database, knex's statements share the one connection the request's ran on
    const { rows } = await server.knex.raw(`select current_user as who, coalesce(current_setting('app.account_id', true), '') as account`) as { rows: unknown[] };
    expect(rows).toEqual([{ who: 'postgres', account: '' }]);
  });

  test('the cross-account work runs as qckeys_system and sees every account', async () => {
    const seen = await server.service.db.transaction(ALL_ACCOUNTS, (tx) =>
      tx.first<{ who: string; accounts: number }>({ text: `select current_user as who, count(distinct account_id)::int as accounts from channels` }));
    expect(seen).toEqual({ who: 'qckeys_system', accounts: 2 });
  });
});

import { CatalogCache } from '../../src/modules/api-keys/catalog';
import { createTestDatabase, serverUrl, type TestDatabase } from '../helpers/database';
import { seedAccount, type SeededAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

// A listing's developers, instances and channels come from records the service keeps while the
// account's catalog stamp holds (src/modules/api-keys/catalog.ts). These tests try to catch a
// kept record that should have been dropped: after each kind of change, made through either of
// two services on one database or by SQL outside them, both list what the database holds.
jest.setTimeout(120_000);

let database: TestDatabase;
let a: TestServer;
let b: TestServer;
let acme: SeededAccount;
let other: SeededAccount;

beforeAll(async () => {
  database = await createTestDatabase();
  a = await startTestServer({}, { database });
  b = serverUrl() ? await startTestServer({}, { database }) : a;
  acme = await seedAccount(a, 'catalog-acme');
  other = await seedAccount(a, 'catalog-other');
  await acme.createKey({ name: 'alice ide', developer: { name: 'Alice' } });
  await acme.createKey({ name: 'bob ci', developer: { name: 'Bob' }, channelId: acme.channels.ci.id });
  await acme.createKey({ name: 'carol snow', developer: { name: 'Carol' }, instanceId: acme.instances.snow.id });
  await other.createKey({ name: 'other alice', developer: { name: 'Alice' } });
});
afterAll(async () => {
  if (b !== a) await b.stop();
  await a.stop();
  await database.drop();
});

const LIST = `{ apiKeys(first: 50, orderBy: { field: NAME, direction: ASC }) { totalCount edges { node {
  name developer { id name active } instance { id name url } channel { id name } teams { name } } } } }`;

interface Row { name: string; developer: { id: string; name: string; active: boolean }; instance: { id: string; name: string; url: string | null }; channel: { id: string; name: string } }

async function listed(server: TestServer, token: string): Promise<Row[]> {
  const { apiKeys } = await server.ok<{ apiKeys: { edges: { node: Row }[] } }>(token, LIST);
  return apiKeys.edges.map((e) => e.node);
}

/** What the database holds for the account's listed keys, read with SQL of the test's own. */
async function expected(account: string): Promise<Row[]> {
  const rows = await a.knex.raw(`
    select k.name, d.id as d_id, d.name as d_name, d.active as d_active, i.id as i_id, i.name as i_name, i.url as i_url, c.id as c_id, c.name as c_name
    from api_keys k join developers d on d.id = k.developer_id join instances i on i.id = k.instance_id join channels c on c.id = k.channel_id
    where k.account_id = ? and k.deleted_at is null order by k.name`, [account]) as { rows: Record<string, string | boolean | null>[] };
  return rows.rows.map((r) => ({
    name: r.name as string,
    developer: { id: r.d_id as string, name: r.d_name as string, active: r.d_active as boolean },
    instance: { id: r.i_id as string, name: r.i_name as string, url: r.i_url as string | null },
    channel: { id: r.c_id as string, name: r.c_name as string },
  }));
}

/** Both services list what the database holds, twice each (the second from kept records). */
async function expectCurrent(after: string, seeded: SeededAccount = acme): Promise<void> {
  const want = await expected(seeded.account);
  for (const server of [a, b, a, b]) {
    const got = (await listed(server, seeded.viewer)).map(({ name, developer, instance, channel }) => ({ name, developer, instance, channel }));
    expect({ after, rows: got }).toEqual({ after, rows: want });
  }
}

test('each kind of change to a developer, instance or channel is listed at once by both services', async () => {
  await expectCurrent('the first listings');

  await a.ok(acme.admin, 'mutation($input: UpdateInstanceInput!) { updateInstance(input: $input) { instance { id } } }',
    { input: { id: acme.instances.prod.id, name: 'Production org', url: 'https://prod.example.com' } });
  await expectCurrent('an instance renamed through one service');

  const bob = (await listed(a, acme.viewer)).find((r) => r.name === 'bob ci')!.developer;
  await b.ok(acme.admin, 'mutation($input: DeactivateDeveloperInput!) { deactivateDeveloper(input: $input) { developer { id } } }',
    { input: { id: bob.id, revokeApiKeys: true } });
  await expectCurrent('a developer deactivated through the other');

  // a change made outside the service moves the stamp too (the triggers are the database's)
  await a.knex('channels').where({ id: acme.channels.ci.id }).update({ name: 'Pipelines' });
  await expectCurrent('a channel renamed by SQL');
  await a.knex('developers').where({ account_id: acme.account, name: 'Alice' }).update({ name: 'Alice Liddell' });
  await expectCurrent('a developer renamed by SQL');

  // a new developer, instance and channel: not held yet, read with the page
  const ops = await acme.channel('Ops');
  const edge = await acme.instance('Edge org', 'M365', [ops.id]);
  await acme.createKey({ name: 'dave edge', developer: { name: 'Dave' }, instanceId: edge.id, channelId: ops.id });
  await expectCurrent('a key of a new developer, instance and channel');

  // another account's listing, between them, shows its own
  await expectCurrent('the other account', other);
  await expectCurrent('and the first again');
});

test('while the stamp holds, a page shows the records kept (read again only once the stamp moves)', async () => {
  await expectCurrent('before');
  // with the stamp's trigger off, a direct change is not seen: the kept record is what is shown
  await a.knex.raw('alter table developers disable trigger developers_catalog_stamp_update');
  try {
    await a.knex('developers').where({ account_id: acme.account, name: 'Carol' }).update({ name: 'Caroline' });
    const shown = (await listed(a, acme.viewer)).find((r) => r.name === 'carol snow')!;
    expect(shown.developer.name).toBe('Carol');
  } finally {
    await a.knex.raw('alter table developers enable trigger developers_catalog_stamp_update');
  }
  // a change that moves the stamp brings both
  await a.knex('channels').where({ id: acme.channels.ide.id }).update({ name: 'IDE plugins' });
  await expectCurrent('the stamp moved');
  expect((await listed(a, acme.viewer)).find((r) => r.name === 'carol snow')!.developer.name).toBe('Caroline');
});

describe('CatalogCache', () => {
  const dev = (id: string) => ({ id, accountId: 'x', name: id, active: true, createdAt: new Date(0), deactivatedAt: null });
  const records = (ids: string[]) => ({ developers: ids.map(dev), instances: [], channels: [] });

  test('records of another stamp are dropped before new ones are added', () => {
    const cache = new CatalogCache(100);
    cache.add('acme', 1, records(['d1', 'd2']));
    expect([...cache.held('acme')!.developers.keys()]).toEqual(['d1', 'd2']);
    cache.add('acme', 2, records(['d3']));
    expect(cache.held('acme')!.stamp).toBe(2);
    expect([...cache.held('acme')!.developers.keys()]).toEqual(['d3']);
    expect(cache.size).toBe(1);
  });

  test('past its bound the accounts used least recently go, and one account holds at most the bound', () => {
    const cache = new CatalogCache(4);
    cache.add('a', 1, records(['a1', 'a2']));
    cache.add('b', 1, records(['b1', 'b2']));
    cache.held('a');
    cache.add('c', 1, records(['c1']));
    expect(cache.held('b')).toBeUndefined();
    expect(cache.held('a')).toBeDefined();
    expect(cache.size).toBe(3);
    cache.add('d', 1, records(['d1', 'd2', 'd3', 'd4', 'd5', 'd6']));
    expect(cache.held('d')!.developers.size).toBe(4);
    expect(cache.size).toBe(4);
  });
});

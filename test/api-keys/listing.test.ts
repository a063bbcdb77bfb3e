import { metricDelta } from '../helpers/metrics';
import { seedAccount, type SeededAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';
import {
  DAY_MS, EVENTS, LIST, expectError, expireInDatabase, keyApi, type ConnectionView, type KeyApi, type KeyView,
} from './support';
import { eventually } from '../helpers/eventually';

let server: TestServer;
let a: SeededAccount;
let api: KeyApi;
let viewer: KeyApi;
const base = Date.now();
const ids = { core: '', mobile: '', m365: '', alice: '', bob: '', carol: '' };
const keyByName = new Map<string, KeyView>();
/** Every live key of the account as the API shows it after the setup. */
let live: KeyView[] = [];

interface KeySpec { name: string; instance: 'prod' | 'snow' | 'm365'; channel: 'ide' | 'ci'; developer: string; teams: ('core' | 'mobile')[]; days: number }
const SPECS: KeySpec[] = [
  { name: 'Alpha build', instance: 'prod', channel: 'ide', developer: 'Alice', teams: ['core'], days: 10 },
  { name: 'beta deploy', instance: 'prod', channel: 'ci', developer: 'Bob', teams: ['core', 'mobile'], days: 20 },
  { name: 'Gamma 100%', instance: 'prod', channel: 'ci', developer: 'Alice', teams: [], days: 30 },
  { name: 'gamma_200', instance: 'snow', channel: 'ide', developer: 'Carol', teams: ['mobile'], days: 40 },
  { name: 'gammaX200', instance: 'snow', channel: 'ide', developer: 'Bob', teams: [], days: 50 },
  { name: 'Delta', instance: 'm365', channel: 'ide', developer: 'Carol', teams: ['core'], days: 60 }, // revoked, then expired
  { name: 'Epsilon', instance: 'prod', channel: 'ide', developer: 'Bob', teams: [], days: 70 }, // expired
  { name: 'Zeta', instance: 'prod', channel: 'ide', developer: 'Alice', teams: ['core'], days: 80 }, // deleted
  { name: 'Shared', instance: 'prod', channel: 'ide', developer: 'Alice', teams: [], days: 90 },
  { name: 'shared', instance: 'snow', channel: 'ide', developer: 'Bob', teams: ['mobile'], days: 90 },
  { name: 'SHARED', instance: 'm365', channel: 'ide', developer: 'Carol', teams: [], days: 90 },
  { name: 'Omega', instance: 'prod', channel: 'ci', developer: 'Carol', teams: [], days: 100 },
  { name: 'Iota', instance: 'snow', channel: 'ide', developer: 'Alice', teams: ['core'], days: 110 },
];
const ALL_LIVE = SPECS.map((s) => s.name).filter((n) => n !== 'Zeta');

async function verify(secret: string): Promise<void> {
  const res = await fetch(`${server.baseUrl}/v1/keys/verify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${a.verifier}` },
    body: JSON.stringify({ key: secret }),
  });
  expect(res.status).toBe(200);
}

beforeAll(async () => {
  server = await startTestServer();
  a = await seedAccount(server, 'lister');
  api = keyApi(server, a.admin);
  viewer = keyApi(server, a.viewer);
  const m365 = await a.instance('Teams tenant', 'M365', [a.channels.ide.id]);
  const team = async (name: string) => (await server.ok<{ createTeam: { team: { id: string } } }>(a.admin,
    'mutation($name: String!) { createTeam(input: { name: $name }) { team { id } } }', { name })).createTeam.team.id;
  ids.core = await team('Core');
  ids.mobile = await team('Mobile');
  ids.m365 = m365.id;
  const instanceIds = { prod: a.instances.prod.id, snow: a.instances.snow.id, m365: m365.id };
  const secrets = new Map<string, string>();
  for (const s of SPECS) {
    const { apiKey, secret } = await api.create({
      name: s.name, instanceId: instanceIds[s.instance], channelId: a.channels[s.channel].id, developer: { name: s.developer },
      teamIds: s.teams.map((t) => ids[t]), expiresAt: new Date(base + s.days * DAY_MS).toISOString(),
    });
    keyByName.set(s.name, apiKey);
    secrets.set(s.name, secret);
  }
  ids.alice = keyByName.get('Alpha build')!.developer.id;
  ids.bob = keyByName.get('beta deploy')!.developer.id;
  ids.carol = keyByName.get('gamma_200')!.developer.id;
  await api.revoke({ id: keyByName.get('Delta')!.id, reason: 'leaked' });
  await expireInDatabase(server, keyByName.get('Delta')!.id, new Date(base - 2 * DAY_MS));
  await expireInDatabase(server, keyByName.get('Epsilon')!.id, new Date(base - DAY_MS));
  await api.remove(keyByName.get('Zeta')!.id);

  // a few keys get used, so LAST_USED_AT has values and ties (never used)
  for (const name of ['Omega', 'Alpha build', 'Iota']) await verify(secrets.get(name)!);
  await eventually(async () => {
    live = (await api.list({ first: 100 })).edges.map((e) => e.node);
    return live.filter((k) => k.lastUsedAt !== null).length === 3;
  }, 5000, 100);
  expect(live.filter((k) => k.lastUsedAt !== null).map((k) => k.name).sort()).toEqual(['Alpha build', 'Iota', 'Omega']);

  // another account with a key of the same name, which must never show
  const other = await seedAccount(server, 'other');
  await keyApi(server, other.admin).create({ name: 'Alpha build', instanceId: other.instances.prod.id, channelId: other.channels.ide.id, developer: { name: 'Alice' } });
}, 120_000); // a server with its own database and a dozen keys: slow on a busy machine
afterAll(async () => { await server.stop(); });

const sorted = (list: string[]) => [...list].sort();
const namesOf = (c: ConnectionView<KeyView>) => c.edges.map((e) => e.node.name);

describe('apiKeys: the account listing', () => {
  test('shows every live key of the account, newest first by default, and counts them', async () => {
    const page = await viewer.list();
    expect(page.totalCount).toBe(ALL_LIVE.length);
    expect(namesOf(page)).toEqual([...ALL_LIVE].reverse());
  });

  test('leaves out deleted keys, even when searched for', async () => {
    expect(live.map((k) => k.name)).not.toContain('Zeta');
    const page = await viewer.list({ filter: { search: 'zeta' } });
    expect(page).toMatchObject({ totalCount: 0, edges: [] });
  });

  test('derives status from revocation and expiry: a revoked key past its expiry is REVOKED', async () => {
    const status = Object.fromEntries(live.map((k) => [k.name, k.status]));
    expect(status).toMatchObject({ Delta: 'REVOKED', Epsilon: 'EXPIRED', Omega: 'ACTIVE' });
  });
});

describe('apiKeys: filters', () => {
  const cases: { label: string; filter: () => Record<string, unknown>; expected: string[] }[] = [
    { label: 'no condition', filter: () => ({}), expected: ALL_LIVE },
    { label: 'empty ID lists', filter: () => ({ teamIds: [], developerIds: [], channelIds: [], instanceIds: [], clouds: [], statuses: [] }), expected: ALL_LIVE },
    { label: 'search, case-insensitive substring', filter: () => ({ search: 'GAMMA' }), expected: ['Gamma 100%', 'gamma_200', 'gammaX200'] },
    { label: 'search, trimmed', filter: () => ({ search: '  alpha ' }), expected: ['Alpha build'] },
    { label: 'search for % as a literal character', filter: () => ({ search: '%' }), expected: ['Gamma 100%'] },
    { label: 'search for _ as a literal character', filter: () => ({ search: 'a_2' }), expected: ['gamma_200'] },
    { label: 'search for a backslash matches nothing', filter: () => ({ search: '\\' }), expected: [] },
    { label: 'teamIds, one team', filter: () => ({ teamIds: [ids.core] }), expected: ['Alpha build', 'beta deploy', 'Delta', 'Iota'] },
    { label: 'teamIds, any of two teams, each key once', filter: () => ({ teamIds: [ids.core, ids.mobile] }), expected: ['Alpha build', 'beta deploy', 'gamma_200', 'Delta', 'shared', 'Iota'] },
    { label: 'withoutTeam: true', filter: () => ({ withoutTeam: true }), expected: ['Gamma 100%', 'gammaX200', 'Epsilon', 'Shared', 'SHARED', 'Omega'] },
    { label: 'withoutTeam: false', filter: () => ({ withoutTeam: false }), expected: ['Alpha build', 'beta deploy', 'gamma_200', 'Delta', 'shared', 'Iota'] },
    { label: 'developerIds, one developer', filter: () => ({ developerIds: [ids.bob] }), expected: ['beta deploy', 'gammaX200', 'Epsilon', 'shared'] },
    { label: 'developerIds, two developers', filter: () => ({ developerIds: [ids.alice, ids.carol] }), expected: ['Alpha build', 'Gamma 100%', 'Shared', 'Iota', 'gamma_200', 'Delta', 'SHARED', 'Omega'] },
    { label: 'channelIds', filter: () => ({ channelIds: [a.channels.ci.id] }), expected: ['beta deploy', 'Gamma 100%', 'Omega'] },
    { label: 'instanceIds, one instance', filter: () => ({ instanceIds: [a.instances.snow.id] }), expected: ['gamma_200', 'gammaX200', 'shared', 'Iota'] },
    { label: 'instanceIds, two instances', filter: () => ({ instanceIds: [a.instances.snow.id, ids.m365] }), expected: ['gamma_200', 'gammaX200', 'shared', 'Iota', 'Delta', 'SHARED'] },
    { label: 'clouds, one cloud', filter: () => ({ clouds: ['SALESFORCE'] }), expected: ['Alpha build', 'beta deploy', 'Gamma 100%', 'Epsilon', 'Shared', 'Omega'] },
    { label: 'clouds, two clouds', filter: () => ({ clouds: ['M365', 'SERVICENOW'] }), expected: ['gamma_200', 'gammaX200', 'shared', 'Iota', 'Delta', 'SHARED'] },
    { label: 'statuses ACTIVE', filter: () => ({ statuses: ['ACTIVE'] }), expected: ALL_LIVE.filter((n) => n !== 'Delta' && n !== 'Epsilon') },
    { label: 'statuses EXPIRED (not the revoked key past its expiry)', filter: () => ({ statuses: ['EXPIRED'] }), expected: ['Epsilon'] },
    { label: 'statuses REVOKED', filter: () => ({ statuses: ['REVOKED'] }), expected: ['Delta'] },
    { label: 'statuses EXPIRED and REVOKED', filter: () => ({ statuses: ['EXPIRED', 'REVOKED'] }), expected: ['Delta', 'Epsilon'] },
    { label: 'all three statuses', filter: () => ({ statuses: ['ACTIVE', 'EXPIRED', 'REVOKED'] }), expected: ALL_LIVE },
    { label: 'expiresBefore, strictly before', filter: () => ({ expiresBefore: new Date(base + 30 * DAY_MS).toISOString() }), expected: ['Alpha build', 'beta deploy', 'Delta', 'Epsilon'] },
    { label: 'expiresAfter, at or after', filter: () => ({ expiresAfter: new Date(base + 30 * DAY_MS).toISOString() }), expected: ['Gamma 100%', 'gamma_200', 'gammaX200', 'Shared', 'shared', 'SHARED', 'Omega', 'Iota'] },
    { label: 'expiresAfter and expiresBefore, a window', filter: () => ({ expiresAfter: new Date(base + 20 * DAY_MS).toISOString(), expiresBefore: new Date(base + 50 * DAY_MS).toISOString() }), expected: ['beta deploy', 'Gamma 100%', 'gamma_200'] },
    {
      label: 'instances, team membership, status and developers combined',
      filter: () => ({ instanceIds: [a.instances.prod.id, a.instances.snow.id], withoutTeam: false, statuses: ['ACTIVE'], developerIds: [ids.alice, ids.bob] }),
      expected: ['Alpha build', 'beta deploy', 'shared', 'Iota'],
    },
    {
      label: 'search, cloud, channel and expiry combined',
      filter: () => ({ search: 'gamma', clouds: ['SERVICENOW'], channelIds: [a.channels.ide.id], expiresAfter: new Date(base + 45 * DAY_MS).toISOString() }),
      expected: ['gammaX200'],
    },
    { label: 'teamIds and withoutTeam: true, contradictory', filter: () => ({ teamIds: [ids.core], withoutTeam: true }), expected: [] },
  ];

  test.each(cases)('$label', async ({ filter, expected }) => {
    const page = await viewer.list({ filter: filter(), first: 100 });
    expect(sorted(namesOf(page))).toEqual(sorted(expected));
    expect(page.totalCount).toBe(expected.length);
  });

  // one- and two-character terms are looked up among the names' substrings of that length
  // (migrations/20261201000090_short_name_search.ts), longer ones by trigrams: the rule is one
  test.each(['a', 'G', 'x', '%', '_', '\\', 'q', 'ga', 'MA', 'a_', '_2', '0%', '00', 'x2', 'a ', 'ð', 'amm', 'ma_2'])('search "%s" matches the names holding it, any case', async (term) => {
    const expected = ALL_LIVE.filter((n) => n.toLowerCase().includes(term.trim().toLowerCase()));
    const page = await viewer.list({ filter: { search: term }, first: 100 });
    expect(sorted(namesOf(page))).toEqual(sorted(expected));
    expect(page.totalCount).toBe(expected.length);
  });

  test('totalCount counts every match while the page holds only the first ones', async () => {
    const page = await viewer.list({ filter: { instanceIds: [a.instances.snow.id] }, first: 2 });
    expect(page.edges).toHaveLength(2);
    expect(page.totalCount).toBe(4);
    expect(page.pageInfo.hasNextPage).toBe(true);
  });

  test('an unknown team matches nothing', async () => {
    const page = await viewer.list({ filter: { teamIds: ['team_01AAAAAAAAAAAAAAAAAAAAAAAA'] } });
    expect(page.totalCount).toBe(0);
  });
});

type Field = 'NAME' | 'CREATED_AT' | 'EXPIRES_AT' | 'LAST_USED_AT';
function sortValue(k: KeyView, field: Field): string | number {
  switch (field) {
    case 'NAME': return k.name.toLowerCase();
    case 'CREATED_AT': return Date.parse(k.createdAt);
    case 'EXPIRES_AT': return Date.parse(k.expiresAt);
    case 'LAST_USED_AT': return k.lastUsedAt ? Date.parse(k.lastUsedAt) : -Infinity;
  }
}
function expectedOrder(field: Field, direction: 'ASC' | 'DESC'): string[] {
  const sign = direction === 'ASC' ? 1 : -1;
  const cmp = (x: string | number, y: string | number) => (x < y ? -1 : x > y ? 1 : 0);
  return [...live]
    .sort((x, y) => sign * (cmp(sortValue(x, field), sortValue(y, field)) || cmp(x.id, y.id)))
    .map((k) => k.id);
}

describe('apiKeys: order and paging', () => {
  const orders = (['NAME', 'CREATED_AT', 'EXPIRES_AT', 'LAST_USED_AT'] as Field[])
    .flatMap((field) => (['ASC', 'DESC'] as const).map((direction) => ({ field, direction })));

  test('the data has ties on every field, so the ID tie-break is exercised', () => {
    for (const field of ['NAME', 'EXPIRES_AT', 'LAST_USED_AT'] as Field[]) {
      const values = live.map((k) => sortValue(k, field));
      expect(new Set(values).size).toBeLessThan(values.length);
    }
  });

  test.each(orders)('$field $direction sorts with the ID breaking ties', async (orderBy) => {
    const page = await viewer.list({ orderBy, first: 100 });
    expect(page.edges.map((e) => e.node.id)).toEqual(expectedOrder(orderBy.field, orderBy.direction));
    expect(page.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: false });
  });

  test.each(orders)('$field $direction pages forwards with first/after without duplicates or gaps', async (orderBy) => {
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const page: ConnectionView<KeyView> = await viewer.list({ orderBy, first: 4, after });
      pages++;
      expect(page.totalCount).toBe(ALL_LIVE.length);
      expect(page.pageInfo.hasPreviousPage).toBe(after !== null);
      expect(page.pageInfo.startCursor).toBe(page.edges[0]?.cursor ?? null);
      expect(page.pageInfo.endCursor).toBe(page.edges[page.edges.length - 1]?.cursor ?? null);
      seen.push(...page.edges.map((e) => e.node.id));
      if (!page.pageInfo.hasNextPage) break;
      expect(page.edges).toHaveLength(4);
      after = page.pageInfo.endCursor;
      expect(pages).toBeLessThan(10);
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(expectedOrder(orderBy.field, orderBy.direction));
  });

  test.each(orders)('$field $direction pages backwards with last/before without duplicates or gaps', async (orderBy) => {
    const seen: string[] = [];
    let before: string | null = null;
    let pages = 0;
    for (;;) {
      const page: ConnectionView<KeyView> = await viewer.list({ orderBy, last: 5, before });
      pages++;
      expect(page.pageInfo.hasNextPage).toBe(before !== null);
      seen.unshift(...page.edges.map((e) => e.node.id));
      if (!page.pageInfo.hasPreviousPage) break;
      expect(page.edges).toHaveLength(5);
      before = page.pageInfo.startCursor;
      expect(pages).toBeLessThan(10);
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(expectedOrder(orderBy.field, orderBy.direction));
  });

  /** The IDs of every page of a listing, two at a time, walked forwards (first/after) or backwards (last/before), in the listing's order. */
  async function everyPage(vars: Record<string, unknown>, way: 'forwards' | 'backwards'): Promise<string[]> {
    const ids: string[] = [];
    let cursor: string | null = null;
    for (let pages = 0; ; pages++) {
      expect(pages).toBeLessThan(5);
      const page: ConnectionView<KeyView> = await viewer.list(way === 'forwards' ? { ...vars, first: 2, after: cursor } : { ...vars, last: 2, before: cursor });
      const onPage = page.edges.map((e) => e.node.id);
      if (way === 'forwards') ids.push(...onPage);
      else ids.unshift(...onPage);
      if (!(way === 'forwards' ? page.pageInfo.hasNextPage : page.pageInfo.hasPreviousPage)) return ids;
      cursor = way === 'forwards' ? page.pageInfo.endCursor : page.pageInfo.startCursor;
    }
  }

  // a team filter in creation order reads the teams' links in that order (teamKeysInOrder in src/modules/api-keys/store.ts)
  const teamCases = [
    { label: 'one team', filter: () => ({ teamIds: [ids.core] }), expected: ['Alpha build', 'beta deploy', 'Delta', 'Iota'] },
    { label: 'two teams sharing a key', filter: () => ({ teamIds: [ids.core, ids.mobile] }), expected: ['Alpha build', 'beta deploy', 'gamma_200', 'Delta', 'shared', 'Iota'] },
    { label: 'two teams, ACTIVE', filter: () => ({ teamIds: [ids.core, ids.mobile], statuses: ['ACTIVE'] }), expected: ['Alpha build', 'beta deploy', 'gamma_200', 'shared', 'Iota'] },
    { label: 'a team and withoutTeam: false', filter: () => ({ teamIds: [ids.mobile], withoutTeam: false }), expected: ['beta deploy', 'gamma_200', 'shared'] },
    { label: 'two teams and a search', filter: () => ({ teamIds: [ids.core, ids.mobile], search: 'E' }), expected: ['beta deploy', 'Delta', 'shared'] },
    { label: 'a team and a search with a wildcard', filter: () => ({ teamIds: [ids.mobile], search: 'a_2' }), expected: ['gamma_200'] },
  ].flatMap((c) => (['ASC', 'DESC'] as const).map((direction) => ({ ...c, direction })));

  test.each(teamCases)('$label, CREATED_AT $direction: in order, each key once, forwards and backwards', async ({ filter, expected, direction }) => {
    const orderBy = { field: 'CREATED_AT' as Field, direction };
    const idsOf = (names: string[]) => names.map((n) => keyByName.get(n)!.id);
    const want = expectedOrder('CREATED_AT', direction).filter((id) => idsOf(expected).includes(id));
    expect(want).toHaveLength(expected.length);
    const whole = await viewer.list({ filter: filter(), orderBy, first: 100 });
    expect(whole.edges.map((e) => e.node.id)).toEqual(want);
    expect(whole.totalCount).toBe(expected.length);

    const vars = { filter: filter(), orderBy };
    expect(await everyPage(vars, 'forwards')).toEqual(want);
    expect(await everyPage(vars, 'backwards')).toEqual(want);
  });

  test('a cursor from a forward page leads backwards to the keys before it', async () => {
    const order = expectedOrder('NAME', 'ASC');
    const first = await viewer.list({ orderBy: { field: 'NAME', direction: 'ASC' }, first: 6 });
    const back = await viewer.list({ orderBy: { field: 'NAME', direction: 'ASC' }, last: 3, before: first.pageInfo.endCursor });
    expect(back.edges.map((e) => e.node.id)).toEqual(order.slice(2, 5));
    expect(back.pageInfo).toMatchObject({ hasPreviousPage: true, hasNextPage: true });
  });

  test('first defaults to 50 and 100 is allowed', async () => {
    expect((await viewer.list({ first: 100 })).edges).toHaveLength(ALL_LIVE.length);
    expect((await viewer.list({})).edges).toHaveLength(ALL_LIVE.length);
  });
});

describe('apiKeys: invalid paging and filters', () => {
  const listWith = (vars: Record<string, unknown>) => server.gql(a.viewer, LIST, vars);
  const nameCursor = async () => (await viewer.list({ orderBy: { field: 'NAME', direction: 'ASC' }, first: 1 })).pageInfo.endCursor;

  test('first over 100 is BAD_USER_INPUT', async () => {
    expectError(await listWith({ first: 101 }), 'BAD_USER_INPUT', 'first');
  });

  test('last over 100 is BAD_USER_INPUT', async () => {
    expectError(await listWith({ last: 101 }), 'BAD_USER_INPUT', 'last');
  });

  test('a negative first is BAD_USER_INPUT', async () => {
    expectError(await listWith({ first: -1 }), 'BAD_USER_INPUT', 'first');
  });

  test('first together with last is BAD_USER_INPUT', async () => {
    expect((await listWith({ first: 2, last: 2 })).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  test('a cursor that is not one of ours is BAD_USER_INPUT, after or before', async () => {
    expectError(await listWith({ after: 'not a cursor' }), 'BAD_USER_INPUT', 'after');
    expectError(await listWith({ before: 'bm90IGpzb24' }), 'BAD_USER_INPUT', 'before');
    expectError(await listWith({ after: Buffer.from('["only one"]').toString('base64url') }), 'BAD_USER_INPUT', 'after');
  });

  test('a cursor of another sort order is BAD_USER_INPUT, not an internal error', async () => {
    const cursor = await nameCursor();
    expectError(await listWith({ orderBy: { field: 'CREATED_AT', direction: 'DESC' }, after: cursor }), 'BAD_USER_INPUT', 'after');
    expectError(await listWith({ orderBy: { field: 'EXPIRES_AT', direction: 'ASC' }, last: 2, before: cursor }), 'BAD_USER_INPUT', 'before');
  });

  test('a forged cursor with values of the wrong type is BAD_USER_INPUT', async () => {
    const forged = Buffer.from(JSON.stringify([{ x: 1 }, 42])).toString('base64url');
    expectError(await listWith({ orderBy: { field: 'NAME', direction: 'ASC' }, after: forged }), 'BAD_USER_INPUT', 'after');
  });

  test('a cursor of the event log is BAD_USER_INPUT on the key listing', async () => {
    const events = await server.ok<{ apiKeyEvents: { pageInfo: { endCursor: string } } }>(a.viewer, EVENTS, { first: 1 });
    expectError(await listWith({ after: events.apiKeyEvents.pageInfo.endCursor }), 'BAD_USER_INPUT', 'after');
  });

  test('expiresAfter later than expiresBefore is BAD_USER_INPUT', async () => {
    expectError(await listWith({ filter: { expiresAfter: new Date(base + 2 * DAY_MS).toISOString(), expiresBefore: new Date(base + DAY_MS).toISOString() } }),
      'BAD_USER_INPUT', 'filter.expiresAfter');
  });

  test('a search over 100 characters is BAD_USER_INPUT', async () => {
    expectError(await listWith({ filter: { search: 'x'.repeat(101) } }), 'BAD_USER_INPUT', 'filter.search');
  });

  test('listing without a token is UNAUTHENTICATED', async () => {
    const res = await server.gql(null, LIST, {});
    expect(res.status).toBe(401);
    expect(res.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  test('a verifier token may not list keys', async () => {
    expectError(await server.gql(a.verifier, LIST, {}), 'FORBIDDEN');
  });
});

describe('apiKeys: SQL statements per page', () => {
  let bulk: SeededAccount;
  beforeAll(async () => {
    bulk = await seedAccount(server, 'bulk');
    const bulkApi = keyApi(server, bulk.admin);
    const instances = [bulk.instances.prod, await bulk.instance('Second org', 'SALESFORCE', [bulk.channels.ide.id, bulk.channels.ci.id])];
    const channels = [bulk.channels.ide, bulk.channels.ci];
    for (let i = 0; i < 50; i++) {
      await bulkApi.create({
        name: `key ${i}`, instanceId: instances[i % 2].id, channelId: channels[Math.floor(i / 2) % 2].id,
        developer: { name: `Developer ${i % 7}` }, newTeamNames: i % 3 === 0 ? [] : [`Team ${i % 4}`, `Team ${i % 5}`],
      });
    }
  }, 60_000);

  async function statementsFor(first: number): Promise<number> {
    return metricDelta(server.baseUrl, 'qckeys_db_statements_total', { pool: 'requests' }, async () => {
      const page = await keyApi(server, bulk.viewer).list({ first });
      expect(page.edges).toHaveLength(first);
      expect(page.totalCount).toBe(50);
      expect(page.edges.every((e) => e.node.developer && e.node.instance && e.node.channel)).toBe(true);
      expect(page.edges.some((e) => e.node.teams.length === 2)).toBe(true);
    });
  }

  test('a page of keys with developer, instance, channel, teams and totalCount runs the same few statements for 5 or 50 keys', async () => {
    // the first page counts the keys; later pages keep that count while the account's count stamp holds
    const counted = await statementsFor(5);
    const five = await statementsFor(5);
    const fifty = await statementsFor(50);
    expect(counted).toBe(five + 1);
    expect(fifty).toBe(five);
    // the page, then its relations with the account's count stamp (transaction control not counted)
    expect(fifty).toBe(2);
  });
});

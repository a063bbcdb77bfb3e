// Facets of the smart filters: for a filter, each dimension's key counts ignoring its own part of
// the filter; exact after every change, and after keys expire with no write at all.
import { expectError } from '../helpers/assertions';
import { seedAccount, type SeededAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

const DAY = 86_400_000;
// the service's clock, which the tests move forward instead of waiting
let skewMs = 0;
const clock = () => Date.now() + skewMs;

let server: TestServer;
let acme: SeededAccount;
let core: string;
let edge: string;
const keys: Record<string, { id: string; secret: string }> = {};

interface Value { id: string; label: string; count: number }
interface Facets {
  totalCount: number; teams: Value[]; withoutTeam: number; developers: Value[]; channels: Value[]; instances: Value[];
  clouds: Value[]; statuses: Value[]; expiringWithin7Days: number; expiringWithin30Days: number;
}
type Filter = Record<string, unknown>;

const values = '{ id label count }';
const FACETS = `query($filter: ApiKeyFilter, $first: Int) { apiKeyFacets(filter: $filter, first: $first) {
  totalCount teams ${values} withoutTeam developers ${values} channels ${values} instances ${values} clouds ${values} statuses ${values}
  expiringWithin7Days expiringWithin30Days } }`;
const facets = async (filter: Filter = {}, token = acme.viewer) => (await server.ok<{ apiKeyFacets: Facets }>(token, FACETS, { filter })).apiKeyFacets;
const total = async (filter: Filter) => (await server.ok<{ apiKeys: { totalCount: number } }>(acme.viewer,
  'query($filter: ApiKeyFilter) { apiKeys(filter: $filter, first: 1) { totalCount } }', { filter })).apiKeys.totalCount;
/** label -> count, for compact comparisons */
const byLabel = (list: Value[]) => Object.fromEntries(list.map((v) => [v.label, v.count]));

beforeAll(async () => {
  server = await startTestServer({}, { clock });
  acme = await seedAccount(server, 'facet-co');
  const { prod, snow } = acme.instances;
  const { ide, ci } = acme.channels;
  const inDays = (days: number) => new Date(clock() + days * DAY).toISOString();
  keys.a = await acme.createKey({ developer: { name: 'Alice' }, newTeamNames: ['Core'], expiresAt: inDays(5) });
  keys.b = await acme.createKey({ developer: { name: 'Bob' }, newTeamNames: ['Core', 'Edge'], channelId: ci.id, expiresAt: inDays(20) });
  keys.c = await acme.createKey({ developer: { name: 'Alice' }, instanceId: snow.id, expiresAt: inDays(90) });
  keys.d = await acme.createKey({ developer: { name: 'Carol' }, newTeamNames: ['Edge'], instanceId: prod.id, channelId: ide.id, expiresAt: inDays(200) });
  keys.e = await acme.createKey({ developer: { name: 'Bob' }, expiresAt: inDays(300) });
  await server.ok(acme.admin, 'mutation($id: ID!) { revokeApiKey(input: { id: $id, reason: "left" }) { apiKey { id } } }', { id: keys.e.id });
  const teams = await server.ok<{ teams: { edges: { node: { id: string; name: string } }[] } }>(acme.viewer, '{ teams(first: 10) { edges { node { id name } } } }');
  const team = (name: string) => teams.teams.edges.find((e) => e.node.name === name)?.node.id as string;
  [core, edge] = [team('Core'), team('Edge')];
  // another account's keys never count
  const other = await seedAccount(server, 'facet-other');
  await other.createKey({ newTeamNames: ['Core'] });
}, 120_000);

afterAll(async () => { await server.stop(); });

test('without a filter: every live key, by each dimension, with the names of the values', async () => {
  const f = await facets();
  expect(f.totalCount).toBe(5);
  expect(byLabel(f.teams)).toEqual({ Core: 2, Edge: 2 });
  expect(f.withoutTeam).toBe(2);
  expect(byLabel(f.developers)).toEqual({ Alice: 2, Bob: 2, Carol: 1 });
  expect(byLabel(f.channels)).toEqual({ IDE: 4, CI: 1 });
  expect(byLabel(f.instances)).toEqual({ 'Prod org': 4, 'ServiceNow dev': 1 });
  expect(byLabel(f.clouds)).toEqual({ SALESFORCE: 4, SERVICENOW: 1 });
  expect(byLabel(f.statuses)).toEqual({ ACTIVE: 4, REVOKED: 1 });
  expect([f.expiringWithin7Days, f.expiringWithin30Days]).toEqual([1, 2]);
  // the busiest first, then by ID
  expect(f.developers.map((v) => v.count)).toEqual([2, 2, 1]);
  expect(f.teams.map((v) => v.id).sort()).toEqual([core, edge].sort());
});

test('each facet ignores its own part of the filter, and applies the rest', async () => {
  const f = await facets({ teamIds: [core], statuses: ['ACTIVE'] });
  expect(f.totalCount).toBe(2);
  // teams: every team's active keys, as if no team were chosen
  expect(byLabel(f.teams)).toEqual({ Core: 2, Edge: 2 });
  expect(f.withoutTeam).toBe(1);
  // statuses: Core's keys in every status
  expect(byLabel(f.statuses)).toEqual({ ACTIVE: 2 });
  expect(byLabel(f.developers)).toEqual({ Alice: 1, Bob: 1 });
  expect(byLabel(f.channels)).toEqual({ IDE: 1, CI: 1 });
  expect([f.expiringWithin7Days, f.expiringWithin30Days]).toEqual([1, 2]);
});

test('every count is the totalCount of the listing with that value chosen', async () => {
  const filters: Filter[] = [
    {}, { teamIds: [edge] }, { withoutTeam: true }, { statuses: ['REVOKED', 'EXPIRED'] }, { search: 'key' }, { clouds: ['SALESFORCE'], statuses: ['ACTIVE'] },
    { developerIds: [] }, { expiresBefore: new Date(clock() + 30 * DAY).toISOString() }, { channelIds: [acme.channels.ide.id], teamIds: [core, edge] },
  ];
  for (const filter of filters) {
    const f = await facets(filter);
    expect(f.totalCount).toBe(await total(filter));
    for (const v of f.teams) expect(v.count).toBe(await total({ ...filter, teamIds: [v.id], withoutTeam: null }));
    expect(f.withoutTeam).toBe(await total({ ...filter, teamIds: null, withoutTeam: true }));
    for (const v of f.developers) expect(v.count).toBe(await total({ ...filter, developerIds: [v.id] }));
    for (const v of f.channels) expect(v.count).toBe(await total({ ...filter, channelIds: [v.id] }));
    for (const v of f.instances) expect(v.count).toBe(await total({ ...filter, instanceIds: [v.id] }));
    for (const v of f.clouds) expect(v.count).toBe(await total({ ...filter, clouds: [v.id] }));
    for (const v of f.statuses) expect(v.count).toBe(await total({ ...filter, statuses: [v.id] }));
    const rest = { ...filter, expiresBefore: null, expiresAfter: null, statuses: ['ACTIVE'] };
    if (!('statuses' in filter) || (filter.statuses as string[]).includes('ACTIVE')) {
      expect(f.expiringWithin7Days).toBe(await total({ ...rest, expiresBefore: new Date(clock() + 7 * DAY).toISOString() }));
    }
  }
});

test('exact after a change, and after keys expire or come within a window with no write at all', async () => {
  const before = await facets();
  expect(byLabel(before.statuses)).toEqual({ ACTIVE: 4, REVOKED: 1 });
  await server.ok(acme.admin, 'mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { id } } }', { id: keys.d.id });
  expect(byLabel((await facets()).statuses)).toEqual({ ACTIVE: 3, REVOKED: 2 });
  // six days on: key a (5 days) has expired, key c (90 days) is not yet within 30
  skewMs += 6 * DAY;
  const later = await facets();
  expect(byLabel(later.statuses)).toEqual({ ACTIVE: 2, EXPIRED: 1, REVOKED: 2 });
  expect([later.expiringWithin7Days, later.expiringWithin30Days]).toEqual([0, 1]);
  // 55 more: key b has expired, key c (90 days from the start) comes within 30 days
  skewMs += 55 * DAY;
  const after = await facets();
  expect(byLabel(after.statuses)).toEqual({ ACTIVE: 1, EXPIRED: 2, REVOKED: 2 });
  expect([after.expiringWithin7Days, after.expiringWithin30Days]).toEqual([0, 1]);
  expect(after.totalCount).toBe(await total({}));
});

test('lists keep the busiest `first` values; first out of 1..500 is BAD_USER_INPUT; other roles and accounts see nothing of it', async () => {
  const one = (await server.ok<{ apiKeyFacets: Facets }>(acme.viewer, FACETS, { filter: {}, first: 1 })).apiKeyFacets;
  expect(one.developers).toHaveLength(1);
  expect(one.developers[0].count).toBe(Math.max(...(await facets()).developers.map((v) => v.count)));
  for (const first of [0, 501, -1]) expectError(await server.gql(acme.viewer, FACETS, { filter: {}, first }), 'BAD_USER_INPUT', 'first');
  expectError(await server.gql(acme.verifier, FACETS, {}), 'FORBIDDEN');
  expect((await server.gql(null, FACETS, {})).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  const stranger = await server.token({ account: 'facet-nobody', roles: ['viewer'] });
  const theirs = (await server.ok<{ apiKeyFacets: Facets }>(stranger, FACETS, { filter: { teamIds: [core] } })).apiKeyFacets;
  expect(theirs).toMatchObject({ totalCount: 0, teams: [], developers: [], withoutTeam: 0 });
});

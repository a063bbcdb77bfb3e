import { createTestDatabase, serverUrl, type TestDatabase } from '../helpers/database';
import { seedAccount, type SeededAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

// totalCount is exact: after every kind of change, on every replica, it is the number of keys
// the filter matches, counted here with SQL of the test's own. The service keeps counts (by the
// account's count stamp) so that a repeated listing does not count again: these tests try to
// catch a kept count that should have been dropped. Two services share one database on a
// PostgreSQL server; the embedded database has one service.
jest.setTimeout(180_000);

let now = Date.UTC(2026, 10, 30, 12);
const clock = () => now;
let database: TestDatabase;
let a: TestServer;
let b: TestServer;
let acme: SeededAccount;

beforeAll(async () => {
  database = await createTestDatabase();
  a = await startTestServer({}, { clock, database });
  b = serverUrl() ? await startTestServer({}, { clock, database }) : a;
  acme = await seedAccount(a, 'counted');
});
afterAll(async () => {
  if (b !== a) await b.stop();
  await a.stop();
  await database.drop();
});

type Filter = Record<string, unknown>;

/** The filters checked, and the SQL (over `api_keys k`, live keys of the account) each stands for. */
function filters(): [string, Filter, string][] {
  const at = new Date(now).toISOString();
  return [
    ['every key', {}, 'true'],
    ['ACTIVE', { statuses: ['ACTIVE'] }, `k.revoked_at is null and k.expires_at > '${at}'`],
    ['EXPIRED', { statuses: ['EXPIRED'] }, `k.revoked_at is null and k.expires_at <= '${at}'`],
    ['REVOKED', { statuses: ['REVOKED'] }, 'k.revoked_at is not null'],
    ['ACTIVE or REVOKED', { statuses: ['ACTIVE', 'REVOKED'] }, `k.revoked_at is not null or k.expires_at > '${at}'`],
    ['in team Core', { teamIds: [teamId('Core')] }, `exists (select 1 from api_key_teams t where t.api_key_id = k.id and t.team_id = '${teamId('Core')}')`],
    ['in no team', { withoutTeam: true }, 'not exists (select 1 from api_key_teams t where t.api_key_id = k.id)'],
    ['of Alice', { developerIds: [developerId('Alice')] }, `k.developer_id = '${developerId('Alice')}'`],
    ['on channel CI', { channelIds: [acme.channels.ci.id] }, `k.channel_id = '${acme.channels.ci.id}'`],
    ['on ServiceNow', { clouds: ['SERVICENOW'] }, `k.cloud = 'SERVICENOW'`],
    ['named "build"', { search: 'build' }, `lower(k.name) like '%build%'`],
    ['"build", ACTIVE, in Core', { search: 'build', statuses: ['ACTIVE'], teamIds: [teamId('Core')] },
      `lower(k.name) like '%build%' and k.revoked_at is null and k.expires_at > '${at}' and exists (select 1 from api_key_teams t where t.api_key_id = k.id and t.team_id = '${teamId('Core')}')`],
  ];
}

const ids = { teams: new Map<string, string>(), developers: new Map<string, string>() };
const teamId = (name: string) => ids.teams.get(name) ?? 'team_none';
const developerId = (name: string) => ids.developers.get(name) ?? 'dev_none';

async function refreshIds(): Promise<void> {
  for (const r of await a.knex('teams').where({ account_id: 'counted' }).select('id', 'name')) ids.teams.set(r.name as string, r.id as string);
  for (const r of await a.knex('developers').where({ account_id: 'counted' }).select('id', 'name')) ids.developers.set(r.name as string, r.id as string);
}

/**
 * Both services' totalCount for every filter equals the test's own count, twice (the second from
 * a kept count, its stamp read with the page's relations); so does the filter panel's
 * (`apiKeyFacets`, kept the same way).
 */
async function expectExactCounts(after: string): Promise<void> {
  await refreshIds();
  for (const [name, filter, sql] of filters()) {
    const row = await a.knex.raw(`select count(*)::int as n from api_keys k where k.account_id = 'counted' and k.deleted_at is null and (${sql})`);
    const expected = (row as { rows: { n: number }[] }).rows[0].n;
    for (const [i, server] of [a, b, a, b].entries()) {
      // the count alone, then with a page and its relations (the stamp is then read with them)
      const listing = i < 2 ? '{ totalCount }' : '{ totalCount edges { node { id developer { id } teams { id } } } }';
      const { apiKeys } = await server.ok<{ apiKeys: { totalCount: number } }>(acme.viewer, `query($f: ApiKeyFilter) { apiKeys(filter: $f, first: 1) ${listing} }`, { f: filter });
      const { apiKeyFacets } = await server.ok<{ apiKeyFacets: { totalCount: number } }>(acme.viewer, 'query($f: ApiKeyFilter) { apiKeyFacets(filter: $f) { totalCount } }', { f: filter });
      const seen = { after, name, server: server === a ? 'a' : 'b', totalCount: apiKeys.totalCount, facets: apiKeyFacets.totalCount };
      expect(seen).toEqual({ ...seen, totalCount: expected, facets: expected });
    }
  }
}

const mutate = (query: string, input: Record<string, unknown>) => a.ok(acme.admin, query, { input });

test('every kind of change, seen by both services', async () => {
  const k1 = await acme.createKey({ name: 'nightly build', developer: { name: 'Alice' }, newTeamNames: ['Core'] });
  const k2 = await acme.createKey({ name: 'deploy bot', developer: { name: 'Bob' }, channelId: acme.channels.ci.id });
  await acme.createKey({ name: 'build on snow', instanceId: acme.instances.snow.id, developer: { name: 'Alice' }, newTeamNames: ['Core'] });
  await expectExactCounts('create');

  await mutate('mutation($input: UpdateApiKeyInput!) { updateApiKey(input: $input) { apiKey { id } } }', { id: k2.id, name: 'release build', channelId: acme.channels.ide.id });
  await expectExactCounts('edit');
  await mutate('mutation($input: RenewApiKeyInput!) { renewApiKey(input: $input) { secret } }', { id: k1.id, expiresAt: new Date(now + 3_600_000).toISOString() });
  await expectExactCounts('renew');
  await mutate('mutation($input: RevokeApiKeyInput!) { revokeApiKey(input: $input) { apiKey { id } } }', { id: k2.id, reason: 'test' });
  await expectExactCounts('revoke');
  await mutate('mutation($input: UpdateApiKeyTeamsInput!) { updateApiKeyTeams(input: $input) { updatedCount } }', { filter: { search: 'build' }, addNewTeamNames: ['Core'] });
  await expectExactCounts('team change');
  await mutate('mutation($input: DeleteTeamInput!) { deleteTeam(input: $input) { deletedTeamId } }', { id: teamId('Core') });
  await expectExactCounts('team deleted');
  await mutate('mutation($input: DeactivateDeveloperInput!) { deactivateDeveloper(input: $input) { developer { id } } }', { id: developerId('Alice'), revokeApiKeys: true });
  await expectExactCounts('developer deactivation');
  const k4 = await acme.createKey({ name: 'short lived', developer: { name: 'Carol' }, expiresAt: new Date(now + 60_000).toISOString() });
  await expectExactCounts('a key that expires soon');
  await mutate('mutation($input: DeleteApiKeyInput!) { deleteApiKey(input: $input) { deletedApiKeyId } }', { id: k4.id });
  await expectExactCounts('delete');

  // a key expiring with no write at all: only time moves
  await acme.createKey({ name: 'expiring build', developer: { name: 'Carol' }, expiresAt: new Date(now + 60_000).toISOString() });
  await expectExactCounts('before the expiry');
  now += 61_000;
  await expectExactCounts('after the expiry, with no write');
});

test('a change made behind the services\' back (another writer) is seen too', async () => {
  await expectExactCounts('before');
  await a.knex('api_keys').where({ account_id: 'counted', name: 'release build' }).update({ revoked_at: null });
  await expectExactCounts('a direct write');
});

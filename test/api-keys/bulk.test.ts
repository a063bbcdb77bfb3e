import { withoutWrites } from '../helpers/assertions';
import { createTestDatabase, serverUrl, type TestDatabase } from '../helpers/database';
import { seedAccount, type SeededAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';
import { verifyRest } from '../verification/verify';

// Bulk revoke and delete: by ID or by filter but a few, one transaction, one event per key, the
// keys' secrets refused at once (on a PostgreSQL server, by a second service on the same
// database too), and a bound on how many keys one call may change.
jest.setTimeout(180_000);

let database: TestDatabase;
let a: TestServer;
let b: TestServer;
let acme: SeededAccount;

beforeAll(async () => {
  database = await createTestDatabase();
  // a change of 10,000 keys takes 2-3 s here at rest; beside other test files on a loaded machine
  // one of its statements has outlasted the default 10 s bound (DB_TIMEOUT_MS × 5): 25 s here
  const env = { DB_TIMEOUT_MS: '5000' };
  a = await startTestServer(env, { database });
  b = serverUrl() ? await startTestServer(env, { database }) : a;
  acme = await seedAccount(a, 'bulk');
});
afterAll(async () => {
  if (b !== a) await b.stop();
  await a.stop();
  await database.drop();
});

const REVOKE = 'mutation($input: RevokeApiKeysInput!) { revokeApiKeys(input: $input) { revokedCount alreadyRevokedCount apiKeys { id status revocationReason } } }';
const DELETE = 'mutation($input: DeleteApiKeysInput!) { deleteApiKeys(input: $input) { deletedCount deletedApiKeyIds } }';
type Revoked = { revokeApiKeys: { revokedCount: number; alreadyRevokedCount: number; apiKeys: { id: string; status: string; revocationReason: string }[] } };
type Deleted = { deleteApiKeys: { deletedCount: number; deletedApiKeyIds: string[] } };

async function events(keyIds: string[], type: string): Promise<number> {
  const rows = await a.knex('api_key_events').whereIn('api_key_id', keyIds).where({ type }).count<{ n: number }[]>({ n: '*' });
  return Number(rows[0].n);
}

test('bulk events keep their changes exactly, each beside its own key: quotes, backslashes, braces, other scripts', async () => {
  const odd = ['he said "stop"', 'C:\\path\\', '{a,b} [1] \'x\'', 'null', 'ünïcødé 鍵 🔑'];
  const keys = [];
  // a different set of teams on each key, named with what an array's text would have to escape
  for (let i = 0; i < odd.length; i++) keys.push(await acme.createKey({ name: `odd ${i} ${odd[i]}`, newTeamNames: [`${odd[i]} team`] }));
  const UPDATE = 'mutation($input: UpdateApiKeyTeamsInput!) { updateApiKeyTeams(input: $input) { updatedCount } }';
  await a.ok(acme.admin, UPDATE, { input: { apiKeyIds: keys.map((k) => k.id), addNewTeamNames: ['NULL'] } });
  const reason = 'he said "stop" \\ C:\\path {a,b} [1] \'x\' null NULL ünïcødé 鍵 🔑';
  await a.ok<Revoked>(acme.admin, REVOKE, { input: { apiKeyIds: keys.map((k) => k.id), reason } });
  const rows = await a.knex('api_key_events').whereIn('api_key_id', keys.map((k) => k.id)).whereIn('type', ['TEAMS_CHANGED', 'REVOKED'])
    .select('api_key_id', 'api_key_name', 'type', 'changes');
  expect(rows).toHaveLength(2 * keys.length);
  keys.forEach((key, i) => {
    const of = (type: string) => rows.find((r) => r.api_key_id === key.id && r.type === type);
    expect(of('TEAMS_CHANGED')?.api_key_name).toBe(key.name);
    expect(of('TEAMS_CHANGED')?.changes.teams).toEqual({ from: [`${odd[i]} team`], to: [`${odd[i]} team`, 'NULL'].sort((x, y) => x.localeCompare(y)) });
    expect(of('REVOKED')?.changes).toMatchObject({ revocationReason: { from: null, to: reason }, status: { from: 'ACTIVE', to: 'REVOKED' } });
  });
});

test('revokeApiKeys by ID: each key revoked once, with its event, and refused at once by every service', async () => {
  const keys = await Promise.all(Array.from({ length: 4 }, (_, i) => acme.createKey({ name: `revoke by id ${i}` })));
  for (const k of keys) expect((await verifyRest(b, acme.verifier, k.secret)).code).toBe('VALID');
  await a.ok(acme.admin, 'mutation($id: ID!) { revokeApiKey(input: { id: $id, reason: "first" }) { apiKey { id } } }', { id: keys[0].id });
  const { revokeApiKeys } = await a.ok<Revoked>(acme.admin, REVOKE, { input: { apiKeyIds: keys.map((k) => k.id), reason: 'selected rows' } });
  expect(revokeApiKeys.revokedCount).toBe(3);
  expect(revokeApiKeys.alreadyRevokedCount).toBe(1);
  expect(revokeApiKeys.apiKeys.map((k) => k.id)).toEqual(keys.slice(1).map((k) => k.id).sort());
  expect(revokeApiKeys.apiKeys.every((k) => k.status === 'REVOKED' && k.revocationReason === 'selected rows')).toBe(true);
  // the key revoked before keeps its reason and gets no second event
  const [first] = await a.knex('api_keys').where({ id: keys[0].id }).select('revocation_reason');
  expect(first.revocation_reason).toBe('first');
  expect(await events(keys.map((k) => k.id), 'REVOKED')).toBe(4);
  // refused at once, by this service and by the other one
  for (const server of [a, b]) {
    for (const k of keys) expect((await verifyRest(server, acme.verifier, k.secret)).code).toBe('REVOKED');
  }
});

test('revokeApiKeys by filter, all matching but a few', async () => {
  const keys = await Promise.all(Array.from({ length: 5 }, (_, i) => acme.createKey({ name: `offboard ${i}`, channelId: acme.channels.ci.id })));
  const kept = [keys[1].id, keys[3].id];
  const { revokeApiKeys } = await a.ok<Revoked>(acme.admin, REVOKE, { input: { filter: { search: 'offboard' }, exceptIds: kept } });
  expect(revokeApiKeys.revokedCount).toBe(3);
  const statuses = await a.knex('api_keys').whereIn('id', keys.map((k) => k.id)).select('id', 'revoked_at');
  for (const row of statuses) expect({ id: row.id, revoked: row.revoked_at !== null }).toEqual({ id: row.id, revoked: !kept.includes(row.id as string) });
});

test('deleteApiKeys: gone from the listing and from verification, history kept', async () => {
  const keys = await Promise.all(Array.from({ length: 3 }, (_, i) => acme.createKey({ name: `delete me ${i}` })));
  for (const k of keys) expect((await verifyRest(b, acme.verifier, k.secret)).code).toBe('VALID');
  const { deleteApiKeys } = await a.ok<Deleted>(acme.admin, DELETE, { input: { filter: { search: 'delete me' }, exceptIds: [keys[0].id] } });
  expect(deleteApiKeys.deletedCount).toBe(2);
  expect(deleteApiKeys.deletedApiKeyIds).toEqual([keys[1].id, keys[2].id].sort());
  const listed = await a.ok<{ apiKeys: { edges: { node: { id: string } }[] } }>(acme.viewer, '{ apiKeys(filter: { search: "delete me" }) { edges { node { id } } } }');
  expect(listed.apiKeys.edges.map((e) => e.node.id)).toEqual([keys[0].id]);
  for (const server of [a, b]) {
    expect((await verifyRest(server, acme.verifier, keys[1].secret)).code).toBe('NOT_FOUND');
    expect((await verifyRest(server, acme.verifier, keys[0].secret)).code).toBe('VALID');
  }
  expect(await events([keys[1].id, keys[2].id], 'DELETED')).toBe(2);
  expect(await events([keys[1].id, keys[2].id], 'CREATED')).toBe(2);
});

test.each([
  ['an unknown ID among the selected', { apiKeyIds: ['key_nope'] }, 'NOT_FOUND', 'input.apiKeyIds'],
  ['both IDs and a filter', { apiKeyIds: ['key_nope'], filter: {} }, 'BAD_USER_INPUT', 'input.apiKeyIds'],
  ['neither', {}, 'BAD_USER_INPUT', 'input.apiKeyIds'],
  ['exceptIds without a filter', { apiKeyIds: [], exceptIds: ['key_x'] }, 'BAD_USER_INPUT', 'input.exceptIds'],
])('%s is refused and writes nothing', async (_what, input, code, field) => {
  const live = await acme.createKey({ name: `refused: ${_what}` });
  for (const mutation of [REVOKE, DELETE]) {
    await withoutWrites(a.knex, async () => {
      const ids = (input as { apiKeyIds?: string[] }).apiKeyIds;
      const res = await a.gql(acme.admin, mutation, { input: ids?.length ? { ...input, apiKeyIds: [...ids, live.id] } : input });
      expect(res.errors?.[0].extensions).toMatchObject({ code, field });
    });
  }
});

test('another account\'s key is NOT_FOUND and nothing of either account changes', async () => {
  const other = await seedAccount(a, 'bulk-other');
  const theirs = await other.createKey({ name: 'not yours' });
  const mine = await acme.createKey({ name: 'mine' });
  await withoutWrites(a.knex, async () => {
    const res = await a.gql(acme.admin, REVOKE, { input: { apiKeyIds: [mine.id, theirs.id] } });
    expect(res.errors?.[0].extensions?.code).toBe('NOT_FOUND');
  });
  // a filter matching everything reaches the caller's keys only
  const { deleteApiKeys } = await a.ok<Deleted>(other.admin, DELETE, { input: { filter: {} } });
  expect(deleteApiKeys.deletedCount).toBe(1);
  expect((await verifyRest(a, acme.verifier, mine.secret)).code).toBe('VALID');
});

test('a viewer is FORBIDDEN', async () => {
  const key = await acme.createKey({ name: 'viewer tries' });
  for (const mutation of [REVOKE, DELETE]) {
    const res = await a.gql(acme.viewer, mutation, { input: { apiKeyIds: [key.id] } });
    expect(res.errors?.[0].extensions?.code).toBe('FORBIDDEN');
  }
  expect((await verifyRest(a, acme.verifier, key.secret)).code).toBe('VALID');
});

test('a retry with the same Idempotency-Key gets the first answer and changes nothing again', async () => {
  const keys = await Promise.all(Array.from({ length: 2 }, (_, i) => acme.createKey({ name: `retried ${i}` })));
  const send = () => a.gql<Revoked>(acme.admin, REVOKE, { input: { apiKeyIds: keys.map((k) => k.id) } }, { 'Idempotency-Key': `bulk-${keys[0].id}` });
  const first = await send();
  const again = await send();
  expect(again.data).toEqual(first.data);
  expect(first.data?.revokeApiKeys.revokedCount).toBe(2);
  expect(await events(keys.map((k) => k.id), 'REVOKED')).toBe(2);
});

test('a filter matching more than 10,000 keys is refused before anything is written; 10,000 are revoked, have a team added, lose it as it is deleted, and are deleted', async () => {
  const other = await seedAccount(a, 'bulk-many');
  const developer = (await other.createKey({ name: 'template' })).id;
  const template = (await a.knex('api_keys').where({ id: developer }).first()) as Record<string, unknown>;
  await a.knex.raw(`
    insert into api_keys (id, account_id, name, hint, cloud, instance_id, channel_id, developer_id, expires_at, lifetime_seconds)
    select 'key_many_' || lpad(n::text, 5, '0'), ?, 'many ' || n, 'qck_x…x', ?, ?, ?, ?, ?, 3600 from generate_series(1, 10000) as n`,
  ['bulk-many', template.cloud, template.instance_id, template.channel_id, template.developer_id, template.expires_at] as string[]);
  await withoutWrites(a.knex, async () => {
    const res = await a.gql(other.admin, REVOKE, { input: { filter: {} } });
    expect(res.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.filter' });
  });
  const { revokeApiKeys } = await a.ok<Revoked>(other.admin, REVOKE, { input: { filter: {}, exceptIds: [developer] } });
  expect(revokeApiKeys.revokedCount).toBe(10_000);
  // the payload lists the first 100 in ID order, whichever part of the work changed them
  const first100 = Array.from({ length: 100 }, (_, i) => `key_many_${String(i + 1).padStart(5, '0')}`);
  expect(revokeApiKeys.apiKeys.map((k) => k.id)).toEqual(first100);
  const count = async (table: string, where: Record<string, string>) =>
    Number((await a.knex(table).where({ account_id: 'bulk-many', ...where }).countDistinct<{ n: number }[]>({ n: 'api_key_id' }))[0].n);
  expect(await count('api_key_events', { type: 'REVOKED' })).toBe(10_000);
  expect(Number((await a.knex('api_keys').where({ account_id: 'bulk-many' }).whereNotNull('revoked_at').count<{ n: number }[]>({ n: '*' }))[0].n)).toBe(10_000);

  const UPDATE = 'mutation($input: UpdateApiKeyTeamsInput!) { updateApiKeyTeams(input: $input) { updatedCount apiKeys { id teams { name } } } }';
  const { updateApiKeyTeams } = await a.ok<{ updateApiKeyTeams: { updatedCount: number; apiKeys: { id: string; teams: { name: string }[] }[] } }>(
    other.admin, UPDATE, { input: { filter: { search: 'many ' }, addNewTeamNames: ['Many'] } });
  expect(updateApiKeyTeams.updatedCount).toBe(10_000);
  expect(updateApiKeyTeams.apiKeys.map((k) => k.id)).toEqual(first100);
  expect(updateApiKeyTeams.apiKeys.every((k) => k.teams.map((t) => t.name).join() === 'Many')).toBe(true);
  expect(await count('api_key_teams', {})).toBe(10_000);
  expect(await count('api_key_events', { type: 'TEAMS_CHANGED' })).toBe(10_000);

  const team = await a.knex('teams').where({ account_id: 'bulk-many', name: 'Many' }).first('id');
  await a.ok(other.admin, 'mutation($id: ID!) { deleteTeam(input: { id: $id }) { deletedTeamId } }', { id: team.id });
  expect(await count('api_key_teams', {})).toBe(0);
  expect(Number((await a.knex('api_key_events').where({ account_id: 'bulk-many', type: 'TEAMS_CHANGED' }).count<{ n: number }[]>({ n: '*' }))[0].n)).toBe(20_000);

  const { deleteApiKeys } = await a.ok<Deleted>(other.admin, DELETE, { input: { filter: { search: 'many ' } } });
  expect(deleteApiKeys.deletedCount).toBe(10_000);
  expect(deleteApiKeys.deletedApiKeyIds).toEqual(first100);
  expect(await count('api_key_events', { type: 'DELETED' })).toBe(10_000);
});

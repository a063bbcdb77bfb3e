import { expectError, withoutWrites } from '../helpers/assertions';
import { seedAccount, type SeededAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

let server: TestServer;
beforeAll(async () => { server = await startTestServer(); }, 120_000);
afterAll(async () => { await server.stop(); }, 60_000);

type Variables = Record<string, unknown>;

/** `mutation($input: XInput!) { x(input: $input) { __typename } }` for a mutation named x. */
function mutationDocument(name: string): string {
  const inputType = `${name[0].toUpperCase()}${name.slice(1)}Input`;
  return `mutation($input: ${inputType}!) { ${name}(input: $input) { __typename } }`;
}

async function schemaFields(token: string): Promise<{ queries: string[]; mutations: string[] }> {
  const data = await server.ok<{ __schema: { queryType: { fields: { name: string }[] }; mutationType: { fields: { name: string }[] } } }>(token,
    '{ __schema { queryType { fields { name } } mutationType { fields { name } } } }');
  return {
    queries: data.__schema.queryType.fields.map((f) => f.name).sort(),
    mutations: data.__schema.mutationType.fields.map((f) => f.name).sort(),
  };
}

interface Named { id: string; name: string }

async function teamId(token: string, name: string): Promise<string> {
  const data = await server.ok<{ teams: { edges: { node: Named }[] } }>(token, 'query($s: String) { teams(search: $s) { edges { node { id name } } } }', { s: name });
  const team = data.teams.edges.find((e) => e.node.name === name);
  if (!team) throw new Error(`no team ${name}`);
  return team.node.id;
}

async function developerOf(token: string, keyId: string): Promise<string> {
  return (await server.ok<{ apiKey: { developer: { id: string } } }>(token, 'query($id: ID!) { apiKey(id: $id) { developer { id } } }', { id: keyId })).apiKey.developer.id;
}

describe('roles', () => {
  let acme: SeededAccount;
  let platformVerifier: string;
  /** Valid input for every mutation of the schema, in an order an admin can run them one after the other. */
  let mutations: [string, Variables][];
  let queries: [string, string, Variables][];
  let liveSecret: string;
  let liveKeyId: string;

  beforeAll(async () => {
    acme = await seedAccount(server, 'roles-acme');
    platformVerifier = await server.token({ account: null, roles: ['verifier'], sub: 'gateway' });
    const key1 = await acme.createKey({ newTeamNames: ['Core'] });
    const key2 = await acme.createKey();
    const key3 = await acme.createKey();
    const key4 = await acme.createKey({ developer: { name: 'Bob' } });
    const key5 = await acme.createKey();
    const key6 = await acme.createKey();
    const live = await acme.createKey({ name: 'verified' });
    liveSecret = live.secret;
    liveKeyId = live.id;
    await server.ok(acme.admin, 'mutation { createTeam(input: { name: "Doomed" }) { team { id } } }');
    const core = await teamId(acme.viewer, 'Core');
    const doomed = await teamId(acme.viewer, 'Doomed');
    const bob = await developerOf(acme.viewer, key4.id);
    const { prod } = acme.instances;
    const { ide } = acme.channels;

    mutations = [
      ['createChannel', { name: 'Roles channel' }],
      ['createInstance', { name: 'Roles instance', cloud: 'M365', channelIds: [ide.id] }],
      ['updateInstance', { id: prod.id, name: 'Prod renamed', url: 'https://prod.example.com' }],
      ['createTeam', { name: 'Roles team' }],
      ['renameTeam', { id: core, name: 'Core renamed' }],
      ['deleteTeam', { id: doomed }],
      ['recordDeveloperActivity', { instanceId: prod.id, developerName: 'Carol' }],
      ['createApiKey', { name: 'roles new key', instanceId: prod.id, channelId: ide.id, developer: { name: 'Alice' }, newTeamNames: ['New'] }],
      ['updateApiKey', { id: key1.id, name: 'key one renamed', expectedVersion: key1.version }],
      ['renewApiKey', { id: key1.id, gracePeriodSeconds: 60 }],
      ['revokeApiKey', { id: key2.id, reason: 'leaked' }],
      ['deleteApiKey', { id: key3.id }],
      ['updateApiKeyTeams', { apiKeyIds: [key1.id], addNewTeamNames: ['Bulk'], removeTeamIds: [core] }],
      ['revokeApiKeys', { apiKeyIds: [key5.id], reason: 'bulk' }],
      ['deleteApiKeys', { apiKeyIds: [key6.id] }],
      ['deactivateDeveloper', { id: bob, revokeApiKeys: true }],
      ['verifyApiKey', { key: live.secret, instanceId: prod.id }],
    ];
    const now = Date.now();
    queries = [
      ['viewer', '{ viewer { subject accountId roles } }', {}],
      ['node', 'query($id: ID!) { node(id: $id) { id } }', { id: key1.id }],
      ['apiKey', 'query($id: ID!) { apiKey(id: $id) { id name } }', { id: key1.id }],
      ['apiKeys', '{ apiKeys { totalCount edges { node { id } } } }', {}],
      ['apiKeyEvents', '{ apiKeyEvents { totalCount edges { node { id } } } }', {}],
      ['apiKeyFacets', '{ apiKeyFacets { totalCount teams { id count } statuses { id count } } }', {}],
      ['instances', '{ instances { id name } }', {}],
      ['channels', '{ channels { id name } }', {}],
      ['teams', '{ teams { totalCount } }', {}],
      ['developers', '{ developers { totalCount } }', {}],
      ['usage', 'query($from: DateTime!, $to: DateTime!) { usage(filter: { from: $from, to: $to }) { total } }',
        { from: new Date(now - 86_400_000).toISOString(), to: new Date(now + 3_600_000).toISOString() }],
    ];
  }, 60_000);

  test('the tables below cover every query and mutation of the schema', async () => {
    const schema = await schemaFields(acme.admin);
    expect(mutations.map(([name]) => name).sort()).toEqual(schema.mutations);
    expect(queries.map(([name]) => name).sort()).toEqual(schema.queries);
  });

  test('a viewer may run every query', async () => {
    for (const [name, query, variables] of queries) {
      const res = await server.gql<Record<string, unknown>>(acme.viewer, query, variables);
      expect({ name, errors: res.errors }).toEqual({ name, errors: undefined });
      expect(res.data?.[name]).not.toBeNull();
    }
  });

  test('a viewer is FORBIDDEN every mutation, and none writes anything', async () => {
    await withoutWrites(server.knex, async () => {
      for (const [name, input] of mutations) {
        const res = await server.gql<Record<string, unknown>>(acme.viewer, mutationDocument(name), { input });
        expect({ name, codes: res.errors?.map((e) => e.extensions?.code) }).toEqual({ name, codes: ['FORBIDDEN'] });
        expect(res.data ?? null).toBeNull();
      }
    });
  });

  test.each([
    ['an account verifier', () => acme.verifier],
    ['a platform verifier', () => platformVerifier],
  ])('%s is FORBIDDEN every query', async (_who, token) => {
    for (const [name, query, variables] of queries) {
      const res = await server.gql<Record<string, unknown>>(token(), query, variables);
      expect({ name, codes: res.errors?.map((e) => e.extensions?.code) }).toEqual({ name, codes: ['FORBIDDEN'] });
      expect(res.data?.[name] ?? null).toBeNull();
    }
  });

  test.each([
    ['an account verifier', () => acme.verifier],
    ['a platform verifier', () => platformVerifier],
  ])('%s is FORBIDDEN every management mutation, and none writes anything', async (_who, token) => {
    await withoutWrites(server.knex, async () => {
      for (const [name, input] of mutations.filter(([n]) => n !== 'verifyApiKey')) {
        const res = await server.gql<Record<string, unknown>>(token(), mutationDocument(name), { input });
        expect({ name, codes: res.errors?.map((e) => e.extensions?.code) }).toEqual({ name, codes: ['FORBIDDEN'] });
        expect(res.data ?? null).toBeNull();
      }
    });
  });

  test.each([
    ['an account verifier', () => acme.verifier],
    ['a platform verifier', () => platformVerifier],
    ['an admin', () => acme.admin],
  ])('%s may verify a key', async (_who, token) => {
    const res = await server.gql<{ verifyApiKey: { valid: boolean; code: string; apiKey: { id: string } | null } }>(token(),
      'mutation($key: String!) { verifyApiKey(input: { key: $key }) { valid code apiKey { id } } }', { key: liveSecret });
    expect(res.errors).toBeUndefined();
    expect(res.data?.verifyApiKey).toEqual({ valid: true, code: 'VALID', apiKey: { id: liveKeyId } });
  });

  const VERIFY = (selection: string, fragments = '') =>
    `mutation($key: String!) { verifyApiKey(input: { key: $key }) { valid code apiKey { ${selection} } } } ${fragments}`;

  test.each([
    ['an account verifier', () => acme.verifier],
    ['a platform verifier', () => platformVerifier],
  ])('%s reads the verified key\'s own fields and the IDs of what it belongs to', async (_who, token) => {
    const res = await server.gql<{ verifyApiKey: { apiKey: Record<string, unknown> } }>(token(), VERIFY(
      `id name hint cloud status expiresAt createdAt updatedAt renewedAt revokedAt revocationReason lastUsedAt version
       instance { id __typename } channel { id } developer { id } teams { id } __typename`), { key: liveSecret });
    expect(res.errors).toBeUndefined();
    expect(res.data?.verifyApiKey.apiKey).toMatchObject({ id: liveKeyId, status: 'ACTIVE', instance: { id: expect.any(String) } });
  });

  test.each([
    ['the developer\'s name', 'developer { id name }'],
    ['the developer\'s instances', 'developer { id instances { id name } }'],
    ['the team\'s key count', 'teams { id apiKeyCount }'],
    ['the team\'s name', 'teams { name }'],
    ['the instance\'s channels', 'instance { channels { id name } }'],
    ['the channel\'s name', 'channel { name }'],
    ['the key\'s history', 'history { totalCount }'],
    ['the key\'s usage', 'usage(from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z") { total }'],
    ['an alias of the developer\'s name', 'developer { who: name }'],
    ['an inline fragment', 'developer { ... on Developer { name } }'],
    ['a named fragment', 'developer { ...Dev }', 'fragment Dev on Developer { id name }'],
    ['a fragment on the key', '...Key', 'fragment Key on ApiKey { id teams { name } }'],
  ])('a verifier reading %s through a verification is FORBIDDEN, and the verification does not run', async (_what, selection, fragments = '') => {
    for (const token of [acme.verifier, platformVerifier]) {
      const res = await server.gql(token, VERIFY(selection, fragments), { key: liveSecret });
      expect(res.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
      expect(res.data ?? null).toBeNull();
    }
    // an admin (or viewer with the verifier role) reads all of it
    const admin = await server.gql(acme.admin, VERIFY(selection, fragments), { key: liveSecret });
    expect(admin.errors).toBeUndefined();
  });

  test('the REST verification route answers 403 FORBIDDEN to a viewer and 200 to a verifier', async () => {
    const post = (token: string) => fetch(`${server.baseUrl}/v1/keys/verify`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ key: liveSecret }),
    });
    const refused = await post(acme.viewer);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('FORBIDDEN');
    const allowed = await post(acme.verifier);
    expect(allowed.status).toBe(200);
    expect(await allowed.json()).toMatchObject({ valid: true, code: 'VALID', keyId: liveKeyId, accountId: 'roles-acme' });
  });

  // last: it changes the account; it proves the inputs above were valid, so FORBIDDEN came from the role
  test('an admin may run each of those mutations with the same input', async () => {
    for (const [name, input] of mutations) {
      const res = await server.gql<Record<string, unknown>>(acme.admin, mutationDocument(name), { input });
      expect({ name, errors: res.errors }).toEqual({ name, errors: undefined });
      expect(res.data?.[name]).toBeTruthy();
    }
  });
});

describe('tenant isolation', () => {
  let a: SeededAccount;
  let b: SeededAccount;
  /** Everything account A owns, by kind. */
  const ids = { key: '', revokedKey: '', team: '', developer: '', instance: '', channel: '', event: '' };
  let aSecret: string;
  let bKey: { id: string; version: number };
  let bTeam: string;
  let bDeveloper: string;

  beforeAll(async () => {
    a = await seedAccount(server, 'tenant-a');
    b = await seedAccount(server, 'tenant-b');
    // account A: names B never uses, and names both use
    const aChannel = await a.channel('A only channel');
    const aInstance = await a.instance('A only instance', 'M365', [aChannel.id]);
    const key = await a.createKey({ name: 'A only key', instanceId: aInstance.id, channelId: aChannel.id, developer: { name: 'A only dev' }, newTeamNames: ['A only team'] });
    await a.createKey({ name: 'shared name', developer: { name: 'Shared Dev' }, newTeamNames: ['Shared team'] });
    const revoked = await a.createKey({ name: 'A revoked key' });
    await server.ok(a.admin, 'mutation($id: ID!) { revokeApiKey(input: { id: $id, reason: "A only reason" }) { apiKey { id } } }', { id: revoked.id });
    aSecret = key.secret;
    const events = await server.ok<{ apiKeyEvents: { edges: { node: { id: string } }[] } }>(a.viewer, '{ apiKeyEvents { edges { node { id } } } }');
    Object.assign(ids, {
      key: key.id, revokedKey: revoked.id, team: await teamId(a.viewer, 'A only team'), developer: await developerOf(a.viewer, key.id),
      instance: aInstance.id, channel: aChannel.id, event: events.apiKeyEvents.edges[0].node.id,
    });
    // account B: the same names as A where both have them
    const created = await b.createKey({ name: 'shared name', developer: { name: 'Shared Dev' }, newTeamNames: ['Shared team'] });
    bKey = created;
    bTeam = await teamId(b.viewer, 'Shared team');
    bDeveloper = await developerOf(b.viewer, created.id);
  }, 60_000);

  test('the same names are allowed in both accounts, as distinct objects', async () => {
    const aShared = await teamId(a.viewer, 'Shared team');
    expect(bTeam).not.toBe(aShared);
    const aKeys = await server.ok<{ apiKeys: { edges: { node: { id: string; developer: { id: string } } }[] } }>(a.viewer,
      '{ apiKeys(filter: { search: "shared name" }) { edges { node { id developer { id } } } } }');
    expect(aKeys.apiKeys.edges).toHaveLength(1);
    expect(aKeys.apiKeys.edges[0].node.id).not.toBe(bKey.id);
    expect(aKeys.apiKeys.edges[0].node.developer.id).not.toBe(bDeveloper);
    expect(a.instances.prod.id).not.toBe(b.instances.prod.id);
    expect(a.channels.ide.id).not.toBe(b.channels.ide.id);
  });

  test('apiKey and node are null for every ID of the other account', async () => {
    const key = await server.gql<{ apiKey: unknown }>(b.admin, 'query($id: ID!) { apiKey(id: $id) { id } }', { id: ids.key });
    expect(key.errors).toBeUndefined();
    expect(key.data?.apiKey).toBeNull();
    for (const id of Object.values(ids)) {
      const res = await server.gql<{ node: unknown }>(b.viewer, 'query($id: ID!) { node(id: $id) { id } }', { id });
      expect({ id, errors: res.errors, node: res.data?.node }).toEqual({ id, errors: undefined, node: null });
    }
  });

  const crossAccount: [string, string, () => Variables, string][] = [
    ['updateApiKey on its key', 'updateApiKey', () => ({ id: ids.key, name: 'stolen' }), 'input.id'],
    ['renewApiKey', 'renewApiKey', () => ({ id: ids.key }), 'input.id'],
    ['revokeApiKey', 'revokeApiKey', () => ({ id: ids.key, reason: 'x' }), 'input.id'],
    ['revokeApiKey on its revoked key', 'revokeApiKey', () => ({ id: ids.revokedKey }), 'input.id'],
    ['deleteApiKey', 'deleteApiKey', () => ({ id: ids.key }), 'input.id'],
    ['updateApiKeyTeams on its key', 'updateApiKeyTeams', () => ({ apiKeyIds: [ids.key], addNewTeamNames: ['X'] }), 'input.apiKeyIds'],
    ['updateApiKeyTeams adding its team', 'updateApiKeyTeams', () => ({ apiKeyIds: [bKey.id], addTeamIds: [ids.team] }), 'input.addTeamIds'],
    ['updateApiKeyTeams removing its team', 'updateApiKeyTeams', () => ({ apiKeyIds: [bKey.id], removeTeamIds: [ids.team] }), 'input.removeTeamIds'],
    ['createApiKey on its instance', 'createApiKey',
      () => ({ name: 'x', instanceId: ids.instance, channelId: b.channels.ide.id, developer: { name: 'B dev' } }), 'input.instanceId'],
    ['createApiKey with its channel', 'createApiKey',
      () => ({ name: 'x', instanceId: b.instances.prod.id, channelId: ids.channel, developer: { name: 'B dev' } }), 'input.channelId'],
    ['createApiKey with its team', 'createApiKey',
      () => ({ name: 'x', instanceId: b.instances.prod.id, channelId: b.channels.ide.id, developer: { name: 'B dev' }, teamIds: [ids.team] }), 'input.teamIds'],
    ['createApiKey with its developer', 'createApiKey',
      () => ({ name: 'x', instanceId: b.instances.prod.id, channelId: b.channels.ide.id, developer: { id: ids.developer } }), 'input.developer.id'],
    ['updateApiKey moving to its instance', 'updateApiKey', () => ({ id: bKey.id, instanceId: ids.instance }), 'input.instanceId'],
    ['updateApiKey to its channel', 'updateApiKey', () => ({ id: bKey.id, channelId: ids.channel }), 'input.channelId'],
    ['updateApiKey to its developer', 'updateApiKey', () => ({ id: bKey.id, developer: { id: ids.developer } }), 'input.developer.id'],
    ['updateApiKey to its team', 'updateApiKey', () => ({ id: bKey.id, teamIds: [bTeam, ids.team] }), 'input.teamIds'],
    ['updateInstance on its instance', 'updateInstance', () => ({ id: ids.instance, name: 'stolen' }), 'input.id'],
    ['updateInstance with its channel', 'updateInstance', () => ({ id: b.instances.prod.id, channelIds: [ids.channel] }), 'input.channelIds'],
    ['createInstance with its channel', 'createInstance', () => ({ name: 'x', cloud: 'M365', channelIds: [ids.channel] }), 'input.channelIds'],
    ['renameTeam', 'renameTeam', () => ({ id: ids.team, name: 'stolen' }), 'input.id'],
    ['renameTeam to a name B already has', 'renameTeam', () => ({ id: ids.team, name: 'Shared team' }), 'input.id'],
    ['deleteTeam', 'deleteTeam', () => ({ id: ids.team }), 'input.id'],
    ['deactivateDeveloper', 'deactivateDeveloper', () => ({ id: ids.developer, revokeApiKeys: true }), 'input.id'],
    ['recordDeveloperActivity on its instance', 'recordDeveloperActivity', () => ({ instanceId: ids.instance, developerName: 'x' }), 'input.instanceId'],
  ];

  test.each(crossAccount)('another account\'s ID is NOT_FOUND and writes nothing: %s', async (_what, name, input, field) => {
    const res = await withoutWrites(server.knex, () => server.gql(b.admin, mutationDocument(name), { input: input() }));
    expectError(res, 'NOT_FOUND', field);
  });

  test('filters and lookups by the other account\'s IDs find nothing', async () => {
    const keys = await server.ok<{ byTeam: { totalCount: number }; byDeveloper: { totalCount: number }; byInstance: { totalCount: number }; byChannel: { totalCount: number }; events: { totalCount: number } }>(b.viewer,
      `query($team: ID!, $dev: ID!, $ins: ID!, $chn: ID!, $key: ID!) {
        byTeam: apiKeys(filter: { teamIds: [$team] }) { totalCount }
        byDeveloper: apiKeys(filter: { developerIds: [$dev] }) { totalCount }
        byInstance: apiKeys(filter: { instanceIds: [$ins] }) { totalCount }
        byChannel: apiKeys(filter: { channelIds: [$chn] }) { totalCount }
        events: apiKeyEvents(filter: { apiKeyIds: [$key] }) { totalCount }
      }`,
      { team: ids.team, dev: ids.developer, ins: ids.instance, chn: ids.channel, key: ids.key });
    expect(keys).toEqual({ byTeam: { totalCount: 0 }, byDeveloper: { totalCount: 0 }, byInstance: { totalCount: 0 }, byChannel: { totalCount: 0 }, events: { totalCount: 0 } });
    expectError(await server.gql(b.viewer, 'query($i: ID) { developers(instanceId: $i) { totalCount } }', { i: ids.instance }), 'NOT_FOUND', 'instanceId');
  });

  test('team filters naming the other account\'s teams beside its own match its own keys only, in every order', async () => {
    // one team alone in creation order reads the team's links; several teams, or other orders, walk the keys
    const aShared = await teamId(a.viewer, 'Shared team');
    for (const orderBy of [null, { field: 'NAME', direction: 'ASC' }]) {
      const view = await server.ok<{ one: { totalCount: number; edges: unknown[] }; theirs: { totalCount: number; edges: unknown[] }; both: { totalCount: number; edges: { node: { id: string } }[] }; without: { edges: { node: { id: string } }[] } }>(b.viewer,
        `query($one: [ID!]!, $theirs: [ID!]!, $both: [ID!]!, $order: ApiKeyOrder) {
          one: apiKeys(filter: { teamIds: $one }, orderBy: $order) { totalCount edges { node { id } } }
          theirs: apiKeys(filter: { teamIds: $theirs }, orderBy: $order) { totalCount edges { node { id } } }
          both: apiKeys(filter: { teamIds: $both }, orderBy: $order) { totalCount edges { node { id } } }
          without: apiKeys(filter: { withoutTeam: false }, orderBy: $order) { edges { node { id } } }
        }`,
        { one: [aShared], theirs: [ids.team, aShared], both: [aShared, bTeam, ids.team], order: orderBy });
      expect(view.one).toEqual({ totalCount: 0, edges: [] });
      expect(view.theirs).toEqual({ totalCount: 0, edges: [] });
      expect(view.both).toEqual({ totalCount: 1, edges: [{ node: { id: bKey.id } }] });
      expect(view.without.edges).toEqual([{ node: { id: bKey.id } }]);
    }
  });

  test('every listing of an account shows its own objects only', async () => {
    const view = await server.ok<{
      apiKeys: { totalCount: number; edges: { node: { id: string; name: string; instance: Named; channel: Named; developer: Named; teams: Named[] } }[] };
      apiKeyEvents: { totalCount: number; edges: { node: { id: string; apiKeyId: string; apiKeyName: string; actor: string } }[] };
      teams: { totalCount: number; edges: { node: Named & { apiKeyCount: number } }[] };
      developers: { totalCount: number; edges: { node: Named & { instances: Named[] } }[] };
      instances: (Named & { channels: Named[]; developers: { totalCount: number; edges: { node: Named }[] } })[];
      channels: Named[];
    }>(b.viewer, `{
      apiKeys { totalCount edges { node { id name instance { id name } channel { id name } developer { id name } teams { id name } } } }
      apiKeyEvents { totalCount edges { node { id apiKeyId apiKeyName actor } } }
      teams { totalCount edges { node { id name apiKeyCount } } }
      developers { totalCount edges { node { id name instances { id name } } } }
      instances { id name channels { id name } developers { totalCount edges { node { id name } } } }
      channels { id name }
    }`);
    const text = JSON.stringify(view);
    for (const id of Object.values(ids)) expect(text).not.toContain(id);
    expect(text).not.toMatch(/A only|A revoked|tenant-a/);

    expect(view.apiKeys.edges.map((e) => e.node.name).sort()).toEqual(['shared name']);
    expect(view.apiKeys.totalCount).toBe(1);
    expect(view.apiKeyEvents.edges.map((e) => [e.node.apiKeyId, e.node.actor])).toEqual([[bKey.id, 'tenant-b-admin']]);
    expect(view.teams.edges.map((e) => [e.node.name, e.node.apiKeyCount])).toEqual([['Shared team', 1]]);
    expect(view.developers.edges.map((e) => [e.node.id, e.node.name])).toEqual([[bDeveloper, 'Shared Dev']]);
    expect(view.developers.edges[0].node.instances.map((i) => i.id)).toEqual([b.instances.prod.id]);
    expect(view.instances.map((i) => i.id)).toEqual([b.instances.prod.id, b.instances.snow.id]);
    expect(view.instances[0].developers.edges.map((e) => e.node.id)).toEqual([bDeveloper]);
    expect(view.channels.map((c) => c.id)).toEqual([b.channels.ci.id, b.channels.ide.id]);

    // and the other way round
    const aText = JSON.stringify(await server.ok(a.viewer, '{ apiKeys { edges { node { id developer { id } teams { id } } } } teams { edges { node { id } } } developers { edges { node { id } } } instances { id } channels { id } apiKeyEvents { edges { node { apiKeyId } } } }'));
    for (const id of [bKey.id, bTeam, bDeveloper, b.instances.prod.id, b.instances.snow.id, b.channels.ide.id, b.channels.ci.id]) {
      expect(aText).not.toContain(id);
    }
  });

  test('a bulk team change selecting every key touches the caller\'s account only', async () => {
    const aBefore = await server.knex('api_keys').where({ account_id: 'tenant-a' }).select('id', 'version', 'updated_at').orderBy('id');
    const aTeamsBefore = await server.knex('teams').where({ account_id: 'tenant-a' }).count<{ n: number }[]>({ n: '*' });
    const res = await server.ok<{ updateApiKeyTeams: { updatedCount: number; apiKeys: { id: string }[] } }>(b.admin,
      'mutation { updateApiKeyTeams(input: { filter: {}, addNewTeamNames: ["Everyone"] }) { updatedCount apiKeys { id } } }');
    expect(res.updateApiKeyTeams).toEqual({ updatedCount: 1, apiKeys: [{ id: bKey.id }] });
    expect(await server.knex('api_keys').where({ account_id: 'tenant-a' }).select('id', 'version', 'updated_at').orderBy('id')).toEqual(aBefore);
    expect(await server.knex('teams').where({ account_id: 'tenant-a' }).count<{ n: number }[]>({ n: '*' })).toEqual(aTeamsBefore);
  });

  // verification runs last: it updates last-use times in the background
  test('an account verifier cannot verify another account\'s key; a platform verifier can', async () => {
    const verify = '{ valid code apiKey { id } }';
    const scoped = await server.ok<{ verifyApiKey: unknown }>(b.verifier, `mutation($key: String!) { verifyApiKey(input: { key: $key }) ${verify} }`, { key: aSecret });
    expect(scoped.verifyApiKey).toEqual({ valid: false, code: 'NOT_FOUND', apiKey: null });

    const post = async (token: string) => {
      const res = await fetch(`${server.baseUrl}/v1/keys/verify`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ key: aSecret }),
      });
      expect(res.status).toBe(200);
      return (await res.json()) as Record<string, unknown>;
    };
    expect(await post(b.verifier)).toEqual({ valid: false, code: 'NOT_FOUND' });
    const platform = await server.token({ account: null, roles: ['verifier'], sub: 'gateway' });
    expect(await post(platform)).toMatchObject({ valid: true, code: 'VALID', accountId: 'tenant-a', keyId: ids.key });
  });
});

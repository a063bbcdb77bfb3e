import { expectError, withoutWrites } from '../helpers/assertions';
import { seedAccount, type SeededAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

let server: TestServer;
beforeAll(async () => { server = await startTestServer(); });
afterAll(async () => { await server.stop(); });

let accounts = 0;
/** A new account for each test: tests never see each other's rows. */
const freshAccount = (): Promise<SeededAccount> => seedAccount(server, `catalog-${++accounts}`);

interface Named { id: string; name: string }
interface InstanceView extends Named { cloud: string; url: string | null; channels: Named[] }
interface TeamPage {
  teams: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: { cursor: string; node: Named & { apiKeyCount: number } }[] };
}
interface DeveloperView extends Named { active: boolean; activeApiKeyCount: number; instances: Named[] }
interface KeyEvent { id: string; apiKeyId: string; type: string; actor: string; changes: Record<string, unknown> | null }

const INSTANCE_FIELDS = 'id name cloud url channels { id name }';
const DEVELOPER_FIELDS = 'id name active activeApiKeyCount instances { id name }';

async function gqlData<T>(token: string, query: string, variables?: Record<string, unknown>): Promise<T> {
  return server.ok<T>(token, query, variables);
}

const createChannel = (token: string, name: string) =>
  server.gql<{ createChannel: { channel: Named } }>(token, 'mutation($name: String!) { createChannel(input: { name: $name }) { channel { id name } } }', { name });

const createInstance = (token: string, input: Record<string, unknown>) =>
  server.gql<{ createInstance: { instance: InstanceView } }>(token,
    `mutation($input: CreateInstanceInput!) { createInstance(input: $input) { instance { ${INSTANCE_FIELDS} } } }`, { input });

const updateInstance = (token: string, input: Record<string, unknown>) =>
  server.gql<{ updateInstance: { instance: InstanceView } }>(token,
    `mutation($input: UpdateInstanceInput!) { updateInstance(input: $input) { instance { ${INSTANCE_FIELDS} } } }`, { input });

const createTeam = (token: string, name: string) =>
  server.gql<{ createTeam: { team: Named } }>(token, 'mutation($name: String!) { createTeam(input: { name: $name }) { team { id name } } }', { name });

const renameTeam = (token: string, id: string, name: string) =>
  server.gql<{ renameTeam: { team: Named } }>(token, 'mutation($id: ID!, $name: String!) { renameTeam(input: { id: $id, name: $name }) { team { id name } } }', { id, name });

const deleteTeam = (token: string, id: string) =>
  server.gql<{ deleteTeam: { deletedTeamId: string } }>(token, 'mutation($id: ID!) { deleteTeam(input: { id: $id }) { deletedTeamId } }', { id });

const recordActivity = (token: string, instanceId: string, developerName: string) =>
  server.gql<{ recordDeveloperActivity: { developer: DeveloperView } }>(token,
    `mutation($instanceId: ID!, $name: String!) { recordDeveloperActivity(input: { instanceId: $instanceId, developerName: $name }) { developer { ${DEVELOPER_FIELDS} } } }`,
    { instanceId, name: developerName });

const deactivate = (token: string, id: string, revokeApiKeys?: boolean) =>
  server.gql<{ deactivateDeveloper: { developer: DeveloperView; revokedApiKeys: { id: string; status: string; version: number }[] } }>(token,
    `mutation($id: ID!, $revoke: Boolean) { deactivateDeveloper(input: { id: $id, revokeApiKeys: $revoke }) {
      developer { ${DEVELOPER_FIELDS} } revokedApiKeys { id status version } } }`,
    { id, revoke: revokeApiKeys });

async function teamIdByName(token: string, name: string): Promise<string> {
  const data = await gqlData<TeamPage>(token, 'query($s: String) { teams(search: $s) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id name apiKeyCount } } } }', { s: name });
  const team = data.teams.edges.map((e) => e.node).find((t) => t.name === name);
  if (!team) throw new Error(`no team ${name}`);
  return team.id;
}

async function developerOfKey(token: string, keyId: string): Promise<Named> {
  const data = await gqlData<{ apiKey: { developer: Named } }>(token, 'query($id: ID!) { apiKey(id: $id) { developer { id name } } }', { id: keyId });
  return data.apiKey.developer;
}

async function keyState(token: string, id: string): Promise<{ version: number; status: string; teams: Named[] }> {
  const data = await gqlData<{ apiKey: { version: number; status: string; teams: Named[] } }>(token,
    'query($id: ID!) { apiKey(id: $id) { version status teams { id name } } }', { id });
  return data.apiKey;
}

async function eventsOf(token: string, apiKeyIds: string[]): Promise<KeyEvent[]> {
  const data = await gqlData<{ apiKeyEvents: { edges: { node: KeyEvent }[] } }>(token,
    'query($ids: [ID!]) { apiKeyEvents(filter: { apiKeyIds: $ids }, first: 100) { edges { node { id apiKeyId type actor changes } } } }', { ids: apiKeyIds });
  return data.apiKeyEvents.edges.map((e) => e.node);
}

async function revokeKey(token: string, id: string): Promise<void> {
  await gqlData(token, 'mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { id } } }', { id });
}

describe('channels', () => {
  test('createChannel trims the name and the listing is sorted by name, case-insensitively', async () => {
    const acme = await freshAccount();
    const zeta = await createChannel(acme.admin, '  Zeta  ');
    expect(zeta.errors).toBeUndefined();
    expect(zeta.data?.createChannel.channel.name).toBe('Zeta');
    await createChannel(acme.admin, 'api');
    const data = await gqlData<{ channels: Named[] }>(acme.viewer, '{ channels { id name } }');
    expect(data.channels.map((c) => c.name)).toEqual(['api', 'CI', 'IDE', 'Zeta']);
    expect(data.channels.find((c) => c.name === 'Zeta')?.id).toBe(zeta.data?.createChannel.channel.id);
  });

  test('a duplicate channel name in another case is CONFLICT and writes nothing', async () => {
    const acme = await freshAccount();
    const res = await withoutWrites(server.knex, () => createChannel(acme.admin, 'ide'));
    expectError(res, 'CONFLICT', 'input.name');
    expect(res.data?.createChannel ?? null).toBeNull();
  });

  test('an empty or over-long channel name is BAD_USER_INPUT naming input.name', async () => {
    const acme = await freshAccount();
    expectError(await withoutWrites(server.knex, () => createChannel(acme.admin, '   ')), 'BAD_USER_INPUT', 'input.name');
    expectError(await withoutWrites(server.knex, () => createChannel(acme.admin, 'x'.repeat(101))), 'BAD_USER_INPUT', 'input.name');
  });
});

describe('instances', () => {
  test('createInstance stores cloud, URL and channels; Instance.channels is sorted by name', async () => {
    const acme = await freshAccount();
    const res = await createInstance(acme.admin, {
      name: 'Sales EU', cloud: 'SALESFORCE', url: 'https://acme-eu.my.salesforce.com', channelIds: [acme.channels.ide.id, acme.channels.ci.id],
    });
    expect(res.errors).toBeUndefined();
    const instance = res.data?.createInstance.instance as InstanceView;
    expect(instance).toMatchObject({ name: 'Sales EU', cloud: 'SALESFORCE' });
    expect(instance.url).toMatch(/^https:\/\/acme-eu\.my\.salesforce\.com\/?$/);
    expect(instance.channels.map((c) => c.name)).toEqual(['CI', 'IDE']);
    expect(instance.id).toMatch(/^\S+$/);
  });

  test('createInstance without URL or channels is allowed', async () => {
    const acme = await freshAccount();
    const res = await createInstance(acme.admin, { name: 'Tenant', cloud: 'M365', channelIds: [] });
    expect(res.errors).toBeUndefined();
    expect(res.data?.createInstance.instance).toMatchObject({ name: 'Tenant', cloud: 'M365', url: null, channels: [] });
  });

  test.each([
    ['not a url'],
    ['ftp://files.example.com'],
    ['javascript:alert(1)'],
    ['/relative/path'],
  ])('createInstance refuses the URL %j with BAD_USER_INPUT on input.url and writes nothing', async (url) => {
    const acme = await freshAccount();
    const res = await withoutWrites(server.knex, () => createInstance(acme.admin, { name: 'Bad', cloud: 'SALESFORCE', url, channelIds: [] }));
    expectError(res, 'BAD_USER_INPUT', 'input.url');
  });

  test('createInstance with an unknown channel is NOT_FOUND on input.channelIds and writes nothing', async () => {
    const acme = await freshAccount();
    const res = await withoutWrites(server.knex, () =>
      createInstance(acme.admin, { name: 'Orphan', cloud: 'SALESFORCE', channelIds: [acme.channels.ide.id, 'chn_01ZZZZZZZZZZZZZZZZZZZZZZZZ'] }));
    expectError(res, 'NOT_FOUND', 'input.channelIds');
  });

  test('createInstance with a duplicate name in another case is CONFLICT and writes nothing', async () => {
    const acme = await freshAccount();
    const res = await withoutWrites(server.knex, () => createInstance(acme.admin, { name: 'PROD ORG', cloud: 'M365', channelIds: [acme.channels.ide.id] }));
    expectError(res, 'CONFLICT', 'input.name');
  });

  test('createInstance with an unknown cloud fails variable coercion with BAD_USER_INPUT', async () => {
    const acme = await freshAccount();
    const res = await withoutWrites(server.knex, () => createInstance(acme.admin, { name: 'Elsewhere', cloud: 'AWS', channelIds: [] }));
    expect([200, 400]).toContain(res.status);
    expectError(res, 'BAD_USER_INPUT');
  });

  test('instances lists every instance by name and filters by cloud', async () => {
    const acme = await freshAccount();
    await acme.instance('Office', 'M365', []);
    const all = await gqlData<{ instances: InstanceView[] }>(acme.viewer, `{ instances { ${INSTANCE_FIELDS} } }`);
    expect(all.instances.map((i) => [i.name, i.cloud])).toEqual([['Office', 'M365'], ['Prod org', 'SALESFORCE'], ['ServiceNow dev', 'SERVICENOW']]);
    const snow = await gqlData<{ instances: InstanceView[] }>(acme.viewer, `{ instances(cloud: SERVICENOW) { ${INSTANCE_FIELDS} } }`);
    expect(snow.instances).toEqual([{ id: acme.instances.snow.id, name: 'ServiceNow dev', cloud: 'SERVICENOW', url: null, channels: [acme.channels.ide] }]);
    const none = await gqlData<{ instances: InstanceView[] }>(acme.viewer, '{ instances(cloud: M365) { id name } }');
    expect(none.instances.map((i) => i.name)).toEqual(['Office']);
  });

  test('updateInstance renames, sets and clears the URL, and replaces the channels', async () => {
    const acme = await freshAccount();
    const api = (await createChannel(acme.admin, 'API')).data?.createChannel.channel as Named;
    const renamed = await updateInstance(acme.admin, {
      id: acme.instances.prod.id, name: 'Production', url: 'https://acme.my.salesforce.com/', channelIds: [acme.channels.ide.id, api.id],
    });
    expect(renamed.errors).toBeUndefined();
    expect(renamed.data?.updateInstance.instance).toEqual({
      id: acme.instances.prod.id, name: 'Production', cloud: 'SALESFORCE', url: 'https://acme.my.salesforce.com/', channels: [api, acme.channels.ide],
    });
    // omitted fields stay; an explicit null clears the URL
    const cleared = await updateInstance(acme.admin, { id: acme.instances.prod.id, url: null });
    expect(cleared.data?.updateInstance.instance).toEqual({
      id: acme.instances.prod.id, name: 'Production', cloud: 'SALESFORCE', url: null, channels: [api, acme.channels.ide],
    });
    // the same name in another case is the instance's own
    const recased = await updateInstance(acme.admin, { id: acme.instances.prod.id, name: 'PRODUCTION' });
    expect(recased.data?.updateInstance.instance.name).toBe('PRODUCTION');
  });

  test('updateInstance to another instance\'s name is CONFLICT and writes nothing', async () => {
    const acme = await freshAccount();
    const res = await withoutWrites(server.knex, () => updateInstance(acme.admin, { id: acme.instances.prod.id, name: 'servicenow DEV', url: 'https://x.example.com' }));
    expectError(res, 'CONFLICT', 'input.name');
  });

  test('updateInstance with an invalid URL, an unknown channel or an unknown ID writes nothing', async () => {
    const acme = await freshAccount();
    expectError(await withoutWrites(server.knex, () => updateInstance(acme.admin, { id: acme.instances.prod.id, url: 'nope' })), 'BAD_USER_INPUT', 'input.url');
    expectError(await withoutWrites(server.knex, () => updateInstance(acme.admin, { id: acme.instances.prod.id, channelIds: ['chn_01ZZZZZZZZZZZZZZZZZZZZZZZZ'] })),
      'NOT_FOUND', 'input.channelIds');
    expectError(await withoutWrites(server.knex, () => updateInstance(acme.admin, { id: 'ins_01ZZZZZZZZZZZZZZZZZZZZZZZZ', name: 'Ghost' })), 'NOT_FOUND', 'input.id');
  });

  test('removing a channel that an active key still uses is FAILED_PRECONDITION and writes nothing; once the key is revoked it works', async () => {
    const acme = await freshAccount();
    const key = await acme.createKey({ channelId: acme.channels.ci.id });
    const attempt = () => updateInstance(acme.admin, { id: acme.instances.prod.id, name: 'Renamed too', channelIds: [acme.channels.ide.id] });
    const res = await withoutWrites(server.knex, attempt);
    expectError(res, 'FAILED_PRECONDITION', 'input.channelIds');
    // removing an unused channel is fine while the used one stays
    const keepCi = await updateInstance(acme.admin, { id: acme.instances.prod.id, channelIds: [acme.channels.ci.id] });
    expect(keepCi.data?.updateInstance.instance.channels).toEqual([acme.channels.ci]);

    await revokeKey(acme.admin, key.id);
    const after = await updateInstance(acme.admin, { id: acme.instances.prod.id, name: 'Renamed too', channelIds: [acme.channels.ide.id] });
    expect(after.errors).toBeUndefined();
    expect(after.data?.updateInstance.instance).toMatchObject({ name: 'Renamed too', channels: [acme.channels.ide] });
  });
});

describe('teams', () => {
  test('createTeam creates a team with no keys; a duplicate in another case is CONFLICT and writes nothing', async () => {
    const acme = await freshAccount();
    const created = await createTeam(acme.admin, ' Platform ');
    expect(created.data?.createTeam.team.name).toBe('Platform');
    const team = await gqlData<{ node: Named & { apiKeyCount: number } }>(acme.viewer,
      'query($id: ID!) { node(id: $id) { ... on Team { id name apiKeyCount } } }', { id: created.data?.createTeam.team.id });
    expect(team.node).toEqual({ id: created.data?.createTeam.team.id, name: 'Platform', apiKeyCount: 0 });
    expectError(await withoutWrites(server.knex, () => createTeam(acme.admin, 'PLATFORM')), 'CONFLICT', 'input.name');
    expectError(await withoutWrites(server.knex, () => createTeam(acme.admin, '')), 'BAD_USER_INPUT', 'input.name');
  });

  test('renameTeam renames; a taken name is CONFLICT, an unknown ID NOT_FOUND, neither writes', async () => {
    const acme = await freshAccount();
    const core = (await createTeam(acme.admin, 'Core')).data?.createTeam.team as Named;
    await createTeam(acme.admin, 'Ops');
    const renamed = await renameTeam(acme.admin, core.id, 'Core Platform');
    expect(renamed.data?.renameTeam.team).toEqual({ id: core.id, name: 'Core Platform' });
    expect((await renameTeam(acme.admin, core.id, 'core platform')).data?.renameTeam.team.name).toBe('core platform');
    expectError(await withoutWrites(server.knex, () => renameTeam(acme.admin, core.id, 'OPS')), 'CONFLICT', 'input.name');
    expectError(await withoutWrites(server.knex, () => renameTeam(acme.admin, 'team_01ZZZZZZZZZZZZZZZZZZZZZZZZ', 'Fresh')), 'NOT_FOUND', 'input.id');
    expectError(await withoutWrites(server.knex, () => renameTeam(acme.admin, 'team_01ZZZZZZZZZZZZZZZZZZZZZZZZ', 'Ops')), 'NOT_FOUND', 'input.id');
  });

  test('teams pages by name with cursors, and totalCount honours the search', async () => {
    const acme = await freshAccount();
    const names = ['delta', 'Alpha', 'charlie', 'Bravo', 'echo', 'Foxtrot 100%'];
    for (const name of names) await createTeam(acme.admin, name);
    const query = 'query($s: String, $first: Int, $after: String) { teams(search: $s, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id name apiKeyCount } } } }';
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 5; page++) {
      const data: TeamPage = await gqlData<TeamPage>(acme.viewer, query, { first: 4, after });
      expect(data.teams.totalCount).toBe(6);
      seen.push(...data.teams.edges.map((e) => e.node.name));
      if (!data.teams.pageInfo.hasNextPage) break;
      expect(data.teams.edges).toHaveLength(4);
      after = data.teams.pageInfo.endCursor;
    }
    expect(seen).toEqual(['Alpha', 'Bravo', 'charlie', 'delta', 'echo', 'Foxtrot 100%']);

    const searched = await gqlData<TeamPage>(acme.viewer, query, { s: 'HA', first: 1 });
    expect(searched.teams.totalCount).toBe(2);
    expect(searched.teams.edges.map((e) => e.node.name)).toEqual(['Alpha']);
    expect(searched.teams.pageInfo.hasNextPage).toBe(true);
    const rest = await gqlData<TeamPage>(acme.viewer, query, { s: 'HA', first: 1, after: searched.teams.pageInfo.endCursor });
    expect(rest.teams.edges.map((e) => e.node.name)).toEqual(['charlie']);
    expect(rest.teams.pageInfo.hasNextPage).toBe(false);

    // LIKE wildcards are plain characters
    const percent = await gqlData<TeamPage>(acme.viewer, query, { s: '%' });
    expect(percent.teams.edges.map((e) => e.node.name)).toEqual(['Foxtrot 100%']);
    expect((await gqlData<TeamPage>(acme.viewer, query, { s: '_' })).teams.totalCount).toBe(0);
  });

  test('teams refuses a page size over 100 and a forged cursor with BAD_USER_INPUT', async () => {
    const acme = await freshAccount();
    expectError(await server.gql(acme.viewer, '{ teams(first: 101) { totalCount } }'), 'BAD_USER_INPUT', 'first');
    expectError(await server.gql(acme.viewer, '{ teams(first: -1) { totalCount } }'), 'BAD_USER_INPUT', 'first');
    expectError(await server.gql(acme.viewer, '{ teams(after: "not-a-cursor") { totalCount } }'), 'BAD_USER_INPUT', 'after');
  });

  test('Team.apiKeyCount counts the team\'s keys that are not deleted', async () => {
    const acme = await freshAccount();
    await acme.createKey({ newTeamNames: ['Core'] });
    const revoked = await acme.createKey({ newTeamNames: ['core'] });
    const deleted = await acme.createKey({ newTeamNames: ['Core', 'Ops'] });
    await revokeKey(acme.admin, revoked.id);
    await gqlData(acme.admin, 'mutation($id: ID!) { deleteApiKey(input: { id: $id }) { deletedApiKeyId } }', { id: deleted.id });
    const data = await gqlData<TeamPage>(acme.viewer, '{ teams { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id name apiKeyCount } } } }');
    expect(data.teams.edges.map((e) => [e.node.name, e.node.apiKeyCount])).toEqual([['Core', 2], ['Ops', 0]]);
  });

  test('deleteTeam detaches the team: one TEAMS_CHANGED event and a version bump per changed key, others untouched', async () => {
    const acme = await freshAccount();
    const both = await acme.createKey({ newTeamNames: ['Core', 'Ops'] });
    const coreOnly = await acme.createKey({ newTeamNames: ['Core'] });
    const opsOnly = await acme.createKey({ newTeamNames: ['Ops'] });
    const gone = await acme.createKey({ newTeamNames: ['Core'] });
    await gqlData(acme.admin, 'mutation($id: ID!) { deleteApiKey(input: { id: $id }) { deletedApiKeyId } }', { id: gone.id });
    const coreId = await teamIdByName(acme.viewer, 'Core');
    const opsId = await teamIdByName(acme.viewer, 'Ops');
    const eventsBefore = await eventsOf(acme.viewer, [both.id, coreOnly.id, opsOnly.id, gone.id]);

    const res = await deleteTeam(acme.admin, coreId);
    expect(res.errors).toBeUndefined();
    expect(res.data?.deleteTeam.deletedTeamId).toBe(coreId);

    const eventsAfter = await eventsOf(acme.viewer, [both.id, coreOnly.id, opsOnly.id, gone.id]);
    const added = eventsAfter.filter((e) => !eventsBefore.some((b) => b.id === e.id));
    expect(added.map((e) => [e.apiKeyId, e.type, e.actor]).sort()).toEqual([
      [both.id, 'TEAMS_CHANGED', `${acme.account}-admin`],
      [coreOnly.id, 'TEAMS_CHANGED', `${acme.account}-admin`],
    ].sort());
    expect(added.find((e) => e.apiKeyId === both.id)?.changes).toMatchObject({ teams: { from: ['Core', 'Ops'], to: ['Ops'] } });
    expect(added.find((e) => e.apiKeyId === coreOnly.id)?.changes).toMatchObject({ teams: { from: ['Core'], to: [] } });
    expect((added.find((e) => e.apiKeyId === coreOnly.id)?.changes as { teamIds: { to: string[] } }).teamIds.to).toEqual([]);

    expect(await keyState(acme.viewer, both.id)).toEqual({ version: both.version + 1, status: 'ACTIVE', teams: [{ id: opsId, name: 'Ops' }] });
    expect(await keyState(acme.viewer, coreOnly.id)).toEqual({ version: coreOnly.version + 1, status: 'ACTIVE', teams: [] });
    expect(await keyState(acme.viewer, opsOnly.id)).toEqual({ version: opsOnly.version, status: 'ACTIVE', teams: [{ id: opsId, name: 'Ops' }] });

    const teams = await gqlData<TeamPage>(acme.viewer, '{ teams { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id name apiKeyCount } } } }');
    expect(teams.teams.edges.map((e) => e.node.name)).toEqual(['Ops']);
    expect((await gqlData<{ node: null }>(acme.viewer, 'query($id: ID!) { node(id: $id) { id } }', { id: coreId })).node).toBeNull();
    const filtered = await gqlData<{ apiKeys: { totalCount: number } }>(acme.viewer, '{ apiKeys(filter: { withoutTeam: true }) { totalCount } }');
    expect(filtered.apiKeys.totalCount).toBe(1);
  });

  test('deleteTeam with an unknown ID is NOT_FOUND and writes nothing', async () => {
    const acme = await freshAccount();
    expectError(await withoutWrites(server.knex, () => deleteTeam(acme.admin, 'team_01ZZZZZZZZZZZZZZZZZZZZZZZZ')), 'NOT_FOUND', 'input.id');
  });
});

describe('developers', () => {
  test('recordDeveloperActivity creates a developer linked to the instance, then reuses it case-insensitively', async () => {
    const acme = await freshAccount();
    const first = await recordActivity(acme.admin, acme.instances.prod.id, ' Grace Hopper ');
    expect(first.errors).toBeUndefined();
    const grace = first.data?.recordDeveloperActivity.developer as DeveloperView;
    expect(grace).toMatchObject({ name: 'Grace Hopper', active: true, activeApiKeyCount: 0, instances: [{ id: acme.instances.prod.id, name: 'Prod org' }] });

    const again = await recordActivity(acme.admin, acme.instances.snow.id, 'GRACE HOPPER');
    expect(again.data?.recordDeveloperActivity.developer).toEqual({
      id: grace.id, name: 'Grace Hopper', active: true, activeApiKeyCount: 0,
      instances: [{ id: acme.instances.prod.id, name: 'Prod org' }, { id: acme.instances.snow.id, name: 'ServiceNow dev' }],
    });
    // recording the same link twice keeps one link
    const twice = await recordActivity(acme.admin, acme.instances.snow.id, 'grace hopper');
    expect(twice.data?.recordDeveloperActivity.developer.instances).toHaveLength(2);
    const count = await gqlData<{ developers: { totalCount: number } }>(acme.viewer, '{ developers { totalCount } }');
    expect(count.developers.totalCount).toBe(1);
  });

  test('recordDeveloperActivity refuses an unknown instance and an empty name, writing nothing', async () => {
    const acme = await freshAccount();
    expectError(await withoutWrites(server.knex, () => recordActivity(acme.admin, 'ins_01ZZZZZZZZZZZZZZZZZZZZZZZZ', 'Ada')), 'NOT_FOUND', 'input.instanceId');
    expectError(await withoutWrites(server.knex, () => recordActivity(acme.admin, acme.instances.prod.id, '  ')), 'BAD_USER_INPUT', 'input.developerName');
  });

  test('recordDeveloperActivity links a deactivated developer but does not reactivate them', async () => {
    const acme = await freshAccount();
    const ada = (await recordActivity(acme.admin, acme.instances.prod.id, 'Ada')).data?.recordDeveloperActivity.developer as DeveloperView;
    const off = await deactivate(acme.admin, ada.id);
    expect(off.errors).toBeUndefined();
    expect(off.data?.deactivateDeveloper).toEqual({ developer: { ...ada, active: false }, revokedApiKeys: [] });
    const linked = await recordActivity(acme.admin, acme.instances.snow.id, 'ada');
    expect(linked.data?.recordDeveloperActivity.developer).toMatchObject({ id: ada.id, active: false });
    expect(linked.data?.recordDeveloperActivity.developer.instances.map((i) => i.id)).toEqual([acme.instances.prod.id, acme.instances.snow.id]);
  });

  test('developers filters by instance and by a case-insensitive name substring, with totalCount', async () => {
    const acme = await freshAccount();
    await recordActivity(acme.admin, acme.instances.prod.id, 'Ada Lovelace');
    await recordActivity(acme.admin, acme.instances.prod.id, 'Alan Turing');
    await recordActivity(acme.admin, acme.instances.snow.id, 'Barbara Liskov');
    await recordActivity(acme.admin, acme.instances.snow.id, 'ada lovelace');
    const query = 'query($i: ID, $s: String, $first: Int) { developers(instanceId: $i, search: $s, first: $first) { totalCount pageInfo { hasNextPage } edges { node { name } } } }';
    type Page = { developers: { totalCount: number; pageInfo: { hasNextPage: boolean }; edges: { node: { name: string } }[] } };
    const names = (p: Page) => p.developers.edges.map((e) => e.node.name);

    expect(names(await gqlData<Page>(acme.viewer, query, {}))).toEqual(['Ada Lovelace', 'Alan Turing', 'Barbara Liskov']);
    const onSnow = await gqlData<Page>(acme.viewer, query, { i: acme.instances.snow.id });
    expect(names(onSnow)).toEqual(['Ada Lovelace', 'Barbara Liskov']);
    expect(onSnow.developers.totalCount).toBe(2);
    const searched = await gqlData<Page>(acme.viewer, query, { s: 'LI', first: 1 });
    expect(names(searched)).toEqual(['Barbara Liskov']);
    expect(searched.developers.totalCount).toBe(1);
    const both = await gqlData<Page>(acme.viewer, query, { i: acme.instances.prod.id, s: 'a', first: 1 });
    expect(both.developers.totalCount).toBe(2);
    expect(both.developers.pageInfo.hasNextPage).toBe(true);

    const nested = await gqlData<{ node: { developers: Page['developers'] } }>(acme.viewer,
      'query($id: ID!) { node(id: $id) { ... on Instance { developers(search: "turing") { totalCount pageInfo { hasNextPage } edges { node { name } } } } } }',
      { id: acme.instances.prod.id });
    expect(nested.node.developers.edges.map((e) => e.node.name)).toEqual(['Alan Turing']);

    expectError(await server.gql(acme.viewer, query, { i: 'ins_01ZZZZZZZZZZZZZZZZZZZZZZZZ' }), 'NOT_FOUND', 'instanceId');
  });

  test('creating a key by developer name reuses the developer case-insensitively and links the instance', async () => {
    const acme = await freshAccount();
    const one = await acme.createKey({ developer: { name: 'Alice' } });
    const two = await acme.createKey({ developer: { name: 'ALICE' }, instanceId: acme.instances.snow.id });
    const dev = await developerOfKey(acme.viewer, one.id);
    expect(await developerOfKey(acme.viewer, two.id)).toEqual(dev);
    const data = await gqlData<{ node: DeveloperView }>(acme.viewer, `query($id: ID!) { node(id: $id) { ... on Developer { ${DEVELOPER_FIELDS} } } }`, { id: dev.id });
    expect(data.node).toEqual({
      id: dev.id, name: 'Alice', active: true, activeApiKeyCount: 2,
      instances: [{ id: acme.instances.prod.id, name: 'Prod org' }, { id: acme.instances.snow.id, name: 'ServiceNow dev' }],
    });
  });

  test('Developer.activeApiKeyCount leaves out revoked, expired and deleted keys', async () => {
    const acme = await freshAccount();
    const keys = [];
    for (let i = 0; i < 4; i++) keys.push(await acme.createKey({ developer: { name: 'Counted' } }));
    await revokeKey(acme.admin, keys[0].id);
    await gqlData(acme.admin, 'mutation($id: ID!) { deleteApiKey(input: { id: $id }) { deletedApiKeyId } }', { id: keys[1].id });
    // an expired key: the API only sets future expiries, so the clock is moved in the database
    await server.knex('api_keys').where({ id: keys[2].id }).update({ expires_at: new Date(Date.now() - 60_000) });
    const dev = await developerOfKey(acme.viewer, keys[3].id);
    const data = await gqlData<{ node: DeveloperView }>(acme.viewer, `query($id: ID!) { node(id: $id) { ... on Developer { ${DEVELOPER_FIELDS} } } }`, { id: dev.id });
    expect(data.node.activeApiKeyCount).toBe(1);
  });

  test('deactivateDeveloper with active keys is FAILED_PRECONDITION naming the count, and writes nothing', async () => {
    const acme = await freshAccount();
    const a = await acme.createKey({ developer: { name: 'Mallory' } });
    await acme.createKey({ developer: { name: 'Mallory' }, channelId: acme.channels.ci.id });
    const revoked = await acme.createKey({ developer: { name: 'Mallory' } });
    await revokeKey(acme.admin, revoked.id);
    const dev = await developerOfKey(acme.viewer, a.id);

    for (const revokeApiKeys of [undefined, false]) {
      const res = await withoutWrites(server.knex, () => deactivate(acme.admin, dev.id, revokeApiKeys));
      const error = expectError(res, 'FAILED_PRECONDITION');
      expect(error.message).toMatch(/\b2 active API keys\b/);
    }
    const still = await gqlData<{ node: DeveloperView }>(acme.viewer, `query($id: ID!) { node(id: $id) { ... on Developer { ${DEVELOPER_FIELDS} } } }`, { id: dev.id });
    expect(still.node).toMatchObject({ active: true, activeApiKeyCount: 2 });
  });

  test('deactivateDeveloper with revokeApiKeys revokes each active key with one REVOKED event, then deactivates', async () => {
    const acme = await freshAccount();
    const a = await acme.createKey({ developer: { name: 'Trent' } });
    const b = await acme.createKey({ developer: { name: 'Trent' }, instanceId: acme.instances.snow.id });
    const earlier = await acme.createKey({ developer: { name: 'Trent' } });
    await revokeKey(acme.admin, earlier.id);
    const other = await acme.createKey({ developer: { name: 'Peggy' } });
    const dev = await developerOfKey(acme.viewer, a.id);
    const before = await eventsOf(acme.viewer, [a.id, b.id, earlier.id, other.id]);

    const res = await deactivate(acme.admin, dev.id, true);
    expect(res.errors).toBeUndefined();
    const payload = res.data?.deactivateDeveloper;
    expect(payload?.developer).toMatchObject({ id: dev.id, name: 'Trent', active: false, activeApiKeyCount: 0 });
    expect(payload?.revokedApiKeys.map((k) => k.id).sort()).toEqual([a.id, b.id].sort());
    expect(payload?.revokedApiKeys.every((k) => k.status === 'REVOKED' && k.version === 2)).toBe(true);

    const after = await eventsOf(acme.viewer, [a.id, b.id, earlier.id, other.id]);
    const added = after.filter((e) => !before.some((x) => x.id === e.id));
    expect(added.map((e) => [e.apiKeyId, e.type]).sort()).toEqual([[a.id, 'REVOKED'], [b.id, 'REVOKED']].sort());
    expect(added.every((e) => e.actor === `${acme.account}-admin`)).toBe(true);
    expect((await keyState(acme.viewer, other.id)).status).toBe('ACTIVE');
    expect((await keyState(acme.viewer, earlier.id)).version).toBe(2);
  });

  test('deactivateDeveloper revokes more keys than one chunk of work: every one, one event each, all in the payload', async () => {
    const acme = await freshAccount();
    const first = await acme.createKey({ developer: { name: 'Prolific' } });
    const template = (await server.knex('api_keys').where({ id: first.id }).first()) as Record<string, string>;
    await server.knex.raw(`
      insert into api_keys (id, account_id, name, hint, cloud, instance_id, channel_id, developer_id, expires_at, lifetime_seconds)
      select 'key_prolific_' || lpad(n::text, 5, '0'), ?, 'prolific ' || n, 'qck_x…x', ?, ?, ?, ?, ?, 3600 from generate_series(1, 2499) as n`,
    [acme.account, template.cloud, template.instance_id, template.channel_id, template.developer_id, template.expires_at]);
    const res = await deactivate(acme.admin, template.developer_id, true);
    expect(res.errors).toBeUndefined();
    const revoked = res.data?.deactivateDeveloper.revokedApiKeys ?? [];
    expect(revoked).toHaveLength(2500);
    expect(new Set(revoked.map((k) => k.id)).size).toBe(2500);
    expect(revoked.every((k) => k.status === 'REVOKED')).toBe(true);
    const events = await server.knex('api_key_events').where({ account_id: acme.account, type: 'REVOKED' }).countDistinct<{ n: number }[]>({ n: 'api_key_id' });
    expect(Number(events[0].n)).toBe(2500);
  });

  test('a deactivated developer gets no new key, by ID or by name, and nothing is written', async () => {
    const acme = await freshAccount();
    const ada = (await recordActivity(acme.admin, acme.instances.prod.id, 'Ada')).data?.recordDeveloperActivity.developer as DeveloperView;
    await deactivate(acme.admin, ada.id);
    const create = (developer: Record<string, string>) => server.gql(acme.admin,
      'mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret apiKey { id } } }',
      { input: { name: 'refused', instanceId: acme.instances.snow.id, channelId: acme.channels.ide.id, developer, newTeamNames: ['Fresh team'] } });
    expectError(await withoutWrites(server.knex, () => create({ id: ada.id })), 'FAILED_PRECONDITION', 'input.developer');
    expectError(await withoutWrites(server.knex, () => create({ name: 'ADA' })), 'FAILED_PRECONDITION', 'input.developer');
  });

  test('deactivateDeveloper with an unknown ID is NOT_FOUND and writes nothing', async () => {
    const acme = await freshAccount();
    expectError(await withoutWrites(server.knex, () => deactivate(acme.admin, 'dev_01ZZZZZZZZZZZZZZZZZZZZZZZZ', true)), 'NOT_FOUND', 'input.id');
  });
});

describe('node and viewer', () => {
  test('node fetches every type by its ID', async () => {
    const acme = await freshAccount();
    const key = await acme.createKey({ newTeamNames: ['Core'], developer: { name: 'Alice' } });
    const teamId = await teamIdByName(acme.viewer, 'Core');
    const developer = await developerOfKey(acme.viewer, key.id);
    const [created] = await eventsOf(acme.viewer, [key.id]);
    const query = `query($id: ID!) { node(id: $id) { __typename id
      ... on ApiKey { name } ... on Instance { name cloud } ... on Channel { name } ... on Team { name }
      ... on Developer { name } ... on ApiKeyEvent { type apiKeyId } } }`;
    const expected: [string, Record<string, unknown>][] = [
      [key.id, { __typename: 'ApiKey', id: key.id, name: key.name }],
      [acme.instances.prod.id, { __typename: 'Instance', id: acme.instances.prod.id, name: 'Prod org', cloud: 'SALESFORCE' }],
      [acme.channels.ci.id, { __typename: 'Channel', id: acme.channels.ci.id, name: 'CI' }],
      [teamId, { __typename: 'Team', id: teamId, name: 'Core' }],
      [developer.id, { __typename: 'Developer', id: developer.id, name: 'Alice' }],
      [created.id, { __typename: 'ApiKeyEvent', id: created.id, type: 'CREATED', apiKeyId: key.id }],
    ];
    for (const [id, node] of expected) {
      expect((await gqlData<{ node: unknown }>(acme.viewer, query, { id })).node).toEqual(node);
    }
    expect(new Set(expected.map(([id]) => id)).size).toBe(expected.length);
  });

  test('node is null for unknown, malformed and deleted IDs', async () => {
    const acme = await freshAccount();
    const key = await acme.createKey();
    await gqlData(acme.admin, 'mutation($id: ID!) { deleteApiKey(input: { id: $id }) { deletedApiKeyId } }', { id: key.id });
    for (const id of [key.id, 'key_01ZZZZZZZZZZZZZZZZZZZZZZZZ', 'team_nope', 'whatever', '', 'x_'.repeat(50)]) {
      const res = await server.gql<{ node: unknown }>(acme.viewer, 'query($id: ID!) { node(id: $id) { id } }', { id });
      expect(res.errors).toBeUndefined();
      expect(res.data?.node).toBeNull();
    }
  });

  test('viewer names the token\'s subject, account and roles', async () => {
    const token = await server.token({ account: 'catalog-viewer', roles: ['viewer', 'admin'], sub: 'alice@example.com' });
    const data = await gqlData<{ viewer: { subject: string; accountId: string; roles: string[] } }>(token, '{ viewer { subject accountId roles } }');
    expect(data.viewer).toEqual({ subject: 'alice@example.com', accountId: 'catalog-viewer', roles: ['viewer', 'admin'] });
  });
});

import { startTestServer, type TestServer } from '../helpers/server';
import {
  BULK_TEAMS, EVENTS, accountFactory, expectError, expectFailsWithoutWriting, keyApi, type ConnectionView, type EventView,
  type KeyView,
} from './support';

let server: TestServer;
// starting a server with its own database can take a while on a busy machine
beforeAll(async () => { server = await startTestServer(); }, 90_000);
afterAll(async () => { await server.stop(); });

const newAccount = accountFactory(() => server);
type Account = Awaited<ReturnType<typeof newAccount>>;

async function team(a: Account, name: string): Promise<string> {
  return (await server.ok<{ createTeam: { team: { id: string } } }>(a.admin,
    'mutation($name: String!) { createTeam(input: { name: $name }) { team { id } } }', { name })).createTeam.team.id;
}

/** An account with teams Core and Mobile and keys k1 (Core), k2 (no team), k3 (Core, Mobile; on ServiceNow). */
async function threeKeys() {
  const a = await newAccount();
  const core = await team(a, 'Core');
  const mobile = await team(a, 'Mobile');
  const make = async (name: string, teamIds: string[], instanceId = a.instances.prod.id) =>
    (await a.api.create({ name, instanceId, channelId: a.channels.ide.id, developer: { name: 'Alice' }, teamIds })).apiKey;
  const k1 = await make('k1', [core]);
  const k2 = await make('k2', []);
  const k3 = await make('k3', [core, mobile], a.instances.snow.id);
  return { a, core, mobile, k1, k2, k3 };
}

const teamNames = (k: KeyView | null) => (k?.teams ?? []).map((t) => t.name);
const bulkWith = (token: string, input: Record<string, unknown>) => server.gql(token, BULK_TEAMS, { input });

describe('updateApiKeyTeams', () => {
  test('adds a team to the selected keys; only keys whose team set changed are bumped and get an event', async () => {
    const { a, mobile, k1, k2, k3 } = await threeKeys();
    const result = await a.api.bulkTeams({ apiKeyIds: [k1.id, k2.id, k3.id], addTeamIds: [mobile] });
    expect(result.updatedCount).toBe(2);
    expect(result.apiKeys.map((k) => k.name).sort()).toEqual(['k1', 'k2']);
    expect(teamNames(await a.api.get(k1.id))).toEqual(['Core', 'Mobile']);
    expect(teamNames(await a.api.get(k2.id))).toEqual(['Mobile']);
    expect((await a.api.get(k1.id))?.version).toBe(2);
    expect((await a.api.get(k2.id))?.version).toBe(2);
    expect(await a.api.get(k3.id)).toEqual(k3);
    expect((await a.api.eventsOf(k1.id)).map((e) => e.type)).toEqual(['TEAMS_CHANGED', 'CREATED']);
    expect((await a.api.eventsOf(k3.id)).map((e) => e.type)).toEqual(['CREATED']);
  });

  test('records the change as teams {from, to} by sorted names, with the actor', async () => {
    const { a, mobile, k1 } = await threeKeys();
    await a.api.bulkTeams({ apiKeyIds: [k1.id], addTeamIds: [mobile] });
    const [last] = await a.api.eventsOf(k1.id);
    expect(last).toMatchObject({ type: 'TEAMS_CHANGED', actor: `${a.account}-admin`, apiKeyName: 'k1', changes: { teams: { from: ['Core'], to: ['Core', 'Mobile'] } } });
  });

  test('removes a team from the keys that have it', async () => {
    const { a, core, mobile, k1, k2, k3 } = await threeKeys();
    const result = await a.api.bulkTeams({ apiKeyIds: [k1.id, k2.id, k3.id], removeTeamIds: [core] });
    expect(result.updatedCount).toBe(2);
    expect(teamNames(await a.api.get(k1.id))).toEqual([]);
    expect(teamNames(await a.api.get(k3.id))).toEqual(['Mobile']);
    expect(await a.api.get(k2.id)).toEqual(k2);
    const [last] = await a.api.eventsOf(k3.id);
    expect(last.changes).toEqual({ teams: { from: ['Core', 'Mobile'], to: ['Mobile'] }, teamIds: { from: [core, mobile], to: [mobile] } });
  });

  test('adds and removes in one call: one event and one version bump per key', async () => {
    const { a, core, mobile, k1 } = await threeKeys();
    const result = await a.api.bulkTeams({ apiKeyIds: [k1.id], addTeamIds: [mobile], removeTeamIds: [core] });
    expect(result.apiKeys.map((k) => [k.name, k.version, teamNames(k)])).toEqual([['k1', 2, ['Mobile']]]);
    const events = await a.api.eventsOf(k1.id);
    expect(events.map((e) => e.type)).toEqual(['TEAMS_CHANGED', 'CREATED']);
    expect(events[0].changes).toEqual({ teams: { from: ['Core'], to: ['Mobile'] }, teamIds: { from: [core], to: [mobile] } });
  });

  test('addNewTeamNames creates a new team and reuses an existing one case-insensitively', async () => {
    const { a, core, k2 } = await threeKeys();
    const result = await a.api.bulkTeams({ apiKeyIds: [k2.id], addNewTeamNames: ['CORE', 'Platform'] });
    const teams = result.apiKeys[0].teams;
    expect(teams.map((t) => t.name)).toEqual(['Core', 'Platform']);
    expect(teams[0].id).toBe(core);
    const all = await server.ok<{ teams: { totalCount: number } }>(a.viewer, '{ teams { totalCount } }');
    expect(all.teams.totalCount).toBe(3);
  });

  test('selects keys by filter, leaving keys outside it untouched', async () => {
    const { a, mobile, k1, k2, k3 } = await threeKeys();
    const result = await a.api.bulkTeams({ filter: { instanceIds: [a.instances.prod.id] }, addTeamIds: [mobile] });
    expect(result.updatedCount).toBe(2);
    expect(result.apiKeys.map((k) => k.id).sort()).toEqual([k1.id, k2.id].sort());
    expect(await a.api.get(k3.id)).toEqual(k3);
  });

  test('a filter by team selects the keys in it', async () => {
    const { a, core, mobile, k1, k2, k3 } = await threeKeys();
    const result = await a.api.bulkTeams({ filter: { teamIds: [mobile] }, removeTeamIds: [core] });
    expect(result.apiKeys.map((k) => k.id)).toEqual([k3.id]);
    expect(await a.api.get(k1.id)).toEqual(k1);
    expect(await a.api.get(k2.id)).toEqual(k2);
  });

  test('a filter selects only live keys of the token account', async () => {
    const { a, k1, k2 } = await threeKeys();
    const b = await threeKeys();
    await a.api.remove(k2.id);
    const result = await a.api.bulkTeams({ filter: {}, addNewTeamNames: ['Everyone'] });
    expect(result.updatedCount).toBe(2);
    expect(result.apiKeys.map((k) => k.id)).not.toContain(k2.id);
    expect(teamNames(await a.api.get(k1.id))).toEqual(['Core', 'Everyone']);
    expect(await b.a.api.get(b.k1.id)).toEqual(b.k1);
  });

  test('when nothing changes, nothing is written', async () => {
    const { a, core, k1, k3 } = await threeKeys();
    const before = await a.api.events();
    const result = await a.api.bulkTeams({ apiKeyIds: [k1.id, k3.id], addTeamIds: [core] });
    expect(result).toEqual({ updatedCount: 0, apiKeys: [] });
    expect((await a.api.events()).totalCount).toBe(before.totalCount);
    expect(await a.api.get(k1.id)).toEqual(k1);
  });

  test('a filter that matches nothing changes nothing', async () => {
    const { a, mobile } = await threeKeys();
    const result = await a.api.bulkTeams({ filter: { search: 'no such key' }, addTeamIds: [mobile] });
    expect(result.updatedCount).toBe(0);
  });

  describe('invalid input writes nothing', () => {
    let s: Awaited<ReturnType<typeof threeKeys>>;
    let other: Awaited<ReturnType<typeof threeKeys>>;
    beforeAll(async () => {
      s = await threeKeys();
      other = await threeKeys();
    });

    const cases: { label: string; input: () => Record<string, unknown>; code: string; field: string }[] = [
      { label: 'both apiKeyIds and filter', input: () => ({ apiKeyIds: [s.k1.id], filter: {}, addTeamIds: [s.mobile] }), code: 'BAD_USER_INPUT', field: 'input.apiKeyIds' },
      { label: 'neither apiKeyIds nor filter', input: () => ({ addTeamIds: [s.mobile] }), code: 'BAD_USER_INPUT', field: 'input.apiKeyIds' },
      { label: 'no team to add or remove', input: () => ({ apiKeyIds: [s.k1.id] }), code: 'BAD_USER_INPUT', field: 'input.addTeamIds' },
      { label: 'a team both added and removed', input: () => ({ apiKeyIds: [s.k1.id], addTeamIds: [s.mobile], removeTeamIds: [s.mobile] }), code: 'BAD_USER_INPUT', field: 'input.removeTeamIds' },
      { label: 'an empty new team name', input: () => ({ apiKeyIds: [s.k1.id], addNewTeamNames: [''] }), code: 'BAD_USER_INPUT', field: 'input.addNewTeamNames.0' },
      {
        label: 'a key of another account among the selected',
        input: () => ({ apiKeyIds: [s.k1.id, s.k2.id, other.k1.id], addTeamIds: [s.mobile], addNewTeamNames: ['Brand New'] }),
        code: 'NOT_FOUND', field: 'input.apiKeyIds',
      },
      { label: 'an unknown key among the selected', input: () => ({ apiKeyIds: [s.k2.id, 'key_unknown'], addNewTeamNames: ['Brand New'] }), code: 'NOT_FOUND', field: 'input.apiKeyIds' },
      { label: 'a team of another account to add', input: () => ({ apiKeyIds: [s.k2.id], addTeamIds: [other.mobile], addNewTeamNames: ['Brand New'] }), code: 'NOT_FOUND', field: 'input.addTeamIds' },
      { label: 'a team of another account to remove', input: () => ({ apiKeyIds: [s.k1.id], removeTeamIds: [other.core], addNewTeamNames: ['Brand New'] }), code: 'NOT_FOUND', field: 'input.removeTeamIds' },
      { label: 'an invalid filter', input: () => ({ filter: { search: 'x'.repeat(101) }, addTeamIds: [s.mobile] }), code: 'BAD_USER_INPUT', field: 'input.filter.search' },
    ];

    test.each(cases)('$label is $code on $field', async ({ input, code, field }) => {
      await expectFailsWithoutWriting(server, () => bulkWith(s.a.admin, input()), code, field);
    });

    test('a deleted key among the selected is NOT_FOUND', async () => {
      const t = await threeKeys();
      await t.a.api.remove(t.k2.id);
      await expectFailsWithoutWriting(server, () => bulkWith(t.a.admin, { apiKeyIds: [t.k1.id, t.k2.id], addTeamIds: [t.mobile] }), 'NOT_FOUND', 'input.apiKeyIds');
    });

    test('a viewer is FORBIDDEN', async () => {
      await expectFailsWithoutWriting(server, () => bulkWith(s.a.viewer, { apiKeyIds: [s.k1.id], addTeamIds: [s.mobile] }), 'FORBIDDEN');
    });
  });
});

describe('history', () => {
  const HISTORY = `query($id: ID!, $first: Int, $after: String) { apiKey(id: $id) { id
    history(first: $first, after: $after) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id apiKeyId apiKeyName type actor at changes } } } } }`;
  const historyOf = async (token: string, id: string, first?: number, after?: string | null) =>
    (await server.ok<{ apiKey: { history: ConnectionView<EventView> } }>(token, HISTORY, { id, first, after })).apiKey.history;

  /** One key through every kind of event, by two admins. */
  async function busyKey() {
    const a = await newAccount();
    const bobToken = await server.token({ account: a.account, roles: ['admin'], sub: 'bob@example.com' });
    const bob = keyApi(server, bobToken);
    const { apiKey } = await a.api.create({ name: 'busy', instanceId: a.instances.prod.id, channelId: a.channels.ide.id, developer: { name: 'Alice' } });
    await bob.update({ id: apiKey.id, name: 'busier' });
    await a.api.bulkTeams({ apiKeyIds: [apiKey.id], addNewTeamNames: ['Core'] });
    await bob.renew({ id: apiKey.id });
    await a.api.revoke({ id: apiKey.id, reason: 'done' });
    const quiet = (await a.api.create({ name: 'quiet', instanceId: a.instances.prod.id, channelId: a.channels.ide.id, developer: { name: 'Alice' } })).apiKey;
    return { a, key: apiKey, quiet, adminSub: `${a.account}-admin` };
  }

  let busy: Awaited<ReturnType<typeof busyKey>>;
  beforeAll(async () => { busy = await busyKey(); }, 60_000);

  test('ApiKey.history lists every event of the key, newest first, with actor = token sub', async () => {
    const h = await historyOf(busy.a.viewer, busy.key.id);
    expect(h.totalCount).toBe(5);
    expect(h.edges.map((e) => [e.node.type, e.node.actor, e.node.apiKeyName])).toEqual([
      ['REVOKED', busy.adminSub, 'busier'],
      ['RENEWED', 'bob@example.com', 'busier'],
      ['TEAMS_CHANGED', busy.adminSub, 'busier'],
      ['UPDATED', 'bob@example.com', 'busier'],
      ['CREATED', busy.adminSub, 'busy'],
    ]);
    const at = h.edges.map((e) => Date.parse(e.node.at));
    expect([...at].sort((x, y) => y - x)).toEqual(at);
    expect(h.edges.every((e) => e.node.apiKeyId === busy.key.id)).toBe(true);
  });

  test('ApiKey.history pages with first/after without duplicates or gaps', async () => {
    const all = (await historyOf(busy.a.viewer, busy.key.id)).edges.map((e) => e.node.id);
    const seen: string[] = [];
    let after: string | null = null;
    for (let i = 0; i < 5; i++) {
      const page: ConnectionView<EventView> = await historyOf(busy.a.viewer, busy.key.id, 2, after);
      expect(page.totalCount).toBe(5);
      expect(page.pageInfo.hasPreviousPage).toBe(after !== null);
      seen.push(...page.edges.map((e) => e.node.id));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(seen).toEqual(all);
  });

  test('apiKeyEvents without a filter holds the account events only, newest first', async () => {
    const other = await newAccount();
    await other.api.create({ name: 'elsewhere', instanceId: other.instances.prod.id, channelId: other.channels.ide.id, developer: { name: 'Zed' } });
    const page = await busy.a.viewerApi.events();
    expect(page.totalCount).toBe(6);
    expect(page.edges.map((e) => e.node.apiKeyName)).toEqual(['quiet', 'busier', 'busier', 'busier', 'busier', 'busy']);
    expect(page.edges.map((e) => e.node.apiKeyName)).not.toContain('elsewhere');
  });

  test.each([
    { label: 'by key', filter: (b: typeof busy) => ({ apiKeyIds: [b.quiet.id] }), expected: ['CREATED'] },
    { label: 'by type', filter: () => ({ types: ['CREATED', 'RENEWED'] }), expected: ['CREATED', 'RENEWED', 'CREATED'] },
    { label: 'by actor', filter: () => ({ actor: 'bob@example.com' }), expected: ['RENEWED', 'UPDATED'] },
    { label: 'by key and type', filter: (b: typeof busy) => ({ apiKeyIds: [b.key.id], types: ['TEAMS_CHANGED'] }), expected: ['TEAMS_CHANGED'] },
    { label: 'by an actor who did nothing', filter: () => ({ actor: 'nobody' }), expected: [] },
    { label: 'by an unknown key', filter: () => ({ apiKeyIds: ['key_elsewhere'] }), expected: [] },
  ])('apiKeyEvents filters $label', async ({ filter, expected }) => {
    const page = await busy.a.viewerApi.events({ filter: filter(busy) });
    expect(page.edges.map((e) => e.node.type)).toEqual(expected);
    expect(page.totalCount).toBe(expected.length);
  });

  test('apiKeyEvents filters by time: from inclusive, to exclusive', async () => {
    const all = (await busy.a.viewerApi.events()).edges.map((e) => e.node);
    const times = all.map((e) => Date.parse(e.at));
    const from = new Date(times[4]).toISOString();
    const to = new Date(times[1]).toISOString();
    const expected = all.filter((e) => Date.parse(e.at) >= times[4] && Date.parse(e.at) < times[1]).map((e) => e.id);
    expect(expected.length).toBeGreaterThan(0);
    const page = await busy.a.viewerApi.events({ filter: { from, to } });
    expect(page.edges.map((e) => e.node.id)).toEqual(expected);
    expect(page.totalCount).toBe(expected.length);
    const since = await busy.a.viewerApi.events({ filter: { from: new Date(times[0] + 1).toISOString() } });
    expect(since.totalCount).toBe(0);
  });

  test('events carry the change: UPDATED names fields, REVOKED keeps the reason', async () => {
    const h = (await historyOf(busy.a.viewer, busy.key.id)).edges.map((e) => e.node);
    expect(h.find((e) => e.type === 'UPDATED')?.changes).toEqual({ name: { from: 'busy', to: 'busier' } });
    const coreId = (await busy.a.api.get(busy.key.id))?.teams.map((t) => t.id);
    expect(coreId).toHaveLength(1);
    expect(h.find((e) => e.type === 'TEAMS_CHANGED')?.changes).toEqual({ teams: { from: [], to: ['Core'] }, teamIds: { from: [], to: coreId } });
    expect(JSON.stringify(h.find((e) => e.type === 'REVOKED')?.changes)).toContain('done');
  });

  test('an event is a node readable by its ID', async () => {
    const [latest] = (await busy.a.viewerApi.events({ first: 1 })).edges;
    const data = await server.ok<{ node: { id: string; type: string } | null }>(busy.a.viewer,
      'query($id: ID!) { node(id: $id) { id ... on ApiKeyEvent { type } } }', { id: latest.node.id });
    expect(data.node).toEqual({ id: latest.node.id, type: latest.node.type });
  });

  test('apiKeyEvents pages with first/after, and first over 100 is BAD_USER_INPUT', async () => {
    const all = (await busy.a.viewerApi.events()).edges.map((e) => e.node.id);
    const first = await busy.a.viewerApi.events({ first: 4 });
    const second = await busy.a.viewerApi.events({ first: 4, after: first.pageInfo.endCursor });
    expect([...first.edges, ...second.edges].map((e) => e.node.id)).toEqual(all);
    expect(first.pageInfo.hasNextPage).toBe(true);
    expect(second.pageInfo.hasNextPage).toBe(false);
    expectError(await server.gql(busy.a.viewer, EVENTS, { first: 101 }), 'BAD_USER_INPUT', 'first');
    expectError(await server.gql(busy.a.viewer, EVENTS, { after: 'garbage' }), 'BAD_USER_INPUT', 'after');
  });

  test('history of a listing page is readable for each key', async () => {
    const data = await server.ok<{ apiKeys: { edges: { node: { name: string; history: { totalCount: number } } }[] } }>(busy.a.viewer,
      `{ apiKeys(orderBy: { field: NAME, direction: ASC }) { edges { node { name history(first: 1) { totalCount } } } } }`);
    expect(data.apiKeys.edges.map((e) => [e.node.name, e.node.history.totalCount])).toEqual([['busier', 5], ['quiet', 1]]);
  });
});

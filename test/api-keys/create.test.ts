import { crc32 } from 'node:zlib';
import { startTestServer, type TestServer } from '../helpers/server';
import {
  CREATE, DAY_MS, accountFactory, expectFailsWithoutWriting, inDays, rowCounts, sha256, type KeyView,
} from './support';

let server: TestServer;
// starting a server with its own database can take a while on a busy machine
beforeAll(async () => { server = await startTestServer(); }, 90_000);
afterAll(async () => { await server.stop(); });

const newAccount = accountFactory(() => server);
type Account = Awaited<ReturnType<typeof newAccount>>;

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
function base62Checksum(text: string): string {
  let value = crc32(text);
  let out = '';
  for (let i = 0; i < 6; i++) {
    out = BASE62[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

function keyInput(a: Account, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'ci pipeline', instanceId: a.instances.prod.id, channelId: a.channels.ide.id, developer: { name: 'Alice' }, ...overrides };
}

const createWith = (token: string, input: Record<string, unknown>) => server.gql<{ createApiKey: { apiKey: KeyView } }>(token, CREATE, { input });

interface DeveloperView { id: string; name: string; active: boolean; instances: { id: string }[] }
async function developerNamed(a: Account, name: string): Promise<DeveloperView[]> {
  const data = await server.ok<{ developers: { edges: { node: DeveloperView }[] } }>(a.viewer,
    'query($s: String) { developers(search: $s) { edges { node { id name active instances { id } } } } }', { s: name });
  return data.developers.edges.map((e) => e.node).filter((d) => d.name.toLowerCase() === name.toLowerCase());
}

async function createTeam(a: Account, name: string): Promise<string> {
  return (await server.ok<{ createTeam: { team: { id: string } } }>(a.admin,
    'mutation($name: String!) { createTeam(input: { name: $name }) { team { id } } }', { name })).createTeam.team.id;
}

async function deactivatedDeveloper(a: Account, name: string): Promise<string> {
  const dev = (await server.ok<{ recordDeveloperActivity: { developer: { id: string } } }>(a.admin,
    'mutation($i: ID!, $n: String!) { recordDeveloperActivity(input: { instanceId: $i, developerName: $n }) { developer { id } } }',
    { i: a.instances.prod.id, n: name })).recordDeveloperActivity.developer;
  await server.ok(a.admin, 'mutation($id: ID!) { deactivateDeveloper(input: { id: $id }) { developer { active } } }', { id: dev.id });
  return dev.id;
}

describe('createApiKey: the secret', () => {
  test('is qck_ followed by at least 32 base62 characters and a 6-character base62 CRC32 of what precedes it', async () => {
    const a = await newAccount();
    const { secret } = await a.api.create(keyInput(a));
    expect(secret).toMatch(/^qck_[0-9A-Za-z]{38,}$/);
    const head = secret.slice(0, -6);
    expect(secret.slice(-6)).toBe(base62Checksum(head));
  });

  test('differs for every key', async () => {
    const a = await newAccount();
    const secrets = new Set<string>();
    for (let i = 0; i < 5; i++) secrets.add((await a.api.create(keyInput(a, { name: `key ${i}` }))).secret);
    expect(secrets.size).toBe(5);
  });

  test('is stored only as its SHA-256 digest', async () => {
    const a = await newAccount();
    const { secret, apiKey } = await a.api.create(keyInput(a));
    const rows: { digest: Buffer; valid_until: Date | null }[] = await server.knex('api_key_secrets').where({ api_key_id: apiKey.id });
    expect(rows).toHaveLength(1);
    expect(Buffer.from(rows[0].digest).equals(sha256(secret))).toBe(true);
    expect(rows[0].valid_until).toBeNull();
  });

  test('is never readable again: the key read back holds no part of it beyond the hint', async () => {
    const a = await newAccount();
    const { secret, apiKey } = await a.api.create(keyInput(a));
    const text = JSON.stringify(await a.api.get(apiKey.id));
    expect(text).not.toContain(secret);
    expect(text).not.toContain(secret.slice(8, -4));
  });

  test('shows as a hint of its prefix and last four characters', async () => {
    const a = await newAccount();
    const { secret, apiKey } = await a.api.create(keyInput(a));
    expect(apiKey.hint).toBe(`${secret.slice(0, 8)}…${secret.slice(-4)}`);
    expect(apiKey.hint.startsWith('qck_')).toBe(true);
  });
});

describe('createApiKey: the key', () => {
  test('defaults to active, version 1, expiring 365 days from now, owned by the named developer', async () => {
    const a = await newAccount();
    const before = Date.now();
    const { apiKey } = await a.api.create(keyInput(a));
    const after = Date.now();
    expect(apiKey).toMatchObject({
      name: 'ci pipeline', cloud: 'SALESFORCE', status: 'ACTIVE', version: 1, renewedAt: null, revokedAt: null,
      revocationReason: null, lastUsedAt: null, teams: [],
      instance: { id: a.instances.prod.id, name: 'Prod org' }, channel: { id: a.channels.ide.id, name: 'IDE' },
      developer: { name: 'Alice' },
    });
    const expires = Date.parse(apiKey.expiresAt);
    expect(expires).toBeGreaterThanOrEqual(before + 365 * DAY_MS);
    expect(expires).toBeLessThanOrEqual(after + 365 * DAY_MS);
    expect(Date.parse(apiKey.createdAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(apiKey.updatedAt).toBe(apiKey.createdAt);
  });

  test('takes the name trimmed and an explicit expiry', async () => {
    const a = await newAccount();
    const expiresAt = inDays(30);
    const { apiKey } = await a.api.create(keyInput(a, { name: '  spaced name  ', expiresAt }));
    expect(apiKey.name).toBe('spaced name');
    expect(apiKey.expiresAt).toBe(expiresAt);
  });

  test('accepts an expiry just under three years ahead', async () => {
    const a = await newAccount();
    const max = new Date();
    max.setUTCFullYear(max.getUTCFullYear() + 3);
    const expiresAt = new Date(max.getTime() - 60_000).toISOString();
    const { apiKey } = await a.api.create(keyInput(a, { expiresAt }));
    expect(apiKey.expiresAt).toBe(expiresAt);
  });

  test('takes its cloud from the instance', async () => {
    const a = await newAccount();
    const { apiKey } = await a.api.create(keyInput(a, { instanceId: a.instances.snow.id }));
    expect(apiKey.cloud).toBe('SERVICENOW');
  });

  test('accepts a cloud equal to the instance cloud', async () => {
    const a = await newAccount();
    const { apiKey } = await a.api.create(keyInput(a, { cloud: 'SALESFORCE' }));
    expect(apiKey.cloud).toBe('SALESFORCE');
  });

  test('records one CREATED event with the token subject as actor', async () => {
    const a = await newAccount();
    const { apiKey } = await a.api.create(keyInput(a));
    const events = await a.api.eventsOf(apiKey.id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ apiKeyId: apiKey.id, apiKeyName: 'ci pipeline', type: 'CREATED', actor: `${a.account}-admin` });
  });

  test('the CREATED event has the shape of every event: each field from null, relations by ID and by name', async () => {
    const a = await newAccount();
    const { apiKey } = await a.api.create(keyInput(a, { newTeamNames: ['Web', 'Core'] }));
    const [created] = await a.api.eventsOf(apiKey.id);
    expect(created.changes).toEqual({
      name: { from: null, to: 'ci pipeline' },
      cloud: { from: null, to: 'SALESFORCE' },
      instanceId: { from: null, to: a.instances.prod.id }, instance: { from: null, to: 'Prod org' },
      channelId: { from: null, to: a.channels.ide.id }, channel: { from: null, to: 'IDE' },
      developerId: { from: null, to: apiKey.developer.id }, developer: { from: null, to: 'Alice' },
      teamIds: { from: [], to: apiKey.teams.map((t) => t.id).sort() }, teams: { from: [], to: ['Core', 'Web'] },
      expiresAt: { from: null, to: apiKey.expiresAt },
      status: { from: null, to: 'ACTIVE' },
    });
  });

  test('appears in the listing of its account only', async () => {
    const a = await newAccount();
    const b = await newAccount();
    const { apiKey } = await a.api.create(keyInput(a));
    expect((await a.viewerApi.list()).edges.map((e) => e.node.id)).toEqual([apiKey.id]);
    expect((await b.viewerApi.list()).totalCount).toBe(0);
    expect(await b.viewerApi.get(apiKey.id)).toBeNull();
  });
});

describe('createApiKey: the developer', () => {
  test('given by a new name is created and linked to the key instance', async () => {
    const a = await newAccount();
    const { apiKey } = await a.api.create(keyInput(a, { developer: { name: 'Grace Hopper' } }));
    const [dev, ...others] = await developerNamed(a, 'Grace Hopper');
    expect(others).toEqual([]);
    expect(dev).toEqual({ id: apiKey.developer.id, name: 'Grace Hopper', active: true, instances: [{ id: a.instances.prod.id }] });
  });

  test('given by name reuses the developer of that name case-insensitively and links the new instance', async () => {
    const a = await newAccount();
    const first = await a.api.create(keyInput(a, { developer: { name: 'Grace Hopper' } }));
    const developersBefore = (await rowCounts(server)).developers;
    const second = await a.api.create(keyInput(a, { name: 'other', instanceId: a.instances.snow.id, developer: { name: 'grace HOPPER' } }));
    expect(second.apiKey.developer).toEqual(first.apiKey.developer);
    expect((await rowCounts(server)).developers).toBe(developersBefore);
    const [dev] = await developerNamed(a, 'Grace Hopper');
    expect(dev.name).toBe('Grace Hopper');
    expect(dev.instances.map((i) => i.id).sort()).toEqual([a.instances.prod.id, a.instances.snow.id].sort());
  });

  test('given by id is used and linked to the key instance', async () => {
    const a = await newAccount();
    const first = await a.api.create(keyInput(a, { developer: { name: 'Linus' } }));
    const second = await a.api.create(keyInput(a, { name: 'snow', instanceId: a.instances.snow.id, developer: { id: first.apiKey.developer.id } }));
    expect(second.apiKey.developer).toEqual({ id: first.apiKey.developer.id, name: 'Linus' });
    const [dev] = await developerNamed(a, 'Linus');
    expect(dev.instances).toHaveLength(2);
  });

  test('of the same name in another account is another developer', async () => {
    const a = await newAccount();
    const b = await newAccount();
    const ka = await a.api.create(keyInput(a, { developer: { name: 'Alice' } }));
    const kb = await b.api.create(keyInput(b, { developer: { name: 'Alice' } }));
    expect(kb.apiKey.developer.id).not.toBe(ka.apiKey.developer.id);
  });

  test('who is deactivated gets no new key (FAILED_PRECONDITION), by name or by id', async () => {
    const a = await newAccount();
    const id = await deactivatedDeveloper(a, 'Former');
    await expectFailsWithoutWriting(server, () => createWith(a.admin, keyInput(a, { developer: { name: 'FORMER' } })), 'FAILED_PRECONDITION', 'input.developer');
    await expectFailsWithoutWriting(server, () => createWith(a.admin, keyInput(a, { developer: { id } })), 'FAILED_PRECONDITION', 'input.developer');
  });
});

describe('createApiKey: teams', () => {
  test('newTeamNames creates teams that do not exist', async () => {
    const a = await newAccount();
    const teamsBefore = (await rowCounts(server)).teams;
    const { apiKey } = await a.api.create(keyInput(a, { newTeamNames: ['Mobile', 'Web'] }));
    expect(apiKey.teams.map((t) => t.name)).toEqual(['Mobile', 'Web']);
    expect((await rowCounts(server)).teams).toBe(teamsBefore + 2);
  });

  test('newTeamNames reuses an existing team case-insensitively', async () => {
    const a = await newAccount();
    const core = await createTeam(a, 'Core');
    const teamsBefore = (await rowCounts(server)).teams;
    const { apiKey } = await a.api.create(keyInput(a, { newTeamNames: ['core', 'CORE'] }));
    expect(apiKey.teams).toEqual([{ id: core, name: 'Core' }]);
    expect((await rowCounts(server)).teams).toBe(teamsBefore);
  });

  test('teamIds puts the key in existing teams, together with newTeamNames', async () => {
    const a = await newAccount();
    const core = await createTeam(a, 'Core');
    const { apiKey } = await a.api.create(keyInput(a, { teamIds: [core], newTeamNames: ['Alpha'] }));
    expect(apiKey.teams.map((t) => t.name)).toEqual(['Alpha', 'Core']);
    expect(apiKey.teams.find((t) => t.name === 'Core')?.id).toBe(core);
  });

  test('newTeamNames of the same name in another account creates a team of this account', async () => {
    const a = await newAccount();
    const b = await newAccount();
    const bTeam = await createTeam(b, 'Shared');
    const { apiKey } = await a.api.create(keyInput(a, { newTeamNames: ['Shared'] }));
    expect(apiKey.teams).toHaveLength(1);
    expect(apiKey.teams[0].id).not.toBe(bTeam);
  });
});

describe('createApiKey: names', () => {
  test('a duplicate name on the same instance, in any case, is CONFLICT on input.name', async () => {
    const a = await newAccount();
    await a.api.create(keyInput(a, { name: 'Deploy' }));
    await expectFailsWithoutWriting(server,
      () => createWith(a.admin, keyInput(a, { name: 'dEPLOY', developer: { name: 'Someone New' }, newTeamNames: ['Brand New'] })),
      'CONFLICT', 'input.name');
  });

  test('the same name on another instance is allowed', async () => {
    const a = await newAccount();
    await a.api.create(keyInput(a, { name: 'Deploy' }));
    const { apiKey } = await a.api.create(keyInput(a, { name: 'Deploy', instanceId: a.instances.snow.id }));
    expect(apiKey.name).toBe('Deploy');
  });

  test('the same name in another account is allowed', async () => {
    const a = await newAccount();
    const b = await newAccount();
    await a.api.create(keyInput(a, { name: 'Deploy' }));
    expect((await b.api.create(keyInput(b, { name: 'Deploy' }))).apiKey.name).toBe('Deploy');
  });

  test('a name is free again once its key is deleted', async () => {
    const a = await newAccount();
    const first = await a.api.create(keyInput(a, { name: 'Deploy' }));
    await a.api.remove(first.apiKey.id);
    const second = await a.api.create(keyInput(a, { name: 'deploy' }));
    expect(second.apiKey.id).not.toBe(first.apiKey.id);
  });

  test('a name of a revoked key stays taken', async () => {
    const a = await newAccount();
    const first = await a.api.create(keyInput(a, { name: 'Deploy' }));
    await a.api.revoke({ id: first.apiKey.id });
    await expectFailsWithoutWriting(server, () => createWith(a.admin, keyInput(a, { name: 'Deploy' })), 'CONFLICT', 'input.name');
  });
});

describe('createApiKey: invalid input writes nothing', () => {
  let a: Account;
  let other: Account;
  beforeAll(async () => {
    a = await newAccount();
    other = await newAccount();
    await other.api.create(keyInput(other, { name: 'theirs' }));
  });

  const threeYearsAndADay = () => {
    const d = new Date();
    d.setUTCFullYear(d.getUTCFullYear() + 3);
    return new Date(d.getTime() + DAY_MS).toISOString();
  };

  const cases: { label: string; overrides: () => Record<string, unknown>; code: string; field: string }[] = ([
    ['an expiry in the past', () => ({ expiresAt: new Date(Date.now() - 60_000).toISOString() }), 'BAD_USER_INPUT', 'input.expiresAt'],
    ['an expiry of now', () => ({ expiresAt: new Date().toISOString() }), 'BAD_USER_INPUT', 'input.expiresAt'],
    ['an expiry more than three years ahead', () => ({ expiresAt: threeYearsAndADay() }), 'BAD_USER_INPUT', 'input.expiresAt'],
    ['an empty name', () => ({ name: '' }), 'BAD_USER_INPUT', 'input.name'],
    ['a blank name', () => ({ name: '   ' }), 'BAD_USER_INPUT', 'input.name'],
    ['a name over 100 characters', () => ({ name: 'x'.repeat(101) }), 'BAD_USER_INPUT', 'input.name'],
    ['a name with a control character', () => ({ name: 'bad\nname' }), 'BAD_USER_INPUT', 'input.name'],
    ['a cloud other than the instance cloud', () => ({ cloud: 'M365' }), 'BAD_USER_INPUT', 'input.cloud'],
    ['a channel not available on the instance', () => ({ instanceId: a.instances.snow.id, channelId: a.channels.ci.id }), 'BAD_USER_INPUT', 'input.channelId'],
    ['an instance of another account', () => ({ instanceId: other.instances.prod.id }), 'NOT_FOUND', 'input.instanceId'],
    ['an unknown instance', () => ({ instanceId: 'ins_00000000000000000000000000' }), 'NOT_FOUND', 'input.instanceId'],
    ['a channel of another account', () => ({ channelId: other.channels.ide.id }), 'NOT_FOUND', 'input.channelId'],
    ['an unknown developer id', () => ({ developer: { id: 'dev_unknown' } }), 'NOT_FOUND', 'input.developer.id'],
    ['both a developer id and name', () => ({ developer: { id: 'dev_x', name: 'Alice' } }), 'BAD_USER_INPUT', 'input.developer'],
    ['neither a developer id nor name', () => ({ developer: {} }), 'BAD_USER_INPUT', 'input.developer'],
    ['an empty developer name', () => ({ developer: { name: ' ' } }), 'BAD_USER_INPUT', 'input.developer.name'],
    ['an empty new team name', () => ({ newTeamNames: ['Fine', ''] }), 'BAD_USER_INPUT', 'input.newTeamNames.1'],
    ['an unknown team id', () => ({ teamIds: ['team_unknown'], newTeamNames: ['Fresh Team'] }), 'NOT_FOUND', 'input.teamIds'],
  ] as [string, () => Record<string, unknown>, string, string][]).map(([label, overrides, code, field]) => ({ label, overrides, code, field }));

  test.each(cases)('$label is $code on $field', async ({ overrides, code, field }) => {
    await expectFailsWithoutWriting(server,
      () => createWith(a.admin, keyInput(a, { developer: { name: 'Brand New Developer' }, newTeamNames: ['Brand New Team'], ...overrides() })),
      code, field);
  });

  test('a developer id of another account is NOT_FOUND on input.developer.id', async () => {
    const theirs = (await other.viewerApi.list()).edges[0].node.developer.id;
    await expectFailsWithoutWriting(server, () => createWith(a.admin, keyInput(a, { developer: { id: theirs } })), 'NOT_FOUND', 'input.developer.id');
  });

  test('a team id of another account is NOT_FOUND on input.teamIds', async () => {
    const theirs = await createTeam(other, 'Their team');
    await expectFailsWithoutWriting(server, () => createWith(a.admin, keyInput(a, { teamIds: [theirs] })), 'NOT_FOUND', 'input.teamIds');
  });

  test('a viewer token is FORBIDDEN', async () => {
    await expectFailsWithoutWriting(server, () => createWith(a.viewer, keyInput(a)), 'FORBIDDEN');
  });

  test('a verifier token is FORBIDDEN', async () => {
    await expectFailsWithoutWriting(server, () => createWith(a.verifier, keyInput(a)), 'FORBIDDEN');
  });

  test('no token is UNAUTHENTICATED with HTTP 401', async () => {
    const res = await expectFailsWithoutWriting(server, () => server.gql(null, CREATE, { input: keyInput(a) }), 'UNAUTHENTICATED');
    expect(res.status).toBe(401);
  });
});

import { startTestServer, type TestServer } from '../helpers/server';
import {
  CREATE as CREATE_KEY, DAY_MS, DELETE, RENEW, REVOKE, UPDATE, accountFactory, expectError, expectFailsWithoutWriting, expireInDatabase, inDays, sha256,
  type KeyView,
} from './support';

let server: TestServer;
// starting a server with its own database can take a while on a busy machine
beforeAll(async () => { server = await startTestServer(); }, 90_000);
afterAll(async () => { await server.stop(); });

const newAccount = accountFactory(() => server);
type Account = Awaited<ReturnType<typeof newAccount>>;

/** An account with one key 'Deploy' on Prod org (IDE), developer Alice, team Core. */
async function withKey(overrides: Record<string, unknown> = {}): Promise<{ a: Account; key: KeyView; secret: string }> {
  const a = await newAccount();
  const { apiKey, secret } = await a.api.create({
    name: 'Deploy', instanceId: a.instances.prod.id, channelId: a.channels.ide.id, developer: { name: 'Alice' },
    newTeamNames: ['Core'], expiresAt: inDays(30), ...overrides,
  });
  return { a, key: apiKey, secret };
}

const updateWith = (token: string, input: Record<string, unknown>) => server.gql(token, UPDATE, { input });
const renewWith = (token: string, input: Record<string, unknown>) => server.gql(token, RENEW, { input });

async function digestsOf(keyId: string): Promise<{ digest: Buffer; valid_until: Date | null }[]> {
  return server.knex('api_key_secrets').where({ api_key_id: keyId }).select('digest', 'valid_until').orderBy('created_at');
}

describe('updateApiKey', () => {
  test('search follows a rename at once, and forgets a deleted key', async () => {
    const { a, key } = await withKey({ name: 'Needle build' });
    const found = async (search: string) => (await a.api.list({ filter: { search } })).edges.map((e) => e.node.id);
    expect(await found('needle')).toEqual([key.id]);
    await a.api.update({ id: key.id, name: 'Haystack build' });
    expect(await found('needle')).toEqual([]);
    expect(await found('HAYSTACK')).toEqual([key.id]);
    await a.api.remove(key.id);
    expect(await found('haystack')).toEqual([]);
  });

  test('renames the key: version +1, updatedAt moves, one UPDATED event with name {from, to}', async () => {
    const { a, key } = await withKey();
    const updated = await a.api.update({ id: key.id, name: 'Deploy prod' });
    expect(updated).toMatchObject({ id: key.id, name: 'Deploy prod', version: 2 });
    expect(Date.parse(updated.updatedAt)).toBeGreaterThanOrEqual(Date.parse(key.updatedAt));
    expect(updated.createdAt).toBe(key.createdAt);
    const [last, ...rest] = await a.api.eventsOf(key.id);
    expect(rest.map((e) => e.type)).toEqual(['CREATED']);
    expect(last).toMatchObject({ type: 'UPDATED', actor: `${a.account}-admin`, apiKeyName: 'Deploy prod', changes: { name: { from: 'Deploy', to: 'Deploy prod' } } });
  });

  test('changing only the case of the name is allowed on the same instance', async () => {
    const { a, key } = await withKey();
    expect((await a.api.update({ id: key.id, name: 'DEPLOY' })).name).toBe('DEPLOY');
  });

  test('changes the expiry, recorded as ISO timestamps', async () => {
    const { a, key } = await withKey();
    const expiresAt = inDays(90);
    const updated = await a.api.update({ id: key.id, expiresAt });
    expect(updated).toMatchObject({ expiresAt, version: 2 });
    const [last] = await a.api.eventsOf(key.id);
    expect(last.changes).toEqual({ expiresAt: { from: key.expiresAt, to: expiresAt } });
  });

  test('changes the channel to another channel of the instance', async () => {
    const { a, key } = await withKey();
    const updated = await a.api.update({ id: key.id, channelId: a.channels.ci.id });
    expect(updated.channel).toEqual({ id: a.channels.ci.id, name: 'CI' });
    const [last] = await a.api.eventsOf(key.id);
    // the ID and, beside it, the name
    expect(last.changes).toEqual({ channelId: { from: a.channels.ide.id, to: a.channels.ci.id }, channel: { from: 'IDE', to: 'CI' } });
  });

  test('changes the developer by name, creating and linking the developer', async () => {
    const { a, key } = await withKey();
    const updated = await a.api.update({ id: key.id, developer: { name: 'Bob' } });
    expect(updated.developer.name).toBe('Bob');
    const [last] = await a.api.eventsOf(key.id);
    expect(last.changes).toEqual({ developerId: { from: key.developer.id, to: updated.developer.id }, developer: { from: 'Alice', to: 'Bob' } });
    const dev = await server.ok<{ node: { instances: { id: string }[] } }>(a.viewer,
      'query($id: ID!) { node(id: $id) { ... on Developer { instances { id } } } }', { id: updated.developer.id });
    expect(dev.node.instances).toEqual([{ id: a.instances.prod.id }]);
  });

  test('replaces the team set, recorded by sorted team names', async () => {
    const { a, key } = await withKey();
    const other = await a.api.create({ name: 'other', instanceId: a.instances.prod.id, channelId: a.channels.ide.id, developer: { name: 'Alice' }, newTeamNames: ['Web', 'Mobile'] });
    const teamIds = other.apiKey.teams.map((t) => t.id);
    const updated = await a.api.update({ id: key.id, teamIds });
    expect(updated.teams.map((t) => t.name)).toEqual(['Mobile', 'Web']);
    const [last] = await a.api.eventsOf(key.id);
    const core = key.teams.map((t) => t.id);
    expect(last.changes).toEqual({ teamIds: { from: core, to: [...teamIds].sort() }, teams: { from: ['Core'], to: ['Mobile', 'Web'] } });
    expect((await a.api.update({ id: key.id, teamIds: [] })).teams).toEqual([]);
  });

  test('moves the key to another instance that has its channel: cloud follows, developer is linked there', async () => {
    const { a, key } = await withKey();
    const updated = await a.api.update({ id: key.id, instanceId: a.instances.snow.id });
    expect(updated).toMatchObject({ instance: { id: a.instances.snow.id }, cloud: 'SERVICENOW', channel: { id: a.channels.ide.id }, version: 2 });
    const [last] = await a.api.eventsOf(key.id);
    expect(last.changes).toEqual({
      instanceId: { from: a.instances.prod.id, to: a.instances.snow.id }, instance: { from: 'Prod org', to: 'ServiceNow dev' },
      cloud: { from: 'SALESFORCE', to: 'SERVICENOW' },
    });
    const dev = await server.ok<{ node: { instances: { id: string }[] } }>(a.viewer,
      'query($id: ID!) { node(id: $id) { ... on Developer { instances { id } } } }', { id: key.developer.id });
    expect(dev.node.instances.map((i) => i.id).sort()).toEqual([a.instances.prod.id, a.instances.snow.id].sort());
  });

  test('moves a key and its channel together when the old channel is not on the new instance', async () => {
    const { a, key } = await withKey();
    const ci = await a.api.update({ id: key.id, channelId: a.channels.ci.id });
    const moved = await a.api.update({ id: ci.id, instanceId: a.instances.snow.id, channelId: a.channels.ide.id });
    expect(moved).toMatchObject({ instance: { id: a.instances.snow.id }, channel: { id: a.channels.ide.id }, version: 3 });
  });

  test('moving to an instance without the key channel is BAD_USER_INPUT on input.instanceId, nothing written', async () => {
    const { a, key } = await withKey();
    await a.api.update({ id: key.id, channelId: a.channels.ci.id });
    await expectFailsWithoutWriting(server, () => updateWith(a.admin, { id: key.id, instanceId: a.instances.snow.id }), 'BAD_USER_INPUT', 'input.instanceId');
  });

  test('a channel not on the instance is BAD_USER_INPUT on input.channelId, nothing written', async () => {
    const { a, key } = await withKey();
    await expectFailsWithoutWriting(server,
      () => updateWith(a.admin, { id: key.id, instanceId: a.instances.snow.id, channelId: a.channels.ci.id }), 'BAD_USER_INPUT', 'input.channelId');
  });

  test('moving onto an instance where the name is taken is CONFLICT, nothing written', async () => {
    const { a, key } = await withKey();
    await a.api.create({ name: 'deploy', instanceId: a.instances.snow.id, channelId: a.channels.ide.id, developer: { name: 'Bob' } });
    await expectFailsWithoutWriting(server, () => updateWith(a.admin, { id: key.id, instanceId: a.instances.snow.id }), 'CONFLICT', 'input.name');
  });

  test('a name taken on the instance is CONFLICT, nothing written', async () => {
    const { a, key } = await withKey();
    await a.api.create({ name: 'Other', instanceId: a.instances.prod.id, channelId: a.channels.ide.id, developer: { name: 'Alice' } });
    await expectFailsWithoutWriting(server, () => updateWith(a.admin, { id: key.id, name: 'OTHER' }), 'CONFLICT', 'input.name');
  });

  test('several fields at once: one version bump and one event holding every change', async () => {
    const { a, key } = await withKey();
    const expiresAt = inDays(60);
    const updated = await a.api.update({ id: key.id, name: 'Renamed', expiresAt, channelId: a.channels.ci.id });
    expect(updated.version).toBe(2);
    const events = await a.api.eventsOf(key.id);
    expect(events.map((e) => e.type)).toEqual(['UPDATED', 'CREATED']);
    expect(events[0].changes).toEqual({
      name: { from: 'Deploy', to: 'Renamed' }, expiresAt: { from: key.expiresAt, to: expiresAt },
      channelId: { from: a.channels.ide.id, to: a.channels.ci.id }, channel: { from: 'IDE', to: 'CI' },
    });
  });

  test('version increases by one with every change', async () => {
    const { a, key } = await withKey();
    let version = key.version;
    for (const name of ['one', 'two', 'three']) {
      const updated = await a.api.update({ id: key.id, name, expectedVersion: version });
      expect(updated.version).toBe(version + 1);
      version = updated.version;
    }
    expect((await a.api.eventsOf(key.id)).filter((e) => e.type === 'UPDATED')).toHaveLength(3);
  });

  test('an update that changes nothing writes no event and keeps version and updatedAt', async () => {
    const { a, key } = await withKey();
    const same = await a.api.update({
      id: key.id, name: 'Deploy', expiresAt: key.expiresAt, channelId: key.channel.id, instanceId: key.instance.id,
      developer: { id: key.developer.id }, teamIds: key.teams.map((t) => t.id), expectedVersion: key.version,
    });
    expect(same).toEqual(key);
    expect((await a.api.eventsOf(key.id)).map((e) => e.type)).toEqual(['CREATED']);
  });

  test('a stale expectedVersion is CONFLICT and nothing is written', async () => {
    const { a, key } = await withKey();
    await a.api.update({ id: key.id, name: 'v2' });
    const res = await expectFailsWithoutWriting(server,
      () => updateWith(a.admin, { id: key.id, name: 'v3', expectedVersion: 1 }), 'CONFLICT', 'input.expectedVersion');
    expect(res.errors?.[0]?.extensions?.currentVersion).toBe(2);
    expect((await a.api.get(key.id))?.name).toBe('v2');
  });

  describe('invalid updates write nothing', () => {
    let a: Account;
    let key: KeyView;
    let other: Account;
    let otherKey: KeyView;
    beforeAll(async () => {
      ({ a, key } = await withKey());
      ({ a: other, key: otherKey } = await withKey());
    });

    const cases: { label: string; input: () => Record<string, unknown>; code: string; field?: string }[] = [
      { label: 'an empty name', input: () => ({ name: ' ' }), code: 'BAD_USER_INPUT', field: 'input.name' },
      { label: 'an expiry in the past', input: () => ({ expiresAt: new Date(Date.now() - DAY_MS).toISOString() }), code: 'BAD_USER_INPUT', field: 'input.expiresAt' },
      { label: 'an expiry over three years ahead', input: () => ({ expiresAt: inDays(3 * 366 + 1) }), code: 'BAD_USER_INPUT', field: 'input.expiresAt' },
      { label: 'an unknown key', input: () => ({ id: 'key_unknown', name: 'x' }), code: 'NOT_FOUND', field: 'input.id' },
      { label: 'a key of another account', input: () => ({ id: otherKey.id, name: 'x' }), code: 'NOT_FOUND', field: 'input.id' },
      { label: 'an instance of another account', input: () => ({ instanceId: other.instances.prod.id }), code: 'NOT_FOUND', field: 'input.instanceId' },
      { label: 'a channel of another account', input: () => ({ channelId: other.channels.ci.id }), code: 'NOT_FOUND', field: 'input.channelId' },
      { label: 'a team of another account', input: () => ({ teamIds: otherKey.teams.map((t) => t.id) }), code: 'NOT_FOUND', field: 'input.teamIds' },
      { label: 'a developer of another account', input: () => ({ developer: { id: otherKey.developer.id } }), code: 'NOT_FOUND', field: 'input.developer.id' },
      { label: 'a developer with both id and name', input: () => ({ developer: { id: key.developer.id, name: 'Bob' } }), code: 'BAD_USER_INPUT', field: 'input.developer' },
      { label: 'a new name with a stale version', input: () => ({ name: 'x', expectedVersion: 7 }), code: 'CONFLICT', field: 'input.expectedVersion' },
    ];

    test.each(cases)('$label is $code', async ({ input, code, field }) => {
      await expectFailsWithoutWriting(server, () => updateWith(a.admin, { id: key.id, name: 'Changed', ...input() }), code, field);
    });

    test('a deactivated developer is FAILED_PRECONDITION', async () => {
      const dev = (await server.ok<{ recordDeveloperActivity: { developer: { id: string } } }>(a.admin,
        'mutation($i: ID!) { recordDeveloperActivity(input: { instanceId: $i, developerName: "Gone" }) { developer { id } } }',
        { i: a.instances.prod.id })).recordDeveloperActivity.developer;
      await server.ok(a.admin, 'mutation($id: ID!) { deactivateDeveloper(input: { id: $id }) { developer { id } } }', { id: dev.id });
      await expectFailsWithoutWriting(server, () => updateWith(a.admin, { id: key.id, developer: { id: dev.id } }), 'FAILED_PRECONDITION', 'input.developer');
    });

    test('a viewer is FORBIDDEN', async () => {
      await expectFailsWithoutWriting(server, () => updateWith(a.viewer, { id: key.id, name: 'x' }), 'FORBIDDEN');
    });
  });
});

describe('renewApiKey', () => {
  test('issues a new secret for the same key; only the new digest remains', async () => {
    const { a, key, secret } = await withKey();
    const renewed = await a.api.renew({ id: key.id });
    expect(renewed.apiKey.id).toBe(key.id);
    expect(renewed.secret).toMatch(/^qck_[0-9A-Za-z]{38,}$/);
    expect(renewed.secret).not.toBe(secret);
    expect(renewed.apiKey.hint).toBe(`${renewed.secret.slice(0, 8)}…${renewed.secret.slice(-4)}`);
    const rows = await digestsOf(key.id);
    expect(rows).toHaveLength(1);
    expect(Buffer.from(rows[0].digest).equals(sha256(renewed.secret))).toBe(true);
    expect(rows[0].valid_until).toBeNull();
  });

  test('with a grace period keeps the old digest until then', async () => {
    const { a, key, secret } = await withKey();
    const before = Date.now();
    const renewed = await a.api.renew({ id: key.id, gracePeriodSeconds: 3600 });
    const rows = await digestsOf(key.id);
    expect(rows).toHaveLength(2);
    const old = rows.find((r) => Buffer.from(r.digest).equals(sha256(secret)));
    const current = rows.find((r) => Buffer.from(r.digest).equals(sha256(renewed.secret)));
    expect(current?.valid_until).toBeNull();
    const until = old?.valid_until?.getTime() ?? 0;
    expect(until).toBeGreaterThanOrEqual(before + 3600_000 - 1000);
    expect(until).toBeLessThanOrEqual(Date.now() + 3600_000 + 1000);
  });

  test('sets renewedAt, bumps the version and records one RENEWED event', async () => {
    const { a, key } = await withKey();
    const before = Date.now();
    const { apiKey } = await a.api.renew({ id: key.id });
    expect(apiKey.version).toBe(key.version + 1);
    expect(Date.parse(apiKey.renewedAt ?? '')).toBeGreaterThanOrEqual(before - 1000);
    expect(apiKey.createdAt).toBe(key.createdAt);
    const events = await a.api.eventsOf(key.id);
    expect(events.map((e) => e.type)).toEqual(['RENEWED', 'CREATED']);
    expect(events[0].actor).toBe(`${a.account}-admin`);
    expect(events[0].changes).toEqual({
      expiresAt: { from: key.expiresAt, to: apiKey.expiresAt }, hint: { from: key.hint, to: apiKey.hint },
      renewedAt: { from: null, to: apiKey.renewedAt }, gracePeriodSeconds: { from: null, to: 0 },
    });
  });

  test('without expiresAt extends by the key original lifetime', async () => {
    const { a, key } = await withKey({ expiresAt: inDays(30) });
    const before = Date.now();
    const { apiKey } = await a.api.renew({ id: key.id });
    const expires = Date.parse(apiKey.expiresAt);
    expect(expires).toBeGreaterThanOrEqual(before + 30 * DAY_MS - 5000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 30 * DAY_MS + 5000);
  });

  test('with expiresAt takes it', async () => {
    const { a, key } = await withKey();
    const expiresAt = inDays(200);
    expect((await a.api.renew({ id: key.id, expiresAt })).apiKey.expiresAt).toBe(expiresAt);
  });

  test('makes an expired key active again', async () => {
    const { a, key } = await withKey();
    await expireInDatabase(server, key.id);
    expect((await a.api.get(key.id))?.status).toBe('EXPIRED');
    const { apiKey } = await a.api.renew({ id: key.id });
    expect(apiKey.status).toBe('ACTIVE');
    expect(Date.parse(apiKey.expiresAt)).toBeGreaterThan(Date.now() + 29 * DAY_MS);
  });

  test('a revoked key is FAILED_PRECONDITION and its secrets stay as they were', async () => {
    const { a, key } = await withKey();
    await a.api.revoke({ id: key.id });
    await expectFailsWithoutWriting(server, () => renewWith(a.admin, { id: key.id }), 'FAILED_PRECONDITION');
  });

  test.each([
    { grace: -1 }, { grace: 604_801 },
  ])('a grace period of $grace seconds is BAD_USER_INPUT', async ({ grace }) => {
    const { a, key } = await withKey();
    await expectFailsWithoutWriting(server, () => renewWith(a.admin, { id: key.id, gracePeriodSeconds: grace }), 'BAD_USER_INPUT', 'input.gracePeriodSeconds');
  });

  test('the longest grace period, 604800 seconds, is accepted', async () => {
    const { a, key } = await withKey();
    await a.api.renew({ id: key.id, gracePeriodSeconds: 604_800 });
    expect(await digestsOf(key.id)).toHaveLength(2);
  });

  test('an expiry in the past is BAD_USER_INPUT', async () => {
    const { a, key } = await withKey();
    await expectFailsWithoutWriting(server, () => renewWith(a.admin, { id: key.id, expiresAt: new Date(Date.now() - 1000).toISOString() }), 'BAD_USER_INPUT', 'input.expiresAt');
  });

  test('a key of another account is NOT_FOUND', async () => {
    const { key } = await withKey();
    const b = await newAccount();
    await expectFailsWithoutWriting(server, () => renewWith(b.admin, { id: key.id }), 'NOT_FOUND', 'input.id');
  });
});

describe('revokeApiKey', () => {
  test('marks the key REVOKED with the reason, bumps the version and records one REVOKED event', async () => {
    const { a, key } = await withKey();
    const before = Date.now();
    const revoked = await a.api.revoke({ id: key.id, reason: 'leaked in a log' });
    expect(revoked).toMatchObject({ status: 'REVOKED', revocationReason: 'leaked in a log', version: key.version + 1 });
    expect(Date.parse(revoked.revokedAt ?? '')).toBeGreaterThanOrEqual(before - 1000);
    const events = await a.api.eventsOf(key.id);
    expect(events.map((e) => e.type)).toEqual(['REVOKED', 'CREATED']);
    expect(events[0].changes).toEqual({
      status: { from: 'ACTIVE', to: 'REVOKED' }, revokedAt: { from: null, to: revoked.revokedAt }, revocationReason: { from: null, to: 'leaked in a log' },
    });
  });

  test('keeps the key in the listing as REVOKED', async () => {
    const { a, key } = await withKey();
    await a.api.revoke({ id: key.id });
    const page = await a.viewerApi.list({ filter: { statuses: ['REVOKED'] } });
    expect(page.edges.map((e) => e.node.id)).toEqual([key.id]);
  });

  test('revoking a revoked key is FAILED_PRECONDITION: the first reason stays, no second event', async () => {
    const { a, key } = await withKey();
    const first = await a.api.revoke({ id: key.id, reason: 'first' });
    await expectFailsWithoutWriting(server, () => server.gql(a.admin, REVOKE, { input: { id: key.id, reason: 'second' } }), 'FAILED_PRECONDITION', 'input.id');
    expect((await a.viewerApi.get(key.id))?.revocationReason).toBe('first');
    expect(first.revocationReason).toBe('first');
    expect((await a.api.eventsOf(key.id)).map((e) => e.type)).toEqual(['REVOKED', 'CREATED']);
  });

  test('a reason over 500 characters is BAD_USER_INPUT, nothing written', async () => {
    const { a, key } = await withKey();
    await expectFailsWithoutWriting(server, () => server.gql(a.admin, REVOKE, { input: { id: key.id, reason: 'x'.repeat(501) } }), 'BAD_USER_INPUT', 'input.reason');
  });

  test('a key of another account is NOT_FOUND, nothing written', async () => {
    const { key } = await withKey();
    const b = await newAccount();
    await expectFailsWithoutWriting(server, () => server.gql(b.admin, REVOKE, { input: { id: key.id } }), 'NOT_FOUND', 'input.id');
  });
});

describe('deleteApiKey', () => {
  test('removes the key from the listing, from apiKey(id) and from node(id)', async () => {
    const { a, key } = await withKey();
    expect(await a.api.remove(key.id)).toBe(key.id);
    expect(await a.viewerApi.get(key.id)).toBeNull();
    expect((await a.viewerApi.list()).totalCount).toBe(0);
    const node = await server.ok<{ node: unknown }>(a.viewer, 'query($id: ID!) { node(id: $id) { id } }', { id: key.id });
    expect(node.node).toBeNull();
  });

  test('drops the key secrets', async () => {
    const { a, key } = await withKey();
    await a.api.renew({ id: key.id, gracePeriodSeconds: 600 });
    await a.api.remove(key.id);
    expect(await digestsOf(key.id)).toEqual([]);
  });

  test('keeps the key history readable, ending with a DELETED event', async () => {
    const { a, key } = await withKey();
    await a.api.update({ id: key.id, name: 'Last name' });
    await a.api.remove(key.id);
    const events = await a.viewerApi.eventsOf(key.id);
    expect(events.map((e) => [e.type, e.apiKeyName, e.apiKeyId])).toEqual([
      ['DELETED', 'Last name', key.id], ['UPDATED', 'Last name', key.id], ['CREATED', 'Deploy', key.id],
    ]);
  });

  test('no longer counts the key in its teams', async () => {
    const { a, key } = await withKey();
    const teamCount = async () => (await server.ok<{ node: { apiKeyCount: number } }>(a.viewer,
      'query($id: ID!) { node(id: $id) { ... on Team { apiKeyCount } } }', { id: key.teams[0].id })).node.apiKeyCount;
    expect(await teamCount()).toBe(1);
    await a.api.remove(key.id);
    expect(await teamCount()).toBe(0);
  });

  test.each([
    { label: 'updated', run: (token: string, id: string) => server.gql(token, UPDATE, { input: { id, name: 'again' } }) },
    { label: 'renewed', run: (token: string, id: string) => server.gql(token, RENEW, { input: { id } }) },
    { label: 'revoked', run: (token: string, id: string) => server.gql(token, REVOKE, { input: { id } }) },
    { label: 'deleted again', run: (token: string, id: string) => server.gql(token, DELETE, { input: { id } }) },
  ])('a deleted key cannot be $label: NOT_FOUND, nothing written', async ({ run }) => {
    const { a, key } = await withKey();
    await a.api.remove(key.id);
    await expectFailsWithoutWriting(server, () => run(a.admin, key.id), 'NOT_FOUND', 'input.id');
  });

  test('a key of another account is NOT_FOUND and stays', async () => {
    const { a, key } = await withKey();
    const b = await newAccount();
    await expectFailsWithoutWriting(server, () => server.gql(b.admin, DELETE, { input: { id: key.id } }), 'NOT_FOUND', 'input.id');
    expect(await a.api.get(key.id)).not.toBeNull();
  });

  test('a viewer is FORBIDDEN', async () => {
    const { a, key } = await withKey();
    expectError(await server.gql(a.viewer, DELETE, { input: { id: key.id } }), 'FORBIDDEN');
  });
});

describe('secrets at rest', () => {
  test('no table holds any secret, nor its random body, after keys are created and renewed', async () => {
    const secrets: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { a, key, secret } = await withKey();
      secrets.push(secret);
      secrets.push((await a.api.renew({ id: key.id, gracePeriodSeconds: 600 })).secret);
      secrets.push((await a.api.renew({ id: key.id })).secret);
      const extra = await a.api.create({ name: 'revoked one', instanceId: a.instances.snow.id, channelId: a.channels.ide.id, developer: { name: 'Bob' } });
      secrets.push(extra.secret);
      await a.api.revoke({ id: extra.apiKey.id });
    }
    const tables: { table_name: string }[] = await server.knex('information_schema.tables')
      .where({ table_type: 'BASE TABLE' }).whereRaw('table_schema = current_schema()').select('table_name');
    expect(tables.map((t) => t.table_name)).toEqual(expect.arrayContaining(['api_keys', 'api_key_secrets', 'api_key_events']));
    let dump = '';
    for (const { table_name } of tables) {
      const rows: { j: string }[] = await server.knex.select(server.knex.raw('row_to_json(t)::text as j')).from(server.knex.raw('?? as t', [table_name]));
      dump += rows.map((r) => r.j).join('\n');
    }
    expect(dump.length).toBeGreaterThan(1000);
    for (const secret of secrets) {
      const body = secret.slice(4, -6);
      expect(dump).not.toContain(body);
      expect(dump).not.toContain(body.slice(4, -4));
      expect(dump).not.toContain(Buffer.from(secret).toString('hex'));
      expect(dump).not.toContain(Buffer.from(secret).toString('base64'));
    }
  });
});

describe('concurrent mutations', () => {
  test('two updates with the same expectedVersion: one applies, the other is CONFLICT', async () => {
    const { a, key } = await withKey();
    const results = await Promise.all(['left', 'right'].map((name) => updateWith(a.admin, { id: key.id, name, expectedVersion: key.version })));
    const codes = results.map((r) => r.errors?.[0]?.extensions?.code ?? 'OK').sort();
    expect(codes).toEqual(['CONFLICT', 'OK']);
    expect((await a.api.get(key.id))?.version).toBe(key.version + 1);
    expect((await a.api.eventsOf(key.id)).filter((e) => e.type === 'UPDATED')).toHaveLength(1);
  });

  test('two creates of the same name on one instance: one key, the other is CONFLICT', async () => {
    const a = await newAccount();
    const input = { name: 'Race', instanceId: a.instances.prod.id, channelId: a.channels.ide.id, developer: { name: 'Alice' } };
    const results = await Promise.all([server.gql(a.admin, CREATE_KEY, { input }), server.gql(a.admin, CREATE_KEY, { input: { ...input, name: 'RACE' } })]);
    expect(results.map((r) => r.errors?.[0]?.extensions?.code ?? 'OK').sort()).toEqual(['CONFLICT', 'OK']);
    expect((await a.viewerApi.list()).totalCount).toBe(1);
    expect((await a.viewerApi.events()).totalCount).toBe(1);
  });

  test('two creates naming the same new developer and team share one developer and one team', async () => {
    const a = await newAccount();
    const make = (name: string) => a.api.create({
      name, instanceId: a.instances.prod.id, channelId: a.channels.ide.id, developer: { name: 'Newcomer' }, newTeamNames: ['Fresh'],
    });
    const [x, y] = await Promise.all([make('x'), make('y')]);
    expect(x.apiKey.developer.id).toBe(y.apiKey.developer.id);
    expect(x.apiKey.teams.map((t) => t.id)).toEqual(y.apiKey.teams.map((t) => t.id));
    expect(x.apiKey.teams).toHaveLength(1);
  });
});

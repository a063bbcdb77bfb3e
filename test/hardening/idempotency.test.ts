import { IdempotencyCrypto, idempotencySecret } from '../../src/modules/idempotency/crypto';
import { ownerOf } from '../../src/modules/idempotency/guard';
import { seedAccount, type SeededAccount } from '../helpers/factories';
import { startTestServer, TEST_JWT_SECRET, type TestServer } from '../helpers/server';

// servers start slowly on a busy machine (embedded databases); each test still bounds its own loops
jest.setTimeout(90_000);

const CREATE = `mutation Create($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret apiKey { id name version } } }`;
const RENEW = `mutation Renew($input: RenewApiKeyInput!) { renewApiKey(input: $input) { secret apiKey { id version } } }`;
const UPDATE = `mutation Update($input: UpdateApiKeyInput!) { updateApiKey(input: $input) { apiKey { id name version } } }`;

interface CreateResult { createApiKey: { secret: string; apiKey: { id: string; name: string; version: number } } }

let server: TestServer;
let acme: SeededAccount;
let globex: SeededAccount;
let run = 0;

beforeAll(async () => {
  server = await startTestServer();
  acme = await seedAccount(server, 'acme');
  globex = await seedAccount(server, 'globex');
});
afterAll(async () => { await server.stop(); });

const keyInput = (account: SeededAccount, name: string) =>
  ({ name, instanceId: account.instances.prod.id, channelId: account.channels.ide.id, developer: { name: 'Alice' } });
const newKey = () => `retry-${Date.now()}-${++run}`;

async function countKeysNamed(name: string): Promise<number> {
  const rows = await server.knex('api_keys').where({ name }).count<{ count: number }[]>('* as count');
  return Number(rows[0].count);
}

async function countEvents(apiKeyId: string, type: string): Promise<number> {
  const rows = await server.knex('api_key_events').where({ api_key_id: apiKeyId, type }).count<{ count: number }[]>('* as count');
  return Number(rows[0].count);
}

test('ten concurrent identical createApiKey calls create one key and get identical answers', async () => {
  const idem = newKey();
  const input = keyInput(acme, 'concurrent create');
  const answers = await Promise.all(Array.from({ length: 10 }, () =>
    server.gql<CreateResult>(acme.admin, CREATE, { input }, { 'Idempotency-Key': idem })));
  for (const a of answers) {
    expect(a.status).toBe(200);
    expect(a.errors).toBeUndefined();
  }
  const first = answers[0].data as CreateResult;
  for (const a of answers) expect(a.data).toEqual(first);
  expect(await countKeysNamed('concurrent create')).toBe(1);
  expect(await countEvents(first.createApiKey.apiKey.id, 'CREATED')).toBe(1);

  // the replayed secret is the real one: it verifies
  const verify = await server.gql<{ verifyApiKey: { valid: boolean } }>(acme.verifier,
    'mutation($key: String!) { verifyApiKey(input: { key: $key }) { valid } }', { key: first.createApiKey.secret });
  expect(verify.data?.verifyApiKey.valid).toBe(true);
});

test('a later retry replays the first answer, marked as replayed', async () => {
  const idem = newKey();
  const input = keyInput(acme, 'sequential create');
  const url = `${server.baseUrl}/graphql`;
  const send = () => fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${acme.admin}`, 'idempotency-key': idem },
    body: JSON.stringify({ query: CREATE, variables: { input } }),
  });
  const first = await send();
  const firstBody = await first.text();
  const second = await send();
  expect(second.status).toBe(first.status);
  expect(second.headers.get('idempotent-replayed')).toBe('true');
  expect(first.headers.get('idempotent-replayed')).toBeNull();
  expect(await second.text()).toBe(firstBody);
  expect(await countKeysNamed('sequential create')).toBe(1);
});

test('the same key with other variables is CONFLICT and writes nothing', async () => {
  const idem = newKey();
  const first = await server.gql<CreateResult>(acme.admin, CREATE, { input: keyInput(acme, 'conflict one') }, { 'Idempotency-Key': idem });
  expect(first.errors).toBeUndefined();
  const other = await server.gql(acme.admin, CREATE, { input: keyInput(acme, 'conflict two') }, { 'Idempotency-Key': idem });
  expect(other.status).toBe(200);
  expect(other.errors?.[0].extensions?.code).toBe('CONFLICT');
  expect(await countKeysNamed('conflict two')).toBe(0);
});

test('the same key with another operation is CONFLICT', async () => {
  const idem = newKey();
  const created = await server.gql<CreateResult>(acme.admin, CREATE, { input: keyInput(acme, 'conflict op') }, { 'Idempotency-Key': idem });
  const id = (created.data as CreateResult).createApiKey.apiKey.id;
  const renew = await server.gql(acme.admin, RENEW, { input: { id } }, { 'Idempotency-Key': idem });
  expect(renew.errors?.[0].extensions?.code).toBe('CONFLICT');
  expect(await countEvents(id, 'RENEWED')).toBe(0);
});

test('keys are scoped to the account: another account may use the same key value', async () => {
  const idem = newKey();
  const a = await server.gql<CreateResult>(acme.admin, CREATE, { input: keyInput(acme, 'scoped') }, { 'Idempotency-Key': idem });
  const b = await server.gql<CreateResult>(globex.admin, CREATE, { input: keyInput(globex, 'scoped') }, { 'Idempotency-Key': idem });
  expect(a.errors).toBeUndefined();
  expect(b.errors).toBeUndefined();
  expect(b.data?.createApiKey.apiKey.id).not.toBe(a.data?.createApiKey.apiKey.id);
  expect(await countKeysNamed('scoped')).toBe(2);
});

test('a replayed renewApiKey returns the same new secret and renews once', async () => {
  const key = await acme.createKey({ name: 'renew replay' });
  const idem = newKey();
  const answers = await Promise.all(Array.from({ length: 4 }, () =>
    server.gql<{ renewApiKey: { secret: string; apiKey: { version: number } } }>(acme.admin, RENEW, { input: { id: key.id } }, { 'Idempotency-Key': idem })));
  for (const a of answers) expect(a.data).toEqual(answers[0].data);
  expect(answers[0].data?.renewApiKey.apiKey.version).toBe(2);
  expect(await countEvents(key.id, 'RENEWED')).toBe(1);
});

test('stored answers hold neither the secret nor the Idempotency-Key in clear', async () => {
  const idem = `clear-text-check-${newKey()}`;
  const res = await server.gql<CreateResult>(acme.admin, CREATE, { input: keyInput(acme, 'sealed') }, { 'Idempotency-Key': idem });
  const secret = (res.data as CreateResult).createApiKey.secret;
  const rows = await server.knex('idempotency_keys').select('*');
  expect(rows.length).toBeGreaterThan(0);
  const dump = JSON.stringify(rows.map((r: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString('latin1') : v]))));
  expect(dump).not.toContain(secret);
  expect(dump).not.toContain(secret.slice(4, 20));
  expect(dump).not.toContain(idem);
  expect(dump).not.toContain('sealed');
});

test('a request that failed wrote nothing and leaves the key free for a corrected retry', async () => {
  const idem = newKey();
  const bad = await server.gql(acme.admin, CREATE, { input: { ...keyInput(acme, 'retry after error'), expiresAt: '2000-01-01T00:00:00Z' } }, { 'Idempotency-Key': idem });
  expect(bad.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
  const good = await server.gql<CreateResult>(acme.admin, CREATE, { input: keyInput(acme, 'retry after error') }, { 'Idempotency-Key': idem });
  expect(good.errors).toBeUndefined();
  expect(await countKeysNamed('retry after error')).toBe(1);
});

test.each([['empty', ''], ['too long', 'x'.repeat(256)]])('an Idempotency-Key that is %s is refused with 400', async (_label, value) => {
  const res = await server.gql(acme.admin, CREATE, { input: keyInput(acme, `bad header ${value.length}`) }, { 'Idempotency-Key': value });
  expect(res.status).toBe(400);
  expect(res.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
  expect(await countKeysNamed(`bad header ${value.length}`)).toBe(0);
});

test('a 255-character key is accepted', async () => {
  const res = await server.gql(acme.admin, CREATE, { input: keyInput(acme, 'long header') }, { 'Idempotency-Key': 'k'.repeat(255) });
  expect(res.errors).toBeUndefined();
});

test('queries ignore the header and run every time', async () => {
  const idem = newKey();
  const first = await server.gql(acme.viewer, '{ apiKeys { totalCount } }', {}, { 'Idempotency-Key': idem });
  await acme.createKey({ name: 'after query' });
  const second = await server.gql(acme.viewer, '{ apiKeys { totalCount } }', {}, { 'Idempotency-Key': idem });
  expect((second.data as { apiKeys: { totalCount: number } }).apiKeys.totalCount)
    .toBe((first.data as { apiKeys: { totalCount: number } }).apiKeys.totalCount + 1);
});

test('of two racing updateApiKey calls with the same expectedVersion exactly one wins', async () => {
  for (let round = 0; round < 3; round++) {
    const key = await acme.createKey({ name: `race ${round}` });
    const [a, b] = await Promise.all(['left', 'right'].map((side) =>
      server.gql<{ updateApiKey: { apiKey: { version: number } } }>(acme.admin, UPDATE,
        { input: { id: key.id, expectedVersion: key.version, name: `race ${round} ${side}` } })));
    const outcomes = [a, b].map((r) => (r.errors ? r.errors[0].extensions?.code : 'OK')).sort();
    expect(outcomes).toEqual(['CONFLICT', 'OK']);
    const winner = [a, b].find((r) => !r.errors);
    expect(winner?.data?.updateApiKey.apiKey.version).toBe(2);
    expect(await countEvents(key.id, 'UPDATED')).toBe(1);
  }
});

describe('an Idempotency-Key belongs to the principal that sent it', () => {
  const post = (token: string, query: string, variables: Record<string, unknown>, idem: string) =>
    fetch(`${server.baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'idempotency-key': idem },
      body: JSON.stringify({ query, variables }),
    });

  test.each([['viewer'], ['verifier']] as const)('a %s replaying an admin\'s renewApiKey gets FORBIDDEN, not the new secret', async (role) => {
    const key = await acme.createKey({ name: `renew replay by ${role}` });
    const idem = `renew-${key.id}`;
    const first = await post(acme.admin, RENEW, { input: { id: key.id } }, idem);
    const secret = ((await first.json()) as { data: { renewApiKey: { secret: string } } }).data.renewApiKey.secret;

    const replay = await post(acme[role], RENEW, { input: { id: key.id } }, idem);
    const text = await replay.text();
    expect(replay.headers.get('idempotent-replayed')).toBeNull();
    expect(text).not.toContain(secret);
    expect((JSON.parse(text) as { errors: { extensions: { code: string } }[] }).errors[0].extensions.code).toBe('FORBIDDEN');
    expect(await countEvents(key.id, 'RENEWED')).toBe(1);
  });

  test('a viewer replaying an admin\'s createApiKey gets FORBIDDEN, not the secret', async () => {
    const idem = newKey();
    const input = keyInput(acme, 'create replay by viewer');
    const first = await server.gql<CreateResult>(acme.admin, CREATE, { input }, { 'Idempotency-Key': idem });
    const secret = (first.data as CreateResult).createApiKey.secret;
    const replay = await post(acme.viewer, CREATE, { input }, idem);
    const text = await replay.text();
    expect(text).not.toContain(secret);
    expect(replay.headers.get('idempotent-replayed')).toBeNull();
    expect((JSON.parse(text) as { errors: { extensions: { code: string } }[] }).errors[0].extensions.code).toBe('FORBIDDEN');
  });

  test('a viewer is refused at once while the admin\'s request with the same key is still running', async () => {
    const key = await acme.createKey({ name: 'renew in flight' });
    const idem = `renew-in-flight-${key.id}`;
    // the admin's claim, as a request still in flight leaves it (no answer kept yet, lease running)
    const crypto = new IdempotencyCrypto(idempotencySecret(null, TEST_JWT_SECRET).secret);
    const owner = ownerOf({ accountId: 'acme', subject: 'acme-admin', roles: ['admin'] });
    await server.knex('idempotency_keys').insert({
      account_id: 'acme', key_hash: crypto.keyHash(owner, idem), request_hash: crypto.requestHash(owner, 'in flight'),
      locked_until: new Date(Date.now() + 60_000), expires_at: new Date(Date.now() + 3_600_000),
    });
    const started = Date.now();
    const viewer = await post(acme.viewer, RENEW, { input: { id: key.id } }, idem);
    // the duplicate of a request in flight would wait IDEMPOTENCY_WAIT_MS (5 s) for it
    expect(Date.now() - started).toBeLessThan(2_000);
    expect((await viewer.json() as { errors: { extensions: { code: string } }[] }).errors[0].extensions.code).toBe('FORBIDDEN');
    expect(await countEvents(key.id, 'RENEWED')).toBe(0);
  });

  test('another admin of the account with the same key and body runs a request of its own', async () => {
    const key = await acme.createKey({ name: 'renew by two admins' });
    const idem = `renew-two-admins-${key.id}`;
    const other = await server.token({ account: 'acme', roles: ['admin'], sub: 'acme-other-admin' });
    const first = await post(acme.admin, RENEW, { input: { id: key.id } }, idem);
    const firstSecret = ((await first.json()) as { data: { renewApiKey: { secret: string } } }).data.renewApiKey.secret;
    const second = await post(other, RENEW, { input: { id: key.id } }, idem);
    expect(second.headers.get('idempotent-replayed')).toBeNull();
    const secondSecret = ((await second.json()) as { data: { renewApiKey: { secret: string } } }).data.renewApiKey.secret;
    expect(secondSecret).not.toBe(firstSecret);
    expect(await countEvents(key.id, 'RENEWED')).toBe(2);
    // each admin's own retry still replays its own answer
    const retry = await post(acme.admin, RENEW, { input: { id: key.id } }, idem);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await retry.text()).toContain(firstSecret);
  });

  test('the same subject with other roles does not replay the first answer', async () => {
    const key = await acme.createKey({ name: 'renew by changed roles' });
    const idem = `renew-changed-roles-${key.id}`;
    const adminOnly = await server.token({ account: 'acme', roles: ['admin'], sub: 'role-changer' });
    const adminAndViewer = await server.token({ account: 'acme', roles: ['admin', 'viewer'], sub: 'role-changer' });
    await post(adminOnly, RENEW, { input: { id: key.id } }, idem);
    const second = await post(adminAndViewer, RENEW, { input: { id: key.id } }, idem);
    expect(second.headers.get('idempotent-replayed')).toBeNull();
    expect(await countEvents(key.id, 'RENEWED')).toBe(2);
  });

  test('a verifier may send verifyApiKey with an Idempotency-Key', async () => {
    const key = await acme.createKey({ name: 'verified with header' });
    const res = await server.gql<{ verifyApiKey: { valid: boolean } }>(acme.verifier,
      'mutation($key: String!) { verifyApiKey(input: { key: $key }) { valid } }', { key: key.secret }, { 'Idempotency-Key': newKey() });
    expect(res.errors).toBeUndefined();
    expect(res.data?.verifyApiKey.valid).toBe(true);
  });
});

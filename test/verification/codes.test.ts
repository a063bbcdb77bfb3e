import { metricDelta } from '../helpers/metrics';
import { seedAccount, type SeededAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';
import { generateSecret } from '../../src/modules/api-keys/secrets';
import { verifyBoth, verifyRest } from './verify';

let server: TestServer;
let acme: SeededAccount;
let globex: SeededAccount;
// the service's clock, which the tests move forward instead of waiting
let skewMs = 0;
const clock = () => Date.now() + skewMs;
const advance = (ms: number) => { skewMs += ms; };

beforeAll(async () => {
  server = await startTestServer({}, { clock });
  acme = await seedAccount(server, 'acme');
  globex = await seedAccount(server, 'globex');
}, 120_000);
afterAll(async () => { await server.stop(); });

async function renew(id: string, gracePeriodSeconds = 0): Promise<string> {
  const data = await server.ok<{ renewApiKey: { secret: string } }>(acme.admin,
    'mutation($input: RenewApiKeyInput!) { renewApiKey(input: $input) { secret } }', { input: { id, gracePeriodSeconds } });
  return data.renewApiKey.secret;
}

/** Database lookups of secrets while `work` ran (the verifier counts each in /metrics). */
const lookupsDuring = (work: () => Promise<unknown>) => metricDelta(server.baseUrl, 'qckeys_key_lookups_total', {}, work);

describe('VALID', () => {
  test('a fresh key is valid, and the REST answer describes it', async () => {
    const key = await acme.createKey({ newTeamNames: ['Core'] });
    expect(await verifyBoth(server, acme.verifier, key.secret)).toEqual({ valid: true, code: 'VALID', keyId: key.id });
    const rest = await verifyRest(server, acme.verifier, key.secret, acme.instances.prod.id);
    expect(rest).toMatchObject({
      valid: true, code: 'VALID', accountId: 'acme', keyId: key.id, instanceId: acme.instances.prod.id,
      channelId: acme.channels.ide.id, teamIds: [expect.any(String)],
    });
    expect(typeof rest.developerId).toBe('string');
    expect(Date.parse(rest.expiresAt ?? '')).toBeGreaterThan(clock());
  });

  test('an admin token may verify too', async () => {
    const key = await acme.createKey();
    expect((await verifyBoth(server, acme.admin, key.secret)).code).toBe('VALID');
  });
});

describe('MALFORMED', () => {
  const key = generateSecret();
  const cases: [string, string][] = [
    ['a wrong prefix', `qcx_${key.slice(4)}`],
    ['no prefix', key.slice(4)],
    ['too short', key.slice(0, 20)],
    ['too long', `${key}${'a'.repeat(200)}`],
    ['a character outside base62', `${key.slice(0, 10)}-${key.slice(11)}`],
    ['a wrong checksum (one character changed)', `${key.slice(0, 10)}${key[10] === 'a' ? 'b' : 'a'}${key.slice(11)}`],
    ['an empty string', ''],
  ];
  test.each(cases)('%s is MALFORMED over REST and GraphQL', async (_name, text) => {
    expect(await verifyBoth(server, acme.verifier, text)).toEqual({ valid: false, code: 'MALFORMED', keyId: null });
  });

  test('is decided without a database statement', async () => {
    const bad = `${key.slice(0, -1)}${key.endsWith('a') ? 'b' : 'a'}`;
    expect(await lookupsDuring(() => verifyRest(server, acme.verifier, bad))).toBe(0);
    // the control: a well-formed unknown key does look it up
    expect(await lookupsDuring(() => verifyRest(server, acme.verifier, generateSecret()))).toBe(1);
  });
});

describe('NOT_FOUND', () => {
  test('an unknown well-formed key', async () => {
    expect(await verifyBoth(server, acme.verifier, generateSecret())).toEqual({ valid: false, code: 'NOT_FOUND', keyId: null });
  });

  test('a deleted key', async () => {
    const key = await acme.createKey();
    expect((await verifyBoth(server, acme.verifier, key.secret)).code).toBe('VALID');
    await server.ok(acme.admin, 'mutation($id: ID!) { deleteApiKey(input: { id: $id }) { deletedApiKeyId } }', { id: key.id });
    expect(await verifyBoth(server, acme.verifier, key.secret)).toEqual({ valid: false, code: 'NOT_FOUND', keyId: null });
  });

  test("another account's key, and the answer tells nothing about it", async () => {
    const key = await acme.createKey();
    const revoked = await acme.createKey();
    await server.ok(acme.admin, 'mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { id } } }', { id: revoked.id });
    for (const secret of [key.secret, revoked.secret]) {
      expect(await verifyBoth(server, globex.verifier, secret)).toEqual({ valid: false, code: 'NOT_FOUND', keyId: null });
      expect(await verifyRest(server, globex.verifier, secret, acme.instances.snow.id)).toEqual({ valid: false, code: 'NOT_FOUND' });
    }
  });
});

describe('EXPIRED, REVOKED, INSTANCE_MISMATCH', () => {
  test('a key past its expiry is EXPIRED', async () => {
    const key = await acme.createKey();
    await server.knex('api_keys').where({ id: key.id }).update({ expires_at: new Date(clock() - 1000) });
    expect(await verifyBoth(server, acme.verifier, key.secret)).toEqual({ valid: false, code: 'EXPIRED', keyId: key.id });
  });

  test('a key that expires while cached turns EXPIRED', async () => {
    const key = await acme.createKey({ expiresAt: new Date(clock() + 60_000).toISOString() });
    expect((await verifyBoth(server, acme.verifier, key.secret)).code).toBe('VALID');
    advance(60_000);
    expect((await verifyBoth(server, acme.verifier, key.secret)).code).toBe('EXPIRED');
  });

  test('a revoked key is REVOKED', async () => {
    const key = await acme.createKey();
    expect((await verifyBoth(server, acme.verifier, key.secret)).code).toBe('VALID');
    await server.ok(acme.admin, 'mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { id } } }', { id: key.id });
    expect(await verifyBoth(server, acme.verifier, key.secret)).toEqual({ valid: false, code: 'REVOKED', keyId: key.id });
  });

  test('a key presented to another instance is INSTANCE_MISMATCH; to its own it is VALID', async () => {
    const key = await acme.createKey();
    expect(await verifyBoth(server, acme.verifier, key.secret, acme.instances.snow.id))
      .toEqual({ valid: false, code: 'INSTANCE_MISMATCH', keyId: key.id });
    expect((await verifyBoth(server, acme.verifier, key.secret, acme.instances.prod.id)).code).toBe('VALID');
  });

  test('revocation wins over expiry, expiry over instance mismatch', async () => {
    const key = await acme.createKey();
    await server.knex('api_keys').where({ id: key.id }).update({ expires_at: new Date(clock() - 1000) });
    expect((await verifyBoth(server, acme.verifier, key.secret, acme.instances.snow.id)).code).toBe('EXPIRED');
    await server.ok(acme.admin, 'mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { id } } }', { id: key.id });
    expect((await verifyBoth(server, acme.verifier, key.secret, acme.instances.snow.id)).code).toBe('REVOKED');
  });
});

describe('renewal and grace periods', () => {
  test('without a grace period the old secret stops at once and the new one works', async () => {
    const key = await acme.createKey();
    expect((await verifyBoth(server, acme.verifier, key.secret)).code).toBe('VALID');
    const fresh = await renew(key.id);
    expect(await verifyBoth(server, acme.verifier, key.secret)).toEqual({ valid: false, code: 'NOT_FOUND', keyId: null });
    expect(await verifyBoth(server, acme.verifier, fresh)).toEqual({ valid: true, code: 'VALID', keyId: key.id });
  });

  test('inside the grace period both secrets work; after it only the new one', async () => {
    const key = await acme.createKey();
    expect((await verifyBoth(server, acme.verifier, key.secret)).code).toBe('VALID');
    const fresh = await renew(key.id, 60);
    expect(await verifyBoth(server, acme.verifier, key.secret)).toEqual({ valid: true, code: 'VALID', keyId: key.id });
    expect((await verifyBoth(server, acme.verifier, fresh)).code).toBe('VALID');
    advance(59_000);
    expect((await verifyBoth(server, acme.verifier, key.secret)).code).toBe('VALID');
    advance(1_000);
    expect(await verifyBoth(server, acme.verifier, key.secret)).toEqual({ valid: false, code: 'NOT_FOUND', keyId: null });
    expect((await verifyBoth(server, acme.verifier, fresh)).code).toBe('VALID');
  });

  test('a secret in its grace period of a key revoked since is REVOKED', async () => {
    const key = await acme.createKey();
    await renew(key.id, 600);
    await server.ok(acme.admin, 'mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { id } } }', { id: key.id });
    expect((await verifyBoth(server, acme.verifier, key.secret)).code).toBe('REVOKED');
  });

  test('a second renewal without grace ends the first grace period', async () => {
    const key = await acme.createKey();
    const second = await renew(key.id, 600);
    const third = await renew(key.id, 0);
    expect((await verifyBoth(server, acme.verifier, key.secret)).code).toBe('NOT_FOUND');
    expect((await verifyBoth(server, acme.verifier, second)).code).toBe('NOT_FOUND');
    expect((await verifyBoth(server, acme.verifier, third)).code).toBe('VALID');
  });
});

describe('callers', () => {
  test('a platform verifier (no account) finds keys of every account, and the answer names the account', async () => {
    const platform = await server.token({ account: null, roles: ['verifier'], sub: 'gateway' });
    const a = await acme.createKey();
    const g = await globex.createKey();
    expect(await verifyRest(server, platform, a.secret)).toMatchObject({ valid: true, code: 'VALID', accountId: 'acme', keyId: a.id });
    expect(await verifyRest(server, platform, g.secret)).toMatchObject({ valid: true, code: 'VALID', accountId: 'globex', keyId: g.id });
    expect(await verifyBoth(server, platform, g.secret)).toEqual({ valid: true, code: 'VALID', keyId: g.id });
    expect(await verifyBoth(server, platform, generateSecret())).toEqual({ valid: false, code: 'NOT_FOUND', keyId: null });
  });

  test('a viewer may not verify; a token without account is refused unless it is a verifier', async () => {
    const key = await acme.createKey();
    const post = (token: string | null, body: string) => fetch(`${server.baseUrl}/v1/keys/verify`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body,
    });
    const body = JSON.stringify({ key: key.secret });
    expect((await post(acme.viewer, body)).status).toBe(403);
    expect((await post(null, body)).status).toBe(401);
    expect((await post('not-a-token', body)).status).toBe(401);
    expect((await post(await server.token({ account: null, roles: ['admin'] }), body)).status).toBe(401);
    const gql = await server.gql(acme.viewer, 'mutation($k: String!) { verifyApiKey(input: { key: $k }) { code } }', { k: key.secret });
    expect(gql.errors?.[0].extensions?.code).toBe('FORBIDDEN');
  });

  test('a malformed body is 400 BAD_USER_INPUT', async () => {
    for (const body of ['{', '[]', '{}', '{"key": 5}', JSON.stringify({ key: 'qck_x', instanceId: 7 })]) {
      const res = await fetch(`${server.baseUrl}/v1/keys/verify`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${acme.verifier}` }, body,
      });
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('BAD_USER_INPUT');
    }
  });
});
